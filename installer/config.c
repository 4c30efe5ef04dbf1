/* /etc/rootfs-install.conf: the installer's own sections. The boot-control
 * library reads [slots] and [bootloader] from the same file. */
#include "installer/installer.h"
#include "common/ini.h"
#include "common/macro.h"
#include "common/util.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

void install_config_init(struct install_config *c)
{
	*c = (struct install_config){
		.tls = { .connect_timeout = 10, .low_speed_time = 30, .retries = 5 },
	};
}

void install_config_clear(struct install_config *c)
{
	char **strs[] = { &c->compatible, &c->keyring, &c->crl, &c->log_file, &c->lock_file,
	                  &c->tls.ca, &c->tls.cert, &c->tls.key, &c->tls.pin };

	for (size_t i = 0; i < ARRAY_SIZE(strs); i++) {
		free(*strs[i]);
		*strs[i] = NULL;
	}
}

int install_set_str(char **dst, const char *src)
{
	char *c = NULL;

	if (src) {
		c = strdup(src);
		if (!c)
			return -ENOMEM;
	}
	free(*dst);
	*dst = c;
	return 0;
}

static int parse_bool(const char *v, bool *ret)
{
	if (!strcmp(v, "yes") || !strcmp(v, "true") || !strcmp(v, "1"))
		*ret = true;
	else if (!strcmp(v, "no") || !strcmp(v, "false") || !strcmp(v, "0"))
		*ret = false;
	else
		return -EINVAL;
	return 0;
}

enum kind { K_STR, K_BOOL, K_U64 };

struct key {
	const char *section, *name;
	enum kind kind;
	size_t off;
	uint64_t min, max;
};

#define STR(s, n, f) { s, n, K_STR, offsetof(struct install_config, f), 0, 0 }
#define BOOL(s, n, f) { s, n, K_BOOL, offsetof(struct install_config, f), 0, 0 }
#define U64(s, n, f, lo, hi) { s, n, K_U64, offsetof(struct install_config, f), lo, hi }
static const struct key keys[] = {
	STR("device", "compatible", compatible),
	STR("device", "keyring", keyring),
	STR("device", "crl", crl),
	BOOL("install", "allow_downgrade", allow_downgrade),
	STR("install", "log_file", log_file),
	STR("install", "lock_file", lock_file),
	STR("tls", "ca", tls.ca),
	STR("tls", "cert", tls.cert),
	STR("tls", "key", tls.key),
	STR("tls", "pin", tls.pin),
	BOOL("tls", "allow_http", tls.allow_http),
	U64("tls", "connect_timeout", tls.connect_timeout, 1, 3600),
	U64("tls", "low_speed_time", tls.low_speed_time, 1, 3600),
	U64("tls", "retries", tls.retries, 0, 100),
};

static int handler(void *userdata, const char *section, const char *key, const char *value,
                   const char **ret_why)
{
	struct install_config *c = userdata;
	bool known_section = false;

	if (!strcmp(section, "slots") || !strcmp(section, "bootloader"))
		return 0; /* the boot-control library's */
	for (size_t i = 0; i < ARRAY_SIZE(keys); i++) {
		const struct key *k = &keys[i];
		void *field = (uint8_t *)c + k->off;
		uint64_t v;

		if (strcmp(section, k->section))
			continue;
		known_section = true;
		if (strcmp(key, k->name))
			continue;
		switch (k->kind) {
		case K_STR:
			if (!*value) {
				*ret_why = "empty value";
				return -EBADMSG;
			}
			return install_set_str(field, value);
		case K_BOOL:
			if (parse_bool(value, field) < 0) {
				*ret_why = "expected yes or no";
				return -EBADMSG;
			}
			return 0;
		case K_U64:
			if (parse_u64(value, &v) < 0 || v < k->min || v > k->max) {
				*ret_why = "number out of range";
				return -EBADMSG;
			}
			*(uint64_t *)field = v;
			return 0;
		}
	}
	*ret_why = known_section ? "unknown key" : "unknown section";
	return -EBADMSG;
}

int install_config_load(struct install_config *c, const char *path, char msg[INSTALL_MSG_MAX])
{
	struct ini_error e = { 0 };
	int r;

	r = ini_parse_file(path, handler, c, &e);
	if (r < 0 && msg) {
		if (e.line)
			snprintf(msg, INSTALL_MSG_MAX, "%s: %s", path, e.msg);
		else
			snprintf(msg, INSTALL_MSG_MAX, "%s: %s", path, strerror(-r));
	}
	return r;
}

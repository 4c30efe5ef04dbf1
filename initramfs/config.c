#include "initramfs/initramfs.h"

#include <errno.h>
#include <libcryptsetup.h>
#include <stdio.h>
#include <string.h>

#include "common/macro.h"
#include "common/util.h"

void init_config_default(struct init_config *c)
{
	*c = (struct init_config){
		.verity = INIT_VERITY_RESTART,
		.on_fail = INIT_FAIL_REBOOT,
		.timeout_s = INIT_TIMEOUT_DEFAULT_S,
	};
	strcpy(c->keyring, INIT_KEYRING_DEFAULT);
	strcpy(c->init, "/sbin/init");
}

static int set_string(char dst[INIT_PATH_MAX], const char *value)
{
	size_t n = strlen(value);

	if (n == 0 || n >= INIT_PATH_MAX)
		return -EINVAL;
	memcpy(dst, value, n + 1);
	return 0;
}

/* Absolute, no "." or ".." components: these name places in the new root
 * or the initramfs, and a relative one would depend on the cwd. */
static int set_abs_path(char dst[INIT_PATH_MAX], const char *value)
{
	const char *p;

	if (value[0] != '/')
		return -EINVAL;
	for (p = value; *p; ) {
		const char *e;
		size_t n;

		while (*p == '/')
			p++;
		e = strchrnul(p, '/');
		n = (size_t)(e - p);
		if ((n == 1 && p[0] == '.') || (n == 2 && p[0] == '.' && p[1] == '.'))
			return -EINVAL;
		p = e;
	}
	return set_string(dst, value);
}

static int set_u32(uint32_t *dst, const char *value, uint32_t min, uint32_t max)
{
	uint64_t v;

	if (parse_u64(value, &v) < 0 || v < min || v > max)
		return -EINVAL;
	*dst = (uint32_t)v;
	return 0;
}

static int set_bool(bool *dst, const char *value)
{
	if (!value || strcmp(value, "1") == 0 || strcmp(value, "yes") == 0)
		*dst = true;
	else if (strcmp(value, "0") == 0 || strcmp(value, "no") == 0)
		*dst = false;
	else
		return -EINVAL;
	return 0;
}

int init_config_set(struct init_config *c, const char *key, const char *value, const char **ret_err)
{
	const char *err = NULL;
	int r = 0;

	/* Only the flags "debug" and "last_resort" may stand without a value. */
	if (!value && strcmp(key, "debug") != 0 && strcmp(key, "last_resort") != 0) {
		if (ret_err)
			*ret_err = "rootfs parameter needs a value";
		return -EINVAL;
	}

	if (strcmp(key, "slot") == 0) {
		if ((value[0] == 'a' || value[0] == 'A' || value[0] == 'b' || value[0] == 'B') && !value[1])
			c->slot = (char)(value[0] | 0x20);
		else
			r = -EINVAL, err = "rootfs.slot= must be a or b";
	} else if (strcmp(key, "disk") == 0) {
		if (set_abs_path(c->disk, value) < 0 || strncmp(value, "/dev/", 5) != 0)
			r = -EINVAL, err = "rootfs.disk= must be a /dev path";
	} else if (strcmp(key, "keyring") == 0) {
		if (set_abs_path(c->keyring, value) < 0)
			r = -EINVAL, err = "rootfs.keyring= must be an absolute path";
	} else if (strcmp(key, "verity") == 0) {
		if (strcmp(value, "restart") == 0)
			c->verity = INIT_VERITY_RESTART;
		else if (strcmp(value, "panic") == 0)
			c->verity = INIT_VERITY_PANIC;
		else if (strcmp(value, "ignore") == 0)
			c->verity = INIT_VERITY_IGNORE;
		else
			r = -EINVAL, err = "rootfs.verity= must be restart, panic or ignore";
	} else if (strcmp(key, "debug") == 0) {
		if (set_bool(&c->debug, value) < 0)
			r = -EINVAL, err = "rootfs.debug= must be 0 or 1";
	} else if (strcmp(key, "last_resort") == 0) {
		if (set_bool(&c->last_resort, value) < 0)
			r = -EINVAL, err = "rootfs.last_resort= must be 0 or 1";
	} else if (strcmp(key, "on_fail") == 0) {
		if (strcmp(value, "reboot") == 0)
			c->on_fail = INIT_FAIL_REBOOT;
		else if (strcmp(value, "poweroff") == 0)
			c->on_fail = INIT_FAIL_POWEROFF;
		else
			r = -EINVAL, err = "rootfs.on_fail= must be reboot or poweroff";
	} else if (strcmp(key, "floor") == 0) {
		uint64_t v;

		if (parse_u64(value, &v) < 0)
			r = -EINVAL, err = "rootfs.floor= must be a number";
		else if (v > c->floor)
			c->floor = v;
	} else if (strcmp(key, "timeout") == 0) {
		if (set_u32(&c->timeout_s, value, 0, INIT_TIMEOUT_MAX_S) < 0)
			r = -EINVAL, err = "rootfs.timeout= must be 0..3600 seconds";
	} else if (strcmp(key, "data") == 0) {
		if (set_abs_path(c->data, value) < 0 || strcmp(value, "/") == 0)
			r = -EINVAL, err = "rootfs.data= must be an absolute mount point other than /";
	} else if (strcmp(key, "watchdog") == 0) {
		if (set_u32(&c->watchdog_s, value, 0, INIT_WATCHDOG_MAX_S) < 0)
			r = -EINVAL, err = "rootfs.watchdog= must be 0..65535 seconds";
	} else if (strcmp(key, "init") == 0) {
		if (set_abs_path(c->init, value) < 0)
			r = -EINVAL, err = "rootfs.init= must be an absolute path";
	} else
		r = -EINVAL, err = "unknown rootfs parameter";

	if (r < 0 && ret_err)
		*ret_err = err;
	return r;
}

/* One "key=value" word: split at the first '='. */
static int apply_word(struct init_config *c, char *word, const char **ret_err)
{
	char *eq = strchr(word, '=');

	if (eq)
		*eq = '\0';
	return init_config_set(c, word, eq ? eq + 1 : NULL, ret_err);
}

int init_config_parse_cmdline(struct init_config *c, const char *cmdline, const char **ret_err)
{
	_cleanup_free_ char *buf = NULL;
	const char *p = cmdline;
	size_t len = strlen(cmdline);

	buf = malloc(len + 1);
	if (!buf)
		return -ENOMEM;

	while (*p) {
		bool quoted = false;
		size_t n = 0;
		int r;

		while (*p == ' ' || *p == '\t' || *p == '\n')
			p++;
		if (!*p)
			break;
		/* The kernel's next_arg(): whitespace ends a word unless quoted;
		 * the quote characters themselves are not part of it. */
		for (; *p; p++) {
			if (*p == '"') {
				quoted = !quoted;
				continue;
			}
			if (!quoted && (*p == ' ' || *p == '\t' || *p == '\n'))
				break;
			buf[n++] = *p;
		}
		buf[n] = '\0';
		if (quoted) {
			if (ret_err)
				*ret_err = "unterminated quote on the kernel command line";
			return -EINVAL;
		}
		/* As for the kernel, "--" ends its parameters: the rest is init's. */
		if (strcmp(buf, "--") == 0)
			break;
		if (strncmp(buf, "rootfs.", 7) != 0)
			continue;
		r = apply_word(c, buf + 7, ret_err);
		if (r < 0)
			return r;
	}
	return 0;
}

int init_config_parse_conf(struct init_config *c, const char *text, size_t len, const char **ret_err)
{
	const char *p = text, *end = text + len;

	if (memchr(text, '\0', len)) {
		if (ret_err)
			*ret_err = "NUL byte in init.conf";
		return -EINVAL;
	}
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		const char *e = nl ? nl : end;
		char line[INIT_PATH_MAX + 32];
		size_t n;
		int r;

		/* Trim spaces on both ends; skip blank and comment lines. */
		while (p < e && (*p == ' ' || *p == '\t'))
			p++;
		n = (size_t)(e - p);
		while (n > 0 && (p[n - 1] == ' ' || p[n - 1] == '\t' || p[n - 1] == '\r'))
			n--;
		if (n > 0 && p[0] != '#') {
			if (n >= sizeof(line)) {
				if (ret_err)
					*ret_err = "overlong line in init.conf";
				return -EINVAL;
			}
			memcpy(line, p, n);
			line[n] = '\0';
			if (!strchr(line, '=')) {
				if (ret_err)
					*ret_err = "init.conf line is not key=value";
				return -EINVAL;
			}
			r = apply_word(c, line, ret_err);
			if (r < 0)
				return r;
		}
		p = nl ? nl + 1 : end;
	}
	return 0;
}

char init_slot_name(const struct init_config *c)
{
	return c->slot ? (char)(c->slot & ~0x20) : '?';
}

int init_manifest_check(const struct manifest *m, const char *compatible, uint64_t floor)
{
	if (strcmp(m->compatible, compatible) != 0)
		return -EMEDIUMTYPE;
	if (m->version < floor)
		return -ESTALE;
	if (strcmp(m->fstype, "ext4") != 0 && strcmp(m->fstype, "squashfs") != 0 &&
	    strcmp(m->fstype, "erofs") != 0)
		return -EPROTONOSUPPORT;
	return 0;
}

int init_partition_node(const char *disk, unsigned partno, char *buf, size_t size)
{
	size_t n = strlen(disk);
	bool digit = n > 0 && disk[n - 1] >= '0' && disk[n - 1] <= '9';
	int w;

	if (n == 0 || partno == 0)
		return -EINVAL;
	w = snprintf(buf, size, "%s%s%u", disk, digit ? "p" : "", partno);
	return w < 0 || (size_t)w >= size ? -ENAMETOOLONG : 0;
}

uint32_t init_verity_flags(enum init_verity_mode mode)
{
	uint32_t f = CRYPT_ACTIVATE_READONLY;

	switch (mode) {
	case INIT_VERITY_PANIC:
		return f | CRYPT_ACTIVATE_PANIC_ON_CORRUPTION;
	case INIT_VERITY_IGNORE:
		return f | CRYPT_ACTIVATE_IGNORE_CORRUPTION;
	case INIT_VERITY_RESTART:
	default:
		return f | CRYPT_ACTIVATE_RESTART_ON_CORRUPTION;
	}
}

int init_modules_foreach(const char *text, size_t len, int (*fn)(const char *path, void *userdata),
                         void *userdata)
{
	const char *p = text, *end = text + len;
	int count = 0;

	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		const char *e = nl ? nl : end;
		size_t n = (size_t)(e - p);
		char path[INIT_PATH_MAX];

		while (n > 0 && (p[n - 1] == ' ' || p[n - 1] == '\r'))
			n--;
		if (n > 0 && p[0] != '#') {
			int r;

			if (n >= sizeof(path) || memchr(p, '\0', n))
				return -EINVAL;
			memcpy(path, p, n);
			path[n] = '\0';
			r = fn(path, userdata);
			if (r < 0)
				return r;
			if (count == INT32_MAX)
				return -EOVERFLOW;
			count++;
		}
		p = nl ? nl + 1 : end;
	}
	return count;
}

/* [slots] and [bootloader] of /etc/rootfs-install.conf. */
#include "bootctl/bootctl.h"
#include "common/ini.h"
#include "common/util.h"

#include <errno.h>
#include <string.h>

void bootctl_config_default(struct bootctl_config *c)
{
	*c = (struct bootctl_config){ .backend = BOOTCTL_BACKEND_NONE, .attempts = BOOTCTL_DEFAULT_ATTEMPTS };
	strcpy(c->label[0], "rootfs_a");
	strcpy(c->label[1], "rootfs_b");
	strcpy(c->data_label, "data");
	strcpy(c->esp_label, "esp");
	strcpy(c->grubenv, BOOTCTL_GRUBENV_PATH);
	strcpy(c->fw_env_config, BOOTCTL_FW_ENV_CONFIG_PATH);
}

static int set_str(char *dst, size_t size, const char *v, const char **ret_why)
{
	if (!*v || strlen(v) >= size) {
		*ret_why = *v ? "value too long for" : "empty value for";
		return -EBADMSG;
	}
	strcpy(dst, v);
	return 0;
}

static int handler(void *userdata, const char *section, const char *key, const char *value, const char **ret_why)
{
	struct bootctl_config *c = userdata;

	if (strcmp(section, "slots") == 0) {
		if (strcmp(key, "a") == 0)
			return set_str(c->label[0], sizeof c->label[0], value, ret_why);
		if (strcmp(key, "b") == 0)
			return set_str(c->label[1], sizeof c->label[1], value, ret_why);
		if (strcmp(key, "data") == 0)
			return set_str(c->data_label, sizeof c->data_label, value, ret_why);
		if (strcmp(key, "esp") == 0)
			return set_str(c->esp_label, sizeof c->esp_label, value, ret_why);
	} else if (strcmp(section, "bootloader") == 0) {
		if (strcmp(key, "backend") == 0) {
			if (strcmp(value, "grub") == 0)
				c->backend = BOOTCTL_BACKEND_GRUB;
			else if (strcmp(value, "uboot") == 0)
				c->backend = BOOTCTL_BACKEND_UBOOT;
			else
				return *ret_why = "expected grub or uboot for", -EBADMSG;
			return 0;
		}
		if (strcmp(key, "grubenv") == 0)
			return set_str(c->grubenv, sizeof c->grubenv, value, ret_why);
		if (strcmp(key, "fw_env_config") == 0)
			return set_str(c->fw_env_config, sizeof c->fw_env_config, value, ret_why);
		if (strcmp(key, "attempts") == 0) {
			uint64_t v;
			if (parse_u64(value, &v) < 0 || v < 1 || v > BOOTCTL_MAX_ATTEMPTS)
				return *ret_why = "expected 1..9 for", -EBADMSG;
			c->attempts = (unsigned)v;
			return 0;
		}
	} else
		return 0; /* the installer's sections */
	*ret_why = "unknown key";
	return -EBADMSG;
}

int bootctl_config_load(const char *path, struct bootctl_config *ret, struct ini_error *err)
{
	struct bootctl_config c;
	int r;

	bootctl_config_default(&c);
	r = ini_parse_file(path, handler, &c, err);
	if (r < 0)
		return r;
	if (strcmp(c.label[0], c.label[1]) == 0) {
		if (err)
			*err = (struct ini_error){ .line = 0, .msg = "[slots] a and b name the same label" };
		return -EBADMSG;
	}
	*ret = c;
	return 0;
}

/* common/ini (strict INI), bootctl_config_load, and slot discovery: in a
 * disk image made by sgdisk, and through a fake /sys/class/block tree. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bootctl/bootctl.h"
#include "common/ini.h"
#include "common/macro.h"

static char dir[64];

static int setup(void **state)
{
	strcpy(dir, "/tmp/test_bootctl_config.XXXXXX");
	return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **state)
{
	char cmd[128];
	snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
	return system(cmd) == 0 ? 0 : -1;
}

static void sh(const char *fmt, ...)
{
	char cmd[2048];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(cmd, sizeof cmd, fmt, ap);
	va_end(ap);
	if (system(cmd) != 0)
		fail_msg("command failed: %s", cmd);
}

static void write_text(const char *name, const char *text, char *path, size_t size)
{
	FILE *f;

	snprintf(path, size, "%s/%s", dir, name);
	f = fopen(path, "we");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

/* ---- ini ---- */

struct collected {
	char buf[512];
	bool fail_on_z;
};

static int collect(void *userdata, const char *section, const char *key, const char *value, const char **ret_why)
{
	struct collected *c = userdata;
	size_t n = strlen(c->buf);

	if (c->fail_on_z && strcmp(key, "z") == 0) {
		*ret_why = "no z allowed:";
		return -EBADMSG;
	}
	snprintf(c->buf + n, sizeof c->buf - n, "%s.%s=%s;", section, key, value);
	return 0;
}

static void test_ini_ok(void **state)
{
	static const char text[] = "# comment\n; also\n\n[a]\nx = 1\n  y=two words  \n[b.c-d_e]\nx =\n[a]\nz = =v=\n";
	struct collected c = {};
	struct ini_error e = {};

	assert_int_equal(ini_parse(text, strlen(text), collect, &c, &e), 0);
	assert_string_equal(c.buf, "a.x=1;a.y=two words;b.c-d_e.x=;a.z==v=;");
	/* no final newline */
	memset(&c, 0, sizeof c);
	assert_int_equal(ini_parse("[s]\nk=v", 7, collect, &c, &e), 0);
	assert_string_equal(c.buf, "s.k=v;");
}

static void test_ini_bad(void **state)
{
	static const struct {
		const char *text, *msg;
	} bad[] = {
		{ "k = v\n", "line 1: key 'k' outside a section" },
		{ "[s]\nk = 1\nk = 2\n", "line 3: duplicate key 'k' in [s]" },
		{ "[s]\nk = 1\n[t]\n[s]\nk = 2\n", "line 5: duplicate key 'k' in [s]" },
		{ "[s]\njunk\n", "line 2: expected 'key = value'" },
		{ "[s\n", "line 1: malformed section header" },
		{ "[]\n", "line 1: malformed section header" },
		{ "[s t]\n", "line 1: malformed section header" },
		{ "[s]\n = v\n", "line 2: bad key name" },
		{ "[s]\nk y = v\n", "line 2: bad key name" },
		{ "[s]\nk = v\r\n", "line 2: NUL or CR byte" },
		{ "[s]\nz = 1\n", "line 2: no z allowed: 'z' in [s]" },
		{ "\xff\n", "not valid UTF-8" },
	};
	struct ini_error e;

	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		struct collected c = { .fail_on_z = true };
		memset(&e, 0, sizeof e);
		assert_int_equal(ini_parse(bad[i].text, strlen(bad[i].text), collect, &c, &e), -EBADMSG);
		assert_string_equal(e.msg, bad[i].msg);
	}
	{
		char longline[INI_MAX_LINE + 16];
		struct collected c = {};
		memset(longline, 'x', sizeof longline);
		memcpy(longline, "[s]\nk=", 6);
		assert_int_equal(ini_parse(longline, sizeof longline, collect, &c, &e), -EBADMSG);
		assert_string_equal(e.msg, "line 2: line longer than 1024 bytes");
		assert_int_equal(e.line, 2);
	}
	{
		struct collected c = {};
		assert_int_equal(ini_parse("[s]\nk=\0v\n", 9, collect, &c, &e), -EBADMSG);
		assert_string_equal(e.msg, "line 2: NUL or CR byte");
	}
}

/* ---- bootctl_config_load ---- */

static void test_config(void **state)
{
	char path[128];
	struct bootctl_config c;
	struct ini_error e = {};

	bootctl_config_default(&c);
	assert_string_equal(c.label[0], "rootfs_a");
	assert_string_equal(c.esp_label, "esp");
	assert_int_equal(c.attempts, 3);
	assert_int_equal(c.backend, BOOTCTL_BACKEND_NONE);

	write_text("full.conf",
	           "[device]\ncompatible = gw\nanything = goes\n[slots]\na = sys_a\nb = sys_b\ndata = userdata\nesp = boot\n"
	           "[bootloader]\nbackend = uboot\nfw_env_config = /etc/fw_env.config.2\ngrubenv = /x/grubenv\nattempts = 9\n"
	           "[tls]\nca = /etc/ca.pem\n",
	           path, sizeof path);
	assert_int_equal(bootctl_config_load(path, &c, &e), 0);
	assert_string_equal(c.label[0], "sys_a");
	assert_string_equal(c.label[1], "sys_b");
	assert_string_equal(c.data_label, "userdata");
	assert_string_equal(c.esp_label, "boot");
	assert_int_equal(c.backend, BOOTCTL_BACKEND_UBOOT);
	assert_string_equal(c.fw_env_config, "/etc/fw_env.config.2");
	assert_string_equal(c.grubenv, "/x/grubenv");
	assert_int_equal(c.attempts, 9);

	static const struct {
		const char *text, *msg;
	} bad[] = {
		{ "[bootloader]\nattempts = 0\n", "line 2: expected 1..9 for 'attempts' in [bootloader]" },
		{ "[bootloader]\nattempts = 10\n", "line 2: expected 1..9 for 'attempts' in [bootloader]" },
		{ "[bootloader]\nattempts = three\n", "line 2: expected 1..9 for 'attempts' in [bootloader]" },
		{ "[bootloader]\nbackend = GRUB\n", "line 2: expected grub or uboot for 'backend' in [bootloader]" },
		{ "[slots]\nc = rootfs_c\n", "line 2: unknown key 'c' in [slots]" },
		{ "[slots]\na =\n", "line 2: empty value for 'a' in [slots]" },
		{ "[slots]\na = x\nb = x\n", "[slots] a and b name the same label" },
		{ "[install]\nk = 1\nk = 2\n", "line 3: duplicate key 'k' in [install]" },
	};
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		struct bootctl_config c2 = { .attempts = 42 };
		write_text("bad.conf", bad[i].text, path, sizeof path);
		memset(&e, 0, sizeof e);
		assert_int_equal(bootctl_config_load(path, &c2, &e), -EBADMSG);
		assert_string_equal(e.msg, bad[i].msg);
		assert_int_equal(c2.attempts, 42);
	}
	snprintf(path, sizeof path, "%s/none.conf", dir);
	assert_int_equal(bootctl_config_load(path, &c, &e), -ENOENT);
}

/* ---- discovery ---- */

static void make_disk(char *disk, size_t size)
{
	snprintf(disk, size, "%s/disk.img", dir);
	sh("rm -f %s && truncate -s 40M %s && sgdisk -n 1:2048:+4M -c 1:esp -t 1:ef00 -n 2:0:+8M -c 2:rootfs_a "
	   "-n 3:0:+8M -c 3:rootfs_b -n 4:0:0 -c 4:data %s >/dev/null",
	   disk, disk, disk);
}

static void test_discover_disk(void **state)
{
	char disk[128];
	struct bootctl_config c;
	struct bootctl_parts p;

	bootctl_config_default(&c);
	make_disk(disk, sizeof disk);
	assert_int_equal(bootctl_discover_disk(disk, &c, &p), 0);
	assert_true(p.esp.found && p.slot[0].found && p.slot[1].found && p.data.found);
	assert_string_equal(p.slot[0].device, disk);
	assert_true(p.esp.offset == 2048 * 512 && p.esp.size == 4 << 20);
	assert_true(p.slot[0].offset == (2048 + 8192) * 512ULL && p.slot[0].size == 8 << 20);
	assert_true(p.slot[1].offset == p.slot[0].offset + (8 << 20));
	assert_int_equal(p.slot[1].partno, 3);
	assert_string_equal(p.data.label, "data");

	/* other labels: not found is not an error */
	strcpy(c.label[1], "other");
	assert_int_equal(bootctl_discover_disk(disk, &c, &p), 0);
	assert_false(p.slot[1].found);

	snprintf(disk, sizeof disk, "%s/plain.img", dir);
	sh("truncate -s 1M %s", disk);
	assert_int_equal(bootctl_discover_disk(disk, &c, &p), -EBADMSG);
}

/* A fake sysfs: class/block/vdz (a disk, no "partition" file) with
 * children vdz1..vdz4, and class/block/vdz2 (a partition, skipped); the
 * disk's device node is the image file. */
static void test_discover_system(void **state)
{
	char disk[128], sys[128], dev[128];
	struct bootctl_config c;
	struct bootctl_parts p;

	bootctl_config_default(&c);
	make_disk(disk, sizeof disk);
	snprintf(sys, sizeof sys, "%s/sys", dir);
	snprintf(dev, sizeof dev, "%s/dev", dir);
	sh("mkdir -p %s/class/block/vdz %s && ln -sf %s %s/vdz", sys, dev, disk, dev);
	for (int i = 1; i <= 4; i++)
		sh("mkdir -p %s/class/block/vdz/vdz%d && echo %d > %s/class/block/vdz/vdz%d/partition", sys, i, i, sys, i);
	sh("mkdir -p %s/class/block/vdz2 && echo 2 > %s/class/block/vdz2/partition", sys, sys);
	/* a disk that is not there and a loop device are passed over */
	sh("mkdir -p %s/class/block/vdy %s/class/block/loop0", sys, sys);

	assert_int_equal(bootctl_discover_system(sys, dev, &c, &p), 0);
	assert_true(p.slot[0].found && p.slot[1].found && p.esp.found && p.data.found);
	{
		char want[160];
		snprintf(want, sizeof want, "%s/vdz2", dev);
		assert_string_equal(p.slot[0].device, want);
		snprintf(want, sizeof want, "%s/vdz3", dev);
		assert_string_equal(p.slot[1].device, want);
	}
	assert_true(p.slot[0].offset == 0 && p.slot[0].size == 8 << 20);

	/* the same labels on a second disk: ambiguous */
	sh("cp --sparse=always %s %s/disk2.img && mkdir -p %s/class/block/vdx && ln -sf %s/disk2.img %s/vdx", disk, dir, sys,
	   dir, dev);
	assert_int_equal(bootctl_discover_system(sys, dev, &c, &p), -ENOTUNIQ);
	assert_int_equal(bootctl_discover_system("/nonexistent", dev, &c, &p), -ENOENT);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_ini_ok),
		cmocka_unit_test(test_ini_bad),
		cmocka_unit_test(test_config),
		cmocka_unit_test(test_discover_disk),
		cmocka_unit_test(test_discover_system),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}

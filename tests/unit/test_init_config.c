/* rootfs-init's pure parts: kernel command line and init.conf parsing,
 * the manifest decisions and the activation flags. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <libcryptsetup.h>
#include <string.h>

#include "initramfs/initramfs.h"

static void test_defaults(void **state)
{
	struct init_config c;

	init_config_default(&c);
	assert_int_equal(c.slot, 0);
	assert_string_equal(c.keyring, INIT_KEYRING_DEFAULT);
	assert_string_equal(c.init, "/sbin/init");
	assert_string_equal(c.disk, "");
	assert_string_equal(c.data, "");
	assert_int_equal(c.verity, INIT_VERITY_RESTART);
	assert_int_equal(c.on_fail, INIT_FAIL_REBOOT);
	assert_int_equal(c.timeout_s, 10);
	assert_int_equal(c.watchdog_s, 0);
	assert_true(c.floor == 0);
	assert_false(c.debug);
	assert_false(c.last_resort);
	assert_int_equal(init_slot_name(&c), '?');
}

static void test_cmdline_all_keys(void **state)
{
	struct init_config c;
	const char *err = NULL;

	init_config_default(&c);
	assert_int_equal(init_config_parse_cmdline(&c,
		"BOOT_IMAGE=/vmlinuz console=ttyS0 quiet rootfs.slot=B rootfs.disk=/dev/vda "
		"rootfs.keyring=/etc/rootfs/keys.d rootfs.verity=panic rootfs.debug "
		"rootfs.on_fail=poweroff rootfs.floor=7 rootfs.timeout=3 rootfs.data=/var/lib/data "
		"rootfs.watchdog=30 rootfs.init=/lib/systemd/systemd rootfs.last_resort=1 panic=-1\n", &err), 0);
	assert_int_equal(c.slot, 'b');
	assert_int_equal(init_slot_name(&c), 'B');
	assert_string_equal(c.disk, "/dev/vda");
	assert_string_equal(c.keyring, "/etc/rootfs/keys.d");
	assert_int_equal(c.verity, INIT_VERITY_PANIC);
	assert_true(c.debug);
	assert_int_equal(c.on_fail, INIT_FAIL_POWEROFF);
	assert_true(c.floor == 7);
	assert_int_equal(c.timeout_s, 3);
	assert_string_equal(c.data, "/var/lib/data");
	assert_int_equal(c.watchdog_s, 30);
	assert_string_equal(c.init, "/lib/systemd/systemd");
	assert_true(c.last_resort);
}

static void test_cmdline_quotes_and_last_wins(void **state)
{
	struct init_config c;

	init_config_default(&c);
	/* The kernel drops the quotes; a later value overrides an earlier one. */
	assert_int_equal(init_config_parse_cmdline(&c,
		"rootfs.slot=a \"rootfs.init=/sbin/my init\" rootfs.data=\"/mnt/da ta\" rootfs.slot=b", NULL), 0);
	assert_int_equal(c.slot, 'b');
	assert_string_equal(c.init, "/sbin/my init");
	assert_string_equal(c.data, "/mnt/da ta");
	/* Words that merely contain rootfs. are not ours. */
	assert_int_equal(init_config_parse_cmdline(&c, "xrootfs.bogus=1 root=/dev/vda rootfs=x", NULL), 0);
	assert_int_equal(init_config_parse_cmdline(&c, "", NULL), 0);
	/* After "--" the words are init's arguments, not kernel parameters. */
	assert_int_equal(init_config_parse_cmdline(&c, "quiet -- rootfs.slot=a rootfs.bogus", NULL), 0);
	assert_int_equal(c.slot, 'b');
	assert_int_equal(init_config_parse_cmdline(&c, "quiet --x rootfs.slot=a", NULL), 0);
	assert_int_equal(c.slot, 'a');
	assert_int_equal(init_config_parse_cmdline(&c, "   \t ", NULL), 0);
}

static void test_cmdline_floor_never_lowers(void **state)
{
	struct init_config c;

	init_config_default(&c);
	assert_int_equal(init_config_set(&c, "floor", "5", NULL), 0);
	assert_int_equal(init_config_parse_cmdline(&c, "rootfs.floor=2", NULL), 0);
	assert_true(c.floor == 5);
	assert_int_equal(init_config_parse_cmdline(&c, "rootfs.floor=18446744073709551615", NULL), 0);
	assert_true(c.floor == UINT64_MAX);
}

static void expect_bad(const char *cmdline, const char *err_part)
{
	struct init_config c;
	const char *err = NULL;

	init_config_default(&c);
	assert_int_equal(init_config_parse_cmdline(&c, cmdline, &err), -EINVAL);
	assert_non_null(err);
	if (!strstr(err, err_part))
		fail_msg("'%s': error '%s' lacks '%s'", cmdline, err, err_part);
}

static void test_cmdline_bad_values(void **state)
{
	expect_bad("rootfs.slot=c", "rootfs.slot=");
	expect_bad("rootfs.slot=ab", "rootfs.slot=");
	expect_bad("rootfs.slot=", "rootfs.slot=");
	expect_bad("rootfs.slot", "needs a value");
	expect_bad("rootfs.disk=vda", "rootfs.disk=");
	expect_bad("rootfs.disk=/tmp/x", "rootfs.disk=");
	expect_bad("rootfs.disk=/dev/../etc/shadow", "rootfs.disk=");
	expect_bad("rootfs.keyring=keys.pem", "rootfs.keyring=");
	expect_bad("rootfs.verity=off", "rootfs.verity=");
	expect_bad("rootfs.debug=maybe", "rootfs.debug=");
	expect_bad("rootfs.last_resort=2", "rootfs.last_resort=");
	expect_bad("rootfs.on_fail=halt", "rootfs.on_fail=");
	expect_bad("rootfs.floor=-1", "rootfs.floor=");
	expect_bad("rootfs.floor=18446744073709551616", "rootfs.floor=");
	expect_bad("rootfs.floor=1x", "rootfs.floor=");
	expect_bad("rootfs.timeout=3601", "rootfs.timeout=");
	expect_bad("rootfs.timeout=1.5", "rootfs.timeout=");
	expect_bad("rootfs.data=/", "rootfs.data=");
	expect_bad("rootfs.data=/mnt/./x", "rootfs.data=");
	expect_bad("rootfs.data=relative", "rootfs.data=");
	expect_bad("rootfs.watchdog=65536", "rootfs.watchdog=");
	expect_bad("rootfs.init=sbin/init", "rootfs.init=");
	expect_bad("rootfs.init=/sbin/../bin/sh", "rootfs.init=");
	expect_bad("rootfs.slto=a", "unknown rootfs parameter");
	expect_bad("rootfs.slot=a \"rootfs.init=/x", "unterminated quote");
}

static void test_cmdline_overlong(void **state)
{
	char buf[INIT_PATH_MAX + 64];
	struct init_config c;

	init_config_default(&c);
	strcpy(buf, "rootfs.init=/");
	memset(buf + 13, 'x', INIT_PATH_MAX);
	buf[13 + INIT_PATH_MAX] = '\0';
	assert_int_equal(init_config_parse_cmdline(&c, buf, NULL), -EINVAL);
	assert_string_equal(c.init, "/sbin/init");
	/* One shorter than the limit (with the leading '/') fits. */
	buf[12 + INIT_PATH_MAX - 1] = '\0';
	assert_int_equal(init_config_parse_cmdline(&c, buf, NULL), 0);
	assert_int_equal(strlen(c.init), INIT_PATH_MAX - 1);
}

static void test_conf(void **state)
{
	static const char text[] =
		"# rootfs-init configuration\n"
		"\n"
		"  data=/data  \n"
		"watchdog=60\n"
		"\tverity=ignore\r\n"
		"floor=3";
	struct init_config c;
	const char *err = NULL;

	init_config_default(&c);
	assert_int_equal(init_config_parse_conf(&c, text, sizeof(text) - 1, &err), 0);
	assert_string_equal(c.data, "/data");
	assert_int_equal(c.watchdog_s, 60);
	assert_int_equal(c.verity, INIT_VERITY_IGNORE);
	assert_true(c.floor == 3);
	/* The command line comes after init.conf and overrides it, except
	 * that a floor only rises. */
	assert_int_equal(init_config_parse_cmdline(&c, "rootfs.verity=restart rootfs.floor=1", NULL), 0);
	assert_int_equal(c.verity, INIT_VERITY_RESTART);
	assert_true(c.floor == 3);

	assert_int_equal(init_config_parse_conf(&c, "", 0, NULL), 0);
	assert_int_equal(init_config_parse_conf(&c, "data\n", 5, &err), -EINVAL);
	assert_string_equal(err, "init.conf line is not key=value");
	assert_int_equal(init_config_parse_conf(&c, "bogus=1\n", 8, &err), -EINVAL);
	assert_string_equal(err, "unknown rootfs parameter");
	assert_int_equal(init_config_parse_conf(&c, "slot=a\0", 7, &err), -EINVAL);
	assert_string_equal(err, "NUL byte in init.conf");
}

static void fill_manifest(struct manifest *m)
{
	memset(m, 0, sizeof(*m));
	strcpy(m->compatible, "rootfs-demo-x86_64");
	m->version = 2;
	strcpy(m->fstype, "ext4");
}

static void test_manifest_check(void **state)
{
	struct manifest m;

	fill_manifest(&m);
	assert_int_equal(init_manifest_check(&m, "rootfs-demo-x86_64", 0), 0);
	assert_int_equal(init_manifest_check(&m, "rootfs-demo-x86_64", 2), 0);
	assert_int_equal(init_manifest_check(&m, "rootfs-demo-x86_64", 3), -ESTALE);
	assert_int_equal(init_manifest_check(&m, "rootfs-demo-arm64", 0), -EMEDIUMTYPE);
	/* A prefix is not a match. */
	assert_int_equal(init_manifest_check(&m, "rootfs-demo", 0), -EMEDIUMTYPE);
	strcpy(m.fstype, "squashfs");
	assert_int_equal(init_manifest_check(&m, "rootfs-demo-x86_64", 0), 0);
	strcpy(m.fstype, "erofs");
	assert_int_equal(init_manifest_check(&m, "rootfs-demo-x86_64", 0), 0);
	strcpy(m.fstype, "vfat");
	assert_int_equal(init_manifest_check(&m, "rootfs-demo-x86_64", 0), -EPROTONOSUPPORT);
}

static void test_verity_flags(void **state)
{
	assert_int_equal(init_verity_flags(INIT_VERITY_RESTART),
	                 CRYPT_ACTIVATE_READONLY | CRYPT_ACTIVATE_RESTART_ON_CORRUPTION);
	assert_int_equal(init_verity_flags(INIT_VERITY_PANIC),
	                 CRYPT_ACTIVATE_READONLY | CRYPT_ACTIVATE_PANIC_ON_CORRUPTION);
	assert_int_equal(init_verity_flags(INIT_VERITY_IGNORE),
	                 CRYPT_ACTIVATE_READONLY | CRYPT_ACTIVATE_IGNORE_CORRUPTION);
}

static void test_partition_node(void **state)
{
	char buf[32];

	assert_int_equal(init_partition_node("/dev/vda", 2, buf, sizeof(buf)), 0);
	assert_string_equal(buf, "/dev/vda2");
	assert_int_equal(init_partition_node("/dev/mmcblk0", 3, buf, sizeof(buf)), 0);
	assert_string_equal(buf, "/dev/mmcblk0p3");
	assert_int_equal(init_partition_node("/dev/nvme0n1", 12, buf, sizeof(buf)), 0);
	assert_string_equal(buf, "/dev/nvme0n1p12");
	assert_int_equal(init_partition_node("/dev/vda", 0, buf, sizeof(buf)), -EINVAL);
	assert_int_equal(init_partition_node("", 1, buf, sizeof(buf)), -EINVAL);
	/* "/dev/vda2" needs 10 bytes with the NUL. */
	assert_int_equal(init_partition_node("/dev/vda", 2, buf, 9), -ENAMETOOLONG);
	assert_int_equal(init_partition_node("/dev/vda", 2, buf, 10), 0);
}

struct collected { char paths[8][INIT_PATH_MAX]; int n; int fail_at; };

static int collect(const char *path, void *userdata)
{
	struct collected *c = userdata;

	if (c->n == c->fail_at)
		return -ENOEXEC;
	strcpy(c->paths[c->n++], path);
	return 0;
}

static void test_modules_foreach(void **state)
{
	static const char list[] =
		"# virtio\n"
		"/lib/modules/k/virtio.ko\n"
		"\n"
		"/lib/modules/k/dm-mod.ko \n"
		"/lib/modules/k/dm-verity.ko";
	struct collected c = { .fail_at = -1 };

	assert_int_equal(init_modules_foreach(list, sizeof(list) - 1, collect, &c), 3);
	assert_int_equal(c.n, 3);
	assert_string_equal(c.paths[0], "/lib/modules/k/virtio.ko");
	assert_string_equal(c.paths[1], "/lib/modules/k/dm-mod.ko");
	assert_string_equal(c.paths[2], "/lib/modules/k/dm-verity.ko");

	c = (struct collected){ .fail_at = 1 };
	assert_int_equal(init_modules_foreach(list, sizeof(list) - 1, collect, &c), -ENOEXEC);
	assert_int_equal(c.n, 1);

	c = (struct collected){ .fail_at = -1 };
	assert_int_equal(init_modules_foreach("", 0, collect, &c), 0);
	assert_int_equal(init_modules_foreach("a\0b\n", 4, collect, &c), -EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_defaults),
		cmocka_unit_test(test_cmdline_all_keys),
		cmocka_unit_test(test_cmdline_quotes_and_last_wins),
		cmocka_unit_test(test_cmdline_floor_never_lowers),
		cmocka_unit_test(test_cmdline_bad_values),
		cmocka_unit_test(test_cmdline_overlong),
		cmocka_unit_test(test_conf),
		cmocka_unit_test(test_manifest_check),
		cmocka_unit_test(test_verity_flags),
		cmocka_unit_test(test_modules_foreach),
		cmocka_unit_test(test_partition_node),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

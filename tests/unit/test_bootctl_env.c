/* bootctl environments: the U-Boot format (single, redundant, flag wrap,
 * power cuts at every byte, bad input leaves the device untouched), the
 * GRUB block, and the FAT lookup on filesystems made by mkfs.vfat. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "bootctl/bootctl.h"
#include "common/macro.h"
#include "common/util.h"

#define ENVSIZE 0x2000

/* -Wl,--wrap=rename (test_bootctl_env.ldflags): a crash or an error
 * between writing the new grubenv and renaming it over the old one. */
int __real_rename(const char *from, const char *to);
static bool fail_rename;
int __wrap_rename(const char *from, const char *to)
{
	if (fail_rename) {
		errno = EIO;
		return -1;
	}
	return __real_rename(from, to);
}

static char dir[64];

static int setup(void **state)
{
	strcpy(dir, "/tmp/test_bootctl_env.XXXXXX");
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

static void path_of(char *out, size_t size, const char *name)
{
	snprintf(out, size, "%s/%s", dir, name);
}

static void write_bytes(const char *path, const void *buf, size_t len)
{
	_cleanup_close_ int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	assert_true(fd >= 0);
	assert_int_equal(write_full(fd, buf, len), 0);
}

static uint8_t *read_all(const char *path, size_t *len)
{
	uint8_t *d;
	assert_int_equal(read_file_bounded(path, 1 << 24, &d, len), 0);
	return d;
}

static bool env_equal(const struct bootenv *a, const struct bootenv *b)
{
	if (a->n != b->n)
		return false;
	for (size_t i = 0; i < a->n; i++)
		if (strcmp(a->vars[i].name, b->vars[i].name) || strcmp(a->vars[i].value, b->vars[i].value))
			return false;
	return true;
}

static void sample_env(struct bootenv *e, const char *order)
{
	assert_int_equal(bootenv_set(e, "bootcmd", "run distro_bootcmd"), 0);
	assert_int_equal(bootenv_set(e, "BOOT_ORDER", order), 0);
	assert_int_equal(bootenv_set(e, "BOOT_A_LEFT", "3"), 0);
	assert_int_equal(bootenv_set(e, "BOOT_B_LEFT", "3"), 0);
}

/* A redundant environment of two copies in one file, made with our
 * formatter; returns the fw_env.config. */
static void make_redundant(const char *name, const struct bootenv *e0, uint8_t f0, const struct bootenv *e1, uint8_t f1,
                           struct ubootenv_config *ret)
{
	uint8_t buf[2 * ENVSIZE];
	char path[128], text[512];

	assert_int_equal(ubootenv_format(e0, true, f0, buf, ENVSIZE), 0);
	assert_int_equal(ubootenv_format(e1, true, f1, buf + ENVSIZE, ENVSIZE), 0);
	path_of(path, sizeof path, name);
	write_bytes(path, buf, sizeof buf);
	snprintf(text, sizeof text, "# two copies\n%s 0x0 0x2000\n%s 0x2000 0x2000 0x1000 2\n", path, path);
	assert_int_equal(ubootenv_config_parse(text, ret, NULL), 0);
}

static void test_uboot_roundtrip(void **state)
{
	struct bootenv e = {}, r = {};
	struct ubootenv_config c;
	unsigned cur;

	sample_env(&e, "A B");
	make_redundant("rt.bin", &e, 7, &e, 6, &c);
	assert_int_equal(c.ncopies, 2);
	assert_true(c.copy[1].sector_size == 0x1000 && c.copy[1].sectors == 2);
	assert_int_equal(ubootenv_read(&c, &r, &cur, NULL), 0);
	assert_int_equal(cur, 0);
	assert_true(env_equal(&e, &r));
	bootenv_clear(&r);

	/* each write goes to the other copy with flags + 1 */
	for (int i = 0; i < 4; i++) {
		char v[2] = { (char)('0' + i), 0 };
		assert_int_equal(bootenv_set(&e, "BOOT_A_LEFT", v), 0);
		assert_int_equal(ubootenv_write(&c, &e, NULL), 0);
		assert_int_equal(ubootenv_read(&c, &r, &cur, NULL), 0);
		assert_int_equal(cur, (unsigned)(i + 1) % 2);
		assert_true(env_equal(&e, &r));
		bootenv_clear(&r);
	}
	bootenv_clear(&e);
}

static void test_uboot_flag_wrap(void **state)
{
	struct bootenv e0 = {}, e1 = {}, r = {};
	struct ubootenv_config c;
	unsigned cur;
	uint8_t buf[ENVSIZE], flags;

	sample_env(&e0, "A B");
	sample_env(&e1, "B A");
	/* 0 follows 255 */
	make_redundant("wrap.bin", &e0, 255, &e1, 0, &c);
	assert_int_equal(ubootenv_read(&c, &r, &cur, NULL), 0);
	assert_int_equal(cur, 1);
	assert_string_equal(bootenv_get(&r, "BOOT_ORDER"), "B A");
	bootenv_clear(&r);
	make_redundant("wrap.bin", &e0, 0, &e1, 255, &c);
	assert_int_equal(ubootenv_read(&c, &r, &cur, NULL), 0);
	assert_int_equal(cur, 0);
	bootenv_clear(&r);
	/* current 255: the next write carries 0 */
	make_redundant("wrap.bin", &e0, 255, &e1, 254, &c);
	assert_int_equal(ubootenv_write(&c, &e1, NULL), 0);
	{
		_cleanup_close_ int fd = open(c.copy[1].path, O_RDONLY | O_CLOEXEC);
		assert_int_equal(pread_full(fd, buf, sizeof buf, ENVSIZE), 0);
	}
	assert_int_equal(ubootenv_parse(buf, sizeof buf, true, &r, &flags, NULL), 0);
	assert_int_equal(flags, 0);
	bootenv_clear(&r);
	bootenv_clear(&e0);
	bootenv_clear(&e1);
}

/* Cut the write at every byte: the copy being written holds new bytes up
 * to the cut and old ones after it. The reader must get the complete old
 * or the complete new environment, never a mix and never an error. */
static void test_uboot_power_cut(void **state)
{
	for (int target = 0; target < 2; target++) {
		struct bootenv old = {}, neu = {}, r = {};
		struct ubootenv_config c;
		char path[128];
		_cleanup_free_ uint8_t *before = NULL, *after = NULL;
		size_t blen, alen, off = (size_t)target * ENVSIZE;
		unsigned n_old = 0, n_new = 0;
		size_t last_diff = 0;
		_cleanup_close_ int fd = -1;

		sample_env(&old, "A B");
		sample_env(&neu, "B A");
		assert_int_equal(bootenv_set(&neu, "BOOT_B_LEFT", "2"), 0);
		/* the current copy is 1 - target, so the write goes to target */
		make_redundant("cut.bin", &old, target ? 9 : 8, &old, target ? 8 : 9, &c);
		path_of(path, sizeof path, "cut.bin");
		/* the copy about to be written padded with 0xff, as mkenvimage
		 * and flash pad: every byte differs from our zero padding, so
		 * every one of the ENVSIZE+1 cuts gives another image */
		before = read_all(path, &blen);
		{
			uint8_t *cp = before + off;
			size_t end = 5;
			uLong crc;
			while (cp[end] || cp[end + 1])
				end++;
			memset(cp + end + 2, 0xff, ENVSIZE - end - 2);
			crc = crc32(0L, cp + 5, ENVSIZE - 5);
			cp[0] = (uint8_t)crc, cp[1] = (uint8_t)(crc >> 8), cp[2] = (uint8_t)(crc >> 16), cp[3] = (uint8_t)(crc >> 24);
			write_bytes(path, before, blen);
		}
		assert_int_equal(ubootenv_write(&c, &neu, NULL), 0);
		after = read_all(path, &alen);
		assert_int_equal(blen, alen);
		assert_memory_equal(before + ENVSIZE - off, after + ENVSIZE - off, ENVSIZE); /* other copy untouched */

		for (size_t i = 0; i < ENVSIZE; i++)
			if (before[off + i] != after[off + i])
				last_diff = i;
		fd = open(path, O_WRONLY | O_CLOEXEC);
		assert_true(fd >= 0);
		for (size_t cut = 0; cut <= ENVSIZE; cut++) {
			/* bytes [cut-1] came from the new image at the last step */
			if (cut == 0)
				assert_int_equal(pwrite_full(fd, before + off, ENVSIZE, off), 0);
			else
				assert_int_equal(pwrite_full(fd, after + off + cut - 1, 1, off + cut - 1), 0);
			assert_int_equal(ubootenv_read(&c, &r, NULL, NULL), 0);
			if (env_equal(&r, &neu))
				n_new++;
			else if (env_equal(&r, &old))
				n_old++;
			else
				fail_msg("cut at %zu: a mixed environment", cut);
			bootenv_clear(&r);
		}
		/* old until the last byte that differs is written, new after */
		assert_int_equal(last_diff, ENVSIZE - 1);
		assert_int_equal(n_old, last_diff + 1);
		assert_int_equal(n_new, ENVSIZE - last_diff);
		bootenv_clear(&old);
		bootenv_clear(&neu);
	}
}

static void assert_unchanged_after_failed_write(const struct ubootenv_config *c, const char *path, int want_r,
                                                const char *want_why)
{
	_cleanup_free_ uint8_t *before = NULL, *after = NULL;
	struct bootenv e = {}, r = { .n = 0 };
	size_t blen, alen;
	const char *why = NULL;

	before = read_all(path, &blen);
	assert_int_equal(ubootenv_read(c, &r, NULL, &why), want_r);
	assert_string_equal(why, want_why);
	sample_env(&e, "A B");
	why = NULL;
	assert_int_equal(ubootenv_write(c, &e, &why), want_r);
	assert_string_equal(why, want_why);
	after = read_all(path, &alen);
	assert_int_equal(blen, alen);
	assert_memory_equal(before, after, blen);
	bootenv_clear(&e);
}

static void test_uboot_bad_input(void **state)
{
	struct bootenv e = {};
	struct ubootenv_config c;
	char path[128], text[512];

	sample_env(&e, "A B");
	/* bad CRC on both copies */
	make_redundant("bad.bin", &e, 1, &e, 2, &c);
	path_of(path, sizeof path, "bad.bin");
	{
		_cleanup_close_ int fd = open(path, O_WRONLY | O_CLOEXEC);
		assert_int_equal(pwrite_full(fd, "X", 1, 100), 0);
		assert_int_equal(pwrite_full(fd, "X", 1, ENVSIZE + 100), 0);
	}
	assert_unchanged_after_failed_write(&c, path, -EBADMSG, "bad CRC on both environment copies");

	/* single copy, bad CRC */
	snprintf(text, sizeof text, "%s 0 0x2000\n", path);
	assert_int_equal(ubootenv_config_parse(text, &c, NULL), 0);
	assert_unchanged_after_failed_write(&c, path, -EBADMSG, "bad CRC in the environment");

	bootenv_clear(&e);
}

/* Builds a single copy whose data area is `data` (len bytes, rest zero)
 * with a correct CRC, by formatting an empty env and patching. */
static void make_single_raw(const char *name, const char *data, size_t len, struct ubootenv_config *ret)
{
	uint8_t buf[ENVSIZE];
	char path[128], text[256];
	uLong crc;

	memset(buf, 0, sizeof buf);
	memcpy(buf + 4, data, len);
	crc = crc32(0L, buf + 4, ENVSIZE - 4);
	buf[0] = (uint8_t)crc, buf[1] = (uint8_t)(crc >> 8), buf[2] = (uint8_t)(crc >> 16), buf[3] = (uint8_t)(crc >> 24);
	path_of(path, sizeof path, name);
	write_bytes(path, buf, sizeof buf);
	snprintf(text, sizeof text, "%s 0x0 0x2000\n", path);
	assert_int_equal(ubootenv_config_parse(text, ret, NULL), 0);
}

static void test_uboot_bad_content(void **state)
{
	static char full[ENVSIZE - 4];
	struct ubootenv_config c;
	char path[128], text[512];

	memset(full, 'a', sizeof full);
	make_single_raw("noterm.bin", full, sizeof full, &c);
	path_of(path, sizeof path, "noterm.bin");
	assert_unchanged_after_failed_write(&c, path, -EBADMSG, "environment has no terminator");

	/* four entries that end right at the end of the area: no empty
	 * string after them */
	for (size_t i = 0; i < 4; i++) {
		char *p = full + i * (sizeof full / 4);
		p[0] = (char)('a' + i);
		p[1] = '=';
		p[sizeof full / 4 - 1] = 0;
	}
	make_single_raw("noterm2.bin", full, sizeof full, &c);
	path_of(path, sizeof path, "noterm2.bin");
	assert_unchanged_after_failed_write(&c, path, -EBADMSG, "environment has no terminator");

	make_single_raw("noeq.bin", "foo=bar\0baz\0", 13, &c);
	path_of(path, sizeof path, "noeq.bin");
	assert_unchanged_after_failed_write(&c, path, -EBADMSG, "environment entry without 'name='");

	make_single_raw("dup.bin", "a=1\0a=2\0", 9, &c);
	path_of(path, sizeof path, "dup.bin");
	assert_unchanged_after_failed_write(&c, path, -EBADMSG, "environment has a variable twice");

	/* past the end of the device: the file holds one copy, the config two */
	make_single_raw("short.bin", "a=1\0", 5, &c);
	path_of(path, sizeof path, "short.bin");
	snprintf(text, sizeof text, "%s 0x0 0x2000\n%s 0x2000 0x2000\n", path, path);
	assert_int_equal(ubootenv_config_parse(text, &c, NULL), 0);
	assert_unchanged_after_failed_write(&c, path, -ENOSPC, "fw_env.config points past the end of the device");
	snprintf(text, sizeof text, "%s 0x1000 0x2000\n", path);
	assert_int_equal(ubootenv_config_parse(text, &c, NULL), 0);
	assert_unchanged_after_failed_write(&c, path, -ENOSPC, "fw_env.config points past the end of the device");
}

static void test_uboot_config_bad(void **state)
{
	static const struct {
		const char *text, *why;
	} bad[] = {
		{ "", "fw_env.config: no environment configured" },
		{ "# only a comment\n", "fw_env.config: no environment configured" },
		{ "/dev/x 0x0\n", "fw_env.config: a line needs 'device offset size'" },
		{ "/dev/x zz 0x2000\n", "fw_env.config: a number is not decimal or 0x-hex" },
		{ "/dev/x -1 0x2000\n", "fw_env.config: a number is not decimal or 0x-hex" },
		{ "/dev/x 0 0x2000 1 2 3\n", "fw_env.config: too many fields on a line" },
		{ "/dev/x 0 0x8\n", "fw_env.config: environment size out of range" },
		{ "/dev/x 0 0x2000\n/dev/x 0x2000 0x2000\n/dev/x 0x4000 0x2000\n",
		  "fw_env.config: more than two environment copies" },
		{ "/dev/x 0 0x2000\n/dev/y 0 0x4000\n", "fw_env.config: the two copies differ in size" },
		{ "/dev/x 0 0x2000\n/dev/x 0x1000 0x2000\n", "fw_env.config: the two copies overlap" },
		{ "/dev/x 0x7fffffffffffffff 0x2000\n", "fw_env.config: offset out of range" },
	};
	struct ubootenv_config c = { .ncopies = 7 };

	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		const char *why = NULL;
		assert_int_equal(ubootenv_config_parse(bad[i].text, &c, &why), -EBADMSG);
		assert_string_equal(why, bad[i].why);
		assert_int_equal(c.ncopies, 7);
	}
	assert_int_equal(ubootenv_config_parse("/dev/mtd0 8192 0x2000 # comment\n", &c, NULL), 0);
	assert_int_equal(c.ncopies, 1);
	assert_true(c.copy[0].offset == 8192 && c.copy[0].size == 0x2000);
}

/* ---- GRUB ---- */

static void test_grubenv_format(void **state)
{
	struct bootenv e = {}, r = {};
	uint8_t buf[GRUBENV_SIZE];
	char big[600];

	assert_int_equal(bootenv_set(&e, "ORDER", "A B"), 0);
	assert_int_equal(bootenv_set(&e, "esc", "back\\slash\nnewline"), 0);
	assert_int_equal(bootenv_set(&e, "empty", ""), 0);
	assert_int_equal(grubenv_format(&e, buf), 0);
	assert_memory_equal(buf, GRUBENV_SIGNATURE "ORDER=A B\nesc=back\\\\slash\\\nnewline\nempty=\n####", 59);
	for (size_t i = GRUBENV_SECTOR; i < GRUBENV_SIZE; i++)
		assert_int_equal(buf[i], '#');
	assert_int_equal(grubenv_parse(buf, sizeof buf, &r, NULL), 0);
	assert_true(env_equal(&e, &r));
	bootenv_clear(&r);

	/* content must fit in the first sector */
	memset(big, 'x', sizeof big);
	big[sizeof big - 1] = 0;
	assert_int_equal(bootenv_set(&e, "big", big), 0);
	assert_int_equal(grubenv_format(&e, buf), -E2BIG);
	bootenv_clear(&e);
}

static void test_grubenv_bad(void **state)
{
	static const struct {
		const char *text, *why;
	} bad[] = {
		{ "# GRUB Environment Blok\n", "grubenv has no GRUB Environment Block signature" },
		{ GRUBENV_SIGNATURE "novalue\n", "grubenv has a line that is not name=value" },
		{ GRUBENV_SIGNATURE "=x\n", "grubenv has a line that is not name=value" },
		{ GRUBENV_SIGNATURE "a=1\na=2\n", "grubenv has a variable twice" },
	};
	uint8_t buf[GRUBENV_SIZE];
	struct bootenv r = {};
	const char *why;

	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		memset(buf, '#', sizeof buf);
		memcpy(buf, bad[i].text, strlen(bad[i].text));
		why = NULL;
		assert_int_equal(grubenv_parse(buf, sizeof buf, &r, &why), -EBADMSG);
		assert_string_equal(why, bad[i].why);
	}
	/* a value running into the end of the block */
	memset(buf, 'x', sizeof buf);
	memcpy(buf, GRUBENV_SIGNATURE "a=", strlen(GRUBENV_SIGNATURE) + 2);
	assert_int_equal(grubenv_parse(buf, sizeof buf, &r, &why), -EBADMSG);
	assert_string_equal(why, "grubenv has a truncated line");
	assert_int_equal(grubenv_parse(buf, 1023, &r, &why), -EBADMSG);
	assert_string_equal(why, "grubenv is not exactly 1024 bytes");
	buf[100] = 0;
	assert_int_equal(grubenv_parse(buf, sizeof buf, &r, &why), -EBADMSG);
	assert_string_equal(why, "grubenv has a NUL byte");
}

/* A file: written as a new file and renamed; when the rename does not
 * happen, the old file is intact and no temporary file is left. */
static void test_grubenv_file(void **state)
{
	char path[128], cmd[256];
	struct bootenv e = {}, r = {};
	_cleanup_free_ uint8_t *before = NULL, *after = NULL;
	size_t blen, alen;

	path_of(path, sizeof path, "file.grubenv");
	sh("grub-editenv %s create && grub-editenv %s set ORDER='A B' A_LEFT=3", path, path);
	assert_int_equal(grubenv_read_file(path, &e, NULL), 0);
	assert_int_equal(bootenv_set(&e, "A_LEFT", "2"), 0);
	before = read_all(path, &blen);
	fail_rename = true;
	assert_int_equal(grubenv_write_file(path, &e), -EIO);
	fail_rename = false;
	after = read_all(path, &alen);
	assert_int_equal(alen, blen);
	assert_memory_equal(after, before, blen);
	snprintf(cmd, sizeof cmd, "test $(ls %s | grep -c '^file.grubenv') = 1", dir);
	sh("%s", cmd);
	assert_int_equal(grubenv_write_file(path, &e), 0);
	assert_int_equal(grubenv_read_file(path, &r, NULL), 0);
	assert_string_equal(bootenv_get(&r, "A_LEFT"), "2");
	sh("grub-editenv %s list | grep -qx A_LEFT=2", path);
	bootenv_clear(&e);
	bootenv_clear(&r);
}

/* In place: a change is one sector; grub-editenv reads the result. */
static void test_grubenv_in_place(void **state)
{
	char path[128], out[160];
	struct bootenv e = {}, r = {};
	_cleanup_free_ uint8_t *before = NULL, *after = NULL;
	size_t blen, alen;
	_cleanup_close_ int fd = -1;

	path_of(path, sizeof path, "grubenv");
	sh("grub-editenv %s create && grub-editenv %s set keep=1", path, path);
	before = read_all(path, &blen);
	fd = open(path, O_RDWR | O_CLOEXEC);
	assert_true(fd >= 0);
	assert_int_equal(grubenv_read_at(fd, 0, &e, NULL), 0);
	assert_string_equal(bootenv_get(&e, "keep"), "1");
	assert_int_equal(bootenv_set(&e, "A_LEFT", "2"), 0);
	assert_int_equal(grubenv_write_at(fd, 0, &e), 0);
	after = read_all(path, &alen);
	assert_int_equal(alen, GRUBENV_SIZE);
	assert_memory_equal(before + GRUBENV_SECTOR, after + GRUBENV_SECTOR, GRUBENV_SECTOR);
	path_of(out, sizeof out, "list.txt");
	sh("grub-editenv %s list > %s && grep -qx A_LEFT=2 %s && grep -qx keep=1 %s", path, out, out, out);

	/* content from elsewhere reaching into sector two is rewritten too */
	sh("grub-editenv %s set long=$(head -c 600 /dev/zero | tr '\\\\0' y)", path);
	bootenv_clear(&e);
	assert_int_equal(grubenv_read_at(fd, 0, &e, NULL), 0);
	assert_int_equal(bootenv_set(&e, "long", NULL), 0);
	assert_int_equal(grubenv_write_at(fd, 0, &e), 0);
	assert_int_equal(grubenv_read_at(fd, 0, &r, NULL), 0);
	assert_true(env_equal(&e, &r));
	sh("test $(grub-editenv %s list | wc -l) = 2", path);
	bootenv_clear(&e);
	bootenv_clear(&r);
}

/* ---- FAT ---- */

static void test_fat_lookup(void **state)
{
	static const struct {
		int bits;
		const char *size, *spc;
	} fs[] = { { 12, "2M", "1" }, { 16, "16M", "4" }, { 32, "40M", "1" } };
	char img[128], ge[128], out[128];
	uint8_t want[GRUBENV_SIZE], got[GRUBENV_SIZE];

	setenv("MTOOLS_SKIP_CHECK", "1", 1);
	path_of(ge, sizeof ge, "ge");
	path_of(out, sizeof out, "ge.out");
	sh("rm -f %s && grub-editenv %s create && grub-editenv %s set X=1", ge, ge, ge);
	{
		_cleanup_close_ int gfd = open(ge, O_RDONLY | O_CLOEXEC);
		assert_int_equal(pread_full(gfd, want, sizeof want, 0), 0);
	}
	for (size_t i = 0; i < ARRAY_SIZE(fs); i++) {
		_cleanup_close_ int fd = -1;
		uint64_t off, size, psize = 1ULL << 20;
		struct bootenv e = {};

		path_of(img, sizeof img, "fat.img");
		/* the filesystem sits 1 MiB into the file, as a partition would */
		sh("rm -f %s.p && truncate -s %s %s.p && mkfs.vfat -F %d -s %s %s.p >/dev/null && "
		   "mmd -i %s.p ::/EFI ::/EFI/BOOT && mcopy -i %s.p %s ::/EFI/BOOT/grubenv && "
		   "(head -c 1M /dev/zero; cat %s.p) > %s",
		   img, fs[i].size, img, fs[i].bits, fs[i].spc, img, img, img, ge, img, img);
		fd = open(img, O_RDWR | O_CLOEXEC);
		assert_true(fd >= 0);
		assert_int_equal(fd_get_size(fd, &size), 0);
		psize = size - psize;
		assert_int_equal(fat_lookup(fd, 1 << 20, psize, "/EFI/BOOT/grubenv", &off, &size), 0);
		assert_true(size == GRUBENV_SIZE);
		assert_int_equal(pread_full(fd, got, sizeof got, off), 0);
		assert_memory_equal(got, want, sizeof want);
		assert_int_equal(fat_lookup(fd, 1 << 20, psize, "efi/boot/GRUBENV", &off, &size), 0);
		assert_int_equal(fat_lookup(fd, 1 << 20, psize, "/EFI/BOOT/none", &off, &size), -ENOENT);
		assert_int_equal(fat_lookup(fd, 1 << 20, psize, "/EFI/BOOT", &off, &size), -EISDIR);
		assert_int_equal(fat_lookup(fd, 1 << 20, psize, "/EFI/BOOT/grubenv/x", &off, &size), -ENOENT);
		assert_int_equal(fat_lookup(fd, 0, psize, "/EFI/BOOT/grubenv", &off, &size), -EBADMSG);
		/* write through the extent; mtools reads the file back */
		assert_int_equal(grubenv_read_at(fd, off, &e, NULL), 0);
		assert_int_equal(bootenv_set(&e, "Y", "2"), 0);
		assert_int_equal(grubenv_write_at(fd, off, &e), 0);
		bootenv_clear(&e);
		sh("tail -c +1048577 %s > %s.p && mtype -i %s.p ::/EFI/BOOT/grubenv > %s && grub-editenv %s list | grep -qx Y=2",
		   img, img, img, out, out);
	}
}

static void test_fat_fragmented(void **state)
{
	char img[128], ge[128], one[128];
	_cleanup_close_ int fd = -1;
	uint64_t off, size;

	setenv("MTOOLS_SKIP_CHECK", "1", 1);
	path_of(img, sizeof img, "frag.img");
	path_of(ge, sizeof ge, "ge");
	path_of(one, sizeof one, "one");
	/* 512-byte clusters; a one-cluster hole before another file makes
	 * mtools split the 1024-byte grubenv */
	sh("rm -f %s && truncate -s 2M %s && mkfs.vfat -F 12 -s 1 %s >/dev/null && head -c 512 /dev/zero > %s && "
	   "mcopy -i %s %s ::/x1 && mcopy -i %s %s ::/x2 && mdel -i %s ::/x1 && mcopy -i %s %s ::/grubenv",
	   img, img, img, one, img, one, img, one, img, img, ge);
	fd = open(img, O_RDONLY | O_CLOEXEC);
	assert_true(fd >= 0);
	assert_int_equal(fat_lookup(fd, 0, 2 << 20, "/grubenv", &off, &size), -EXDEV);
	assert_int_equal(fat_lookup(fd, 0, 2 << 20, "/x2", &off, &size), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_uboot_roundtrip),
		cmocka_unit_test(test_uboot_flag_wrap),
		cmocka_unit_test(test_uboot_power_cut),
		cmocka_unit_test(test_uboot_bad_input),
		cmocka_unit_test(test_uboot_bad_content),
		cmocka_unit_test(test_uboot_config_bad),
		cmocka_unit_test(test_grubenv_format),
		cmocka_unit_test(test_grubenv_bad),
		cmocka_unit_test(test_grubenv_file),
		cmocka_unit_test(test_grubenv_in_place),
		cmocka_unit_test(test_fat_lookup),
		cmocka_unit_test(test_fat_fragmented),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}

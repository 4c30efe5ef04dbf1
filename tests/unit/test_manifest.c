/* Unit tests for verity/manifest.c: the strict manifest parser, the
 * canonical formatter and the slot layout. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdio.h>
#include <string.h>

#include "common/macro.h"
#include "verity/verity.h"

/* 256 data blocks of 4096: level 0 has 2 hash blocks, level 1 one. */
static const char base[] =
	"format=1\n"
	"compatible=acme-gw-1\n"
	"version=42\n"
	"version_string=1.4.2 (gr\xc3\xbcn)\n"
	"build_time=1767225600\n"
	"fstype=squashfs\n"
	"payload_size=1048576\n"
	"payload_sha256=00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff\n"
	"compression=zstd\n"
	"stored_size=12345\n"
	"verity_hash=sha256\n"
	"verity_data_block_size=4096\n"
	"verity_hash_block_size=4096\n"
	"verity_data_blocks=256\n"
	"verity_salt=a5a5a5a5\n"
	"verity_root_hash=ffeeddccbbaa99887766554433221100ffeeddccbbaa99887766554433221100\n"
	"verity_tree_size=12288\n";

static const char *const all_keys[] = {
	"format", "compatible", "version", "version_string", "build_time", "fstype",
	"payload_size", "payload_sha256", "compression", "stored_size", "verity_hash",
	"verity_data_block_size", "verity_hash_block_size", "verity_data_blocks",
	"verity_salt", "verity_root_hash", "verity_tree_size",
};

static char buf[2 * MANIFEST_MAX_SIZE];

/* text with the line of `key` replaced by `line` ("" drops it), in buf. */
static const char *with_in(const char *text, const char *key, const char *line)
{
	static char src[sizeof buf];
	const char *p = strcpy(src, text);
	size_t kl = strlen(key);

	buf[0] = 0;
	while (*p) {
		const char *nl = strchr(p, '\n');
		if (strncmp(p, key, kl) == 0 && p[kl] == '=')
			strcat(buf, line);
		else
			strncat(buf, p, (size_t)(nl - p + 1));
		p = nl + 1;
	}
	return buf;
}

static const char *with(const char *key, const char *line)
{
	return with_in(base, key, line);
}

static int parse(const char *text, const char **err)
{
	struct manifest m;

	*err = NULL;
	return manifest_parse(text, strlen(text), &m, err);
}

#define assert_rejected(text, msg) do { \
		const char *_e; \
		assert_int_equal(parse(text, &_e), -EBADMSG); \
		assert_non_null(_e); \
		assert_string_equal(_e, msg); \
	} while (0)

static void test_valid(void **state)
{
	struct manifest m;
	const char *err = NULL;

	assert_int_equal(manifest_parse(base, strlen(base), &m, &err), 0);
	assert_null(err);
	assert_int_equal(m.format, 1);
	assert_string_equal(m.compatible, "acme-gw-1");
	assert_true(m.version == 42);
	assert_string_equal(m.version_string, "1.4.2 (gr\xc3\xbcn)");
	assert_true(m.build_time == 1767225600);
	assert_string_equal(m.fstype, "squashfs");
	assert_true(m.payload_size == 1048576);
	assert_int_equal(m.payload_sha256[1], 0x11);
	assert_int_equal(m.compression, MANIFEST_COMP_ZSTD);
	assert_true(m.stored_size == 12345);
	assert_string_equal(m.verity.hash_name, "sha256");
	assert_int_equal(m.verity.data_block_size, 4096);
	assert_true(m.verity.data_blocks == 256);
	assert_int_equal(m.verity.salt_size, 4);
	assert_int_equal(m.root_hash_size, 32);
	assert_int_equal(m.root_hash[0], 0xff);
	assert_true(m.tree_size == 12288);
	assert_false(m.verity.superblock);
	assert_true(m.verity.hash_offset == 1048576);
}

static void test_roundtrip(void **state)
{
	_cleanup_free_ char *text = NULL, *text2 = NULL;
	struct manifest m, m2;
	size_t len, len2;

	assert_int_equal(manifest_parse(base, strlen(base), &m, NULL), 0);
	assert_int_equal(manifest_format(&m, &text, &len), 0);
	assert_int_equal(len, strlen(base));
	assert_memory_equal(text, base, len); /* base is in canonical order */
	assert_int_equal(manifest_parse(text, len, &m2, NULL), 0);
	assert_int_equal(manifest_format(&m2, &text2, &len2), 0);
	assert_int_equal(len, len2);
	assert_memory_equal(text, text2, len);
}

static void test_format_refuses_inconsistent(void **state)
{
	struct manifest m;
	char *text = NULL;
	size_t len;

	assert_int_equal(manifest_parse(base, strlen(base), &m, NULL), 0);
	m.tree_size = 4096;
	assert_int_equal(manifest_format(&m, &text, &len), -EINVAL);
	assert_null(text);
}

static void test_unknown_key(void **state)
{
	char t[sizeof base + 64];

	snprintf(t, sizeof t, "%sbogus=1\n", base);
	assert_rejected(t, "unknown key in manifest");
	assert_rejected(with("version", "versions=42\n"), "unknown key in manifest");
	/* keys are lowercase: one spelling per key */
	assert_rejected(with("version", "Version=42\n"), "bad key in manifest");
}

static void test_extension_key_ignored(void **state)
{
	char t[sizeof base + 64];
	const char *err;

	snprintf(t, sizeof t, "x-vendor-build=ci 17\n%s", base);
	assert_int_equal(parse(t, &err), 0);
}

static void test_duplicate(void **state)
{
	char t[sizeof base + 64];

	snprintf(t, sizeof t, "%sversion=43\n", base);
	assert_rejected(t, "duplicate key 'version'");
}

static void test_missing_each(void **state)
{
	char msg[64];

	for (size_t i = 0; i < ARRAY_SIZE(all_keys); i++) {
		const char *err;
		snprintf(msg, sizeof msg, "missing key '%s'", all_keys[i]);
		assert_int_equal(parse(with(all_keys[i], ""), &err), -EBADMSG);
		assert_string_equal(err, msg);
	}
}

static void test_bad_numbers(void **state)
{
	assert_rejected(with("version", "version=042\n"), "bad value for 'version'");
	assert_rejected(with("version", "version=+42\n"), "bad value for 'version'");
	assert_rejected(with("version", "version=-1\n"), "bad value for 'version'");
	assert_rejected(with("version", "version= 42\n"), "bad value for 'version'");
	assert_rejected(with("version", "version=\n"), "bad value for 'version'");
	assert_rejected(with("version", "version=18446744073709551616\n"), "bad value for 'version'");
	assert_rejected(with("build_time", "build_time=0x10\n"), "bad value for 'build_time'");
	assert_rejected(with("verity_data_block_size", "verity_data_block_size=4294971392\n"),
			"bad value for 'verity_data_block_size'");
	assert_rejected(with("payload_size", "payload_size=0\n"), "bad value for 'payload_size'");
}

static void test_bad_values(void **state)
{
	assert_rejected(with("format", "format=2\n"), "unsupported manifest format (expected format=1)");
	assert_rejected(with("fstype", "fstype=vfat\n"), "bad value for 'fstype'");
	assert_rejected(with("compression", "compression=gzip\n"), "bad value for 'compression'");
	assert_rejected(with("verity_hash", "verity_hash=md5\n"), "bad value for 'verity_hash'");
	assert_rejected(with("compatible", "compatible=\n"), "bad value for 'compatible'");
	assert_rejected(with("compatible", "compatible=a\tb\n"), "bad value for 'compatible'");
	assert_rejected(with("payload_sha256", "payload_sha256=00112233\n"), "bad value for 'payload_sha256'");
	assert_rejected(with("payload_sha256",
			     "payload_sha256=00112233445566778899AABBCCDDEEFF00112233445566778899aabbccddeeff\n"),
			"bad value for 'payload_sha256'");
	assert_rejected(with("verity_salt", "verity_salt=abc\n"), "bad value for 'verity_salt'");
	assert_rejected(with("verity_root_hash", "verity_root_hash=\n"), "bad value for 'verity_root_hash'");
}

static void test_long_string(void **state)
{
	char line[MANIFEST_MAX_STR + 32];

	snprintf(line, sizeof line, "compatible=%0*d\n", MANIFEST_MAX_STR, 0);
	assert_rejected(with("compatible", line), "bad value for 'compatible'");
}

static void test_inconsistent_data_blocks(void **state)
{
	assert_rejected(with("verity_data_blocks", "verity_data_blocks=255\n"),
			"verity_data_blocks does not match payload_size");
}

static void test_payload_not_block_multiple(void **state)
{
	assert_rejected(with("payload_size", "payload_size=1048577\n"),
			"payload_size is not a multiple of verity_data_block_size");
}

static void test_inconsistent_tree_size(void **state)
{
	assert_rejected(with("verity_tree_size", "verity_tree_size=8192\n"),
			"verity_tree_size does not match the verity parameters");
}

static void test_salt_too_long(void **state)
{
	char line[2 * 257 + 32] = "verity_salt=";

	for (int i = 0; i < 257; i++)
		strcat(line, "ab");
	strcat(line, "\n");
	assert_rejected(with("verity_salt", line), "verity_salt longer than 256 bytes");
}

static void test_root_hash_length(void **state)
{
	/* a sha256-sized root hash with sha512 */
	assert_rejected(with("verity_hash", "verity_hash=sha512\n"),
			"verity_root_hash length does not match verity_hash");
	assert_rejected(with("verity_root_hash", "verity_root_hash=ffee\n"),
			"verity_root_hash length does not match verity_hash");
}

static void test_sha512(void **state)
{
	char t[sizeof base + 256];
	struct manifest m;
	const char *err = NULL;

	/* 64 digests per 4096-byte block: 4 level-0 blocks and a root block */
	snprintf(t, sizeof t, "%s", with("verity_hash", "verity_hash=sha512\n"));
	snprintf(t, sizeof t, "%s", with_in(t, "verity_root_hash",
		 "verity_root_hash=ffeeddccbbaa99887766554433221100ffeeddccbbaa99887766554433221100"
		 "ffeeddccbbaa99887766554433221100ffeeddccbbaa99887766554433221100\n"));
	snprintf(t, sizeof t, "%s", with_in(t, "verity_tree_size", "verity_tree_size=20480\n"));
	assert_int_equal(manifest_parse(t, strlen(t), &m, &err), 0);
	assert_int_equal(m.root_hash_size, 64);
	assert_true(m.tree_size == 20480);
}

static void test_bad_block_size(void **state)
{
	assert_rejected(with("verity_hash_block_size", "verity_hash_block_size=3000\n"),
			"bad verity parameters (block sizes)");
}

static void test_stored_size_without_compression(void **state)
{
	assert_rejected(with("compression", "compression=none\n"),
			"stored_size differs from payload_size without compression");
}

static void test_long_line(void **state)
{
	char line[MANIFEST_MAX_LINE + 32];

	/* exactly 1024 bytes with the newline is fine for x- keys, 1025 is not */
	memset(line, 'a', sizeof line);
	memcpy(line, "x-pad=", 6);
	line[MANIFEST_MAX_LINE - 1] = '\n';
	line[MANIFEST_MAX_LINE] = 0;
	snprintf(buf, sizeof buf, "%s%s", line, base);
	{
		const char *err;
		assert_int_equal(parse(buf, &err), 0);
	}
	line[MANIFEST_MAX_LINE - 1] = 'a';
	line[MANIFEST_MAX_LINE] = '\n';
	line[MANIFEST_MAX_LINE + 1] = 0;
	snprintf(buf, sizeof buf, "%s%s", line, base);
	assert_rejected(buf, "manifest line longer than 1024 bytes");
}

static void test_non_utf8(void **state)
{
	assert_rejected(with("version_string", "version_string=caf\xe9\n"), "manifest is not valid UTF-8");
}

static void test_cr(void **state)
{
	assert_rejected(with("version", "version=42\r\n"), "CR in manifest (lines end with LF only)");
}

static void test_nul(void **state)
{
	struct manifest m;
	const char *err;
	char t[sizeof base];

	memcpy(t, base, sizeof base);
	t[20] = 0;
	assert_int_equal(manifest_parse(t, sizeof base - 1, &m, &err), -EBADMSG);
	assert_string_equal(err, "NUL byte in manifest");
}

static void test_missing_final_newline(void **state)
{
	struct manifest m;
	const char *err;

	assert_int_equal(manifest_parse(base, strlen(base) - 1, &m, &err), -EBADMSG);
	assert_string_equal(err, "manifest does not end with a newline");
}

static void test_empty_and_syntax(void **state)
{
	struct manifest m;
	const char *err;
	char t[sizeof base + 16];

	assert_int_equal(manifest_parse("", 0, &m, &err), -EBADMSG);
	assert_string_equal(err, "empty manifest");
	snprintf(t, sizeof t, "\n%s", base);
	assert_rejected(t, "empty line in manifest");
	snprintf(t, sizeof t, "junk\n%s", base);
	assert_rejected(t, "manifest line without '='");
	snprintf(t, sizeof t, "=1\n%s", base);
	assert_rejected(t, "bad key in manifest");
	snprintf(t, sizeof t, "ver sion=1\n%s", base);
	assert_rejected(t, "bad key in manifest");
}

static void test_oversized(void **state)
{
	size_t n = strlen(base);

	memcpy(buf, base, n);
	while (n <= MANIFEST_MAX_SIZE) {
		memcpy(buf + n, "x-pad=0123456789\n", 17);
		n += 17;
	}
	buf[n] = 0;
	assert_rejected(buf, "manifest larger than 16 KiB");
}

static void test_ret_untouched_on_error(void **state)
{
	struct manifest m;

	const char *t = with("version", "version=x\n");

	memset(&m, 0x5a, sizeof m);
	assert_int_equal(manifest_parse(t, strlen(t), &m, NULL), -EBADMSG);
	for (size_t i = 0; i < sizeof m; i++)
		assert_int_equal(((uint8_t *)&m)[i], 0x5a);
}

static void test_layout(void **state)
{
	struct manifest m;
	struct slot_layout l;

	assert_int_equal(manifest_parse(base, strlen(base), &m, NULL), 0);
	assert_int_equal(slot_layout_compute(&m, 64 << 20, &l), 0);
	assert_true(l.data_size == 1048576);
	assert_true(l.tree_offset == 1048576);
	assert_true(l.tree_size == 12288);
	assert_true(l.footer_offset == (64 << 20) - VERITY_FOOTER_SIZE);

	/* footer start is rounded down to 4096 for odd slot sizes */
	assert_int_equal(slot_layout_compute(&m, (64 << 20) + 512, &l), 0);
	assert_true(l.footer_offset == (64 << 20) - VERITY_FOOTER_SIZE);

	/* exactly fits: data + tree + footer */
	assert_int_equal(slot_layout_compute(&m, 1048576 + 12288 + VERITY_FOOTER_SIZE, &l), 0);
	assert_int_equal(slot_layout_compute(&m, 1048576 + 12288 + VERITY_FOOTER_SIZE - 4096, &l), -ENOSPC);
	assert_int_equal(slot_layout_compute(&m, VERITY_FOOTER_SIZE - 1, &l), -ENOSPC);
	assert_int_equal(slot_layout_compute(&m, 0, &l), -ENOSPC);
}

static void test_layout_unaligned_payload(void **state)
{
	struct manifest m;
	struct slot_layout l;

	/* 512-byte data blocks: the tree still starts 4096-aligned */
	assert_int_equal(manifest_parse(base, strlen(base), &m, NULL), 0);
	m.payload_size = 4096 + 512;
	assert_int_equal(slot_layout_compute(&m, 64 << 20, &l), 0);
	assert_true(l.tree_offset == 8192);
}

static void test_layout_overflow(void **state)
{
	struct manifest m;
	struct slot_layout l;

	assert_int_equal(manifest_parse(base, strlen(base), &m, NULL), 0);
	m.payload_size = UINT64_MAX - 100;
	assert_int_equal(slot_layout_compute(&m, UINT64_MAX, &l), -EOVERFLOW);
	m.payload_size = UINT64_MAX - 8191;
	m.tree_size = 8192;
	assert_int_equal(slot_layout_compute(&m, UINT64_MAX, &l), -EOVERFLOW);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_valid),
		cmocka_unit_test(test_roundtrip),
		cmocka_unit_test(test_format_refuses_inconsistent),
		cmocka_unit_test(test_unknown_key),
		cmocka_unit_test(test_extension_key_ignored),
		cmocka_unit_test(test_duplicate),
		cmocka_unit_test(test_missing_each),
		cmocka_unit_test(test_bad_numbers),
		cmocka_unit_test(test_bad_values),
		cmocka_unit_test(test_long_string),
		cmocka_unit_test(test_inconsistent_data_blocks),
		cmocka_unit_test(test_payload_not_block_multiple),
		cmocka_unit_test(test_inconsistent_tree_size),
		cmocka_unit_test(test_salt_too_long),
		cmocka_unit_test(test_root_hash_length),
		cmocka_unit_test(test_sha512),
		cmocka_unit_test(test_bad_block_size),
		cmocka_unit_test(test_stored_size_without_compression),
		cmocka_unit_test(test_long_line),
		cmocka_unit_test(test_non_utf8),
		cmocka_unit_test(test_cr),
		cmocka_unit_test(test_nul),
		cmocka_unit_test(test_missing_final_newline),
		cmocka_unit_test(test_empty_and_syntax),
		cmocka_unit_test(test_oversized),
		cmocka_unit_test(test_ret_untouched_on_error),
		cmocka_unit_test(test_layout),
		cmocka_unit_test(test_layout_unaligned_payload),
		cmocka_unit_test(test_layout_overflow),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

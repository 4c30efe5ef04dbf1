/* Unit tests for common/: parsing, hex and overflow helpers. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <string.h>

#include "common/macro.h"
#include "common/util.h"

static void test_parse_u64(void **state)
{
	uint64_t v;

	assert_int_equal(parse_u64("0", &v), 0);
	assert_int_equal(v, 0);
	assert_int_equal(parse_u64("18446744073709551615", &v), 0);
	assert_true(v == UINT64_MAX);
	assert_int_equal(parse_u64("18446744073709551616", &v), -ERANGE);
	assert_int_equal(parse_u64("", &v), -EINVAL);
	assert_int_equal(parse_u64("-1", &v), -EINVAL);
	assert_int_equal(parse_u64("01", &v), -EINVAL);
	assert_int_equal(parse_u64("1 ", &v), -EINVAL);
}

static void test_parse_size(void **state)
{
	uint64_t v;

	assert_int_equal(parse_size("64M", &v), 0);
	assert_true(v == 64ULL << 20);
	assert_int_equal(parse_size("4096", &v), 0);
	assert_true(v == 4096);
	assert_int_equal(parse_size("17179869184T", &v), -ERANGE);
	assert_int_equal(parse_size("M", &v), -EINVAL);
}

static void test_hex(void **state)
{
	uint8_t buf[4];
	size_t n;
	char out[9];

	assert_int_equal(hex_decode("00fFa5", buf, sizeof buf, &n), 0);
	assert_int_equal(n, 3);
	hex_encode(buf, n, out);
	assert_string_equal(out, "00ffa5");
	assert_int_equal(hex_decode("abc", buf, sizeof buf, &n), -EINVAL);
	assert_int_equal(hex_decode("zz", buf, sizeof buf, &n), -EINVAL);
	assert_int_equal(hex_decode("0011223344", buf, sizeof buf, &n), -ENOBUFS);
}

static void test_overflow(void **state)
{
	uint64_t v;

	assert_int_equal(u64_add(UINT64_MAX, 1, &v), -EOVERFLOW);
	assert_int_equal(u64_mul(1ULL << 32, 1ULL << 32, &v), -EOVERFLOW);
	assert_int_equal(u64_align(4097, 4096, &v), 0);
	assert_true(v == 8192);
	assert_int_equal(u64_align(UINT64_MAX - 10, 4096, &v), -EOVERFLOW);
	assert_int_equal(u64_align(1, 3, &v), -EINVAL);
}

static void test_utf8(void **state)
{
	assert_true(utf8_valid("plain", 5));
	assert_true(utf8_valid("gr\xc3\xbc\xc3\x9f", 6));
	assert_false(utf8_valid("\xc3", 1));
	assert_false(utf8_valid("\xc0\xaf", 2));          /* overlong '/' */
	assert_false(utf8_valid("\xed\xa0\x80", 3));      /* surrogate */
	assert_false(utf8_valid("\xff", 1));
}

static void test_json_string(void **state)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	assert_non_null(f);
	json_write_string(f, "a\"b\\c\n\x01");
	fputc(' ', f);
	json_write_string(f, NULL);
	fclose(f);
	assert_string_equal(buf, "\"a\\\"b\\\\c\\n\\u0001\" null");
	free(buf);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_u64),
		cmocka_unit_test(test_parse_size),
		cmocka_unit_test(test_hex),
		cmocka_unit_test(test_overflow),
		cmocka_unit_test(test_utf8),
		cmocka_unit_test(test_json_string),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

/* rootfs-init's side-effect functions, on the paths that are safe to run
 * on a build host (no module is loaded, no device is created, nothing is
 * mounted): their error returns and what they report. The real runs are
 * the qemu boot tests. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <libcryptsetup.h>
#include <string.h>

#include "initramfs/initramfs.h"

static void test_load_modules_missing_file(void **state)
{
	static const char list[] = "# none of these exist\n/nonexistent/a.ko\n/nonexistent/b.ko\n";
	const char *failed = NULL;

	assert_int_equal(init_load_modules(list, sizeof(list) - 1, &failed), -ENOENT);
	assert_non_null(failed);
	/* The first one that failed is named, and nothing after it is tried. */
	assert_string_equal(failed, "/nonexistent/a.ko");
	assert_int_equal(init_load_modules(list, sizeof(list) - 1, NULL), -ENOENT);
}

static void test_load_modules_empty_list(void **state)
{
	const char *failed = "untouched";

	assert_int_equal(init_load_modules("", 0, &failed), 0);
	assert_int_equal(init_load_modules("# only a comment\n\n", 18, &failed), 0);
	assert_string_equal(failed, "untouched");
}

static void test_verity_activate_no_device(void **state)
{
	struct manifest m;
	const char *detail = NULL;
	int sig = 1;

	memset(&m, 0, sizeof(m));
	strcpy(m.verity.hash_name, "sha256");
	m.verity.data_block_size = m.verity.hash_block_size = 4096;
	m.verity.data_blocks = 1;
	m.verity.hash_offset = 4096;
	m.root_hash_size = 32;
	assert_true(init_verity_activate("/nonexistent/slot", "rootfs-test", &m, NULL, 0,
	                                 init_verity_flags(INIT_VERITY_RESTART), &sig, &detail) < 0);
	/* ret_ parameters: the result only on success, the detail on failure. */
	assert_int_equal(sig, 1);
	assert_non_null(detail);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_load_modules_missing_file),
		cmocka_unit_test(test_load_modules_empty_list),
		cmocka_unit_test(test_verity_activate_no_device),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

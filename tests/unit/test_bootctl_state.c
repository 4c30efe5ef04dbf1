/* bootctl state machine: table-driven runs of operations and simulated
 * boots (bootctl_state_boot does what grub.cfg and boot.cmd do), and the
 * mapping between the state and the environment variables. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bootctl/bootctl.h"
#include "common/macro.h"

enum { A = 0, B = 1, NONE = BOOTCTL_SLOT_NONE };
enum kind { END, TRY, INVALIDATE, GOOD, BAD, PRIMARY, BOOT };

struct step {
	enum kind k;
	int slot;          /* operand; for BOOT: the slot expected to boot */
	unsigned n;        /* attempts; for BOOT: 1 = a counter must be spent */
	uint64_t version;  /* GOOD */
	int r;             /* expected return of an operation */
};

struct scase {
	const char *name;
	struct bootctl_state init;
	struct step steps[16];
	struct bootctl_state want;
};

#define ST(o0, o1, no, la, lb, g, f) { .order = { o0, o1 }, .norder = no, .left = { la, lb }, .good = g, .floor = f }
#define CONFIRMED_A ST(A, B, 2, 3, 3, A, 5)

static const struct scase cases[] = {
	{ "try puts the slot first with N attempts, good unchanged", CONFIRMED_A,
	  { { .k = TRY, .slot = B, .n = 3 }, { .k = BOOT, .slot = B, .n = 1 } },
	  ST(B, A, 2, 3, 2, A, 5) },
	{ "each boot spends one attempt", ST(B, A, 2, 3, 3, A, 0),
	  { { .k = BOOT, .slot = B, .n = 1 }, { .k = BOOT, .slot = B, .n = 1 }, { .k = BOOT, .slot = B, .n = 1 } },
	  ST(B, A, 2, 3, 0, A, 0) },
	{ "fallback to the other slot after N failed boots", CONFIRMED_A,
	  { { .k = INVALIDATE, .slot = B }, { .k = TRY, .slot = B, .n = 2 }, { .k = BOOT, .slot = B, .n = 1 }, { .k = BOOT, .slot = B, .n = 1 }, { .k = BOOT, .slot = A, .n = 1 }, { .k = GOOD, .slot = A, .n = 3, .version = 9 } },
	  ST(A, B, 2, 3, 0, A, 9) },
	{ "confirm restores attempts, moves first, raises the floor", CONFIRMED_A,
	  { { .k = TRY, .slot = B, .n = 3 }, { .k = BOOT, .slot = B, .n = 1 }, { .k = GOOD, .slot = B, .n = 3, .version = 7 }, { .k = BOOT, .slot = B, .n = 1 } },
	  ST(B, A, 2, 3, 2, B, 7) },
	{ "the floor is raised only by confirm and never lowered", CONFIRMED_A,
	  { { .k = TRY, .slot = B, .n = 3 }, { .k = BOOT, .slot = B, .n = 1 }, { .k = BAD, .slot = B }, { .k = PRIMARY, .slot = B, .n = 2 }, { .k = INVALIDATE, .slot = B }, { .k = GOOD, .slot = A, .n = 3, .version = 2 } },
	  ST(A, NONE, 1, 3, 0, A, 5) },
	{ "mark-bad stops a slot from booting", ST(B, A, 2, 3, 3, A, 0),
	  { { .k = BAD, .slot = B }, { .k = BOOT, .slot = A, .n = 1 }, { .k = BOOT, .slot = A, .n = 1 } },
	  ST(B, A, 2, 1, 0, A, 0) },
	{ "mark-bad and invalidate refuse the last confirmed slot", CONFIRMED_A,
	  { { .k = BAD, .slot = A, .r = -EBUSY }, { .k = INVALIDATE, .slot = A, .r = -EBUSY } },
	  CONFIRMED_A },
	{ "mark-bad refuses to leave nothing bootable", ST(A, B, 2, 3, 0, NONE, 0),
	  { { .k = BAD, .slot = A, .r = -EBUSY }, { .k = BAD, .slot = B }, { .k = BOOT, .slot = A, .n = 1 } },
	  ST(A, B, 2, 2, 0, NONE, 0) },
	{ "both slots exhausted: the good slot boots, nothing is spent", ST(A, B, 2, 0, 0, B, 4),
	  { { .k = BOOT, .slot = B, .n = 0 }, { .k = BOOT, .slot = B, .n = 0 } },
	  ST(A, B, 2, 0, 0, B, 4) },
	{ "both exhausted and none confirmed: slot A boots", ST(B, A, 2, 0, 0, NONE, 0),
	  { { .k = BOOT, .slot = A, .n = 0 } },
	  ST(B, A, 2, 0, 0, NONE, 0) },
	{ "invalidate takes the slot out of the order", CONFIRMED_A,
	  { { .k = INVALIDATE, .slot = B }, { .k = BOOT, .slot = A, .n = 1 }, { .k = BOOT, .slot = A, .n = 1 }, { .k = BOOT, .slot = A, .n = 1 }, { .k = BOOT, .slot = A, .n = 0 } },
	  ST(A, NONE, 1, 0, 0, A, 5) },
	{ "set-primary puts a slot first", CONFIRMED_A,
	  { { .k = PRIMARY, .slot = B, .n = 1 }, { .k = BOOT, .slot = B, .n = 1 }, { .k = BOOT, .slot = A, .n = 1 } },
	  ST(B, A, 2, 2, 0, A, 5) },
	{ "a full update cycle, then a failed update", CONFIRMED_A,
	  { { .k = INVALIDATE, .slot = B }, { .k = TRY, .slot = B, .n = 3 }, { .k = BOOT, .slot = B, .n = 1 }, { .k = GOOD, .slot = B, .n = 3, .version = 6 },
	    { .k = INVALIDATE, .slot = A }, { .k = TRY, .slot = A, .n = 2 }, { .k = BOOT, .slot = A, .n = 1 }, { .k = BOOT, .slot = A, .n = 1 }, { .k = BOOT, .slot = B, .n = 1 }, { .k = GOOD, .slot = B, .n = 3, .version = 6 } },
	  ST(B, A, 2, 0, 3, B, 6) },
	{ "bad operands", CONFIRMED_A,
	  { { .k = TRY, .slot = B, .n = 0, .r = -EINVAL }, { .k = TRY, .slot = B, .n = 10, .r = -EINVAL }, { .k = TRY, .slot = 2, .n = 3, .r = -EINVAL },
	    { .k = GOOD, .slot = -1, .n = 3, .r = -EINVAL }, { .k = BAD, .slot = 5, .r = -EINVAL } },
	  CONFIRMED_A },
};

static void assert_state_equal(const struct bootctl_state *got, const struct bootctl_state *want)
{
	assert_int_equal(got->norder, want->norder);
	for (unsigned i = 0; i < want->norder; i++)
		assert_int_equal(got->order[i], want->order[i]);
	assert_int_equal(got->left[0], want->left[0]);
	assert_int_equal(got->left[1], want->left[1]);
	assert_int_equal(got->good, want->good);
	assert_true(got->floor == want->floor);
}

static void run_case(void **state)
{
	const struct scase *c = *state;
	struct bootctl_state s = c->init;

	for (const struct step *st = c->steps; st->k != END; st++) {
		int r = 0;
		bool counted;
		switch (st->k) {
		case TRY: r = bootctl_state_try(&s, st->slot, st->n); break;
		case INVALIDATE: r = bootctl_state_invalidate(&s, st->slot); break;
		case GOOD: r = bootctl_state_mark_good(&s, st->slot, st->n, st->version); break;
		case BAD: r = bootctl_state_mark_bad(&s, st->slot); break;
		case PRIMARY: r = bootctl_state_set_primary(&s, st->slot, st->n); break;
		case BOOT:
			assert_int_equal(bootctl_state_boot(&s, &counted), st->slot);
			assert_int_equal(counted, st->n == 1);
			continue;
		case END: break;
		}
		assert_int_equal(r, st->r);
	}
	assert_state_equal(&s, &c->want);
}

/* ---- state <-> environment ---- */

static void set_all(struct bootenv *e, const char *const *kv)
{
	for (; kv[0]; kv += 2)
		assert_int_equal(bootenv_set(e, kv[0], kv[1]), 0);
}

static void test_env_roundtrip(void **state)
{
	static const char *const grub_kv[] = { "ORDER", "B A", "A_LEFT", "0", "B_LEFT", "2", "ROOTFS_GOOD", "A",
		                                "ROOTFS_FLOOR", "18446744073709551615", "other", "kept", NULL };
	static const char *const uboot_kv[] = { "bootcmd", "run x", "BOOT_ORDER", "A", "BOOT_A_LEFT", "0x3", NULL };
	struct bootenv e = {};
	struct bootctl_state s, s2;

	set_all(&e, grub_kv);
	assert_int_equal(bootctl_state_from_env(BOOTCTL_BACKEND_GRUB, &e, &s, NULL), 0);
	assert_state_equal(&s, &(struct bootctl_state)ST(B, A, 2, 0, 2, A, UINT64_MAX));
	assert_int_equal(bootctl_state_mark_good(&s, A, 9, 1), 0);
	assert_int_equal(bootctl_state_to_env(BOOTCTL_BACKEND_GRUB, &s, &e), 0);
	assert_string_equal(bootenv_get(&e, "ORDER"), "A B");
	assert_string_equal(bootenv_get(&e, "A_LEFT"), "9");
	assert_string_equal(bootenv_get(&e, "other"), "kept");
	assert_null(bootenv_get(&e, "BOOT_ORDER"));
	assert_int_equal(bootctl_state_from_env(BOOTCTL_BACKEND_GRUB, &e, &s2, NULL), 0);
	assert_state_equal(&s2, &s);
	bootenv_clear(&e);

	/* U-Boot: hex counters as setexpr writes them, unset = 0 / none */
	set_all(&e, uboot_kv);
	assert_int_equal(bootctl_state_from_env(BOOTCTL_BACKEND_UBOOT, &e, &s, NULL), 0);
	assert_state_equal(&s, &(struct bootctl_state)ST(A, NONE, 1, 3, 0, NONE, 0));
	assert_int_equal(bootctl_state_try(&s, B, 3), 0);
	assert_int_equal(bootctl_state_to_env(BOOTCTL_BACKEND_UBOOT, &s, &e), 0);
	assert_string_equal(bootenv_get(&e, "BOOT_ORDER"), "B A");
	assert_string_equal(bootenv_get(&e, "BOOT_B_LEFT"), "3");
	assert_null(bootenv_get(&e, "ROOTFS_GOOD"));
	assert_string_equal(bootenv_get(&e, "ROOTFS_FLOOR"), "0");
	assert_string_equal(bootenv_get(&e, "bootcmd"), "run x");
	bootenv_clear(&e);
}

static void test_env_bad(void **state)
{
	static const struct {
		enum bootctl_backend be;
		const char *name, *value, *why;
	} bad[] = {
		{ BOOTCTL_BACKEND_GRUB, "A_LEFT", "x", "attempts counter is not a number" },
		{ BOOTCTL_BACKEND_GRUB, "B_LEFT", "-1", "attempts counter is not a number" },
		{ BOOTCTL_BACKEND_GRUB, "A_LEFT", " 1", "attempts counter is not a number" },
		{ BOOTCTL_BACKEND_GRUB, "A_LEFT", "a", "attempts counter is not a number" },
		{ BOOTCTL_BACKEND_GRUB, "A_LEFT", "10", "attempts counter above 9" },
		{ BOOTCTL_BACKEND_UBOOT, "BOOT_A_LEFT", "a", "attempts counter above 9" },
		{ BOOTCTL_BACKEND_UBOOT, "BOOT_A_LEFT", "0x", "attempts counter is not a number" },
		{ BOOTCTL_BACKEND_UBOOT, "BOOT_B_LEFT", "three", "attempts counter is not a number" },
		{ BOOTCTL_BACKEND_GRUB, "ORDER", "A C", "boot order has an entry other than A or B" },
		{ BOOTCTL_BACKEND_GRUB, "ORDER", "a b", "boot order has an entry other than A or B" },
		{ BOOTCTL_BACKEND_UBOOT, "BOOT_ORDER", "A A", "boot order names a slot twice" },
		{ BOOTCTL_BACKEND_UBOOT, "BOOT_ORDER", "AB", "boot order has an entry other than A or B" },
		{ BOOTCTL_BACKEND_GRUB, "ROOTFS_GOOD", "a", "ROOTFS_GOOD is neither A nor B" },
		{ BOOTCTL_BACKEND_GRUB, "ROOTFS_GOOD", "C", "ROOTFS_GOOD is neither A nor B" },
		{ BOOTCTL_BACKEND_GRUB, "ROOTFS_FLOOR", "-1", "ROOTFS_FLOOR is not a decimal number" },
		{ BOOTCTL_BACKEND_UBOOT, "ROOTFS_FLOOR", "18446744073709551616", "ROOTFS_FLOOR is not a decimal number" },
	};

	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		struct bootenv e = {};
		struct bootctl_state s = { .norder = 99 };
		const char *why = NULL;
		assert_int_equal(bootenv_set(&e, bad[i].name, bad[i].value), 0);
		assert_int_equal(bootctl_state_from_env(bad[i].be, &e, &s, &why), -EBADMSG);
		assert_non_null(why);
		assert_string_equal(why, bad[i].why);
		assert_int_equal(s.norder, 99); /* not written on failure */
		bootenv_clear(&e);
	}
}

static void test_booted_slot(void **state)
{
	static const struct {
		const char *cmdline;
		int r, slot;
	} cases2[] = {
		{ "console=ttyS0 rootfs.slot=a panic=5\n", 0, A },
		{ "rootfs.slot=b", 0, B },
		{ "rootfs.slot=a rootfs.slot=b", 0, B },
		{ "quiet\n", -ENOENT, 0 },
		{ "xrootfs.slot=a", -ENOENT, 0 },
		{ "rootfs.slot=c", -EBADMSG, 0 },
		{ "rootfs.slot=", -EBADMSG, 0 },
		{ "rootfs.slot=ab", -EBADMSG, 0 },
	};
	char path[] = "/tmp/test_bootctl_cmdline.XXXXXX";
	int fd = mkstemp(path);

	assert_true(fd >= 0);
	close(fd);
	for (size_t i = 0; i < ARRAY_SIZE(cases2); i++) {
		FILE *f = fopen(path, "we");
		int slot = 42;
		assert_non_null(f);
		fputs(cases2[i].cmdline, f);
		fclose(f);
		assert_int_equal(bootctl_booted_slot(path, &slot), cases2[i].r);
		assert_int_equal(slot, cases2[i].r == 0 ? cases2[i].slot : 42);
	}
	unlink(path);
	assert_int_equal(bootctl_booted_slot("/nonexistent/cmdline", &(int){ 0 }), -ENOENT);
}

int main(void)
{
	struct CMUnitTest tests[ARRAY_SIZE(cases) + 3];
	size_t n = 0;

	for (size_t i = 0; i < ARRAY_SIZE(cases); i++)
		tests[n++] = (struct CMUnitTest){ cases[i].name, run_case, NULL, NULL, (void *)&cases[i] };
	tests[n++] = (struct CMUnitTest)cmocka_unit_test(test_env_roundtrip);
	tests[n++] = (struct CMUnitTest)cmocka_unit_test(test_env_bad);
	tests[n++] = (struct CMUnitTest)cmocka_unit_test(test_booted_slot);
	return _cmocka_run_group_tests("bootctl_state", tests, n, NULL, NULL);
}

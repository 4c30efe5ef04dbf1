/* The A/B state model over a bootloader environment, and its operations. */
#include "bootctl/bootctl.h"
#include "common/macro.h"
#include "common/util.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#define WHY(s) (ret_why ? (void)(*ret_why = (s)) : (void)0)

struct names {
	const char *order, *left[BOOTCTL_NSLOTS];
	bool hex; /* U-Boot's setexpr writes counters in hex */
};

static const struct names grub_names = { "ORDER", { "A_LEFT", "B_LEFT" }, false };
static const struct names uboot_names = { "BOOT_ORDER", { "BOOT_A_LEFT", "BOOT_B_LEFT" }, true };

static const struct names *names_of(enum bootctl_backend be)
{
	return be == BOOTCTL_BACKEND_GRUB ? &grub_names : be == BOOTCTL_BACKEND_UBOOT ? &uboot_names : NULL;
}

/* Unset and empty both read as 0: GRUB's save_env may store an empty
 * value for a variable a script never set. */
static int parse_counter(const char *v, bool hex, unsigned *ret)
{
	unsigned long n;

	if (!v || !*v) {
		*ret = 0;
		return 0;
	}
	if (hex && v[0] == '0' && (v[1] == 'x' || v[1] == 'X'))
		v += 2;
	if (!*v || v[strspn(v, hex ? "0123456789abcdefABCDEF" : "0123456789")])
		return -EBADMSG;
	if (strlen(v) > 8)
		return -ERANGE;
	n = strtoul(v, NULL, hex ? 16 : 10);
	if (n > BOOTCTL_MAX_ATTEMPTS)
		return -ERANGE;
	*ret = (unsigned)n;
	return 0;
}

int bootctl_state_from_env(enum bootctl_backend be, const struct bootenv *env, struct bootctl_state *ret,
                           const char **ret_why)
{
	const struct names *nm = names_of(be);
	struct bootctl_state s = { .good = BOOTCTL_SLOT_NONE };
	const char *order, *good, *floor;

	if (!nm)
		return -EINVAL;
	order = bootenv_get(env, nm->order);
	for (const char *p = order ? order : ""; *p; ) {
		char tok[2] = {};
		int slot;
		size_t n;

		while (*p == ' ')
			p++;
		n = strcspn(p, " ");
		if (n == 0)
			break;
		if (n != 1 || (p[0] != 'A' && p[0] != 'B'))
			return WHY("boot order has an entry other than A or B"), -EBADMSG;
		tok[0] = p[0];
		(void)bootctl_slot_parse(tok, &slot);
		if (bootctl_state_in_order(&s, slot))
			return WHY("boot order names a slot twice"), -EBADMSG;
		s.order[s.norder++] = slot;
		p += n;
	}
	for (int i = 0; i < BOOTCTL_NSLOTS; i++) {
		int r = parse_counter(bootenv_get(env, nm->left[i]), nm->hex, &s.left[i]);
		if (r == -ERANGE)
			return WHY("attempts counter above 9"), -EBADMSG;
		if (r < 0)
			return WHY("attempts counter is not a number"), -EBADMSG;
	}
	good = bootenv_get(env, "ROOTFS_GOOD");
	if (good && *good && (bootctl_slot_parse(good, &s.good) < 0 || (good[0] != 'A' && good[0] != 'B')))
		return WHY("ROOTFS_GOOD is neither A nor B"), -EBADMSG;
	floor = bootenv_get(env, "ROOTFS_FLOOR");
	if (floor && *floor && parse_u64(floor, &s.floor) < 0)
		return WHY("ROOTFS_FLOOR is not a decimal number"), -EBADMSG;
	*ret = s;
	return 0;
}

int bootctl_state_to_env(enum bootctl_backend be, const struct bootctl_state *s, struct bootenv *env)
{
	const struct names *nm = names_of(be);
	char order[2 * BOOTCTL_NSLOTS] = "", num[24];
	int r;

	if (!nm || s->norder > BOOTCTL_NSLOTS)
		return -EINVAL;
	for (unsigned i = 0; i < s->norder; i++) {
		char *p = order + strlen(order);
		if (i)
			*p++ = ' ';
		*p++ = bootctl_slot_upper(s->order[i]);
		*p = 0;
	}
	r = bootenv_set(env, nm->order, order);
	for (int i = 0; r >= 0 && i < BOOTCTL_NSLOTS; i++) {
		if (s->left[i] > BOOTCTL_MAX_ATTEMPTS)
			return -EINVAL;
		snprintf(num, sizeof num, nm->hex ? "%x" : "%u", s->left[i]);
		r = bootenv_set(env, nm->left[i], num);
	}
	if (r >= 0) {
		char g[2] = { bootctl_slot_upper(s->good), 0 };
		r = bootenv_set(env, "ROOTFS_GOOD", s->good == BOOTCTL_SLOT_NONE ? NULL : g);
	}
	if (r >= 0) {
		snprintf(num, sizeof num, "%" PRIu64, s->floor);
		r = bootenv_set(env, "ROOTFS_FLOOR", num);
	}
	return r;
}

bool bootctl_state_in_order(const struct bootctl_state *s, int slot)
{
	for (unsigned i = 0; i < s->norder; i++)
		if (s->order[i] == slot)
			return true;
	return false;
}

bool bootctl_state_bootable(const struct bootctl_state *s, int slot)
{
	return (bootctl_state_in_order(s, slot) && s->left[slot] > 0) || s->good == slot;
}

static bool valid_slot(int slot) { return slot >= 0 && slot < BOOTCTL_NSLOTS; }
static bool valid_attempts(unsigned a) { return a >= 1 && a <= BOOTCTL_MAX_ATTEMPTS; }

static void remove_from_order(struct bootctl_state *s, int slot)
{
	unsigned j = 0;

	for (unsigned i = 0; i < s->norder; i++)
		if (s->order[i] != slot)
			s->order[j++] = s->order[i];
	s->norder = j;
}

static void move_first(struct bootctl_state *s, int slot)
{
	remove_from_order(s, slot);
	memmove(&s->order[1], &s->order[0], s->norder * sizeof s->order[0]);
	s->order[0] = slot;
	s->norder++;
}

int bootctl_state_try(struct bootctl_state *s, int slot, unsigned attempts)
{
	if (!valid_slot(slot) || !valid_attempts(attempts))
		return -EINVAL;
	move_first(s, slot);
	s->left[slot] = attempts;
	return 0;
}

/* Taking a slot out must leave another one the boot script would boot. */
static int check_removable(const struct bootctl_state *s, int slot)
{
	struct bootctl_state t = *s;

	if (s->good == slot)
		return -EBUSY;
	remove_from_order(&t, slot);
	t.left[slot] = 0;
	return bootctl_state_bootable(&t, 1 - slot) ? 0 : -EBUSY;
}

int bootctl_state_mark_bad(struct bootctl_state *s, int slot)
{
	int r;

	if (!valid_slot(slot))
		return -EINVAL;
	r = check_removable(s, slot);
	if (r < 0)
		return r;
	s->left[slot] = 0;
	return 0;
}

int bootctl_state_invalidate(struct bootctl_state *s, int slot)
{
	int r = bootctl_state_mark_bad(s, slot);

	if (r < 0)
		return r;
	remove_from_order(s, slot);
	return 0;
}

int bootctl_state_mark_good(struct bootctl_state *s, int booted, unsigned attempts, uint64_t version)
{
	if (!valid_slot(booted) || !valid_attempts(attempts))
		return -EINVAL;
	move_first(s, booted);
	s->left[booted] = attempts;
	s->good = booted;
	if (version > s->floor)
		s->floor = version;
	return 0;
}

int bootctl_state_set_primary(struct bootctl_state *s, int slot, unsigned attempts)
{
	return bootctl_state_try(s, slot, attempts);
}

int bootctl_state_boot(struct bootctl_state *s, bool *ret_counted)
{
	for (unsigned i = 0; i < s->norder; i++) {
		int slot = s->order[i];
		if (s->left[slot] > 0) {
			s->left[slot]--;
			if (ret_counted)
				*ret_counted = true;
			return slot;
		}
	}
	if (ret_counted)
		*ret_counted = false;
	return s->good == BOOTCTL_SLOT_NONE ? 0 : s->good;
}

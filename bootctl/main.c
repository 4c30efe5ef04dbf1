/* rootfs-bootctl: boot counting and slot state in U-Boot and GRUB
 * environments. A thin front end over bootctl.h: it gathers what the
 * library takes as parameters (booted slot, versions from the footers). */
#include "bootctl/bootctl.h"
#include "common/ini.h"
#include "common/macro.h"
#include "common/util.h"
#include "verity/verity.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdarg.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static const char *prog = "rootfs-bootctl";

struct ctx {
	const char *config_path, *disk, *grubenv, *fw_env_config, *cmdline;
	struct bootctl_config cfg;
	struct bootctl_parts parts;
	bool have_parts;
	struct bootctl *env;
};

__attribute__((format(printf, 1, 2)))
static int die(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "%s: ", prog);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	return 1;
}

/* The library's reason, with strerror for system errors (EBADMSG and
 * friends already say all in the reason). */
static const char *why_or(const struct bootctl *b, int r)
{
	static char buf[512];
	const char *why = b ? bootctl_why(b) : NULL;

	if (!why)
		return strerror(-r);
	if (r == -EBADMSG || r == -EBUSY || r == -ENOSPC || r == -E2BIG)
		return why;
	snprintf(buf, sizeof buf, "%s: %s", why, strerror(-r));
	return buf;
}

/* Opens the environment the options or the configuration name. */
static int open_env(struct ctx *c)
{
	const char *why = NULL;
	enum bootctl_backend be = c->cfg.backend;
	int r;

	if (c->grubenv) {
		r = bootctl_open_grubenv_file(c->grubenv, &c->env);
		if (r < 0)
			return die("%s: %s", c->grubenv, strerror(-r));
		return 0;
	}
	if (c->fw_env_config)
		be = BOOTCTL_BACKEND_UBOOT;
	else if (c->disk && be == BOOTCTL_BACKEND_NONE)
		be = BOOTCTL_BACKEND_GRUB; /* a disk image: the ESP's grubenv */
	switch (be) {
	case BOOTCTL_BACKEND_UBOOT: {
		const char *cfgp = c->fw_env_config ? c->fw_env_config : c->cfg.fw_env_config;
		r = bootctl_open_uboot(cfgp, &c->env, &why);
		if (r < 0)
			return die("%s: %s", cfgp, why ? why : strerror(-r));
		return 0;
	}
	case BOOTCTL_BACKEND_GRUB:
		if (!c->disk) {
			r = bootctl_open_grubenv_file(c->cfg.grubenv, &c->env);
			if (r < 0)
				return die("%s: %s", c->cfg.grubenv, strerror(-r));
			return 0;
		}
		if (!c->parts.esp.found)
			return die("%s: no partition labelled '%s' (the ESP)", c->disk, c->cfg.esp_label);
		r = bootctl_open_grubenv_fat(c->disk, c->parts.esp.offset, c->parts.esp.size, BOOTCTL_GRUBENV_ESP_PATH,
		                             &c->env, &why);
		if (r < 0)
			return die("%s: %s: %s", c->disk, BOOTCTL_GRUBENV_ESP_PATH, why ? why : strerror(-r));
		return 0;
	case BOOTCTL_BACKEND_NONE:
		break;
	}
	return die("no bootloader environment: use --grubenv, --fw-env-config, or [bootloader] backend in %s",
	           c->config_path ? c->config_path : BOOTCTL_CONFIG_PATH);
}

static int setup(struct ctx *c)
{
	struct ini_error err = {};
	int r;

	bootctl_config_default(&c->cfg);
	if (c->config_path || access(BOOTCTL_CONFIG_PATH, F_OK) == 0) {
		const char *p = c->config_path ? c->config_path : BOOTCTL_CONFIG_PATH;
		r = bootctl_config_load(p, &c->cfg, &err);
		if (r < 0)
			return die("%s: %s", p, err.msg[0] ? err.msg : strerror(-r));
	}
	if (c->disk) {
		r = bootctl_discover_disk(c->disk, &c->cfg, &c->parts);
		if (r == -EBADMSG)
			return die("%s: no GPT partition table", c->disk);
		if (r == -ENOTUNIQ)
			return die("%s: a partition label is used twice", c->disk);
		if (r < 0)
			return die("%s: %s", c->disk, strerror(-r));
		c->have_parts = true;
	} else {
		/* best effort: a host or a test without the slots still
		 * reads and writes its environment */
		c->have_parts = bootctl_discover_system(NULL, NULL, &c->cfg, &c->parts) >= 0;
	}
	return open_env(c);
}

/* The booted slot: rootfs.slot= on the kernel command line; in a disk
 * image (nothing is running) the last confirmed slot. */
static int booted_slot(const struct ctx *c, const struct bootctl_state *s, int *ret)
{
	if (c->disk && !c->cmdline) {
		*ret = s->good;
		return 0;
	}
	return bootctl_booted_slot(c->cmdline, ret);
}

enum ver { VER_OK, VER_NONE, VER_DAMAGED, VER_UNKNOWN };

static enum ver slot_version(const struct ctx *c, int slot, uint64_t *ret)
{
	const struct bootctl_part *p = &c->parts.slot[slot];
	_cleanup_(signed_manifest_clear) struct signed_manifest sm = {};
	_cleanup_close_ int fd = -1;
	uint64_t size = p->size;
	int r;

	if (!c->have_parts || !p->found)
		return VER_UNKNOWN;
	fd = open(p->device, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return VER_UNKNOWN;
	if (p->offset == 0 && fd_get_size(fd, &size) < 0)
		return VER_UNKNOWN;
	r = footer_read(fd, p->offset, size, &sm);
	if (r == -ENOENT)
		return VER_NONE;
	if (r < 0)
		return VER_DAMAGED;
	*ret = sm.m.version;
	return VER_OK;
}


static int cmd_status(struct ctx *c, int argc, char **argv)
{
	static const struct option opts[] = { { "json", no_argument, NULL, 'j' }, {} };
	static const char *const vername[] = { [VER_NONE] = "none", [VER_DAMAGED] = "damaged", [VER_UNKNOWN] = "unknown" };
	struct bootctl_state s, next;
	bool json = false;
	int booted = BOOTCTL_SLOT_NONE, primary, opt, r;

	while ((opt = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (opt != 'j')
			return die("bad option '%s': usage: status [--json]", argv[optind - 1]);
		json = true;
	}
	if (optind != argc)
		return die("status takes no arguments");
	r = bootctl_load(c->env, &s);
	if (r < 0)
		return die("%s: %s", bootctl_location(c->env), why_or(c->env, r));
	if (booted_slot(c, &s, &booted) < 0)
		booted = BOOTCTL_SLOT_NONE;
	next = s;
	primary = bootctl_state_boot(&next, NULL);

	if (json) {
		printf("{\"backend\":\"%s\",\"location\":", bootctl_backend(c->env) == BOOTCTL_BACKEND_GRUB ? "grub" : "uboot");
		json_write_string(stdout, bootctl_location(c->env));
		printf(",\"booted\":");
		if (booted == BOOTCTL_SLOT_NONE)
			printf("null");
		else
			printf("\"%c\"", bootctl_slot_upper(booted));
		printf(",\"confirmed\":%s,\"floor\":%" PRIu64 ",\"order\":[", booted != BOOTCTL_SLOT_NONE && booted == s.good ? "true" : "false", s.floor);
		for (unsigned i = 0; i < s.norder; i++)
			printf("%s\"%c\"", i ? "," : "", bootctl_slot_upper(s.order[i]));
		printf("],\"slots\":[");
	} else {
		printf("environment: %s\n", bootctl_location(c->env));
		if (booted == BOOTCTL_SLOT_NONE)
			printf("booted: none\n");
		else
			printf("booted: %c (%s)\n", bootctl_slot_upper(booted),
			       booted == s.good ? "confirmed" : "not confirmed");
		printf("rollback floor: %" PRIu64 "\n", s.floor);
		printf("order:");
		for (unsigned i = 0; i < s.norder; i++)
			printf(" %c", bootctl_slot_upper(s.order[i]));
		printf("\n");
	}
	for (int i = 0; i < BOOTCTL_NSLOTS; i++) {
		const struct bootctl_part *p = &c->parts.slot[i];
		bool found = c->have_parts && p->found;
		uint64_t version = 0;
		enum ver v = slot_version(c, i, &version);
		bool is_booted = i == booted, confirmed = i == s.good, is_primary = i == primary;
		bool bad = !bootctl_state_bootable(&s, i);

		if (json) {
			printf("%s{\"slot\":\"%c\",\"label\":", i ? "," : "", bootctl_slot_upper(i));
			json_write_string(stdout, c->cfg.label[i]);
			printf(",\"device\":");
			if (found)
				json_write_string(stdout, p->device);
			else
				printf("null");
			printf(",\"offset\":%" PRIu64 ",\"size\":%" PRIu64 ",\"version\":", found ? p->offset : 0,
			       found ? p->size : 0);
			if (v == VER_OK)
				printf("%" PRIu64, version);
			else
				printf("null");
			printf(",\"footer\":\"%s\",\"attempts\":%u,\"booted\":%s,\"confirmed\":%s,\"primary\":%s,\"bad\":%s}",
			       v == VER_OK ? "ok" : vername[v], s.left[i], is_booted ? "true" : "false",
			       confirmed ? "true" : "false", is_primary ? "true" : "false", bad ? "true" : "false");
			continue;
		}
		printf("slot %c: label %s, device ", bootctl_slot_upper(i), c->cfg.label[i]);
		if (!found)
			printf("not found");
		else if (p->offset)
			printf("%s (offset %" PRIu64 ", size %" PRIu64 ")", p->device, p->offset, p->size);
		else
			printf("%s (size %" PRIu64 ")", p->device, p->size);
		if (v == VER_OK)
			printf(", version %" PRIu64, version);
		else
			printf(", version %s", vername[v]);
		printf(", attempts left %u%s%s%s%s\n", s.left[i], is_booted ? ", booted" : "",
		       confirmed ? ", confirmed" : "", is_primary ? ", primary" : "", bad ? ", bad" : "");
	}
	if (json)
		printf("]}\n");
	return 0;
}

static int cmd_mark_good(struct ctx *c, int argc, char **argv)
{
	struct bootctl_state s;
	uint64_t version = 0;
	int booted, r;

	if (argc != 1)
		return die("mark-good takes no arguments");
	r = bootctl_load(c->env, &s);
	if (r < 0)
		return die("%s: %s", bootctl_location(c->env), why_or(c->env, r));
	r = booted_slot(c, &s, &booted);
	if (r == -ENOENT || (r >= 0 && booted == BOOTCTL_SLOT_NONE))
		return die("nothing to confirm: no rootfs.slot= on the kernel command line");
	if (r < 0)
		return die("cannot tell the booted slot: rootfs.slot= on the kernel command line is not a or b");
	/* Confirming without raising the floor would quietly weaken the
	 * rollback protection, so the version must be known. */
	switch (slot_version(c, booted, &version)) {
	case VER_OK:
		break;
	case VER_NONE:
		return die("slot %c has no footer: cannot confirm a slot without a version", bootctl_slot_upper(booted));
	case VER_DAMAGED:
		return die("slot %c: its footer is damaged", bootctl_slot_upper(booted));
	case VER_UNKNOWN:
		return die("slot %c: partition '%s' not found or unreadable: cannot read its version",
		           bootctl_slot_upper(booted), c->cfg.label[booted]);
	}
	r = bootctl_mark_good(c->env, booted, c->cfg.attempts, version);
	if (r < 0)
		return die("%s: %s", bootctl_location(c->env), why_or(c->env, r));
	printf("slot %c confirmed (version %" PRIu64 ")\n", bootctl_slot_upper(booted), version);
	return 0;
}

/* SLOT [--attempts N] for set-next and set-primary; SLOT for mark-bad. */
static int slot_args(const struct ctx *c, int argc, char **argv, bool attempts_ok, int *ret_slot,
                     unsigned *ret_attempts)
{
	static const struct option opts[] = { { "attempts", required_argument, NULL, 'n' }, {} };
	unsigned attempts = c->cfg.attempts;
	int opt;

	while ((opt = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		uint64_t v;
		if (opt != 'n' || !attempts_ok)
			return die("bad option '%s': usage: %s SLOT%s", argv[optind - 1], argv[0],
			           attempts_ok ? " [--attempts N]" : "");
		if (parse_u64(optarg, &v) < 0 || v < 1 || v > BOOTCTL_MAX_ATTEMPTS)
			return die("--attempts must be a number from 1 to %d", BOOTCTL_MAX_ATTEMPTS);
		attempts = (unsigned)v;
	}
	if (argc - optind != 1)
		return die("usage: %s SLOT%s", argv[0], attempts_ok ? " [--attempts N]" : "");
	if (bootctl_slot_parse(argv[optind], ret_slot) < 0)
		return die("bad slot '%s': expected A or B", argv[optind]);
	*ret_attempts = attempts;
	return 0;
}

static int cmd_slot_op(struct ctx *c, int argc, char **argv)
{
	bool bad = strcmp(argv[0], "mark-bad") == 0, primary = strcmp(argv[0], "set-primary") == 0;
	unsigned attempts = 0;
	int slot = 0, r;

	if (slot_args(c, argc, argv, !bad, &slot, &attempts))
		return 1;
	if (!bad) {
		/* Pointing the bootloader at a slot that holds no image would
		 * only burn attempts; a slot we cannot see (an environment
		 * file without its disk) is the caller's business. */
		uint64_t v;
		switch (slot_version(c, slot, &v)) {
		case VER_NONE:
			return die("slot %c has no footer: there is nothing to boot in it", bootctl_slot_upper(slot));
		case VER_DAMAGED:
			return die("slot %c: its footer is damaged", bootctl_slot_upper(slot));
		case VER_OK:
		case VER_UNKNOWN:
			break;
		}
	}
	r = bad ? bootctl_mark_bad(c->env, slot)
	        : primary ? bootctl_set_primary(c->env, slot, attempts) : bootctl_try(c->env, slot, attempts);
	if (r < 0)
		return die("%s: %s", bootctl_location(c->env), why_or(c->env, r));
	if (bad)
		printf("slot %c marked bad\n", bootctl_slot_upper(slot));
	else
		printf("slot %c %s with %u attempts\n", bootctl_slot_upper(slot), primary ? "is primary" : "boots next",
		       attempts);
	return 0;
}

static const struct {
	const char *name;
	int (*fn)(struct ctx *c, int argc, char **argv);
	const char *usage;
} commands[] = {
	{ "status", cmd_status, "status [--json]" },
	{ "mark-good", cmd_mark_good, "mark-good" },
	{ "mark-bad", cmd_slot_op, "mark-bad SLOT" },
	{ "set-next", cmd_slot_op, "set-next SLOT [--attempts N]" },
	{ "set-primary", cmd_slot_op, "set-primary SLOT [--attempts N]" },
};

static void usage(FILE *f)
{
	fprintf(f, "usage: %s [--config FILE] [--disk DISK.img] [--grubenv FILE | --fw-env-config FILE]\n"
	           "       [--cmdline FILE] COMMAND\n\ncommands:\n", prog);
	for (size_t i = 0; i < ARRAY_SIZE(commands); i++)
		fprintf(f, "  %s\n", commands[i].usage);
}

int main(int argc, char **argv)
{
	enum { OPT_CONFIG = 256, OPT_DISK, OPT_GRUBENV, OPT_FWENV, OPT_CMDLINE };
	static const struct option opts[] = {
		{ "config", required_argument, NULL, OPT_CONFIG },
		{ "disk", required_argument, NULL, OPT_DISK },
		{ "grubenv", required_argument, NULL, OPT_GRUBENV },
		{ "fw-env-config", required_argument, NULL, OPT_FWENV },
		{ "cmdline", required_argument, NULL, OPT_CMDLINE },
		{ "help", no_argument, NULL, 'h' },
		{},
	};
	struct ctx c = {};
	int opt, r;

	opterr = 0; /* one message of ours, not getopt's */
	while ((opt = getopt_long(argc, argv, "+h", opts, NULL)) != -1) {
		switch (opt) {
		case OPT_CONFIG: c.config_path = optarg; break;
		case OPT_DISK: c.disk = optarg; break;
		case OPT_GRUBENV: c.grubenv = optarg; break;
		case OPT_FWENV: c.fw_env_config = optarg; break;
		case OPT_CMDLINE: c.cmdline = optarg; break;
		case 'h': usage(stdout); return 0;
		default: return die("bad option '%s' (see --help)", argv[optind - 1]), 2;
		}
	}
	if (c.grubenv && c.fw_env_config)
		return die("--grubenv and --fw-env-config exclude each other"), 2;
	if (optind >= argc)
		return die("missing command (see --help)"), 2;
	for (size_t i = 0; i < ARRAY_SIZE(commands); i++) {
		if (strcmp(argv[optind], commands[i].name) != 0)
			continue;
		if (setup(&c)) {
			bootctl_free(c.env);
			return 1;
		}
		argc -= optind;
		argv += optind;
		optind = 0; /* each command parses its own options (0: glibc restarts) */
		r = commands[i].fn(&c, argc, argv);
		bootctl_free(c.env);
		return r;
	}
	return die("unknown command '%s' (see --help)", argv[optind]), 2;
}

/* rootfs-init: the initramfs /init. As PID 1 it verifies the slot named on
 * the kernel command line against the keys built into the initramfs,
 * opens it through dm-verity, mounts it read-only and switches root into
 * it; on any failure it prints one line and reboots (or powers off). Run
 * otherwise it dispatches subcommands from the table at the bottom:
 * "mount DIR" is the initramfs-tools/dracut hook mode (see README.md). */
#include "bootctl/bootctl.h"
#include "common/macro.h"
#include "common/subcommand.h"
#include "common/util.h"
#include "initramfs/initramfs.h"
#include "verity/verity.h"

#include <blkid.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/reboot.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static const char *prog = "rootfs-init";

#define NEWROOT "/newroot"
#define CRL_FILE "/etc/rootfs/crl.pem"

struct boot {
	struct init_config cfg;
	uint64_t t0;            /* now_ns() at start */
	bool pid1;              /* false: hook mode, exit instead of reboot */
	const char *root;       /* where the slot is mounted */
};

/* "rootfs-init: msg" on the console (stderr) and into the kernel log, so
 * it lands in pstore/journal too. At level 4 and above a "quiet" console
 * does not show the kmsg copy a second time. */
static void emit(int kmsg_level, const char *msg)
{
	_cleanup_close_ int kfd = -1;
	char rec[1100];
	int n;

	fprintf(stderr, "%s: %s\n", prog, msg);
	/* One write(2) is one kmsg record (and glibc's dprintf leaks a buffer
	 * on /dev/kmsg, which cannot seek). */
	kfd = open("/dev/kmsg", O_WRONLY | O_CLOEXEC);
	n = snprintf(rec, sizeof(rec), "<%d>%s: %s\n", kmsg_level, prog, msg);
	if (kfd >= 0 && n > 0)
		(void)write_full(kfd, rec, (size_t)n < sizeof(rec) ? (size_t)n : sizeof(rec) - 1);
}

static __attribute__((format(printf, 2, 3))) void debug(const struct boot *b, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;

	if (!b->cfg.debug)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	emit(6, msg);
}

/* The one failure line, "rootfs-init: slot B: what", then reboot, power
 * off (rootfs.on_fail=poweroff) or, in hook mode, exit 1. Never a shell. */
static _Noreturn __attribute__((format(printf, 2, 3))) void die(const struct boot *b, const char *fmt, ...)
{
	char what[900], msg[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	snprintf(msg, sizeof(msg), "slot %c: %s", init_slot_name(&b->cfg), what);
	emit(4, msg);
	if (!b->pid1)
		exit(1);
	reboot(b->cfg.on_fail == INIT_FAIL_POWEROFF ? RB_POWER_OFF : RB_AUTOBOOT);
	/* reboot(2) only fails without CAP_SYS_BOOT; as PID 1, exiting
	 * panics the kernel, and panic= reboots it. */
	_exit(1);
}

static uint64_t ms_since(const struct boot *b) { return (now_ns() - b->t0) / 1000000; }

/* Optional text file of the initramfs; -ENOENT passes through. */
static int read_small(const char *path, size_t max, char **ret, size_t *ret_len)
{
	uint8_t *data = NULL;
	size_t len = 0;
	int r = read_file_bounded(path, max, &data, &len);

	if (r < 0)
		return r;
	*ret = (char *)data;
	if (ret_len)
		*ret_len = len;
	return 0;
}

/* Configuration: defaults, init.conf (conf_path; NULL: INIT_CONF_FILE,
 * which may be absent), the built-in floor, then the kernel command line
 * (cmdline may be NULL: /proc/cmdline). */
static int load_config(struct boot *b, const char *conf_path, const char *cmdline, const char **ret_what,
                       const char **ret_err)
{
	_cleanup_free_ char *conf = NULL, *floor = NULL, *proc = NULL;
	const char *cp = conf_path ? conf_path : INIT_CONF_FILE;
	size_t conf_len = 0;
	int r;

	init_config_default(&b->cfg);
	r = read_small(cp, 65536, &conf, &conf_len);
	if (r >= 0) {
		r = init_config_parse_conf(&b->cfg, conf, conf_len, ret_err);
		if (r < 0)
			return *ret_what = cp, r;
	} else if (r != -ENOENT || conf_path)
		return *ret_what = cp, *ret_err = NULL, r;

	r = read_small(INIT_FLOOR_FILE, 64, &floor, NULL);
	if (r >= 0) {
		floor[strcspn(floor, "\n")] = '\0';
		r = init_config_set(&b->cfg, "floor", floor, ret_err);
		if (r < 0)
			return *ret_what = INIT_FLOOR_FILE, r;
	} else if (r != -ENOENT)
		return *ret_what = INIT_FLOOR_FILE, *ret_err = NULL, r;

	if (!cmdline) {
		r = read_small("/proc/cmdline", 65536, &proc, NULL);
		if (r < 0)
			return *ret_what = "/proc/cmdline", *ret_err = NULL, r;
		cmdline = proc;
	}
	r = init_config_parse_cmdline(&b->cfg, cmdline, ret_err);
	if (r < 0)
		return *ret_what = "kernel command line", r;
	return 0;
}

static void load_config_or_die(struct boot *b)
{
	const char *what = NULL, *err = NULL;
	int r = load_config(b, NULL, NULL, &what, &err);

	if (r < 0)
		die(b, "%s: %s", what, err ? err : strerror(-r));
	if (!b->cfg.slot)
		die(b, "no rootfs.slot= on the kernel command line");
}

/* Standard streams on the console: the kernel opens /dev/console for us
 * only when the initramfs has that node. */
static void open_console(void)
{
	int fd;

	if (fcntl(STDERR_FILENO, F_GETFD) >= 0)
		return;
	fd = open("/dev/console", O_RDWR | O_NOCTTY | O_CLOEXEC);
	if (fd < 0)
		return;
	for (int i = 0; i < 3; i++)
		if (fd != i)
			dup2(fd, i);
	/* The streams must survive the execv of the slot's init. */
	if (fd > 2)
		close(fd);
	else
		(void)fcntl(fd, F_SETFD, 0);
}

static int find_parts(const struct boot *b, const struct bootctl_config *bc, struct bootctl_parts *ret)
{
	struct bootctl_parts parts;
	int r;

	if (!b->cfg.disk[0]) {
		r = bootctl_discover_system(NULL, NULL, bc, &parts);
		if (r < 0)
			return r;
		*ret = parts;
		return 0;
	}
	/* rootfs.disk: read that disk's GPT and name the partition nodes. */
	r = bootctl_discover_disk(b->cfg.disk, bc, &parts);
	if (r < 0)
		return r;
	struct bootctl_part *all[] = { &parts.slot[0], &parts.slot[1], &parts.data, &parts.esp };
	for (size_t i = 0; i < ARRAY_SIZE(all); i++) {
		struct bootctl_part *p = all[i];
		struct stat st;

		if (!p->found)
			continue;
		r = init_partition_node(b->cfg.disk, p->partno, p->device, sizeof(p->device));
		if (r < 0)
			return r;
		if (stat(p->device, &st) < 0 || !S_ISBLK(st.st_mode))
			p->found = false; /* the kernel has not made the node yet */
		p->offset = 0;
	}
	*ret = parts;
	return 0;
}

/* Bounded wait for the slot's partition (and the data partition when one
 * is to be mounted): disks appear asynchronously after the modules load. */
static void wait_for_parts(const struct boot *b, const struct bootctl_config *bc, int slot,
                           struct bootctl_parts *ret)
{
	uint64_t deadline = now_ns() + (uint64_t)b->cfg.timeout_s * 1000000000u;

	for (;;) {
		struct bootctl_parts parts;
		int r = find_parts(b, bc, &parts);

		if (r == -ENOTUNIQ)
			die(b, "partition label %s is on more than one disk (set rootfs.disk=)", bc->label[slot]);
		if (r >= 0 && parts.slot[slot].found && (!b->cfg.data[0] || parts.data.found)) {
			*ret = parts;
			return;
		}
		if (now_ns() >= deadline) {
			if (r >= 0 && parts.slot[slot].found)
				die(b, "data partition %s did not appear within %u s", bc->data_label, b->cfg.timeout_s);
			die(b, "partition %s did not appear within %u s", bc->label[slot], b->cfg.timeout_s);
		}
		usleep(50 * 1000);
	}
}

/* ROOTFS_FLOOR from the GRUB environment on the ESP, when there is one: the
 * bootloader keeps it there, and the floor only ever rises. */
static void floor_from_esp(struct boot *b, const struct bootctl_parts *parts)
{
	struct bootctl *bc = NULL;
	struct bootctl_state st;
	int r;

	if (!parts->esp.found)
		return;
	r = bootctl_open_grubenv_fat(parts->esp.device, parts->esp.offset, parts->esp.size,
	                             BOOTCTL_GRUBENV_ESP_PATH, &bc, NULL);
	if (r >= 0)
		r = bootctl_load(bc, &st);
	if (r >= 0) {
		if (st.floor > b->cfg.floor)
			b->cfg.floor = st.floor;
		debug(b, "rollback floor %llu from %s", (unsigned long long)st.floor, bootctl_location(bc));
	} else
		debug(b, "no rollback floor on the ESP (%s)", strerror(-r));
	bootctl_free(bc);
}

static void keyring_freep(struct verity_keyring **kr) { verity_keyring_free(*kr); }

/* Step 2: footer, signature with full chain, compatible, floor, layout. */
static void verify_slot(const struct boot *b, int fd, uint64_t size, struct signed_manifest *sm)
{
	_cleanup_(keyring_freep) struct verity_keyring *kr = NULL;
	_cleanup_free_ char *compatible = NULL, *signer = NULL;
	struct slot_layout layout;
	const char *err = NULL;
	struct stat st;
	int r;

	r = footer_read(fd, 0, size, sm);
	if (r == -ENOENT)
		die(b, "no footer: the slot holds no installed image");
	if (r < 0)
		die(b, "footer: %s", r == -EBADMSG ? "damaged" : strerror(-r));

	r = verity_keyring_load(b->cfg.keyring, stat(CRL_FILE, &st) == 0 ? CRL_FILE : NULL, &kr);
	if (r < 0)
		die(b, "keyring %s: %s", b->cfg.keyring, verity_strerror(r));
	r = signed_manifest_verify_signer(kr, sm, &signer, &err);
	if (r < 0)
		die(b, "signature does not verify: %s", err ? err : verity_strerror(r));
	debug(b, "manifest signed by %s", signer);

	r = read_small(INIT_COMPATIBLE_FILE, MANIFEST_MAX_STR, &compatible, NULL);
	if (r == -ENOENT)
		debug(b, "no %s in the initramfs: compatible not checked", INIT_COMPATIBLE_FILE);
	else if (r < 0)
		die(b, "%s: %s", INIT_COMPATIBLE_FILE, strerror(-r));
	else
		compatible[strcspn(compatible, "\n")] = '\0';

	r = init_manifest_check(&sm->m, compatible ? compatible : sm->m.compatible, b->cfg.floor);
	if (r == -EMEDIUMTYPE)
		die(b, "compatible '%s' does not match '%s'", sm->m.compatible, compatible);
	if (r == -ESTALE)
		die(b, "version %llu is below the rollback floor %llu", (unsigned long long)sm->m.version,
		    (unsigned long long)b->cfg.floor);
	if (r == -EPROTONOSUPPORT)
		die(b, "unsupported file system type '%s'", sm->m.fstype);
	if (r < 0)
		die(b, "manifest: %s", strerror(-r));

	/* The tree must be where the slot layout puts it, inside the slot. */
	r = slot_layout_compute(&sm->m, size, &layout);
	if (r < 0 || layout.tree_offset != sm->m.verity.hash_offset)
		die(b, "manifest does not fit the %llu-byte partition", (unsigned long long)size);
	debug(b, "version %llu (%s), compatible '%s', %s, floor %llu: accepted",
	      (unsigned long long)sm->m.version, sm->m.version_string, sm->m.compatible, sm->m.fstype,
	      (unsigned long long)b->cfg.floor);
}

static int probe_fstype(const char *dev, char *buf, size_t size)
{
	blkid_probe pr = blkid_new_probe_from_filename(dev);
	const char *type = NULL;
	int r = -ENOMEDIUM;

	if (!pr)
		return -errno ? -errno : -ENOMEM;
	blkid_probe_enable_superblocks(pr, 1);
	blkid_probe_set_superblocks_flags(pr, BLKID_SUBLKS_TYPE);
	if (blkid_do_safeprobe(pr) == 0 && blkid_probe_lookup_value(pr, "TYPE", &type, NULL) == 0 &&
	    strlen(type) < size) {
		strcpy(buf, type);
		r = 0;
	}
	blkid_free_probe(pr);
	return r;
}

/* Steps 1 to 4, up to a mounted, verified root at b->root. */
/* The bootloader boots the last confirmed slot when no slot has attempts
 * left. If that one is corrupted too, dm-verity would only restart the
 * kernel mid-boot, again and again, without a word: check every block in
 * userspace first, so the console says plainly that nothing verified is
 * left. */
static void check_last_resort(const struct boot *b, int fd, const struct manifest *m)
{
	struct verity_corruption bad = { 0 };
	uint64_t t0 = now_ns();
	int r;

	r = verity_verify(&m->verity, fd, fd, m->root_hash, m->root_hash_size, &bad);
	if (r == -EBADMSG)
		die(b, "no verified slot is left: %s block %llu of the last confirmed slot is corrupted",
		    bad.area == VERITY_AREA_DATA ? "data" : "hash", (unsigned long long)bad.block);
	if (r < 0)
		die(b, "no verified slot is left: checking the last confirmed slot: %s", strerror(-r));
	debug(b, "last resort: every block of the slot checks (%llu ms)",
	      (unsigned long long)((now_ns() - t0) / 1000000));
}

static void open_slot(struct boot *b)
{
	struct bootctl_config bc;
	struct bootctl_parts parts;
	struct signed_manifest sm = { 0 };
	_cleanup_close_ int fd = -1;
	_cleanup_free_ char *modules = NULL;
	char mapper[64], dm[80];
	const char *detail = NULL, *failed = NULL;
	int sig_result = 0;
	size_t modules_len = 0;
	uint64_t size;
	int slot = b->cfg.slot == 'a' ? 0 : 1, r;

	r = read_small(INIT_MODULES_FILE, 1 << 20, &modules, &modules_len);
	if (r >= 0) {
		r = init_load_modules(modules, modules_len, &failed);
		if (r < 0)
			die(b, "module %s: %s", failed ? failed : "list", strerror(-r));
		debug(b, "modules loaded at %llu ms", (unsigned long long)ms_since(b));
	} else if (r != -ENOENT || b->pid1)
		die(b, "%s: %s", INIT_MODULES_FILE, strerror(-r));

	bootctl_config_default(&bc);
	wait_for_parts(b, &bc, slot, &parts);
	debug(b, "%s is %s, found at %llu ms", bc.label[slot], parts.slot[slot].device,
	      (unsigned long long)ms_since(b));
	floor_from_esp(b, &parts);

	fd = open(parts.slot[slot].device, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		die(b, "%s: %s", parts.slot[slot].device, strerror(errno));
	r = fd_get_size(fd, &size);
	if (r < 0)
		die(b, "%s: %s", parts.slot[slot].device, strerror(-r));
	verify_slot(b, fd, size, &sm);
	if (b->cfg.last_resort)
		check_last_resort(b, fd, &sm.m);

	snprintf(mapper, sizeof(mapper), "rootfs-%c", b->cfg.slot);
	r = init_verity_activate(parts.slot[slot].device, mapper, &sm.m, sm.roothash_sig, sm.roothash_sig_len,
	                         init_verity_flags(b->cfg.verity), &sig_result, &detail);
	if (r < 0)
		die(b, "dm-verity: %s", detail && detail[0] ? detail : strerror(-r));
	if (sig_result == 0)
		debug(b, "dm-verity: the kernel checked the root hash signature too");
	else
		debug(b, "dm-verity: the kernel does not trust the signing key (signed activation: %s); "
		         "activated with the root hash verified by rootfs-init", strerror(-sig_result));

	snprintf(dm, sizeof(dm), "/dev/mapper/%s", mapper);
	if (mkdir(b->root, 0755) < 0 && errno != EEXIST)
		die(b, "%s: %s", b->root, strerror(errno));
	if (mount(dm, b->root, sm.m.fstype, MS_RDONLY, NULL) < 0)
		die(b, "mount %s (%s) read-only: %s", dm, sm.m.fstype, strerror(errno));
	debug(b, "%s mounted read-only on %s at %llu ms", dm, b->root, (unsigned long long)ms_since(b));

	if (b->cfg.data[0]) {
		char target[INIT_PATH_MAX * 2], type[32];

		snprintf(target, sizeof(target), "%s%s", b->root, b->cfg.data);
		r = probe_fstype(parts.data.device, type, sizeof(type));
		if (r < 0)
			die(b, "data partition %s: no file system found", parts.data.device);
		/* Unverified by design: never executable device nodes or setuid. */
		if (mount(parts.data.device, target, type, MS_NOSUID | MS_NODEV, NULL) < 0)
			die(b, "mount data partition %s (%s) on %s: %s", parts.data.device, type, b->cfg.data,
			    strerror(errno));
		debug(b, "data partition %s (%s) mounted on %s", parts.data.device, type, b->cfg.data);
	}

	if (b->cfg.watchdog_s > 0) {
		r = init_watchdog_arm(b->cfg.watchdog_s);
		if (r < 0)
			die(b, "watchdog: %s", strerror(-r));
		debug(b, "watchdog armed for %u s", b->cfg.watchdog_s);
	}
	signed_manifest_clear(&sm);
}

/* PID 1: the whole boot. */
static int boot_pid1(void)
{
	struct boot b = { .t0 = now_ns(), .pid1 = true, .root = NEWROOT };
	int r;

	init_config_default(&b.cfg);
	r = init_mount_early();
	open_console();
	if (r < 0)
		die(&b, "mounting /proc, /sys, /dev: %s", strerror(-r));
	load_config_or_die(&b);
	debug(&b, "slot %c, started %llu ms ago", init_slot_name(&b.cfg), (unsigned long long)ms_since(&b));

	open_slot(&b);

	/* CLOCK_MONOTONIC counts from the kernel's start. */
	debug(&b, "verified and mounted in %llu ms (%llu ms after the kernel started); switching root to %s",
	      (unsigned long long)ms_since(&b), (unsigned long long)(now_ns() / 1000000), b.cfg.init);
	r = init_switch_root(b.root, b.cfg.init);
	die(&b, "switch_root to %s: %s", b.cfg.init, strerror(-r));
}

/* Hook mode for initramfs-tools / dracut: verify and mount at DIR. */
static int cmd_mount(int argc, char **argv)
{
	struct boot b = { .t0 = now_ns(), .pid1 = false };

	if (argc != 2 || argv[1][0] != '/') {
		fprintf(stderr, "%s: usage: %s mount /ABSOLUTE/DIR\n", prog, prog);
		return 2;
	}
	b.root = argv[1];
	init_config_default(&b.cfg);
	load_config_or_die(&b);
	open_slot(&b);
	debug(&b, "verified and mounted on %s in %llu ms", b.root, (unsigned long long)ms_since(&b));
	return 0;
}

/* Prints the configuration rootfs-init would use (init.conf or --conf
 * FILE, built-in floor, then CMDLINE or /proc/cmdline): for checking a
 * boot entry, and for mkinitramfs to check an init.conf. */
static int cmd_config(int argc, char **argv)
{
	static const char *const verity[] = { "restart", "panic", "ignore" };
	struct boot b = { 0 };
	const char *what = NULL, *err = NULL, *conf = NULL;
	int r;

	if (argc >= 3 && strcmp(argv[1], "--conf") == 0) {
		conf = argv[2];
		argc -= 2, argv += 2;
	}
	if (argc > 2 || (argc == 2 && strncmp(argv[1], "--", 2) == 0)) {
		fprintf(stderr, "%s: usage: %s config [--conf FILE] [CMDLINE]\n", prog, prog);
		return 2;
	}
	r = load_config(&b, conf, argc == 2 ? argv[1] : NULL, &what, &err);
	if (r < 0) {
		fprintf(stderr, "%s: %s: %s\n", prog, what, err ? err : strerror(-r));
		return 1;
	}
	printf("slot=%c\ndisk=%s\nkeyring=%s\nverity=%s\ndebug=%d\non_fail=%s\nfloor=%llu\n"
	       "timeout=%u\ndata=%s\nwatchdog=%u\ninit=%s\nlast_resort=%d\n",
	       b.cfg.slot ? b.cfg.slot : '-', b.cfg.disk, b.cfg.keyring, verity[b.cfg.verity], b.cfg.debug,
	       b.cfg.on_fail == INIT_FAIL_POWEROFF ? "poweroff" : "reboot", (unsigned long long)b.cfg.floor,
	       b.cfg.timeout_s, b.cfg.data, b.cfg.watchdog_s, b.cfg.init, b.cfg.last_resort);
	return 0;
}

static int cmd_help(int argc, char **argv);

static const struct subcommand subcommands[] = {
	{ "mount", cmd_mount, "DIR  verify the slot of the kernel command line, mount it on DIR" },
	{ "config", cmd_config, "[--conf FILE] [CMDLINE] print the configuration a boot would use" },
	{ "help", cmd_help, "  this text (as PID 1, rootfs-init boots)" },
};

static int cmd_help(int argc, char **argv)
{
	subcommand_help(prog, subcommands, ARRAY_SIZE(subcommands));
	return 0;
}

int main(int argc, char **argv)
{
	/* The kernel passes unknown command-line words as arguments to init:
	 * as PID 1 they mean nothing to us. */
	if (getpid() == 1)
		return boot_pid1();
	return subcommand_dispatch(prog, subcommands, ARRAY_SIZE(subcommands), argc, argv);
}

/* The install steps. Order matters for power safety: nothing is written
 * before the head is verified, and the target is made unbootable (env,
 * then footer) before its first byte changes; it becomes bootable again
 * only after slot_write has checked both hashes and written the footer. */
#include "installer/installer.h"
#include "common/macro.h"
#include "common/util.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

static int fail(struct install_report *rep, enum install_exit code, int r, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
static int fail(struct install_report *rep, enum install_exit code, int r, const char *fmt, ...)
{
	va_list ap;

	rep->exit_code = code;
	va_start(ap, fmt);
	vsnprintf(rep->reason, sizeof(rep->reason), fmt, ap);
	va_end(ap);
	return r < 0 ? r : -EINVAL;
}

static void sourcep(struct install_source **s) { install_source_free(*s); }
static void keyringp(struct verity_keyring **k) { verity_keyring_free(*k); }
static void bootctlp(struct bootctl **b) { bootctl_free(*b); }

/* Exclusive, non-blocking: a second install fails at once with "busy". */
static int take_lock(int fd)
{
	if (flock(fd, LOCK_EX | LOCK_NB) < 0)
		return errno == EWOULDBLOCK ? -EBUSY : -errno;
	return 0;
}

/* The device the mount at "/" sits on, from mountinfo ("maj:min" field). */
static int root_devnum(const char *mountinfo, dev_t *ret)
{
	_cleanup_fclose_ FILE *f = NULL;
	char line[4096];

	f = fopen(mountinfo ? mountinfo : "/proc/self/mountinfo", "re");
	if (!f)
		return -errno;
	while (fgets(line, sizeof(line), f)) {
		unsigned maj, min;
		char mnt[1024];
		/* id parent maj:min root mountpoint ... ; the last "/" mount wins
		 * (it is the one on top). */
		if (sscanf(line, "%*u %*u %u:%u %*s %1023s", &maj, &min, mnt) == 3 && !strcmp(mnt, "/"))
			*ret = makedev(maj, min);
	}
	return 0;
}

/* Is partition device `part` the root device itself, or below it (the
 * dm-verity device's slaves)? */
static bool root_is_on(dev_t root, const char *part)
{
	struct stat st;
	char path[256];
	const char *base;

	if (stat(part, &st) < 0 || !S_ISBLK(st.st_mode))
		return false;
	if (st.st_rdev == root)
		return true;
	base = strrchr(part, '/');
	base = base ? base + 1 : part;
	snprintf(path, sizeof(path), "/sys/dev/block/%u:%u/slaves/%s", major(root), minor(root), base);
	return access(path, F_OK) == 0;
}

/* On a running system: rootfs.slot= must agree with what "/" is mounted from. */
static int booted_slot_system(const struct install_options *o, const struct bootctl_parts *parts,
                              int *ret, struct install_report *rep)
{
	dev_t root = 0;
	int slot, r;

	r = bootctl_booted_slot(o->cmdline, &slot);
	if (r < 0)
		return fail(rep, INSTALL_EXIT_CONFIG, r, "cannot tell the booted slot: %s",
		            r == -ENOENT ? "no rootfs.slot= on the kernel command line" : "bad rootfs.slot= value");
	r = root_devnum(o->mountinfo, &root);
	if (r < 0 || root == 0)
		return fail(rep, INSTALL_EXIT_CONFIG, r, "cannot find the device mounted at /");
	if (root_is_on(root, parts->slot[1 - slot].device))
		return fail(rep, INSTALL_EXIT_CONFIG, -EXDEV,
		            "kernel command line says slot %c but / is mounted from slot %c (%s)",
		            bootctl_slot_upper(slot), bootctl_slot_upper(1 - slot), parts->slot[1 - slot].device);
	if (!root_is_on(root, parts->slot[slot].device))
		return fail(rep, INSTALL_EXIT_CONFIG, -EXDEV, "/ is not mounted from slot %c (%s)",
		            bootctl_slot_upper(slot), parts->slot[slot].device);
	*ret = slot;
	return 0;
}

int install_open_env(const struct bootctl_config *bc, const struct install_options *o,
                     const struct bootctl_parts *parts, struct bootctl **ret, struct install_report *rep)
{
	enum bootctl_backend be = bc->backend;
	const char *why = NULL;
	int r;

	/* A disk image with an ESP and no backend configured: GRUB. */
	if (be == BOOTCTL_BACKEND_NONE && o->disk && parts->esp.found)
		be = BOOTCTL_BACKEND_GRUB;
	switch (be) {
	case BOOTCTL_BACKEND_GRUB:
		if (o->disk) {
			if (!parts->esp.found)
				return fail(rep, INSTALL_EXIT_CONFIG, -ENOENT, "%s: no ESP partition labelled '%s'",
				            o->disk, bc->esp_label);
			r = bootctl_open_grubenv_fat(o->disk, parts->esp.offset, parts->esp.size,
			                             BOOTCTL_GRUBENV_ESP_PATH, ret, &why);
		} else
			r = bootctl_open_grubenv_file(bc->grubenv, ret);
		break;
	case BOOTCTL_BACKEND_UBOOT:
		r = bootctl_open_uboot(bc->fw_env_config, ret, &why);
		break;
	default:
		return fail(rep, INSTALL_EXIT_CONFIG, -EINVAL, "no bootloader backend configured ([bootloader] backend)");
	}
	if (r < 0)
		return fail(rep, INSTALL_EXIT_CONFIG, r, "cannot open the boot environment: %s",
		            why ? why : strerror(-r));
	return 0;
}

struct progress_ctx {
	const struct install_options *o;
	struct install_report *rep;
};

static void on_progress(void *userdata, uint64_t done, uint64_t total)
{
	struct progress_ctx *p = userdata;

	p->rep->bytes = done;
	if (p->o->progress)
		p->o->progress(p->o->progress_userdata, done, total);
}

/* Which exit class a head or payload failure belongs to. */
static int source_fail(struct install_report *rep, const struct install_source *s, int r, const char *what,
                       const char *why)
{
	const char *neterr = install_source_error(s);

	if (neterr)
		return fail(rep, INSTALL_EXIT_NETWORK, r, "%s: %s", install_source_name(s), neterr);
	switch (r) {
	case -EKEYREJECTED: case -EKEYEXPIRED: case -EKEYREVOKED: case -ENOKEY: case -EPERM:
	case -EBADMSG: case -EPROTO:
		return fail(rep, INSTALL_EXIT_BADSIG, r, "%s: %s", what, why ? why : verity_strerror(r));
	case -ENOSPC:
		return fail(rep, INSTALL_EXIT_NOSPACE, r, "%s: %s", what, why ? why : strerror(-r));
	default:
		return fail(rep, INSTALL_EXIT_IO, r, "%s: %s", what, why ? why : strerror(-r));
	}
}

int install_run(const struct install_config *c, const struct bootctl_config *bc,
                const struct install_options *o, struct install_report *rep)
{
	_cleanup_(sourcep) struct install_source *src = NULL;
	_cleanup_(keyringp) struct verity_keyring *kr = NULL;
	_cleanup_(bootctlp) struct bootctl *env = NULL;
	_cleanup_(signed_manifest_clear) struct signed_manifest sm = { 0 };
	_cleanup_(signed_manifest_clear) struct signed_manifest running = { 0 };
	_cleanup_close_ int lock_fd = -1, disk_fd = -1, target_fd = -1, booted_fd = -1;
	struct bootctl_parts parts;
	struct bootctl_state state;
	struct update_header h;
	struct slot_layout layout;
	struct slot_target target;
	struct progress_ctx pc = { .o = o, .rep = rep };
	char msg[INSTALL_MSG_MAX] = "";
	const char *why = NULL;
	uint64_t total, running_version = 0;
	bool have_running = false;
	int booted = 0, tslot, r;
	unsigned attempts = o->attempts ? o->attempts : bc->attempts;

	*rep = (struct install_report){ .exit_code = INSTALL_EXIT_OK };
	snprintf(rep->source, sizeof(rep->source), "%s", o->source);

	/* 1. lock */
	if (o->disk) {
		disk_fd = open(o->disk, O_RDWR | O_CLOEXEC);
		if (disk_fd < 0)
			return fail(rep, INSTALL_EXIT_IO, -errno, "%s: %s", o->disk, strerror(errno));
		r = take_lock(disk_fd);
	} else {
		const char *lp = c->lock_file ? c->lock_file : INSTALL_DEFAULT_LOCK;
		lock_fd = open(lp, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
		if (lock_fd < 0)
			return fail(rep, INSTALL_EXIT_IO, -errno, "%s: %s", lp, strerror(errno));
		r = take_lock(lock_fd);
	}
	if (r == -EBUSY)
		return fail(rep, INSTALL_EXIT_BUSY, r, "another install is running (%s is locked)",
		            o->disk ? o->disk : c->lock_file ? c->lock_file : INSTALL_DEFAULT_LOCK);
	if (r < 0)
		return fail(rep, INSTALL_EXIT_IO, r, "cannot lock: %s", strerror(-r));

	if (!c->keyring)
		return fail(rep, INSTALL_EXIT_CONFIG, -EINVAL, "no keyring configured (--keyring or [device] keyring)");
	if (!c->compatible)
		return fail(rep, INSTALL_EXIT_CONFIG, -EINVAL,
		            "no compatible string configured (--compatible or [device] compatible)");
	r = verity_keyring_load(c->keyring, c->crl, &kr);
	if (r < 0)
		return fail(rep, INSTALL_EXIT_CONFIG, r, "keyring %s: %s", c->keyring, verity_strerror(r));

	/* 2. head: signature, compatible, version; nothing written yet */
	r = install_source_open(o->source, &c->tls, &src, msg);
	if (r < 0)
		return fail(rep, r == -EPROTONOSUPPORT || r == -EINVAL ? INSTALL_EXIT_USAGE : INSTALL_EXIT_IO, r,
		            "%s", msg[0] ? msg : strerror(-r));
	snprintf(rep->source, sizeof(rep->source), "%s", install_source_name(src));
	r = update_read_head(install_source_fd(src), kr, &h, &sm, &why);
	if (r < 0)
		return source_fail(rep, src, r, "bad update image", why);
	snprintf(rep->to_version, sizeof(rep->to_version), "%s", sm.m.version_string);
	if (strcmp(sm.m.compatible, c->compatible) != 0)
		return fail(rep, INSTALL_EXIT_INCOMPATIBLE, -EMEDIUMTYPE,
		            "update is for '%s', this device is '%s'", sm.m.compatible, c->compatible);
	r = u64_add(h.payload_offset, sm.m.stored_size, &total);
	if (r < 0)
		return source_fail(rep, src, -EBADMSG, "bad update image", "sizes overflow");
	r = install_source_set_size(src, total);
	if (r < 0)
		return source_fail(rep, src, r, "bad update image",
		                   r == -EBADMSG ? "trailing data after the payload" :
		                   r == -EPROTO ? "update image is truncated" : NULL);

	/* 3. slots, the booted one, the environment */
	r = o->disk ? bootctl_discover_disk(o->disk, bc, &parts) : bootctl_discover_system(NULL, NULL, bc, &parts);
	if (r < 0)
		return fail(rep, INSTALL_EXIT_CONFIG, r, "cannot find the slots: %s", strerror(-r));
	for (int i = 0; i < BOOTCTL_NSLOTS; i++)
		if (!parts.slot[i].found)
			return fail(rep, INSTALL_EXIT_CONFIG, -ENOENT, "no partition labelled '%s'", bc->label[i]);
	r = install_open_env(bc, o, &parts, &env, rep);
	if (r < 0)
		return r;
	r = bootctl_load(env, &state);
	if (r < 0)
		return fail(rep, INSTALL_EXIT_CONFIG, r, "%s: %s", bootctl_location(env),
		            bootctl_why(env) ? bootctl_why(env) : strerror(-r));
	if (o->disk) {
		/* An image has no running kernel: its last confirmed slot stands in. */
		if (state.good == BOOTCTL_SLOT_NONE)
			return fail(rep, INSTALL_EXIT_CONFIG, -ENOENT, "%s: no confirmed slot (ROOTFS_GOOD unset)",
			            bootctl_location(env));
		booted = state.good;
	} else {
		r = booted_slot_system(o, &parts, &booted, rep);
		if (r < 0)
			return r;
	}
	tslot = 1 - booted; /* never the booted slot, whatever the configuration says */
	rep->target = bootctl_slot_upper(tslot);

	/* anti-downgrade: the running slot's signed version and the floor */
	if (o->disk)
		r = footer_read(disk_fd, parts.slot[booted].offset, parts.slot[booted].size, &running);
	else {
		booted_fd = open(parts.slot[booted].device, O_RDONLY | O_CLOEXEC);
		r = booted_fd < 0 ? -errno : footer_read(booted_fd, 0, parts.slot[booted].size, &running);
	}
	if (r == 0 && signed_manifest_verify(kr, &running, NULL) == 0) {
		have_running = true;
		running_version = running.m.version;
		snprintf(rep->from_version, sizeof(rep->from_version), "%s", running.m.version_string);
	}
	if ((have_running && sm.m.version < running_version) || sm.m.version < state.floor) {
		bool lower_than_running = have_running && sm.m.version < running_version;
		if (!(c->allow_downgrade && o->allow_downgrade))
			return fail(rep, INSTALL_EXIT_DOWNGRADE, -EPERM,
			            "version %llu is older than %s %llu (downgrades need [install] allow_downgrade and --allow-downgrade)",
			            (unsigned long long)sm.m.version,
			            lower_than_running ? "the running" : "the rollback floor",
			            (unsigned long long)(lower_than_running ? running_version : state.floor));
	}

	/* fit */
	r = slot_layout_compute(&sm.m, parts.slot[tslot].size, &layout);
	if (r < 0)
		return fail(rep, r == -ENOSPC ? INSTALL_EXIT_NOSPACE : INSTALL_EXIT_BADSIG, r,
		            "update needs more than slot %c's %llu bytes", rep->target,
		            (unsigned long long)parts.slot[tslot].size);

	if (o->disk) {
		target = (struct slot_target){ .fd = disk_fd, .offset = parts.slot[tslot].offset,
		                               .size = parts.slot[tslot].size };
	} else {
		/* O_EXCL on a block device: fails while anything has it open or mounted */
		target_fd = open(parts.slot[tslot].device, O_RDWR | O_EXCL | O_CLOEXEC);
		if (target_fd < 0)
			return fail(rep, INSTALL_EXIT_IO, -errno, "%s: %s", parts.slot[tslot].device, strerror(errno));
		target = (struct slot_target){ .fd = target_fd, .offset = 0, .size = parts.slot[tslot].size };
	}

	/* 4. invalidate: from here a power cut can only leave the old slot booting */
	r = bootctl_invalidate(env, tslot);
	if (r < 0)
		return fail(rep, INSTALL_EXIT_CONFIG, r, "cannot invalidate slot %c: %s", rep->target,
		            bootctl_why(env) ? bootctl_why(env) : strerror(-r));
	r = footer_erase(target.fd, target.offset, target.size);
	if (r < 0)
		return fail(rep, INSTALL_EXIT_IO, r, "cannot erase slot %c's footer: %s", rep->target, strerror(-r));

	/* 5. one pass */
	r = slot_write(&sm, install_source_read, src, &target, on_progress, &pc);
	if (r < 0) {
		const char *w = r == -EBADMSG ? "payload does not match the signed manifest (or trailing data)" :
		                r == -EPROTO ? "update image is truncated" : NULL;
		return source_fail(rep, src, r == -ENETDOWN ? -EIO : r, "install failed", w);
	}

	/* 6. activate */
	if (!o->no_activate) {
		r = bootctl_try(env, tslot, attempts);
		if (r < 0)
			return fail(rep, INSTALL_EXIT_CONFIG, r, "slot %c written but not activated: %s", rep->target,
			            bootctl_why(env) ? bootctl_why(env) : strerror(-r));
	}
	return 0;
}

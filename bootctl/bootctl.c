/* An opened bootloader environment: load, change, one atomic write. */
#include "bootctl/bootctl.h"
#include "common/macro.h"
#include "common/util.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>

#define WHY(s) (ret_why ? (void)(*ret_why = (s)) : (void)0)

enum loc { LOC_GRUB_FILE, LOC_GRUB_AT, LOC_UBOOT };

struct bootctl {
	enum bootctl_backend backend;
	enum loc loc;
	char *path;                    /* grubenv file, or the device holding it */
	uint64_t offset;               /* LOC_GRUB_AT: the block inside path */
	struct ubootenv_config uboot;
	char *location;
	const char *why;
	struct bootenv env;            /* as last loaded */
	bool loaded;
};

static int new_handle(enum bootctl_backend be, enum loc loc, const char *path, struct bootctl **ret)
{
	struct bootctl *b = calloc(1, sizeof *b);

	if (!b)
		return -ENOMEM;
	b->backend = be;
	b->loc = loc;
	b->path = strdup(path);
	if (!b->path || asprintf(&b->location, "%s %s", be == BOOTCTL_BACKEND_GRUB ? "grubenv" : "fw_env.config",
	                         path) < 0) {
		b->location = NULL;
		bootctl_free(b);
		return -ENOMEM;
	}
	*ret = b;
	return 0;
}

void bootctl_free(struct bootctl *b)
{
	if (!b)
		return;
	bootenv_clear(&b->env);
	free(b->path);
	free(b->location);
	free(b);
}

enum bootctl_backend bootctl_backend(const struct bootctl *b) { return b->backend; }
const char *bootctl_location(const struct bootctl *b) { return b->location; }
const char *bootctl_why(const struct bootctl *b) { return b->why; }

int bootctl_open_grubenv_file(const char *path, struct bootctl **ret)
{
	return new_handle(BOOTCTL_BACKEND_GRUB, LOC_GRUB_FILE, path, ret);
}

int bootctl_open_grubenv_fat(const char *device, uint64_t offset, uint64_t size, const char *fat_path,
                             struct bootctl **ret, const char **ret_why)
{
	_cleanup_close_ int fd = -1;
	struct bootctl *b;
	uint64_t foff, fsize;
	int r;

	fd = open(device, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return WHY("cannot open the device"), -errno;
	r = fat_lookup(fd, offset, size, fat_path, &foff, &fsize);
	if (r == -ENOENT || r == -EISDIR)
		return WHY("no grubenv file in the ESP"), -ENOENT;
	if (r == -EXDEV)
		return WHY("grubenv in the ESP is fragmented or empty: it cannot be written in place"), r;
	if (r == -EBADMSG)
		return WHY("the ESP is not a FAT filesystem, or it is damaged"), r;
	if (r < 0)
		return WHY("cannot read the ESP"), r;
	if (fsize != GRUBENV_SIZE)
		return WHY("grubenv in the ESP is not exactly 1024 bytes"), -EBADMSG;
	r = new_handle(BOOTCTL_BACKEND_GRUB, LOC_GRUB_AT, device, &b);
	if (r < 0)
		return r;
	b->offset = foff;
	free(b->location);
	if (asprintf(&b->location, "grubenv %s in %s", fat_path, device) < 0) {
		b->location = NULL;
		bootctl_free(b);
		return -ENOMEM;
	}
	*ret = b;
	return 0;
}

int bootctl_open_uboot(const char *fw_env_config, struct bootctl **ret, const char **ret_why)
{
	struct ubootenv_config c;
	struct bootctl *b;
	int r;

	r = ubootenv_config_load(fw_env_config, &c, ret_why);
	if (r < 0)
		return r;
	r = new_handle(BOOTCTL_BACKEND_UBOOT, LOC_UBOOT, fw_env_config, &b);
	if (r < 0)
		return r;
	b->uboot = c;
	*ret = b;
	return 0;
}

static int read_env(struct bootctl *b, struct bootenv *ret)
{
	_cleanup_close_ int fd = -1;

	switch (b->loc) {
	case LOC_GRUB_FILE:
		return grubenv_read_file(b->path, ret, &b->why);
	case LOC_GRUB_AT:
		fd = open(b->path, O_RDONLY | O_CLOEXEC);
		if (fd < 0)
			return b->why = "cannot open the device", -errno;
		return grubenv_read_at(fd, b->offset, ret, &b->why);
	case LOC_UBOOT:
		return ubootenv_read(&b->uboot, ret, NULL, &b->why);
	}
	return -EINVAL;
}

int bootctl_load(struct bootctl *b, struct bootctl_state *ret)
{
	struct bootenv e = {};
	struct bootctl_state s;
	int r;

	b->why = NULL;
	r = read_env(b, &e);
	if (r < 0)
		return r;
	r = bootctl_state_from_env(b->backend, &e, &s, &b->why);
	if (r < 0) {
		bootenv_clear(&e);
		return r;
	}
	bootenv_clear(&b->env);
	b->env = e;
	b->loaded = true;
	*ret = s;
	return 0;
}

int bootctl_store(struct bootctl *b, const struct bootctl_state *s)
{
	struct bootenv e = {};
	_cleanup_close_ int fd = -1;
	int r;

	b->why = NULL;
	if (!b->loaded)
		return -ESTALE;
	r = bootenv_copy(&b->env, &e);
	if (r < 0)
		return r;
	r = bootctl_state_to_env(b->backend, s, &e);
	if (r < 0)
		goto out;
	switch (b->loc) {
	case LOC_GRUB_FILE:
		r = grubenv_write_file(b->path, &e);
		break;
	case LOC_GRUB_AT:
		fd = open(b->path, O_RDWR | O_CLOEXEC);
		r = fd < 0 ? -errno : grubenv_write_at(fd, b->offset, &e);
		break;
	case LOC_UBOOT:
		r = ubootenv_write(&b->uboot, &e, &b->why);
		break;
	}
	if (r == -E2BIG && b->loc != LOC_UBOOT)
		b->why = "the environment would not fit in the first 512-byte sector of grubenv";
	else if (r < 0 && !b->why)
		b->why = "cannot write the environment";
	if (r >= 0) {
		bootenv_clear(&b->env);
		b->env = e;
		return 0;
	}
out:
	bootenv_clear(&e);
	return r;
}

enum op { OP_TRY, OP_INVALIDATE, OP_GOOD, OP_BAD, OP_PRIMARY };

/* The lock that serializes read-modify-write cycles (the installer's
 * invalidate against a mark-good at boot, say). U-Boot: fw_setenv's own
 * lock file, so we also wait for it. GRUB: a lock file of ours; not the
 * disk or the file itself, which callers may hold locks on (the installer
 * flocks a disk image), and a second flock from the same process would
 * wait for ever. Returns an fd, -1 when there is nowhere to lock (no
 * /var/lock in an initramfs), or a negative errno. */
static int lock_env(const struct bootctl *b)
{
	_cleanup_close_ int fd = -1;

	fd = open(b->loc == LOC_UBOOT ? BOOTCTL_UBOOT_LOCK : BOOTCTL_GRUB_LOCK, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
	if (fd < 0)
		return errno == ENOENT || errno == EROFS || errno == EACCES ? -1 : -errno;
	if (flock(fd, LOCK_EX) < 0)
		return -errno;
	return TAKE_FD(fd);
}

static int apply(struct bootctl *b, enum op op, int slot, unsigned attempts, uint64_t version)
{
	_cleanup_close_ int lock = -1;
	struct bootctl_state s;
	int r;

	lock = lock_env(b);
	if (lock < -1) {
		b->why = "cannot lock the environment";
		return lock;
	}
	r = bootctl_load(b, &s);
	if (r < 0)
		return r;
	switch (op) {
	case OP_TRY: r = bootctl_state_try(&s, slot, attempts); break;
	case OP_INVALIDATE: r = bootctl_state_invalidate(&s, slot); break;
	case OP_GOOD: r = bootctl_state_mark_good(&s, slot, attempts, version); break;
	case OP_BAD: r = bootctl_state_mark_bad(&s, slot); break;
	case OP_PRIMARY: r = bootctl_state_set_primary(&s, slot, attempts); break;
	}
	if (r == -EBUSY)
		b->why = "that would leave no slot to boot: it is the last confirmed one, or the other has no attempts left";
	if (r < 0)
		return r;
	return bootctl_store(b, &s);
}

int bootctl_try(struct bootctl *b, int slot, unsigned attempts) { return apply(b, OP_TRY, slot, attempts, 0); }
int bootctl_invalidate(struct bootctl *b, int slot) { return apply(b, OP_INVALIDATE, slot, 0, 0); }
int bootctl_mark_good(struct bootctl *b, int booted, unsigned attempts, uint64_t version)
{
	return apply(b, OP_GOOD, booted, attempts, version);
}
int bootctl_mark_bad(struct bootctl *b, int slot) { return apply(b, OP_BAD, slot, 0, 0); }
int bootctl_set_primary(struct bootctl *b, int slot, unsigned attempts)
{
	return apply(b, OP_PRIMARY, slot, attempts, 0);
}

int bootctl_booted_slot(const char *cmdline_path, int *ret_slot)
{
	_cleanup_free_ uint8_t *data = NULL;
	const char *val = NULL;
	size_t len, vlen = 0;
	int r;

	r = read_file_bounded(cmdline_path ? cmdline_path : "/proc/cmdline", 64 * 1024, &data, &len);
	if (r < 0)
		return r;
	/* the last rootfs.slot= wins, as with other kernel parameters */
	for (char *p = (char *)data; *p; ) {
		size_t n;
		while (*p == ' ' || *p == '\t' || *p == '\n')
			p++;
		n = strcspn(p, " \t\n");
		if (n >= 12 && strncmp(p, "rootfs.slot=", 12) == 0) {
			val = p + 12;
			vlen = n - 12;
		}
		p += n;
	}
	if (!val)
		return -ENOENT;
	if (vlen != 1 || (val[0] != 'a' && val[0] != 'b'))
		return -EBADMSG;
	*ret_slot = val[0] == 'a' ? 0 : 1;
	return 0;
}

/* image_disk: a bootable GPT A/B disk image built on files only (no root,
 * no loop devices, no mounting). Partitioning, FAT, ext4 and GRUB come from
 * their own tools; the slots are written by slot_write, the installer's
 * code, so the disk holds exactly what an installation would leave. */
#include "images/images.h"
#include "common/macro.h"
#include "common/util.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <inttypes.h>
#include <libgen.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define MiB (1ULL << 20)
#define SECTOR 512

extern char **environ;

static int fail(const char **ret_err, const char *msg, int r)
{
	if (ret_err)
		*ret_err = msg;
	return r;
}

int image_disk_layout(const struct image_disk_opts *o, struct image_disk_layout *ret)
{
	struct image_disk_layout l = { .esp_offset = MiB };
	uint64_t esp, slot, data, end;
	int r;

	/* Everything 1 MiB aligned: good for any erase block and 4K sector. */
	if ((r = u64_align(o->esp_size, MiB, &esp)) < 0 || (r = u64_align(o->slot_size, MiB, &slot)) < 0 ||
	    (r = u64_align(o->data_size, MiB, &data)) < 0)
		return r;
	if (esp == 0 || slot == 0 || data == 0)
		return -EINVAL;
	if ((r = u64_add(l.esp_offset, esp, &l.slot_a_offset)) < 0 ||
	    (r = u64_add(l.slot_a_offset, slot, &l.slot_b_offset)) < 0 ||
	    (r = u64_add(l.slot_b_offset, slot, &l.data_offset)) < 0 ||
	    (r = u64_add(l.data_offset, data, &end)) < 0 ||
	    (r = u64_add(end, MiB, &l.disk_size)) < 0) /* room for the backup GPT */
		return r;
	*ret = l;
	return 0;
}

/* Runs argv with stdout and stderr discarded; 0 when it exits 0. */
static int run(char *const argv[])
{
	posix_spawn_file_actions_t fa;
	pid_t pid;
	int st, r;

	if (posix_spawn_file_actions_init(&fa) != 0)
		return -ENOMEM;
	posix_spawn_file_actions_addopen(&fa, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
	posix_spawn_file_actions_addopen(&fa, STDOUT_FILENO, "/dev/null", O_WRONLY, 0);
	posix_spawn_file_actions_addopen(&fa, STDERR_FILENO, "/dev/null", O_WRONLY, 0);
	r = posix_spawnp(&pid, argv[0], &fa, NULL, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	if (r != 0)
		return -r;
	while (waitpid(pid, &st, 0) < 0)
		if (errno != EINTR)
			return -errno;
	return WIFEXITED(st) && WEXITSTATUS(st) == 0 ? 0 : -ECHILD;
}

/* run() with a printf-built argument list, split on \x1f (never in paths
 * we create; labels and values are checked). */
static int runf(const char *fmt, ...)
{
	_cleanup_free_ char *line = NULL;
	char *argv[64], *save = NULL, *tok;
	size_t n = 0;
	va_list ap;
	int r;

	va_start(ap, fmt);
	r = vasprintf(&line, fmt, ap);
	va_end(ap);
	if (r < 0) {
		line = NULL;
		return -ENOMEM;
	}
	for (tok = strtok_r(line, "\x1f", &save); tok && n < ARRAY_SIZE(argv) - 1; tok = strtok_r(NULL, "\x1f", &save))
		argv[n++] = tok;
	argv[n] = NULL;
	return run(argv);
}

#define S "\x1f"

static int rm_entry(const char *p, const struct stat *st, int flag, struct FTW *f)
{
	return remove(p) < 0 ? -1 : 0;
}

static void workdir_done(char **d)
{
	if (*d) {
		nftw(*d, rm_entry, 8, FTW_DEPTH | FTW_PHYS);
		free(*d);
	}
}

struct fd_reader {
	int fd;
};
static ssize_t fd_read(void *userdata, void *buf, size_t len)
{
	struct fd_reader *rd = userdata;
	ssize_t n;

	do
		n = read(rd->fd, buf, len);
	while (n < 0 && errno == EINTR);
	return n < 0 ? -errno : n;
}

/* One slot, as the installer does it: head checked, footer erased, then
 * slot_write streams, verifies and writes the footer last. */
static int write_slot(const char *update, const struct verity_keyring *kr, int disk, uint64_t off,
                      uint64_t size, const struct manifest *slot_a, struct manifest *ret, const char **ret_err)
{
	_cleanup_(signed_manifest_clear) struct signed_manifest sm = { 0 };
	_cleanup_close_ int fd = -1;
	struct slot_layout layout;
	struct slot_target t = { .fd = disk, .offset = off, .size = size };
	struct update_header h;
	struct fd_reader rd;
	bool is_a = !slot_a;
	int r;

	fd = open(update, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return fail(ret_err, is_a ? "cannot open the slot A update" : "cannot open the slot B update", -errno);
	r = update_read_head(fd, kr, &h, &sm, ret_err);
	if (r < 0)
		return r;
	/* One device, one product; and B below A's floor could never boot. */
	if (slot_a && strcmp(slot_a->compatible, sm.m.compatible) != 0)
		return fail(ret_err, "slot B update is for another product (compatible) than slot A", -EINVAL);
	if (slot_a && sm.m.version < slot_a->version)
		return fail(ret_err, "slot B update is older than slot A (below the anti-downgrade floor)", -EINVAL);
	r = slot_layout_compute(&sm.m, size, &layout);
	if (r < 0)
		return fail(ret_err, is_a ? "slot A update does not fit in --slot-size"
					  : "slot B update does not fit in --slot-size", -ENOSPC);
	r = footer_erase(disk, off, size);
	if (r < 0)
		return fail(ret_err, "cannot write the disk image", r);
	rd.fd = fd;
	r = slot_write(&sm, fd_read, &rd, &t, NULL, NULL);
	if (r < 0)
		return fail(ret_err, r == -EBADMSG || r == -EPROTO
			    ? (is_a ? "slot A payload does not match its manifest" : "slot B payload does not match its manifest")
			    : (is_a ? "cannot write slot A" : "cannot write slot B"), r);
	*ret = sm.m;
	return 0;
}

static bool label_ok(const char *l)
{
	size_t n = strlen(l);

	if (n == 0 || n > 36)
		return false;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)l[i] <= 0x20 || l[i] == ':' || l[i] == '\x7f')
			return false;
	return true;
}

static int make_esp(const struct image_disk_opts *o, const char *work, uint64_t size, uint64_t version_a,
                    const char **ret_err)
{
	_cleanup_free_ char *esp = NULL;
	_cleanup_close_ int fd = -1;
	int r;

	if (asprintf(&esp, "%s/esp.img", work) < 0)
		return fail(ret_err, "out of memory", -ENOMEM);
	fd = open(esp, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0 || ftruncate(fd, (off_t)size) < 0)
		return fail(ret_err, "cannot create the ESP image", -errno);
	if (runf("mkfs.vfat" S "-n" S "ESP" S "%s", esp) < 0)
		return fail(ret_err, "mkfs.vfat failed on the ESP image", -ECHILD);
	if (runf("mmd" S "-i" S "%s" S "::/EFI" S "::/EFI/BOOT", esp) < 0)
		return fail(ret_err, "mmd failed on the ESP image", -ECHILD);
	if (o->bootloader != IMAGE_BOOT_GRUB)
		return 0;

	r = runf("grub-mkimage" S "-O" S "x86_64-efi" S "-p" S "/EFI/BOOT" S "-o" S "%s/BOOTX64.EFI" S
		 "part_gpt" S "fat" S "ext2" S "squash4" S "normal" S "linux" S "loadenv" S "test" S "echo" S
		 "configfile" S "halt" S "reboot" S "sleep" S "search" S "regexp", work);
	if (r < 0)
		return fail(ret_err, "grub-mkimage failed (is grub-efi-amd64-bin installed?)", -ECHILD);
	/* Boot A; B has attempts only once it holds an image. The content
	 * stays far below 512 bytes (one sector: save_env is power-safe). */
	if (runf("grub-editenv" S "%s/grubenv" S "create", work) < 0 ||
	    runf("grub-editenv" S "%s/grubenv" S "set" S "ORDER=A B" S "A_LEFT=3" S "B_LEFT=%d" S
		 "ROOTFS_GOOD=A" S "ROOTFS_FLOOR=%" PRIu64, work, o->slot_b ? 3 : 0, version_a) < 0)
		return fail(ret_err, "grub-editenv failed", -ECHILD);
	if (runf("mcopy" S "-i" S "%s" S "%s/BOOTX64.EFI" S "::/EFI/BOOT/BOOTX64.EFI", esp, work) < 0 ||
	    runf("mcopy" S "-i" S "%s" S "%s" S "::/EFI/BOOT/grub.cfg", esp, o->grub_cfg) < 0 ||
	    runf("mcopy" S "-i" S "%s" S "%s/grubenv" S "::/EFI/BOOT/grubenv", esp, work) < 0)
		return fail(ret_err, "mcopy failed on the ESP image", -ECHILD);
	return 0;
}

/* Copies the whole of src into dst at off. */
static int copy_into(const char *src, int dst, uint64_t off)
{
	_cleanup_close_ int fd = open(src, O_RDONLY | O_CLOEXEC);
	uint64_t size;
	loff_t in = 0, out = (loff_t)off;
	int r;

	if (fd < 0)
		return -errno;
	r = fd_get_size(fd, &size);
	if (r < 0)
		return r;
	while (size > 0) {
		ssize_t n = copy_file_range(fd, &in, dst, &out, size, 0);
		if (n < 0)
			return -errno;
		if (n == 0)
			return -EIO;
		size -= (uint64_t)n;
	}
	return 0;
}

int image_disk(const struct image_disk_opts *o, const char **ret_err)
{
	_cleanup_(workdir_done) char *work = NULL;
	_cleanup_free_ char *tmp = NULL, *esp = NULL, *dcopy = NULL;
	_cleanup_close_ int disk = -1, dfd = -1;
	struct image_disk_layout l;
	struct manifest ma, mb;
	uint64_t sec;
	bool renamed = false;
	int r;

	if (!o->output || !o->slot_a)
		return fail(ret_err, "missing -o or --slot-a", -EINVAL);
	for (size_t i = 0; i < 4; i++)
		if (!o->labels[i] || !label_ok(o->labels[i]))
			return fail(ret_err, "bad partition label (1..36 characters, no spaces or ':')", -EINVAL);
	if (o->bootloader == IMAGE_BOOT_GRUB && !o->grub_cfg)
		return fail(ret_err, "no grub.cfg given", -EINVAL);
	r = image_disk_layout(o, &l);
	if (r < 0)
		return fail(ret_err, "bad partition sizes", r);
	if (o->esp_size < 8 * MiB)
		return fail(ret_err, "--esp-size must be at least 8M", -EINVAL);

	work = strdup("/tmp/rootfs-image-disk.XXXXXX");
	if (!work || !mkdtemp(work))
		return fail(ret_err, "cannot create a temporary directory", work ? -errno : -ENOMEM);
	if (asprintf(&tmp, "%s.tmpXXXXXX", o->output) < 0)
		return fail(ret_err, "out of memory", -ENOMEM);
	disk = mkostemp(tmp, O_CLOEXEC);
	if (disk < 0) {
		free(tmp);
		tmp = NULL;
		return fail(ret_err, "cannot create the disk image", -errno);
	}
	if (ftruncate(disk, (off_t)l.disk_size) < 0) {
		r = fail(ret_err, "cannot size the disk image", -errno);
		goto out;
	}

	sec = SECTOR;
	r = runf("sgdisk" S "-o" S
		 "-n" S "1:%" PRIu64 ":%" PRIu64 S "-t" S "1:ef00" S "-c" S "1:%s" S
		 "-n" S "2:%" PRIu64 ":%" PRIu64 S "-t" S "2:8304" S "-c" S "2:%s" S
		 "-n" S "3:%" PRIu64 ":%" PRIu64 S "-t" S "3:8304" S "-c" S "3:%s" S
		 "-n" S "4:%" PRIu64 ":%" PRIu64 S "-t" S "4:8300" S "-c" S "4:%s" S "%s",
		 l.esp_offset / sec, l.slot_a_offset / sec - 1, o->labels[0],
		 l.slot_a_offset / sec, l.slot_b_offset / sec - 1, o->labels[1],
		 l.slot_b_offset / sec, l.data_offset / sec - 1, o->labels[2],
		 l.data_offset / sec, (l.disk_size - MiB) / sec - 1, o->labels[3], tmp);
	if (r < 0) {
		r = fail(ret_err, "sgdisk failed to partition the disk image", r);
		goto out;
	}

	r = write_slot(o->slot_a, o->kr, disk, l.slot_a_offset, l.slot_b_offset - l.slot_a_offset, NULL,
		       &ma, ret_err);
	if (r < 0)
		goto out;
	if (o->slot_b) {
		r = write_slot(o->slot_b, o->kr, disk, l.slot_b_offset, l.data_offset - l.slot_b_offset, &ma,
			       &mb, ret_err);
		if (r < 0)
			goto out;
	}

	r = runf("mkfs.ext4" S "-q" S "-F" S "-L" S "%s" S "-E" S "offset=%" PRIu64 ",nodiscard" S "%s" S
		 "%" PRIu64 "k", o->labels[3], l.data_offset, tmp, (l.disk_size - MiB - l.data_offset) / 1024);
	if (r < 0) {
		r = fail(ret_err, "mkfs.ext4 failed on the data partition", r);
		goto out;
	}

	r = make_esp(o, work, l.slot_a_offset - l.esp_offset, ma.version, ret_err);
	if (r < 0)
		goto out;
	if (asprintf(&esp, "%s/esp.img", work) < 0) {
		esp = NULL;
		r = fail(ret_err, "out of memory", -ENOMEM);
		goto out;
	}
	r = copy_into(esp, disk, l.esp_offset);
	if (r < 0) {
		r = fail(ret_err, "cannot copy the ESP into the disk image", r);
		goto out;
	}

	if (fchmod(disk, 0644) < 0 || fsync(disk) < 0) {
		r = fail(ret_err, "cannot write the disk image", -errno);
		goto out;
	}
	if (rename(tmp, o->output) < 0) {
		r = fail(ret_err, "cannot rename the disk image into place", -errno);
		goto out;
	}
	renamed = true;
	dcopy = strdup(o->output);
	if (dcopy && (dfd = open(dirname(dcopy), O_RDONLY | O_DIRECTORY | O_CLOEXEC)) >= 0)
		(void)fsync(dfd);
	r = 0;
out:
	if (!renamed)
		unlink(tmp);
	return r;
}

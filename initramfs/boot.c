#include "initramfs/initramfs.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <libcryptsetup.h>
#include <linux/magic.h>
#include <linux/watchdog.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "common/macro.h"

static int mount_one(const char *what, const char *where, const char *type, unsigned long flags,
                     const char *opts)
{
	if (mkdir(where, 0755) < 0 && errno != EEXIST)
		return -errno;
	if (mount(what, where, type, flags, opts) < 0 && errno != EBUSY)
		return -errno;
	return 0;
}

int init_mount_early(void)
{
	int r;

	r = mount_one("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL);
	if (r >= 0)
		r = mount_one("sysfs", "/sys", "sysfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL);
	if (r >= 0)
		r = mount_one("devtmpfs", "/dev", "devtmpfs", MS_NOSUID, "mode=0755");
	/* libdevmapper and libcryptsetup keep lock files and nodes under /run. */
	if (r >= 0)
		r = mount_one("tmpfs", "/run", "tmpfs", MS_NOSUID | MS_NODEV, "mode=0755");
	return r;
}

static char failed_module[INIT_PATH_MAX];

static int load_one(const char *path, void *userdata)
{
	_cleanup_close_ int fd = -1;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		goto fail;
	if (syscall(SYS_finit_module, fd, "", 0) == 0 || errno == EEXIST || errno == ENODEV)
		return 0;
fail:
	snprintf(failed_module, sizeof(failed_module), "%s", path);
	return -errno;
}

int init_load_modules(const char *text, size_t len, const char **ret_failed)
{
	int r = init_modules_foreach(text, len, load_one, NULL);

	if (r < 0 && ret_failed)
		*ret_failed = failed_module;
	return r < 0 ? r : 0;
}

int init_watchdog_arm(uint32_t timeout_s)
{
	int fd, t = (int)timeout_s;

	fd = open("/dev/watchdog", O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (ioctl(fd, WDIOC_SETTIMEOUT, &t) < 0 || ioctl(fd, WDIOC_KEEPALIVE, 0) < 0) {
		int r = -errno;
		close(fd);
		return r;
	}
	return 0; /* fd stays open on purpose, see the header */
}

static char cs_last_error[256];

static void cs_log(int level, const char *msg, void *usrptr)
{
	size_t n;

	if (level != CRYPT_LOG_ERROR)
		return;
	snprintf(cs_last_error, sizeof(cs_last_error), "%s", msg);
	n = strlen(cs_last_error);
	while (n > 0 && cs_last_error[n - 1] == '\n')
		cs_last_error[--n] = '\0';
}

static void crypt_freep(struct crypt_device **cd) { if (*cd) crypt_free(*cd); }

int init_verity_activate(const char *dev, const char *name, const struct manifest *m,
                         const uint8_t *roothash_sig, size_t roothash_sig_len, uint32_t flags,
                         int *ret_sig_result, const char **ret_detail)
{
	_cleanup_(crypt_freep) struct crypt_device *cd = NULL;
	struct crypt_params_verity p = {
		.hash_name = m->verity.hash_name,
		.data_device = dev,
		.salt = (const char *)m->verity.salt,
		.salt_size = m->verity.salt_size,
		.hash_type = 1,
		.data_block_size = m->verity.data_block_size,
		.hash_block_size = m->verity.hash_block_size,
		.data_size = m->verity.data_blocks,
		.hash_area_offset = m->verity.hash_offset,
		.flags = CRYPT_VERITY_NO_HEADER,
	};
	int sig_result = -ENOKEY;
	int r;

	cs_last_error[0] = '\0';
	crypt_set_log_callback(NULL, cs_log, NULL);
	r = crypt_init_data_device(&cd, dev, dev);
	/* Without a superblock the parameters come from the signed manifest:
	 * crypt_load refuses CRYPT_VERITY_NO_HEADER, crypt_format takes it and
	 * (without CRYPT_VERITY_CREATE_HASH) writes nothing, as veritysetup
	 * open --no-superblock does. */
	if (r >= 0)
		r = crypt_format(cd, CRYPT_VERITY, NULL, NULL, NULL, NULL, 0, &p);
	if (r >= 0 && roothash_sig && roothash_sig_len > 0) {
		r = crypt_activate_by_signed_key(cd, name, (const char *)m->root_hash, m->root_hash_size,
		                                 (const char *)roothash_sig, roothash_sig_len, flags);
		/* Debian's kernel trusts Debian's keys only: the signature was
		 * already checked against the initramfs keyring, so the root hash
		 * alone is as good as the kernel check, only done in userspace. */
		sig_result = r;
		if (r < 0) {
			cs_last_error[0] = '\0';
			r = crypt_activate_by_volume_key(cd, name, (const char *)m->root_hash,
			                                 m->root_hash_size, flags);
		}
	} else if (r >= 0)
		r = crypt_activate_by_volume_key(cd, name, (const char *)m->root_hash, m->root_hash_size, flags);
	crypt_set_log_callback(NULL, NULL, NULL);
	if (r < 0) {
		if (ret_detail)
			*ret_detail = cs_last_error;
		return r;
	}
	if (ret_sig_result)
		*ret_sig_result = sig_result;
	return 0;
}

/* Deletes everything below dfd that is on device dev, as switch_root(8)
 * does, so the initramfs memory is freed. Errors are ignored: a file
 * that stays only costs memory. */
static void remove_tree(int dfd, dev_t dev)
{
	DIR *d = fdopendir(dfd);
	struct dirent *e;

	if (!d) {
		close(dfd);
		return;
	}
	while ((e = readdir(d))) {
		struct stat st;

		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
			continue;
		if (fstatat(dirfd(d), e->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0 || st.st_dev != dev)
			continue;
		if (S_ISDIR(st.st_mode)) {
			int sub = openat(dirfd(d), e->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);

			if (sub >= 0)
				remove_tree(sub, dev);
			(void)unlinkat(dirfd(d), e->d_name, AT_REMOVEDIR);
		} else
			(void)unlinkat(dirfd(d), e->d_name, 0);
	}
	closedir(d);
}

int init_switch_root(const char *dir, const char *init)
{
	static const char *const moves[] = { "/proc", "/sys", "/dev", "/run" };
	char *const argv[] = { (char *)init, NULL };
	struct statfs sfs;
	struct stat root, nr;
	int fd;

	if (statfs("/", &sfs) < 0 || stat("/", &root) < 0 || stat(dir, &nr) < 0)
		return -errno;
	/* Only an initramfs may be emptied; and dir must be a mount of its own. */
	if ((sfs.f_type != RAMFS_MAGIC && sfs.f_type != TMPFS_MAGIC) || nr.st_dev == root.st_dev)
		return -EXDEV;

	for (size_t i = 0; i < ARRAY_SIZE(moves); i++) {
		char target[INIT_PATH_MAX * 2];
		struct stat st;

		snprintf(target, sizeof(target), "%s%s", dir, moves[i]);
		if (stat(target, &st) == 0 && S_ISDIR(st.st_mode)) {
			if (mount(moves[i], target, NULL, MS_MOVE, NULL) < 0)
				return -errno;
		} else
			(void)umount2(moves[i], MNT_DETACH);
	}

	if (chdir(dir) < 0)
		return -errno;
	fd = open("/", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd >= 0)
		remove_tree(fd, root.st_dev);
	if (mount(".", "/", NULL, MS_MOVE, NULL) < 0 || chroot(".") < 0 || chdir("/") < 0)
		return -errno;
	execv(init, argv);
	return -errno;
}

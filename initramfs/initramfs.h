/* initramfs: the pieces of rootfs-init, the initramfs /init that verifies
 * one slot against the keys built into the initramfs, opens it through
 * dm-verity and switches root into it.
 *
 * config.c holds the pure parts (kernel command line and init.conf
 * parsing, the accept/refuse decisions) so they can be unit-tested;
 * boot.c the side effects (mounts, modules, activation, switch_root).
 *
 * Conventions: every int function returns 0 (or a documented
 * non-negative value) or a negative errno; ret_ parameters are written
 * only on success; nothing here prints. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "verity/verity.h"

/* Files the initramfs carries (mkinitramfs writes them). */
#define INIT_KEYRING_DEFAULT   "/etc/rootfs/keyring.pem"
#define INIT_COMPATIBLE_FILE   "/etc/rootfs/compatible"
#define INIT_FLOOR_FILE        "/etc/rootfs/floor"
#define INIT_CONF_FILE         "/etc/rootfs/init.conf"
#define INIT_MODULES_FILE      "/etc/rootfs/modules"

#define INIT_PATH_MAX 256
#define INIT_TIMEOUT_DEFAULT_S 10
#define INIT_TIMEOUT_MAX_S 3600
#define INIT_WATCHDOG_MAX_S 65535

enum init_verity_mode { INIT_VERITY_RESTART, INIT_VERITY_PANIC, INIT_VERITY_IGNORE };
enum init_on_fail { INIT_FAIL_REBOOT, INIT_FAIL_POWEROFF };

/* Everything rootfs-init can be told. Command-line key rootfs.K=V, the
 * same K=V in init.conf; see initramfs/README.md for each. */
struct init_config {
	char slot;                      /* 'a' or 'b'; 0 = not given */
	char disk[INIT_PATH_MAX];       /* whole disk to search, "" = any */
	char keyring[INIT_PATH_MAX];    /* file or directory in the initramfs */
	enum init_verity_mode verity;
	bool debug;
	bool last_resort;                /* the bootloader has no slot with attempts left */
	enum init_on_fail on_fail;
	uint64_t floor;                 /* highest floor seen (never lowered) */
	uint32_t timeout_s;             /* wait for the partition */
	char data[INIT_PATH_MAX];       /* where to mount the data partition, "" = not */
	uint32_t watchdog_s;            /* 0 = leave /dev/watchdog alone */
	char init[INIT_PATH_MAX];       /* the slot's init */
};

/* Defaults: no slot, any disk, INIT_KEYRING_DEFAULT, restart, reboot,
 * floor 0, 10 s, no data, no watchdog, /sbin/init. */
void init_config_default(struct init_config *c);

/* Applies the rootfs.* parameters of a kernel command line (quoting as
 * the kernel does it: double quotes group, and are dropped; a bare "--"
 * ends the kernel's parameters). Other parameters are ignored; an unknown rootfs.* key or a bad value is
 * -EINVAL with ret_err (may be NULL) naming it. c may be partly updated
 * on failure (rootfs-init refuses to boot then anyway). */
int init_config_parse_cmdline(struct init_config *c, const char *cmdline, const char **ret_err);

/* Applies init.conf text: "key=value" lines with the same keys without
 * the "rootfs." prefix, '#' comments and blank lines allowed. Errors as
 * init_config_parse_cmdline. */
int init_config_parse_conf(struct init_config *c, const char *text, size_t len, const char **ret_err);

/* Applies one key (without "rootfs.") and value (NULL for a bare flag).
 * The floor only ever rises: it is max(old, new). */
int init_config_set(struct init_config *c, const char *key, const char *value, const char **ret_err);

/* Upper-case slot letter for messages ('?' when none). */
char init_slot_name(const struct init_config *c);

/* The checks after the signature verified: -EMEDIUMTYPE when
 * m->compatible differs from compatible, -ESTALE when m->version is below
 * floor, -EPROTONOSUPPORT for an fstype other than ext4, squashfs, erofs. */
int init_manifest_check(const struct manifest *m, const char *compatible, uint64_t floor);

/* The kernel's node name of partition partno of disk: "/dev/vda" 2 ->
 * "/dev/vda2", "/dev/mmcblk0" 2 -> "/dev/mmcblk0p2" (a 'p' when the disk
 * name ends in a digit). -EINVAL for an empty disk or partno 0,
 * -ENAMETOOLONG when it does not fit size. */
int init_partition_node(const char *disk, unsigned partno, char *buf, size_t size);

/* libcryptsetup activation flags for a mode (always read-only). */
uint32_t init_verity_flags(enum init_verity_mode mode);

/* Parses the text of a modules list (one path a line, '#' comments) by
 * calling fn for each path in order; stops at and returns fn's first
 * negative return. Returns the number of paths. */
int init_modules_foreach(const char *text, size_t len, int (*fn)(const char *path, void *userdata),
                         void *userdata);

/* ------------------------------------------------------------------ */
/* boot.c: side effects, for rootfs-init only                           */

/* Mounts proc, sysfs, devtmpfs and a tmpfs on /run (EBUSY = already
 * mounted is fine, for the initramfs-tools/dracut hook mode). */
int init_mount_early(void);

/* Loads each module of the list with finit_module(2), in order. A module
 * that is already loaded or finds no hardware (EEXIST, ENODEV) is skipped.
 * On failure ret_failed (may be NULL) gets a pointer to a static copy of
 * the path that failed. */
int init_load_modules(const char *text, size_t len, const char **ret_failed);

/* Arms /dev/watchdog with timeout_s. The descriptor is deliberately
 * leaked with O_CLOEXEC: closing it at exec without the magic 'V' leaves
 * the watchdog running for the slot's init to take over. */
int init_watchdog_arm(uint32_t timeout_s);

/* Verity activation of a slot partition (data and tree on dev) as
 * /dev/mapper/name with the signed parameters of m. Tries
 * crypt_activate_by_signed_key with roothash_sig first; when that fails
 * (a kernel whose keyrings do not hold the signer refuses it), activates
 * by root hash, which rootfs-init has checked against its own keyring.
 * *ret_sig_result (may be NULL) gets 0 when the kernel checked the
 * signature, else the signed attempt's negative errno (-ENOKEY without a
 * signature). ret_detail (may be NULL) gets libcryptsetup's last error
 * line (static buffer) on failure. */
int init_verity_activate(const char *dev, const char *name, const struct manifest *m,
                         const uint8_t *roothash_sig, size_t roothash_sig_len, uint32_t flags,
                         int *ret_sig_result, const char **ret_detail);

/* Makes dir the new root as switch_root(8) does: deletes the initramfs
 * contents (without crossing into other file systems), moves /proc /sys
 * /dev /run below dir (detaching those dir has no mount point for), moves
 * dir onto /, chroots and execs init. Returns only on failure. */
int init_switch_root(const char *dir, const char *init);

/* bootctl: bootloader environments (U-Boot, GRUB), the A/B boot-counting
 * state kept in them, and slot discovery by GPT partition label.
 *
 * Conventions (cryptsetup lib/verity, systemd): every int function returns
 * 0 (or a documented non-negative value) on success and a negative errno on
 * failure; ret_ parameters are written only on success; nothing here logs.
 * Where a function takes `const char **ret_why`, it may be NULL; on failure
 * it is set to a static one-line reason ("bad CRC on both copies"), the one
 * output written on failure.
 *
 * Files: env.c (variable list), uboot.c (fw_env.config, U-Boot env format),
 * grubenv.c (GRUB environment block), fat.c (read-only FAT lookup), state.c
 * (state model and operations), discover.c (libblkid), config.c (INI),
 * bootctl.c (opened environment, kernel command line). docs/BOOT.md has
 * the variables, the boot scripts and the power-safety argument. */
#pragma once

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* ------------------------------------------------------------------ */
/* Slots                                                               */

#define BOOTCTL_NSLOTS 2
#define BOOTCTL_SLOT_NONE (-1)
/* Counters are one digit so that U-Boot's setexpr (hex) and GRUB's if/elif
 * chains (decimal) agree on every value. */
#define BOOTCTL_MAX_ATTEMPTS 9
#define BOOTCTL_DEFAULT_ATTEMPTS 3

/* Slot 0 is "A"/"a", slot 1 is "B"/"b". Accepts a, b, A, B. */
int bootctl_slot_parse(const char *s, int *ret_slot);
char bootctl_slot_upper(int slot); /* 'A' / 'B' */
char bootctl_slot_lower(int slot); /* 'a' / 'b' */

/* ------------------------------------------------------------------ */
/* Environment variables: an ordered name=value list                   */

/* Sanity limits only: real environments stay far below them. */
#define BOOTENV_MAX_NAME 256
#define BOOTENV_MAX_VALUE (1024 * 1024)

struct bootenv_var {
	char *name, *value;
};
struct bootenv {
	struct bootenv_var *vars;
	size_t n;
};

void bootenv_clear(struct bootenv *e); /* frees everything, leaves an empty list */
/* NULL when unset. */
const char *bootenv_get(const struct bootenv *e, const char *name);
/* Sets (replacing in place, else appending) or, with value NULL, removes.
 * -EINVAL for an empty name, or one with '=', '\n' or NUL issues. */
int bootenv_set(struct bootenv *e, const char *name, const char *value);
/* Deep copy into *ret (which must be cleared or empty). */
int bootenv_copy(const struct bootenv *e, struct bootenv *ret);

/* ------------------------------------------------------------------ */
/* U-Boot environment (fw_env.config, single or redundant copies)      */

/* Layout: u32 crc32 (little-endian), one flags byte when redundant, then
 * "name=value\0"... "\0", padded; the CRC covers the whole data area.
 *
 * Written here rather than through libubootenv 0.3.2 because that library
 * accepts a copy with a valid CRC and no terminator (libuboot_open returns
 * 0 and the next store rewrites it), does not say which copy is current,
 * and cannot report a configuration past the end of the device apart from a
 * bare -EIO. The interoperability tests check every file we write with
 * fw_printenv and read what fw_setenv and mkenvimage write. */

#define UBOOTENV_MAX_SIZE (1024 * 1024)

struct ubootenv_copy {
	char path[PATH_MAX];
	uint64_t offset, size;           /* size: whole copy, header included */
	uint64_t sector_size, sectors;   /* 0 when not given */
};
struct ubootenv_config {
	struct ubootenv_copy copy[2];
	unsigned ncopies;                /* 1 or 2 (redundant) */
};

/* Parses fw_env.config text: "device offset envsize [sectorsize [nsectors]]"
 * per line, numbers in hex (0x) or decimal, '#' comments. Both copies of a
 * redundant environment must have the same size. -EBADMSG on bad lines. */
int ubootenv_config_parse(const char *text, struct ubootenv_config *ret, const char **ret_why);
int ubootenv_config_load(const char *path, struct ubootenv_config *ret, const char **ret_why);

/* Reads the current copy. Errors (ret_why says which): -EBADMSG bad CRC on
 * every copy, no terminator, an entry without '=', a duplicate name;
 * -ENOSPC the configured area is past the end of the device. ret_current
 * (may be NULL) gets the index of the copy read. */
int ubootenv_read(const struct ubootenv_config *c, struct bootenv *ret, unsigned *ret_current,
                  const char **ret_why);
/* Writes env. Redundant: reads the current copy first (failing as
 * ubootenv_read does, before writing anything), then writes the whole other
 * copy with flags+1 and fsyncs it; only then is it current. Single: the
 * one copy is rewritten in place and fsynced (not power-safe: use a
 * redundant environment). -E2BIG when env does not fit. */
int ubootenv_write(const struct ubootenv_config *c, const struct bootenv *env, const char **ret_why);

/* Pure format helpers (the unit tests' power-cut simulation uses them).
 * ubootenv_format: builds one copy of size bytes (redundant: with flags). */
int ubootenv_format(const struct bootenv *env, bool redundant, uint8_t flags, uint8_t *buf, size_t size);
/* Parses one copy; -EBADMSG (ret_why) as ubootenv_read. ret_flags may be NULL. */
int ubootenv_parse(const uint8_t *buf, size_t size, bool redundant, struct bootenv *ret, uint8_t *ret_flags,
                   const char **ret_why);

/* ------------------------------------------------------------------ */
/* GRUB environment block                                              */

#define GRUBENV_SIZE 1024
#define GRUBENV_SECTOR 512
#define GRUBENV_SIGNATURE "# GRUB Environment Block\n"

/* "# GRUB Environment Block\n", then "name=value\n" lines (backslash
 * escapes '\\' and newline, as grub-editenv), '#' padding to 1024 bytes.
 * -EBADMSG: wrong size or signature, a line without '=', a duplicate name,
 * a NUL byte. */
int grubenv_parse(const uint8_t *buf, size_t len, struct bootenv *ret, const char **ret_why);
/* Formats into exactly GRUBENV_SIZE bytes. All content is kept within the
 * first GRUBENV_SECTOR bytes so that an in-place update changes one sector;
 * -E2BIG when it does not fit there. */
int grubenv_format(const struct bootenv *env, uint8_t buf[GRUBENV_SIZE]);

/* A file on a mounted filesystem: read; write = new file, fsync, rename,
 * fsync directory (GRUB finds the file by name, so a new inode is fine). */
int grubenv_read_file(const char *path, struct bootenv *ret, const char **ret_why);
int grubenv_write_file(const char *path, const struct bootenv *env);
/* A block inside a device or disk image (the ESP's grubenv file, found
 * with fat_lookup): read at offset; write in place, as GRUB's save_env
 * does, with an fsync. Only the first sector differs from the all-'#'
 * second sector, so when the block on disk already has that second sector
 * the write is a single-sector write (atomic on our devices); otherwise
 * the second sector is written and synced first. */
int grubenv_read_at(int fd, uint64_t offset, struct bootenv *ret, const char **ret_why);
int grubenv_write_at(int fd, uint64_t offset, const struct bootenv *env);

/* ------------------------------------------------------------------ */
/* Read-only FAT12/16/32 lookup                                        */

/* Finds path ("/EFI/BOOT/grubenv", 8.3 names matched case-insensitively;
 * long names are not needed for our paths) in the FAT filesystem at
 * [part_offset, part_offset + part_size) of fd. ret_offset/ret_size get the
 * file's byte extent in fd. -ENOENT not found, -EBADMSG not a FAT
 * filesystem or damaged, -EXDEV when the file is not contiguous (we
 * write it in place, so it must be one extent). */
int fat_lookup(int fd, uint64_t part_offset, uint64_t part_size, const char *path,
               uint64_t *ret_offset, uint64_t *ret_size);

/* ------------------------------------------------------------------ */
/* State model                                                         */

enum bootctl_backend {
	BOOTCTL_BACKEND_NONE,
	BOOTCTL_BACKEND_GRUB,  /* ORDER, A_LEFT, B_LEFT (decimal) */
	BOOTCTL_BACKEND_UBOOT, /* BOOT_ORDER, BOOT_A_LEFT, BOOT_B_LEFT (hex, as setexpr) */
};

/* Both backends also keep ROOTFS_GOOD (A or B: the last confirmed slot,
 * booted when no slot has attempts left) and ROOTFS_FLOOR (decimal: the
 * lowest version allowed to boot). Unset variables read as: empty order,
 * 0 attempts, no good slot, floor 0. */
struct bootctl_state {
	int order[BOOTCTL_NSLOTS];       /* slots, first = tried first */
	unsigned norder;
	unsigned left[BOOTCTL_NSLOTS];   /* attempts left */
	int good;                        /* BOOTCTL_SLOT_NONE or a slot */
	uint64_t floor;
};

/* -EBADMSG (ret_why): an order entry other than A or B or a repeated one,
 * a counter that is not a number or above BOOTCTL_MAX_ATTEMPTS, a bad
 * ROOTFS_GOOD or ROOTFS_FLOOR. */
int bootctl_state_from_env(enum bootctl_backend be, const struct bootenv *env, struct bootctl_state *ret,
                           const char **ret_why);
/* Updates the state's variables in env, keeping every other variable. */
int bootctl_state_to_env(enum bootctl_backend be, const struct bootctl_state *s, struct bootenv *env);

bool bootctl_state_in_order(const struct bootctl_state *s, int slot);
/* Would the boot script ever boot slot (attempts left and in the order, or
 * the good slot)? */
bool bootctl_state_bootable(const struct bootctl_state *s, int slot);

/* The operations, on a state in memory (bootctl_apply writes them):
 * try: slot first in the order with `attempts` left; good unchanged.
 * invalidate: slot's counter 0 and out of the order (before an install).
 * mark_good: booted slot's counter = attempts, first in the order, good =
 *   it, floor = max(floor, version).
 * mark_bad: counter 0 (it stays in the order).
 *   invalidate and mark_bad fail with -EBUSY for the good slot (the
 *   fallback of last resort: confirm the other one first), and when the
 *   other slot would not be bootable.
 * set_primary: first in the order with `attempts` left (a manual choice,
 *   not a confirmation: good and floor unchanged).
 * -EINVAL for a bad slot or attempts outside 1..BOOTCTL_MAX_ATTEMPTS. */
int bootctl_state_try(struct bootctl_state *s, int slot, unsigned attempts);
int bootctl_state_invalidate(struct bootctl_state *s, int slot);
int bootctl_state_mark_good(struct bootctl_state *s, int booted, unsigned attempts, uint64_t version);
int bootctl_state_mark_bad(struct bootctl_state *s, int slot);
int bootctl_state_set_primary(struct bootctl_state *s, int slot, unsigned attempts);

/* What the boot scripts do at each boot: the first slot in the order with
 * attempts left is booted and its counter decremented; with none left, the
 * good slot is booted (slot A when none is good) and nothing changes.
 * Returns the slot; *ret_counted (may be NULL) says whether a counter was
 * spent. Used to simulate boots in tests and documented in BOOT.md. */
int bootctl_state_boot(struct bootctl_state *s, bool *ret_counted);

/* ------------------------------------------------------------------ */
/* Configuration (/etc/rootfs-install.conf, shared with the installer) */

#define BOOTCTL_CONFIG_PATH "/etc/rootfs-install.conf"
#define BOOTCTL_GRUBENV_PATH "/boot/efi/EFI/BOOT/grubenv"
#define BOOTCTL_GRUBENV_ESP_PATH "/EFI/BOOT/grubenv"
#define BOOTCTL_FW_ENV_CONFIG_PATH "/etc/fw_env.config"
#define BOOTCTL_MAX_LABEL 72 /* GPT names are 36 UTF-16 units */

struct bootctl_config {
	char label[BOOTCTL_NSLOTS][BOOTCTL_MAX_LABEL]; /* [slots] a, b */
	char data_label[BOOTCTL_MAX_LABEL];           /* [slots] data */
	char esp_label[BOOTCTL_MAX_LABEL];            /* [slots] esp */
	enum bootctl_backend backend;                 /* [bootloader] backend */
	char grubenv[PATH_MAX];                       /* [bootloader] grubenv */
	char fw_env_config[PATH_MAX];                 /* [bootloader] fw_env_config */
	unsigned attempts;                            /* [bootloader] attempts */
};

/* rootfs_a, rootfs_b, data, esp, backend NONE, the default paths, 3. */
void bootctl_config_default(struct bootctl_config *c);
/* Defaults, then the [slots] and [bootloader] sections of path. Other
 * sections are ignored (the installer owns them); inside ours, unknown
 * keys and bad values are errors. -EBADMSG; err (may be NULL) gets a
 * message with the line number, also on failure. */
struct ini_error;
int bootctl_config_load(const char *path, struct bootctl_config *ret, struct ini_error *err);

/* ------------------------------------------------------------------ */
/* Slot discovery by GPT partition label (libblkid)                    */

struct bootctl_part {
	bool found;
	char label[BOOTCTL_MAX_LABEL];
	char device[PATH_MAX];   /* /dev/NAME, or the disk image */
	uint64_t offset, size;   /* bytes; offset 0 on a partition device */
	unsigned partno;         /* GPT entry number, 1-based */
};
struct bootctl_parts {
	struct bootctl_part slot[BOOTCTL_NSLOTS], data, esp;
};

/* Partitions inside a GPT disk image file (no loop devices): device is the
 * image path, offset/size the extent in it. -EBADMSG no partition table. */
int bootctl_discover_disk(const char *disk_path, const struct bootctl_config *c, struct bootctl_parts *ret);
/* On a running system: every whole disk under SYSFS/class/block is probed
 * through DEVDIR/NAME; a partition's device is DEVDIR/CHILD where
 * SYSFS/class/block/DISK/CHILD/partition holds its number. NULL means
 * "/sys" and "/dev". -ENOTUNIQ when a label is on two disks. Labels not
 * found are left found=false (the caller decides what it needs). */
int bootctl_discover_system(const char *sysfs, const char *devdir, const struct bootctl_config *c,
                            struct bootctl_parts *ret);

/* ------------------------------------------------------------------ */
/* An opened environment: load, change, one atomic write                */

struct bootctl;

/* --grubenv FILE: a file on a mounted filesystem. */
int bootctl_open_grubenv_file(const char *path, struct bootctl **ret);
/* The grubenv file in the FAT filesystem of the partition at [offset,
 * offset+size) of device (a disk image or an ESP device). */
int bootctl_open_grubenv_fat(const char *device, uint64_t offset, uint64_t size, const char *fat_path,
                             struct bootctl **ret, const char **ret_why);
/* fw_env.config (parsed here; the environment is read by bootctl_load). */
int bootctl_open_uboot(const char *fw_env_config, struct bootctl **ret, const char **ret_why);
void bootctl_free(struct bootctl *b);

enum bootctl_backend bootctl_backend(const struct bootctl *b);
/* A description of the location for messages ("grubenv /x/grubenv"). */
const char *bootctl_location(const struct bootctl *b);
/* Reason for the last failure of a function on b, or NULL. */
const char *bootctl_why(const struct bootctl *b);

/* (Re)reads the environment and returns its state. */
int bootctl_load(struct bootctl *b, struct bootctl_state *ret);
/* Writes s into the environment last loaded (other variables kept), in one
 * atomic write. -ESTALE when nothing was loaded. */
int bootctl_store(struct bootctl *b, const struct bootctl_state *s);

/* load + bootctl_state_X + store, for the installer and the tool, under
 * an exclusive flock on BOOTCTL_UBOOT_LOCK (shared with fw_setenv) or
 * BOOTCTL_GRUB_LOCK, so two read-modify-write cycles never interleave.
 * (Skipped when /var/lock does not exist.) */
#define BOOTCTL_UBOOT_LOCK "/var/lock/fw_printenv.lock"
#define BOOTCTL_GRUB_LOCK "/var/lock/rootfs-bootctl.lock"
int bootctl_try(struct bootctl *b, int slot, unsigned attempts);
int bootctl_invalidate(struct bootctl *b, int slot);
int bootctl_mark_good(struct bootctl *b, int booted, unsigned attempts, uint64_t version);
int bootctl_mark_bad(struct bootctl *b, int slot);
int bootctl_set_primary(struct bootctl *b, int slot, unsigned attempts);

/* The booted slot from a kernel command line file (NULL: /proc/cmdline):
 * "rootfs.slot=a|b". -ENOENT when absent, -EBADMSG for another value. */
int bootctl_booted_slot(const char *cmdline_path, int *ret_slot);

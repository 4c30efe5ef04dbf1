/* images: build signed update images and A/B disk images (rootfs-image).
 *
 * Host-side only. Conventions as in verity/verity.h: functions return 0 or
 * a negative errno, ret_ parameters are written only on success, nothing
 * here prints; ret_err (may be NULL) gets a static one-line message
 * naming what failed (the tool adds strerror for I/O errors). disk.c runs
 * external tools (sgdisk, mkfs.vfat, mtools, mkfs.ext4, grub-mkimage,
 * grub-editenv): it is never linked into the device tools. */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "verity/verity.h"

/* ------------------------------------------------------------------ */
/* create.c: filesystem image -> signed update image                   */

struct image_create_opts {
	const char *rootfs;          /* filesystem image file */
	const char *key, *cert;      /* PEM path or OSSL_STORE URI; PEM cert (+ chain) */
	const char *compatible;
	uint64_t version;
	const char *version_string;  /* NULL: the decimal version */
	const char *fstype;          /* NULL or "auto": detect with libblkid */
	bool zstd;
	int zstd_level;              /* 0: default (3) */
	const char *salt_hex;        /* NULL: 32 random bytes */
	uint64_t build_time;         /* 0: $SOURCE_DATE_EPOCH, else now */
	const char *output;          /* written atomically (temp file + rename) */
};

struct image_create_result {
	uint64_t fs_size;            /* bytes read from rootfs */
	uint64_t padding;            /* zero bytes added to reach a block multiple */
	char fstype[16];
	struct manifest m;
	uint64_t image_size;
};

/* Reads rootfs once: payload sha256, dm-verity tree (root hash only) and the
 * (compressed) payload in one pass, then signs the manifest (CMS, certs
 * embedded) and the root hash (kernel .roothash.p7s form). Errors: -EINVAL
 * bad options or an unsupported filesystem, signature errors from
 * verity_signer_load/verity_cms_sign, I/O errnos. */
int image_create(const struct image_create_opts *o, struct image_create_result *ret, const char **ret_err);

/* Detect the filesystem type of path with libblkid: "ext4", "squashfs" or
 * "erofs" into ret (16 bytes). -EMEDIUMTYPE for anything else. */
int image_detect_fstype(const char *path, char ret[16]);

/* ------------------------------------------------------------------ */
/* verify.c: check a whole update image stream                          */

/* Reads the head with signature verification (update_read_head), then the
 * whole payload: decompresses, checks payload_sha256, rebuilds the tree and
 * checks the root hash, and refuses bytes after the payload. ret_sm (may
 * be NULL) gets the verified signed part. Errors: as update_read_head,
 * -EPROTO payload shorter than the header says, -EBADMSG payload longer,
 * hash mismatch, trailing bytes or a bad zstd stream. */
int image_verify_fd(int fd, const struct verity_keyring *kr, struct signed_manifest *ret_sm,
                    const char **ret_err);

/* ------------------------------------------------------------------ */
/* disk.c: bootable A/B disk image                                      */

enum image_bootloader { IMAGE_BOOT_GRUB, IMAGE_BOOT_NONE };

struct image_disk_opts {
	const char *output;
	const char *slot_a, *slot_b;         /* update images; slot_b may be NULL */
	const struct verity_keyring *kr;     /* NULL: do not verify (host built them) */
	uint64_t slot_size, data_size, esp_size;
	const char *labels[4];               /* esp, rootfs_a, rootfs_b, data */
	enum image_bootloader bootloader;
	const char *grub_cfg;                /* grub.cfg to install */
};

/* GPT (1 ESP, 2 rootfs_a, 3 rootfs_b, 4 data, 1 MiB aligned), ESP as FAT
 * with GRUB, its grub.cfg and a grubenv set to boot A, slot A (and B)
 * written with slot_write exactly as the installer does, data as ext4.
 * The disk file is built under a temporary name and renamed. */
int image_disk(const struct image_disk_opts *o, const char **ret_err);

/* Partition offsets the disk layout uses (bytes), for tests and tools. */
struct image_disk_layout {
	uint64_t esp_offset, slot_a_offset, slot_b_offset, data_offset, disk_size;
};
int image_disk_layout(const struct image_disk_opts *o, struct image_disk_layout *ret);

/* ------------------------------------------------------------------ */
/* channel.c: signed channel metadata pointing at an update image       */

struct image_channel_opts {
	const char *update;          /* the update image the channel announces */
	const char *url;             /* where devices fetch it (relative to the channel file, or absolute) */
	const char *name;            /* channel name; NULL: the output's basename without ".channel" */
	uint64_t expires;            /* seconds since the epoch, UTC */
	uint64_t serial;
	const char *key, *cert;      /* as image_create */
	const char *output;          /* written atomically */
};

/* Reads the update's manifest (compatible, version; not verified: the
 * builder made it) and the sha256 and size of the whole file, then signs
 * the channel text (channel_sign) and writes it. ret (may be NULL) gets
 * what was written. Errors: -EINVAL bad options, -EBADMSG not an update
 * image, signature errors as verity_signer_load/verity_cms_sign, I/O. */
int image_channel(const struct image_channel_opts *o, struct channel *ret, const char **ret_err);

/* "14d", "12h", "30m", "90s", "2w" or a bare number of seconds into
 * *ret_seconds; -EINVAL otherwise (or on overflow). */
int image_parse_duration(const char *s, uint64_t *ret_seconds);

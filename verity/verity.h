/* verity: dm-verity hash trees, signatures and the signed update-image and
 * slot-footer formats that everything downstream trusts.
 *
 * Conventions (cryptsetup lib/verity, systemd): every int function returns
 * 0 (or a documented non-negative value) on success and a negative errno on
 * failure; ret_ parameters are written only on success; nothing here logs.
 * Use verity_strerror() to turn a return code into a one-line message.
 *
 * Files: tree.c (builder, layout), verify.c (userspace check), sig.c
 * (keyring, CMS and root-hash signatures), manifest.c, image.c (update
 * image stream), footer.c (slot footer). */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

/* ------------------------------------------------------------------ */
/* Hash trees (dm-verity format 1, as the kernel and veritysetup)       */

#define VERITY_MAX_SALT 256
#define VERITY_MAX_DIGEST 64
#define VERITY_MAX_LEVELS 63
#define VERITY_SUPERBLOCK_SIZE 512

struct verity_params {
	char hash_name[32];        /* "sha256" or "sha512" */
	uint32_t data_block_size;  /* power of two, 512..512 KiB (veritysetup's range); 4096 by default */
	uint32_t hash_block_size;  /* same rules */
	uint64_t data_blocks;      /* number of data blocks (data is padded) */
	uint16_t salt_size;
	uint8_t salt[VERITY_MAX_SALT];
	uint8_t uuid[16];          /* superblock only */
	bool superblock;           /* v1 superblock at hash_offset, tree after it */
	uint64_t hash_offset;      /* byte offset of the hash area in the hash device: a multiple
	                            * of 512 with a superblock, of hash_block_size without */
};

/* Fill p with veritysetup's defaults (sha256, 4096/4096, no salt, superblock)
 * for data_size bytes; data_blocks = ceil(data_size / 4096). */
void verity_params_default(struct verity_params *p, uint64_t data_size);

/* Checks block sizes, salt size, hash name, data_blocks > 0, hash_offset
 * alignment and that the layout fits in u64 (and off_t).
 * -EINVAL with a bad parameter, -EOVERFLOW when sizes overflow. */
int verity_params_check(const struct verity_params *p);

/* Digest size of p->hash_name in bytes, or -EINVAL. */
int verity_digest_size(const struct verity_params *p);

/* Size of the hash area in bytes (superblock block included when
 * p->superblock), from hash_offset to the end of the last hash block. */
int verity_hash_area_size(const struct verity_params *p, uint64_t *ret_bytes);

/* Streaming builder: data goes in once, in order, in any chunk sizes. Each
 * finished hash block is written to hash_fd at its final offset (hash_fd may
 * be -1 to only compute the root hash). Memory is bounded by tree depth
 * times block size plus fixed buffers. A large feed (>= 128 KiB) is hashed
 * on two threads when more than one CPU is available; every call returns
 * only when its work is done. One builder is for one thread at a time.
 * Errors from hashing or writing are sticky. */
struct verity_builder;
int verity_builder_new(const struct verity_params *p, int hash_fd, struct verity_builder **ret);
/* -EFBIG when more than data_blocks * data_block_size bytes are fed. */
int verity_builder_feed(struct verity_builder *b, const void *data, size_t len);
/* Pads the last data block with zeros, writes the remaining hash blocks and
 * (if enabled) the superblock. -EIO ("short data") when not even one byte
 * of the last data block was fed (the builder stays usable: feed more).
 * ret_root gets the root hash, *ret_root_len its size. Does not fsync. */
int verity_builder_finish(struct verity_builder *b, uint8_t ret_root[VERITY_MAX_DIGEST], size_t *ret_root_len);
void verity_builder_free(struct verity_builder *b);

/* Build a tree for the first data_blocks blocks of data_fd in one call
 * (reads data_fd sequentially from offset 0 with pread; a data_fd ending
 * inside the last block is zero-padded, earlier is -EIO). */
int verity_format_fd(const struct verity_params *p, int data_fd, int hash_fd,
                     uint8_t ret_root[VERITY_MAX_DIGEST], size_t *ret_root_len);

/* Superblock: read and parse one at offset (fills p, including
 * superblock=true and hash_offset=offset). -EINVAL for no or a bad one,
 * -EOPNOTSUPP for hash type 0 (Chrome OS) or a hash other than sha256/sha512. */
int verity_superblock_read(int hash_fd, uint64_t offset, struct verity_params *ret);

/* Userspace verification, what `veritysetup verify` does: every data block
 * and every hash block (including zero padding) is checked against
 * root. Returns 0 when all check; -EBADMSG on the first mismatch, and then
 * (the one exception to the ret_ rule) *ret_bad (may be NULL) says where.
 * Checks top down like the kernel, so a damaged hash block is reported as
 * such, not as damage in the data it covers. A data_fd ending inside the
 * last block reads zero-padded; ending earlier is -EIO. hash_fd may be -1
 * for a single data block (no tree). */
enum verity_area { VERITY_AREA_DATA, VERITY_AREA_HASH };
struct verity_corruption {
	enum verity_area area;
	uint64_t block;           /* data block number, or hash block index from hash_offset */
	uint32_t level;           /* tree level for hash blocks (0 = hashes of data) */
};
int verity_verify(const struct verity_params *p, int data_fd, int hash_fd,
                  const uint8_t *root, size_t root_len, struct verity_corruption *ret_bad);

/* ------------------------------------------------------------------ */
/* Keyring and signatures (OpenSSL CMS, X509_STORE)                     */

/* Error codes with a meaning in this area (see verity_strerror):
 *   -EKEYREJECTED  chain does not lead to a trusted CA
 *   -EKEYEXPIRED   a certificate expired or is not yet valid
 *   -EKEYREVOKED   a certificate is revoked by a loaded CRL
 *   -ENOKEY        no signer certificate found (neither embedded nor in keyring)
 *   -EBADMSG       malformed DER, or the signature does not match the content
 *   -EPERM         key usage / purpose forbids code signing, or a weak digest
 * A signing certificate must have keyUsage digitalSignature (if the
 * extension is present), extendedKeyUsage codeSigning or anyExtendedKeyUsage
 * (if present) and an RSA >= 2048 or EC >= 256 bit key. The chain is checked
 * with purpose "any" (OpenSSL 3.0 has no code-signing purpose, and CMS's
 * default "smimesign" would demand emailProtection) at security level 2
 * (no RSA < 2048, no SHA-1 signed certificates); CA flags, keyCertSign,
 * validity and CRLs are checked as usual. */
struct verity_keyring;

/* path: a PEM file with one or more CA certificates, or a directory whose
 * .pem and .crt files are loaded (key rotation: old and new CA side by side).
 * crl_path (may be NULL): a PEM file or directory with CRLs; when given, CRL
 * checking is enabled for the whole chain (a CA without a CRL then fails
 * with -EKEYREVOKED). -ENOKEY when path holds no certificate, -ENODATA when
 * crl_path holds no CRL, -EBADMSG for damaged PEM, open/read errnos. */
int verity_keyring_load(const char *path, const char *crl_path, struct verity_keyring **ret);
void verity_keyring_free(struct verity_keyring *kr);
/* Check time for tests and for devices without a clock; 0 = now. */
void verity_keyring_set_time(struct verity_keyring *kr, time_t t);

struct verity_signer; /* a private key and its certificate (+ chain) */
/* key: a PEM file path, or a URI OpenSSL can load through OSSL_STORE
 * ("pkcs11:...", "file:..."); cert: PEM with the signing certificate first,
 * then any intermediates (carried in signatures). Never prompts: encrypted
 * PEM keys fail (-EBADMSG), give a URI with its PIN instead. -EINVAL when
 * the key does not match the certificate, -EPERM when the certificate may
 * not sign code (see above), -ENOKEY no certificate in cert or no key at the
 * URI, -EPROTONOSUPPORT no OpenSSL loader for the URI scheme, -ENOENT.
 * pkcs11: URIs no OSSL_STORE loader takes (Debian 12 has no pkcs11
 * provider) go to libp11's pkcs11 engine; -ENODEV when it cannot start. */
int verity_signer_load(const char *key, const char *cert, struct verity_signer **ret);
void verity_signer_free(struct verity_signer *s);

/* Detached CMS SignedData (DER) over data, SHA-256, with signed attributes
 * and the certificate chain embedded. */
int verity_cms_sign(const struct verity_signer *s, const void *data, size_t len,
                    uint8_t **ret_der, size_t *ret_der_len);
/* Verifies a detached CMS/PKCS#7 signature over data with a full chain
 * check. Only SHA-256/384/512 digests are accepted. Signer certificates
 * missing from the signature are taken from the keyring (by issuer and
 * serial). The signature must be detached, over id-data, and der exactly
 * one DER object. ret_signer (may be NULL) gets a malloc'ed one-line
 * subject of the signing certificate ("O=..., CN=..."). */
int verity_cms_verify(const struct verity_keyring *kr, const void *data, size_t len,
                      const uint8_t *der, size_t der_len, char **ret_signer);

/* Kernel root-hash signature (.roothash.p7s): PKCS#7 DER, no attributes,
 * binary, over the lowercase hex root hash without newline. embed_certs
 * false gives the kernel's -nocerts form. Written with the CMS API, like
 * the kernel's scripts/sign-file: the structure of `openssl smime -sign
 * -noattr -binary` (for RSA the same signature value) except that the SHA-2
 * digest algorithm parameters are absent rather than NULL (both valid).
 * -EINVAL unless roothash_hex is lowercase hex of at most 64 bytes. */
int verity_roothash_sign(const struct verity_signer *s, const char *roothash_hex, bool embed_certs,
                         uint8_t **ret_der, size_t *ret_der_len);
/* Verifies like verity_cms_verify over roothash_hex; a -nocerts signature
 * verifies when the keyring holds the signing certificate itself (the
 * chain to a CA in the keyring is still checked). Same as verity_cms_verify
 * over the roothash_hex bytes, after checking it is lowercase hex. */
int verity_roothash_verify(const struct verity_keyring *kr, const char *roothash_hex,
                           const uint8_t *der, size_t der_len);

/* One-line description of a return code from this library. */
const char *verity_strerror(int r);

/* ------------------------------------------------------------------ */
/* Manifest (docs/FORMAT.md): the signed description of one rootfs      */

#define MANIFEST_MAX_SIZE 16384
#define MANIFEST_MAX_LINE 1024
#define MANIFEST_MAX_STR 256

enum manifest_compression { MANIFEST_COMP_NONE, MANIFEST_COMP_ZSTD };

struct manifest {
	uint32_t format;                         /* 1 */
	char compatible[MANIFEST_MAX_STR];
	uint64_t version;                        /* monotonic, anti-downgrade */
	char version_string[MANIFEST_MAX_STR];
	uint64_t build_time;                     /* seconds since the epoch, UTC */
	char fstype[16];                         /* ext4, squashfs, erofs */
	uint64_t payload_size;                   /* filesystem bytes, a multiple of data_block_size */
	uint8_t payload_sha256[32];              /* over the payload_size bytes */
	enum manifest_compression compression;
	uint64_t stored_size;                    /* payload bytes in the update image */
	struct verity_params verity;             /* superblock=false, hash_offset = slot tree offset */
	uint8_t root_hash[VERITY_MAX_DIGEST];
	size_t root_hash_size;
	uint64_t tree_size;                      /* verity_hash_area_size */
};

/* Strict parse: -EBADMSG for unknown keys (x-* keys are ignored),
 * duplicates, missing keys, bad values (leading zeros, signs, overflow,
 * uppercase hex), inconsistent values (data blocks, tree size, root hash
 * length, stored_size without compression), lines over 1024 bytes
 * (newline included), more than 16 KiB, empty lines, non-UTF-8, CR or NUL
 * bytes, a missing final newline. ret_err (may be NULL) gets a static
 * string naming the problem ("duplicate key 'version'"). On success
 * ret->verity has superblock=false, hash_offset=align4096(payload_size). */
int manifest_parse(const char *text, size_t len, struct manifest *ret, const char **ret_err);
/* Canonical text (keys in docs/FORMAT.md order); malloc'ed, NUL-terminated.
 * -EINVAL when m would not parse back (inconsistent fields). */
int manifest_format(const struct manifest *m, char **ret_text, size_t *ret_len);

/* Where the tree and footer go in a slot of slot_size bytes:
 * tree at align4096(payload_size), footer in the last VERITY_FOOTER_SIZE
 * bytes, its start rounded down to 4096. -ENOSPC when they do not fit,
 * -EOVERFLOW when the sizes overflow. */
#define VERITY_FOOTER_SIZE (128 * 1024)
struct slot_layout {
	uint64_t data_size, tree_offset, tree_size, footer_offset;
};
int slot_layout_compute(const struct manifest *m, uint64_t slot_size, struct slot_layout *ret);
/* Offset of the footer inside a slot of slot_size bytes; -ENOSPC if smaller
 * than VERITY_FOOTER_SIZE. */
int slot_footer_offset(uint64_t slot_size, uint64_t *ret);

/* ------------------------------------------------------------------ */
/* Update image (docs/FORMAT.md): header | manifest | manifest.cms |    */
/* roothash.p7s | payload                                              */

#define UPDATE_MAGIC "RFSUPDT1"
#define UPDATE_HEADER_SIZE 64
#define UPDATE_MAX_SIG 65536

struct update_header {
	uint32_t manifest_size, manifest_sig_size, roothash_sig_size;
	uint64_t payload_offset, payload_size;
};
/* Parses and bounds-checks the fixed header (magic, CRC, version, limits,
 * payload_offset right after the signatures). -EBADMSG, ret_err (may be
 * NULL) names the problem. */
int update_header_parse(const uint8_t buf[UPDATE_HEADER_SIZE], struct update_header *ret, const char **ret_err);
void update_header_write(const struct update_header *h, uint8_t buf[UPDATE_HEADER_SIZE]);

/* The signed part of an update image or footer, as read and verified. */
struct signed_manifest {
	char *text; size_t text_len;             /* raw manifest bytes */
	uint8_t *sig; size_t sig_len;            /* CMS over text */
	uint8_t *roothash_sig; size_t roothash_sig_len;
	struct manifest m;                       /* parsed */
};
void signed_manifest_clear(struct signed_manifest *sm);

/* Verify sm->sig over sm->text against kr (before parsing anything), then
 * parse into sm->m, then check roothash_sig over the hex root hash. Errors
 * are those of verity_cms_verify/verity_roothash_verify or manifest_parse;
 * ret_err (may be NULL) gets a static one-line message naming the part and
 * the problem ("manifest signature: certificate revoked"). sm->m is
 * written only on success. */
int signed_manifest_verify(const struct verity_keyring *kr, struct signed_manifest *sm, const char **ret_err);
/* The same; ret_signer (may be NULL) gets the malloc'ed signer subject. */
int signed_manifest_verify_signer(const struct verity_keyring *kr, struct signed_manifest *sm,
                                  char **ret_signer, const char **ret_err);

/* Read header and signed part from a stream (pipe, socket or file), exactly
 * header + manifest + signatures and not one payload byte. With kr non-NULL
 * the signatures are verified (signed_manifest_verify), with kr NULL the
 * manifest is only parsed. Checks that the header's payload_size equals the
 * manifest's stored_size. -EPROTO when the stream ends early, -EBADMSG for
 * a bad header or manifest, signature errors as above; ret_err (may be
 * NULL) names the problem. Clear ret_sm with signed_manifest_clear. */
int update_read_head(int fd, const struct verity_keyring *kr, struct update_header *ret_h,
                     struct signed_manifest *ret_sm, const char **ret_err);

/* ------------------------------------------------------------------ */
/* Slot footer: the signed part kept in the slot's last 128 KiB         */

/* Reads the footer of the slot at [slot_offset, slot_offset+slot_size) of fd.
 * -ENOENT when there is none (erased, or never written), -EBADMSG when it
 * is damaged (CRC, sizes, content sha256, manifest does not parse). Does
 * not verify the signatures (call signed_manifest_verify). ret->m is
 * parsed. Clear ret with signed_manifest_clear. */
int footer_read(int fd, uint64_t slot_offset, uint64_t slot_size, struct signed_manifest *ret);
/* Erases the header block, writes the content, fdatasync, then the header
 * block, fdatasync. -ENOSPC when the signed part exceeds the footer's 124
 * KiB of content or the manifest's data + tree + footer do not fit the
 * slot (slot_layout_compute), -EINVAL for empty or oversized parts or a
 * manifest that does not parse. */
int footer_write(int fd, uint64_t slot_offset, uint64_t slot_size, const struct signed_manifest *sm);
/* Zeroes the footer header block (and fdatasync's) so the slot no longer
 * describes itself. */
int footer_erase(int fd, uint64_t slot_offset, uint64_t slot_size);

/* ------------------------------------------------------------------ */
/* Slot writer (slot.c): stream a verified update payload into a slot   */

/* Pull source: returns bytes read (0 = end of stream) or a negative errno.
 * The installer's HTTPS fetcher implements resume inside its callback. */
typedef ssize_t (*slot_read_fn)(void *userdata, void *buf, size_t len);
/* Progress: bytes of payload written so far, out of total. */
typedef void (*slot_progress_fn)(void *userdata, uint64_t done, uint64_t total);

struct slot_target {
	int fd;                  /* slot device or disk image, opened O_RDWR */
	uint64_t offset, size;   /* the slot's extent inside fd */
};

/* Reads exactly m->stored_size payload bytes from read_fn (never more),
 * decompresses when m->compression says so, writes the filesystem at the
 * slot start while computing the payload sha256 and the dm-verity tree in
 * the same pass, writes the tree at the layout's tree offset, flushes,
 * compares payload hash and root hash with the signed ones, then writes
 * the footer (sm) and flushes again. The caller must already have verified
 * sm and erased the old footer. After stored_size bytes one read of at
 * most one byte must report the end of the stream (an update image ends
 * with its payload). t->offset must be a multiple of the hash block size.
 * zstd frames are decoded with a window of at most 8 MiB (levels 1..19,
 * no --long). Memory: 8 MiB of ring buffers plus the tree builder's, for
 * any image size. Errors: -EBADMSG payload/root hash mismatch, trailing
 * bytes, a layout or sizes that disagree with the manifest, a bad zstd
 * frame; -EPROTO payload shorter than promised; -ENOSPC does not fit;
 * -EINVAL bad target; read_fn's errors; I/O errnos. */
int slot_write(const struct signed_manifest *sm, slot_read_fn read_fn, void *read_userdata,
               const struct slot_target *t, slot_progress_fn progress, void *progress_userdata);

/* ------------------------------------------------------------------ */
/* Channel metadata (channel.c, docs/FORMAT.md "Channel metadata"): the  */
/* signed, expiring pointer to a channel's newest update image          */

#define CHANNEL_MAX_TEXT 4096
#define CHANNEL_MAX_LINE 1024
#define CHANNEL_MAX_URL 1000
/* text + PEM of a signature of at most UPDATE_MAX_SIG bytes */
#define CHANNEL_MAX_FILE (CHANNEL_MAX_TEXT + UPDATE_MAX_SIG * 4 / 3 + UPDATE_MAX_SIG / 32 + 128)

struct channel {
	uint32_t format;                         /* 1 */
	char name[MANIFEST_MAX_STR];             /* "stable" */
	char compatible[MANIFEST_MAX_STR];
	uint64_t serial;                         /* grows with every new file of this channel */
	uint64_t expires;                        /* seconds since the epoch, UTC */
	uint64_t version;                        /* the newest release's manifest version */
	char version_string[MANIFEST_MAX_STR];
	char url[CHANNEL_MAX_URL];               /* update image, relative to the channel's URL or absolute */
	uint64_t size;                           /* bytes of the whole update image */
	uint8_t sha256[32];                      /* over the whole update image */
};

/* Strict parse of the text part, with the manifest's rules (unknown keys,
 * duplicates, missing keys, bad values, overlong lines, more than 4 KiB,
 * empty lines, non-UTF-8, CR, NUL, no final newline: -EBADMSG); expires
 * is ISO 8601 UTC "YYYY-MM-DDTHH:MM:SSZ"; url is printable ASCII without
 * spaces. ret_err (may be NULL) gets a static message naming the problem. */
int channel_parse(const char *text, size_t len, struct channel *ret, const char **ret_err);
/* Canonical text (keys in docs/FORMAT.md order); malloc'ed, NUL-terminated.
 * -EINVAL when c would not parse back. */
int channel_format(const struct channel *c, char **ret_text, size_t *ret_len);

/* The channel file: the text, then the detached CMS signature over exactly
 * those bytes as one PEM block ("-----BEGIN CMS-----"), nothing after it.
 * channel_sign returns the malloc'ed file (signature errors as
 * verity_cms_sign). */
int channel_sign(const struct verity_signer *s, const struct channel *c, char **ret_file, size_t *ret_len);
/* Splits the file, verifies the signature over the text (verity_cms_verify)
 * before parsing anything, then parses it. Errors: -EBADMSG for a file
 * that is not text + one PEM CMS block or a text that does not parse,
 * signature errors as verity_cms_verify; ret_err (may be NULL) names the
 * part and the problem. ret_signer (may be NULL) as verity_cms_verify. */
int channel_verify(const struct verity_keyring *kr, const char *file, size_t len, struct channel *ret,
                   char **ret_signer, const char **ret_err);

/* ISO 8601 UTC with seconds and 'Z', the one spelling channel files use.
 * channel_time_parse: -EINVAL for anything else (including out-of-range
 * fields and years before 1970 or after 9999). */
int channel_time_parse(const char *s, uint64_t *ret);
int channel_time_format(uint64_t t, char ret[32]);

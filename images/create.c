/* image_create: one read of the filesystem image gives the payload sha256,
 * the dm-verity root hash and the (zstd) payload; then the manifest and the
 * root hash are signed and the update image is written atomically. */
#include "images/images.h"
#include "common/macro.h"
#include "common/util.h"

#include <blkid.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <libgen.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <zstd.h>

#define CHUNK (1U << 20)
#define DATA_BLOCK 4096

static int fail(const char **ret_err, const char *msg, int r)
{
	if (ret_err)
		*ret_err = msg;
	return r;
}

int image_detect_fstype(const char *path, char ret[16])
{
	static const char *const ok[] = { "ext4", "squashfs", "erofs" };
	const char *type = NULL;
	blkid_probe pr;
	int r;

	pr = blkid_new_probe_from_filename(path);
	if (!pr)
		return errno > 0 ? -errno : -EIO;
	blkid_probe_enable_superblocks(pr, 1);
	blkid_probe_set_superblocks_flags(pr, BLKID_SUBLKS_TYPE);
	r = blkid_do_safeprobe(pr);
	if (r == 0 && blkid_probe_lookup_value(pr, "TYPE", &type, NULL) == 0) {
		for (size_t i = 0; i < ARRAY_SIZE(ok); i++)
			if (strcmp(type, ok[i]) == 0) {
				strcpy(ret, ok[i]);
				blkid_free_probe(pr);
				return 0;
			}
	}
	blkid_free_probe(pr);
	return r < 0 && r != -2 ? -EIO : -EMEDIUMTYPE;
}

/* Where the payload goes while the tree is still being built. */
struct payload_out {
	int fd;
	ZSTD_CCtx *z;
	uint8_t *zbuf;
	size_t zcap;
	uint64_t stored;
};

static int out_feed(struct payload_out *po, const void *data, size_t len, bool end)
{
	ZSTD_inBuffer in = { data, len, 0 };
	int r;

	if (!po->z) {
		r = write_full(po->fd, data, len);
		if (r == 0)
			po->stored += len;
		return r;
	}
	for (;;) {
		ZSTD_outBuffer out = { po->zbuf, po->zcap, 0 };
		size_t rem = ZSTD_compressStream2(po->z, &out, &in, end ? ZSTD_e_end : ZSTD_e_continue);
		if (ZSTD_isError(rem))
			return -EIO;
		r = write_full(po->fd, po->zbuf, out.pos);
		if (r < 0)
			return r;
		po->stored += out.pos;
		if (end ? rem == 0 : in.pos == in.size)
			return 0;
	}
}

static bool text_ok(const char *s, bool allow_empty)
{
	size_t n = strlen(s);

	if (n >= MANIFEST_MAX_STR || (!allow_empty && n == 0))
		return false;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
			return false;
	return utf8_valid(s, n);
}

static void evp_freep(EVP_MD_CTX **c) { EVP_MD_CTX_free(*c); }
static void builder_freep(struct verity_builder **b) { verity_builder_free(*b); }
static void zcctx_freep(ZSTD_CCtx **z) { ZSTD_freeCCtx(*z); }
static void signer_freep(struct verity_signer **s) { verity_signer_free(*s); }

/* A temporary file next to the output, removed unless renamed. */
struct tmpfile {
	char *path;
	int fd;
};
static void tmpfile_done(struct tmpfile *t)
{
	if (t->fd >= 0)
		close(t->fd);
	if (t->path) {
		unlink(t->path);
		free(t->path);
	}
}

static int tmpfile_open(const char *output, struct tmpfile *ret)
{
	char *p;
	int fd;

	if (asprintf(&p, "%s.tmpXXXXXX", output) < 0)
		return -ENOMEM;
	fd = mkostemp(p, O_CLOEXEC);
	if (fd < 0) {
		int r = -errno;
		free(p);
		return r;
	}
	*ret = (struct tmpfile) { .path = p, .fd = fd };
	return 0;
}

/* Copies len bytes from in (offset 0) to out (current offset), in-kernel
 * where the filesystem allows. */
static int copy_payload(int in, int out, uint64_t len)
{
	_cleanup_free_ uint8_t *buf = NULL;
	loff_t ioff = 0;

	while (len > 0) {
		ssize_t n = copy_file_range(in, &ioff, out, NULL, len > (1U << 30) ? (1U << 30) : len, 0);
		if (n < 0 && (errno == EXDEV || errno == ENOSYS || errno == EINVAL || errno == EOPNOTSUPP))
			break;
		if (n < 0)
			return -errno;
		if (n == 0)
			return -EIO;
		len -= (uint64_t)n;
	}
	if (len == 0)
		return 0;
	buf = malloc(CHUNK);
	if (!buf)
		return -ENOMEM;
	while (len > 0) {
		size_t want = len > CHUNK ? CHUNK : (size_t)len;
		int r = pread_full(in, buf, want, (uint64_t)ioff);
		if (r < 0)
			return r;
		r = write_full(out, buf, want);
		if (r < 0)
			return r;
		ioff += (loff_t)want, len -= want;
	}
	return 0;
}

static int open_payload_tmp(const char *output)
{
	_cleanup_free_ char *d = strdup(output);
	char tmpl[] = "/tmp/rootfs-image.XXXXXX";
	int fd;

	if (!d)
		return -ENOMEM;
	/* Same filesystem as the output, so the final copy can be a reflink. */
	fd = open(dirname(d), O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
	if (fd >= 0)
		return fd;
	fd = mkostemp(tmpl, O_CLOEXEC);
	if (fd < 0)
		return -errno;
	unlink(tmpl);
	return fd;
}

static uint64_t build_time_now(void)
{
	const char *e = getenv("SOURCE_DATE_EPOCH");
	uint64_t t;

	/* reproducible builds: https://reproducible-builds.org/specs/source-date-epoch/ */
	if (e && parse_u64(e, &t) == 0)
		return t;
	return (uint64_t)time(NULL);
}

/* Pass 1: rootfs -> payload file, sha256 and root hash into m. */
static int stream_rootfs(const struct image_create_opts *o, int in, struct payload_out *po,
                         struct manifest *m, uint64_t fs_size, uint64_t padding, const char **ret_err)
{
	_cleanup_(evp_freep) EVP_MD_CTX *sha = EVP_MD_CTX_new();
	_cleanup_(builder_freep) struct verity_builder *b = NULL;
	_cleanup_free_ uint8_t *buf = malloc(CHUNK);
	uint64_t left = fs_size;
	int r;

	if (!sha || !buf || !EVP_DigestInit_ex(sha, EVP_sha256(), NULL))
		return fail(ret_err, "out of memory", -ENOMEM);
	r = verity_builder_new(&m->verity, -1, &b);
	if (r < 0)
		return fail(ret_err, "cannot start the hash tree", r);
	while (left > 0) {
		size_t want = left > CHUNK ? CHUNK : (size_t)left;
		ssize_t n = read_full(in, buf, want);
		if (n < 0)
			return fail(ret_err, "cannot read the filesystem image", (int)n);
		if ((size_t)n != want)
			return fail(ret_err, "filesystem image shrank while reading it", -EIO);
		if (!EVP_DigestUpdate(sha, buf, want))
			return fail(ret_err, "sha256 failed", -EIO);
		r = verity_builder_feed(b, buf, want);
		if (r < 0)
			return fail(ret_err, "cannot build the hash tree", r);
		r = out_feed(po, buf, want, false);
		if (r < 0)
			return fail(ret_err, r == -EIO ? "zstd compression failed" : "cannot write the payload", r);
		left -= want;
	}
	memset(buf, 0, (size_t)padding);
	if (!EVP_DigestUpdate(sha, buf, (size_t)padding) || !EVP_DigestFinal_ex(sha, m->payload_sha256, NULL))
		return fail(ret_err, "sha256 failed", -EIO);
	r = verity_builder_feed(b, buf, (size_t)padding);
	if (r < 0)
		return fail(ret_err, "cannot build the hash tree", r);
	r = out_feed(po, buf, (size_t)padding, true);
	if (r < 0)
		return fail(ret_err, r == -EIO ? "zstd compression failed" : "cannot write the payload", r);
	r = verity_builder_finish(b, m->root_hash, &m->root_hash_size);
	if (r < 0)
		return fail(ret_err, "cannot build the hash tree", r);
	m->stored_size = po->stored;
	return 0;
}

static int fill_manifest(const struct image_create_opts *o, struct manifest *m, uint64_t payload_size,
                         const char **ret_err)
{
	int r;

	*m = (struct manifest) { .format = 1, .version = o->version, .payload_size = payload_size,
				 .compression = o->zstd ? MANIFEST_COMP_ZSTD : MANIFEST_COMP_NONE };
	if (!text_ok(o->compatible, false))
		return fail(ret_err, "bad --compatible (1..255 bytes of UTF-8, no control characters)", -EINVAL);
	strcpy(m->compatible, o->compatible);
	if (o->version_string) {
		if (!text_ok(o->version_string, true))
			return fail(ret_err, "bad --version-string (up to 255 bytes of UTF-8, no control characters)", -EINVAL);
		strcpy(m->version_string, o->version_string);
	} else
		snprintf(m->version_string, sizeof m->version_string, "%" PRIu64, o->version);
	m->build_time = o->build_time ? o->build_time : build_time_now();

	verity_params_default(&m->verity, payload_size);
	m->verity.superblock = false;
	m->verity.hash_offset = payload_size; /* payload_size is 4096-aligned here */
	if (o->salt_hex) {
		size_t n;
		if (hex_decode(o->salt_hex, m->verity.salt, sizeof m->verity.salt, &n) < 0)
			return fail(ret_err, "bad --salt (hex, at most 256 bytes)", -EINVAL);
		m->verity.salt_size = (uint16_t)n;
	} else {
		if (RAND_bytes(m->verity.salt, 32) != 1)
			return fail(ret_err, "no random salt", -EIO);
		m->verity.salt_size = 32;
	}
	r = verity_hash_area_size(&m->verity, &m->tree_size);
	if (r < 0)
		return fail(ret_err, "filesystem image too large for a hash tree", r);
	return 0;
}

int image_create(const struct image_create_opts *o, struct image_create_result *ret, const char **ret_err)
{
	_cleanup_(zcctx_freep) ZSTD_CCtx *z = NULL;
	_cleanup_(signer_freep) struct verity_signer *signer = NULL;
	_cleanup_free_ uint8_t *zbuf = NULL, *cms = NULL, *rsig = NULL;
	_cleanup_free_ char *text = NULL, *dcopy = NULL;
	_cleanup_close_ int in = -1, payload = -1, dfd = -1;
	_cleanup_(tmpfile_done) struct tmpfile out = { .fd = -1 };
	struct image_create_result res = { 0 };
	struct payload_out po = { .fd = -1 };
	uint8_t hdr[UPDATE_HEADER_SIZE];
	char root_hex[2 * VERITY_MAX_DIGEST + 1];
	struct update_header h;
	size_t text_len, cms_len, rsig_len;
	uint64_t payload_size;
	int r;

	if (!o->rootfs || !o->key || !o->cert || !o->compatible || !o->output)
		return fail(ret_err, "missing --rootfs, --key, --cert, --compatible or -o", -EINVAL);

	in = open(o->rootfs, O_RDONLY | O_CLOEXEC);
	if (in < 0)
		return fail(ret_err, "cannot open the filesystem image", -errno);
	r = fd_get_size(in, &res.fs_size);
	if (r < 0)
		return fail(ret_err, "cannot get the size of the filesystem image", r);
	if (res.fs_size == 0)
		return fail(ret_err, "filesystem image is empty", -EINVAL);
	if (!o->fstype || strcmp(o->fstype, "auto") == 0) {
		r = image_detect_fstype(o->rootfs, res.fstype);
		if (r < 0)
			return fail(ret_err, "no ext4, squashfs or erofs filesystem found in the image (use --fstype)", r);
	} else if (strcmp(o->fstype, "ext4") == 0 || strcmp(o->fstype, "squashfs") == 0 ||
		   strcmp(o->fstype, "erofs") == 0) {
		char seen[16];
		/* An explicit type covers what blkid cannot name (ext2/ext3 for the
		 * ext4 driver), never a different filesystem it does recognise. */
		if (image_detect_fstype(o->rootfs, seen) == 0 && strcmp(seen, o->fstype) != 0)
			return fail(ret_err, "--fstype does not match the filesystem found in the image", -EINVAL);
		strcpy(res.fstype, o->fstype);
	} else
		return fail(ret_err, "--fstype must be auto, ext4, squashfs or erofs", -EINVAL);

	r = u64_align(res.fs_size, DATA_BLOCK, &payload_size);
	if (r < 0)
		return fail(ret_err, "filesystem image too large", r);
	res.padding = payload_size - res.fs_size;
	r = fill_manifest(o, &res.m, payload_size, ret_err);
	if (r < 0)
		return r;
	strcpy(res.m.fstype, res.fstype);

	/* Load the key before the long pass, so a bad key fails fast. */
	r = verity_signer_load(o->key, o->cert, &signer);
	if (r < 0)
		return fail(ret_err, "cannot load the signing key or certificate", r);

	payload = open_payload_tmp(o->output);
	if (payload < 0)
		return fail(ret_err, "cannot create a temporary file for the payload", payload);
	po.fd = payload;
	if (o->zstd) {
		z = ZSTD_createCCtx();
		po.zcap = ZSTD_CStreamOutSize();
		zbuf = malloc(po.zcap);
		if (!z || !zbuf)
			return fail(ret_err, "out of memory", -ENOMEM);
		/* The installer decompresses with a bounded window (8 MiB). */
		if (ZSTD_isError(ZSTD_CCtx_setParameter(z, ZSTD_c_compressionLevel, o->zstd_level ? o->zstd_level : 3)) ||
		    ZSTD_isError(ZSTD_CCtx_setParameter(z, ZSTD_c_windowLog, 23)) ||
		    ZSTD_isError(ZSTD_CCtx_setPledgedSrcSize(z, payload_size)) ||
		    ZSTD_isError(ZSTD_CCtx_setParameter(z, ZSTD_c_checksumFlag, 1)))
			return fail(ret_err, "bad zstd compression level", -EINVAL);
		po.z = z, po.zbuf = zbuf;
	}
	r = stream_rootfs(o, in, &po, &res.m, res.fs_size, res.padding, ret_err);
	if (r < 0)
		return r;

	r = manifest_format(&res.m, &text, &text_len);
	if (r < 0)
		return fail(ret_err, "inconsistent manifest", r);
	r = verity_cms_sign(signer, text, text_len, &cms, &cms_len);
	if (r < 0)
		return fail(ret_err, "cannot sign the manifest", r);
	hex_encode(res.m.root_hash, res.m.root_hash_size, root_hex);
	/* Certificates embedded: a device keyring holding only the CA can
	 * check it, and the kernel accepts the same blob. */
	r = verity_roothash_sign(signer, root_hex, true, &rsig, &rsig_len);
	if (r < 0)
		return fail(ret_err, "cannot sign the root hash", r);
	if (cms_len > UPDATE_MAX_SIG || rsig_len > UPDATE_MAX_SIG)
		return fail(ret_err, "signature larger than 64 KiB (certificate chain too long?)", -EFBIG);

	h = (struct update_header) { .manifest_size = (uint32_t)text_len, .manifest_sig_size = (uint32_t)cms_len,
				     .roothash_sig_size = (uint32_t)rsig_len, .payload_size = res.m.stored_size };
	h.payload_offset = UPDATE_HEADER_SIZE + text_len + cms_len + rsig_len;
	update_header_write(&h, hdr);

	r = tmpfile_open(o->output, &out);
	if (r < 0)
		return fail(ret_err, "cannot create the output file", r);
	if ((r = write_full(out.fd, hdr, sizeof hdr)) < 0 || (r = write_full(out.fd, text, text_len)) < 0 ||
	    (r = write_full(out.fd, cms, cms_len)) < 0 || (r = write_full(out.fd, rsig, rsig_len)) < 0 ||
	    (r = copy_payload(payload, out.fd, res.m.stored_size)) < 0)
		return fail(ret_err, "cannot write the update image", r);
	if (fchmod(out.fd, 0644) < 0 || fsync(out.fd) < 0)
		return fail(ret_err, "cannot write the update image", -errno);
	if (rename(out.path, o->output) < 0)
		return fail(ret_err, "cannot rename the update image into place", -errno);
	free(out.path);
	out.path = NULL;
	dcopy = strdup(o->output);
	if (dcopy && (dfd = open(dirname(dcopy), O_RDONLY | O_DIRECTORY | O_CLOEXEC)) >= 0)
		(void)fsync(dfd);

	res.image_size = h.payload_offset + res.m.stored_size;
	if (ret)
		*ret = res;
	return 0;
}

/* image_verify_fd: the whole-stream check of an update image, the same
 * checks the installer makes while it writes a slot, without a slot. */
#include "images/images.h"
#include "common/macro.h"
#include "common/util.h"

#include <errno.h>
#include <openssl/evp.h>
#include <string.h>
#include <zstd.h>

#define CHUNK (1U << 20)
/* The installer decompresses with this window limit (8 MiB); refuse here
 * what it would refuse there. */
#define ZSTD_WINDOW_LOG_MAX 23

static int fail(const char **ret_err, const char *msg, int r)
{
	if (ret_err)
		*ret_err = msg;
	return r;
}

static void evp_freep(EVP_MD_CTX **c) { EVP_MD_CTX_free(*c); }
static void builder_freep(struct verity_builder **b) { verity_builder_free(*b); }
static void zdctx_freep(ZSTD_DCtx **z) { ZSTD_freeDCtx(*z); }

struct sink {
	EVP_MD_CTX *sha;
	struct verity_builder *b;
	uint64_t done, want;
};

static int sink_feed(struct sink *s, const void *data, size_t len, const char **ret_err)
{
	int r;

	if (len > s->want - s->done)
		return fail(ret_err, "payload longer than the manifest says", -EBADMSG);
	if (!EVP_DigestUpdate(s->sha, data, len))
		return fail(ret_err, "sha256 failed", -EIO);
	r = verity_builder_feed(s->b, data, len);
	if (r < 0)
		return fail(ret_err, "cannot build the hash tree", r);
	s->done += len;
	return 0;
}

int image_verify_fd(int fd, const struct verity_keyring *kr, struct signed_manifest *ret_sm,
                    const char **ret_err)
{
	_cleanup_(signed_manifest_clear) struct signed_manifest sm = { 0 };
	_cleanup_(evp_freep) EVP_MD_CTX *sha = EVP_MD_CTX_new();
	_cleanup_(builder_freep) struct verity_builder *b = NULL;
	_cleanup_(zdctx_freep) ZSTD_DCtx *z = NULL;
	_cleanup_free_ uint8_t *in = malloc(CHUNK), *out = NULL;
	uint8_t digest[32], root[VERITY_MAX_DIGEST], extra;
	size_t out_cap = 0, root_len, zrem = 0;
	struct update_header h;
	struct sink s;
	uint64_t left;
	ssize_t n;
	int r;

	if (!sha || !in || !EVP_DigestInit_ex(sha, EVP_sha256(), NULL))
		return fail(ret_err, "out of memory", -ENOMEM);
	r = update_read_head(fd, kr, &h, &sm, ret_err);
	if (r < 0)
		return r;
	r = verity_builder_new(&sm.m.verity, -1, &b);
	if (r < 0)
		return fail(ret_err, "cannot start the hash tree", r);
	s = (struct sink) { .sha = sha, .b = b, .want = sm.m.payload_size };
	if (sm.m.compression == MANIFEST_COMP_ZSTD) {
		z = ZSTD_createDCtx();
		out_cap = ZSTD_DStreamOutSize();
		out = malloc(out_cap);
		if (!z || !out || ZSTD_isError(ZSTD_DCtx_setParameter(z, ZSTD_d_windowLogMax, ZSTD_WINDOW_LOG_MAX)))
			return fail(ret_err, "out of memory", -ENOMEM);
	}

	for (left = sm.m.stored_size; left > 0;) {
		size_t want = left > CHUNK ? CHUNK : (size_t)left;
		n = read_full(fd, in, want);
		if (n < 0)
			return fail(ret_err, "cannot read the payload", (int)n);
		if ((size_t)n < want)
			return fail(ret_err, "update image truncated in the payload", -EPROTO);
		left -= want;
		if (!z) {
			r = sink_feed(&s, in, want, ret_err);
			if (r < 0)
				return r;
			continue;
		}
		ZSTD_inBuffer zin = { in, want, 0 };
		while (zin.pos < zin.size) {
			ZSTD_outBuffer zout = { out, out_cap, 0 };
			zrem = ZSTD_decompressStream(z, &zout, &zin);
			if (ZSTD_isError(zrem))
				return fail(ret_err, "bad zstd payload", -EBADMSG);
			r = sink_feed(&s, out, zout.pos, ret_err);
			if (r < 0)
				return r;
		}
	}
	/* Flush what the decoder still holds. */
	while (z && zrem != 0) {
		ZSTD_inBuffer zin = { NULL, 0, 0 };
		ZSTD_outBuffer zout = { out, out_cap, 0 };
		zrem = ZSTD_decompressStream(z, &zout, &zin);
		if (ZSTD_isError(zrem))
			return fail(ret_err, "bad zstd payload", -EBADMSG);
		if (zout.pos == 0)
			return fail(ret_err, "zstd payload ends in the middle of a frame", -EBADMSG);
		r = sink_feed(&s, out, zout.pos, ret_err);
		if (r < 0)
			return r;
	}
	if (s.done < s.want)
		return fail(ret_err, "payload shorter than the manifest says", -EPROTO);
	n = read_full(fd, &extra, 1);
	if (n < 0)
		return fail(ret_err, "cannot read the payload", (int)n);
	if (n > 0)
		return fail(ret_err, "bytes after the payload", -EBADMSG);

	if (!EVP_DigestFinal_ex(sha, digest, NULL))
		return fail(ret_err, "sha256 failed", -EIO);
	if (memcmp(digest, sm.m.payload_sha256, sizeof digest) != 0)
		return fail(ret_err, "payload sha256 does not match the manifest", -EBADMSG);
	r = verity_builder_finish(b, root, &root_len);
	if (r < 0)
		return fail(ret_err, "cannot build the hash tree", r);
	if (root_len != sm.m.root_hash_size || memcmp(root, sm.m.root_hash, root_len) != 0)
		return fail(ret_err, "root hash does not match the manifest", -EBADMSG);
	if (ret_sm) {
		*ret_sm = sm;
		sm = (struct signed_manifest) { 0 };
	}
	return 0;
}

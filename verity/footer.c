/* The slot footer (docs/FORMAT.md): the signed manifest and both
 * signatures in the slot's last 128 KiB, so that a slot describes itself.
 * A 4096-byte header block (magic, sizes, sha256 of the content, CRC) comes
 * first; the content follows it. The header is written last and erased
 * first, so an interrupted write never leaves a footer that reads as valid. */
#include "verity/verity.h"
#include "common/macro.h"
#include "common/util.h"

#include <endian.h>
#include <errno.h>
#include <openssl/evp.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

#define FOOTER_MAGIC "RFSFOOT1"
#define FOOTER_VERSION 1
#define FOOTER_HEADER_BLOCK 4096
#define FOOTER_MAX_CONTENT (VERITY_FOOTER_SIZE - FOOTER_HEADER_BLOCK)
#define F_VERSION 8
#define F_MANIFEST 12
#define F_SIG 16
#define F_RSIG 20
#define F_SHA 24
#define F_CRC 56

static uint32_t get32(const uint8_t *p) { uint32_t v; memcpy(&v, p, 4); return le32toh(v); }
static void put32(uint8_t *p, uint32_t v) { v = htole32(v); memcpy(p, &v, 4); }

int slot_footer_offset(uint64_t slot_size, uint64_t *ret)
{
	if (slot_size < VERITY_FOOTER_SIZE)
		return -ENOSPC;
	/* 4096-aligned so the footer never shares a sector with the tree */
	*ret = (slot_size - VERITY_FOOTER_SIZE) & ~(uint64_t)4095;
	return 0;
}

static int footer_pos(uint64_t slot_offset, uint64_t slot_size, uint64_t *ret)
{
	uint64_t off;
	int r;

	r = slot_footer_offset(slot_size, &off);
	if (r < 0)
		return r;
	return u64_add(slot_offset, off, ret);
}

static int sha256_parts(const struct signed_manifest *sm, uint8_t out[32])
{
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	int ok;

	if (!ctx)
		return -ENOMEM;
	ok = EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) &&
	     EVP_DigestUpdate(ctx, sm->text, sm->text_len) &&
	     EVP_DigestUpdate(ctx, sm->sig, sm->sig_len) &&
	     EVP_DigestUpdate(ctx, sm->roothash_sig, sm->roothash_sig_len) &&
	     EVP_DigestFinal_ex(ctx, out, NULL);
	EVP_MD_CTX_free(ctx);
	return ok ? 0 : -EIO;
}

static int sync_fd(int fd)
{
	return fdatasync(fd) < 0 ? -errno : 0;
}

int footer_erase(int fd, uint64_t slot_offset, uint64_t slot_size)
{
	static const uint8_t zero[FOOTER_HEADER_BLOCK];
	uint64_t pos;
	int r;

	r = footer_pos(slot_offset, slot_size, &pos);
	if (r < 0)
		return r;
	r = pwrite_full(fd, zero, sizeof zero, pos);
	if (r < 0)
		return r;
	return sync_fd(fd);
}

int footer_write(int fd, uint64_t slot_offset, uint64_t slot_size, const struct signed_manifest *sm)
{
	uint8_t hdr[FOOTER_HEADER_BLOCK] = { 0 };
	struct slot_layout layout;
	struct manifest m;
	uint64_t pos, off;
	int r;

	if (!sm->text || sm->text_len == 0 || sm->text_len > MANIFEST_MAX_SIZE || !sm->sig ||
	    sm->sig_len == 0 || sm->sig_len > UPDATE_MAX_SIG || !sm->roothash_sig ||
	    sm->roothash_sig_len == 0 || sm->roothash_sig_len > UPDATE_MAX_SIG)
		return -EINVAL;
	if (sm->text_len + sm->sig_len + sm->roothash_sig_len > FOOTER_MAX_CONTENT)
		return -ENOSPC;
	/* Never describe a slot the filesystem and tree do not fit in. */
	if (manifest_parse(sm->text, sm->text_len, &m, NULL) < 0)
		return -EINVAL;
	r = slot_layout_compute(&m, slot_size, &layout);
	if (r < 0)
		return r;
	r = footer_pos(slot_offset, slot_size, &pos);
	if (r < 0)
		return r;

	/* An old header must never describe half-written new content. */
	r = footer_erase(fd, slot_offset, slot_size);
	if (r < 0)
		return r;
	off = pos + FOOTER_HEADER_BLOCK;
	r = pwrite_full(fd, sm->text, sm->text_len, off);
	if (r < 0)
		return r;
	r = pwrite_full(fd, sm->sig, sm->sig_len, off + sm->text_len);
	if (r < 0)
		return r;
	r = pwrite_full(fd, sm->roothash_sig, sm->roothash_sig_len, off + sm->text_len + sm->sig_len);
	if (r < 0)
		return r;
	r = sync_fd(fd);
	if (r < 0)
		return r;

	memcpy(hdr, FOOTER_MAGIC, 8);
	put32(hdr + F_VERSION, FOOTER_VERSION);
	put32(hdr + F_MANIFEST, (uint32_t)sm->text_len);
	put32(hdr + F_SIG, (uint32_t)sm->sig_len);
	put32(hdr + F_RSIG, (uint32_t)sm->roothash_sig_len);
	r = sha256_parts(sm, hdr + F_SHA);
	if (r < 0)
		return r;
	put32(hdr + F_CRC, (uint32_t)crc32(0, hdr, F_CRC));
	r = pwrite_full(fd, hdr, sizeof hdr, pos);
	if (r < 0)
		return r;
	return sync_fd(fd);
}

int footer_read(int fd, uint64_t slot_offset, uint64_t slot_size, struct signed_manifest *ret)
{
	_cleanup_(signed_manifest_clear) struct signed_manifest sm = { 0 };
	uint8_t hdr[F_CRC + 4], sha[32];
	uint32_t ms, ss, rs;
	uint64_t pos;
	int r;

	r = footer_pos(slot_offset, slot_size, &pos);
	if (r < 0)
		return r;
	r = pread_full(fd, hdr, sizeof hdr, pos);
	if (r < 0)
		return r;
	if (memcmp(hdr, FOOTER_MAGIC, 8) != 0)
		return -ENOENT;
	if (get32(hdr + F_CRC) != (uint32_t)crc32(0, hdr, F_CRC) || get32(hdr + F_VERSION) != FOOTER_VERSION)
		return -EBADMSG;
	ms = get32(hdr + F_MANIFEST), ss = get32(hdr + F_SIG), rs = get32(hdr + F_RSIG);
	if (ms == 0 || ms > MANIFEST_MAX_SIZE || ss == 0 || ss > UPDATE_MAX_SIG || rs == 0 ||
	    rs > UPDATE_MAX_SIG || (uint64_t)ms + ss + rs > FOOTER_MAX_CONTENT)
		return -EBADMSG;

	sm.text = malloc(ms + 1);
	sm.sig = malloc(ss);
	sm.roothash_sig = malloc(rs);
	if (!sm.text || !sm.sig || !sm.roothash_sig)
		return -ENOMEM;
	pos += FOOTER_HEADER_BLOCK;
	if ((r = pread_full(fd, sm.text, ms, pos)) < 0 ||
	    (r = pread_full(fd, sm.sig, ss, pos + ms)) < 0 ||
	    (r = pread_full(fd, sm.roothash_sig, rs, pos + ms + ss)) < 0)
		return r;
	sm.text[ms] = 0;
	sm.text_len = ms, sm.sig_len = ss, sm.roothash_sig_len = rs;
	r = sha256_parts(&sm, sha);
	if (r < 0)
		return r;
	if (memcmp(sha, hdr + F_SHA, sizeof sha) != 0)
		return -EBADMSG;
	if (manifest_parse(sm.text, sm.text_len, &sm.m, NULL) < 0)
		return -EBADMSG;
	*ret = sm;
	sm = (struct signed_manifest) { 0 };
	return 0;
}

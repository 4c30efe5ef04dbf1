/* The update image stream (docs/FORMAT.md): a fixed 64-byte header, the
 * manifest, its CMS signature, the root-hash signature, then the payload.
 * Everything before the payload is read and checked first, so a bad image
 * is refused before a single payload byte is consumed. */
#include "verity/verity.h"
#include "verity/kv-internal.h"
#include "common/macro.h"
#include "common/util.h"

#include <endian.h>
#include <errno.h>
#include <string.h>
#include <zlib.h>

#define UPDATE_HEADER_VERSION 1
#define OFF_VERSION 8
#define OFF_HDR_SIZE 12
#define OFF_MANIFEST 16
#define OFF_SIG 20
#define OFF_RSIG 24
#define OFF_PAYLOAD_OFF 32
#define OFF_PAYLOAD_SIZE 40
#define OFF_CRC 60

static uint32_t get32(const uint8_t *p) { uint32_t v; memcpy(&v, p, 4); return le32toh(v); }
static uint64_t get64(const uint8_t *p) { uint64_t v; memcpy(&v, p, 8); return le64toh(v); }
static void put32(uint8_t *p, uint32_t v) { v = htole32(v); memcpy(p, &v, 4); }
static void put64(uint8_t *p, uint64_t v) { v = htole64(v); memcpy(p, &v, 8); }

static int bad(const char **ret_err, const char *msg, int r)
{
	if (ret_err)
		*ret_err = msg;
	return r;
}

int update_header_parse(const uint8_t buf[UPDATE_HEADER_SIZE], struct update_header *ret, const char **ret_err)
{
	struct update_header h;
	uint64_t end;

	if (memcmp(buf, UPDATE_MAGIC, 8) != 0)
		return bad(ret_err, "not an update image (bad magic)", -EBADMSG);
	if (get32(buf + OFF_CRC) != (uint32_t)crc32(0, buf, OFF_CRC))
		return bad(ret_err, "update header CRC mismatch", -EBADMSG);
	if (get32(buf + OFF_VERSION) != UPDATE_HEADER_VERSION || get32(buf + OFF_HDR_SIZE) != UPDATE_HEADER_SIZE)
		return bad(ret_err, "unsupported update header version", -EBADMSG);
	h = (struct update_header) {
		.manifest_size = get32(buf + OFF_MANIFEST),
		.manifest_sig_size = get32(buf + OFF_SIG),
		.roothash_sig_size = get32(buf + OFF_RSIG),
		.payload_offset = get64(buf + OFF_PAYLOAD_OFF),
		.payload_size = get64(buf + OFF_PAYLOAD_SIZE),
	};
	if (h.manifest_size == 0 || h.manifest_size > MANIFEST_MAX_SIZE)
		return bad(ret_err, "manifest size in update header out of bounds", -EBADMSG);
	if (h.manifest_sig_size == 0 || h.manifest_sig_size > UPDATE_MAX_SIG)
		return bad(ret_err, "manifest signature size in update header out of bounds", -EBADMSG);
	if (h.roothash_sig_size == 0 || h.roothash_sig_size > UPDATE_MAX_SIG)
		return bad(ret_err, "root hash signature size in update header out of bounds", -EBADMSG);
	for (size_t i = 28; i < 32; i++)
		if (buf[i])
			return bad(ret_err, "reserved bytes in update header are not zero", -EBADMSG);
	for (size_t i = 48; i < OFF_CRC; i++)
		if (buf[i])
			return bad(ret_err, "reserved bytes in update header are not zero", -EBADMSG);
	end = (uint64_t)UPDATE_HEADER_SIZE + h.manifest_size + h.manifest_sig_size + h.roothash_sig_size;
	if (h.payload_offset != end)
		return bad(ret_err, "payload offset in update header does not follow the signatures", -EBADMSG);
	if (h.payload_size == 0 || h.payload_size > INT64_MAX - end)
		return bad(ret_err, "payload size in update header out of bounds", -EBADMSG);
	*ret = h;
	return 0;
}

void update_header_write(const struct update_header *h, uint8_t buf[UPDATE_HEADER_SIZE])
{
	memset(buf, 0, UPDATE_HEADER_SIZE);
	memcpy(buf, UPDATE_MAGIC, 8);
	put32(buf + OFF_VERSION, UPDATE_HEADER_VERSION);
	put32(buf + OFF_HDR_SIZE, UPDATE_HEADER_SIZE);
	put32(buf + OFF_MANIFEST, h->manifest_size);
	put32(buf + OFF_SIG, h->manifest_sig_size);
	put32(buf + OFF_RSIG, h->roothash_sig_size);
	put64(buf + OFF_PAYLOAD_OFF, h->payload_offset);
	put64(buf + OFF_PAYLOAD_SIZE, h->payload_size);
	put32(buf + OFF_CRC, (uint32_t)crc32(0, buf, OFF_CRC));
}

void signed_manifest_clear(struct signed_manifest *sm)
{
	free(sm->text);
	free(sm->sig);
	free(sm->roothash_sig);
	*sm = (struct signed_manifest) { 0 };
}

static const char *const manifest_sig_msgs[] = SIG_MESSAGES("manifest signature");
static const char *const roothash_sig_msgs[] = SIG_MESSAGES("root hash signature");

int signed_manifest_verify_signer(const struct verity_keyring *kr, struct signed_manifest *sm,
                                  char **ret_signer, const char **ret_err)
{
	_cleanup_free_ char *signer = NULL;
	char hex[2 * VERITY_MAX_DIGEST + 1];
	struct manifest m;
	int r;

	if (!kr || !sm->text || !sm->sig || !sm->roothash_sig)
		return bad(ret_err, "nothing to verify", -EINVAL);
	/* Signature first: the parser only ever sees authenticated bytes. */
	r = verity_cms_verify(kr, sm->text, sm->text_len, sm->sig, sm->sig_len, &signer);
	if (r < 0)
		return bad(ret_err, sig_message(manifest_sig_msgs, r), r);
	r = manifest_parse(sm->text, sm->text_len, &m, ret_err);
	if (r < 0)
		return r;
	hex_encode(m.root_hash, m.root_hash_size, hex);
	r = verity_roothash_verify(kr, hex, sm->roothash_sig, sm->roothash_sig_len);
	if (r < 0)
		return bad(ret_err, sig_message(roothash_sig_msgs, r), r);
	sm->m = m;
	if (ret_signer)
		*ret_signer = TAKE_PTR(signer);
	return 0;
}

int signed_manifest_verify(const struct verity_keyring *kr, struct signed_manifest *sm, const char **ret_err)
{
	return signed_manifest_verify_signer(kr, sm, NULL, ret_err);
}

/* Exactly len bytes from a stream, or -EPROTO at a premature end. */
static int read_part(int fd, size_t len, bool nul, uint8_t **ret)
{
	_cleanup_free_ uint8_t *buf = malloc(len + 1);
	ssize_t n;

	if (!buf)
		return -ENOMEM;
	n = read_full(fd, buf, len);
	if (n < 0)
		return (int)n;
	if ((size_t)n != len)
		return -EPROTO;
	if (nul)
		buf[len] = 0;
	*ret = TAKE_PTR(buf);
	return 0;
}

int update_read_head(int fd, const struct verity_keyring *kr, struct update_header *ret_h,
                     struct signed_manifest *ret_sm, const char **ret_err)
{
	_cleanup_(signed_manifest_clear) struct signed_manifest sm = { 0 };
	uint8_t buf[UPDATE_HEADER_SIZE];
	struct update_header h;
	ssize_t n;
	int r;

	n = read_full(fd, buf, sizeof buf);
	if (n < 0)
		return bad(ret_err, "cannot read the update header", (int)n);
	if ((size_t)n < sizeof buf)
		return bad(ret_err, "update image truncated in the header", -EPROTO);
	r = update_header_parse(buf, &h, ret_err);
	if (r < 0)
		return r;

	r = read_part(fd, h.manifest_size, true, (uint8_t **)&sm.text);
	if (r < 0)
		return bad(ret_err, r == -EPROTO ? "update image truncated in the manifest" : "cannot read the manifest", r);
	sm.text_len = h.manifest_size;
	r = read_part(fd, h.manifest_sig_size, false, &sm.sig);
	if (r < 0)
		return bad(ret_err, r == -EPROTO ? "update image truncated in the manifest signature"
						 : "cannot read the manifest signature", r);
	sm.sig_len = h.manifest_sig_size;
	r = read_part(fd, h.roothash_sig_size, false, &sm.roothash_sig);
	if (r < 0)
		return bad(ret_err, r == -EPROTO ? "update image truncated in the root hash signature"
						 : "cannot read the root hash signature", r);
	sm.roothash_sig_len = h.roothash_sig_size;

	if (kr)
		r = signed_manifest_verify(kr, &sm, ret_err);
	else
		r = manifest_parse(sm.text, sm.text_len, &sm.m, ret_err);
	if (r < 0)
		return r;
	if (sm.m.stored_size != h.payload_size)
		return bad(ret_err, "payload size in update header differs from the manifest's stored_size", -EBADMSG);
	*ret_h = h;
	*ret_sm = sm;
	sm = (struct signed_manifest) { 0 };
	return 0;
}

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
#include <openssl/asn1.h>
#include <openssl/cms.h>
#include <openssl/err.h>
#include <openssl/objects.h>
#include <openssl/x509.h>
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

/* OpenSSL's CMS verification ignores a few fields outside the signed
 * attributes: the SignedData and SignerInfo version numbers and the
 * SignerInfo signatureAlgorithm. Nothing trusted depends on them, but an
 * image must not have several valid spellings, so both signatures must
 * also have the exact form RFC 5652 prescribes. */

/* Enters (or with skip, steps over) the DER element at *p of tag/class;
 * -EBADMSG when it is something else. */
static int der_next(const unsigned char **p, const unsigned char *end, int tag, int cls, bool skip,
                    const unsigned char **ret_end)
{
	const unsigned char *q = *p;
	long len;
	int t, c, f;

	if (q >= end)
		return -EBADMSG;
	f = ASN1_get_object(&q, &len, &t, &c, end - q);
	if ((f & 0x80) || t != tag || c != cls || len > end - q)
		return -EBADMSG;
	*ret_end = q + len;
	*p = skip ? q + len : q;
	return 0;
}

static bool der_peek(const unsigned char *p, const unsigned char *end, int tag, int cls)
{
	const unsigned char *q = p;
	long len;
	int t, c;

	return p < end && !(ASN1_get_object(&q, &len, &t, &c, end - p) & 0x80) && t == tag && c == cls;
}

/* INTEGER element with a one-byte value. */
static int der_small_int(const unsigned char **p, const unsigned char *end, int *ret)
{
	const unsigned char *e;
	int r = der_next(p, end, V_ASN1_INTEGER, V_ASN1_UNIVERSAL, false, &e);

	if (r < 0 || e - *p != 1)
		return -EBADMSG;
	*ret = **p;
	*p = e;
	return 0;
}

static int check_versions(const uint8_t *der, size_t len)
{
	const unsigned char *p = der, *end = der + len, *e, *sd_end, *set_end;
	int v, r;

	if ((r = der_next(&p, end, V_ASN1_SEQUENCE, V_ASN1_UNIVERSAL, false, &e)) < 0 ||
	    (r = der_next(&p, e, V_ASN1_OBJECT, V_ASN1_UNIVERSAL, true, &e)) < 0 ||
	    (r = der_next(&p, end, 0, V_ASN1_CONTEXT_SPECIFIC, false, &e)) < 0 ||
	    (r = der_next(&p, e, V_ASN1_SEQUENCE, V_ASN1_UNIVERSAL, false, &sd_end)) < 0 ||
	    (r = der_small_int(&p, sd_end, &v)) < 0)
		return -EBADMSG;
	/* id-data content, no attribute certificates or other CRLs: v1 */
	if (v != 1)
		return -EBADMSG;
	/* digestAlgorithms: SHA-2 only (OpenSSL 3.0's CMS_verify also leaks
	 * on an unknown one, so it never gets to see one) */
	if (der_next(&p, sd_end, V_ASN1_SET, V_ASN1_UNIVERSAL, false, &set_end) < 0)
		return -EBADMSG;
	while (p < set_end) {
		const unsigned char *alg_end, *oid = NULL;
		ASN1_OBJECT *obj;
		int nid;
		if (der_next(&p, set_end, V_ASN1_SEQUENCE, V_ASN1_UNIVERSAL, false, &alg_end) < 0)
			return -EBADMSG;
		oid = p;
		obj = d2i_ASN1_OBJECT(NULL, &oid, alg_end - p);
		nid = obj ? OBJ_obj2nid(obj) : NID_undef;
		ASN1_OBJECT_free(obj);
		if (nid != NID_sha256 && nid != NID_sha384 && nid != NID_sha512)
			return -EBADMSG;
		p = alg_end;
	}
	if (der_next(&p, sd_end, V_ASN1_SEQUENCE, V_ASN1_UNIVERSAL, true, &e) < 0)
		return -EBADMSG;
	if (der_peek(p, sd_end, 0, V_ASN1_CONTEXT_SPECIFIC) &&
	    der_next(&p, sd_end, 0, V_ASN1_CONTEXT_SPECIFIC, true, &e) < 0)
		return -EBADMSG;
	if (der_peek(p, sd_end, 1, V_ASN1_CONTEXT_SPECIFIC) &&
	    der_next(&p, sd_end, 1, V_ASN1_CONTEXT_SPECIFIC, true, &e) < 0)
		return -EBADMSG;
	if (der_next(&p, sd_end, V_ASN1_SET, V_ASN1_UNIVERSAL, false, &set_end) < 0)
		return -EBADMSG;
	while (p < set_end) {
		const unsigned char *si_end;
		if (der_next(&p, set_end, V_ASN1_SEQUENCE, V_ASN1_UNIVERSAL, false, &si_end) < 0 ||
		    der_small_int(&p, si_end, &v) < 0)
			return -EBADMSG;
		/* v1 with issuerAndSerialNumber, v3 with subjectKeyIdentifier */
		if (!(v == 1 && der_peek(p, si_end, V_ASN1_SEQUENCE, V_ASN1_UNIVERSAL)) &&
		    !(v == 3 && der_peek(p, si_end, 0, V_ASN1_CONTEXT_SPECIFIC)))
			return -EBADMSG;
		p = si_end;
	}
	return 0;
}

static void cms_freep(CMS_ContentInfo **c) { CMS_ContentInfo_free(*c); }
static void certs_freep(STACK_OF(X509) **s) { sk_X509_pop_free(*s, X509_free); }

/* signatureAlgorithm must name the SignerInfo's digest (or be the bare key
 * algorithm, as for rsaEncryption) and the key type of the signer's
 * certificate when it is embedded. */
static int check_sig_algs(const uint8_t *der, size_t len)
{
	_cleanup_(cms_freep) CMS_ContentInfo *cms = NULL;
	_cleanup_(certs_freep) STACK_OF(X509) *certs = NULL;
	STACK_OF(CMS_SignerInfo) *sis;
	const unsigned char *p = der;

	cms = d2i_CMS_ContentInfo(NULL, &p, (long)len);
	if (!cms)
		return -EBADMSG;
	sis = CMS_get0_SignerInfos(cms);
	certs = CMS_get1_certs(cms);
	for (int i = 0; i < sk_CMS_SignerInfo_num(sis); i++) {
		CMS_SignerInfo *si = sk_CMS_SignerInfo_value(sis, i);
		X509_ALGOR *dig = NULL, *sig = NULL;
		int sig_nid, dig_nid, pk_nid = NID_undef, key_nid = NID_undef;

		CMS_SignerInfo_get0_algs(si, NULL, NULL, &dig, &sig);
		if (!dig || !sig)
			return -EBADMSG;
		sig_nid = OBJ_obj2nid(sig->algorithm);
		if (sig_nid == NID_undef)
			return -EBADMSG;
		for (int j = 0; j < sk_X509_num(certs); j++)
			if (CMS_SignerInfo_cert_cmp(si, sk_X509_value(certs, j)) == 0) {
				EVP_PKEY *k = X509_get0_pubkey(sk_X509_value(certs, j));
				key_nid = k ? EVP_PKEY_get_base_id(k) : NID_undef;
			}
		if (OBJ_find_sigid_algs(sig_nid, &dig_nid, &pk_nid)) {
			if (dig_nid != NID_undef && dig_nid != OBJ_obj2nid(dig->algorithm))
				return -EBADMSG;
		} else
			pk_nid = sig_nid; /* a bare key algorithm */
		if (pk_nid != EVP_PKEY_EC && pk_nid != EVP_PKEY_RSA && pk_nid != EVP_PKEY_RSA_PSS &&
		    pk_nid != EVP_PKEY_ED25519 && pk_nid != EVP_PKEY_ED448)
			return -EBADMSG;
		if (key_nid != NID_undef && key_nid != pk_nid)
			return -EBADMSG;
	}
	return 0;
}

static int check_sig_form(const uint8_t *der, size_t len)
{
	int r = check_versions(der, len);

	if (r == 0)
		r = check_sig_algs(der, len);
	ERR_clear_error();
	return r;
}

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
	r = check_sig_form(sm->sig, sm->sig_len);
	if (r == 0)
		r = verity_cms_verify(kr, sm->text, sm->text_len, sm->sig, sm->sig_len, &signer);
	if (r < 0)
		return bad(ret_err, sig_message(manifest_sig_msgs, r), r);
	r = manifest_parse(sm->text, sm->text_len, &m, ret_err);
	if (r < 0)
		return r;
	hex_encode(m.root_hash, m.root_hash_size, hex);
	r = check_sig_form(sm->roothash_sig, sm->roothash_sig_len);
	if (r == 0)
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

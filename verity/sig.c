/* Keyring, CMS and root-hash signatures on OpenSSL (CMS, X509_STORE,
 * OSSL_STORE). Every public function clears the OpenSSL error queue before
 * it returns: the result is the errno, nothing else. */
#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <string.h>
#include <sys/stat.h>

#include <openssl/cms.h>
#include <openssl/engine.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/store.h>
#include <openssl/ui.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "common/macro.h"
#include "common/util.h"
#include "verity/verity.h"

/* PEM bundles and signatures are small; anything bigger is a mistake. */
#define SIG_MAX_PEM_FILE (8u << 20)

struct verity_keyring {
	X509_STORE *store;
	STACK_OF(X509) *certs; /* everything loaded, to find -nocerts signers */
};

struct verity_signer {
	ENGINE *engine; /* the pkcs11 engine behind key, if any */
	EVP_PKEY *key;
	X509 *cert;
	STACK_OF(X509) *chain; /* intermediates, carried in signatures */
};

static void bio_freep(BIO **p) { BIO_free_all(*p); }
static void cms_freep(CMS_ContentInfo **p) { CMS_ContentInfo_free(*p); }
/* A stack whose certificates are owned elsewhere. */
static void x509_stack_shallow_freep(STACK_OF(X509) **p) { sk_X509_free(*p); }
static void info_stack_freep(STACK_OF(X509_INFO) **p) { sk_X509_INFO_pop_free(*p, X509_INFO_free); }
static void ossl_store_closep(OSSL_STORE_CTX **p) { if (*p) OSSL_STORE_close(*p); }
static void ossl_store_info_freep(OSSL_STORE_INFO **p) { OSSL_STORE_INFO_free(*p); }
static void keyring_freep(struct verity_keyring **p) { verity_keyring_free(*p); }
static void signer_freep(struct verity_signer **p) { verity_signer_free(*p); }

/* The first X509_STORE_CTX error of the verification running on this
 * thread. CMS_verify() builds its own X509_STORE_CTX and reports only
 * "certificate verify error", so the store's verify callback records the
 * precise reason here; thread-local because keyrings may be shared. */
static _Thread_local int sig_x509_error;

static int verify_cb(int ok, X509_STORE_CTX *ctx)
{
	if (!ok && sig_x509_error == X509_V_OK)
		sig_x509_error = X509_STORE_CTX_get_error(ctx);
	return ok;
}

static int x509_error_to_errno(int e)
{
	switch (e) {
	case X509_V_ERR_CERT_NOT_YET_VALID:
	case X509_V_ERR_CERT_HAS_EXPIRED:
	case X509_V_ERR_ERROR_IN_CERT_NOT_BEFORE_FIELD:
	case X509_V_ERR_ERROR_IN_CERT_NOT_AFTER_FIELD:
	case X509_V_ERR_CRL_NOT_YET_VALID:
	case X509_V_ERR_CRL_HAS_EXPIRED:
	case X509_V_ERR_ERROR_IN_CRL_LAST_UPDATE_FIELD:
	case X509_V_ERR_ERROR_IN_CRL_NEXT_UPDATE_FIELD:
		return -EKEYEXPIRED;
	case X509_V_ERR_CERT_REVOKED:
	case X509_V_ERR_UNABLE_TO_GET_CRL:
		return -EKEYREVOKED;
	case X509_V_ERR_INVALID_PURPOSE:
	case X509_V_ERR_KEYUSAGE_NO_DIGITAL_SIGNATURE:
	case X509_V_ERR_EE_KEY_TOO_SMALL:
	case X509_V_ERR_CA_KEY_TOO_SMALL:
	case X509_V_ERR_CA_MD_TOO_WEAK:
		return -EPERM;
	default:
		return -EKEYREJECTED;
	}
}

/* A code-signing certificate: keyUsage (when present) allows
 * digitalSignature, extendedKeyUsage (when present) has codeSigning or
 * anyExtendedKeyUsage, and the key is RSA >= 2048 or EC >= 256 bits. */
static int check_signing_cert(X509 *x)
{
	uint32_t flags = X509_get_extension_flags(x);
	EVP_PKEY *pk = X509_get0_pubkey(x);

	if (flags & EXFLAG_INVALID)
		return -EBADMSG;
	if ((flags & EXFLAG_KUSAGE) && !(X509_get_key_usage(x) & KU_DIGITAL_SIGNATURE))
		return -EPERM;
	if ((flags & EXFLAG_XKUSAGE) && !(X509_get_extended_key_usage(x) & (XKU_CODE_SIGN | XKU_ANYEKU)))
		return -EPERM;
	if (!pk)
		return -EBADMSG;
	switch (EVP_PKEY_get_base_id(pk)) {
	case EVP_PKEY_RSA:
		return EVP_PKEY_get_bits(pk) >= 2048 ? 0 : -EPERM;
	case EVP_PKEY_EC:
		return EVP_PKEY_get_bits(pk) >= 256 ? 0 : -EPERM;
	default:
		return -EPERM;
	}
}

/* All PEM objects of a file, read with O_CLOEXEC like every other open. */
static int read_pem_infos(const char *path, STACK_OF(X509_INFO) **ret)
{
	_cleanup_free_ uint8_t *data = NULL;
	_cleanup_(bio_freep) BIO *bio = NULL;
	STACK_OF(X509_INFO) *infos;
	size_t len;
	int r;

	r = read_file_bounded(path, SIG_MAX_PEM_FILE, &data, &len);
	if (r < 0)
		return r;
	bio = BIO_new_mem_buf(data, (int)len);
	if (!bio)
		return -ENOMEM;
	infos = PEM_X509_INFO_read_bio(bio, NULL, NULL, NULL);
	if (!infos)
		return -EBADMSG;
	*ret = infos;
	return 0;
}

/* Adds the certificates (want_crls false) or CRLs of one PEM file; returns
 * how many. */
static int keyring_add_file(struct verity_keyring *kr, const char *path, bool want_crls)
{
	_cleanup_(info_stack_freep) STACK_OF(X509_INFO) *infos = NULL;
	int r, n = 0;

	r = read_pem_infos(path, &infos);
	if (r < 0)
		return r;
	for (int i = 0; i < sk_X509_INFO_num(infos); i++) {
		X509_INFO *info = sk_X509_INFO_value(infos, i);

		if (want_crls && info->crl) {
			if (!X509_STORE_add_crl(kr->store, info->crl))
				return -ENOMEM;
			n++;
		} else if (!want_crls && info->x509) {
			if (!X509_STORE_add_cert(kr->store, info->x509))
				return -ENOMEM;
			if (!sk_X509_push(kr->certs, info->x509))
				return -ENOMEM;
			X509_up_ref(info->x509);
			n++;
		}
	}
	return n;
}

static bool has_suffix(const char *s, const char *suffix)
{
	size_t a = strlen(s), b = strlen(suffix);
	return a >= b && strcmp(s + a - b, suffix) == 0;
}

/* A file, or every file of a directory whose name ends in one of the
 * suffixes (not recursive). Returns the number of objects added. */
static int keyring_add_path(struct verity_keyring *kr, const char *path, bool want_crls,
                            const char *const suffixes[2])
{
	_cleanup_close_ int fd = -1;
	struct stat st;
	struct dirent *de;
	DIR *d;
	int r = 0, n = 0;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) < 0)
		return -errno;
	if (!S_ISDIR(st.st_mode))
		return keyring_add_file(kr, path, want_crls);

	d = fdopendir(fd);
	if (!d)
		return -errno;
	fd = -1; /* owned by d now */
	while ((errno = 0, de = readdir(d))) {
		_cleanup_free_ char *p = NULL;

		if (de->d_name[0] == '.' ||
		    !(has_suffix(de->d_name, suffixes[0]) || has_suffix(de->d_name, suffixes[1])))
			continue;
		if (asprintf(&p, "%s/%s", path, de->d_name) < 0) {
			r = -ENOMEM;
			break;
		}
		r = keyring_add_file(kr, p, want_crls);
		if (r < 0)
			break;
		n += r;
	}
	if (r >= 0 && errno != 0)
		r = -errno;
	closedir(d);
	return r < 0 ? r : n;
}

static int keyring_load(const char *path, const char *crl_path, struct verity_keyring **ret)
{
	static const char *const cert_suffixes[2] = { ".pem", ".crt" };
	static const char *const crl_suffixes[2] = { ".pem", ".crl" };
	_cleanup_(keyring_freep) struct verity_keyring *kr = NULL;
	int r;

	if (!path || !ret)
		return -EINVAL;
	kr = calloc(1, sizeof(*kr));
	if (!kr)
		return -ENOMEM;
	kr->store = X509_STORE_new();
	kr->certs = sk_X509_new_null();
	if (!kr->store || !kr->certs)
		return -ENOMEM;
	/* OpenSSL 3.0 has no code-signing purpose and CMS_verify() would
	 * otherwise impose "smimesign" (emailProtection). "any" keeps every
	 * chain check (CA flags, keyCertSign, validity, CRLs) and
	 * check_signing_cert() applies the code-signing rules to the signer. */
	if (!X509_STORE_set_purpose(kr->store, X509_PURPOSE_ANY))
		return -ENOMEM;
	/* 112-bit security for every key and certificate signature in the
	 * chain: refuses RSA < 2048 and SHA-1/MD5 signed certificates. */
	X509_VERIFY_PARAM_set_auth_level(X509_STORE_get0_param(kr->store), 2);
	X509_STORE_set_verify_cb(kr->store, verify_cb);

	r = keyring_add_path(kr, path, false, cert_suffixes);
	if (r < 0)
		return r;
	if (r == 0)
		return -ENOKEY;
	if (crl_path) {
		r = keyring_add_path(kr, crl_path, true, crl_suffixes);
		if (r < 0)
			return r;
		if (r == 0)
			return -ENODATA;
		X509_STORE_set_flags(kr->store, X509_V_FLAG_CRL_CHECK | X509_V_FLAG_CRL_CHECK_ALL);
	}
	*ret = TAKE_PTR(kr);
	return 0;
}

int verity_keyring_load(const char *path, const char *crl_path, struct verity_keyring **ret)
{
	int r = keyring_load(path, crl_path, ret);
	ERR_clear_error();
	return r;
}

void verity_keyring_free(struct verity_keyring *kr)
{
	if (!kr)
		return;
	X509_STORE_free(kr->store);
	sk_X509_pop_free(kr->certs, X509_free);
	free(kr);
}

void verity_keyring_set_time(struct verity_keyring *kr, time_t t)
{
	X509_VERIFY_PARAM *p;

	if (!kr)
		return;
	p = X509_STORE_get0_param(kr->store);
	if (t)
		X509_VERIFY_PARAM_set_time(p, t);
	else
		X509_VERIFY_PARAM_clear_flags(p, X509_V_FLAG_USE_CHECK_TIME);
}

/* "scheme:" with a scheme of two or more characters (RFC 3986), so that
 * plain paths, even with colons later on, stay paths. */
static bool is_uri(const char *s)
{
	size_t i = 0;

	while (s[i] && (s[i] == '+' || s[i] == '-' || s[i] == '.' ||
	                (s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z') ||
	                (i > 0 && s[i] >= '0' && s[i] <= '9')))
		i++;
	return i >= 2 && s[i] == ':';
}

/* Never prompt: a library has no terminal. */
static int no_password_cb(char *buf, int size, int rwflag, void *u)
{
	return -1;
}

static int load_key_uri(const char *uri, EVP_PKEY **ret)
{
	_cleanup_(ossl_store_closep) OSSL_STORE_CTX *ctx = NULL;

	ctx = OSSL_STORE_open(uri, UI_null(), NULL, NULL, NULL);
	if (!ctx) {
		/* OpenSSL tries the URI as a file name first, then looks for a
		 * loader of its scheme: the last error says whether there is one. */
		unsigned long e = ERR_peek_last_error();

		if (ERR_GET_LIB(e) == ERR_LIB_OSSL_STORE &&
		    (ERR_GET_REASON(e) == ERR_R_UNSUPPORTED || ERR_GET_REASON(e) == OSSL_STORE_R_UNREGISTERED_SCHEME))
			return -EPROTONOSUPPORT;
		return -ENOENT;
	}
	OSSL_STORE_expect(ctx, OSSL_STORE_INFO_PKEY);
	while (!OSSL_STORE_eof(ctx)) {
		_cleanup_(ossl_store_info_freep) OSSL_STORE_INFO *info = OSSL_STORE_load(ctx);

		if (!info) {
			if (OSSL_STORE_error(ctx))
				break;
			continue;
		}
		if (OSSL_STORE_INFO_get_type(info) == OSSL_STORE_INFO_PKEY) {
			*ret = OSSL_STORE_INFO_get1_PKEY(info);
			return *ret ? 0 : -ENOMEM;
		}
	}
	return -ENOKEY;
}

/* OpenSSL 3.0 on Debian 12 has no pkcs11 provider, only libp11's pkcs11
 * engine (libengine-pkcs11-openssl, through p11-kit): a pkcs11: URI that no
 * OSSL_STORE loader takes goes there. The engine API is deprecated but is
 * the only way; the functional reference stays with the signer because the
 * key's operations run in the engine. */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
static int load_key_engine(const char *uri, ENGINE **ret_engine, EVP_PKEY **ret)
{
	ENGINE *e = ENGINE_by_id("pkcs11");
	EVP_PKEY *k;

	if (!e)
		return -EPROTONOSUPPORT;
	/* libp11 prints its diagnostics on stderr; a library must not. */
	(void)ENGINE_ctrl_cmd_string(e, "QUIET", NULL, 1);
	if (!ENGINE_init(e)) {
		ENGINE_free(e);
		return -ENODEV;
	}
	/* The PIN comes in the URI (pin-value=) or not at all: no prompts. */
	k = ENGINE_load_private_key(e, uri, (UI_METHOD *)UI_null(), NULL);
	if (!k) {
		ENGINE_finish(e);
		ENGINE_free(e);
		return -ENOKEY;
	}
	*ret_engine = e;
	*ret = k;
	return 0;
}

static void engine_release(ENGINE *e)
{
	if (!e)
		return;
	ENGINE_finish(e);
	ENGINE_free(e);
}
#pragma GCC diagnostic pop

static int load_key_file(const char *path, EVP_PKEY **ret)
{
	_cleanup_free_ uint8_t *data = NULL;
	_cleanup_(bio_freep) BIO *bio = NULL;
	size_t len;
	int r;

	r = read_file_bounded(path, SIG_MAX_PEM_FILE, &data, &len);
	if (r < 0)
		return r;
	bio = BIO_new_mem_buf(data, (int)len);
	if (!bio)
		return -ENOMEM;
	*ret = PEM_read_bio_PrivateKey(bio, NULL, no_password_cb, NULL);
	OPENSSL_cleanse(data, len);
	return *ret ? 0 : -EBADMSG;
}

static int signer_load(const char *key, const char *cert, struct verity_signer **ret)
{
	_cleanup_(signer_freep) struct verity_signer *s = NULL;
	_cleanup_(info_stack_freep) STACK_OF(X509_INFO) *infos = NULL;
	int r;

	if (!key || !cert || !ret)
		return -EINVAL;
	ERR_clear_error(); /* load_key_uri() reads the queue */
	s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	s->chain = sk_X509_new_null();
	if (!s->chain)
		return -ENOMEM;
	r = is_uri(key) ? load_key_uri(key, &s->key) : load_key_file(key, &s->key);
	if (r == -EPROTONOSUPPORT && strncmp(key, "pkcs11:", 7) == 0)
		r = load_key_engine(key, &s->engine, &s->key);
	if (r < 0)
		return r;

	r = read_pem_infos(cert, &infos);
	if (r < 0)
		return r;
	for (int i = 0; i < sk_X509_INFO_num(infos); i++) {
		X509 *x = sk_X509_INFO_value(infos, i)->x509;

		if (!x)
			continue;
		X509_up_ref(x);
		if (!s->cert)
			s->cert = x;
		else if (!sk_X509_push(s->chain, x)) {
			X509_free(x);
			return -ENOMEM;
		}
	}
	if (!s->cert)
		return -ENOKEY;
	if (X509_check_private_key(s->cert, s->key) != 1)
		return -EINVAL;
	/* Refuse to make signatures verify would refuse. */
	r = check_signing_cert(s->cert);
	if (r < 0)
		return r;
	*ret = TAKE_PTR(s);
	return 0;
}

int verity_signer_load(const char *key, const char *cert, struct verity_signer **ret)
{
	int r = signer_load(key, cert, ret);
	ERR_clear_error();
	return r;
}

void verity_signer_free(struct verity_signer *s)
{
	if (!s)
		return;
	EVP_PKEY_free(s->key);
	engine_release(s->engine);
	X509_free(s->cert);
	sk_X509_pop_free(s->chain, X509_free);
	free(s);
}

static int cms_to_der(CMS_ContentInfo *cms, uint8_t **ret_der, size_t *ret_der_len)
{
	_cleanup_free_ uint8_t *der = NULL;
	unsigned char *p;
	int n;

	n = i2d_CMS_ContentInfo(cms, NULL);
	if (n <= 0)
		return -ENOMEM;
	der = malloc(n);
	if (!der)
		return -ENOMEM;
	p = der;
	if (i2d_CMS_ContentInfo(cms, &p) != n)
		return -ENOMEM;
	*ret_der = TAKE_PTR(der);
	*ret_der_len = (size_t)n;
	return 0;
}

/* Detached SignedData with SHA-256; flags add CMS_NOATTR/CMS_NOCERTS. */
static int sig_sign(const struct verity_signer *s, const void *data, size_t len, unsigned flags,
                    uint8_t **ret_der, size_t *ret_der_len)
{
	_cleanup_(bio_freep) BIO *in = NULL;
	_cleanup_(cms_freep) CMS_ContentInfo *cms = NULL;

	if (!s || (!data && len) || !ret_der || !ret_der_len)
		return -EINVAL;
	if (len > INT_MAX)
		return -EFBIG;
	flags |= CMS_DETACHED | CMS_BINARY | CMS_PARTIAL;
	in = BIO_new_mem_buf(len ? data : "", (int)len);
	if (!in)
		return -ENOMEM;
	cms = CMS_sign(NULL, NULL, (flags & CMS_NOCERTS) ? NULL : s->chain, NULL, flags);
	if (!cms)
		return -ENOMEM;
	if (!CMS_add1_signer(cms, s->cert, s->key, EVP_sha256(), flags))
		return -EINVAL;
	if (!CMS_final(cms, in, NULL, flags))
		return -EINVAL;
	return cms_to_der(cms, ret_der, ret_der_len);
}

int verity_cms_sign(const struct verity_signer *s, const void *data, size_t len,
                    uint8_t **ret_der, size_t *ret_der_len)
{
	/* S/MIME capabilities mean nothing for an update manifest. */
	int r = sig_sign(s, data, len, CMS_NOSMIMECAP, ret_der, ret_der_len);
	ERR_clear_error();
	return r;
}

static int check_roothash_hex(const char *hex)
{
	size_t n = hex ? strlen(hex) : 0;

	if (n == 0 || n % 2 || n > 2 * VERITY_MAX_DIGEST)
		return -EINVAL;
	for (size_t i = 0; i < n; i++)
		if (!((hex[i] >= '0' && hex[i] <= '9') || (hex[i] >= 'a' && hex[i] <= 'f')))
			return -EINVAL;
	return 0;
}

int verity_roothash_sign(const struct verity_signer *s, const char *roothash_hex, bool embed_certs,
                         uint8_t **ret_der, size_t *ret_der_len)
{
	int r = check_roothash_hex(roothash_hex);

	if (r < 0)
		return r;
	r = sig_sign(s, roothash_hex, strlen(roothash_hex), CMS_NOATTR | (embed_certs ? 0 : CMS_NOCERTS),
	             ret_der, ret_der_len);
	ERR_clear_error();
	return r;
}

/* Only SHA-2 message digests: a SHA-1 or MD5 signature is forgeable. */
static int check_digests(STACK_OF(CMS_SignerInfo) *sis)
{
	for (int i = 0; i < sk_CMS_SignerInfo_num(sis); i++) {
		X509_ALGOR *dig = NULL;
		const ASN1_OBJECT *obj;

		CMS_SignerInfo_get0_algs(sk_CMS_SignerInfo_value(sis, i), NULL, NULL, &dig, NULL);
		if (!dig)
			return -EBADMSG;
		X509_ALGOR_get0(&obj, NULL, NULL, dig);
		switch (OBJ_obj2nid(obj)) {
		case NID_sha256:
		case NID_sha384:
		case NID_sha512:
			break;
		default:
			return -EPERM;
		}
	}
	return 0;
}

/* Keyring certificates that match a signer by issuer and serial (or key
 * id): lets a -nocerts signature find its signer in the keyring. */
static int find_keyring_signers(const struct verity_keyring *kr, STACK_OF(CMS_SignerInfo) *sis,
                                STACK_OF(X509) **ret)
{
	_cleanup_(x509_stack_shallow_freep) STACK_OF(X509) *found = sk_X509_new_null();

	if (!found)
		return -ENOMEM;
	for (int i = 0; i < sk_CMS_SignerInfo_num(sis); i++)
		for (int j = 0; j < sk_X509_num(kr->certs); j++) {
			X509 *x = sk_X509_value(kr->certs, j);

			if (CMS_SignerInfo_cert_cmp(sk_CMS_SignerInfo_value(sis, i), x) == 0 &&
			    !sk_X509_push(found, x))
				return -ENOMEM;
		}
	*ret = TAKE_PTR(found);
	return 0;
}

/* After a failed CMS_verify: the reason, from the verify callback or the
 * error queue. */
static int cms_verify_error(void)
{
	unsigned long e;

	if (sig_x509_error != X509_V_OK)
		return x509_error_to_errno(sig_x509_error);
	while ((e = ERR_get_error()))
		if (ERR_GET_LIB(e) == ERR_LIB_CMS && ERR_GET_REASON(e) == CMS_R_SIGNER_CERTIFICATE_NOT_FOUND)
			return -ENOKEY;
	return -EBADMSG;
}

static int subject_line(X509 *x, char **ret)
{
	_cleanup_(bio_freep) BIO *b = BIO_new(BIO_s_mem());
	char *p, *s;
	long n;

	if (!b)
		return -ENOMEM;
	if (X509_NAME_print_ex(b, X509_get_subject_name(x), 0,
	                       (XN_FLAG_ONELINE & ~XN_FLAG_SPC_EQ & ~ASN1_STRFLGS_ESC_MSB) |
	                       ASN1_STRFLGS_UTF8_CONVERT) < 0)
		return -ENOMEM;
	n = BIO_get_mem_data(b, &p);
	s = strndup(n > 0 ? p : "", n > 0 ? (size_t)n : 0);
	if (!s)
		return -ENOMEM;
	*ret = s;
	return 0;
}

static int sig_verify(const struct verity_keyring *kr, const void *data, size_t len,
                      const uint8_t *der, size_t der_len, char **ret_signer)
{
	_cleanup_(cms_freep) CMS_ContentInfo *cms = NULL;
	_cleanup_(bio_freep) BIO *content = NULL;
	_cleanup_(x509_stack_shallow_freep) STACK_OF(X509) *extra = NULL;
	_cleanup_(x509_stack_shallow_freep) STACK_OF(X509) *signers = NULL;
	STACK_OF(CMS_SignerInfo) *sis;
	const unsigned char *p = der;
	int r, ok;

	if (!kr || (!data && len) || (!der && der_len))
		return -EINVAL;
	if (len > INT_MAX)
		return -EFBIG;
	if (der_len > LONG_MAX)
		return -EBADMSG;
	ERR_clear_error();

	cms = d2i_CMS_ContentInfo(NULL, &p, (long)der_len);
	if (!cms || p != der + der_len)
		return -EBADMSG;
	if (OBJ_obj2nid(CMS_get0_type(cms)) != NID_pkcs7_signed ||
	    OBJ_obj2nid(CMS_get0_eContentType(cms)) != NID_pkcs7_data ||
	    CMS_is_detached(cms) != 1)
		return -EBADMSG;
	sis = CMS_get0_SignerInfos(cms);
	if (sk_CMS_SignerInfo_num(sis) <= 0)
		return -EBADMSG;
	r = check_digests(sis);
	if (r < 0)
		return r;
	r = find_keyring_signers(kr, sis, &extra);
	if (r < 0)
		return r;

	content = BIO_new_mem_buf(len ? data : "", (int)len);
	if (!content)
		return -ENOMEM;
	/* Full verification: signer chain against the store, then the
	 * signature (and signed attributes) over the content. */
	sig_x509_error = X509_V_OK;
	ok = CMS_verify(cms, extra, kr->store, content, NULL, CMS_BINARY);
	if (ok != 1)
		return cms_verify_error();

	signers = CMS_get0_signers(cms);
	if (!signers || sk_X509_num(signers) <= 0)
		return -ENOKEY;
	for (int i = 0; i < sk_X509_num(signers); i++) {
		r = check_signing_cert(sk_X509_value(signers, i));
		if (r < 0)
			return r;
	}
	if (ret_signer)
		return subject_line(sk_X509_value(signers, 0), ret_signer);
	return 0;
}

int verity_cms_verify(const struct verity_keyring *kr, const void *data, size_t len,
                      const uint8_t *der, size_t der_len, char **ret_signer)
{
	int r = sig_verify(kr, data, len, der, der_len, ret_signer);
	ERR_clear_error();
	return r;
}

int verity_roothash_verify(const struct verity_keyring *kr, const char *roothash_hex,
                           const uint8_t *der, size_t der_len)
{
	int r = check_roothash_hex(roothash_hex);

	if (r < 0)
		return r;
	r = sig_verify(kr, roothash_hex, strlen(roothash_hex), der, der_len, NULL);
	ERR_clear_error();
	return r;
}

const char *verity_strerror(int r)
{
	switch (r) {
	case 0:
		return "success";
	case -EKEYREJECTED:
		return "signature not trusted: certificate chain does not lead to a trusted CA";
	case -EKEYEXPIRED:
		return "certificate expired or not yet valid";
	case -EKEYREVOKED:
		return "certificate revoked (or no valid CRL for it)";
	case -ENOKEY:
		return "no signer certificate (neither embedded nor in the keyring)";
	case -EBADMSG:
		return "malformed data, or signature does not match the content";
	case -EPERM:
		return "not allowed for code signing (key usage, key size or weak digest)";
	default:
		return strerror(r < 0 ? -r : r);
	}
}

/* Unit tests for verity/sig.c: keyrings, CMS and root-hash signatures.
 * Certificates come from tests/lib/testkeys.sh (run once, cached in
 * $B/testkeys); signatures the library refuses to make (weak keys, wrong
 * key usage, SHA-1) are made here with OpenSSL directly. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include <openssl/cms.h>
#include <openssl/pem.h>

#include "common/macro.h"
#include "common/util.h"
#include "verity/verity.h"

static char tk[1024];

static const char manifest[] = "format=1\ncompatible=test-gateway\nversion=7\n";
static const char hash_a[] = "4a2d0b7e0e2c7d3e1f9b8c6a5d4e3f2a1b0c9d8e7f6a5b4c3d2e1f0a9b8c7d6e";
static const char hash_b[] = "4a2d0b7e0e2c7d3e1f9b8c6a5d4e3f2a1b0c9d8e7f6a5b4c3d2e1f0a9b8c7d6f";

static const char *tkpath(const char *name)
{
	static char buf[4][PATH_MAX];
	static int i;

	i = (i + 1) % 4;
	snprintf(buf[i], sizeof buf[i], "%s/%s", tk, name);
	return buf[i];
}

static int setup(void **state)
{
	const char *b = getenv("B");
	char cmd[PATH_MAX + 128];

	snprintf(tk, sizeof tk, "%s/testkeys", b && *b ? b : "build");
	snprintf(cmd, sizeof cmd, "bash -c '. tests/lib/testkeys.sh && testkeys \"$0\"' '%s'", tk);
	if (system(cmd) != 0) {
		fprintf(stderr, "test_sig: %s failed (run from the source tree)\n", cmd);
		return -1;
	}
	return 0;
}

static struct verity_keyring *keyring(const char *path, const char *crl)
{
	struct verity_keyring *kr = NULL;

	assert_int_equal(verity_keyring_load(tkpath(path), crl ? tkpath(crl) : NULL, &kr), 0);
	return kr;
}

static struct verity_signer *signer(const char *name, const char *cert)
{
	struct verity_signer *s = NULL;
	char key[256];

	snprintf(key, sizeof key, "%s.key", name);
	assert_int_equal(verity_signer_load(tkpath(key), tkpath(cert), &s), 0);
	return s;
}

/* CMS-signs manifest (or the root hash, roothash=true) with name.key and
 * name.pem through OpenSSL directly, with any digest; attached=true keeps
 * the content inside. */
static void raw_sign_flags(const char *name, const EVP_MD *md, bool roothash, bool attached,
                           uint8_t **ret, size_t *ret_len)
{
	char path[PATH_MAX];
	FILE *f;
	EVP_PKEY *key;
	X509 *cert;
	BIO *in;
	CMS_ContentInfo *cms;
	unsigned flags = (attached ? 0 : CMS_DETACHED) | CMS_BINARY | CMS_PARTIAL | (roothash ? CMS_NOATTR : 0);
	const char *data = roothash ? hash_a : manifest;
	unsigned char *p;
	int n;

	snprintf(path, sizeof path, "%s/%s.key", tk, name);
	assert_non_null(f = fopen(path, "re"));
	assert_non_null(key = PEM_read_PrivateKey(f, NULL, NULL, NULL));
	fclose(f);
	snprintf(path, sizeof path, "%s/%s.pem", tk, name);
	assert_non_null(f = fopen(path, "re"));
	assert_non_null(cert = PEM_read_X509(f, NULL, NULL, NULL));
	fclose(f);
	assert_non_null(in = BIO_new_mem_buf(data, (int)strlen(data)));
	assert_non_null(cms = CMS_sign(NULL, NULL, NULL, NULL, flags));
	assert_non_null(CMS_add1_signer(cms, cert, key, md, flags));
	assert_int_equal(CMS_final(cms, in, NULL, flags), 1);
	n = i2d_CMS_ContentInfo(cms, NULL);
	assert_true(n > 0);
	assert_non_null(*ret = malloc(n));
	p = *ret;
	assert_int_equal(i2d_CMS_ContentInfo(cms, &p), n);
	*ret_len = (size_t)n;
	CMS_ContentInfo_free(cms);
	BIO_free(in);
	X509_free(cert);
	EVP_PKEY_free(key);
}

static void raw_sign(const char *name, const EVP_MD *md, bool roothash, uint8_t **ret, size_t *ret_len)
{
	raw_sign_flags(name, md, roothash, false, ret, ret_len);
}

static int cms_check(struct verity_keyring *kr, const char *name, const char *cert)
{
	struct verity_signer *s = signer(name, cert);
	_cleanup_free_ uint8_t *der = NULL;
	size_t n;
	int r;

	assert_int_equal(verity_cms_sign(s, manifest, strlen(manifest), &der, &n), 0);
	r = verity_cms_verify(kr, manifest, strlen(manifest), der, n, NULL);
	/* The root-hash form must agree on every verdict. */
	{
		_cleanup_free_ uint8_t *rh = NULL;
		size_t rn;

		assert_int_equal(verity_roothash_sign(s, hash_a, true, &rh, &rn), 0);
		assert_int_equal(verity_roothash_verify(kr, hash_a, rh, rn), r);
	}
	verity_signer_free(s);
	return r;
}

static void test_cms_roundtrip(void **state)
{
	struct verity_keyring *kr = keyring("dev-ca.pem", NULL);
	struct verity_signer *s = signer("dev-signing", "dev-signing.pem");
	_cleanup_free_ uint8_t *der = NULL;
	_cleanup_free_ char *who = NULL;
	size_t n;

	assert_int_equal(verity_cms_sign(s, manifest, strlen(manifest), &der, &n), 0);
	assert_int_equal(verity_cms_verify(kr, manifest, strlen(manifest), der, n, &who), 0);
	assert_non_null(strstr(who, "CN=rootfs-update development signing"));
	/* Empty content is content too. */
	free(der);
	der = NULL;
	assert_int_equal(verity_cms_sign(s, "", 0, &der, &n), 0);
	assert_int_equal(verity_cms_verify(kr, "", 0, der, n, NULL), 0);
	assert_int_equal(verity_cms_verify(kr, "x", 1, der, n, NULL), -EBADMSG);
	verity_signer_free(s);
	verity_keyring_free(kr);
}

static void test_roothash_roundtrip(void **state)
{
	struct verity_keyring *ca = keyring("dev-ca.pem", NULL);
	struct verity_signer *s = signer("dev-signing", "dev-signing.pem");
	_cleanup_free_ uint8_t *der = NULL, *bare = NULL;
	struct verity_keyring *with_leaf, *leaf_only;
	char cmd[3 * PATH_MAX + 64];
	size_t n, bn;

	assert_int_equal(verity_roothash_sign(s, hash_a, true, &der, &n), 0);
	assert_int_equal(verity_roothash_verify(ca, hash_a, der, n), 0);
	assert_int_equal(verity_roothash_verify(ca, hash_b, der, n), -EBADMSG);

	/* -nocerts: only a keyring that holds the signing certificate. */
	assert_int_equal(verity_roothash_sign(s, hash_a, false, &bare, &bn), 0);
	assert_true(bn < n);
	assert_int_equal(verity_roothash_verify(ca, hash_a, bare, bn), -ENOKEY);
	snprintf(cmd, sizeof cmd, "cat '%s/dev-ca.pem' '%s/dev-signing.pem' >'%s/ca-and-leaf.pem'", tk, tk, tk);
	assert_int_equal(system(cmd), 0);
	with_leaf = keyring("ca-and-leaf.pem", NULL);
	assert_int_equal(verity_roothash_verify(with_leaf, hash_a, bare, bn), 0);
	assert_int_equal(verity_roothash_verify(with_leaf, hash_b, bare, bn), -EBADMSG);
	/* The chain check still runs: the leaf alone is not a trust anchor. */
	leaf_only = keyring("dev-signing.pem", NULL);
	assert_int_equal(verity_roothash_verify(leaf_only, hash_a, bare, bn), -EKEYREJECTED);

	assert_int_equal(verity_roothash_sign(s, "ABCD", true, &der, &n), -EINVAL);
	assert_int_equal(verity_roothash_sign(s, "abc", true, &der, &n), -EINVAL);
	assert_int_equal(verity_roothash_verify(ca, "", bare, bn), -EINVAL);
	verity_keyring_free(leaf_only);
	verity_keyring_free(with_leaf);
	verity_signer_free(s);
	verity_keyring_free(ca);
}

static void test_rotation_and_chains(void **state)
{
	struct verity_keyring *dir = keyring("keyring", NULL);
	struct verity_keyring *dev = keyring("dev-ca.pem", NULL);
	struct verity_keyring *roots = keyring("roots.pem", NULL);

	assert_int_equal(cms_check(dir, "dev-signing", "dev-signing.pem"), 0);
	assert_int_equal(cms_check(dir, "release-signing", "release-signing.pem"), 0);
	assert_int_equal(cms_check(dev, "release-signing", "release-signing.pem"), -EKEYREJECTED);
	assert_int_equal(cms_check(dev, "rsa-signing", "rsa-signing.pem"), 0);
	assert_int_equal(cms_check(roots, "int-signing", "int-signing-chain.pem"), 0);
	/* Without the intermediate in the signature there is no chain. */
	assert_int_equal(cms_check(roots, "int-signing", "int-signing.pem"), -EKEYREJECTED);
	verity_keyring_free(roots);
	verity_keyring_free(dev);
	verity_keyring_free(dir);
}

static void test_failure_classes(void **state)
{
	struct verity_keyring *dev = keyring("keyring", NULL);
	struct verity_keyring *crl = keyring("dev-ca.pem", "dev-ca.crl");
	struct verity_keyring *crldir = keyring("keyring", "crls");

	assert_int_equal(cms_check(dev, "other-signing", "other-signing.pem"), -EKEYREJECTED);
	assert_int_equal(cms_check(dev, "expired", "expired.pem"), -EKEYEXPIRED);
	assert_int_equal(cms_check(dev, "future", "future.pem"), -EKEYEXPIRED);
	/* Without a CRL nobody knows it is revoked. */
	assert_int_equal(cms_check(dev, "revoked", "revoked.pem"), 0);
	assert_int_equal(cms_check(crl, "revoked", "revoked.pem"), -EKEYREVOKED);
	assert_int_equal(cms_check(crl, "dev-signing", "dev-signing.pem"), 0);
	assert_int_equal(cms_check(crldir, "revoked", "revoked.pem"), -EKEYREVOKED);
	assert_int_equal(cms_check(crldir, "release-signing", "release-signing.pem"), 0);
	verity_keyring_free(crldir);
	verity_keyring_free(crl);
	verity_keyring_free(dev);
}

static void test_missing_crl(void **state)
{
	/* CRL checking on, but no CRL from the release CA: not accepted. */
	struct verity_keyring *kr = keyring("keyring", "dev-ca.crl");

	assert_int_equal(cms_check(kr, "release-signing", "release-signing.pem"), -EKEYREVOKED);
	verity_keyring_free(kr);
}

static void test_key_usage(void **state)
{
	static const char *const bad[] = { "email", "keyenc", "weak-rsa", "weak-ec" };
	struct verity_keyring *kr = keyring("dev-ca.pem", NULL);

	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		struct verity_signer *s = NULL;
		_cleanup_free_ uint8_t *der = NULL, *rh = NULL;
		char key[64], cert[64];
		size_t n, rn;

		snprintf(key, sizeof key, "%s.key", bad[i]);
		snprintf(cert, sizeof cert, "%s.pem", bad[i]);
		assert_int_equal(verity_signer_load(tkpath(key), tkpath(cert), &s), -EPERM);
		assert_null(s);
		raw_sign(bad[i], EVP_sha256(), false, &der, &n);
		assert_int_equal(verity_cms_verify(kr, manifest, strlen(manifest), der, n, NULL), -EPERM);
		raw_sign(bad[i], EVP_sha256(), true, &rh, &rn);
		assert_int_equal(verity_roothash_verify(kr, hash_a, rh, rn), -EPERM);
	}
	verity_keyring_free(kr);
}

static void test_digests(void **state)
{
	struct verity_keyring *kr = keyring("dev-ca.pem", NULL);
	const struct { const EVP_MD *md; int r; } cases[] = {
		{ EVP_sha1(), -EPERM }, { EVP_sha256(), 0 }, { EVP_sha384(), 0 }, { EVP_sha512(), 0 },
		{ EVP_sha224(), -EPERM },
	};

	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		_cleanup_free_ uint8_t *der = NULL, *rh = NULL;
		size_t n, rn;

		raw_sign("rsa-signing", cases[i].md, false, &der, &n);
		assert_int_equal(verity_cms_verify(kr, manifest, strlen(manifest), der, n, NULL), cases[i].r);
		raw_sign("rsa-signing", cases[i].md, true, &rh, &rn);
		assert_int_equal(verity_roothash_verify(kr, hash_a, rh, rn), cases[i].r);
	}
	verity_keyring_free(kr);
}

static void test_malformed(void **state)
{
	struct verity_keyring *kr = keyring("dev-ca.pem", NULL);
	struct verity_signer *s = signer("dev-signing", "dev-signing.pem");
	_cleanup_free_ uint8_t *der = NULL, *big = NULL;
	uint8_t garbage[512];
	size_t n;

	assert_int_equal(verity_roothash_sign(s, hash_a, true, &der, &n), 0);
	/* Every truncation, not just a few. */
	for (size_t len = 0; len < n; len++)
		assert_int_equal(verity_roothash_verify(kr, hash_a, der, len), -EBADMSG);
	/* Trailing bytes after the DER. */
	assert_non_null(big = malloc(n + 1));
	memcpy(big, der, n);
	big[n] = 0;
	assert_int_equal(verity_roothash_verify(kr, hash_a, big, n + 1), -EBADMSG);
	/* A flipped bit in the signature value (the last bytes). */
	memcpy(big, der, n);
	big[n - 3] ^= 0x01;
	assert_int_equal(verity_roothash_verify(kr, hash_a, big, n), -EBADMSG);
	srand(1);
	for (int round = 0; round < 50; round++) {
		for (size_t i = 0; i < sizeof garbage; i++)
			garbage[i] = (uint8_t)rand();
		if (round & 1)
			garbage[0] = 0x30; /* looks like a SEQUENCE */
		assert_int_equal(verity_cms_verify(kr, manifest, strlen(manifest), garbage,
		                                   sizeof garbage / (size_t)(round % 7 + 1), NULL), -EBADMSG);
	}
	assert_int_equal(verity_cms_verify(kr, manifest, strlen(manifest), NULL, 0, NULL), -EBADMSG);
	/* Content inside the signature is not the detached form: refused even
	 * though it is validly signed. */
	free(big);
	big = NULL;
	raw_sign_flags("dev-signing", EVP_sha256(), false, true, &big, &n);
	assert_int_equal(verity_cms_verify(kr, manifest, strlen(manifest), big, n, NULL), -EBADMSG);
	verity_signer_free(s);
	verity_keyring_free(kr);
}

static void test_set_time(void **state)
{
	struct verity_keyring *kr = keyring("dev-ca.pem", NULL);
	const time_t y2020 = 1590000000, y2032 = 1960000000, y2040 = 2220000000;

	assert_int_equal(cms_check(kr, "future", "future.pem"), -EKEYEXPIRED);
	verity_keyring_set_time(kr, y2040);
	assert_int_equal(cms_check(kr, "future", "future.pem"), 0);
	assert_int_equal(cms_check(kr, "dev-signing", "dev-signing.pem"), -EKEYEXPIRED);
	verity_keyring_set_time(kr, y2032);
	assert_int_equal(cms_check(kr, "dev-signing", "dev-signing.pem"), 0);
	verity_keyring_set_time(kr, y2020);
	assert_int_equal(cms_check(kr, "dev-signing", "dev-signing.pem"), -EKEYEXPIRED);
	verity_keyring_set_time(kr, 0);
	assert_int_equal(cms_check(kr, "dev-signing", "dev-signing.pem"), 0);
	assert_int_equal(cms_check(kr, "future", "future.pem"), -EKEYEXPIRED);
	verity_keyring_free(kr);
}

static void test_load_errors(void **state)
{
	struct verity_keyring *kr = NULL;
	struct verity_signer *s = NULL;
	char uri[PATH_MAX + 16], empty[PATH_MAX];

	assert_int_equal(verity_keyring_load(tkpath("nonexistent.pem"), NULL, &kr), -ENOENT);
	assert_int_equal(verity_keyring_load(tkpath("keyring/README"), NULL, &kr), -ENOKEY);
	assert_int_equal(verity_keyring_load(tkpath("dev-ca.key"), NULL, &kr), -ENOKEY);
	snprintf(empty, sizeof empty, "%s/empty-dir", tk);
	(void)mkdir(empty, 0755);
	assert_int_equal(verity_keyring_load(empty, NULL, &kr), -ENOKEY);
	assert_int_equal(verity_keyring_load(tkpath("dev-ca.pem"), tkpath("nonexistent.crl"), &kr), -ENOENT);
	assert_int_equal(verity_keyring_load(tkpath("dev-ca.pem"), tkpath("dev-ca.pem"), &kr), -ENODATA);
	assert_null(kr);

	assert_int_equal(verity_signer_load(tkpath("dev-signing.key"), tkpath("release-signing.pem"), &s), -EINVAL);
	assert_int_equal(verity_signer_load(tkpath("nonexistent.key"), tkpath("dev-signing.pem"), &s), -ENOENT);
	assert_int_equal(verity_signer_load(tkpath("dev-signing.pem"), tkpath("dev-signing.pem"), &s), -EBADMSG);
	assert_int_equal(verity_signer_load(tkpath("dev-signing.key"), tkpath("dev-signing.key"), &s), -ENOKEY);
	assert_int_equal(verity_signer_load("nosuchscheme:thing", tkpath("dev-signing.pem"), &s), -EPROTONOSUPPORT);
	assert_null(s);
	/* The OSSL_STORE path: a file: URI. */
	snprintf(uri, sizeof uri, "file:%s", tkpath("dev-signing.key"));
	if (uri[5] != '/') {
		char abs[PATH_MAX];
		assert_non_null(realpath(tkpath("dev-signing.key"), abs));
		snprintf(uri, sizeof uri, "file:%s", abs);
	}
	assert_int_equal(verity_signer_load(uri, tkpath("dev-signing.pem"), &s), 0);
	verity_signer_free(s);
}

static void test_strerror(void **state)
{
	const int codes[] = { -EKEYREJECTED, -EKEYEXPIRED, -EKEYREVOKED, -ENOKEY, -EBADMSG, -EPERM };

	for (size_t i = 0; i < ARRAY_SIZE(codes); i++) {
		assert_string_not_equal(verity_strerror(codes[i]), strerror(-codes[i]));
		assert_null(strchr(verity_strerror(codes[i]), '\n'));
		for (size_t j = 0; j < i; j++)
			assert_string_not_equal(verity_strerror(codes[i]), verity_strerror(codes[j]));
	}
	assert_string_equal(verity_strerror(-ENOENT), strerror(ENOENT));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_cms_roundtrip),
		cmocka_unit_test(test_roothash_roundtrip),
		cmocka_unit_test(test_rotation_and_chains),
		cmocka_unit_test(test_failure_classes),
		cmocka_unit_test(test_missing_crl),
		cmocka_unit_test(test_key_usage),
		cmocka_unit_test(test_digests),
		cmocka_unit_test(test_malformed),
		cmocka_unit_test(test_set_time),
		cmocka_unit_test(test_load_errors),
		cmocka_unit_test(test_strerror),
	};
	return cmocka_run_group_tests(tests, setup, NULL);
}

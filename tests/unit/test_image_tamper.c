/* The tamper corpus in process: a really signed update image head (a CA
 * and a code-signing certificate made here with OpenSSL), every single
 * byte of header, manifest and both signatures flipped, each fed through
 * update_read_head with the keyring, as the installer reads a stream. All
 * must be refused with a message naming the part. (image-tamper.sh runs a
 * spread of the same corpus through the rootfs-image tool.) */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "common/macro.h"
#include "common/util.h"
#include "verity/verity.h"

static char dir[] = "/tmp/test_image_tamper.XXXXXX";
static struct verity_keyring *kr;
static uint8_t *image;
static size_t image_len, ms, ss, rs;

static void add_ext(X509 *x, X509 *issuer, int nid, const char *value)
{
	X509V3_CTX ctx;
	X509_EXTENSION *e;

	X509V3_set_ctx(&ctx, issuer, x, NULL, NULL, 0);
	e = X509V3_EXT_conf_nid(NULL, &ctx, nid, value);
	assert_non_null(e);
	assert_int_equal(X509_add_ext(x, e, -1), 1);
	X509_EXTENSION_free(e);
}

static X509 *make_cert(EVP_PKEY *key, const char *cn, X509 *issuer, EVP_PKEY *issuer_key, long serial)
{
	X509 *x = X509_new();
	X509_NAME *name;

	assert_non_null(x);
	X509_set_version(x, 2);
	ASN1_INTEGER_set(X509_get_serialNumber(x), serial);
	X509_gmtime_adj(X509_getm_notBefore(x), -3600);
	X509_gmtime_adj(X509_getm_notAfter(x), 86400);
	X509_set_pubkey(x, key);
	name = X509_get_subject_name(x);
	X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)cn, -1, -1, 0);
	X509_set_issuer_name(x, issuer ? X509_get_subject_name(issuer) : name);
	if (!issuer) {
		add_ext(x, x, NID_basic_constraints, "critical,CA:TRUE");
		add_ext(x, x, NID_key_usage, "critical,keyCertSign,cRLSign");
	} else {
		add_ext(x, issuer, NID_basic_constraints, "critical,CA:FALSE");
		add_ext(x, issuer, NID_key_usage, "critical,digitalSignature");
		add_ext(x, issuer, NID_ext_key_usage, "codeSigning");
	}
	assert_true(X509_sign(x, issuer_key, EVP_sha256()) > 0);
	return x;
}

static void write_pem(const char *name, X509 *x, EVP_PKEY *k)
{
	char path[128];
	FILE *f;

	snprintf(path, sizeof path, "%s/%s", dir, name);
	f = fopen(path, "we");
	assert_non_null(f);
	if (x)
		assert_int_equal(PEM_write_X509(f, x), 1);
	if (k)
		assert_int_equal(PEM_write_PrivateKey(f, k, NULL, NULL, 0, NULL, NULL), 1);
	fclose(f);
}

/* One signed image head (and a small payload), as rootfs-image writes it. */
static int setup(void **state)
{
	EVP_PKEY *ca_key = EVP_EC_gen("P-256"), *key = EVP_EC_gen("P-256");
	struct verity_signer *signer = NULL;
	struct update_header h = { 0 };
	struct manifest m = { .format = 1, .version = 3, .build_time = 1767225600, .payload_size = 8 * 4096,
			      .compression = MANIFEST_COMP_NONE, .stored_size = 8 * 4096, .root_hash_size = 32 };
	char path[2][128], hex[65];
	_cleanup_free_ char *text = NULL;
	_cleanup_free_ uint8_t *cms = NULL, *rsig = NULL;
	X509 *ca, *cert;

	assert_non_null(mkdtemp(dir));
	assert_non_null(ca_key);
	assert_non_null(key);
	ca = make_cert(ca_key, "tamper test CA", NULL, ca_key, 1);
	cert = make_cert(key, "tamper test signing", ca, ca_key, 2);
	write_pem("ca.pem", ca, NULL);
	write_pem("signing.pem", cert, NULL);
	write_pem("signing.key", NULL, key);
	X509_free(ca), X509_free(cert), EVP_PKEY_free(ca_key), EVP_PKEY_free(key);
	snprintf(path[0], sizeof path[0], "%s/ca.pem", dir);
	assert_int_equal(verity_keyring_load(path[0], NULL, &kr), 0);
	snprintf(path[0], sizeof path[0], "%s/signing.key", dir);
	snprintf(path[1], sizeof path[1], "%s/signing.pem", dir);
	assert_int_equal(verity_signer_load(path[0], path[1], &signer), 0);

	strcpy(m.compatible, "acme-gw-1");
	strcpy(m.version_string, "3");
	strcpy(m.fstype, "squashfs");
	memset(m.payload_sha256, 0x11, 32);
	memset(m.root_hash, 0x22, 32);
	strcpy(m.verity.hash_name, "sha256");
	m.verity.data_block_size = m.verity.hash_block_size = 4096;
	m.verity.data_blocks = 8;
	m.verity.salt_size = 32;
	memset(m.verity.salt, 0x33, 32);
	assert_int_equal(verity_hash_area_size(&m.verity, &m.tree_size), 0);
	assert_int_equal(manifest_format(&m, &text, &ms), 0);
	assert_int_equal(verity_cms_sign(signer, text, ms, &cms, &ss), 0);
	hex_encode(m.root_hash, 32, hex);
	assert_int_equal(verity_roothash_sign(signer, hex, true, &rsig, &rs), 0);
	verity_signer_free(signer);

	h = (struct update_header) { .manifest_size = (uint32_t)ms, .manifest_sig_size = (uint32_t)ss,
				     .roothash_sig_size = (uint32_t)rs, .payload_size = m.stored_size };
	h.payload_offset = UPDATE_HEADER_SIZE + ms + ss + rs;
	image_len = h.payload_offset + 64; /* a little payload: the head reader must not touch it */
	image = calloc(1, image_len);
	assert_non_null(image);
	update_header_write(&h, image);
	memcpy(image + UPDATE_HEADER_SIZE, text, ms);
	memcpy(image + UPDATE_HEADER_SIZE + ms, cms, ss);
	memcpy(image + UPDATE_HEADER_SIZE + ms + ss, rsig, rs);
	return 0;
}

static int teardown(void **state)
{
	char cmd[160];

	verity_keyring_free(kr);
	free(image);
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
	return system(cmd) == 0 ? 0 : -1;
}

/* update_read_head over a memfd holding data. */
static int read_head(const uint8_t *data, size_t len, const char **err)
{
	_cleanup_(signed_manifest_clear) struct signed_manifest sm = { 0 };
	_cleanup_close_ int fd = memfd_create("tamper", MFD_CLOEXEC);
	struct update_header h;

	assert_true(fd >= 0);
	assert_int_equal(write_full(fd, data, len), 0);
	assert_int_equal(lseek(fd, 0, SEEK_SET), 0);
	*err = NULL;
	return update_read_head(fd, kr, &h, &sm, err);
}

static void test_untouched_verifies(void **state)
{
	const char *err;

	assert_int_equal(read_head(image, image_len, &err), 0);
}

/* Flips every byte of [start, end); each must fail with a message that
 * starts with one of the prefixes. */
static void flip_all(size_t start, size_t end, const char *prefix1, const char *prefix2)
{
	uint8_t *v = malloc(image_len);
	size_t failures = 0;

	assert_non_null(v);
	for (size_t i = start; i < end; i++) {
		const char *err;
		int r;
		memcpy(v, image, image_len);
		v[i] ^= i % 2 ? 0xff : 0x01;
		r = read_head(v, image_len, &err);
		if (r >= 0 || !err || (strncmp(err, prefix1, strlen(prefix1)) != 0 &&
				       (!prefix2 || strncmp(err, prefix2, strlen(prefix2)) != 0))) {
			print_error("byte %zu: r=%d, %s\n", i, r, err ? err : "(no message)");
			failures++;
		}
	}
	free(v);
	assert_int_equal(failures, 0);
}

static void test_every_header_byte(void **state)
{
	flip_all(0, UPDATE_HEADER_SIZE, "update header", "not an update image");
}

static void test_every_manifest_byte(void **state)
{
	flip_all(UPDATE_HEADER_SIZE, UPDATE_HEADER_SIZE + ms, "manifest signature: does not match", NULL);
}

static void test_every_manifest_cms_byte(void **state)
{
	flip_all(UPDATE_HEADER_SIZE + ms, UPDATE_HEADER_SIZE + ms + ss, "manifest signature: ", NULL);
}

static void test_every_roothash_sig_byte(void **state)
{
	flip_all(UPDATE_HEADER_SIZE + ms + ss, UPDATE_HEADER_SIZE + ms + ss + rs, "root hash signature: ", NULL);
}

static void test_every_truncation(void **state)
{
	size_t head = UPDATE_HEADER_SIZE + ms + ss + rs;

	for (size_t cut = 0; cut < head; cut++) {
		const char *err;
		assert_int_equal(read_head(image, cut, &err), -EPROTO);
		assert_non_null(err);
		assert_int_equal(strncmp(err, "update image truncated in the ", 30), 0);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_untouched_verifies),
		cmocka_unit_test(test_every_header_byte),
		cmocka_unit_test(test_every_manifest_byte),
		cmocka_unit_test(test_every_manifest_cms_byte),
		cmocka_unit_test(test_every_roothash_sig_byte),
		cmocka_unit_test(test_every_truncation),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}

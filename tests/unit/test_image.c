/* Unit tests for verity/image.c (update header, head reader) and
 * verity/footer.c (slot footer). pwrite64 (pwrite with 64-bit off_t) is
 * wrapped (test_image.ldflags) to simulate a power cut in a footer write. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

#include "common/macro.h"
#include "common/util.h"
#include "verity/verity.h"

/* ---- pwrite fault injection: -1 = unlimited, else bytes left before EIO */
static long long write_budget = -1;
ssize_t __real_pwrite64(int fd, const void *buf, size_t len, off_t off);
ssize_t __wrap_pwrite64(int fd, const void *buf, size_t len, off_t off)
{
	if (write_budget < 0)
		return __real_pwrite64(fd, buf, len, off);
	if (write_budget == 0) {
		errno = EIO;
		return -1;
	}
	if ((long long)len > write_budget)
		len = (size_t)write_budget;
	ssize_t n = __real_pwrite64(fd, buf, len, off);
	if (n > 0)
		write_budget -= n;
	return n;
}

/* A consistent manifest built through the public API. */
static void sample_manifest(struct manifest *m, uint64_t version)
{
	*m = (struct manifest) { .format = 1, .version = version, .build_time = 1767225600,
				 .payload_size = 64 * 4096, .compression = MANIFEST_COMP_ZSTD,
				 .stored_size = 5000, .root_hash_size = 32 };
	strcpy(m->compatible, "acme-gw-1");
	strcpy(m->version_string, "1.0");
	strcpy(m->fstype, "ext4");
	memset(m->payload_sha256, 0x11, 32);
	memset(m->root_hash, 0x22, 32);
	strcpy(m->verity.hash_name, "sha256");
	m->verity.data_block_size = m->verity.hash_block_size = 4096;
	m->verity.data_blocks = 64;
	m->verity.salt_size = 32;
	memset(m->verity.salt, 0x33, 32);
	assert_int_equal(verity_hash_area_size(&m->verity, &m->tree_size), 0);
}

/* sm with the sample manifest and fake signature bytes (the footer and
 * the head reader do not verify; signed_manifest_verify is tested with
 * real certificates in tests/integration/image-*.sh). */
static void sample_signed(struct signed_manifest *sm, uint64_t version, size_t sig_len, size_t rsig_len)
{
	struct manifest m;

	sample_manifest(&m, version);
	*sm = (struct signed_manifest) { 0 };
	assert_int_equal(manifest_format(&m, &sm->text, &sm->text_len), 0);
	sm->sig = malloc(sig_len);
	sm->roothash_sig = malloc(rsig_len);
	assert_non_null(sm->sig);
	assert_non_null(sm->roothash_sig);
	memset(sm->sig, 0x30 + (int)version, sig_len);
	memset(sm->roothash_sig, 0x40 + (int)version, rsig_len);
	sm->sig_len = sig_len, sm->roothash_sig_len = rsig_len;
}

/* ------------------------------------------------------------ header */

static void valid_header(uint8_t buf[UPDATE_HEADER_SIZE])
{
	struct update_header h = { .manifest_size = 700, .manifest_sig_size = 1500,
				   .roothash_sig_size = 400, .payload_size = 5000 };
	h.payload_offset = UPDATE_HEADER_SIZE + 700 + 1500 + 400;
	update_header_write(&h, buf);
}

static void recrc(uint8_t buf[UPDATE_HEADER_SIZE])
{
	uint32_t c = htole32((uint32_t)crc32(0, buf, 60));
	memcpy(buf + 60, &c, 4);
}

static void set32(uint8_t *buf, size_t off, uint32_t v)
{
	v = htole32(v);
	memcpy(buf + off, &v, 4);
	recrc(buf);
}

#define assert_header_rejected(buf, msg) do { \
		struct update_header _h; const char *_e = NULL; \
		assert_int_equal(update_header_parse(buf, &_h, &_e), -EBADMSG); \
		assert_string_equal(_e, msg); \
	} while (0)

static void test_header_roundtrip(void **state)
{
	uint8_t buf[UPDATE_HEADER_SIZE];
	struct update_header h;

	valid_header(buf);
	assert_memory_equal(buf, UPDATE_MAGIC, 8);
	assert_int_equal(update_header_parse(buf, &h, NULL), 0);
	assert_int_equal(h.manifest_size, 700);
	assert_int_equal(h.manifest_sig_size, 1500);
	assert_int_equal(h.roothash_sig_size, 400);
	assert_true(h.payload_offset == 2664);
	assert_true(h.payload_size == 5000);
}

static void test_header_magic_crc_version(void **state)
{
	uint8_t buf[UPDATE_HEADER_SIZE];

	valid_header(buf);
	buf[0] = 'X';
	assert_header_rejected(buf, "not an update image (bad magic)");
	valid_header(buf);
	buf[17] ^= 1;
	assert_header_rejected(buf, "update header CRC mismatch");
	valid_header(buf);
	set32(buf, 8, 2);
	assert_header_rejected(buf, "unsupported update header version");
	valid_header(buf);
	buf[30] = 1;
	recrc(buf);
	assert_header_rejected(buf, "reserved bytes in update header are not zero");
	valid_header(buf);
	buf[50] = 1;
	recrc(buf);
	assert_header_rejected(buf, "reserved bytes in update header are not zero");
}

static void test_header_bounds(void **state)
{
	uint8_t buf[UPDATE_HEADER_SIZE];
	struct update_header h = { .manifest_size = MANIFEST_MAX_SIZE, .manifest_sig_size = UPDATE_MAX_SIG,
				   .roothash_sig_size = UPDATE_MAX_SIG, .payload_size = 1 };

	/* the largest legal sizes pass */
	h.payload_offset = UPDATE_HEADER_SIZE + MANIFEST_MAX_SIZE + 2 * UPDATE_MAX_SIG;
	update_header_write(&h, buf);
	assert_int_equal(update_header_parse(buf, &h, NULL), 0);

	valid_header(buf);
	set32(buf, 16, MANIFEST_MAX_SIZE + 1);
	assert_header_rejected(buf, "manifest size in update header out of bounds");
	valid_header(buf);
	set32(buf, 16, 0);
	assert_header_rejected(buf, "manifest size in update header out of bounds");
	valid_header(buf);
	set32(buf, 20, UPDATE_MAX_SIG + 1);
	assert_header_rejected(buf, "manifest signature size in update header out of bounds");
	valid_header(buf);
	set32(buf, 24, 0);
	assert_header_rejected(buf, "root hash signature size in update header out of bounds");
	valid_header(buf);
	set32(buf, 24, UINT32_MAX);
	assert_header_rejected(buf, "root hash signature size in update header out of bounds");
	valid_header(buf);
	set32(buf, 32, 2665);
	assert_header_rejected(buf, "payload offset in update header does not follow the signatures");
	valid_header(buf);
	set32(buf, 40, 0);
	assert_header_rejected(buf, "payload size in update header out of bounds");
	valid_header(buf);
	set32(buf, 44, 0x80000000u);
	assert_header_rejected(buf, "payload size in update header out of bounds");
}

/* ------------------------------------------------------- head reader */

/* An image stream (header | parts | payload) in memory. */
static size_t make_stream(uint8_t *out, const struct signed_manifest *sm, uint64_t payload_size,
			  const char *payload)
{
	struct update_header h = { .manifest_size = (uint32_t)sm->text_len,
				   .manifest_sig_size = (uint32_t)sm->sig_len,
				   .roothash_sig_size = (uint32_t)sm->roothash_sig_len,
				   .payload_size = payload_size };
	size_t n = UPDATE_HEADER_SIZE;

	h.payload_offset = UPDATE_HEADER_SIZE + sm->text_len + sm->sig_len + sm->roothash_sig_len;
	update_header_write(&h, out);
	memcpy(out + n, sm->text, sm->text_len), n += sm->text_len;
	memcpy(out + n, sm->sig, sm->sig_len), n += sm->sig_len;
	memcpy(out + n, sm->roothash_sig, sm->roothash_sig_len), n += sm->roothash_sig_len;
	memcpy(out + n, payload, strlen(payload)), n += strlen(payload);
	return n;
}

/* Feeds len bytes of stream through a pipe into update_read_head. */
static int read_head_from_pipe(const uint8_t *stream, size_t len, struct update_header *h,
			       struct signed_manifest *sm, const char **err, char *rest, size_t rest_max)
{
	int p[2], r;
	ssize_t n;

	assert_int_equal(pipe2(p, O_CLOEXEC), 0);
	assert_int_equal(write_full(p[1], stream, len), 0);
	close(p[1]);
	r = update_read_head(p[0], NULL, h, sm, err);
	if (rest) {
		n = read_full(p[0], rest, rest_max - 1);
		assert_true(n >= 0);
		rest[n] = 0;
	}
	close(p[0]);
	return r;
}

static uint8_t stream[64 * 1024];

static void test_read_head_pipe(void **state)
{
	_cleanup_(signed_manifest_clear) struct signed_manifest in = { 0 }, out = { 0 };
	struct update_header h;
	const char *err = NULL;
	char rest[64];
	size_t n;

	sample_signed(&in, 1, 1800, 900);
	n = make_stream(stream, &in, 5000, "PAYLOAD-BYTES");
	assert_int_equal(read_head_from_pipe(stream, n, &h, &out, &err, rest, sizeof rest), 0);
	/* not one payload byte was consumed */
	assert_string_equal(rest, "PAYLOAD-BYTES");
	assert_true(h.payload_size == 5000);
	assert_int_equal(out.text_len, in.text_len);
	assert_memory_equal(out.text, in.text, in.text_len);
	assert_memory_equal(out.sig, in.sig, in.sig_len);
	assert_memory_equal(out.roothash_sig, in.roothash_sig, in.roothash_sig_len);
	assert_string_equal(out.m.compatible, "acme-gw-1");
	assert_true(out.m.stored_size == 5000);
}

static void test_read_head_truncated(void **state)
{
	_cleanup_(signed_manifest_clear) struct signed_manifest in = { 0 };
	size_t ms, ss, n;
	struct {
		size_t cut;
		const char *msg;
	} cases[6];

	sample_signed(&in, 1, 1800, 900);
	n = make_stream(stream, &in, 5000, "");
	ms = in.text_len, ss = in.sig_len;
	cases[0].cut = 0, cases[0].msg = "update image truncated in the header";
	cases[1].cut = 63, cases[1].msg = "update image truncated in the header";
	cases[2].cut = 64, cases[2].msg = "update image truncated in the manifest";
	cases[3].cut = 64 + ms, cases[3].msg = "update image truncated in the manifest signature";
	cases[4].cut = 64 + ms + ss, cases[4].msg = "update image truncated in the root hash signature";
	cases[5].cut = n - 1, cases[5].msg = "update image truncated in the root hash signature";
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		struct signed_manifest out = { 0 };
		struct update_header h;
		const char *err = NULL;
		assert_int_equal(read_head_from_pipe(stream, cases[i].cut, &h, &out, &err, NULL, 0), -EPROTO);
		assert_string_equal(err, cases[i].msg);
		assert_null(out.text);
	}
}

static void test_read_head_size_mismatch(void **state)
{
	_cleanup_(signed_manifest_clear) struct signed_manifest in = { 0 };
	struct signed_manifest out = { 0 };
	struct update_header h;
	const char *err = NULL;
	size_t n;

	sample_signed(&in, 1, 100, 100);
	n = make_stream(stream, &in, 5001, "");
	assert_int_equal(read_head_from_pipe(stream, n, &h, &out, &err, NULL, 0), -EBADMSG);
	assert_string_equal(err, "payload size in update header differs from the manifest's stored_size");
}

static void test_read_head_bad_manifest(void **state)
{
	_cleanup_(signed_manifest_clear) struct signed_manifest in = { 0 };
	struct signed_manifest out = { 0 };
	struct update_header h;
	const char *err = NULL;
	size_t n;

	sample_signed(&in, 1, 100, 100);
	in.text[0] = 'F'; /* "Format=1" */
	n = make_stream(stream, &in, 5000, "");
	assert_int_equal(read_head_from_pipe(stream, n, &h, &out, &err, NULL, 0), -EBADMSG);
	assert_string_equal(err, "bad key in manifest");
}

static void test_verify_needs_keyring(void **state)
{
	_cleanup_(signed_manifest_clear) struct signed_manifest sm = { 0 };
	const char *err = NULL;

	sample_signed(&sm, 1, 100, 100);
	assert_int_equal(signed_manifest_verify(NULL, &sm, &err), -EINVAL);
	assert_non_null(err);
}

/* ------------------------------------------------------------ footer */

#define SLOT (2u << 20)

static uint64_t a_tree_size(void)
{
	struct manifest m;

	sample_manifest(&m, 1);
	return m.tree_size;
}

static int slot_file(void)
{
	char path[] = "/tmp/test_image.XXXXXX";
	int fd = mkostemp(path, O_CLOEXEC);

	assert_true(fd >= 0);
	unlink(path);
	assert_int_equal(ftruncate(fd, 2 * SLOT), 0);
	return fd;
}

static void assert_same(const struct signed_manifest *a, const struct signed_manifest *b)
{
	assert_int_equal(a->text_len, b->text_len);
	assert_memory_equal(a->text, b->text, a->text_len);
	assert_int_equal(a->sig_len, b->sig_len);
	assert_memory_equal(a->sig, b->sig, a->sig_len);
	assert_int_equal(a->roothash_sig_len, b->roothash_sig_len);
	assert_memory_equal(a->roothash_sig, b->roothash_sig, a->roothash_sig_len);
}

static void test_footer_roundtrip(void **state)
{
	_cleanup_(signed_manifest_clear) struct signed_manifest a = { 0 }, b = { 0 }, out = { 0 };
	_cleanup_close_ int fd = slot_file();

	assert_int_equal(footer_read(fd, 0, SLOT, &out), -ENOENT); /* never written */
	sample_signed(&a, 1, 2000, 800);
	sample_signed(&b, 2, 1900, 700);
	assert_int_equal(footer_write(fd, 0, SLOT, &a), 0);
	assert_int_equal(footer_write(fd, SLOT, SLOT, &b), 0);
	assert_int_equal(footer_read(fd, 0, SLOT, &out), 0);
	assert_same(&a, &out);
	assert_true(out.m.version == 1);
	signed_manifest_clear(&out);
	assert_int_equal(footer_read(fd, SLOT, SLOT, &out), 0);
	assert_same(&b, &out);
	assert_true(out.m.version == 2);
	signed_manifest_clear(&out);

	/* overwrite slot A with B's content: reads back B */
	assert_int_equal(footer_write(fd, 0, SLOT, &b), 0);
	assert_int_equal(footer_read(fd, 0, SLOT, &out), 0);
	assert_same(&b, &out);
	signed_manifest_clear(&out);

	assert_int_equal(footer_erase(fd, 0, SLOT), 0);
	assert_int_equal(footer_read(fd, 0, SLOT, &out), -ENOENT);
	assert_null(out.text);
	assert_int_equal(footer_read(fd, SLOT, SLOT, &out), 0); /* the other slot is untouched */
}

static void test_footer_position(void **state)
{
	_cleanup_(signed_manifest_clear) struct signed_manifest a = { 0 };
	_cleanup_close_ int fd = slot_file();
	uint8_t magic[8];
	uint64_t off;

	sample_signed(&a, 1, 100, 100);
	assert_int_equal(footer_write(fd, SLOT, SLOT, &a), 0);
	assert_int_equal(slot_footer_offset(SLOT, &off), 0);
	assert_true(off == SLOT - VERITY_FOOTER_SIZE);
	assert_int_equal(pread_full(fd, magic, 8, SLOT + off), 0);
	assert_memory_equal(magic, "RFSFOOT1", 8);
	assert_int_equal(pread_full(fd, magic, 8, SLOT + off + 4096), 0);
	assert_memory_equal(magic, a.text, 8);
}

/* Power cut while the content is written: the header was erased first. */
static void test_footer_torn_content(void **state)
{
	_cleanup_(signed_manifest_clear) struct signed_manifest a = { 0 }, b = { 0 }, out = { 0 };
	_cleanup_close_ int fd = slot_file();

	sample_signed(&a, 1, 2000, 800);
	sample_signed(&b, 2, 2000, 800);
	assert_int_equal(footer_write(fd, 0, SLOT, &a), 0);
	write_budget = 4096 + (long long)b.text_len / 2;
	assert_int_equal(footer_write(fd, 0, SLOT, &b), -EIO);
	write_budget = -1;
	assert_int_equal(footer_read(fd, 0, SLOT, &out), -ENOENT);
}

/* Power cut inside the header block write: magic there, CRC wrong. */
static void test_footer_torn_header(void **state)
{
	_cleanup_(signed_manifest_clear) struct signed_manifest a = { 0 }, out = { 0 };
	_cleanup_close_ int fd = slot_file();

	sample_signed(&a, 1, 2000, 800);
	write_budget = 4096 + (long long)(a.text_len + a.sig_len + a.roothash_sig_len) + 40;
	assert_int_equal(footer_write(fd, 0, SLOT, &a), -EIO);
	write_budget = -1;
	assert_int_equal(footer_read(fd, 0, SLOT, &out), -EBADMSG);
}

/* An old header over half-new content (a writer that skipped the erase). */
static void test_footer_old_header_new_content(void **state)
{
	_cleanup_(signed_manifest_clear) struct signed_manifest a = { 0 }, b = { 0 }, out = { 0 };
	_cleanup_close_ int fd = slot_file();

	sample_signed(&a, 1, 2000, 800);
	sample_signed(&b, 2, 2000, 800);
	assert_int_equal(footer_write(fd, 0, SLOT, &a), 0);
	assert_int_equal(pwrite_full(fd, b.text, b.text_len / 2, SLOT - VERITY_FOOTER_SIZE + 4096), 0);
	assert_int_equal(footer_read(fd, 0, SLOT, &out), -EBADMSG);
}

static void test_footer_damage(void **state)
{
	_cleanup_(signed_manifest_clear) struct signed_manifest a = { 0 }, out = { 0 };
	_cleanup_close_ int fd = slot_file();
	uint64_t base = SLOT - VERITY_FOOTER_SIZE;
	uint8_t c;

	sample_signed(&a, 1, 2000, 800);
	/* version, sizes, sha256, CRC; manifest, signature */
	uint64_t offs[] = { 9, 13, 30, 57, 4096, 4096 + 500, 4096 + a.text_len + 10 };
	for (size_t i = 0; i < ARRAY_SIZE(offs); i++) {
		assert_int_equal(footer_write(fd, 0, SLOT, &a), 0);
		assert_int_equal(pread_full(fd, &c, 1, base + offs[i]), 0);
		c ^= 0x01;
		assert_int_equal(pwrite_full(fd, &c, 1, base + offs[i]), 0);
		assert_int_equal(footer_read(fd, 0, SLOT, &out), -EBADMSG);
	}
	/* garbage where a footer would be: no footer */
	assert_int_equal(pwrite_full(fd, "ext4junk", 8, base), 0);
	assert_int_equal(footer_read(fd, 0, SLOT, &out), -ENOENT);
}

static void test_footer_nospace(void **state)
{
	_cleanup_(signed_manifest_clear) struct signed_manifest big = { 0 }, a = { 0 }, out = { 0 };
	_cleanup_close_ int fd = slot_file();

	sample_signed(&big, 1, UPDATE_MAX_SIG, UPDATE_MAX_SIG);
	assert_int_equal(footer_write(fd, 0, SLOT, &big), -ENOSPC);
	sample_signed(&a, 1, 100, 100);
	assert_int_equal(footer_write(fd, 0, VERITY_FOOTER_SIZE - 1, &a), -ENOSPC);
	assert_int_equal(footer_read(fd, 0, VERITY_FOOTER_SIZE - 1, &out), -ENOSPC);
	a.sig_len = 0;
	assert_int_equal(footer_write(fd, 0, SLOT, &a), -EINVAL);
	a.sig_len = 100;
	/* data + tree + footer exactly fill the slot; 4096 less is refused */
	uint64_t exact = 64 * 4096 + a_tree_size() + VERITY_FOOTER_SIZE;
	assert_int_equal(footer_write(fd, 0, exact - 4096, &a), -ENOSPC);
	assert_int_equal(footer_write(fd, 0, exact, &a), 0);
	assert_int_equal(footer_read(fd, 0, exact, &out), 0);
	/* a manifest that does not parse is not written */
	a.text[0] = 'F';
	assert_int_equal(footer_write(fd, 0, SLOT, &a), -EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_header_roundtrip),
		cmocka_unit_test(test_header_magic_crc_version),
		cmocka_unit_test(test_header_bounds),
		cmocka_unit_test(test_read_head_pipe),
		cmocka_unit_test(test_read_head_truncated),
		cmocka_unit_test(test_read_head_size_mismatch),
		cmocka_unit_test(test_read_head_bad_manifest),
		cmocka_unit_test(test_verify_needs_keyring),
		cmocka_unit_test(test_footer_roundtrip),
		cmocka_unit_test(test_footer_position),
		cmocka_unit_test(test_footer_torn_content),
		cmocka_unit_test(test_footer_torn_header),
		cmocka_unit_test(test_footer_old_header_new_content),
		cmocka_unit_test(test_footer_damage),
		cmocka_unit_test(test_footer_nospace),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

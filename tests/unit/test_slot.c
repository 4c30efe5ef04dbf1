/* Unit tests for verity/slot.c: slot_write against the real tree builder,
 * verifier and footer code, with plain and zstd payloads, and every way
 * the stream can lie (short, long, wrong hash, bad frames). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zstd.h>

#include "common/macro.h"
#include "common/util.h"
#include "verity/verity.h"

#define SLOT_OFF (1U << 20)
#define SLOT_SIZE (16U << 20)
#define FILL 0x5a

struct fixture {
	uint8_t *payload;            /* payload_size bytes */
	uint8_t *stream;             /* what the source delivers */
	size_t stream_len;
	struct signed_manifest sm;
	char path[64];
	int fd;
};

/* A source over memory: delivers at most `step` bytes a call, counts. */
struct mem_src {
	const uint8_t *p;
	size_t len, pos, step;
	size_t calls;
	int fail_at;                 /* return -EIO once pos >= fail_at (if > 0) */
};

static ssize_t mem_read(void *ud, void *buf, size_t len)
{
	struct mem_src *s = ud;
	size_t n = len < s->step ? len : s->step;

	s->calls++;
	if (s->fail_at > 0 && s->pos >= (size_t)s->fail_at)
		return -EIO;
	if (n > s->len - s->pos)
		n = s->len - s->pos;
	memcpy(buf, s->p + s->pos, n);
	s->pos += n;
	return (ssize_t)n;
}

static void make_manifest(struct fixture *f, uint64_t payload_size, enum manifest_compression comp,
                          uint64_t stored_size)
{
	struct manifest *m = &f->sm.m;
	struct verity_builder *b;
	size_t root_len;
	uint64_t tree_size;

	memset(m, 0, sizeof(*m));
	m->format = 1;
	strcpy(m->compatible, "test-board");
	m->version = 7;
	strcpy(m->version_string, "7.0");
	m->build_time = 1700000000;
	strcpy(m->fstype, "ext4");
	m->payload_size = payload_size;
	m->compression = comp;
	m->stored_size = stored_size;
	verity_params_default(&m->verity, payload_size);
	m->verity.superblock = false;
	m->verity.salt_size = 32;
	memset(m->verity.salt, 0xab, 32);
	assert_int_equal(u64_align(payload_size, 4096, &m->verity.hash_offset), 0);
	assert_int_equal(verity_hash_area_size(&m->verity, &tree_size), 0);
	m->tree_size = tree_size;
	assert_int_equal(EVP_Digest(f->payload, payload_size, m->payload_sha256, NULL, EVP_sha256(), NULL), 1);
	assert_int_equal(verity_builder_new(&m->verity, -1, &b), 0);
	assert_int_equal(verity_builder_feed(b, f->payload, payload_size), 0);
	assert_int_equal(verity_builder_finish(b, m->root_hash, &root_len), 0);
	verity_builder_free(b);
	m->root_hash_size = root_len;

	/* slot_write does not check signatures (the installer did); the
	 * footer only needs bytes to store. */
	assert_int_equal(manifest_format(m, &f->sm.text, &f->sm.text_len), 0);
	f->sm.sig = malloc(16);
	f->sm.roothash_sig = malloc(16);
	memset(f->sm.sig, 1, 16);
	memset(f->sm.roothash_sig, 2, 16);
	f->sm.sig_len = f->sm.roothash_sig_len = 16;
}

static int setup_common(void **state, uint64_t payload_size, bool zstd)
{
	struct fixture *f = calloc(1, sizeof(*f));
	uint8_t *fill;

	f->payload = malloc(payload_size);
	/* compressible but not trivial: random blocks between zero runs */
	memset(f->payload, 0, payload_size);
	for (uint64_t o = 0; o < payload_size; o += 16384)
		RAND_bytes(f->payload + o, (int)(payload_size - o < 4096 ? payload_size - o : 4096));
	if (zstd) {
		size_t cap = ZSTD_compressBound(payload_size);
		f->stream = malloc(cap);
		f->stream_len = ZSTD_compress(f->stream, cap, f->payload, payload_size, 3);
		assert_false(ZSTD_isError(f->stream_len));
		make_manifest(f, payload_size, MANIFEST_COMP_ZSTD, f->stream_len);
	} else {
		f->stream = malloc(payload_size);
		memcpy(f->stream, f->payload, payload_size);
		f->stream_len = payload_size;
		make_manifest(f, payload_size, MANIFEST_COMP_NONE, payload_size);
	}
	strcpy(f->path, "/tmp/test_slot.XXXXXX");
	f->fd = mkostemp(f->path, O_CLOEXEC);
	assert_true(f->fd >= 0);
	unlink(f->path);
	/* a marker everywhere, so writes outside the slot show */
	fill = malloc(SLOT_OFF + SLOT_SIZE + SLOT_OFF);
	memset(fill, FILL, SLOT_OFF + SLOT_SIZE + SLOT_OFF);
	assert_int_equal(pwrite_full(f->fd, fill, SLOT_OFF + SLOT_SIZE + SLOT_OFF, 0), 0);
	free(fill);
	*state = f;
	return 0;
}

static int setup_plain(void **state) { return setup_common(state, 3 * 1024 * 1024 + 8192, false); }
static int setup_zstd(void **state) { return setup_common(state, 5 * 1024 * 1024 + 4096, true); }

static int teardown(void **state)
{
	struct fixture *f = *state;

	close(f->fd);
	free(f->payload);
	free(f->stream);
	signed_manifest_clear(&f->sm);
	free(f);
	return 0;
}

static struct slot_target target(const struct fixture *f)
{
	return (struct slot_target){ .fd = f->fd, .offset = SLOT_OFF, .size = SLOT_SIZE };
}

static bool region_is(int fd, uint64_t off, uint64_t len, uint8_t v)
{
	uint8_t buf[4096];

	while (len) {
		size_t n = len < sizeof(buf) ? (size_t)len : sizeof(buf);
		assert_int_equal(pread_full(fd, buf, n, off), 0);
		for (size_t i = 0; i < n; i++)
			if (buf[i] != v)
				return false;
		off += n, len -= n;
	}
	return true;
}

static void assert_untouched_outside(const struct fixture *f)
{
	assert_true(region_is(f->fd, 0, SLOT_OFF, FILL));
	assert_true(region_is(f->fd, SLOT_OFF + SLOT_SIZE, SLOT_OFF, FILL));
}

static void assert_no_footer(const struct fixture *f)
{
	struct signed_manifest sm = { 0 };

	assert_int_not_equal(footer_read(f->fd, SLOT_OFF, SLOT_SIZE, &sm), 0);
}

struct progress_log {
	uint64_t last, total;
	unsigned calls;
	bool monotonic;
};

static void progress(void *ud, uint64_t done, uint64_t total)
{
	struct progress_log *p = ud;

	if (done < p->last)
		p->monotonic = false;
	p->last = done, p->total = total;
	p->calls++;
}

static void assert_good_slot(const struct fixture *f)
{
	const struct manifest *m = &f->sm.m;
	struct signed_manifest back = { 0 };
	struct verity_params vp = m->verity;
	uint8_t *data = malloc(m->payload_size);
	struct verity_corruption bad;
	int dfd;
	char p[64];

	/* the filesystem bytes */
	assert_int_equal(pread_full(f->fd, data, m->payload_size, SLOT_OFF), 0);
	assert_memory_equal(data, f->payload, m->payload_size);
	/* the tree: check it with the verifier over a copy of the data at 0 */
	strcpy(p, "/tmp/test_slot_data.XXXXXX");
	dfd = mkostemp(p, O_CLOEXEC);
	unlink(p);
	assert_int_equal(pwrite_full(dfd, data, m->payload_size, 0), 0);
	vp.hash_offset = SLOT_OFF + m->verity.hash_offset;
	assert_int_equal(verity_verify(&vp, dfd, f->fd, m->root_hash, m->root_hash_size, &bad), 0);
	close(dfd);
	free(data);
	/* the footer describes the slot */
	assert_int_equal(footer_read(f->fd, SLOT_OFF, SLOT_SIZE, &back), 0);
	assert_int_equal(back.text_len, f->sm.text_len);
	assert_memory_equal(back.text, f->sm.text, f->sm.text_len);
	assert_true(back.m.version == 7);
	signed_manifest_clear(&back);
	assert_untouched_outside(f);
}

static void test_plain_good(void **state)
{
	struct fixture *f = *state;
	struct mem_src s = { .p = f->stream, .len = f->stream_len, .step = 100000 };
	struct slot_target t = target(f);
	struct progress_log pl = { .monotonic = true };

	assert_int_equal(slot_write(&f->sm, mem_read, &s, &t, progress, &pl), 0);
	assert_good_slot(f);
	/* read exactly the stored bytes, then one end-of-stream probe */
	assert_int_equal(s.pos, f->stream_len);
	assert_true(pl.monotonic);
	assert_true(pl.last == f->sm.m.payload_size && pl.total == f->sm.m.payload_size);
}

static void test_plain_tiny_reads_buffered(void **state)
{
	struct fixture *f = *state;
	struct mem_src s = { .p = f->stream, .len = f->stream_len, .step = 4093 };
	struct signed_manifest back = { 0 };
	uint8_t *data = malloc(f->sm.m.payload_size);
	char p[64] = "/dev/shm/test_slot.XXXXXX";
	int fd = mkostemp(p, O_CLOEXEC);
	/* tmpfs has no O_DIRECT: the buffered writer with bounded writeback */
	struct slot_target t = { .fd = fd, .offset = 4096, .size = SLOT_SIZE };

	assert_true(fd >= 0);
	unlink(p);
	assert_int_equal(ftruncate(fd, 4096 + SLOT_SIZE), 0);
	assert_int_equal(slot_write(&f->sm, mem_read, &s, &t, NULL, NULL), 0);
	assert_int_equal(pread_full(fd, data, f->sm.m.payload_size, 4096), 0);
	assert_memory_equal(data, f->payload, f->sm.m.payload_size);
	assert_int_equal(footer_read(fd, t.offset, t.size, &back), 0);
	signed_manifest_clear(&back);
	close(fd);
	free(data);
}

static void test_unaligned_slot(void **state)
{
	struct fixture *f = *state;
	struct mem_src s = { .p = f->stream, .len = f->stream_len, .step = 4096 };
	struct slot_target t = { .fd = f->fd, .offset = SLOT_OFF + 512, .size = SLOT_SIZE - 512 };

	/* the tree must start on a hash block of the device */
	assert_int_equal(slot_write(&f->sm, mem_read, &s, &t, NULL, NULL), -EINVAL);
	assert_int_equal(s.calls, 0);
}

static void test_plain_tampered_payload(void **state)
{
	struct fixture *f = *state;
	struct slot_target t = target(f);
	struct mem_src s = { .p = f->stream, .len = f->stream_len, .step = 1 << 20 };

	f->stream[f->stream_len / 2] ^= 1;
	assert_int_equal(slot_write(&f->sm, mem_read, &s, &t, NULL, NULL), -EBADMSG);
	assert_no_footer(f);
	assert_untouched_outside(f);
}

static void test_plain_wrong_root(void **state)
{
	struct fixture *f = *state;
	struct slot_target t = target(f);
	struct mem_src s = { .p = f->stream, .len = f->stream_len, .step = 1 << 20 };

	f->sm.m.root_hash[0] ^= 0x80;
	assert_int_equal(slot_write(&f->sm, mem_read, &s, &t, NULL, NULL), -EBADMSG);
	assert_no_footer(f);
}

static void test_plain_truncated(void **state)
{
	struct fixture *f = *state;
	struct slot_target t = target(f);
	struct mem_src s = { .p = f->stream, .len = f->stream_len - 4096, .step = 1 << 20 };

	assert_int_equal(slot_write(&f->sm, mem_read, &s, &t, NULL, NULL), -EPROTO);
	assert_no_footer(f);
}

static void test_plain_trailing(void **state)
{
	struct fixture *f = *state;
	struct slot_target t = target(f);
	uint8_t *longer = malloc(f->stream_len + 10);
	struct mem_src s = { .p = longer, .len = f->stream_len + 10, .step = 1 << 20 };

	memcpy(longer, f->stream, f->stream_len);
	memset(longer + f->stream_len, 0, 10);
	assert_int_equal(slot_write(&f->sm, mem_read, &s, &t, NULL, NULL), -EBADMSG);
	/* never more than one byte past what the manifest promises */
	assert_true(s.pos <= f->stream_len + 1);
	assert_no_footer(f);
	free(longer);
}

static void test_plain_read_error(void **state)
{
	struct fixture *f = *state;
	struct slot_target t = target(f);
	struct mem_src s = { .p = f->stream, .len = f->stream_len, .step = 65536, .fail_at = 2 << 20 };

	assert_int_equal(slot_write(&f->sm, mem_read, &s, &t, NULL, NULL), -EIO);
	assert_no_footer(f);
}

static void test_no_space(void **state)
{
	struct fixture *f = *state;
	struct slot_target t = { .fd = f->fd, .offset = SLOT_OFF, .size = 2 << 20 };
	struct mem_src s = { .p = f->stream, .len = f->stream_len, .step = 1 << 20 };

	assert_int_equal(slot_write(&f->sm, mem_read, &s, &t, NULL, NULL), -ENOSPC);
	assert_int_equal(s.calls, 0);
	assert_true(region_is(f->fd, SLOT_OFF, SLOT_SIZE, FILL));
}

static void test_layout_mismatch(void **state)
{
	struct fixture *f = *state;
	struct slot_target t = target(f);
	struct mem_src s = { .p = f->stream, .len = f->stream_len, .step = 1 << 20 };

	f->sm.m.verity.hash_offset += 4096;
	assert_int_equal(slot_write(&f->sm, mem_read, &s, &t, NULL, NULL), -EBADMSG);
	f->sm.m.verity.hash_offset -= 4096;
	f->sm.m.stored_size++;
	assert_int_equal(slot_write(&f->sm, mem_read, &s, &t, NULL, NULL), -EBADMSG);
	assert_int_equal(s.calls, 0);
}

static void test_write_error(void **state)
{
	struct fixture *f = *state;
	struct mem_src s = { .p = f->stream, .len = f->stream_len, .step = 1 << 20 };
	char p[64];
	int ro;
	struct slot_target t;

	snprintf(p, sizeof(p), "/proc/self/fd/%d", f->fd);
	ro = open(p, O_RDONLY | O_CLOEXEC);
	assert_true(ro >= 0);
	t = (struct slot_target){ .fd = ro, .offset = SLOT_OFF, .size = SLOT_SIZE };
	assert_true(slot_write(&f->sm, mem_read, &s, &t, NULL, NULL) < 0);
	close(ro);
	assert_no_footer(f);
}

static void test_zstd_good(void **state)
{
	struct fixture *f = *state;
	struct mem_src s = { .p = f->stream, .len = f->stream_len, .step = 7777 };
	struct slot_target t = target(f);

	assert_true(f->stream_len < f->sm.m.payload_size);
	assert_int_equal(slot_write(&f->sm, mem_read, &s, &t, NULL, NULL), 0);
	assert_good_slot(f);
	assert_int_equal(s.pos, f->stream_len);
}

static void test_zstd_truncated(void **state)
{
	struct fixture *f = *state;
	struct slot_target t = target(f);
	struct mem_src s = { .p = f->stream, .len = f->stream_len - 100, .step = 1 << 16 };

	assert_int_equal(slot_write(&f->sm, mem_read, &s, &t, NULL, NULL), -EPROTO);
	assert_no_footer(f);
}

static void test_zstd_corrupt(void **state)
{
	struct fixture *f = *state;
	struct slot_target t = target(f);
	struct mem_src s = { .p = f->stream, .len = f->stream_len, .step = 1 << 16 };

	for (size_t i = 100; i < 200; i++)
		f->stream[f->stream_len / 2 + i] ^= 0x55;
	assert_int_equal(slot_write(&f->sm, mem_read, &s, &t, NULL, NULL), -EBADMSG);
	assert_no_footer(f);
}

/* A frame holding more than payload_size bytes must not overflow the slot. */
static void test_zstd_too_long(void **state)
{
	struct fixture *f = *state;
	struct slot_target t = target(f);
	uint64_t n = f->sm.m.payload_size + 4096;
	uint8_t *big = calloc(1, n);
	size_t cap = ZSTD_compressBound(n);
	uint8_t *z = malloc(cap);
	size_t zl;
	struct mem_src s;

	memcpy(big, f->payload, f->sm.m.payload_size);
	zl = ZSTD_compress(z, cap, big, n, 3);
	assert_false(ZSTD_isError(zl));
	f->sm.m.stored_size = zl;
	s = (struct mem_src){ .p = z, .len = zl, .step = 1 << 16 };
	assert_int_equal(slot_write(&f->sm, mem_read, &s, &t, NULL, NULL), -EBADMSG);
	assert_no_footer(f);
	assert_untouched_outside(f);
	free(big);
	free(z);
}

static void test_zstd_too_short(void **state)
{
	struct fixture *f = *state;
	struct slot_target t = target(f);
	uint64_t n = f->sm.m.payload_size - 4096;
	size_t cap = ZSTD_compressBound(n);
	uint8_t *z = malloc(cap);
	size_t zl = ZSTD_compress(z, cap, f->payload, n, 3);
	struct mem_src s = { .p = z, .len = zl, .step = 1 << 16 };

	f->sm.m.stored_size = zl;
	assert_int_equal(slot_write(&f->sm, mem_read, &s, &t, NULL, NULL), -EBADMSG);
	assert_no_footer(f);
	free(z);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_plain_good, setup_plain, teardown),
		cmocka_unit_test_setup_teardown(test_plain_tiny_reads_buffered, setup_plain, teardown),
		cmocka_unit_test_setup_teardown(test_unaligned_slot, setup_plain, teardown),
		cmocka_unit_test_setup_teardown(test_plain_tampered_payload, setup_plain, teardown),
		cmocka_unit_test_setup_teardown(test_plain_wrong_root, setup_plain, teardown),
		cmocka_unit_test_setup_teardown(test_plain_truncated, setup_plain, teardown),
		cmocka_unit_test_setup_teardown(test_plain_trailing, setup_plain, teardown),
		cmocka_unit_test_setup_teardown(test_plain_read_error, setup_plain, teardown),
		cmocka_unit_test_setup_teardown(test_no_space, setup_plain, teardown),
		cmocka_unit_test_setup_teardown(test_layout_mismatch, setup_plain, teardown),
		cmocka_unit_test_setup_teardown(test_write_error, setup_plain, teardown),
		cmocka_unit_test_setup_teardown(test_zstd_good, setup_zstd, teardown),
		cmocka_unit_test_setup_teardown(test_zstd_truncated, setup_zstd, teardown),
		cmocka_unit_test_setup_teardown(test_zstd_corrupt, setup_zstd, teardown),
		cmocka_unit_test_setup_teardown(test_zstd_too_long, setup_zstd, teardown),
		cmocka_unit_test_setup_teardown(test_zstd_too_short, setup_zstd, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

/* Unit tests for verity/tree.c and verity/verify.c: layout math, the
 * streaming builder against a naive in-memory reference tree, and the
 * verifier on corrupted data, hash blocks and padding. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <openssl/evp.h>
#include <sched.h>
#include <string.h>
#include <sys/mman.h>

#include "common/macro.h"
#include "common/util.h"
#include "verity/verity.h"

static uint64_t rng_state = 0x9e3779b97f4a7c15ULL;

static uint64_t rnd(void)
{
	/* xorshift64*: deterministic, fast enough to fill tens of MiB */
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return rng_state * 0x2545f4914f6cdd1dULL;
}

static uint8_t *random_data(size_t len)
{
	uint8_t *d = malloc(len + 8);

	assert_non_null(d);
	for (size_t i = 0; i < len; i += 8) {
		uint64_t v = rnd();
		memcpy(d + i, &v, 8);
	}
	return d;
}

static int memfd(void)
{
	int fd = memfd_create("test_tree", MFD_CLOEXEC);

	assert_true(fd >= 0);
	return fd;
}

static void params(struct verity_params *p, const char *hash, uint32_t dbs, uint32_t hbs,
                   uint64_t blocks, size_t salt_size, bool sb, uint64_t offset)
{
	verity_params_default(p, 0);
	strcpy(p->hash_name, hash);
	p->data_block_size = dbs;
	p->hash_block_size = hbs;
	p->data_blocks = blocks;
	p->salt_size = (uint16_t)salt_size;
	for (size_t i = 0; i < salt_size; i++)
		p->salt[i] = (uint8_t)(0xa0 + i);
	p->superblock = sb;
	p->hash_offset = offset;
	for (int i = 0; i < 16; i++)
		p->uuid[i] = (uint8_t)i;
}

/* ------------------------------------------------------------------ */
/* Reference: the whole tree in memory, straight from the format text.  */

static void ref_digest(const struct verity_params *p, const uint8_t *block, size_t len, uint8_t *out)
{
	EVP_MD_CTX *c = EVP_MD_CTX_new();

	assert_non_null(c);
	assert_int_equal(EVP_DigestInit_ex(c, EVP_get_digestbyname(p->hash_name), NULL), 1);
	assert_int_equal(EVP_DigestUpdate(c, p->salt, p->salt_size), 1);
	assert_int_equal(EVP_DigestUpdate(c, block, len), 1);
	assert_int_equal(EVP_DigestFinal_ex(c, out, NULL), 1);
	EVP_MD_CTX_free(c);
}

/* Tree bytes (top level first, no superblock) and root hash for data
 * zero-padded to data_blocks blocks. */
static void ref_tree(const struct verity_params *p, const uint8_t *data, size_t data_len,
                     uint8_t **ret_tree, size_t *ret_tree_len, uint8_t *root)
{
	size_t ds = (size_t)verity_digest_size(p), hbs = p->hash_block_size, dbs = p->data_block_size;
	size_t per = hbs / ds, count = p->data_blocks;
	uint8_t *cur = calloc(count, ds), *tree = NULL, *block = malloc(dbs);
	size_t tree_len = 0;

	assert_non_null(cur);
	for (size_t i = 0; i < count; i++) {
		memset(block, 0, dbs);
		if (i * dbs < data_len)
			memcpy(block, data + i * dbs, data_len - i * dbs < dbs ? data_len - i * dbs : dbs);
		ref_digest(p, block, dbs, cur + i * ds);
	}
	while (count > 1) { /* a single data block has no tree */
		size_t n = (count + per - 1) / per;
		uint8_t *level = calloc(n, hbs), *next = calloc(n, ds), *t;

		for (size_t i = 0; i < count; i++)
			memcpy(level + (i / per) * hbs + (i % per) * ds, cur + i * ds, ds);
		for (size_t i = 0; i < n; i++)
			ref_digest(p, level + i * hbs, hbs, next + i * ds);
		/* higher levels go in front */
		t = malloc(tree_len + n * hbs);
		memcpy(t, level, n * hbs);
		if (tree_len)
			memcpy(t + n * hbs, tree, tree_len);
		free(tree);
		tree = t;
		tree_len += n * hbs;
		free(level);
		free(cur);
		cur = next;
		count = n;
	}
	memcpy(root, cur, ds);
	free(cur);
	free(block);
	*ret_tree = tree;
	*ret_tree_len = tree_len;
}

static uint64_t tree_offset(const struct verity_params *p)
{
	uint64_t off = p->hash_offset;

	if (p->superblock)
		off = (off + VERITY_SUPERBLOCK_SIZE + p->hash_block_size - 1) / p->hash_block_size *
		      p->hash_block_size;
	return off;
}

/* Feeds data in chunks from sizes[] (cycled; 0 = random 1..max_rand),
 * returns the root; the tree lands in hash_fd. */
static void build(const struct verity_params *p, const uint8_t *data, size_t len, int hash_fd,
                  const size_t *sizes, size_t nsizes, size_t max_rand, uint8_t *root)
{
	struct verity_builder *b;
	size_t off = 0, k = 0, root_len = 0;

	assert_int_equal(verity_builder_new(p, hash_fd, &b), 0);
	while (off < len) {
		size_t n = sizes[k++ % nsizes];
		if (n == 0)
			n = 1 + rnd() % max_rand;
		if (n > len - off)
			n = len - off;
		assert_int_equal(verity_builder_feed(b, data + off, n), 0);
		off += n;
	}
	assert_int_equal(verity_builder_finish(b, root, &root_len), 0);
	assert_int_equal(root_len, (size_t)verity_digest_size(p));
	verity_builder_free(b);
}

/* Builds with the given feeding and checks tree bytes and root against the reference. */
static void check_against_ref(const struct verity_params *p, const uint8_t *data, size_t len,
                              const size_t *sizes, size_t nsizes, size_t max_rand)
{
	_cleanup_close_ int fd = memfd();
	_cleanup_free_ uint8_t *tree = NULL, *got = NULL;
	uint8_t root[VERITY_MAX_DIGEST], want[VERITY_MAX_DIGEST];
	size_t tree_len, ds = (size_t)verity_digest_size(p);
	uint64_t area;

	ref_tree(p, data, len, &tree, &tree_len, want);
	build(p, data, len, fd, sizes, nsizes, max_rand, root);
	assert_memory_equal(root, want, ds);
	assert_int_equal(verity_hash_area_size(p, &area), 0);
	assert_int_equal(p->hash_offset + area, tree_offset(p) + tree_len);
	if (tree_len) {
		got = malloc(tree_len);
		assert_int_equal(pread_full(fd, got, tree_len, tree_offset(p)), 0);
		assert_memory_equal(got, tree, tree_len);
	}
}

/* ------------------------------------------------------------------ */

static void test_defaults(void **state)
{
	struct verity_params p;

	verity_params_default(&p, 4097);
	assert_string_equal(p.hash_name, "sha256");
	assert_int_equal(p.data_block_size, 4096);
	assert_int_equal(p.hash_block_size, 4096);
	assert_int_equal(p.data_blocks, 2);
	assert_int_equal(p.salt_size, 0);
	assert_true(p.superblock);
	assert_int_equal(p.hash_offset, 0);
	assert_int_equal(verity_digest_size(&p), 32);
	strcpy(p.hash_name, "sha512");
	assert_int_equal(verity_digest_size(&p), 64);
	strcpy(p.hash_name, "md5");
	assert_int_equal(verity_digest_size(&p), -EINVAL);
	assert_int_equal(verity_params_check(&p), -EINVAL);
}

/* Hash blocks of the tree for n data blocks, k digests per hash block. */
static uint64_t tree_blocks(uint64_t n, uint64_t k)
{
	uint64_t total = 0;

	while (n > 1) {
		n = (n + k - 1) / k;
		total += n;
	}
	return total;
}

static void test_layout_sizes(void **state)
{
	static const uint64_t counts[] = {
		1, 2, 127, 128, 129, 255, 256, 257, 16383, 16384, 16385, 16385 * 128, 262144,
		2097151, 2097152, 2097153, UINT64_C(1) << 40, (UINT64_C(1) << 40) + 1,
	};
	static const struct { const char *h; uint32_t hbs; uint64_t per; } kinds[] = {
		{ "sha256", 4096, 128 }, { "sha512", 4096, 64 }, { "sha256", 512, 16 },
		{ "sha512", 512, 8 }, { "sha256", 65536, 2048 },
	};

	for (size_t k = 0; k < ARRAY_SIZE(kinds); k++)
		for (size_t i = 0; i < ARRAY_SIZE(counts); i++)
			for (int sb = 0; sb <= 1; sb++) {
				struct verity_params p;
				uint64_t area, want = tree_blocks(counts[i], kinds[k].per) * kinds[k].hbs;

				params(&p, kinds[k].h, 4096, kinds[k].hbs, counts[i], 32, sb, 0);
				if (sb)
					want += kinds[k].hbs; /* the superblock takes the first hash block */
				assert_int_equal(verity_params_check(&p), 0);
				assert_int_equal(verity_hash_area_size(&p, &area), 0);
				assert_true(area == want);
			}
}

static void test_layout_known(void **state)
{
	struct verity_params p;
	uint64_t area;

	/* formats.md: 1 GiB of 4 KiB blocks = 2048 + 16 + 1 hash blocks */
	params(&p, "sha256", 4096, 4096, 262144, 32, true, 0);
	assert_int_equal(verity_hash_area_size(&p, &area), 0);
	assert_int_equal(area, (2065 + 1) * 4096);
	p.superblock = false;
	assert_int_equal(verity_hash_area_size(&p, &area), 0);
	assert_int_equal(area, 2065 * 4096);
	/* one data block: no tree at all */
	p.data_blocks = 1;
	assert_int_equal(verity_hash_area_size(&p, &area), 0);
	assert_int_equal(area, 0);
	/* superblock at a 512-aligned offset inside a hash block: the tree
	 * starts at the next hash block boundary, as in veritysetup */
	params(&p, "sha256", 4096, 4096, 256, 0, true, 4096 + 1024);
	assert_int_equal(verity_hash_area_size(&p, &area), 0);
	assert_int_equal(area, 8192 + 3 * 4096 - 5120);
}

static void test_layout_bad(void **state)
{
	struct verity_params p;
	uint64_t area = 12345;

	params(&p, "sha256", 4096, 4096, 100, 32, true, 0);
	p.data_block_size = 1000;
	assert_int_equal(verity_params_check(&p), -EINVAL);
	p.data_block_size = 256;
	assert_int_equal(verity_params_check(&p), -EINVAL);
	p.data_block_size = 1024 * 1024;
	assert_int_equal(verity_params_check(&p), -EINVAL);
	p.data_block_size = 4096;
	p.hash_block_size = 0;
	assert_int_equal(verity_params_check(&p), -EINVAL);
	p.hash_block_size = 4096;
	p.salt_size = VERITY_MAX_SALT + 1;
	assert_int_equal(verity_params_check(&p), -EINVAL);
	p.salt_size = VERITY_MAX_SALT;
	assert_int_equal(verity_params_check(&p), 0);
	p.data_blocks = 0;
	assert_int_equal(verity_params_check(&p), -EINVAL);
	p.data_blocks = 100;
	p.hash_offset = 100;
	assert_int_equal(verity_params_check(&p), -EINVAL);
	p.hash_offset = 512; /* fine with a superblock, not without */
	assert_int_equal(verity_params_check(&p), 0);
	p.superblock = false;
	assert_int_equal(verity_params_check(&p), -EINVAL);
	p.hash_offset = 8192;
	assert_int_equal(verity_params_check(&p), 0);
	memset(p.hash_name, 'a', sizeof(p.hash_name)); /* not NUL-terminated */
	assert_int_equal(verity_params_check(&p), -EINVAL);
	assert_int_equal(verity_hash_area_size(&p, &area), -EINVAL);
	assert_int_equal(area, 12345);

	/* overflows */
	params(&p, "sha256", 4096, 4096, UINT64_MAX, 0, false, 0);
	assert_int_equal(verity_params_check(&p), -EOVERFLOW);
	p.data_blocks = UINT64_C(1) << 52; /* 2^64 bytes */
	assert_int_equal(verity_params_check(&p), -EOVERFLOW);
	p.data_blocks = UINT64_C(1) << 51; /* 2^63 bytes: past off_t */
	assert_int_equal(verity_params_check(&p), -EOVERFLOW);
	p.data_blocks = 1000;
	p.hash_offset = UINT64_MAX - 4095;
	assert_int_equal(verity_params_check(&p), -EOVERFLOW);
	p.hash_offset = (uint64_t)INT64_MAX + 1;
	assert_int_equal(verity_params_check(&p), -EOVERFLOW);
	p.superblock = true;
	p.hash_offset = UINT64_MAX - 511;
	assert_int_equal(verity_params_check(&p), -EOVERFLOW);
	assert_int_equal(verity_hash_area_size(&p, &area), -EOVERFLOW);
	assert_int_equal(area, 12345);
}

static void test_builder_chunks(void **state)
{
	const size_t blocks = 300, len = blocks * 4096;
	_cleanup_free_ uint8_t *data = random_data(len);
	static const size_t one[] = { 1 }, s4095[] = { 4095 }, s4097[] = { 4097 },
	                    mixed[] = { 1, 4095, 4097, 3, 8192, 200000, 7 }, rand[] = { 0 }, big[] = { SIZE_MAX };
	struct verity_params p;

	params(&p, "sha256", 4096, 4096, blocks, 32, true, 0);
	check_against_ref(&p, data, len, big, 1, 0);
	check_against_ref(&p, data, len, one, 1, 0);
	check_against_ref(&p, data, len, s4095, 1, 0);
	check_against_ref(&p, data, len, s4097, 1, 0);
	check_against_ref(&p, data, len, mixed, ARRAY_SIZE(mixed), 0);
	check_against_ref(&p, data, len, rand, 1, 300000);
	/* the same without salt and superblock, at an offset */
	params(&p, "sha256", 4096, 4096, blocks, 0, false, 65536);
	check_against_ref(&p, data, len, big, 1, 0);
	check_against_ref(&p, data, len, rand, 1, 70000);
}

static void test_builder_large(void **state)
{
	/* Several stage flushes, three levels, big feeds split across threads. */
	const size_t blocks = 16385 * 2 + 17, len = blocks * 4096;
	_cleanup_free_ uint8_t *data = random_data(len);
	static const size_t mib4[] = { 4 << 20 }, rand[] = { 0 }, big[] = { SIZE_MAX };
	struct verity_params p;

	params(&p, "sha256", 4096, 4096, blocks, 32, true, 0);
	check_against_ref(&p, data, len, big, 1, 0);
	check_against_ref(&p, data, len, mib4, 1, 0);
	check_against_ref(&p, data, len, rand, 1, 1 << 20);
	params(&p, "sha512", 4096, 4096, blocks, 64, false, 0);
	check_against_ref(&p, data, len, mib4, 1, 0);
}

/* Pinned to one CPU the hasher never splits: same trees, and the format
 * reader reads in turn instead of ahead. */
static void test_one_cpu(void **state)
{
	const size_t blocks = 3000, len = blocks * 4096;
	_cleanup_free_ uint8_t *data = random_data(len);
	_cleanup_free_ uint8_t *tree = NULL;
	_cleanup_close_ int dfd = memfd();
	static const size_t mib4[] = { 4 << 20 };
	uint8_t root[VERITY_MAX_DIGEST], want[VERITY_MAX_DIGEST];
	struct verity_params p;
	cpu_set_t old, one;
	size_t root_len, tree_len;

	assert_int_equal(sched_getaffinity(0, sizeof(old), &old), 0);
	CPU_ZERO(&one);
	for (int c = 0; c < CPU_SETSIZE; c++)
		if (CPU_ISSET(c, &old)) {
			CPU_SET(c, &one);
			break;
		}
	assert_int_equal(sched_setaffinity(0, sizeof(one), &one), 0);
	params(&p, "sha256", 4096, 4096, blocks, 32, true, 0);
	check_against_ref(&p, data, len, mib4, 1, 0);
	assert_int_equal(pwrite_full(dfd, data, len, 0), 0);
	assert_int_equal(verity_format_fd(&p, dfd, -1, root, &root_len), 0);
	ref_tree(&p, data, len, &tree, &tree_len, want);
	assert_memory_equal(root, want, 32);
	assert_int_equal(sched_setaffinity(0, sizeof(old), &old), 0);
}

static void test_builder_geometries(void **state)
{
	const size_t len = 1000 * 1024 + 512;
	_cleanup_free_ uint8_t *data = random_data(len);
	static const size_t rand[] = { 0 }, big[] = { SIZE_MAX };
	static const struct { const char *h; uint32_t dbs, hbs; } g[] = {
		{ "sha256", 512, 512 }, { "sha512", 512, 512 }, { "sha256", 1024, 4096 },
		{ "sha512", 4096, 1024 }, { "sha256", 65536, 8192 }, { "sha512", 512, 65536 },
	};

	for (size_t i = 0; i < ARRAY_SIZE(g); i++) {
		struct verity_params p;
		uint64_t blocks = (len + g[i].dbs - 1) / g[i].dbs;

		params(&p, g[i].h, g[i].dbs, g[i].hbs, blocks, 1 + i * 40, i % 2, 0);
		check_against_ref(&p, data, len, big, 1, 0);
		check_against_ref(&p, data, len, rand, 1, 5000);
	}
}

static void test_builder_sizes(void **state)
{
	static const size_t counts[] = { 1, 2, 127, 128, 129, 16383, 16384, 16385 };
	_cleanup_free_ uint8_t *data = random_data(16385 * 4096);
	static const size_t big[] = { SIZE_MAX };

	for (size_t i = 0; i < ARRAY_SIZE(counts); i++) {
		struct verity_params p;

		params(&p, "sha256", 4096, 4096, counts[i], 32, true, 0);
		check_against_ref(&p, data, counts[i] * 4096, big, 1, 0);
	}
}

static void test_builder_limits(void **state)
{
	_cleanup_free_ uint8_t *data = random_data(5 * 4096);
	_cleanup_free_ uint8_t *padded = calloc(1, 5 * 4096);
	uint8_t root[VERITY_MAX_DIGEST], want[VERITY_MAX_DIGEST];
	struct verity_params p;
	struct verity_builder *b;
	size_t root_len = 0;
	static const size_t big[] = { SIZE_MAX };

	params(&p, "sha256", 4096, 4096, 5, 32, false, 0);

	/* too much: refused, nothing consumed */
	assert_int_equal(verity_builder_new(&p, -1, &b), 0);
	assert_int_equal(verity_builder_feed(b, data, 5 * 4096 + 1), -EFBIG);
	assert_int_equal(verity_builder_feed(b, data, 5 * 4096), 0);
	assert_int_equal(verity_builder_feed(b, data, 1), -EFBIG);
	assert_int_equal(verity_builder_finish(b, root, &root_len), 0);
	assert_int_equal(verity_builder_feed(b, data, 1), -EINVAL); /* after finish */
	verity_builder_free(b);

	/* too little: not even one byte of the last block */
	assert_int_equal(verity_builder_new(&p, -1, &b), 0);
	assert_int_equal(verity_builder_feed(b, data, 4 * 4096), 0);
	root_len = 0;
	assert_int_equal(verity_builder_finish(b, root, &root_len), -EIO);
	assert_int_equal(root_len, 0);
	/* one more byte makes it a padded last block */
	assert_int_equal(verity_builder_feed(b, data + 4 * 4096, 1), 0);
	assert_int_equal(verity_builder_finish(b, root, &root_len), 0);
	verity_builder_free(b);
	memcpy(padded, data, 4 * 4096 + 1);
	build(&p, padded, 5 * 4096, -1, big, 1, 0, want);
	assert_memory_equal(root, want, 32);

	/* padding in the middle of a feed sequence matches the reference */
	check_against_ref(&p, data, 4 * 4096 + 100, big, 1, 0);

	/* nothing fed */
	assert_int_equal(verity_builder_new(&p, -1, &b), 0);
	assert_int_equal(verity_builder_finish(b, root, &root_len), -EIO);
	verity_builder_free(b);

	/* bad parameters are refused up front */
	p.data_block_size = 3000;
	b = NULL;
	assert_int_equal(verity_builder_new(&p, -1, &b), -EINVAL);
	assert_null(b);
	verity_builder_free(NULL);
}

static void test_format_fd(void **state)
{
	const size_t len = 1000 * 4096 + 10;
	_cleanup_free_ uint8_t *data = random_data(len);
	_cleanup_free_ uint8_t *tree = NULL, *got = NULL;
	_cleanup_close_ int dfd = memfd(), hfd = memfd();
	uint8_t root[VERITY_MAX_DIGEST], want[VERITY_MAX_DIGEST];
	struct verity_params p, sb;
	size_t root_len, tree_len;

	assert_int_equal(pwrite_full(dfd, data, len, 0), 0);
	params(&p, "sha256", 4096, 4096, 1001, 32, true, 8192);
	assert_int_equal(verity_format_fd(&p, dfd, hfd, root, &root_len), 0);
	ref_tree(&p, data, len, &tree, &tree_len, want);
	assert_memory_equal(root, want, 32);
	got = malloc(tree_len);
	assert_int_equal(pread_full(hfd, got, tree_len, 12288), 0);
	assert_memory_equal(got, tree, tree_len);

	/* superblock round trip */
	assert_int_equal(verity_superblock_read(hfd, 8192, &sb), 0);
	assert_memory_equal(&sb, &p, sizeof(p));
	assert_int_equal(verity_superblock_read(hfd, 0, &sb), -EINVAL);
	assert_int_equal(verity_superblock_read(hfd, 8193, &sb), -EINVAL);
	assert_int_equal(verity_superblock_read(hfd, 1 << 30, &sb), -EINVAL);
	assert_int_equal(pwrite_full(hfd, "\0\0\0\0", 4, 8192 + 12), 0); /* hash type 0 */
	assert_int_equal(verity_superblock_read(hfd, 8192, &sb), -EOPNOTSUPP);
	assert_int_equal(pwrite_full(hfd, "\1\0\0\0", 4, 8192 + 12), 0);
	assert_int_equal(pwrite_full(hfd, "\0\x20", 2, 8192 + 0x44), 0); /* hash block 8 KiB */
	assert_int_equal(verity_superblock_read(hfd, 8192, &sb), 0);
	assert_int_equal(sb.hash_block_size, 8192);
	assert_int_equal(pwrite_full(hfd, "\0\x30", 2, 8192 + 0x44), 0); /* 12 KiB: bad */
	assert_int_equal(verity_superblock_read(hfd, 8192, &sb), -EINVAL);
	assert_int_equal(pwrite_full(hfd, "\x01\x01", 2, 8192 + 0x50), 0); /* salt 257 */
	assert_int_equal(verity_superblock_read(hfd, 8192, &sb), -EINVAL);

	/* short data */
	p.data_blocks = 1003;
	assert_int_equal(verity_format_fd(&p, dfd, -1, root, &root_len), -EIO);
}

/* A built tree in memfds for the verifier tests. */
struct fixture {
	struct verity_params p;
	int dfd, hfd;
	uint8_t root[VERITY_MAX_DIGEST];
	size_t root_len;
};

static void fixture_build(struct fixture *f, uint64_t blocks, bool sb, uint64_t offset)
{
	_cleanup_free_ uint8_t *data = random_data(blocks * 4096);

	params(&f->p, "sha256", 4096, 4096, blocks, 32, sb, offset);
	f->dfd = memfd();
	f->hfd = memfd();
	assert_int_equal(pwrite_full(f->dfd, data, blocks * 4096, 0), 0);
	assert_int_equal(verity_format_fd(&f->p, f->dfd, f->hfd, f->root, &f->root_len), 0);
}

static void fixture_free(struct fixture *f)
{
	close(f->dfd);
	close(f->hfd);
}

static void flip(int fd, uint64_t off)
{
	uint8_t c;

	assert_int_equal(pread_full(fd, &c, 1, off), 0);
	c ^= 0x40;
	assert_int_equal(pwrite_full(fd, &c, 1, off), 0);
}

static void expect_bad(struct fixture *f, const uint8_t *root, enum verity_area area, uint64_t block, uint32_t level)
{
	struct verity_corruption bad = { .block = 999999 };

	assert_int_equal(verity_verify(&f->p, f->dfd, f->hfd, root, f->root_len, &bad), -EBADMSG);
	assert_int_equal(bad.area, area);
	assert_int_equal(bad.block, block);
	if (area == VERITY_AREA_HASH)
		assert_int_equal(bad.level, level);
}

static void test_verify(void **state)
{
	struct fixture f;
	struct verity_corruption bad = { .block = 4242 };
	uint8_t wrong[VERITY_MAX_DIGEST];

	/* 20000 blocks: level 0 = 157 blocks, level 1 = 2, level 2 = 1;
	 * superblock block 0, then hash blocks 1 (top), 2-3, 4-160 */
	fixture_build(&f, 20000, true, 0);
	assert_int_equal(verity_verify(&f.p, f.dfd, f.hfd, f.root, f.root_len, &bad), 0);
	assert_int_equal(bad.block, 4242);
	assert_int_equal(verity_verify(&f.p, f.dfd, f.hfd, f.root, 31, &bad), -EINVAL);

	flip(f.dfd, 1234 * 4096 + 17);
	expect_bad(&f, f.root, VERITY_AREA_DATA, 1234, 0);
	flip(f.dfd, 1234 * 4096 + 17);
	flip(f.dfd, 19999 * 4096 + 4095);
	expect_bad(&f, f.root, VERITY_AREA_DATA, 19999, 0);
	flip(f.dfd, 19999 * 4096 + 4095);

	flip(f.hfd, 50 * 4096 + 100); /* level 0, covering data blocks 5888.. */
	expect_bad(&f, f.root, VERITY_AREA_HASH, 50, 0);
	flip(f.hfd, 50 * 4096 + 100);
	flip(f.hfd, 3 * 4096); /* second level-1 block */
	expect_bad(&f, f.root, VERITY_AREA_HASH, 3, 1);
	flip(f.hfd, 3 * 4096);
	flip(f.hfd, 1 * 4096 + 4000); /* padding of the top block */
	expect_bad(&f, f.root, VERITY_AREA_HASH, 1, 2);
	flip(f.hfd, 1 * 4096 + 4000);

	memcpy(wrong, f.root, 32);
	wrong[5] ^= 1;
	expect_bad(&f, wrong, VERITY_AREA_HASH, 1, 2);
	assert_int_equal(verity_verify(&f.p, f.dfd, f.hfd, f.root, f.root_len, NULL), 0);

	/* data shorter than data_blocks: an I/O error, not corruption */
	assert_int_equal(ftruncate(f.dfd, 19998 * 4096), 0);
	assert_int_equal(verity_verify(&f.p, f.dfd, f.hfd, f.root, f.root_len, &bad), -EIO);
	fixture_free(&f);

	/* a single block: the root is its digest */
	fixture_build(&f, 1, false, 0);
	assert_int_equal(verity_verify(&f.p, f.dfd, -1, f.root, f.root_len, &bad), 0);
	flip(f.dfd, 10);
	assert_int_equal(verity_verify(&f.p, f.dfd, -1, f.root, f.root_len, &bad), -EBADMSG);
	assert_int_equal(bad.area, VERITY_AREA_DATA);
	assert_int_equal(bad.block, 0);
	fixture_free(&f);

	/* hash area at an offset without superblock: block numbers count from it */
	fixture_build(&f, 300, false, 1 << 20);
	assert_int_equal(verity_verify(&f.p, f.dfd, f.hfd, f.root, f.root_len, &bad), 0);
	flip(f.hfd, (1 << 20) + 2 * 4096 + 64); /* level 0, second block */
	expect_bad(&f, f.root, VERITY_AREA_HASH, 2, 0);
	fixture_free(&f);
}

/* A tree that hashes consistently but has garbage in an unused slot. */
static void test_verify_padding(void **state)
{
	struct fixture f;
	uint8_t block[4096], root[32], top[4096], d[32];

	/* 100 blocks: a single level-0 block holding 100 of 128 slots */
	fixture_build(&f, 100, false, 0);
	assert_int_equal(pread_full(f.hfd, block, sizeof(block), 0), 0);
	block[100 * 32 + 3] = 1;
	assert_int_equal(pwrite_full(f.hfd, block, sizeof(block), 0), 0);
	ref_digest(&f.p, block, sizeof(block), root);
	expect_bad(&f, root, VERITY_AREA_HASH, 0, 0);
	fixture_free(&f);

	/* 200 blocks: two level-0 blocks, the second with 72 used slots; fix
	 * the top block and root so only the padding rule can catch it */
	fixture_build(&f, 200, false, 0);
	assert_int_equal(pread_full(f.hfd, top, sizeof(top), 0), 0);
	assert_int_equal(pread_full(f.hfd, block, sizeof(block), 2 * 4096), 0);
	block[4095] = 0xff;
	assert_int_equal(pwrite_full(f.hfd, block, sizeof(block), 2 * 4096), 0);
	ref_digest(&f.p, block, sizeof(block), d);
	memcpy(top + 32, d, 32);
	assert_int_equal(pwrite_full(f.hfd, top, sizeof(top), 0), 0);
	ref_digest(&f.p, top, sizeof(top), root);
	expect_bad(&f, root, VERITY_AREA_HASH, 2, 0);
	fixture_free(&f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_defaults),
		cmocka_unit_test(test_layout_sizes),
		cmocka_unit_test(test_layout_known),
		cmocka_unit_test(test_layout_bad),
		cmocka_unit_test(test_builder_chunks),
		cmocka_unit_test(test_builder_large),
		cmocka_unit_test(test_one_cpu),
		cmocka_unit_test(test_builder_geometries),
		cmocka_unit_test(test_builder_sizes),
		cmocka_unit_test(test_builder_limits),
		cmocka_unit_test(test_format_fd),
		cmocka_unit_test(test_verify),
		cmocka_unit_test(test_verify_padding),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

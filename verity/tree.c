/* dm-verity hash trees, format 1, laid out exactly like cryptsetup's
 * lib/verity/verity_hash.c so trees are byte-identical to veritysetup's:
 * top level first, each level's blocks in order, digest = H(salt || block),
 * unused slots zero, optional 512-byte superblock in front. */
#include "verity/tree-internal.h"

#include "common/macro.h"
#include "common/util.h"

#include <assert.h>
#include <endian.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define BLOCK_SIZE_MIN 512u
/* veritysetup refuses larger blocks (and so cannot read such a superblock). */
#define BLOCK_SIZE_MAX (512u * 1024u)
/* Work unit when two threads share a batch of blocks. */
#define HASH_PIECE_BYTES (64u * 1024u)
/* Level-0 hash blocks are collected and written in runs of this size. */
#define STAGE_BYTES (256u * 1024u)

static const struct {
	const char *name;
	size_t size;
} hashes[] = {
	{ "sha256", 32 },
	{ "sha512", 64 },
};

static bool block_size_ok(uint32_t s)
{
	return s >= BLOCK_SIZE_MIN && s <= BLOCK_SIZE_MAX && (s & (s - 1)) == 0;
}

static unsigned log2_u64(uint64_t v)
{
	return 63u - (unsigned)__builtin_clzll(v);
}

static int digest_size_of(const char *name, size_t max)
{
	if (memchr(name, 0, max) == NULL)
		return -EINVAL;
	for (size_t i = 0; i < ARRAY_SIZE(hashes); i++)
		if (strcmp(name, hashes[i].name) == 0)
			return (int)hashes[i].size;
	return -EINVAL;
}

int verity_digest_size(const struct verity_params *p)
{
	if (!p)
		return -EINVAL;
	return digest_size_of(p->hash_name, sizeof(p->hash_name));
}

void verity_params_default(struct verity_params *p, uint64_t data_size)
{
	memset(p, 0, sizeof(*p));
	strcpy(p->hash_name, "sha256");
	p->data_block_size = 4096;
	p->hash_block_size = 4096;
	p->data_blocks = div_round_up(data_size, 4096);
	p->superblock = true;
}

int verity_layout_compute(const struct verity_params *p, struct verity_layout *ret)
{
	struct verity_layout l = { 0 };
	uint64_t pos, data_bytes, hbs;
	int ds;

	if (!p || !ret)
		return -EINVAL;
	ds = verity_digest_size(p);
	if (ds < 0)
		return ds;
	if (!block_size_ok(p->data_block_size) || !block_size_ok(p->hash_block_size) ||
	    p->salt_size > VERITY_MAX_SALT || p->data_blocks == 0)
		return -EINVAL;
	hbs = p->hash_block_size;
	/* The kernel counts the hash start in hash blocks; veritysetup wants
	 * a superblock 512-aligned and puts the tree in the next hash block. */
	if (p->hash_offset % (p->superblock ? 512 : hbs))
		return -EINVAL;
	if (u64_mul(p->data_blocks, p->data_block_size, &data_bytes) < 0 || data_bytes > INT64_MAX)
		return -EOVERFLOW;

	l.digest_size = (size_t)ds;
	l.slot_size = (size_t)1 << (log2_u64((uint64_t)ds - 1) + 1);
	l.bits = log2_u64(hbs) - log2_u64(l.slot_size);

	if (p->superblock) {
		uint64_t t;
		if (u64_add(p->hash_offset, VERITY_SUPERBLOCK_SIZE, &t) < 0 || u64_align(t, hbs, &t) < 0)
			return -EOVERFLOW;
		pos = t / hbs;
	} else
		pos = p->hash_offset / hbs;

	while (l.bits * l.levels < 64 && ((p->data_blocks - 1) >> (l.bits * l.levels)) != 0)
		l.levels++;
	if (l.levels > VERITY_MAX_LEVELS)
		return -EOVERFLOW;

	for (int i = (int)l.levels - 1; i >= 0; i--) {
		unsigned shift = ((unsigned)i + 1) * l.bits;
		uint64_t n;

		if (shift > 63)
			return -EOVERFLOW;
		n = (p->data_blocks >> shift) + !!(p->data_blocks & ((UINT64_C(1) << shift) - 1));
		l.level_offset[i] = pos; /* in blocks until converted below */
		l.level_blocks[i] = n;
		if (u64_add(pos, n, &pos) < 0)
			return -EOVERFLOW;
	}
	if (u64_mul(pos, hbs, &l.end) < 0 || l.end > INT64_MAX)
		return -EOVERFLOW;
	for (uint32_t i = 0; i < l.levels; i++)
		l.level_offset[i] *= hbs;
	l.tree_offset = l.levels ? l.level_offset[l.levels - 1] : l.end;

	*ret = l;
	return 0;
}

int verity_params_check(const struct verity_params *p)
{
	struct verity_layout l;

	return verity_layout_compute(p, &l);
}

int verity_hash_area_size(const struct verity_params *p, uint64_t *ret_bytes)
{
	struct verity_layout l;
	int r;

	if (!ret_bytes)
		return -EINVAL;
	r = verity_layout_compute(p, &l);
	if (r < 0)
		return r;
	*ret_bytes = l.end - p->hash_offset;
	return 0;
}

/* ------------------------------------------------------------------ */
/* Block hasher                                                         */

struct hash_job {
	const uint8_t *data;
	size_t block_size, n, stride;
	uint8_t *out;
};

/* Both threads take pieces of a shared job off one counter, so a thread
 * slowed by other load simply does fewer pieces. */
struct shared_job {
	struct hash_job j;
	size_t piece;             /* blocks per piece */
	atomic_size_t next;       /* first block not yet taken */
};

struct verity_hasher {
	EVP_MD *md;
	EVP_MD_CTX *salted;   /* state after the salt: copied before each block */
	EVP_MD_CTX *ctx;      /* the caller's thread */
	EVP_MD_CTX *wsalted, *wctx; /* the worker's own pair */
	bool may_split, started, quit, job_ready, job_done;
	int job_r;
	struct shared_job *job;
	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t wake, done;
};

static int hash_run(EVP_MD_CTX *ctx, const EVP_MD_CTX *salted, const struct hash_job *j)
{
	for (size_t i = 0; i < j->n; i++)
		if (EVP_MD_CTX_copy_ex(ctx, salted) != 1 ||
		    EVP_DigestUpdate(ctx, j->data + i * j->block_size, j->block_size) != 1 ||
		    EVP_DigestFinal_ex(ctx, j->out + i * j->stride, NULL) != 1)
			return -EIO;
	return 0;
}

static int hash_pieces(EVP_MD_CTX *ctx, const EVP_MD_CTX *salted, struct shared_job *sj)
{
	for (;;) {
		size_t first = atomic_fetch_add(&sj->next, sj->piece);
		struct hash_job j = sj->j;
		int r;

		if (first >= sj->j.n)
			return 0;
		j.data += first * j.block_size;
		j.out += first * j.stride;
		j.n = sj->j.n - first < sj->piece ? sj->j.n - first : sj->piece;
		r = hash_run(ctx, salted, &j);
		if (r < 0) {
			atomic_store(&sj->next, sj->j.n); /* stop the other thread too */
			return r;
		}
	}
}

static void *worker_main(void *arg)
{
	struct verity_hasher *h = arg;

	pthread_mutex_lock(&h->lock);
	for (;;) {
		struct shared_job *sj;
		int r;

		while (!h->job_ready && !h->quit)
			pthread_cond_wait(&h->wake, &h->lock);
		if (h->quit)
			break;
		sj = h->job;
		h->job_ready = false;
		pthread_mutex_unlock(&h->lock);
		r = hash_pieces(h->wctx, h->wsalted, sj);
		pthread_mutex_lock(&h->lock);
		h->job_r = r;
		h->job_done = true;
		pthread_cond_signal(&h->done);
	}
	pthread_mutex_unlock(&h->lock);
	return NULL;
}

/* Library threads take no signals, so the caller's handlers and signalfds
 * keep working as if the threads were not there. */
static int thread_start(pthread_t *t, void *(*fn)(void *), void *arg)
{
	sigset_t all, old;
	int r;

	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	r = pthread_create(t, NULL, fn, arg);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	return -r;
}

static int online_cpus(void)
{
	cpu_set_t set;

	if (sched_getaffinity(0, sizeof(set), &set) == 0)
		return CPU_COUNT(&set);
	return (int)sysconf(_SC_NPROCESSORS_ONLN);
}

int verity_hasher_new(const char *hash_name, const uint8_t *salt, size_t salt_size,
                      struct verity_hasher **ret)
{
	struct verity_hasher *h;

	if (!hash_name || !ret || salt_size > VERITY_MAX_SALT || (salt_size && !salt))
		return -EINVAL;
	if (digest_size_of(hash_name, 32) < 0)
		return -EINVAL;
	h = calloc(1, sizeof(*h));
	if (!h)
		return -ENOMEM;
	pthread_mutex_init(&h->lock, NULL);
	pthread_cond_init(&h->wake, NULL);
	pthread_cond_init(&h->done, NULL);
	h->md = EVP_MD_fetch(NULL, hash_name, NULL);
	h->salted = EVP_MD_CTX_new();
	h->ctx = EVP_MD_CTX_new();
	if (!h->md || !h->salted || !h->ctx ||
	    EVP_DigestInit_ex2(h->salted, h->md, NULL) != 1 ||
	    (salt_size && EVP_DigestUpdate(h->salted, salt, salt_size) != 1)) {
		verity_hasher_free(h);
		return -ENOMEM;
	}
	h->may_split = online_cpus() > 1;
	*ret = h;
	return 0;
}

static bool worker_start(struct verity_hasher *h)
{
	if (h->started)
		return true;
	h->wsalted = EVP_MD_CTX_new();
	h->wctx = EVP_MD_CTX_new();
	if (!h->wsalted || !h->wctx || EVP_MD_CTX_copy_ex(h->wsalted, h->salted) != 1 ||
	    thread_start(&h->thread, worker_main, h) < 0) {
		/* Not fatal: hash on the caller's thread alone. */
		h->may_split = false;
		return false;
	}
	h->started = true;
	return true;
}

int verity_hasher_blocks(struct verity_hasher *h, const uint8_t *data, size_t block_size,
                         size_t n, uint8_t *out, size_t stride)
{
	struct hash_job mine = { data, block_size, n, stride, out };
	struct shared_job sj;
	int r, rw;

	if (!h || (n && (!data || !out)))
		return -EINVAL;
	if (!h->may_split || n < 2 || n * block_size < VERITY_HASHER_SPLIT_MIN || !worker_start(h))
		return hash_run(h->ctx, h->salted, &mine);

	/* Pieces of about 64 KiB: small enough to balance, big enough that
	 * the shared counter costs nothing. */
	sj.j = mine;
	sj.piece = HASH_PIECE_BYTES / block_size ? HASH_PIECE_BYTES / block_size : 1;
	atomic_init(&sj.next, 0);
	pthread_mutex_lock(&h->lock);
	h->job = &sj;
	h->job_ready = true;
	h->job_done = false;
	pthread_cond_signal(&h->wake);
	pthread_mutex_unlock(&h->lock);

	r = hash_pieces(h->ctx, h->salted, &sj);

	pthread_mutex_lock(&h->lock);
	while (!h->job_done)
		pthread_cond_wait(&h->done, &h->lock);
	rw = h->job_r;
	pthread_mutex_unlock(&h->lock);
	return r < 0 ? r : rw;
}

void verity_hasher_free(struct verity_hasher *h)
{
	if (!h)
		return;
	if (h->started) {
		pthread_mutex_lock(&h->lock);
		h->quit = true;
		pthread_cond_signal(&h->wake);
		pthread_mutex_unlock(&h->lock);
		pthread_join(h->thread, NULL);
	}
	EVP_MD_CTX_free(h->wctx);
	EVP_MD_CTX_free(h->wsalted);
	EVP_MD_CTX_free(h->ctx);
	EVP_MD_CTX_free(h->salted);
	EVP_MD_free(h->md);
	pthread_cond_destroy(&h->done);
	pthread_cond_destroy(&h->wake);
	pthread_mutex_destroy(&h->lock);
	free(h);
}

/* ------------------------------------------------------------------ */
/* Streaming builder                                                    */

struct verity_builder {
	struct verity_params p;
	struct verity_layout l;
	int hash_fd;
	struct verity_hasher *h;
	uint64_t data_bytes, fed;
	uint8_t *partial;        /* the data block being assembled from small feeds */
	size_t partial_len;
	/* Level 0 hash blocks, filled straight by the hasher, written in runs. */
	uint8_t *stage;
	size_t stage_cap, stage_len;
	uint64_t stage_block;    /* index within level 0 of the stage's first block */
	/* One block being filled for each higher level. */
	uint8_t *lvbuf[VERITY_MAX_LEVELS];
	size_t lvfill[VERITY_MAX_LEVELS];
	uint64_t lvdone[VERITY_MAX_LEVELS];
	uint8_t root[VERITY_MAX_DIGEST];
	int error;               /* sticky: a failed write leaves the tree undefined */
	bool finished;
};

void verity_builder_free(struct verity_builder *b)
{
	if (!b)
		return;
	verity_hasher_free(b->h);
	free(b->partial);
	free(b->stage);
	for (uint32_t i = 0; i < b->l.levels; i++)
		free(b->lvbuf[i]);
	free(b);
}

int verity_builder_new(const struct verity_params *p, int hash_fd, struct verity_builder **ret)
{
	struct verity_builder *b;
	int r;

	if (!p || !ret)
		return -EINVAL;
	b = calloc(1, sizeof(*b));
	if (!b)
		return -ENOMEM;
	b->p = *p;
	b->hash_fd = hash_fd;
	r = verity_layout_compute(p, &b->l);
	if (r < 0)
		goto fail;
	b->data_bytes = p->data_blocks * p->data_block_size;
	r = verity_hasher_new(p->hash_name, p->salt, p->salt_size, &b->h);
	if (r < 0)
		goto fail;

	if (b->l.levels == 0)
		b->stage_cap = b->l.slot_size; /* one data block: its digest is the root */
	else {
		uint64_t blocks = STAGE_BYTES / p->hash_block_size;
		if (blocks == 0)
			blocks = 1;
		if (blocks > b->l.level_blocks[0])
			blocks = b->l.level_blocks[0];
		b->stage_cap = (size_t)blocks * p->hash_block_size;
	}
	r = -ENOMEM;
	b->stage = calloc(1, b->stage_cap);
	if (!b->stage)
		goto fail;
	for (uint32_t i = 1; i < b->l.levels; i++) {
		b->lvbuf[i] = calloc(1, p->hash_block_size);
		if (!b->lvbuf[i])
			goto fail;
	}
	*ret = b;
	return 0;
fail:
	verity_builder_free(b);
	return r;
}

static int hash_one(struct verity_builder *b, const uint8_t *block, size_t len, uint8_t *out)
{
	return verity_hasher_blocks(b->h, block, len, 1, out, 0);
}

static int push_digest(struct verity_builder *b, uint32_t level, const uint8_t *digest);

/* A hash block of `level` is complete: write it, hash it into its parent. */
static int complete_block(struct verity_builder *b, uint32_t level, const uint8_t *block, uint64_t index)
{
	uint32_t hbs = b->p.hash_block_size;
	uint8_t digest[VERITY_MAX_DIGEST];
	int r;

	r = hash_one(b, block, hbs, digest);
	if (r < 0)
		return r;
	if (b->hash_fd >= 0 && level > 0) {
		r = pwrite_full(b->hash_fd, block, hbs, b->l.level_offset[level] + index * hbs);
		if (r < 0)
			return r;
	}
	if (level + 1 == b->l.levels) {
		assert(index == 0);
		memcpy(b->root, digest, b->l.digest_size);
		return 0;
	}
	return push_digest(b, level + 1, digest);
}

/* Writes out the block being filled at level (>= 1), zero-padded. */
static int close_block(struct verity_builder *b, uint32_t level)
{
	int r;

	r = complete_block(b, level, b->lvbuf[level], b->lvdone[level]);
	if (r < 0)
		return r;
	b->lvdone[level]++;
	memset(b->lvbuf[level], 0, b->p.hash_block_size);
	b->lvfill[level] = 0;
	return 0;
}

static int push_digest(struct verity_builder *b, uint32_t level, const uint8_t *digest)
{
	memcpy(b->lvbuf[level] + b->lvfill[level], digest, b->l.digest_size);
	b->lvfill[level] += b->l.slot_size;
	return b->lvfill[level] < b->p.hash_block_size ? 0 : close_block(b, level);
}

/* Writes the staged level-0 blocks (the last one zero-padded). */
static int flush_stage(struct verity_builder *b)
{
	uint32_t hbs = b->p.hash_block_size;
	size_t nblocks = div_round_up(b->stage_len, hbs);
	int r;

	for (size_t k = 0; k < nblocks; k++) {
		r = complete_block(b, 0, b->stage + k * hbs, b->stage_block + k);
		if (r < 0)
			return r;
	}
	if (b->hash_fd >= 0) {
		r = pwrite_full(b->hash_fd, b->stage, nblocks * hbs,
		                b->l.level_offset[0] + b->stage_block * hbs);
		if (r < 0)
			return r;
	}
	b->stage_block += nblocks;
	memset(b->stage, 0, nblocks * hbs);
	b->stage_len = 0;
	return 0;
}

static int hash_data(struct verity_builder *b, const uint8_t *data, uint64_t n)
{
	size_t dbs = b->p.data_block_size, slot = b->l.slot_size;
	int r;

	while (n > 0) {
		size_t room = (b->stage_cap - b->stage_len) / slot;
		size_t m = n < room ? (size_t)n : room;

		r = verity_hasher_blocks(b->h, data, dbs, m, b->stage + b->stage_len, slot);
		if (r < 0)
			return r;
		b->stage_len += m * slot;
		data += m * dbs;
		n -= m;
		if (b->stage_len == b->stage_cap && b->l.levels > 0) {
			r = flush_stage(b);
			if (r < 0)
				return r;
		}
	}
	return 0;
}

int verity_builder_feed(struct verity_builder *b, const void *data, size_t len)
{
	const uint8_t *d = data;
	size_t dbs;
	int r;

	if (!b || (len && !data) || b->finished)
		return -EINVAL;
	if (b->error < 0)
		return b->error;
	if (len > b->data_bytes - b->fed)
		return -EFBIG;
	dbs = b->p.data_block_size;
	b->fed += len;

	if (b->partial_len > 0 || len < dbs) {
		size_t take = dbs - b->partial_len;

		if (!b->partial) {
			b->partial = malloc(dbs);
			if (!b->partial)
				return b->error = -ENOMEM;
		}
		if (take > len)
			take = len;
		memcpy(b->partial + b->partial_len, d, take);
		b->partial_len += take;
		d += take, len -= take;
		if (b->partial_len < dbs)
			return 0;
		r = hash_data(b, b->partial, 1);
		if (r < 0)
			return b->error = r;
		b->partial_len = 0;
	}

	r = hash_data(b, d, len / dbs);
	if (r < 0)
		return b->error = r;
	d += len / dbs * dbs, len %= dbs;
	if (len > 0) {
		if (!b->partial) {
			b->partial = malloc(dbs);
			if (!b->partial)
				return b->error = -ENOMEM;
		}
		memcpy(b->partial, d, len);
		b->partial_len = len;
	}
	return 0;
}

/* The v1 superblock; like veritysetup, the rest of its hash block is left as is. */
static int write_superblock(struct verity_builder *b)
{
	const struct verity_params *p = &b->p;
	uint8_t buf[VERITY_SUPERBLOCK_SIZE] = { 0 };
	uint32_t v32;
	uint64_t v64;
	uint16_t v16;

	memcpy(buf, "verity\0\0", 8);
	v32 = htole32(1);                       /* version */
	memcpy(buf + 0x08, &v32, 4);
	memcpy(buf + 0x0c, &v32, 4);            /* hash type 1 */
	memcpy(buf + 0x10, p->uuid, 16);
	memcpy(buf + 0x20, p->hash_name, strlen(p->hash_name));
	v32 = htole32(p->data_block_size);
	memcpy(buf + 0x40, &v32, 4);
	v32 = htole32(p->hash_block_size);
	memcpy(buf + 0x44, &v32, 4);
	v64 = htole64(p->data_blocks);
	memcpy(buf + 0x48, &v64, 8);
	v16 = htole16(p->salt_size);
	memcpy(buf + 0x50, &v16, 2);
	memcpy(buf + 0x58, p->salt, p->salt_size);
	return pwrite_full(b->hash_fd, buf, sizeof(buf), p->hash_offset);
}

int verity_builder_finish(struct verity_builder *b, uint8_t ret_root[VERITY_MAX_DIGEST], size_t *ret_root_len)
{
	size_t dbs;
	int r;

	if (!b || !ret_root || !ret_root_len || b->finished)
		return -EINVAL;
	if (b->error < 0)
		return b->error;
	dbs = b->p.data_block_size;
	/* Only the last block may be short (it is padded). */
	if (b->fed <= b->data_bytes - dbs)
		return -EIO;
	if (b->partial_len > 0) {
		memset(b->partial + b->partial_len, 0, dbs - b->partial_len);
		r = hash_data(b, b->partial, 1);
		if (r < 0)
			return b->error = r;
		b->partial_len = 0;
	}

	if (b->l.levels == 0)
		memcpy(b->root, b->stage, b->l.digest_size);
	else {
		if (b->stage_len > 0) {
			r = flush_stage(b);
			if (r < 0)
				return b->error = r;
		}
		/* Partly filled blocks, bottom up: each one completes into the next level. */
		for (uint32_t i = 1; i < b->l.levels; i++)
			if (b->lvfill[i] > 0) {
				r = close_block(b, i);
				if (r < 0)
					return b->error = r;
			}
	}
	assert(b->l.levels == 0 || b->stage_block == b->l.level_blocks[0]);
	for (uint32_t i = 1; i < b->l.levels; i++)
		assert(b->lvdone[i] == b->l.level_blocks[i]);

	if (b->p.superblock && b->hash_fd >= 0) {
		r = write_superblock(b);
		if (r < 0)
			return b->error = r;
	}
	b->finished = true;
	memcpy(ret_root, b->root, b->l.digest_size);
	*ret_root_len = b->l.digest_size;
	return 0;
}

/* Sequential reader for format and verify: reads ahead on a thread of its
 * own into two buffers, so reading (a copy out of the page cache, or disk
 * I/O) overlaps hashing. */
struct prefetch {
	int fd;
	uint64_t total;          /* bytes wanted from offset 0 */
	size_t chunk;
	uint8_t *buf[2];
	size_t len[2];
	bool full[2], done, stop;
	int err;
	pthread_mutex_t lock;
	pthread_cond_t cond;
};

/* Reads up to len bytes at off; fewer only at end of file. */
static ssize_t pread_most(int fd, uint8_t *buf, size_t len, uint64_t off)
{
	size_t got = 0;

	while (got < len) {
		ssize_t n = pread(fd, buf + got, len - got, (off_t)(off + got));
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (n == 0)
			break;
		got += (size_t)n;
	}
	return (ssize_t)got;
}

static void *prefetch_main(void *arg)
{
	struct prefetch *pf = arg;
	uint64_t off = 0;

	for (unsigned k = 0;; k ^= 1) {
		size_t want;
		ssize_t n;
		bool last;

		pthread_mutex_lock(&pf->lock);
		while (pf->full[k] && !pf->stop)
			pthread_cond_wait(&pf->cond, &pf->lock);
		if (pf->stop) {
			pthread_mutex_unlock(&pf->lock);
			break;
		}
		pthread_mutex_unlock(&pf->lock);

		want = pf->total - off < pf->chunk ? (size_t)(pf->total - off) : pf->chunk;
		n = pread_most(pf->fd, pf->buf[k], want, off);
		last = n < 0 || (size_t)n < want || off + (uint64_t)n == pf->total;

		pthread_mutex_lock(&pf->lock);
		if (n < 0)
			pf->err = (int)n;
		else if (n > 0) {
			pf->len[k] = (size_t)n;
			pf->full[k] = true;
		}
		pf->done = last;
		pthread_cond_broadcast(&pf->cond);
		pthread_mutex_unlock(&pf->lock);
		if (last)
			break;
		off += (uint64_t)n;
	}
	return NULL;
}

/* Hands pf's buffers to fn in order until the reader is done. */
static int prefetch_consume(struct prefetch *pf, verity_chunk_fn fn, void *userdata)
{
	for (unsigned k = 0;; k ^= 1) {
		int r;

		pthread_mutex_lock(&pf->lock);
		while (!pf->full[k] && !pf->done)
			pthread_cond_wait(&pf->cond, &pf->lock);
		if (!pf->full[k]) {
			r = pf->err;
			pthread_mutex_unlock(&pf->lock);
			return r;
		}
		pthread_mutex_unlock(&pf->lock);

		r = fn(userdata, pf->buf[k], pf->len[k]);

		pthread_mutex_lock(&pf->lock);
		pf->full[k] = false;
		pthread_cond_broadcast(&pf->cond);
		pthread_mutex_unlock(&pf->lock);
		if (r < 0)
			return r;
	}
}

/* Without a second CPU (or a thread), read and hand over in turn. */
static int read_in_turn(struct prefetch *pf, verity_chunk_fn fn, void *userdata)
{
	for (uint64_t off = 0; off < pf->total;) {
		size_t want = pf->total - off < pf->chunk ? (size_t)(pf->total - off) : pf->chunk;
		ssize_t n = pread_most(pf->fd, pf->buf[0], want, off);
		int r;

		if (n < 0)
			return (int)n;
		if (n == 0)
			break;
		r = fn(userdata, pf->buf[0], (size_t)n);
		if (r < 0)
			return r;
		off += (uint64_t)n;
	}
	return 0;
}

int verity_read_chunks(int fd, uint64_t total, size_t chunk, bool read_ahead,
                       verity_chunk_fn fn, void *userdata)
{
	struct prefetch pf = { .fd = fd, .total = total, .chunk = chunk };
	pthread_t thread;
	int r;

	if (fd < 0 || chunk == 0 || !fn)
		return -EINVAL;
	pf.buf[0] = malloc(chunk);
	if (read_ahead && total > chunk)
		pf.buf[1] = malloc(chunk);
	if (!pf.buf[0]) {
		free(pf.buf[1]);
		return -ENOMEM;
	}
	pthread_mutex_init(&pf.lock, NULL);
	pthread_cond_init(&pf.cond, NULL);
	(void)posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);

	if (pf.buf[1] && thread_start(&thread, prefetch_main, &pf) == 0) {
		r = prefetch_consume(&pf, fn, userdata);
		pthread_mutex_lock(&pf.lock);
		pf.stop = true;
		pthread_cond_broadcast(&pf.cond);
		pthread_mutex_unlock(&pf.lock);
		pthread_join(thread, NULL);
	} else
		r = read_in_turn(&pf, fn, userdata);

	pthread_cond_destroy(&pf.cond);
	pthread_mutex_destroy(&pf.lock);
	free(pf.buf[0]);
	free(pf.buf[1]);
	return r;
}

bool verity_hasher_parallel(const struct verity_hasher *h)
{
	return h->may_split;
}

static int feed_chunk(void *userdata, uint8_t *buf, size_t len)
{
	return verity_builder_feed(userdata, buf, len);
}

int verity_format_fd(const struct verity_params *p, int data_fd, int hash_fd,
                     uint8_t ret_root[VERITY_MAX_DIGEST], size_t *ret_root_len)
{
	struct verity_builder *b = NULL;
	int r;

	if (data_fd < 0 || !ret_root || !ret_root_len)
		return -EINVAL;
	r = verity_builder_new(p, hash_fd, &b);
	if (r < 0)
		return r;
	/* Short data just ends early: finish pads the last block or refuses. */
	r = verity_read_chunks(data_fd, b->data_bytes, VERITY_READ_CHUNK(p->data_block_size),
	                       b->h->may_split, feed_chunk, b);
	if (r == 0)
		r = verity_builder_finish(b, ret_root, ret_root_len);
	verity_builder_free(b);
	return r;
}

/* ------------------------------------------------------------------ */
/* Superblock                                                           */

int verity_superblock_read(int hash_fd, uint64_t offset, struct verity_params *ret)
{
	uint8_t sb[VERITY_SUPERBLOCK_SIZE];
	struct verity_params p = { 0 };
	uint32_t version, type, v32;
	uint64_t v64;
	uint16_t v16;
	int r;

	if (hash_fd < 0 || !ret || offset % 512)
		return -EINVAL;
	r = pread_full(hash_fd, sb, sizeof(sb), offset);
	if (r == -EIO)
		return -EINVAL; /* too short to hold one */
	if (r < 0)
		return r;
	if (memcmp(sb, "verity\0\0", 8) != 0)
		return -EINVAL;
	memcpy(&version, sb + 0x08, 4);
	memcpy(&type, sb + 0x0c, 4);
	if (le32toh(version) != 1)
		return -EINVAL;
	if (le32toh(type) != 1)
		return -EOPNOTSUPP; /* Chrome OS format (type 0) */
	memcpy(p.uuid, sb + 0x10, 16);
	if (memchr(sb + 0x20, 0, 32) == NULL)
		return -EINVAL;
	memcpy(p.hash_name, sb + 0x20, 32);
	if (verity_digest_size(&p) < 0)
		return -EOPNOTSUPP;
	memcpy(&v32, sb + 0x40, 4);
	p.data_block_size = le32toh(v32);
	memcpy(&v32, sb + 0x44, 4);
	p.hash_block_size = le32toh(v32);
	memcpy(&v64, sb + 0x48, 8);
	p.data_blocks = le64toh(v64);
	memcpy(&v16, sb + 0x50, 2);
	p.salt_size = le16toh(v16);
	if (p.salt_size > VERITY_MAX_SALT)
		return -EINVAL;
	memcpy(p.salt, sb + 0x58, p.salt_size);
	p.superblock = true;
	p.hash_offset = offset;
	r = verity_params_check(&p);
	if (r < 0)
		return r;
	*ret = p;
	return 0;
}

/* Slot writer: one pass from the update stream into a slot.
 *
 * The caller's thread pulls the payload (and decompresses it) into a small
 * ring of chunk buffers; three consumer threads take every chunk in order:
 * a writer (O_DIRECT when the target and alignment allow, else buffered
 * writes with bounded dirty pages), the dm-verity tree builder and the
 * payload sha256. A chunk slot is reused once all three are done with it,
 * so memory stays at RING_N * CHUNK whatever the image size. */
#include "verity/verity.h"
#include "common/macro.h"
#include "common/util.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>
#include <zstd.h>

#define RING_N 8
#define CHUNK (1U << 20)
#define DIRECT_ALIGN 4096
/* Buffered fallback: keep at most this many chunks of dirty pages. */
#define WRITEBACK_LAG 4
/* The writer sends up to this many ready chunks in one request. */
#define WRITE_BATCH 4
/* Decompression window cap (8 MiB) keeps memory bounded: images must be
 * compressed with zstd levels 1..19 without --long. */
#define ZSTD_WINDOW_LOG_MAX 23

enum { C_WRITE, C_VERITY, C_SHA, C_N };

struct ring {
	pthread_mutex_t lock;
	pthread_cond_t more, room;
	uint8_t *buf[RING_N];
	size_t len[RING_N];
	uint64_t produced;       /* chunks filled so far */
	uint64_t consumed[C_N];  /* chunks each consumer is done with */
	bool eof, abort;
	int err[C_N];

	/* consumer state */
	const struct slot_target *t;
	int direct_fd;
	struct verity_builder *builder;
	EVP_MD_CTX *sha;
	uint64_t written;        /* bytes the writer has written, under lock */
};

static uint64_t ring_min_consumed(const struct ring *r)
{
	uint64_t m = r->consumed[0];
	for (int i = 1; i < C_N; i++)
		if (r->consumed[i] < m)
			m = r->consumed[i];
	return m;
}

/* pwritev until everything is written (short writes advance the iovecs). */
static int pwritev_full(int fd, struct iovec *iov, int cnt, uint64_t off)
{
	while (cnt > 0) {
		ssize_t n = pwritev(fd, iov, cnt, (off_t)off);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (n == 0)
			return -ENOSPC;
		off += (uint64_t)n;
		while (cnt > 0 && (size_t)n >= iov->iov_len) {
			n -= (ssize_t)iov->iov_len;
			iov++, cnt--;
		}
		if (cnt > 0) {
			iov->iov_base = (uint8_t *)iov->iov_base + n;
			iov->iov_len -= (size_t)n;
		}
	}
	return 0;
}

/* Buffered path: start writeback of this chunk and wait for an older one,
 * so dirty pages stay bounded and the final fdatasync has little left to
 * do (some filesystems ignore this; that only costs memory). */
static void writeback(const struct slot_target *t, uint64_t seq, size_t len)
{
	uint64_t off = t->offset + seq * CHUNK;

	(void)sync_file_range(t->fd, (off_t)off, (off_t)len, SYNC_FILE_RANGE_WRITE);
	if (seq >= WRITEBACK_LAG) {
		uint64_t old = t->offset + (seq - WRITEBACK_LAG) * CHUNK;
		(void)sync_file_range(t->fd, (off_t)old, CHUNK,
		                      SYNC_FILE_RANGE_WAIT_BEFORE | SYNC_FILE_RANGE_WRITE |
		                      SYNC_FILE_RANGE_WAIT_AFTER);
		(void)posix_fadvise(t->fd, (off_t)old, CHUNK, POSIX_FADV_DONTNEED);
	}
}

/* Chunks seq..seq+n-1 in one pwritev: they are contiguous in the slot, and
 * larger requests keep the device busy while both cores hash. */
static int write_chunks(struct ring *rg, uint64_t seq, unsigned n, const size_t *lens)
{
	const struct slot_target *t = rg->t;
	uint64_t off = t->offset + seq * CHUNK;
	struct iovec iov[WRITE_BATCH];
	bool aligned = true;
	int r;

	for (unsigned i = 0; i < n; i++) {
		iov[i] = (struct iovec){ .iov_base = rg->buf[(seq + i) % RING_N], .iov_len = lens[i] };
		aligned = aligned && lens[i] % DIRECT_ALIGN == 0;
	}
	if (rg->direct_fd >= 0 && aligned) {
		r = pwritev_full(rg->direct_fd, iov, (int)n, off);
		if (r != -EINVAL)
			return r;
		/* The device refused this alignment: go buffered from here on. */
		close(rg->direct_fd);
		rg->direct_fd = -1;
		for (unsigned i = 0; i < n; i++)
			iov[i] = (struct iovec){ .iov_base = rg->buf[(seq + i) % RING_N], .iov_len = lens[i] };
	}
	r = pwritev_full(t->fd, iov, (int)n, off);
	if (r < 0)
		return r;
	for (unsigned i = 0; i < n; i++)
		writeback(t, seq + i, lens[i]);
	return 0;
}

static int consume(struct ring *rg, int who, uint64_t seq, unsigned n, const size_t *lens)
{
	switch (who) {
	case C_WRITE:
		return write_chunks(rg, seq, n, lens);
	case C_VERITY:
		return verity_builder_feed(rg->builder, rg->buf[seq % RING_N], lens[0]);
	case C_SHA:
		return EVP_DigestUpdate(rg->sha, rg->buf[seq % RING_N], lens[0]) == 1 ? 0 : -EIO;
	}
	return -EINVAL;
}

struct consumer_arg {
	struct ring *rg;
	int who;
};

static void *consumer_main(void *userdata)
{
	struct consumer_arg *a = userdata;
	struct ring *rg = a->rg;
	/* the writer takes what is there, up to WRITE_BATCH; hashers one by one */
	unsigned max = a->who == C_WRITE ? WRITE_BATCH : 1;

	for (uint64_t seq = 0;;) {
		size_t lens[WRITE_BATCH], bytes = 0;
		unsigned n = 0;
		int r;

		pthread_mutex_lock(&rg->lock);
		while (seq == rg->produced && !rg->eof && !rg->abort)
			pthread_cond_wait(&rg->more, &rg->lock);
		if (rg->abort || seq == rg->produced) {
			pthread_mutex_unlock(&rg->lock);
			break;
		}
		while (n < max && seq + n < rg->produced) {
			lens[n] = rg->len[(seq + n) % RING_N];
			bytes += lens[n++];
		}
		pthread_mutex_unlock(&rg->lock);

		r = consume(rg, a->who, seq, n, lens);

		pthread_mutex_lock(&rg->lock);
		if (r < 0) {
			rg->err[a->who] = r;
			rg->abort = true;
			pthread_cond_broadcast(&rg->more);
		} else {
			seq += n;
			rg->consumed[a->who] = seq;
			if (a->who == C_WRITE)
				rg->written += bytes;
		}
		pthread_cond_signal(&rg->room);
		pthread_mutex_unlock(&rg->lock);
		if (r < 0)
			break;
	}
	return NULL;
}

/* Producer side: wait for a free slot; NULL when a consumer failed. */
static uint8_t *ring_get(struct ring *rg, uint64_t *ret_written)
{
	uint8_t *b = NULL;

	pthread_mutex_lock(&rg->lock);
	while (!rg->abort && rg->produced - ring_min_consumed(rg) >= RING_N)
		pthread_cond_wait(&rg->room, &rg->lock);
	if (!rg->abort)
		b = rg->buf[rg->produced % RING_N];
	*ret_written = rg->written;
	pthread_mutex_unlock(&rg->lock);
	return b;
}

static void ring_put(struct ring *rg, size_t len)
{
	pthread_mutex_lock(&rg->lock);
	rg->len[rg->produced % RING_N] = len;
	rg->produced++;
	pthread_cond_broadcast(&rg->more);
	pthread_mutex_unlock(&rg->lock);
}

static void ring_end(struct ring *rg, bool abort)
{
	pthread_mutex_lock(&rg->lock);
	if (abort)
		rg->abort = true;
	rg->eof = true;
	pthread_cond_broadcast(&rg->more);
	pthread_mutex_unlock(&rg->lock);
}

/* Reads up to len bytes, retrying short reads; stops only at end of stream. */
static ssize_t pull(slot_read_fn read_fn, void *ud, uint8_t *buf, size_t len)
{
	size_t done = 0;

	while (done < len) {
		ssize_t n = read_fn(ud, buf + done, len - done);
		if (n < 0)
			return n;
		if (n == 0)
			break;
		if ((size_t)n > len - done)
			return -EIO; /* a broken read_fn must not overrun buf */
		done += (size_t)n;
	}
	return (ssize_t)done;
}

/* An update image ends with its payload: after stored_size bytes the
 * stream must be at its end. One read of at most one byte checks it. */
static int expect_eof(slot_read_fn read_fn, void *ud)
{
	uint8_t c;
	ssize_t n = read_fn(ud, &c, 1);

	if (n < 0)
		return (int)n;
	return n == 0 ? 0 : -EBADMSG;
}

struct producer {
	struct ring *rg;
	const struct manifest *m;
	slot_read_fn read_fn;
	void *read_ud;
	slot_progress_fn progress;
	void *progress_ud;
};

static void report(struct producer *p, uint64_t written)
{
	if (p->progress)
		p->progress(p->progress_ud, written, p->m->payload_size);
}

static int produce_plain(struct producer *p)
{
	uint64_t left = p->m->payload_size, written;

	while (left > 0) {
		size_t want = left < CHUNK ? (size_t)left : CHUNK;
		uint8_t *b = ring_get(p->rg, &written);
		ssize_t n;

		if (!b)
			return -ECANCELED;
		report(p, written);
		n = pull(p->read_fn, p->read_ud, b, want);
		if (n < 0)
			return (int)n;
		if ((size_t)n < want)
			return -EPROTO;
		ring_put(p->rg, want);
		left -= want;
	}
	return expect_eof(p->read_fn, p->read_ud);
}

static void zstd_freep(ZSTD_DCtx **z) { ZSTD_freeDCtx(*z); }

/* Next piece of compressed input, never past stored_size. */
static int refill(struct producer *p, uint8_t *in, size_t in_cap, uint64_t *in_left, ZSTD_inBuffer *ib)
{
	ssize_t n = pull(p->read_fn, p->read_ud, in, *in_left < in_cap ? (size_t)*in_left : in_cap);

	if (n < 0)
		return (int)n;
	if (n == 0)
		return -EPROTO;
	*in_left -= (uint64_t)n;
	ib->size = (size_t)n;
	ib->pos = 0;
	return 0;
}

static int produce_zstd(struct producer *p)
{
	_cleanup_(zstd_freep) ZSTD_DCtx *z = NULL;
	_cleanup_free_ uint8_t *in = NULL;
	size_t in_cap = ZSTD_DStreamInSize(), zr = 1;
	uint64_t in_left = p->m->stored_size, out_left = p->m->payload_size, written;
	ZSTD_inBuffer ib = { 0 };

	z = ZSTD_createDCtx();
	in = malloc(in_cap);
	if (!z || !in)
		return -ENOMEM;
	if (ZSTD_isError(ZSTD_DCtx_setParameter(z, ZSTD_d_windowLogMax, ZSTD_WINDOW_LOG_MAX)))
		return -EINVAL;
	ib.src = in;

	while (out_left > 0) {
		uint8_t *b = ring_get(p->rg, &written);
		size_t want = out_left < CHUNK ? (size_t)out_left : CHUNK;
		ZSTD_outBuffer ob = { .dst = b, .size = want, .pos = 0 };

		if (!b)
			return -ECANCELED;
		report(p, written);
		while (ob.pos < ob.size) {
			if (ib.pos == ib.size) {
				int r;
				if (in_left == 0)
					/* all input used, output short: the frames do not
					 * decompress to what the manifest promises */
					return -EBADMSG;
				r = refill(p, in, in_cap, &in_left, &ib);
				if (r < 0)
					return r;
			}
			zr = ZSTD_decompressStream(z, &ob, &ib);
			if (ZSTD_isError(zr))
				return -EBADMSG;
		}
		ring_put(p->rg, want);
		out_left -= want;
	}

	/* All promised output is there: the rest of the input must finish the
	 * frame without producing one more byte. */
	for (;;) {
		uint8_t extra;
		ZSTD_outBuffer ob = { .dst = &extra, .size = 1, .pos = 0 };

		if (ib.pos == ib.size && in_left > 0) {
			int r = refill(p, in, in_cap, &in_left, &ib);
			if (r < 0)
				return r;
		}
		if (ib.pos == ib.size && zr == 0)
			break;
		zr = ZSTD_decompressStream(z, &ob, &ib);
		if (ZSTD_isError(zr) || ob.pos > 0)
			return -EBADMSG;
		if (ib.pos == ib.size && in_left == 0) {
			if (zr != 0)
				return -EBADMSG; /* frame not finished */
			break;
		}
	}
	return expect_eof(p->read_fn, p->read_ud);
}

static int open_direct(const struct slot_target *t)
{
	char path[64];

	if (t->offset % DIRECT_ALIGN)
		return -1;
	snprintf(path, sizeof(path), "/proc/self/fd/%d", t->fd);
	/* A second open of the same file, so the tree builder's and the
	 * footer's buffered writes keep using t->fd. */
	return open(path, O_WRONLY | O_DIRECT | O_CLOEXEC);
}

static void md_ctx_freep(EVP_MD_CTX **c) { EVP_MD_CTX_free(*c); }

int slot_write(const struct signed_manifest *sm, slot_read_fn read_fn, void *read_userdata,
               const struct slot_target *t, slot_progress_fn progress, void *progress_userdata)
{
	const struct manifest *m;
	struct slot_layout layout;
	struct verity_params vp;
	struct ring rg = { .direct_fd = -1 };
	struct consumer_arg args[C_N];
	struct producer p;
	pthread_t th[C_N];
	int started = 0, r;
	uint64_t end, want_size;
	uint8_t root[VERITY_MAX_DIGEST], sha[32];
	size_t root_len = 0;
	unsigned sha_len = 0;
	_cleanup_(md_ctx_freep) EVP_MD_CTX *mdctx = NULL;

	if (!sm || !read_fn || !t || t->fd < 0)
		return -EINVAL;
	m = &sm->m;
	r = u64_add(t->offset, t->size, &end);
	if (r < 0)
		return r;
	r = slot_layout_compute(m, t->size, &layout);
	if (r < 0)
		return r;
	/* The signed layout must be the one we write: the tree goes where the
	 * manifest says, the payload fills exactly data_blocks blocks. */
	if (m->verity.hash_offset != layout.tree_offset || m->verity.superblock)
		return -EBADMSG;
	/* dm-verity addresses the tree in hash blocks from the device start */
	if (m->verity.hash_block_size == 0 || t->offset % m->verity.hash_block_size)
		return -EINVAL;
	r = u64_mul(m->verity.data_blocks, m->verity.data_block_size, &want_size);
	if (r < 0 || want_size != m->payload_size || m->payload_size == 0)
		return -EBADMSG;
	if (m->compression == MANIFEST_COMP_NONE && m->stored_size != m->payload_size)
		return -EBADMSG;

	vp = m->verity;
	r = u64_add(t->offset, layout.tree_offset, &vp.hash_offset);
	if (r < 0)
		return r;

	mdctx = EVP_MD_CTX_new();
	if (!mdctx || EVP_DigestInit_ex(mdctx, EVP_sha256(), NULL) != 1)
		return -ENOMEM;
	r = verity_builder_new(&vp, t->fd, &rg.builder);
	if (r < 0)
		return r;

	pthread_mutex_init(&rg.lock, NULL);
	pthread_cond_init(&rg.more, NULL);
	pthread_cond_init(&rg.room, NULL);
	rg.t = t;
	rg.sha = mdctx;
	rg.direct_fd = open_direct(t);
	for (int i = 0; i < RING_N; i++) {
		void *b = NULL;
		if (posix_memalign(&b, DIRECT_ALIGN, CHUNK) != 0) {
			r = -ENOMEM;
			goto out;
		}
		rg.buf[i] = b;
	}
	for (int i = 0; i < C_N; i++) {
		args[i] = (struct consumer_arg){ .rg = &rg, .who = i };
		r = -pthread_create(&th[i], NULL, consumer_main, &args[i]);
		if (r < 0)
			goto out;
		started++;
	}

	p = (struct producer){
		.rg = &rg, .m = m, .read_fn = read_fn, .read_ud = read_userdata,
		.progress = progress, .progress_ud = progress_userdata,
	};
	r = m->compression == MANIFEST_COMP_ZSTD ? produce_zstd(&p) : produce_plain(&p);

out:
	ring_end(&rg, r < 0);
	for (int i = 0; i < started; i++)
		pthread_join(th[i], NULL);
	/* A consumer's error is the cause when the producer only saw the abort. */
	if (r == 0 || r == -ECANCELED)
		for (int i = 0; i < C_N; i++)
			if (rg.err[i] < 0) {
				r = rg.err[i];
				break;
			}
	if (r == 0 && progress)
		progress(progress_userdata, m->payload_size, m->payload_size);

	if (r == 0)
		r = verity_builder_finish(rg.builder, root, &root_len);
	if (r == 0 && fdatasync(t->fd) < 0)
		r = -errno;
	if (r == 0 && (EVP_DigestFinal_ex(mdctx, sha, &sha_len) != 1 || sha_len != sizeof(sha)))
		r = -EIO;
	if (r == 0 && (memcmp(sha, m->payload_sha256, sizeof(sha)) != 0 ||
	               root_len != m->root_hash_size || memcmp(root, m->root_hash, root_len) != 0))
		r = -EBADMSG;
	if (r == 0)
		r = footer_write(t->fd, t->offset, t->size, sm);

	verity_builder_free(rg.builder);
	if (rg.direct_fd >= 0)
		close(rg.direct_fd);
	for (int i = 0; i < RING_N; i++)
		free(rg.buf[i]);
	pthread_cond_destroy(&rg.more);
	pthread_cond_destroy(&rg.room);
	pthread_mutex_destroy(&rg.lock);
	return r;
}

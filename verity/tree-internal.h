/* Private to tree.c and verify.c: the tree layout and the block hasher
 * both the builder and the verifier use. Same return conventions as
 * verity.h. */
#pragma once

#include "verity/verity.h"

struct verity_layout {
	uint32_t levels;            /* 0 when there is a single data block */
	uint32_t bits;              /* log2 of digest slots per hash block */
	size_t digest_size;
	size_t slot_size;           /* digest size rounded up to a power of two */
	uint64_t tree_offset;       /* byte offset of the top level in the hash device */
	uint64_t end;               /* byte offset just after the last hash block */
	uint64_t level_offset[VERITY_MAX_LEVELS]; /* byte offset of each level, 0 = lowest */
	uint64_t level_blocks[VERITY_MAX_LEVELS];
};

/* Layout as cryptsetup's hash_levels() computes it; also checks p like
 * verity_params_check(). */
int verity_layout_compute(const struct verity_params *p, struct verity_layout *ret);

/* Salted block hasher: digest = H(salt || block). Hashing many blocks at
 * once splits the work with one worker thread when more than one CPU is
 * available; the call returns when all digests are written. Not for
 * concurrent use by several threads. */
struct verity_hasher;
int verity_hasher_new(const char *hash_name, const uint8_t *salt, size_t salt_size,
                      struct verity_hasher **ret);
/* Digest of n blocks of block_size bytes each, the i-th written at out + i*stride. */
int verity_hasher_blocks(struct verity_hasher *h, const uint8_t *data, size_t block_size,
                         size_t n, uint8_t *out, size_t stride);
void verity_hasher_free(struct verity_hasher *h);
/* Whether verity_hasher_blocks may use a second CPU. */
bool verity_hasher_parallel(const struct verity_hasher *h);

/* Bytes of data one call of verity_hasher_blocks should get at least so
 * the split pays for the thread hand-over. */
#define VERITY_HASHER_SPLIT_MIN (128 * 1024)

/* Reads [0, total) of fd sequentially in chunks of chunk bytes (the last
 * may be shorter; a short file just ends early) and hands each to fn, whose
 * buffer has room for chunk bytes. With read_ahead a thread reads the next
 * chunk while fn works (two buffers). Returns fn's first error, a read
 * error, or 0. */
typedef int (*verity_chunk_fn)(void *userdata, uint8_t *buf, size_t len);
int verity_read_chunks(int fd, uint64_t total, size_t chunk, bool read_ahead,
                       verity_chunk_fn fn, void *userdata);
/* Chunk size for format and verify: 2 MiB, at least one data block. */
#define VERITY_READ_CHUNK(block_size) ((block_size) > (2u << 20) ? (size_t)(block_size) : (size_t)(2u << 20))

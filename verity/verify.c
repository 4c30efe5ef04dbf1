/* Userspace verification of a whole dm-verity device, top down like the
 * kernel: a hash block is trusted only once its digest matches the slot in
 * its (already trusted) parent, the top block against the root. One cached
 * block per level keeps memory at levels x block size. */
#include "verity/tree-internal.h"

#include "common/macro.h"
#include "common/util.h"

#include <stdlib.h>
#include <string.h>

struct verifier {
	const struct verity_params *p;
	struct verity_layout l;
	int hash_fd;
	struct verity_hasher *h;
	const uint8_t *root;
	uint8_t *digests;        /* of one chunk of data blocks */
	uint64_t next;           /* next data block to check */
	uint8_t *cache[VERITY_MAX_LEVELS];
	uint64_t cached[VERITY_MAX_LEVELS];
	struct verity_corruption bad;
};

static bool all_zero(const uint8_t *p, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if (p[i])
			return false;
	return true;
}

static int hash_bad(struct verifier *v, uint32_t level, uint64_t index)
{
	v->bad = (struct verity_corruption){
		.area = VERITY_AREA_HASH,
		.block = (v->l.level_offset[level] + index * v->p->hash_block_size - v->p->hash_offset) /
		         v->p->hash_block_size,
		.level = level,
	};
	return -EBADMSG;
}

/* Makes block `index` of `level` the verified cached block of that level. */
static int load(struct verifier *v, uint32_t level, uint64_t index)
{
	uint32_t hbs = v->p->hash_block_size;
	uint8_t *buf = v->cache[level], digest[VERITY_MAX_DIGEST];
	const uint8_t *want;
	uint64_t children, per_block = UINT64_C(1) << v->l.bits;
	size_t used;
	int r;

	if (v->cached[level] == index)
		return 0;
	v->cached[level] = UINT64_MAX;
	r = pread_full(v->hash_fd, buf, hbs, v->l.level_offset[level] + index * hbs);
	if (r < 0)
		return r;
	r = verity_hasher_blocks(v->h, buf, hbs, 1, digest, 0);
	if (r < 0)
		return r;
	if (level + 1 == v->l.levels)
		want = v->root;
	else {
		r = load(v, level + 1, index >> v->l.bits);
		if (r < 0)
			return r;
		want = v->cache[level + 1] + (index & (per_block - 1)) * v->l.slot_size;
	}
	if (memcmp(digest, want, v->l.digest_size) != 0)
		return hash_bad(v, level, index);

	/* A consistent tree can still carry garbage in unused slots; veritysetup
	 * rejects that, so do we. */
	children = level == 0 ? v->p->data_blocks : v->l.level_blocks[level - 1];
	children -= index * per_block;
	used = (size_t)(children < per_block ? children : per_block);
	if (v->l.slot_size != v->l.digest_size)
		for (size_t i = 0; i < used; i++)
			if (!all_zero(buf + i * v->l.slot_size + v->l.digest_size,
			              v->l.slot_size - v->l.digest_size))
				return hash_bad(v, level, index);
	if (!all_zero(buf + used * v->l.slot_size, hbs - used * v->l.slot_size))
		return hash_bad(v, level, index);
	v->cached[level] = index;
	return 0;
}

/* Checks the next data blocks against level 0 (or the root). A data
 * device ending inside the last block reads as zero-padded, like the
 * builder pads it; ending earlier is -EIO. */
static int check_chunk(void *userdata, uint8_t *buf, size_t len)
{
	struct verifier *v = userdata;
	size_t dbs = v->p->data_block_size, n = div_round_up(len, dbs);
	uint64_t mask = (UINT64_C(1) << v->l.bits) - 1;
	int r;

	if (len % dbs) {
		if (v->next + n != v->p->data_blocks)
			return -EIO;
		memset(buf + len, 0, n * dbs - len); /* the buffer holds a whole chunk */
	}
	r = verity_hasher_blocks(v->h, buf, dbs, n, v->digests, v->l.digest_size);
	if (r < 0)
		return r;
	for (size_t i = 0; i < n; i++) {
		uint64_t blk = v->next + i;
		const uint8_t *want = v->root;

		if (v->l.levels > 0) {
			r = load(v, 0, blk >> v->l.bits);
			if (r < 0)
				return r;
			want = v->cache[0] + (blk & mask) * v->l.slot_size;
		}
		if (memcmp(v->digests + i * v->l.digest_size, want, v->l.digest_size) != 0) {
			v->bad = (struct verity_corruption){ .area = VERITY_AREA_DATA, .block = blk };
			return -EBADMSG;
		}
	}
	v->next += n;
	return 0;
}

int verity_verify(const struct verity_params *p, int data_fd, int hash_fd,
                  const uint8_t *root, size_t root_len, struct verity_corruption *ret_bad)
{
	struct verifier v = { .p = p, .hash_fd = hash_fd, .root = root };
	size_t chunk;
	int r;

	if (!p || data_fd < 0 || !root)
		return -EINVAL;
	r = verity_layout_compute(p, &v.l);
	if (r < 0)
		return r;
	if (root_len != v.l.digest_size || (v.l.levels > 0 && hash_fd < 0))
		return -EINVAL;
	chunk = VERITY_READ_CHUNK(p->data_block_size);
	v.digests = malloc(chunk / p->data_block_size * v.l.digest_size);
	if (!v.digests)
		return -ENOMEM;
	r = verity_hasher_new(p->hash_name, p->salt, p->salt_size, &v.h);
	if (r < 0)
		goto out;
	for (uint32_t i = 0; i < v.l.levels; i++) {
		v.cached[i] = UINT64_MAX;
		v.cache[i] = malloc(p->hash_block_size);
		if (!v.cache[i]) {
			r = -ENOMEM;
			goto out;
		}
	}
	r = verity_read_chunks(data_fd, p->data_blocks * p->data_block_size, chunk,
	                       verity_hasher_parallel(v.h), check_chunk, &v);
	if (r == 0 && v.next != p->data_blocks)
		r = -EIO;
out:
	if (r == -EBADMSG && ret_bad)
		*ret_bad = v.bad;
	for (uint32_t i = 0; i < v.l.levels; i++)
		free(v.cache[i]);
	verity_hasher_free(v.h);
	free(v.digests);
	return r;
}

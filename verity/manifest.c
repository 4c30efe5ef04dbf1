/* The manifest: the signed key=value description of one rootfs image
 * (docs/FORMAT.md), and where its parts go in a slot. */
#include "verity/verity.h"
#include "common/macro.h"
#include "common/util.h"
#include "verity/kv-internal.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

enum key_id {
	K_FORMAT, K_COMPATIBLE, K_VERSION, K_VERSION_STRING, K_BUILD_TIME, K_FSTYPE,
	K_PAYLOAD_SIZE, K_PAYLOAD_SHA256, K_COMPRESSION, K_STORED_SIZE, K_VERITY_HASH,
	K_DATA_BLOCK_SIZE, K_HASH_BLOCK_SIZE, K_DATA_BLOCKS, K_SALT, K_ROOT_HASH,
	K_TREE_SIZE, K_MAX
};

static const struct kv_key keys[K_MAX] = {
	KV_KEY("format"), KV_KEY("compatible"), KV_KEY("version"), KV_KEY("version_string"),
	KV_KEY("build_time"), KV_KEY("fstype"), KV_KEY("payload_size"), KV_KEY("payload_sha256"),
	KV_KEY("compression"), KV_KEY("stored_size"), KV_KEY("verity_hash"),
	KV_KEY("verity_data_block_size"), KV_KEY("verity_hash_block_size"),
	KV_KEY("verity_data_blocks"), KV_KEY("verity_salt"), KV_KEY("verity_root_hash"),
	KV_KEY("verity_tree_size"),
};
static const struct kv_format manifest_kv = {
	.max_size = MANIFEST_MAX_SIZE, .max_line = MANIFEST_MAX_LINE, .keys = keys, .nkeys = K_MAX,
	KV_MESSAGES("manifest", "16 KiB", "1024 bytes"),
};

static const char *const fstypes[] = { "ext4", "squashfs", "erofs" };
static const char *const compressions[] = { [MANIFEST_COMP_NONE] = "none", [MANIFEST_COMP_ZSTD] = "zstd" };

static int u32_value(const char *v, uint32_t *ret)
{
	uint64_t x;

	if (parse_u64(v, &x) < 0 || x > UINT32_MAX)
		return -EINVAL;
	*ret = (uint32_t)x;
	return 0;
}

static int pick(const char *v, const char *const *names, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (names[i] && strcmp(v, names[i]) == 0)
			return (int)i;
	return -EINVAL;
}

static int parse_value(enum key_id k, const char *v, struct manifest *m, const char **ret_err)
{
	size_t n;
	int r = 0;

	switch (k) {
	case K_FORMAT:
		r = u32_value(v, &m->format);
		if (r == 0 && m->format != 1) {
			*ret_err = "unsupported manifest format (expected format=1)";
			return -EBADMSG;
		}
		break;
	case K_COMPATIBLE:
		r = kv_text_ok(v, sizeof m->compatible, false) ? 0 : -EINVAL;
		if (r == 0)
			strcpy(m->compatible, v);
		break;
	case K_VERSION:
		r = parse_u64(v, &m->version);
		break;
	case K_VERSION_STRING:
		r = kv_text_ok(v, sizeof m->version_string, true) ? 0 : -EINVAL;
		if (r == 0)
			strcpy(m->version_string, v);
		break;
	case K_BUILD_TIME:
		r = parse_u64(v, &m->build_time);
		break;
	case K_FSTYPE:
		r = pick(v, fstypes, ARRAY_SIZE(fstypes));
		if (r >= 0)
			strcpy(m->fstype, v), r = 0;
		break;
	case K_PAYLOAD_SIZE:
		r = parse_u64(v, &m->payload_size);
		if (r == 0 && m->payload_size == 0)
			r = -EINVAL;
		break;
	case K_PAYLOAD_SHA256:
		r = kv_hex_value(v, m->payload_sha256, sizeof m->payload_sha256, &n);
		if (r == 0 && n != sizeof m->payload_sha256)
			r = -EINVAL;
		break;
	case K_COMPRESSION:
		r = pick(v, compressions, ARRAY_SIZE(compressions));
		if (r >= 0)
			m->compression = (enum manifest_compression)r, r = 0;
		break;
	case K_STORED_SIZE:
		r = parse_u64(v, &m->stored_size);
		if (r == 0 && m->stored_size == 0)
			r = -EINVAL;
		break;
	case K_VERITY_HASH:
		if (strcmp(v, "sha256") != 0 && strcmp(v, "sha512") != 0)
			r = -EINVAL;
		else
			strcpy(m->verity.hash_name, v);
		break;
	case K_DATA_BLOCK_SIZE:
		r = u32_value(v, &m->verity.data_block_size);
		break;
	case K_HASH_BLOCK_SIZE:
		r = u32_value(v, &m->verity.hash_block_size);
		break;
	case K_DATA_BLOCKS:
		r = parse_u64(v, &m->verity.data_blocks);
		break;
	case K_SALT:
		r = kv_hex_value(v, m->verity.salt, sizeof m->verity.salt, &n);
		if (r == -ENOBUFS) {
			*ret_err = "verity_salt longer than 256 bytes";
			return -EBADMSG;
		}
		if (r == 0)
			m->verity.salt_size = (uint16_t)n;
		break;
	case K_ROOT_HASH:
		r = kv_hex_value(v, m->root_hash, sizeof m->root_hash, &n);
		if (r == 0 && n == 0)
			r = -EINVAL;
		if (r == 0)
			m->root_hash_size = n;
		break;
	case K_TREE_SIZE:
		r = parse_u64(v, &m->tree_size);
		break;
	case K_MAX:
		r = -EINVAL;
		break;
	}
	if (r < 0) {
		*ret_err = keys[k].bad;
		return -EBADMSG;
	}
	return 0;
}

/* Cross-field rules: everything the slot layout and the verifier rely on. */
static int check_consistency(struct manifest *m, const char **ret_err)
{
	uint64_t total, tree;
	int r;

	if (m->compression == MANIFEST_COMP_NONE && m->stored_size != m->payload_size) {
		*ret_err = "stored_size differs from payload_size without compression";
		return -EBADMSG;
	}
	m->verity.superblock = false;
	if (verity_params_check(&m->verity) < 0) {
		*ret_err = "bad verity parameters (block sizes)";
		return -EBADMSG;
	}
	if (m->payload_size % m->verity.data_block_size) {
		*ret_err = "payload_size is not a multiple of verity_data_block_size";
		return -EBADMSG;
	}
	if (u64_mul(m->verity.data_blocks, m->verity.data_block_size, &total) < 0 ||
	    total != m->payload_size) {
		*ret_err = "verity_data_blocks does not match payload_size";
		return -EBADMSG;
	}
	if (u64_align(m->payload_size, 4096, &m->verity.hash_offset) < 0) {
		*ret_err = "payload_size too large";
		return -EBADMSG;
	}
	r = verity_digest_size(&m->verity);
	if (r < 0 || (size_t)r != m->root_hash_size) {
		*ret_err = "verity_root_hash length does not match verity_hash";
		return -EBADMSG;
	}
	if (verity_hash_area_size(&m->verity, &tree) < 0 || tree != m->tree_size) {
		*ret_err = "verity_tree_size does not match the verity parameters";
		return -EBADMSG;
	}
	return 0;
}

static int manifest_value(void *userdata, size_t key, const char *value, const char **ret_err)
{
	return parse_value((enum key_id)key, value, userdata, ret_err);
}

int manifest_parse(const char *text, size_t len, struct manifest *ret, const char **ret_err)
{
	const char *err = NULL;
	struct manifest m = { 0 };
	int r;

	if (!ret_err)
		ret_err = &err;
	r = kv_parse(&manifest_kv, text, len, manifest_value, &m, ret_err);
	if (r < 0)
		return r;
	r = check_consistency(&m, ret_err);
	if (r < 0)
		return r;
	*ret = m;
	return 0;
}

int manifest_format(const struct manifest *m, char **ret_text, size_t *ret_len)
{
	char sha[65], salt[2 * VERITY_MAX_SALT + 1], root[2 * VERITY_MAX_DIGEST + 1];
	_cleanup_free_ char *buf = NULL;
	struct manifest check;
	int n;

	if (m->compression > MANIFEST_COMP_ZSTD || m->verity.salt_size > VERITY_MAX_SALT ||
	    m->root_hash_size > VERITY_MAX_DIGEST)
		return -EINVAL;
	hex_encode(m->payload_sha256, sizeof m->payload_sha256, sha);
	hex_encode(m->verity.salt, m->verity.salt_size, salt);
	hex_encode(m->root_hash, m->root_hash_size, root);
	n = asprintf(&buf,
		     "format=%" PRIu32 "\ncompatible=%s\nversion=%" PRIu64 "\nversion_string=%s\n"
		     "build_time=%" PRIu64 "\nfstype=%s\npayload_size=%" PRIu64 "\npayload_sha256=%s\n"
		     "compression=%s\nstored_size=%" PRIu64 "\nverity_hash=%s\n"
		     "verity_data_block_size=%" PRIu32 "\nverity_hash_block_size=%" PRIu32 "\n"
		     "verity_data_blocks=%" PRIu64 "\nverity_salt=%s\nverity_root_hash=%s\n"
		     "verity_tree_size=%" PRIu64 "\n",
		     m->format, m->compatible, m->version, m->version_string, m->build_time, m->fstype,
		     m->payload_size, sha, compressions[m->compression], m->stored_size,
		     m->verity.hash_name, m->verity.data_block_size, m->verity.hash_block_size,
		     m->verity.data_blocks, salt, root, m->tree_size);
	if (n < 0) {
		buf = NULL;
		return -ENOMEM;
	}
	/* Never hand out a manifest that our own strict parser would refuse. */
	if (manifest_parse(buf, (size_t)n, &check, NULL) < 0)
		return -EINVAL;
	*ret_text = TAKE_PTR(buf);
	*ret_len = (size_t)n;
	return 0;
}

int slot_layout_compute(const struct manifest *m, uint64_t slot_size, struct slot_layout *ret)
{
	struct slot_layout l = { .data_size = m->payload_size, .tree_size = m->tree_size };
	uint64_t tree_end;
	int r;

	r = u64_align(m->payload_size, 4096, &l.tree_offset);
	if (r < 0)
		return r;
	r = u64_add(l.tree_offset, l.tree_size, &tree_end);
	if (r < 0)
		return r;
	r = slot_footer_offset(slot_size, &l.footer_offset);
	if (r < 0)
		return r;
	if (tree_end > l.footer_offset)
		return -ENOSPC;
	*ret = l;
	return 0;
}

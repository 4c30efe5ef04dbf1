/* Read-only FAT12/16/32 path lookup: just enough to find the ESP's grubenv
 * inside a disk image without mounting it (no loop devices). */
#include "bootctl/bootctl.h"
#include "common/macro.h"
#include "common/util.h"

#include <ctype.h>
#include <errno.h>
#include <string.h>

#define FAT_MAX_DIR (4 * 1024 * 1024)

struct fat {
	int fd;
	uint64_t base, size;           /* the partition */
	unsigned type;                 /* 12, 16, 32 */
	uint32_t bps, spc, clusters;
	uint64_t fat_offset;           /* first FAT, bytes from base */
	uint64_t root_offset, root_size; /* FAT12/16 fixed root directory */
	uint32_t root_cluster;         /* FAT32 */
	uint64_t data_offset;          /* cluster 2, bytes from base */
};

static uint16_t le16(const uint8_t *p) { return (uint16_t)(p[0] | p[1] << 8); }
static uint32_t le32(const uint8_t *p) { return (uint32_t)le16(p) | (uint32_t)le16(p + 2) << 16; }

static int fat_pread(const struct fat *f, void *buf, size_t len, uint64_t off)
{
	uint64_t end, abs;

	if (u64_add(off, len, &end) < 0 || end > f->size || u64_add(f->base, off, &abs) < 0)
		return -EBADMSG;
	return pread_full(f->fd, buf, len, abs);
}

static int fat_open(struct fat *f)
{
	uint8_t bs[512];
	uint32_t reserved, nfats, root_entries, total, fatsz, root_sectors, first_data;
	int r;

	r = fat_pread(f, bs, sizeof bs, 0);
	if (r < 0)
		return r == -EIO ? -EBADMSG : r;
	if (bs[510] != 0x55 || bs[511] != 0xaa)
		return -EBADMSG;
	f->bps = le16(bs + 11);
	f->spc = bs[13];
	reserved = le16(bs + 14);
	nfats = bs[16];
	root_entries = le16(bs + 17);
	total = le16(bs + 19) ? le16(bs + 19) : le32(bs + 32);
	fatsz = le16(bs + 22) ? le16(bs + 22) : le32(bs + 36);
	if ((f->bps != 512 && f->bps != 1024 && f->bps != 2048 && f->bps != 4096) ||
	    f->spc == 0 || (f->spc & (f->spc - 1)) || reserved == 0 || nfats == 0 || fatsz == 0)
		return -EBADMSG;
	root_sectors = (root_entries * 32 + f->bps - 1) / f->bps;
	first_data = reserved + nfats * fatsz + root_sectors; /* u16/u8 fields: no overflow below 2^32 */
	if (total <= first_data || (uint64_t)total * f->bps > f->size)
		return -EBADMSG;
	f->clusters = (total - first_data) / f->spc;
	/* Microsoft's rule: the type follows from the cluster count alone */
	f->type = f->clusters < 4085 ? 12 : f->clusters < 65525 ? 16 : 32;
	f->fat_offset = (uint64_t)reserved * f->bps;
	f->root_offset = (uint64_t)(reserved + nfats * fatsz) * f->bps;
	f->root_size = (uint64_t)root_entries * 32;
	f->root_cluster = f->type == 32 ? le32(bs + 44) & 0x0fffffff : 0;
	f->data_offset = (uint64_t)first_data * f->bps;
	if ((f->type == 32) != (root_entries == 0))
		return -EBADMSG;
	return 0;
}

/* Next cluster in the chain; 0 at the end of the chain. */
static int fat_next(const struct fat *f, uint32_t c, uint32_t *ret)
{
	uint8_t b[4];
	uint32_t v, eoc;
	int r;

	if (c < 2 || c >= f->clusters + 2)
		return -EBADMSG;
	switch (f->type) {
	case 12:
		r = fat_pread(f, b, 2, f->fat_offset + c + c / 2);
		v = le16(b);
		v = c & 1 ? v >> 4 : v & 0xfff;
		eoc = 0xff8;
		break;
	case 16:
		r = fat_pread(f, b, 2, f->fat_offset + (uint64_t)c * 2);
		v = le16(b);
		eoc = 0xfff8;
		break;
	default:
		r = fat_pread(f, b, 4, f->fat_offset + (uint64_t)c * 4);
		v = le32(b) & 0x0fffffff;
		eoc = 0x0ffffff8;
	}
	if (r < 0)
		return r;
	if (v >= eoc) {
		*ret = 0;
		return 0;
	}
	if (v < 2 || v >= f->clusters + 2)
		return -EBADMSG; /* free, reserved or bad cluster inside a chain */
	*ret = v;
	return 0;
}

static uint64_t cluster_offset(const struct fat *f, uint32_t c)
{
	return f->data_offset + (uint64_t)(c - 2) * f->spc * f->bps;
}

/* Reads a directory: the fixed FAT12/16 root (cluster 0) or a chain. */
static int read_dir(const struct fat *f, uint32_t cluster, uint8_t **ret, size_t *ret_len)
{
	_cleanup_free_ uint8_t *buf = NULL;
	size_t len = 0, csize = (size_t)f->spc * f->bps;
	int r;

	if (cluster == 0) {
		buf = malloc(f->root_size ? f->root_size : 1);
		if (!buf)
			return -ENOMEM;
		r = fat_pread(f, buf, f->root_size, f->root_offset);
		if (r < 0)
			return r;
		*ret_len = f->root_size;
		*ret = TAKE_PTR(buf);
		return 0;
	}
	for (uint32_t n = 0; cluster; n++) {
		uint8_t *t;
		if (n > f->clusters || len + csize > FAT_MAX_DIR)
			return -EBADMSG; /* a loop in the chain */
		t = realloc(buf, len + csize);
		if (!t)
			return -ENOMEM;
		buf = t;
		r = fat_pread(f, buf + len, csize, cluster_offset(f, cluster));
		if (r < 0)
			return r;
		len += csize;
		r = fat_next(f, cluster, &cluster);
		if (r < 0)
			return r;
	}
	*ret_len = len;
	*ret = TAKE_PTR(buf);
	return 0;
}

/* "grubenv" -> "GRUBENV    ", -EINVAL when it is no 8.3 name. */
static int short_name(const char *comp, size_t n, char out[11])
{
	const char *dot = memchr(comp, '.', n);
	size_t bl = dot ? (size_t)(dot - comp) : n, el = dot ? n - bl - 1 : 0;

	if (bl == 0 || bl > 8 || el > 3)
		return -EINVAL;
	memset(out, ' ', 11);
	for (size_t i = 0; i < bl; i++)
		out[i] = (char)toupper((unsigned char)comp[i]);
	for (size_t i = 0; i < el; i++)
		out[8 + i] = (char)toupper((unsigned char)dot[1 + i]);
	return 0;
}

int fat_lookup(int fd, uint64_t part_offset, uint64_t part_size, const char *path,
               uint64_t *ret_offset, uint64_t *ret_size)
{
	struct fat f = { .fd = fd, .base = part_offset, .size = part_size };
	uint32_t cluster, size = 0, first;
	uint64_t csize;
	bool is_dir = true;
	int r;

	r = fat_open(&f);
	if (r < 0)
		return r;
	cluster = f.type == 32 ? f.root_cluster : 0;
	if (f.type == 32 && cluster < 2)
		return -EBADMSG;
	for (const char *p = path; *p; ) {
		_cleanup_free_ uint8_t *dir = NULL;
		size_t dlen, n;
		char want[11];
		bool found = false;

		while (*p == '/')
			p++;
		if (!*p)
			break;
		if (!is_dir)
			return -ENOENT;
		n = strcspn(p, "/");
		if (short_name(p, n, want) < 0)
			return -ENOENT;
		p += n;
		r = read_dir(&f, cluster, &dir, &dlen);
		if (r < 0)
			return r;
		for (size_t i = 0; i + 32 <= dlen; i += 32) {
			const uint8_t *e = dir + i;
			char name[11];
			if (e[0] == 0)
				break;
			if (e[0] == 0xe5 || e[11] == 0x0f || (e[11] & 0x08))
				continue; /* deleted, long-name part, volume label */
			memcpy(name, e, 11);
			if ((uint8_t)name[0] == 0x05)
				name[0] = (char)0xe5;
			if (memcmp(name, want, 11) != 0)
				continue;
			cluster = (f.type == 32 ? (uint32_t)le16(e + 20) << 16 : 0) | le16(e + 26);
			size = le32(e + 28);
			is_dir = e[11] & 0x10;
			found = true;
			break;
		}
		if (!found)
			return -ENOENT;
		if (is_dir && cluster == 0)
			cluster = f.type == 32 ? f.root_cluster : 0; /* ".." of a top-level directory */
	}
	if (is_dir)
		return -EISDIR;
	if (size == 0 || cluster < 2)
		return -EXDEV; /* no data extent to write in place */
	/* the file must be one run of clusters */
	csize = (uint64_t)f.spc * f.bps;
	first = cluster;
	for (uint64_t have = csize; have < size; have += csize) {
		uint32_t next;
		r = fat_next(&f, cluster, &next);
		if (r < 0)
			return r;
		if (next != cluster + 1)
			return next ? -EXDEV : -EBADMSG;
		cluster = next;
	}
	{
		uint64_t off, end;
		if (first >= f.clusters + 2 || u64_add(cluster_offset(&f, first), size, &end) < 0 || end > f.size ||
		    u64_add(part_offset, cluster_offset(&f, first), &off) < 0)
			return -EBADMSG;
		*ret_offset = off;
	}
	*ret_size = size;
	return 0;
}

/* Slot discovery by GPT partition name with libblkid: inside a disk image
 * (byte extents, no loop devices) or over the disks of a running system. */
#include "bootctl/bootctl.h"
#include "common/macro.h"
#include "common/util.h"

#include <blkid.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static void blkid_free_probep(blkid_probe *p) { if (*p) blkid_free_probe(*p); }
static void closedirp(DIR **d) { if (*d) closedir(*d); }

/* The four labels we look for, in the order of struct bootctl_parts. */
static struct bootctl_part *part_slot(struct bootctl_parts *p, unsigned i)
{
	return i < BOOTCTL_NSLOTS ? &p->slot[i] : i == 2 ? &p->data : &p->esp;
}
static const char *part_label(const struct bootctl_config *c, unsigned i)
{
	return i < BOOTCTL_NSLOTS ? c->label[i] : i == 2 ? c->data_label : c->esp_label;
}

/* Probes one disk; found partitions get device = disk path and their
 * extent. -ENOTUNIQ when a label is already filled in (another disk, or
 * twice in this table). */
static int probe_disk(const char *path, const struct bootctl_config *c, struct bootctl_parts *out,
                      bool found_here[4])
{
	_cleanup_(blkid_free_probep) blkid_probe pr = NULL;
	blkid_partlist ls;
	blkid_parttable tab;
	const char *type;
	int n;

	pr = blkid_new_probe_from_filename(path);
	if (!pr)
		return errno > 0 ? -errno : -EIO;
	if (blkid_probe_enable_partitions(pr, 1) < 0)
		return -EIO;
	ls = blkid_probe_get_partitions(pr);
	if (!ls)
		return -EBADMSG;
	tab = blkid_partlist_get_table(ls);
	type = tab ? blkid_parttable_get_type(tab) : NULL;
	if (!type || strcmp(type, "gpt") != 0)
		return -EBADMSG;
	n = blkid_partlist_numof_partitions(ls);
	for (int i = 0; i < n; i++) {
		blkid_partition par = blkid_partlist_get_partition(ls, i);
		const char *name = par ? blkid_partition_get_name(par) : NULL;
		blkid_loff_t start, size;

		if (!name)
			continue;
		start = blkid_partition_get_start(par);
		size = blkid_partition_get_size(par);
		if (start < 0 || size <= 0 || (uint64_t)start > UINT64_MAX / 512 || (uint64_t)size > UINT64_MAX / 512)
			return -EBADMSG;
		for (unsigned k = 0; k < 4; k++) {
			struct bootctl_part *p = part_slot(out, k);
			if (strcmp(name, part_label(c, k)) != 0)
				continue;
			if (p->found)
				return -ENOTUNIQ;
			if (strlen(path) >= sizeof p->device)
				return -ENAMETOOLONG;
			p->found = true;
			found_here[k] = true;
			strcpy(p->label, name);
			strcpy(p->device, path);
			p->offset = (uint64_t)start * 512;
			p->size = (uint64_t)size * 512;
			p->partno = (unsigned)blkid_partition_get_partno(par);
		}
	}
	return 0;
}

int bootctl_discover_disk(const char *disk_path, const struct bootctl_config *c, struct bootctl_parts *ret)
{
	struct bootctl_parts p = {};
	bool here[4] = {};
	int r;

	r = probe_disk(disk_path, c, &p, here);
	if (r < 0)
		return r;
	*ret = p;
	return 0;
}

/* The child of SYSFS/class/block/DISK whose "partition" file holds partno. */
static int find_partition_dev(const char *diskdir, unsigned partno, char *ret_name, size_t size)
{
	_cleanup_(closedirp) DIR *d = opendir(diskdir);
	struct dirent *de;

	if (!d)
		return -errno;
	while ((de = readdir(d))) {
		_cleanup_free_ char *pf = NULL;
		_cleanup_free_ uint8_t *data = NULL;
		size_t len;
		uint64_t v;

		if (de->d_name[0] == '.')
			continue;
		if (asprintf(&pf, "%s/%s/partition", diskdir, de->d_name) < 0)
			return -ENOMEM;
		if (read_file_bounded(pf, 32, &data, &len) < 0)
			continue;
		while (len && (data[len - 1] == '\n' || data[len - 1] == ' '))
			data[--len] = 0;
		if (parse_u64((char *)data, &v) < 0 || v != partno)
			continue;
		if (strlen(de->d_name) >= size)
			return -ENAMETOOLONG;
		strcpy(ret_name, de->d_name);
		return 0;
	}
	return -ENOENT;
}

static bool skip_disk(const char *name)
{
	static const char *const prefixes[] = { "loop", "ram", "zram", "sr", "dm-", "md", "fd" };

	for (size_t i = 0; i < ARRAY_SIZE(prefixes); i++)
		if (strncmp(name, prefixes[i], strlen(prefixes[i])) == 0)
			return true;
	return false;
}

int bootctl_discover_system(const char *sysfs, const char *devdir, const struct bootctl_config *c,
                            struct bootctl_parts *ret)
{
	_cleanup_(closedirp) DIR *d = NULL;
	_cleanup_free_ char *classdir = NULL;
	struct bootctl_parts p = {};
	struct dirent *de;

	if (!sysfs)
		sysfs = "/sys";
	if (!devdir)
		devdir = "/dev";
	if (asprintf(&classdir, "%s/class/block", sysfs) < 0)
		return -ENOMEM;
	d = opendir(classdir);
	if (!d)
		return -errno;
	while ((de = readdir(d))) {
		_cleanup_free_ char *diskdir = NULL, *partfile = NULL, *dev = NULL;
		bool here[4] = {};
		int r;

		if (de->d_name[0] == '.' || skip_disk(de->d_name))
			continue;
		if (asprintf(&diskdir, "%s/%s", classdir, de->d_name) < 0 ||
		    asprintf(&partfile, "%s/partition", diskdir) < 0 ||
		    asprintf(&dev, "%s/%s", devdir, de->d_name) < 0)
			return -ENOMEM;
		if (access(partfile, F_OK) == 0)
			continue; /* a partition: its disk is probed instead */
		r = probe_disk(dev, c, &p, here);
		if (r == -ENOTUNIQ || r == -ENOMEM)
			return r;
		if (r < 0)
			continue; /* no GPT, unreadable, empty drive */
		for (unsigned k = 0; k < 4; k++) {
			struct bootctl_part *pt = part_slot(&p, k);
			char name[256];
			if (!here[k])
				continue;
			r = find_partition_dev(diskdir, pt->partno, name, sizeof name);
			if (r < 0)
				return r;
			if ((size_t)snprintf(pt->device, sizeof pt->device, "%s/%s", devdir, name) >= sizeof pt->device)
				return -ENAMETOOLONG;
			pt->offset = 0;
		}
	}
	*ret = p;
	return 0;
}

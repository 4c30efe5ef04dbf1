/* rootfs-image channel: the signed metadata that tells devices which
 * update image is the newest on a channel (docs/FORMAT.md). */
#include "images/images.h"
#include "common/macro.h"
#include "common/util.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <openssl/evp.h>
#include <string.h>
#include <unistd.h>

static int bad(const char **ret_err, const char *msg, int r)
{
	if (ret_err)
		*ret_err = msg;
	return r;
}

int image_parse_duration(const char *s, uint64_t *ret_seconds)
{
	static const struct { char unit; uint64_t mul; } units[] = {
		{ 's', 1 }, { 'm', 60 }, { 'h', 3600 }, { 'd', 86400 }, { 'w', 7 * 86400 },
	};
	_cleanup_free_ char *num = NULL;
	size_t n = strlen(s);
	uint64_t v, mul = 1;

	if (n == 0)
		return -EINVAL;
	for (size_t i = 0; i < ARRAY_SIZE(units); i++)
		if (s[n - 1] == units[i].unit) {
			mul = units[i].mul;
			n--;
			break;
		}
	num = strndup(s, n);
	if (!num)
		return -ENOMEM;
	if (parse_u64(num, &v) < 0 || u64_mul(v, mul, &v) < 0)
		return -EINVAL;
	*ret_seconds = v;
	return 0;
}

/* sha256 and size of the whole file, read once. */
static int hash_file(int fd, uint8_t ret_sha[32], uint64_t *ret_size)
{
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	_cleanup_free_ uint8_t *buf = malloc(1 << 20);
	uint64_t size = 0;
	unsigned len = 0;
	int r = 0;

	if (!md || !buf || EVP_DigestInit_ex(md, EVP_sha256(), NULL) != 1)
		r = -ENOMEM;
	while (r == 0) {
		ssize_t n = read_full(fd, buf, 1 << 20);
		if (n < 0)
			r = (int)n;
		else if (n == 0)
			break;
		else if (EVP_DigestUpdate(md, buf, (size_t)n) != 1)
			r = -EIO;
		else
			size += (uint64_t)n;
	}
	if (r == 0 && (EVP_DigestFinal_ex(md, ret_sha, &len) != 1 || len != 32))
		r = -EIO;
	EVP_MD_CTX_free(md);
	if (r == 0)
		*ret_size = size;
	return r;
}

static void signerp(struct verity_signer **s) { verity_signer_free(*s); }

int image_channel(const struct image_channel_opts *o, struct channel *ret, const char **ret_err)
{
	_cleanup_(signed_manifest_clear) struct signed_manifest sm = { 0 };
	_cleanup_(signerp) struct verity_signer *signer = NULL;
	_cleanup_free_ char *file = NULL, *out = NULL;
	_cleanup_close_ int fd = -1;
	struct update_header h;
	struct channel c = { .format = 1, .expires = o->expires, .serial = o->serial };
	const char *name = o->name;
	size_t len;
	int r;

	if (!o->update || !o->url || !o->key || !o->cert || !o->output)
		return bad(ret_err, "missing option", -EINVAL);
	if (!name) {
		char *dot;
		out = strdup(o->output);
		if (!out)
			return -ENOMEM;
		name = basename(out);
		dot = strrchr(name, '.');
		if (dot && strcmp(dot, ".channel") == 0)
			*dot = 0;
	}
	if (strlen(name) >= sizeof c.name || strlen(o->url) >= sizeof c.url)
		return bad(ret_err, "channel name or URL too long", -EINVAL);
	strcpy(c.name, name);
	strcpy(c.url, o->url);

	fd = open(o->update, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return bad(ret_err, "cannot open the update image", -errno);
	r = update_read_head(fd, NULL, &h, &sm, ret_err);
	if (r < 0)
		return r;
	strcpy(c.compatible, sm.m.compatible);
	strcpy(c.version_string, sm.m.version_string);
	c.version = sm.m.version;
	if (lseek(fd, 0, SEEK_SET) < 0)
		return bad(ret_err, "cannot read the update image", -errno);
	r = hash_file(fd, c.sha256, &c.size);
	if (r < 0)
		return bad(ret_err, "cannot read the update image", r);

	r = verity_signer_load(o->key, o->cert, &signer);
	if (r < 0)
		return bad(ret_err, "cannot load the signing key", r);
	r = channel_sign(signer, &c, &file, &len);
	if (r == -EINVAL)
		return bad(ret_err, "bad channel field (name, URL or expiry time)", r);
	if (r < 0)
		return bad(ret_err, "cannot sign the channel", r);
	r = write_file_atomic(o->output, file, len, 0644);
	if (r < 0)
		return bad(ret_err, "cannot write the channel file", r);
	if (ret)
		*ret = c;
	return 0;
}

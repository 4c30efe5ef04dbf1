/* U-Boot environment: fw_env.config and the single/redundant copy format.
 * Why not libubootenv: see bootctl.h. */
#include "bootctl/bootctl.h"
#include "common/macro.h"
#include "common/util.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

#define WHY(s) (ret_why ? (void)(*ret_why = (s)) : (void)0)

/* Decimal or 0x-hex u64, nothing else (strtoull alone would take signs
 * and blanks). */
static int parse_num(const char *s, uint64_t *ret)
{
	const char *digits = "0123456789";
	unsigned long long v;
	int base = 10;
	char *end;

	if (s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
		digits = "0123456789abcdefABCDEF";
		base = 16;
		s += 2;
	}
	if (!*s || s[strspn(s, digits)])
		return -EINVAL;
	errno = 0;
	v = strtoull(s, &end, base);
	if (errno == ERANGE)
		return -ERANGE;
	*ret = v;
	return 0;
}

int ubootenv_config_parse(const char *text, struct ubootenv_config *ret, const char **ret_why)
{
	struct ubootenv_config c = {};
	_cleanup_free_ char *copy = strdup(text);
	char *save = NULL;

	if (!copy)
		return -ENOMEM;
	for (char *line = strtok_r(copy, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		char *tok[6], *s2 = NULL;
		unsigned n = 0;
		uint64_t v[4] = {};
		struct ubootenv_copy *cp;

		for (char *t = strtok_r(line, " \t\r", &s2); t && t[0] != '#'; t = strtok_r(NULL, " \t\r", &s2)) {
			if (n == ARRAY_SIZE(tok))
				return WHY("fw_env.config: too many fields on a line"), -EBADMSG;
			tok[n++] = t;
		}
		if (n == 0)
			continue;
		if (n < 3)
			return WHY("fw_env.config: a line needs 'device offset size'"), -EBADMSG;
		if (n > 5)
			return WHY("fw_env.config: too many fields on a line"), -EBADMSG;
		if (c.ncopies == 2)
			return WHY("fw_env.config: more than two environment copies"), -EBADMSG;
		for (unsigned i = 1; i < n; i++)
			if (parse_num(tok[i], &v[i - 1]) < 0)
				return WHY("fw_env.config: a number is not decimal or 0x-hex"), -EBADMSG;
		if (strlen(tok[0]) >= sizeof c.copy[0].path)
			return WHY("fw_env.config: device path too long"), -EBADMSG;
		if (v[1] < 16 || v[1] > UBOOTENV_MAX_SIZE)
			return WHY("fw_env.config: environment size out of range"), -EBADMSG;
		if (v[0] > INT64_MAX - v[1])
			return WHY("fw_env.config: offset out of range"), -EBADMSG;
		cp = &c.copy[c.ncopies++];
		strcpy(cp->path, tok[0]);
		cp->offset = v[0];
		cp->size = v[1];
		cp->sector_size = v[2];
		cp->sectors = v[3];
	}
	if (c.ncopies == 0)
		return WHY("fw_env.config: no environment configured"), -EBADMSG;
	if (c.ncopies == 2 && c.copy[0].size != c.copy[1].size)
		return WHY("fw_env.config: the two copies differ in size"), -EBADMSG;
	if (c.ncopies == 2 && strcmp(c.copy[0].path, c.copy[1].path) == 0 &&
	    c.copy[0].offset < c.copy[1].offset + c.copy[1].size && c.copy[1].offset < c.copy[0].offset + c.copy[0].size)
		return WHY("fw_env.config: the two copies overlap"), -EBADMSG;
	*ret = c;
	return 0;
}

int ubootenv_config_load(const char *path, struct ubootenv_config *ret, const char **ret_why)
{
	_cleanup_free_ uint8_t *data = NULL;
	size_t len;
	int r;

	r = read_file_bounded(path, 64 * 1024, &data, &len);
	if (r < 0)
		return WHY("cannot read fw_env.config"), r;
	if (memchr(data, 0, len))
		return WHY("fw_env.config: NUL byte"), -EBADMSG;
	return ubootenv_config_parse((const char *)data, ret, ret_why);
}

static size_t header_size(bool redundant) { return redundant ? 5 : 4; }

static uint32_t env_crc(const uint8_t *data, size_t len)
{
	uLong crc = crc32(0L, Z_NULL, 0);
	/* zlib takes uInt lengths; our sizes are bounded by UBOOTENV_MAX_SIZE */
	return (uint32_t)crc32(crc, data, (uInt)len);
}

static uint32_t get_le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static bool crc_ok(const uint8_t *buf, size_t size, bool redundant)
{
	size_t h = header_size(redundant);
	return get_le32(buf) == env_crc(buf + h, size - h);
}

int ubootenv_parse(const uint8_t *buf, size_t size, bool redundant, struct bootenv *ret, uint8_t *ret_flags,
                   const char **ret_why)
{
	struct bootenv e = {};
	size_t h = header_size(redundant), pos;
	const char *data = (const char *)buf + h;
	size_t len;
	int r = 0;

	if (size <= h + 1)
		return WHY("environment too small"), -EBADMSG;
	len = size - h;
	if (!crc_ok(buf, size, redundant))
		return WHY("bad CRC"), -EBADMSG;
	for (pos = 0; pos < len && data[pos]; ) {
		const char *end = memchr(data + pos, 0, len - pos), *eq;
		_cleanup_free_ char *name = NULL;

		if (!end) {
			WHY("environment has no terminator");
			r = -EBADMSG;
			goto fail;
		}
		eq = memchr(data + pos, '=', (size_t)(end - data - pos));
		if (!eq || eq == data + pos) {
			WHY("environment entry without 'name='");
			r = -EBADMSG;
			goto fail;
		}
		name = strndup(data + pos, (size_t)(eq - data - pos));
		if (!name) {
			r = -ENOMEM;
			goto fail;
		}
		if (bootenv_get(&e, name)) {
			WHY("environment has a variable twice");
			r = -EBADMSG;
			goto fail;
		}
		r = bootenv_set(&e, name, eq + 1);
		if (r < 0) {
			WHY("environment has a bad variable name or an overlong value");
			r = -EBADMSG;
			goto fail;
		}
		pos = (size_t)(end - data) + 1;
	}
	if (pos >= len) {
		WHY("environment has no terminator");
		r = -EBADMSG;
		goto fail;
	}
	if (ret_flags)
		*ret_flags = redundant ? buf[4] : 0;
	*ret = e;
	return 0;
fail:
	bootenv_clear(&e);
	return r;
}

int ubootenv_format(const struct bootenv *env, bool redundant, uint8_t flags, uint8_t *buf, size_t size)
{
	size_t h = header_size(redundant), pos = h;
	uint32_t crc;

	if (size <= h + 1)
		return -E2BIG;
	memset(buf, 0, size);
	for (size_t i = 0; i < env->n; i++) {
		size_t nl = strlen(env->vars[i].name), vl = strlen(env->vars[i].value);
		/* entry, its NUL, and room for the final terminator */
		if (nl + vl + 3 > size - pos)
			return -E2BIG;
		memcpy(buf + pos, env->vars[i].name, nl);
		buf[pos + nl] = '=';
		memcpy(buf + pos + nl + 1, env->vars[i].value, vl);
		pos += nl + vl + 2;
	}
	if (redundant)
		buf[4] = flags;
	crc = env_crc(buf + h, size - h);
	buf[0] = (uint8_t)crc, buf[1] = (uint8_t)(crc >> 8), buf[2] = (uint8_t)(crc >> 16), buf[3] = (uint8_t)(crc >> 24);
	return 0;
}

static int open_copy(const struct ubootenv_copy *cp, int flags, int *ret_fd, const char **ret_why)
{
	_cleanup_close_ int fd = -1;
	uint64_t devsize, end;
	int r;

	fd = open(cp->path, flags | O_CLOEXEC);
	if (fd < 0)
		return WHY("cannot open the environment device"), -errno;
	r = fd_get_size(fd, &devsize);
	if (r < 0)
		return WHY("environment device is not a file or block device"), r;
	if (u64_add(cp->offset, cp->size, &end) < 0 || end > devsize)
		return WHY("fw_env.config points past the end of the device"), -ENOSPC;
	*ret_fd = TAKE_FD(fd);
	return 0;
}

static int read_copy(const struct ubootenv_copy *cp, uint8_t *buf, const char **ret_why)
{
	_cleanup_close_ int fd = -1;
	int r;

	r = open_copy(cp, O_RDONLY, &fd, ret_why);
	if (r < 0)
		return r;
	r = pread_full(fd, buf, cp->size, cp->offset);
	if (r < 0)
		return WHY("cannot read the environment"), r;
	return 0;
}

/* U-Boot's serial flags: the larger one is newer, 0 after 255 wraps. */
static unsigned newer_copy(uint8_t f0, uint8_t f1)
{
	if (f0 == 255 && f1 == 0)
		return 1;
	if (f1 == 255 && f0 == 0)
		return 0;
	return f1 > f0 ? 1 : 0;
}

/* Reads every copy, picks the current one and parses it. */
static int read_current(const struct ubootenv_config *c, struct bootenv *ret, unsigned *ret_cur, uint8_t *ret_flags,
                        const char **ret_why)
{
	_cleanup_free_ uint8_t *b0 = NULL, *b1 = NULL;
	bool redundant = c->ncopies == 2, ok0, ok1;
	size_t size = c->copy[0].size;
	unsigned cur;
	uint8_t flags = 0;
	int r;

	b0 = malloc(size);
	b1 = malloc(size);
	if (!b0 || !b1)
		return -ENOMEM;
	r = read_copy(&c->copy[0], b0, ret_why);
	if (r < 0)
		return r;
	if (redundant) {
		r = read_copy(&c->copy[1], b1, ret_why);
		if (r < 0)
			return r;
	}
	ok0 = crc_ok(b0, size, redundant);
	ok1 = redundant && crc_ok(b1, size, redundant);
	if (!ok0 && !ok1)
		return WHY(redundant ? "bad CRC on both environment copies" : "bad CRC in the environment"), -EBADMSG;
	cur = ok0 && ok1 ? newer_copy(b0[4], b1[4]) : ok1;
	r = ubootenv_parse(cur ? b1 : b0, size, redundant, ret, &flags, ret_why);
	if (r < 0)
		return r;
	if (ret_cur)
		*ret_cur = cur;
	if (ret_flags)
		*ret_flags = flags;
	return 0;
}

int ubootenv_read(const struct ubootenv_config *c, struct bootenv *ret, unsigned *ret_current, const char **ret_why)
{
	return read_current(c, ret, ret_current, NULL, ret_why);
}

int ubootenv_write(const struct ubootenv_config *c, const struct bootenv *env, const char **ret_why)
{
	struct bootenv old = {};
	_cleanup_free_ uint8_t *buf = NULL;
	_cleanup_close_ int fd = -1;
	bool redundant = c->ncopies == 2;
	const struct ubootenv_copy *target;
	unsigned cur = 0;
	uint8_t flags = 0;
	int r;

	/* Never write over an environment we cannot read: U-Boot would be
	 * left with whatever we guessed. */
	r = read_current(c, &old, &cur, &flags, ret_why);
	bootenv_clear(&old);
	if (r < 0)
		return r;
	target = &c->copy[redundant ? 1 - cur : 0];
	buf = malloc(target->size);
	if (!buf)
		return -ENOMEM;
	r = ubootenv_format(env, redundant, (uint8_t)(flags + 1), buf, target->size);
	if (r < 0)
		return WHY("the environment does not fit in its configured size"), r;
	r = open_copy(target, O_WRONLY, &fd, ret_why);
	if (r < 0)
		return r;
	/* The whole non-current copy, then a flush: until fsync returns the
	 * old copy stays current (a torn new copy fails its CRC). */
	r = pwrite_full(fd, buf, target->size, target->offset);
	if (r < 0)
		return WHY("cannot write the environment"), r;
	if (fsync(fd) < 0)
		return WHY("cannot flush the environment"), -errno;
	return 0;
}

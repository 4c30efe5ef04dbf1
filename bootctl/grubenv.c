/* GRUB environment block (grub util/editenv.c, grub-core/lib/envblk.c). */
#include "bootctl/bootctl.h"
#include "common/macro.h"
#include "common/util.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#define WHY(s) (ret_why ? (void)(*ret_why = (s)) : (void)0)
#define SIG_LEN (sizeof(GRUBENV_SIGNATURE) - 1)

int grubenv_parse(const uint8_t *buf, size_t len, struct bootenv *ret, const char **ret_why)
{
	struct bootenv e = {};
	_cleanup_free_ char *name = NULL, *value = NULL;
	size_t pos = SIG_LEN;
	int r;

	if (len != GRUBENV_SIZE)
		return WHY("grubenv is not exactly 1024 bytes"), -EBADMSG;
	if (memcmp(buf, GRUBENV_SIGNATURE, SIG_LEN) != 0)
		return WHY("grubenv has no GRUB Environment Block signature"), -EBADMSG;
	if (memchr(buf, 0, len))
		return WHY("grubenv has a NUL byte"), -EBADMSG;
	name = malloc(GRUBENV_SIZE);
	value = malloc(GRUBENV_SIZE);
	if (!name || !value)
		return -ENOMEM;
	while (pos < len) {
		size_t nl = 0, vl = 0;

		if (buf[pos] == '#') { /* comment or the padding */
			const uint8_t *e2 = memchr(buf + pos, '\n', len - pos);
			pos = e2 ? (size_t)(e2 - buf) + 1 : len;
			continue;
		}
		while (pos < len && buf[pos] != '=' && buf[pos] != '\n')
			name[nl++] = (char)buf[pos++];
		if (pos == len || buf[pos] != '=' || nl == 0) {
			WHY("grubenv has a line that is not name=value");
			r = -EBADMSG;
			goto fail;
		}
		name[nl] = 0;
		pos++;
		while (pos < len && buf[pos] != '\n') {
			if (buf[pos] == '\\') {
				if (++pos == len)
					break;
			}
			value[vl++] = (char)buf[pos++];
		}
		if (pos == len) {
			WHY("grubenv has a truncated line");
			r = -EBADMSG;
			goto fail;
		}
		value[vl] = 0;
		pos++;
		if (bootenv_get(&e, name)) {
			WHY("grubenv has a variable twice");
			r = -EBADMSG;
			goto fail;
		}
		r = bootenv_set(&e, name, value);
		if (r < 0) {
			WHY("grubenv has a bad variable name or an overlong value");
			r = -EBADMSG;
			goto fail;
		}
	}
	*ret = e;
	return 0;
fail:
	bootenv_clear(&e);
	return r;
}

int grubenv_format(const struct bootenv *env, uint8_t buf[GRUBENV_SIZE])
{
	size_t pos = SIG_LEN;

	memset(buf, '#', GRUBENV_SIZE);
	memcpy(buf, GRUBENV_SIGNATURE, SIG_LEN);
	for (size_t i = 0; i < env->n; i++) {
		const char *n = env->vars[i].name, *v = env->vars[i].value;
		size_t need = strlen(n) + 2;

		for (const char *p = v; *p; p++)
			need += (*p == '\\' || *p == '\n') ? 2 : 1;
		/* one sector: see grubenv_write_at */
		if (need > GRUBENV_SECTOR - pos)
			return -E2BIG;
		memcpy(buf + pos, n, strlen(n));
		pos += strlen(n);
		buf[pos++] = '=';
		for (const char *p = v; *p; p++) {
			if (*p == '\\' || *p == '\n')
				buf[pos++] = '\\';
			buf[pos++] = (uint8_t)*p;
		}
		buf[pos++] = '\n';
	}
	return 0;
}

int grubenv_read_file(const char *path, struct bootenv *ret, const char **ret_why)
{
	_cleanup_free_ uint8_t *data = NULL;
	size_t len;
	int r;

	r = read_file_bounded(path, GRUBENV_SIZE, &data, &len);
	if (r == -EFBIG)
		return WHY("grubenv is not exactly 1024 bytes"), -EBADMSG;
	if (r < 0)
		return WHY("cannot read grubenv"), r;
	return grubenv_parse(data, len, ret, ret_why);
}

int grubenv_write_file(const char *path, const struct bootenv *env)
{
	uint8_t buf[GRUBENV_SIZE];
	int r;

	r = grubenv_format(env, buf);
	if (r < 0)
		return r;
	return write_file_atomic(path, buf, sizeof buf, 0644);
}

int grubenv_read_at(int fd, uint64_t offset, struct bootenv *ret, const char **ret_why)
{
	uint8_t buf[GRUBENV_SIZE];
	int r;

	r = pread_full(fd, buf, sizeof buf, offset);
	if (r < 0)
		return WHY("cannot read grubenv"), r;
	return grubenv_parse(buf, sizeof buf, ret, ret_why);
}

int grubenv_write_at(int fd, uint64_t offset, const struct bootenv *env)
{
	uint8_t buf[GRUBENV_SIZE], old2[GRUBENV_SECTOR];
	uint64_t second;
	int r;

	r = grubenv_format(env, buf);
	if (r < 0)
		return r;
	r = u64_add(offset, GRUBENV_SECTOR, &second);
	if (r < 0)
		return r;
	r = pread_full(fd, old2, sizeof old2, second);
	if (r < 0)
		return r;
	if (memcmp(old2, buf + GRUBENV_SECTOR, GRUBENV_SECTOR) != 0) {
		/* Content written by someone else reaches into sector two: the
		 * one write that is not a single-sector update (BOOT.md). */
		r = pwrite_full(fd, buf + GRUBENV_SECTOR, GRUBENV_SECTOR, second);
		if (r < 0)
			return r;
		if (fsync(fd) < 0)
			return -errno;
	}
	r = pwrite_full(fd, buf, GRUBENV_SECTOR, offset);
	if (r < 0)
		return r;
	if (fsync(fd) < 0)
		return -errno;
	return 0;
}

/* The strict key=value text shared by the manifest and the channel
 * metadata: one spelling for every file, so that what is signed is what
 * is parsed. */
#include "verity/kv-internal.h"
#include "common/util.h"

#include <errno.h>
#include <string.h>

static bool key_char_ok(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-';
}

bool kv_text_ok(const char *v, size_t max, bool allow_empty)
{
	size_t n = strlen(v);

	if (n >= max || (!allow_empty && n == 0))
		return false;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)v[i] < 0x20 || v[i] == 0x7f)
			return false;
	return true;
}

int kv_hex_value(const char *v, uint8_t *out, size_t max, size_t *ret_len)
{
	for (const char *p = v; *p; p++)
		if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f')))
			return -EINVAL;
	return hex_decode(v, out, max, ret_len);
}

static int check_text(const struct kv_format *f, const char *text, size_t len, const char **ret_err)
{
	const char *e = NULL;

	if (len == 0)
		e = f->empty;
	else if (len > f->max_size)
		e = f->too_big;
	else if (memchr(text, '\0', len))
		e = f->nul;
	else if (memchr(text, '\r', len))
		e = f->cr;
	else if (!utf8_valid(text, len))
		e = f->utf8;
	else if (text[len - 1] != '\n')
		e = f->no_newline;
	if (e) {
		*ret_err = e;
		return -EBADMSG;
	}
	return 0;
}

int kv_parse(const struct kv_format *f, const char *text, size_t len, kv_value_fn fn, void *userdata,
             const char **ret_err)
{
	const char *p = text, *end = text + len;
	bool seen[64] = { false };
	char value[4096];
	int r;

	if (f->nkeys > sizeof(seen) / sizeof(seen[0]) || f->max_line > sizeof(value))
		return -EINVAL;
	r = check_text(f, text, len, ret_err);
	if (r < 0)
		return r;
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p)), *eq;
		size_t klen, vlen, k;

		if ((size_t)(nl - p) + 1 > f->max_line) {
			*ret_err = f->long_line;
			return -EBADMSG;
		}
		eq = memchr(p, '=', (size_t)(nl - p));
		if (!eq) {
			*ret_err = nl == p ? f->empty_line : f->no_eq;
			return -EBADMSG;
		}
		klen = (size_t)(eq - p);
		for (size_t i = 0; i < klen; i++)
			if (!key_char_ok(p[i]))
				klen = 0;
		if (klen == 0) {
			*ret_err = f->bad_key;
			return -EBADMSG;
		}
		vlen = (size_t)(nl - eq - 1);
		/* x-*: extensions that readers of this format version ignore */
		if (klen > 2 && p[0] == 'x' && p[1] == '-') {
			p = nl + 1;
			continue;
		}
		for (k = 0; k < f->nkeys; k++)
			if (strlen(f->keys[k].name) == klen && memcmp(f->keys[k].name, p, klen) == 0)
				break;
		if (k == f->nkeys) {
			*ret_err = f->unknown_key;
			return -EBADMSG;
		}
		if (seen[k]) {
			*ret_err = f->keys[k].dup;
			return -EBADMSG;
		}
		seen[k] = true;
		memcpy(value, eq + 1, vlen);
		value[vlen] = 0;
		r = fn(userdata, k, value, ret_err);
		if (r == -EINVAL) {
			*ret_err = f->keys[k].bad;
			return -EBADMSG;
		}
		if (r < 0)
			return r;
		p = nl + 1;
	}
	for (size_t k = 0; k < f->nkeys; k++)
		if (!seen[k]) {
			*ret_err = f->keys[k].missing;
			return -EBADMSG;
		}
	return 0;
}

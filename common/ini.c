/* Strict INI parser (see ini.h). */
#include "common/ini.h"
#include "common/macro.h"
#include "common/util.h"

#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

struct seen {
	char **keys; /* "section\nkey", to catch duplicates across reopened sections */
	size_t n;
};

static void seen_clear(struct seen *s)
{
	for (size_t i = 0; i < s->n; i++)
		free(s->keys[i]);
	free(s->keys);
}

/* 1 when already seen, 0 when added, negative errno. */
static int seen_add(struct seen *s, const char *section, const char *key)
{
	char *k, **t;

	if (asprintf(&k, "%s\n%s", section, key) < 0)
		return -ENOMEM;
	for (size_t i = 0; i < s->n; i++)
		if (strcmp(s->keys[i], k) == 0) {
			free(k);
			return 1;
		}
	t = realloc(s->keys, (s->n + 1) * sizeof *t);
	if (!t) {
		free(k);
		return -ENOMEM;
	}
	s->keys = t;
	s->keys[s->n++] = k;
	return 0;
}

__attribute__((format(printf, 4, 5)))
static int fail(struct ini_error *e, unsigned line, int r, const char *fmt, ...)
{
	va_list ap;
	int n = 0;

	if (!e)
		return r;
	e->line = line;
	if (line)
		n = snprintf(e->msg, sizeof e->msg, "line %u: ", line);
	va_start(ap, fmt);
	vsnprintf(e->msg + n, sizeof e->msg - (size_t)n, fmt, ap);
	va_end(ap);
	return r;
}

static bool name_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       c == '_' || c == '.' || c == '-';
}

static bool valid_name(const char *s, size_t n)
{
	if (n == 0)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!name_char(s[i]))
			return false;
	return true;
}

static void trim(const char **b, const char **e)
{
	while (*b < *e && (**b == ' ' || **b == '\t'))
		(*b)++;
	while (*e > *b && ((*e)[-1] == ' ' || (*e)[-1] == '\t'))
		(*e)--;
}

int ini_parse(const char *text, size_t len, ini_handler_fn handler, void *userdata,
              struct ini_error *ret_err)
{
	_cleanup_(seen_clear) struct seen seen = {};
	char section[INI_MAX_LINE + 1] = "";
	bool in_section = false;
	const char *p = text, *end = text + len;
	unsigned line = 0;

	if (!utf8_valid(text, len))
		return fail(ret_err, 0, -EBADMSG, "not valid UTF-8");
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		const char *b = p, *e = nl ? nl : end, *eq;
		char key[INI_MAX_LINE + 1], value[INI_MAX_LINE + 1];
		const char *why = NULL;
		int r;

		line++;
		p = nl ? nl + 1 : end;
		if (e - b > INI_MAX_LINE)
			return fail(ret_err, line, -EBADMSG, "line longer than %d bytes", INI_MAX_LINE);
		if (memchr(b, '\0', (size_t)(e - b)) || memchr(b, '\r', (size_t)(e - b)))
			return fail(ret_err, line, -EBADMSG, "NUL or CR byte");
		trim(&b, &e);
		if (b == e || *b == '#' || *b == ';')
			continue;
		if (*b == '[') {
			if (e[-1] != ']' || !valid_name(b + 1, (size_t)(e - b - 2)))
				return fail(ret_err, line, -EBADMSG, "malformed section header");
			memcpy(section, b + 1, (size_t)(e - b - 2));
			section[e - b - 2] = 0;
			in_section = true;
			continue;
		}
		eq = memchr(b, '=', (size_t)(e - b));
		if (!eq)
			return fail(ret_err, line, -EBADMSG, "expected 'key = value'");
		{
			const char *kb = b, *ke = eq, *vb = eq + 1, *ve = e;
			trim(&kb, &ke);
			trim(&vb, &ve);
			if (!valid_name(kb, (size_t)(ke - kb)))
				return fail(ret_err, line, -EBADMSG, "bad key name");
			memcpy(key, kb, (size_t)(ke - kb));
			key[ke - kb] = 0;
			memcpy(value, vb, (size_t)(ve - vb));
			value[ve - vb] = 0;
		}
		if (!in_section)
			return fail(ret_err, line, -EBADMSG, "key '%s' outside a section", key);
		r = seen_add(&seen, section, key);
		if (r < 0)
			return fail(ret_err, line, r, "out of memory");
		if (r > 0)
			return fail(ret_err, line, -EBADMSG, "duplicate key '%s' in [%s]", key, section);
		r = handler(userdata, section, key, value, &why);
		if (r < 0)
			return fail(ret_err, line, r, "%s '%s' in [%s]", why ? why : strerror(-r), key, section);
	}
	return 0;
}

int ini_parse_file(const char *path, ini_handler_fn handler, void *userdata, struct ini_error *ret_err)
{
	_cleanup_free_ uint8_t *data = NULL;
	size_t len;
	int r;

	r = read_file_bounded(path, INI_MAX_FILE, &data, &len);
	if (r < 0)
		return fail(ret_err, 0, r, "%s: %s", path, strerror(-r));
	return ini_parse((const char *)data, len, handler, userdata, ret_err);
}

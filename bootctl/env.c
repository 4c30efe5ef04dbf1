/* Ordered name=value lists and slot names. */
#include "bootctl/bootctl.h"
#include "common/macro.h"

#include <errno.h>
#include <string.h>

int bootctl_slot_parse(const char *s, int *ret_slot)
{
	if (!s || !s[0] || s[1])
		return -EINVAL;
	switch (s[0]) {
	case 'a': case 'A': *ret_slot = 0; return 0;
	case 'b': case 'B': *ret_slot = 1; return 0;
	}
	return -EINVAL;
}

char bootctl_slot_upper(int slot) { return slot == 1 ? 'B' : 'A'; }
char bootctl_slot_lower(int slot) { return slot == 1 ? 'b' : 'a'; }

void bootenv_clear(struct bootenv *e)
{
	for (size_t i = 0; i < e->n; i++) {
		free(e->vars[i].name);
		free(e->vars[i].value);
	}
	free(e->vars);
	e->vars = NULL;
	e->n = 0;
}

static ssize_t find(const struct bootenv *e, const char *name)
{
	for (size_t i = 0; i < e->n; i++)
		if (strcmp(e->vars[i].name, name) == 0)
			return (ssize_t)i;
	return -1;
}

const char *bootenv_get(const struct bootenv *e, const char *name)
{
	ssize_t i = find(e, name);
	return i < 0 ? NULL : e->vars[i].value;
}

int bootenv_set(struct bootenv *e, const char *name, const char *value)
{
	ssize_t i;
	char *v;

	if (!name[0] || strpbrk(name, "=\n") || strlen(name) > BOOTENV_MAX_NAME)
		return -EINVAL;
	if (value && strlen(value) > BOOTENV_MAX_VALUE)
		return -EINVAL;
	i = find(e, name);
	if (!value) {
		if (i >= 0) {
			free(e->vars[i].name);
			free(e->vars[i].value);
			memmove(&e->vars[i], &e->vars[i + 1], (e->n - (size_t)i - 1) * sizeof e->vars[0]);
			e->n--;
		}
		return 0;
	}
	v = strdup(value);
	if (!v)
		return -ENOMEM;
	if (i >= 0) {
		free(e->vars[i].value);
		e->vars[i].value = v;
		return 0;
	}
	{
		struct bootenv_var *t = realloc(e->vars, (e->n + 1) * sizeof *t);
		char *n = strdup(name);
		if (!t || !n) {
			if (t)
				e->vars = t;
			free(n);
			free(v);
			return -ENOMEM;
		}
		e->vars = t;
		e->vars[e->n++] = (struct bootenv_var){ n, v };
	}
	return 0;
}

int bootenv_copy(const struct bootenv *e, struct bootenv *ret)
{
	struct bootenv t = {};

	for (size_t i = 0; i < e->n; i++) {
		int r = bootenv_set(&t, e->vars[i].name, e->vars[i].value);
		if (r < 0) {
			bootenv_clear(&t);
			return r;
		}
	}
	*ret = t;
	return 0;
}

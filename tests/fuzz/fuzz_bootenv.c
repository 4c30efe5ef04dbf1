/* libFuzzer harness for the bootloader environment parsers (GRUB block,
 * U-Boot copy single and redundant, fw_env.config): never crash, refusals
 * name their reason, and an accepted environment formats and parses back
 * to the same variables. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "bootctl/bootctl.h"

static void same_env(const struct bootenv *a, const struct bootenv *b)
{
	if (a->n != b->n)
		abort();
	for (size_t i = 0; i < a->n; i++) {
		const char *v = bootenv_get(b, a->vars[i].name);
		if (!v || strcmp(v, a->vars[i].value) != 0)
			abort();
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct bootenv e = { 0 }, e2 = { 0 };
	struct ubootenv_config cfg;
	uint8_t grub[GRUBENV_SIZE], *buf;
	const char *why = NULL;
	char *text;

	if (grubenv_parse(data, size, &e, &why) == 0) {
		if (grubenv_format(&e, grub) == 0) {
			if (grubenv_parse(grub, sizeof(grub), &e2, NULL) < 0)
				abort();
			same_env(&e, &e2);
		}
	} else if (!why)
		abort();
	bootenv_clear(&e);
	bootenv_clear(&e2);

	for (int redundant = 0; redundant <= 1; redundant++) {
		why = NULL;
		if (ubootenv_parse(data, size, redundant, &e, NULL, &why) == 0) {
			buf = malloc(size ? size : 1);
			if (buf && ubootenv_format(&e, redundant, 1, buf, size) == 0) {
				if (ubootenv_parse(buf, size, redundant, &e2, NULL, NULL) < 0)
					abort();
				same_env(&e, &e2);
			}
			free(buf);
		} else if (!why)
			abort();
		bootenv_clear(&e);
		bootenv_clear(&e2);
	}

	text = strndup((const char *)data, size);
	if (text) {
		why = NULL;
		if (ubootenv_config_parse(text, &cfg, &why) < 0 && !why)
			abort();
		free(text);
	}
	return 0;
}

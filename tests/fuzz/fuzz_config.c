/* libFuzzer harness for the text configuration parsers: the INI file
 * (common/ini.c) and the initramfs' kernel command line and init.conf.
 * They must never crash, and every refusal says why. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/ini.h"
#include "initramfs/initramfs.h"

static int count(void *userdata, const char *section, const char *key, const char *value,
                 const char **ret_why)
{
	if (!key || !value)
		abort();
	(*(unsigned *)userdata)++;
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ini_error ie;
	struct init_config c;
	unsigned n = 0;
	const char *err = NULL;
	char *text;

	memset(&ie, 0, sizeof(ie));
	if (ini_parse((const char *)data, size, count, &n, &ie) < 0 && !ie.msg[0])
		abort();

	init_config_default(&c);
	if (init_config_parse_conf(&c, (const char *)data, size, &err) < 0 && !err)
		abort();

	text = strndup((const char *)data, size);
	if (text) {
		init_config_default(&c);
		err = NULL;
		if (init_config_parse_cmdline(&c, text, &err) < 0 && !err)
			abort();
		free(text);
	}
	return 0;
}

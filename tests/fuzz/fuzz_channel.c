/* libFuzzer harness for channel_parse: never crashes, every refusal names
 * its reason, and what it accepts formats to text that parses back. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "verity/verity.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct channel c, c2;
	char *text = NULL;
	size_t len;
	const char *err = NULL;

	if (channel_parse((const char *)data, size, &c, &err) < 0) {
		if (!err)
			abort();
		return 0;
	}
	if (channel_format(&c, &text, &len) < 0 || channel_parse(text, len, &c2, NULL) < 0)
		abort();
	free(text);
	return 0;
}

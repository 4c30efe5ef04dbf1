/* libFuzzer harness for manifest_parse: never crashes, and whatever it
 * accepts formats to a canonical text that parses back to the same text. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "verity/verity.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct manifest m, m2;
	char *text = NULL, *text2 = NULL;
	size_t len, len2;
	const char *err = NULL;

	if (manifest_parse((const char *)data, size, &m, &err) < 0) {
		if (!err)
			abort(); /* every refusal names its reason */
		return 0;
	}
	if (manifest_format(&m, &text, &len) < 0)
		abort();
	if (manifest_parse(text, len, &m2, NULL) < 0 || manifest_format(&m2, &text2, &len2) < 0)
		abort();
	if (len != len2 || memcmp(text, text2, len) != 0)
		abort();
	free(text);
	free(text2);
	return 0;
}

/* libFuzzer harness for the update-image head reader (header, manifest,
 * signature sizes from a stream) and the slot footer reader. */
#include <stdint.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

#include "common/util.h"
#include "verity/verity.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct signed_manifest sm = { 0 };
	struct update_header h;
	const char *err = NULL;
	uint64_t slot = VERITY_FOOTER_SIZE + 4096;
	int fd, r;

	if (size >= UPDATE_HEADER_SIZE)
		(void)update_header_parse(data, &h, &err);

	fd = memfd_create("fuzz", MFD_CLOEXEC);
	if (fd < 0)
		abort();
	if (write_full(fd, data, size) < 0 || lseek(fd, 0, SEEK_SET) != 0)
		abort();
	err = NULL;
	r = update_read_head(fd, NULL, &h, &sm, &err);
	if (r < 0 && !err)
		abort();
	if (r == 0 && (sm.text_len != h.manifest_size || sm.m.stored_size != h.payload_size))
		abort();
	signed_manifest_clear(&sm);

	/* The same bytes as a footer at the end of a small slot. */
	if (ftruncate(fd, 0) < 0 || ftruncate(fd, (off_t)slot) < 0 ||
	    pwrite_full(fd, data, size < VERITY_FOOTER_SIZE ? size : VERITY_FOOTER_SIZE, slot - VERITY_FOOTER_SIZE) < 0)
		abort();
	r = footer_read(fd, 0, slot, &sm);
	if (r == 0)
		signed_manifest_clear(&sm);
	close(fd);
	return 0;
}

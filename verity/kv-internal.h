/* Private to the verity library (and the installer's state file): the
 * strict key=value text the manifest and the channel metadata share
 * (docs/FORMAT.md). Same return conventions as verity.h. */
#pragma once

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Messages are static strings (ret_err), so each key carries its own. */
struct kv_key {
	const char *name, *dup, *missing, *bad;
};
#define KV_KEY(n) { n, "duplicate key '" n "'", "missing key '" n "'", "bad value for '" n "'" }

struct kv_format {
	size_t max_size, max_line;           /* max_line counts the newline */
	const struct kv_key *keys;
	size_t nkeys;
	const char *empty, *too_big, *nul, *cr, *utf8, *no_newline, *long_line, *empty_line, *no_eq,
		*bad_key, *unknown_key;
};
/* The messages of a format called WHAT ("manifest"), e.g. "empty manifest". */
#define KV_MESSAGES(what, size_text, line_text) \
	.empty = "empty " what, .too_big = what " larger than " size_text, .nul = "NUL byte in " what, \
	.cr = "CR in " what " (lines end with LF only)", .utf8 = what " is not valid UTF-8", \
	.no_newline = what " does not end with a newline", .long_line = what " line longer than " line_text, \
	.empty_line = "empty line in " what, .no_eq = what " line without '='", .bad_key = "bad key in " what, \
	.unknown_key = "unknown key in " what

/* Called once per known key, in file order, with the NUL-terminated value.
 * Return -EINVAL for "bad value for 'KEY'", or -EBADMSG with *ret_err set. */
typedef int (*kv_value_fn)(void *userdata, size_t key, const char *value, const char **ret_err);

/* Whole-text rules (size, NUL, CR, UTF-8, final newline), then line by
 * line: KEY=VALUE with KEY in [a-z0-9_-], no empty lines, no duplicates,
 * x-* keys skipped (extensions), unknown keys refused; finally every key
 * must have been seen. -EBADMSG with *ret_err (never NULL) set. */
int kv_parse(const struct kv_format *f, const char *text, size_t len, kv_value_fn fn, void *userdata,
             const char **ret_err);

/* Free text: no control characters, shorter than max, empty only if allowed. */
bool kv_text_ok(const char *v, size_t max, bool allow_empty);
/* Lowercase hex only, so that every value has exactly one spelling; as hex_decode. */
int kv_hex_value(const char *v, uint8_t *out, size_t max, size_t *ret_len);

/* Signature failures of the signed texts (image.c, channel.c): ret_err
 * must stay a static string, so each part has its own messages. */
#define SIG_MESSAGES(what) { \
	"" what ": not signed by a trusted CA", \
	"" what ": certificate expired or not yet valid", \
	"" what ": certificate revoked", \
	"" what ": no signer certificate", \
	"" what ": does not match the signed data", \
	"" what ": certificate not allowed for code signing, or weak digest", \
	"" what ": cannot be verified", }

static inline const char *sig_message(const char *const *msgs, int r)
{
	switch (r) {
	case -EKEYREJECTED: return msgs[0];
	case -EKEYEXPIRED: return msgs[1];
	case -EKEYREVOKED: return msgs[2];
	case -ENOKEY: return msgs[3];
	case -EBADMSG: return msgs[4];
	case -EPERM: return msgs[5];
	default: return msgs[6];
	}
}

/* Strict INI parser shared by the tools that read /etc/rootfs-install.conf.
 *
 * Accepted syntax, one construct per line (leading and trailing blanks are
 * ignored): "[section]", "key = value", empty lines, and comments starting
 * with '#' or ';'. Keys and section names are [A-Za-z0-9_.-]+. Values are
 * taken verbatim (no quotes, no escapes, no inline comments). Errors: a line
 * longer than INI_MAX_LINE, a NUL or CR byte, a key outside a section, a
 * malformed line, and the same key twice in one section (even if the
 * section is opened twice).
 *
 * Every function returns 0 or a negative errno (-EBADMSG for syntax). On
 * failure ret_err (may be NULL) describes the first problem, with its line
 * number; this is the one output written on failure rather than success. */
#pragma once

#include <stddef.h>

#define INI_MAX_LINE 1024
#define INI_MAX_FILE (256 * 1024)

struct ini_error {
	unsigned line;     /* 1-based; 0 when not about a line (I/O) */
	char msg[160];     /* "line 3: duplicate key 'a' in [slots]" */
};

/* Called once per key, in file order. Return 0 to go on, or a negative
 * errno to stop; set *ret_why (a static string, e.g. "unknown key") to have
 * it reported with the line number. */
typedef int (*ini_handler_fn)(void *userdata, const char *section, const char *key,
                              const char *value, const char **ret_why);

int ini_parse(const char *text, size_t len, ini_handler_fn handler, void *userdata,
              struct ini_error *ret_err);
/* Reads path (at most INI_MAX_FILE bytes) and parses it. */
int ini_parse_file(const char *path, ini_handler_fn handler, void *userdata,
                   struct ini_error *ret_err);

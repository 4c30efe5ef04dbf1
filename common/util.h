/* Shared I/O, parsing and hex helpers. Every int function returns 0 (or a
 * byte count where it says so) on success and a negative errno on failure. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

/* Read/write exactly len bytes at offset, retrying short transfers.
 * pread_full returns -EIO ("short read") at end of file. */
int pread_full(int fd, void *buf, size_t len, uint64_t offset);
int pwrite_full(int fd, const void *buf, size_t len, uint64_t offset);
/* Read up to len bytes from a stream; returns the count (< len only at EOF). */
ssize_t read_full(int fd, void *buf, size_t len);
int write_full(int fd, const void *buf, size_t len);

/* Read a whole small file (at most max bytes, else -EFBIG); NUL-terminates. */
int read_file_bounded(const char *path, size_t max, uint8_t **ret_data, size_t *ret_len);
/* Write a file atomically: temp file in the same directory, fsync, rename, fsync dir. */
int write_file_atomic(const char *path, const void *data, size_t len, mode_t mode);

/* Size of a regular file or block device. */
int fd_get_size(int fd, uint64_t *ret);

/* Lowercase hex. hex_decode accepts either case; -EINVAL on bad digits or odd length,
 * -ENOBUFS when the result would exceed max. */
void hex_encode(const uint8_t *in, size_t len, char *out /* 2*len+1 */);
int hex_decode(const char *hex, uint8_t *out, size_t max, size_t *ret_len);

/* Decimal u64, no sign, no spaces, no overflow. */
int parse_u64(const char *s, uint64_t *ret);
/* Size with optional K/M/G/T suffix (powers of 1024), e.g. "64M". */
int parse_size(const char *s, uint64_t *ret);

/* Monotonic clock in nanoseconds. */
uint64_t now_ns(void);

bool utf8_valid(const char *s, size_t len);

/* s as a JSON string literal (escaped, quoted); NULL prints null. */
void json_write_string(FILE *f, const char *s);

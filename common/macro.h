/* Small helpers shared by every component: cleanup attributes and
 * overflow-checked arithmetic. Header-only on purpose. */
#pragma once

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

#define _cleanup_(f) __attribute__((cleanup(f)))
#define _unused_ __attribute__((unused))

static inline void freep(void *p) { free(*(void **)p); }
static inline void closep(int *fd) { if (*fd >= 0) { int e = errno; close(*fd); errno = e; } }
static inline void fclosep(FILE **f) { if (*f) fclose(*f); }

#define _cleanup_free_ _cleanup_(freep)
#define _cleanup_close_ _cleanup_(closep)
#define _cleanup_fclose_ _cleanup_(fclosep)

/* Hand ownership out of a _cleanup_ variable. */
#define TAKE_PTR(p) ({ __typeof__(p) _t = (p); (p) = NULL; _t; })
#define TAKE_FD(fd) ({ int _t = (fd); (fd) = -1; _t; })

/* 0 on success, -EOVERFLOW when the result does not fit. */
static inline int u64_add(uint64_t a, uint64_t b, uint64_t *ret)
{
	return __builtin_add_overflow(a, b, ret) ? -EOVERFLOW : 0;
}
static inline int u64_mul(uint64_t a, uint64_t b, uint64_t *ret)
{
	return __builtin_mul_overflow(a, b, ret) ? -EOVERFLOW : 0;
}
/* Round up to a power-of-two alignment. */
static inline int u64_align(uint64_t v, uint64_t align, uint64_t *ret)
{
	uint64_t t;
	if (align == 0 || (align & (align - 1)))
		return -EINVAL;
	if (__builtin_add_overflow(v, align - 1, &t))
		return -EOVERFLOW;
	*ret = t & ~(align - 1);
	return 0;
}
static inline uint64_t div_round_up(uint64_t a, uint64_t b) { return a / b + !!(a % b); }

#define RET_NERRNO(expr) ({ int _r = (expr); _r < 0 ? -errno : _r; })

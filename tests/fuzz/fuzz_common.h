/*
 * fuzz_common.h: small helpers shared by the libFuzzer harnesses.
 *
 * FUZZ_CHECK() is the harnesses' assert: it is never compiled out, and
 * it aborts with the failed condition, so libFuzzer reports a crash and
 * saves the input.
 */
#ifndef WSD_FUZZ_COMMON_H
#define WSD_FUZZ_COMMON_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FUZZ_CHECK(cond) do {						\
	if (!(cond)) {							\
		fprintf(stderr, "%s:%d: invariant failed: %s\n",	\
		    __FILE__, __LINE__, #cond);				\
		abort();						\
	}								\
} while (0)

#define FUZZ_FAIL(...) do {						\
	fprintf(stderr, "%s:%d: invariant failed: ", __FILE__, __LINE__); \
	fprintf(stderr, __VA_ARGS__);					\
	fputc('\n', stderr);						\
	abort();							\
} while (0)

/* A heap copy of exactly n bytes, so ASan sees any read past the end. */
static inline void *
fuzz_dup(const void *p, size_t n)
{
	void *d = malloc(n > 0 ? n : 1);

	if (d == NULL)
		abort();
	if (n > 0)
		memcpy(d, p, n);
	return d;
}

/* A NUL-terminated heap copy. */
static inline char *
fuzz_strndup(const void *p, size_t n)
{
	char *d = malloc(n + 1);

	if (d == NULL)
		abort();
	if (n > 0)
		memcpy(d, p, n);
	d[n] = '\0';
	return d;
}

/* True if p lies inside [base, base + n] (one past the end allowed). */
static inline int
fuzz_inside(const void *p, size_t len, const void *base, size_t n)
{
	const char *q = p, *b = base;

	return q >= b && q <= b + n && len <= (size_t)(b + n - q);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

#endif /* WSD_FUZZ_COMMON_H */

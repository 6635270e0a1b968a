/*
 * failalloc: a test-only hook that makes one chosen allocation fail, so
 * that tests/integration/test_allocfail.py can run every allocation
 * failure of a connection's life for real (an LD_PRELOAD shim does not
 * mix with AddressSanitizer; a hook in wsd's own calls does).
 *
 * The build force-includes this header into every file of wsd (see
 * Makefile.am), so that each malloc(), calloc(), realloc(),
 * reallocarray(), strdup(), strndup(), asprintf() and vasprintf() in
 * src/ goes through the wrappers below: a call site added later cannot
 * escape the test.  libevent's and OpenSSL's allocations are routed here
 * too (failalloc_init()), and zlib's through pmd.c's allocator.
 *
 * Inert unless the environment variable WSD_FAILALLOC names a control
 * file when wsd starts; nothing in the configuration or from a client
 * reaches it.  When a worker accepts a connection it reads the file: a
 * number N there (the file is then emptied) arms the hook, and the Nth
 * allocation the process makes from then on fails, once.  The hook is
 * disarmed when that connection is freed.  Each event is written to
 * stderr as a line starting "failalloc:" (the test reads them).
 */
#ifndef WSD_FAILALLOC_H
#define WSD_FAILALLOC_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
/* Declared here, before the macros below, for whoever includes them. */
#include <malloc.h>
#include <stdlib.h>
#include <string.h>

/* Allocations left until the one that fails; 0: disarmed. */
extern unsigned long failalloc_left;

bool	failalloc_hit(const char *file, int line);
void	failalloc_init(void);
void	failalloc_accept(void);
void	failalloc_owner(const void *c);
void	failalloc_gone(const void *c);
int	failalloc_vasprintf(const char *, int, char **, const char *,
	    va_list) __attribute__((format(printf, 4, 0)));
int	failalloc_asprintf(const char *, int, char **, const char *, ...)
	    __attribute__((format(printf, 4, 5)));

/* True if this allocation is to fail (only ever while armed). */
static inline bool
failalloc_now(const char *file, int line)
{
	return failalloc_left != 0 && failalloc_hit(file, line);
}

static inline void *
failalloc_malloc(size_t n, const char *file, int line)
{
	return failalloc_now(file, line) ? NULL : malloc(n);
}

static inline void *
failalloc_calloc(size_t n, size_t sz, const char *file, int line)
{
	return failalloc_now(file, line) ? NULL : calloc(n, sz);
}

static inline void *
failalloc_realloc(void *p, size_t n, const char *file, int line)
{
	return failalloc_now(file, line) ? NULL : realloc(p, n);
}

static inline void *
failalloc_reallocarray(void *p, size_t n, size_t sz, const char *file,
    int line)
{
	return failalloc_now(file, line) ? NULL : reallocarray(p, n, sz);
}

static inline char *
failalloc_strdup(const char *s, const char *file, int line)
{
	return failalloc_now(file, line) ? NULL : strdup(s);
}

static inline char *
failalloc_strndup(const char *s, size_t n, const char *file, int line)
{
	return failalloc_now(file, line) ? NULL : strndup(s, n);
}

#define malloc(n)		failalloc_malloc((n), __FILE__, __LINE__)
#define calloc(n, sz)		failalloc_calloc((n), (sz), __FILE__, __LINE__)
#define realloc(p, n)		failalloc_realloc((p), (n), __FILE__, __LINE__)
#define reallocarray(p, n, sz)	\
	failalloc_reallocarray((p), (n), (sz), __FILE__, __LINE__)
#define strdup(s)		failalloc_strdup((s), __FILE__, __LINE__)
#define strndup(s, n)		failalloc_strndup((s), (n), __FILE__, __LINE__)
#define asprintf(...)		failalloc_asprintf(__FILE__, __LINE__, __VA_ARGS__)
#define vasprintf(...)		failalloc_vasprintf(__FILE__, __LINE__, __VA_ARGS__)

#endif /* WSD_FAILALLOC_H */

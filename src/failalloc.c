/*
 * failalloc: the test-only allocation failure hook (see failalloc.h).
 * This file calls the real allocator: the wrappers' macros are undone.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <unistd.h>

#include <event2/event.h>
#include <openssl/crypto.h>

#include "failalloc.h"

#undef malloc
#undef calloc
#undef realloc
#undef reallocarray
#undef strdup
#undef strndup
#undef asprintf
#undef vasprintf

unsigned long failalloc_left;

static const char *ctl;		/* the control file; NULL: inert */
static bool armed;		/* counting for one connection */
static const void *owner;	/* that connection, once made */
static unsigned long counted;	/* allocations since armed */
static unsigned long failed;	/* the one that failed, or 0 */

/*
 * Straight to stderr with write(2): log.c's buffer allocates, and these
 * lines must not be what fails (or be lost when something did).
 */
static void __attribute__((format(printf, 1, 2)))
say(const char *fmt, ...)
{
	char buf[256];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	if ((size_t)n >= sizeof(buf))
		n = sizeof(buf) - 1;
	if (write(STDERR_FILENO, buf, (size_t)n) == -1)
		return;
}

bool
failalloc_hit(const char *file, int line)
{
	counted++;
	if (--failalloc_left != 0)
		return false;
	failed = counted;
	say("failalloc: allocation %lu fails at %s:%d\n", counted, file, line);
	errno = ENOMEM;
	return true;
}

static void *
ev_malloc(size_t n)
{
	return failalloc_now("libevent", 0) ? NULL : malloc(n);
}

static void *
ev_realloc(void *p, size_t n)
{
	return failalloc_now("libevent", 0) ? NULL : realloc(p, n);
}

static void *
ssl_malloc(size_t n, const char *file, int line)
{
	(void)file;
	(void)line;
	return failalloc_now("openssl", 0) ? NULL : malloc(n);
}

static void *
ssl_realloc(void *p, size_t n, const char *file, int line)
{
	(void)file;
	(void)line;
	return failalloc_now("openssl", 0) ? NULL : realloc(p, n);
}

static void
ssl_free(void *p, const char *file, int line)
{
	(void)file;
	(void)line;
	free(p);
}

/*
 * Before anything allocates: OpenSSL takes its functions only before its
 * first allocation, libevent before its first event base.
 */
void
failalloc_init(void)
{
	const char *p = getenv("WSD_FAILALLOC");

	if (p == NULL || *p == '\0')
		return;
	ctl = p;
	event_set_mem_functions(ev_malloc, ev_realloc, free);
	if (CRYPTO_set_mem_functions(ssl_malloc, ssl_realloc, ssl_free) != 1)
		say("failalloc: OpenSSL's allocations are not covered\n");
	say("failalloc: enabled, control file %s\n", ctl);
}

static void
done(void)
{
	if (failed != 0)
		say("failalloc: connection done after %lu allocations, "
		    "allocation %lu failed\n", counted, failed);
	else
		say("failalloc: connection done after %lu allocations, "
		    "none failed\n", counted);
	failalloc_left = 0;
	armed = false;
	owner = NULL;
}

/* A connection is being accepted: arm if the control file says so. */
void
failalloc_accept(void)
{
	char buf[32], *end;
	unsigned long n;
	ssize_t r;
	int fd;

	if (ctl == NULL || armed)
		return;
	if ((fd = open(ctl, O_RDWR | O_CLOEXEC)) == -1)
		return;
	r = read(fd, buf, sizeof(buf) - 1);
	if (r > 0) {
		buf[r] = '\0';
		n = strtoul(buf, &end, 10);
		if (end != buf && n > 0 && ftruncate(fd, 0) == 0) {
			armed = true;
			owner = NULL;
			counted = failed = 0;
			failalloc_left = n;
			say("failalloc: armed, allocation %lu is to fail\n", n);
		}
	}
	close(fd);
}

/* The connection accepted after failalloc_accept(), or NULL: none. */
void
failalloc_owner(const void *c)
{
	if (!armed)
		return;
	if (c == NULL)
		done();
	else
		owner = c;
}

/* Connection c is being freed. */
void
failalloc_gone(const void *c)
{
	if (armed && owner != NULL && c == owner)
		done();
}

int
failalloc_vasprintf(const char *file, int line, char **sp, const char *fmt,
    va_list ap)
{
	if (failalloc_now(file, line)) {
		*sp = NULL;
		return -1;
	}
	return vasprintf(sp, fmt, ap);
}

int
failalloc_asprintf(const char *file, int line, char **sp, const char *fmt,
    ...)
{
	va_list ap;
	int r;

	va_start(ap, fmt);
	r = failalloc_vasprintf(file, line, sp, fmt, ap);
	va_end(ap);
	return r;
}

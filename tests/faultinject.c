/*
 * faultinject: an LD_PRELOAD library for tests/integration/
 * test_faults.py.  It makes chosen libevent and socket calls of the
 * daemon fail, so that the paths wsd takes when memory runs out can be
 * run for real.  WSD_FAULT is a comma-separated list of:
 *
 *	new		every evbuffer_new() returns NULL
 *	add=N		evbuffer_add() of exactly N bytes fails
 *	printf=TEXT	evbuffer_add_printf() fails when the format holds TEXT
 *	send=N		send() of exactly N bytes sends only N/2 of them
 *
 * Anything else in the process (libevent's own use, other sizes) goes to
 * the real functions.  Each injected failure is counted on stderr as
 * "faultinject: <what>" so a test can see that it happened.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <dlfcn.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/types.h>

struct evbuffer;

int	evbuffer_add(struct evbuffer *, const void *, size_t);
int	evbuffer_add_printf(struct evbuffer *, const char *, ...);
int	evbuffer_add_vprintf(struct evbuffer *, const char *, va_list);
struct evbuffer *evbuffer_new(void);

/* The value of key in WSD_FAULT ("" for a bare key), or NULL. */
static const char *
fault(const char *key, char *buf, size_t len)
{
	const char *spec = getenv("WSD_FAULT"), *p;
	size_t kl = strlen(key);

	if (spec == NULL)
		return NULL;
	for (p = spec; *p != '\0'; ) {
		const char *end = strchr(p, ',');
		size_t n = end != NULL ? (size_t)(end - p) : strlen(p);

		if (n >= kl && strncmp(p, key, kl) == 0 &&
		    (n == kl || p[kl] == '=')) {
			size_t vl = n > kl ? n - kl - 1 : 0;

			if (vl >= len)
				vl = len - 1;
			memcpy(buf, p + kl + (n > kl), vl);
			buf[vl] = '\0';
			return buf;
		}
		p += n;
		if (*p == ',')
			p++;
	}
	return NULL;
}

static void
said(const char *what)
{
	fprintf(stderr, "faultinject: %s\n", what);
}

struct evbuffer *
evbuffer_new(void)
{
	static struct evbuffer *(*real)(void);
	char v[64];

	if (fault("new", v, sizeof(v)) != NULL) {
		said("evbuffer_new");
		return NULL;
	}
	if (real == NULL)
		*(void **)&real = dlsym(RTLD_NEXT, "evbuffer_new");
	return real();
}

int
evbuffer_add(struct evbuffer *b, const void *data, size_t len)
{
	static int (*real)(struct evbuffer *, const void *, size_t);
	char v[64];

	if (fault("add", v, sizeof(v)) != NULL &&
	    strtoull(v, NULL, 10) == len) {
		said("evbuffer_add");
		return -1;
	}
	if (real == NULL)
		*(void **)&real = dlsym(RTLD_NEXT, "evbuffer_add");
	return real(b, data, len);
}

int
evbuffer_add_printf(struct evbuffer *b, const char *fmt, ...)
{
	char v[256];
	va_list ap;
	int r;

	if (fault("printf", v, sizeof(v)) != NULL && strstr(fmt, v) != NULL) {
		said("evbuffer_add_printf");
		return -1;
	}
	va_start(ap, fmt);
	r = evbuffer_add_vprintf(b, fmt, ap);
	va_end(ap);
	return r;
}

ssize_t
send(int fd, const void *buf, size_t len, int flags)
{
	static ssize_t (*real)(int, const void *, size_t, int);
	char v[64];

	if (real == NULL)
		*(void **)&real = dlsym(RTLD_NEXT, "send");
	if (fault("send", v, sizeof(v)) != NULL &&
	    strtoull(v, NULL, 10) == len && len > 1) {
		said("send");
		return real(fd, buf, len / 2, flags);
	}
	return real(fd, buf, len, flags);
}

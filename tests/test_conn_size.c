/*
 * What an idle connection costs, kept from growing back: bench test 5's
 * target is 512 bytes of RSS per idle connection, and struct conn with
 * its address text is most of it (issue 16): its reads are watched
 * through the worker's epoll set and its timer is a node in the worker's
 * heap, so it carries no struct event (128 bytes each) of its own.  Sizes, not
 * timings or RSS, so that the check is the same in every build (under
 * ASan too: malloc_usable_size() is then the size asked for).
 *
 * A field added to struct conn that pushes it over a bound belongs in
 * struct conn_cold (made only for the connections that need it), in the
 * request (freed once `open` has run), or in a hole of the layout.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <malloc.h>
#include <cmocka.h>

#include "conn_priv.h"

/* sizeof(struct conn): 592 before issue 16, 384 after. */
#define CONN_MAX	384
/*
 * glibc's chunk for an idle IPv4 connection's one allocation (before
 * issue 16: 864, with a read event and a timer event).
 */
#define IDLE_CHUNK_MAX	416
/* The longest IPv4 text, with its NUL. */
#define V4_MAX		sizeof("255.255.255.255:65535")

/* The chunk glibc's malloc takes for n bytes (8 of header, 16-aligned). */
static size_t
glibc_chunk(size_t n)
{
	return (n + 8 + 15) & ~(size_t)15;
}

static void
test_struct_sizes(void **state)
{
	(void)state;
	assert_true(sizeof(struct conn) <= CONN_MAX);
	/* Made for some connections only, but for each of them. */
	assert_true(sizeof(struct conn_cold) <= 64);
}

static void
test_idle_allocation(void **state)
{
	size_t n = conn_alloc_size(V4_MAX);
	void *p;

	(void)state;
	/* The conn, then the text: nothing else. */
	assert_int_equal(n, sizeof(struct conn) + V4_MAX);
	assert_true(glibc_chunk(n) <= IDLE_CHUNK_MAX);
	/* And the allocator in use agrees (glibc's, or ASan's). */
	p = malloc(n);
	assert_non_null(p);
	assert_true(malloc_usable_size(p) >= n);
	assert_true(malloc_usable_size(p) <= IDLE_CHUNK_MAX - 8);
	free(p);
}

/*
 * The fields every read touches stay at the front, ahead of what only
 * the handshake, the close or the access log use.
 */
static void
test_hot_fields_first(void **state)
{
	(void)state;
	assert_true(offsetof(struct conn, srv) < 64);
	assert_true(offsetof(struct conn, ssl) < 64);
	assert_true(offsetof(struct conn, out) < 64);
	assert_true(offsetof(struct conn, route) < 64);
	assert_true(offsetof(struct conn, fd) < 64);
	assert_true(offsetof(struct conn, rx) < offsetof(struct conn, id));
	assert_true(offsetof(struct conn, ibuf) < offsetof(struct conn, id));
	assert_true(offsetof(struct conn, msgs_in) <
	    offsetof(struct conn, id));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_struct_sizes),
		cmocka_unit_test(test_idle_allocation),
		cmocka_unit_test(test_hot_fields_first),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

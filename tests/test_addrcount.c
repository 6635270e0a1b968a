/*
 * Unit tests for src/addrcount.c: per-address counts with a limit.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/un.h>
#include <cmocka.h>

#include "addrcount.h"

static struct sockaddr_storage
v4(const char *a, int port)
{
	struct sockaddr_storage ss;
	struct sockaddr_in *s = (struct sockaddr_in *)&ss;

	memset(&ss, 0, sizeof(ss));
	s->sin_family = AF_INET;
	s->sin_port = htons((uint16_t)port);
	assert_int_equal(inet_pton(AF_INET, a, &s->sin_addr), 1);
	return ss;
}

static struct sockaddr_storage
v6(const char *a, int port)
{
	struct sockaddr_storage ss;
	struct sockaddr_in6 *s = (struct sockaddr_in6 *)&ss;

	memset(&ss, 0, sizeof(ss));
	s->sin6_family = AF_INET6;
	s->sin6_port = htons((uint16_t)port);
	assert_int_equal(inet_pton(AF_INET6, a, &s->sin6_addr), 1);
	return ss;
}

#define SA(ss)	((const struct sockaddr *)&(ss))

static void
test_limit_per_address(void **state)
{
	struct addrcount *t = addrcount_new();
	struct addrcount_entry *e[4], *x;
	struct sockaddr_storage a = v4("192.0.2.1", 1000);
	struct sockaddr_storage a2 = v4("192.0.2.1", 2000);
	struct sockaddr_storage b = v4("192.0.2.2", 1000);
	int i;

	(void)state;
	assert_non_null(t);
	for (i = 0; i < 3; i++)
		assert_int_equal(addrcount_take(t, SA(a), 3, &e[i]), 0);
	/* The port does not matter: same address, at its limit. */
	assert_int_equal(addrcount_take(t, SA(a2), 3, &x), 1);
	assert_null(x);
	/* Another address is not affected. */
	assert_int_equal(addrcount_take(t, SA(b), 3, &e[3]), 0);
	assert_int_equal(addrcount_get(t, SA(a)), 3);
	assert_int_equal(addrcount_size(t), 2);
	addrcount_put(t, e[0]);
	assert_int_equal(addrcount_take(t, SA(a2), 3, &e[0]), 0);
	for (i = 0; i < 4; i++)
		addrcount_put(t, e[i]);
	assert_int_equal(addrcount_get(t, SA(a)), 0);
	assert_int_equal(addrcount_size(t), 0);
	addrcount_free(t);
}

static void
test_v4_mapped_is_v4(void **state)
{
	struct addrcount *t = addrcount_new();
	struct addrcount_entry *e1, *e2;
	struct sockaddr_storage a = v4("198.51.100.7", 1);
	struct sockaddr_storage m = v6("::ffff:198.51.100.7", 2);
	struct sockaddr_storage o = v6("2001:db8::7", 3);

	(void)state;
	assert_int_equal(addrcount_take(t, SA(a), 1, &e1), 0);
	assert_int_equal(addrcount_take(t, SA(m), 1, &e2), 1);
	assert_int_equal(addrcount_take(t, SA(o), 1, &e2), 0);
	addrcount_put(t, e1);
	addrcount_put(t, e2);
	assert_int_equal(addrcount_size(t), 0);
	addrcount_free(t);
}

static void
test_no_limit_and_other_families(void **state)
{
	struct addrcount *t = addrcount_new();
	struct addrcount_entry *e[1000];
	struct sockaddr_storage a = v6("::1", 5);
	struct sockaddr_un un;
	int i;

	(void)state;
	for (i = 0; i < 1000; i++)
		assert_int_equal(addrcount_take(t, SA(a), 0, &e[i]), 0);
	assert_int_equal(addrcount_get(t, SA(a)), 1000);
	for (i = 0; i < 1000; i++)
		addrcount_put(t, e[i]);
	assert_int_equal(addrcount_size(t), 0);
	/* Not an IP address: not counted, never refused. */
	memset(&un, 0, sizeof(un));
	un.sun_family = AF_UNIX;
	assert_int_equal(addrcount_take(t, (struct sockaddr *)&un, 1, &e[0]),
	    0);
	assert_null(e[0]);
	addrcount_put(t, NULL);
	addrcount_free(t);
}

/* Many addresses, many colliding in buckets: entries come and go. */
static void
test_many_addresses(void **state)
{
	static struct addrcount_entry *e[5000];
	struct addrcount *t = addrcount_new();
	char buf[32];
	int i;

	(void)state;
	for (i = 0; i < 5000; i++) {
		struct sockaddr_storage a;

		snprintf(buf, sizeof(buf), "10.%d.%d.%d", i >> 16,
		    (i >> 8) & 255, i & 255);
		a = v4(buf, 1);
		assert_int_equal(addrcount_take(t, SA(a), 1, &e[i]), 0);
	}
	assert_int_equal(addrcount_size(t), 5000);
	for (i = 0; i < 5000; i += 2)
		addrcount_put(t, e[i]);
	assert_int_equal(addrcount_size(t), 2500);
	for (i = 1; i < 5000; i += 2)
		addrcount_put(t, e[i]);
	assert_int_equal(addrcount_size(t), 0);
	addrcount_free(t);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_limit_per_address),
		cmocka_unit_test(test_v4_mapped_is_v4),
		cmocka_unit_test(test_no_limit_and_other_families),
		cmocka_unit_test(test_many_addresses),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

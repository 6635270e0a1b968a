/*
 * Unit tests for src/forwarded.c: addresses as headers carry them, the
 * CIDRs of trusted_proxies, and the X-Forwarded-For walk (rightmost
 * address that is not a trusted proxy wins).  Header values are heap
 * copies of exactly their length, so a read past the end shows under
 * AddressSanitizer.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>

#include <cmocka.h>

#include "forwarded.h"

static char *
copy(const char *s, size_t n)
{
	char *d = malloc(n > 0 ? n : 1);

	assert_non_null(d);
	memcpy(d, s, n);
	return d;
}

static bool
addr(const char *s, uint8_t key[16], uint16_t *port)
{
	char *d = copy(s, strlen(s));
	bool ok = fwd_parse_addr(d, strlen(s), key, port);

	free(d);
	return ok;
}

/* The 16-byte form of a literal address. */
static void
key(const char *s, uint8_t k[16])
{
	struct in_addr a4;

	if (strchr(s, ':') != NULL) {
		assert_int_equal(inet_pton(AF_INET6, s, k), 1);
		return;
	}
	assert_int_equal(inet_pton(AF_INET, s, &a4), 1);
	memset(k, 0, 10);
	k[10] = k[11] = 0xff;
	memcpy(k + 12, &a4, 4);
}

static void
assert_key(const uint8_t got[16], const char *want)
{
	uint8_t k[16];

	key(want, k);
	assert_memory_equal(got, k, 16);
}

static void
test_parse_addr(void **state)
{
	static const char *const bad[] = {
		"", " ", "unknown", "_hidden", "1.2.3", "1.2.3.4.5",
		"01.2.3.4", "1.2.3.256", "[::1", "[::1]x", "[::1]:",
		"[::1]:65536", "[1.2.3.4]", "1.2.3.4:", "1.2.3.4:99999",
		"1.2.3.4:80:1", "1.2.3.4:-1", "1.2.3.4:8a", "fe80::1%eth0",
		"1.2.3.4 5.6.7.8", "::1::2", "[]", "[]:80", "1.2.3.4/8",
		"::ffff:1.2.3.4:80",
	};
	uint8_t k[16];
	uint16_t port;
	size_t i;

	(void)state;
	assert_true(addr("192.0.2.1", k, &port));
	assert_key(k, "192.0.2.1");
	assert_int_equal(port, 0);
	assert_true(addr(" \t192.0.2.1 ", k, &port));
	assert_key(k, "192.0.2.1");
	assert_true(addr("192.0.2.1:5555", k, &port));
	assert_key(k, "192.0.2.1");
	assert_int_equal(port, 5555);
	assert_true(addr("[2001:db8::1]", k, &port));
	assert_key(k, "2001:db8::1");
	assert_int_equal(port, 0);
	assert_true(addr("[2001:db8::1]:80", k, &port));
	assert_key(k, "2001:db8::1");
	assert_int_equal(port, 80);
	assert_true(addr("2001:db8::1", k, NULL));
	assert_key(k, "2001:db8::1");
	/* An IPv4-mapped IPv6 address is the IPv4 address. */
	assert_true(addr("::ffff:192.0.2.1", k, NULL));
	assert_key(k, "192.0.2.1");
	assert_true(addr("[::ffff:192.0.2.1]:9", k, &port));
	assert_key(k, "192.0.2.1");
	/* wsd's own c->remote forms. */
	assert_true(addr("127.0.0.1:0", k, &port));
	assert_int_equal(port, 0);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (addr(bad[i], k, &port))
			fail_msg("accepted \"%s\"", bad[i]);
	/* A NUL inside is not the end. */
	assert_false(fwd_parse_addr("1.2.3.4\0", 8, k, NULL));
	assert_false(fwd_parse_addr("[::1\0]", 6, k, NULL));
}

static void
test_sockaddr_roundtrip(void **state)
{
	struct sockaddr_storage ss;
	uint8_t k[16], k2[16];

	(void)state;
	key("203.0.113.7", k);
	fwd_sockaddr(k, 4711, &ss);
	assert_int_equal(ss.ss_family, AF_INET);
	assert_int_equal(ntohs(((struct sockaddr_in *)(void *)&ss)->sin_port),
	    4711);
	assert_true(fwd_key_of((struct sockaddr *)&ss, k2));
	assert_memory_equal(k, k2, 16);
	key("2001:db8::7", k);
	fwd_sockaddr(k, 0, &ss);
	assert_int_equal(ss.ss_family, AF_INET6);
	assert_true(fwd_key_of((struct sockaddr *)&ss, k2));
	assert_memory_equal(k, k2, 16);
	ss.ss_family = AF_UNIX;
	assert_false(fwd_key_of((struct sockaddr *)&ss, k2));
}

static struct cidr
cidr(const char *s)
{
	struct cidr c;
	char err[200];

	if (cidr_parse(s, &c, err, sizeof(err)) != 0)
		fail_msg("cidr_parse(\"%s\"): %s", s, err);
	return c;
}

static bool
in(const char *s, const struct cidr *list, size_t n)
{
	uint8_t k[16];

	key(s, k);
	return cidr_match(list, n, k);
}

static void
test_cidr(void **state)
{
	static const char *const bad[] = {
		"", "host", "10.0.0.0/", "10.0.0.0/x", "10.0.0.0/-1",
		"10.0.0.0/+8", "10.0.0.0/33", "::/129", "10.0.0.0/8/9",
		"10.0.0.0/ 8", "10.0.0/8", "[::1]", "::1/", "10.0.0.0/8x",
		"10.0.0.0/99999999999999999999",
	};
	struct cidr c[4];
	char err[200];
	size_t i;

	(void)state;
	c[0] = cidr("10.0.0.0/8");
	assert_int_equal(c[0].bits, 104);
	assert_true(in("10.1.2.3", c, 1));
	assert_true(in("::ffff:10.255.255.255", c, 1));
	assert_false(in("11.0.0.0", c, 1));
	assert_false(in("::a00:1", c, 1));	/* ::10.0.0.1, not mapped */

	c[0] = cidr("192.168.0.0/23");
	assert_true(in("192.168.1.255", c, 1));
	assert_false(in("192.168.2.0", c, 1));

	c[0] = cidr("127.0.0.1");
	assert_int_equal(c[0].bits, 128);
	assert_true(in("127.0.0.1", c, 1));
	assert_false(in("127.0.0.2", c, 1));

	c[0] = cidr("::1");
	assert_true(in("::1", c, 1));
	assert_false(in("127.0.0.1", c, 1));

	c[0] = cidr("2001:db8::/32");
	assert_true(in("2001:db8:ffff::1", c, 1));
	assert_false(in("2001:db9::1", c, 1));

	/* /0: every IPv4 address, no IPv6 one; ::/0 everything. */
	c[0] = cidr("0.0.0.0/0");
	assert_true(in("203.0.113.7", c, 1));
	assert_false(in("2001:db8::1", c, 1));
	c[0] = cidr("::/0");
	assert_true(in("203.0.113.7", c, 1));
	assert_true(in("2001:db8::1", c, 1));

	/* A list: any entry. */
	c[0] = cidr("127.0.0.1");
	c[1] = cidr("10.0.0.0/8");
	c[2] = cidr("::1");
	assert_true(in("10.9.9.9", c, 3));
	assert_true(in("::1", c, 3));
	assert_false(in("192.0.2.1", c, 3));
	assert_false(in("192.0.2.1", c, 0));

	/* Bits past the prefix: refused, with the likely meaning. */
	assert_int_equal(cidr_parse("10.0.0.1/8", &c[0], err, sizeof(err)),
	    -1);
	assert_non_null(strstr(err, "10.0.0.0/8"));
	assert_int_equal(cidr_parse("2001:db8::1/32", &c[0], err,
	    sizeof(err)), -1);
	assert_non_null(strstr(err, "2001:db8::/32"));
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		err[0] = '\0';
		if (cidr_parse(bad[i], &c[0], err, sizeof(err)) != -1)
			fail_msg("accepted \"%s\"", bad[i]);
		assert_true(err[0] != '\0');
	}
}

/* The XFF walk over the given lines, with 127.0.0.1 and 10/8 trusted. */
static size_t
walk(const char *const *lines, size_t n, uint8_t k[16], bool *bad)
{
	struct cidr t[2];
	const char *v[8];
	size_t lens[8], i, r;

	t[0] = cidr("127.0.0.1");
	t[1] = cidr("10.0.0.0/8");
	for (i = 0; i < n; i++) {
		lens[i] = strlen(lines[i]);
		v[i] = copy(lines[i], lens[i]);
	}
	r = xff_client(v, lens, n, t, 2, k, bad);
	for (i = 0; i < n; i++)
		free((char *)v[i]);
	return r;
}

static size_t
walk1(const char *line, uint8_t k[16], bool *bad)
{
	return walk(&line, 1, k, bad);
}

static void
test_xff(void **state)
{
	const char *two[2];
	uint8_t k[16], none[16];
	bool bad;

	(void)state;
	memset(none, 0xaa, 16);

	assert_int_equal(walk1("203.0.113.7", k, &bad), 1);
	assert_key(k, "203.0.113.7");
	assert_false(bad);
	/* Our own proxies are walked past. */
	assert_int_equal(walk1("203.0.113.7, 10.0.0.5", k, &bad), 2);
	assert_key(k, "203.0.113.7");
	/* What the client wrote itself (left of it) is not believed. */
	assert_int_equal(walk1("198.51.100.9,203.0.113.7 ,10.0.0.5", k, &bad),
	    2);
	assert_key(k, "203.0.113.7");
	/* All trusted: the leftmost. */
	assert_int_equal(walk1("10.0.0.9, 127.0.0.1, 10.0.0.5", k, &bad), 3);
	assert_key(k, "10.0.0.9");
	/* A repeated header is one list, in order. */
	two[0] = "198.51.100.9";
	two[1] = "203.0.113.7, 10.0.0.5";
	assert_int_equal(walk(two, 2, k, &bad), 2);
	assert_key(k, "203.0.113.7");
	two[0] = "203.0.113.7";
	two[1] = "10.0.0.5";
	assert_int_equal(walk(two, 2, k, &bad), 2);
	assert_key(k, "203.0.113.7");
	/* Empty elements are skipped. */
	assert_int_equal(walk1(",203.0.113.7, , 10.0.0.5,", k, &bad), 2);
	assert_key(k, "203.0.113.7");
	assert_false(bad);
	/* Ports and brackets, IPv6. */
	assert_int_equal(walk1("[2001:db8::1]:4711, 10.0.0.5:80", k, &bad),
	    2);
	assert_key(k, "2001:db8::1");
	assert_int_equal(walk1("2001:db8::1", k, &bad), 1);
	assert_key(k, "2001:db8::1");

	/* Malformed rightmost: nothing believed, k untouched. */
	memcpy(k, none, 16);
	assert_int_equal(walk1("203.0.113.7, unknown", k, &bad), 0);
	assert_true(bad);
	assert_memory_equal(k, none, 16);
	/* Malformed further left: the walk stops at the last good one. */
	assert_int_equal(walk1("203.0.113.7, _obf, 10.0.0.5", k, &bad), 1);
	assert_true(bad);
	assert_key(k, "10.0.0.5");
	/* Nothing at all. */
	memcpy(k, none, 16);
	assert_int_equal(walk1("", k, &bad), 0);
	assert_false(bad);
	assert_int_equal(walk1(" , ,", k, &bad), 0);
	assert_int_equal(walk(NULL, 0, k, &bad), 0);
	assert_memory_equal(k, none, 16);
	/* bad may be NULL. */
	assert_int_equal(walk1("x", k, NULL), 0);
}

static void
test_last_element(void **state)
{
	const char *v[2];
	size_t lens[2], n;
	const char *el;

	(void)state;
	v[0] = "http";
	v[1] = "https , ";
	lens[0] = 4;
	lens[1] = 8;
	assert_true(fwd_last_element(v, lens, 2, &el, &n));
	assert_int_equal(n, 5);
	assert_memory_equal(el, "https", 5);
	v[1] = " ,\t";
	lens[1] = 3;
	assert_true(fwd_last_element(v, lens, 2, &el, &n));
	assert_int_equal(n, 4);
	assert_memory_equal(el, "http", 4);
	assert_false(fwd_last_element(v + 1, lens + 1, 1, &el, &n));
	assert_false(fwd_last_element(v, lens, 0, &el, &n));
	v[0] = "a.example:8080";
	lens[0] = strlen(v[0]);
	assert_true(fwd_last_element(v, lens, 1, &el, &n));
	assert_int_equal(n, lens[0]);
}

/* Junk of header-like bytes: no crash, no read past the end. */
static void
test_random(void **state)
{
	static const char chars[] = "0123456789abcdef.:[], \t/xff";
	struct cidr t[2];
	const char *v[3];
	size_t lens[3], i, j, nl;
	unsigned seed = 7;
	uint8_t k[16];
	char buf[64];
	const char *el;
	bool bad;
	int round;

	(void)state;
	t[0] = cidr("0.0.0.0/0");
	t[1] = cidr("::/1");
	for (round = 0; round < 50000; round++) {
		nl = (size_t)(rand_r(&seed) % 4);
		for (i = 0; i < nl; i++) {
			lens[i] = (size_t)(rand_r(&seed) % sizeof(buf));
			for (j = 0; j < lens[i]; j++)
				buf[j] = chars[rand_r(&seed) %
				    (sizeof(chars) - 1)];
			v[i] = copy(buf, lens[i]);
		}
		xff_client(v, lens, nl, t, 2, k, &bad);
		if (fwd_last_element(v, lens, nl, &el, &j))
			assert_true(j > 0 && el[0] != ' ' && el[j - 1] != ' ');
		for (i = 0; i < nl; i++)
			free((char *)v[i]);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_addr),
		cmocka_unit_test(test_sockaddr_roundtrip),
		cmocka_unit_test(test_cidr),
		cmocka_unit_test(test_xff),
		cmocka_unit_test(test_last_element),
		cmocka_unit_test(test_random),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

/*
 * Unit tests for src/proxyproto.c: PROXY protocol v1 and v2 headers as
 * HAProxy's proxy-protocol.txt defines them, valid, invalid, truncated
 * and split.  Every input is a heap copy of exactly its length, so a
 * read past the end shows under AddressSanitizer.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>

#include <cmocka.h>

#include "proxyproto.h"

static const uint8_t sig[12] = {
	0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a
};

/* pp_parse() on a heap copy of exactly p[0..n). */
static int
parse(const void *p, size_t n, struct pp_info *info, const char **why)
{
	uint8_t *b = malloc(n > 0 ? n : 1);
	int r;

	assert_non_null(b);
	memcpy(b, p, n);
	r = pp_parse(b, n, info, why);
	free(b);
	return r;
}

static int
parse_str(const char *s, struct pp_info *info)
{
	return parse(s, strlen(s), info, NULL);
}

/* Every proper prefix of p[0..n) asks for more. */
static void
assert_prefixes_want_more(const void *p, size_t n)
{
	struct pp_info info;
	size_t i;

	for (i = 0; i < n; i++)
		if (parse(p, i, &info, NULL) != 0)
			fail_msg("prefix of %zu of %zu bytes is not 0", i, n);
}

static void
assert_v4(const struct sockaddr_storage *ss, const char *addr, int port)
{
	const struct sockaddr_in *s4 = (const void *)ss;
	char buf[INET_ADDRSTRLEN];

	assert_int_equal(s4->sin_family, AF_INET);
	assert_non_null(inet_ntop(AF_INET, &s4->sin_addr, buf, sizeof(buf)));
	assert_string_equal(buf, addr);
	assert_int_equal(ntohs(s4->sin_port), port);
}

static void
assert_v6(const struct sockaddr_storage *ss, const char *addr, int port)
{
	const struct sockaddr_in6 *s6 = (const void *)ss;
	char buf[INET6_ADDRSTRLEN];

	assert_int_equal(s6->sin6_family, AF_INET6);
	assert_non_null(inet_ntop(AF_INET6, &s6->sin6_addr, buf, sizeof(buf)));
	assert_string_equal(buf, addr);
	assert_int_equal(ntohs(s6->sin6_port), port);
}

/* ---------------------------------------------------------------- v1 */

static void
test_v1_tcp4(void **state)
{
	const char *h = "PROXY TCP4 192.0.2.1 198.51.100.2 56324 443\r\n";
	char buf[128];
	struct pp_info info;

	(void)state;
	assert_int_equal(parse_str(h, &info), (int)strlen(h));
	assert_int_equal(info.version, 1);
	assert_false(info.local);
	assert_false(info.ssl);
	assert_v4(&info.src, "192.0.2.1", 56324);
	assert_v4(&info.dst, "198.51.100.2", 443);
	/* What follows is not the header's. */
	snprintf(buf, sizeof(buf), "%sGET / HTTP/1.1\r\n\r\n", h);
	assert_int_equal(parse_str(buf, &info), (int)strlen(h));
	assert_prefixes_want_more(h, strlen(h));
	/* Ports and addresses at their limits. */
	h = "PROXY TCP4 255.255.255.255 0.0.0.0 65535 0\r\n";
	assert_int_equal(parse_str(h, &info), (int)strlen(h));
	assert_v4(&info.src, "255.255.255.255", 65535);
	assert_v4(&info.dst, "0.0.0.0", 0);
}

static void
test_v1_tcp6(void **state)
{
	/* The spec's longest TCP6 line: 104 bytes. */
	const char *h = "PROXY TCP6 ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff "
	    "ffff:ffff:ffff:ffff:ffff:ffff:ffff:fffe 65535 65535\r\n";
	struct pp_info info;

	(void)state;
	assert_int_equal(strlen(h), 104);
	assert_int_equal(parse_str(h, &info), 104);
	assert_v6(&info.src, "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", 65535);
	assert_v6(&info.dst, "ffff:ffff:ffff:ffff:ffff:ffff:ffff:fffe", 65535);
	assert_prefixes_want_more(h, strlen(h));
	h = "PROXY TCP6 2001:db8::7 ::1 4000 80\r\n";
	assert_int_equal(parse_str(h, &info), (int)strlen(h));
	assert_v6(&info.src, "2001:db8::7", 4000);
	assert_v6(&info.dst, "::1", 80);
}

static void
test_v1_unknown(void **state)
{
	char line[200];
	struct pp_info info;

	(void)state;
	assert_int_equal(parse_str("PROXY UNKNOWN\r\n", &info), 15);
	assert_true(info.local);
	assert_int_equal(info.version, 1);
	/* Whatever follows UNKNOWN is ignored, up to 107 bytes in all. */
	memset(line, 'x', sizeof(line));
	memcpy(line, "PROXY UNKNOWN ", 14);
	memcpy(line + 105, "\r\n", 2);
	assert_int_equal(parse(line, 107, &info, NULL), 107);
	assert_true(info.local);
	assert_prefixes_want_more(line, 107);
	/* One more and the CRLF comes too late. */
	memcpy(line + 105, "x\r\n", 3);
	assert_int_equal(parse(line, 108, &info, NULL), -1);
	/* Refused as soon as the CRLF cannot fit any more. */
	assert_int_equal(parse(line, 106, &info, NULL), -1);
	assert_int_equal(parse(line, 105, &info, NULL), 0);
	assert_int_equal(parse_str("PROXY UNKNOWN 1.2.3.4 junk\r\n", &info),
	    (int)strlen("PROXY UNKNOWN 1.2.3.4 junk\r\n"));
	assert_true(info.local);
	/* Not UNKNOWN, nor followed by a space. */
	assert_int_equal(parse_str("PROXY UNKNOWNX\r\n", &info), -1);
	assert_int_equal(parse_str("PROXY UNKNOWN\n", &info), -1);
}

static void
test_v1_invalid(void **state)
{
	static const char *const bad[] = {
		"PROXY TCP4 01.2.3.4 5.6.7.8 1 2\r\n",	/* leading zero */
		"PROXY TCP4 1.2.3.4 5.6.7.8 01 2\r\n",
		"PROXY TCP4 1.2.3.4 5.6.7.8 1 65536\r\n",
		"PROXY TCP4 1.2.3.4 5.6.7.8 1 123456\r\n",
		"PROXY TCP4 1.2.3.4  5.6.7.8 1 2\r\n",	/* two spaces */
		"PROXY TCP4 1.2.3.4 5.6.7.8 1 2 \r\n",	/* trailing space */
		"PROXY TCP4 1.2.3.4 5.6.7.8 1\r\n",	/* a field short */
		"PROXY TCP4 1.2.3.4 5.6.7.8 1 2 3\r\n",	/* one too many */
		"PROXY TCP4 1.2.3.4 5.6.7.8 1 2\n",	/* LF alone */
		"PROXY TCP4 1.2.3.4 5.6.7.8 1 2\rX",	/* CR alone */
		"PROXY TCP4 1.2.3.4 5.6.7.8 1 2\r\r\n",
		"PROXY TCP4 ::1 ::2 1 2\r\n",		/* wrong family */
		"PROXY TCP6 1.2.3.4 5.6.7.8 1 2\r\n",
		"PROXY TCP4 1.2.3 5.6.7.8 1 2\r\n",
		"PROXY TCP4 1.2.3.256 5.6.7.8 1 2\r\n",
		"PROXY TCP4 1.2.3.4 5.6.7.8 -1 2\r\n",
		"PROXY TCP4 1.2.3.4 5.6.7.8 +1 2\r\n",
		"PROXY TCP6 fe80::1%eth0 ::1 1 2\r\n",
		"PROXY TCP5 1.2.3.4 5.6.7.8 1 2\r\n",
		"PROXY tcp4 1.2.3.4 5.6.7.8 1 2\r\n",
		"PROXY  TCP4 1.2.3.4 5.6.7.8 1 2\r\n",
		"PROXY\r\n",
		"PROXY \r\n",
		"PROXY TCP4\r\n",
		"PROXY TCP4 \r\n",
		"proxy TCP4 1.2.3.4 5.6.7.8 1 2\r\n",
		"PROXYTCP4 1.2.3.4 5.6.7.8 1 2\r\n",
		"GET / HTTP/1.1\r\n\r\n",
		"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03",	/* TLS */
	};
	struct pp_info info;
	const char *why;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		why = NULL;
		if (parse(bad[i], strlen(bad[i]), &info, &why) != -1)
			fail_msg("accepted: %s", bad[i]);
		assert_non_null(why);
	}
	/* A NUL inside an address is not the end of it. */
	assert_int_equal(parse("PROXY TCP4 1.2.3.4\0 5.6.7.8 1 2\r\n", 33,
	    &info, NULL), -1);
}

/* HTTP, TLS and junk are turned away at their first bytes. */
static void
test_early_rejection(void **state)
{
	struct pp_info info;

	(void)state;
	assert_int_equal(parse("G", 1, &info, NULL), -1);
	assert_int_equal(parse("\x16", 1, &info, NULL), -1);
	assert_int_equal(parse("\0", 1, &info, NULL), -1);
	assert_int_equal(parse("PRO", 3, &info, NULL), 0);
	assert_int_equal(parse("PROXI", 5, &info, NULL), -1);
	assert_int_equal(parse("PROXY X", 7, &info, NULL), -1);
	assert_int_equal(parse("PROXY TCP4 1.2.3.4 g", 20, &info, NULL), -1);
	assert_int_equal(parse("PROXY TCP4 1.2.3.4\n", 19, &info, NULL), -1);
	assert_int_equal(parse("\r\n\r\n\0\r\nX", 8, &info, NULL), -1);
	assert_int_equal(parse("\r\n\r\n\0\r\nQ", 8, &info, NULL), 0);
	assert_int_equal(parse("", 0, &info, NULL), 0);
}

/* ---------------------------------------------------------------- v2 */

/* A v2 header: fixed part, then body[0..blen). */
static size_t
v2(uint8_t *out, uint8_t vercmd, uint8_t fam, const void *body, size_t blen)
{
	memcpy(out, sig, 12);
	out[12] = vercmd;
	out[13] = fam;
	out[14] = (uint8_t)(blen >> 8);
	out[15] = (uint8_t)blen;
	if (blen > 0)
		memcpy(out + 16, body, blen);
	return 16 + blen;
}

static const uint8_t body4[12] = {
	192, 0, 2, 1,  198, 51, 100, 2,  0xdc, 0x04,  0x01, 0xbb
};

static void
test_v2_tcp4(void **state)
{
	uint8_t h[64];
	struct pp_info info;
	size_t n;

	(void)state;
	n = v2(h, 0x21, 0x11, body4, sizeof(body4));
	assert_int_equal(n, 28);
	assert_int_equal(parse(h, n, &info, NULL), 28);
	assert_int_equal(info.version, 2);
	assert_false(info.local);
	assert_false(info.ssl);
	assert_v4(&info.src, "192.0.2.1", 56324);
	assert_v4(&info.dst, "198.51.100.2", 443);
	assert_prefixes_want_more(h, n);
	/* Bytes after it are the connection's. */
	memcpy(h + n, "GET /", 5);
	assert_int_equal(parse(h, n + 5, &info, NULL), 28);
}

static void
test_v2_tcp6(void **state)
{
	uint8_t body[36], h[64];
	struct pp_info info;
	size_t n;

	(void)state;
	memset(body, 0, sizeof(body));
	assert_int_equal(inet_pton(AF_INET6, "2001:db8::7", body), 1);
	assert_int_equal(inet_pton(AF_INET6, "::1", body + 16), 1);
	body[32] = 0x0f;
	body[33] = 0xa0;	/* 4000 */
	body[34] = 0x00;
	body[35] = 0x50;	/* 80 */
	n = v2(h, 0x21, 0x21, body, sizeof(body));
	assert_int_equal(parse(h, n, &info, NULL), 52);
	assert_false(info.local);
	assert_v6(&info.src, "2001:db8::7", 4000);
	assert_v6(&info.dst, "::1", 80);
	assert_prefixes_want_more(h, n);
}

static void
test_v2_local_and_unspec(void **state)
{
	uint8_t h[64], junk[20];
	struct pp_info info;
	size_t n;

	(void)state;
	/* HAProxy's health checks: LOCAL, UNSPEC, no address. */
	n = v2(h, 0x20, 0x00, NULL, 0);
	assert_int_equal(parse(h, n, &info, NULL), 16);
	assert_true(info.local);
	/* LOCAL: the family and whatever block there is are ignored. */
	memset(junk, 0xee, sizeof(junk));
	n = v2(h, 0x20, 0x99, junk, sizeof(junk));
	assert_int_equal(parse(h, n, &info, NULL), 36);
	assert_true(info.local);
	/* LOCAL with an address block: still the real endpoints. */
	n = v2(h, 0x20, 0x11, body4, sizeof(body4));
	assert_int_equal(parse(h, n, &info, NULL), 28);
	assert_true(info.local);
	/* PROXY over UNSPEC: accepted, the real endpoints. */
	n = v2(h, 0x21, 0x00, junk, 5);
	assert_int_equal(parse(h, n, &info, NULL), 21);
	assert_true(info.local);
	/* UDP: a fallback to the real endpoints, not a refusal. */
	n = v2(h, 0x21, 0x12, body4, sizeof(body4));
	assert_int_equal(parse(h, n, &info, NULL), 28);
	assert_true(info.local);
}

static void
test_v2_unix(void **state)
{
	uint8_t h[300], body[216];
	struct pp_info info;
	size_t n;

	(void)state;
	memset(body, 0, sizeof(body));
	memcpy(body, "/run/x.sock", 11);
	n = v2(h, 0x21, 0x31, body, sizeof(body));
	assert_int_equal(parse(h, n, &info, NULL), 232);
	assert_true(info.local);
	/* Shorter than two paths. */
	n = v2(h, 0x21, 0x31, body, 215);
	assert_int_equal(parse(h, n, &info, NULL), -1);
}

static void
test_v2_tlvs(void **state)
{
	uint8_t body[64], h[128];
	struct pp_info info;
	size_t n, b;

	(void)state;
	memcpy(body, body4, 12);
	b = 12;
	/* NOOP of 3 bytes, an ALPN, then SSL: client=SSL, verify=0, VERSION. */
	memcpy(body + b, "\x04\x00\x03xyz", 6);
	b += 6;
	memcpy(body + b, "\x01\x00\x08http/1.1", 11);
	b += 11;
	memcpy(body + b, "\x20\x00\x0c\x01\x00\x00\x00\x00\x21\x00\x04TLS3", 15);
	b += 15;
	n = v2(h, 0x21, 0x11, body, b);
	assert_int_equal(parse(h, n, &info, NULL), (int)n);
	assert_true(info.ssl);
	assert_false(info.local);
	assert_v4(&info.src, "192.0.2.1", 56324);
	assert_prefixes_want_more(h, n);

	/* An SSL TLV without the client bit: not TLS. */
	memcpy(body + 12, "\x20\x00\x05\x00\x00\x00\x00\x00", 8);
	n = v2(h, 0x21, 0x11, body, 20);
	assert_int_equal(parse(h, n, &info, NULL), 36);
	assert_false(info.ssl);
	/* Too short to carry the flags: skipped, not TLS. */
	memcpy(body + 12, "\x20\x00\x01\x01", 4);
	n = v2(h, 0x21, 0x11, body, 16);
	assert_int_equal(parse(h, n, &info, NULL), 32);
	assert_false(info.ssl);

	/* A TLV whose value runs past the header. */
	memcpy(body + 12, "\x04\x00\x09" "abcde", 8);
	n = v2(h, 0x21, 0x11, body, 20);
	assert_int_equal(parse(h, n, &info, NULL), -1);
	/* Bytes after the last TLV that are not a whole TLV. */
	memcpy(body + 12, "\x04\x00\x00\x04\x00", 5);
	n = v2(h, 0x21, 0x11, body, 17);
	assert_int_equal(parse(h, n, &info, NULL), -1);
	n = v2(h, 0x21, 0x11, body, 13);
	assert_int_equal(parse(h, n, &info, NULL), -1);
	/* An empty TLV is whole. */
	n = v2(h, 0x21, 0x11, body, 15);
	assert_int_equal(parse(h, n, &info, NULL), 31);
}

static void
test_v2_invalid(void **state)
{
	static uint8_t big[PP_V2_MAX_LEN + 1];
	uint8_t h[PP_V2_MAX + 64];
	struct pp_info info;
	const char *why;
	size_t n;

	(void)state;
	n = v2(h, 0x11, 0x11, body4, sizeof(body4));	/* version 1 */
	assert_int_equal(parse(h, 13, &info, NULL), -1);
	n = v2(h, 0x31, 0x11, body4, sizeof(body4));	/* version 3 */
	assert_int_equal(parse(h, n, &info, NULL), -1);
	n = v2(h, 0x22, 0x11, body4, sizeof(body4));	/* command 2 */
	assert_int_equal(parse(h, 13, &info, NULL), -1);
	n = v2(h, 0x2f, 0x11, body4, sizeof(body4));
	assert_int_equal(parse(h, n, &info, NULL), -1);
	n = v2(h, 0x21, 0x41, body4, sizeof(body4));	/* family 4 */
	assert_int_equal(parse(h, 14, &info, NULL), -1);
	n = v2(h, 0x21, 0x13, body4, sizeof(body4));	/* transport 3 */
	assert_int_equal(parse(h, n, &info, NULL), -1);
	n = v2(h, 0x21, 0x10, body4, sizeof(body4));	/* INET, UNSPEC */
	assert_int_equal(parse(h, n, &info, NULL), -1);
	n = v2(h, 0x21, 0x01, body4, sizeof(body4));
	assert_int_equal(parse(h, n, &info, NULL), -1);
	/* Address block shorter than the family's: known at byte 16. */
	n = v2(h, 0x21, 0x11, body4, 11);
	assert_int_equal(parse(h, 16, &info, NULL), -1);
	n = v2(h, 0x21, 0x21, body4, 12);
	assert_int_equal(parse(h, 16, &info, NULL), -1);
	/* Too long to be taken: refused at byte 16, not after 64 KiB. */
	memcpy(big, body4, 12);
	n = v2(h, 0x21, 0x11, big, PP_V2_MAX_LEN + 1);
	why = NULL;
	assert_int_equal(parse(h, 16, &info, &why), -1);
	assert_non_null(why);
	/* The most taken: a NOOP filling the rest. */
	big[12] = 0x04;
	big[13] = (uint8_t)((PP_V2_MAX_LEN - 15) >> 8);
	big[14] = (uint8_t)(PP_V2_MAX_LEN - 15);
	n = v2(h, 0x21, 0x11, big, PP_V2_MAX_LEN);
	assert_int_equal(n, PP_V2_MAX);
	assert_int_equal(parse(h, n, &info, NULL), PP_V2_MAX);
	/* A signature wrong in any byte. */
	for (n = 0; n < 12; n++) {
		v2(h, 0x21, 0x11, body4, sizeof(body4));
		h[n] ^= 0x40;
		if (parse(h, 28, &info, NULL) != -1)
			fail_msg("signature byte %zu changed was accepted", n);
	}
}

/* Any byte string: no crash, and a length never past the input. */
static void
test_random(void **state)
{
	uint8_t h[256];
	struct pp_info info;
	unsigned seed = 1;
	size_t i, n;
	int r, k;

	(void)state;
	for (k = 0; k < 200000; k++) {
		n = (size_t)(rand_r(&seed) % sizeof(h));
		for (i = 0; i < n; i++)
			h[i] = (uint8_t)rand_r(&seed);
		/* Start most of them like a header, so they get further. */
		if (n > 0 && k % 3 == 0)
			memcpy(h, "PROXY TCP4 ", n < 11 ? n : 11);
		else if (n > 0 && k % 3 == 1)
			memcpy(h, sig, n < 12 ? n : 12);
		r = parse(h, n, &info, NULL);
		assert_true(r >= -1 && r <= (int)n);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_v1_tcp4),
		cmocka_unit_test(test_v1_tcp6),
		cmocka_unit_test(test_v1_unknown),
		cmocka_unit_test(test_v1_invalid),
		cmocka_unit_test(test_early_rejection),
		cmocka_unit_test(test_v2_tcp4),
		cmocka_unit_test(test_v2_tcp6),
		cmocka_unit_test(test_v2_local_and_unspec),
		cmocka_unit_test(test_v2_unix),
		cmocka_unit_test(test_v2_tlvs),
		cmocka_unit_test(test_v2_invalid),
		cmocka_unit_test(test_random),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

/*
 * Unit tests for bpwire.c: the envelope both ways, what a payload from
 * Redis turns into, the PUBLISH command bytes, and the address forms of
 * cluster.redis.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "bpwire.h"

#define S(lit)	(const uint8_t *)(lit), sizeof(lit) - 1
#define SELF	UINT64_C(0x0102030405060708)
#define MAX	64

static void
test_header_bytes(void **state)
{
	uint8_t h[BPWIRE_HEADER];

	(void)state;
	bpwire_header(h, 2, SELF);
	assert_memory_equal(h, "\xffWSD\x01\x02\x01\x02\x03\x04\x05\x06\x07\x08",
	    BPWIRE_HEADER);
	bpwire_header(h, 1, UINT64_C(0xfedcba9876543210));
	assert_memory_equal(h, "\xffWSD\x01\x01\xfe\xdc\xba\x98\x76\x54\x32\x10",
	    BPWIRE_HEADER);
}

static void
test_round_trip(void **state)
{
	uint8_t buf[BPWIRE_HEADER + 5];
	struct bpwire_msg m;

	(void)state;
	bpwire_header(buf, 2, 42);
	memcpy(buf + BPWIRE_HEADER, "\x00\xff\x80" "ab", 5);
	assert_int_equal(bpwire_judge(buf, sizeof(buf), SELF, MAX, &m),
	    BPWIRE_DELIVER);
	assert_true(m.enveloped);
	assert_int_equal(m.opcode, 2);
	assert_true(m.node == 42);
	assert_ptr_equal(m.data, buf + BPWIRE_HEADER);
	assert_int_equal(m.len, 5);

	/* From this node: already delivered over the local mesh. */
	bpwire_header(buf, 2, SELF);
	assert_int_equal(bpwire_judge(buf, sizeof(buf), SELF, MAX, &m),
	    BPWIRE_OWN);

	/* An empty enveloped text message. */
	bpwire_header(buf, 1, 7);
	assert_int_equal(bpwire_judge(buf, BPWIRE_HEADER, SELF, MAX, &m),
	    BPWIRE_DELIVER);
	assert_int_equal(m.opcode, 1);
	assert_int_equal(m.len, 0);
}

static void
test_plain(void **state)
{
	struct bpwire_msg m;

	(void)state;
	assert_int_equal(bpwire_judge(S("hello"), SELF, MAX, &m),
	    BPWIRE_DELIVER);
	assert_false(m.enveloped);
	assert_int_equal(m.opcode, 1);
	assert_int_equal(m.len, 5);
	assert_memory_equal(m.data, "hello", 5);

	assert_int_equal(bpwire_judge(S(""), SELF, MAX, &m), BPWIRE_DELIVER);
	assert_int_equal(m.len, 0);
	assert_int_equal(bpwire_judge(S("caf\xc3\xa9 \xe2\x82\xac"), SELF, MAX,
	    &m), BPWIRE_DELIVER);

	/* Plain payloads are text: they must be UTF-8. */
	assert_int_equal(bpwire_judge(S("caf\xc3"), SELF, MAX, &m),
	    BPWIRE_BAD_UTF8);
	assert_int_equal(bpwire_judge(S("\xed\xa0\x80"), SELF, MAX, &m),
	    BPWIRE_BAD_UTF8);
	assert_int_equal(bpwire_judge(S("a\x80"), SELF, MAX, &m),
	    BPWIRE_BAD_UTF8);
}

static void
test_limits(void **state)
{
	uint8_t buf[BPWIRE_HEADER + MAX + 1];
	struct bpwire_msg m;

	(void)state;
	memset(buf, 'x', sizeof(buf));
	assert_int_equal(bpwire_judge(buf, MAX, SELF, MAX, &m),
	    BPWIRE_DELIVER);
	assert_int_equal(bpwire_judge(buf, MAX + 1, SELF, MAX, &m),
	    BPWIRE_TOO_BIG);

	/* The limit counts the message, not the envelope. */
	bpwire_header(buf, 2, 9);
	assert_int_equal(bpwire_judge(buf, BPWIRE_HEADER + MAX, SELF, MAX, &m),
	    BPWIRE_DELIVER);
	assert_int_equal(bpwire_judge(buf, BPWIRE_HEADER + MAX + 1, SELF, MAX,
	    &m), BPWIRE_TOO_BIG);

	/* Enveloped text is held to UTF-8 too; binary is not. */
	bpwire_header(buf, 1, 9);
	buf[BPWIRE_HEADER] = 0xc3;
	assert_int_equal(bpwire_judge(buf, BPWIRE_HEADER + 1, SELF, MAX, &m),
	    BPWIRE_BAD_UTF8);
	bpwire_header(buf, 2, 9);
	assert_int_equal(bpwire_judge(buf, BPWIRE_HEADER + 1, SELF, MAX, &m),
	    BPWIRE_DELIVER);
}

static void
test_bad_envelopes(void **state)
{
	uint8_t buf[BPWIRE_HEADER + 2];
	struct bpwire_msg m;
	size_t n;

	(void)state;
	/* Every truncation of a header is refused. */
	bpwire_header(buf, 1, 9);
	for (n = 1; n < BPWIRE_HEADER; n++)
		assert_int_equal(bpwire_judge(buf, n, SELF, MAX, &m),
		    BPWIRE_BAD_ENVELOPE);
	assert_int_equal(bpwire_judge(S("\xff"), SELF, MAX, &m),
	    BPWIRE_BAD_ENVELOPE);
	assert_int_equal(bpwire_judge(S("\xffwsd\x01\x01\0\0\0\0\0\0\0\0"),
	    SELF, MAX, &m), BPWIRE_BAD_ENVELOPE);
	/* Another version, opcodes other than text and binary. */
	bpwire_header(buf, 1, 9);
	buf[4] = 2;
	assert_int_equal(bpwire_judge(buf, sizeof(buf), SELF, MAX, &m),
	    BPWIRE_BAD_ENVELOPE);
	bpwire_header(buf, 0, 9);
	assert_int_equal(bpwire_judge(buf, sizeof(buf), SELF, MAX, &m),
	    BPWIRE_BAD_ENVELOPE);
	bpwire_header(buf, 8, 9);
	assert_int_equal(bpwire_judge(buf, sizeof(buf), SELF, MAX, &m),
	    BPWIRE_BAD_ENVELOPE);
	bpwire_header(buf, 9, 9);
	assert_int_equal(bpwire_judge(buf, sizeof(buf), SELF, MAX, &m),
	    BPWIRE_BAD_ENVELOPE);
	assert_string_equal(bpwire_verdict_name(BPWIRE_BAD_ENVELOPE),
	    "bad envelope");
}

static void
test_publish_format(void **state)
{
	static const char want[] =
	    "*3\r\n$7\r\nPUBLISH\r\n$8\r\nwsd:news\r\n$7\r\nHDhello\r\n";
	uint8_t out[128], big[2048];
	uint8_t *data;
	size_t n;

	(void)state;
	n = bpwire_publish_size(8, 2, 5);
	assert_int_equal(n, sizeof(want) - 1);
	memset(out, 0xee, sizeof(out));
	assert_int_equal(bpwire_publish_format(out, "wsd:news", 8,
	    (const uint8_t *)"HD", 2, "hello", 5), n);
	assert_memory_equal(out, want, n);
	assert_int_equal(out[n], 0xee);		/* nothing written past it */

	/* No header, empty payload. */
	n = bpwire_publish_size(1, 0, 0);
	assert_int_equal(bpwire_publish_format(out, "t", 1, NULL, 0, "", 0),
	    n);
	assert_memory_equal(out, "*3\r\n$7\r\nPUBLISH\r\n$1\r\nt\r\n$0\r\n\r\n",
	    n);

	/* Lengths of several digits are counted right. */
	data = calloc(1, 1000);
	assert_non_null(data);
	n = bpwire_publish_size(10, BPWIRE_HEADER, 1000);
	assert_true(n <= sizeof(big));
	assert_int_equal(bpwire_publish_format(big, "0123456789", 10,
	    (const uint8_t *)"\xffWSD\x01\x02\0\0\0\0\0\0\0\1", BPWIRE_HEADER,
	    data, 1000), n);
	assert_memory_equal(big + 17, "$10\r\n0123456789\r\n$1014\r\n", 24);
	assert_memory_equal(big + n - 2, "\r\n", 2);
	free(data);

	assert_int_equal(bpwire_publish_size(1, SIZE_MAX, 1), 0);
	assert_int_equal(bpwire_publish_size(1, 1, SIZE_MAX - 3), 0);
}

static void
test_addr_ok(void **state)
{
	struct bpwire_addr a;
	const char *why = NULL;

	(void)state;
	assert_int_equal(bpwire_parse_addr("127.0.0.1:6380", &a, &why), 0);
	assert_false(a.unix_path);
	assert_string_equal(a.host, "127.0.0.1");
	assert_int_equal(a.port, 6380);

	assert_int_equal(bpwire_parse_addr("10.1.2.3", &a, &why), 0);
	assert_string_equal(a.host, "10.1.2.3");
	assert_int_equal(a.port, 6379);

	assert_int_equal(bpwire_parse_addr("localhost:1", &a, &why), 0);
	assert_string_equal(a.host, "127.0.0.1");
	assert_int_equal(a.port, 1);

	assert_int_equal(bpwire_parse_addr("[::1]:65535", &a, &why), 0);
	assert_string_equal(a.host, "::1");
	assert_int_equal(a.port, 65535);

	assert_int_equal(bpwire_parse_addr("[fe80::1:2]", &a, &why), 0);
	assert_string_equal(a.host, "fe80::1:2");
	assert_int_equal(a.port, 6379);

	assert_int_equal(bpwire_parse_addr("/run/redis/redis.sock", &a, &why),
	    0);
	assert_true(a.unix_path);
	assert_string_equal(a.path, "/run/redis/redis.sock");
}

static void
test_addr_bad(void **state)
{
	static const char *const bad[] = {
		"", ":6379", "127.0.0.1:", "127.0.0.1:0", "127.0.0.1:65536",
		"127.0.0.1:63790000000000000000", "127.0.0.1:+1",
		"127.0.0.1:6379 ", "127.0.0.1: 6379", "redis.example:6379",
		"redis:6379", "::1", "::1:6379", "[::1", "[::1]6379", "[]:1",
		"[127.0.0.1]:1", "[::1]:", "[::1]:x", "256.0.0.1:1",
		"localhost6:1", "run/redis.sock", "/run/\x01", " 127.0.0.1:1",
	};
	char longpath[BPWIRE_PATH_MAX + 1];
	struct bpwire_addr a;
	const char *why;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		why = NULL;
		if (bpwire_parse_addr(bad[i], &a, &why) != -1)
			fail_msg("accepted '%s'", bad[i]);
		assert_non_null(why);
	}
	memset(longpath, 'a', sizeof(longpath) - 1);
	longpath[0] = '/';
	longpath[sizeof(longpath) - 1] = '\0';
	assert_int_equal(bpwire_parse_addr(longpath, &a, &why), -1);
	assert_string_equal(why, "Unix socket path too long");
	longpath[BPWIRE_PATH_MAX - 1] = '\0';	/* 107 bytes: fits */
	assert_int_equal(bpwire_parse_addr(longpath, &a, &why), 0);

	assert_int_equal(bpwire_parse_addr("::1:6379", &a, &why), -1);
	assert_string_equal(why,
	    "an IPv6 address goes in brackets: [ADDRESS]:PORT");
	assert_int_equal(bpwire_parse_addr("redis:1", &a, &why), -1);
	assert_string_equal(why, "HOST must be a numeric IP address or "
	    "\"localhost\" (no name is looked up)");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_header_bytes),
		cmocka_unit_test(test_round_trip),
		cmocka_unit_test(test_plain),
		cmocka_unit_test(test_limits),
		cmocka_unit_test(test_bad_envelopes),
		cmocka_unit_test(test_publish_format),
		cmocka_unit_test(test_addr_ok),
		cmocka_unit_test(test_addr_bad),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

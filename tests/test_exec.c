/*
 * Unit tests for plugins/exec/execproto.c: cutting output into messages,
 * UTF-8, and the names and values of the child's environment.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "execproto.h"

static void
test_utf8(void **state)
{
	(void)state;
	assert_true(exec_utf8_valid("", 0));
	assert_true(exec_utf8_valid("plain", 5));
	assert_true(exec_utf8_valid("caf\xc3\xa9", 5));
	assert_true(exec_utf8_valid("\xe2\x82\xac", 3));
	assert_true(exec_utf8_valid("\xf0\x9f\x98\x80", 4));
	assert_true(exec_utf8_valid("\xf4\x8f\xbf\xbf", 4));	/* U+10FFFF */
	assert_true(exec_utf8_valid("a\0b", 3));
	assert_false(exec_utf8_valid("\xff", 1));
	assert_false(exec_utf8_valid("\x80", 1));
	assert_false(exec_utf8_valid("\xc3", 1));		/* cut short */
	assert_false(exec_utf8_valid("\xe2\x82", 2));
	assert_false(exec_utf8_valid("\xc0\xaf", 2));		/* overlong */
	assert_false(exec_utf8_valid("\xe0\x80\xaf", 3));
	assert_false(exec_utf8_valid("\xf0\x80\x80\xaf", 4));
	assert_false(exec_utf8_valid("\xed\xa0\x80", 3));	/* surrogate */
	assert_false(exec_utf8_valid("\xf4\x90\x80\x80", 4));	/* > U+10FFFF */
	assert_false(exec_utf8_valid("\xf5\x80\x80\x80", 4));
	assert_false(exec_utf8_valid("\xc3\x28", 2));
}

/* All messages of buf (one per element of want), eof or not. */
static void
expect_lines(const char *buf, size_t max, int eof, const char *const *want,
    size_t nwant, size_t rest)
{
	size_t len = strlen(buf), off = 0, k, m, i = 0;

	while ((k = exec_line_next(buf + off, len - off, max, eof, &m)) > 0) {
		assert_true(i < nwant);
		assert_int_equal(m, strlen(want[i]));
		assert_memory_equal(buf + off, want[i], m);
		assert_true(m <= max);
		off += k;
		i++;
	}
	assert_int_equal(i, nwant);
	assert_int_equal(len - off, rest);
}

static void
test_lines(void **state)
{
	static const char *const ab[] = { "a", "bc" };
	static const char *const empty[] = { "", "" };
	static const char *const abcd[] = { "abcd", "efgh", "ij" };
	static const char *const exact[] = { "abcd", "" };
	static const char *const tail[] = { "x", "yz" };
	size_t m = 99;

	(void)state;
	expect_lines("a\nbc\n", 100, 0, ab, 2, 0);
	expect_lines("\n\n", 100, 0, empty, 2, 0);
	/* An unfinished line waits, unless the output has ended. */
	expect_lines("x\nyz", 100, 0, tail, 1, 2);
	expect_lines("x\nyz", 100, 1, tail, 2, 0);
	/* Longer than max: pieces of max bytes. */
	expect_lines("abcdefghij\n", 4, 0, abcd, 3, 0);
	/* Exactly max bytes and its newline: one message, no empty piece. */
	expect_lines("abcd\n", 4, 0, exact, 1, 0);
	expect_lines("abcd\n\n", 4, 0, exact, 2, 0);
	/* A piece of max bytes with no newline yet waits for one more. */
	expect_lines("abcd", 4, 0, NULL, 0, 4);
	assert_int_equal(exec_line_next("", 0, 4, 1, &m), 0);
	assert_int_equal(m, 99);
}

static void
test_lines_utf8_cut(void **state)
{
	/* "aé€😀" is 1 + 2 + 3 + 4 bytes. */
	const char *s = "a\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80";
	size_t m, k;

	(void)state;
	/* max 2 would split é: the piece is "a". */
	k = exec_line_next(s, 10, 2, 0, &m);
	assert_int_equal(k, 1);
	assert_int_equal(m, 1);
	/* max 4: "aé", then "€" (3), then the emoji (4). */
	k = exec_line_next(s, 10, 4, 0, &m);
	assert_int_equal(m, 3);
	k = exec_line_next(s + 3, 7, 4, 0, &m);
	assert_int_equal(m, 3);
	assert_true(exec_utf8_valid(s + 3, m));
	k = exec_line_next(s + 6, 4, 4, 1, &m);
	assert_int_equal(m, 4);
	/* max 5 ends inside "€": the piece is "aé"; max 6 takes "€" too. */
	k = exec_line_next(s, 10, 5, 0, &m);
	assert_int_equal(m, 3);
	k = exec_line_next(s, 10, 6, 0, &m);
	assert_int_equal(m, 6);
	/* Not UTF-8 anyway: cut at max. */
	k = exec_line_next("\xff\xff\xff\xff\xff\xff", 6, 4, 0, &m);
	assert_int_equal(m, 4);
	/* A character as long as the piece cannot be kept whole: cut. */
	k = exec_line_next("\xf0\x9f\x98\x80\xf0", 5, 3, 0, &m);
	assert_int_equal(m, 3);
	assert_int_equal(k, 3);
}

static void
test_env_names(void **state)
{
	char out[EXEC_ENV_NAME_MAX + 1], big[300];

	(void)state;
	assert_true(exec_env_name_ok("PATH", 4));
	assert_true(exec_env_name_ok("_x1", 3));
	assert_false(exec_env_name_ok("1X", 2));
	assert_false(exec_env_name_ok("", 0));
	assert_false(exec_env_name_ok("A-B", 3));
	assert_false(exec_env_name_ok("A=B", 3));
	assert_true(exec_env_name_ok("A=B", 1));

	assert_int_equal(exec_header_env("User-Agent", out, sizeof(out)), 0);
	assert_string_equal(out, "HTTP_USER_AGENT");
	assert_int_equal(exec_header_env("x-forwarded-for", out, sizeof(out)),
	    0);
	assert_string_equal(out, "HTTP_X_FORWARDED_FOR");
	assert_int_equal(exec_header_env("Sec-WebSocket-Key2", out,
	    sizeof(out)), 0);
	assert_string_equal(out, "HTTP_SEC_WEBSOCKET_KEY2");
	/* Underscores and anything else: the header is skipped. */
	assert_int_equal(exec_header_env("X_Forwarded_For", out, sizeof(out)),
	    -1);
	assert_int_equal(exec_header_env("a.b", out, sizeof(out)), -1);
	assert_int_equal(exec_header_env("a b", out, sizeof(out)), -1);
	assert_int_equal(exec_header_env("", out, sizeof(out)), -1);
	assert_int_equal(exec_header_env("caf\xc3\xa9", out, sizeof(out)), -1);
	memset(big, 'a', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	assert_int_equal(exec_header_env(big, out, sizeof(out)), -1);
	assert_int_equal(exec_header_env("Host", out, 6), -1);
}

static void
test_addr(void **state)
{
	char host[64], port[8];

	(void)state;
	assert_int_equal(exec_split_addr("192.0.2.1:5555", host, sizeof(host),
	    port, sizeof(port)), 0);
	assert_string_equal(host, "192.0.2.1");
	assert_string_equal(port, "5555");
	assert_int_equal(exec_split_addr("[2001:db8::1]:80", host,
	    sizeof(host), port, sizeof(port)), 0);
	assert_string_equal(host, "2001:db8::1");
	assert_string_equal(port, "80");
	assert_int_equal(exec_split_addr("2001:db8::1:80", host, sizeof(host),
	    port, sizeof(port)), -1);
	assert_int_equal(exec_split_addr("[::1]80", host, sizeof(host), port,
	    sizeof(port)), -1);
	assert_int_equal(exec_split_addr("host", host, sizeof(host), port,
	    sizeof(port)), -1);
	assert_int_equal(exec_split_addr(":80", host, sizeof(host), port,
	    sizeof(port)), -1);
	assert_int_equal(exec_split_addr("a:", host, sizeof(host), port,
	    sizeof(port)), -1);
	assert_int_equal(exec_split_addr("a:8x", host, sizeof(host), port,
	    sizeof(port)), -1);
	assert_int_equal(exec_split_addr("a:123456789", host, sizeof(host),
	    port, sizeof(port)), -1);
	assert_int_equal(exec_split_addr("192.0.2.1:1", host, 4, port,
	    sizeof(port)), -1);
}

static void
test_server_name(void **state)
{
	char out[64];

	(void)state;
	assert_int_equal(exec_server_name("example.org:8080", out,
	    sizeof(out)), 0);
	assert_string_equal(out, "example.org");
	assert_int_equal(exec_server_name("example.org", out, sizeof(out)), 0);
	assert_string_equal(out, "example.org");
	assert_int_equal(exec_server_name("[::1]:8888", out, sizeof(out)), 0);
	assert_string_equal(out, "[::1]");
	assert_int_equal(exec_server_name("[::1]", out, sizeof(out)), 0);
	assert_string_equal(out, "[::1]");
	assert_int_equal(exec_server_name("", out, sizeof(out)), -1);
	assert_int_equal(exec_server_name(":80", out, sizeof(out)), -1);
	assert_int_equal(exec_server_name("[::1", out, sizeof(out)), -1);
	assert_int_equal(exec_server_name("[::1]x", out, sizeof(out)), -1);
	assert_int_equal(exec_server_name("[zz]", out, sizeof(out)), -1);
	assert_int_equal(exec_server_name("a b", out, sizeof(out)), -1);
	assert_int_equal(exec_server_name("a/b", out, sizeof(out)), -1);
	assert_int_equal(exec_server_name("example.org", out, 5), -1);
}

static void
test_params(void **state)
{
	char name[16], var[EXEC_ENV_NAME_MAX + 1];
	size_t pos = 0;

	(void)state;
	assert_int_equal(exec_pattern_param("/rooms/:room/log/:day/*", &pos,
	    name, sizeof(name)), 1);
	assert_string_equal(name, "room");
	assert_int_equal(exec_pattern_param("/rooms/:room/log/:day/*", &pos,
	    name, sizeof(name)), 1);
	assert_string_equal(name, "day");
	assert_int_equal(exec_pattern_param("/rooms/:room/log/:day/*", &pos,
	    name, sizeof(name)), 1);
	assert_string_equal(name, "*");
	assert_int_equal(exec_pattern_param("/rooms/:room/log/:day/*", &pos,
	    name, sizeof(name)), 0);
	pos = 0;
	assert_int_equal(exec_pattern_param("/exact/path", &pos, name,
	    sizeof(name)), 0);
	pos = 0;
	/* Too long for the buffer: skipped. */
	assert_int_equal(exec_pattern_param("/:averyveryverylongname/:b", &pos,
	    name, sizeof(name)), 1);
	assert_string_equal(name, "b");
	pos = 0;
	assert_int_equal(exec_pattern_param("/a*/:/x", &pos, name,
	    sizeof(name)), 0);

	assert_int_equal(exec_param_env("room", var, sizeof(var)), 0);
	assert_string_equal(var, "PARAM_room");
	assert_int_equal(exec_param_env("*", var, sizeof(var)), 0);
	assert_string_equal(var, "PATH_REST");
	assert_int_equal(exec_param_env("a-b", var, sizeof(var)), -1);
	assert_int_equal(exec_param_env("room", var, 8), -1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_utf8),
		cmocka_unit_test(test_lines),
		cmocka_unit_test(test_lines_utf8_cut),
		cmocka_unit_test(test_env_names),
		cmocka_unit_test(test_addr),
		cmocka_unit_test(test_server_name),
		cmocka_unit_test(test_params),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

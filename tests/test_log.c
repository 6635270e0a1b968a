/*
 * Unit tests for log_escape: whatever a client sends, the escaped text
 * reads back as exactly those bytes, so a literal "\x0a" cannot pass for
 * an escaped newline.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "log.h"

static void
check(const char *src, size_t len, const char *want)
{
	char dst[128];

	assert_int_equal(log_escape(dst, sizeof(dst), src, len), len);
	assert_string_equal(dst, want);
}

static void
test_plain(void **state)
{
	(void)state;
	check("hello, world", 12, "hello, world");
	check("", 0, "");
}

static void
test_controls(void **state)
{
	(void)state;
	check("a\nb\rc\td", 7, "a\\nb\\rc\\td");
	check("\x00\x1f\x7f\xff", 4, "\\x00\\x1f\\x7f\\xff");
	check("say \"hi\"", 8, "say \\\"hi\\\"");
}

static void
test_backslash(void **state)
{
	(void)state;
	/* The four bytes \x0a and a real newline must read differently. */
	check("\\x0a", 4, "\\\\x0a");
	check("\n", 1, "\\n");
	check("\\", 1, "\\\\");
	check("\\n", 2, "\\\\n");
}

static void
test_truncation(void **state)
{
	char dst[8];

	(void)state;
	/* Room for 3 bytes, "..." and the NUL. */
	assert_int_equal(log_escape(dst, sizeof(dst), "abcdefgh", 8), 4);
	assert_string_equal(dst, "abcd...");
	/* An escape is never cut in half. */
	assert_int_equal(log_escape(dst, sizeof(dst), "ab\\\\cd", 6), 3);
	assert_string_equal(dst, "ab\\\\...");
	assert_int_equal(log_escape(dst, 0, "x", 1), 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_plain),
		cmocka_unit_test(test_controls),
		cmocka_unit_test(test_backslash),
		cmocka_unit_test(test_truncation),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

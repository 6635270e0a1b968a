/*
 * Unit tests for plugins/chat/chatproto.c: names, the query, the JSON.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include <jansson.h>

#include "chatproto.h"

static void
test_names(void **state)
{
	char name[40];

	(void)state;
	assert_true(chat_name_ok("a"));
	assert_true(chat_name_ok("Ann_B.c-9"));
	assert_true(chat_name_ok("..."));
	memset(name, 'x', 32);
	name[32] = '\0';
	assert_true(chat_name_ok(name));
	name[32] = 'x';
	name[33] = '\0';
	assert_false(chat_name_ok(name));
	assert_false(chat_name_ok(NULL));
	assert_false(chat_name_ok(""));
	assert_false(chat_name_ok("ann bob"));
	assert_false(chat_name_ok("ann+bob"));
	assert_false(chat_name_ok("ann/.."));
	assert_false(chat_name_ok("caf\xc3\xa9"));
	assert_false(chat_name_ok("a:b"));
	assert_false(chat_name_ok("a*"));
	assert_false(chat_name_ok("a\x7f"));
}

static void
test_query_has(void **state)
{
	(void)state;
	assert_true(chat_query_has("room=x", "room"));
	assert_true(chat_query_has("nick=a&room=%zz", "room"));
	assert_true(chat_query_has("nick=a&room", "room"));
	assert_true(chat_query_has("room=&nick=a", "room"));
	assert_false(chat_query_has(NULL, "room"));
	assert_false(chat_query_has("", "room"));
	assert_false(chat_query_has("nick=a", "room"));
	assert_false(chat_query_has("rooms=a", "room"));
	assert_false(chat_query_has("xroom=a", "room"));
	assert_false(chat_query_has("nick=room", "room"));
	assert_false(chat_query_has("roo", "room"));
	assert_false(chat_query_has("&&", "room"));
}

/* Parse s as JSON, failing the test if it is not an object. */
static json_t *
parse(const char *s, size_t n)
{
	json_error_t err;
	json_t *v;

	assert_int_equal(strlen(s), n);
	v = json_loadb(s, n, JSON_ALLOW_NUL, &err);
	if (v == NULL)
		fail_msg("not JSON: %s (%s)", s, err.text);
	assert_true(json_is_object(v));
	return v;
}

static void
test_join_leave(void **state)
{
	size_t n;
	char *s;

	(void)state;
	s = chat_event("join", "lobby", "ann", NULL, 0, 5, &n);
	assert_non_null(s);
	assert_string_equal(s, "{\"type\":\"join\",\"room\":\"lobby\","
	    "\"nick\":\"ann\"}");
	assert_int_equal(n, strlen(s));
	free(s);
	s = chat_event("leave", "r.1", "b-b", "ignored", 7, 5, &n);
	assert_non_null(s);
	assert_string_equal(s, "{\"type\":\"leave\",\"room\":\"r.1\","
	    "\"nick\":\"b-b\"}");
	free(s);
}

static void
test_message(void **state)
{
	/* quotes, backslash, controls, a NUL, DEL, two- to four-byte UTF-8 */
	static const char text[] = "a\"b\\c\n\t\x01<x>&\0z\x7f"
	    "\xc3\xa9\xe2\x98\x83\xf0\x9f\x98\x80";
	size_t n, len = sizeof(text) - 1;
	json_t *v, *t;
	char *s;

	(void)state;
	s = chat_event("message", "lobby", "ann", text, len,
	    INT64_C(1700000000123), &n);
	assert_non_null(s);
	assert_null(memchr(s, '\0', n));
	assert_non_null(strstr(s, "\\u0000"));
	v = parse(s, n);
	assert_int_equal(json_object_size(v), 5);
	assert_string_equal(json_string_value(json_object_get(v, "type")),
	    "message");
	assert_string_equal(json_string_value(json_object_get(v, "room")),
	    "lobby");
	assert_string_equal(json_string_value(json_object_get(v, "nick")),
	    "ann");
	t = json_object_get(v, "text");
	assert_true(json_is_string(t));
	assert_int_equal(json_string_length(t), len);
	assert_memory_equal(json_string_value(t), text, len);
	assert_true(json_is_integer(json_object_get(v, "ts")));
	assert_true(json_integer_value(json_object_get(v, "ts")) ==
	    INT64_C(1700000000123));
	/* the keys in the documented order */
	assert_true(strncmp(s, "{\"type\":\"message\",\"room\":\"lobby\","
	    "\"nick\":\"ann\",\"text\":", 48) == 0);
	json_decref(v);
	free(s);

	s = chat_event("message", "lobby", "ann", "", 0, 0, &n);
	assert_non_null(s);
	assert_string_equal(s, "{\"type\":\"message\",\"room\":\"lobby\","
	    "\"nick\":\"ann\",\"text\":\"\",\"ts\":0}");
	free(s);
}

static void
test_invalid_utf8(void **state)
{
	size_t n = 0;

	(void)state;
	/* wsd checks text before the plugin sees it; this must not pass */
	assert_null(chat_event("message", "lobby", "ann", "\xc3(", 2, 1, &n));
	assert_null(chat_event("message", "lobby", "ann", "\xed\xa0\x80", 3,
	    1, &n));
}

static void
test_long_line(void **state)
{
	size_t len = 100000, n;
	char *text = malloc(len), *s;
	json_t *v, *t;

	(void)state;
	assert_non_null(text);
	memset(text, '\x02', len);	/* six bytes each, escaped */
	s = chat_event("message", "r", "n", text, len, 1, &n);
	assert_non_null(s);
	assert_true(n > 6 * len);
	v = parse(s, n);
	t = json_object_get(v, "text");
	assert_int_equal(json_string_length(t), len);
	assert_memory_equal(json_string_value(t), text, len);
	json_decref(v);
	free(s);
	free(text);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_names),
		cmocka_unit_test(test_query_has),
		cmocka_unit_test(test_join_leave),
		cmocka_unit_test(test_message),
		cmocka_unit_test(test_invalid_utf8),
		cmocka_unit_test(test_long_line),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

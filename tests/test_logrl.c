/*
 * Unit tests for the repeated-warning limit (logrl) and the JSON access
 * line (accesslog): what is let through, what is counted and when the
 * count is said; and that every access line parses back as the facts it
 * was made from.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>

#include <cmocka.h>
#include <jansson.h>

#include "accesslog.h"
#include "logrl.h"

struct said {
	int		 n;
	int		 level;
	uint64_t	 count;
	char		 text[LOGRL_TEXT];
};

static void
say(void *arg, int level, uint64_t count, const char *text)
{
	struct said *s = arg;

	s->n++;
	s->level = level;
	s->count = count;
	snprintf(s->text, sizeof(s->text), "%s", text);
}

static void
test_repeats_counted_then_said(void **state)
{
	static struct logrl rl;
	struct said s = { 0 };
	uint64_t t = 5000;
	int i;

	(void)state;
	memset(&rl, 0, sizeof(rl));
	assert_true(logrl_admit(&rl, LOG_WARNING, "accept: EMFILE", t));
	for (i = 0; i < 99; i++)
		assert_false(logrl_admit(&rl, LOG_WARNING, "accept: EMFILE",
		    t + (uint64_t)i));
	/* Another text is another message. */
	assert_true(logrl_admit(&rl, LOG_WARNING, "accept: ENFILE", t + 5));
	/* Within the second nothing is due. */
	assert_int_equal(logrl_due(&rl, t + 999, false, say, &s), 1);
	assert_int_equal(s.n, 0);
	assert_int_equal(logrl_due(&rl, t + 1000, false, say, &s), 0);
	assert_int_equal(s.n, 1);
	assert_int_equal(s.count, 99);
	assert_int_equal(s.level, LOG_WARNING);
	assert_string_equal(s.text, "accept: EMFILE");
	/* Said once only. */
	assert_int_equal(logrl_due(&rl, t + 5000, false, say, &s), 0);
	assert_int_equal(s.n, 1);
	/* After the second, the next one goes through again. */
	assert_true(logrl_admit(&rl, LOG_WARNING, "accept: EMFILE", t + 1000));
}

static void
test_different_messages_and_levels(void **state)
{
	static struct logrl rl;
	uint64_t t = 1;

	(void)state;
	memset(&rl, 0, sizeof(rl));
	assert_true(logrl_admit(&rl, LOG_WARNING, "plugin a failed", t));
	assert_true(logrl_admit(&rl, LOG_WARNING, "plugin b failed", t));
	assert_true(logrl_admit(&rl, LOG_ERR, "plugin a failed", t));
	assert_false(logrl_admit(&rl, LOG_ERR, "plugin a failed", t));
	/* Errors that differ in a line number are not repeats. */
	assert_true(logrl_admit(&rl, LOG_ERR, "wsd.conf:3: unknown key", t));
	assert_true(logrl_admit(&rl, LOG_ERR, "wsd.conf:4: unknown key", t));
	assert_int_not_equal(logrl_key(LOG_ERR, "x 1"),
	    logrl_key(LOG_ERR, "x 12"));
}

static void
test_force_and_many_messages(void **state)
{
	static struct logrl rl;
	struct said s = { 0 };
	char msg[64];
	int i;

	(void)state;
	memset(&rl, 0, sizeof(rl));
	assert_true(logrl_admit(&rl, LOG_ERR, "kept", 10));
	assert_false(logrl_admit(&rl, LOG_ERR, "kept", 11));
	/* More distinct messages than slots: the one with a count waiting
	   is not the one given up. */
	for (i = 0; i < 2 * LOGRL_SLOTS; i++) {
		snprintf(msg, sizeof(msg), "message %c%c", 'a' + i % 26,
		    'a' + i / 26);
		assert_true(logrl_admit(&rl, LOG_ERR, msg, 12));
	}
	assert_int_equal(logrl_due(&rl, 13, true, say, &s), 0);
	assert_int_equal(s.n, 1);
	assert_int_equal(s.count, 1);
	assert_string_equal(s.text, "kept");
}

static json_t *
parse(const struct access_rec *r)
{
	json_error_t err;
	size_t len;
	char *line = access_json(r, &len);
	json_t *j;

	assert_non_null(line);
	assert_int_equal(strlen(line), len);
	assert_int_equal(line[len - 1], '\n');
	assert_null(memchr(line, '\n', len - 1));
	j = json_loads(line, 0, &err);
	assert_non_null(j);
	free(line);
	return j;
}

static void
test_access_json_upgraded(void **state)
{
	struct access_rec r = { 0 };
	json_t *j;

	(void)state;
	r.time_ms = 1765000000123ULL;
	r.id = 42;
	r.remote = "127.0.0.1:5555";
	r.request = "GET /echo?x=\\\"1\\\"";
	r.status = 101;
	r.route = "/echo";
	r.subprotocol = "chat";
	r.worker = 1;
	r.tls = "TLSv1.3";
	r.duration_ms = 1234;
	r.msgs_in = 3;
	r.bytes_in = 30;
	r.msgs_out = 4;
	r.bytes_out = 40;
	r.close_code = 1000;
	r.close_reason = "bye \xc3\xa9";
	j = parse(&r);
	assert_string_equal(json_string_value(json_object_get(j, "time")),
	    "2025-12-06T05:46:40.123Z");
	assert_int_equal(json_integer_value(json_object_get(j, "id")), 42);
	assert_string_equal(json_string_value(json_object_get(j, "remote")),
	    "127.0.0.1:5555");
	assert_null(json_object_get(j, "peer"));
	assert_string_equal(json_string_value(json_object_get(j, "request")),
	    "GET /echo?x=\\\"1\\\"");
	assert_int_equal(json_integer_value(json_object_get(j, "status")), 101);
	assert_string_equal(json_string_value(json_object_get(j, "route")),
	    "/echo");
	assert_string_equal(json_string_value(json_object_get(j,
	    "subprotocol")), "chat");
	assert_int_equal(json_integer_value(json_object_get(j, "worker")), 1);
	assert_string_equal(json_string_value(json_object_get(j, "tls")),
	    "TLSv1.3");
	assert_int_equal(json_integer_value(json_object_get(j,
	    "duration_ms")), 1234);
	assert_int_equal(json_integer_value(json_object_get(j,
	    "messages_in")), 3);
	assert_int_equal(json_integer_value(json_object_get(j,
	    "bytes_out")), 40);
	assert_int_equal(json_integer_value(json_object_get(j,
	    "close_code")), 1000);
	assert_string_equal(json_string_value(json_object_get(j,
	    "close_reason")), "bye \xc3\xa9");
	json_decref(j);
}

static void
test_access_json_refused_and_bad_utf8(void **state)
{
	struct access_rec r = { 0 };
	json_t *j;

	(void)state;
	r.remote = "[::1]:1";
	r.peer = "127.0.0.1:9";
	r.request = NULL;
	r.status = 404;
	r.worker = -1;
	r.subprotocol = "\xff\xfe";
	j = parse(&r);
	assert_true(json_is_null(json_object_get(j, "request")));
	assert_true(json_is_null(json_object_get(j, "route")));
	assert_true(json_is_null(json_object_get(j, "worker")));
	assert_true(json_is_null(json_object_get(j, "tls")));
	assert_string_equal(json_string_value(json_object_get(j, "peer")),
	    "127.0.0.1:9");
	/* Not UTF-8: escaped, still a string. */
	assert_string_equal(json_string_value(json_object_get(j,
	    "subprotocol")), "\\xff\\xfe");
	/* No close fields without an upgrade. */
	assert_null(json_object_get(j, "close_code"));
	assert_null(json_object_get(j, "bytes_in"));
	json_decref(j);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_repeats_counted_then_said),
		cmocka_unit_test(test_different_messages_and_levels),
		cmocka_unit_test(test_force_and_many_messages),
		cmocka_unit_test(test_access_json_upgraded),
		cmocka_unit_test(test_access_json_refused_and_bad_utf8),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

/*
 * Unit tests for src/metrics.c: rendering, label escaping, close code
 * classes, plugin metrics, and the merge of several workers' texts.
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "metrics.h"

static int
teardown(void **state)
{
	(void)state;
	metrics_free();
	memset(&metrics, 0, sizeof(metrics));
	return 0;
}

/* The text of b has line `line` (whole). */
static int
has_line(const struct mbuf *b, const char *line)
{
	const char *p = b->p;
	size_t n = strlen(line);

	while (p != NULL && (p = strstr(p, line)) != NULL) {
		if ((p == b->p || p[-1] == '\n') && (p[n] == '\n' ||
		    p[n] == '\0'))
			return 1;
		p += n;
	}
	return 0;
}

#define assert_line(b, l) do {						\
	if (!has_line((b), (l)))					\
		fail_msg("no line \"%s\" in:\n%s", (l), (b)->p);	\
} while (0)

static size_t
count(const char *hay, const char *needle)
{
	size_t n = 0;

	while ((hay = strstr(hay, needle)) != NULL) {
		n++;
		hay += strlen(needle);
	}
	return n;
}

static void
test_escape(void **state)
{
	struct mbuf b = { NULL, 0, 0, false };

	(void)state;
	metrics_escape(&b, "a\"b\\c\nd", true);
	assert_string_equal(b.p, "a\\\"b\\\\c\\nd");
	mbuf_free(&b);
	/* HELP text keeps its quotes. */
	metrics_escape(&b, "say \"hi\"\\", false);
	assert_string_equal(b.p, "say \"hi\"\\\\");
	mbuf_free(&b);
}

static void
test_values(void **state)
{
	struct mbuf b = { NULL, 0, 0, false };

	(void)state;
	metrics_value(&b, 0);
	mbuf_add(&b, " ", 1);
	metrics_value(&b, 12345678901.0);
	mbuf_add(&b, " ", 1);
	metrics_value(&b, 0.5);
	mbuf_add(&b, " ", 1);
	metrics_value(&b, 0.1);
	mbuf_add(&b, " ", 1);
	metrics_value(&b, INFINITY);
	mbuf_add(&b, " ", 1);
	metrics_value(&b, -INFINITY);
	mbuf_add(&b, " ", 1);
	metrics_value(&b, NAN);
	assert_string_equal(b.p, "0 12345678901 0.5 0.1 +Inf -Inf NaN");
	mbuf_free(&b);
}

static void
test_close_classes(void **state)
{
	(void)state;
	assert_string_equal(metrics_close_label(metrics_close_class(1000)),
	    "1000");
	assert_string_equal(metrics_close_label(metrics_close_class(1015)),
	    "1015");
	assert_string_equal(metrics_close_label(metrics_close_class(1016)),
	    "other");
	assert_string_equal(metrics_close_label(metrics_close_class(3000)),
	    "3xxx");
	assert_string_equal(metrics_close_label(metrics_close_class(4999)),
	    "4xxx");
	assert_string_equal(metrics_close_label(metrics_close_class(5000)),
	    "other");
	assert_string_equal(metrics_close_label(metrics_close_class(-1)),
	    "other");
	assert_string_equal(metrics_close_label(metrics_close_class(999)),
	    "other");
}

static void
test_render_routes(void **state)
{
	struct metrics_sys sys;
	struct route_metrics *a, *q;
	struct mbuf b = { NULL, 0, 0, false };

	(void)state;
	memset(&sys, 0, sizeof(sys));
	a = metrics_route("/a");
	assert_ptr_equal(metrics_route("/a"), a);	/* kept by path */
	q = metrics_route("/q\"uote\\d");
	assert_non_null(q);
	a->open = 3;
	a->opened = 5;
	metrics_closed(a, 1000);
	metrics_closed(a, 1000);
	metrics_closed(a, 4001);
	a->msgs_in = 7;
	metrics_http(a, 403);
	metrics_http(NULL, 404);
	metrics_http(a, 101);		/* not an error: not counted */
	metrics.refused[MREF_LIMIT] = 2;
	metrics_render(&b, &sys);
	assert_false(b.failed);
	assert_line(&b, "wsd_connections{route=\"/a\"} 3");
	assert_line(&b, "wsd_connections_opened_total{route=\"/a\"} 5");
	assert_line(&b, "wsd_connections_closed_total{route=\"/a\","
	    "code=\"1000\"} 2");
	assert_line(&b, "wsd_connections_closed_total{route=\"/a\","
	    "code=\"4xxx\"} 1");
	assert_line(&b, "wsd_messages_received_total{route=\"/a\"} 7");
	assert_line(&b, "wsd_handshakes_refused_total{route=\"/a\","
	    "status=\"403\"} 1");
	assert_line(&b, "wsd_http_responses_total{status=\"403\"} 1");
	assert_line(&b, "wsd_http_responses_total{status=\"404\"} 1");
	assert_int_equal(count(b.p, "status=\"101\""), 0);
	assert_line(&b, "wsd_connections_refused_total{reason=\"limit\"} 2");
	/* A path's quote and backslash are escaped in the label. */
	assert_line(&b, "wsd_connections{route=\"/q\\\"uote\\\\d\"} 0");
	/* Each family once, its HELP before its TYPE. */
	assert_int_equal(count(b.p, "# TYPE wsd_connections gauge\n"), 1);
	assert_int_equal(count(b.p, "# TYPE wsd_connections_closed_total "
	    "counter\n"), 1);
	/* Callback timing only when a listener exists. */
	assert_int_equal(count(b.p, "wsd_plugin_callback_seconds_total"), 0);
	mbuf_free(&b);

	metrics.enabled = true;
	a->cb_calls[MCB_MESSAGE] = 4;
	a->cb_ns[MCB_MESSAGE] = 1500000000;
	metrics_render(&b, &sys);
	assert_line(&b, "wsd_plugin_callback_seconds_total{route=\"/a\","
	    "callback=\"message\"} 1.5");
	assert_line(&b, "wsd_plugin_callbacks_total{route=\"/a\","
	    "callback=\"message\"} 4");
	mbuf_free(&b);
}

static void
test_plugin_metrics(void **state)
{
	struct route_metrics *a = metrics_route("/a"), *c = metrics_route("/c");
	struct wsd_metric *m, *g, *m2;
	struct metrics_sys sys;
	struct mbuf b = { NULL, 0, 0, false };
	const char *why = NULL;

	(void)state;
	memset(&sys, 0, sizeof(sys));
	assert_null(metrics_plugin(a, MT_COUNTER, "hits", "h", &why));
	assert_non_null(strstr(why, "_total"));
	assert_null(metrics_plugin(a, MT_GAUGE, "hits_total", "h", &why));
	assert_null(metrics_plugin(a, MT_COUNTER, "a:b_total", "h", &why));
	assert_null(metrics_plugin(a, MT_COUNTER, "1a_total", "h", &why));
	assert_null(metrics_plugin(a, MT_COUNTER, "", "h", &why));
	assert_false(metrics_name_ok("a-b"));
	assert_true(metrics_name_ok("_a9"));

	assert_non_null(m = metrics_plugin(a, MT_COUNTER, "hits_total",
	    "Hits \"seen\".\nTwo lines.", &why));
	metrics_plugin_add(m, 2);
	metrics_plugin_add(m, -1);	/* ignored: a counter */
	metrics_plugin_set(m, 9);	/* ignored: a counter */
	metrics_plugin_add(m, NAN);	/* ignored */
	assert_true(metrics_plugin_value(m) == 2);
	/* The same path and name: the same series, its value goes on. */
	assert_non_null(m2 = metrics_plugin(metrics_route("/a"), MT_COUNTER,
	    "hits_total", "other help", &why));
	assert_ptr_equal(m, m2);
	/* The other type under that name: refused, on any route. */
	assert_null(metrics_plugin(c, MT_GAUGE, "hits_total", "", &why));
	assert_non_null(g = metrics_plugin(c, MT_GAUGE, "level", NULL, &why));
	metrics_plugin_set(g, 2.5);
	metrics_plugin_add(g, -3);
	metrics_render(&b, &sys);
	assert_line(&b, "# HELP wsd_plugin_hits_total Hits \"seen\".\\nTwo "
	    "lines.");
	assert_line(&b, "# TYPE wsd_plugin_hits_total counter");
	assert_line(&b, "wsd_plugin_hits_total{route=\"/a\"} 2");
	assert_line(&b, "# TYPE wsd_plugin_level gauge");
	assert_line(&b, "wsd_plugin_level{route=\"/c\"} -0.5");
	mbuf_free(&b);
}

static void
test_merge(void **state)
{
	static const char w0[] =
	    "# HELP x_total X.\n"
	    "# TYPE x_total counter\n"
	    "x_total{route=\"/a\"} 1\n"
	    "x_total{route=\"/b c\"} 2\n"
	    "# HELP g A gauge.\n"
	    "# TYPE g gauge\n"
	    "g 0.25\n";
	static const char w1[] =
	    "# HELP x_total X, said otherwise.\n"
	    "# TYPE x_total counter\n"
	    "x_total{route=\"/a\"} 10\n"
	    "x_total{route=\"/z\"} 5\n"
	    "# HELP only1 Only in one.\n"
	    "# TYPE only1 gauge\n"
	    "only1{worker=\"1\"} 1\n"
	    "# a comment\n"
	    "\n"
	    "g 0.5\n"
	    "bad line without value\n"
	    "g{x=\"y\"} +Inf";		/* no newline at the end */
	struct metrics_merge *mm;
	struct mbuf b = { NULL, 0, 0, false };

	(void)state;
	assert_non_null(mm = metrics_merge_new());
	assert_int_equal(metrics_merge_add(mm, w0, strlen(w0)), 0);
	assert_int_equal(metrics_merge_add(mm, w1, strlen(w1)), 0);
	metrics_merge_render(mm, &b);
	assert_false(b.failed);
	assert_string_equal(b.p,
	    "# HELP x_total X.\n"
	    "# TYPE x_total counter\n"
	    "x_total{route=\"/a\"} 11\n"
	    "x_total{route=\"/b c\"} 2\n"
	    "x_total{route=\"/z\"} 5\n"
	    "# HELP g A gauge.\n"
	    "# TYPE g gauge\n"
	    "g 0.75\n"
	    "g{x=\"y\"} +Inf\n"
	    "# HELP only1 Only in one.\n"
	    "# TYPE only1 gauge\n"
	    "only1{worker=\"1\"} 1\n");
	mbuf_free(&b);
	metrics_merge_free(mm);

	/* Merging a text with itself doubles every value. */
	assert_non_null(mm = metrics_merge_new());
	assert_int_equal(metrics_merge_add(mm, w0, strlen(w0)), 0);
	assert_int_equal(metrics_merge_add(mm, w0, strlen(w0)), 0);
	metrics_merge_render(mm, &b);
	assert_line(&b, "x_total{route=\"/b c\"} 4");
	assert_line(&b, "g 0.5");
	mbuf_free(&b);
	metrics_merge_free(mm);
}

/*
 * A family's lines stay together and in place: a sample only joins the
 * family just described when its name is that one's plus a suffix, and
 * lines that are not samples (bad names, unbalanced labels) are dropped;
 * so merging a merged text changes nothing (found by fuzz_metrics).
 */
static void
test_merge_families(void **state)
{
	static const char t[] =
	    "# TYPE h histogram\n"
	    "h_bucket{le=\"+Inf\"} 1\n"
	    "foo 2\n"
	    "h_sum 3\n"
	    "hx 4\n"
	    "9bad 1\n"
	    "a b 1\n"
	    "x{ 1\n"
	    "# TYPE 1x gauge\n";
	struct metrics_merge *mm;
	struct mbuf b = { NULL, 0, 0, false }, b2 = { NULL, 0, 0, false };

	(void)state;
	assert_non_null(mm = metrics_merge_new());
	assert_int_equal(metrics_merge_add(mm, t, strlen(t)), 0);
	metrics_merge_render(mm, &b);
	metrics_merge_free(mm);
	assert_string_equal(b.p,
	    "# TYPE h histogram\n"
	    "h_bucket{le=\"+Inf\"} 1\n"
	    "foo 2\n"
	    "h_sum 3\n"
	    "hx 4\n");
	assert_non_null(mm = metrics_merge_new());
	assert_int_equal(metrics_merge_add(mm, b.p, b.len), 0);
	metrics_merge_render(mm, &b2);
	metrics_merge_free(mm);
	assert_string_equal(b2.p, b.p);
	mbuf_free(&b);
	mbuf_free(&b2);
}

/* A worker's real text, merged with itself: every count doubles. */
static void
test_merge_rendered(void **state)
{
	struct route_metrics *a = metrics_route("/a");
	struct metrics_sys sys;
	struct metrics_merge *mm;
	struct mbuf t = { NULL, 0, 0, false }, b = { NULL, 0, 0, false };
	size_t i;

	(void)state;
	memset(&sys, 0, sizeof(sys));
	sys.open_fds = 7;
	a->opened = 3;
	metrics_closed(a, 1001);
	metrics_render(&t, &sys);
	assert_non_null(mm = metrics_merge_new());
	for (i = 0; i < 3; i++)
		assert_int_equal(metrics_merge_add(mm, t.p, t.len), 0);
	metrics_merge_render(mm, &b);
	assert_line(&b, "wsd_connections_opened_total{route=\"/a\"} 9");
	assert_line(&b, "wsd_connections_closed_total{route=\"/a\","
	    "code=\"1001\"} 3");
	assert_line(&b, "process_open_fds 21");
	assert_int_equal(count(b.p, "# TYPE process_open_fds gauge\n"), 1);
	mbuf_free(&t);
	mbuf_free(&b);
	metrics_merge_free(mm);
}

static void
test_daemon(void **state)
{
	struct metrics_daemon d;
	struct mbuf b = { NULL, 0, 0, false };

	(void)state;
	memset(&d, 0, sizeof(d));
	d.version = "1.2.3";
	d.abi_major = 1;
	d.abi_minor = 5;
	d.workers = 2;
	d.missing = 1;
	d.reloads_ok = 3;
	d.reloads_failed = 1;
	d.last_reload = 1700000000.5;
	metrics_render_daemon(&b, &d);
	assert_line(&b, "wsd_build_info{version=\"1.2.3\",abi=\"1.5\"} 1");
	assert_line(&b, "wsd_workers 2");
	assert_line(&b, "wsd_scrape_workers_missing 1");
	assert_line(&b, "wsd_config_reloads_total{result=\"ok\"} 3");
	assert_line(&b, "wsd_config_reloads_total{result=\"failed\"} 1");
	assert_line(&b, "wsd_config_last_reload_successful 0");
	assert_line(&b, "wsd_config_last_reload_timestamp_seconds "
	    "1700000000.5");
	mbuf_free(&b);
}

int
main(void)
{
#define T(f)	cmocka_unit_test_teardown(f, teardown)
	const struct CMUnitTest tests[] = {
		T(test_escape),
		T(test_values),
		T(test_close_classes),
		T(test_render_routes),
		T(test_plugin_metrics),
		T(test_merge),
		T(test_merge_families),
		T(test_merge_rendered),
		T(test_daemon),
	};
#undef T

	return cmocka_run_group_tests(tests, NULL, NULL);
}

/*
 * The clock plugin's unit tests, on the plugin test kit: the built
 * clock.so in a fake host whose clock is also the plugin's time of day
 * (wsdt_fake_wall_clock), so every tick's time is known exactly.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include <wsd/plugin-test.h>

#ifndef PLUGIN_BUILD_DIR
#define PLUGIN_BUILD_DIR "plugins/.libs"
#endif

/* 2023-11-14 22:13:20.000 UTC: on a boundary of every interval used. */
#define EPOCH_MS	1700000000000LL

struct fixture {
	struct wsdt			*k;
	const struct wsd_plugin		*p;
};

static int
setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	assert_non_null(f->k = wsdt_new());
	f->p = wsdt_load(f->k, PLUGIN_BUILD_DIR "/clock.so");
	if (f->p == NULL)
		fail_msg("%s", wsdt_error(f->k));
	wsdt_fake_wall_clock(f->k, EPOCH_MS);
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fixture *f = *state;

	wsdt_free(f->k);
	free(f);
	return 0;
}

static struct wsdt_route *
route(struct fixture *f, const char *settings)
{
	struct wsdt_route *r = wsdt_route(f->k, f->p, "/clock", settings);

	if (r == NULL)
		fail_msg("%s", wsdt_error(f->k));
	return r;
}

static void
test_defaults(void **state)
{
	struct fixture *f = *state;
	struct wsdt_route *r = route(f, NULL);

	wsdt_expect_route_ok(r);
	/* One timer, for the next whole second. */
	assert_int_equal(wsdt_timers(f->k), 1);
	assert_int_equal(wsdt_next_timer(f->k), 1000);
	wsdt_expect_no_misuse(f->k);
}

static void
test_open_sends_the_time(void **state)
{
	struct fixture *f = *state;
	struct wsdt_conn *c;

	route(f, "utc = true;");
	assert_non_null(c = wsdt_connect(wsdt_route(f->k, f->p, "/c2",
	    "utc = true; format = \"%H:%M:%S.%L\";"), "/c2"));
	wsdt_expect_sent_text(c, "22:13:20.000");
	wsdt_expect_nothing_sent(c);
}

static void
test_ticks_on_each_interval(void **state)
{
	struct fixture *f = *state;
	struct wsdt_route *r = route(f, "utc = true; interval_ms = 250;");
	struct wsdt_conn *c = wsdt_connect(r, "/clock");

	assert_non_null(c);
	wsdt_expect_sent_text(c, "2023-11-14 22:13:20.000000");
	/* Nothing before the interval is over. */
	assert_int_equal(wsdt_advance(f->k, 249), 0);
	wsdt_expect_nothing_sent(c);
	assert_int_equal(wsdt_advance(f->k, 1), 1);
	wsdt_expect_sent_text(c, "2023-11-14 22:13:20.250000");
	/* A long jump: every tick on its own boundary, none skipped. */
	assert_int_equal(wsdt_advance(f->k, 1000), 4);
	wsdt_expect_sent_text(c, "2023-11-14 22:13:20.500000");
	wsdt_expect_sent_text(c, "2023-11-14 22:13:20.750000");
	wsdt_expect_sent_text(c, "2023-11-14 22:13:21.000000");
	wsdt_expect_sent_text(c, "2023-11-14 22:13:21.250000");
	wsdt_expect_nothing_sent(c);
	/* One broadcast per tick, one timer however many ticks. */
	assert_int_equal(wsdt_broadcasts(r), 5);
	assert_int_equal(wsdt_timers(f->k), 1);
	wsdt_expect_no_misuse(f->k);
}

static void
test_broadcast_reaches_every_client(void **state)
{
	struct fixture *f = *state;
	struct wsdt_route *r = route(f, "utc = true; format = \"%S\";");
	struct wsdt_conn *a = wsdt_connect(r, "/clock");
	struct wsdt_conn *b = wsdt_connect(r, "/clock");

	assert_non_null(a);
	assert_non_null(b);
	wsdt_expect_sent_text(a, "20");
	wsdt_expect_sent_text(b, "20");
	assert_int_equal(wsdt_advance(f->k, 1000), 1);
	wsdt_expect_sent_text(a, "21");
	wsdt_expect_sent_text(b, "21");
	assert_int_equal(wsdt_broadcasts(r), 1);
	assert_string_equal(wsdt_broadcast_at(r, 0)->text, "21");
}

static void
test_json_format(void **state)
{
	struct fixture *f = *state;
	struct wsdt_conn *c = wsdt_connect(route(f, "format = \"json\"; "
	    "utc = true;"), "/clock");

	assert_non_null(c);
	wsdt_expect_sent_text(c, "{\"time\":\"2023-11-14 22:13:20.000000\","
	    "\"epoch_ms\":1700000000000}");
	wsdt_advance(f->k, 1000);
	wsdt_expect_sent_text(c, "{\"time\":\"2023-11-14 22:13:21.000000\","
	    "\"epoch_ms\":1700000001000}");
}

static void
test_reply_setting(void **state)
{
	struct fixture *f = *state;
	struct wsdt_conn *quiet, *chatty;

	quiet = wsdt_connect(route(f, "utc = true; format = \"%S\";"),
	    "/clock");
	chatty = wsdt_connect(wsdt_route(f->k, f->p, "/reply",
	    "utc = true; format = \"%S.%L\"; reply = true;"), "/reply");
	assert_non_null(quiet);
	assert_non_null(chatty);
	assert_non_null(wsdt_pop(quiet));
	assert_non_null(wsdt_pop(chatty));
	wsdt_advance(f->k, 123);
	assert_int_equal(wsdt_client_text(quiet, "time?"), 0);
	wsdt_expect_nothing_sent(quiet);
	assert_int_equal(wsdt_client_text(chatty, "time?"), 0);
	wsdt_expect_sent_text(chatty, "20.123");
}

static void
test_stops_at_close(void **state)
{
	struct fixture *f = *state;
	struct wsdt_route *r = route(f, "utc = true;");
	struct wsdt_conn *a = wsdt_connect(r, "/clock");
	struct wsdt_conn *b = wsdt_connect(r, "/clock");
	int code;

	assert_non_null(a);
	assert_non_null(b);
	assert_int_equal(wsdt_client_close(a, 1000, "bye"), 0);
	assert_int_equal(wsdt_state(a), WSDT_CLOSED);
	assert_true(wsdt_close_seen(a, &code, NULL));
	assert_int_equal(code, 1000);
	assert_int_equal(wsdt_route_clients(r), 1);
	wsdt_advance(f->k, 3000);
	/* a heard only its greeting; b every tick. */
	assert_int_equal(wsdt_sent_total(a), 1);
	assert_int_equal(wsdt_sent_total(b), 4);
	/* With nobody left, ticks format nothing and broadcast nothing. */
	assert_int_equal(wsdt_client_leave(b), 0);
	assert_int_equal(wsdt_route_clients(r), 0);
	wsdt_advance(f->k, 5000);
	assert_int_equal(wsdt_broadcasts(r), 3);
	assert_int_equal(wsdt_sent_total(b), 4);
	/* The timer goes on, for the next client. */
	assert_int_equal(wsdt_timers(f->k), 1);
	/* Gone for wsd_conn_find() too. */
	assert_null(wsdt_host(f->k)->conn_find(wsdt_route_handle(r),
	    wsdt_id(a)));
}

static void
test_bad_settings(void **state)
{
	struct fixture *f = *state;
	struct wsdt_route *r;

	r = route(f, "interval_ms = 5;");
	assert_int_equal(wsdt_route_init_rc(r), -1);
	wsdt_expect_route_error(r, "settings:1: route /clock: setting "
	    "'interval_ms': must be between 10 and 86400000");
	assert_null(wsdt_conn(r, "/clock"));

	r = route(f, "interval_ms = \"fast\";");
	assert_int_equal(wsdt_route_init_rc(r), -1);
	wsdt_expect_route_error(r, "setting 'interval_ms' must be an integer");

	r = route(f, "utc = 1;");
	assert_int_equal(wsdt_route_init_rc(r), -1);
	wsdt_expect_route_error(r, "setting 'utc' must be true or false");

	r = route(f, "format = \"\";");
	assert_int_equal(wsdt_route_init_rc(r), -1);
	wsdt_expect_route_error(r, "setting 'format': gives an empty");

	/* init is content; wsd would still refuse the typo. */
	r = route(f, "settings = {\n  utc = true;\n  intervall_ms = 10;\n};");
	assert_int_equal(wsdt_route_init_rc(r), 0);
	assert_false(wsdt_route_ok(r));
	wsdt_expect_route_error(r, "settings:3: route /clock: unknown setting "
	    "'intervall_ms' for plugin clock");
	assert_int_equal(wsdt_route_nerrors(r), 1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_defaults, setup, teardown),
		cmocka_unit_test_setup_teardown(test_open_sends_the_time,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_ticks_on_each_interval,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_broadcast_reaches_every_client, setup, teardown),
		cmocka_unit_test_setup_teardown(test_json_format, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_reply_setting, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_stops_at_close, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_bad_settings, setup,
		    teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

/*
 * Unit tests of the hello plugin, without wsd: the plugin test kit
 * (package wsd-dev, pkg-config wsd-plugin-test) loads ./hello.so into a
 * fake host and plays its clients.
 *
 *   make check
 *
 * or by hand:
 *
 *   cc $(pkg-config --cflags wsd-plugin-test cmocka) -o test_hello \
 *       test_hello.c $(pkg-config --libs wsd-plugin-test cmocka)
 *   ./test_hello
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <stdlib.h>
#include <cmocka.h>

#include <wsd/plugin-test.h>

static const struct wsd_plugin *hello;

/* One fresh kit (fake host) per test; the plugin is loaded once per kit. */
static int
setup(void **state)
{
	struct wsdt *k = wsdt_new();

	assert_non_null(k);
	if ((hello = wsdt_load(k, "./hello.so")) == NULL)
		fail_msg("%s", wsdt_error(k));
	*state = k;
	return 0;
}

static int
teardown(void **state)
{
	wsdt_free(*state);	/* closes the clients, runs fini */
	return 0;
}

static void
test_greets_by_name(void **state)
{
	struct wsdt *k = *state;
	struct wsdt_route *r = wsdt_route(k, hello, "/hello", NULL);
	struct wsdt_conn *ann, *anon;

	wsdt_expect_route_ok(r);
	assert_non_null(ann = wsdt_connect(r, "/hello?name=ann"));
	wsdt_expect_sent_text(ann, "Hello, ann!");
	assert_non_null(anon = wsdt_connect(r, "/hello"));
	wsdt_expect_sent_text(anon, "Hello, stranger!");
}

static void
test_greeting_setting(void **state)
{
	struct wsdt *k = *state;
	struct wsdt_route *r = wsdt_route(k, hello, "/hello",
	    "greeting = \"Hi\";");
	struct wsdt_conn *c = wsdt_connect(r, "/hello?name=J%C3%BCrgen");

	assert_non_null(c);
	wsdt_expect_sent_text(c, "Hi, J\xc3\xbcrgen!");
}

static void
test_bad_greeting(void **state)
{
	struct wsdt *k = *state;
	struct wsdt_route *r;

	r = wsdt_route(k, hello, "/hello", "greeting = \"\";");
	assert_int_equal(wsdt_route_init_rc(r), -1);
	wsdt_expect_route_error(r, "setting 'greeting': must be 1 to 64");
	r = wsdt_route(k, hello, "/hello", "greeting = 7;");
	assert_int_equal(wsdt_route_init_rc(r), -1);
	wsdt_expect_route_error(r, "setting 'greeting' must be a string");
}

static void
test_not_utf8_name(void **state)
{
	struct wsdt *k = *state;
	struct wsdt_conn *c;

	/* wsd refuses text that is not UTF-8: hello greets without it. */
	c = wsdt_connect(wsdt_route(k, hello, "/hello", NULL),
	    "/hello?name=%FF");
	assert_non_null(c);
	wsdt_expect_sent_text(c, "Hello, stranger!");
}

static void
test_upper_cases_text_echoes_binary(void **state)
{
	struct wsdt *k = *state;
	struct wsdt_conn *c = wsdt_connect(wsdt_route(k, hello, "/hello",
	    NULL), "/hello");
	static const unsigned char bytes[] = { 'a', 0, 0xff };

	assert_non_null(c);
	assert_non_null(wsdt_pop(c));		/* the greeting */
	assert_int_equal(wsdt_client_text(c, "quiet please"), 0);
	wsdt_expect_sent_text(c, "QUIET PLEASE");
	assert_int_equal(wsdt_client_binary(c, bytes, sizeof(bytes)), 0);
	wsdt_expect_sent_binary(c, bytes, sizeof(bytes));
	wsdt_expect_nothing_sent(c);
}

static void
test_logs_the_count_at_close(void **state)
{
	struct wsdt *k = *state;
	struct wsdt_conn *c = wsdt_connect(wsdt_route(k, hello, "/hello",
	    NULL), "/hello");

	assert_non_null(c);
	assert_int_equal(wsdt_client_text(c, "one"), 0);
	assert_int_equal(wsdt_client_text(c, "two"), 0);
	assert_int_equal(wsdt_client_close(c, 1000, ""), 0);
	wsdt_expect_log(k, WSD_LOG_INFO,
	    "hello: conn 1 closed with code 1000 after 2 messages");
	wsdt_expect_no_misuse(k);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_greets_by_name, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_greeting_setting, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_bad_greeting, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_not_utf8_name, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(
		    test_upper_cases_text_echoes_binary, setup, teardown),
		cmocka_unit_test_setup_teardown(test_logs_the_count_at_close,
		    setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

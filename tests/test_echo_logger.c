/*
 * The echo-logger plugin's unit tests, on the plugin test kit: the built
 * echo-logger.so in a fake host.  What it echoes, what it logs through
 * wsd (escaped, truncated, as JSON), its log file and SIGUSR1 reopen,
 * its settings, and what it does when a client stops reading.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include <wsd/plugin-test.h>

#ifndef PLUGIN_BUILD_DIR
#define PLUGIN_BUILD_DIR "plugins/.libs"
#endif

struct fixture {
	struct wsdt			*k;
	const struct wsd_plugin		*p;
	char				 dir[64];
};

static int
setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	assert_non_null(f->k = wsdt_new());
	f->p = wsdt_load(f->k, PLUGIN_BUILD_DIR "/echo-logger.so");
	if (f->p == NULL)
		fail_msg("%s", wsdt_error(f->k));
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fixture *f = *state;
	char path[128];

	wsdt_free(f->k);
	if (f->dir[0] != '\0') {
		snprintf(path, sizeof(path), "%s/echo.log", f->dir);
		unlink(path);
		snprintf(path, sizeof(path), "%s/echo.log.1", f->dir);
		unlink(path);
		rmdir(f->dir);
	}
	free(f);
	return 0;
}

static struct wsdt_route *
route(struct fixture *f, const char *settings)
{
	struct wsdt_route *r = wsdt_route(f->k, f->p, "/echo", settings);

	if (r == NULL)
		fail_msg("%s", wsdt_error(f->k));
	return r;
}

static void
test_echoes_and_logs(void **state)
{
	struct fixture *f = *state;
	static const unsigned char bin[] = { 0, 1, 2, 0xff };
	struct wsdt_conn *c;
	int code;

	c = wsdt_connect(route(f, NULL), "/echo?id=ann");
	assert_non_null(c);
	wsdt_expect_log(f->k, WSD_LOG_INFO,
	    "conn 1 open from 127.0.0.1:40001 id=\"ann\"");
	wsdt_expect_nothing_sent(c);

	assert_int_equal(wsdt_client_text(c, "hello"), 0);
	wsdt_expect_sent_text(c, "hello");
	wsdt_expect_log(f->k, WSD_LOG_INFO,
	    "conn 1 id=\"ann\" text 5 bytes: \"hello\"");

	assert_int_equal(wsdt_client_binary(c, bin, sizeof(bin)), 0);
	wsdt_expect_sent_binary(c, bin, sizeof(bin));
	wsdt_expect_log(f->k, WSD_LOG_INFO,
	    "conn 1 id=\"ann\" binary 4 bytes: base64:AAEC/w==");

	/* An empty message is echoed too. */
	assert_int_equal(wsdt_client_text(c, ""), 0);
	wsdt_expect_sent_text(c, "");
	wsdt_expect_nothing_sent(c);

	assert_int_equal(wsdt_client_close(c, 1001, "going"), 0);
	assert_true(wsdt_close_seen(c, &code, NULL));
	assert_int_equal(code, 1001);
	wsdt_expect_log(f->k, WSD_LOG_INFO,
	    "conn 1 id=\"ann\" closed: 1001 \"going\"");
	/* The plugin never closed it itself. */
	assert_false(wsdt_closed_by_plugin(c, NULL, NULL));
	wsdt_expect_no_misuse(f->k);
}

static void
test_escapes_what_it_logs(void **state)
{
	struct fixture *f = *state;
	struct wsdt_conn *c = wsdt_connect(route(f, NULL),
	    "/echo?id=a%0Ab%22");

	assert_non_null(c);
	/*
	 * The id's newline and quote never reach the log raw; wsd's log
	 * doubles the plugin's backslashes.
	 */
	wsdt_expect_log(f->k, WSD_LOG_INFO, "id=\"a\\\\x0ab\\\\x22\"");
	assert_int_equal(wsdt_client_text(c, "tab\there \\ \xc3\xa9"), 0);
	wsdt_expect_log(f->k, WSD_LOG_INFO,
	    "text 13 bytes: \"tab\\\\x09here \\\\x5c \\\\xc3\\\\xa9\"");
	/* Echoed as sent. */
	wsdt_expect_sent_text(c, "tab\there \\ \xc3\xa9");
}

static void
test_settings_change_behaviour(void **state)
{
	struct fixture *f = *state;
	struct wsdt_route *r;
	struct wsdt_conn *c;

	r = route(f, "echo = false; max_logged_bytes = 4;");
	wsdt_expect_route_ok(r);
	assert_non_null(c = wsdt_connect(r, "/echo"));
	assert_int_equal(wsdt_client_text(c, "hello world"), 0);
	wsdt_expect_nothing_sent(c);
	wsdt_expect_log(f->k, WSD_LOG_INFO,
	    "text 11 bytes: \"hell\" (truncated)");
	/* Truncation never splits a UTF-8 sequence: 3 bytes, not 4. */
	assert_int_equal(wsdt_client_text(c, "abc\xc3\xa9"), 0);
	wsdt_expect_log(f->k, WSD_LOG_INFO,
	    "text 5 bytes: \"abc\" (truncated)");

	wsdt_log_clear(f->k);
	r = route(f, "log_messages = false;");
	assert_non_null(c = wsdt_connect(r, "/echo"));
	assert_int_equal(wsdt_client_text(c, "quiet"), 0);
	wsdt_expect_sent_text(c, "quiet");
	assert_null(wsdt_log_find(f->k, -1, "quiet"));
	wsdt_expect_log(f->k, WSD_LOG_INFO, "open from");
}

static void
test_json_lines(void **state)
{
	struct fixture *f = *state;
	struct wsdt_conn *c = wsdt_connect(route(f, "format = \"json\";"),
	    "/echo?id=x");

	assert_non_null(c);
	wsdt_expect_log(f->k, WSD_LOG_INFO, "\"event\":\"open\",\"conn\":1,"
	    "\"id\":\"x\",\"remote\":\"127.0.0.1:40001\"}");
	assert_int_equal(wsdt_client_text(c, "say \"hi\"\x7f"), 0);
	/* jansson's escapes, and DEL as \u007f (wsd would write it \x7f). */
	wsdt_expect_log(f->k, WSD_LOG_INFO, "\"opcode\":\"text\","
	    "\"length\":9,\"text\":\"say \\\\\"hi\\\\\"\\\\u007f\","
	    "\"truncated\":false}");
	assert_int_equal(wsdt_client_close(c, 4000, "done"), 0);
	wsdt_expect_log(f->k, WSD_LOG_INFO, "\"event\":\"close\"");
	wsdt_expect_log(f->k, WSD_LOG_INFO, "\"code\":4000,\"reason\":\"done\"");
}

static int
file_has(const char *path, const char *needle)
{
	char buf[8192];
	size_t n;
	FILE *fp;

	if ((fp = fopen(path, "r")) == NULL)
		return 0;
	n = fread(buf, 1, sizeof(buf) - 1, fp);
	fclose(fp);
	buf[n] = '\0';
	return strstr(buf, needle) != NULL;
}

static void
test_log_file_and_reopen(void **state)
{
	struct fixture *f = *state;
	char settings[256], log[128], rotated[128];
	struct wsdt_route *r;
	struct wsdt_conn *c;

	strcpy(f->dir, "/tmp/wsdt-echo.XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	snprintf(log, sizeof(log), "%s/echo.log", f->dir);
	snprintf(rotated, sizeof(rotated), "%s/echo.log.1", f->dir);
	snprintf(settings, sizeof(settings), "log = \"%s\";", log);
	r = route(f, settings);
	wsdt_expect_route_ok(r);
	assert_non_null(c = wsdt_connect(r, "/echo"));
	assert_int_equal(wsdt_client_text(c, "first"), 0);
	assert_true(file_has(log, "text 5 bytes: \"first\""));
	/* Nothing through wsd's log when it has a file of its own. */
	assert_null(wsdt_log_find(f->k, -1, "first"));

	/* logrotate: move the file away, SIGUSR1, new lines in a new file. */
	assert_int_equal(rename(log, rotated), 0);
	assert_int_equal(wsdt_route_reopen(r), 0);
	wsdt_expect_log(f->k, WSD_LOG_INFO, "echo-logger: reopened");
	assert_int_equal(wsdt_client_text(c, "second"), 0);
	assert_true(file_has(log, "\"second\""));
	assert_false(file_has(log, "\"first\""));
	assert_false(file_has(rotated, "\"second\""));
}

static void
test_bad_settings(void **state)
{
	struct fixture *f = *state;
	struct wsdt_route *r;

	r = route(f, "format = \"xml\";");
	assert_int_equal(wsdt_route_init_rc(r), -1);
	wsdt_expect_route_error(r, "setting 'format': must be \"text\" or "
	    "\"json\"");
	r = route(f, "max_logged_bytes = -1;");
	assert_int_equal(wsdt_route_init_rc(r), -1);
	wsdt_expect_route_error(r, "setting 'max_logged_bytes': must be "
	    "between 0 and 65536");
	r = route(f, "echo = \"yes\";");
	assert_int_equal(wsdt_route_init_rc(r), -1);
	wsdt_expect_route_error(r, "setting 'echo' must be true or false");
	r = route(f, "log = \"/nonexistent/dir/echo.log\";");
	assert_int_equal(wsdt_route_init_rc(r), -1);
	wsdt_expect_route_error(r, "setting 'log': cannot open the file");
	wsdt_expect_log(f->k, WSD_LOG_ERR, "/nonexistent/dir/echo.log");
	r = route(f, "echo = true; volume = 11;");
	assert_int_equal(wsdt_route_init_rc(r), 0);
	wsdt_expect_route_error(r, "unknown setting 'volume' for plugin "
	    "echo-logger");
}

static void
test_slow_client(void **state)
{
	struct fixture *f = *state;
	struct wsdt_route *r = route(f, "log_messages = false;");
	char big[600];
	const char *reason;
	struct wsdt_conn *c;
	int code;

	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	wsdt_route_limits(r, 1000, 1800);
	assert_non_null(c = wsdt_connect(r, "/echo"));
	/* A client that stopped reading: its echoes pile up... */
	wsdt_set_buffered(c, 100);
	assert_int_equal(wsdt_client_text(c, big), 0);
	assert_int_equal(wsdt_client_text(c, big), 0);
	assert_int_equal(wsdt_unread(c), 2);
	assert_int_equal(wsdt_host(f->k)->buffered(wsdt_handle(c)), 1298);
	/* ... until the send buffer limit: wsd closes it with 1008. */
	assert_int_equal(wsdt_client_text(c, big), 0);
	assert_int_equal(wsdt_unread(c), 2);
	assert_true(wsdt_closed_by_plugin(c, &code, &reason));
	assert_int_equal(code, 1008);
	assert_string_equal(reason, "send buffer full");
	wsdt_expect_log(f->k, WSD_LOG_NOTICE, "conn 1: echo dropped");
	assert_int_equal(wsdt_state(c), WSDT_CLOSED);
	assert_true(wsdt_close_seen(c, &code, NULL));
	assert_int_equal(code, 1008);
	/* Gone: the client can send no more. */
	assert_int_equal(wsdt_client_text(c, "late"), -1);
}

static void
test_two_kits_one_so(void **state)
{
	struct fixture *f = *state;
	struct wsdt *k2 = wsdt_new();
	const struct wsd_plugin *p2;
	struct wsdt_conn *c, *c2;

	assert_non_null(k2);
	/* The same file, loaded by a second kit: one copy in memory. */
	assert_non_null(p2 = wsdt_load(k2, PLUGIN_BUILD_DIR "/echo-logger.so"));
	assert_ptr_equal(p2, f->p);
	c = wsdt_connect(route(f, NULL), "/echo");
	c2 = wsdt_connect(wsdt_route(k2, p2, "/echo", NULL), "/echo");
	assert_non_null(c);
	assert_non_null(c2);
	wsdt_free(k2);
	/* The first kit's plugin still reaches a host. */
	assert_int_equal(wsdt_client_text(c, "still here"), 0);
	wsdt_expect_sent_text(c, "still here");
	wsdt_expect_log(f->k, WSD_LOG_INFO, "\"still here\"");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_echoes_and_logs, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_escapes_what_it_logs,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_settings_change_behaviour,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_json_lines, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_log_file_and_reopen,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_settings, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_slow_client, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_two_kits_one_so, setup,
		    teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

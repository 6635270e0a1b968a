/*
 * Unit tests for route.c: lookup by exact path and the typed settings
 * accessors, with libconfig parsing a string (no files).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "route.h"

static struct wsd_route_conf *
confs(const char *const *paths, size_t n)
{
	struct wsd_route_conf *rc = calloc(n, sizeof(*rc));
	size_t i;

	assert_non_null(rc);
	for (i = 0; i < n; i++)
		rc[i].path = (char *)paths[i];
	return rc;
}

static void
test_find(void **state)
{
	static const char *const paths[] = { "/echo", "/clock", "/", "/e",
	    "/echo/deeper" };
	struct wsd_config cfg;
	struct route_table t;
	size_t i;

	(void)state;
	memset(&cfg, 0, sizeof(cfg));
	cfg.routes = confs(paths, 5);
	cfg.nroutes = 5;
	assert_int_equal(route_table_init(&t, &cfg, NULL), 0);
	for (i = 0; i < 5; i++) {
		struct route *r = route_find(&t, paths[i], strlen(paths[i]));

		assert_non_null(r);
		assert_string_equal(r->path, paths[i]);
		assert_true(TAILQ_EMPTY(&r->conns));
	}
	/* Exact match only: prefixes and longer paths do not match. */
	assert_null(route_find(&t, "/ech", 4));
	assert_null(route_find(&t, "/echoes", 7));
	assert_null(route_find(&t, "/ECHO", 5));
	assert_null(route_find(&t, "", 0));
	/* The length given counts, not a NUL. */
	assert_non_null(route_find(&t, "/echo?x", 5));
	route_table_free(&t);
	free(cfg.routes);
}

static void
test_empty(void **state)
{
	struct wsd_config cfg;
	struct route_table t;

	(void)state;
	memset(&cfg, 0, sizeof(cfg));
	assert_int_equal(route_table_init(&t, &cfg, NULL), 0);
	assert_null(route_find(&t, "/", 1));
	route_table_free(&t);
}

static const char settings_text[] =
    "settings = {\n"			/* line 1 */
    "  name = \"clock\";\n"		/* line 2 */
    "  count = 7;\n"			/* line 3 */
    "  big = 10000000000L;\n"		/* line 4 */
    "  on = true;\n"			/* line 5 */
    "  wrong = \"x\";\n"		/* line 6 */
    "  typo = 1;\n"			/* line 7 */
    "};\n";

static void
test_settings(void **state)
{
	struct wsd_route_conf rc;
	struct wsd_errors errs = { NULL, 0 };
	struct route r;
	config_t cf;
	const char *s;
	long long n;
	int b;

	(void)state;
	config_init(&cf);
	assert_int_equal(config_read_string(&cf, settings_text), CONFIG_TRUE);
	memset(&rc, 0, sizeof(rc));
	rc.path = "/t";
	rc.plugin = "p";
	rc.settings = config_lookup(&cf, "settings");
	memset(&r, 0, sizeof(r));
	r.conf = &rc;
	r.path = rc.path;
	r.errs = &errs;

	assert_int_equal(route_setting_string(&r, "name", "d", &s), 0);
	assert_string_equal(s, "clock");
	assert_int_equal(route_setting_string(&r, "absent", "dflt", &s), 0);
	assert_string_equal(s, "dflt");
	assert_int_equal(route_setting_int(&r, "count", 1, &n), 0);
	assert_int_equal(n, 7);
	assert_int_equal(route_setting_int(&r, "big", 1, &n), 0);
	assert_true(n == 10000000000LL);
	assert_int_equal(route_setting_int(&r, "missing", -5, &n), 0);
	assert_int_equal(n, -5);
	assert_int_equal(route_setting_bool(&r, "on", 0, &b), 0);
	assert_int_equal(b, 1);
	assert_int_equal(errs.n, 0);

	/* A wrong type is an error naming the line, and the default stays. */
	assert_int_equal(route_setting_int(&r, "wrong", 3, &n), -1);
	assert_int_equal(n, 3);
	assert_int_equal(errs.n, 1);
	assert_non_null(strstr(errs.msg[0], ":6: route /t: setting 'wrong' "
	    "must be an integer"));
	assert_int_equal(route_setting_bool(&r, "count", 0, &b), -1);
	assert_non_null(strstr(errs.msg[1], ":3:"));

	/* "typo" was never asked for: reported as unknown, with its line. */
	assert_int_equal(route_settings_check_unknown(&r), 1);
	assert_int_equal(errs.n, 3);
	assert_non_null(strstr(errs.msg[2], ":7: route /t: unknown setting "
	    "'typo' for plugin p"));

	route_setting_error(&r, "count", "must be odd");
	assert_non_null(strstr(errs.msg[3], ":3: route /t: setting 'count': "
	    "must be odd"));

	route_settings_done(&r);
	errors_clear(&errs);
	config_destroy(&cf);
}

static void
test_settings_absent_group(void **state)
{
	struct wsd_route_conf rc;
	struct wsd_errors errs = { NULL, 0 };
	struct route r;
	long long n;

	(void)state;
	memset(&rc, 0, sizeof(rc));
	rc.path = "/t";
	memset(&r, 0, sizeof(r));
	r.conf = &rc;
	r.path = rc.path;
	r.errs = &errs;
	assert_int_equal(route_setting_int(&r, "x", 9, &n), 0);
	assert_int_equal(n, 9);
	assert_int_equal(route_settings_check_unknown(&r), 0);
	assert_int_equal(errs.n, 0);
	route_settings_done(&r);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_find),
		cmocka_unit_test(test_empty),
		cmocka_unit_test(test_settings),
		cmocka_unit_test(test_settings_absent_group),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

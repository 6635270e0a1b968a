/*
 * Unit tests for the plugin loader: a good plugin loads once however many
 * routes use it, and each kind of bad plugin is refused with its path and
 * the reason.  The test plugins are built into tests/plugins/.libs.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "plugin.h"

static const struct wsd_host fake_host = {
	.abi_major = WSD_ABI_MAJOR,
	.abi_minor = WSD_ABI_MINOR,
	.size = sizeof(struct wsd_host),
};

static char *
plugin_path(const char *name)
{
	const char *dir = getenv("WSD_BUILDDIR");
	char *p;

	if (dir == NULL)
		dir = ".";
	assert_true(asprintf(&p, "%s/tests/plugins/.libs/%s.so", dir,
	    name) > 0);
	return p;
}

static void
test_good(void **state)
{
	char err[512] = "", *path = plugin_path("good");
	struct plugin *p, *q;

	(void)state;
	p = plugin_load(path, &fake_host, err, sizeof(err));
	assert_non_null(p);
	assert_string_equal(err, "");
	assert_string_equal(p->ops.name, "good");
	assert_non_null(p->ops.init);
	assert_non_null(p->ops.message);
	assert_null(p->ops.open);
	/* The plugin's wrappers now reach our host table. */
	assert_ptr_equal(*p->ops.host_slot, &fake_host);
	/* A second route using the same file shares the handle. */
	q = plugin_load(path, &fake_host, err, sizeof(err));
	assert_ptr_equal(p, q);
	assert_int_equal(p->refs, 2);
	plugin_unref(q);
	assert_int_equal(p->refs, 1);
	plugin_unref(p);
	free(path);
}

static void
test_bad_abi(void **state)
{
	char err[512] = "", *path = plugin_path("badabi");

	(void)state;
	assert_null(plugin_load(path, &fake_host, err, sizeof(err)));
	assert_non_null(strstr(err, path));
	assert_non_null(strstr(err, "plugin ABI 2.0, but wsd has ABI 1."));
	free(path);
}

static void
test_missing_symbol(void **state)
{
	char err[512] = "", *path = plugin_path("nosym");

	(void)state;
	assert_null(plugin_load(path, &fake_host, err, sizeof(err)));
	assert_non_null(strstr(err, path));
	assert_non_null(strstr(err, "no symbol 'wsd_plugin'"));
	free(path);
}

static void
test_missing_file(void **state)
{
	char err[512] = "";

	(void)state;
	assert_null(plugin_load("/nonexistent/dir/x.so", &fake_host, err,
	    sizeof(err)));
	assert_non_null(strstr(err, "/nonexistent/dir/x.so: cannot load "
	    "plugin"));
}

static void
test_abi_rules(void **state)
{
	struct wsd_plugin d;
	char err[256];

	(void)state;
	memset(&d, 0, sizeof(d));
	d.abi_major = WSD_ABI_MAJOR;
	d.abi_minor = WSD_ABI_MINOR;
	d.size = sizeof(d);
	d.name = "x";
	assert_int_equal(plugin_check_abi(&d, "p", err, sizeof(err)), 0);
	/* An older, shorter descriptor is fine. */
	d.size = offsetof(struct wsd_plugin, init);
	assert_int_equal(plugin_check_abi(&d, "p", err, sizeof(err)), 0);
	/* Shorter than the fixed head is not. */
	d.size = 8;
	assert_int_equal(plugin_check_abi(&d, "p", err, sizeof(err)), -1);
	d.size = sizeof(d);
	/* A newer minor than ours is refused, naming both versions. */
	d.abi_minor = WSD_ABI_MINOR + 1;
	assert_int_equal(plugin_check_abi(&d, "p", err, sizeof(err)), -1);
	assert_non_null(strstr(err, "upgrade wsd"));
	d.abi_minor = WSD_ABI_MINOR;
	d.name = "";
	assert_int_equal(plugin_check_abi(&d, "p", err, sizeof(err)), -1);
	assert_non_null(strstr(err, "no name"));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_good),
		cmocka_unit_test(test_bad_abi),
		cmocka_unit_test(test_missing_symbol),
		cmocka_unit_test(test_missing_file),
		cmocka_unit_test(test_abi_rules),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

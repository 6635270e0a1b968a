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
#include <sys/stat.h>
#include <unistd.h>

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

static void
test_execstack(void **state)
{
	char *good = plugin_path("good"), *bad = plugin_path("execstack");

	(void)state;
	assert_int_equal(plugin_wants_execstack(good), 0);
	assert_int_equal(plugin_wants_execstack(bad), 1);
	assert_int_equal(plugin_wants_execstack("/nonexistent.so"), -1);
	/* Not ELF at all. */
	assert_int_equal(plugin_wants_execstack("/etc/hostname"), -1);
	free(good);
	free(bad);
}

static void
test_permissions(void **state)
{
	char dir[] = "/tmp/wsd-perm-XXXXXX", path[128], err[512];
	FILE *f;

	(void)state;
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/p.so", dir);
	assert_non_null(f = fopen(path, "w"));
	fclose(f);
	assert_int_equal(chmod(dir, 0755), 0);
	assert_int_equal(chmod(path, 0644), 0);
	assert_int_equal(plugin_check_permissions(path, err, sizeof(err)), 0);
	/* Writable by the group or everyone: refused, naming the file. */
	assert_int_equal(chmod(path, 0664), 0);
	assert_int_equal(plugin_check_permissions(path, err, sizeof(err)), -1);
	assert_non_null(strstr(err, path));
	assert_non_null(strstr(err, "writable by its group"));
	assert_int_equal(chmod(path, 0646), 0);
	assert_int_equal(plugin_check_permissions(path, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "writable by everyone"));
	assert_int_equal(chmod(path, 0644), 0);
	/* A directory others can write to lets them swap the file. */
	assert_int_equal(chmod(dir, 0777), 0);
	assert_int_equal(plugin_check_permissions(path, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "directory"));
	assert_int_equal(chmod(dir, 0755), 0);
	/* Owned by somebody else (needs root to set up). */
	if (geteuid() == 0) {
		assert_int_equal(chown(path, 12345, 0), 0);
		assert_int_equal(plugin_check_permissions(path, err,
		    sizeof(err)), -1);
		assert_non_null(strstr(err, "owned by uid 12345"));
	}
	unlink(path);
	rmdir(dir);
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
		cmocka_unit_test(test_execstack),
		cmocka_unit_test(test_permissions),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

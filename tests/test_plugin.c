/*
 * Unit tests for the plugin loader: a good plugin loads once however many
 * routes use it, and each kind of bad plugin is refused with its path and
 * the reason.  The test plugins are built into tests/plugins/.libs.
 */
#include <dlfcn.h>
#include <fcntl.h>
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
copy_file(const char *from, const char *to)
{
	char buf[8192];
	FILE *in, *out;
	size_t n;

	assert_non_null(in = fopen(from, "rb"));
	assert_non_null(out = fopen(to, "wb"));
	while ((n = fread(buf, 1, sizeof(buf), in)) > 0)
		assert_int_equal(fwrite(buf, 1, n, out), n);
	fclose(in);
	assert_int_equal(fclose(out), 0);
	assert_int_equal(chmod(to, 0644), 0);
}

/* A private 0755 directory under /tmp, for files the test makes. */
static char *
make_dir(void)
{
	char *dir = strdup("/tmp/wsd-perm-XXXXXX");

	assert_non_null(dir);
	assert_non_null(mkdtemp(dir));
	assert_int_equal(chmod(dir, 0755), 0);
	return dir;
}

static void
remove_tree(const char *dir)
{
	char *cmd;

	assert_true(asprintf(&cmd, "rm -rf '%s'", dir) > 0);
	assert_int_equal(system(cmd), 0);
	free(cmd);
}

/* Load path strictly; 0 and the plugin unloaded again, or -1 and err. */
static int
load_strict(const char *path, char *err, size_t errlen)
{
	struct plugin *p;

	err[0] = '\0';
	if ((p = plugin_load(path, 1, &fake_host, err, errlen)) == NULL)
		return -1;
	assert_string_equal(err, "");
	plugin_unref(p);
	return 0;
}

static void
test_good(void **state)
{
	char err[512] = "", *path = plugin_path("good");
	struct plugin *p, *q;

	(void)state;
	p = plugin_load(path, 0, &fake_host, err, sizeof(err));
	assert_non_null(p);
	assert_string_equal(err, "");
	assert_string_equal(p->ops.name, "good");
	assert_non_null(p->ops.init);
	assert_non_null(p->ops.message);
	assert_null(p->ops.open);
	/* The plugin's wrappers now reach our host table. */
	assert_ptr_equal(*p->ops.host_slot, &fake_host);
	/* A second route using the same file shares the handle. */
	q = plugin_load(path, 0, &fake_host, err, sizeof(err));
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
	assert_null(plugin_load(path, 0, &fake_host, err, sizeof(err)));
	assert_non_null(strstr(err, path));
	assert_non_null(strstr(err, "plugin ABI 2.0, but wsd has ABI 1."));
	free(path);
}

static void
test_missing_symbol(void **state)
{
	char err[512] = "", *path = plugin_path("nosym");

	(void)state;
	assert_null(plugin_load(path, 0, &fake_host, err, sizeof(err)));
	assert_non_null(strstr(err, path));
	assert_non_null(strstr(err, "no symbol 'wsd_plugin'"));
	free(path);
}

static void
test_missing_file(void **state)
{
	char err[512] = "";

	(void)state;
	assert_null(plugin_load("/nonexistent/dir/x.so", 0, &fake_host, err,
	    sizeof(err)));
	assert_non_null(strstr(err, "/nonexistent/dir/x.so: cannot load "
	    "plugin"));
}

static void
test_not_elf(void **state)
{
	char err[512] = "", *dir = make_dir(), path[256];
	FILE *f;

	(void)state;
	snprintf(path, sizeof(path), "%s/text.so", dir);
	assert_non_null(f = fopen(path, "w"));
	assert_true(fputs("this is not an ELF object, just text\n", f) >= 0);
	assert_int_equal(fclose(f), 0);
	assert_int_equal(chmod(path, 0644), 0);
	assert_null(plugin_load(path, 0, &fake_host, err, sizeof(err)));
	assert_non_null(strstr(err, path));
	assert_non_null(strstr(err, "not a loadable object"));
	assert_null(strstr(err, "No such file"));
	assert_int_equal(load_strict(path, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "not a loadable object"));
	/* The ELF reader says no to it too. */
	assert_int_equal(plugin_wants_execstack(path), -1);
	remove_tree(dir);
	free(dir);
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
	free(good);
	free(bad);
}

static void
test_permissions(void **state)
{
	char *dir = make_dir(), *good = plugin_path("good"), path[256];
	char err[512];

	(void)state;
	snprintf(path, sizeof(path), "%s/p.so", dir);
	copy_file(good, path);
	assert_int_equal(load_strict(path, err, sizeof(err)), 0);
	/* Writable by the group or everyone: refused, naming the file. */
	assert_int_equal(chmod(path, 0664), 0);
	assert_int_equal(load_strict(path, err, sizeof(err)), -1);
	assert_non_null(strstr(err, path));
	assert_non_null(strstr(err, "file"));
	assert_non_null(strstr(err, "writable by its group"));
	assert_int_equal(chmod(path, 0646), 0);
	assert_int_equal(load_strict(path, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "writable by everyone"));
	assert_int_equal(chmod(path, 0644), 0);
	/* A directory others can write to lets them swap the file. */
	assert_int_equal(chmod(dir, 0777), 0);
	assert_int_equal(load_strict(path, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "directory"));
	assert_non_null(strstr(err, dir));
	/* Sticky does not help the plugin's own directory. */
	assert_int_equal(chmod(dir, 01777), 0);
	assert_int_equal(load_strict(path, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "writable by everyone"));
	assert_int_equal(chmod(dir, 0755), 0);
	/* Not strict: anything goes. */
	assert_int_equal(chmod(path, 0666), 0);
	plugin_unref(plugin_load(path, 0, &fake_host, err, sizeof(err)));
	remove_tree(dir);
	free(dir);
	free(good);
}

static void
test_permissions_ancestors(void **state)
{
	char *top = make_dir(), *good = plugin_path("good"), err[512];
	char mid[256], low[300], path[320], want[400];

	(void)state;
	snprintf(mid, sizeof(mid), "%s/mid", top);
	snprintf(low, sizeof(low), "%s/low", mid);
	snprintf(path, sizeof(path), "%s/p.so", low);
	assert_int_equal(mkdir(mid, 0755), 0);
	assert_int_equal(mkdir(low, 0755), 0);
	copy_file(good, path);
	assert_int_equal(load_strict(path, err, sizeof(err)), 0);
	/* Whoever can write mid can rename low away and put their own. */
	assert_int_equal(chmod(mid, 0775), 0);
	assert_int_equal(load_strict(path, err, sizeof(err)), -1);
	assert_non_null(strstr(err, path));
	snprintf(want, sizeof(want), "directory %s is writable by its group",
	    mid);
	assert_non_null(strstr(err, want));
	assert_int_equal(chmod(mid, 0757), 0);
	assert_int_equal(load_strict(path, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "writable by everyone"));
	/* Higher up, a sticky directory (as /tmp, where top is) is fine. */
	assert_int_equal(chmod(mid, 01777), 0);
	assert_int_equal(load_strict(path, err, sizeof(err)), 0);
	assert_int_equal(chmod(mid, 0755), 0);
	assert_int_equal(chmod(top, 0777), 0);
	assert_int_equal(load_strict(path, err, sizeof(err)), -1);
	assert_non_null(strstr(err, top));
	assert_int_equal(chmod(top, 0755), 0);
	assert_int_equal(load_strict(path, err, sizeof(err)), 0);
	remove_tree(top);
	free(top);
	free(good);
}

/*
 * A plugin path that is a symlink is followed: the file it leads to and
 * that file's directories are judged, and so is the directory holding
 * the link, since whoever can write there chooses the target.
 */
static void
test_permissions_symlink(void **state)
{
	char *dir = make_dir(), *good = plugin_path("good"), err[512];
	char real[256], link[256], other[256], olink[300];
	struct plugin *p;

	(void)state;
	snprintf(real, sizeof(real), "%s/real.so", dir);
	snprintf(link, sizeof(link), "%s/link.so", dir);
	snprintf(other, sizeof(other), "%s/other", dir);
	snprintf(olink, sizeof(olink), "%s/link.so", other);
	copy_file(good, real);
	assert_int_equal(symlink("real.so", link), 0);
	p = plugin_load(link, 1, &fake_host, err, sizeof(err));
	assert_non_null(p);
	assert_string_equal(p->ops.name, "good");
	assert_string_equal(p->path, link);
	plugin_unref(p);
	/* The target is judged, named by its own path. */
	assert_int_equal(chmod(real, 0666), 0);
	assert_int_equal(load_strict(link, err, sizeof(err)), -1);
	assert_non_null(strstr(err, link));
	assert_non_null(strstr(err, real));
	assert_non_null(strstr(err, "writable by everyone"));
	assert_int_equal(chmod(real, 0644), 0);
	/* A safe link in a writable directory: refused for the directory. */
	assert_int_equal(mkdir(other, 0777), 0);
	assert_int_equal(chmod(other, 0777), 0);
	assert_int_equal(symlink(real, olink), 0);
	assert_int_equal(load_strict(olink, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "directory"));
	assert_non_null(strstr(err, other));
	assert_int_equal(chmod(other, 0755), 0);
	assert_int_equal(load_strict(olink, err, sizeof(err)), 0);
	/* A link to a target inside a writable directory: refused. */
	assert_int_equal(unlink(olink), 0);
	assert_int_equal(rename(real, olink), 0);
	assert_int_equal(symlink(olink, real), 0);
	assert_int_equal(chmod(other, 0777), 0);
	assert_int_equal(load_strict(link, err, sizeof(err)), -1);
	assert_non_null(strstr(err, other));
	assert_non_null(strstr(err, "writable by everyone"));
	remove_tree(dir);
	free(dir);
	free(good);
}

/*
 * The object loaded is the file that was opened and judged: dlopen()
 * maps our descriptor, not whatever the path names by then.
 */
static void
test_loaded_is_checked(void **state)
{
	char *dir = make_dir(), *good = plugin_path("good"), err[512];
	char *nosym = plugin_path("nosym"), path[256], other[256], fdname[64];
	struct plugin *p, *q;
	struct stat st, fst;
	Dl_info info;

	(void)state;
	snprintf(path, sizeof(path), "%s/p.so", dir);
	snprintf(other, sizeof(other), "%s/other.so", dir);
	copy_file(good, path);
	copy_file(nosym, other);
	assert_int_equal(stat(path, &st), 0);
	p = plugin_load(path, 1, &fake_host, err, sizeof(err));
	assert_non_null(p);
	assert_string_equal(p->ops.name, "good");
	/* Mapped from the descriptor, which is the file we judged. */
	assert_int_equal(fstat(p->fd, &fst), 0);
	assert_true(fst.st_dev == st.st_dev && fst.st_ino == st.st_ino);
	assert_int_not_equal(dladdr(p->ops.name, &info), 0);
	snprintf(fdname, sizeof(fdname), "/proc/self/fd/%d", p->fd);
	assert_string_equal(info.dli_fname, fdname);
	/*
	 * The path names another file now: that one is judged and loaded
	 * (here it fails), and the loaded one stays as it was.
	 */
	assert_int_equal(rename(other, path), 0);
	q = plugin_load(path, 1, &fake_host, err, sizeof(err));
	assert_null(q);
	assert_non_null(strstr(err, "no symbol 'wsd_plugin'"));
	assert_string_equal(p->ops.name, "good");
	plugin_unref(p);
	/* Once unloaded, the same path gets the new file, judged afresh. */
	assert_null(plugin_load(path, 1, &fake_host, err, sizeof(err)));
	assert_non_null(strstr(err, "no symbol 'wsd_plugin'"));
	remove_tree(dir);
	free(dir);
	free(good);
	free(nosym);
}

/*
 * Copies are known by file identity: the same file twice is one copy; a
 * new file renamed over it is a second copy with its own handle, and
 * each leaves the process's mappings when its last user lets it go; a
 * file changed in place while loaded is refused.
 */
static void
test_copies_by_identity(void **state)
{
	char *dir = make_dir(), *good = plugin_path("good"), err[512];
	char path[256], tmp[256];
	struct plugin *p, *p2, *q;
	struct plugin_id id, idq;
	struct plugin_map mp, mq;
	struct timespec ts[2];

	(void)state;
	snprintf(path, sizeof(path), "%s/p.so", dir);
	snprintf(tmp, sizeof(tmp), "%s/p.so.new", dir);
	copy_file(good, path);
	p = plugin_load(path, 1, &fake_host, err, sizeof(err));
	assert_non_null(p);
	p2 = plugin_load(path, 1, &fake_host, err, sizeof(err));
	assert_ptr_equal(p, p2);
	assert_int_equal(plugin_identify(path, 1, &id, err, sizeof(err)), 0);
	assert_true(plugin_is(p, &id));
	mp = p->map;
	assert_true(mp.known);
	assert_int_equal(plugin_mapped(&mp), 1);

	/* A new version renamed over it (dpkg): a second copy. */
	copy_file(good, tmp);
	assert_int_equal(rename(tmp, path), 0);
	assert_int_equal(plugin_identify(path, 1, &idq, err, sizeof(err)), 0);
	assert_false(plugin_is(p, &idq));
	q = plugin_load(path, 1, &fake_host, err, sizeof(err));
	assert_non_null(q);
	assert_ptr_not_equal(q, p);
	assert_ptr_not_equal(q->dl, p->dl);
	assert_ptr_not_equal(q->base, p->base);
	mq = q->map;
	assert_int_equal(plugin_mapped(&mq), 1);
	assert_false(mq.ino == mp.ino && mq.major == mp.major &&
	    mq.minor == mp.minor);
	/* The old copy goes with its last reference, the new one stays. */
	plugin_unref(p2);
	assert_int_equal(plugin_mapped(&mp), 1);
	plugin_unref(p);
	assert_int_equal(plugin_mapped(&mp), 0);
	assert_int_equal(plugin_mapped(&mq), 1);
	assert_string_equal(q->ops.name, "good");

	/* Changed in place (same inode, new mtime) while loaded: refused. */
	ts[0].tv_sec = 0;
	ts[0].tv_nsec = UTIME_OMIT;
	ts[1].tv_sec = 1000000000;
	ts[1].tv_nsec = 0;
	assert_int_equal(utimensat(AT_FDCWD, path, ts, 0), 0);
	assert_null(plugin_load(path, 1, &fake_host, err, sizeof(err)));
	assert_non_null(strstr(err, "changed in place"));
	plugin_unref(q);
	assert_int_equal(plugin_mapped(&mq), 0);
	/* Unloaded, the same file loads again. */
	q = plugin_load(path, 1, &fake_host, err, sizeof(err));
	assert_non_null(q);
	plugin_unref(q);
	remove_tree(dir);
	free(dir);
	free(good);
}

/* Needs root to give files away: skipped, not passed, without. */
static void
test_permissions_foreign_owner(void **state)
{
	char *dir, *good, path[300], sub[256], err[512], want[400];

	(void)state;
	if (geteuid() != 0)
		skip();
	dir = make_dir();
	good = plugin_path("good");
	snprintf(sub, sizeof(sub), "%s/sub", dir);
	snprintf(path, sizeof(path), "%s/p.so", sub);
	assert_int_equal(mkdir(sub, 0755), 0);
	copy_file(good, path);
	assert_int_equal(chown(path, 12345, 0), 0);
	assert_int_equal(load_strict(path, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "file"));
	assert_non_null(strstr(err, "owned by uid 12345"));
	/* Root's group may be anything; only the uid counts. */
	assert_int_equal(chown(path, 0, 12345), 0);
	assert_int_equal(load_strict(path, err, sizeof(err)), 0);
	/* An ancestor owned by somebody else. */
	assert_int_equal(chown(dir, 12345, 12345), 0);
	assert_int_equal(load_strict(path, err, sizeof(err)), -1);
	snprintf(want, sizeof(want), "directory %s is owned by uid 12345",
	    dir);
	assert_non_null(strstr(err, want));
	assert_int_equal(chown(dir, 0, 0), 0);
	assert_int_equal(load_strict(path, err, sizeof(err)), 0);
	remove_tree(dir);
	free(dir);
	free(good);
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
		cmocka_unit_test(test_not_elf),
		cmocka_unit_test(test_permissions),
		cmocka_unit_test(test_permissions_ancestors),
		cmocka_unit_test(test_permissions_symlink),
		cmocka_unit_test(test_loaded_is_checked),
		cmocka_unit_test(test_copies_by_identity),
		cmocka_unit_test(test_permissions_foreign_owner),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

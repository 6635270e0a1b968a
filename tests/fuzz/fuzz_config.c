/*
 * fuzz_config: the configuration loader (src/config.c over libconfig).
 *
 * The input is a wsd.conf.  Once per process the harness makes a private
 * directory (mkdtemp) holding
 *	wsd.conf			rewritten with every input
 *	plugins/echo-logger.so		empty files: the loader only checks
 *	plugins/clock.so		that a plugin file exists
 *	plugins/dir.so/			a directory where a plugin should be
 *	www/				a document_root
 *	inc.conf, routes.conf, bad.conf	for @include
 * and removes it at exit.  Each input is loaded with config_load(), then
 * freed with config_free()/errors_clear(): LeakSanitizer checks that
 * nothing leaks, on the error paths too.  A loaded config is checked
 * against what wsd.conf(5) promises (limits in range, routes absolute and
 * unique, plugin files present), and a failed load must say why.
 *
 * libconfig opens @include files relative to the config's directory, so
 * inputs whose include names hold '/' or '\' (escapes) are skipped: the
 * fuzzer is not to read /dev/zero or the rest of the machine; so are
 * includes of directories (see include_unsafe()).
 *
 * Leaks: libconfig 1.5 leaks a token on most syntax errors (see below),
 * so nearly every input would send libFuzzer into a LeakSanitizer pass,
 * a fraction of a second each, until it gives up leak checking after a
 * thousand.  So this target turns libFuzzer's per-input leak check off
 * (-detect_leaks=0 is put first on the command line; a later one wins)
 * and relies on LeakSanitizer's check at exit, which still fails the run
 * on any leak but libconfig's own, with the stack of the allocation.
 */
#include <sys/stat.h>

#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <unistd.h>

#include "config.h"

#include "fuzz_common.h"

static char dir[PATH_MAX];
static char conf[PATH_MAX];
static char plugins[PATH_MAX];
static bool verbose;		/* WSD_FUZZ_VERBOSE=1: print the verdicts */

static const char *const dir_files[][2] = {
	{ "plugins/echo-logger.so", "" },
	{ "plugins/clock.so", "" },
	{ "inc.conf", "limits = { max_message_size = 2048; idle_timeout = 1.5; };\n" },
	{ "routes.conf", "routes = ( { path = \"/inc\"; plugin = \"clock\"; } );\n" },
	{ "bad.conf", "log_level = ;\n" },
};

static void
path_in(char *out, const char *name)
{
	int n = snprintf(out, PATH_MAX, "%s/%s", dir, name);

	FUZZ_CHECK(n > 0 && n < PATH_MAX);
}

static void
write_file(const char *path, const void *data, size_t len)
{
	FILE *f = fopen(path, "wb");

	if (f == NULL) {
		fprintf(stderr, "fuzz_config: %s: %s\n", path, strerror(errno));
		abort();
	}
	if (len > 0 && fwrite(data, 1, len, f) != len)
		abort();
	if (fclose(f) != 0)
		abort();
}

static void
cleanup(void)
{
	char p[PATH_MAX];
	size_t i;

	if (dir[0] == '\0')
		return;
	for (i = 0; i < sizeof(dir_files) / sizeof(dir_files[0]); i++) {
		path_in(p, dir_files[i][0]);
		unlink(p);
	}
	unlink(conf);
	path_in(p, "plugins/dir.so");
	rmdir(p);
	rmdir(plugins);
	path_in(p, "www");
	rmdir(p);
	rmdir(dir);
}

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	static char no_leak_pass[] = "-detect_leaks=0";
	const char *tmp = getenv("TMPDIR");
	char p[PATH_MAX], **av;
	size_t i;

	/* argv[0] -detect_leaks=0 argv[1]...: the user's flags still win. */
	if ((av = calloc((size_t)*argc + 2, sizeof(*av))) == NULL)
		abort();
	av[0] = (*argv)[0];
	av[1] = no_leak_pass;
	for (i = 1; i < (size_t)*argc; i++)
		av[i + 1] = (*argv)[i];
	*argv = av;
	(*argc)++;

	verbose = getenv("WSD_FUZZ_VERBOSE") != NULL;
	snprintf(dir, sizeof(dir), "%s/wsd-fuzz-config.XXXXXX",
	    tmp != NULL && tmp[0] != '\0' ? tmp : "/tmp");
	if (mkdtemp(dir) == NULL) {
		perror("fuzz_config: mkdtemp");
		abort();
	}
	atexit(cleanup);
	path_in(conf, "wsd.conf");
	path_in(plugins, "plugins");
	path_in(p, "www");
	if (mkdir(plugins, 0700) == -1 || mkdir(p, 0700) == -1)
		abort();
	path_in(p, "plugins/dir.so");
	if (mkdir(p, 0700) == -1)
		abort();
	for (i = 0; i < sizeof(dir_files) / sizeof(dir_files[0]); i++) {
		path_in(p, dir_files[i][0]);
		write_file(p, dir_files[i][1], strlen(dir_files[i][1]));
	}
	return 0;
}

/*
 * libconfig before 1.7.3 leaks a string token that bison discards while
 * recovering from a syntax error (the grammar had no %destructor for
 * TOK_STRING: hyperrealm/libconfig#142, fixed by PR #155).  Debian 12
 * ships 1.5, and the fuzzer finds it at once (the input `""` will do;
 * see regress/config-libconfig-string-leak).  It is not wsd's, and it
 * would stop every run, so LeakSanitizer is told to ignore leaks made by
 * libconfig's scanner (the token's buffer: libconfig has no frame
 * pointers, so the stack stops there), and nothing else: a config that
 * wsd forgot to destroy still leaks settings made by the parser.
 */
const char *__lsan_default_suppressions(void);

const char *
__lsan_default_suppressions(void)
{
	return "leak:libconfig_yylex\nleak:strbuf_append\n";
}

/*
 * Inputs whose @include we do not let libconfig open: a name with '/'
 * or '\' (escapes), which could reach outside our directory (/dev/zero,
 * ../../etc).  Empty names and directories are fuzzed: libconfig 1.5
 * calls exit(2) on them, so config.c refuses them first, and
 * regress/config-include-directory-exits checks that it does.
 */
static bool
include_unsafe(const uint8_t *data, size_t size)
{
	static const char kw[] = "include";
	char name[256];
	size_t i, j, n;

	for (i = 0; i + sizeof(kw) - 1 <= size; i++) {
		if (strncasecmp((const char *)data + i, kw, sizeof(kw) - 1) != 0)
			continue;
		/* The next string literal is the file name. */
		for (j = i + sizeof(kw) - 1; j < size && data[j] != '"'; j++)
			if (data[j] == '\n')
				break;
		if (j == size || data[j] != '"')
			continue;
		for (j++, n = 0; j < size && data[j] != '"'; j++) {
			if (data[j] == '/' || data[j] == '\\' || data[j] == '\0')
				return true;
			if (n + 1 < sizeof(name))
				name[n++] = (char)data[j];
		}
		name[n] = '\0';
		if (n + 1 >= sizeof(name))
			return true;
	}
	return false;
}

static void
check_limits(const struct wsd_limits *l)
{
	FUZZ_CHECK(l->max_message_size >= 1);
	FUZZ_CHECK(l->max_fragments >= 1);
	FUZZ_CHECK(l->max_head_size >= 256 && l->max_head_size <= 1048576);
	FUZZ_CHECK(l->max_headers >= 1 && l->max_headers <= 10000);
	FUZZ_CHECK(l->handshake_timeout_ms > 0);
	FUZZ_CHECK(l->close_timeout_ms > 0);
	FUZZ_CHECK(l->max_send_buffer >= 1024);
	FUZZ_CHECK(l->send_high_water >= 1);
}

static void
check_config(const struct wsd_config *c)
{
	struct stat st;
	size_t i, j;

	FUZZ_CHECK(strcmp(c->file, conf) == 0);
	FUZZ_CHECK(c->dir != NULL && c->dir[0] == '/');
	FUZZ_CHECK(c->plugin_dir != NULL);
	FUZZ_CHECK(c->log_level >= LOG_ERR && c->log_level <= LOG_DEBUG);
	if (c->document_root != NULL)
		FUZZ_CHECK(stat(c->document_root, &st) == 0 &&
		    S_ISDIR(st.st_mode));
	check_limits(&c->limits);
	for (i = 0; i < c->nlisten; i++) {
		FUZZ_CHECK(c->listen[i].address != NULL);
		FUZZ_CHECK(c->listen[i].port >= 0 &&
		    c->listen[i].port <= 65535);
	}
	for (i = 0; i < c->nroutes; i++) {
		const struct wsd_route_conf *r = &c->routes[i];

		FUZZ_CHECK(r->path != NULL && r->path[0] == '/');
		FUZZ_CHECK(r->plugin != NULL && r->plugin[0] != '\0');
		FUZZ_CHECK(r->plugin_path != NULL);
		FUZZ_CHECK(stat(r->plugin_path, &st) == 0 &&
		    S_ISREG(st.st_mode));
		FUZZ_CHECK(r->norigins == 0 || r->origins != NULL);
		for (j = 0; j < r->norigins; j++)
			FUZZ_CHECK(r->origins[j] != NULL &&
			    r->origins[j][0] != '\0');
		check_limits(&r->limits);
		/* global-only limits come from the global group */
		FUZZ_CHECK(r->limits.max_connections ==
		    c->limits.max_connections);
		FUZZ_CHECK(r->limits.max_head_size == c->limits.max_head_size);
		FUZZ_CHECK(r->limits.max_headers == c->limits.max_headers);
		FUZZ_CHECK(r->limits.handshake_timeout_ms ==
		    c->limits.handshake_timeout_ms);
		FUZZ_CHECK(r->limits.max_pending_per_address ==
		    c->limits.max_pending_per_address);
		FUZZ_CHECK(r->limits.max_output_total ==
		    c->limits.max_output_total);
		for (j = 0; j < i; j++)
			FUZZ_CHECK(strcmp(c->routes[j].path, r->path) != 0);
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct wsd_errors errs = { NULL, 0 };
	struct wsd_config *c;
	char *s;
	size_t i;

	/* The log level parser on the raw bytes, while we are here. */
	s = fuzz_strndup(data, size < 64 ? size : 64);
	i = (size_t)config_parse_log_level(s);
	FUZZ_CHECK((int)i == -1 || ((int)i >= LOG_ERR && (int)i <= LOG_DEBUG));
	free(s);

	if (include_unsafe(data, size)) {
		if (verbose)
			fprintf(stderr, "skipped: @include outside the "
			    "directory, or not of a file\n");
		return -1;	/* not added to the corpus */
	}
	write_file(conf, data, size);
	c = config_load(conf, plugins, &errs);
	if (c != NULL) {
		FUZZ_CHECK(errs.n == 0);
		if (verbose)
			fprintf(stderr, "config OK: %zu listener(s), %zu "
			    "route(s)\n", c->nlisten, c->nroutes);
		check_config(c);
		config_free(c);
	} else {
		FUZZ_CHECK(errs.n > 0 && errs.msg != NULL);
		for (i = 0; i < errs.n; i++) {
			FUZZ_CHECK(errs.msg[i] != NULL && errs.msg[i][0] != '\0');
			if (verbose)
				fprintf(stderr, "%s\n", errs.msg[i]);
		}
	}
	errors_clear(&errs);
	FUZZ_CHECK(errs.n == 0 && errs.msg == NULL);
	return 0;
}

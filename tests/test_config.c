/*
 * Tests for config: each test gets a fresh temporary directory holding
 * a plugin directory with empty "echo-logger.so" and "chat.so" files
 * and a "www" directory, and writes its configuration there as
 * wsd.conf.  The configuration texts are written one line per string so
 * that the expected line numbers can be read off the source.
 */
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <unistd.h>

#include <cmocka.h>

#include "config.h"

struct fx {
	char			 tmpl[64];
	char			*dir;		/* realpath of the temp dir */
	char			*conf;		/* dir/wsd.conf */
	char			*plugins;	/* dir/plugins */
	struct wsd_errors	 errs;
	struct wsd_config	*c;
};

static char *xasprintf(const char *, ...)
    __attribute__((format(printf, 1, 2)));

static char *
xasprintf(const char *fmt, ...)
{
	va_list ap;
	char *s;
	int r;

	va_start(ap, fmt);
	r = vasprintf(&s, fmt, ap);
	va_end(ap);
	assert_int_not_equal(r, -1);
	return s;
}

static void
write_file(const char *path, const char *text)
{
	FILE *fp;

	fp = fopen(path, "w");
	assert_non_null(fp);
	assert_int_equal(fputs(text, fp) >= 0, 1);
	assert_int_equal(fclose(fp), 0);
}

static void
touch(const char *dir, const char *name)
{
	char *p = xasprintf("%s/%s", dir, name);

	write_file(p, "");
	free(p);
}

static int
setup(void **state)
{
	struct fx *f;
	char *www;

	f = calloc(1, sizeof(*f));
	assert_non_null(f);
	strcpy(f->tmpl, "/tmp/wsd-test-config.XXXXXX");
	assert_non_null(mkdtemp(f->tmpl));
	f->dir = realpath(f->tmpl, NULL);
	assert_non_null(f->dir);
	f->conf = xasprintf("%s/wsd.conf", f->dir);
	f->plugins = xasprintf("%s/plugins", f->dir);
	assert_int_equal(mkdir(f->plugins, 0755), 0);
	touch(f->plugins, "echo-logger.so");
	touch(f->plugins, "chat.so");
	www = xasprintf("%s/www", f->dir);
	assert_int_equal(mkdir(www, 0755), 0);
	free(www);
	*state = f;
	return 0;
}

static int
rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	return remove(path);
}

static int
teardown(void **state)
{
	struct fx *f = *state;

	config_free(f->c);
	errors_clear(&f->errs);
	nftw(f->tmpl, rm_one, 16, FTW_DEPTH | FTW_PHYS);
	free(f->dir);
	free(f->conf);
	free(f->plugins);
	free(f);
	return 0;
}

/* Write text as wsd.conf and load it with the fixture's plugin dir. */
static struct wsd_config *
load(struct fx *f, const char *text)
{
	write_file(f->conf, text);
	config_free(f->c);
	errors_clear(&f->errs);
	f->c = config_load(f->conf, f->plugins, &f->errs);
	return f->c;
}

static void
dump_errors(const struct wsd_errors *e)
{
	size_t i;

	print_message("%zu error(s):\n", e->n);
	for (i = 0; i < e->n; i++)
		print_message("  %s\n", e->msg[i]);
}

/*
 * The error at conf:line containing sub, or NULL (after printing all
 * errors, to make the failure readable).
 */
static const char *
find_error_in(struct fx *f, const char *file, unsigned int line,
    const char *sub)
{
	char *prefix;
	const char *found = NULL;
	size_t i;

	prefix = xasprintf("%s:%u: ", file, line);
	for (i = 0; i < f->errs.n; i++) {
		if (strncmp(f->errs.msg[i], prefix, strlen(prefix)) == 0 &&
		    strstr(f->errs.msg[i], sub) != NULL) {
			found = f->errs.msg[i];
			break;
		}
	}
	if (found == NULL) {
		print_message("no error \"%s...%s\"\n", prefix, sub);
		dump_errors(&f->errs);
	}
	free(prefix);
	return found;
}

static const char *
find_error(struct fx *f, unsigned int line, const char *sub)
{
	return find_error_in(f, f->conf, line, sub);
}

#define assert_error(f, line, sub) \
	assert_non_null(find_error((f), (line), (sub)))

/* Loading must fail with exactly n errors. */
static void
assert_fails(struct fx *f, const char *text, size_t n)
{
	if (load(f, text) != NULL || f->errs.n != n) {
		print_message("expected failure with %zu error(s)\n", n);
		dump_errors(&f->errs);
	}
	assert_null(f->c);
	assert_int_equal(f->errs.n, n);
}

/* Loading must succeed. */
static struct wsd_config *
assert_loads(struct fx *f, const char *text)
{
	if (load(f, text) == NULL)
		dump_errors(&f->errs);
	assert_non_null(f->c);
	assert_int_equal(f->errs.n, 0);
	return f->c;
}

/* ------------------------------------------------------------ helpers */

static void
test_errors_add_clear(void **state)
{
	struct wsd_errors e = { NULL, 0 };

	errors_add(&e, "%s:%d: %s", "a.conf", 3, "bad");
	errors_add(&e, "second");
	assert_int_equal(e.n, 2);
	assert_string_equal(e.msg[0], "a.conf:3: bad");
	assert_string_equal(e.msg[1], "second");
	errors_clear(&e);
	assert_int_equal(e.n, 0);
	assert_null(e.msg);
	errors_clear(&e);
	config_free(NULL);
}

static void
test_parse_log_level(void **state)
{
	assert_int_equal(config_parse_log_level("debug"), LOG_DEBUG);
	assert_int_equal(config_parse_log_level("info"), LOG_INFO);
	assert_int_equal(config_parse_log_level("notice"), LOG_NOTICE);
	assert_int_equal(config_parse_log_level("warning"), LOG_WARNING);
	assert_int_equal(config_parse_log_level("error"), LOG_ERR);
	assert_int_equal(config_parse_log_level("INFO"), LOG_INFO);
	assert_int_equal(config_parse_log_level("verbose"), -1);
	assert_int_equal(config_parse_log_level(""), -1);
	assert_int_equal(config_parse_log_level(NULL), -1);
}

static void
test_default_limits(void **state)
{
	struct wsd_limits l;

	memset(&l, 0xa5, sizeof(l));
	config_default_limits(&l);
	assert_int_equal(l.max_message_size, WSD_DEFAULT_MAX_MESSAGE);
	assert_int_equal(l.max_fragments, WSD_DEFAULT_MAX_FRAGMENTS);
	assert_int_equal(l.max_head_size, 8192);
	assert_int_equal(l.max_headers, 64);
	assert_int_equal(l.handshake_timeout_ms, 10000);
	assert_int_equal(l.idle_timeout_ms, 120000);
	assert_int_equal(l.ping_interval_ms, 30000);
	assert_int_equal(l.close_timeout_ms, 5000);
	assert_int_equal(l.max_send_buffer, 1024 * 1024);
	assert_int_equal(l.max_connections, 0);
	assert_int_equal(l.max_pending_per_address, 256);
	assert_int_equal(l.max_output_total, 268435456);
}

/* ------------------------------------------------------------ valid */

static void
test_full_config(void **state)
{
	struct fx *f = *state;
	const struct wsd_route_conf *r;
	const char *s;
	char *p;

	/* routes before limits: route merging must not depend on order */
	write_file(f->conf,
	    "# full configuration\n"					/* 1 */
	    "routes = (\n"						/* 2 */
	    "  {\n"							/* 3 */
	    "    path = \"/echo\";\n"					/* 4 */
	    "    plugin = \"echo-logger\";\n"				/* 5 */
	    "    origins = [ \"https://a.example\", \"http://b:8080\" ];\n"
	    "    settings = { greeting = \"hi\"; path = 1; x = { y = 2; }; };\n"
	    "    limits = { max_message_size = 4096; idle_timeout = 1.5;"
	    " ping_interval = 0; };\n"					/* 8 */
	    "  },\n"							/* 9 */
	    "  { path = \"/chat\"; plugin = \"chat\"; origins = ( \"*\" ); }\n"
	    ");\n"							/* 11 */
	    "listen = ( { address = \"127.0.0.1\"; port = 9000; },\n"	/* 12 */
	    "           { address = \"::1\"; } );\n"			/* 13 */
	    "plugin_dir = \"plugins\";\n"				/* 14 */
	    "document_root = \"www\";\n"				/* 15 */
	    "log_level = \"debug\";\n"					/* 16 */
	    "limits = {\n"						/* 17 */
	    "  max_message_size = 5000000000L;\n"
	    "  max_fragments = 16;\n"
	    "  max_head_size = 4096;\n"
	    "  max_headers = 32;\n"
	    "  handshake_timeout = 3;\n"
	    "  idle_timeout = 60;\n"
	    "  ping_interval = 0.25;\n"
	    "  close_timeout = 2;\n"
	    "  max_send_buffer = 65536;\n"
	    "  max_connections = 100;\n"
	    "  max_pending_per_address = 8;\n"
	    "  max_output_total = 10000000000L;\n"
	    "};\n");
	/* The file's plugin_dir wins over the default. */
	f->c = config_load(f->conf, "/nonexistent", &f->errs);
	if (f->c == NULL)
		dump_errors(&f->errs);
	assert_non_null(f->c);
	assert_int_equal(f->errs.n, 0);

	assert_string_equal(f->c->file, f->conf);
	assert_string_equal(f->c->dir, f->dir);
	assert_string_equal(f->c->plugin_dir, f->plugins);
	p = xasprintf("%s/www", f->dir);
	assert_string_equal(f->c->document_root, p);
	free(p);
	assert_int_equal(f->c->log_level, LOG_DEBUG);

	assert_int_equal(f->c->nlisten, 2);
	assert_string_equal(f->c->listen[0].address, "127.0.0.1");
	assert_int_equal(f->c->listen[0].port, 9000);
	assert_int_equal(f->c->listen[0].line, 12);
	assert_string_equal(f->c->listen[1].address, "::1");
	assert_int_equal(f->c->listen[1].port, WSD_DEFAULT_PORT);
	assert_int_equal(f->c->listen[1].line, 13);

	assert_int_equal(f->c->limits.max_message_size, 5000000000ULL);
	assert_int_equal(f->c->limits.max_fragments, 16);
	assert_int_equal(f->c->limits.max_head_size, 4096);
	assert_int_equal(f->c->limits.max_headers, 32);
	assert_int_equal(f->c->limits.handshake_timeout_ms, 3000);
	assert_int_equal(f->c->limits.idle_timeout_ms, 60000);
	assert_int_equal(f->c->limits.ping_interval_ms, 250);
	assert_int_equal(f->c->limits.close_timeout_ms, 2000);
	assert_int_equal(f->c->limits.max_send_buffer, 65536);
	assert_int_equal(f->c->limits.max_connections, 100);
	assert_int_equal(f->c->limits.max_pending_per_address, 8);
	assert_int_equal(f->c->limits.max_output_total, 10000000000ULL);

	assert_int_equal(f->c->nroutes, 2);
	r = &f->c->routes[0];
	assert_string_equal(r->path, "/echo");
	assert_string_equal(r->plugin, "echo-logger");
	p = xasprintf("%s/echo-logger.so", f->plugins);
	assert_string_equal(r->plugin_path, p);
	free(p);
	assert_int_equal(r->line, 3);
	assert_int_equal(r->norigins, 2);
	assert_string_equal(r->origins[0], "https://a.example");
	assert_string_equal(r->origins[1], "http://b:8080");
	assert_null(r->origins[2]);
	assert_non_null(r->settings);
	assert_int_equal(config_setting_lookup_string(r->settings,
	    "greeting", &s), CONFIG_TRUE);
	assert_string_equal(s, "hi");
	/* overridden */
	assert_int_equal(r->limits.max_message_size, 4096);
	assert_int_equal(r->limits.idle_timeout_ms, 1500);
	assert_int_equal(r->limits.ping_interval_ms, 0);
	/* inherited from the global limits, not the defaults */
	assert_int_equal(r->limits.max_fragments, 16);
	assert_int_equal(r->limits.max_head_size, 4096);
	assert_int_equal(r->limits.max_headers, 32);
	assert_int_equal(r->limits.handshake_timeout_ms, 3000);
	assert_int_equal(r->limits.close_timeout_ms, 2000);
	assert_int_equal(r->limits.max_send_buffer, 65536);
	assert_int_equal(r->limits.max_connections, 100);
	assert_int_equal(r->limits.max_pending_per_address, 8);
	assert_int_equal(r->limits.max_output_total, 10000000000ULL);

	r = &f->c->routes[1];
	assert_string_equal(r->path, "/chat");
	assert_string_equal(r->plugin, "chat");
	assert_int_equal(r->line, 10);
	assert_int_equal(r->norigins, 1);
	assert_string_equal(r->origins[0], "*");
	assert_null(r->settings);
	assert_memory_equal(&r->limits, &f->c->limits, sizeof(r->limits));
}

static void
test_defaults(void **state)
{
	struct fx *f = *state;
	struct wsd_limits def;

	config_default_limits(&def);
	assert_loads(f, "");
	assert_int_equal(f->c->nlisten, 1);
	assert_string_equal(f->c->listen[0].address, "0.0.0.0");
	assert_int_equal(f->c->listen[0].port, 8888);
	assert_string_equal(f->c->plugin_dir, f->plugins);
	assert_null(f->c->document_root);
	assert_int_equal(f->c->log_level, LOG_INFO);
	assert_memory_equal(&f->c->limits, &def, sizeof(def));
	assert_int_equal(f->c->nroutes, 0);
	assert_null(f->c->routes);

	assert_loads(f,
	    "routes = ( { path = \"/\"; plugin = \"echo-logger\"; } );\n");
	assert_int_equal(f->c->nroutes, 1);
	assert_null(f->c->routes[0].origins);
	assert_int_equal(f->c->routes[0].norigins, 0);
	assert_null(f->c->routes[0].settings);
	assert_memory_equal(&f->c->routes[0].limits, &def, sizeof(def));

	assert_loads(f, "routes = ();\nlimits = {};\n");
	assert_int_equal(f->c->nroutes, 0);
	assert_memory_equal(&f->c->limits, &def, sizeof(def));
}

static void
test_boundaries(void **state)
{
	struct fx *f = *state;

	assert_loads(f,
	    "listen = ( { address = \"0.0.0.0\"; port = 0; },\n"
	    "           { address = \"::\"; port = 65535; } );\n"
	    "limits = { max_head_size = 256; max_headers = 10000;\n"
	    "  idle_timeout = 0; ping_interval = 0; max_send_buffer = 1024;\n"
	    "  max_connections = 0; max_fragments = 1;\n"
	    "  max_message_size = 1; };\n"
	    "routes = ( { path = \"/\"; plugin = \"chat\";\n"
	    "  limits = { max_fragments = 4294967295L;"
	    " max_message_size = 9223372036854775807L; }; } );\n");
	assert_int_equal(f->c->listen[0].port, 0);
	assert_int_equal(f->c->listen[1].port, 65535);
	assert_int_equal(f->c->limits.max_head_size, 256);
	assert_int_equal(f->c->limits.max_headers, 10000);
	assert_int_equal(f->c->limits.idle_timeout_ms, 0);
	assert_int_equal(f->c->limits.max_send_buffer, 1024);
	assert_int_equal(f->c->routes[0].limits.max_fragments, UINT32_MAX);
	assert_int_equal(f->c->routes[0].limits.max_message_size, INT64_MAX);
	assert_int_equal(f->c->routes[0].limits.max_head_size, 256);
	assert_int_equal(f->c->routes[0].limits.max_send_buffer, 1024);

	assert_loads(f,
	    "limits = { max_head_size = 1048576; max_headers = 1;\n"
	    "  max_connections = 4294967295L;\n"
	    "  max_pending_per_address = 4294967295L;\n"
	    "  max_output_total = 9223372036854775807L; };\n");
	assert_int_equal(f->c->limits.max_head_size, 1048576);
	assert_int_equal(f->c->limits.max_headers, 1);
	assert_int_equal(f->c->limits.max_connections, UINT32_MAX);
	assert_int_equal(f->c->limits.max_pending_per_address, UINT32_MAX);
	assert_int_equal(f->c->limits.max_output_total, INT64_MAX);

	/* 0: no limit */
	assert_loads(f,
	    "limits = { max_pending_per_address = 0;\n"
	    "  max_output_total = 0; };\n");
	assert_int_equal(f->c->limits.max_pending_per_address, 0);
	assert_int_equal(f->c->limits.max_output_total, 0);
}

static void
test_seconds(void **state)
{
	struct fx *f = *state;

	assert_loads(f,
	    "limits = {\n"
	    "  handshake_timeout = 0.5;\n"
	    "  close_timeout = 0.0001;\n"
	    "  idle_timeout = 2;\n"
	    "  ping_interval = 3L;\n"
	    "};\n"
	    "routes = ( { path = \"/\"; plugin = \"chat\";\n"
	    "  limits = { close_timeout = 1.25; }; } );\n");
	assert_int_equal(f->c->limits.handshake_timeout_ms, 500);
	/* a positive duration never rounds down to "off" */
	assert_int_equal(f->c->limits.close_timeout_ms, 1);
	assert_int_equal(f->c->limits.idle_timeout_ms, 2000);
	assert_int_equal(f->c->limits.ping_interval_ms, 3000);
	assert_int_equal(f->c->routes[0].limits.close_timeout_ms, 1250);
	assert_int_equal(f->c->routes[0].limits.handshake_timeout_ms, 500);
	assert_int_equal(f->c->routes[0].limits.idle_timeout_ms, 2000);
}

static void
test_settings_belong_to_plugin(void **state)
{
	struct fx *f = *state;
	int v;

	assert_loads(f,
	    "routes = ( { path = \"/a\"; plugin = \"chat\";\n"
	    "  settings = { bogus = 1; limits = \"x\"; max_connections = 3;\n"
	    "               deeper = { whatever = [ 1, 2 ]; }; }; } );\n");
	assert_non_null(f->c->routes[0].settings);
	assert_int_equal(config_setting_lookup_int(f->c->routes[0].settings,
	    "bogus", &v), CONFIG_TRUE);
	assert_int_equal(v, 1);
}

static void
test_origins(void **state)
{
	struct fx *f = *state;

	/* an empty list configures origins, none of them allowed */
	assert_loads(f,
	    "routes = ( { path = \"/a\"; plugin = \"chat\"; origins = []; },\n"
	    "  { path = \"/b\"; plugin = \"chat\"; origins = (); } );\n");
	assert_non_null(f->c->routes[0].origins);
	assert_int_equal(f->c->routes[0].norigins, 0);
	assert_null(f->c->routes[0].origins[0]);
	assert_non_null(f->c->routes[1].origins);
	assert_int_equal(f->c->routes[1].norigins, 0);

	assert_fails(f,
	    "routes = (\n"						/* 1 */
	    "  { path = \"/a\"; plugin = \"chat\";\n"			/* 2 */
	    "    origins = ( \"https://x\",\n"				/* 3 */
	    "                42 ); },\n"				/* 4 */
	    "  { path = \"/b\"; plugin = \"chat\";\n"			/* 5 */
	    "    origins = [ \"\" ]; },\n"				/* 6 */
	    "  { path = \"/c\"; plugin = \"chat\";\n"			/* 7 */
	    "    origins = \"*\"; }\n"					/* 8 */
	    ");\n", 3);
	assert_error(f, 4, "'origins' entries must be strings");
	assert_error(f, 6, "'origins' entries must not be empty");
	assert_error(f, 8, "'origins' must be a list of strings");
}

/* proxy_protocol and trusted_proxies: per listener, with a default. */
static void
test_proxies(void **state)
{
	struct fx *f = *state;
	struct wsd_config *c;
	uint8_t k[16];

	/* No listen list: the default listener takes the top-level list. */
	c = assert_loads(f, "trusted_proxies = [ \"10.0.0.0/8\", \"::1\" ];\n");
	assert_int_equal(c->nlisten, 1);
	assert_false(c->listen[0].proxy_protocol);
	assert_int_equal(c->listen[0].ntrusted, 2);
	assert_true(fwd_parse_addr("10.2.3.4", 8, k, NULL));
	assert_true(cidr_match(c->listen[0].trusted, 2, k));

	c = assert_loads(f,
	    "trusted_proxies = ( \"127.0.0.1\" );\n"
	    "listen = ( { address = \"127.0.0.1\"; port = 1; },\n"
	    "  { address = \"127.0.0.1\"; port = 2; proxy_protocol = true;\n"
	    "    trusted_proxies = [ \"192.168.0.0/16\", \"fd00::/8\",\n"
	    "      \"192.0.2.1\" ]; },\n"
	    "  { address = \"127.0.0.1\"; port = 3; trusted_proxies = []; } );\n");
	assert_int_equal(c->nlisten, 3);
	assert_false(c->listen[0].proxy_protocol);
	assert_int_equal(c->listen[0].ntrusted, 1);
	/* A copy: each listener owns its list. */
	assert_ptr_not_equal(c->listen[0].trusted, c->trusted);
	assert_true(c->listen[1].proxy_protocol);
	assert_int_equal(c->listen[1].ntrusted, 3);
	assert_true(fwd_parse_addr("127.0.0.1", 9, k, NULL));
	assert_true(cidr_match(c->listen[0].trusted, 1, k));
	assert_false(cidr_match(c->listen[1].trusted, 3, k));
	/* An empty list of its own trusts nobody. */
	assert_int_equal(c->listen[2].ntrusted, 0);
	assert_null(c->listen[2].trusted);

	assert_fails(f,
	    "trusted_proxies = \"127.0.0.1\";\n"			/* 1 */
	    "listen = ( { address = \"127.0.0.1\";\n"		/* 2 */
	    "  proxy_protocol = 1;\n"					/* 3 */
	    "  trusted_proxies = ( \"10.0.0.1/8\",\n"			/* 4 */
	    "    \"::/129\", \"localhost\", 7 );\n"			/* 5 */
	    "  trusted_proxie = [ ]; } );\n", 7);			/* 6 */
	assert_error(f, 1, "'trusted_proxies' must be a list");
	assert_error(f, 3, "'proxy_protocol' must be true or false");
	assert_error(f, 4, "did you mean '10.0.0.0/8'");
	assert_error(f, 5, "the prefix length must be 0 to 128");
	assert_error(f, 5, "'localhost' is not an IPv4 or IPv6 address");
	assert_error(f, 5, "entries must be strings");
	assert_error(f, 6, "unknown key 'trusted_proxie' (did you mean "
	    "'trusted_proxies'?)");
}

static void
test_relative_file_name(void **state)
{
	struct fx *f = *state;
	char *cwd, *expect;

	cwd = getcwd(NULL, 0);
	assert_non_null(cwd);
	write_file(f->conf,
	    "routes = ( { path = \"/a\"; plugin = \"chat\"; } );\n"
	    "log_level = \"loud\";\n");
	assert_int_equal(chdir(f->dir), 0);
	f->c = config_load("wsd.conf", "plugins", &f->errs);
	assert_int_equal(chdir(cwd), 0);
	assert_null(f->c);
	assert_int_equal(f->errs.n, 1);
	/* FILE is the name as given */
	assert_non_null(find_error_in(f, "wsd.conf", 2,
	    "'log_level' must be one of debug, info, notice, warning, error "
	    "(got 'loud')"));

	errors_clear(&f->errs);
	write_file(f->conf,
	    "routes = ( { path = \"/a\"; plugin = \"chat\"; } );\n"
	    "document_root = \"www\";\n");
	assert_int_equal(chdir(f->dir), 0);
	f->c = config_load("./wsd.conf", "plugins", &f->errs);
	assert_int_equal(chdir(cwd), 0);
	if (f->c == NULL)
		dump_errors(&f->errs);
	assert_non_null(f->c);
	/* everything is absolute, so it survives a chdir */
	assert_string_equal(f->c->file, "./wsd.conf");
	assert_string_equal(f->c->dir, f->dir);
	assert_string_equal(f->c->plugin_dir, f->plugins);
	expect = xasprintf("%s/www", f->dir);
	assert_string_equal(f->c->document_root, expect);
	free(expect);
	expect = xasprintf("%s/chat.so", f->plugins);
	assert_string_equal(f->c->routes[0].plugin_path, expect);
	free(expect);
	free(cwd);
}

static void
test_absolute_plugin_dir(void **state)
{
	struct fx *f = *state;
	char *text, *expect;

	text = xasprintf("plugin_dir = \"%s/\";\n"
	    "document_root = \"%s/www\";\n"
	    "routes = ( { path = \"/a\"; plugin = \"chat\"; } );\n",
	    f->plugins, f->dir);
	write_file(f->conf, text);
	free(text);
	f->c = config_load(f->conf, "/nonexistent", &f->errs);
	if (f->c == NULL)
		dump_errors(&f->errs);
	assert_non_null(f->c);
	expect = xasprintf("%s/chat.so", f->plugins);
	assert_string_equal(f->c->routes[0].plugin_path, expect);
	free(expect);
	expect = xasprintf("%s/www", f->dir);
	assert_string_equal(f->c->document_root, expect);
	free(expect);
}

static void
test_include(void **state)
{
	struct fx *f = *state;
	char *inc, *cwd;

	inc = xasprintf("%s/routes.inc", f->dir);
	write_file(inc,
	    "routes = (\n"						/* 1 */
	    "  { path = \"/a\"; plugin = \"echo-logger\"; },\n"		/* 2 */
	    "  { path = \"/b\"; plugin = \"nosuch\"; }\n"		/* 3 */
	    ");\n");
	cwd = getcwd(NULL, 0);
	assert_non_null(cwd);
	/* @include is relative to the config file, not the cwd */
	assert_int_equal(chdir("/"), 0);
	assert_fails(f,
	    "log_level = \"notice\";\n"
	    "@include \"routes.inc\"\n"
	    "frob = 1;\n", 2);
	assert_error(f, 3, "unknown key 'frob'");
	assert_non_null(find_error_in(f, "routes.inc", 3,
	    "plugin 'nosuch'"));
	/* errors come in file order: the main file first */
	assert_non_null(strstr(f->errs.msg[0], "frob"));

	write_file(inc,
	    "routes = ( { path = \"/a\"; plugin = \"echo-logger\"; } );\n");
	assert_loads(f, "@include \"routes.inc\"\n");
	assert_int_equal(chdir(cwd), 0);
	assert_int_equal(f->c->nroutes, 1);
	assert_int_equal(f->c->log_level, LOG_INFO);
	free(cwd);
	free(inc);
}

/* ------------------------------------------------------------ errors */

static void
test_missing_file(void **state)
{
	struct fx *f = *state;
	char *p, *expect;

	p = xasprintf("%s/missing.conf", f->dir);
	f->c = config_load(p, f->plugins, &f->errs);
	assert_null(f->c);
	assert_int_equal(f->errs.n, 1);
	expect = xasprintf("%s: cannot read: %s", p, strerror(ENOENT));
	assert_string_equal(f->errs.msg[0], expect);
	free(expect);
	free(p);
}

static void
test_syntax_error(void **state)
{
	struct fx *f = *state;

	assert_fails(f,
	    "log_level = \"info\";\n"					/* 1 */
	    "limits = {\n"						/* 2 */
	    "  max_headers = ;\n"					/* 3 */
	    "};\n", 1);
	assert_error(f, 3, "syntax error");

	assert_fails(f,
	    "log_level = \"info\";\n"
	    "log_level = \"debug\";\n", 1);
	assert_error(f, 2, "duplicate setting");
}

static void
test_unknown_top_key(void **state)
{
	struct fx *f = *state;
	const char *m;

	assert_fails(f,
	    "log_level = \"info\";\n"					/* 1 */
	    "\n"							/* 2 */
	    "listne = ( );\n"						/* 3 */
	    "frobnicate = 1;\n"						/* 4 */
	    "Routes = ();\n", 3);					/* 5 */
	assert_error(f, 3, "unknown key 'listne' (did you mean 'listen'?)");
	m = find_error(f, 4, "unknown key 'frobnicate'");
	assert_non_null(m);
	assert_null(strstr(m, "did you mean"));
	assert_error(f, 5, "unknown key 'Routes' (did you mean 'routes'?)");
}

static void
test_unknown_nested_keys(void **state)
{
	struct fx *f = *state;

	assert_fails(f,
	    "limits = {\n"						/* 1 */
	    "  max_headers = 10;\n"					/* 2 */
	    "  max_header = 10;\n"					/* 3 */
	    "};\n"							/* 4 */
	    "listen = ( { address = \"127.0.0.1\"; prot = 1; } );\n"	/* 5 */
	    "routes = (\n"						/* 6 */
	    "  { path = \"/a\"; plugin = \"echo-logger\";\n"		/* 7 */
	    "    plguin = \"x\";\n"					/* 8 */
	    "    limits = { idle_timeout = 1;\n"			/* 9 */
	    "               idel_timeout = 2; }; }\n"			/* 10 */
	    ");\n", 4);
	assert_error(f, 3,
	    "unknown key 'max_header' (did you mean 'max_headers'?)");
	assert_error(f, 5, "unknown key 'prot' (did you mean 'port'?)");
	assert_error(f, 8, "unknown key 'plguin' (did you mean 'plugin'?)");
	assert_error(f, 10,
	    "unknown key 'idel_timeout' (did you mean 'idle_timeout'?)");
}

static void
test_wrong_types(void **state)
{
	struct fx *f = *state;

	assert_fails(f,
	    "listen = (\n"						/* 1 */
	    "  { address = \"127.0.0.1\";\n"				/* 2 */
	    "    port = \"8888\"; },\n"					/* 3 */
	    "  { address = 127; }\n"					/* 4 */
	    ");\n"							/* 5 */
	    "log_level = 3;\n"						/* 6 */
	    "limits = { max_headers = 1.5; idle_timeout = \"60\"; };\n" /* 7 */
	    "routes = ( { path = \"/a\"; plugin = \"echo-logger\";\n"	/* 8 */
	    "  settings = 1; limits = [ 1 ]; },\n"			/* 9 */
	    "  { path = 1; plugin = true; } );\n"			/* 10 */
	    "plugin_dir = 1;\n"						/* 11 */
	    "document_root = [ \"www\" ];\n", 11);			/* 12 */
	assert_error(f, 3, "'port' must be an integer");
	assert_error(f, 4, "'address' must be a string");
	assert_error(f, 6, "'log_level' must be a string");
	assert_error(f, 7, "'max_headers' must be an integer");
	assert_error(f, 7, "'idle_timeout' must be a number of seconds");
	assert_error(f, 9, "'settings' must be a group");
	assert_error(f, 9, "'limits' must be a group");
	assert_error(f, 10, "'path' must be a string");
	assert_error(f, 10, "'plugin' must be a string");
	assert_error(f, 11, "'plugin_dir' must be a string");
	assert_error(f, 12, "'document_root' must be a string");

	assert_fails(f,
	    "listen = \"0.0.0.0\";\n"
	    "limits = 5;\n"
	    "routes = { path = \"/a\"; };\n", 3);
	assert_error(f, 1, "'listen' must be a list of groups");
	assert_error(f, 2, "'limits' must be a group");
	assert_error(f, 3, "'routes' must be a list of groups");

	assert_fails(f,
	    "limits = {\n"						/* 1 */
	    "  max_pending_per_address = \"64\";\n"			/* 2 */
	    "  max_output_total = 1.5;\n"				/* 3 */
	    "};\n", 2);
	assert_error(f, 2, "'max_pending_per_address' must be an integer");
	assert_error(f, 3, "'max_output_total' must be an integer");

	assert_fails(f,
	    "routes = ( \"/a\" );\n"
	    "listen = ( );\n", 2);
	assert_error(f, 1, "'routes' entries must be groups");
	assert_error(f, 2, "'listen' must not be empty");
}

static void
test_out_of_range(void **state)
{
	struct fx *f = *state;

	assert_fails(f,
	    "listen = ( { address = \"0.0.0.0\"; port = 70000; },\n"	/* 1 */
	    "           { address = \"::\"; port = -1; } );\n"		/* 2 */
	    "limits = {\n"						/* 3 */
	    "  max_message_size = 0;\n"					/* 4 */
	    "  max_fragments = 0;\n"					/* 5 */
	    "  max_head_size = 255;\n"					/* 6 */
	    "  max_headers = 10001;\n"					/* 7 */
	    "  handshake_timeout = 0;\n"				/* 8 */
	    "  idle_timeout = -1;\n"					/* 9 */
	    "  ping_interval = -0.5;\n"					/* 10 */
	    "  close_timeout = 0.0;\n"					/* 11 */
	    "  max_send_buffer = 1023;\n"				/* 12 */
	    "  max_connections = -1;\n"					/* 13 */
	    "};\n"							/* 14 */
	    "log_level = \"verbose\";\n"				/* 15 */
	    "routes = ( { path = \"/a\"; plugin = \"chat\";\n"		/* 16 */
	    "  limits = { max_send_buffer = 1000; }; } );\n", 14);	/* 17 */
	assert_error(f, 1, "'port' must be between 0 and 65535 (got 70000)");
	assert_error(f, 2, "'port' must be between 0 and 65535 (got -1)");
	assert_error(f, 4, "'max_message_size' must be at least 1 (got 0)");
	assert_error(f, 5, "'max_fragments' must be between 1 and");
	assert_error(f, 6,
	    "'max_head_size' must be between 256 and 1048576 (got 255)");
	assert_error(f, 7,
	    "'max_headers' must be between 1 and 10000 (got 10001)");
	assert_error(f, 8, "'handshake_timeout' must be greater than 0");
	assert_error(f, 9, "'idle_timeout' must not be negative");
	assert_error(f, 10, "'ping_interval' must not be negative");
	assert_error(f, 11, "'close_timeout' must be greater than 0");
	assert_error(f, 12,
	    "'max_send_buffer' must be at least 1024 (got 1023)");
	assert_error(f, 13, "'max_connections' must be between 0 and");
	assert_error(f, 15, "'log_level' must be one of");
	assert_error(f, 17, "'max_send_buffer' must be at least 1024");

	assert_fails(f,
	    "limits = { max_pending_per_address = -1;\n"		/* 1 */
	    "  max_output_total = -1; };\n", 2);			/* 2 */
	assert_error(f, 1, "'max_pending_per_address' must be between 0 and");
	assert_error(f, 2, "'max_output_total' must be at least 0 (got -1)");

	assert_fails(f, "limits = { idle_timeout = 5000000; };\n", 1);
	assert_error(f, 1, "'idle_timeout' is too large");
}

static void
test_duplicate_route(void **state)
{
	struct fx *f = *state;
	char *want;

	assert_fails(f,
	    "routes = (\n"						/* 1 */
	    "  { path = \"/echo\"; plugin = \"echo-logger\"; },\n"	/* 2 */
	    "  { path = \"/chat\"; plugin = \"chat\"; },\n"		/* 3 */
	    "  {\n"							/* 4 */
	    "    path = \"/echo\";\n"					/* 5 */
	    "    plugin = \"chat\";\n"					/* 6 */
	    "  }\n"							/* 7 */
	    ");\n", 1);
	want = xasprintf("duplicate route /echo (first defined at %s:2)",
	    f->conf);
	assert_error(f, 5, want);
	free(want);
}

static void
test_route_path(void **state)
{
	struct fx *f = *state;

	assert_fails(f,
	    "routes = (\n"						/* 1 */
	    "  { path = \"echo\"; plugin = \"echo-logger\"; },\n"	/* 2 */
	    "  { path = \"/a?b\"; plugin = \"echo-logger\"; },\n"	/* 3 */
	    "  { path = \"/a#b\"; plugin = \"echo-logger\"; },\n"	/* 4 */
	    "  { path = \"/a b\"; plugin = \"echo-logger\"; },\n"	/* 5 */
	    "  { path = \"/a\\nb\"; plugin = \"echo-logger\"; },\n"	/* 6 */
	    "  { path = \"\"; plugin = \"echo-logger\"; },\n"		/* 7 */
	    "  { plugin = \"echo-logger\"; }\n"				/* 8 */
	    ");\n", 7);
	assert_error(f, 2, "route path 'echo' must start with '/'");
	assert_error(f, 3, "route path '/a?b' must not contain '?' or '#'");
	assert_error(f, 4, "route path '/a#b' must not contain '?' or '#'");
	assert_error(f, 5, "must not contain whitespace or control");
	assert_error(f, 6, "must not contain whitespace or control");
	assert_error(f, 7, "route path '' must start with '/'");
	assert_error(f, 8, "route has no 'path'");
}

static void
test_route_patterns(void **state)
{
	struct fx *f = *state;
	char *want, *inc;

	assert_fails(f,
	    "routes = (\n"						/* 1 */
	    "  { path = \"/r/:\"; plugin = \"chat\"; },\n"		/* 2 */
	    "  { path = \"/r/:9a\"; plugin = \"chat\"; },\n"		/* 3 */
	    "  { path = \"/r/:a/:a\"; plugin = \"chat\"; },\n"		/* 4 */
	    "  { path = \"/r/*/x\"; plugin = \"chat\"; },\n"		/* 5 */
	    "  { path = \"/r*\"; plugin = \"chat\"; },\n"		/* 6 */
	    "  { path = \"/r//:a\"; plugin = \"chat\"; },\n"		/* 7 */
	    "  { path = \"/r/:a/\"; plugin = \"chat\"; }\n"		/* 8 */
	    ");\n", 7);
	assert_error(f, 2, "route path '/r/:': bad parameter name ':'");
	assert_error(f, 3, "route path '/r/:9a': bad parameter name ':9a'");
	assert_error(f, 4, "route path '/r/:a/:a': parameter ':a' appears "
	    "twice");
	assert_error(f, 5, "route path '/r/*/x': '*' must be the whole last "
	    "segment");
	assert_error(f, 6, "route path '/r*': '*' must be the whole last");
	assert_error(f, 7, "route path '/r//:a': empty segment");
	assert_error(f, 8, "route path '/r/:a/': empty segment");

	/* Routes that match the same paths: both places named. */
	assert_fails(f,
	    "routes = (\n"						/* 1 */
	    "  { path = \"/a/:x\"; plugin = \"chat\"; },\n"		/* 2 */
	    "  { path = \"/f/:u/*\"; plugin = \"chat\"; },\n"		/* 3 */
	    "  { path = \"/a/:y\"; plugin = \"chat\"; },\n"		/* 4 */
	    "  {\n"							/* 5 */
	    "    plugin = \"chat\";\n"					/* 6 */
	    "    path = \"/f/:v/*\";\n"					/* 7 */
	    "  },\n"							/* 8 */
	    "  { path = \"/a/:z\"; plugin = \"chat\"; }\n"		/* 9 */
	    ");\n", 3);
	want = xasprintf("route /a/:y can never be told apart from route "
	    "/a/:x at %s:2", f->conf);
	assert_error(f, 4, want);
	free(want);
	want = xasprintf("route /f/:v/* can never be told apart from route "
	    "/f/:u/* at %s:3", f->conf);
	assert_error(f, 7, want);
	free(want);
	want = xasprintf("route /a/:z can never be told apart from route "
	    "/a/:x at %s:2", f->conf);
	assert_error(f, 9, want);
	free(want);

	/* In another file: that file's name. */
	inc = xasprintf("%s/more.inc", f->dir);
	write_file(inc,
	    "  { path = \"/b\"; plugin = \"chat\"; },\n"		/* 1 */
	    "  { path = \"/a/:other\"; plugin = \"chat\"; }\n");	/* 2 */
	assert_fails(f,
	    "routes = (\n"						/* 1 */
	    "  { path = \"/a/:x\"; plugin = \"chat\"; },\n"		/* 2 */
	    "@include \"more.inc\"\n"					/* 3 */
	    ");\n", 1);
	want = xasprintf("route /a/:other can never be told apart from route "
	    "/a/:x at %s:2", f->conf);
	assert_non_null(find_error_in(f, "more.inc", 2, want));
	free(want);
	free(inc);

	/* Overlapping shapes are fine: precedence orders them. */
	assert_loads(f,
	    "routes = (\n"
	    "  { path = \"/rooms/lobby\"; plugin = \"chat\"; },\n"
	    "  { path = \"/rooms/:room\"; plugin = \"chat\"; },\n"
	    "  { path = \"/rooms/*\"; plugin = \"chat\"; },\n"
	    "  { path = \"/:a/:b\"; plugin = \"chat\"; },\n"
	    "  { path = \"/a:b\"; plugin = \"chat\"; },\n"
	    "  { path = \"/*\"; plugin = \"chat\"; }\n"
	    ");\n");
	assert_int_equal(f->c->nroutes, 6);
}

static void
test_plugin_name(void **state)
{
	struct fx *f = *state;

	assert_fails(f,
	    "routes = (\n"						/* 1 */
	    "  { path = \"/a\"; plugin = \"../evil\"; },\n"		/* 2 */
	    "  { path = \"/b\"; plugin = \".hidden\"; },\n"		/* 3 */
	    "  { path = \"/c\"; plugin = \"a/b\"; },\n"			/* 4 */
	    "  { path = \"/d\"; plugin = \"\"; },\n"			/* 5 */
	    "  {\n"							/* 6 */
	    "    path = \"/e\"; }\n"					/* 7 */
	    ");\n", 5);
	assert_error(f, 2, "invalid plugin name '../evil'");
	assert_error(f, 3, "invalid plugin name '.hidden'");
	assert_error(f, 4, "invalid plugin name 'a/b'");
	assert_error(f, 5, "invalid plugin name ''");
	/* a missing key is reported at the line of its group */
	assert_error(f, 6, "route has no 'plugin'");
}

static void
test_missing_plugin_file(void **state)
{
	struct fx *f = *state;
	char *expect, *sub;

	sub = xasprintf("%s/sub.so", f->plugins);
	assert_int_equal(mkdir(sub, 0755), 0);
	assert_fails(f,
	    "routes = (\n"						/* 1 */
	    "  { path = \"/a\"; plugin = \"echo-logger\"; },\n"		/* 2 */
	    "  { path = \"/b\";\n"					/* 3 */
	    "    plugin = \"nosuch\"; },\n"				/* 4 */
	    "  { path = \"/c\"; plugin = \"sub\"; }\n"			/* 5 */
	    ");\n", 2);
	expect = xasprintf("%s:4: plugin 'nosuch': %s/nosuch.so: %s",
	    f->conf, f->plugins, strerror(ENOENT));
	assert_string_equal(f->errs.msg[0], expect);
	free(expect);
	expect = xasprintf("plugin 'sub': %s: not a regular file", sub);
	assert_error(f, 5, expect);
	free(expect);
	free(sub);
}

/*
 * Limits that apply before a route is known (the request head and its
 * timer) or to the whole daemon (connections) are global-only: setting
 * one in a route used to be accepted and then ignored.  Each is reported
 * at its own line, all in one run, whatever its value or type.
 */
static void
test_global_only_in_route(void **state)
{
	struct fx *f = *state;

	assert_fails(f,
	    "limits = { max_connections = 10; max_head_size = 4096; };\n"
	    "routes = ( { path = \"/a\"; plugin = \"echo-logger\";\n"	/* 2 */
	    "  limits = { max_message_size = 100;\n"			/* 3 */
	    "             max_connections = 5;\n"			/* 4 */
	    "             max_head_size = 1024;\n"			/* 5 */
	    "             max_headers = \"many\";\n"			/* 6 */
	    "             handshake_timeout = 2; }; },\n"		/* 7 */
	    "  { path = \"/b\"; plugin = \"chat\";\n"			/* 8 */
	    "    limits = { handshake_timeout = 0.5;\n"		/* 9 */
	    "               max_pending_per_address = 1;\n"		/* 10 */
	    "               max_output_total = 0; }; } );\n", 7);	/* 11 */
	assert_error(f, 4,
	    "'max_connections' is only allowed in the global limits");
	assert_error(f, 5,
	    "'max_head_size' is only allowed in the global limits");
	assert_error(f, 6,
	    "'max_headers' is only allowed in the global limits");
	assert_error(f, 7,
	    "'handshake_timeout' is only allowed in the global limits");
	assert_error(f, 9,
	    "'handshake_timeout' is only allowed in the global limits");
	assert_error(f, 10,
	    "'max_pending_per_address' is only allowed in the global limits");
	assert_error(f, 11,
	    "'max_output_total' is only allowed in the global limits");

	/* A route inherits them from the global limits. */
	assert_loads(f,
	    "limits = { max_head_size = 4096; max_headers = 7;\n"
	    "  handshake_timeout = 2; max_connections = 9;\n"
	    "  max_pending_per_address = 3; max_output_total = 65536; };\n"
	    "routes = ( { path = \"/a\"; plugin = \"chat\";\n"
	    "  limits = { idle_timeout = 1; }; } );\n");
	assert_int_equal(f->c->routes[0].limits.max_head_size, 4096);
	assert_int_equal(f->c->routes[0].limits.max_headers, 7);
	assert_int_equal(f->c->routes[0].limits.handshake_timeout_ms, 2000);
	assert_int_equal(f->c->routes[0].limits.max_connections, 9);
	assert_int_equal(f->c->routes[0].limits.max_pending_per_address, 3);
	assert_int_equal(f->c->routes[0].limits.max_output_total, 65536);
}

static void
test_listen_address(void **state)
{
	struct fx *f = *state;

	assert_fails(f,
	    "listen = (\n"						/* 1 */
	    "  { address = \"localhost\"; },\n"				/* 2 */
	    "  { address = \"256.1.1.1\"; port = 1; },\n"		/* 3 */
	    "  { port = 80; },\n"					/* 4 */
	    "  { address = \"::1\"; port = 8080; },\n"			/* 5 */
	    "  { address = \"0:0::1\"; port = 8080; },\n"		/* 6 */
	    "  \"0.0.0.0\" );\n", 5);					/* 7 */
	assert_error(f, 2,
	    "'address' is not a valid IPv4 or IPv6 address: 'localhost'");
	assert_error(f, 3,
	    "'address' is not a valid IPv4 or IPv6 address: '256.1.1.1'");
	assert_error(f, 4, "listen entry has no 'address'");
	assert_error(f, 6, "duplicate listener 0:0::1 port 8080 "
	    "(first defined at line 5)");
	/*
	 * libconfig dates a scalar list element by the token after it, so
	 * keep the ')' on the same line.
	 */
	assert_error(f, 7, "'listen' entries must be groups");
}

static void
test_document_root(void **state)
{
	struct fx *f = *state;
	char *expect;

	assert_fails(f, "\ndocument_root = \"nope\";\n", 1);
	expect = xasprintf("document_root %s/nope: %s", f->dir,
	    strerror(ENOENT));
	assert_error(f, 2, expect);
	free(expect);

	assert_fails(f, "document_root = \"wsd.conf\";\n", 1);
	expect = xasprintf("document_root %s/wsd.conf: not a directory",
	    f->dir);
	assert_error(f, 1, expect);
	free(expect);

	assert_fails(f, "document_root = \"\";\n", 1);
	assert_error(f, 1, "'document_root' must not be empty");
}

static void
test_many_errors(void **state)
{
	struct fx *f = *state;
	size_t i;
	char *prefix;
	static const unsigned int lines[] = { 3, 5, 6, 8, 9 };

	/* Reported in file order, whatever order they are checked in. */
	assert_fails(f,
	    "routes = (\n"						/* 1 */
	    "  { path = \"/a\"; plugin = \"echo-logger\"; },\n"		/* 2 */
	    "  { path = \"/a\"; plugin = \"chat\"; }\n"			/* 3 */
	    ");\n"							/* 4 */
	    "bogus = 1;\n"						/* 5 */
	    "limits = { max_headers = 0; };\n"				/* 6 */
	    "listen = (\n"						/* 7 */
	    "  { address = \"1.2.3\";\n"				/* 8 */
	    "    port = \"80\"; } );\n", 5);				/* 9 */
	for (i = 0; i < 5; i++) {
		prefix = xasprintf("%s:%u: ", f->conf, lines[i]);
		assert_true(strncmp(f->errs.msg[i], prefix,
		    strlen(prefix)) == 0);
		free(prefix);
	}
	assert_error(f, 3, "duplicate route /a");
	assert_error(f, 5, "unknown key 'bogus'");
	assert_error(f, 6, "'max_headers' must be between");
	assert_error(f, 8, "not a valid IPv4 or IPv6 address");
	assert_error(f, 9, "'port' must be an integer");
}

static void
test_errors_appended(void **state)
{
	struct fx *f = *state;

	/* config_load appends to errors already in the list */
	errors_add(&f->errs, "earlier");
	write_file(f->conf, "bogus = 1;\n");
	f->c = config_load(f->conf, f->plugins, &f->errs);
	assert_null(f->c);
	assert_int_equal(f->errs.n, 2);
	assert_string_equal(f->errs.msg[0], "earlier");
	assert_error(f, 1, "unknown key 'bogus'");
}

/*
 * libconfig 1.5 exits the whole process on an @include of a directory
 * (found by fuzz_config); wsd must refuse it with FILE:LINE instead, also
 * inside an included file.  Before the fix this test never returned.
 */
static void
test_include_directory(void **state)
{
	struct fx *f = *state;
	char *inc;

	assert_fails(f, "log_level = \"info\";\n@include \"www\"\n", 1);
	assert_error(f, 2, "@include \"www\": not a regular file");
	assert_fails(f, "@include \"\"\n", 1);
	assert_error(f, 1, "not a regular file");
	assert_fails(f, "  @include \"missing.inc\"\n", 1);
	assert_error(f, 1, "No such file or directory");
	inc = xasprintf("%s/outer.inc", f->dir);
	write_file(inc, "# outer\n@include \"plugins\"\n");
	assert_fails(f, "@include \"outer.inc\"\n", 1);
	assert_non_null(find_error_in(f, inc, 2, "not a regular file"));
	free(inc);
}

/* ------------------------------------------------------------ cluster */

static void
test_cluster_absent(void **state)
{
	struct fx *f = *state;

	assert_loads(f, "");
	assert_null(f->c->cluster.redis);
	assert_null(f->c->cluster.user);
	assert_null(f->c->cluster.password);
}

static void
test_cluster_full(void **state)
{
	struct fx *f = *state;
	struct wsd_cluster_conf *cc;

	assert_loads(f,
	    "cluster = {\n"
	    "  redis = \"127.0.0.1:6380\";\n"
	    "  user = \"wsd\";\n"
	    "  password = \"s3cret pass\";\n"
	    "  prefix = \"app1/\";\n"
	    "  max_pending = 65536;\n"
	    "};\n");
	cc = &f->c->cluster;
	assert_string_equal(cc->redis, "127.0.0.1:6380");
	assert_string_equal(cc->user, "wsd");
	assert_string_equal(cc->password, "s3cret pass");
	assert_string_equal(cc->prefix, "app1/");
	assert_int_equal(cc->max_pending, 65536);
	assert_int_equal(cc->line, 1);

	/* Defaults: prefix "wsd:", 16 MiB pending, no AUTH. */
	assert_loads(f, "cluster = { redis = \"localhost\"; };\n");
	cc = &f->c->cluster;
	assert_string_equal(cc->redis, "localhost");
	assert_string_equal(cc->prefix, "wsd:");
	assert_int_equal(cc->max_pending, 16 * 1024 * 1024);
	assert_null(cc->user);
	assert_null(cc->password);

	/* A password alone is AUTH PASSWORD. */
	assert_loads(f, "cluster = { redis = \"[::1]:1\"; password = \"x\"; "
	    "max_pending = 5000000000L; };\n");
	assert_string_equal(f->c->cluster.password, "x");
	assert_true(f->c->cluster.max_pending == 5000000000ULL);

	assert_loads(f, "cluster = { redis = \"/run/redis/redis.sock\"; "
	    "prefix = \"~\"; max_pending = 4096; };\n");
	assert_string_equal(f->c->cluster.redis, "/run/redis/redis.sock");
	assert_int_equal(f->c->cluster.max_pending, 4096);
}

static void
test_cluster_errors(void **state)
{
	struct fx *f = *state;
	char prefix[80], *text;

	assert_fails(f,
	    "cluster = {\n"						/* 1 */
	    "  redis = \"redis.internal:6379\";\n"			/* 2 */
	    "  user = \"wsd\";\n"					/* 3 */
	    "  prefx = \"a:\";\n"					/* 4 */
	    "  max_pending = 4095;\n"					/* 5 */
	    "};\n", 4);							/* 6 */
	assert_error(f, 2, "'redis' \"redis.internal:6379\": HOST must be "
	    "a numeric IP address or \"localhost\" (no name is looked up)");
	assert_error(f, 3, "'user' needs a 'password'");
	assert_error(f, 4, "unknown key 'prefx' (did you mean 'prefix'?)");
	assert_error(f, 5, "'max_pending' must be between 4096 and "
	    "68719476736 (got 4095)");

	assert_fails(f, "\ncluster = { prefix = \"x\"; };\n", 1);
	assert_error(f, 2, "'cluster' needs 'redis'");

	assert_fails(f, "cluster = \"127.0.0.1:6379\";\n", 1);
	assert_error(f, 1, "'cluster' must be a group");

	assert_fails(f,
	    "cluster = {\n"						/* 1 */
	    "  redis = \"::1:6379\";\n"					/* 2 */
	    "  password = \"\";\n"					/* 3 */
	    "  prefix = \"a b\";\n"					/* 4 */
	    "};\n", 3);
	assert_error(f, 2, "an IPv6 address goes in brackets");
	assert_error(f, 3, "'password' must not be empty");
	assert_error(f, 4, "'prefix' must be printable ASCII without spaces");

	assert_fails(f,
	    "cluster = {\n"						/* 1 */
	    "  redis = 6379;\n"						/* 2 */
	    "  user = \"a\\tb\";\n"					/* 3 */
	    "  password = \"p\";\n"					/* 4 */
	    "  prefix = \"\";\n"					/* 5 */
	    "  max_pending = \"1M\";\n"					/* 6 */
	    "};\n", 4);
	assert_error(f, 2, "'redis' must be a string");
	assert_error(f, 3, "'user' must not contain control characters");
	assert_error(f, 5, "'prefix' must not be empty");
	assert_error(f, 6, "'max_pending' must be an integer");

	assert_fails(f, "cluster = { redis = \"127.0.0.1:0\"; };\n", 1);
	assert_error(f, 1, "PORT must be 1 to 65535");

	/* 64 bytes of prefix are fine, 65 are not. */
	memset(prefix, 'p', sizeof(prefix));
	prefix[64] = '\0';
	text = xasprintf("cluster = { redis = \"127.0.0.1\"; prefix = \"%s\"; "
	    "};\n", prefix);
	assert_loads(f, text);
	assert_int_equal(strlen(f->c->cluster.prefix), 64);
	free(text);
	prefix[64] = 'p';
	prefix[65] = '\0';
	text = xasprintf("cluster = { redis = \"127.0.0.1\"; prefix = \"%s\"; "
	    "};\n", prefix);
	assert_fails(f, text, 1);
	assert_error(f, 1, "'prefix' must be at most 64 bytes");
	free(text);
}

/* ------------------------------------------------------------ tls */

static void
test_tls_group(void **state)
{
	struct fx *f = *state;
	struct wsd_config *c;
	const struct wsd_tls_conf *t;

	c = assert_loads(f,
	    "listen = ( { address = \"127.0.0.1\"; port = 8888; },\n"
	    "  { address = \"127.0.0.1\"; port = 8443;\n"
	    "    tls = { certificate = \"certs/full.pem\";\n"
	    "            key = \"/etc/k.pem\";\n"
	    "            min_protocol = \"TLSv1.3\";\n"
	    "            ciphersuites = \"TLS_AES_128_GCM_SHA256\";\n"
	    "            client_ca = \"ca.pem\";\n"
	    "            sni = ( { certificate = \"b.pem\"; key = \"b.key\"; } );\n"
	    "    };\n"
	    "  } );\n"
	    "routes = ( { path = \"/e\"; plugin = \"echo-logger\"; } );\n");
	assert_int_equal(c->nlisten, 2);
	assert_null(c->listen[0].tls);
	t = c->listen[1].tls;
	assert_non_null(t);
	assert_int_equal(t->ncerts, 2);
	assert_true(strncmp(t->certs[0].certificate, f->dir,
	    strlen(f->dir)) == 0);
	assert_non_null(strstr(t->certs[0].certificate, "/certs/full.pem"));
	assert_string_equal(t->certs[0].key, "/etc/k.pem");
	assert_int_equal(t->certs[0].line, 3);
	assert_non_null(strstr(t->certs[1].key, "/b.key"));
	assert_int_equal(t->min_protocol, WSD_TLS_1_3);
	assert_null(t->ciphers);
	assert_string_equal(t->ciphersuites, "TLS_AES_128_GCM_SHA256");
	/* A CA without verify_client: ask, do not insist. */
	assert_int_equal(t->verify_client, WSD_VERIFY_OPTIONAL);
}

static void
test_tls_errors(void **state)
{
	struct fx *f = *state;

	assert_fails(f,
	    "listen = ( { address = \"127.0.0.1\"; port = 8443;\n"
	    "    tls = { key = \"k.pem\"; min_protocol = \"TLSv1.1\";\n"
	    "            verify_client = \"required\"; colour = 1;\n"
	    "            sni = ( { certificate = \"b.pem\"; } ); };\n"
	    "  } );\n"
	    "routes = ( { path = \"/e\"; plugin = \"echo-logger\"; } );\n", 5);
	assert_error(f, 2, "needs a 'certificate'");
	assert_error(f, 2, "'min_protocol' must be");
	assert_error(f, 3, "'verify_client' needs 'client_ca'");
	assert_error(f, 3, "colour");
	assert_error(f, 4, "needs a 'key'");

	assert_fails(f,
	    "listen = ( { address = \"127.0.0.1\"; port = 8443;\n"
	    "    tls = { certificate = \"\"; key = 3; ciphers = \"\";\n"
	    "            verify_client = \"maybe\"; client_ca = \"ca\"; };\n"
	    "  } );\n"
	    "routes = ( { path = \"/e\"; plugin = \"echo-logger\"; } );\n", 4);
	assert_error(f, 2, "'certificate' must be a file name");
	assert_error(f, 2, "'key' must be a string");
	assert_error(f, 2, "'ciphers' must be a non-empty");
	assert_error(f, 3, "'verify_client' must be");

	assert_fails(f,
	    "listen = ( { address = \"127.0.0.1\"; port = 8443;\n"
	    "    tls = \"yes\"; } );\n"
	    "routes = ( { path = \"/e\"; plugin = \"echo-logger\"; } );\n", 1);
	assert_error(f, 2, "'tls' must be a group");
}

/* ------------------------------------------------------------ reload */

/*
 * config_route_same() between the first route of base and of variant,
 * each loaded from its own text.
 */
static bool
route_same(struct fx *f, const char *base, const char *variant)
{
	struct wsd_config *a;
	bool same;

	assert_loads(f, base);
	a = f->c;
	f->c = NULL;
	assert_loads(f, variant);
	same = config_route_same(&a->routes[0], &f->c->routes[0]);
	config_free(a);
	return same;
}

static void
test_route_same(void **state)
{
	struct fx *f = *state;
	static const char base[] =
	    "limits = { max_message_size = 1000; };\n"
	    "routes = ( { path = \"/a\"; plugin = \"chat\";\n"
	    "  origins = ( \"https://x\", \"https://y\" );\n"
	    "  settings = { n = 1; f = 1.5; s = \"x\"; b = true;\n"
	    "    g = { k = [ 1, 2 ]; l = ( \"p\", 3 ); }; }; } );\n";

	/* the same text, and the same values elsewhere in the file */
	assert_true(route_same(f, base, base));
	assert_true(route_same(f, base,
	    "# a comment moves every line\n\n"
	    "routes = ( { plugin = \"chat\"; path = \"/a\";\n"
	    "  settings = { b = true; s = \"x\"; f = 1.5; n = 1;\n"
	    "    g = { l = ( \"p\", 3 ); k = [ 1, 2 ]; }; };\n"
	    "  origins = ( \"https://x\", \"https://y\" ); } );\n"
	    "limits = { max_message_size = 1000; };\n"));
	/* any value of the route's own that differs */
	assert_false(route_same(f, base,
	    "limits = { max_message_size = 1001; };\n"
	    "routes = ( { path = \"/a\"; plugin = \"chat\";\n"
	    "  origins = ( \"https://x\", \"https://y\" );\n"
	    "  settings = { n = 1; f = 1.5; s = \"x\"; b = true;\n"
	    "    g = { k = [ 1, 2 ]; l = ( \"p\", 3 ); }; }; } );\n"));
	assert_false(route_same(f, base,
	    "limits = { max_message_size = 1000; };\n"
	    "routes = ( { path = \"/a\"; plugin = \"chat\";\n"
	    "  origins = ( \"https://y\", \"https://x\" );\n"
	    "  settings = { n = 1; f = 1.5; s = \"x\"; b = true;\n"
	    "    g = { k = [ 1, 2 ]; l = ( \"p\", 3 ); }; }; } );\n"));
	assert_false(route_same(f, base,
	    "limits = { max_message_size = 1000; };\n"
	    "routes = ( { path = \"/a\"; plugin = \"chat\";\n"
	    "  settings = { n = 1; f = 1.5; s = \"x\"; b = true;\n"
	    "    g = { k = [ 1, 2 ]; l = ( \"p\", 3 ); }; }; } );\n"));
	assert_false(route_same(f, base,
	    "limits = { max_message_size = 1000; };\n"
	    "routes = ( { path = \"/a\"; plugin = \"chat\";\n"
	    "  origins = ( \"https://x\", \"https://y\" );\n"
	    "  settings = { n = 1; f = 1.5; s = \"x\"; b = true;\n"
	    "    g = { k = [ 2, 1 ]; l = ( \"p\", 3 ); }; }; } );\n"));
	assert_false(route_same(f, base,
	    "limits = { max_message_size = 1000; };\n"
	    "routes = ( { path = \"/a\"; plugin = \"chat\";\n"
	    "  origins = ( \"https://x\", \"https://y\" );\n"
	    "  settings = { n = 1.0; f = 1.5; s = \"x\"; b = true;\n"
	    "    g = { k = [ 1, 2 ]; l = ( \"p\", 3 ); }; }; } );\n"));
	assert_false(route_same(f, base,
	    "limits = { max_message_size = 1000; };\n"
	    "routes = ( { path = \"/a\"; plugin = \"chat\";\n"
	    "  origins = ( \"https://x\", \"https://y\" );\n"
	    "  settings = { n = 1; f = 1.5; s = \"x\"; b = true;\n"
	    "    g = { k = [ 1, 2 ]; l = ( \"p\", 3 ); }; extra = 0; }; } );\n"));
	assert_false(route_same(f, base,
	    "limits = { max_message_size = 1000; };\n"
	    "routes = ( { path = \"/b\"; plugin = \"chat\";\n"
	    "  origins = ( \"https://x\", \"https://y\" );\n"
	    "  settings = { n = 1; f = 1.5; s = \"x\"; b = true;\n"
	    "    g = { k = [ 1, 2 ]; l = ( \"p\", 3 ); }; }; } );\n"));
	assert_false(route_same(f, base,
	    "limits = { max_message_size = 1000; };\n"
	    "routes = ( { path = \"/a\"; plugin = \"echo-logger\";\n"
	    "  origins = ( \"https://x\", \"https://y\" );\n"
	    "  settings = { n = 1; f = 1.5; s = \"x\"; b = true;\n"
	    "    g = { k = [ 1, 2 ]; l = ( \"p\", 3 ); }; }; } );\n"));
	/* compression, and no settings group against an empty one */
	assert_false(route_same(f,
	    "routes = ( { path = \"/a\"; plugin = \"chat\"; } );\n",
	    "routes = ( { path = \"/a\"; plugin = \"chat\";\n"
	    "  compression = { enabled = true; }; } );\n"));
	assert_false(route_same(f,
	    "routes = ( { path = \"/a\"; plugin = \"chat\"; } );\n",
	    "routes = ( { path = \"/a\"; plugin = \"chat\";\n"
	    "  settings = { }; } );\n"));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_errors_add_clear),
		cmocka_unit_test(test_parse_log_level),
		cmocka_unit_test(test_default_limits),
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
		T(test_include_directory),
		T(test_full_config),
		T(test_defaults),
		T(test_boundaries),
		T(test_seconds),
		T(test_settings_belong_to_plugin),
		T(test_origins),
		T(test_proxies),
		T(test_relative_file_name),
		T(test_absolute_plugin_dir),
		T(test_include),
		T(test_missing_file),
		T(test_syntax_error),
		T(test_unknown_top_key),
		T(test_unknown_nested_keys),
		T(test_wrong_types),
		T(test_out_of_range),
		T(test_duplicate_route),
		T(test_route_patterns),
		T(test_route_path),
		T(test_plugin_name),
		T(test_missing_plugin_file),
		T(test_global_only_in_route),
		T(test_listen_address),
		T(test_tls_group),
		T(test_tls_errors),
		T(test_document_root),
		T(test_many_errors),
		T(test_errors_appended),
		T(test_cluster_absent),
		T(test_cluster_full),
		T(test_cluster_errors),
		T(test_route_same),
#undef T
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

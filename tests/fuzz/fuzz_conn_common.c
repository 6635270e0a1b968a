/*
 * fuzz_conn_common: see fuzz_conn_common.h, and fuzz_conn.c for what the
 * server serves and what is checked.
 */
#include <sys/stat.h>

#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <event2/event.h>

#include "config.h"
#include "conn.h"
#include "frame.h"
#include "log.h"
#include "pmd.h"
#include "server.h"
#include "utf8.h"

#include "fuzz_common.h"
#include "fuzz_conn_common.h"

#ifndef WSD_FUZZ_PLUGIN_DIR
#define WSD_FUZZ_PLUGIN_DIR "plugins/.libs"
#endif
#ifndef WSD_FUZZ_TEST_PLUGIN
#define WSD_FUZZ_TEST_PLUGIN "tests/fuzz/fuzz-plugin.so"
#endif

/* In secret.txt, outside document_root: must never be served. */
#define SECRET "WSD-FUZZ-SECRET-b7e1c0"

#define MAX_EXTRA	8

struct server fc_srv;
bool fc_verbose;
const char *fc_prog = "fuzz_conn";

static char dir[PATH_MAX];
static char *abs_pdir, *abs_tplug;
static char *extra[MAX_EXTRA];
static size_t nextra;

static const char *const www_files[][2] = {
	{ "secret.txt", SECRET "\n" },
	{ "www/index.html", "<!doctype html><title>wsd</title>\n" },
	{ "www/a.txt", "plain text\n" },
	{ "www/style.css", "body { color: black }\n" },
	{ "www/empty.txt", "" },
	{ "www/sub/index.html", "<p>sub</p>\n" },
	{ "www/sub/b.js", "console.log(1);\n" },
};
static const char *const www_dirs[] = { "www", "www/sub" };

static const char conf_fmt[] =
    "%s"
    "plugin_dir = \"plugins\";\n"
    "document_root = \"www\";\n"
    "log_level = \"%s\";\n"
    "strict_permissions = false;\n"
    "limits = {\n"
    "  max_message_size = 65536;\n"
    "  max_fragments = 64;\n"
    "  max_head_size = 4096;\n"
    "  max_headers = 32;\n"
    "  handshake_timeout = 86400;\n"
    "  idle_timeout = 86400;\n"
    "  ping_interval = 86400;\n"
    "  close_timeout = 86400;\n"
    "  max_send_buffer = 131072;\n"
    "  send_high_water = 8192;\n"
    "};\n"
    "routes = (\n"
    "  { path = \"/echo\"; plugin = \"echo-logger\"; origins = [ \"*\" ];\n"
    "    settings = { echo = true; max_logged_bytes = 64; }; },\n"
    "  { path = \"/json\"; plugin = \"echo-logger\";\n"
    "    settings = { format = \"json\"; max_logged_bytes = 16; };\n"
    "    limits = { max_message_size = 1000; max_fragments = 4;\n"
    "      max_send_buffer = 1024; send_high_water = 64; }; },\n"
    "  { path = \"/quiet\"; plugin = \"echo-logger\";\n"
    "    origins = [ \"http://example.com\", \"https://x:8443\" ];\n"
    "    settings = { echo = false; }; },\n"
    "  { path = \"/z\"; plugin = \"echo-logger\"; origins = [ \"*\" ];\n"
    "    settings = { echo = true; max_logged_bytes = 16; };\n"
    "    compression = { enabled = true; min_size = 0; };\n"
    "    limits = { max_message_size = 1000; max_fragments = 16; }; },\n"
    "  { path = \"/zt\"; plugin = \"echo-logger\"; origins = [ \"*\" ];\n"
    "    settings = { echo = true; max_logged_bytes = 16; };\n"
    "    compression = { enabled = true; min_size = 0;\n"
    "      server_no_context_takeover = false;\n"
    "      client_no_context_takeover = false; };\n"
    "    limits = { max_message_size = 1000; max_fragments = 16; }; }\n"
    "%s"
    ");\n";

static const char fuzz_route[] =
    "  , { path = \"/fuzz\"; plugin = \"fuzz-plugin\"; origins = [ \"*\" ];\n"
    "    settings = { max_repeat = 64; flag = true; ratio = 0.25;\n"
    "      name = \"f\"; words = [ \"a\", \"b\" ]; };\n"
    "    limits = { max_message_size = 8192; send_high_water = 256;\n"
    "      max_send_buffer = 4096; }; }\n";

/* ------------------------------------------------------------ setup */

void
fc_path(char *out, const char *name)
{
	int n = snprintf(out, PATH_MAX, "%s/%s", dir, name);

	FUZZ_CHECK(n > 0 && n < PATH_MAX);
}

void
fc_write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	if (f == NULL || fputs(text, f) == EOF || fclose(f) != 0) {
		fprintf(stderr, "%s: %s: %s\n", fc_prog, path, strerror(errno));
		abort();
	}
}

void
fc_remove_at_exit(const char *name)
{
	FUZZ_CHECK(nextra < MAX_EXTRA);
	extra[nextra] = strdup(name);
	FUZZ_CHECK(extra[nextra] != NULL);
	nextra++;
}

static void
cleanup(void)
{
	char p[PATH_MAX];
	size_t i;

	if (fc_srv.base != NULL)
		server_free(&fc_srv);
	if (dir[0] == '\0')
		return;
	for (i = 0; i < sizeof(www_files) / sizeof(www_files[0]); i++) {
		fc_path(p, www_files[i][0]);
		unlink(p);
	}
	for (i = 0; i < nextra; i++) {
		fc_path(p, extra[i]);
		unlink(p);
		free(extra[i]);
	}
	fc_path(p, "www/escape.txt");
	unlink(p);
	fc_path(p, "plugins/echo-logger.so");
	unlink(p);
	fc_path(p, "plugins/fuzz-plugin.so");
	unlink(p);
	fc_path(p, "plugins");
	rmdir(p);
	fc_path(p, "wsd.conf");
	unlink(p);
	for (i = sizeof(www_dirs) / sizeof(www_dirs[0]); i > 0; i--) {
		fc_path(p, www_dirs[i - 1]);
		rmdir(p);
	}
	rmdir(dir);
}

void
fc_prepare(const char *prog)
{
	const char *tmp = getenv("TMPDIR"), *pdir, *tplug;
	char p[PATH_MAX], *text;
	size_t i;

	fc_prog = prog;
	fc_verbose = getenv("WSD_FUZZ_VERBOSE") != NULL;
	pdir = getenv("WSD_FUZZ_PLUGIN_DIR");
	if (pdir == NULL || pdir[0] == '\0')
		pdir = WSD_FUZZ_PLUGIN_DIR;
	if ((abs_pdir = realpath(pdir, NULL)) == NULL) {
		fprintf(stderr, "%s: plugin directory %s: %s (build the "
		    "plugins, or set WSD_FUZZ_PLUGIN_DIR)\n", prog, pdir,
		    strerror(errno));
		exit(1);
	}
	tplug = getenv("WSD_FUZZ_TEST_PLUGIN");
	if (tplug == NULL || tplug[0] == '\0')
		tplug = WSD_FUZZ_TEST_PLUGIN;
	if ((abs_tplug = realpath(tplug, NULL)) == NULL)
		fprintf(stderr, "%s: test plugin %s: %s; no /fuzz route "
		    "(build it with make fuzz, or set WSD_FUZZ_TEST_PLUGIN)\n",
		    prog, tplug, strerror(errno));

	snprintf(dir, sizeof(dir), "%s/wsd-%s.XXXXXX",
	    tmp != NULL && tmp[0] != '\0' ? tmp : "/tmp", prog);
	if (mkdtemp(dir) == NULL) {
		fprintf(stderr, "%s: mkdtemp: %s\n", prog, strerror(errno));
		exit(1);
	}
	atexit(cleanup);
	for (i = 0; i < sizeof(www_dirs) / sizeof(www_dirs[0]); i++) {
		fc_path(p, www_dirs[i]);
		if (mkdir(p, 0700) == -1)
			abort();
	}
	for (i = 0; i < sizeof(www_files) / sizeof(www_files[0]); i++) {
		fc_path(p, www_files[i][0]);
		fc_write_file(p, www_files[i][1]);
	}
	fc_path(p, "www/escape.txt");
	if (symlink("../secret.txt", p) == -1)
		abort();
	/* One plugin directory for plugins from two places. */
	fc_path(p, "plugins");
	if (mkdir(p, 0700) == -1)
		abort();
	fc_path(p, "plugins/echo-logger.so");
	if (asprintf(&text, "%s/echo-logger.so", abs_pdir) == -1 ||
	    symlink(text, p) == -1)
		abort();
	free(text);
	fc_path(p, "plugins/fuzz-plugin.so");
	if (abs_tplug != NULL && symlink(abs_tplug, p) == -1)
		abort();
}

void
fc_start(const char *listen)
{
	struct wsd_errors errs = { NULL, 0 };
	struct wsd_config *cfg;
	char conf[PATH_MAX], *text;
	size_t i;

	fc_path(conf, "wsd.conf");
	if (asprintf(&text, conf_fmt, listen, fc_verbose ? "debug" : "error",
	    abs_tplug != NULL ? fuzz_route : "") == -1)
		abort();
	free(abs_tplug);
	abs_tplug = NULL;
	fc_write_file(conf, text);
	free(text);

	log_init();
	signal(SIGPIPE, SIG_IGN);	/* as server_start() does */
	memset(&fc_srv, 0, sizeof(fc_srv));
	fc_srv.config_file = strdup(conf);
	fc_srv.plugin_dir_default = abs_pdir;
	fc_srv.port_override = -1;
	if (server_init(&fc_srv) == -1)
		abort();
	cfg = config_load(fc_srv.config_file, abs_pdir, &errs);
	if (cfg != NULL) {
		log_set_level(cfg->log_level);
		fc_srv.gen = generation_new(&fc_srv.gens, cfg, &errs);
	}
	if (fc_srv.gen == NULL) {
		for (i = 0; i < errs.n; i++)
			fprintf(stderr, "%s: %s\n", fc_prog, errs.msg[i]);
		fprintf(stderr, "%s: cannot set up the server (plugin "
		    "directory %s; set WSD_FUZZ_PLUGIN_DIR)\n", fc_prog,
		    abs_pdir);
		errors_clear(&errs);
		exit(1);
	}
}

void
fc_run_loop(void)
{
	int i;

	for (i = 0; i < 3; i++)
		FUZZ_CHECK(event_base_loop(fc_srv.base, EVLOOP_NONBLOCK) != -1);
}

uint32_t
fc_rand(uint32_t *x)
{
	*x ^= *x << 13;
	*x ^= *x >> 17;
	*x ^= *x << 5;
	return *x;
}

void
fc_check_idle(void)
{
	size_t i, home = 0;

	FUZZ_CHECK(fc_srv.nconns == 0 && conn_first(&fc_srv) == NULL);
	/*
	 * No connection holds a route or the generation: each route is
	 * held by the table alone, the generation by the server and by
	 * the instances made from it (all of them: there is no reload).
	 */
	for (i = 0; i < fc_srv.gen->routes.n; i++) {
		FUZZ_CHECK(fc_srv.gen->routes.routes[i]->nconns == 0);
		FUZZ_CHECK(fc_srv.gen->routes.routes[i]->refs == 1);
		if (fc_srv.gen->routes.routes[i]->home == fc_srv.gen)
			home++;
	}
	FUZZ_CHECK(fc_srv.gen->refs == 1 + home);
}

/* ------------------------------------------------------------ output */

void
fc_client_init(struct fc_client *cl)
{
	memset(cl, 0, sizeof(*cl));
	cl->content_length = -1;
}

void
fc_client_free(struct fc_client *cl)
{
	free(cl->buf);
	cl->buf = NULL;
	pmd_inflate_free(cl->zs);
	cl->zs = NULL;
	pmd_buf_free(&cl->z);
}

static void
client_append(struct fc_client *cl, const void *p, size_t n)
{
	if (cl->len + n > cl->cap) {
		size_t cap = cl->cap ? cl->cap : 4096;

		while (cap < cl->len + n)
			cap *= 2;
		cl->buf = realloc(cl->buf, cap);
		FUZZ_CHECK(cl->buf != NULL);
		cl->cap = cap;
	}
	memcpy(cl->buf + cl->len, p, n);
	cl->len += n;
}

static void
client_consume(struct fc_client *cl, size_t n)
{
	memmove(cl->buf, cl->buf + n, cl->len - n);
	cl->len -= n;
}

static long long
header_number(const char *head, size_t len, const char *name)
{
	size_t nl = strlen(name), i;

	for (i = 0; i + nl + 2 < len; i++) {
		if (head[i] == '\n' && strncasecmp(head + i + 1, name, nl) == 0 &&
		    head[i + 1 + nl] == ':')
			return strtoll(head + i + 2 + nl, NULL, 10);
	}
	return -1;
}

static void
check_head(struct fc_client *cl)
{
	uint8_t *end;
	size_t hl;
	char *head;

	end = memmem(cl->buf, cl->len, "\r\n\r\n", 4);
	if (end == NULL) {
		FUZZ_CHECK(cl->len < 16384);	/* our heads are short */
		return;
	}
	hl = (size_t)(end - cl->buf) + 4;
	head = fuzz_strndup(cl->buf, hl);
	if (strncmp(head, "HTTP/1.1 ", 9) != 0 || strlen(head) != hl)
		FUZZ_FAIL("bad response head: %.40s", head);
	cl->status = atoi(head + 9);
	FUZZ_CHECK(cl->status >= 101 && cl->status <= 599);
	if (cl->status == 101) {
		FUZZ_CHECK(strstr(head, "\r\nSec-WebSocket-Accept: ") != NULL);
		cl->phase = FC_FRAMES;
		cl->pmd = strstr(head,
		    "\r\nSec-WebSocket-Extensions: permessage-deflate") != NULL;
		cl->pmd_reset = cl->pmd &&
		    strstr(head, "server_no_context_takeover") != NULL;
	} else {
		cl->phase = FC_BODY;
		cl->content_length = header_number(head, hl, "Content-Length");
		FUZZ_CHECK(strstr(head, "\r\nConnection: close\r\n") != NULL);
	}
	if (fc_verbose)
		fprintf(stderr, "%s: response %d\n", fc_prog, cl->status);
	free(head);
	client_consume(cl, hl);
}

static void
check_frames(struct fc_client *cl)
{
	struct ws_frame_header h;
	enum ws_frame_result r;
	const uint8_t *p;
	size_t total;

	while (cl->len > 0) {
		r = ws_frame_parse_header(cl->buf, cl->len, false,
		    cl->pmd ? WS_RSV1 : 0, &h);
		if (r == WS_FRAME_NEED_MORE)
			return;
		if (r != WS_FRAME_OK)
			FUZZ_FAIL("the server sent an invalid frame header: %s",
			    ws_frame_strerror(r));
		if (cl->len - h.header_len < h.payload_len)
			return;
		total = h.header_len + (size_t)h.payload_len;
		p = cl->buf + h.header_len;
		if (cl->close_seen)
			FUZZ_FAIL("the server sent a frame (opcode %u) after "
			    "its Close", h.opcode);
		FUZZ_CHECK(h.fin);	/* wsd never fragments */
		FUZZ_CHECK(h.opcode != WS_OP_CONT);
		if (h.rsv & WS_RSV1) {
			FUZZ_CHECK(h.opcode == WS_OP_TEXT ||
			    h.opcode == WS_OP_BINARY);
			if (cl->zs == NULL)
				cl->zs = pmd_inflate_new(15);
			FUZZ_CHECK(cl->zs != NULL);
			cl->z.len = 0;
			if (pmd_inflate(cl->zs, p, (size_t)h.payload_len,
			    1 << 20, h.opcode == WS_OP_TEXT, &cl->z) != PMD_OK)
				FUZZ_FAIL("the server sent a compressed frame "
				    "that does not inflate to its message");
			if (cl->pmd_reset)
				FUZZ_CHECK(pmd_inflate_reset(cl->zs) == 0);
			cl->frames++;
			client_consume(cl, total);
			continue;
		}
		switch (h.opcode) {
		case WS_OP_TEXT:
			if (!utf8_valid(p, (size_t)h.payload_len))
				FUZZ_FAIL("the server sent text that is not "
				    "UTF-8");
			break;
		case WS_OP_CLOSE:
			FUZZ_CHECK(h.payload_len != 1);
			if (h.payload_len >= 2) {
				unsigned code = (unsigned)p[0] << 8 | p[1];

				if (!ws_close_code_valid(code))
					FUZZ_FAIL("the server sent close code "
					    "%u", code);
				FUZZ_CHECK(utf8_valid(p + 2,
				    (size_t)h.payload_len - 2));
				if (fc_verbose)
					fprintf(stderr, "%s: close %u %.*s\n",
					    fc_prog, code,
					    (int)h.payload_len - 2, p + 2);
			}
			cl->close_seen = true;
			break;
		default:
			break;
		}
		cl->frames++;
		client_consume(cl, total);
	}
}

static void
check_body(struct fc_client *cl)
{
	if (cl->content_length >= 0 &&
	    cl->body > (unsigned long long)cl->content_length)
		FUZZ_FAIL("%zu body bytes after Content-Length: %lld", cl->body,
		    cl->content_length);
	if (memmem(cl->buf, cl->len, SECRET, sizeof(SECRET) - 1) != NULL)
		FUZZ_FAIL("served a file outside document_root");
	/* Keep a tail in case the marker comes split. */
	if (cl->len >= sizeof(SECRET))
		client_consume(cl, cl->len - (sizeof(SECRET) - 1));
}

void
fc_client_take(struct fc_client *cl, const void *p, size_t n)
{
	enum fc_phase before = cl->phase;

	if (n == 0)
		return;
	FUZZ_CHECK(cl->len + n < 64u * 1024 * 1024);
	client_append(cl, p, n);
	cl->total += n;
	if (before == FC_BODY)
		cl->body += n;
	if (cl->phase == FC_HEAD) {
		check_head(cl);
		if (cl->phase == FC_BODY)
			cl->body = cl->len;
	}
	if (cl->phase == FC_FRAMES)
		check_frames(cl);
	else if (cl->phase == FC_BODY)
		check_body(cl);
}

void
fc_client_end(struct fc_client *cl)
{
	if (cl->phase == FC_FRAMES && cl->len > 0)
		FUZZ_FAIL("the server's output ends in half a frame (%zu "
		    "bytes)", cl->len);
	if (cl->phase == FC_HEAD && cl->len > 0)
		FUZZ_FAIL("the server's output ends in half a response head");
	if (fc_verbose)
		fprintf(stderr, "%s: status %d, %zu frame(s)%s\n", fc_prog,
		    cl->status, cl->frames, cl->close_seen ? ", closed" : "");
}

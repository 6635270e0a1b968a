/*
 * fuzz_conn: the whole per-connection state machine (src/conn.c and what
 * it calls: http, handshake, frame, utf8, static, route, the host API and
 * a real plugin), driven through a socketpair.
 *
 * Set up once per process, as main.c does: server_init(), a wsd.conf in
 * a private directory (mkdtemp), config_load() and generation_new(),
 * which dlopen()s two plugins of the build tree: the echo-logger (its
 * directory is WSD_FUZZ_PLUGIN_DIR from the environment, else the one
 * compiled in) and tests/fuzz/fuzz-plugin.so (WSD_FUZZ_TEST_PLUGIN), a
 * plugin that does whatever the client's messages say (fuzz_plugin.c).
 * The routes:
 *	/echo	echoes, any origin
 *	/json	echoes with JSON logging; same-host origins only; tiny limits
 *		(1000-byte messages, 4 fragments, 1 KiB send buffer)
 *	/quiet	does not echo; two allowed origins
 *	/fuzz	the fuzz plugin; 256-byte send high-water mark, 4 KiB
 *		send buffer
 *	/z	echoes with permessage-deflate, no context takeover,
 *		1000-byte messages (so bombs end early), 16 fragments
 *	/zt	the same with context takeover both ways
 * and a document_root with a few files, a subdirectory, an empty file
 * and a symlink that points outside it.  Timeouts are a day long, so no
 * timer fires while fuzzing; log_level is "error" so the plugin is quiet
 * (WSD_FUZZ_VERBOSE=1 turns on debug logs and prints the server's
 * output).
 *
 * One input is one client connection.  Its last byte says how to
 * deliver the rest, which is the byte stream the client sends (so a seed
 * is a request head, frames, and one trailing byte):
 *	bits 0-1  chunk sizes: 0 all at once, 1 1..8, 2 1..128, 3 1..4096
 *	bits 2-3  client receive window (read high-water mark of the client
 *		  end, and the server end's SO_SNDBUF): 0 none, 1 16 bytes,
 *		  2 512, 3 8192
 *	bit  4    the client stops reading once it has received something
 *		  (a window's worth) until it has sent everything, so the
 *		  server's output backs up (send limits, drain)
 *	bits 5-7  seed of the generator of chunk sizes
 * Between chunks the loop runs (EVLOOP_NONBLOCK) a few rounds, so the
 * connection handles every chunk as it would from the network.  Then the
 * client closes (EOF); the connection must free itself; if it does not,
 * conn_abort_all() frees it, so nothing leaks from one input to the next.
 *
 * Everything the server sends is checked: a response head first; after
 * a 101 only well-formed, unmasked, unfragmented server frames, text
 * that is UTF-8 (once inflated, if compressed: RSV1 only where the
 * extension was negotiated, only on data frames, and the data inflates
 * with the window kept or not as negotiated), Close frames with a valid
 * code, nothing after a Close,
 * no half frame at the end; otherwise a body no longer than its
 * Content-Length that never holds the file outside document_root.  At
 * the end no connection is left and the generation's references are
 * back to one.
 */
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <syslog.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>

#include "config.h"
#include "conn.h"
#include "frame.h"
#include "log.h"
#include "pmd.h"
#include "server.h"
#include "utf8.h"

#include "fuzz_common.h"

#ifndef WSD_FUZZ_PLUGIN_DIR
#define WSD_FUZZ_PLUGIN_DIR "plugins/.libs"
#endif
#ifndef WSD_FUZZ_TEST_PLUGIN
#define WSD_FUZZ_TEST_PLUGIN "tests/fuzz/fuzz-plugin.so"
#endif

/* In secret.txt, outside document_root: must never be served. */
#define SECRET "WSD-FUZZ-SECRET-b7e1c0"

static struct server srv;
static char dir[PATH_MAX];
static bool verbose;

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

static void
path_in(char *out, const char *name)
{
	int n = snprintf(out, PATH_MAX, "%s/%s", dir, name);

	FUZZ_CHECK(n > 0 && n < PATH_MAX);
}

static void
write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	if (f == NULL || fputs(text, f) == EOF || fclose(f) != 0) {
		fprintf(stderr, "fuzz_conn: %s: %s\n", path, strerror(errno));
		abort();
	}
}

static void
cleanup(void)
{
	char p[PATH_MAX];
	size_t i;

	server_free(&srv);
	if (dir[0] == '\0')
		return;
	for (i = 0; i < sizeof(www_files) / sizeof(www_files[0]); i++) {
		path_in(p, www_files[i][0]);
		unlink(p);
	}
	path_in(p, "www/escape.txt");
	unlink(p);
	path_in(p, "plugins/echo-logger.so");
	unlink(p);
	path_in(p, "plugins/fuzz-plugin.so");
	unlink(p);
	path_in(p, "plugins");
	rmdir(p);
	path_in(p, "wsd.conf");
	unlink(p);
	for (i = sizeof(www_dirs) / sizeof(www_dirs[0]); i > 0; i--) {
		path_in(p, www_dirs[i - 1]);
		rmdir(p);
	}
	rmdir(dir);
}

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	struct wsd_errors errs = { NULL, 0 };
	struct wsd_config *cfg;
	const char *tmp = getenv("TMPDIR"), *pdir, *tplug;
	char p[PATH_MAX], conf[PATH_MAX], *text, *abs_pdir, *abs_tplug;
	size_t i;

	(void)argc;
	(void)argv;
	verbose = getenv("WSD_FUZZ_VERBOSE") != NULL;
	pdir = getenv("WSD_FUZZ_PLUGIN_DIR");
	if (pdir == NULL || pdir[0] == '\0')
		pdir = WSD_FUZZ_PLUGIN_DIR;
	if ((abs_pdir = realpath(pdir, NULL)) == NULL) {
		fprintf(stderr, "fuzz_conn: plugin directory %s: %s (build the "
		    "plugins, or set WSD_FUZZ_PLUGIN_DIR)\n", pdir,
		    strerror(errno));
		exit(1);
	}
	tplug = getenv("WSD_FUZZ_TEST_PLUGIN");
	if (tplug == NULL || tplug[0] == '\0')
		tplug = WSD_FUZZ_TEST_PLUGIN;
	if ((abs_tplug = realpath(tplug, NULL)) == NULL)
		fprintf(stderr, "fuzz_conn: test plugin %s: %s; no /fuzz route "
		    "(build it with make fuzz, or set WSD_FUZZ_TEST_PLUGIN)\n",
		    tplug, strerror(errno));

	snprintf(dir, sizeof(dir), "%s/wsd-fuzz-conn.XXXXXX",
	    tmp != NULL && tmp[0] != '\0' ? tmp : "/tmp");
	if (mkdtemp(dir) == NULL) {
		perror("fuzz_conn: mkdtemp");
		exit(1);
	}
	for (i = 0; i < sizeof(www_dirs) / sizeof(www_dirs[0]); i++) {
		path_in(p, www_dirs[i]);
		if (mkdir(p, 0700) == -1)
			abort();
	}
	for (i = 0; i < sizeof(www_files) / sizeof(www_files[0]); i++) {
		path_in(p, www_files[i][0]);
		write_file(p, www_files[i][1]);
	}
	path_in(p, "www/escape.txt");
	if (symlink("../secret.txt", p) == -1)
		abort();
	/* One plugin directory for plugins from two places. */
	path_in(p, "plugins");
	if (mkdir(p, 0700) == -1)
		abort();
	path_in(p, "plugins/echo-logger.so");
	if (asprintf(&text, "%s/echo-logger.so", abs_pdir) == -1 ||
	    symlink(text, p) == -1)
		abort();
	free(text);
	path_in(p, "plugins/fuzz-plugin.so");
	if (abs_tplug != NULL && symlink(abs_tplug, p) == -1)
		abort();
	path_in(conf, "wsd.conf");
	if (asprintf(&text, conf_fmt, verbose ? "debug" : "error",
	    abs_tplug != NULL ? fuzz_route : "") == -1)
		abort();
	free(abs_tplug);
	write_file(conf, text);
	free(text);

	log_init();
	signal(SIGPIPE, SIG_IGN);	/* as server_start() does */
	memset(&srv, 0, sizeof(srv));
	srv.config_file = strdup(conf);
	srv.plugin_dir_default = abs_pdir;
	srv.port_override = -1;
	atexit(cleanup);
	if (server_init(&srv) == -1)
		abort();
	cfg = config_load(srv.config_file, abs_pdir, &errs);
	if (cfg != NULL) {
		log_set_level(cfg->log_level);
		srv.gen = generation_new(&srv.gens, cfg, &errs);
	}
	if (srv.gen == NULL) {
		for (i = 0; i < errs.n; i++)
			fprintf(stderr, "fuzz_conn: %s\n", errs.msg[i]);
		fprintf(stderr, "fuzz_conn: cannot set up the server (plugin "
		    "directory %s; set WSD_FUZZ_PLUGIN_DIR)\n", abs_pdir);
		errors_clear(&errs);
		exit(1);
	}
	return 0;
}

/* ------------------------------------------------------------ output */

enum phase { PH_HEAD, PH_FRAMES, PH_BODY };

/* What the client has received, checked as it arrives. */
struct client {
	uint8_t		*buf;		/* unconsumed bytes */
	size_t		 len, cap;
	enum phase	 phase;
	int		 status;
	long long	 content_length;	/* -1: none */
	size_t		 body;		/* body bytes so far */
	bool		 close_seen;
	bool		 stalled;	/* not reading yet */
	size_t		 frames;
	bool		 pmd;		/* permessage-deflate negotiated */
	bool		 pmd_reset;	/* server_no_context_takeover */
	struct z_stream_s *zs;		/* inflates the server's frames */
	struct pmd_buf	 z;
};

static void
client_append(struct client *cl, const void *p, size_t n)
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
client_consume(struct client *cl, size_t n)
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
check_head(struct client *cl)
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
		cl->phase = PH_FRAMES;
		cl->pmd = strstr(head,
		    "\r\nSec-WebSocket-Extensions: permessage-deflate") != NULL;
		cl->pmd_reset = cl->pmd &&
		    strstr(head, "server_no_context_takeover") != NULL;
	} else {
		cl->phase = PH_BODY;
		cl->content_length = header_number(head, hl, "Content-Length");
		FUZZ_CHECK(strstr(head, "\r\nConnection: close\r\n") != NULL);
	}
	if (verbose)
		fprintf(stderr, "fuzz_conn: response %d\n", cl->status);
	free(head);
	client_consume(cl, hl);
}

static void
check_frames(struct client *cl)
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
				if (verbose)
					fprintf(stderr, "fuzz_conn: close %u "
					    "%.*s\n", code,
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
check_body(struct client *cl)
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

static void
client_take(struct client *cl, struct bufferevent *bev)
{
	struct evbuffer *in = bufferevent_get_input(bev);
	size_t n = evbuffer_get_length(in);
	enum phase before = cl->phase;

	if (n == 0)
		return;
	FUZZ_CHECK(cl->len + n < 64u * 1024 * 1024);
	client_append(cl, evbuffer_pullup(in, (ev_ssize_t)n), n);
	evbuffer_drain(in, n);
	if (before == PH_BODY)
		cl->body += n;
	if (cl->phase == PH_HEAD) {
		check_head(cl);
		if (cl->phase == PH_BODY)
			cl->body = cl->len;
	}
	if (cl->phase == PH_FRAMES)
		check_frames(cl);
	else if (cl->phase == PH_BODY)
		check_body(cl);
}

static void
client_readcb(struct bufferevent *bev, void *arg)
{
	struct client *cl = arg;

	/*
	 * A stalled client stops reading (its window is full).  It must
	 * not just leave the bytes there: libevent calls a read callback
	 * again and again while the input stays above the high-water mark.
	 */
	if (cl->stalled)
		bufferevent_disable(bev, EV_READ);
	else
		client_take(cl, bev);
}

static void
client_eventcb(struct bufferevent *bev, short what, void *arg)
{
	(void)bev;
	(void)what;
	(void)arg;
}

/* ------------------------------------------------------------ input */

static uint32_t
next_rand(uint32_t *x)
{
	*x ^= *x << 13;
	*x ^= *x >> 17;
	*x ^= *x << 5;
	return *x;
}

/* A few rounds: the server's output reaches the client a round later. */
static void
run_loop(void)
{
	int i;

	for (i = 0; i < 3; i++)
		FUZZ_CHECK(event_base_loop(srv.base, EVLOOP_NONBLOCK) != -1);
}

/* Send all of p, running the loop while the socket is full. */
static void
client_send(int fd, const uint8_t *p, size_t len)
{
	int spins = 0;
	ssize_t n;

	while (len > 0) {
		n = send(fd, p, len, MSG_NOSIGNAL);
		if (n > 0) {
			p += n;
			len -= (size_t)n;
			continue;
		}
		if (n == -1 && (errno == EAGAIN || errno == EWOULDBLOCK) &&
		    ++spins < 10000) {
			run_loop();
			continue;
		}
		return;		/* the server closed, or stopped reading */
	}
}

static void
check_routes_idle(void)
{
	size_t i;

	FUZZ_CHECK(srv.nconns == 0 && TAILQ_EMPTY(&srv.conns));
	for (i = 0; i < srv.gen->routes.n; i++)
		FUZZ_CHECK(srv.gen->routes.routes[i].nconns == 0);
	FUZZ_CHECK(srv.gen->refs == 1);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const size_t chunk_max[4] = { 0, 8, 128, 4096 };
	static const size_t window[4] = { 0, 16, 512, 8192 };
	struct sockaddr_un sun;
	struct bufferevent *cbev;
	struct client cl;
	int sv[2], sz;
	struct conn *c;
	uint8_t ctl;
	uint32_t rnd;
	size_t n, pos, len, i;

	if (size == 0)
		return 0;
	ctl = data[size - 1];
	n = size - 1;
	rnd = 0x9e3779b9u ^ (uint32_t)(ctl >> 5) * 0x85ebca6bu ^ (uint32_t)n;
	memset(&cl, 0, sizeof(cl));
	cl.content_length = -1;
	cl.stalled = (ctl & 0x10) != 0;

	FUZZ_CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0);
	FUZZ_CHECK(evutil_make_socket_nonblocking(sv[1]) == 0);
	if (window[(ctl >> 2) & 3] > 0) {
		/* The kernel keeps its minimum; it is still a few KiB. */
		sz = (int)window[(ctl >> 2) & 3];
		setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &sz, sizeof(sz));
	}
	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	c = conn_new(&srv, sv[0], (struct sockaddr *)&sun, sizeof(sun), NULL);
	FUZZ_CHECK(c != NULL);
	FUZZ_CHECK(srv.nconns == 1);
	cbev = bufferevent_socket_new(srv.base, sv[1], BEV_OPT_CLOSE_ON_FREE);
	FUZZ_CHECK(cbev != NULL);
	bufferevent_setcb(cbev, client_readcb, NULL, client_eventcb, &cl);
	if (window[(ctl >> 2) & 3] > 0)
		bufferevent_setwatermark(cbev, EV_READ, 0,
		    window[(ctl >> 2) & 3]);
	bufferevent_enable(cbev, EV_READ);

	for (pos = 0; pos < n; pos += len) {
		len = n - pos;
		if (chunk_max[ctl & 3] > 0) {
			size_t want = 1 + next_rand(&rnd) % chunk_max[ctl & 3];

			if (want < len)
				len = want;
		}
		client_send(sv[1], data + pos, len);
		run_loop();
	}

	/* The client reads what is left, then closes. */
	cl.stalled = false;
	bufferevent_setwatermark(cbev, EV_READ, 0, 0);
	bufferevent_enable(cbev, EV_READ);
	run_loop();
	client_take(&cl, cbev);
	shutdown(sv[1], SHUT_WR);
	for (i = 0; i < 8 && srv.nconns > 0; i++) {
		run_loop();
		client_take(&cl, cbev);
	}
	if (srv.nconns > 0) {
		if (verbose)
			fprintf(stderr, "fuzz_conn: connection survived EOF; "
			    "aborting it\n");
		conn_abort_all(&srv);
	}
	run_loop();
	client_take(&cl, cbev);
	if (cl.phase == PH_FRAMES && cl.len > 0)
		FUZZ_FAIL("the server's output ends in half a frame (%zu "
		    "bytes)", cl.len);
	if (cl.phase == PH_HEAD && cl.len > 0)
		FUZZ_FAIL("the server's output ends in half a response head");
	if (verbose)
		fprintf(stderr, "fuzz_conn: status %d, %zu frame(s)%s\n",
		    cl.status, cl.frames, cl.close_seen ? ", closed" : "");
	bufferevent_free(cbev);
	run_loop();
	check_routes_idle();
	free(cl.buf);
	pmd_inflate_free(cl.zs);
	pmd_buf_free(&cl.z);
	return 0;
}

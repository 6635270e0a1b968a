/*
 * fuzz_conn: the whole per-connection state machine (src/conn.c and what
 * it calls: http, handshake, frame, utf8, static, route, the host API and
 * a real plugin), driven through a socketpair.
 *
 * Set up once per process (fuzz_conn_common.c, shared with fuzz_conn_tls),
 * as main.c does: server_init(), a wsd.conf in
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
 * An input that starts like a PROXY protocol header ('P' or '\r') is a
 * connection to a proxy_protocol listener that trusts every address, so
 * that the header's client then has its X-Forwarded-* headers believed
 * (src/conn_proxy.c); any other input comes to a plain listener.
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
#include <sys/un.h>

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>

#include "config.h"
#include "conn.h"
#include "forwarded.h"
#include "server.h"

#include "fuzz_common.h"
#include "fuzz_conn_common.h"

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	fc_prepare("fuzz_conn");
	fc_start("");
	return 0;
}

static void
client_take(struct fc_client *cl, struct bufferevent *bev)
{
	struct evbuffer *in = bufferevent_get_input(bev);
	size_t n = evbuffer_get_length(in);

	if (n == 0)
		return;
	fc_client_take(cl, evbuffer_pullup(in, (ev_ssize_t)n), n);
	evbuffer_drain(in, n);
}

static void
client_readcb(struct bufferevent *bev, void *arg)
{
	struct fc_client *cl = arg;

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
			fc_run_loop();
			continue;
		}
		return;		/* the server closed, or stopped reading */
	}
}

/* A proxy_protocol listener that trusts everyone (see above). */
static const struct wsd_listen_conf *
proxy_listener(void)
{
	static struct wsd_listen_conf lc;
	static struct cidr all[2];
	char err[160];

	if (lc.ntrusted == 0) {
		FUZZ_CHECK(cidr_parse("0.0.0.0/0", &all[0], err,
		    sizeof(err)) == 0);
		FUZZ_CHECK(cidr_parse("::/0", &all[1], err, sizeof(err)) == 0);
		lc.proxy_protocol = true;
		lc.trusted = all;
		lc.ntrusted = 2;
	}
	return &lc;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const size_t chunk_max[4] = { 0, 8, 128, 4096 };
	static const size_t window[4] = { 0, 16, 512, 8192 };
	struct sockaddr_un sun;
	struct bufferevent *cbev;
	struct fc_client cl;
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
	fc_client_init(&cl);
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
	c = conn_new(&fc_srv, sv[0], (struct sockaddr *)&sun, sizeof(sun),
	    NULL, n > 0 && (data[0] == 'P' || data[0] == '\r') ?
	    proxy_listener() : NULL);
	FUZZ_CHECK(c != NULL);
	FUZZ_CHECK(fc_srv.nconns == 1);
	cbev = bufferevent_socket_new(fc_srv.base, sv[1],
	    BEV_OPT_CLOSE_ON_FREE);
	FUZZ_CHECK(cbev != NULL);
	bufferevent_setcb(cbev, client_readcb, NULL, client_eventcb, &cl);
	if (window[(ctl >> 2) & 3] > 0)
		bufferevent_setwatermark(cbev, EV_READ, 0,
		    window[(ctl >> 2) & 3]);
	bufferevent_enable(cbev, EV_READ);

	for (pos = 0; pos < n; pos += len) {
		len = n - pos;
		if (chunk_max[ctl & 3] > 0) {
			size_t want = 1 + fc_rand(&rnd) % chunk_max[ctl & 3];

			if (want < len)
				len = want;
		}
		client_send(sv[1], data + pos, len);
		fc_run_loop();
	}

	/* The client reads what is left, then closes. */
	cl.stalled = false;
	bufferevent_setwatermark(cbev, EV_READ, 0, 0);
	bufferevent_enable(cbev, EV_READ);
	fc_run_loop();
	client_take(&cl, cbev);
	shutdown(sv[1], SHUT_WR);
	for (i = 0; i < 8 && fc_srv.nconns > 0; i++) {
		fc_run_loop();
		client_take(&cl, cbev);
	}
	if (fc_srv.nconns > 0) {
		if (fc_verbose)
			fprintf(stderr, "fuzz_conn: connection survived EOF; "
			    "aborting it\n");
		conn_abort_all(&fc_srv);
	}
	fc_run_loop();
	client_take(&cl, cbev);
	fc_client_end(&cl);
	bufferevent_free(cbev);
	fc_run_loop();
	fc_check_idle();
	fc_client_free(&cl);
	return 0;
}

/*
 * conn: see conn.h.
 *
 * A connection never frees itself from inside a plugin callback: the
 * plugin may call wsd_close() or send to a connection that is over its
 * limit, and both only change state.  Freeing happens from the top of a
 * libevent callback (read, write, flush, timer), where nothing of ours
 * is on the stack.
 *
 * Reads go into srv->rbuf, shared by all connections: the loop runs one
 * callback at a time, and a plugin only sees a message during its
 * callback.  Whole frames are unmasked, checked and delivered in place;
 * what a read leaves unfinished is copied to the connection's ibuf, and
 * the next read appends to it, sized from the frame header so that a
 * frame up to WAIT_MAX arrives contiguous and needs no reassembly.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/event.h>

#include "conn.h"
#include "handshake.h"
#include "log.h"
#include "plugin.h"
#include "route.h"
#include "server.h"
#include "static.h"

/* The shared read buffer: the most one recv() takes. */
#define RBUF_SIZE	(256 * 1024)
/* Unfragmented frames up to this size are gathered whole before use. */
#define WAIT_MAX	(256 * 1024)
/* The least a connection's own input buffer grows by. */
#define IBUF_MIN	4096
/* Reads per readable event, so that one client cannot hog the loop. */
#define READ_ROUNDS	8
/*
 * Broadcast output is written at once, not at the end of the iteration,
 * when this much is queued: every queued broadcast costs a 1 KiB libevent
 * chain, and a burst of broadcasts to many clients would pile them up.
 */
#define FLUSH_EARLY	(16 * 1024)
/* Frames up to this payload size are put together on the stack. */
#define SMALL_FRAME	1024

static void	conn_readcb(evutil_socket_t, short, void *);
static void	conn_writecb(evutil_socket_t, short, void *);
static void	conn_flushcb(evutil_socket_t, short, void *);
static void	conn_timercb(evutil_socket_t, short, void *);
static void	conn_free(struct conn *);
static void	conn_linger(struct conn *);
static void	conn_fail(struct conn *, int, const char *);
static size_t	process_frames(struct conn *, uint8_t *, size_t);
static void	arm_keepalive(struct conn *);
static void	want_flush(struct conn *);

uint64_t
conn_now_ms(struct server *srv)
{
	struct timespec ts;

	(void)srv;
	clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static const struct wsd_limits *
conn_limits(const struct conn *c)
{
	if (c->route != NULL)
		return &c->route->conf->limits;
	return &c->gen->cfg->limits;
}

static void
timer_in(struct conn *c, uint32_t ms)
{
	struct timeval tv;

	tv.tv_sec = ms / 1000;
	tv.tv_usec = (ms % 1000) * 1000;
	evtimer_add(c->timer, &tv);
}

static void
format_addr(const struct sockaddr *sa, char *buf, size_t len)
{
	char host[INET6_ADDRSTRLEN];

	if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *s6 = (const void *)sa;

		inet_ntop(AF_INET6, &s6->sin6_addr, host, sizeof(host));
		snprintf(buf, len, "[%s]:%u", host, ntohs(s6->sin6_port));
	} else if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *s4 = (const void *)sa;

		inet_ntop(AF_INET, &s4->sin_addr, host, sizeof(host));
		snprintf(buf, len, "%s:%u", host, ntohs(s4->sin_port));
	} else {
		snprintf(buf, len, "unknown");
	}
}

int
conn_server_init(struct server *srv)
{
	TAILQ_INIT(&srv->flushq);
	srv->flush_gen = 1;	/* a new conn's bcast_gen is 0 */
	if ((srv->rbuf = malloc(RBUF_SIZE)) == NULL)
		return -1;
	srv->ev_flush = event_new(srv->base, -1, 0, conn_flushcb, srv);
	if (srv->ev_flush == NULL) {
		free(srv->rbuf);
		srv->rbuf = NULL;
		return -1;
	}
	return 0;
}

void
conn_server_fini(struct server *srv)
{
	while (srv->noutpool > 0)
		evbuffer_free(srv->outpool[--srv->noutpool]);
	if (srv->ev_flush != NULL)
		event_free(srv->ev_flush);
	srv->ev_flush = NULL;
	free(srv->rbuf);
	srv->rbuf = NULL;
}

struct conn *
conn_new(struct server *srv, evutil_socket_t fd, const struct sockaddr *sa,
    int socklen)
{
	/*
	 * The timer and the read event live in the same allocation, after
	 * the conn; the write event is only made for a client that once
	 * did not take all its output at once.
	 */
	size_t evsz = (event_get_struct_event_size() + 15) & ~(size_t)15;
	struct conn *c;
	char *evs;
	int one = 1;

	(void)socklen;
	if (evutil_make_socket_nonblocking(fd) == -1 ||
	    (c = calloc(1, sizeof(*c) + 2 * evsz)) == NULL) {
		evutil_closesocket(fd);
		return NULL;
	}
	evs = (char *)(c + 1);
	c->fd = fd;
	c->timer = (struct event *)(void *)evs;
	c->rev = (struct event *)(void *)(evs + evsz);
	if (evtimer_assign(c->timer, srv->base, conn_timercb, c) == -1 ||
	    event_assign(c->rev, srv->base, fd, EV_READ | EV_PERSIST,
	    conn_readcb, c) == -1 || event_add(c->rev, NULL) == -1) {
		free(c);
		evutil_closesocket(fd);
		return NULL;
	}
	/* Not for AF_UNIX (the fuzzer); TCP answers are small and urgent. */
	if (sa->sa_family == AF_INET || sa->sa_family == AF_INET6)
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	c->srv = srv;
	c->id = ++srv->next_id;
	c->state = CONN_HTTP;
	c->gen = srv->gen;
	generation_ref(c->gen);
	c->start_ms = conn_now_ms(srv);
	c->utf8 = UTF8_ACCEPT;
	format_addr(sa, c->remote, sizeof(c->remote));
	TAILQ_INSERT_TAIL(&srv->conns, c, link);
	srv->nconns++;
	timer_in(c, c->gen->cfg->limits.handshake_timeout_ms);
	return c;
}

void
conn_refuse(struct server *srv, evutil_socket_t fd)
{
	static const char resp[] = "HTTP/1.1 503 Service Unavailable\r\n"
	    "Content-Type: text/plain; charset=utf-8\r\n"
	    "Content-Length: 24\r\n"
	    "Retry-After: 5\r\n"
	    "Connection: close\r\n\r\n"
	    "503 Service Unavailable\n";
	ssize_t n;

	(void)srv;
	/* A fresh socket's send buffer always has room for this. */
	n = send(fd, resp, sizeof(resp) - 1, MSG_DONTWAIT | MSG_NOSIGNAL);
	(void)n;
	shutdown(fd, SHUT_WR);
	evutil_closesocket(fd);
}

/* ---------------------------------------------------------------- output */

/*
 * The output buffer, taken when there is something to queue and given
 * back when it has all been written, so that an idle connection holds
 * none.  Empty buffers wait in a small pool: making and freeing one per
 * write would cost more than the write's own bookkeeping.  NULL when
 * out of memory.
 */
static struct evbuffer *
outbuf(struct conn *c)
{
	struct server *srv = c->srv;

	if (c->out == NULL)
		c->out = srv->noutpool > 0 ? srv->outpool[--srv->noutpool] :
		    evbuffer_new();
	return c->out;
}

static void
outbuf_release(struct conn *c)
{
	struct server *srv = c->srv;
	size_t max = sizeof(srv->outpool) / sizeof(srv->outpool[0]);

	if (c->out == NULL)
		return;
	if (evbuffer_get_length(c->out) == 0 && srv->noutpool < max)
		srv->outpool[srv->noutpool++] = c->out;
	else
		evbuffer_free(c->out);
	c->out = NULL;
}

/* Bytes queued and not yet taken by the kernel. */
static size_t
out_len(const struct conn *c)
{
	return c->out != NULL ? evbuffer_get_length(c->out) : 0;
}

/* Write c's output at the end of this loop iteration. */
static void
want_flush(struct conn *c)
{
	struct server *srv = c->srv;

	if (c->flush_queued || c->state == CONN_DEAD)
		return;
	/* conn_readcb writes on its way out: no need for the flush event. */
	if (c->in_read) {
		c->flush_now = true;
		return;
	}
	if (TAILQ_EMPTY(&srv->flushq))
		event_active(srv->ev_flush, EV_TIMEOUT, 1);
	TAILQ_INSERT_TAIL(&srv->flushq, c, flush_link);
	c->flush_queued = true;
}

/*
 * A broadcast was queued: write it at the end of the iteration, or now
 * if a lot is queued.  A write error is left for conn_flush to see: this
 * runs inside a plugin callback, where c must not be freed.
 */
static void
broadcast_added(struct conn *c)
{
	if (out_len(c) >= FLUSH_EARLY && !c->wev_added &&
	    !c->wr_shut)
		(void)evbuffer_write(c->out, c->fd);
	want_flush(c);
}

static void
send_frame(struct conn *c, uint8_t opcode, const void *data, size_t len)
{
	uint8_t buf[WS_FRAME_MAX_HEADER + SMALL_FRAME];
	struct evbuffer *out;
	size_t hl;

	if ((out = outbuf(c)) == NULL)
		return;		/* out of memory: as if the add failed */
	hl = ws_frame_encode_header(buf, true, opcode, len, NULL);
	if (len <= SMALL_FRAME) {
		/* One call, one copy into the output's last chain. */
		if (len > 0)
			memcpy(buf + hl, data, len);
		evbuffer_add(out, buf, hl + len);
	} else {
		evbuffer_add(out, buf, hl);
		evbuffer_add(out, data, len);
	}
	want_flush(c);
}

static void
send_close_frame(struct conn *c, int code, const char *reason)
{
	uint8_t buf[WS_CONTROL_MAX];
	size_t len = 0, rl;

	if (code > 0) {
		buf[0] = (uint8_t)(code >> 8);
		buf[1] = (uint8_t)code;
		len = 2;
		if (reason != NULL) {
			rl = strlen(reason);
			if (rl > WS_CONTROL_MAX - 2)
				rl = WS_CONTROL_MAX - 2;
			memcpy(buf + 2, reason, rl);
			len += rl;
		}
	}
	send_frame(c, WS_OP_CLOSE, buf, len);
	c->close_sent = true;
}

/* Record the close code and reason that `close` will report. */
static void
set_close(struct conn *c, int code, const char *reason, size_t rlen)
{
	char *r = NULL;

	c->close_code = code;
	if (rlen > WS_CONTROL_MAX - 2)
		rlen = WS_CONTROL_MAX - 2;
	if (rlen > 0 && (r = malloc(rlen + 1)) != NULL) {
		memcpy(r, reason, rlen);
		r[rlen] = '\0';
	}
	free(c->close_reason);
	c->close_reason = r;	/* without memory, no reason */
}

/*
 * Fail the WebSocket connection (RFC 6455 section 7.1.7): send a Close
 * with code, stop reading frames, close TCP once it is flushed.
 */
static void
conn_fail(struct conn *c, int code, const char *why)
{
	if (c->state != CONN_OPEN && c->state != CONN_CLOSING)
		return;
	log_info("conn %llu %s: closing with %d: %s",
	    (unsigned long long)c->id, c->remote, code, why);
	if (!c->close_sent) {
		send_close_frame(c, code, why);
		if (!c->close_rcvd)
			set_close(c, code, why, strlen(why));
	}
	conn_linger(c);
}

/* Begin a server-side closing handshake. */
static int
start_close(struct conn *c, int code, const char *reason)
{
	if (c->state != CONN_OPEN)
		return -1;
	send_close_frame(c, code, reason);
	set_close(c, code, reason, reason != NULL ? strlen(reason) : 0);
	c->state = CONN_CLOSING;
	timer_in(c, conn_limits(c)->close_timeout_ms);
	return 0;
}

/*
 * Flush what is queued, then half-close and wait (bounded) for the
 * client's EOF, discarding what it still sends, so that our last bytes
 * are not destroyed by a reset.
 */
static void
conn_linger(struct conn *c)
{
	if (c->state == CONN_LINGER || c->state == CONN_DEAD)
		return;
	c->state = CONN_LINGER;
	c->over_hwm = false;
	/* Unread input is of no interest now: conn_readcb drops it. */
	timer_in(c, conn_limits(c)->close_timeout_ms);
	want_flush(c);		/* the half-close follows the last byte */
}

/* The send high-water mark of the connection's route. */
static size_t
conn_hwm(const struct conn *c)
{
	const struct wsd_limits *lim = conn_limits(c);

	return lim->send_high_water < lim->max_send_buffer ?
	    (size_t)lim->send_high_water : (size_t)lim->max_send_buffer;
}

/*
 * After queueing: if the client is now over the high-water mark, the
 * plugin hears from `drain` once output has fallen to half of it.
 */
static int
check_hwm(struct conn *c, size_t queued)
{
	if (queued <= conn_hwm(c))
		return WSD_SEND_OK;
	c->over_hwm = true;
	return WSD_SEND_BACKPRESSURE;
}

/* The peer reset or vanished: nothing more can be sent or received. */
static void
conn_io_error(struct conn *c)
{
	if ((c->state == CONN_OPEN || c->state == CONN_CLOSING) &&
	    !c->close_rcvd && !c->close_sent)
		set_close(c, WS_CLOSE_ABNORMAL, NULL, 0);
	conn_free(c);
}

/*
 * Write what is queued, as far as the socket takes it, and wait for
 * writability if it did not take it all.  Only from the top of a
 * callback: it may free c.
 */
static void
conn_flush(struct conn *c)
{
	struct route *r = c->route;
	size_t queued;

	if (c->flush_queued) {
		TAILQ_REMOVE(&c->srv->flushq, c, flush_link);
		c->flush_queued = false;
	}
	c->flush_now = false;
	if (c->state == CONN_DEAD)
		return;
	queued = out_len(c);
	if (queued > 0 && !c->wr_shut) {
		if (evbuffer_write(c->out, c->fd) == -1 &&
		    errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
			log_debug("conn %llu %s: write: %s",
			    (unsigned long long)c->id, c->remote,
			    strerror(errno));
			conn_io_error(c);
			return;
		}
		queued = out_len(c);
	}
	if (queued == 0)
		outbuf_release(c);
	if (queued > 0 && !c->wev_added) {
		if (c->wev == NULL && (c->wev = event_new(c->srv->base, c->fd,
		    EV_WRITE | EV_PERSIST, conn_writecb, c)) == NULL) {
			log_err("conn %llu %s: out of memory",
			    (unsigned long long)c->id, c->remote);
			conn_io_error(c);
			return;
		}
		event_add(c->wev, NULL);
		c->wev_added = true;
	} else if (queued == 0 && c->wev_added) {
		event_del(c->wev);
		c->wev_added = false;
	}

	if (c->state == CONN_LINGER) {
		/* Everything is out: half-close, and wait for the client's. */
		if (queued == 0 && !c->wr_shut) {
			shutdown(c->fd, SHUT_WR);
			c->wr_shut = true;
		}
		return;
	}
	if (!c->over_hwm || queued > conn_hwm(c) / 2)
		return;
	c->over_hwm = false;
	if (c->state == CONN_OPEN && r->plugin->ops.drain != NULL) {
		c->in_cb++;
		r->plugin->ops.drain(r->state, (struct wsd_conn *)c);
		c->in_cb--;
		if (c->free_pending)
			conn_free(c);
	}
}

static void
conn_writecb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	conn_flush(arg);
}

/* The end of a loop iteration: write for everyone who queued output. */
static void
conn_flushcb(evutil_socket_t fd, short what, void *arg)
{
	struct server *srv = arg;
	struct conn *c;

	(void)fd;
	(void)what;
	srv->flush_gen++;
	while ((c = TAILQ_FIRST(&srv->flushq)) != NULL)
		conn_flush(c);
	/* Writes to many clients take a while: see timer_cb in server.c. */
	event_base_update_cache_time(srv->base);
}

/* ---------------------------------------------------------------- HTTP */

static void
respond_error(struct conn *c, int status, const char *extra)
{
	int head_only = c->rq != NULL && c->rq->req.method != NULL &&
	    http_token_eq(c->rq->req.method, c->rq->req.method_len, "HEAD");

	c->status = status;
	if (outbuf(c) != NULL)
		http_write_error(c->out, status, extra, head_only);
	conn_linger(c);
}

static void
free_request(struct conn *c)
{
	struct conn_request *rq = c->rq;
	size_t i;

	if (rq == NULL)
		return;
	for (i = 0; i < rq->nstrs; i++)
		free(rq->strs[i]);
	free(rq->strs);
	free(rq->head);
	free(rq->hdrs);
	free(rq->path_z);
	free(rq->query_z);
	free(rq->extra_headers);
	free(rq);
	c->rq = NULL;
}

/* Keep a copy of the request line for the access log. */
static void
note_request_line(struct conn *c)
{
	char m[32], t[256];

	log_escape(m, sizeof(m), c->rq->req.method, c->rq->req.method_len);
	log_escape(t, sizeof(t), c->rq->req.target, c->rq->req.target_len);
	free(c->req_line);
	if (asprintf(&c->req_line, "%s %s", m, t) == -1)
		c->req_line = NULL;
}

static char *
dup_counted(const char *s, size_t len)
{
	char *d = malloc(len + 1);

	if (d != NULL) {
		memcpy(d, s, len);
		d[len] = '\0';
	}
	return d;
}

static void
upgrade(struct conn *c, struct route *r)
{
	const struct wsd_route_conf *rc = r->conf;
	struct ws_upgrade up;
	char accept[WS_ACCEPT_LEN + 1];
	int status;

	if (!ws_is_upgrade(&c->rq->req)) {
		respond_error(c, 400, NULL);
		return;
	}
	if ((status = ws_check_upgrade(&c->rq->req, &up)) != 0) {
		respond_error(c, status, status == 426 ?
		    "Sec-WebSocket-Version: 13\r\n" : NULL);
		return;
	}
	if (rc->origins != NULL || up.origin != NULL) {
		if (!ws_origin_allowed(&up, (const char *const *)rc->origins,
		    rc->norigins)) {
			char o[128];

			log_escape(o, sizeof(o), up.origin, up.origin_len);
			log_info("conn %llu %s: origin \"%s\" not allowed on %s",
			    (unsigned long long)c->id, c->remote, o, r->path);
			respond_error(c, 403, NULL);
			return;
		}
	}
	if (ws_accept_key(up.key, up.key_len, accept) == -1) {
		respond_error(c, 500, NULL);
		return;
	}
	c->rq->path_z = dup_counted(c->rq->req.path, c->rq->req.path_len);
	if (c->rq->req.query != NULL)
		c->rq->query_z = dup_counted(c->rq->req.query, c->rq->req.query_len);
	if (c->rq->path_z == NULL ||
	    (c->rq->req.query != NULL && c->rq->query_z == NULL)) {
		respond_error(c, 500, NULL);
		return;
	}
	if (r->plugin->ops.handshake != NULL) {
		c->route = r;
		c->in_handshake = true;
		c->in_cb++;
		status = r->plugin->ops.handshake(r->state,
		    (struct wsd_conn *)c);
		c->in_cb--;
		c->in_handshake = false;
		if (status != 0) {
			c->route = NULL;
			c->user = NULL;
			log_info("conn %llu %s: refused by %s with %d",
			    (unsigned long long)c->id, c->remote,
			    rc->plugin, status);
			respond_error(c, status >= 400 && status <= 599 ?
			    status : 500, NULL);
			return;
		}
	}
	if (outbuf(c) == NULL) {
		respond_error(c, 500, NULL);
		return;
	}
	evbuffer_add_printf(c->out, "HTTP/1.1 101 Switching Protocols\r\n"
	    "Upgrade: websocket\r\n"
	    "Connection: Upgrade\r\n"
	    "Sec-WebSocket-Accept: %s\r\n"
	    "%s%s%s"
	    "%s\r\n", accept,
	    c->subprotocol != NULL ? "Sec-WebSocket-Protocol: " : "",
	    c->subprotocol != NULL ? c->subprotocol : "",
	    c->subprotocol != NULL ? "\r\n" : "",
	    c->rq->extra_headers != NULL ? c->rq->extra_headers : "");
	free(c->rq->extra_headers);
	c->rq->extra_headers = NULL;
	c->status = 101;
	want_flush(c);

	/* The connection now belongs to the route. */
	c->route = r;
	TAILQ_INSERT_TAIL(&r->conns, c, route_link);
	r->nconns++;
	c->state = CONN_OPEN;
	c->last_rx_ms = conn_now_ms(c->srv);
	evtimer_del(c->timer);
	arm_keepalive(c);

	c->open_called = true;
	if (r->plugin->ops.open != NULL) {
		c->in_cb++;
		r->plugin->ops.open(r->state, (struct wsd_conn *)c);
		c->in_cb--;
	}
	free_request(c);
}

static void
handle_request(struct conn *c)
{
	struct generation *g = c->srv->gen;
	struct route *r;
	int head_only;

	/* A reload since accept: the request gets the new routes. */
	if (c->gen != g) {
		generation_ref(g);
		generation_unref(c->gen);
		c->gen = g;
	}
	note_request_line(c);
	r = route_find(&g->routes, c->rq->req.path, c->rq->req.path_len);
	if (r != NULL) {
		upgrade(c, r);
		return;
	}
	if (ws_is_upgrade(&c->rq->req)) {
		respond_error(c, 404, NULL);
		return;
	}
	head_only = http_token_eq(c->rq->req.method, c->rq->req.method_len, "HEAD");
	if (!head_only &&
	    !http_token_eq(c->rq->req.method, c->rq->req.method_len, "GET")) {
		respond_error(c, 405, "Allow: GET, HEAD\r\n");
		return;
	}
	if (outbuf(c) == NULL) {
		respond_error(c, 500, NULL);
		return;
	}
	c->status = static_respond(c->out, g->cfg->document_root, &c->rq->req,
	    head_only);
	conn_linger(c);
}

/*
 * Parse the request head at the start of buf and answer it.  Returns the
 * bytes it took: 0 while the head is incomplete.
 */
static size_t
read_head(struct conn *c, const uint8_t *buf, size_t len)
{
	const struct wsd_limits *lim = &c->gen->cfg->limits;
	const char *p = (const char *)buf;
	struct http_header *hdrs;
	size_t n;
	int r;

	n = len < lim->max_head_size ? len : lim->max_head_size;
	if (n == 0)
		return 0;
	if (c->rq == NULL && (c->rq = calloc(1, sizeof(*c->rq))) == NULL) {
		respond_error(c, 500, NULL);
		return len;
	}
	if ((hdrs = calloc(lim->max_headers, sizeof(*hdrs))) == NULL) {
		respond_error(c, 500, NULL);
		return len;
	}
	r = http_parse_request(p, n, &c->rq->req, hdrs, lim->max_headers);
	if (r == HTTP_PARSE_INCOMPLETE) {
		free(hdrs);
		memset(&c->rq->req, 0, sizeof(c->rq->req));
		if (len >= lim->max_head_size)
			respond_error(c, 431, NULL);
		return 0;
	}
	if (r < 0) {
		free(hdrs);
		memset(&c->rq->req, 0, sizeof(c->rq->req));
		respond_error(c, r == HTTP_PARSE_TOO_MANY_HEADERS ? 431 :
		    r == HTTP_PARSE_BAD_VERSION ? 505 : 400, NULL);
		return len;
	}

	/* Keep our own copy: the plugin reads it in `open`. */
	if ((c->rq->head = malloc((size_t)r)) == NULL) {
		free(hdrs);
		respond_error(c, 500, NULL);
		return len;
	}
	memcpy(c->rq->head, p, (size_t)r);
	c->rq->hdrs = hdrs;
	if (http_parse_request(c->rq->head, (size_t)r, &c->rq->req, hdrs,
	    lim->max_headers) != r) {
		respond_error(c, 500, NULL);
		return len;
	}
	handle_request(c);
	return (size_t)r;
}

/* ---------------------------------------------------------------- frames */

static void
deliver(struct conn *c, uint8_t op, const uint8_t *data, size_t len)
{
	struct route *r = c->route;

	c->msgs_in++;
	c->bytes_in += len;
	if (c->state != CONN_OPEN || r->plugin->ops.message == NULL)
		return;
	c->in_cb++;
	r->plugin->ops.message(r->state, (struct wsd_conn *)c, op,
	    len > 0 ? data : (const uint8_t *)"", len);
	c->in_cb--;
}

static void
handle_close_frame(struct conn *c, const uint8_t *p, size_t len)
{
	unsigned code;

	if (len == 1) {
		conn_fail(c, WS_CLOSE_PROTOCOL_ERROR, "one-byte close payload");
		return;
	}
	if (len >= 2) {
		code = (unsigned)p[0] << 8 | p[1];
		if (!ws_close_code_valid(code)) {
			conn_fail(c, WS_CLOSE_PROTOCOL_ERROR,
			    "invalid close code");
			return;
		}
		if (!utf8_valid(p + 2, len - 2)) {
			conn_fail(c, WS_CLOSE_INVALID_DATA,
			    "close reason is not UTF-8");
			return;
		}
		set_close(c, (int)code, (const char *)p + 2, len - 2);
	} else {
		set_close(c, WS_CLOSE_NO_STATUS, NULL, 0);
	}
	c->close_rcvd = true;
	if (!c->close_sent) {
		/* Echo the code, without the reason. */
		send_close_frame(c, len >= 2 ? (int)code : 0, NULL);
	}
	conn_linger(c);
}

static void
handle_control(struct conn *c, uint8_t op, const uint8_t *p, size_t len)
{
	size_t queued;

	switch (op) {
	case WS_OP_PING:
		if (c->state != CONN_OPEN)
			break;
		/* A ping storm from a client that never reads its pongs. */
		queued = out_len(c);
		if (queued > 0 && queued + len + 2 >
		    conn_limits(c)->max_send_buffer) {
			conn_fail(c, WS_CLOSE_POLICY, "send buffer full");
			break;
		}
		send_frame(c, WS_OP_PONG, p, len);
		break;
	case WS_OP_PONG:
		c->ping_outstanding = false;
		break;
	case WS_OP_CLOSE:
		handle_close_frame(c, p, len);
		break;
	}
}

/* Make room for n more message bytes (bounded by max_message_size). */
static int
msg_reserve(struct conn *c, size_t n)
{
	size_t need = c->msg_len + n, cap;
	uint8_t *m;

	if (need <= c->msg_cap)
		return 0;
	cap = c->msg_cap ? c->msg_cap : 4096;
	while (cap < need)
		cap *= 2;
	if (cap > conn_limits(c)->max_message_size &&
	    need <= conn_limits(c)->max_message_size)
		cap = conn_limits(c)->max_message_size;
	if ((m = realloc(c->msg, cap)) == NULL)
		return -1;
	c->msg = m;
	c->msg_cap = cap;
	return 0;
}

static void
msg_reset(struct conn *c)
{
	c->msg_op = 0;
	c->msg_len = 0;
	c->nfrags = 0;
	c->utf8 = UTF8_ACCEPT;
	/* Idle connections keep no reassembly buffer. */
	free(c->msg);
	c->msg = NULL;
	c->msg_cap = 0;
}

/*
 * A new frame header has been parsed: check it against the message in
 * progress and the limits.  Returns 0, or -1 after failing the connection.
 */
static int
begin_frame(struct conn *c)
{
	const struct ws_frame_header *h = &c->fh;
	const struct wsd_limits *lim = conn_limits(c);

	if (ws_opcode_is_control(h->opcode))
		return 0;
	if (h->opcode == WS_OP_CONT) {
		if (c->msg_op == 0) {
			conn_fail(c, WS_CLOSE_PROTOCOL_ERROR,
			    "continuation frame without a message");
			return -1;
		}
	} else {
		if (c->msg_op != 0) {
			conn_fail(c, WS_CLOSE_PROTOCOL_ERROR,
			    "new message inside a fragmented message");
			return -1;
		}
		c->msg_op = h->opcode;
		c->msg_len = 0;
		c->nfrags = 0;
		c->utf8 = UTF8_ACCEPT;
	}
	if (h->payload_len > lim->max_message_size - c->msg_len) {
		conn_fail(c, WS_CLOSE_TOO_BIG, "message too big");
		return -1;
	}
	if (++c->nfrags > lim->max_fragments) {
		conn_fail(c, WS_CLOSE_TOO_BIG, "too many fragments");
		return -1;
	}
	return 0;
}

/*
 * Run the frames in buf[0..len) through the engine: whole frames are
 * unmasked and checked in place and delivered from there.  Returns the
 * bytes taken; what is left is the unfinished start of a frame, and
 * c->rx_want says how many more bytes it needs, when that is known.
 */
static size_t
process_frames(struct conn *c, uint8_t *buf, size_t len)
{
	struct ws_frame_header *h = &c->fh;
	size_t pos = 0;

	c->rx_want = 0;
	while (c->state == CONN_OPEN || c->state == CONN_CLOSING) {
		size_t avail = len - pos;
		uint8_t *p = buf + pos;

		if (!c->have_header) {
			enum ws_frame_result fr;
			size_t n = avail < WS_FRAME_MAX_HEADER ? avail :
			    WS_FRAME_MAX_HEADER;

			if (n < 2)
				return pos;
			fr = ws_frame_parse_header(p, n, true, 0, h);
			if (fr == WS_FRAME_NEED_MORE)
				return pos;
			if (fr != WS_FRAME_OK) {
				conn_fail(c, ws_frame_error_code(fr),
				    ws_frame_strerror(fr));
				break;
			}
			if (begin_frame(c) == -1)
				break;
			pos += h->header_len;
			p += h->header_len;
			avail -= h->header_len;
			c->have_header = true;
			c->frame_off = 0;
		}

		if (ws_opcode_is_control(h->opcode)) {
			uint8_t ctl[WS_CONTROL_MAX];
			size_t clen = (size_t)h->payload_len;

			if (avail < clen) {
				c->rx_want = clen - avail;
				return pos;
			}
			memcpy(ctl, p, clen);
			ws_mask(ctl, clen, h->mask, 0);
			pos += clen;
			c->have_header = false;
			handle_control(c, h->opcode, ctl, clen);
			continue;
		}

		/* A whole unfragmented message: use it where it lies. */
		if (h->fin && h->opcode != WS_OP_CONT && c->frame_off == 0) {
			size_t mlen = (size_t)h->payload_len;

			if (avail < h->payload_len) {
				if (h->payload_len <= WAIT_MAX) {
					c->rx_want = mlen - avail;
					return pos;
				}
			} else {
				ws_mask(p, mlen, h->mask, 0);
				if (h->opcode == WS_OP_TEXT &&
				    !utf8_valid(p, mlen)) {
					conn_fail(c, WS_CLOSE_INVALID_DATA,
					    "text message is not UTF-8");
					break;
				}
				c->have_header = false;
				c->msg_op = 0;
				c->nfrags = 0;
				pos += mlen;
				deliver(c, h->opcode, p, mlen);
				continue;
			}
		}

		/* Otherwise stream the payload into the message buffer. */
		{
			uint64_t left = h->payload_len - c->frame_off;
			size_t take = avail < left ? avail : (size_t)left;

			if (take > 0) {
				uint8_t *dst;

				if (msg_reserve(c, take) == -1) {
					conn_fail(c, WS_CLOSE_INTERNAL,
					    "out of memory");
					break;
				}
				dst = c->msg + c->msg_len;
				memcpy(dst, p, take);
				ws_mask(dst, take, h->mask, c->frame_off);
				if (c->msg_op == WS_OP_TEXT) {
					c->utf8 = utf8_feed(c->utf8, dst, take);
					if (c->utf8 == UTF8_REJECT) {
						conn_fail(c,
						    WS_CLOSE_INVALID_DATA,
						    "text message is not UTF-8");
						break;
					}
				}
				pos += take;
				c->msg_len += take;
				c->frame_off += take;
			}
			if (c->frame_off < h->payload_len)
				return pos;
			c->have_header = false;
			if (!h->fin)
				continue;
			if (c->msg_op == WS_OP_TEXT && c->utf8 != UTF8_ACCEPT) {
				conn_fail(c, WS_CLOSE_INVALID_DATA,
				    "text message is not UTF-8");
				break;
			}
			deliver(c, c->msg_op, c->msg, c->msg_len);
			msg_reset(c);
		}
	}
	/* Failed or closed: the rest is of no interest. */
	return len;
}

/* Hand a read's bytes to the state machine.  Returns the bytes taken. */
static size_t
consume(struct conn *c, uint8_t *buf, size_t len)
{
	size_t used = 0;

	if (c->state == CONN_HTTP) {
		used = read_head(c, buf, len);
		if (c->state == CONN_HTTP)
			return used;	/* the head is not complete yet */
	}
	if (c->state == CONN_OPEN || c->state == CONN_CLOSING)
		return used + process_frames(c, buf + used, len - used);
	return len;
}

/*
 * Keep the unfinished tail buf[used..len) of a read in c->ibuf: moved to
 * its start when buf is c->ibuf, copied from the shared buffer if not.
 */
static int
keep_tail(struct conn *c, const uint8_t *buf, size_t used, size_t len)
{
	size_t n = len - used, cap;
	uint8_t *b;

	if (n == 0) {
		free(c->ibuf);
		c->ibuf = NULL;
		c->ilen = c->icap = 0;
		return 0;
	}
	if (buf == c->ibuf) {
		if (used > 0)
			memmove(c->ibuf, buf + used, n);
		c->ilen = n;
		return 0;
	}
	cap = n + (c->rx_want > IBUF_MIN ? c->rx_want : IBUF_MIN);
	if ((b = malloc(cap)) == NULL)
		return -1;
	memcpy(b, buf + used, n);
	free(c->ibuf);
	c->ibuf = b;
	c->icap = cap;
	c->ilen = n;
	return 0;
}

/* Room in c->ibuf for the next read: what the frame lacks, or more. */
static int
ibuf_room(struct conn *c)
{
	size_t want, cap;
	uint8_t *b;

	if (c->state == CONN_HTTP)
		want = c->gen->cfg->limits.max_head_size > c->ilen ?
		    c->gen->cfg->limits.max_head_size - c->ilen : 1;
	else
		want = c->rx_want > IBUF_MIN ? c->rx_want : IBUF_MIN;
	if (c->icap - c->ilen >= want || c->icap - c->ilen >= IBUF_MIN)
		return 0;
	cap = c->ilen + want;
	if ((b = realloc(c->ibuf, cap)) == NULL)
		return -1;
	c->ibuf = b;
	c->icap = cap;
	return 0;
}

/* ---------------------------------------------------------------- events */

static void
conn_readcb(evutil_socket_t fd, short what, void *arg)
{
	struct conn *c = arg;
	struct server *srv = c->srv;
	int round;

	(void)what;
	c->in_read = true;
	for (round = 0; round < READ_ROUNDS; round++) {
		uint8_t *dst;
		size_t room, used, len;
		ssize_t n;
		bool tail;

		if (c->state == CONN_LINGER && c->ibuf != NULL)
			keep_tail(c, c->ibuf, c->ilen, c->ilen);
		tail = c->ilen > 0;
		if (tail && ibuf_room(c) == -1) {
			conn_fail(c, WS_CLOSE_INTERNAL, "out of memory");
			break;
		}
		dst = tail ? c->ibuf + c->ilen : srv->rbuf;
		room = tail ? c->icap - c->ilen : RBUF_SIZE;
		n = recv(fd, dst, room, 0);
		if (n == 0) {
			conn_io_error(c);	/* EOF */
			return;
		}
		if (n < 0) {
			if (errno == EAGAIN || errno == EWOULDBLOCK ||
			    errno == EINTR)
				break;
			log_debug("conn %llu %s: read: %s",
			    (unsigned long long)c->id, c->remote,
			    strerror(errno));
			conn_io_error(c);
			return;
		}
		if (c->state == CONN_LINGER) {
			/* Closing: whatever the client still sends is dropped. */
			if ((size_t)n < room)
				break;
			continue;
		}
		if (c->state != CONN_HTTP && round == 0)
			c->last_rx_ms = conn_now_ms(srv);
		len = tail ? c->ilen + (size_t)n : (size_t)n;
		if (tail)
			c->ilen = len;
		dst = tail ? c->ibuf : srv->rbuf;
		used = consume(c, dst, len);
		if (c->state == CONN_LINGER || c->state == CONN_DEAD)
			used = len;
		if (keep_tail(c, dst, used, len) == -1) {
			conn_fail(c, WS_CLOSE_INTERNAL, "out of memory");
			break;
		}
		if (c->free_pending || (size_t)n < room)
			break;
	}
	c->in_read = false;
	if (c->free_pending) {
		conn_free(c);
		return;
	}
	if (c->flush_now || c->flush_queued)
		conn_flush(c);
}

static void
arm_keepalive(struct conn *c)
{
	const struct wsd_limits *lim = conn_limits(c);
	uint32_t next;

	if (lim->ping_interval_ms > 0)
		next = lim->ping_interval_ms;
	else if (lim->idle_timeout_ms > 0)
		next = lim->idle_timeout_ms;
	else
		return;
	if (lim->idle_timeout_ms > 0 && lim->idle_timeout_ms < next)
		next = lim->idle_timeout_ms;
	timer_in(c, next);
}

static void
keepalive(struct conn *c)
{
	const struct wsd_limits *lim = conn_limits(c);
	uint64_t idle = conn_now_ms(c->srv) - c->last_rx_ms;

	if (lim->idle_timeout_ms > 0 && idle >= lim->idle_timeout_ms) {
		log_info("conn %llu %s: idle for %llu ms, closing",
		    (unsigned long long)c->id, c->remote,
		    (unsigned long long)idle);
		start_close(c, WS_CLOSE_GOING_AWAY, "idle timeout");
		return;
	}
	if (lim->ping_interval_ms > 0 && idle + 50 >= lim->ping_interval_ms) {
		send_frame(c, WS_OP_PING, NULL, 0);
		c->ping_outstanding = true;
	}
	arm_keepalive(c);
}

static void
conn_timercb(evutil_socket_t fd, short what, void *arg)
{
	struct conn *c = arg;

	(void)fd;
	(void)what;
	switch (c->state) {
	case CONN_HTTP:
		log_debug("conn %llu %s: no request head within the handshake "
		    "timeout", (unsigned long long)c->id, c->remote);
		c->status = 408;
		conn_free(c);
		break;
	case CONN_OPEN:
		keepalive(c);
		break;
	default:
		conn_free(c);
		break;
	}
}

/* ---------------------------------------------------------------- free */

static void
access_log(struct conn *c)
{
	uint64_t ms = conn_now_ms(c->srv) - c->start_ms;

	if (c->status == 0)
		return;		/* dropped before a request: nothing to say */
	if (c->status == 101)
		log_info("access %s \"%s\" 101 %llu.%03llus in=%llu/%lluB "
		    "out=%llu/%lluB close=%d", c->remote,
		    c->req_line ? c->req_line : "-",
		    (unsigned long long)(ms / 1000),
		    (unsigned long long)(ms % 1000),
		    (unsigned long long)c->msgs_in,
		    (unsigned long long)c->bytes_in,
		    (unsigned long long)c->msgs_out,
		    (unsigned long long)c->bytes_out, c->close_code);
	else
		log_info("access %s \"%s\" %d %llu.%03llus", c->remote,
		    c->req_line ? c->req_line : "-", c->status,
		    (unsigned long long)(ms / 1000),
		    (unsigned long long)(ms % 1000));
}

static void
conn_free(struct conn *c)
{
	struct server *srv = c->srv;
	struct route *r = c->route;

	if (c->in_cb > 0) {
		c->free_pending = true;
		return;
	}
	if (c->state == CONN_DEAD)
		return;
	c->state = CONN_DEAD;
	if (c->open_called && r->plugin->ops.close != NULL) {
		if (c->close_code == 0)
			set_close(c, WS_CLOSE_ABNORMAL, NULL, 0);
		c->in_cb++;
		r->plugin->ops.close(r->state, (struct wsd_conn *)c,
		    c->close_code,
		    c->close_reason != NULL ? c->close_reason : "");
		c->in_cb--;
	}
	access_log(c);
	if (r != NULL) {
		TAILQ_REMOVE(&r->conns, c, route_link);
		r->nconns--;
	}
	TAILQ_REMOVE(&srv->conns, c, link);
	srv->nconns--;
	if (c->flush_queued)
		TAILQ_REMOVE(&srv->flushq, c, flush_link);
	event_del(c->timer);
	event_del(c->rev);
	if (c->wev != NULL)
		event_free(c->wev);
	outbuf_release(c);
	evutil_closesocket(c->fd);
	free(c->ibuf);
	free_request(c);
	free(c->msg);
	free(c->req_line);
	free(c->subprotocol);
	free(c->close_reason);
	generation_unref(c->gen);
	free(c);
	server_conn_gone(srv);
}

void
conn_shutdown(struct conn *c)
{
	switch (c->state) {
	case CONN_HTTP:
		conn_free(c);
		break;
	case CONN_OPEN:
		start_close(c, WS_CLOSE_GOING_AWAY, "server shutting down");
		break;
	default:
		break;
	}
}

void
conn_abort(struct conn *c)
{
	c->in_cb = 0;
	conn_free(c);
}

/* ---------------------------------------------------------------- API */

int
conn_send(struct conn *c, int opcode, const void *data, size_t len)
{
	const struct wsd_limits *lim;
	size_t queued;

	if (c->state != CONN_OPEN)
		return WSD_SEND_DROPPED;
	if (opcode != WSD_TEXT && opcode != WSD_BINARY)
		return WSD_SEND_DROPPED;
	if (len > 0 && data == NULL)
		return WSD_SEND_DROPPED;
	if (opcode == WSD_TEXT && !utf8_valid(data, len))
		return WSD_SEND_DROPPED;
	lim = conn_limits(c);
	queued = out_len(c);
	/* One message alone may be larger than the limit; a backlog not. */
	if (queued > 0 && queued + len + WS_FRAME_MAX_HEADER >
	    lim->max_send_buffer) {
		log_notice("conn %llu %s: send buffer limit (%llu bytes) "
		    "passed, closing", (unsigned long long)c->id, c->remote,
		    (unsigned long long)lim->max_send_buffer);
		conn_fail(c, WS_CLOSE_POLICY, "send buffer full");
		return WSD_SEND_DROPPED;
	}
	send_frame(c, (uint8_t)opcode, data, len);
	c->msgs_out++;
	c->bytes_out += len;
	return check_hwm(c, queued + len);
}

int
conn_close(struct conn *c, int code, const char *reason)
{
	size_t rl = reason != NULL ? strlen(reason) : 0;

	if (c->state != CONN_OPEN)
		return -1;
	if (code != WS_CLOSE_NORMAL && code != WS_CLOSE_GOING_AWAY &&
	    code != WS_CLOSE_UNSUPPORTED &&
	    !(code >= 1007 && code <= 1011) &&
	    !(code >= 3000 && code <= 4999))
		return -1;
	if (rl > WS_CONTROL_MAX - 2 || !utf8_valid((const uint8_t *)
	    (reason != NULL ? reason : ""), rl))
		return -1;
	return start_close(c, code, reason);
}

/* Keep a string for the plugin until the request is freed. */
static const char *
keep_string(struct conn *c, char *s)
{
	char **n;

	if (s == NULL)
		return NULL;
	if ((n = realloc(c->rq->strs, (c->rq->nstrs + 1) * sizeof(*n))) == NULL) {
		free(s);
		return NULL;
	}
	c->rq->strs = n;
	c->rq->strs[c->rq->nstrs++] = s;
	return s;
}

const char *
conn_arg(struct conn *c, const char *name)
{
	const char *v;
	size_t vl;
	char *d;

	if (c->rq == NULL || c->rq->head == NULL || c->rq->req.query == NULL ||
	    name == NULL)
		return NULL;
	if (!http_query_find(c->rq->req.query, c->rq->req.query_len, name, &v, &vl))
		return NULL;
	if ((d = malloc(vl + 1)) == NULL)
		return NULL;
	if (http_percent_decode(v, vl, d, true) < 0) {
		free(d);
		return NULL;
	}
	return keep_string(c, d);
}

const char *
conn_header(struct conn *c, const char *name)
{
	const struct http_header *h;

	if (c->rq == NULL || c->rq->head == NULL || name == NULL)
		return NULL;
	if ((h = http_find_header(&c->rq->req, name, NULL)) == NULL)
		return NULL;
	return keep_string(c, dup_counted(h->value, h->value_len));
}

const char *
conn_cookie(struct conn *c, const char *name)
{
	const char *v;
	size_t i, vl;

	if (c->rq == NULL || c->rq->head == NULL || name == NULL)
		return NULL;
	/* Browsers send one Cookie header; HTTP/2 proxies may split it. */
	for (i = 0; i < c->rq->req.nheaders; i++) {
		const struct http_header *h = &c->rq->req.headers[i];

		if (http_token_eq(h->name, h->name_len, "Cookie") &&
		    http_cookie_find(h->value, h->value_len, name, &v, &vl))
			return keep_string(c, dup_counted(v, vl));
	}
	return NULL;
}

int
conn_accept_subprotocol(struct conn *c, const char *name)
{
	const struct http_header *h;
	const char *one[1];
	size_t i;

	if (!c->in_handshake || name == NULL || c->subprotocol != NULL)
		return -1;
	one[0] = name;
	/* It must be one the client offered, in any of its headers. */
	for (i = 0; i < c->rq->req.nheaders; i++) {
		h = &c->rq->req.headers[i];
		if (http_token_eq(h->name, h->name_len,
		    "Sec-WebSocket-Protocol") &&
		    ws_pick_subprotocol(h->value, h->value_len, one, 1) == 0)
			return (c->subprotocol = strdup(name)) != NULL ? 0 : -1;
	}
	return -1;
}

/* A header name is a token; a value has no CR, LF or other controls. */
static bool
header_ok(const char *name, const char *value)
{
	const char *p;

	if (name == NULL || value == NULL || *name == '\0')
		return false;
	for (p = name; *p != '\0'; p++)
		if (*p <= ' ' || *p >= 0x7f || strchr("()<>@,;:\\\"/[]?={}",
		    *p) != NULL)
			return false;
	for (p = value; *p != '\0'; p++)
		if ((unsigned char)*p < ' ' && *p != '\t')
			return false;
	if (strcasecmp(name, "Sec-WebSocket-Accept") == 0 ||
	    strcasecmp(name, "Sec-WebSocket-Protocol") == 0 ||
	    strcasecmp(name, "Sec-WebSocket-Extensions") == 0 ||
	    strcasecmp(name, "Upgrade") == 0 ||
	    strcasecmp(name, "Connection") == 0)
		return false;
	return true;
}

int
conn_add_header(struct conn *c, const char *name, const char *value)
{
	char *n;

	if (!c->in_handshake || !header_ok(name, value))
		return -1;
	if (asprintf(&n, "%s%s: %s\r\n", c->rq->extra_headers != NULL ?
	    c->rq->extra_headers : "", name, value) == -1)
		return -1;
	free(c->rq->extra_headers);
	c->rq->extra_headers = n;
	return 0;
}

/*
 * Below this size a broadcast frame is copied into each client's buffer
 * rather than referenced: libevent 2.1 allocates a chain of at least
 * 1 KiB for every reference, so a reference to a short frame (a clock
 * tick is ~30 bytes) costs 30 times more than the copy.  The frame is
 * still encoded once.
 */
#define SHARE_MIN	1024

/* One encoded frame shared by every recipient of a broadcast. */
struct shared_frame {
	size_t	refs;
	size_t	len;
	uint8_t	data[];
};

static void
shared_frame_unref(const void *data, size_t len, void *arg)
{
	struct shared_frame *f = arg;

	(void)data;
	(void)len;
	if (--f->refs == 0)
		free(f);
}

size_t
conn_broadcast(struct route *r, int opcode, const void *data, size_t len)
{
	struct server *srv = NULL;
	struct shared_frame *f;
	struct conn *c;
	size_t hl, n = 0;
	bool direct = false;

	if ((opcode != WSD_TEXT && opcode != WSD_BINARY) ||
	    (len > 0 && data == NULL) || r->nconns == 0)
		return 0;
	if (opcode == WSD_TEXT && !utf8_valid(data, len))
		return 0;
	if ((f = malloc(sizeof(*f) + WS_FRAME_MAX_HEADER + len)) == NULL)
		return 0;
	hl = ws_frame_encode_header(f->data, true, (uint8_t)opcode, len, NULL);
	if (len > 0)
		memcpy(f->data + hl, data, len);
	f->len = hl + len;
	f->refs = 1;
	TAILQ_FOREACH(c, &r->conns, route_link) {
		struct evbuffer *out;
		size_t queued, off = 0;
		ssize_t w;

		if (c->state != CONN_OPEN)
			continue;
		srv = c->srv;
		queued = out_len(c);
		/*
		 * Nothing queued: hand the frame to the kernel now, once per
		 * loop iteration; a clock tick to 10,000 clients then costs
		 * one send each and no buffer.  A second broadcast in the same
		 * iteration is queued, so that a burst goes out in few writes.
		 */
		if (queued == 0 && !c->wev_added && !c->wr_shut &&
		    c->bcast_gen != srv->flush_gen) {
			c->bcast_gen = srv->flush_gen;
			direct = true;
			w = send(c->fd, f->data, f->len, MSG_NOSIGNAL |
			    MSG_DONTWAIT);
			if (w == (ssize_t)f->len) {
				c->msgs_out++;
				c->bytes_out += len;
				n++;
				continue;
			}
			/* The rest is queued; an error shows in conn_flush. */
			if (w > 0)
				off = (size_t)w;
		}
		if (queued > 0 &&
		    queued + f->len > conn_limits(c)->max_send_buffer) {
			log_notice("conn %llu %s: send buffer limit passed, "
			    "closing", (unsigned long long)c->id, c->remote);
			conn_fail(c, WS_CLOSE_POLICY, "send buffer full");
			continue;
		}
		if ((out = outbuf(c)) == NULL)
			continue;
		if (f->len - off < SHARE_MIN) {
			if (evbuffer_add(out, f->data + off, f->len - off) == -1)
				continue;
		} else {
			f->refs++;
			if (evbuffer_add_reference(out, f->data + off,
			    f->len - off, shared_frame_unref, f) == -1) {
				f->refs--;
				continue;
			}
		}
		c->msgs_out++;
		c->bytes_out += len;
		check_hwm(c, queued + f->len - off);
		broadcast_added(c);
		n++;
	}
	/* The end of the iteration starts a new one for direct sends. */
	if (direct)
		event_active(srv->ev_flush, EV_TIMEOUT, 1);
	shared_frame_unref(NULL, 0, f);
	return n;
}

size_t
conn_buffered(struct conn *c)
{
	if (c->state == CONN_DEAD)
		return 0;
	return out_len(c);
}

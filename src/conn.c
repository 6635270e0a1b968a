/*
 * conn: see conn.h.
 *
 * A connection never frees itself from inside a plugin callback: the
 * plugin may call wsd_close() or send to a connection that is over its
 * limit, and both only change state.  Freeing happens from the top of a
 * libevent callback (read, event, write, timer), where nothing of ours
 * is on the stack.
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
#include <event2/bufferevent.h>
#include <event2/event.h>

#include "conn.h"
#include "handshake.h"
#include "log.h"
#include "plugin.h"
#include "route.h"
#include "server.h"
#include "static.h"

static void	conn_readcb(struct bufferevent *, void *);
static void	conn_writecb(struct bufferevent *, void *);
static void	conn_eventcb(struct bufferevent *, short, void *);
static void	conn_timercb(evutil_socket_t, short, void *);
static void	conn_free(struct conn *);
static void	conn_linger(struct conn *);
static void	conn_fail(struct conn *, int, const char *);
static void	process_frames(struct conn *);
static void	arm_keepalive(struct conn *);

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

struct conn *
conn_new_bev(struct server *srv, struct bufferevent *bev, const char *remote)
{
	struct conn *c;

	if ((c = calloc(1, sizeof(*c))) == NULL)
		return NULL;
	if ((c->timer = evtimer_new(srv->base, conn_timercb, c)) == NULL) {
		free(c);
		return NULL;
	}
	c->bev = bev;
	c->srv = srv;
	c->id = ++srv->next_id;
	c->state = CONN_HTTP;
	c->gen = srv->gen;
	generation_ref(c->gen);
	c->start_ms = conn_now_ms(srv);
	c->utf8 = UTF8_ACCEPT;
	snprintf(c->remote, sizeof(c->remote), "%s", remote);
	TAILQ_INSERT_TAIL(&srv->conns, c, link);
	srv->nconns++;

	bufferevent_setcb(c->bev, conn_readcb, NULL, conn_eventcb, c);
	bufferevent_enable(c->bev, EV_READ | EV_WRITE);
	timer_in(c, c->gen->cfg->limits.handshake_timeout_ms);
	return c;
}

struct conn *
conn_new(struct server *srv, evutil_socket_t fd, const struct sockaddr *sa,
    int socklen)
{
	struct bufferevent *bev;
	struct conn *c;
	char remote[64];
	int one = 1;

	(void)socklen;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	format_addr(sa, remote, sizeof(remote));
	bev = bufferevent_socket_new(srv->base, fd, BEV_OPT_CLOSE_ON_FREE);
	if (bev == NULL) {
		evutil_closesocket(fd);
		return NULL;
	}
	if ((c = conn_new_bev(srv, bev, remote)) == NULL)
		bufferevent_free(bev);	/* closes fd */
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

static void
send_frame(struct conn *c, uint8_t opcode, const void *data, size_t len)
{
	struct evbuffer *out = bufferevent_get_output(c->bev);
	uint8_t hdr[WS_FRAME_MAX_HEADER];
	size_t hl;

	hl = ws_frame_encode_header(hdr, true, opcode, len, NULL);
	evbuffer_add(out, hdr, hl);
	if (len > 0)
		evbuffer_add(out, data, len);
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

static void
set_close(struct conn *c, int code, const char *reason, size_t rlen)
{
	c->close_code = code;
	if (rlen >= sizeof(c->close_reason))
		rlen = sizeof(c->close_reason) - 1;
	memcpy(c->close_reason, reason != NULL ? reason : "", rlen);
	c->close_reason[rlen] = '\0';
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
	struct evbuffer *in = bufferevent_get_input(c->bev);

	if (c->state == CONN_LINGER || c->state == CONN_DEAD)
		return;
	c->state = CONN_LINGER;
	c->over_hwm = false;
	bufferevent_setwatermark(c->bev, EV_WRITE, 0, 0);
	/*
	 * Inside a plugin callback the message it was handed may point into
	 * the input buffer: leave it, conn_readcb drains it on the way out.
	 */
	if (c->in_cb == 0)
		evbuffer_drain(in, evbuffer_get_length(in));
	timer_in(c, conn_limits(c)->close_timeout_ms);
	bufferevent_setcb(c->bev, conn_readcb, conn_writecb, conn_eventcb, c);
	if (evbuffer_get_length(bufferevent_get_output(c->bev)) == 0)
		conn_writecb(c->bev, c);
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
 * After queueing: if the client is now over the high-water mark, ask
 * libevent to call conn_writecb once output falls to half of it.
 */
static int
check_hwm(struct conn *c, size_t queued)
{
	size_t hwm = conn_hwm(c);

	if (queued <= hwm)
		return WSD_SEND_OK;
	if (!c->over_hwm) {
		c->over_hwm = true;
		bufferevent_setwatermark(c->bev, EV_WRITE, hwm / 2, 0);
		bufferevent_setcb(c->bev, conn_readcb, conn_writecb,
		    conn_eventcb, c);
	}
	return WSD_SEND_BACKPRESSURE;
}

static void
conn_writecb(struct bufferevent *bev, void *arg)
{
	struct conn *c = arg;
	struct route *r = c->route;
	size_t queued = evbuffer_get_length(bufferevent_get_output(bev));

	if (c->state == CONN_LINGER) {
		if (queued > 0)
			return;
		/* Everything is out: no more writes, and stop calling us. */
		bufferevent_setcb(bev, conn_readcb, NULL, conn_eventcb, c);
		bufferevent_disable(bev, EV_WRITE);
		shutdown(bufferevent_getfd(bev), SHUT_WR);
		return;
	}
	if (!c->over_hwm || queued > conn_hwm(c) / 2)
		return;
	c->over_hwm = false;
	bufferevent_setwatermark(bev, EV_WRITE, 0, 0);
	bufferevent_setcb(bev, conn_readcb, NULL, conn_eventcb, c);
	if (c->state == CONN_OPEN && r->plugin->ops.drain != NULL) {
		c->in_cb++;
		r->plugin->ops.drain(r->state, (struct wsd_conn *)c);
		c->in_cb--;
		if (c->free_pending)
			conn_free(c);
	}
}

/* ---------------------------------------------------------------- HTTP */

static void
respond_error(struct conn *c, int status, const char *extra)
{
	int head_only = c->req.method != NULL &&
	    http_token_eq(c->req.method, c->req.method_len, "HEAD");

	c->status = status;
	http_write_error(bufferevent_get_output(c->bev), status, extra,
	    head_only);
	conn_linger(c);
}

static void
free_request(struct conn *c)
{
	size_t i;

	for (i = 0; i < c->nstrs; i++)
		free(c->strs[i]);
	free(c->strs);
	c->strs = NULL;
	c->nstrs = 0;
	free(c->head);
	free(c->hdrs);
	free(c->path_z);
	free(c->query_z);
	c->head = NULL;
	c->hdrs = NULL;
	c->path_z = c->query_z = NULL;
	memset(&c->req, 0, sizeof(c->req));
}

/* Keep a copy of the request line for the access log. */
static void
note_request_line(struct conn *c)
{
	char m[32], t[256];

	log_escape(m, sizeof(m), c->req.method, c->req.method_len);
	log_escape(t, sizeof(t), c->req.target, c->req.target_len);
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

	if (!ws_is_upgrade(&c->req)) {
		respond_error(c, 400, NULL);
		return;
	}
	if ((status = ws_check_upgrade(&c->req, &up)) != 0) {
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
	c->path_z = dup_counted(c->req.path, c->req.path_len);
	if (c->req.query != NULL)
		c->query_z = dup_counted(c->req.query, c->req.query_len);
	if (c->path_z == NULL ||
	    (c->req.query != NULL && c->query_z == NULL)) {
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
	evbuffer_add_printf(bufferevent_get_output(c->bev),
	    "HTTP/1.1 101 Switching Protocols\r\n"
	    "Upgrade: websocket\r\n"
	    "Connection: Upgrade\r\n"
	    "Sec-WebSocket-Accept: %s\r\n"
	    "%s%s%s"
	    "%s\r\n", accept,
	    c->subprotocol != NULL ? "Sec-WebSocket-Protocol: " : "",
	    c->subprotocol != NULL ? c->subprotocol : "",
	    c->subprotocol != NULL ? "\r\n" : "",
	    c->extra_headers != NULL ? c->extra_headers : "");
	free(c->extra_headers);
	c->extra_headers = NULL;
	c->status = 101;

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
	r = route_find(&g->routes, c->req.path, c->req.path_len);
	if (r != NULL) {
		upgrade(c, r);
		return;
	}
	if (ws_is_upgrade(&c->req)) {
		respond_error(c, 404, NULL);
		return;
	}
	head_only = http_token_eq(c->req.method, c->req.method_len, "HEAD");
	if (!head_only &&
	    !http_token_eq(c->req.method, c->req.method_len, "GET")) {
		respond_error(c, 405, "Allow: GET, HEAD\r\n");
		return;
	}
	c->status = static_respond(bufferevent_get_output(c->bev),
	    g->cfg->document_root, &c->req, head_only);
	conn_linger(c);
}

static void
read_head(struct conn *c)
{
	struct evbuffer *in = bufferevent_get_input(c->bev);
	const struct wsd_limits *lim = &c->gen->cfg->limits;
	size_t len = evbuffer_get_length(in), n;
	struct http_header *hdrs;
	const char *p;
	int r;

	n = len < lim->max_head_size ? len : lim->max_head_size;
	if (n == 0)
		return;
	if ((p = (const char *)evbuffer_pullup(in, (ev_ssize_t)n)) == NULL ||
	    (hdrs = calloc(lim->max_headers, sizeof(*hdrs))) == NULL) {
		respond_error(c, 500, NULL);
		return;
	}
	r = http_parse_request(p, n, &c->req, hdrs, lim->max_headers);
	if (r == HTTP_PARSE_INCOMPLETE) {
		free(hdrs);
		memset(&c->req, 0, sizeof(c->req));
		if (len >= lim->max_head_size)
			respond_error(c, 431, NULL);
		return;
	}
	if (r < 0) {
		free(hdrs);
		memset(&c->req, 0, sizeof(c->req));
		respond_error(c, r == HTTP_PARSE_TOO_MANY_HEADERS ? 431 :
		    r == HTTP_PARSE_BAD_VERSION ? 505 : 400, NULL);
		return;
	}

	/* Keep our own copy: the plugin reads it in `open`. */
	if ((c->head = malloc((size_t)r)) == NULL) {
		free(hdrs);
		respond_error(c, 500, NULL);
		return;
	}
	memcpy(c->head, p, (size_t)r);
	evbuffer_drain(in, (size_t)r);
	c->hdrs = hdrs;
	if (http_parse_request(c->head, (size_t)r, &c->req, hdrs,
	    lim->max_headers) != r) {
		respond_error(c, 500, NULL);
		return;
	}
	handle_request(c);
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
		queued = evbuffer_get_length(bufferevent_get_output(c->bev));
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

static void
process_frames(struct conn *c)
{
	struct evbuffer *in = bufferevent_get_input(c->bev);

	while (c->state == CONN_OPEN || c->state == CONN_CLOSING) {
		size_t avail = evbuffer_get_length(in);
		struct ws_frame_header *h = &c->fh;
		uint8_t *p;

		if (!c->have_header) {
			enum ws_frame_result fr;
			size_t n = avail < WS_FRAME_MAX_HEADER ? avail :
			    WS_FRAME_MAX_HEADER;

			if (n < 2)
				return;
			p = evbuffer_pullup(in, (ev_ssize_t)n);
			fr = ws_frame_parse_header(p, n, true, 0, h);
			if (fr == WS_FRAME_NEED_MORE)
				return;
			if (fr != WS_FRAME_OK) {
				conn_fail(c, ws_frame_error_code(fr),
				    ws_frame_strerror(fr));
				return;
			}
			if (begin_frame(c) == -1)
				return;
			evbuffer_drain(in, h->header_len);
			avail -= h->header_len;
			c->have_header = true;
			c->frame_off = 0;
		}

		if (ws_opcode_is_control(h->opcode)) {
			uint8_t ctl[WS_CONTROL_MAX];
			size_t len = (size_t)h->payload_len;

			if (avail < len)
				return;
			evbuffer_remove(in, ctl, len);
			ws_mask(ctl, len, h->mask, 0);
			c->have_header = false;
			handle_control(c, h->opcode, ctl, len);
			continue;
		}

		/* Fast path: a whole unfragmented message is here. */
		if (h->fin && h->opcode != WS_OP_CONT && c->frame_off == 0 &&
		    avail >= h->payload_len) {
			size_t len = (size_t)h->payload_len;

			p = len > 0 ? evbuffer_pullup(in, (ev_ssize_t)len) :
			    NULL;
			if (len > 0 && p == NULL) {
				conn_fail(c, WS_CLOSE_INTERNAL, "out of memory");
				return;
			}
			c->have_header = false;
			if (len > 0)
				ws_mask(p, len, h->mask, 0);
			if (h->opcode == WS_OP_TEXT && !utf8_valid(p, len)) {
				conn_fail(c, WS_CLOSE_INVALID_DATA,
				    "text message is not UTF-8");
				return;
			}
			deliver(c, h->opcode, p, len);
			evbuffer_drain(in, len);
			c->msg_op = 0;
			c->nfrags = 0;
			continue;
		}

		/* Slow path: stream the payload into the message buffer. */
		{
			uint64_t left = h->payload_len - c->frame_off;
			size_t take = avail < left ? avail : (size_t)left;

			if (take > 0) {
				uint8_t *dst;

				if (msg_reserve(c, take) == -1) {
					conn_fail(c, WS_CLOSE_INTERNAL,
					    "out of memory");
					return;
				}
				dst = c->msg + c->msg_len;
				evbuffer_remove(in, dst, take);
				ws_mask(dst, take, h->mask, c->frame_off);
				if (c->msg_op == WS_OP_TEXT) {
					c->utf8 = utf8_feed(c->utf8, dst, take);
					if (c->utf8 == UTF8_REJECT) {
						conn_fail(c,
						    WS_CLOSE_INVALID_DATA,
						    "text message is not UTF-8");
						return;
					}
				}
				c->msg_len += take;
				c->frame_off += take;
			}
			if (c->frame_off < h->payload_len)
				return;
			c->have_header = false;
			if (!h->fin)
				continue;
			if (c->msg_op == WS_OP_TEXT && c->utf8 != UTF8_ACCEPT) {
				conn_fail(c, WS_CLOSE_INVALID_DATA,
				    "text message is not UTF-8");
				return;
			}
			deliver(c, c->msg_op, c->msg, c->msg_len);
			msg_reset(c);
		}
	}
}

/* ---------------------------------------------------------------- events */

static void
conn_readcb(struct bufferevent *bev, void *arg)
{
	struct conn *c = arg;
	struct evbuffer *in = bufferevent_get_input(bev);

	switch (c->state) {
	case CONN_HTTP:
		read_head(c);
		/* Frames sent right behind the request head. */
		if (c->state == CONN_OPEN || c->state == CONN_CLOSING)
			process_frames(c);
		break;
	case CONN_OPEN:
	case CONN_CLOSING:
		c->last_rx_ms = conn_now_ms(c->srv);
		process_frames(c);
		break;
	default:
		break;
	}
	/* Closing: whatever else the client sent is of no interest. */
	if (c->state == CONN_LINGER || c->state == CONN_DEAD)
		evbuffer_drain(in, evbuffer_get_length(in));
	if (c->free_pending)
		conn_free(c);
}

static void
conn_eventcb(struct bufferevent *bev, short what, void *arg)
{
	struct conn *c = arg;

	(void)bev;
	if (what & (BEV_EVENT_EOF | BEV_EVENT_ERROR)) {
		if (c->state == CONN_OPEN || c->state == CONN_CLOSING) {
			if (!c->close_rcvd && !c->close_sent)
				set_close(c, WS_CLOSE_ABNORMAL, NULL, 0);
		}
		conn_free(c);
	}
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
		    c->close_code, c->close_reason);
		c->in_cb--;
	}
	access_log(c);
	if (r != NULL) {
		TAILQ_REMOVE(&r->conns, c, route_link);
		r->nconns--;
	}
	TAILQ_REMOVE(&srv->conns, c, link);
	srv->nconns--;
	event_free(c->timer);
	bufferevent_free(c->bev);
	free_request(c);
	free(c->msg);
	free(c->req_line);
	free(c->subprotocol);
	free(c->extra_headers);
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
	queued = evbuffer_get_length(bufferevent_get_output(c->bev));
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
	if ((n = realloc(c->strs, (c->nstrs + 1) * sizeof(*n))) == NULL) {
		free(s);
		return NULL;
	}
	c->strs = n;
	c->strs[c->nstrs++] = s;
	return s;
}

const char *
conn_arg(struct conn *c, const char *name)
{
	const char *v;
	size_t vl;
	char *d;

	if (c->head == NULL || c->req.query == NULL || name == NULL)
		return NULL;
	if (!http_query_find(c->req.query, c->req.query_len, name, &v, &vl))
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

	if (c->head == NULL || name == NULL)
		return NULL;
	if ((h = http_find_header(&c->req, name, NULL)) == NULL)
		return NULL;
	return keep_string(c, dup_counted(h->value, h->value_len));
}

const char *
conn_cookie(struct conn *c, const char *name)
{
	const char *v;
	size_t i, vl;

	if (c->head == NULL || name == NULL)
		return NULL;
	/* Browsers send one Cookie header; HTTP/2 proxies may split it. */
	for (i = 0; i < c->req.nheaders; i++) {
		const struct http_header *h = &c->req.headers[i];

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
	for (i = 0; i < c->req.nheaders; i++) {
		h = &c->req.headers[i];
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
	if (asprintf(&n, "%s%s: %s\r\n", c->extra_headers != NULL ?
	    c->extra_headers : "", name, value) == -1)
		return -1;
	free(c->extra_headers);
	c->extra_headers = n;
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
	struct shared_frame *f;
	struct conn *c;
	size_t hl, n = 0;

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
		size_t queued;

		if (c->state != CONN_OPEN)
			continue;
		out = bufferevent_get_output(c->bev);
		queued = evbuffer_get_length(out);
		if (queued > 0 &&
		    queued + f->len > conn_limits(c)->max_send_buffer) {
			log_notice("conn %llu %s: send buffer limit passed, "
			    "closing", (unsigned long long)c->id, c->remote);
			conn_fail(c, WS_CLOSE_POLICY, "send buffer full");
			continue;
		}
		if (f->len < SHARE_MIN) {
			if (evbuffer_add(out, f->data, f->len) == -1)
				continue;
		} else {
			f->refs++;
			if (evbuffer_add_reference(out, f->data, f->len,
			    shared_frame_unref, f) == -1) {
				f->refs--;
				continue;
			}
		}
		c->msgs_out++;
		c->bytes_out += len;
		check_hwm(c, queued + f->len);
		n++;
	}
	shared_frame_unref(NULL, 0, f);
	return n;
}

size_t
conn_buffered(struct conn *c)
{
	if (c->state == CONN_DEAD)
		return 0;
	return evbuffer_get_length(bufferevent_get_output(c->bev));
}

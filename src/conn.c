/*
 * conn: see conn.h.
 *
 * A connection never frees itself from inside a plugin callback: the
 * plugin may call wsd_close() or send to a connection that is over its
 * limit, and both only change state.  Freeing happens from the top of a
 * libevent callback (read, write, flush, timer), where nothing of ours
 * is on the stack.
 *
 * Reads go into cs->rbuf, shared by all connections: the loop runs one
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
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/event.h>

#include "accesslog.h"
#include "addrcount.h"
#include "conn_priv.h"
#include "failalloc.h"
#include "topic.h"
#include "log.h"
#include "plugin.h"
#include "route.h"
#include "server.h"
#include "tls.h"
#include "workers.h"

/* Unfragmented frames up to this size are gathered whole before use. */
#define WAIT_MAX	WS_RX_WAIT_MAX
/* The least a connection's own input buffer grows by. */
#define IBUF_MIN	4096
/* Buckets of the id index to begin with. */
#define BYID_MIN	1024
/* Reads per readable event, so that one client cannot hog the loop. */
#define READ_ROUNDS	8
/* Readable sockets taken from cs->epfd per turn of the loop. */
#define POLL_BATCH	256

static void	conn_readcb(evutil_socket_t, short, void *);
static void	conn_pollcb(evutil_socket_t, short, void *);
static void	conn_actcb(evutil_socket_t, short, void *);
static void	conn_timercb(struct conn *);
static void	conn_timerscb(evutil_socket_t, short, void *);
static void	conn_free(struct conn *);
static void	arm_keepalive(struct conn *);

uint64_t
conn_now_ms(struct server *srv)
{
	struct timespec ts;

	(void)srv;
	clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/*
 * The timers' clock, in microseconds: exact, unlike conn_now_ms()'s
 * coarse one, so that a deadline is never seen as due before it is.
 */
static uint64_t
timer_now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
}

/* Arm the server's one timer for the earliest deadline, if it is not. */
static int
timers_arm(struct conn_shared *cs)
{
	struct theap_node *t = theap_top(&cs->timers);
	struct timeval tv;
	uint64_t now, d;

	if (t == NULL) {
		if (cs->timer_at != 0)
			evtimer_del(cs->ev_timer);
		cs->timer_at = 0;
		return 0;
	}
	if (cs->timer_at == t->when)
		return 0;
	now = timer_now_us();
	d = t->when > now ? t->when - now : 0;
	tv.tv_sec = (time_t)(d / 1000000);
	tv.tv_usec = (suseconds_t)(d % 1000000);
	if (evtimer_add(cs->ev_timer, &tv) == -1)
		return -1;
	cs->timer_at = t->when;
	return 0;
}

/* c's one deadline (it replaces any other) is ms from now. */
static void
timer_in(struct conn *c, uint32_t ms)
{
	struct conn_shared *cs = c->srv->cs;

	/* A connection without its timer could live for ever. */
	if (theap_set(&cs->timers, &c->timer,
	    timer_now_us() + (uint64_t)ms * 1000) == -1 ||
	    (c->timer.idx == 1 && timers_arm(cs) == -1))
		conn_broken(c, "cannot arm its timer");
}

static void
timer_stop(struct conn *c)
{
	/* An earlier ev_timer that finds nothing due just arms again. */
	theap_del(&c->srv->cs->timers, &c->timer);
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
	struct conn_shared *cs;

	if ((cs = calloc(1, sizeof(*cs))) == NULL)
		return -1;
	cs->srv = srv;
	cs->base = srv->base;
	TAILQ_INIT(&cs->flushq);
	cs->flush_gen = 1;	/* a new conn's bcast_gen is 0 */
	cs->byid_mask = BYID_MIN - 1;
	cs->epfd = -1;
	srv->cs = cs;
	if ((cs->epfd = epoll_create1(EPOLL_CLOEXEC)) == -1 ||
	    (cs->pending = addrcount_new()) == NULL ||
	    (cs->rbuf = malloc(RBUF_SIZE)) == NULL ||
	    (cs->pollv = calloc(POLL_BATCH, sizeof(*cs->pollv))) == NULL ||
	    (cs->byid = calloc(BYID_MIN, sizeof(*cs->byid))) == NULL ||
	    (cs->ev_flush = event_new(srv->base, -1, 0, conn_flushcb,
	    cs)) == NULL ||
	    (cs->ev_budget = event_new(srv->base, -1, 0, conn_budgetcb,
	    cs)) == NULL ||
	    (cs->ev_timer = evtimer_new(srv->base, conn_timerscb,
	    cs)) == NULL ||
	    (cs->ev_act = event_new(srv->base, -1, 0, conn_actcb,
	    cs)) == NULL ||
	    (cs->ev_poll = event_new(srv->base, cs->epfd,
	    EV_READ | EV_PERSIST, conn_pollcb, cs)) == NULL ||
	    event_add(cs->ev_poll, NULL) == -1) {
		conn_server_fini(srv);
		return -1;
	}
	return 0;
}

static size_t
byid_slot(const struct conn_shared *cs, uint64_t id)
{
	/* Ids count up within a worker, whose number is in the top bits. */
	return (size_t)(id ^ (id >> 40)) & cs->byid_mask;
}

/* Index c by its id; on no memory the table only stays more crowded. */
static void
byid_insert(struct conn_shared *cs, struct conn *c)
{
	struct conn **nb, *e, *next;
	size_t i, n;

	if (cs->byid_n >= 2 * (cs->byid_mask + 1) &&
	    (nb = calloc(2 * (cs->byid_mask + 1), sizeof(*nb))) != NULL) {
		n = cs->byid_mask + 1;
		cs->byid_mask = 2 * n - 1;
		for (i = 0; i < n; i++) {
			for (e = cs->byid[i]; e != NULL; e = next) {
				size_t k = byid_slot(cs, e->id);

				next = e->id_next;
				e->id_next = nb[k];
				nb[k] = e;
			}
		}
		free(cs->byid);
		cs->byid = nb;
	}
	i = byid_slot(cs, c->id);
	c->id_next = cs->byid[i];
	cs->byid[i] = c;
	cs->byid_n++;
}

static void
byid_remove(struct conn_shared *cs, struct conn *c)
{
	struct conn **pp;

	for (pp = &cs->byid[byid_slot(cs, c->id)]; *pp != NULL;
	    pp = &(*pp)->id_next) {
		if (*pp == c) {
			*pp = c->id_next;
			cs->byid_n--;
			return;
		}
	}
}

void
conn_server_fini(struct server *srv)
{
	struct conn_shared *cs = srv->cs;
	size_t i;

	if (cs == NULL)
		return;
	while (cs->noutpool > 0)
		evbuffer_free(cs->outpool[--cs->noutpool]);
	for (i = 0; i < REQLINE_CACHE; i++)
		conn_req_line_put(cs->reqlines[i]);
	pmd_worker_free(&cs->pmd);
	free(cs->byid);
	theap_free(&cs->timers);
	if (cs->ev_poll != NULL)
		event_free(cs->ev_poll);
	if (cs->ev_act != NULL)
		event_free(cs->ev_act);
	if (cs->ev_timer != NULL)
		event_free(cs->ev_timer);
	if (cs->ev_flush != NULL)
		event_free(cs->ev_flush);
	if (cs->ev_budget != NULL)
		event_free(cs->ev_budget);
	if (cs->epfd != -1)
		close(cs->epfd);
	free(cs->pollv);
	addrcount_free(cs->pending);
	free(cs->rbuf);
	free(cs);
	srv->cs = NULL;
}

/*
 * A connection refused by max_pending_per_address: said at most once a
 * second, with how many there were, so a flood cannot flood the log.
 */
static void
pending_refused(struct conn_shared *cs, const struct sockaddr *sa)
{
	uint64_t now = conn_now_ms(cs->srv);
	char addr[64];

	cs->pending_refused++;
	if (now - cs->pending_log_ms < 1000)
		return;
	format_addr(sa, addr, sizeof(addr));
	log_notice("refused %llu connection(s) with 503: too many in their "
	    "handshake from one address (max_pending_per_address %u), "
	    "last %s", (unsigned long long)cs->pending_refused,
	    (unsigned)cs->srv->gen->cfg->limits.max_pending_per_address,
	    addr);
	cs->pending_refused = 0;
	cs->pending_log_ms = now;
}

/* The HTTP phase is over: the connection no longer counts as pending. */
void
conn_not_pending(struct conn *c)
{
	addrcount_put(c->srv->cs->pending, c->pending);
	c->pending = NULL;
}

size_t
conn_alloc_size(size_t alen)
{
	return sizeof(struct conn) + alen;
}

struct conn *
conn_new(struct server *srv, evutil_socket_t fd, const struct sockaddr *sa,
    int socklen, struct tls_server *ts, const struct wsd_listen_conf *lc)
{
	/*
	 * The read event and the address text live in the same allocation,
	 * after the conn (its timer is a node in cs->timers); the write
	 * event is only made for a client that once did not take all its
	 * output at once.
	 */
	struct conn_shared *cs = srv->cs;
	struct addrcount_entry *pe;
	struct conn *c = NULL;
	char addr[CONN_ADDR_MAX];
	size_t alen;
	int one = 1;

	(void)socklen;
	/* A trusted proxy's connections count against their clients. */
	switch (conn_proxy_uncounted(lc, sa) ? (pe = NULL, 0) :
	    addrcount_take(cs->pending, sa,
	    srv->gen->cfg->limits.max_pending_per_address, &pe)) {
	case 1:
		metrics.refused[MREF_PER_ADDRESS]++;
		pending_refused(cs, sa);
		conn_refuse(srv, fd, ts != NULL);
		return NULL;
	case -1:
		metrics.refused[MREF_MEMORY]++;
		log_warn("out of memory accepting a connection");
		conn_refuse(srv, fd, ts != NULL);
		return NULL;
	}
	format_addr(sa, addr, sizeof(addr));
	alen = strlen(addr) + 1;
	if (evutil_make_socket_nonblocking(fd) == -1 ||
	    (c = calloc(1, conn_alloc_size(alen))) == NULL ||
	    (ts != NULL && (c->ssl = tls_server_ssl(ts, fd)) == NULL)) {
		metrics.refused[MREF_MEMORY]++;
		log_warn("out of memory accepting a connection");
		free(c);
		addrcount_put(cs->pending, pe);
		conn_refuse(srv, fd, ts != NULL);
		return NULL;
	}
	c->pending = pe;
	c->fd = fd;
	c->srv = srv;
	c->remote = (char *)(c + 1);
	memcpy(c->remote, addr, alen);
	if (conn_read_watch(c) == -1) {
		log_warn("cannot watch an accepted connection");
		addrcount_put(cs->pending, pe);
		SSL_free(c->ssl);
		free(c);
		conn_refuse(srv, fd, ts != NULL);
		return NULL;
	}
	/* Not for AF_UNIX (the fuzzer); TCP answers are small and urgent. */
	if (sa->sa_family == AF_INET || sa->sa_family == AF_INET6)
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	c->id = ++srv->next_id;
	byid_insert(cs, c);
	c->state = CONN_HTTP;
	c->gen = srv->gen;
	generation_ref(c->gen);
	c->start_ms = conn_now_ms(srv);
	ws_rx_init(&c->rx);
	srv->nconns++;
	timer_in(c, c->gen->cfg->limits.handshake_timeout_ms);
	c->lc = lc;
	if (conn_proxy_start(c) == -1) {
		log_warn("out of memory accepting a connection");
		conn_free(c);
		return NULL;
	}
	return c;
}

/*
 * Send a short answer in plain text and half-close: a fresh socket's
 * send buffer always has room for it.
 */
void
conn_answer_plain(evutil_socket_t fd, const char *resp, size_t len)
{
	char sink[4096];
	ssize_t n;
	int i;

	if (resp != NULL) {
		n = send(fd, resp, len, MSG_DONTWAIT | MSG_NOSIGNAL);
		(void)n;
	}
	shutdown(fd, SHUT_WR);
	/*
	 * Closing with unread input makes the kernel reset the connection,
	 * and a reset can destroy the 503 before the client reads it: take
	 * what has arrived so far (a request head, usually).
	 */
	for (i = 0; i < 4; i++)
		if (recv(fd, sink, sizeof(sink), MSG_DONTWAIT) <= 0)
			break;
}

/* A whole 503, a constant: refusing needs no memory. */
const char conn_503[] = "HTTP/1.1 503 Service Unavailable\r\n"
    "Content-Type: text/plain; charset=utf-8\r\n"
    "Content-Length: 24\r\n"
    "Retry-After: 5\r\n"
    "Connection: close\r\n\r\n"
    "503 Service Unavailable\n";
const size_t conn_503_len = sizeof(conn_503) - 1;

void
conn_refuse(struct server *srv, evutil_socket_t fd, bool tls)
{
	(void)srv;
	/* Plain text would only be noise to a TLS client: it sees a close. */
	conn_answer_plain(fd, tls ? NULL : conn_503, conn_503_len);
	evutil_closesocket(fd);
}

/* Record the close code and reason that `close` will report. */
void
conn_set_close(struct conn *c, int code, const char *reason, size_t rlen)
{
	char *r = NULL;

	c->close_code = code;
	if (rlen > WS_CONTROL_MAX - 2)
		rlen = WS_CONTROL_MAX - 2;
	if (rlen > 0 && (r = malloc(rlen + 1)) != NULL) {
		memcpy(r, reason, rlen);
		r[rlen] = '\0';
	}
	if (c->cold == NULL && (r == NULL || conn_cold(c) == NULL)) {
		free(r);	/* without memory, no reason */
		return;
	}
	free(c->cold->close_reason);
	c->cold->close_reason = r;
}

/*
 * Fail the WebSocket connection (RFC 6455 section 7.1.7): send a Close
 * with code, stop reading frames, close TCP once it is flushed.
 */
void
conn_fail(struct conn *c, int code, const char *why)
{
	if (c->state != CONN_OPEN && c->state != CONN_CLOSING)
		return;
	log_info("conn %llu %s: closing with %d: %s",
	    (unsigned long long)c->id, c->remote, code, why);
	if (!c->close_sent) {
		conn_send_close_frame(c, code, why);
		if (!c->close_rcvd)
			conn_set_close(c, code, why, strlen(why));
	}
	conn_linger(c);
}

/* Begin a server-side closing handshake. */
static int
start_close(struct conn *c, int code, const char *reason)
{
	if (c->state != CONN_OPEN)
		return -1;
	conn_send_close_frame(c, code, reason);
	conn_set_close(c, code, reason, reason != NULL ? strlen(reason) : 0);
	c->state = CONN_CLOSING;
	timer_in(c, conn_limits(c)->close_timeout_ms);
	return 0;
}

/*
 * Flush what is queued, then half-close and wait (bounded) for the
 * client's EOF, discarding what it still sends, so that our last bytes
 * are not destroyed by a reset.
 */
void
conn_linger(struct conn *c)
{
	if (c->state == CONN_LINGER || c->state == CONN_DEAD)
		return;
	conn_not_pending(c);
	c->state = CONN_LINGER;
	c->over_hwm = false;
	/* Unread input is of no interest now: conn_readcb drops it. */
	timer_in(c, conn_limits(c)->close_timeout_ms);
	conn_want_flush(c);		/* the half-close follows the last byte */
}

/*
 * Output moved while closing: the close timeout counts from the last
 * progress, so a slow client that keeps reading gets all it is owed.
 */
void
conn_out_progress(struct conn *c)
{
	if (c->state == CONN_LINGER || c->state == CONN_CLOSING)
		timer_in(c, conn_limits(c)->close_timeout_ms);
}

/*
 * The output stream cannot be trusted any more (half a frame is on the
 * wire, or a header was queued without its payload): drop what is
 * queued, write nothing more, and free the connection from the top of
 * the next callback.  The plugin hears 1006 unless a Close came.
 */
void
conn_broken(struct conn *c, const char *why)
{
	conn_drop(c, WS_CLOSE_ABNORMAL, why);
}

/* conn_broken() with the code (and why as the reason) for the plugin. */
void
conn_drop(struct conn *c, int code, const char *why)
{
	if (c->broken || c->state == CONN_DEAD)
		return;
	log_notice("conn %llu %s: dropping the connection: %s",
	    (unsigned long long)c->id, c->remote, why);
	c->broken = true;
	conn_out_discard(c);
	c->wr_shut = true;
	if (!c->close_rcvd && (c->state == CONN_OPEN ||
	    c->state == CONN_CLOSING || code == WS_CLOSE_ABNORMAL))
		conn_set_close(c, code, why, code == WS_CLOSE_ABNORMAL ? 0 :
		    strlen(why));
	conn_not_pending(c);
	c->state = CONN_LINGER;
	conn_want_flush(c);
}

/* Everything owed is out and the client has shut down its side. */
void
conn_done(struct conn *c)
{
	conn_free(c);
}

/* The peer reset or vanished: nothing more can be sent or received. */
void
conn_io_error(struct conn *c)
{
	if ((c->state == CONN_OPEN || c->state == CONN_CLOSING) &&
	    !c->close_rcvd && !c->close_sent)
		conn_set_close(c, WS_CLOSE_ABNORMAL, NULL, 0);
	conn_free(c);
}

static void
deliver(struct conn *c, uint8_t op, uint8_t *data, size_t len)
{
	struct route *r = c->route;
	struct conn_shared *cs = c->srv->cs;
	const uint8_t *prev_text;
	size_t prev_len;
	uint64_t t0;

	c->msgs_in++;
	c->bytes_in += len;
	r->metrics->msgs_in++;
	r->metrics->bytes_in += len;
	if (c->state != CONN_OPEN || r->plugin->ops.message == NULL)
		return;
	/* Text that ws_rx or the inflater checked: see conn_text_known_valid. */
	prev_text = cs->rx_text;
	prev_len = cs->rx_text_len;
	if (op == WS_OP_TEXT) {
		cs->rx_text = data;
		cs->rx_text_len = len;
	}
	c->in_cb++;
	t0 = metrics_cb_start();
	r->plugin->ops.message(r->state, (struct wsd_conn *)c, op,
	    len > 0 ? data : (const uint8_t *)"", len);
	metrics_cb_end(r->metrics, MCB_MESSAGE, t0);
	c->in_cb--;
	cs->rx_text = prev_text;
	cs->rx_text_len = prev_len;
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
		conn_set_close(c, (int)code, (const char *)p + 2, len - 2);
	} else {
		conn_set_close(c, WS_CLOSE_NO_STATUS, NULL, 0);
	}
	c->close_rcvd = true;
	if (!c->close_sent) {
		/* Echo the code, without the reason. */
		conn_send_close_frame(c, len >= 2 ? (int)code : 0, NULL);
	}
	conn_linger(c);
}

static uint64_t
mono_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
}

/*
 * A Pong: it answers the plugin's Ping if the payload is the same, or
 * wsd's own empty keep-alive Ping; either way the plugin hears of it,
 * with the round trip when there was a Ping to time it from.
 */
static void
handle_pong(struct conn *c, const uint8_t *p, size_t len)
{
	int64_t rtt = -1;
	uint64_t t0;

	struct conn_ping *up = c->cold != NULL ? c->cold->uping : NULL;

	if (up != NULL && up->outstanding && up->len == len && (len == 0 ||
	    memcmp(up->data, p, len) == 0)) {
		up->outstanding = false;
		rtt = (int64_t)(mono_us() - up->sent_us);
	} else if (c->ping_outstanding && len == 0) {
		rtt = (int64_t)(conn_now_ms(c->srv) - c->ping_sent_ms) * 1000;
	}
	c->ping_outstanding = false;
	if (c->state != CONN_OPEN || c->route->plugin->ops.pong == NULL)
		return;
	c->in_cb++;
	t0 = metrics_cb_start();
	c->route->plugin->ops.pong(c->route->state, (struct wsd_conn *)c,
	    len > 0 ? p : (const uint8_t *)"", len, rtt);
	metrics_cb_end(c->route->metrics, MCB_PONG, t0);
	c->in_cb--;
}

static void
handle_control(struct conn *c, uint8_t op, const uint8_t *p, size_t len)
{
	size_t queued;
	uint64_t t0;

	switch (op) {
	case WS_OP_PING:
		if (c->state != CONN_OPEN)
			break;
		/* A ping storm from a client that never reads its pongs. */
		queued = conn_out_len(c);
		if (queued > 0 && queued + len + 2 >
		    conn_limits(c)->max_send_buffer) {
			c->route->metrics->backpressure++;
			conn_fail(c, WS_CLOSE_POLICY, "send buffer full");
			break;
		}
		conn_send_frame(c, WS_OP_PONG, p, len);
		if (c->state == CONN_OPEN && c->route->plugin->ops.ping != NULL) {
			c->in_cb++;
			t0 = metrics_cb_start();
			c->route->plugin->ops.ping(c->route->state,
			    (struct wsd_conn *)c, len > 0 ? p : (const uint8_t *)"",
			    len);
			metrics_cb_end(c->route->metrics, MCB_PING, t0);
			c->in_cb--;
		}
		break;
	case WS_OP_PONG:
		handle_pong(c, p, len);
		break;
	case WS_OP_CLOSE:
		handle_close_frame(c, p, len);
		break;
	}
}

static int
rx_message(void *arg, uint8_t op, uint8_t *data, size_t len)
{
	struct conn *c = arg;

	deliver(c, op, data, len);
	return c->state == CONN_OPEN || c->state == CONN_CLOSING ? 0 : -1;
}

static int
rx_control(void *arg, uint8_t op, const uint8_t *data, size_t len)
{
	struct conn *c = arg;

	handle_control(c, op, data, len);
	return c->state == CONN_OPEN || c->state == CONN_CLOSING ? 0 : -1;
}

static void
rx_fail(void *arg, int code, const char *why)
{
	conn_fail(arg, code, why);
}

/* Close for a message that did not inflate. */
static void
inflate_failed(struct conn *c, enum pmd_result r)
{
	switch (r) {
	case PMD_OK:
		break;
	case PMD_TOO_BIG:
		conn_fail(c, WS_CLOSE_TOO_BIG, "message too big");
		break;
	case PMD_BAD_UTF8:
		conn_fail(c, WS_CLOSE_INVALID_DATA,
		    "text message is not UTF-8");
		break;
	case PMD_CORRUPT:
		conn_fail(c, WS_CLOSE_INVALID_DATA,
		    "compressed data does not inflate");
		break;
	default:
		conn_fail(c, WS_CLOSE_INTERNAL, "out of memory");
		break;
	}
}

/*
 * A compressed message: inflated into the worker's scratch buffer, in
 * bounded steps that stop at max_message_size (1009) or at the first
 * byte that is not UTF-8 in a text message (1007), then delivered.
 */
static int
rx_message_z(void *arg, uint8_t op, uint8_t *data, size_t len)
{
	struct conn *c = arg;
	struct pmd_worker *w = &c->srv->cs->pmd;
	enum pmd_result r;

	if (c->state != CONN_OPEN)
		return c->state == CONN_CLOSING ? 0 : -1;
	r = pmd_conn_inflate(w, c->pmd, data, len,
	    conn_limits(c)->max_message_size, op == WS_OP_TEXT);
	if (r == PMD_OK)
		deliver(c, op, w->in.p != NULL ? w->in.p : (uint8_t *)"",
		    w->in.len);
	else
		inflate_failed(c, r);
	pmd_worker_trim(w);
	return c->state == CONN_OPEN || c->state == CONN_CLOSING ? 0 : -1;
}

/*
 * A piece of a compressed message that comes in fragments: inflated
 * now, with the same limits, so that a bomb stops at max_message_size
 * and bad text at its first byte while the rest is still on its way.
 * The message's inflate state stays with the connection until its last
 * piece, and is let go then.
 */
static int
rx_part_z(void *arg, uint8_t op, uint8_t *data, size_t len, bool fin)
{
	struct conn *c = arg;
	struct pmd_worker *w = &c->srv->cs->pmd;
	enum pmd_result r;

	if (c->state != CONN_OPEN) {
		pmd_conn_rx_end(w, c->pmd);
		return c->state == CONN_CLOSING ? 0 : -1;
	}
	r = pmd_conn_inflate_part(w, c->pmd, data, len, fin,
	    conn_limits(c)->max_message_size, op == WS_OP_TEXT);
	if (r == PMD_OK && !fin)
		return 0;
	if (r == PMD_OK)
		deliver(c, op, c->pmd->rx->out.p != NULL ? c->pmd->rx->out.p :
		    (uint8_t *)"", c->pmd->rx->out.len);
	else
		inflate_failed(c, r);
	pmd_conn_rx_end(w, c->pmd);
	return c->state == CONN_OPEN || c->state == CONN_CLOSING ? 0 : -1;
}

static const struct ws_rx_ops rx_ops = {
	rx_message, rx_control, rx_fail, rx_message_z, rx_part_z
};

/* Run buf[0..len) through the receive engine; returns the bytes taken. */
static size_t
process_frames(struct conn *c, uint8_t *buf, size_t len)
{
	const struct wsd_limits *lim = conn_limits(c);
	struct ws_rx_limits rl;

	rl.max_message_size = lim->max_message_size;
	rl.max_fragments = lim->max_fragments;
	return ws_rx_feed(&c->rx, buf, len, &rl, &rx_ops, c);
}

/* Hand a read's bytes to the state machine.  Returns the bytes taken. */
static size_t
consume(struct conn *c, uint8_t *buf, size_t len)
{
	size_t used = 0;

	if (c->hs_pending)
		return 0;	/* kept until the plugin decides */
	if (c->state == CONN_HTTP) {
		used = conn_read_head(c, buf, len);
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
	cap = n + (c->rx.want > IBUF_MIN ? c->rx.want : IBUF_MIN);
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
		want = c->rx.want > IBUF_MIN ? c->rx.want : IBUF_MIN;
	if (c->icap - c->ilen >= want || c->icap - c->ilen >= IBUF_MIN)
		return 0;
	cap = c->ilen + want;
	if ((b = realloc(c->ibuf, cap)) == NULL)
		return -1;
	c->ibuf = b;
	c->icap = cap;
	return 0;
}

/*
 * The client has shut down its side.  What it is owed (a response, an
 * echo, our Close) still goes out, within the close timeout; then the
 * connection is done.  Returns -1 when c was freed at once (nothing was
 * owed).
 */
static int
conn_eof(struct conn *c)
{
	if (c->state == CONN_HTTP || conn_out_len(c) == 0 || c->wr_shut) {
		conn_io_error(c);
		return -1;
	}
	c->rd_eof = true;
	conn_read_unwatch(c);	/* EOF stays readable: no more reads */
	if ((c->state == CONN_OPEN || c->state == CONN_CLOSING) &&
	    !c->close_rcvd && !c->close_sent)
		conn_set_close(c, WS_CLOSE_ABNORMAL, NULL, 0);
	conn_linger(c);
	return 0;
}

/*
 * Readable while the plugin decides on the handshake: a client that
 * left ends it now; one that sends before its 101 is not read from
 * again until the decision (the handshake timeout still bounds it).
 */
static void
pending_readable(struct conn *c)
{
	uint8_t b;
	ssize_t n;

	n = recv(c->fd, &b, 1, MSG_PEEK | MSG_DONTWAIT);
	if (n > 0) {
		conn_read_unwatch(c);
		return;
	}
	if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK ||
	    errno == EINTR))
		return;
	log_info("conn %llu %s: left while its handshake waited for the "
	    "plugin", (unsigned long long)c->id, c->remote);
	c->hs_pending = false;
	conn_io_error(c);
}

static void
conn_readcb(evutil_socket_t fd, short what, void *arg)
{
	struct conn *c = arg;
	struct server *srv = c->srv;
	int round;

	(void)what;
	if (c->hs_pending) {
		pending_readable(c);
		return;
	}
	/* A PROXY protocol header comes first, before TLS and HTTP. */
	if (c->proxy_hdr && conn_proxy_read(c) <= 0)
		return;
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
		dst = tail ? c->ibuf + c->ilen : c->srv->cs->rbuf;
		room = tail ? c->icap - c->ilen : RBUF_SIZE;
		n = c->ssl != NULL ? conn_tls_recv(c, dst, room) :
		    recv(fd, dst, room, 0);
		if (n == 0) {
			if (conn_eof(c) == -1)
				return;		/* freed */
			break;
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
		dst = tail ? c->ibuf : c->srv->cs->rbuf;
		used = consume(c, dst, len);
		if (c->state == CONN_LINGER || c->state == CONN_DEAD)
			used = len;
		/* Most reads end on a frame's end, with no tail kept before. */
		if ((used < len || c->ibuf != NULL) &&
		    keep_tail(c, dst, used, len) == -1) {
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
	if (c->ssl != NULL)
		conn_tls_read_more(c);
	if (c->flush_now || c->flush_queued)
		conn_flush(c);
}

int
conn_read_watch(struct conn *c)
{
	struct epoll_event ev;

	if (c->rd_watched)
		return 0;
	memset(&ev, 0, sizeof(ev));
	ev.events = EPOLLIN;
	ev.data.ptr = c;
	if (epoll_ctl(c->srv->cs->epfd, EPOLL_CTL_ADD, c->fd, &ev) == -1)
		return -1;
	c->rd_watched = true;
	return 0;
}

void
conn_read_unwatch(struct conn *c)
{
	struct conn_shared *cs = c->srv->cs;
	int i;

	if (!c->rd_watched)
		return;
	epoll_ctl(cs->epfd, EPOLL_CTL_DEL, c->fd, NULL);
	c->rd_watched = false;
	/* Not read from later in the batch being run, as libevent does. */
	for (i = 0; i < cs->npoll; i++)
		if (cs->pollv[i].data.ptr == c)
			cs->pollv[i].data.ptr = NULL;
}

void
conn_read_activate(struct conn *c)
{
	struct conn_shared *cs = c->srv->cs;

	if (c->act_queued)
		return;
	c->act_queued = true;
	c->act_next = NULL;
	cs->nact++;
	if (cs->act_tail != NULL)
		cs->act_tail->act_next = c;
	else
		cs->act = c;
	cs->act_tail = c;
	event_active(cs->ev_act, EV_READ, 1);
}

/* c leaves cs->act (it is being freed). */
static void
act_remove(struct conn *c)
{
	struct conn_shared *cs = c->srv->cs;
	struct conn **pp, *prev = NULL;

	if (!c->act_queued)
		return;
	for (pp = &cs->act; *pp != NULL; prev = *pp, pp = &(*pp)->act_next) {
		if (*pp == c) {
			*pp = c->act_next;
			if (cs->act_tail == c)
				cs->act_tail = prev;
			cs->nact--;
			break;
		}
	}
	c->act_queued = false;
}

/* The sockets epoll says are readable (or have an error, or hung up). */
static void
conn_pollcb(evutil_socket_t fd, short what, void *arg)
{
	struct conn_shared *cs = arg;
	struct conn *c;
	int i, n;

	(void)fd;
	(void)what;
	n = epoll_wait(cs->epfd, cs->pollv, POLL_BATCH, 0);
	cs->npoll = n > 0 ? n : 0;
	for (i = 0; i < cs->npoll; i++) {
		if ((c = cs->pollv[i].data.ptr) == NULL)
			continue;	/* freed, or unwatched, by an earlier one */
		conn_readcb(c->fd, EV_READ, c);
	}
	cs->npoll = 0;
}

/*
 * The read callbacks asked for with conn_read_activate(): those queued
 * on entry (bounded by how many there were), so that one queued again
 * runs on the next turn of the loop, as with event_active().
 */
static void
conn_actcb(evutil_socket_t fd, short what, void *arg)
{
	struct conn_shared *cs = arg;
	size_t n = cs->nact;
	struct conn *c;

	(void)fd;
	(void)what;
	while (n-- > 0 && (c = cs->act) != NULL) {
		cs->act = c->act_next;
		if (cs->act == NULL)
			cs->act_tail = NULL;
		cs->nact--;
		c->act_queued = false;
		c->act_next = NULL;
		conn_readcb(c->fd, EV_READ, c);
	}
	if (cs->act != NULL)
		event_active(cs->ev_act, EV_READ, 1);
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
	if (c->ping_outstanding && lim->pong_timeout_ms > 0) {
		uint64_t since = conn_now_ms(c->srv) - c->ping_sent_ms;
		uint32_t left = since < lim->pong_timeout_ms ?
		    lim->pong_timeout_ms - (uint32_t)since : 0;

		if (left < next)
			next = left;
	}
	timer_in(c, next);
}

static void
keepalive(struct conn *c)
{
	const struct wsd_limits *lim = conn_limits(c);
	uint64_t now = conn_now_ms(c->srv);
	uint64_t idle = now - c->last_rx_ms;

	/* Anything that arrived after the Ping shows the peer is alive. */
	if (c->ping_outstanding && c->last_rx_ms >= c->ping_sent_ms)
		c->ping_outstanding = false;
	if (c->ping_outstanding && lim->pong_timeout_ms > 0 &&
	    now - c->ping_sent_ms >= lim->pong_timeout_ms) {
		log_info("conn %llu %s: no pong within %u ms, closing",
		    (unsigned long long)c->id, c->remote,
		    (unsigned)lim->pong_timeout_ms);
		start_close(c, WS_CLOSE_GOING_AWAY, "no pong");
		return;
	}
	if (lim->idle_timeout_ms > 0 && idle >= lim->idle_timeout_ms) {
		log_info("conn %llu %s: idle for %llu ms, closing",
		    (unsigned long long)c->id, c->remote,
		    (unsigned long long)idle);
		start_close(c, WS_CLOSE_GOING_AWAY, "idle timeout");
		return;
	}
	/* With a pong timeout, one Ping at a time; without, one a period. */
	if (lim->ping_interval_ms > 0 &&
	    (!c->ping_outstanding || lim->pong_timeout_ms == 0) &&
	    idle + 50 >= lim->ping_interval_ms) {
		conn_send_frame(c, WS_OP_PING, NULL, 0);
		c->ping_outstanding = true;
		c->ping_sent_ms = now;
	}
	arm_keepalive(c);
}

/* c's deadline has come (it is no longer in cs->timers). */
static void
conn_timercb(struct conn *c)
{
	switch (c->state) {
	case CONN_HTTP:
		if (c->proxy_hdr) {
			conn_proxy_timeout(c);
			conn_free(c);
			break;
		}
		if (c->hs_pending) {
			log_info("conn %llu %s: the plugin did not decide on the "
			    "handshake within the handshake timeout",
			    (unsigned long long)c->id, c->remote);
			conn_hs_finish(c, 503, true);
			break;
		}
		log_debug("conn %llu %s: no request head within the handshake "
		    "timeout", (unsigned long long)c->id, c->remote);
		metrics.refused[MREF_TIMEOUT]++;
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

/*
 * The server's timer: every connection whose deadline has come, from
 * the top of a callback like any libevent timer's.  Only those due on
 * entry (bounded by how many there were), so that a deadline set again
 * for now by one of them cannot keep the loop here.
 */
static void
conn_timerscb(evutil_socket_t fd, short what, void *arg)
{
	struct conn_shared *cs = arg;
	struct theap_node *t;
	uint64_t now = timer_now_us();
	uint32_t n = cs->timers.n;

	(void)fd;
	(void)what;
	cs->timer_at = 0;
	while (n-- > 0 && (t = theap_top(&cs->timers)) != NULL &&
	    t->when <= now) {
		theap_del(&cs->timers, t);
		conn_timercb((struct conn *)(void *)((char *)t -
		    offsetof(struct conn, timer)));
	}
	if (timers_arm(cs) == -1)
		log_warn("cannot arm the connections' timer");
}

static void
access_log_json(struct conn *c, uint64_t ms)
{
	struct access_rec r;
	struct timespec ts;
	struct route *rt = c->route;
	const char *route_path;
	char *line;
	size_t len;

	/* A refused request's route may be retired by now: not rq->route. */
	route_path = rt != NULL ? rt->path : c->rq != NULL ?
	    c->rq->route_path : NULL;
	clock_gettime(CLOCK_REALTIME, &ts);
	memset(&r, 0, sizeof(r));
	r.time_ms = (uint64_t)ts.tv_sec * 1000 +
	    (uint64_t)ts.tv_nsec / 1000000;
	r.id = c->id;
	r.remote = c->remote;
	r.peer = conn_peer(c);	/* NULL unless behind a proxy */
	r.request = c->req_line;
	r.status = c->status;
	r.route = route_path;
	r.subprotocol = conn_subprotocol(c);
	r.worker = worker_self.slot != NULL ? worker_self.number : -1;
	r.tls = c->ssl != NULL ? SSL_get_version(c->ssl) :
	    c->fwd_tls ? "proxy" : NULL;
	r.duration_ms = ms;
	r.msgs_in = c->msgs_in;
	r.bytes_in = c->bytes_in;
	r.msgs_out = c->msgs_out;
	r.bytes_out = c->bytes_out;
	r.close_code = c->close_code;
	r.close_reason = conn_close_reason(c);
	if ((line = access_json(&r, &len)) == NULL) {
		log_warn("out of memory writing an access line");
		return;
	}
	log_access(line, len);
	free(line);
}

static void
access_log(struct conn *c)
{
	uint64_t ms = conn_now_ms(c->srv) - c->start_ms;
	const char *peer = conn_peer(c);
	char who[2 * CONN_ADDR_MAX + 8];
	char line[512];
	int n;

	if (c->status == 0)
		return;		/* dropped before a request: nothing to say */
	if (log_access_json()) {
		access_log_json(c, ms);
		return;
	}
	/* Behind a proxy: "access CLIENT via PEER ..."; else as before. */
	if (peer != NULL)
		snprintf(who, sizeof(who), "%s via %s", c->remote, peer);
	else
		snprintf(who, sizeof(who), "%s", c->remote);
	if (c->status == 101)
		n = snprintf(line, sizeof(line), "access %s \"%s\" 101 "
		    "%llu.%03llus in=%llu/%lluB out=%llu/%lluB close=%d",
		    who, c->req_line ? c->req_line : "-",
		    (unsigned long long)(ms / 1000),
		    (unsigned long long)(ms % 1000),
		    (unsigned long long)c->msgs_in,
		    (unsigned long long)c->bytes_in,
		    (unsigned long long)c->msgs_out,
		    (unsigned long long)c->bytes_out, c->close_code);
	else
		n = snprintf(line, sizeof(line), "access %s \"%s\" %d "
		    "%llu.%03llus", who,
		    c->req_line ? c->req_line : "-", c->status,
		    (unsigned long long)(ms / 1000),
		    (unsigned long long)(ms % 1000));
	if (n < 0)
		return;
	log_access(line, (size_t)n < sizeof(line) ? (size_t)n :
	    sizeof(line) - 1);
}

static void
conn_free(struct conn *c)
{
	struct server *srv = c->srv;
	struct route *r = c->route;
	uint64_t t0;

	if (c->in_cb > 0) {
		c->free_pending = true;
		return;
	}
	if (c->state == CONN_DEAD)
		return;
	c->state = CONN_DEAD;
	conn_not_pending(c);
	/* Every handshake the plugin accepted ends in one close. */
	if ((c->open_called || c->hs_accepted) &&
	    r->plugin->ops.close != NULL) {
		if (c->close_code == 0)
			conn_set_close(c, WS_CLOSE_ABNORMAL, NULL, 0);
		c->in_cb++;
		t0 = metrics_cb_start();
		r->plugin->ops.close(r->state, (struct wsd_conn *)c,
		    c->close_code,
		    conn_close_reason(c) != NULL ? conn_close_reason(c) : "");
		metrics_cb_end(r->metrics, MCB_CLOSE, t0);
		c->in_cb--;
	}
	topic_conn_closed(c);
	access_log(c);
	if (c->status != 0 && c->status != 101)
		metrics_http(c->rq != NULL ? c->rq->route_metrics : NULL,
		    c->status);
	if (c->open_called) {
		TAILQ_REMOVE(&r->conns, c, route_link);
		r->nconns--;
		r->metrics->open--;
		metrics_closed(r->metrics, c->close_code != 0 ? c->close_code :
		    WS_CLOSE_ABNORMAL);
	}
	srv->nconns--;
	byid_remove(srv->cs, c);
	if (c->flush_queued)
		TAILQ_REMOVE(&c->srv->cs->flushq, c, flush_link);
	timer_stop(c);
	conn_read_unwatch(c);
	act_remove(c);
	if (c->cold != NULL && c->cold->wev != NULL)
		event_free(c->cold->wev);
	c->srv->cs->out_total -= c->out_acct;
	c->out_acct = 0;
	conn_outbuf_release(c);
	SSL_free(c->ssl);
	conn_proxy_free(c);
	evutil_closesocket(c->fd);
	free(c->ibuf);
	conn_free_request(c);
	ws_rx_free(&c->rx);
	if (c->pmd != NULL) {
		pmd_conn_rx_end(&c->srv->cs->pmd, c->pmd);
		pmd_conn_free(c->pmd);
		free(c->pmd);
	}
	conn_req_line_put(c->req_line);
	if (c->cold != NULL) {
		free(c->cold->client);
		free(c->cold->uping);
		free(c->cold->close_reason);
		free(c->cold->subprotocol);
		free(c->cold->peer_subject);
		free(c->cold->local);
		free(c->cold);
	}
	/* The last client of a route no longer current retires it here. */
	conn_set_route(c, NULL);
	generation_unref(c->gen);
	failalloc_gone(c);
	free(c);
	server_conn_gone(srv);
}

struct conn *
conn_first(struct server *srv)
{
	struct conn_shared *cs = srv->cs;
	size_t i;

	if (cs == NULL || cs->byid_n == 0)
		return NULL;
	for (i = 0; i <= cs->byid_mask; i++)
		if (cs->byid[i] != NULL)
			return cs->byid[i];
	return NULL;
}

void
conn_shutdown_all(struct server *srv)
{
	struct conn_shared *cs = srv->cs;
	struct conn *c, *next;
	size_t i;

	/* Freeing c takes it out of its chain; no conn is added meanwhile. */
	for (i = 0; i <= cs->byid_mask; i++) {
		for (c = cs->byid[i]; c != NULL; c = next) {
			next = c->id_next;
			switch (c->state) {
			case CONN_HTTP:
				conn_free(c);
				break;
			case CONN_OPEN:
				start_close(c, WS_CLOSE_GOING_AWAY,
				    "server shutting down");
				break;
			default:
				break;
			}
		}
	}
}

void
conn_abort_all(struct server *srv)
{
	struct conn_shared *cs = srv->cs;
	struct conn *c;
	size_t i;

	/* Bucket by bucket, not the first conn again each time: that
	 * scanned the emptied buckets over and over. */
	for (i = 0; cs != NULL && i <= cs->byid_mask; i++)
		while ((c = cs->byid[i]) != NULL) {
			c->in_cb = 0;
			conn_free(c);
		}
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


/*
 * The handshake succeeded and the 101 is queued: the connection now
 * belongs to the route, and the plugin hears `open`.
 */
void
conn_set_route(struct conn *c, struct route *r)
{
	struct route *old = c->route;

	if (r == old)
		return;
	if (r != NULL)
		generation_route_ref(r);
	c->route = r;
	generation_route_unref(old);
}

void
conn_opened(struct conn *c, struct route *r)
{
	conn_set_route(c, r);
	TAILQ_INSERT_TAIL(&r->conns, c, route_link);
	r->nconns++;
	conn_not_pending(c);
	c->state = CONN_OPEN;
	c->last_rx_ms = conn_now_ms(c->srv);
	timer_stop(c);
	arm_keepalive(c);

	c->open_called = true;
	r->metrics->opened++;
	r->metrics->open++;
	if (r->plugin->ops.open != NULL) {
		uint64_t t0;

		c->in_cb++;
		t0 = metrics_cb_start();
		r->plugin->ops.open(r->state, (struct wsd_conn *)c);
		metrics_cb_end(r->metrics, MCB_OPEN, t0);
		c->in_cb--;
	}
}

/*
 * The client has caught up with its output: tell the plugin.  Only from
 * the top of a callback: it may free c.
 */
void
conn_call_drain(struct conn *c)
{
	struct route *r = c->route;
	uint64_t t0;

	if (c->state != CONN_OPEN || r->plugin->ops.drain == NULL)
		return;
	c->in_cb++;
	t0 = metrics_cb_start();
	r->plugin->ops.drain(r->state, (struct wsd_conn *)c);
	metrics_cb_end(r->metrics, MCB_DRAIN, t0);
	c->in_cb--;
	if (c->free_pending)
		conn_free(c);
}

struct conn_cold *
conn_cold(struct conn *c)
{
	if (c->cold == NULL)
		c->cold = calloc(1, sizeof(*c->cold));
	return c->cold;
}

const char *
conn_peer(const struct conn *c)
{
	const char *tcp = (const char *)(c + 1);

	return c->remote != tcp ? tcp : NULL;
}

const char *
conn_remote(struct conn *c)
{
	return c->remote;
}

/* Over TLS to us, or to a proxy that says so (conn_proxy.c). */
bool
conn_tls(struct conn *c)
{
	return c->ssl != NULL || c->fwd_tls;
}

const char *
conn_peer_subject(struct conn *c)
{
	return c->cold != NULL ? c->cold->peer_subject : NULL;
}

uint64_t
conn_id(struct conn *c)
{
	return c->id;
}

void
conn_set_user(struct conn *c, void *p)
{
	c->user = p;
}

void *
conn_user(struct conn *c)
{
	return c->user;
}

struct route *
conn_route(struct conn *c)
{
	return c->route;
}

size_t
conn_route_clients(struct route *r)
{
	struct conn *c;
	size_t n = 0;

	/* The list also holds connections in their closing handshake. */
	TAILQ_FOREACH(c, &r->conns, route_link)
		if (c->state == CONN_OPEN)
			n++;
	return n;
}

size_t
conn_route_foreach(struct route *r, wsd_conn_fn fn, void *arg)
{
	struct conn *c, *next;
	size_t n = 0;

	/*
	 * fn may close the connection it is given; that only changes its
	 * state (it leaves the list later, from the loop), so the next
	 * pointer stays good.
	 */
	for (c = TAILQ_FIRST(&r->conns); c != NULL; c = next) {
		next = TAILQ_NEXT(c, route_link);
		if (c->state != CONN_OPEN)
			continue;
		fn((struct wsd_conn *)c, arg);
		n++;
	}
	return n;
}

/* ABI 1.4 (stubs until their parts land). */
const char *
conn_local(struct conn *c)
{
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	char buf[CONN_ADDR_MAX];

	if (c->cold != NULL && c->cold->local != NULL)
		return c->cold->local;
	if (conn_cold(c) == NULL)
		return NULL;
	memset(&ss, 0, sizeof(ss));
	if (getsockname(c->fd, (struct sockaddr *)&ss, &sl) == -1)
		return NULL;
	format_addr((struct sockaddr *)&ss, buf, sizeof(buf));
	c->cold->local = strdup(buf);
	return c->cold->local;
}

int
conn_ping(struct conn *c, const void *data, size_t len)
{
	struct conn_ping *up;

	if (c->state != CONN_OPEN || len > WS_CONTROL_MAX ||
	    (len > 0 && data == NULL))
		return -1;
	if (conn_cold(c) == NULL)
		return -1;
	if ((up = c->cold->uping) == NULL &&
	    (up = c->cold->uping = calloc(1, sizeof(*up))) == NULL)
		return -1;
	if (conn_send_frame(c, WS_OP_PING, data, len) == -1)
		return -1;
	up->outstanding = true;
	up->sent_us = mono_us();
	up->len = (uint8_t)len;
	if (len > 0)
		memcpy(up->data, data, len);
	return 0;
}

struct conn *
conn_find(struct route *r, uint64_t id)
{
	struct conn_shared *cs;
	struct conn *c;

	if (r == NULL || r->gens == NULL)
		return NULL;
	cs = ((struct server *)(void *)((char *)r->gens -
	    offsetof(struct server, gens)))->cs;
	for (c = cs->byid[byid_slot(cs, id)]; c != NULL; c = c->id_next) {
		if (c->id != id)
			continue;
		if (c->route != r || c->free_pending || c->state == CONN_DEAD)
			return NULL;
		if (c->hs_pending || (c->open_called &&
		    (c->state == CONN_OPEN || c->state == CONN_CLOSING)))
			return c;
		return NULL;
	}
	return NULL;
}

int
conn_handshake_resume(struct conn *c, int status)
{
	if (c == NULL || !c->hs_pending || c->in_handshake)
		return -1;
	if (status != 0 && (status < 400 || status > 599))
		status = 500;
	conn_hs_finish(c, status, false);
	if (c->free_pending && c->in_cb == 0)
		conn_free(c);
	return 0;
}

/* For conn_proxy.c. */
void
conn_format_addr(const struct sockaddr *sa, char *buf, size_t len)
{
	format_addr(sa, buf, len);
}

void
conn_pending_refused(struct conn_shared *cs, const struct sockaddr *sa)
{
	pending_refused(cs, sa);
}

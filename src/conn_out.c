/*
 * conn_out: a connection's output.  Frames are queued in an evbuffer
 * taken from a small pool when there is something to send, written once
 * per loop iteration (or at once, for the first broadcast of an
 * iteration to a client with nothing queued), and the buffer is given
 * back once empty, so an idle connection holds none.  Back-pressure:
 * past the route's high-water mark a send says so and the plugin hears
 * `drain` once the client has caught up; past max_send_buffer the
 * client is closed.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include <event2/buffer.h>
#include <event2/event.h>

#include "conn_priv.h"
#include "frame.h"
#include "log.h"
#include "route.h"
#include "server.h"
#include "utf8.h"

/*
 * Broadcast output is written at once, not at the end of the iteration,
 * when this much is queued: every queued broadcast costs a 1 KiB libevent
 * chain, and a burst of broadcasts to many clients would pile them up.
 */
#define FLUSH_EARLY	(16 * 1024)
/* Frames up to this payload size are put together on the stack. */
#define SMALL_FRAME	1024
/*
 * A frame at least this large, to a client with nothing queued, is handed
 * to the kernel at once with its header in one sendmsg(): its payload is
 * not copied (only what the kernel does not take is queued).  Smaller
 * ones are queued, so that several in one loop iteration share a write.
 */
#define DIRECT_MIN	(8 * 1024)
/* A frame's first byte: the last frame of its message. */
#define WS_FIN_BIT	0x80

static void	conn_writecb(evutil_socket_t, short, void *);

/*
 * The output buffer, taken when there is something to queue and given
 * back when it has all been written, so that an idle connection holds
 * none.  Empty buffers wait in a small pool: making and freeing one per
 * write would cost more than the write's own bookkeeping.  NULL when
 * out of memory.
 */
struct evbuffer *
conn_outbuf(struct conn *c)
{
	struct conn_shared *cs = c->srv->cs;

	if (c->out == NULL)
		c->out = cs->noutpool > 0 ? cs->outpool[--cs->noutpool] :
		    evbuffer_new();
	/* Frames gathered for c go out before anything queued after them. */
	if (c->out != NULL && cs->gconn == c) {
		if (evbuffer_add(c->out, cs->gbuf, cs->glen) == -1)
			return NULL;
		cs->gconn = NULL;
		cs->glen = 0;
	}
	return c->out;
}

void
conn_outbuf_release(struct conn *c)
{
	struct conn_shared *cs = c->srv->cs;
	size_t max = sizeof(cs->outpool) / sizeof(cs->outpool[0]);

	if (cs->gconn == c) {
		cs->gconn = NULL;
		cs->glen = 0;
	}
	if (c->out == NULL)
		return;
	if (evbuffer_get_length(c->out) == 0 && cs->noutpool < max)
		cs->outpool[cs->noutpool++] = c->out;
	else
		evbuffer_free(c->out);
	c->out = NULL;
}

/* Forget everything c has queued, gathered or in c->out. */
void
conn_out_discard(struct conn *c)
{
	struct conn_shared *cs = c->srv->cs;

	if (cs->gconn == c) {
		cs->gconn = NULL;
		cs->glen = 0;
	}
	if (c->out != NULL)
		evbuffer_drain(c->out, evbuffer_get_length(c->out));
}

/*
 * A small frame for the connection being read, when nothing else is
 * queued for it: put together in cs->gbuf, to be written with one send()
 * as conn_readcb ends (conn_flush), without an evbuffer.  Frames that
 * one read brings still go out in one write.  false: not taken here
 * (another connection's, TLS, queued output, no room), queue it.
 */
static bool
gather_frame(struct conn *c, uint8_t opcode, uint8_t rsv, const void *data,
    size_t len)
{
	struct conn_shared *cs = c->srv->cs;
	uint8_t *g;
	size_t hl;

	if (!c->in_read || c->out != NULL || c->ssl != NULL || c->wr_shut ||
	    (cs->gconn != c && cs->gconn != NULL) ||
	    GATHER_MAX - cs->glen < WS_FRAME_MAX_HEADER + len)
		return false;
	g = cs->gbuf + cs->glen;
	if (len < 126) {
		g[0] = WS_FIN_BIT | rsv | opcode;
		g[1] = (uint8_t)len;
		hl = 2;
	} else {
		hl = ws_frame_encode_header(g, true, opcode, len, NULL);
		g[0] |= rsv;
	}
	if (len > 0)
		memcpy(g + hl, data, len);
	cs->glen += hl + len;
	cs->gconn = c;
	conn_want_flush(c);
	return true;
}

/*
 * Send what was gathered for c (cs->gconn); what the socket does not
 * take is queued in c->out.  Returns 0, or -1 on a write error.
 */
static int
gather_out(struct conn *c)
{
	struct conn_shared *cs = c->srv->cs;
	struct evbuffer *out;
	size_t n = cs->glen;
	ssize_t w;

	cs->gconn = NULL;
	cs->glen = 0;
	w = send(c->fd, cs->gbuf, n, MSG_NOSIGNAL | MSG_DONTWAIT);
	if (w < 0) {
		if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
			return -1;
		w = 0;
	}
	if (w > 0 && c->state != CONN_OPEN)
		conn_out_progress(c);
	if ((size_t)w == n)
		return 0;
	if ((out = conn_outbuf(c)) != NULL &&
	    evbuffer_add(out, cs->gbuf + w, n - (size_t)w) == 0)
		return 0;
	/* The frames are lost: nothing may follow half of one. */
	if (w > 0)
		conn_broken(c, "out of memory in the middle of a frame");
	else
		conn_fail(c, WS_CLOSE_INTERNAL, "out of memory");
	return 0;
}

/* Write c's output at the end of this loop iteration. */
void
conn_want_flush(struct conn *c)
{
	struct conn_shared *cs = c->srv->cs;

	/* What is left after the write is accounted in conn_flush. */
	if (c->flush_queued || c->state == CONN_DEAD)
		return;
	/* conn_readcb writes on its way out: no need for the flush event. */
	if (c->in_read) {
		c->flush_now = true;
		return;
	}
	if (TAILQ_EMPTY(&cs->flushq))
		event_active(cs->ev_flush, EV_TIMEOUT, 1);
	TAILQ_INSERT_TAIL(&cs->flushq, c, flush_link);
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
	if (conn_out_len(c) >= FLUSH_EARLY && !c->wev_added &&
	    !c->wr_shut)
		(void)conn_write_out(c);
	conn_want_flush(c);
}

/*
 * A large frame (header hdr[0..hl), payload data[0..len)) to a plain
 * client with nothing queued: written now, from where it lies, and only
 * the rest, if the kernel took part of it, is queued (a copy of that
 * part).  Returns 1 when the frame is sent or its rest queued, 0 when it
 * was not tried or nothing went out (queue it as usual: a write error
 * shows in conn_flush), -1 when its rest could not be queued (c is
 * broken: half a frame is on the wire).
 */
static int
send_direct(struct conn *c, const uint8_t *hdr, size_t hl, const void *data,
    size_t len)
{
	struct iovec iov[2];
	struct msghdr mh;
	struct evbuffer *out;
	ssize_t w;
	size_t done;

	if (c->ssl != NULL || conn_out_len(c) > 0 || c->wev_added ||
	    c->wr_shut || c->state == CONN_DEAD)
		return 0;
	iov[0].iov_base = (void *)hdr;
	iov[0].iov_len = hl;
	iov[1].iov_base = (void *)data;
	iov[1].iov_len = len;
	memset(&mh, 0, sizeof(mh));
	mh.msg_iov = iov;
	mh.msg_iovlen = 2;
	w = sendmsg(c->fd, &mh, MSG_NOSIGNAL | MSG_DONTWAIT);
	if (w <= 0)
		return 0;
	done = (size_t)w;
	if (done == hl + len)
		return 1;
	if ((out = conn_outbuf(c)) == NULL ||
	    (done < hl && evbuffer_add(out, hdr + done, hl - done) == -1) ||
	    evbuffer_add(out, (const uint8_t *)data + (done > hl ? done - hl :
	    0), len - (done > hl ? done - hl : 0)) == -1) {
		conn_broken(c, "out of memory in the middle of a frame");
		return -1;
	}
	conn_want_flush(c);
	return 1;
}

/*
 * No memory to queue a Close frame: with nothing queued before it, it
 * goes to the socket (or into one TLS record) from the stack, so that the
 * closing handshake still happens.  -1: it could not.
 */
static int
send_close_direct(struct conn *c, const uint8_t *frame, size_t n)
{
	ssize_t w;

	if (c->wr_shut || conn_out_len(c) != 0)
		return -1;
	if (c->ssl != NULL)
		return conn_tls_write_now(c, frame, n);
	w = send(c->fd, frame, n, MSG_DONTWAIT | MSG_NOSIGNAL);
	return w == (ssize_t)n ? 0 : -1;
}

/*
 * Queue one frame; rsv is ORed into its first byte (WS_RSV1_BIT for a
 * compressed message).  Returns 0, or -1 when it could not be queued;
 * the connection is then failed (1011), or dropped when even a Close
 * cannot be queued or a header went in without its payload.
 */
static int
send_frame(struct conn *c, uint8_t opcode, uint8_t rsv, const void *data,
    size_t len)
{
	uint8_t buf[WS_FRAME_MAX_HEADER + SMALL_FRAME];
	struct evbuffer *out;
	size_t hl;

	if (c->broken)
		return -1;
	if (len <= SMALL_FRAME && gather_frame(c, opcode, rsv, data, len))
		return 0;
	hl = ws_frame_encode_header(buf, true, opcode, len, NULL);
	buf[0] |= rsv;
	if (len >= DIRECT_MIN)
		switch (send_direct(c, buf, hl, data, len)) {
		case 1:
			return 0;
		case -1:
			return -1;
		}
	if ((out = conn_outbuf(c)) == NULL ||
	    (len > SMALL_FRAME && evbuffer_expand(out, hl + len) == -1))
		goto nomem;
	if (len <= SMALL_FRAME) {
		/* One call, one copy into the output's last chain. */
		if (len > 0)
			memcpy(buf + hl, data, len);
		if (evbuffer_add(out, buf, hl + len) == -1)
			goto nomem;
	} else {
		/* The room is there: only a broken libevent fails now. */
		if (evbuffer_add(out, buf, hl) == -1)
			goto nomem;
		if (evbuffer_add(out, data, len) == -1) {
			conn_broken(c, "a frame's payload could not be queued");
			return -1;
		}
	}
	conn_want_flush(c);
	return 0;
nomem:
	/* Nothing of this frame is queued: the stream is intact. */
	if (opcode == WS_OP_CLOSE) {
		if (len > 0)
			memcpy(buf + hl, data, len);	/* at most 125 */
		if (send_close_direct(c, buf, hl + len) == 0)
			return 0;
		conn_broken(c, "out of memory for the Close frame");
	} else
		conn_fail(c, WS_CLOSE_INTERNAL, "out of memory");
	return -1;
}

int
conn_send_frame(struct conn *c, uint8_t opcode, const void *data, size_t len)
{
	return send_frame(c, opcode, 0, data, len);
}

/*
 * A message to c, compressed if c negotiated permessage-deflate and it
 * is at least min_size long.  Without context takeover a message that
 * does not shrink goes plain; with it, the client's window must see
 * every byte ours did, so it goes compressed whatever the size.
 */
static int
send_message(struct conn *c, uint8_t opcode, const void *data, size_t len)
{
	struct pmd_worker *w = &c->srv->cs->pmd;
	const struct pmd_conf *pc;
	int r;

	if (c->pmd == NULL || len < (pc = conn_pmd_conf(c))->min_size)
		return send_frame(c, opcode, 0, data, len);
	if (pmd_conn_deflate(w, c->pmd, pc, data, len) != PMD_OK) {
		conn_fail(c, WS_CLOSE_INTERNAL, "cannot compress");
		return -1;
	}
	if (c->pmd->p.server_nct && w->out.len >= len)
		r = send_frame(c, opcode, 0, data, len);
	else
		r = send_frame(c, opcode, WS_RSV1_BIT, w->out.p, w->out.len);
	pmd_worker_trim_out(w);
	return r;
}

void
conn_send_close_frame(struct conn *c, int code, const char *reason)
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
	conn_send_frame(c, WS_OP_CLOSE, buf, len);
	c->close_sent = true;
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

/*
 * Write what is queued, as far as the socket takes it, and wait for
 * writability if it did not take it all.  Only from the top of a
 * callback: it may free c.
 */
void
conn_flush(struct conn *c)
{
	size_t queued;

	if (c->flush_queued) {
		TAILQ_REMOVE(&c->srv->cs->flushq, c, flush_link);
		c->flush_queued = false;
	}
	c->flush_now = false;
	if (c->state == CONN_DEAD)
		return;
	if (c->srv->cs->gconn == c) {
		if (gather_out(c) == -1) {
			log_debug("conn %llu %s: write: %s",
			    (unsigned long long)c->id, c->remote,
			    strerror(errno));
			conn_io_error(c);
			return;
		}
		/* All of it went and nothing else waits: the echo's case. */
		if (c->out == NULL && c->state == CONN_OPEN && !c->broken &&
		    !c->wev_added && !c->over_hwm)
			return;
	}
	if (c->broken) {
		conn_io_error(c);
		return;
	}
	queued = conn_out_len(c);
	if (queued > 0 && !c->wr_shut) {
		size_t before = queued;

		if (conn_write_out(c) == -1 &&
		    errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
			log_debug("conn %llu %s: write: %s",
			    (unsigned long long)c->id, c->remote,
			    strerror(errno));
			conn_io_error(c);
			return;
		}
		queued = conn_out_len(c);
		if (queued < before && c->state != CONN_OPEN)
			conn_out_progress(c);
		/* The echo path leaves nothing queued: skip the call. */
		if (queued != c->out_acct || c->shared_q > 0)
			conn_out_account(c);
	}
	if (queued == 0)
		conn_outbuf_release(c);
	if (queued > 0 && !c->wev_added) {
		if (conn_wait_writable(c) == -1) {
			log_err("conn %llu %s: cannot wait for writability",
			    (unsigned long long)c->id, c->remote);
			conn_io_error(c);
			return;
		}
	} else if (queued == 0 && c->wev_added && !c->tls_read_wants_write) {
		event_del(c->cold->wev);
		c->wev_added = false;
	}

	if (c->state == CONN_LINGER) {
		/* Everything is out: half-close, and wait for the client's. */
		if (queued == 0 && !c->wr_shut) {
			if (c->ssl != NULL && conn_tls_shutdown(c) == -1) {
				if (conn_wait_writable(c) == -1)
					conn_io_error(c);
				return;
			}
			shutdown(c->fd, SHUT_WR);
			c->wr_shut = true;
		}
		if (queued == 0 && c->rd_eof)
			conn_done(c);
		return;
	}
	if (!c->over_hwm || queued > conn_hwm(c) / 2)
		return;
	c->over_hwm = false;
	conn_call_drain(c);
}

static void
conn_writecb(evutil_socket_t fd, short what, void *arg)
{
	struct conn *c = arg;

	(void)fd;
	(void)what;
	/* A TLS read that had to write first can go on now. */
	if (c->tls_read_wants_write) {
		c->tls_read_wants_write = false;
		if (!c->rd_eof && conn_read_watch(c) == -1)
			conn_broken(c, "cannot watch for reads");
		conn_read_activate(c);
	}
	conn_flush(c);
}

/* Write what c has queued, as far as the socket takes it. */
int
conn_write_out(struct conn *c)
{
	if (c->ssl != NULL)
		return conn_tls_write(c);
	return evbuffer_write(c->out, c->fd);
}

/* Have conn_writecb run once c's socket is writable.  0 or -1. */
int
conn_wait_writable(struct conn *c)
{
	if (c->wev_added)
		return 0;
	if (conn_cold(c) == NULL)
		return -1;
	if (c->cold->wev == NULL && (c->cold->wev = event_new(
	    c->srv->cs->base, c->fd, EV_WRITE | EV_PERSIST, conn_writecb,
	    c)) == NULL)
		return -1;
	if (event_add(c->cold->wev, NULL) == -1)
		return -1;
	c->wev_added = true;
	return 0;
}

/*
 * Count what c has queued now in the daemon-wide total, and if that
 * passes max_output_total, have conn_budgetcb() act from the top of the
 * loop.  Called after each write (every queued byte meets one before
 * the loop waits again), so the total is what waits for the kernel.  Only WebSocket clients count: a static file's queued bytes are
 * a file segment sent with sendfile, not memory.  out_acct is the
 * client's own part, which is what dropping it would free.
 */
void
conn_out_account(struct conn *c)
{
	struct conn_shared *cs = c->srv->cs;
	size_t now = c->open_called ? conn_out_len(c) : 0;
	uint64_t budget;

	/*
	 * Bytes of shared broadcast frames are counted once, with the
	 * frame: only the rest is this client's own.  Which bytes a write
	 * took is not known, so shared_q is only cut to what is queued;
	 * it errs towards counting own bytes as shared until the queue
	 * empties, which it does often.
	 */
	if (c->shared_q > now)
		c->shared_q = now;
	now -= c->shared_q;
	if (now == c->out_acct)
		return;
	cs->out_total = cs->out_total - c->out_acct + now;
	c->out_acct = now;
	budget = cs->srv->gen->cfg->limits.max_output_total;
	if (budget == 0)
		return;
	if (cs->out_total > budget && !cs->budget_pending) {
		cs->budget_pending = true;
		event_active(cs->ev_budget, EV_TIMEOUT, 1);
	}
}

static int
most_queued_first(const void *a, const void *b)
{
	const struct conn *ca = *(struct conn *const *)a;
	const struct conn *cb = *(struct conn *const *)b;

	return (ca->out_acct < cb->out_acct) - (ca->out_acct > cb->out_acct);
}

/*
 * Over max_output_total: drop the clients with the most queued output
 * (what they have queued is freed at once; the plugin hears 1008) until
 * the total is within the budget again.
 */
void
conn_budgetcb(evutil_socket_t fd, short what, void *arg)
{
	struct conn_shared *cs = arg;
	uint64_t budget = cs->srv->gen->cfg->limits.max_output_total;
	struct conn **v, *c;
	uint64_t peak;
	size_t n = 0, i;

	(void)fd;
	(void)what;
	cs->budget_pending = false;
	if (budget == 0 || cs->out_total <= budget)
		return;
	if ((v = calloc(cs->srv->nconns, sizeof(*v))) == NULL)
		return;
	for (i = 0; i <= cs->byid_mask; i++)
		for (c = cs->byid[i]; c != NULL; c = c->id_next)
			if (c->out_acct > 0 && n < cs->srv->nconns)
				v[n++] = c;
	qsort(v, n, sizeof(*v), most_queued_first);
	peak = cs->out_total;
	for (i = 0; i < n && cs->out_total > budget; i++) {
		c = v[i];
		log_info("conn %llu %s: %zu bytes queued; output budget "
		    "passed, closing", (unsigned long long)c->id, c->remote,
		    c->out_acct);
		/*
		 * Its queue usually begins inside a frame the kernel took
		 * part of, so no Close can follow: the connection is dropped
		 * (the plugin hears 1008) and its memory is freed now.
		 */
		if (c->route != NULL && !c->broken)
			c->route->metrics->backpressure++;
		conn_drop(c, WS_CLOSE_POLICY, "output budget");
		conn_out_account(c);
	}
	free(v);
	/* One line for the episode: a pass brings the total back under. */
	log_warn("output budget: the output queued for all clients reached "
	    "%llu bytes, over max_output_total (%llu): closed %zu client(s) "
	    "with the most queued (1008)", (unsigned long long)peak,
	    (unsigned long long)budget, i);
}

/* The end of a loop iteration: write for everyone who queued output. */
void
conn_flushcb(evutil_socket_t fd, short what, void *arg)
{
	struct conn_shared *cs = arg;
	struct conn *c;

	(void)fd;
	(void)what;
	cs->flush_gen++;
	while ((c = TAILQ_FIRST(&cs->flushq)) != NULL)
		conn_flush(c);
	/* Writes to many clients take a while: see timer_cb in server.c. */
	event_base_update_cache_time(cs->base);
}

static int
send_one(struct conn *c, int opcode, const void *data, size_t len)
{
	const struct wsd_limits *lim;
	size_t queued;

	if (c->state != CONN_OPEN)
		return WSD_SEND_DROPPED;
	if (opcode != WSD_TEXT && opcode != WSD_BINARY)
		return WSD_SEND_DROPPED;
	if (len > 0 && data == NULL)
		return WSD_SEND_DROPPED;
	if (opcode == WSD_TEXT && !conn_text_known_valid(c->srv->cs, data,
	    len) && !utf8_valid(data, len))
		return WSD_SEND_DROPPED;
	lim = conn_limits(c);
	queued = conn_out_len(c);
	/* One message alone may be larger than the limit; a backlog not. */
	if (queued > 0 && queued + len + WS_FRAME_MAX_HEADER >
	    lim->max_send_buffer) {
		log_notice("conn %llu %s: send buffer limit (%llu bytes) "
		    "passed, closing", (unsigned long long)c->id, c->remote,
		    (unsigned long long)lim->max_send_buffer);
		c->route->metrics->backpressure++;
		conn_fail(c, WS_CLOSE_POLICY, "send buffer full");
		return WSD_SEND_DROPPED;
	}
	if (send_message(c, (uint8_t)opcode, data, len) == -1)
		return WSD_SEND_DROPPED;
	conn_count_out(c, len);
	return check_hwm(c, queued + len);
}

int
conn_send(struct conn *c, int opcode, const void *data, size_t len)
{
	int r = send_one(c, opcode, data, len);

	if (r == WSD_SEND_DROPPED && c->route != NULL)
		c->route->metrics->dropped++;
	return r;
}

/*
 * Below this size a broadcast frame is copied into each client's buffer
 * rather than referenced: libevent 2.1 allocates a chain of at least
 * 1 KiB for every reference, so a reference to a short frame (a clock
 * tick is ~30 bytes) costs 30 times more than the copy.  The frame is
 * still encoded once.
 */
#define SHARE_MIN	1024

/*
 * One encoded frame shared by every recipient of a broadcast or a topic
 * message.  The caller holds one reference until shared_frame_done();
 * every queue that references the frame holds another.
 */
struct shared_frame {
	size_t			 refs;
	size_t			 len;		/* of data: header and payload */
	size_t			 plen;		/* of the plain payload */
	struct conn_shared	*cs;		/* set: counted in out_total */
	struct conn_shared	*flush_cs;	/* set: a direct send was made */
	/*
	 * permessage-deflate: the compressed versions of a plain frame,
	 * one per set of server parameters, each made for the first
	 * recipient that wants it and shared by the others.  One whose
	 * compression did not pay (plain) says "send the plain frame".
	 */
	struct shared_frame	*z, *znext;
	uint8_t			 opcode;
	uint8_t			 zlevel, zwbits, zmem;
	bool			 plain;
	uint8_t			 data[];
};

static void
shared_frame_unref(const void *data, size_t len, void *arg)
{
	struct shared_frame *f = arg;

	(void)data;
	(void)len;
	if (--f->refs > 0)
		return;
	if (f->cs != NULL)
		f->cs->out_total -= f->len;
	free(f);
}

/* Encode one frame for many; opcode and text are checked already. */
struct shared_frame *
shared_frame_new(int opcode, const void *data, size_t len)
{
	struct shared_frame *f;
	size_t hl;

	if (len > SIZE_MAX - sizeof(*f) - WS_FRAME_MAX_HEADER ||
	    (f = malloc(sizeof(*f) + WS_FRAME_MAX_HEADER + len)) == NULL)
		return NULL;
	hl = ws_frame_encode_header(f->data, true, (uint8_t)opcode, len, NULL);
	if (len > 0)
		memcpy(f->data + hl, data, len);
	f->len = hl + len;
	f->plen = len;
	f->refs = 1;
	f->cs = NULL;
	f->flush_cs = NULL;
	f->z = f->znext = NULL;
	f->opcode = (uint8_t)opcode;
	f->plain = false;
	return f;
}

/*
 * The compressed version of f for c, made now if c is its first
 * recipient; NULL when c gets the plain frame (compression not
 * negotiated, context takeover on our side, below min_size, did not
 * pay, or out of memory).
 */
static struct shared_frame *
shared_frame_z(struct conn *c, struct shared_frame *f)
{
	struct pmd_worker *w = &c->srv->cs->pmd;
	const struct pmd_conf *pc;
	struct shared_frame *z;
	uint8_t wbits;
	size_t hl, n;
	bool pays;

	if (c->pmd == NULL || !c->pmd->p.server_nct ||
	    f->plen < (pc = conn_pmd_conf(c))->min_size)
		return NULL;
	wbits = c->pmd->p.server_wbits;
	for (z = f->z; z != NULL; z = z->znext)
		if (z->zlevel == pc->level && z->zwbits == wbits &&
		    z->zmem == pc->mem_level)
			return z->plain ? NULL : z;
	pays = pmd_shared_deflate(w, pc->level, wbits, pc->mem_level,
	    f->data + (f->len - f->plen), f->plen) == PMD_OK &&
	    w->out.len < f->plen;
	n = pays ? w->out.len : 0;
	if ((z = malloc(sizeof(*z) + WS_FRAME_MAX_HEADER + n)) == NULL) {
		pmd_worker_trim_out(w);
		return NULL;
	}
	hl = ws_frame_encode_header(z->data, true, f->opcode, n, NULL);
	z->data[0] |= WS_RSV1_BIT;
	if (n > 0)
		memcpy(z->data + hl, w->out.p, n);
	pmd_worker_trim_out(w);
	z->len = hl + n;
	z->plen = f->plen;		/* bytes_out counts plain bytes */
	z->refs = 1;			/* f's, dropped in shared_frame_done */
	z->cs = NULL;
	z->flush_cs = NULL;
	z->z = NULL;
	z->opcode = f->opcode;
	z->zlevel = pc->level;
	z->zwbits = wbits;
	z->zmem = pc->mem_level;
	z->plain = !pays;
	z->znext = f->z;
	f->z = z;
	return pays ? z : NULL;
}

/*
 * The caller is done handing f out: drop its reference, and if a direct
 * send was made, end the loop iteration for direct sends (the next
 * broadcast of the same iteration is queued).
 */
void
shared_frame_done(struct shared_frame *f)
{
	struct shared_frame *z, *next;

	for (z = f->z; z != NULL; z = next) {
		next = z->znext;
		shared_frame_done(z);
	}
	f->z = NULL;
	if (f->flush_cs != NULL)
		event_active(f->flush_cs->ev_flush, EV_TIMEOUT, 1);
	shared_frame_unref(NULL, 0, f);
}

/*
 * Give c the shared frame f: sent at once, queued by copy or by
 * reference.  Returns true if c got it.  A client over max_send_buffer
 * is failed with 1008; this never frees c (conn_fail and conn_broken
 * only mark it and queue it for the flush, and no plugin callback runs
 * from here), so a caller may go on walking a list of connections.
 */
bool
conn_send_shared(struct conn *c, struct shared_frame *f)
{
	struct conn_shared *cs = c->srv->cs;
	struct shared_frame *z;
	struct evbuffer *out;
	size_t queued, off = 0;
	ssize_t w;

	if (c->state != CONN_OPEN || c->broken)
		return false;
	if ((z = shared_frame_z(c, f)) != NULL)
		f = z;
	queued = conn_out_len(c);
	/*
	 * Nothing queued: hand the frame to the kernel now, once per loop
	 * iteration; a clock tick to 10,000 clients then costs one send
	 * each and no buffer.  A second broadcast in the same iteration is
	 * queued, so that a burst goes out in few writes.
	 */
	if (queued == 0 && !c->wev_added && !c->wr_shut && c->ssl == NULL &&
	    c->bcast_gen != cs->flush_gen) {
		c->bcast_gen = cs->flush_gen;
		f->flush_cs = cs;
		w = send(c->fd, f->data, f->len, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (w == (ssize_t)f->len) {
			conn_count_out(c, f->plen);
			return true;
		}
		/* The rest is queued; an error shows in conn_flush. */
		if (w > 0)
			off = (size_t)w;
	}
	if (queued > 0 && queued + f->len > conn_limits(c)->max_send_buffer) {
		log_notice("conn %llu %s: send buffer limit passed, closing",
		    (unsigned long long)c->id, c->remote);
		c->route->metrics->backpressure++;
		c->route->metrics->dropped++;
		conn_fail(c, WS_CLOSE_POLICY, "send buffer full");
		return false;
	}
	if ((out = conn_outbuf(c)) == NULL)
		goto nomem;
	if (f->len - off < SHARE_MIN) {
		if (evbuffer_add(out, f->data + off, f->len - off) == -1)
			goto nomem;
	} else {
		f->refs++;
		if (evbuffer_add_reference(out, f->data + off, f->len - off,
		    shared_frame_unref, f) == -1) {
			f->refs--;
			goto nomem;
		}
		/* Its memory counts once, not once per client. */
		if (f->cs == NULL) {
			f->cs = cs;
			cs->out_total += f->len;
		}
		c->shared_q += f->len - off;
	}
	conn_count_out(c, f->plen);
	check_hwm(c, queued + f->len - off);
	broadcast_added(c);
	return true;
nomem:
	/* Half a frame on the wire cannot be followed by anything. */
	if (off > 0)
		conn_broken(c, "out of memory in the middle of a frame");
	else
		conn_fail(c, WS_CLOSE_INTERNAL, "out of memory");
	return false;
}

size_t
conn_broadcast(struct route *r, int opcode, const void *data, size_t len)
{
	return conn_broadcast_except(r, NULL, opcode, data, len);
}

size_t
conn_broadcast_except(struct route *r, struct conn *except, int opcode,
    const void *data, size_t len)
{
	struct shared_frame *f;
	struct conn *c;
	size_t n = 0;

	if ((opcode != WSD_TEXT && opcode != WSD_BINARY) ||
	    (len > 0 && data == NULL) || r->nconns == 0 ||
	    (r->nconns == 1 && except != NULL && except->route == r &&
	    except->open_called))
		return 0;
	/* r has a connection: its worker's shared state says what is known. */
	if (opcode == WSD_TEXT && !conn_text_known_valid(
	    TAILQ_FIRST(&r->conns)->srv->cs, data, len) &&
	    !utf8_valid(data, len))
		return 0;
	if ((f = shared_frame_new(opcode, data, len)) == NULL)
		return 0;
	/* conn_send_shared() never frees: the walk stays on live links. */
	TAILQ_FOREACH(c, &r->conns, route_link)
		if (c != except && conn_send_shared(c, f))
			n++;
	shared_frame_done(f);
	return n;
}

size_t
conn_buffered(struct conn *c)
{
	if (c->state == CONN_DEAD)
		return 0;
	return conn_out_len(c);
}

/*
 * peers: topic messages between the workers of one node; see peers.h.
 *
 * Every worker listens on the abstract Unix stream socket named by
 * workers_peer_name(master pid, its serial) and accepts only processes
 * of its own user (SO_PEERCRED).  To hand a message to the others, a
 * worker walks the slot table of the shared region: for every other
 * slot that is READY or RETIRING it keeps an outgoing stream, connected
 * when first needed and again when the slot's serial changed (a new
 * worker in the slot); a stream that fails or ends is dropped and made
 * again by the next publish, at most every PEER_RETRY_MS.  A stream
 * carries one direction only, from its connecting worker, so the
 * messages of one publisher reach each worker in publish order.
 *
 * A stream is a sequence of records:
 *
 *	u32	length of what follows (big endian): 2 + n + payload
 *	u8	opcode: 1 text, 2 binary
 *	u8	n, the topic name's length: 1 to WSD_TOPIC_MAX
 *	n	the topic name (0x21..0x7e)
 *	...	the payload
 *
 * The publisher checked the message (UTF-8 text, the size limit of its
 * route); the receiver checks the record's shape, and holds the payload
 * to the largest max_message_size of its live configurations.  A record
 * that breaks a rule ends that stream, with a log line.
 *
 * Bounds: what waits for one peer is held to PEER_QUEUE_MAX bytes (one
 * record always fits into an empty queue).  Past it a message is dropped
 * for that peer and counted; the first drop of an episode is logged, and
 * the count once the peer takes messages again.  The loop never waits
 * for a peer.
 */
#include <errno.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/listener.h>

#include <wsd/plugin.h>

#include "config.h"
#include "generation.h"
#include "log.h"
#include "metrics.h"
#include "peers.h"
#include "route.h"
#include "server.h"
#include "topic.h"
#include "workers.h"

/* What may wait for one peer worker (64 MiB). */
#define PEER_QUEUE_MAX		(64 * 1024 * 1024)
/* One read or write on a peer stream takes at most this. */
#define PEER_IO_MAX		(256 * 1024)
/* A peer that could not be reached is tried again after this. */
#define PEER_RETRY_MS		100

struct peer_out {
	struct peers		*ps;
	struct bufferevent	*bev;		/* NULL: not connected */
	int			 slot;
	int			 number;	/* the worker's, for the log */
	int			 pid;
	uint32_t		 serial;	/* of the worker bev reaches */
	uint64_t		 retry_ms;	/* no connect before */
	uint64_t		 ndropped;	/* in this episode */
};

struct peer_in {
	struct peers		*ps;
	struct bufferevent	*bev;
	pid_t			 pid;
	LIST_ENTRY(peer_in)	 link;
};

struct peers {
	struct server		*srv;
	struct worker_shm	*shm;
	struct evconnlistener	*lev;
	LIST_HEAD(, peer_in)	 in;
	uint64_t		 dropped;
	struct peer_out		 out[WORKERS_MAX];
};

/* ---------------------------------------------------------------- codec */

static bool
name_ok(const uint8_t *p, size_t n)
{
	size_t i;

	if (n == 0 || n > WSD_TOPIC_MAX)
		return false;
	for (i = 0; i < n; i++)
		if (p[i] < 0x21 || p[i] > 0x7e)
			return false;
	return true;
}

size_t
peer_record_encode(uint8_t *buf, int opcode, const char *name, size_t nlen,
    size_t len)
{
	uint64_t total;

	if ((opcode != WSD_TEXT && opcode != WSD_BINARY) ||
	    !name_ok((const uint8_t *)name, nlen))
		return 0;
	total = 2 + (uint64_t)nlen + len;
	if (len > PEER_LEN_MAX || total > PEER_LEN_MAX)
		return 0;
	buf[0] = (uint8_t)(total >> 24);
	buf[1] = (uint8_t)(total >> 16);
	buf[2] = (uint8_t)(total >> 8);
	buf[3] = (uint8_t)total;
	buf[4] = (uint8_t)opcode;
	buf[5] = (uint8_t)nlen;
	memcpy(buf + PEER_HDR_SIZE, name, nlen);
	return PEER_HDR_SIZE + nlen;
}

enum peer_decode
peer_record_decode(const uint8_t *buf, size_t len, uint64_t max_payload,
    struct peer_record *rec, size_t *need)
{
	uint64_t total, plen;
	size_t nlen;

	*need = PEER_HDR_SIZE;
	if (len < PEER_LEN_SIZE)
		return PEER_MORE;
	total = (uint64_t)buf[0] << 24 | (uint64_t)buf[1] << 16 |
	    (uint64_t)buf[2] << 8 | buf[3];
	/* The smallest record has a one-byte name and no payload. */
	if (total < 3 || total - 3 > WSD_TOPIC_MAX - 1 + max_payload)
		return PEER_BAD;
	*need = (size_t)(PEER_LEN_SIZE + total);
	if (len < PEER_HDR_SIZE)
		return PEER_MORE;
	if (buf[4] != WSD_TEXT && buf[4] != WSD_BINARY)
		return PEER_BAD;
	nlen = buf[5];
	if (nlen == 0 || nlen > WSD_TOPIC_MAX || total < 2 + nlen)
		return PEER_BAD;
	plen = total - 2 - nlen;
	if (plen > max_payload)
		return PEER_BAD;
	if (len >= PEER_HDR_SIZE + nlen &&
	    !name_ok(buf + PEER_HDR_SIZE, nlen))
		return PEER_BAD;
	if (len < *need)
		return PEER_MORE;
	rec->opcode = buf[4];
	rec->name = (const char *)buf + PEER_HDR_SIZE;
	rec->nlen = nlen;
	rec->data = buf + PEER_HDR_SIZE + nlen;
	rec->len = (size_t)plen;
	return PEER_OK;
}

/* ---------------------------------------------------------------- input */

/*
 * The largest message any live configuration lets a route publish: a
 * worker that reloads may meet messages published under the old limits.
 */
static uint64_t
max_payload(struct server *srv)
{
	struct generation *g;
	uint64_t m = 0;
	size_t i;

	LIST_FOREACH(g, &srv->gens.live, link) {
		if (g->cfg->limits.max_message_size > m)
			m = g->cfg->limits.max_message_size;
		/* The configuration's: a retired table is empty. */
		for (i = 0; i < g->cfg->nroutes; i++)
			if (g->cfg->routes[i].limits.max_message_size > m)
				m = g->cfg->routes[i].limits.max_message_size;
	}
	if (m > PEER_LEN_MAX)
		m = PEER_LEN_MAX;
	return m;
}

static void
peer_in_free(struct peer_in *pi)
{
	LIST_REMOVE(pi, link);
	bufferevent_free(pi->bev);
	free(pi);
}

static void
peer_in_readcb(struct bufferevent *bev, void *arg)
{
	struct peer_in *pi = arg;
	struct server *srv = pi->ps->srv;
	struct evbuffer *in = bufferevent_get_input(bev);
	struct peer_record rec;
	enum peer_decode r;
	uint64_t maxp = max_payload(srv);
	size_t avail, need, look;
	uint8_t *p;

	while ((avail = evbuffer_get_length(in)) > 0) {
		/* The header and name first: enough to judge the record. */
		look = avail < PEER_HDR_SIZE + WSD_TOPIC_MAX ? avail :
		    PEER_HDR_SIZE + WSD_TOPIC_MAX;
		if ((p = evbuffer_pullup(in, (ssize_t)look)) == NULL)
			goto nomem;
		r = peer_record_decode(p, look, maxp, &rec, &need);
		if (r == PEER_MORE && need <= avail) {
			if ((p = evbuffer_pullup(in, (ssize_t)need)) == NULL)
				goto nomem;
			r = peer_record_decode(p, need, maxp, &rec, &need);
		}
		if (r == PEER_MORE)
			return;
		if (r == PEER_BAD) {
			log_err("peer stream from pid %d: malformed record; "
			    "closing it", (int)pi->pid);
			peer_in_free(pi);
			return;
		}
		metrics.deliveries[MSRC_WORKER]++;
		topic_deliver(srv, rec.name, rec.nlen, rec.opcode, rec.data,
		    rec.len);
		evbuffer_drain(in, need);
	}
	return;
nomem:
	log_err("peer stream from pid %d: out of memory; closing it",
	    (int)pi->pid);
	peer_in_free(pi);
}

static void
peer_in_eventcb(struct bufferevent *bev, short what, void *arg)
{
	struct peer_in *pi = arg;

	(void)bev;
	if (what & BEV_EVENT_ERROR)
		log_info("peer stream from pid %d: %s", (int)pi->pid,
		    strerror(EVUTIL_SOCKET_ERROR()));
	if (what & (BEV_EVENT_EOF | BEV_EVENT_ERROR))
		peer_in_free(pi);
}

static void
peer_acceptcb(struct evconnlistener *lev, evutil_socket_t fd,
    struct sockaddr *sa, int socklen, void *arg)
{
	struct peers *ps = arg;
	struct peer_in *pi;
	struct ucred cred;
	socklen_t cl = sizeof(cred);

	(void)lev;
	(void)sa;
	(void)socklen;
	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &cl) == -1 ||
	    cl != sizeof(cred)) {
		log_err("peer socket: cannot tell who connected: %s",
		    strerror(errno));
		close(fd);
		return;
	}
	/* Topic messages come from our own workers, nobody else's. */
	if (cred.uid != getuid()) {
		log_warn("peer socket: refused pid %d of uid %u (not ours)",
		    (int)cred.pid, (unsigned)cred.uid);
		close(fd);
		return;
	}
	if ((pi = calloc(1, sizeof(*pi))) == NULL ||
	    (pi->bev = bufferevent_socket_new(ps->srv->base, fd,
	    BEV_OPT_CLOSE_ON_FREE)) == NULL) {
		log_err("peer socket: out of memory");
		free(pi);
		close(fd);
		return;
	}
	pi->ps = ps;
	pi->pid = cred.pid;
	LIST_INSERT_HEAD(&ps->in, pi, link);
	bufferevent_set_max_single_read(pi->bev, PEER_IO_MAX);
	bufferevent_setcb(pi->bev, peer_in_readcb, NULL, peer_in_eventcb, pi);
	if (bufferevent_enable(pi->bev, EV_READ) == -1) {
		log_err("peer socket: cannot read from pid %d", (int)pi->pid);
		peer_in_free(pi);
	}
}

/* ---------------------------------------------------------------- output */

/* The end of an episode of drops for po: say how many. */
static void
peer_out_episode_end(struct peer_out *po)
{
	if (po->ndropped == 0)
		return;
	log_warn("peer worker %d (pid %d): dropped %llu topic "
	    "message(s) for it", po->number, po->pid,
	    (unsigned long long)po->ndropped);
	po->ndropped = 0;
}

static void
peer_out_drop(struct peers *ps, struct peer_out *po, const char *why)
{
	if (po->ndropped++ == 0)
		log_warn("peer worker %d (pid %d) %s; dropping topic "
		    "messages for it", po->number, po->pid, why);
	ps->dropped++;
}

static void
peer_out_close(struct peer_out *po)
{
	size_t left;

	if (po->bev == NULL)
		return;
	left = evbuffer_get_length(bufferevent_get_output(po->bev));
	if (left > 0)
		log_info("peer worker %d (pid %d): stream closed with "
		    "%zu bytes unsent", po->number, po->pid, left);
	bufferevent_free(po->bev);
	po->bev = NULL;
	peer_out_episode_end(po);
}

/* The stream only carries our records: anything read from it is wrong. */
static void
peer_out_readcb(struct bufferevent *bev, void *arg)
{
	struct peer_out *po = arg;

	(void)bev;
	log_err("peer worker %d (pid %d) wrote on our stream; "
	    "closing it", po->number, po->pid);
	peer_out_close(po);
}

static void
peer_out_eventcb(struct bufferevent *bev, short what, void *arg)
{
	struct peer_out *po = arg;

	(void)bev;
	if (what & BEV_EVENT_ERROR)
		log_info("peer worker %d (pid %d): %s", po->number,
		    po->pid, strerror(EVUTIL_SOCKET_ERROR()));
	if (what & (BEV_EVENT_EOF | BEV_EVENT_ERROR)) {
		peer_out_close(po);
		/* It went away: do not knock again at once. */
		po->retry_ms = workers_now_ms() + PEER_RETRY_MS;
	}
}

/*
 * Connect po to the worker of serial.  A Unix stream connect completes
 * or fails at once, so there is no connecting state to keep.
 */
static int
peer_out_connect(struct peers *ps, struct peer_out *po, uint32_t serial)
{
	struct sockaddr_un sun;
	size_t n;
	int fd;

	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	n = workers_peer_name(sun.sun_path, sizeof(sun.sun_path),
	    ps->shm->master_pid, serial);
	if (n == 0)
		return -1;
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
	    0)) == -1)
		return -1;
	if (connect(fd, (struct sockaddr *)&sun,
	    (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n)) == -1 &&
	    errno != EINPROGRESS) {
		close(fd);
		return -1;
	}
	if ((po->bev = bufferevent_socket_new(ps->srv->base, fd,
	    BEV_OPT_CLOSE_ON_FREE)) == NULL) {
		close(fd);
		errno = ENOMEM;
		return -1;
	}
	po->serial = serial;
	bufferevent_set_max_single_write(po->bev, PEER_IO_MAX);
	bufferevent_setcb(po->bev, peer_out_readcb, NULL, peer_out_eventcb,
	    po);
	if (bufferevent_enable(po->bev, EV_READ | EV_WRITE) == -1) {
		peer_out_close(po);
		return -1;
	}
	return 0;
}

static void
peer_out_send(struct peers *ps, struct peer_out *po, const uint8_t *hdr,
    size_t hl, const void *data, size_t len)
{
	struct evbuffer *out;
	size_t queued;
	uint64_t now;
	char why[160];

	if (po->bev == NULL) {
		now = workers_now_ms();
		if (now < po->retry_ms) {
			peer_out_drop(ps, po, "cannot be reached");
			return;
		}
		if (peer_out_connect(ps, po, po->serial) == -1) {
			snprintf(why, sizeof(why), "cannot be reached (%s)",
			    strerror(errno));
			po->retry_ms = now + PEER_RETRY_MS;
			peer_out_drop(ps, po, why);
			return;
		}
	}
	out = bufferevent_get_output(po->bev);
	queued = evbuffer_get_length(out);
	if (queued > 0 && queued + hl + len > PEER_QUEUE_MAX) {
		snprintf(why, sizeof(why), "is not reading (%zu bytes wait "
		    "for it)", queued);
		peer_out_drop(ps, po, why);
		return;
	}
	/* Room first: a header without its payload would break the stream. */
	if (evbuffer_expand(out, hl + len) == -1 ||
	    evbuffer_add(out, hdr, hl) == -1) {
		peer_out_drop(ps, po, "is out of our memory");
		return;
	}
	if (len > 0 && evbuffer_add(out, data, len) == -1) {
		log_err("peer worker %d (pid %d): a payload could not "
		    "be queued; closing the stream", po->number, po->pid);
		peer_out_close(po);
		return;
	}
	peer_out_episode_end(po);
}

void
peers_publish(struct peers *ps, const char *name, size_t nlen, int opcode,
    const void *data, size_t len)
{
	uint8_t hdr[PEER_HDR_SIZE + WSD_TOPIC_MAX];
	struct worker_slot *sl;
	struct peer_out *po;
	uint32_t i, n, serial;
	size_t hl = 0;
	int st;

	if (ps == NULL)
		return;
	n = atomic_load(&ps->shm->nslots);
	for (i = 0; i < n && i < WORKERS_MAX; i++) {
		if ((int)i == worker_self.index)
			continue;
		sl = &ps->shm->slot[i];
		po = &ps->out[i];
		st = atomic_load(&sl->state);
		serial = atomic_load(&sl->serial);
		if ((st != SLOT_READY && st != SLOT_RETIRING) ||
		    serial == worker_self.serial) {
			/* Gone, or not there yet: forget its stream. */
			peer_out_close(po);
			continue;
		}
		if (po->serial != serial) {
			/* A new worker in the slot. */
			peer_out_close(po);
			po->ndropped = 0;
			po->retry_ms = 0;
			po->serial = serial;
		}
		po->pid = atomic_load(&sl->pid);
		po->number = atomic_load(&sl->number);
		if (hl == 0 && (hl = peer_record_encode(hdr, opcode, name,
		    nlen, len)) == 0) {
			/* Only a payload over 4 GiB: no other worker gets it. */
			log_warn("topic %.*s: a message of %zu bytes is too "
			    "large for the other workers", (int)nlen, name,
			    len);
			ps->dropped++;
			return;
		}
		peer_out_send(ps, po, hdr, hl, data, len);
	}
}

uint64_t
peers_dropped(const struct peers *ps)
{
	return ps != NULL ? ps->dropped : 0;
}

/* ---------------------------------------------------------------- setup */

int
peers_init(struct server *srv)
{
	struct peers *ps;
	struct sockaddr_un sun;
	size_t n;
	int fd, i;

	if (worker_self.shm == NULL)
		return 0;
	if ((ps = calloc(1, sizeof(*ps))) == NULL) {
		log_err("peers: out of memory");
		return -1;
	}
	ps->srv = srv;
	ps->shm = worker_self.shm;
	LIST_INIT(&ps->in);
	for (i = 0; i < WORKERS_MAX; i++) {
		ps->out[i].ps = ps;
		ps->out[i].slot = i;
	}
	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	n = workers_peer_name(sun.sun_path, sizeof(sun.sun_path),
	    ps->shm->master_pid, worker_self.serial);
	if (n == 0 || (fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK |
	    SOCK_CLOEXEC, 0)) == -1) {
		log_err("peers: cannot make the peer socket: %s",
		    strerror(errno));
		free(ps);
		return -1;
	}
	if (bind(fd, (struct sockaddr *)&sun,
	    (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n)) == -1) {
		log_err("peers: cannot bind the peer socket @%s: %s",
		    sun.sun_path + 1, strerror(errno));
		close(fd);
		free(ps);
		return -1;
	}
	if ((ps->lev = evconnlistener_new(srv->base, peer_acceptcb, ps,
	    LEV_OPT_CLOSE_ON_FREE | LEV_OPT_CLOSE_ON_EXEC, SOMAXCONN,
	    fd)) == NULL) {
		log_err("peers: cannot listen on the peer socket: %s",
		    strerror(errno));
		close(fd);
		free(ps);
		return -1;
	}
	srv->peers = ps;
	log_debug("peers: listening on @%s", sun.sun_path + 1);
	return 0;
}

void
peers_fini(struct server *srv)
{
	struct peers *ps = srv->peers;
	struct peer_in *pi;
	int i;

	if (ps == NULL)
		return;
	for (i = 0; i < WORKERS_MAX; i++)
		peer_out_close(&ps->out[i]);
	while ((pi = LIST_FIRST(&ps->in)) != NULL)
		peer_in_free(pi);
	evconnlistener_free(ps->lev);
	free(ps);
	srv->peers = NULL;
}

/*
 * backplane: see backplane.h.
 *
 * Two hiredis async contexts per worker, on the worker's own loop
 * through hiredis's libevent adapter: the subscriber holds one channel
 * per topic with subscribers here, the publisher sends PUBLISH.  Each
 * is a small state machine, `struct link`:
 *
 *   IDLE --timer--> CONNECTING --AUTH or PING answered--> READY
 *     ^                 |  (connect and handshake bounded by a timer)
 *     +---backoff-------+<---- connection lost, refused, AUTH refused
 *
 * hiredis 0.14 frees a context itself when a connection fails or is
 * lost (and then calls our connect or disconnect callback), and must not
 * be freed by us from inside its callbacks.  So a context we want gone
 * is freed from the link's timer (DYING), and every callback first
 * checks that its context is still the link's: once link->ac is cleared
 * a late callback is ignored.
 *
 * Nothing here waits: a publish while the publisher is not READY, or
 * while more than max_pending bytes of earlier publishes are not yet
 * answered by Redis, is dropped and counted.  Drops are reported in one
 * log line per episode (see drops_note()).
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>
#include <hiredis/hiredis.h>
#include <hiredis/async.h>
#include <hiredis/adapters/libevent.h>

#include <wsd/plugin.h>

#include "backplane.h"
#include "bpwire.h"
#include "config.h"
#include "generation.h"
#include "log.h"
#include "metrics.h"
#include "server.h"
#include "topic.h"
#include "workers.h"

#define BACKOFF_MIN_MS		100
#define BACKOFF_MAX_MS		5000
/* Connect plus AUTH (or PING) must be done within this. */
#define HANDSHAKE_MS		3000
/* A drop episode ends after this long without a drop... */
#define DROP_QUIET_MS		1000
/* ...and is reported at least this often while it goes on. */
#define DROP_REPORT_MAX_MS	60000
/* Channels per SUBSCRIBE when resubscribing. */
#define SUB_BATCH		128
#define CHANNEL_MAX		(WSD_CLUSTER_PREFIX_MAX + WSD_TOPIC_MAX + 1)

enum link_state {
	LINK_IDLE,		/* no context; the timer reconnects */
	LINK_CONNECTING,	/* context; the timer is the deadline */
	LINK_READY,
	LINK_DYING,		/* context to free from the timer */
};

struct link {
	struct backplane	*bp;
	const char		*role;		/* "subscriber", "publisher" */
	redisAsyncContext	*ac;
	enum link_state		 state;
	struct event		*timer;
	uint32_t		 backoff_ms;
	char			 why[160];	/* DYING: the reason */
};

struct backplane {
	struct server		*srv;
	char			*redis;		/* as configured, for logs */
	char			*user, *password;
	char			*prefix;
	size_t			 prefixlen;
	uint64_t		 max_pending;
	struct bpwire_addr	 addr;
	uint64_t		 node;
	struct link		 sub, pub;

	bool			 outage;	/* logged as unreachable */
	bool			 ever_up;
	struct backplane_stats	 st;

	/* The current drop episode (see drops_note()). */
	struct backplane_stats	 ep;		/* the dropped_* counts */
	uint64_t		 ep_start_ms, ep_last_ms;
	struct event		*drop_timer;
};

static void	link_connect(struct link *);
static void	link_timer_cb(evutil_socket_t, short, void *);
static void	drop_timer_cb(evutil_socket_t, short, void *);

/* ------------------------------------------------------------ helpers */

static void
arm(struct event *ev, uint32_t ms)
{
	struct timeval tv;

	tv.tv_sec = ms / 1000;
	tv.tv_usec = (suseconds_t)(ms % 1000) * 1000;
	if (evtimer_add(ev, &tv) == -1)
		log_err("backplane: cannot arm a timer");
}

static char *
dup_or_null(const char *s)
{
	char *d;

	if (s == NULL)
		return NULL;
	if ((d = strdup(s)) == NULL)
		abort();	/* as config.c: start-up sized, never on traffic */
	return d;
}

static bool
same(const char *a, const char *b)
{
	if (a == NULL || b == NULL)
		return a == b;
	return strcmp(a, b) == 0;
}

/* A random node id for a process that is not a worker (no shm). */
static uint64_t
random_node(void)
{
	uint64_t v = 0;

	if (getrandom(&v, sizeof(v), 0) != (ssize_t)sizeof(v))
		v = (uint64_t)time(NULL) << 32 ^ (uint64_t)getpid() ^
		    (uint64_t)(uintptr_t)&v;
	/* 0 is the node id the documentation gives to backends. */
	return v == 0 ? 1 : v;
}

/* PREFIX+name into buf (CHANNEL_MAX); returns its length. */
static size_t
channel(const struct backplane *bp, char *buf, const char *name,
    size_t nlen)
{
	memcpy(buf, bp->prefix, bp->prefixlen);
	memcpy(buf + bp->prefixlen, name, nlen);
	buf[bp->prefixlen + nlen] = '\0';
	return bp->prefixlen + nlen;
}

/* ------------------------------------------------------------ drops */

static uint64_t
ep_total(const struct backplane_stats *e)
{
	return e->dropped_down + e->dropped_full + e->dropped_too_big +
	    e->dropped_bad_utf8 + e->dropped_bad_envelope;
}

/* One line for the episode so far; then a new one begins. */
static void
drops_report(struct backplane *bp)
{
	struct backplane_stats *e = &bp->ep;
	char buf[512];
	size_t off = 0;
	int n;

#define PART(field, text)						\
	if (e->field > 0 && off < sizeof(buf)) {			\
		n = snprintf(buf + off, sizeof(buf) - off, "%s%llu " text, \
		    off > 0 ? ", " : "", (unsigned long long)e->field);	\
		if (n > 0)						\
			off += (size_t)n;				\
	}
	PART(dropped_down, "published while Redis was unreachable")
	PART(dropped_full, "published while over max_pending")
	PART(dropped_too_big, "from Redis over max_message_size")
	PART(dropped_bad_utf8, "from Redis that were not UTF-8")
	PART(dropped_bad_envelope, "from Redis with a bad envelope")
#undef PART
	if (off == 0)
		return;
	log_warn("Redis at %s: dropped %llu message(s): %s", bp->redis,
	    (unsigned long long)ep_total(e), buf);
	memset(e, 0, sizeof(*e));
}

/*
 * A message was dropped (the caller counted it in bp->st and bp->ep).
 * One log line per episode, not per message: an episode ends when no
 * message has been dropped for DROP_QUIET_MS, and one that goes on is
 * reported every DROP_REPORT_MAX_MS.
 */
static void
drops_note(struct backplane *bp)
{
	uint64_t now = workers_now_ms();

	bp->ep_last_ms = now;
	if (!evtimer_pending(bp->drop_timer, NULL)) {
		bp->ep_start_ms = now;
		arm(bp->drop_timer, DROP_QUIET_MS);
	}
}

static void
drop_timer_cb(evutil_socket_t fd, short what, void *arg)
{
	struct backplane *bp = arg;
	uint64_t now = workers_now_ms(), quiet_at;

	(void)fd;
	(void)what;
	quiet_at = bp->ep_last_ms + DROP_QUIET_MS;
	if (now < quiet_at && now - bp->ep_start_ms < DROP_REPORT_MAX_MS) {
		arm(bp->drop_timer, (uint32_t)(quiet_at - now));
		return;
	}
	drops_report(bp);
	if (now < quiet_at) {
		/* Still dropping: a new episode starts now. */
		bp->ep_start_ms = now;
		arm(bp->drop_timer, DROP_QUIET_MS);
	}
}

/* ------------------------------------------------------------ links */

static bool
links_ready(const struct backplane *bp)
{
	return bp->sub.state == LINK_READY && bp->pub.state == LINK_READY;
}

/*
 * The link's context is gone (freed by hiredis or by us): log the
 * outage if it is news, and try again after the backoff.
 */
static void
link_down(struct link *l, const char *why)
{
	struct backplane *bp = l->bp;

	l->ac = NULL;
	l->state = LINK_IDLE;
	bp->st.connected = false;
	if (!bp->outage) {
		log_warn("Redis at %s unreachable: %s; retrying", bp->redis,
		    why);
		bp->outage = true;
	} else
		log_debug("Redis at %s (%s): %s", bp->redis, l->role, why);
	evtimer_del(l->timer);
	arm(l->timer, l->backoff_ms);
	l->backoff_ms = l->backoff_ms * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS :
	    l->backoff_ms * 2;
}

/* Free the context from the timer, soon: we may be in a callback. */
static void
link_kill(struct link *l, const char *why)
{
	snprintf(l->why, sizeof(l->why), "%s", why);
	l->state = LINK_DYING;
	evtimer_del(l->timer);
	arm(l->timer, 0);
}

/* Drop the context now (not from a hiredis callback). */
static void
link_close(struct link *l)
{
	redisAsyncContext *ac = l->ac;

	evtimer_del(l->timer);
	l->ac = NULL;
	l->state = LINK_IDLE;
	if (ac != NULL)
		redisAsyncFree(ac);	/* our callbacks see l->ac != ac */
}

static struct link *
link_of(const redisAsyncContext *ac)
{
	struct link *l = ac->data;

	return l != NULL && l->ac == ac ? l : NULL;
}

static void
sub_send(struct link *l, const char *cmd, int argc, const char **argv,
    const size_t *lens);

/* Resubscribing: channels gathered into SUBSCRIBEs of SUB_BATCH. */
struct resub {
	struct link	*l;
	const char	*argv[SUB_BATCH];
	size_t		 lens[SUB_BATCH];
	char		 (*names)[CHANNEL_MAX];
	int		 n;
};

static void
resub_one(const char *name, size_t nlen, void *arg)
{
	struct resub *rs = arg;

	if (nlen == 0 || nlen > WSD_TOPIC_MAX)
		return;
	rs->lens[rs->n] = channel(rs->l->bp, rs->names[rs->n], name, nlen);
	rs->argv[rs->n] = rs->names[rs->n];
	if (++rs->n == SUB_BATCH) {
		sub_send(rs->l, "SUBSCRIBE", rs->n, rs->argv, rs->lens);
		rs->n = 0;
	}
}

/* SUBSCRIBE the channel of every topic with subscribers here. */
static void
sub_resubscribe(struct link *l)
{
	struct resub rs;

	memset(&rs, 0, sizeof(rs));
	rs.l = l;
	if ((rs.names = malloc(SUB_BATCH * sizeof(*rs.names))) == NULL) {
		link_kill(l, "out of memory");
		return;
	}
	topic_foreach_name(l->bp->srv, resub_one, &rs);
	if (rs.n > 0)
		sub_send(l, "SUBSCRIBE", rs.n, rs.argv, rs.lens);
	free(rs.names);
}

static void
link_ready(struct link *l)
{
	struct backplane *bp = l->bp;

	evtimer_del(l->timer);
	l->state = LINK_READY;
	l->backoff_ms = BACKOFF_MIN_MS;
	if (l == &bp->sub)
		sub_resubscribe(l);
	if (links_ready(bp)) {
		if (!bp->st.connected && bp->ever_up)
			bp->st.reconnects++;
		bp->st.connected = true;
		if (bp->outage || !bp->ever_up)
			log_notice("Redis at %s: connected", bp->redis);
		bp->outage = false;
		bp->ever_up = true;
	}
}


static void
sub_send(struct link *l, const char *cmd, int argc, const char **argv,
    const size_t *lens);

/* The answer to AUTH or PING: the link is usable, or refused. */
static void
handshake_cb(redisAsyncContext *ac, void *r, void *priv)
{
	struct link *l = link_of(ac);
	const redisReply *reply = r;
	char why[sizeof(l->why)];

	(void)priv;
	if (l == NULL || reply == NULL)
		return;		/* a context being freed */
	if (reply->type == REDIS_REPLY_ERROR) {
		snprintf(why, sizeof(why), "%s refused: %.*s",
		    l->bp->password != NULL ? "AUTH" : "PING",
		    (int)(reply->len > 120 ? 120 : reply->len), reply->str);
		link_kill(l, why);
		return;
	}
	link_ready(l);
}

static void
connect_cb(const redisAsyncContext *cac, int status)
{
	struct link *l = link_of(cac);
	struct backplane *bp;
	const char *argv[3];
	size_t lens[3];
	int argc = 0;

	if (l == NULL)
		return;
	bp = l->bp;
	if (status != REDIS_OK) {
		/* hiredis frees the context when we return. */
		link_down(l, cac->errstr[0] != '\0' ? cac->errstr :
		    "cannot connect");
		return;
	}
	/*
	 * Connected is not yet reachable (a stopped Redis still completes
	 * TCP handshakes): the link is ready once AUTH or PING is answered,
	 * within the handshake deadline that is still running.
	 */
	if (bp->password != NULL) {
		argv[argc] = "AUTH";
		lens[argc++] = 4;
		if (bp->user != NULL) {
			argv[argc] = bp->user;
			lens[argc++] = strlen(bp->user);
		}
		argv[argc] = bp->password;
		lens[argc++] = strlen(bp->password);
	} else {
		argv[argc] = "PING";
		lens[argc++] = 4;
	}
	if (redisAsyncCommandArgv(l->ac, handshake_cb, NULL, argc, argv,
	    lens) != REDIS_OK)
		link_kill(l, "cannot send the handshake");
}

static void
disconnect_cb(const redisAsyncContext *cac, int status)
{
	struct link *l = link_of(cac);

	(void)status;
	if (l == NULL)
		return;
	/* hiredis frees the context when we return. */
	link_down(l, cac->errstr[0] != '\0' ? cac->errstr :
	    "connection closed");
}

/* A message on one of our channels. */
static void
sub_message(struct backplane *bp, const redisReply *ch,
    const redisReply *msg)
{
	struct server *srv = bp->srv;
	struct bpwire_msg m;
	const char *topic;
	uint64_t max;
	size_t tlen;

	if (ch->type != REDIS_REPLY_STRING || msg->type != REDIS_REPLY_STRING ||
	    ch->len <= bp->prefixlen ||
	    memcmp(ch->str, bp->prefix, bp->prefixlen) != 0)
		return;
	topic = ch->str + bp->prefixlen;
	tlen = ch->len - bp->prefixlen;
	/* Not a topic (a name with a NUL or a space inside): not ours. */
	if (topic_name_len(topic) != tlen)
		return;
	bp->st.received++;
	max = srv->gen != NULL ? srv->gen->cfg->limits.max_message_size :
	    WSD_DEFAULT_MAX_MESSAGE;
	switch (bpwire_judge((const uint8_t *)msg->str, msg->len, bp->node,
	    max, &m)) {
	case BPWIRE_DELIVER:
		bp->st.delivered++;
		metrics.deliveries[MSRC_REDIS]++;
		topic_deliver(srv, topic, tlen, m.opcode, m.data, m.len);
		return;
	case BPWIRE_OWN:
		bp->st.own++;
		return;
	case BPWIRE_TOO_BIG:
		bp->st.dropped_too_big++;
		bp->ep.dropped_too_big++;
		break;
	case BPWIRE_BAD_UTF8:
		bp->st.dropped_bad_utf8++;
		bp->ep.dropped_bad_utf8++;
		break;
	case BPWIRE_BAD_ENVELOPE:
		bp->st.dropped_bad_envelope++;
		bp->ep.dropped_bad_envelope++;
		break;
	}
	drops_note(bp);
}

/*
 * Everything the subscriber receives: messages, and the confirmations
 * of SUBSCRIBE and UNSUBSCRIBE.
 */
static void
sub_cb(redisAsyncContext *ac, void *r, void *priv)
{
	struct link *l = link_of(ac);
	const redisReply *reply = r, *kind, *ch;

	(void)priv;
	if (l == NULL || reply == NULL || reply->type != REDIS_REPLY_ARRAY ||
	    reply->elements < 3)
		return;
	kind = reply->element[0];
	ch = reply->element[1];
	if (kind->type != REDIS_REPLY_STRING || ch->type != REDIS_REPLY_STRING)
		return;
	/* The rest confirms SUBSCRIBE and UNSUBSCRIBE: nothing to do. */
	if (strcmp(kind->str, "message") == 0)
		sub_message(l->bp, ch, reply->element[2]);
}

/* SUBSCRIBE or UNSUBSCRIBE argv[0..argc) on a ready subscriber. */
static void
sub_send(struct link *l, const char *cmd, int argc, const char **argv,
    const size_t *lens)
{
	const char *av[SUB_BATCH + 1];
	size_t al[SUB_BATCH + 1];

	av[0] = cmd;
	al[0] = strlen(cmd);
	memcpy(av + 1, argv, (size_t)argc * sizeof(*av));
	memcpy(al + 1, lens, (size_t)argc * sizeof(*al));
	/*
	 * hiredis refuses UNSUBSCRIBE when it knows of no subscription,
	 * which leaves nothing to undo; a SUBSCRIBE it refuses would be
	 * lost, so start again.
	 */
	if (redisAsyncCommandArgv(l->ac, sub_cb, NULL, argc + 1, av, al) !=
	    REDIS_OK && strcmp(cmd, "SUBSCRIBE") == 0)
		link_kill(l, "cannot send SUBSCRIBE");
}

static void
link_connect(struct link *l)
{
	struct backplane *bp = l->bp;
	struct event_base *base = bp->srv->base;
	redisAsyncContext *ac;
	char why[sizeof(l->why)];

	if (bp->addr.unix_path)
		ac = redisAsyncConnectUnix(bp->addr.path);
	else
		ac = redisAsyncConnect(bp->addr.host, bp->addr.port);
	if (ac == NULL) {
		link_down(l, "out of memory");
		return;
	}
	if (ac->err != 0) {
		snprintf(why, sizeof(why), "%s", ac->errstr);
		redisAsyncFree(ac);
		link_down(l, why);
		return;
	}
	if (!bp->addr.unix_path)
		(void)redisEnableKeepAlive(&ac->c);
	ac->data = l;
	if (redisLibeventAttach(ac, base) != REDIS_OK) {
		redisAsyncFree(ac);
		link_down(l, "cannot watch the socket");
		return;
	}
	l->ac = ac;
	l->state = LINK_CONNECTING;
	redisAsyncSetConnectCallback(ac, connect_cb);
	redisAsyncSetDisconnectCallback(ac, disconnect_cb);
	arm(l->timer, HANDSHAKE_MS);
}

static void
link_timer_cb(evutil_socket_t fd, short what, void *arg)
{
	struct link *l = arg;
	char why[sizeof(l->why)];

	(void)fd;
	(void)what;
	switch (l->state) {
	case LINK_IDLE:
		link_connect(l);
		break;
	case LINK_CONNECTING:
		link_close(l);
		snprintf(why, sizeof(why), "no answer within %d ms",
		    HANDSHAKE_MS);
		link_down(l, why);
		break;
	case LINK_DYING:
		snprintf(why, sizeof(why), "%s", l->why);
		link_close(l);
		link_down(l, why);
		break;
	case LINK_READY:
		break;
	}
}

static int
link_init(struct backplane *bp, struct link *l, const char *role)
{
	l->bp = bp;
	l->role = role;
	l->state = LINK_IDLE;
	l->backoff_ms = BACKOFF_MIN_MS;
	l->timer = evtimer_new(bp->srv->base, link_timer_cb, l);
	return l->timer == NULL ? -1 : 0;
}

/* ------------------------------------------------------------ publish */

/* Redis answered a PUBLISH (or the context went away: reply NULL). */
static void
pub_cb(redisAsyncContext *ac, void *r, void *priv)
{
	struct link *l = ac->data;
	const redisReply *reply = r;
	size_t size = (size_t)(uintptr_t)priv;

	/* Whatever the context, its bytes no longer wait. */
	if (l != NULL)
		l->bp->st.pending -= size;
	if (reply != NULL && reply->type == REDIS_REPLY_ERROR &&
	    l != NULL && l->ac == ac)
		l->bp->st.publish_errors++;
}

void
backplane_publish(struct backplane *bp, const char *name, size_t nlen,
    int opcode, const void *data, size_t len)
{
	uint8_t hdr[BPWIRE_HEADER], *cmd;
	char ch[CHANNEL_MAX];
	size_t chlen, size;

	if (bp == NULL)
		return;
	if (bp->pub.state != LINK_READY) {
		bp->st.dropped_down++;
		bp->ep.dropped_down++;
		drops_note(bp);
		return;
	}
	chlen = channel(bp, ch, name, nlen);
	size = bpwire_publish_size(chlen, BPWIRE_HEADER, len);
	if (size == 0 || bp->st.pending + size > bp->max_pending) {
		bp->st.dropped_full++;
		bp->ep.dropped_full++;
		drops_note(bp);
		return;
	}
	if ((cmd = malloc(size)) == NULL) {
		bp->st.dropped_full++;
		bp->ep.dropped_full++;
		drops_note(bp);
		return;
	}
	bpwire_header(hdr, opcode, bp->node);
	bpwire_publish_format(cmd, ch, chlen, hdr, sizeof(hdr), data, len);
	if (redisAsyncFormattedCommand(bp->pub.ac, pub_cb,
	    (void *)(uintptr_t)size, (const char *)cmd, size) != REDIS_OK) {
		bp->st.dropped_down++;
		bp->ep.dropped_down++;
		drops_note(bp);
	} else {
		bp->st.pending += size;
		bp->st.published++;
	}
	free(cmd);
}

/* ------------------------------------------------------------ subscribe */

/* SUBSCRIBE or UNSUBSCRIBE one topic's channel, if the link is up. */
static void
sub_topic(struct backplane *bp, const char *cmd, const char *name,
    size_t nlen)
{
	char ch[CHANNEL_MAX];
	const char *argv[1];
	size_t lens[1];

	/* Not ready: link_ready() subscribes to every topic. */
	if (bp == NULL || nlen == 0 || nlen > WSD_TOPIC_MAX ||
	    bp->sub.state != LINK_READY)
		return;
	lens[0] = channel(bp, ch, name, nlen);
	argv[0] = ch;
	sub_send(&bp->sub, cmd, 1, argv, lens);
}

void
backplane_subscribe(struct backplane *bp, const char *name, size_t nlen)
{
	sub_topic(bp, "SUBSCRIBE", name, nlen);
}

void
backplane_unsubscribe(struct backplane *bp, const char *name, size_t nlen)
{
	sub_topic(bp, "UNSUBSCRIBE", name, nlen);
}

/* ------------------------------------------------------------ lifetime */

static void
settings_free(struct backplane *bp)
{
	free(bp->redis);
	free(bp->user);
	free(bp->password);
	free(bp->prefix);
	bp->redis = bp->user = bp->password = bp->prefix = NULL;
}

/* Take cc's settings (already checked by config.c). */
static int
settings_take(struct backplane *bp, const struct wsd_cluster_conf *cc)
{
	const char *why;

	if (bpwire_parse_addr(cc->redis, &bp->addr, &why) == -1) {
		log_err("cluster: redis \"%s\": %s", cc->redis, why);
		return -1;
	}
	settings_free(bp);
	bp->redis = dup_or_null(cc->redis);
	bp->user = dup_or_null(cc->user);
	bp->password = dup_or_null(cc->password);
	bp->prefix = dup_or_null(cc->prefix != NULL ? cc->prefix :
	    WSD_CLUSTER_PREFIX_DEFAULT);
	bp->prefixlen = strlen(bp->prefix);
	bp->max_pending = cc->max_pending > 0 ? cc->max_pending :
	    WSD_CLUSTER_MAX_PENDING_DEFAULT;
	return 0;
}

static bool
settings_same(const struct backplane *bp, const struct wsd_cluster_conf *cc)
{
	return same(bp->redis, cc->redis) && same(bp->user, cc->user) &&
	    same(bp->password, cc->password) &&
	    same(bp->prefix, cc->prefix != NULL ? cc->prefix :
	    WSD_CLUSTER_PREFIX_DEFAULT);
}

/* Both links back to the start: no context, connecting now. */
static void
links_restart(struct backplane *bp)
{
	link_close(&bp->sub);
	link_close(&bp->pub);
	bp->sub.backoff_ms = bp->pub.backoff_ms = BACKOFF_MIN_MS;
	bp->st.connected = false;
	bp->outage = false;
	bp->ever_up = false;
	arm(bp->sub.timer, 0);
	arm(bp->pub.timer, 0);
}

static void
backplane_free(struct backplane *bp)
{
	if (bp == NULL)
		return;
	link_close(&bp->sub);
	link_close(&bp->pub);
	if (bp->sub.timer != NULL)
		event_free(bp->sub.timer);
	if (bp->pub.timer != NULL)
		event_free(bp->pub.timer);
	if (bp->drop_timer != NULL) {
		/* An episode still open is reported, not lost. */
		if (evtimer_pending(bp->drop_timer, NULL))
			drops_report(bp);
		event_free(bp->drop_timer);
	}
	settings_free(bp);
	free(bp);
}

int
backplane_configure(struct server *srv, const struct wsd_cluster_conf *cc)
{
	struct backplane *bp = srv->backplane;

	if (cc == NULL || cc->redis == NULL) {
		if (bp != NULL)
			log_notice("Redis at %s: no longer used", bp->redis);
		backplane_stop(srv);
		return 0;
	}
	if (bp != NULL) {
		bp->max_pending = cc->max_pending > 0 ? cc->max_pending :
		    WSD_CLUSTER_MAX_PENDING_DEFAULT;
		if (settings_same(bp, cc))
			return 0;
		log_notice("Redis at %s: settings changed; reconnecting to %s",
		    bp->redis, cc->redis);
		if (settings_take(bp, cc) == -1)
			return -1;
		links_restart(bp);
		return 0;
	}

	if ((bp = calloc(1, sizeof(*bp))) == NULL) {
		log_err("backplane: out of memory");
		return -1;
	}
	bp->srv = srv;
	/* Every worker of a node maps a node id of 0 the same way. */
	bp->node = worker_self.shm != NULL ? worker_self.shm->node_id :
	    random_node();
	if (bp->node == 0)
		bp->node = 1;	/* 0 is for backends (wsd.conf(5)) */
	if (settings_take(bp, cc) == -1 ||
	    link_init(bp, &bp->sub, "subscriber") == -1 ||
	    link_init(bp, &bp->pub, "publisher") == -1 ||
	    (bp->drop_timer = evtimer_new(srv->base, drop_timer_cb, bp)) ==
	    NULL) {
		log_err("backplane: out of memory");
		backplane_free(bp);
		return -1;
	}
	srv->backplane = bp;
	links_restart(bp);
	return 0;
}

void
backplane_stop(struct server *srv)
{
	struct backplane *bp = srv->backplane;

	srv->backplane = NULL;
	backplane_free(bp);
}

void
backplane_get_stats(const struct backplane *bp, struct backplane_stats *st)
{
	if (bp == NULL) {
		memset(st, 0, sizeof(*st));
		return;
	}
	*st = bp->st;
}

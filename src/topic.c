/*
 * topic: the topics of one worker; see topic.h.
 *
 * A topic is a name and the list of this worker's connections subscribed
 * to it, found through a chained hash table.  A subscription is one
 * struct topic_sub, on two lists: its topic's (a TAILQ, walked by a
 * delivery) and its connection's (c->subs, singly linked, walked on
 * unsubscribe and close; at most TOPIC_SUBS_MAX long).  A topic exists
 * while it has subscribers, or while a delivery walks it.
 *
 * A delivery encodes the frame once and hands it to each subscriber with
 * conn_send_shared(), which never frees a connection and runs no plugin
 * code, so nothing should change the list under the walk.  Should that
 * ever change, the walk is safe anyway: while a topic is being walked
 * (t->busy), an unsubscribed entry is only marked dead and unlinked by
 * the walk's end, and the topic itself is not freed.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <sys/random.h>
#include <unistd.h>

#include <wsd/plugin.h>

#include "conn_priv.h"
#include "log.h"
#include "metrics.h"
#include "peers.h"
#include "route.h"
#include "server.h"
#include "topic.h"
#include "utf8.h"
#include "backplane.h"

/* Subscriptions one connection may hold (plugin.h says so). */
#define TOPIC_SUBS_MAX		WSD_TOPIC_SUBS_MAX
/* Hash buckets at first; doubled whenever topics outnumber them. */
#define TOPIC_BUCKETS_MIN	64

struct topic_sub {
	struct topic		*topic;
	struct conn		*conn;		/* NULL once dead */
	TAILQ_ENTRY(topic_sub)	 tlink;		/* topic->subs */
	struct topic_sub	*cnext;		/* conn->subs */
	bool			 dead;		/* unlinked after the walk */
};
TAILQ_HEAD(topic_sub_list, topic_sub);

struct topic {
	struct topic		*hnext;		/* hash chain */
	uint32_t		 hash;
	struct topic_sub_list	 subs;
	size_t			 count;		/* live subscriptions */
	size_t			 ndead;		/* dead ones still linked */
	unsigned		 busy;		/* deliveries walking subs */
	size_t			 nlen;
	char			 name[];	/* NUL terminated too */
};

struct topics {
	struct topic		**bucket;
	size_t			 nbuckets;	/* a power of two */
	size_t			 ntopics;
	uint32_t		 seed;		/* against chosen collisions */
};

/* One server per process: topic_publish() only knows the route. */
static struct server *topics_srv;

static uint32_t
topic_hash(const struct topics *ts, const char *name, size_t nlen)
{
	uint32_t h = 2166136261u ^ ts->seed;
	size_t i;

	/* FNV-1a, seeded per process; then a final avalanche. */
	for (i = 0; i < nlen; i++) {
		h ^= (uint8_t)name[i];
		h *= 16777619u;
	}
	h ^= h >> 16;
	h *= 0x85ebca6bu;
	h ^= h >> 13;
	return h;
}

int
topics_init(struct server *srv)
{
	struct topics *ts;

	if ((ts = calloc(1, sizeof(*ts))) == NULL)
		return -1;
	if ((ts->bucket = calloc(TOPIC_BUCKETS_MIN,
	    sizeof(*ts->bucket))) == NULL) {
		free(ts);
		return -1;
	}
	ts->nbuckets = TOPIC_BUCKETS_MIN;
	if (getrandom(&ts->seed, sizeof(ts->seed), GRND_NONBLOCK) !=
	    (ssize_t)sizeof(ts->seed))
		ts->seed = (uint32_t)(uintptr_t)ts ^ (uint32_t)getpid();
	srv->topics = ts;
	topics_srv = srv;
	if (peers_init(srv) == -1) {
		topics_fini(srv);
		return -1;
	}
	return 0;
}

static void
topic_free_subs(struct topic *t)
{
	struct topic_sub *s;

	while ((s = TAILQ_FIRST(&t->subs)) != NULL) {
		TAILQ_REMOVE(&t->subs, s, tlink);
		/* Connections are gone by now; never leave a dangling list. */
		if (s->conn != NULL)
			s->conn->subs = NULL;
		free(s);
	}
}

void
topics_fini(struct server *srv)
{
	struct topics *ts = srv->topics;
	struct topic *t, *next;
	size_t i;

	peers_fini(srv);
	if (ts == NULL)
		return;
	for (i = 0; i < ts->nbuckets; i++)
		for (t = ts->bucket[i]; t != NULL; t = next) {
			next = t->hnext;
			topic_free_subs(t);
			free(t);
		}
	free(ts->bucket);
	free(ts);
	srv->topics = NULL;
	if (topics_srv == srv)
		topics_srv = NULL;
}

size_t
topic_name_len(const char *name)
{
	size_t n;

	if (name == NULL)
		return 0;
	for (n = 0; name[n] != '\0'; n++)
		if ((unsigned char)name[n] < 0x21 ||
		    (unsigned char)name[n] > 0x7e || n >= WSD_TOPIC_MAX)
			return 0;
	return n;
}

static struct topic *
topic_find(struct topics *ts, const char *name, size_t nlen, uint32_t h)
{
	struct topic *t;

	for (t = ts->bucket[h & (ts->nbuckets - 1)]; t != NULL; t = t->hnext)
		if (t->hash == h && t->nlen == nlen &&
		    memcmp(t->name, name, nlen) == 0)
			return t;
	return NULL;
}

/* More topics than buckets: double them (without memory, chains grow). */
static void
topics_grow(struct topics *ts)
{
	struct topic **nb, *t, *next;
	size_t n = ts->nbuckets * 2, i;

	if (n > SIZE_MAX / sizeof(*nb) || (nb = calloc(n, sizeof(*nb))) == NULL)
		return;
	for (i = 0; i < ts->nbuckets; i++)
		for (t = ts->bucket[i]; t != NULL; t = next) {
			next = t->hnext;
			t->hnext = nb[t->hash & (n - 1)];
			nb[t->hash & (n - 1)] = t;
		}
	free(ts->bucket);
	ts->bucket = nb;
	ts->nbuckets = n;
}

static struct topic *
topic_new(struct topics *ts, const char *name, size_t nlen, uint32_t h)
{
	struct topic *t;
	size_t b;

	if ((t = calloc(1, sizeof(*t) + nlen + 1)) == NULL)
		return NULL;
	t->hash = h;
	TAILQ_INIT(&t->subs);
	t->nlen = nlen;
	memcpy(t->name, name, nlen);
	if (ts->ntopics >= ts->nbuckets)
		topics_grow(ts);
	b = h & (ts->nbuckets - 1);
	t->hnext = ts->bucket[b];
	ts->bucket[b] = t;
	ts->ntopics++;
	return t;
}

/* Unhook an unused topic (no subscriber, no walk) and free it. */
static void
topic_release(struct topics *ts, struct topic *t)
{
	struct topic **pp;

	if (t->count > 0 || t->busy > 0)
		return;
	for (pp = &ts->bucket[t->hash & (ts->nbuckets - 1)]; *pp != NULL;
	    pp = &(*pp)->hnext)
		if (*pp == t) {
			*pp = t->hnext;
			break;
		}
	ts->ntopics--;
	topic_free_subs(t);
	free(t);
}

int
topic_subscribe(struct conn *c, const char *name)
{
	struct server *srv = c->srv;
	struct topics *ts = srv->topics;
	struct topic_sub *s;
	struct topic *t;
	size_t nlen, n = 0;
	uint32_t h;

	if (ts == NULL || c->state != CONN_OPEN ||
	    (nlen = topic_name_len(name)) == 0)
		return -1;
	h = topic_hash(ts, name, nlen);
	t = topic_find(ts, name, nlen, h);
	for (s = c->subs; s != NULL; s = s->cnext, n++)
		if (t != NULL && s->topic == t)
			return 0;
	if (n >= TOPIC_SUBS_MAX) {
		log_notice("conn %llu %s: subscriptions limit (%d) reached",
		    (unsigned long long)c->id, c->remote, TOPIC_SUBS_MAX);
		return -1;
	}
	if ((s = calloc(1, sizeof(*s))) == NULL)
		return -1;
	if (t == NULL && (t = topic_new(ts, name, nlen, h)) == NULL) {
		free(s);
		return -1;
	}
	s->topic = t;
	s->conn = c;
	TAILQ_INSERT_TAIL(&t->subs, s, tlink);
	s->cnext = c->subs;
	c->subs = s;
	if (t->count == 0 && srv->backplane != NULL)
		backplane_subscribe(srv->backplane, t->name, t->nlen);
	t->count++;
	return 0;
}

/* s is already off its connection's list. */
static void
sub_remove(struct server *srv, struct topic_sub *s)
{
	struct topic *t = s->topic;

	if (t->busy > 0) {
		s->dead = true;
		s->conn = NULL;
		t->ndead++;
	} else {
		TAILQ_REMOVE(&t->subs, s, tlink);
		free(s);
	}
	if (--t->count > 0)
		return;
	if (srv->backplane != NULL)
		backplane_unsubscribe(srv->backplane, t->name, t->nlen);
	topic_release(srv->topics, t);
}

int
topic_unsubscribe(struct conn *c, const char *name)
{
	struct topic_sub **pp, *s;
	size_t nlen;

	if (c->srv->topics == NULL || (nlen = topic_name_len(name)) == 0)
		return -1;
	for (pp = &c->subs; (s = *pp) != NULL; pp = &s->cnext)
		if (s->topic->nlen == nlen &&
		    memcmp(s->topic->name, name, nlen) == 0) {
			*pp = s->cnext;
			sub_remove(c->srv, s);
			return 0;
		}
	return -1;
}

void
topic_conn_closed(struct conn *c)
{
	struct topic_sub *s;

	while ((s = c->subs) != NULL) {
		c->subs = s->cnext;
		sub_remove(c->srv, s);
	}
}

/* The topic of that name if it has subscribers here, else NULL. */
static struct topic *
topic_with_subs(struct topics *ts, const char *name, size_t nlen)
{
	struct topic *t;

	if (ts == NULL || nlen == 0 ||
	    (t = topic_find(ts, name, nlen, topic_hash(ts, name, nlen))) ==
	    NULL || t->count == 0)
		return NULL;
	return t;
}

/* Frame f to every subscriber of t; the caller's hold on t is let go. */
static size_t
deliver_frame(struct topics *ts, struct topic *t, struct shared_frame *f)
{
	struct topic_sub *s, *next;
	size_t n = 0;

	TAILQ_FOREACH(s, &t->subs, tlink)
		if (!s->dead && conn_send_shared(s->conn, f))
			n++;
	t->busy--;
	metrics.recipients += n;
	if (t->busy == 0 && t->ndead > 0) {
		for (s = TAILQ_FIRST(&t->subs); s != NULL; s = next) {
			next = TAILQ_NEXT(s, tlink);
			if (s->dead) {
				TAILQ_REMOVE(&t->subs, s, tlink);
				free(s);
			}
		}
		t->ndead = 0;
	}
	topic_release(ts, t);
	shared_frame_done(f);
	return n;
}

size_t
topic_deliver(struct server *srv, const char *name, size_t nlen, int opcode,
    const void *data, size_t len)
{
	struct topics *ts = srv->topics;
	struct shared_frame *f;
	struct topic *t;

	if ((t = topic_with_subs(ts, name, nlen)) == NULL)
		return 0;
	if ((f = shared_frame_new(opcode, data, len)) == NULL) {
		log_warn("topic %.*s: out of memory, a message is lost",
		    (int)nlen, name);
		return 0;
	}
	t->busy++;
	return deliver_frame(ts, t, f);
}

int
topic_publish(struct route *r, const char *name, int opcode,
    const void *data, size_t len)
{
	struct server *srv = topics_srv;
	struct shared_frame *f = NULL;
	struct topic *t;
	size_t nlen;

	if (srv == NULL || r == NULL || (nlen = topic_name_len(name)) == 0)
		return -1;
	if ((opcode != WSD_TEXT && opcode != WSD_BINARY) ||
	    (len > 0 && data == NULL))
		return -1;
	if (len > r->conf->limits.max_message_size)
		return -1;
	if (opcode == WSD_TEXT && !conn_text_known_valid(srv->cs, data, len) &&
	    !utf8_valid(data, len))
		return -1;
	/*
	 * The frame for this worker's subscribers first: without memory for
	 * it the publish fails as a whole (the plugin hears -1), rather than
	 * reaching the other workers and not these.
	 */
	if ((t = topic_with_subs(srv->topics, name, nlen)) != NULL) {
		if ((f = shared_frame_new(opcode, data, len)) == NULL)
			return -1;
		t->busy++;
	}
	metrics.publishes++;
	metrics.deliveries[MSRC_LOCAL]++;
	/* The others first: they deliver while this worker does. */
	peers_publish(srv->peers, name, nlen, opcode, data, len);
	if (srv->backplane != NULL)
		backplane_publish(srv->backplane, name, nlen, opcode, data,
		    len);
	if (t != NULL)
		deliver_frame(srv->topics, t, f);
	return 0;
}

void
topic_foreach_name(struct server *srv,
    void (*fn)(const char *name, size_t nlen, void *arg), void *arg)
{
	struct topics *ts = srv->topics;
	struct topic *t;
	size_t i;

	if (ts == NULL)
		return;
	for (i = 0; i < ts->nbuckets; i++)
		for (t = ts->bucket[i]; t != NULL; t = t->hnext)
			if (t->count > 0)
				fn(t->name, t->nlen, arg);
}

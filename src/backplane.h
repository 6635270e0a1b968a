/*
 * backplane: topics across wsd nodes through Redis pub/sub (hiredis and
 * its libevent adapter; never a blocking call on the loop).  Each worker
 * keeps two Redis connections, one subscribed to the channels of the
 * topics it has subscribers for, one to publish on.
 */
#ifndef WSD_BACKPLANE_H
#define WSD_BACKPLANE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct server;
struct backplane;
struct wsd_cluster_conf;

/*
 * Start (or, on reload, reconfigure) srv->backplane from cc; nothing when
 * cc configures no Redis.  Connecting happens in the background.
 * Returns 0 or -1 (out of memory).
 */
int		 backplane_configure(struct server *srv,
		    const struct wsd_cluster_conf *cc);
void		 backplane_stop(struct server *srv);

/* topic.c: the first subscriber of a topic came, the last one left. */
void		 backplane_subscribe(struct backplane *bp, const char *name,
		    size_t nlen);
void		 backplane_unsubscribe(struct backplane *bp, const char *name,
		    size_t nlen);
/* topic.c: a local publish, for the other nodes. */
void		 backplane_publish(struct backplane *bp, const char *name,
		    size_t nlen, int opcode, const void *data, size_t len);

/*
 * Counters of one worker's backplane since it was configured (kept
 * across reloads that change its settings), for metrics.
 */
struct backplane_stats {
	uint64_t	published;	/* PUBLISH handed to hiredis */
	uint64_t	publish_errors;	/* answered with an error */
	uint64_t	received;	/* messages on our channels */
	uint64_t	delivered;	/* of those, handed to topic_deliver */
	uint64_t	own;		/* of those, ours: ignored */
	uint64_t	dropped_down;	/* publishes while Redis was unreachable */
	uint64_t	dropped_full;	/* publishes over max_pending */
	uint64_t	dropped_too_big;   /* from Redis, > max_message_size */
	uint64_t	dropped_bad_utf8;  /* from Redis, text not UTF-8 */
	uint64_t	dropped_bad_envelope; /* from Redis, 0xFF but no envelope */
	uint64_t	pending;	/* bytes published, not yet answered */
	uint64_t	reconnects;	/* ready again after losing Redis */
	bool		connected;	/* both connections ready */
};

/* A copy of bp's counters; all zero when bp is NULL (no backplane). */
void		 backplane_get_stats(const struct backplane *bp,
		    struct backplane_stats *st);

#endif /* WSD_BACKPLANE_H */

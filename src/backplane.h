/*
 * backplane: topics across wsd nodes through Redis pub/sub (hiredis and
 * its libevent adapter; never a blocking call on the loop).  Each worker
 * keeps two Redis connections, one subscribed to the channels of the
 * topics it has subscribers for, one to publish on.
 */
#ifndef WSD_BACKPLANE_H
#define WSD_BACKPLANE_H

#include <stddef.h>

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

#endif /* WSD_BACKPLANE_H */

/*
 * topic: publish/subscribe topics of one worker.  A topic is a name and
 * the connections of this worker subscribed to it; a publish is
 * delivered here, handed to the other workers of the node (peers.h) and
 * to the Redis backplane (backplane.h) if one is configured.
 */
#ifndef WSD_TOPIC_H
#define WSD_TOPIC_H

#include <stdbool.h>
#include <stddef.h>

struct server;
struct conn;
struct route;

/*
 * srv->topics (and the peer mesh in a worker).  One server per process:
 * topic.c remembers srv.  Returns 0 or -1.
 */
int		 topics_init(struct server *srv);
void		 topics_fini(struct server *srv);

/* 1 to WSD_TOPIC_MAX bytes of 0x21..0x7e: returns its length, or 0. */
size_t		 topic_name_len(const char *name);

/* Host calls (host.c).  0 or -1, as plugin.h documents. */
int		 topic_subscribe(struct conn *c, const char *name);
int		 topic_unsubscribe(struct conn *c, const char *name);
int		 topic_publish(struct route *r, const char *name, int opcode,
		    const void *data, size_t len);

/* conn.c: c is closing; end its subscriptions. */
void		 topic_conn_closed(struct conn *c);

/*
 * Deliver a message to this worker's subscribers only (from a peer or
 * the backplane; the data is already checked).  Returns how many.
 */
size_t		 topic_deliver(struct server *srv, const char *name,
		    size_t nlen, int opcode, const void *data, size_t len);

/* Call fn for every topic with a subscriber here (backplane resubscribe). */
void		 topic_foreach_name(struct server *srv,
		    void (*fn)(const char *name, size_t nlen, void *arg),
		    void *arg);

#endif /* WSD_TOPIC_H */

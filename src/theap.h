/*
 * theap: a binary min-heap of deadlines, the one timer of a worker's
 * connections.
 *
 * A libevent timer is a struct event (128 bytes) per connection, plus
 * its slot in libevent's own heap; a connection only ever waits for one
 * deadline at a time (the handshake, the keepalive, the close), so the
 * server keeps them all here and arms one libevent timer for the
 * earliest.  The node lives inside its owner; the heap holds pointers to
 * nodes and keeps each node's place in it, so that a deadline moves or
 * goes in O(log n).  Pure logic: no clock, no I/O.
 */
#ifndef WSD_THEAP_H
#define WSD_THEAP_H

#include <stdbool.h>
#include <stdint.h>

struct theap_node {
	uint64_t		 when;	/* the deadline, in the caller's unit */
	uint32_t		 idx;	/* 1 + place in the heap; 0: not in it */
};

struct theap {
	struct theap_node	**v;
	uint32_t		 n, cap;
};

/* An empty heap (zeroed memory is one too). */
void	 theap_init(struct theap *h);
/* Let go of the array; the nodes are their owners'. */
void	 theap_free(struct theap *h);
/*
 * Put nd in the heap with deadline when, or move it there if it is in
 * already.  -1: no memory to grow the heap (nd is then unchanged: not in
 * the heap if it was not, in it with its old deadline if it was).
 */
int	 theap_set(struct theap *h, struct theap_node *nd, uint64_t when);
/* Take nd out of the heap; nothing if it is not in it. */
void	 theap_del(struct theap *h, struct theap_node *nd);

/* The earliest deadline's node, or NULL if the heap is empty. */
static inline struct theap_node *
theap_top(const struct theap *h)
{
	return h->n > 0 ? h->v[0] : NULL;
}

static inline bool
theap_armed(const struct theap_node *nd)
{
	return nd->idx != 0;
}

#endif /* WSD_THEAP_H */

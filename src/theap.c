/*
 * theap: see theap.h.
 */
#include <stdlib.h>

#include "theap.h"

/* The least capacity the array keeps once it has grown. */
#define THEAP_MIN	64

void
theap_init(struct theap *h)
{
	h->v = NULL;
	h->n = h->cap = 0;
}

void
theap_free(struct theap *h)
{
	uint32_t i;

	for (i = 0; i < h->n; i++)
		h->v[i]->idx = 0;
	free(h->v);
	theap_init(h);
}

static void
place(struct theap *h, uint32_t i, struct theap_node *nd)
{
	h->v[i] = nd;
	nd->idx = i + 1;
}

/* Move the node at i up to where its deadline belongs. */
static void
sift_up(struct theap *h, uint32_t i)
{
	struct theap_node *nd = h->v[i];

	while (i > 0) {
		uint32_t parent = (i - 1) / 2;

		if (h->v[parent]->when <= nd->when)
			break;
		place(h, i, h->v[parent]);
		i = parent;
	}
	place(h, i, nd);
}

/* Move the node at i down to where its deadline belongs. */
static void
sift_down(struct theap *h, uint32_t i)
{
	struct theap_node *nd = h->v[i];

	for (;;) {
		uint32_t l = 2 * i + 1, m;

		if (l >= h->n)
			break;
		m = l + 1 < h->n && h->v[l + 1]->when < h->v[l]->when ?
		    l + 1 : l;
		if (nd->when <= h->v[m]->when)
			break;
		place(h, i, h->v[m]);
		i = m;
	}
	place(h, i, nd);
}

int
theap_set(struct theap *h, struct theap_node *nd, uint64_t when)
{
	uint64_t old;

	if (nd->idx != 0) {
		old = nd->when;
		nd->when = when;
		if (when < old)
			sift_up(h, nd->idx - 1);
		else if (when > old)
			sift_down(h, nd->idx - 1);
		return 0;
	}
	if (h->n == h->cap) {
		struct theap_node **v;
		uint32_t cap = h->cap < THEAP_MIN ? THEAP_MIN : h->cap * 2;

		if (cap <= h->cap ||
		    (v = realloc(h->v, (size_t)cap * sizeof(*v))) == NULL)
			return -1;
		h->v = v;
		h->cap = cap;
	}
	nd->when = when;
	place(h, h->n++, nd);
	sift_up(h, h->n - 1);
	return 0;
}

void
theap_del(struct theap *h, struct theap_node *nd)
{
	uint32_t i;
	struct theap_node *last;

	if (nd->idx == 0)
		return;
	i = nd->idx - 1;
	nd->idx = 0;
	last = h->v[--h->n];
	if (i < h->n) {
		/* The last node fills the hole, then finds its place. */
		place(h, i, last);
		if (i > 0 && h->v[(i - 1) / 2]->when > last->when)
			sift_up(h, i);
		else
			sift_down(h, i);
	}
	/* Give back most of a heap that held many more than it does now. */
	if (h->cap > THEAP_MIN && h->n < h->cap / 4) {
		struct theap_node **v = realloc(h->v,
		    (size_t)(h->cap / 2) * sizeof(*v));

		if (v != NULL) {
			h->v = v;
			h->cap /= 2;
		}
	}
}

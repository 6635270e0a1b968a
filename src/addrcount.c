/*
 * addrcount: see addrcount.h.
 */
#include <netinet/in.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "addrcount.h"

#define NBUCKETS	1024	/* a power of two */

struct addrcount_entry {
	uint8_t			 key[16];	/* IPv6, or v4-mapped */
	uint32_t		 count;
	uint32_t		 bucket;
	struct addrcount_entry	*next;
};

struct addrcount {
	struct addrcount_entry	*b[NBUCKETS];
	size_t			 n;
};

struct addrcount *
addrcount_new(void)
{
	return calloc(1, sizeof(struct addrcount));
}

void
addrcount_free(struct addrcount *t)
{
	struct addrcount_entry *e, *next;
	size_t i;

	if (t == NULL)
		return;
	for (i = 0; i < NBUCKETS; i++)
		for (e = t->b[i]; e != NULL; e = next) {
			next = e->next;
			free(e);
		}
	free(t);
}

/* The 16-byte key of sa's address; false for other families. */
static bool
key_of(const struct sockaddr *sa, uint8_t key[16])
{
	if (sa->sa_family == AF_INET6) {
		memcpy(key, &((const struct sockaddr_in6 *)(const void *)sa)->
		    sin6_addr, 16);
		return true;
	}
	if (sa->sa_family == AF_INET) {
		memset(key, 0, 10);
		key[10] = key[11] = 0xff;
		memcpy(key + 12, &((const struct sockaddr_in *)(const void *)
		    sa)->sin_addr, 4);
		return true;
	}
	return false;
}

static uint32_t
bucket_of(const uint8_t key[16])
{
	uint32_t h = 2166136261u;
	int i;

	for (i = 0; i < 16; i++)
		h = (h ^ key[i]) * 16777619u;
	return h & (NBUCKETS - 1);
}

static struct addrcount_entry *
find(const struct addrcount *t, const uint8_t key[16], uint32_t bucket)
{
	struct addrcount_entry *e;

	for (e = t->b[bucket]; e != NULL; e = e->next)
		if (memcmp(e->key, key, 16) == 0)
			return e;
	return NULL;
}

int
addrcount_take(struct addrcount *t, const struct sockaddr *sa,
    uint32_t limit, struct addrcount_entry **out)
{
	struct addrcount_entry *e;
	uint8_t key[16];
	uint32_t b;

	*out = NULL;
	if (!key_of(sa, key))
		return 0;
	b = bucket_of(key);
	if ((e = find(t, key, b)) == NULL) {
		if ((e = calloc(1, sizeof(*e))) == NULL)
			return -1;
		memcpy(e->key, key, 16);
		e->bucket = b;
		e->next = t->b[b];
		t->b[b] = e;
		t->n++;
	} else if (limit > 0 && e->count >= limit) {
		return 1;
	}
	e->count++;
	*out = e;
	return 0;
}

void
addrcount_put(struct addrcount *t, struct addrcount_entry *e)
{
	struct addrcount_entry **pp;

	if (e == NULL || --e->count > 0)
		return;
	for (pp = &t->b[e->bucket]; *pp != e; pp = &(*pp)->next)
		;
	*pp = e->next;
	t->n--;
	free(e);
}

uint32_t
addrcount_get(const struct addrcount *t, const struct sockaddr *sa)
{
	const struct addrcount_entry *e;
	uint8_t key[16];

	if (!key_of(sa, key))
		return 0;
	e = find(t, key, bucket_of(key));
	return e != NULL ? e->count : 0;
}

size_t
addrcount_size(const struct addrcount *t)
{
	return t->n;
}

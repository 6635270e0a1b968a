/*
 * fuzz_peers: the record codec of the stream between workers
 * (peer_record_decode/encode in src/peers.c), with no socket.
 *
 * The first byte of the input chooses the payload limit and how the rest
 * is cut into reads; the rest is a peer stream.  It is decoded twice, as
 * peers.c does it: once whole and once growing by reads of pseudo-random
 * sizes, and both must see the same records and the same failure.  Each
 * decoded record lies inside the input, has a valid opcode and name and
 * a payload within the limit, and encodes back to the very bytes it was
 * decoded from.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <wsd/plugin.h>

#include "peers.h"
#include "topic.h"

#include "fuzz_common.h"

#define MAXREC	512

/* peers.c hands records to topic.c, which this target does not link. */
size_t
topic_deliver(struct server *srv, const char *name, size_t nlen, int opcode,
    const void *data, size_t len)
{
	(void)srv;
	(void)name;
	(void)nlen;
	(void)opcode;
	(void)data;
	(void)len;
	abort();
}

struct seen {
	size_t		off[MAXREC], size[MAXREC];
	size_t		n;
	bool		bad;
};

static void
check(const uint8_t *buf, size_t used, const struct peer_record *rec,
    uint64_t maxp)
{
	uint8_t hdr[PEER_HDR_SIZE + WSD_TOPIC_MAX];
	size_t hl, i;

	FUZZ_CHECK(rec->opcode == WSD_TEXT || rec->opcode == WSD_BINARY);
	FUZZ_CHECK(rec->nlen >= 1 && rec->nlen <= WSD_TOPIC_MAX);
	for (i = 0; i < rec->nlen; i++)
		FUZZ_CHECK(rec->name[i] >= 0x21 && rec->name[i] <= 0x7e);
	FUZZ_CHECK(rec->len <= maxp);
	FUZZ_CHECK(fuzz_inside(rec->name, rec->nlen, buf, used));
	FUZZ_CHECK(fuzz_inside(rec->data, rec->len, buf, used));
	hl = peer_record_encode(hdr, rec->opcode, rec->name, rec->nlen,
	    rec->len);
	FUZZ_CHECK(hl == PEER_HDR_SIZE + rec->nlen);
	FUZZ_CHECK(hl + rec->len == used);
	FUZZ_CHECK(memcmp(hdr, buf, hl) == 0);
	FUZZ_CHECK(rec->data == buf + hl);
}

/* Decode buf[0..n) as it arrives in reads; chunk 0: all at once. */
static void
run(const uint8_t *data, size_t n, uint64_t maxp, unsigned chunk,
    struct seen *s)
{
	struct peer_record rec;
	enum peer_decode r;
	size_t have = 0, pos = 0, need, step;
	uint32_t rnd = chunk * 2654435761u + 1;
	uint8_t *b;

	s->n = 0;
	s->bad = false;
	while (pos < n) {
		if (chunk == 0) {
			have = n;
		} else if (have < n) {
			rnd = rnd * 1103515245u + 12345u;
			step = 1 + (rnd >> 16) % chunk;
			have = have + step < n ? have + step : n;
		}
		/* An exact copy, so ASan sees a read past what arrived. */
		b = fuzz_dup(data + pos, have - pos);
		r = peer_record_decode(b, have - pos, maxp, &rec, &need);
		if (r == PEER_OK) {
			FUZZ_CHECK(need <= have - pos);
			check(b, need, &rec, maxp);
			if (s->n < MAXREC) {
				s->off[s->n] = pos;
				s->size[s->n] = need;
			}
			s->n++;
			pos += need;
		}
		free(b);
		if (r == PEER_BAD) {
			s->bad = true;
			return;
		}
		if (r == PEER_MORE) {
			FUZZ_CHECK(need > have - pos);
			if (have == n)
				return;
		}
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const uint64_t limits[] = { 0, 1, 16, 300, 65536, UINT32_MAX };
	struct seen whole, parts;
	uint64_t maxp;
	unsigned chunk;
	size_t i;

	if (size < 1)
		return 0;
	maxp = limits[data[0] % (sizeof(limits) / sizeof(limits[0]))];
	chunk = 1 + (data[0] >> 4);
	run(data + 1, size - 1, maxp, 0, &whole);
	run(data + 1, size - 1, maxp, chunk, &parts);
	FUZZ_CHECK(whole.n == parts.n);
	FUZZ_CHECK(whole.bad == parts.bad);
	for (i = 0; i < whole.n && i < MAXREC; i++) {
		FUZZ_CHECK(whole.off[i] == parts.off[i]);
		FUZZ_CHECK(whole.size[i] == parts.size[i]);
	}
	return 0;
}

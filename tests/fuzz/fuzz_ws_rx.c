/*
 * fuzz_ws_rx: the RFC 6455 receive engine (src/ws_rx.c), with no socket.
 *
 * The first byte of the input chooses the limits and how the rest is cut
 * into reads; the rest is what a client sends after its handshake.  The
 * stream is run through the engine twice, once whole and once in reads
 * of pseudo-random sizes (keeping the unfinished tail, as conn.c does),
 * and both runs must report the same messages, control frames and
 * failure, in the same order (the pieces of a compressed message that
 * comes in fragments or reads are joined to compare it).  Besides: a text message is UTF-8, no
 * message is larger than max_message_size, a control payload is at most
 * 125 bytes, nothing follows a failure or a Close, the engine never
 * says it took more than it was given, and what it holds is freed (LSan).
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "utf8.h"
#include "ws_rx.h"

#include "fuzz_common.h"

#define MAXEV	256

struct ev {
	char		kind;
	uint8_t		op;
	int		code;
	size_t		len;
	uint64_t	hash;
};

struct run {
	struct ev	ev[MAXEV];
	size_t		n;
	bool		over;		/* failed or closed */
	bool		rsv1;		/* permessage-deflate on */
	bool		in_z;		/* pieces of a compressed message */
	uint8_t		z_op;
	size_t		z_len;
	uint64_t	z_hash;
	const struct ws_rx_limits *lim;
};

#define FNV_START	1469598103934665603ULL

static uint64_t
fnv_more(uint64_t h, const uint8_t *p, size_t n)
{
	while (n-- > 0)
		h = (h ^ *p++) * 1099511628211ULL;
	return h;
}

static uint64_t
fnv(const uint8_t *p, size_t n)
{
	uint64_t h = FNV_START;

	while (n-- > 0)
		h = (h ^ *p++) * 1099511628211ULL;
	return h;
}

static int
add(struct run *r, char kind, uint8_t op, int code, const uint8_t *p,
    size_t len)
{
	FUZZ_CHECK(!r->over);
	if (r->n < MAXEV) {
		r->ev[r->n].kind = kind;
		r->ev[r->n].op = op;
		r->ev[r->n].code = code;
		r->ev[r->n].len = len;
		r->ev[r->n].hash = fnv(p, len);
	}
	r->n++;
	return 0;
}

static int
on_message(void *arg, uint8_t op, uint8_t *data, size_t len)
{
	struct run *r = arg;

	FUZZ_CHECK(op == WS_OP_TEXT || op == WS_OP_BINARY);
	FUZZ_CHECK(len <= r->lim->max_message_size);
	if (op == WS_OP_TEXT)
		FUZZ_CHECK(utf8_valid(data, len));
	/* The callee may write to it. */
	if (len > 0)
		data[0] ^= 0;
	return add(r, 'm', op, 0, data, len);
}

static int
on_control(void *arg, uint8_t op, const uint8_t *data, size_t len)
{
	struct run *r = arg;

	FUZZ_CHECK(op == WS_OP_CLOSE || op == WS_OP_PING || op == WS_OP_PONG);
	FUZZ_CHECK(len <= WS_CONTROL_MAX);
	add(r, 'c', op, 0, data, len);
	/* As conn.c does: a Close ends the frames. */
	if (op == WS_OP_CLOSE) {
		r->over = true;
		return 1;
	}
	return 0;
}

static void
on_fail(void *arg, int code, const char *why)
{
	struct run *r = arg;

	FUZZ_CHECK(why != NULL && why[0] != '\0');
	FUZZ_CHECK(code == WS_CLOSE_PROTOCOL_ERROR ||
	    code == WS_CLOSE_INVALID_DATA || code == WS_CLOSE_TOO_BIG ||
	    code == WS_CLOSE_INTERNAL);
	add(r, 'f', 0, code, (const uint8_t *)"", 0);
	r->over = true;
}

/* A compressed message: only with RSV1 allowed, not checked as text. */
static int
on_message_z(void *arg, uint8_t op, uint8_t *data, size_t len)
{
	struct run *r = arg;

	FUZZ_CHECK(r->rsv1);
	FUZZ_CHECK(op == WS_OP_TEXT || op == WS_OP_BINARY);
	FUZZ_CHECK(len <= ws_rx_max_compressed(r->lim->max_message_size));
	return add(r, 'z', op, 0, data, len);
}

/*
 * A piece of a compressed message that is not whole in one read: the
 * pieces are joined (by hash) into one 'z' event at fin, which must be
 * the event on_message_z gives when the same message comes whole.
 */
static int
on_part_z(void *arg, uint8_t op, uint8_t *data, size_t len, bool fin)
{
	struct run *r = arg;

	FUZZ_CHECK(r->rsv1);
	FUZZ_CHECK(op == WS_OP_TEXT || op == WS_OP_BINARY);
	FUZZ_CHECK(len > 0 || fin);
	if (!r->in_z) {
		r->in_z = true;
		r->z_op = op;
		r->z_len = 0;
		r->z_hash = FNV_START;
	}
	FUZZ_CHECK(op == r->z_op);
	r->z_len += len;
	r->z_hash = fnv_more(r->z_hash, data, len);
	FUZZ_CHECK(r->z_len <=
	    ws_rx_max_compressed(r->lim->max_message_size));
	if (len > 0)
		data[0] ^= 0;
	if (!fin)
		return 0;
	r->in_z = false;
	add(r, 'z', op, 0, (const uint8_t *)"", 0);
	if (r->n <= MAXEV) {
		r->ev[r->n - 1].len = r->z_len;
		r->ev[r->n - 1].hash = r->z_hash;
	}
	return 0;
}

static const struct ws_rx_ops ops = {
	on_message, on_control, on_fail, on_message_z, on_part_z
};

/* Feed data[0..len) in reads of sizes drawn from seed. */
static void
run_stream(struct run *r, const uint8_t *data, size_t len, unsigned seed,
    bool whole)
{
	struct ws_rx rx;
	uint8_t *pend = malloc(len > 0 ? len : 1);
	size_t have = 0, off = 0;
	uint32_t x = seed * 2654435761u + 1;

	FUZZ_CHECK(pend != NULL);
	ws_rx_init(&rx);
	rx.rsv1_ok = r->rsv1;
	while (off < len && !r->over) {
		size_t step, used;

		x = x * 1103515245u + 12345u;
		step = whole ? len : 1 + (x >> 16) % (seed & 0x8 ? 7 : 300);
		if (step > len - off)
			step = len - off;
		memcpy(pend + have, data + off, step);
		off += step;
		have += step;
		used = ws_rx_feed(&rx, pend, have, r->lim, &ops, r);
		FUZZ_CHECK(used <= have);
		if (r->over)
			break;
		if (rx.want > 0)
			FUZZ_CHECK(used < have || rx.have_header);
		memmove(pend, pend + used, have - used);
		have -= used;
	}
	ws_rx_free(&rx);
	FUZZ_CHECK(rx.msg == NULL);
	free(pend);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const uint64_t sizes[] = { 0, 64, 1000, 1 << 20 };
	static const uint32_t frags[] = { 1, 2, 16, 1024 };
	struct ws_rx_limits lim;
	struct run *a, *b;
	uint8_t *copy;
	size_t i;

	if (size < 1)
		return 0;
	lim.max_message_size = sizes[data[0] & 3];
	lim.max_fragments = frags[(data[0] >> 2) & 3];
	a = calloc(1, sizeof(*a));
	b = calloc(1, sizeof(*b));
	FUZZ_CHECK(a != NULL && b != NULL);
	a->lim = b->lim = &lim;
	/* Bit 6 (also part of b's split seed): permessage-deflate is on. */
	a->rsv1 = b->rsv1 = (data[0] & 0x40) != 0;
	/* Both runs unmask in place: each gets its own copy. */
	copy = fuzz_dup(data + 1, size - 1);
	run_stream(a, copy, size - 1, 0, true);
	memcpy(copy, data + 1, size - 1);
	run_stream(b, copy, size - 1, data[0] >> 4, false);
	free(copy);

	FUZZ_CHECK(a->n == b->n);
	for (i = 0; i < a->n && i < MAXEV; i++) {
		FUZZ_CHECK(a->ev[i].kind == b->ev[i].kind);
		FUZZ_CHECK(a->ev[i].op == b->ev[i].op);
		FUZZ_CHECK(a->ev[i].code == b->ev[i].code);
		FUZZ_CHECK(a->ev[i].len == b->ev[i].len);
		FUZZ_CHECK(a->ev[i].hash == b->ev[i].hash);
	}
	free(a);
	free(b);
	return 0;
}

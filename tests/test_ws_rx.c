/*
 * Unit tests for the receive engine (src/ws_rx.c): frames in, messages,
 * control frames and failures out, with no socket anywhere.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "ws_rx.h"

#define MAXEV	64

struct event {
	char		kind;		/* 'm' message, 'c' control, 'f' fail */
	uint8_t		op;
	int		code;
	size_t		len;
	uint8_t		data[512];
	const uint8_t	*where;		/* message data's address */
};

struct sink {
	struct event	ev[MAXEV];
	size_t		n;
	int		stop_after;	/* stop once this many events, or 0 */
};

static int
record(struct sink *s, char kind, uint8_t op, const uint8_t *data,
    size_t len)
{
	struct event *e;

	assert_true(s->n < MAXEV);
	e = &s->ev[s->n++];
	e->kind = kind;
	e->op = op;
	e->len = len;
	e->where = data;
	memcpy(e->data, data, len < sizeof(e->data) ? len : sizeof(e->data));
	return s->stop_after > 0 && s->n >= (size_t)s->stop_after;
}

static int
on_message(void *arg, uint8_t op, uint8_t *data, size_t len)
{
	return record(arg, 'm', op, data, len);
}

static int
on_control(void *arg, uint8_t op, const uint8_t *data, size_t len)
{
	return record(arg, 'c', op, data, len);
}

static void
on_fail(void *arg, int code, const char *why)
{
	struct sink *s = arg;

	assert_non_null(why);
	(void)record(s, 'f', 0, (const uint8_t *)"", 0);
	s->ev[s->n - 1].code = code;
}

static int
on_message_z(void *arg, uint8_t op, uint8_t *data, size_t len)
{
	return record(arg, 'z', op, data, len);
}

/* A piece of a compressed message: 'p', code 1 with the last. */
static int
on_part_z(void *arg, uint8_t op, uint8_t *data, size_t len, bool fin)
{
	struct sink *s = arg;
	int stop = record(s, 'p', op, data, len);

	s->ev[s->n - 1].code = fin;
	return stop;
}

static const struct ws_rx_ops ops = {
	on_message, on_control, on_fail, on_message_z, on_part_z
};
static const struct ws_rx_limits lim = { 1 << 20, 16 };

/* Append a masked client frame to buf; returns its length. */
static size_t
frame(uint8_t *buf, bool fin, uint8_t op, const void *payload, size_t len)
{
	static const uint8_t mask[4] = { 0x37, 0xfa, 0x21, 0x3d };
	size_t hl = ws_frame_encode_header(buf, fin, op, len, mask);

	memcpy(buf + hl, payload, len);
	ws_mask(buf + hl, len, mask, 0);
	return hl + len;
}

/* Feed buf in chunks of size step, keeping the unfinished tail. */
static void
feed_chunked(struct ws_rx *rx, const uint8_t *buf, size_t len, size_t step,
    struct sink *s)
{
	uint8_t *pend = malloc(len + 1);
	size_t have = 0, off = 0;

	assert_non_null(pend);
	while (off < len) {
		size_t n = len - off < step ? len - off : step, used;

		memcpy(pend + have, buf + off, n);
		off += n;
		have += n;
		used = ws_rx_feed(rx, pend, have, &lim, &ops, s);
		memmove(pend, pend + used, have - used);
		have -= used;
	}
	assert_int_equal(have, 0);
	free(pend);
}

static void
test_whole_frame_in_place(void **state)
{
	uint8_t buf[64];
	struct ws_rx rx;
	struct sink s = { 0 };
	size_t n;

	(void)state;
	ws_rx_init(&rx);
	n = frame(buf, true, WS_OP_TEXT, "hello", 5);
	assert_int_equal(ws_rx_feed(&rx, buf, n, &lim, &ops, &s), n);
	assert_int_equal(s.n, 1);
	assert_int_equal(s.ev[0].kind, 'm');
	assert_int_equal(s.ev[0].op, WS_OP_TEXT);
	assert_memory_equal(s.ev[0].data, "hello", 5);
	/* Delivered where it lay: no copy. */
	assert_ptr_equal(s.ev[0].where, buf + n - 5);
	assert_null(rx.msg);
	ws_rx_free(&rx);
}

static void
test_partial_frame_wants_rest(void **state)
{
	uint8_t buf[256], payload[100];
	struct ws_rx rx;
	struct sink s = { 0 };
	size_t n;

	(void)state;
	ws_rx_init(&rx);
	memset(payload, 'x', sizeof(payload));
	n = frame(buf, true, WS_OP_BINARY, payload, sizeof(payload));
	/* Header and 10 bytes: the header is taken, 90 more wanted. */
	assert_int_equal(ws_rx_feed(&rx, buf, 2 + 4 + 10, &lim, &ops, &s), 6);
	assert_int_equal(rx.want, 90);
	assert_int_equal(s.n, 0);
	assert_int_equal(ws_rx_feed(&rx, buf + 6, n - 6, &lim, &ops, &s),
	    n - 6);
	assert_int_equal(s.n, 1);
	assert_int_equal(s.ev[0].len, 100);
	ws_rx_free(&rx);
}

static void
test_fragments_with_ping_between(void **state)
{
	uint8_t buf[256];
	struct ws_rx rx;
	struct sink s = { 0 };
	size_t n = 0;

	(void)state;
	ws_rx_init(&rx);
	n += frame(buf + n, false, WS_OP_TEXT, "Hel", 3);
	n += frame(buf + n, true, WS_OP_PING, "p", 1);
	n += frame(buf + n, false, WS_OP_CONT, "lo, ", 4);
	n += frame(buf + n, true, WS_OP_CONT, "w\xc3\xb6rld", 6);
	assert_int_equal(ws_rx_feed(&rx, buf, n, &lim, &ops, &s), n);
	assert_int_equal(s.n, 2);
	assert_int_equal(s.ev[0].kind, 'c');
	assert_int_equal(s.ev[0].op, WS_OP_PING);
	assert_memory_equal(s.ev[0].data, "p", 1);
	assert_int_equal(s.ev[1].kind, 'm');
	assert_int_equal(s.ev[1].op, WS_OP_TEXT);
	assert_int_equal(s.ev[1].len, 13);
	assert_memory_equal(s.ev[1].data, "Hello, w\xc3\xb6rld", 13);
	/* Nothing kept once delivered. */
	assert_null(rx.msg);
	assert_int_equal(rx.msg_op, 0);
	ws_rx_free(&rx);
}

/* Every chunk size gives the same events as the whole buffer at once. */
static void
test_any_chunking_same_result(void **state)
{
	static uint8_t big[300 * 1024];
	uint8_t *buf = malloc(sizeof(big) + 1024);
	size_t n = 0, step;
	static const size_t steps[] = { 1, 2, 3, 7, 13, 100, 4096, 65536,
	    1 << 20 };

	(void)state;
	assert_non_null(buf);
	memset(big, 'b', sizeof(big));
	n += frame(buf + n, true, WS_OP_TEXT, "one", 3);
	n += frame(buf + n, false, WS_OP_BINARY, "ab", 2);
	n += frame(buf + n, true, WS_OP_PONG, "", 0);
	n += frame(buf + n, true, WS_OP_CONT, "cd", 2);
	/* Larger than WS_RX_WAIT_MAX: streamed when it arrives in pieces. */
	n += frame(buf + n, true, WS_OP_BINARY, big, sizeof(big));
	n += frame(buf + n, true, WS_OP_CLOSE, "\x03\xe8", 2);
	for (step = 0; step < sizeof(steps) / sizeof(steps[0]); step++) {
		struct ws_rx rx;
		struct sink s = { 0 };

		ws_rx_init(&rx);
		feed_chunked(&rx, buf, n, steps[step], &s);
		assert_int_equal(s.n, 5);
		assert_int_equal(s.ev[0].kind, 'm');
		assert_memory_equal(s.ev[0].data, "one", 3);
		assert_int_equal(s.ev[1].kind, 'c');
		assert_int_equal(s.ev[1].op, WS_OP_PONG);
		assert_int_equal(s.ev[2].kind, 'm');
		assert_int_equal(s.ev[2].op, WS_OP_BINARY);
		assert_memory_equal(s.ev[2].data, "abcd", 4);
		assert_int_equal(s.ev[3].kind, 'm');
		assert_int_equal(s.ev[3].len, sizeof(big));
		assert_memory_equal(s.ev[3].data, big, sizeof(s.ev[3].data));
		assert_int_equal(s.ev[4].kind, 'c');
		assert_int_equal(s.ev[4].op, WS_OP_CLOSE);
		assert_null(rx.msg);
		ws_rx_free(&rx);
	}
	free(buf);
}

static void
expect_fail(const uint8_t *buf, size_t n, const struct ws_rx_limits *l,
    int code, size_t messages_before)
{
	struct ws_rx rx;
	struct sink s = { 0 };
	uint8_t *copy = malloc(n);

	assert_non_null(copy);
	memcpy(copy, buf, n);
	ws_rx_init(&rx);
	/* A failure reports the whole input taken. */
	assert_int_equal(ws_rx_feed(&rx, copy, n, l, &ops, &s), n);
	assert_int_equal(s.n, messages_before + 1);
	assert_int_equal(s.ev[s.n - 1].kind, 'f');
	assert_int_equal(s.ev[s.n - 1].code, code);
	ws_rx_free(&rx);
	free(copy);
}

static void
test_protocol_errors(void **state)
{
	uint8_t buf[512];
	size_t n;

	(void)state;
	n = frame(buf, true, WS_OP_CONT, "x", 1);
	expect_fail(buf, n, &lim, WS_CLOSE_PROTOCOL_ERROR, 0);

	n = frame(buf, false, WS_OP_TEXT, "x", 1);
	n += frame(buf + n, true, WS_OP_TEXT, "y", 1);
	expect_fail(buf, n, &lim, WS_CLOSE_PROTOCOL_ERROR, 0);

	/* Unmasked client frame. */
	buf[0] = 0x81;
	buf[1] = 0x01;
	buf[2] = 'x';
	expect_fail(buf, 3, &lim, WS_CLOSE_PROTOCOL_ERROR, 0);

	/* Reserved opcode after a good message. */
	n = frame(buf, true, WS_OP_TEXT, "ok", 2);
	n += frame(buf + n, true, 0x3, "x", 1);
	expect_fail(buf, n, &lim, WS_CLOSE_PROTOCOL_ERROR, 1);

	/* Fragmented control frame. */
	n = frame(buf, false, WS_OP_PING, "x", 1);
	expect_fail(buf, n, &lim, WS_CLOSE_PROTOCOL_ERROR, 0);
}

static void
test_limits(void **state)
{
	static const struct ws_rx_limits small = { 10, 3 };
	uint8_t buf[512];
	size_t n;

	(void)state;
	/* Refused from the header alone, before any payload. */
	n = frame(buf, true, WS_OP_BINARY, "01234567890", 11);
	expect_fail(buf, 6, &small, WS_CLOSE_TOO_BIG, 0);
	expect_fail(buf, n, &small, WS_CLOSE_TOO_BIG, 0);

	/* The sum of the fragments counts. */
	n = frame(buf, false, WS_OP_BINARY, "012345", 6);
	n += frame(buf + n, true, WS_OP_CONT, "01234", 5);
	expect_fail(buf, n, &small, WS_CLOSE_TOO_BIG, 0);

	/* Too many fragments, even empty ones. */
	n = frame(buf, false, WS_OP_BINARY, "", 0);
	n += frame(buf + n, false, WS_OP_CONT, "", 0);
	n += frame(buf + n, false, WS_OP_CONT, "", 0);
	n += frame(buf + n, true, WS_OP_CONT, "", 0);
	expect_fail(buf, n, &small, WS_CLOSE_TOO_BIG, 0);

	/* Exactly at the limits is fine. */
	{
		struct ws_rx rx;
		struct sink s = { 0 };

		n = frame(buf, false, WS_OP_BINARY, "01234", 5);
		n += frame(buf + n, false, WS_OP_CONT, "", 0);
		n += frame(buf + n, true, WS_OP_CONT, "56789", 5);
		ws_rx_init(&rx);
		assert_int_equal(ws_rx_feed(&rx, buf, n, &small, &ops, &s), n);
		assert_int_equal(s.n, 1);
		assert_int_equal(s.ev[0].len, 10);
		ws_rx_free(&rx);
	}
}

/* Invalid UTF-8 fails at the fragment that has it, before the last. */
static void
test_utf8_fails_fast_across_fragments(void **state)
{
	uint8_t buf[256];
	struct ws_rx rx;
	struct sink s = { 0 };
	size_t n, first;

	(void)state;
	ws_rx_init(&rx);
	n = frame(buf, false, WS_OP_TEXT, "ok \xe2\x82", 5);	/* split */
	first = n;
	assert_int_equal(ws_rx_feed(&rx, buf, n, &lim, &ops, &s), first);
	assert_int_equal(s.n, 0);
	/* The next fragment goes on with a byte that cannot follow. */
	n = frame(buf, false, WS_OP_CONT, "\x41", 1);
	assert_int_equal(ws_rx_feed(&rx, buf, n, &lim, &ops, &s), n);
	assert_int_equal(s.n, 1);
	assert_int_equal(s.ev[0].kind, 'f');
	assert_int_equal(s.ev[0].code, WS_CLOSE_INVALID_DATA);
	ws_rx_free(&rx);

	/* A message that ends in the middle of a character. */
	memset(&s, 0, sizeof(s));
	n = frame(buf, true, WS_OP_TEXT, "ok \xe2\x82", 5);
	expect_fail(buf, n, &lim, WS_CLOSE_INVALID_DATA, 0);
	n = frame(buf, false, WS_OP_TEXT, "ok \xe2\x82", 5);
	n += frame(buf + n, true, WS_OP_CONT, "", 0);
	expect_fail(buf, n, &lim, WS_CLOSE_INVALID_DATA, 0);

	/* Binary is not checked. */
	n = frame(buf, true, WS_OP_BINARY, "\xff\xfe", 2);
	ws_rx_init(&rx);
	assert_int_equal(ws_rx_feed(&rx, buf, n, &lim, &ops, &s), n);
	assert_int_equal(s.n, 1);
	assert_int_equal(s.ev[0].kind, 'm');
	ws_rx_free(&rx);
}

/*
 * A text frame that is waited for whole (at most WS_RX_WAIT_MAX) and
 * trickles in: the first byte that cannot be UTF-8 fails it at once,
 * with most of the frame still to come; a frame that is valid in every
 * prefix is delivered whole, in place, however it was cut.
 */
static void
test_utf8_fails_fast_inside_a_frame(void **state)
{
	static uint8_t payload[4000], buf[4100];
	struct ws_rx rx;
	struct sink s = { 0 };
	size_t n, hl, i, step;

	(void)state;
	for (i = 0; i < sizeof(payload); i += 4)
		memcpy(payload + i, "\xe2\x82\xac.", 4);	/* "EUR." */
	payload[1001] = 0xff;		/* inside the 251st character */
	n = frame(buf, true, WS_OP_TEXT, payload, sizeof(payload));
	hl = n - sizeof(payload);
	for (step = 1; step <= 600; step += 599) {
		size_t off = 0, have = 0, used;
		uint8_t *pend = malloc(n);

		assert_non_null(pend);
		memset(&s, 0, sizeof(s));
		ws_rx_init(&rx);
		/* Feed until the engine fails; never past byte 1001 + step. */
		while (s.n == 0) {
			size_t k = n - off < step ? n - off : step;

			assert_true(off + k <= hl + 1002 + step);
			memcpy(pend + have, buf + off, k);
			off += k;
			have += k;
			used = ws_rx_feed(&rx, pend, have, &lim, &ops, &s);
			memmove(pend, pend + used, have - used);
			have -= used;
		}
		assert_int_equal(s.n, 1);
		assert_int_equal(s.ev[0].kind, 'f');
		assert_int_equal(s.ev[0].code, WS_CLOSE_INVALID_DATA);
		assert_true(off < n);
		ws_rx_free(&rx);
		free(pend);
	}

	/* Valid throughout: one message, whatever the cuts. */
	payload[1001] = 0x82;
	n = frame(buf, true, WS_OP_TEXT, payload, sizeof(payload));
	for (step = 1; step < n; step = step * 3 + 1) {
		memset(&s, 0, sizeof(s));
		ws_rx_init(&rx);
		feed_chunked(&rx, buf, n, step, &s);
		assert_int_equal(s.n, 1);
		assert_int_equal(s.ev[0].kind, 'm');
		assert_int_equal(s.ev[0].len, sizeof(payload));
		assert_memory_equal(s.ev[0].data, payload, sizeof(s.ev[0].data));
		ws_rx_free(&rx);
	}

	/* Cut in the middle of a character; the frame ends inside another. */
	memset(&s, 0, sizeof(s));
	ws_rx_init(&rx);
	n = frame(buf, true, WS_OP_TEXT, "ab\xe2\x82\xac" "c\xe2", 7);
	assert_int_equal(ws_rx_feed(&rx, buf, n - 3, &lim, &ops, &s),
	    n - 7);
	assert_int_equal(s.n, 0);
	assert_int_equal(ws_rx_feed(&rx, buf + n - 7, 7, &lim, &ops, &s), 7);
	assert_int_equal(s.n, 1);
	assert_int_equal(s.ev[0].kind, 'f');
	ws_rx_free(&rx);
}

/* A callback that asks to stop gets nothing more from that call. */
static void
test_stop(void **state)
{
	uint8_t buf[256];
	struct ws_rx rx;
	struct sink s = { 0 };
	size_t n = 0;

	(void)state;
	n += frame(buf + n, true, WS_OP_TEXT, "a", 1);
	n += frame(buf + n, true, WS_OP_CLOSE, "", 0);
	n += frame(buf + n, true, WS_OP_TEXT, "b", 1);
	s.stop_after = 2;
	ws_rx_init(&rx);
	assert_int_equal(ws_rx_feed(&rx, buf, n, &lim, &ops, &s), n);
	assert_int_equal(s.n, 2);
	assert_int_equal(s.ev[1].op, WS_OP_CLOSE);
	ws_rx_free(&rx);
}

/* A connection that goes away mid-message frees the partial message. */
static void
test_free_mid_message(void **state)
{
	uint8_t buf[256];
	struct ws_rx rx;
	struct sink s = { 0 };
	size_t n;

	(void)state;
	ws_rx_init(&rx);
	n = frame(buf, false, WS_OP_BINARY, "abc", 3);
	assert_int_equal(ws_rx_feed(&rx, buf, n, &lim, &ops, &s), n);
	assert_non_null(rx.msg);
	ws_rx_free(&rx);
	assert_null(rx.msg);
}

/*
 * Feed a copy of buf[0..n) to a new engine: whole in one call, or with
 * its first `first` bytes in an earlier read (the unfinished tail kept,
 * as conn.c does).
 */
static void
feed_split(const uint8_t *buf, size_t n, size_t first,
    const struct ws_rx_limits *l, struct sink *s, uint8_t **copyp)
{
	struct ws_rx rx;
	uint8_t *copy = malloc(n + 1);
	size_t used;

	assert_non_null(copy);
	memcpy(copy, buf, n);
	ws_rx_init(&rx);
	if (first > 0 && first < n) {
		used = ws_rx_feed(&rx, copy, first, l, &ops, s);
		memmove(copy, copy + used, n - used);
		n -= used;
	}
	/* After a failure the owner feeds nothing more. */
	if (s->n == 0 || s->ev[s->n - 1].kind != 'f')
		assert_int_equal(ws_rx_feed(&rx, copy, n, l, &ops, s), n);
	ws_rx_free(&rx);
	if (copyp != NULL)
		*copyp = copy;
	else
		free(copy);
}

static void
assert_same_events(const struct sink *a, const struct sink *b)
{
	size_t i;

	assert_int_equal(a->n, b->n);
	for (i = 0; i < a->n; i++) {
		assert_int_equal(a->ev[i].kind, b->ev[i].kind);
		assert_int_equal(a->ev[i].op, b->ev[i].op);
		assert_int_equal(a->ev[i].code, b->ev[i].code);
		assert_int_equal(a->ev[i].len, b->ev[i].len);
		assert_memory_equal(a->ev[i].data, b->ev[i].data,
		    a->ev[i].len < sizeof(a->ev[i].data) ? a->ev[i].len :
		    sizeof(a->ev[i].data));
	}
}

/*
 * One case: a frame and a Ping after it, whole (the fast
 * path, for a frame it takes) and with the header alone in the first
 * read (the long way).  Both must report the same; expect is what the
 * first frame must give: 'm' (the payload, in place when whole), or
 * 'f' with code.
 */
static void
fast_case(uint8_t op, const uint8_t *payload, size_t len,
    const struct ws_rx_limits *l, char expect, int code)
{
	uint8_t buf[300];
	struct sink whole = { 0 }, split = { 0 };
	uint8_t *copy;
	size_t n, hl;

	n = frame(buf, true, op, payload, len);
	hl = n - len;
	n += frame(buf + n, true, WS_OP_PING, "tail", 4);
	feed_split(buf, n, 0, l, &whole, &copy);
	feed_split(buf, n, hl, l, &split, NULL);
	assert_same_events(&whole, &split);
	assert_true(whole.n >= 1);
	assert_int_equal(whole.ev[0].kind, expect);
	if (expect == 'f') {
		assert_int_equal(whole.ev[0].code, code);
		assert_int_equal(whole.n, 1);	/* nothing after a failure */
	} else {
		assert_int_equal(whole.ev[0].op, op);
		assert_int_equal(whole.ev[0].len, len);
		assert_memory_equal(whole.ev[0].data, payload, len);
		assert_ptr_equal(whole.ev[0].where, copy + hl);
		assert_int_equal(whole.n, 2);
		assert_int_equal(whole.ev[1].kind, 'c');
		assert_int_equal(whole.ev[1].len, 4);
		assert_memory_equal(whole.ev[1].data, "tail", 4);
	}
	free(copy);
}

/*
 * A whole small frame takes a fast path in ws_rx_feed; the same frame
 * whose header came in an earlier read goes the long way.  They must
 * agree on every edge: lengths around the word size and the 7-bit
 * limit (126 is never fast), bad UTF-8 at every place of a text frame,
 * the size and fragment limits at and past the frame.
 */
static void
test_fast_path_same_as_long_way(void **state)
{
	static const size_t lens[] = { 0, 1, 2, 7, 8, 9, 15, 16, 17, 63, 64,
	    65, 124, 125, 126 };
	uint8_t bin[126], text[126], bad[126];
	struct ws_rx_limits l;
	size_t i, k, len;

	(void)state;
	for (i = 0; i < sizeof(bin); i++) {
		bin[i] = (uint8_t)(i * 37 + 11);
		text[i] = (uint8_t)('a' + i % 26);
	}
	/* Two-byte characters across word boundaries. */
	memcpy(text + 6, "\xc3\xa9", 2);
	memcpy(text + 15, "\xc3\xa9", 2);
	for (i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
		len = lens[i];
		l = lim;
		fast_case(WS_OP_BINARY, bin, len, &l, 'm', 0);
		/* text[] is valid where no character is cut in two. */
		if (len != 7 && len != 16)
			fast_case(WS_OP_TEXT, text, len, &l, 'm', 0);
		else
			fast_case(WS_OP_TEXT, text, len, &l, 'f',
			    WS_CLOSE_INVALID_DATA);
		for (k = 0; k < len; k++) {
			memcpy(bad, text, len);
			bad[k] = 0xff;
			fast_case(WS_OP_TEXT, bad, len, &l, 'f',
			    WS_CLOSE_INVALID_DATA);
		}
		if (len >= 2) {
			memcpy(bad, text, len);
			memcpy(bad + len - 2, "\xe2\x82", 2);	/* cut short */
			fast_case(WS_OP_TEXT, bad, len, &l, 'f',
			    WS_CLOSE_INVALID_DATA);
		}
		/* Exactly at the limits, then one past each. */
		l.max_message_size = len;
		l.max_fragments = 1;
		fast_case(WS_OP_BINARY, bin, len, &l, 'm', 0);
		l.max_fragments = 0;
		fast_case(WS_OP_BINARY, bin, len, &l, 'f', WS_CLOSE_TOO_BIG);
		if (len > 0) {
			l.max_fragments = 1;
			l.max_message_size = len - 1;
			fast_case(WS_OP_BINARY, bin, len, &l, 'f',
			    WS_CLOSE_TOO_BIG);
			fast_case(WS_OP_TEXT, text, len > 6 ? 6 : len, &l,
			    len > 6 ? 'm' : 'f', WS_CLOSE_TOO_BIG);
		}
	}
}

/*
 * What the fast path must leave to the long way, whole in one read:
 * an unmasked frame, a text frame inside a fragmented message, a frame
 * with RSV1 when no extension allows it.
 */
static void
test_fast_path_leaves_the_rest(void **state)
{
	uint8_t buf[64];
	size_t n;

	(void)state;
	memcpy(buf, "\x82\x05hello", 7);
	expect_fail(buf, 7, &lim, WS_CLOSE_PROTOCOL_ERROR, 0);
	n = frame(buf, false, WS_OP_BINARY, "ab", 2);
	n += frame(buf + n, true, WS_OP_TEXT, "cd", 2);
	expect_fail(buf, n, &lim, WS_CLOSE_PROTOCOL_ERROR, 0);
	n = frame(buf, true, WS_OP_BINARY, "ab", 2);
	buf[0] |= WS_RSV1_BIT;
	expect_fail(buf, n, &lim, WS_CLOSE_PROTOCOL_ERROR, 0);
	/* A continuation with FIN and nothing before it. */
	n = frame(buf, true, WS_OP_CONT, "ab", 2);
	expect_fail(buf, n, &lim, WS_CLOSE_PROTOCOL_ERROR, 0);
}

/* Run buf through an engine with permessage-deflate on or off. */
static void
feed_rsv1(const uint8_t *buf, size_t n, bool on, const struct ws_rx_limits *l,
    struct sink *s)
{
	struct ws_rx rx;
	uint8_t *copy = malloc(n);

	assert_non_null(copy);
	memcpy(copy, buf, n);
	ws_rx_init(&rx);
	rx.rsv1_ok = on;
	assert_int_equal(ws_rx_feed(&rx, copy, n, l, &ops, s), n);
	ws_rx_free(&rx);
	free(copy);
}

/* RFC 7692 section 6: where RSV1 may appear and what it means. */
static void
test_rsv1(void **state)
{
	static const uint8_t notutf8[] = { 0xff, 0xfe, 0xc0 };
	static const struct ws_rx_limits ten = { 10, 16 };
	uint8_t buf[512];
	struct sink s;
	size_t n;

	(void)state;
	/* Without the extension: 1002. */
	memset(&s, 0, sizeof(s));
	n = frame(buf, true, WS_OP_TEXT, "x", 1);
	buf[0] |= WS_RSV1_BIT;
	feed_rsv1(buf, n, false, &lim, &s);
	assert_int_equal(s.n, 1);
	assert_int_equal(s.ev[0].kind, 'f');
	assert_int_equal(s.ev[0].code, WS_CLOSE_PROTOCOL_ERROR);

	/* With it: a compressed message, not checked as text here. */
	memset(&s, 0, sizeof(s));
	n = frame(buf, true, WS_OP_TEXT, notutf8, sizeof(notutf8));
	buf[0] |= WS_RSV1_BIT;
	n += frame(buf + n, true, WS_OP_TEXT, "plain", 5);
	feed_rsv1(buf, n, true, &lim, &s);
	assert_int_equal(s.n, 2);
	assert_int_equal(s.ev[0].kind, 'z');
	assert_memory_equal(s.ev[0].data, notutf8, sizeof(notutf8));
	assert_int_equal(s.ev[1].kind, 'm');

	/*
	 * Fragmented: RSV1 on the first frame marks the whole message,
	 * which goes out fragment by fragment, the ping in its place.
	 */
	memset(&s, 0, sizeof(s));
	n = frame(buf, false, WS_OP_BINARY, "ab", 2);
	buf[0] |= WS_RSV1_BIT;
	n += frame(buf + n, false, WS_OP_CONT, "cd", 2);
	n += frame(buf + n, true, WS_OP_PING, "p", 1);
	n += frame(buf + n, true, WS_OP_CONT, "e", 1);
	feed_rsv1(buf, n, true, &lim, &s);
	assert_int_equal(s.n, 4);
	assert_int_equal(s.ev[0].kind, 'p');
	assert_int_equal(s.ev[0].op, WS_OP_BINARY);
	assert_int_equal(s.ev[0].code, 0);
	assert_memory_equal(s.ev[0].data, "ab", 2);
	assert_int_equal(s.ev[1].kind, 'p');
	assert_memory_equal(s.ev[1].data, "cd", 2);
	assert_int_equal(s.ev[2].kind, 'c');
	assert_int_equal(s.ev[3].kind, 'p');
	assert_int_equal(s.ev[3].code, 1);
	assert_memory_equal(s.ev[3].data, "e", 1);

	/* On a continuation frame: 1002. */
	memset(&s, 0, sizeof(s));
	n = frame(buf, false, WS_OP_BINARY, "ab", 2);
	buf[0] |= WS_RSV1_BIT;
	n += frame(buf + n, true, WS_OP_CONT, "cd", 2);
	buf[n - 8] |= WS_RSV1_BIT;	/* its header: 2 + 4 bytes, then 2 */
	feed_rsv1(buf, n, true, &lim, &s);
	assert_int_equal(s.n, 2);
	assert_int_equal(s.ev[0].kind, 'p');	/* the first fragment */
	assert_int_equal(s.ev[1].kind, 'f');
	assert_int_equal(s.ev[1].code, WS_CLOSE_PROTOCOL_ERROR);

	/* On a control frame: 1002. */
	memset(&s, 0, sizeof(s));
	n = frame(buf, true, WS_OP_PING, "p", 1);
	buf[0] |= WS_RSV1_BIT;
	feed_rsv1(buf, n, true, &lim, &s);
	assert_int_equal(s.n, 1);
	assert_int_equal(s.ev[0].code, WS_CLOSE_PROTOCOL_ERROR);

	/* RSV2 and RSV3 stay errors. */
	memset(&s, 0, sizeof(s));
	n = frame(buf, true, WS_OP_TEXT, "x", 1);
	buf[0] |= 0x20;
	feed_rsv1(buf, n, true, &lim, &s);
	assert_int_equal(s.ev[0].code, WS_CLOSE_PROTOCOL_ERROR);

	/*
	 * The compressed size may pass max_message_size by the slack
	 * deflate needs (10 + 64 bytes here), not more.
	 */
	memset(&s, 0, sizeof(s));
	memset(buf + 300, 'x', 100);
	n = frame(buf, true, WS_OP_BINARY, buf + 300, 74);
	buf[0] |= WS_RSV1_BIT;
	feed_rsv1(buf, n, true, &ten, &s);
	assert_int_equal(s.ev[0].kind, 'z');
	memset(&s, 0, sizeof(s));
	n = frame(buf, true, WS_OP_BINARY, buf + 300, 75);
	buf[0] |= WS_RSV1_BIT;
	feed_rsv1(buf, n, true, &ten, &s);
	assert_int_equal(s.ev[0].code, WS_CLOSE_TOO_BIG);
}

/*
 * A compressed message in fragments is handed out as it arrives: its
 * first fragment before the rest is even sent (so the owner can inflate
 * and judge it now), a large frame in the pieces it comes in, and the
 * engine holds none of it.
 */
static void
test_compressed_pieces_as_they_come(void **state)
{
	static const struct ws_rx_limits big = { 1 << 20, 16 };
	uint8_t *buf = malloc(WS_RX_WAIT_MAX + 64), *pay;
	struct ws_rx rx;
	struct sink s;
	size_t n, plen = WS_RX_WAIT_MAX + 1, used, off;

	(void)state;
	assert_non_null(buf);
	memset(&s, 0, sizeof(s));
	ws_rx_init(&rx);
	rx.rsv1_ok = true;
	n = frame(buf, false, WS_OP_TEXT, "\xff\xfe", 2);
	buf[0] |= WS_RSV1_BIT;
	n += frame(buf + n, true, WS_OP_PING, "p", 1);
	n += frame(buf + n, false, WS_OP_CONT, "xy", 2);
	/* Half a frame of the message: its first byte goes out too. */
	n += frame(buf + n, true, WS_OP_CONT, "zw", 2) - 1;
	assert_int_equal(ws_rx_feed(&rx, buf, n, &big, &ops, &s), n);
	assert_int_equal(s.n, 4);
	assert_int_equal(s.ev[0].kind, 'p');
	assert_int_equal(s.ev[0].op, WS_OP_TEXT);
	assert_int_equal(s.ev[0].code, 0);
	assert_memory_equal(s.ev[0].data, "\xff\xfe", 2);
	assert_int_equal(s.ev[1].kind, 'c');
	assert_int_equal(s.ev[2].kind, 'p');
	assert_memory_equal(s.ev[3].data, "z", 1);
	assert_int_equal(s.ev[3].code, 0);
	assert_null(rx.msg);
	ws_rx_free(&rx);

	/* One frame too large to wait for, in two reads. */
	memset(&s, 0, sizeof(s));
	ws_rx_init(&rx);
	rx.rsv1_ok = true;
	pay = malloc(plen);
	assert_non_null(pay);
	memset(pay, 'q', plen);
	n = frame(buf, true, WS_OP_BINARY, pay, plen);
	buf[0] |= WS_RSV1_BIT;
	off = n / 2;
	used = ws_rx_feed(&rx, buf, off, &big, &ops, &s);
	assert_int_equal(used, off);
	assert_int_equal(s.n, 1);
	assert_int_equal(s.ev[0].kind, 'p');
	assert_int_equal(s.ev[0].code, 0);
	assert_null(rx.msg);
	assert_int_equal(ws_rx_feed(&rx, buf + off, n - off, &big, &ops, &s),
	    n - off);
	assert_int_equal(s.n, 2);
	assert_int_equal(s.ev[1].code, 1);
	assert_int_equal(s.ev[0].len + s.ev[1].len, plen);
	assert_null(rx.msg);
	ws_rx_free(&rx);

	/*
	 * A small compressed text frame is not waited for: the half that
	 * came goes out now, so that its inflated text can fail at its
	 * first bad byte.  A binary one is waited for whole, as before,
	 * and either one whole in the buffer is a message_z.
	 */
	for (int op = WS_OP_TEXT; op <= WS_OP_BINARY; op++) {
		memset(&s, 0, sizeof(s));
		ws_rx_init(&rx);
		rx.rsv1_ok = true;
		memset(pay, 'r', 100);
		n = frame(buf, true, (uint8_t)op, pay, 100);
		buf[0] |= WS_RSV1_BIT;
		off = 2 + 4 + 30;
		used = ws_rx_feed(&rx, buf, off, &big, &ops, &s);
		if (op == WS_OP_TEXT) {
			assert_int_equal(used, off);
			assert_int_equal(s.n, 1);
			assert_int_equal(s.ev[0].kind, 'p');
			assert_int_equal(s.ev[0].code, 0);
			assert_int_equal(s.ev[0].len, 30);
			assert_memory_equal(s.ev[0].data, pay, 30);
			assert_int_equal(ws_rx_feed(&rx, buf + off, n - off,
			    &big, &ops, &s), n - off);
			assert_int_equal(s.n, 2);
			assert_int_equal(s.ev[1].kind, 'p');
			assert_int_equal(s.ev[1].code, 1);
			assert_int_equal(s.ev[1].len, 70);
		} else {
			assert_int_equal(used, 6);
			assert_int_equal(s.n, 0);
			assert_int_equal(rx.want, 70);
			assert_int_equal(ws_rx_feed(&rx, buf + 6, n - 6, &big,
			    &ops, &s), n - 6);
			assert_int_equal(s.n, 1);
			assert_int_equal(s.ev[0].kind, 'z');
			assert_int_equal(s.ev[0].len, 100);
		}
		assert_null(rx.msg);
		memset(&s, 0, sizeof(s));
		n = frame(buf, true, (uint8_t)op, pay, 100);
		buf[0] |= WS_RSV1_BIT;
		assert_int_equal(ws_rx_feed(&rx, buf, n, &big, &ops, &s), n);
		assert_int_equal(s.n, 1);
		assert_int_equal(s.ev[0].kind, 'z');
		ws_rx_free(&rx);
	}
	free(pay);
	free(buf);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_whole_frame_in_place),
		cmocka_unit_test(test_compressed_pieces_as_they_come),
		cmocka_unit_test(test_partial_frame_wants_rest),
		cmocka_unit_test(test_fragments_with_ping_between),
		cmocka_unit_test(test_any_chunking_same_result),
		cmocka_unit_test(test_protocol_errors),
		cmocka_unit_test(test_limits),
		cmocka_unit_test(test_utf8_fails_fast_across_fragments),
		cmocka_unit_test(test_utf8_fails_fast_inside_a_frame),
		cmocka_unit_test(test_stop),
		cmocka_unit_test(test_free_mid_message),
		cmocka_unit_test(test_rsv1),
		cmocka_unit_test(test_fast_path_same_as_long_way),
		cmocka_unit_test(test_fast_path_leaves_the_rest),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

/*
 * ws_rx: see ws_rx.h.
 */
#include <stdlib.h>
#include <string.h>

#include "ws_rx.h"

/* A frame's first two bytes, for the fast path in ws_rx_feed. */
#define FIN	0x80
#define MASKED	0x80
#define LEN7	0x7f

static uint8_t empty[1];

void
ws_rx_init(struct ws_rx *rx)
{
	memset(rx, 0, sizeof(*rx));
	rx->utf8 = UTF8_ACCEPT;
}

void
ws_rx_free(struct ws_rx *rx)
{
	free(rx->msg);
	rx->msg = NULL;
	rx->msg_len = rx->msg_cap = 0;
}

/* Make room for n more message bytes (bounded by max_message_size). */
static int
msg_reserve(struct ws_rx *rx, size_t n, const struct ws_rx_limits *lim)
{
	size_t need = rx->msg_len + n, cap;
	uint8_t *m;

	if (need <= rx->msg_cap)
		return 0;
	cap = rx->msg_cap ? rx->msg_cap : 4096;
	while (cap < need)
		cap *= 2;
	if (cap > lim->max_message_size && need <= lim->max_message_size)
		cap = (size_t)lim->max_message_size;
	if ((m = realloc(rx->msg, cap)) == NULL)
		return -1;
	rx->msg = m;
	rx->msg_cap = cap;
	return 0;
}

/* The message is delivered: idle connections keep no reassembly buffer. */
static void
msg_reset(struct ws_rx *rx)
{
	rx->msg_op = 0;
	rx->msg_z = false;
	rx->nfrags = 0;
	rx->utf8 = UTF8_ACCEPT;
	ws_rx_free(rx);
}

/*
 * A new frame header has been parsed: check it against the message in
 * progress and the limits.  Returns 0, or -1 after reporting a failure.
 */
static int
begin_frame(struct ws_rx *rx, const struct ws_rx_limits *lim,
    const struct ws_rx_ops *ops, void *arg)
{
	const struct ws_frame_header *h = &rx->fh;
	uint64_t max;

	/* RFC 7692 section 6: RSV1 marks the first frame of a message. */
	if (h->rsv & WS_RSV1) {
		if (ws_opcode_is_control(h->opcode)) {
			ops->fail(arg, WS_CLOSE_PROTOCOL_ERROR,
			    "RSV1 on a control frame");
			return -1;
		}
		if (h->opcode == WS_OP_CONT) {
			ops->fail(arg, WS_CLOSE_PROTOCOL_ERROR,
			    "RSV1 on a continuation frame");
			return -1;
		}
	}
	if (ws_opcode_is_control(h->opcode))
		return 0;
	if (h->opcode == WS_OP_CONT) {
		if (rx->msg_op == 0) {
			ops->fail(arg, WS_CLOSE_PROTOCOL_ERROR,
			    "continuation frame without a message");
			return -1;
		}
	} else {
		if (rx->msg_op != 0) {
			ops->fail(arg, WS_CLOSE_PROTOCOL_ERROR,
			    "new message inside a fragmented message");
			return -1;
		}
		rx->msg_op = h->opcode;
		rx->msg_z = (h->rsv & WS_RSV1) != 0;
		rx->msg_len = 0;
		rx->nfrags = 0;
		rx->utf8 = UTF8_ACCEPT;
	}
	max = rx->msg_z ? ws_rx_max_compressed(lim->max_message_size) :
	    lim->max_message_size;
	if (h->payload_len > max - rx->msg_len) {
		ops->fail(arg, WS_CLOSE_TOO_BIG, "message too big");
		return -1;
	}
	if (++rx->nfrags > lim->max_fragments) {
		ops->fail(arg, WS_CLOSE_TOO_BIG, "too many fragments");
		return -1;
	}
	return 0;
}

/*
 * The whole text frame at p is waited for and avail of its bytes are
 * here, still masked: check those not checked yet, unmasked into a copy
 * (the frame is unmasked in place only once it is whole).  Returns 0, or
 * -1 at the first byte that cannot be UTF-8.
 */
static int
check_waiting(struct ws_rx *rx, const uint8_t *p, size_t avail)
{
	uint8_t chunk[256];
	size_t off = rx->wait_checked, n;

	while (off < avail) {
		n = avail - off < sizeof(chunk) ? avail - off : sizeof(chunk);
		memcpy(chunk, p + off, n);
		ws_mask(chunk, n, rx->fh.mask, off);
		rx->utf8 = utf8_feed(rx->utf8, chunk, n);
		if (rx->utf8 == UTF8_REJECT)
			return -1;
		off += n;
	}
	rx->wait_checked = off;
	return 0;
}

size_t
ws_rx_feed(struct ws_rx *rx, uint8_t *buf, size_t len,
    const struct ws_rx_limits *lim, const struct ws_rx_ops *ops, void *arg)
{
	struct ws_frame_header *h = &rx->fh;
	size_t pos = 0;

	rx->want = 0;
	for (;;) {
		size_t avail = len - pos;
		uint8_t *p = buf + pos;

		/*
		 * The common case, without the general parser: a whole text
		 * or binary frame with FIN, no RSV bit and a 7-bit length,
		 * masked, outside any message, within the limits.  Anything
		 * else, even a frame the long way would fail, goes the long
		 * way; this one takes the same checks and steps as there.
		 */
		if (!rx->have_header && rx->msg_op == 0 && avail >= 6 &&
		    (p[0] == (FIN | WS_OP_TEXT) || p[0] == (FIN | WS_OP_BINARY)) &&
		    (p[1] & MASKED) != 0 && (p[1] & LEN7) < 126 &&
		    avail - 6 >= (size_t)(p[1] & LEN7) &&
		    (uint64_t)(p[1] & LEN7) <= lim->max_message_size &&
		    lim->max_fragments > 0) {
			uint8_t op = p[0] & 0x0f, *pl = p + 6;
			size_t mlen = p[1] & LEN7;

			ws_mask(pl, mlen, p + 2, 0);
			if (op == WS_OP_TEXT && !utf8_valid(pl, mlen)) {
				ops->fail(arg, WS_CLOSE_INVALID_DATA,
				    "text message is not UTF-8");
				return len;
			}
			pos += 6 + mlen;
			if (ops->message(arg, op, pl, mlen) != 0)
				return len;
			continue;
		}

		if (!rx->have_header) {
			enum ws_frame_result fr;
			size_t n = avail < WS_FRAME_MAX_HEADER ? avail :
			    WS_FRAME_MAX_HEADER;

			if (n < 2)
				return pos;
			fr = ws_frame_parse_header(p, n, true,
			    rx->rsv1_ok ? WS_RSV1 : 0, h);
			if (fr == WS_FRAME_NEED_MORE)
				return pos;
			if (fr != WS_FRAME_OK) {
				ops->fail(arg, ws_frame_error_code(fr),
				    ws_frame_strerror(fr));
				return len;
			}
			if (begin_frame(rx, lim, ops, arg) == -1)
				return len;
			pos += h->header_len;
			p += h->header_len;
			avail -= h->header_len;
			rx->have_header = true;
			rx->frame_off = 0;
			rx->wait_checked = 0;
		}

		if (ws_opcode_is_control(h->opcode)) {
			uint8_t ctl[WS_CONTROL_MAX];
			size_t clen = (size_t)h->payload_len;

			if (avail < clen) {
				rx->want = clen - avail;
				return pos;
			}
			memcpy(ctl, p, clen);
			ws_mask(ctl, clen, h->mask, 0);
			pos += clen;
			rx->have_header = false;
			if (ops->control(arg, h->opcode, ctl, clen) != 0)
				return len;
			continue;
		}

		/* A whole unfragmented message: use it where it lies. */
		if (h->fin && h->opcode != WS_OP_CONT && rx->frame_off == 0) {
			size_t mlen = (size_t)h->payload_len;

			if (avail < h->payload_len) {
				/*
				 * A compressed text frame is not waited
				 * for: its pieces go to part_z below, to be
				 * inflated and checked as they arrive.
				 */
				if (h->payload_len <= WS_RX_WAIT_MAX &&
				    !(rx->msg_z && h->opcode == WS_OP_TEXT)) {
					if (h->opcode == WS_OP_TEXT &&
					    check_waiting(rx, p, avail) == -1) {
						ops->fail(arg,
						    WS_CLOSE_INVALID_DATA,
						    "text message is not UTF-8");
						return len;
					}
					rx->want = mlen - avail;
					return pos;
				}
			} else {
				bool z = rx->msg_z;
				size_t done = rx->wait_checked;

				ws_mask(p, mlen, h->mask, 0);
				if (h->opcode == WS_OP_TEXT && !z &&
				    (done == 0 ? !utf8_valid(p, mlen) :
				    utf8_feed(rx->utf8, p + done, mlen - done) !=
				    UTF8_ACCEPT)) {
					ops->fail(arg, WS_CLOSE_INVALID_DATA,
					    "text message is not UTF-8");
					return len;
				}
				rx->utf8 = UTF8_ACCEPT;
				rx->wait_checked = 0;
				rx->have_header = false;
				rx->msg_op = 0;
				rx->msg_z = false;
				rx->nfrags = 0;
				pos += mlen;
				if ((z ? ops->message_z : ops->message)(arg,
				    h->opcode, p, mlen) != 0)
					return len;
				continue;
			}
		}

		/*
		 * A compressed message otherwise goes out piece by piece,
		 * where it lies: its owner inflates each as it comes.
		 */
		if (rx->msg_z) {
			uint64_t left = h->payload_len - rx->frame_off;
			size_t take = avail < left ? avail : (size_t)left;
			bool done = take == left, fin = done && h->fin;
			uint8_t op = rx->msg_op;

			ws_mask(p, take, h->mask, rx->frame_off);
			pos += take;
			rx->msg_len += take;
			rx->frame_off += take;
			if (done)
				rx->have_header = false;
			if (fin)
				msg_reset(rx);
			if ((take > 0 || fin) && ops->part_z(arg, op,
			    take > 0 ? p : empty, take, fin) != 0)
				return len;
			if (!done)
				return pos;
			continue;
		}

		/* Otherwise stream the payload into the message buffer. */
		{
			uint64_t left = h->payload_len - rx->frame_off;
			size_t take = avail < left ? avail : (size_t)left;
			int stop;

			if (take > 0) {
				uint8_t *dst;

				if (msg_reserve(rx, take, lim) == -1) {
					ops->fail(arg, WS_CLOSE_INTERNAL,
					    "out of memory");
					return len;
				}
				dst = rx->msg + rx->msg_len;
				memcpy(dst, p, take);
				ws_mask(dst, take, h->mask, rx->frame_off);
				if (rx->msg_op == WS_OP_TEXT && !rx->msg_z) {
					rx->utf8 = utf8_feed(rx->utf8, dst,
					    take);
					if (rx->utf8 == UTF8_REJECT) {
						ops->fail(arg,
						    WS_CLOSE_INVALID_DATA,
						    "text message is not UTF-8");
						return len;
					}
				}
				pos += take;
				rx->msg_len += take;
				rx->frame_off += take;
			}
			if (rx->frame_off < h->payload_len)
				return pos;
			rx->have_header = false;
			if (!h->fin)
				continue;
			if (rx->msg_op == WS_OP_TEXT && !rx->msg_z &&
			    rx->utf8 != UTF8_ACCEPT) {
				ops->fail(arg, WS_CLOSE_INVALID_DATA,
				    "text message is not UTF-8");
				return len;
			}
			stop = (rx->msg_z ? ops->message_z : ops->message)(arg,
			    rx->msg_op,
			    rx->msg != NULL ? rx->msg : empty,
			    rx->msg_len);
			msg_reset(rx);
			if (stop != 0)
				return len;
		}
	}
}

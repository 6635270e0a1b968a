/*
 * fuzz_frame: RFC 6455 frame headers and masking (src/frame.c).
 *
 * The input is used three ways:
 *   1. as the start of a frame, parsed for both sides (want_masked true
 *      and false) and with no or some RSV bits allowed.  An accepted
 *      header must obey RFC 6455 (known opcode, minimal length, control
 *      frames final and short, the mask bit as asked), re-encode with
 *      ws_frame_encode_header() to the very same bytes and parse again
 *      to the same header; every shorter prefix must ask for more; a
 *      rejected header stays rejected, the same way, as bytes are added;
 *   2. as fields for ws_frame_encode_header(), whose output must parse
 *      back (or be rejected exactly as the RFC says);
 *   3. as a payload for ws_mask(): masking twice restores the data,
 *      masking in two pieces equals masking at once, the result matches
 *      a byte-at-a-time reference, at every alignment, and no byte
 *      outside the buffer is touched.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "frame.h"

#include "fuzz_common.h"

static bool
opcode_known(uint8_t op)
{
	return op == WS_OP_CONT || op == WS_OP_TEXT || op == WS_OP_BINARY ||
	    op == WS_OP_CLOSE || op == WS_OP_PING || op == WS_OP_PONG;
}

static bool
result_valid(enum ws_frame_result r)
{
	return r >= WS_FRAME_ERR_NOT_MINIMAL && r <= WS_FRAME_OK;
}

static bool
same_header(const struct ws_frame_header *a, const struct ws_frame_header *b)
{
	return a->fin == b->fin && a->rsv == b->rsv &&
	    a->opcode == b->opcode && a->masked == b->masked &&
	    memcmp(a->mask, b->mask, 4) == 0 &&
	    a->payload_len == b->payload_len &&
	    a->header_len == b->header_len;
}

/* Parse buf[0..k) from a block that ends right after it. */
static enum ws_frame_result
parse_exact(const uint8_t *buf, size_t k, bool want_masked, uint8_t rsv,
    struct ws_frame_header *h)
{
	uint8_t *p = fuzz_dup(buf, k);
	enum ws_frame_result r;

	r = ws_frame_parse_header(p, k, want_masked, rsv, h);
	free(p);
	return r;
}

static void
check_parse(const uint8_t *data, size_t size, bool want_masked, uint8_t rsv)
{
	struct ws_frame_header h, h2;
	enum ws_frame_result r, rk;
	uint8_t out[WS_FRAME_MAX_HEADER + 1];
	size_t k, n, lim = size < WS_FRAME_MAX_HEADER + 2 ? size :
	    WS_FRAME_MAX_HEADER + 2;
	bool rejected = false;

	r = parse_exact(data, size, want_masked, rsv, &h);
	FUZZ_CHECK(result_valid(r));
	FUZZ_CHECK(ws_frame_strerror(r) != NULL);
	FUZZ_CHECK(ws_frame_error_code(r) == (r <= 0 && r != WS_FRAME_NEED_MORE ?
	    WS_CLOSE_PROTOCOL_ERROR : 0));
	if (r == WS_FRAME_NEED_MORE)
		FUZZ_CHECK(size < WS_FRAME_MAX_HEADER);

	/* Bytes after the header are never looked at. */
	if (size > WS_FRAME_MAX_HEADER) {
		FUZZ_CHECK(parse_exact(data, WS_FRAME_MAX_HEADER, want_masked,
		    rsv, &h2) == r);
		if (r == WS_FRAME_OK)
			FUZZ_CHECK(same_header(&h, &h2));
	}

	/* Prefixes: more, more, ..., then the final verdict for good. */
	for (k = 0; k <= lim; k++) {
		rk = parse_exact(data, k, want_masked, rsv, &h2);
		if (r == WS_FRAME_OK) {
			if (k < h.header_len)
				FUZZ_CHECK(rk == WS_FRAME_NEED_MORE);
			else
				FUZZ_CHECK(rk == WS_FRAME_OK &&
				    same_header(&h, &h2));
		} else if (r == WS_FRAME_NEED_MORE) {
			FUZZ_CHECK(rk == WS_FRAME_NEED_MORE);
		} else {
			if (rk != WS_FRAME_NEED_MORE && rk != r)
				FUZZ_FAIL("prefix %zu: %d, whole: %d", k, rk, r);
			if (rejected)
				FUZZ_CHECK(rk == r);
			if (rk == r)
				rejected = true;
		}
	}

	if (r != WS_FRAME_OK)
		return;

	/* An accepted header is what RFC 6455 allows. */
	FUZZ_CHECK(h.header_len >= 2 && h.header_len <= WS_FRAME_MAX_HEADER);
	FUZZ_CHECK(h.header_len <= size);
	FUZZ_CHECK(h.masked == want_masked);
	FUZZ_CHECK((h.rsv & ~rsv) == 0);
	FUZZ_CHECK(opcode_known(h.opcode));
	FUZZ_CHECK(h.fin == ((data[0] & 0x80) != 0));
	FUZZ_CHECK(h.opcode == (data[0] & 0x0f));
	FUZZ_CHECK(h.rsv == ((data[0] >> 4) & 7));
	if (ws_opcode_is_control(h.opcode))
		FUZZ_CHECK(h.fin && h.payload_len <= WS_CONTROL_MAX);
	FUZZ_CHECK(h.payload_len < (UINT64_C(1) << 63));
	FUZZ_CHECK(h.header_len == 2 + (h.masked ? 4 : 0) +
	    (h.payload_len < 126 ? 0 : h.payload_len <= 0xffff ? 2 : 8));
	if (h.masked)
		FUZZ_CHECK(memcmp(h.mask, data + h.header_len - 4, 4) == 0);
	else
		FUZZ_CHECK(memcmp(h.mask, "\0\0\0\0", 4) == 0);

	/* Re-encoding gives back the same bytes (RSV bits aside). */
	memset(out, 0xee, sizeof(out));
	n = ws_frame_encode_header(out, h.fin, h.opcode, h.payload_len,
	    h.masked ? h.mask : NULL);
	FUZZ_CHECK(n == h.header_len);
	FUZZ_CHECK(out[WS_FRAME_MAX_HEADER] == 0xee);
	FUZZ_CHECK((out[0] & 0x70) == 0);
	out[0] |= (uint8_t)(h.rsv << 4);
	if (memcmp(out, data, n) != 0)
		FUZZ_FAIL("re-encoded header differs from the parsed bytes");
	FUZZ_CHECK(parse_exact(out, n, want_masked, rsv, &h2) == WS_FRAME_OK);
	FUZZ_CHECK(same_header(&h, &h2));
}

static uint64_t
get_u64(const uint8_t *p)
{
	uint64_t v = 0;
	int i;

	for (i = 0; i < 8; i++)
		v = v << 8 | p[i];
	return v;
}

/* Encode from fields taken from the input, then parse back. */
static void
check_encode(const uint8_t *f)
{
	uint8_t out[WS_FRAME_MAX_HEADER + 2];
	struct ws_frame_header h;
	enum ws_frame_result r, want;
	bool fin = f[0] & 0x80, masked = f[0] & 0x40;
	uint8_t op = f[0] & 0x0f, mask[4];
	uint64_t len = get_u64(f + 1);
	size_t n;

	/* Spread lengths over the three encodings. */
	switch (f[0] & 0x30) {
	case 0x00:
		len %= 126;
		break;
	case 0x10:
		len %= 0x10000;
		break;
	case 0x20:
		len &= UINT64_C(0x7fffffffffffffff);
		break;
	}
	memcpy(mask, f + 9, 4);
	memset(out, 0xee, sizeof(out));
	n = ws_frame_encode_header(out, fin, op, len, masked ? mask : NULL);
	FUZZ_CHECK(n <= WS_FRAME_MAX_HEADER && out[WS_FRAME_MAX_HEADER] == 0xee);
	FUZZ_CHECK(n == 2 + (masked ? 4 : 0) +
	    (len < 126 ? 0 : len <= 0xffff ? 2 : 8));

	if (!opcode_known(op))
		want = WS_FRAME_ERR_OPCODE;
	else if (ws_opcode_is_control(op) && !fin)
		want = WS_FRAME_ERR_CONTROL_FRAGMENTED;
	else if (ws_opcode_is_control(op) && len > WS_CONTROL_MAX)
		want = WS_FRAME_ERR_CONTROL_TOO_LONG;
	else if (len >> 63)
		want = WS_FRAME_ERR_LENGTH;
	else
		want = WS_FRAME_OK;
	r = parse_exact(out, n, masked, 0, &h);
	if (r != want)
		FUZZ_FAIL("encoded fin=%d op=%u len=%llu masked=%d parses as "
		    "%d, expected %d", fin, op, (unsigned long long)len, masked,
		    r, want);
	if (r == WS_FRAME_OK) {
		FUZZ_CHECK(h.fin == fin && h.opcode == op && h.rsv == 0);
		FUZZ_CHECK(h.masked == masked && h.payload_len == len);
		FUZZ_CHECK(h.header_len == n);
		if (masked)
			FUZZ_CHECK(memcmp(h.mask, mask, 4) == 0);
		/* The other side refuses it for its mask bit. */
		FUZZ_CHECK(parse_exact(out, n, !masked, 0, &h) ==
		    (masked ? WS_FRAME_ERR_MASKED : WS_FRAME_ERR_UNMASKED));
	}
}

#define CANARY	8

static void
check_mask(const uint8_t *f, const uint8_t *payload, size_t len)
{
	uint8_t mask[4], *block, *p, *ref;
	uint64_t off = get_u64(f + 4);
	size_t align = f[12] & 7, split, i;

	memcpy(mask, f, 4);
	if (f[13] & 1)
		off &= 0xff;	/* small offsets too */
	split = len > 0 ? f[14] % (len + 1) : 0;

	/* [canary][align][payload] with the payload's end the block's. */
	block = malloc(CANARY + align + len);
	FUZZ_CHECK(block != NULL);
	memset(block, 0x5a, CANARY + align);
	p = block + CANARY + align;
	memcpy(p, payload, len);
	ref = fuzz_dup(payload, len);
	for (i = 0; i < len; i++)
		ref[i] ^= mask[(off + i) & 3];

	ws_mask(p, len, mask, off);
	FUZZ_CHECK(memcmp(p, ref, len) == 0);
	ws_mask(p, len, mask, off);
	FUZZ_CHECK(memcmp(p, payload, len) == 0);

	/* In two pieces, as conn.c unmasks a payload that arrives split. */
	ws_mask(p, split, mask, off);
	ws_mask(p + split, len - split, mask, off + split);
	FUZZ_CHECK(memcmp(p, ref, len) == 0);

	for (i = 0; i < CANARY + align; i++)
		FUZZ_CHECK(block[i] == 0x5a);
	free(ref);
	free(block);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t rsv = size > 0 ? (uint8_t)(data[size - 1] & 7) : 0;
	unsigned code;

	check_parse(data, size, true, 0);
	check_parse(data, size, false, 0);
	if (rsv != 0) {
		check_parse(data, size, true, rsv);
		check_parse(data, size, false, rsv);
	}
	if (size >= 13)
		check_encode(data);
	if (size >= 15)
		check_mask(data, data + 15, size - 15);
	if (size >= 2) {
		code = (unsigned)data[0] << 8 | data[1];
		FUZZ_CHECK(ws_close_code_valid(code) ==
		    ((code >= 1000 && code <= 1003) ||
		    (code >= 1007 && code <= 1014) ||
		    (code >= 3000 && code <= 4999)));
	}
	return 0;
}

/*
 * Unit tests for frame.c: header parsing and encoding, masking and close
 * code validation.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "frame.h"
#include "rng.h"

static void
rng_fill(uint8_t *p, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		p[i] = (uint8_t)rng_next();
}

/* The obvious masking loop, for comparison with ws_mask(). */
static void
ref_mask(uint8_t *data, size_t len, const uint8_t mask[4], uint64_t offset)
{
	size_t i;

	for (i = 0; i < len; i++)
		data[i] ^= mask[(offset + i) % 4];
}

static enum ws_frame_result
parse(const void *buf, size_t len, bool want_masked, uint8_t rsv_allowed,
    struct ws_frame_header *h)
{
	return ws_frame_parse_header(buf, len, want_masked, rsv_allowed, h);
}

/* Parse buf and expect r, and NEED_MORE for every shorter prefix. */
static void
expect_at_len(const void *buf, size_t len, bool want_masked,
    uint8_t rsv_allowed, enum ws_frame_result r)
{
	struct ws_frame_header h;
	size_t i;

	assert_int_equal(parse(buf, len, want_masked, rsv_allowed, &h), r);
	for (i = 0; i < len; i++)
		assert_int_equal(parse(buf, i, want_masked, rsv_allowed, &h),
		    WS_FRAME_NEED_MORE);
}

/* RFC 6455 section 5.7: the example frames. */
static void
test_rfc_examples(void **state)
{
	static const uint8_t hello[] = "\x81\x05Hello";
	static const uint8_t mhello[] =
	    "\x81\x85\x37\xfa\x21\x3d\x7f\x9f\x4d\x51\x58";
	static const uint8_t frag1[] = "\x01\x03Hel";
	static const uint8_t frag2[] = "\x80\x02lo";
	static const uint8_t ping[] = "\x89\x05Hello";
	static const uint8_t mpong[] =
	    "\x8a\x85\x37\xfa\x21\x3d\x7f\x9f\x4d\x51\x58";
	static const uint8_t mask[4] = { 0x37, 0xfa, 0x21, 0x3d };
	struct ws_frame_header h;
	uint8_t payload[5], out[WS_FRAME_MAX_HEADER];

	/* A single-frame unmasked text message. */
	assert_int_equal(parse(hello, sizeof(hello) - 1, false, 0, &h),
	    WS_FRAME_OK);
	assert_true(h.fin);
	assert_int_equal(h.rsv, 0);
	assert_int_equal(h.opcode, WS_OP_TEXT);
	assert_false(h.masked);
	assert_int_equal(h.payload_len, 5);
	assert_int_equal(h.header_len, 2);
	assert_memory_equal(hello + h.header_len, "Hello", 5);

	/* A single-frame masked text message. */
	assert_int_equal(parse(mhello, sizeof(mhello) - 1, true, 0, &h),
	    WS_FRAME_OK);
	assert_true(h.fin);
	assert_int_equal(h.opcode, WS_OP_TEXT);
	assert_true(h.masked);
	assert_memory_equal(h.mask, mask, 4);
	assert_int_equal(h.payload_len, 5);
	assert_int_equal(h.header_len, 6);
	memcpy(payload, mhello + h.header_len, 5);
	ws_mask(payload, 5, h.mask, 0);
	assert_memory_equal(payload, "Hello", 5);

	/* A fragmented unmasked text message. */
	assert_int_equal(parse(frag1, sizeof(frag1) - 1, false, 0, &h),
	    WS_FRAME_OK);
	assert_false(h.fin);
	assert_int_equal(h.opcode, WS_OP_TEXT);
	assert_int_equal(h.payload_len, 3);
	assert_int_equal(parse(frag2, sizeof(frag2) - 1, false, 0, &h),
	    WS_FRAME_OK);
	assert_true(h.fin);
	assert_int_equal(h.opcode, WS_OP_CONT);
	assert_int_equal(h.payload_len, 2);

	/* Unmasked ping, masked pong. */
	assert_int_equal(parse(ping, sizeof(ping) - 1, false, 0, &h),
	    WS_FRAME_OK);
	assert_int_equal(h.opcode, WS_OP_PING);
	assert_int_equal(h.payload_len, 5);
	assert_int_equal(parse(mpong, sizeof(mpong) - 1, true, 0, &h),
	    WS_FRAME_OK);
	assert_int_equal(h.opcode, WS_OP_PONG);
	assert_int_equal(h.payload_len, 5);
	assert_int_equal(h.header_len, 6);

	/* And the encoder produces those same headers. */
	assert_int_equal(ws_frame_encode_header(out, true, WS_OP_TEXT, 5,
	    NULL), 2);
	assert_memory_equal(out, "\x81\x05", 2);
	assert_int_equal(ws_frame_encode_header(out, true, WS_OP_TEXT, 5,
	    mask), 6);
	assert_memory_equal(out, mhello, 6);
	assert_int_equal(ws_frame_encode_header(out, false, WS_OP_TEXT, 3,
	    NULL), 2);
	assert_memory_equal(out, frag1, 2);
	assert_int_equal(ws_frame_encode_header(out, true, WS_OP_CONT, 2,
	    NULL), 2);
	assert_memory_equal(out, frag2, 2);
	assert_int_equal(ws_frame_encode_header(out, true, WS_OP_PING, 5,
	    NULL), 2);
	assert_memory_equal(out, ping, 2);
}

/* RFC 6455 section 5.7: 256 bytes and 64KiB in a single binary frame. */
static void
test_rfc_long_headers(void **state)
{
	static const uint8_t h256[] = "\x82\x7E\x01\x00";
	static const uint8_t h64k[] =
	    "\x82\x7F\x00\x00\x00\x00\x00\x01\x00\x00";
	struct ws_frame_header h;
	uint8_t out[WS_FRAME_MAX_HEADER];

	assert_int_equal(ws_frame_encode_header(out, true, WS_OP_BINARY, 256,
	    NULL), 4);
	assert_memory_equal(out, h256, 4);
	assert_int_equal(ws_frame_encode_header(out, true, WS_OP_BINARY,
	    65536, NULL), 10);
	assert_memory_equal(out, h64k, 10);

	assert_int_equal(parse(h256, 4, false, 0, &h), WS_FRAME_OK);
	assert_int_equal(h.opcode, WS_OP_BINARY);
	assert_true(h.fin);
	assert_int_equal(h.payload_len, 256);
	assert_int_equal(h.header_len, 4);
	assert_int_equal(parse(h64k, 10, false, 0, &h), WS_FRAME_OK);
	assert_int_equal(h.opcode, WS_OP_BINARY);
	assert_int_equal(h.payload_len, 65536);
	assert_int_equal(h.header_len, 10);
}

/* Encode and parse back every length boundary, masked and unmasked. */
static void
test_length_roundtrip(void **state)
{
	static const uint64_t lens[] = {
		0, 1, 125, 126, 127, 65535, 65536, 65537,
		UINT64_C(0xFFFFFFFF), UINT64_C(0x100000000),
		UINT64_C(0x100000001), UINT64_C(0x7FFFFFFFFFFFFFFF),
	};
	static const uint8_t ops[] = {
		WS_OP_CONT, WS_OP_TEXT, WS_OP_BINARY,
	};
	static const uint8_t mask[4] = { 0xde, 0xad, 0xbe, 0xef };
	struct ws_frame_header h;
	uint8_t out[WS_FRAME_MAX_HEADER + 8];
	size_t i, o, n, want;
	int m, fin;

	for (i = 0; i < sizeof(lens) / sizeof(lens[0]); i++)
	for (o = 0; o < sizeof(ops); o++)
	for (m = 0; m < 2; m++)
	for (fin = 0; fin < 2; fin++) {
		memset(out, 0xAA, sizeof(out));
		n = ws_frame_encode_header(out, fin, ops[o], lens[i],
		    m ? mask : NULL);
		want = lens[i] < 126 ? 2 : lens[i] <= 0xFFFF ? 4 : 10;
		if (m)
			want += 4;
		assert_int_equal(n, want);
		assert_true(n <= WS_FRAME_MAX_HEADER);
		/* Nothing written past the header. */
		assert_int_equal(out[n], 0xAA);

		/* Exactly the header, then with payload bytes after it. */
		assert_int_equal(parse(out, n, m, 0, &h), WS_FRAME_OK);
		assert_int_equal(h.header_len, n);
		assert_int_equal(h.payload_len, lens[i]);
		assert_int_equal(h.opcode, ops[o]);
		assert_int_equal(h.fin, fin);
		assert_int_equal(h.rsv, 0);
		assert_int_equal(h.masked, m);
		if (m)
			assert_memory_equal(h.mask, mask, 4);
		assert_int_equal(parse(out, sizeof(out), m, 0, &h),
		    WS_FRAME_OK);
		assert_int_equal(h.header_len, n);
		assert_int_equal(h.payload_len, lens[i]);

		/* The wrong side rejects it on its first two bytes. */
		assert_int_equal(parse(out, 2, !m, 0, &h),
		    m ? WS_FRAME_ERR_MASKED : WS_FRAME_ERR_UNMASKED);

		/* Every proper prefix asks for more. */
		expect_at_len(out, n, m, 0, WS_FRAME_OK);
	}
}

/* Exact bytes of the extended length fields. */
static void
test_encode_exact(void **state)
{
	static const uint8_t mask[4] = { 1, 2, 3, 4 };
	uint8_t out[WS_FRAME_MAX_HEADER];

	assert_int_equal(ws_frame_encode_header(out, true, WS_OP_BINARY, 0,
	    NULL), 2);
	assert_memory_equal(out, "\x82\x00", 2);
	assert_int_equal(ws_frame_encode_header(out, false, WS_OP_BINARY, 125,
	    NULL), 2);
	assert_memory_equal(out, "\x02\x7D", 2);
	assert_int_equal(ws_frame_encode_header(out, true, WS_OP_TEXT, 126,
	    NULL), 4);
	assert_memory_equal(out, "\x81\x7E\x00\x7E", 4);
	assert_int_equal(ws_frame_encode_header(out, true, WS_OP_TEXT, 65535,
	    NULL), 4);
	assert_memory_equal(out, "\x81\x7E\xFF\xFF", 4);
	assert_int_equal(ws_frame_encode_header(out, true, WS_OP_TEXT,
	    UINT64_C(0x100000001), mask), 14);
	assert_memory_equal(out,
	    "\x81\xFF\x00\x00\x00\x01\x00\x00\x00\x01\x01\x02\x03\x04", 14);
	assert_int_equal(ws_frame_encode_header(out, true, WS_OP_CLOSE, 2,
	    mask), 6);
	assert_memory_equal(out, "\x88\x82\x01\x02\x03\x04", 6);
	assert_int_equal(ws_frame_encode_header(out, true, WS_OP_PONG, 125,
	    NULL), 2);
	assert_memory_equal(out, "\x8A\x7D", 2);
	assert_int_equal(ws_frame_encode_header(out, true, WS_OP_BINARY,
	    UINT64_C(0x0123456789ABCDEF), NULL), 10);
	assert_memory_equal(out, "\x82\x7F\x01\x23\x45\x67\x89\xAB\xCD\xEF",
	    10);
}

/* Control frames of every allowed length, both sides. */
static void
test_control_frames(void **state)
{
	static const uint8_t ops[] = { WS_OP_CLOSE, WS_OP_PING, WS_OP_PONG };
	static const uint8_t mask[4] = { 9, 8, 7, 6 };
	struct ws_frame_header h;
	uint8_t out[WS_FRAME_MAX_HEADER];
	size_t o, n;
	unsigned len;
	int m;

	for (o = 0; o < sizeof(ops); o++)
	for (len = 0; len <= WS_CONTROL_MAX; len++)
	for (m = 0; m < 2; m++) {
		n = ws_frame_encode_header(out, true, ops[o], len,
		    m ? mask : NULL);
		assert_int_equal(n, m ? 6 : 2);
		assert_int_equal(parse(out, n, m, 0, &h), WS_FRAME_OK);
		assert_int_equal(h.opcode, ops[o]);
		assert_int_equal(h.payload_len, len);
		assert_true(ws_opcode_is_control(h.opcode));
	}
	assert_false(ws_opcode_is_control(WS_OP_CONT));
	assert_false(ws_opcode_is_control(WS_OP_TEXT));
	assert_false(ws_opcode_is_control(WS_OP_BINARY));
	assert_false(ws_opcode_is_control(0x7));
	assert_true(ws_opcode_is_control(0xF));
}

static void
test_err_rsv(void **state)
{
	struct ws_frame_header h;
	uint8_t buf[6] = { 0, 0x80 | 4, 1, 2, 3, 4 };
	unsigned rsv, allowed;

	for (rsv = 0; rsv < 8; rsv++)
	for (allowed = 0; allowed < 8; allowed++) {
		buf[0] = 0x80 | (uint8_t)(rsv << 4) | WS_OP_BINARY;
		if ((rsv & ~allowed) != 0) {
			/* Decided from the first byte alone. */
			assert_int_equal(parse(buf, 1, true, allowed, &h),
			    WS_FRAME_ERR_RSV);
			assert_int_equal(parse(buf, 2, true, allowed, &h),
			    WS_FRAME_ERR_RSV);
			assert_int_equal(parse(buf, 6, true, allowed, &h),
			    WS_FRAME_ERR_RSV);
		} else {
			expect_at_len(buf, 6, true, allowed, WS_FRAME_OK);
			assert_int_equal(parse(buf, 6, true, allowed, &h),
			    WS_FRAME_OK);
			assert_int_equal(h.rsv, rsv);
			assert_int_equal(h.header_len, 6);
			assert_int_equal(h.payload_len, 4);
		}
	}

	/* RSV1 (permessage-deflate) allowed, RSV2 and RSV3 not. */
	buf[0] = 0xC1;
	assert_int_equal(parse(buf, 6, true, 4, &h), WS_FRAME_OK);
	assert_int_equal(h.rsv, 4);
	buf[0] = 0xA1;
	assert_int_equal(parse(buf, 6, true, 4, &h), WS_FRAME_ERR_RSV);
	buf[0] = 0x91;
	assert_int_equal(parse(buf, 6, true, 4, &h), WS_FRAME_ERR_RSV);
}

static void
test_err_opcode(void **state)
{
	struct ws_frame_header h;
	uint8_t buf[2];
	unsigned op;

	for (op = 0; op < 16; op++) {
		buf[0] = 0x80 | (uint8_t)op;
		buf[1] = 0x00;
		if ((op >= 3 && op <= 7) || op >= 0xB) {
			assert_int_equal(parse(buf, 1, false, 0, &h),
			    WS_FRAME_ERR_OPCODE);
			assert_int_equal(parse(buf, 2, false, 0, &h),
			    WS_FRAME_ERR_OPCODE);
			/* Also without FIN: the opcode is checked first. */
			buf[0] = (uint8_t)op;
			assert_int_equal(parse(buf, 2, false, 0, &h),
			    WS_FRAME_ERR_OPCODE);
		} else {
			assert_int_equal(parse(buf, 1, false, 0, &h),
			    WS_FRAME_NEED_MORE);
			assert_int_equal(parse(buf, 2, false, 0, &h),
			    WS_FRAME_OK);
			assert_int_equal(h.opcode, op);
		}
	}
}

static void
test_err_control_fragmented(void **state)
{
	static const uint8_t ops[] = { WS_OP_CLOSE, WS_OP_PING, WS_OP_PONG };
	struct ws_frame_header h;
	uint8_t buf[6] = { 0, 0x80, 1, 2, 3, 4 };
	size_t o;

	for (o = 0; o < sizeof(ops); o++) {
		buf[0] = ops[o];
		assert_int_equal(parse(buf, 1, true, 0, &h),
		    WS_FRAME_ERR_CONTROL_FRAGMENTED);
		assert_int_equal(parse(buf, 6, true, 0, &h),
		    WS_FRAME_ERR_CONTROL_FRAGMENTED);
		buf[0] |= 0x80;
		assert_int_equal(parse(buf, 6, true, 0, &h), WS_FRAME_OK);
	}
	/* Data frames may be fragmented. */
	buf[0] = WS_OP_TEXT;
	assert_int_equal(parse(buf, 6, true, 0, &h), WS_FRAME_OK);
	assert_false(h.fin);
}

static void
test_err_control_too_long(void **state)
{
	static const uint8_t ops[] = { WS_OP_CLOSE, WS_OP_PING, WS_OP_PONG };
	struct ws_frame_header h;
	uint8_t buf[WS_FRAME_MAX_HEADER];
	size_t o, n;

	for (o = 0; o < sizeof(ops); o++) {
		/* 126 and 127 are refused from the first two bytes. */
		buf[0] = 0x80 | ops[o];
		buf[1] = 126;
		assert_int_equal(parse(buf, 2, false, 0, &h),
		    WS_FRAME_ERR_CONTROL_TOO_LONG);
		buf[1] = 127;
		assert_int_equal(parse(buf, 2, false, 0, &h),
		    WS_FRAME_ERR_CONTROL_TOO_LONG);
		buf[1] = 0x80 | 126;
		assert_int_equal(parse(buf, 2, true, 0, &h),
		    WS_FRAME_ERR_CONTROL_TOO_LONG);

		/* Whatever the length field says. */
		n = ws_frame_encode_header(buf, true, ops[o], 126, NULL);
		assert_int_equal(parse(buf, n, false, 0, &h),
		    WS_FRAME_ERR_CONTROL_TOO_LONG);
		n = ws_frame_encode_header(buf, true, ops[o], 65536, NULL);
		assert_int_equal(parse(buf, n, false, 0, &h),
		    WS_FRAME_ERR_CONTROL_TOO_LONG);
		n = ws_frame_encode_header(buf, true, ops[o], 125, NULL);
		assert_int_equal(parse(buf, n, false, 0, &h), WS_FRAME_OK);
	}
}

static void
test_err_mask_side(void **state)
{
	static const uint8_t unmasked[] = "\x82\x7E\x01\x00";
	static const uint8_t masked[] = "\x82\xFE\x01\x00\x01\x02\x03\x04";
	struct ws_frame_header h;

	/* A server reading an unmasked client frame. */
	assert_int_equal(parse(unmasked, 2, true, 0, &h),
	    WS_FRAME_ERR_UNMASKED);
	assert_int_equal(parse(unmasked, 4, true, 0, &h),
	    WS_FRAME_ERR_UNMASKED);
	assert_int_equal(parse(unmasked, 4, false, 0, &h), WS_FRAME_OK);

	/* A client reading a masked server frame. */
	assert_int_equal(parse(masked, 2, false, 0, &h), WS_FRAME_ERR_MASKED);
	assert_int_equal(parse(masked, 8, false, 0, &h), WS_FRAME_ERR_MASKED);
	assert_int_equal(parse(masked, 8, true, 0, &h), WS_FRAME_OK);
	assert_int_equal(h.header_len, 8);
	assert_int_equal(h.payload_len, 256);
}

static void
test_err_length(void **state)
{
	static const uint8_t msb[] =
	    "\x82\x7F\x80\x00\x00\x00\x00\x00\x00\x00";
	static const uint8_t all[] =
	    "\x82\xFF\xFF\xFF\xFF\xFF\xFF\xFF\xFF\xFF\x01\x02\x03\x04";
	static const uint8_t top[] =
	    "\x82\x7F\x7F\xFF\xFF\xFF\xFF\xFF\xFF\xFF";
	struct ws_frame_header h;
	size_t i;

	/* Known from the first byte of the length. */
	for (i = 3; i <= 10; i++)
		assert_int_equal(parse(msb, i, false, 0, &h),
		    WS_FRAME_ERR_LENGTH);
	for (i = 3; i <= 14; i++)
		assert_int_equal(parse(all, i, true, 0, &h),
		    WS_FRAME_ERR_LENGTH);
	assert_int_equal(parse(msb, 2, false, 0, &h), WS_FRAME_NEED_MORE);

	/* The largest legal length. */
	expect_at_len(top, 10, false, 0, WS_FRAME_OK);
	assert_int_equal(parse(top, 10, false, 0, &h), WS_FRAME_OK);
	assert_int_equal(h.payload_len, UINT64_C(0x7FFFFFFFFFFFFFFF));
}

static void
test_err_not_minimal(void **state)
{
	struct ws_frame_header h;
	uint8_t buf[WS_FRAME_MAX_HEADER];
	unsigned v;

	/* A 16-bit length under 126. */
	buf[0] = 0x82;
	buf[1] = 0x80 | 126;
	memcpy(buf + 4, "\x01\x02\x03\x04", 4);
	for (v = 0; v < 126; v++) {
		buf[2] = 0;
		buf[3] = (uint8_t)v;
		/* Known once the length is in, before the mask. */
		assert_int_equal(parse(buf, 4, true, 0, &h),
		    WS_FRAME_ERR_NOT_MINIMAL);
		assert_int_equal(parse(buf, 8, true, 0, &h),
		    WS_FRAME_ERR_NOT_MINIMAL);
		assert_int_equal(parse(buf, 3, true, 0, &h),
		    WS_FRAME_NEED_MORE);
	}
	buf[3] = 126;
	assert_int_equal(parse(buf, 8, true, 0, &h), WS_FRAME_OK);
	assert_int_equal(h.payload_len, 126);

	/* A 64-bit length of 0xFFFF or less. */
	buf[1] = 127;
	memset(buf + 2, 0, 8);
	assert_int_equal(parse(buf, 10, false, 0, &h),
	    WS_FRAME_ERR_NOT_MINIMAL);
	buf[9] = 5;
	assert_int_equal(parse(buf, 10, false, 0, &h),
	    WS_FRAME_ERR_NOT_MINIMAL);
	buf[8] = 0xFF;
	buf[9] = 0xFF;
	assert_int_equal(parse(buf, 10, false, 0, &h),
	    WS_FRAME_ERR_NOT_MINIMAL);
	for (v = 2; v < 10; v++)
		assert_int_equal(parse(buf, v, false, 0, &h),
		    WS_FRAME_NEED_MORE);
	buf[7] = 1;
	buf[8] = 0;
	buf[9] = 0;
	assert_int_equal(parse(buf, 10, false, 0, &h), WS_FRAME_OK);
	assert_int_equal(h.payload_len, 65536);
}

/* When several things are wrong, the first check in the list wins. */
static void
test_err_order(void **state)
{
	struct ws_frame_header h;

	/* RSV before opcode. */
	assert_int_equal(parse("\xF3\x00", 2, false, 0, &h), WS_FRAME_ERR_RSV);
	/* Opcode before fragmentation. */
	assert_int_equal(parse("\x0B\x7F", 2, false, 0, &h),
	    WS_FRAME_ERR_OPCODE);
	/* Fragmented before too long. */
	assert_int_equal(parse("\x08\x7E", 2, false, 0, &h),
	    WS_FRAME_ERR_CONTROL_FRAGMENTED);
	/* Too long before the mask side. */
	assert_int_equal(parse("\x89\x7F", 2, true, 0, &h),
	    WS_FRAME_ERR_CONTROL_TOO_LONG);
	/* Mask side before the 64-bit length. */
	assert_int_equal(parse("\x82\x7F\x80\x00\x00\x00\x00\x00\x00\x00", 10,
	    true, 0, &h), WS_FRAME_ERR_UNMASKED);
	assert_int_equal(parse("\x82\x7E\x00\x01", 4, true, 0, &h),
	    WS_FRAME_ERR_UNMASKED);
	/* Mask side before non-minimal. */
	assert_int_equal(parse("\x82\xFE\x00\x01", 4, false, 0, &h),
	    WS_FRAME_ERR_MASKED);
}

static void
test_error_code_and_text(void **state)
{
	static const enum ws_frame_result errs[] = {
		WS_FRAME_ERR_RSV, WS_FRAME_ERR_OPCODE,
		WS_FRAME_ERR_CONTROL_FRAGMENTED,
		WS_FRAME_ERR_CONTROL_TOO_LONG, WS_FRAME_ERR_UNMASKED,
		WS_FRAME_ERR_MASKED, WS_FRAME_ERR_LENGTH,
		WS_FRAME_ERR_NOT_MINIMAL,
	};
	const size_t n = sizeof(errs) / sizeof(errs[0]);
	const char *s, *t;
	size_t i, j;

	for (i = 0; i < n; i++) {
		assert_int_equal(ws_frame_error_code(errs[i]),
		    WS_CLOSE_PROTOCOL_ERROR);
		s = ws_frame_strerror(errs[i]);
		assert_non_null(s);
		assert_true(strlen(s) > 0);
		for (j = 0; j < i; j++) {
			t = ws_frame_strerror(errs[j]);
			assert_string_not_equal(s, t);
		}
	}
	assert_non_null(ws_frame_strerror(WS_FRAME_OK));
	assert_non_null(ws_frame_strerror(WS_FRAME_NEED_MORE));
	assert_non_null(ws_frame_strerror((enum ws_frame_result)-99));
}

/* Whatever garbage comes in, the parser is consistent with its result. */
static void
test_parse_random(void **state)
{
	struct ws_frame_header h, h2;
	uint8_t buf[WS_FRAME_MAX_HEADER], enc[WS_FRAME_MAX_HEADER];
	enum ws_frame_result r;
	size_t i, n;
	int iter;
	bool m;

	rng_seed(7);
	for (iter = 0; iter < 20000; iter++) {
		rng_fill(buf, sizeof(buf));
		/* Keep most frames plausible, so OK is often reached. */
		if (iter & 1)
			buf[0] = (buf[0] & 0x8F);
		if (iter & 2)
			buf[2] &= 0x7F;
		m = (buf[1] & 0x80) != 0;
		if (iter & 4)
			m = !m;
		r = parse(buf, sizeof(buf), m, 0, &h);
		if (r == WS_FRAME_OK) {
			assert_true(h.header_len >= 2 &&
			    h.header_len <= WS_FRAME_MAX_HEADER);
			/* Re-encoding gives back the same bytes. */
			n = ws_frame_encode_header(enc, h.fin, h.opcode,
			    h.payload_len, h.masked ? h.mask : NULL);
			assert_int_equal(n, h.header_len);
			assert_memory_equal(enc, buf, n);
			assert_int_equal(parse(buf, n, m, 0, &h2), WS_FRAME_OK);
			assert_int_equal(h2.payload_len, h.payload_len);
			assert_memory_equal(h2.mask, h.mask, 4);
			for (i = 0; i < n; i++)
				assert_int_equal(parse(buf, i, m, 0, &h2),
				    WS_FRAME_NEED_MORE);
		} else {
			assert_true(r < 0);
			assert_int_equal(ws_frame_error_code(r), 1002);
			/* An error never turns into anything else later. */
			for (i = 1; i <= sizeof(buf); i++) {
				enum ws_frame_result r2;

				r2 = parse(buf, i, m, 0, &h2);
				assert_true(r2 == WS_FRAME_NEED_MORE ||
				    r2 == r);
			}
		}
	}
}

static void
test_mask_rfc(void **state)
{
	static const uint8_t mask[4] = { 0x37, 0xfa, 0x21, 0x3d };
	uint8_t buf[5];

	memcpy(buf, "Hello", 5);
	ws_mask(buf, 5, mask, 0);
	assert_memory_equal(buf, "\x7f\x9f\x4d\x51\x58", 5);
	ws_mask(buf, 5, mask, 0);
	assert_memory_equal(buf, "Hello", 5);

	/* Offset 1 starts with the second mask byte. */
	memcpy(buf, "\x00\x00\x00\x00\x00", 5);
	ws_mask(buf, 5, mask, 1);
	assert_memory_equal(buf, "\xfa\x21\x3d\x37\xfa", 5);

	/* Nothing happens to an empty buffer. */
	ws_mask(buf, 0, mask, 3);
	assert_memory_equal(buf, "\xfa\x21\x3d\x37\xfa", 5);
}

/*
 * Masking [0, s) and then [s, n) gives the same as masking [0, n), for
 * every s, at every alignment and starting offset.
 */
static void
test_mask_split(void **state)
{
	enum { N = 75 };
	static const uint8_t mask[4] = { 0x11, 0x22, 0x84, 0xF8 };
	uint8_t orig[N], once[N + 8], pieces[N + 8], *a, *b;
	size_t s, t, align, n;
	uint64_t base;

	rng_seed(42);
	rng_fill(orig, N);
	for (base = 0; base < 8; base++)
	for (align = 0; align < 8; align++)
	for (n = 0; n <= N; n += (n < 20 ? 1 : 11)) {
		a = once + align;
		memcpy(a, orig, n);
		ws_mask(a, n, mask, base);

		/* The same result as the bytewise reference. */
		memcpy(pieces, orig, n);
		ref_mask(pieces, n, mask, base);
		assert_memory_equal(a, pieces, n);

		for (s = 0; s <= n; s++) {
			b = pieces + align;
			memcpy(b, orig, n);
			ws_mask(b, s, mask, base);
			ws_mask(b + s, n - s, mask, base + s);
			assert_memory_equal(a, b, n);
		}
	}

	/* Three pieces, every pair of split points. */
	memcpy(once, orig, N);
	ws_mask(once, N, mask, 0);
	for (s = 0; s <= N; s++)
	for (t = s; t <= N; t++) {
		memcpy(pieces, orig, N);
		ws_mask(pieces, s, mask, 0);
		ws_mask(pieces + s, t - s, mask, s);
		ws_mask(pieces + t, N - t, mask, t);
		assert_memory_equal(once, pieces, N);
	}
}

/* Large random buffers against the bytewise reference. */
static void
test_mask_random_large(void **state)
{
	enum { MAX = 1 << 17 };
	uint8_t *orig, *fast, *slow, mask[4];
	size_t len, align, i;
	uint64_t offset;
	int iter;

	orig = malloc(MAX + 16);
	fast = malloc(MAX + 16);
	slow = malloc(MAX + 16);
	assert_non_null(orig);
	assert_non_null(fast);
	assert_non_null(slow);

	rng_seed(1234);
	for (iter = 0; iter < 40; iter++) {
		len = iter < 4 ? MAX : (size_t)(rng_next() % MAX);
		align = (size_t)(rng_next() % 16);
		offset = rng_next();
		if (iter & 1)
			offset %= 16;
		rng_fill(mask, 4);
		rng_fill(orig, len + 16);
		memcpy(fast, orig, len + 16);
		memcpy(slow, orig, len + 16);
		ws_mask(fast + align, len, mask, offset);
		ref_mask(slow + align, len, mask, offset);
		assert_memory_equal(fast, slow, len + 16);

		/* Masking is its own inverse. */
		ws_mask(fast + align, len, mask, offset);
		assert_memory_equal(fast, orig, len + 16);

		/* A zero mask changes nothing. */
		memset(mask, 0, 4);
		ws_mask(fast + align, len, mask, offset);
		assert_memory_equal(fast, orig, len + 16);
	}

	/* Check the fast path really xors every byte. */
	memset(fast, 0, MAX);
	memcpy(mask, "\x01\x02\x04\x08", 4);
	ws_mask(fast + 3, MAX - 3, mask, 0);
	for (i = 0; i < MAX - 3; i++)
		assert_int_equal(fast[3 + i], 1u << (i % 4));
	assert_int_equal(fast[0], 0);

	free(orig);
	free(fast);
	free(slow);
}

static void
test_close_codes(void **state)
{
	static const unsigned valid[] = {
		1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012,
		1013, 1014, 3000, 3999, 4000, 4999,
	};
	static const unsigned invalid[] = {
		0, 1, 999, 1004, 1005, 1006, 1015, 1016, 1100, 2000, 2999,
		5000, 65535, 65536, UINT32_MAX,
	};
	size_t i;
	unsigned c;

	for (i = 0; i < sizeof(valid) / sizeof(valid[0]); i++)
		assert_true(ws_close_code_valid(valid[i]));
	for (i = 0; i < sizeof(invalid) / sizeof(invalid[0]); i++)
		assert_false(ws_close_code_valid(invalid[i]));

	/* Whole ranges. */
	for (c = 0; c < 1000; c++)
		assert_false(ws_close_code_valid(c));
	for (c = 1016; c < 3000; c++)
		assert_false(ws_close_code_valid(c));
	for (c = 3000; c < 5000; c++)
		assert_true(ws_close_code_valid(c));
	for (c = 5000; c <= 70000; c++)
		assert_false(ws_close_code_valid(c));

	assert_true(ws_close_code_valid(WS_CLOSE_NORMAL));
	assert_false(ws_close_code_valid(WS_CLOSE_NO_STATUS));
	assert_false(ws_close_code_valid(WS_CLOSE_ABNORMAL));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_rfc_examples),
		cmocka_unit_test(test_rfc_long_headers),
		cmocka_unit_test(test_length_roundtrip),
		cmocka_unit_test(test_encode_exact),
		cmocka_unit_test(test_control_frames),
		cmocka_unit_test(test_err_rsv),
		cmocka_unit_test(test_err_opcode),
		cmocka_unit_test(test_err_control_fragmented),
		cmocka_unit_test(test_err_control_too_long),
		cmocka_unit_test(test_err_mask_side),
		cmocka_unit_test(test_err_length),
		cmocka_unit_test(test_err_not_minimal),
		cmocka_unit_test(test_err_order),
		cmocka_unit_test(test_error_code_and_text),
		cmocka_unit_test(test_parse_random),
		cmocka_unit_test(test_mask_rfc),
		cmocka_unit_test(test_mask_split),
		cmocka_unit_test(test_mask_random_large),
		cmocka_unit_test(test_close_codes),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

/*
 * frame: RFC 6455 frame headers and payload masking.
 *
 * The parser works on whatever prefix of a header the caller has.  It
 * decides as early as the bytes allow: anything wrong in the first two
 * bytes is reported at once, a bad 64-bit length as soon as its first
 * byte is present, and a non-minimal length as soon as the whole length
 * field is present.  Otherwise it asks for more until the header,
 * including the mask, is complete.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "frame.h"

#define WS_FIN		0x80
#define WS_RSV_MASK	0x70
#define WS_RSV_SHIFT	4
#define WS_OPCODE_MASK	0x0F
#define WS_MASK_BIT	0x80
#define WS_LEN_MASK	0x7F
#define WS_LEN_16	126
#define WS_LEN_64	127

/* True for the opcodes RFC 6455 defines. */
static bool
opcode_known(uint8_t op)
{
	switch (op) {
	case WS_OP_CONT:
	case WS_OP_TEXT:
	case WS_OP_BINARY:
	case WS_OP_CLOSE:
	case WS_OP_PING:
	case WS_OP_PONG:
		return true;
	default:
		return false;
	}
}

/* Read a big-endian number of n bytes. */
static uint64_t
read_be(const uint8_t *p, size_t n)
{
	uint64_t v = 0;
	size_t i;

	for (i = 0; i < n; i++)
		v = (v << 8) | p[i];
	return v;
}

/* Write v as a big-endian number of n bytes. */
static void
write_be(uint8_t *p, uint64_t v, size_t n)
{
	size_t i;

	for (i = n; i > 0; i--) {
		p[i - 1] = (uint8_t)(v & 0xFF);
		v >>= 8;
	}
}

enum ws_frame_result
ws_frame_parse_header(const uint8_t *buf, size_t len, bool want_masked,
    uint8_t rsv_allowed, struct ws_frame_header *h)
{
	uint8_t b0, b1, len7;
	size_t extlen, need;
	uint64_t plen;

	memset(h, 0, sizeof(*h));

	/*
	 * The first byte alone settles the RSV, opcode and fragmented
	 * control frame checks, so report those without waiting.
	 */
	if (len < 1)
		return WS_FRAME_NEED_MORE;
	b0 = buf[0];
	h->fin = (b0 & WS_FIN) != 0;
	h->rsv = (b0 & WS_RSV_MASK) >> WS_RSV_SHIFT;
	h->opcode = b0 & WS_OPCODE_MASK;
	if ((h->rsv & ~rsv_allowed) != 0)
		return WS_FRAME_ERR_RSV;
	if (!opcode_known(h->opcode))
		return WS_FRAME_ERR_OPCODE;
	if (ws_opcode_is_control(h->opcode) && !h->fin)
		return WS_FRAME_ERR_CONTROL_FRAGMENTED;

	if (len < 2)
		return WS_FRAME_NEED_MORE;
	b1 = buf[1];
	h->masked = (b1 & WS_MASK_BIT) != 0;
	len7 = b1 & WS_LEN_MASK;
	if (ws_opcode_is_control(h->opcode) && len7 > WS_CONTROL_MAX)
		return WS_FRAME_ERR_CONTROL_TOO_LONG;
	if (h->masked != want_masked)
		return want_masked ? WS_FRAME_ERR_UNMASKED :
		    WS_FRAME_ERR_MASKED;

	if (len7 == WS_LEN_16)
		extlen = 2;
	else if (len7 == WS_LEN_64)
		extlen = 8;
	else
		extlen = 0;

	/* The top bit of a 64-bit length is in its first byte. */
	if (extlen == 8 && len >= 3 && (buf[2] & 0x80) != 0)
		return WS_FRAME_ERR_LENGTH;

	if (len < 2 + extlen)
		return WS_FRAME_NEED_MORE;
	if (extlen == 0)
		plen = len7;
	else
		plen = read_be(buf + 2, extlen);
	if ((extlen == 2 && plen < WS_LEN_16) ||
	    (extlen == 8 && plen <= 0xFFFF))
		return WS_FRAME_ERR_NOT_MINIMAL;
	h->payload_len = plen;

	need = 2 + extlen + (h->masked ? 4 : 0);
	if (len < need)
		return WS_FRAME_NEED_MORE;
	if (h->masked)
		memcpy(h->mask, buf + 2 + extlen, 4);
	h->header_len = need;
	return WS_FRAME_OK;
}

int
ws_frame_error_code(enum ws_frame_result r)
{
	if (r == WS_FRAME_OK || r == WS_FRAME_NEED_MORE)
		return 0;
	return WS_CLOSE_PROTOCOL_ERROR;
}

const char *
ws_frame_strerror(enum ws_frame_result r)
{
	switch (r) {
	case WS_FRAME_OK:
		return "no error";
	case WS_FRAME_NEED_MORE:
		return "incomplete frame header";
	case WS_FRAME_ERR_RSV:
		return "reserved bit set without an extension";
	case WS_FRAME_ERR_OPCODE:
		return "reserved opcode";
	case WS_FRAME_ERR_CONTROL_FRAGMENTED:
		return "fragmented control frame";
	case WS_FRAME_ERR_CONTROL_TOO_LONG:
		return "control frame payload over 125 bytes";
	case WS_FRAME_ERR_UNMASKED:
		return "client frame not masked";
	case WS_FRAME_ERR_MASKED:
		return "server frame masked";
	case WS_FRAME_ERR_LENGTH:
		return "payload length has the most significant bit set";
	case WS_FRAME_ERR_NOT_MINIMAL:
		return "payload length not minimally encoded";
	}
	return "unknown frame error";
}

size_t
ws_frame_encode_header(uint8_t *out, bool fin, uint8_t opcode,
    uint64_t payload_len, const uint8_t *mask)
{
	uint8_t maskbit = mask != NULL ? WS_MASK_BIT : 0;
	size_t n;

	out[0] = (fin ? WS_FIN : 0) | (opcode & WS_OPCODE_MASK);
	if (payload_len < WS_LEN_16) {
		out[1] = maskbit | (uint8_t)payload_len;
		n = 2;
	} else if (payload_len <= 0xFFFF) {
		out[1] = maskbit | WS_LEN_16;
		write_be(out + 2, payload_len, 2);
		n = 4;
	} else {
		out[1] = maskbit | WS_LEN_64;
		write_be(out + 2, payload_len, 8);
		n = 10;
	}
	if (mask != NULL) {
		memcpy(out + n, mask, 4);
		n += 4;
	}
	return n;
}

void
ws_mask(uint8_t *data, size_t len, const uint8_t mask[4], uint64_t offset)
{
	uint8_t twice[8], pattern[8];
	uint64_t m64, w;
	unsigned k = (unsigned)(offset & 3);
	size_t i = 0;

	/*
	 * Eight bytes at a time, with the mask rotated to start at k and
	 * repeated to eight bytes.  It is laid out in memory order, so it
	 * is right whatever the byte order of the machine, and since 8 is a
	 * multiple of 4 it stays in phase from one word to the next.  The
	 * words are copied in and out with memcpy, which compiles to plain
	 * (unaligned) loads and stores where the machine has them.
	 */
	if (len >= 8) {
		memcpy(twice, mask, 4);
		memcpy(twice + 4, mask, 4);
		memcpy(pattern, twice + k, 4);
		memcpy(pattern + 4, twice + k, 4);
		memcpy(&m64, pattern, sizeof(m64));
		for (; len - i >= 8; i += 8) {
			memcpy(&w, data + i, sizeof(w));
			w ^= m64;
			memcpy(data + i, &w, sizeof(w));
		}
	}

	/* The tail; i is a multiple of 8, so the phase is still k. */
	for (; i < len; i++)
		data[i] ^= mask[(k + i) & 3];
}

bool
ws_close_code_valid(unsigned code)
{
	if (code >= 1000 && code <= 1003)
		return true;
	if (code >= 1007 && code <= 1014)
		return true;
	if (code >= 3000 && code <= 4999)
		return true;
	return false;
}

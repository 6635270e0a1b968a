/*
 * frame: RFC 6455 frame headers, parsed and encoded over plain byte
 * buffers, and masking.  No I/O and no allocation: the connection code
 * feeds it whatever bytes it has and acts on the verdict.
 */
#ifndef WSD_FRAME_H
#define WSD_FRAME_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum ws_opcode {
	WS_OP_CONT = 0x0,
	WS_OP_TEXT = 0x1,
	WS_OP_BINARY = 0x2,
	WS_OP_CLOSE = 0x8,
	WS_OP_PING = 0x9,
	WS_OP_PONG = 0xA,
};

/* Close status codes (RFC 6455 section 7.4.1). */
enum ws_close_code {
	WS_CLOSE_NORMAL = 1000,
	WS_CLOSE_GOING_AWAY = 1001,
	WS_CLOSE_PROTOCOL_ERROR = 1002,
	WS_CLOSE_UNSUPPORTED = 1003,
	WS_CLOSE_NO_STATUS = 1005,	/* never on the wire */
	WS_CLOSE_ABNORMAL = 1006,	/* never on the wire */
	WS_CLOSE_INVALID_DATA = 1007,
	WS_CLOSE_POLICY = 1008,
	WS_CLOSE_TOO_BIG = 1009,
	WS_CLOSE_EXTENSION = 1010,
	WS_CLOSE_INTERNAL = 1011,
};

/*
 * RSV1 as struct ws_frame_header.rsv holds it, and in a frame's first
 * byte (permessage-deflate's "compressed" bit, RFC 7692).
 */
#define WS_RSV1		0x4
#define WS_RSV1_BIT	0x40

/* The longest header: 2 bytes, 8 bytes of length, 4 bytes of mask. */
#define WS_FRAME_MAX_HEADER 14
/* Control frames carry at most this many payload bytes (section 5.5). */
#define WS_CONTROL_MAX 125

struct ws_frame_header {
	bool		fin;
	uint8_t		rsv;		/* the three RSV bits, 0..7 */
	uint8_t		opcode;
	bool		masked;
	uint8_t		mask[4];
	uint64_t	payload_len;
	size_t		header_len;	/* bytes the header took */
};

enum ws_frame_result {
	WS_FRAME_OK = 1,		/* a whole header was parsed */
	WS_FRAME_NEED_MORE = 0,		/* not enough bytes yet */
	WS_FRAME_ERR_RSV = -1,		/* RSV bit set, no extension */
	WS_FRAME_ERR_OPCODE = -2,	/* reserved opcode */
	WS_FRAME_ERR_CONTROL_FRAGMENTED = -3,
	WS_FRAME_ERR_CONTROL_TOO_LONG = -4,
	WS_FRAME_ERR_UNMASKED = -5,	/* a client frame without a mask */
	WS_FRAME_ERR_MASKED = -6,	/* a server frame with a mask */
	WS_FRAME_ERR_LENGTH = -7,	/* 64-bit length with the MSB set */
	WS_FRAME_ERR_NOT_MINIMAL = -8,	/* length not in its shortest form */
};

/*
 * Parse the frame header at the start of buf.  want_masked says which side
 * we are: true when reading client frames (they must be masked), false when
 * reading server frames (they must not be).  rsv_allowed is the set of RSV
 * bits that negotiated extensions permit (0 without extensions), in the
 * layout of struct ws_frame_header.rsv: RSV1 = 0x4, RSV2 = 0x2, RSV3 = 0x1.
 * Every error maps to close code 1002 (ws_frame_error_code()).
 */
enum ws_frame_result ws_frame_parse_header(const uint8_t *buf, size_t len,
    bool want_masked, uint8_t rsv_allowed, struct ws_frame_header *h);

/* The close code a parse error calls for. */
int ws_frame_error_code(enum ws_frame_result r);

/* A short English description of a parse error, for logs. */
const char *ws_frame_strerror(enum ws_frame_result r);

/*
 * Write a frame header into out (at least WS_FRAME_MAX_HEADER bytes) and
 * return its length.  mask may be NULL (server frames are never masked).
 */
size_t ws_frame_encode_header(uint8_t *out, bool fin, uint8_t opcode,
    uint64_t payload_len, const uint8_t *mask);

/*
 * XOR data with the 4-byte mask in place.  offset is the position of
 * data[0] within the frame's payload, so a payload can be unmasked in
 * pieces.
 */
void ws_mask(uint8_t *data, size_t len, const uint8_t mask[4],
    uint64_t offset);

/* True for opcodes 0x8..0xF. */
static inline bool
ws_opcode_is_control(uint8_t op)
{
	return (op & 0x8) != 0;
}

/*
 * True if code may appear in a Close frame received from a peer
 * (1000-1003, 1007-1014 as registered, 3000-4999).
 */
bool ws_close_code_valid(unsigned code);

#endif /* WSD_FRAME_H */

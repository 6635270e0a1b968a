/*
 * ws_rx: the RFC 6455 receive engine.  Bytes in, messages out: frame
 * headers, unmasking, reassembly of fragmented messages, UTF-8 checks
 * (failing at the offending fragment), control frames, and the message
 * size and fragment limits.  It knows no socket and no connection: its
 * owner feeds it whatever bytes it has and hears back through a small
 * table of callbacks.
 *
 * Whole unfragmented frames are unmasked and delivered where they lie in
 * the caller's buffer (no copy); only a fragmented message, or a frame
 * larger than WS_RX_WAIT_MAX that arrives in pieces, is gathered into
 * the engine's own buffer, which is freed once the message is delivered.
 * A compressed message (permessage-deflate) in fragments or pieces is
 * never gathered: each piece goes to its owner as it arrives, to be
 * inflated and checked there.  A compressed text frame is not waited for
 * either, whatever its size, so that its first inflated byte that is not
 * UTF-8 fails it while the rest is still on its way.
 */
#ifndef WSD_WS_RX_H
#define WSD_WS_RX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "frame.h"
#include "utf8.h"

/*
 * Unfragmented frames up to this size are waited for whole (ws_rx_feed
 * says how much is missing) rather than streamed into the message buffer.
 */
#define WS_RX_WAIT_MAX	(256 * 1024)

struct ws_rx_limits {
	uint64_t	max_message_size;
	uint32_t	max_fragments;
};

/*
 * What the engine tells its owner.  message and control return 0 to go
 * on, or nonzero when the owner wants no more frames (it is closing or
 * failed); ws_rx_feed then returns at once.  After fail, the engine
 * delivers nothing more from that call.  data is valid during the call
 * only; message data may be modified by the callee.
 */
struct ws_rx_ops {
	int	(*message)(void *arg, uint8_t opcode, uint8_t *data,
		    size_t len);
	int	(*control)(void *arg, uint8_t opcode, const uint8_t *data,
		    size_t len);
	void	(*fail)(void *arg, int code, const char *why);
	/*
	 * A message that came with RSV1 (permessage-deflate, only when
	 * rsv1_ok): its data is compressed, not yet checked as UTF-8.
	 */
	int	(*message_z)(void *arg, uint8_t opcode, uint8_t *data,
		    size_t len);
	/*
	 * A compressed message that is not whole in one buffer (it is
	 * fragmented, a text frame arriving in pieces, or another frame
	 * larger than WS_RX_WAIT_MAX arriving in pieces): its payload
	 * unmasked, piece by piece as it arrives,
	 * in order, control frames between fragments going to control
	 * as usual.  fin comes with the message's last piece, which may
	 * be empty.  Returns as message does.
	 */
	int	(*part_z)(void *arg, uint8_t opcode, uint8_t *data,
		    size_t len, bool fin);
};

struct ws_rx {
	struct ws_frame_header	 fh;
	bool			 have_header;
	uint8_t			 msg_op;	/* message in progress, or 0 */
	bool			 rsv1_ok;	/* permessage-deflate is on */
	bool			 msg_z;		/* the message has RSV1 */
	uint32_t		 nfrags;
	utf8_state		 utf8;
	uint64_t		 frame_off;	/* payload bytes consumed */
	uint8_t			*msg;
	size_t			 msg_len, msg_cap;	/* compressed: no msg */
	size_t			 want;		/* see ws_rx_feed */
	/*
	 * A whole text frame waited for (at most WS_RX_WAIT_MAX): how much
	 * of its payload is already known to be UTF-8 (rx->utf8 is where
	 * that check stands), so that a client trickling a frame gets its
	 * 1007 at the first bad byte, not when the frame is complete.
	 */
	size_t			 wait_checked;
};

/*
 * A compressed message may be a little larger than max_message_size,
 * which bounds its inflated size: deflate adds at most 5 bytes per
 * 16 KiB stored block to data that does not compress.
 */
static inline uint64_t
ws_rx_max_compressed(uint64_t max)
{
	uint64_t slack = max / 1024 + 64;

	return max > UINT64_MAX - slack ? UINT64_MAX : max + slack;
}

/*
 * A new engine (zeroed memory is one too).  Its owner sets rsv1_ok once
 * permessage-deflate is negotiated: RSV1 is then allowed on the first
 * frame of a data message, whose message goes to message_z or part_z.
 */
void	 ws_rx_init(struct ws_rx *rx);

/* Free what the engine holds (a partly received message). */
void	 ws_rx_free(struct ws_rx *rx);

/*
 * Run buf[0..len) through the engine; whole frames are unmasked in place.
 * Returns the bytes taken.  What is left is the unfinished start of a
 * frame, which the caller keeps and feeds again, followed by more bytes;
 * rx->want then says how many more that frame needs, when known (0
 * otherwise).  After a callback asked to stop, or after fail, the whole
 * of len is reported taken.
 */
size_t	 ws_rx_feed(struct ws_rx *rx, uint8_t *buf, size_t len,
	    const struct ws_rx_limits *lim, const struct ws_rx_ops *ops,
	    void *arg);

#endif /* WSD_WS_RX_H */

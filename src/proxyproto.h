/*
 * proxyproto: the PROXY protocol header a load balancer puts in front of
 * a connection's first byte to say whom it relays (HAProxy's
 * proxy-protocol.txt: version 1, one line of text; version 2, binary).
 * Pure: bytes in, the addresses out; the caller reads the socket.
 *
 * The header may come in pieces.  pp_parse() looks at everything
 * received so far and says whether it is a complete header, the start
 * of one, or not one at all; it rejects a bad prefix as soon as the
 * first wrong byte is in, so that a client speaking HTTP or TLS to a
 * proxy_protocol listener is turned away at its first read, not at the
 * handshake timeout.
 */
#ifndef WSD_PROXYPROTO_H
#define WSD_PROXYPROTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

/* The longest version 1 line, CRLF included (the spec's worst case). */
#define PP_V1_MAX	107
/* Version 2: the fixed part, and the most we take after it (TLVs). */
#define PP_V2_FIXED	16
#define PP_V2_MAX_LEN	1024
#define PP_V2_MAX	(PP_V2_FIXED + PP_V2_MAX_LEN)
/* The most bytes a header can take: what a reader's buffer needs. */
#define PP_MAX		PP_V2_MAX

struct pp_info {
	int			 version;	/* 1 or 2 */
	/*
	 * The header names no client (v1 UNKNOWN, v2 LOCAL, a v2 family
	 * or transport wsd does not take addresses from): use the
	 * connection's own endpoints, as the spec says.
	 */
	bool			 local;
	/* The client (src) and the address it connected to (dst). */
	struct sockaddr_storage	 src, dst;
	/* v2: a PP2_TYPE_SSL TLV says the client came over TLS. */
	bool			 ssl;
};

/*
 * Look at buf[0..len), all that the connection has sent so far.
 * Returns the header's length (> 0) when buf starts with a complete,
 * valid header, and fills *info; 0 when buf is a valid beginning of a
 * header that needs more bytes; -1 when it is not a valid header, with
 * *why (if why is not NULL) a short static reason for the log.
 * Never reads past buf[len - 1]; a header longer than PP_MAX is -1.
 */
int	pp_parse(const uint8_t *buf, size_t len, struct pp_info *info,
	    const char **why);

#endif /* WSD_PROXYPROTO_H */

/*
 * handshake: validate a parsed HTTP request as a WebSocket opening
 * handshake (RFC 6455 section 4.2.1), compute Sec-WebSocket-Accept and
 * apply the origin policy.  Pure: no I/O.
 */
#ifndef WSD_HANDSHAKE_H
#define WSD_HANDSHAKE_H

#include <stdbool.h>
#include <stddef.h>

#include "http.h"

/* base64 of a SHA-1 digest: 28 characters and a NUL. */
#define WS_ACCEPT_LEN 28

/* What a valid upgrade request carries; pointers into the request. */
struct ws_upgrade {
	const char	*key;		/* Sec-WebSocket-Key, 24 chars */
	size_t		 key_len;
	const char	*host;
	size_t		 host_len;
	const char	*origin;	/* NULL if absent */
	size_t		 origin_len;
	const char	*protocols;	/* Sec-WebSocket-Protocol, or NULL */
	size_t		 protocols_len;
};

/*
 * True if the request asks for a WebSocket upgrade at all (an Upgrade
 * header whose list has "websocket" and a Connection header whose list
 * has "upgrade").  Requests that do not are served as plain HTTP.
 */
bool ws_is_upgrade(const struct http_request *req);

/*
 * Check an upgrade request.  Returns 0 and fills *up when it is valid,
 * otherwise the HTTP status to answer with:
 *   405 method is not GET;
 *   400 HTTP/1.0, missing or repeated Host, bad or repeated
 *       Sec-WebSocket-Key (must be base64 of 16 bytes), repeated
 *       Origin or Sec-WebSocket-Version;
 *   426 Sec-WebSocket-Version missing or not 13 (answer with
 *       "Sec-WebSocket-Version: 13").
 */
int ws_check_upgrade(const struct http_request *req, struct ws_upgrade *up);

/*
 * Compute Sec-WebSocket-Accept for key[0..len) into out (at least
 * WS_ACCEPT_LEN + 1 bytes).  Returns 0, or -1 if OpenSSL failed.
 */
int ws_accept_key(const char *key, size_t len, char *out);

/*
 * Origin policy.  With no list (norigins == 0) only a same-host origin
 * is allowed: the origin's host[:port] must equal the Host header
 * (case-insensitive), as Tornado's default check_origin does; a request
 * without an Origin header (a non-browser client) is allowed.  With a
 * list, "*" allows everything, otherwise the origin must equal one entry
 * exactly (scheme://host[:port], case-insensitive); a missing Origin is
 * then allowed too, since only browsers send one.
 */
bool ws_origin_allowed(const struct ws_upgrade *up, const char *const *origins,
    size_t norigins);

/*
 * Pick the first of the client's offered subprotocols (comma list) that
 * equals one of ours.  Returns its index in ours, or -1.
 */
int ws_pick_subprotocol(const char *offered, size_t len,
    const char *const *ours, size_t nours);

#endif /* WSD_HANDSHAKE_H */

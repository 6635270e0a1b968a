/*
 * bpwire: the pure parts of the Redis backplane.  What wsd puts on a
 * Redis channel and how it reads what it finds there, the PUBLISH
 * command in Redis's wire format, and the `cluster.redis` address.  No
 * I/O, no allocation, no logging.
 *
 * A payload on channel PREFIX+TOPIC is either
 *   - plain: anything not starting with byte 0xFF, a text message (a
 *     backend's `PUBLISH wsd:news hello`), or
 *   - an envelope: "\xffWSD", a version byte (1), an opcode byte (1 text,
 *     2 binary), the publishing node's id (8 bytes, big endian), then the
 *     message.  0xFF never starts valid UTF-8, so the two cannot be
 *     confused.  wsd publishes only envelopes; a backend uses one (node
 *     id 0) to send binary.
 */
#ifndef WSD_BPWIRE_H
#define WSD_BPWIRE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define BPWIRE_MAGIC		"\xffWSD"
#define BPWIRE_MAGIC_LEN	4
#define BPWIRE_VERSION		1
#define BPWIRE_HEADER		14	/* magic, version, opcode, node id */
#define BPWIRE_DEFAULT_PORT	6379
#define BPWIRE_PATH_MAX		108	/* sizeof(sun_path) on Linux */
#define BPWIRE_HOST_MAX		46	/* INET6_ADDRSTRLEN */

/* What to do with a payload read from Redis. */
enum bpwire_verdict {
	BPWIRE_DELIVER = 0,	/* m is the message for the subscribers */
	BPWIRE_OWN,		/* our own node published it: already delivered */
	BPWIRE_BAD_ENVELOPE,	/* starts with 0xFF but is no envelope we know */
	BPWIRE_TOO_BIG,		/* over max_message_size */
	BPWIRE_BAD_UTF8,	/* a text message that is not UTF-8 */
};

struct bpwire_msg {
	int		 opcode;	/* 1 text, 2 binary */
	bool		 enveloped;
	uint64_t	 node;		/* enveloped only; else 0 */
	const uint8_t	*data;		/* points into the payload */
	size_t		 len;
};

/* The envelope header of a message wsd publishes. */
void	bpwire_header(uint8_t out[BPWIRE_HEADER], int opcode, uint64_t node);

/*
 * Judge payload p[0..n) from Redis for a node whose id is self; m gets
 * the message (pointing into p) when the verdict is BPWIRE_DELIVER, and
 * as much as was decoded otherwise.
 */
enum bpwire_verdict bpwire_judge(const uint8_t *p, size_t n, uint64_t self,
	    uint64_t max_size, struct bpwire_msg *m);

/* A short English name of a verdict, for logs. */
const char *bpwire_verdict_name(enum bpwire_verdict v);

/*
 * PUBLISH channel (hdr + data) as a Redis command (RESP array of bulk
 * strings).  bpwire_publish_size() is the exact size; _format writes it
 * to out (at least that big) and returns it.  0 from _size: too big to
 * describe (size_t overflow).
 */
size_t	bpwire_publish_size(size_t chlen, size_t hlen, size_t len);
size_t	bpwire_publish_format(uint8_t *out, const char *ch, size_t chlen,
	    const uint8_t *hdr, size_t hlen, const void *data, size_t len);

/* Where Redis is: a TCP host (numeric) and port, or a Unix socket. */
struct bpwire_addr {
	bool	 unix_path;
	char	 host[BPWIRE_HOST_MAX];	/* numeric IPv4 or IPv6 */
	int	 port;
	char	 path[BPWIRE_PATH_MAX];
};

/*
 * Parse "HOST:PORT", "[IPV6]:PORT", "HOST" (port 6379) or an absolute
 * Unix socket path.  HOST is a numeric IPv4 address, "localhost"
 * (taken as 127.0.0.1, with no resolver asked) or, in brackets, a
 * numeric IPv6 address.  Returns 0, or -1 with *why set to a static
 * message.
 */
int	bpwire_parse_addr(const char *s, struct bpwire_addr *a,
	    const char **why);

#endif /* WSD_BPWIRE_H */

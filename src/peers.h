/*
 * peers: topic messages between the workers of one node.  Each worker
 * listens on its abstract Unix socket (workers_peer_name()) and keeps
 * one outgoing stream to every other live worker, which carries only
 * its own messages to that worker, in publish order.  See peers.c for
 * the record format and the bounds.
 */
#ifndef WSD_PEERS_H
#define WSD_PEERS_H

#include <stddef.h>
#include <stdint.h>

struct server;
struct peers;

/*
 * srv->peers in a worker (worker_self.shm set); nothing elsewhere.
 * Returns 0, or -1 when the peer socket cannot be set up.
 */
int		 peers_init(struct server *srv);
void		 peers_fini(struct server *srv);

/*
 * Hand a checked message to every other live worker of the node.  Never
 * blocks: what a worker does not take is queued up to a bound, past it
 * dropped and counted.  ps may be NULL (no workers).
 */
void		 peers_publish(struct peers *ps, const char *name, size_t nlen,
		    int opcode, const void *data, size_t len);

/* Messages dropped for some peer so far (full queue, no connection). */
uint64_t	 peers_dropped(const struct peers *ps);

/* ---- The record codec: pure, for peers.c, its tests and fuzzer. */

/* [u32 length][u8 opcode][u8 name length]: then name and payload. */
#define PEER_LEN_SIZE	4
#define PEER_HDR_SIZE	6
/* The most a record's length field may say (it is 32 bits). */
#define PEER_LEN_MAX	UINT32_MAX

struct peer_record {
	int		 opcode;	/* WSD_TEXT or WSD_BINARY */
	const char	*name;		/* not NUL terminated */
	size_t		 nlen;
	const uint8_t	*data;
	size_t		 len;
};

/*
 * Write the header and name of a record for a payload of len bytes into
 * buf (room for PEER_HDR_SIZE + WSD_TOPIC_MAX).  Returns the bytes
 * written, or 0 if the record cannot be encoded (bad opcode or name, or
 * a payload too large for the length field).  The payload follows.
 */
size_t		 peer_record_encode(uint8_t *buf, int opcode,
		    const char *name, size_t nlen, size_t len);

enum peer_decode {
	PEER_BAD = -1,		/* malformed: close the stream */
	PEER_MORE = 0,		/* incomplete: *need says how much */
	PEER_OK = 1,		/* *rec is set; *need bytes are used */
};

/*
 * Decode the record at the start of buf[0..len).  A payload longer than
 * max_payload is malformed.  Malformed headers are reported as soon as
 * the bytes that show it are there.  *need is the size of the whole
 * record once its length field is in buf (else PEER_HDR_SIZE).
 */
enum peer_decode peer_record_decode(const uint8_t *buf, size_t len,
		    uint64_t max_payload, struct peer_record *rec,
		    size_t *need);

#endif /* WSD_PEERS_H */

/*
 * pmd: the permessage-deflate extension (RFC 7692), its pure parts.
 *
 *	negotiation	the client's Sec-WebSocket-Extensions offers in, the
 *			parameters of the first acceptable one out, and the
 *			one-element response that accepts it (section 7)
 *	inflate		one received message, in bounded steps, with the
 *			message size limit applied to the inflated bytes
 *			and text checked as UTF-8 as it comes out; whole,
 *			or piece by piece as its fragments arrive
 *	deflate		one message to send, without the 00 00 FF FF tail
 *	streams		zlib streams shared by a worker (no context
 *			takeover: reset per message) or owned by one
 *			connection (context takeover: made when its first
 *			compressed message comes or goes)
 *
 * No I/O: conn*.c feed it bytes and act on the verdicts.
 */
#ifndef WSD_PMD_H
#define WSD_PMD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "utf8.h"

struct z_stream_s;

/* Defaults of the `compression` group (wsd.conf(5)). */
#define PMD_DEFAULT_LEVEL	1
#define PMD_DEFAULT_MEM_LEVEL	4
#define PMD_DEFAULT_WBITS	15
#define PMD_DEFAULT_MIN_SIZE	64

/*
 * zlib cannot make a raw deflate stream with an 8-bit window, so wsd
 * never compresses with one: an offer that insists on it is declined.
 * It inflates with any window from 8 to 15 bits.
 */
#define PMD_SERVER_WBITS_MIN	9
#define PMD_CLIENT_WBITS_MIN	8
#define PMD_WBITS_MAX		15

/* What the configuration asks for or accepts. */
struct pmd_conf {
	bool		enabled;
	bool		server_no_context_takeover;
	bool		client_no_context_takeover;
	uint8_t		server_max_window_bits;	/* 9..15 */
	uint8_t		client_max_window_bits;	/* 8..15 */
	uint8_t		level;			/* 1..9 */
	uint8_t		mem_level;		/* 1..9 */
	uint64_t	min_size;		/* smaller messages go plain */
};

/* The defaults: disabled, no context takeover either way, 15 bits. */
void	 pmd_conf_default(struct pmd_conf *c);

/*
 * What was negotiated with one client.  server_* is what we compress
 * with, client_* what we inflate.  The resp_* flags say which window
 * parameters the response carries.
 */
struct pmd_params {
	bool		on;
	bool		server_nct;		/* no context takeover */
	bool		client_nct;
	bool		resp_swbits;
	bool		resp_cwbits;
	uint8_t		server_wbits;
	uint8_t		client_wbits;
};

/*
 * Pick the first acceptable permessage-deflate offer among vals[0..n),
 * the values of every Sec-WebSocket-Extensions header of the request in
 * order (a list may be split over several headers).  An offer with an
 * unknown, repeated or invalid parameter, or one that asks for what
 * conf cannot give, is declined and the next one is tried; other
 * extensions are ignored.  Returns true and fills *out if one was
 * accepted; false (and out->on false) if none was.
 */
bool	 pmd_negotiate(const struct pmd_conf *conf, const char *const *vals,
	    const size_t *lens, size_t n, struct pmd_params *out);

/* Room for the longest response value and its NUL. */
#define PMD_RESPONSE_MAX	160

/*
 * The Sec-WebSocket-Extensions value that accepts p: one
 * permessage-deflate element with only the parameters a response may
 * carry.  Returns its length (buf is NUL-terminated).
 */
size_t	 pmd_response(const struct pmd_params *p, char *buf, size_t size);

/* A growable byte buffer; zeroed is empty. */
struct pmd_buf {
	uint8_t		*p;
	size_t		 len, cap;
};

void	 pmd_buf_free(struct pmd_buf *b);

enum pmd_result {
	PMD_OK = 0,
	PMD_TOO_BIG = -1,	/* inflates past the limit: 1009 */
	PMD_BAD_UTF8 = -2,	/* text that is not UTF-8: 1007 */
	PMD_CORRUPT = -3,	/* not deflate data: 1007 */
	PMD_NOMEM = -4,		/* 1011 */
};

/* Output of one inflate call: the bound on the work of one step. */
#define PMD_INFLATE_STEP	(64 * 1024)

/*
 * Inflate the compressed message in[0..len) (the tail 00 00 FF FF is
 * added here) with the raw inflate stream zs, appending to out, which
 * grows in steps and never past max + 1 bytes: a message that inflates
 * to more than max stops there with PMD_TOO_BIG, however much more its
 * input would give.  text: UTF-8 is checked on each step's output, so
 * the first invalid byte stops it (PMD_BAD_UTF8).  On an error out
 * holds what was inflated so far; zs must then be reset or freed.
 */
enum pmd_result pmd_inflate(struct z_stream_s *zs, const uint8_t *in,
	    size_t len, uint64_t max, bool text, struct pmd_buf *out);

/*
 * One message inflated piece by piece, as its fragments arrive: the
 * state that must outlive one read.  zs stays this message's until it
 * ends; out holds what it has inflated so far.
 */
struct pmd_rx {
	struct z_stream_s	*zs;
	struct pmd_buf		 out;
	uint64_t		 max;
	utf8_state		 u;	/* carried across pieces */
	bool			 text;
	bool			 ended;	/* a final block came: rest ignored */
	bool			 spare;	/* zs goes back to the worker */
};

/*
 * Inflate the next piece in[0..len) of r's message onto r->out, with
 * the same limits and checks as pmd_inflate, failing in the piece that
 * passes max or carries the first byte that is not UTF-8; fin: the
 * message ends with this piece (the tail is added, and text must end
 * on a character boundary).  Whatever pieces the compressed message
 * is cut into, the verdict and the output are those of pmd_inflate.
 */
enum pmd_result pmd_rx_feed(struct pmd_rx *r, const uint8_t *in,
	    size_t len, bool fin);

/*
 * Compress data[0..len) as one message with the raw deflate stream zs
 * (sync flush), replacing out's contents with the payload to send, its
 * 00 00 FF FF tail removed.
 */
enum pmd_result pmd_deflate(struct z_stream_s *zs, const uint8_t *data,
	    size_t len, struct pmd_buf *out);

/*
 * Streams.  pmd_inflate_new/pmd_deflate_new return NULL without memory;
 * pmd_stream_free takes either kind (or NULL).
 */
struct z_stream_s *pmd_inflate_new(int wbits);
struct z_stream_s *pmd_deflate_new(int level, int wbits, int mem_level);
void	 pmd_inflate_free(struct z_stream_s *zs);
void	 pmd_deflate_free(struct z_stream_s *zs);
int	 pmd_inflate_reset(struct z_stream_s *zs);
int	 pmd_deflate_reset(struct z_stream_s *zs);

/* Shared deflate streams kept per worker, one per parameter set. */
#define PMD_SHARED_DEFLATE	4

/*
 * Inflate streams (15 bits) a worker keeps for fragmented messages from
 * clients without context takeover, once such a message has ended.
 */
#define PMD_INFLATE_SPARE	4

/*
 * A worker's shared state: one inflate stream (15 bits, so it takes
 * every window) for whole messages from clients without context
 * takeover, spare ones for their fragmented messages (each of which
 * holds a stream until it ends, so two connections can be in the middle
 * of one at once), deflate streams for sending without context
 * takeover, and scratch buffers.  Zeroed is empty; everything is made
 * when first needed.
 */
struct pmd_worker {
	struct z_stream_s	*inflate;
	struct z_stream_s	*spare[PMD_INFLATE_SPARE];
	size_t			 nspare;
	struct {
		struct z_stream_s	*zs;
		uint8_t			 level, wbits, mem_level;
		uint64_t		 used;		/* for replacement */
	}			 deflate[PMD_SHARED_DEFLATE];
	uint64_t		 uses;
	struct pmd_buf		 in;		/* inflated messages */
	struct pmd_buf		 out;		/* compressed messages */
};

/* One connection's extension state; zeroed: not negotiated. */
struct pmd_conn {
	struct pmd_params	 p;
	struct z_stream_s	*inflate;	/* client context takeover */
	struct z_stream_s	*deflate;	/* server context takeover */
	struct pmd_rx		*rx;		/* a fragmented message */
};

/* Free a worker's streams and buffers (it stays usable). */
void	 pmd_worker_free(struct pmd_worker *w);

/* Free a connection's streams. */
void	 pmd_conn_free(struct pmd_conn *pc);

/*
 * Inflate one message of connection pc into w->in (its previous
 * contents dropped).  Without client context takeover the worker's
 * stream is used and reset afterwards; with it, pc's own stream, made
 * now if this is the first compressed message.
 */
enum pmd_result pmd_conn_inflate(struct pmd_worker *w, struct pmd_conn *pc,
	    const uint8_t *in, size_t len, uint64_t max, bool text);

/*
 * Inflate the next piece of a message of pc that comes in fragments (or
 * in a frame too large to wait for whole), as pmd_rx_feed does.  The
 * first piece attaches the message's state to pc (pc->rx): pc's own
 * stream with client context takeover, else a spare of w's, or a new
 * one.  When fin comes with PMD_OK, pc->rx->out is the message.  The
 * caller ends every message (fin, an error, or the connection giving
 * up) with pmd_conn_rx_end.
 */
enum pmd_result pmd_conn_inflate_part(struct pmd_worker *w,
	    struct pmd_conn *pc, const uint8_t *in, size_t len, bool fin,
	    uint64_t max, bool text);

/*
 * Drop pc's message in progress, if any: its buffer freed, a borrowed
 * stream reset and handed back to w (NULL: freed), so that pc holds no
 * zlib state again without context takeover.
 */
void	 pmd_conn_rx_end(struct pmd_worker *w, struct pmd_conn *pc);

/*
 * Compress one message of pc into w->out.  Without server context
 * takeover a worker stream of the same parameters is used (and reset
 * first); with it, pc's own stream, made now if needed.
 */
enum pmd_result pmd_conn_deflate(struct pmd_worker *w, struct pmd_conn *pc,
	    const struct pmd_conf *conf, const uint8_t *data, size_t len);

/*
 * Compress one message for every client whose server side has no
 * context takeover and these parameters (a broadcast): into w->out.
 */
enum pmd_result pmd_shared_deflate(struct pmd_worker *w, int level,
	    int wbits, int mem_level, const uint8_t *data, size_t len);

/* Drop a scratch buffer that a big message grew past this. */
#define PMD_SCRATCH_KEEP	(64 * 1024)
void	 pmd_worker_trim(struct pmd_worker *w);
/*
 * The same for w->out alone: what the sending side calls, since a plugin
 * may be sending from w->in (an inflated message being delivered).
 */
void	 pmd_worker_trim_out(struct pmd_worker *w);

#endif /* WSD_PMD_H */

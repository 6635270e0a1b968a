/*
 * conn_priv: what the connection's own files share, and nobody else.
 *
 *	conn.c		the lifecycle: accept, reads, timers, the closing
 *			handshake, free (the only file that frees a conn)
 *	conn_http.c	the HTTP phase: the request head, static files,
 *			refusals, the upgrade, and the request accessors
 *	conn_out.c	output: the per-connection queue, writes,
 *			back-pressure and broadcast fan-out
 *	conn_tls.c	TLS records on the same read and write paths
 *	conn_proxy.c	behind a proxy: the PROXY protocol header before
 *			anything else, X-Forwarded-* at the request head
 *	topic.c		topic fan-out: it keeps a connection's
 *			subscriptions in c->subs and hands shared frames
 *			to conn_send_shared(); it frees no connection
 *
 * The RFC 6455 receive engine is ws_rx.c, which knows none of these.
 */
#ifndef WSD_CONN_PRIV_H
#define WSD_CONN_PRIV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/queue.h>

#include <event2/buffer.h>
#include <event2/util.h>
#include <openssl/ssl.h>

#include "config.h"
#include "conn.h"
#include "generation.h"
#include "handshake.h"
#include "http.h"
#include "metrics.h"
#include "pmd.h"
#include "route.h"
#include "server.h"
#include "theap.h"
#include "ws_rx.h"

struct evbuffer;
struct epoll_event;
struct addrcount;
struct addrcount_entry;
struct conn_pp;

/* The shared read buffer: the most one recv() takes. */
#define RBUF_SIZE	(256 * 1024)
/* Empty output buffers kept for reuse. */
#define OUTPOOL_MAX	64
/* Distinct request lines shared by the connections that sent them. */
#define REQLINE_CACHE	8
/* Small frames gathered for the connection being read (conn_out.c). */
#define GATHER_MAX	(16 * 1024)

enum conn_state {
	CONN_HTTP,		/* reading the request head */
	CONN_OPEN,		/* WebSocket open */
	CONN_CLOSING,		/* we sent Close, waiting for the client's */
	CONN_LINGER,		/* flushing output, then closing TCP */
	CONN_DEAD,		/* being freed */
};

/*
 * What every connection of a server shares: the read buffer, the list
 * of connections with output to write at the end of the loop iteration
 * and its event, and a pool of empty output buffers.
 */
struct conn_shared {
	struct server		*srv;
	struct event_base	*base;
	struct conn_list	 flushq;
	struct event		*ev_flush;
	uint64_t		 flush_gen;	/* ev_flush runs so far */
	uint8_t			*rbuf;
	struct evbuffer		*outpool[OUTPOOL_MAX];
	size_t			 noutpool;

	/* Output queued for every WebSocket client (max_output_total). */
	uint64_t		 out_total;
	struct event		*ev_budget;
	bool			 budget_pending;	/* ev_budget is active */

	/* Connections in their HTTP phase, per client address. */
	struct addrcount	*pending;
	uint64_t		 pending_refused;	/* since the last log */
	uint64_t		 pending_log_ms;

	/* PROXY protocol: connections refused, all and not yet logged. */
	uint64_t		 proxy_refused_total;
	uint64_t		 proxy_refused;
	uint64_t		 proxy_log_ms;

	/* permessage-deflate: streams and scratch shared by every conn. */
	struct pmd_worker	 pmd;

	/*
	 * The text message being delivered to a plugin, checked as UTF-8
	 * on its way in: a send of exactly these bytes (an echo, a chat
	 * line broadcast as it came) is not checked again.  NULL outside
	 * a delivery.  See conn_text_known_valid().
	 */
	const uint8_t		*rx_text;
	size_t			 rx_text_len;

	/*
	 * Reads: every connection's socket is in epfd (level-triggered, the
	 * conn as its data), and ev_poll watches epfd: one struct event for
	 * all of them, where one each cost 128 bytes and libevent's map of
	 * descriptors more.  pollv[0..npoll) is the batch being run (an
	 * entry is voided when its conn goes).  A read callback that must
	 * run without the socket saying so (TLS data OpenSSL holds) is
	 * queued on act, run from ev_act.
	 */
	int			 epfd;
	struct event		*ev_poll;
	struct epoll_event	*pollv;
	int			 npoll;
	struct conn		*act, *act_tail;
	size_t			 nact;
	struct event		*ev_act;

	/*
	 * Every connection's one deadline (handshake, keepalive, close), in
	 * microseconds of conn.c's timer_now_us(); ev_timer is armed for the
	 * earliest, at timer_at (0: not armed).
	 */
	struct theap		 timers;
	struct event		*ev_timer;
	uint64_t		 timer_at;

	/* The last request lines seen (conn_http.c), each counted. */
	char			*reqlines[REQLINE_CACHE];
	size_t			 reqline_next;

	/*
	 * Every connection by id, for wsd_conn_find(): chained buckets.  It
	 * is the list of every connection too (conn_shutdown_all, budget).
	 */
	struct conn		**byid;
	size_t			 byid_mask;	/* buckets - 1 */
	size_t			 byid_n;

	/*
	 * Small frames sent to the connection being read (gconn) while it
	 * has nothing else queued, put together here and written with one
	 * send() at the end of its conn_readcb: the common echo then costs
	 * no evbuffer.  They count as its queued output; anything queued
	 * in c->out after them moves them there first (conn_outbuf).
	 */
	struct conn		*gconn;
	size_t			 glen;		/* 0 unless gconn is set */
	uint8_t			 gbuf[GATHER_MAX];
};

/* A Ping the plugin sent (wsd_ping()), to time its Pong. */
struct conn_ping {
	uint64_t		 sent_us;
	bool			 outstanding;
	uint8_t			 len;
	uint8_t			 data[125];
};

/*
 * The request head and what is derived from it: allocated with the first
 * bytes of a request, freed once `open` has run, so that an open
 * connection carries none of it.
 */
struct conn_request {
	struct http_parser	 hp;		/* where the head's parse stands */
	char			*head;		/* our copy, once complete */
	struct http_request	 req;		/* set once complete */
	struct http_header	*hdrs;		/* max_hdrs entries */
	size_t			 max_hdrs;
	char			*path_z, *query_z;
	char			**strs;		/* strings handed to the plugin */
	size_t			 nstrs;
	char			*extra_headers;	/* "Name: value\r\n"... */
	char			 accept[WS_ACCEPT_LEN + 1];	/* for the 101 */
	/*
	 * Matched: wsd_param()'s pattern.  Not referenced: use it only
	 * while it is c->route (a reload may retire it before a refused
	 * request ends).  route_path, its path in c->gen's configuration,
	 * and route_metrics, in the process's registry, stay good as long
	 * as c (the access log's and the metrics').
	 */
	struct route		*route;
	const char		*route_path;
	struct route_metrics	*route_metrics;
	/* X-Forwarded-Host from a trusted proxy, into head; or NULL. */
	const char		*fwd_host;
	size_t			 fwd_host_len;
};

/*
 * What few connections need, made the first time one does (conn_cold()),
 * so that an idle plain connection carries one pointer for all of it.
 */
struct conn_cold {
	char			*client;	/* behind a proxy: c->remote */
	struct conn_pp		*pp;		/* the PROXY header being read */
	struct conn_ping	*uping;		/* the plugin's last wsd_ping() */
	char			*close_reason;	/* NULL: none */
	char			*subprotocol;	/* chosen by the hook */
	char			*peer_subject;	/* verified client certificate */
	char			*local;		/* wsd_local_addr(), once asked */
	/* Writable: made for a client that once did not take it all. */
	struct event		*wev;
};

/* The longest address text: "[IPv6]:port", with its NUL. */
#define CONN_ADDR_MAX	64

/*
 * The fields every read and echo touches come first, then the rest;
 * what an idle connection does not need is in cold (or the request, rq,
 * freed once `open` has run).  The remote address text follows the
 * struct in the same allocation (conn_new).
 * tests/test_conn_size bounds sizeof(struct conn).
 */
struct conn {
	struct server		*srv;		/* srv->cs: what conns share */
	SSL			*ssl;		/* NULL: plain */
	struct evbuffer		*out;		/* only while output waits */
	struct route		*route;		/* once upgraded; referenced */
	evutil_socket_t		 fd;
	enum conn_state		 state:8;

	/* Output: queued for the end of this loop iteration. */
	bool			 flush_queued:1;
	bool			 in_read:1;	/* in conn_readcb */
	bool			 flush_now:1;	/* write at its end */
	bool			 wev_added:1;
	bool			 wr_shut:1;	/* our FIN is sent */
	bool			 rd_eof:1;	/* the client's FIN came */
	bool			 broken:1;	/* output unusable: drop */
	/* Closing. */
	bool			 close_sent:1, close_rcvd:1;
	bool			 open_called:1;	/* and linked into its route */
	bool			 hs_accepted:1;	/* the plugin's hook said yes */
	bool			 free_pending:1;
	bool			 ping_outstanding:1;
	bool			 in_handshake:1;	/* the plugin's hook runs */
	bool			 over_hwm:1;	/* waiting for `drain` */
	bool			 hs_pending:1;	/* WSD_HANDSHAKE_PENDING: waits
						   for wsd_handshake_resume() */
	bool			 proxy_hdr:1;	/* cold->pp is being read */
	bool			 rd_watched:1;	/* in cs->epfd */
	bool			 act_queued:1;	/* in cs->act */
	/* TLS: the handshake is done; a read waits for writability. */
	bool			 tls_ready:1;
	bool			 tls_read_wants_write:1;
	bool			 tls_read_full:1; /* the last read filled its room */
	bool			 tls_shut_pending:1; /* close_notify waits for room */
	/*
	 * Behind a proxy: the client reached the proxy over TLS (a PROXY
	 * v2 SSL TLV, X-Forwarded-Proto https).
	 */
	bool			 fwd_tls:1;
	int8_t			 tls_end;	/* a read's end held for the next */
	int16_t			 in_cb;
	int16_t			 status;	/* HTTP status answered */
	int16_t			 close_code;

	/* Input not yet consumed (the tail of a read). */
	uint8_t			*ibuf;
	uint32_t		 ilen, icap;	/* < max_head_size or 2 x WAIT_MAX */

	/* The RFC 6455 receive engine. */
	struct ws_rx		 rx;

	/* For the access log (and the keepalive: last_rx_ms). */
	uint64_t		 msgs_in, msgs_out, bytes_in, bytes_out;
	uint64_t		 last_rx_ms;

	TAILQ_ENTRY(conn)	 flush_link;	/* cs->flushq */
	uint64_t		 bcast_gen;	/* cs->flush_gen of a direct send */
	size_t			 out_acct;	/* counted in cs->out_total */
	size_t			 shared_q;	/* queued shared frames, about */

	/* permessage-deflate, if negotiated (else NULL). */
	struct pmd_conn		*pmd;

	uint64_t		 id;
	struct conn		*id_next;	/* cs->byid chain */
	struct generation	*gen;		/* referenced */
	TAILQ_ENTRY(conn)	 route_link;	/* route->conns */
	struct theap_node	 timer;		/* in cs->timers */

	/*
	 * The client's address.  Behind a proxy (conn_proxy.c) it is the
	 * client as the PROXY header or a trusted X-Forwarded-For says
	 * (cold->client), and the TCP peer (the text after the struct) is
	 * conn_peer()'s.
	 */
	char			*remote;
	/*
	 * The listener's entry in the configuration accepted under (c->gen
	 * until the head moves c to a newer one; NULL after, and in the
	 * fuzzers).
	 */
	const struct wsd_listen_conf *lc;
	/* Counted in cs->pending while in CONN_HTTP. */
	struct addrcount_entry	*pending;
	/* The request; only kept during the handshake and `open`. */
	struct conn_request	*rq;
	char			*req_line;	/* "GET /echo", for the log; shared */
	struct conn_cold	*cold;		/* NULL until needed */

	/* Keepalive: the last Ping, if outstanding. */
	uint64_t		 ping_sent_ms;
	uint64_t		 start_ms;	/* for the access log */

	void			*user;
	struct topic_sub	*subs;		/* topic.c's */
	struct conn		*act_next;	/* cs->act */
};

/*
 * The one allocation of a connection whose address text is alen bytes
 * with its NUL: the conn, then the text.
 */
size_t		 conn_alloc_size(size_t alen);

/*
 * Reads (cs->epfd): watch c's socket (0, or -1 without memory), or stop;
 * have the read callback run once from the loop, readable or not.
 */
int		 conn_read_watch(struct conn *c);
void		 conn_read_unwatch(struct conn *c);
void		 conn_read_activate(struct conn *c);

/* c->cold, made now if need be; NULL: no memory. */
struct conn_cold *conn_cold(struct conn *c);

/* Behind a proxy, the TCP peer (c->remote is the client); or NULL. */
const char	*conn_peer(const struct conn *c);

/* The close reason that `close` reports, or NULL. */
static inline const char *
conn_close_reason(const struct conn *c)
{
	return c->cold != NULL ? c->cold->close_reason : NULL;
}

/* The limits that apply to c: its route's once it has one. */
static inline const struct wsd_limits *
conn_limits(const struct conn *c)
{
	if (c->route != NULL)
		return &c->route->conf->limits;
	return &c->gen->cfg->limits;
}

/* The compression settings of c's route (c must have one). */
static inline const struct pmd_conf *
conn_pmd_conf(const struct conn *c)
{
	return &c->route->conf->compression;
}

/* conn.c */
void		 conn_fail(struct conn *c, int code, const char *why);
void		 conn_linger(struct conn *c);
void		 conn_io_error(struct conn *c);
void		 conn_out_progress(struct conn *c);
void		 conn_done(struct conn *c);
void		 conn_broken(struct conn *c, const char *why);
void		 conn_drop(struct conn *c, int code, const char *why);
void		 conn_not_pending(struct conn *c);
void		 conn_opened(struct conn *c, struct route *r);
/*
 * c's route becomes r (or none), with a reference on it: dropping the
 * last one of an instance no longer current retires it (fini).
 */
void		 conn_set_route(struct conn *c, struct route *r);
void		 conn_call_drain(struct conn *c);
void		 conn_set_close(struct conn *c, int code, const char *reason,
		    size_t rlen);
void		 conn_answer_plain(evutil_socket_t fd, const char *resp,
		    size_t len);
extern const char conn_503[];
extern const size_t conn_503_len;
void		 conn_format_addr(const struct sockaddr *sa, char *buf,
		    size_t len);
void		 conn_pending_refused(struct conn_shared *cs,
		    const struct sockaddr *sa);

/* conn_out.c */
int		 conn_write_out(struct conn *c);
int		 conn_wait_writable(struct conn *c);
struct evbuffer	*conn_outbuf(struct conn *c);
void		 conn_outbuf_release(struct conn *c);
void		 conn_out_discard(struct conn *c);
void		 conn_want_flush(struct conn *c);
void		 conn_out_account(struct conn *c);
void		 conn_budgetcb(evutil_socket_t fd, short what, void *arg);
void		 conn_flush(struct conn *c);
void		 conn_flushcb(evutil_socket_t fd, short what, void *arg);
int		 conn_send_frame(struct conn *c, uint8_t opcode,
		    const void *data, size_t len);
void		 conn_send_close_frame(struct conn *c, int code,
		    const char *reason);
/*
 * One frame encoded once and handed to many connections (broadcast,
 * topics): shared_frame_new() (NULL: no memory; opcode and UTF-8 are the
 * caller's to check), conn_send_shared() for each recipient (true if it
 * got the frame; it never frees c, so a walk over connections may go
 * on), then shared_frame_done() once.
 */
struct shared_frame;
struct shared_frame *shared_frame_new(int opcode, const void *data,
		    size_t len);
bool		 conn_send_shared(struct conn *c, struct shared_frame *f);
void		 shared_frame_done(struct shared_frame *f);

/* conn_tls.c: the TLS variants of a read, a write and the half-close. */
ssize_t		 conn_tls_recv(struct conn *c, uint8_t *dst, size_t room);
void		 conn_tls_read_more(struct conn *c);
int		 conn_tls_write(struct conn *c);
int		 conn_tls_write_now(struct conn *c, const uint8_t *p, size_t n);
int		 conn_tls_shutdown(struct conn *c);

/* conn_proxy.c */
bool		 conn_proxy_uncounted(const struct wsd_listen_conf *lc,
		    const struct sockaddr *sa);
int		 conn_proxy_start(struct conn *c);
int		 conn_proxy_read(struct conn *c);
void		 conn_proxy_timeout(struct conn *c);
int		 conn_forwarded(struct conn *c);
void		 conn_proxy_free(struct conn *c);

/* conn_http.c */
/* Let go of c->req_line (or NULL); it is counted, maybe shared. */
void		 conn_req_line_put(char *s);
size_t		 conn_read_head(struct conn *c, const uint8_t *buf,
		    size_t len);
void		 conn_hs_finish(struct conn *c, int status, bool timed_out);
void		 conn_free_request(struct conn *c);

/* A message queued or sent to c (which has a route). */
static inline void
conn_count_out(struct conn *c, size_t len)
{
	c->msgs_out++;
	c->bytes_out += len;
	c->route->metrics->msgs_out++;
	c->route->metrics->bytes_out += len;
}

/*
 * data[0..len) is the text message being delivered right now, which was
 * checked as UTF-8 when it came (the plugin's view of it is const).
 */
static inline bool
conn_text_known_valid(const struct conn_shared *cs, const void *data,
    size_t len)
{
	return data == cs->rx_text && len == cs->rx_text_len && len > 0;
}

/* Bytes queued and not yet taken by the kernel, gathered ones too. */
static inline size_t
conn_out_len(const struct conn *c)
{
	const struct conn_shared *cs = c->srv->cs;

	return (c->out != NULL ? evbuffer_get_length(c->out) : 0) +
	    (cs->gconn == c ? cs->glen : 0);
}

#endif /* WSD_CONN_PRIV_H */

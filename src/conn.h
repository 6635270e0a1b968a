/*
 * conn: one client connection, from accept to close.  It reads the HTTP
 * request head, answers it (static file, error, or 101), then runs the
 * RFC 6455 engine: frames, reassembly, UTF-8 checks, control frames, the
 * closing handshake, keepalive pings and the idle timeout.
 *
 * It does its own socket I/O on plain events: a read goes into the
 * server's shared read buffer and complete frames are handled right
 * there, so only the unfinished tail of a read is kept per connection
 * (and nothing at all while idle).  Output is queued in an evbuffer and
 * written once per loop iteration for every connection that has some,
 * so one write carries everything queued in between; the first
 * broadcast of an iteration to a connection with nothing queued goes to
 * the kernel at once.
 */
#ifndef WSD_CONN_H
#define WSD_CONN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/queue.h>
#include <sys/socket.h>

#include <event2/util.h>

#include "frame.h"
#include "http.h"
#include "utf8.h"

struct server;
struct route;
struct generation;

enum conn_state {
	CONN_HTTP,		/* reading the request head */
	CONN_OPEN,		/* WebSocket open */
	CONN_CLOSING,		/* we sent Close, waiting for the client's */
	CONN_LINGER,		/* flushing output, then closing TCP */
	CONN_DEAD,		/* being freed */
};

/*
 * The request head and what is derived from it: allocated with the first
 * bytes of a request, freed once `open` has run, so that an open
 * connection carries none of it.
 */
struct conn_request {
	char			*head;
	struct http_request	 req;
	struct http_header	*hdrs;
	char			*path_z, *query_z;
	char			**strs;		/* strings handed to the plugin */
	size_t			 nstrs;
	char			*extra_headers;	/* "Name: value\r\n"... */
};

struct conn {
	struct server		*srv;
	evutil_socket_t		 fd;
	struct event		*rev;		/* readable (persistent) */
	struct event		*wev;		/* writable; made when first needed */
	struct evbuffer		*out;		/* only while output waits */
	struct event		*timer;
	uint64_t		 id;
	enum conn_state		 state;
	struct generation	*gen;		/* referenced */
	struct route		*route;		/* once upgraded */
	TAILQ_ENTRY(conn)	 link;		/* srv->conns */
	TAILQ_ENTRY(conn)	 route_link;	/* route->conns */
	char			 remote[64];

	/* The request; only kept during the handshake and `open`. */
	struct conn_request	*rq;
	char			*req_line;	/* "GET /echo", for the log */
	int			 status;	/* HTTP status answered */

	/* Input not yet consumed (the tail of a read), and what it lacks. */
	uint8_t			*ibuf;
	size_t			 ilen, icap;
	size_t			 rx_want;

	/* Output: queued for the end of this loop iteration. */
	TAILQ_ENTRY(conn)	 flush_link;	/* srv->flushq */
	bool			 flush_queued;
	bool			 in_read;	/* in conn_readcb */
	bool			 flush_now;	/* write at its end */
	bool			 wev_added;
	bool			 wr_shut;	/* our FIN is sent */
	uint64_t		 bcast_gen;	/* srv->flush_gen of a direct send */

	/* Frame parser and message reassembly. */
	struct ws_frame_header	 fh;
	bool			 have_header;
	uint64_t		 frame_off;	/* payload bytes consumed */
	uint8_t			 msg_op;	/* message in progress, or 0 */
	uint8_t			*msg;
	size_t			 msg_len, msg_cap;
	uint32_t		 nfrags;
	utf8_state		 utf8;

	/* Closing. */
	bool			 close_sent, close_rcvd;
	bool			 open_called;
	int			 close_code;
	char			*close_reason;	/* NULL: none */
	int			 in_cb;
	bool			 free_pending;

	/* Keepalive. */
	uint64_t		 last_rx_ms;
	bool			 ping_outstanding;

	void			*user;

	/* Set by the plugin's handshake hook. */
	bool			 in_handshake;
	char			*subprotocol;

	/* Back-pressure: over the high-water mark, waiting for `drain`. */
	bool			 over_hwm;

	/* For the access log. */
	uint64_t		 start_ms;
	uint64_t		 msgs_in, msgs_out, bytes_in, bytes_out;
};

/*
 * What the connections of a server share: the read buffer and the event
 * that flushes output at the end of a loop iteration.  Call once after
 * the loop exists; conn_server_fini() after the last connection is gone.
 */
int		 conn_server_init(struct server *srv);
void		 conn_server_fini(struct server *srv);

/*
 * Take over a connected stream socket (TCP, or a socketpair end in the
 * fuzzer).  Returns NULL (and closes fd) on ENOMEM.
 */
struct conn	*conn_new(struct server *srv, evutil_socket_t fd,
		    const struct sockaddr *sa, int socklen);

/* Refuse an accepted socket with 503 (max_connections reached). */
void		 conn_refuse(struct server *srv, evutil_socket_t fd);

/*
 * The server is stopping: close an open connection with 1001, drop one
 * that is still in its handshake.
 */
void		 conn_shutdown(struct conn *c);

/* Free now, whatever the state (stop deadline). */
void		 conn_abort(struct conn *c);

/* Host API entry points (host.c). */
int		 conn_send(struct conn *c, int opcode, const void *data,
		    size_t len);
int		 conn_close(struct conn *c, int code, const char *reason);
const char	*conn_arg(struct conn *c, const char *name);
const char	*conn_header(struct conn *c, const char *name);
const char	*conn_cookie(struct conn *c, const char *name);
int		 conn_accept_subprotocol(struct conn *c, const char *name);
int		 conn_add_header(struct conn *c, const char *name,
		    const char *value);
size_t		 conn_broadcast(struct route *r, int opcode, const void *data,
		    size_t len);
size_t		 conn_buffered(struct conn *c);

/* Milliseconds on the loop's cached monotonic clock. */
uint64_t	 conn_now_ms(struct server *srv);

#endif /* WSD_CONN_H */

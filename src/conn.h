/*
 * conn: one client connection, from accept to close.  It reads the HTTP
 * request head, answers it (static file, error, or 101), then runs the
 * RFC 6455 receive engine (ws_rx.h) and answers control frames, runs the
 * closing handshake, keepalive pings and the idle timeout.
 *
 * It does its own socket I/O on plain events: a read goes into a read
 * buffer shared by every connection and complete frames are handled
 * right there, so only the unfinished tail of a read is kept per
 * connection (and nothing at all while idle).  Output is queued in an
 * evbuffer and written once per loop iteration for every connection that
 * has some, so one write carries everything queued in between; the first
 * broadcast of an iteration to a connection with nothing queued goes to
 * the kernel at once.
 *
 * struct conn is private to conn*.c (conn_priv.h); everyone else uses
 * the functions below.
 */
#ifndef WSD_CONN_H
#define WSD_CONN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/queue.h>
#include <sys/socket.h>

#include <event2/util.h>

#include <wsd/plugin.h>

struct server;
struct route;
struct generation;
struct conn;

/*
 * What the connections of a server share: the read buffer and the event
 * that flushes output at the end of a loop iteration.  Call once after
 * the loop exists; conn_server_fini() after the last connection is gone.
 */
int		 conn_server_init(struct server *srv);
void		 conn_server_fini(struct server *srv);
/* One connection of srv (the first in its id index), or NULL if none. */
struct conn	*conn_first(struct server *srv);

struct tls_server;

/*
 * Take over a connected stream socket (TCP, or a socketpair end in the
 * fuzzer); ts: the listener's TLS contexts, NULL for plain; lc: its
 * `listen` entry in srv->gen's configuration (proxy_protocol,
 * trusted_proxies), NULL for none.  Returns
 * NULL (and closes fd) on ENOMEM.
 */
struct wsd_listen_conf;
struct conn	*conn_new(struct server *srv, evutil_socket_t fd,
		    const struct sockaddr *sa, int socklen,
		    struct tls_server *ts, const struct wsd_listen_conf *lc);

/*
 * Refuse an accepted socket (max_connections reached): with 503, or
 * just closed on a TLS listener, where no handshake has been made.
 */
void		 conn_refuse(struct server *srv, evutil_socket_t fd, bool tls);

/*
 * Connections refused on proxy_protocol listeners for a missing, bad or
 * late PROXY header since start (for metrics; conn_proxy.c).
 */
uint64_t	 conn_proxy_refused(struct server *srv);

/* Whether c came over TLS; its verified client certificate's subject. */
bool		 conn_tls(struct conn *c);
const char	*conn_peer_subject(struct conn *c);

/*
 * The server is stopping: close every open connection with 1001, drop
 * the ones still in their handshake.
 */
void		 conn_shutdown_all(struct server *srv);

/* Free every connection now, whatever its state (stop deadline). */
void		 conn_abort_all(struct server *srv);

/* Host API entry points (host.c). */
int		 conn_send(struct conn *c, int opcode, const void *data,
		    size_t len);
int		 conn_close(struct conn *c, int code, const char *reason);
const char	*conn_path(struct conn *c);
const char	*conn_query(struct conn *c);
const char	*conn_arg(struct conn *c, const char *name);
const char	*conn_header(struct conn *c, const char *name);
const char	*conn_cookie(struct conn *c, const char *name);
const char	*conn_subprotocol(struct conn *c);
int		 conn_accept_subprotocol(struct conn *c, const char *name);
int		 conn_add_header(struct conn *c, const char *name,
		    const char *value);
const char	*conn_remote(struct conn *c);
uint64_t	 conn_id(struct conn *c);
void		 conn_set_user(struct conn *c, void *p);
void		*conn_user(struct conn *c);
struct route	*conn_route(struct conn *c);
size_t		 conn_buffered(struct conn *c);

/* A route's open clients: how many, and each in turn. */
size_t		 conn_route_clients(struct route *r);
size_t		 conn_route_foreach(struct route *r, wsd_conn_fn fn,
		    void *arg);
size_t		 conn_broadcast(struct route *r, int opcode, const void *data,
		    size_t len);

/* Milliseconds on the loop's cached monotonic clock. */
uint64_t	 conn_now_ms(struct server *srv);

/* ABI 1.4: see <wsd/plugin.h> for what each promises the plugin. */
const char	*conn_param(struct conn *c, const char *name);
const char	*conn_arg_at(struct conn *c, const char *name, size_t i);
const char	*conn_cookie_value(struct conn *c, const char *name);
const char	*conn_signed_cookie(struct conn *c, const char *name,
		    const char *secret, double max_age_days);
const char	*conn_offered_subprotocol(struct conn *c, size_t i);
int		 conn_header_at(struct conn *c, size_t i, const char **name,
		    const char **value);
const char	*conn_local(struct conn *c);
int		 conn_ping(struct conn *c, const void *data, size_t len);
size_t		 conn_broadcast_except(struct route *r, struct conn *except,
		    int opcode, const void *data, size_t len);
struct conn	*conn_find(struct route *r, uint64_t id);
int		 conn_handshake_resume(struct conn *c, int status);

#endif /* WSD_CONN_H */

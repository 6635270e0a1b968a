/*
 * wsd/plugin.h - the whole contract between wsd and its plugins (ABI 1).
 *
 * A plugin is a shared object in wsd's plugins directory.  It exports one
 * symbol, WSD_PLUGIN_SYMBOL ("wsd_plugin"): a constant struct wsd_plugin,
 * best written with the WSD_PLUGIN() macro:
 *
 *	#include <wsd/plugin.h>
 *
 *	static void
 *	on_message(void *state, struct wsd_conn *c, int opcode,
 *	    const void *data, size_t len)
 *	{
 *		if (wsd_send(c, opcode, data, len) == WSD_SEND_DROPPED)
 *			wsd_log(wsd_conn_route(c), WSD_LOG_INFO, "dropped");
 *	}
 *
 *	WSD_PLUGIN(.name = "echo", .message = on_message);
 *
 * Build:  cc $(pkg-config --cflags wsd-plugin) -shared -fPIC -o echo.so echo.c
 * A plugin links against nothing of wsd: everything it calls reaches wsd
 * through the host table, which the wsd_*() inline wrappers below use.
 *
 * LIFECYCLE
 *
 * Each route of the configuration that names the plugin is one instance.
 *   init      once per instance: for every route at start, and at a
 *             reload for each route that changed (an unchanged route
 *             keeps its instance; see RELOADS AND HOT DEPLOY); also by
 *             `wsd -t`, which calls fini straight after.  Reads settings,
 *             allocates the instance state, may add timers.
 *   handshake optional, for every upgrade request to the route, before
 *             the 101 is sent: may refuse it with an HTTP status, pick a
 *             subprotocol, add response headers, or answer
 *             WSD_HANDSHAKE_PENDING and decide later with
 *             wsd_handshake_resume() (1.4).
 *   open      the client is connected (the 101 is queued).
 *   message   once per complete message.
 *   ping      the client sent a Ping (wsd answered it already) (1.4).
 *   pong      the client sent a Pong, with the round trip of the Ping it
 *             answers (1.4).
 *   drain     a client that was over the route's send high-water mark has
 *             caught up.
 *   close     exactly once per opened connection, also when open itself
 *             closed it; and once, with 1011, for a connection whose
 *             handshake the plugin accepted but that could not be opened
 *             (out of memory); and once, with 1006, for a pending
 *             handshake whose client left or whose handshake timeout
 *             passed before the plugin decided.  Never for one refused
 *             in handshake or through wsd_handshake_resume().
 *   reopen    SIGUSR1: reopen log files (logrotate).
 *   fini      once per route, last: the route is retired (shutdown, or a
 *             reload that changed it: at once if it has no client left,
 *             else once its last client is gone; see RELOADS).  Timers
 *             and watches are cancelled for the plugin after fini
 *             returns, fired one-shot ones included; posts queued
 *             before fini run before it, later ones are refused.
 *
 * RELOADS AND HOT DEPLOY
 *
 * A reload (SIGHUP, `systemctl reload wsd`) decides per route:
 *   - unchanged: the route's configuration (path, plugin, settings,
 *     origins, limits, compression) and its plugin file (device, inode,
 *     size, modification time) are what they were.  The instance is
 *     kept as it is: no fini, no init; its state, timers, watches,
 *     threads and connections go on, and new connections join it.
 *   - changed: a new instance is made (init) for new connections, while
 *     the old one finishes its open connections; each old instance is
 *     retired on its own, as soon as its own last client has gone (at
 *     once if it has none), whatever other old routes still serve.
 *   - a plugin file replaced on disk: the new file is loaded as a new
 *     copy of the code, beside the old one; the old instance, running
 *     the old code, finishes its connections, its fini runs when the
 *     last one closes, and the old copy is unloaded (dlclose) once no
 *     instance uses it.  Install a new version by renaming a new file
 *     over the old one (dpkg, install(1), `mv`); a file rewritten in
 *     place (same inode) is refused while the old copy is loaded.
 *   - a new version that does not load, or whose init fails, fails the
 *     reload: it is logged with the route, the plugin and the reason,
 *     and everything keeps running as before (old instances serve new
 *     connections).
 * So two copies of a plugin, and two instances of a route, may run at
 * once, in one process, each with its own state.  To be safe with that:
 *   - keep all state in the instance (the state pointer init returns),
 *     none in globals that outlive fini or that two copies or two
 *     instances would share;
 *   - stop (join) every thread in fini, close every descriptor, cancel
 *     whatever would call back into the plugin;
 *   - leave nothing that keeps the code mapped or runs it after fini:
 *     no atexit() handlers, no thread-local variables with destructors
 *     (C++ thread_local objects), no -z nodelete / RTLD_NODELETE, no
 *     C++ unique (STB_GNU_UNIQUE) symbols; such a plugin cannot be
 *     unloaded, and `wsd -t` warns about it: a hot deploy still loads
 *     the new copy, but the old code stays mapped until wsd restarts.
 *
 * THREADS
 *
 * wsd calls every callback on its event-loop thread, and every host
 * function must be called on that thread, from inside a callback, with
 * two exceptions: wsd_post(), which any thread may call to have a
 * function run on the loop (as Tornado's IOLoop.add_callback), and
 * wsd_log(), whose lines from another thread reach the log through the
 * loop (in order per thread; at most 256 wait, more are counted and
 * dropped).  Since 1.4 wsd checks the thread on every other call: from
 * any other thread the call does nothing and returns its failure value
 * (NULL, -1, 0, WSD_SEND_DROPPED), and the log says which plugin called
 * what (at most once a second, with a count).  Keep a connection's id
 * (wsd_conn_id()), hand the result to the loop with wsd_post(), and find
 * the connection there with wsd_conn_find().  A plugin that starts
 * threads must stop them (join) in fini.
 *
 * WHICH CALL WHERE
 *
 * x: allowed and useful.  -: returns its failure value (NULL, -1,
 * WSD_SEND_DROPPED, 0) or does nothing, harmlessly.  Calls not listed
 * (wsd_log, wsd_route_path, wsd_clients, wsd_foreach, wsd_broadcast,
 * wsd_broadcast_except, wsd_conn_find, wsd_timer_cancel, the watch
 * calls) are allowed in every callback; the settings calls belong to
 * init.  Only wsd_post, wsd_log and (1.5) wsd_metric_add and
 * wsd_metric_set may be called off the loop thread.
 *
 *                   init fini hshk open mesg clos drai reop timer post
 *   wsd_send          .    .    -    x    x    -    x    .    c    c
 *   wsd_close         .    .    -    x    x    -    x    .    c    c
 *   request (path,    .    .    x    x    -    -    -    .    p    p
 *    query, arg, header, cookie, param, arg_at, cookie_value,
 *    signed_cookie, header_at, offered_subprotocol)
 *   accept_subproto,  .    .    x    -    -    -    -    .    p    p
 *    add_header
 *   handshake_resume  .    .    -    -    -    -    -    .    p    p
 *   wsd_ping          .    .    -    x    x    -    x    .    c    c
 *   conn accessors    .    .    x    x    x    x    x    .    c    c
 *    (remote_addr, conn_id, subprotocol, set/get_data, conn_route,
 *     buffered)
 *   wsd_timer_add     x    -    x    x    x    x    x    x    x    x
 *   wsd_post          x    -    x    x    x    x    x    x    x    x
 *   settings, error   x    .    .    .    .    .    .    .    .    .
 *
 * (.: there is no connection to pass, or the call makes no sense there.
 * c: on a connection the plugin got from wsd_foreach or wsd_conn_find
 * or kept between its open and close.  p: on a connection whose
 * handshake is pending (WSD_HANDSHAKE_PENDING), found with
 * wsd_conn_find.  The ping and pong callbacks allow what message
 * does.  In fini, wsd_post returns -1 and a timer added
 * is freed unrun when fini returns.)  Any thread other than the loop:
 * wsd_post only.
 *
 * OWNERSHIP
 *
 *   - Strings and buffers wsd passes to a callback are wsd's and valid
 *     until the callback returns, unless stated otherwise.
 *   - Data passed to wsd_send() and wsd_broadcast() is copied (once)
 *     before they return.
 *   - struct wsd_conn * is valid from handshake/open until close returns
 *     (or, for a handshake refused through wsd_handshake_resume(), until
 *     that returns).  Sending on a closing connection is a harmless no-op
 *     that returns WSD_SEND_DROPPED.  To reach a connection later, keep
 *     its id and call wsd_conn_find(): NULL once it is gone.
 *   - struct wsd_route * is valid from init until fini returns (across
 *     reloads that keep the instance, too).
 *   - Strings returned by the request accessors (path, query, arg,
 *     header, cookie and the 1.4 ones) are wsd's and valid during
 *     handshake (a pending one included) and open only: wsd frees the
 *     request head once open returns.  Copy what you keep.
 *
 * TCP_NODELAY
 *
 * wsd sets TCP_NODELAY on every TCP connection and there is no
 * set_nodelay() (Tornado's is off by default): wsd already gathers what
 * one loop iteration queues for a client into as few writes as it can
 * (one per iteration, at its end), so Nagle's delay would only add
 * latency to a message, never save a packet that wsd's own batching
 * does not.
 *   - Setting strings are valid until fini returns.
 *   - The plugin owns its state pointer and its per-connection pointer
 *     (wsd_set_data) and frees them in fini and close.
 *
 * VERSIONS
 *
 * WSD_ABI_MAJOR changes only when old plugins truly cannot work.
 * WSD_ABI_MINOR grows when members are appended to struct wsd_plugin or
 * struct wsd_host.  wsd loads a plugin of its own major whose minor is no
 * newer than its own; callbacks past the end of an older plugin's
 * descriptor (its `size`) are treated as absent.  wsd refuses another
 * major, or a newer minor, naming the file and both versions.
 *
 *   1.0  the first ABI.
 *   1.1  no new members; one contract changed: a fired one-shot timer's
 *        handle stays valid (inert) until wsd_timer_cancel() or fini.
 *        For a 1.0 plugin a fired one-shot timer still frees itself.
 *   1.2  topics: wsd_subscribe(), wsd_unsubscribe(), wsd_publish();
 *        wsd_worker().  Appended to struct wsd_host.
 *   1.3  TLS: wsd_conn_tls(), wsd_conn_peer_subject().  Appended to
 *        struct wsd_host.
 *   1.4  for plugin authors: route parameters (wsd_param()), every value
 *        of a repeated argument (wsd_arg_at()), decoded and signed
 *        cookies, the offered subprotocols, every request header
 *        (wsd_header_at()), wsd_local_addr(), wsd_ping() with the
 *        `ping` and `pong` callbacks, wsd_broadcast_except(),
 *        wsd_conn_find(), asynchronous handshakes
 *        (WSD_HANDSHAKE_PENDING, wsd_handshake_resume()) and descriptor
 *        watches (wsd_watch_add()).  Host calls made off the loop thread
 *        are refused and logged.  wsd_send_text() is a wrapper only.
 *        Appended to struct wsd_host and struct wsd_plugin.
 *   1.5  Prometheus metrics of the plugin's own: wsd_metric_counter(),
 *        wsd_metric_gauge(), wsd_metric_add(), wsd_metric_set() (and
 *        the wrapper wsd_metric_inc()).  Appended to struct wsd_host.
 */
#ifndef WSD_PLUGIN_H
#define WSD_PLUGIN_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#ifdef __cplusplus
extern "C" {
#endif

#define WSD_ABI_MAJOR	1
#define WSD_ABI_MINOR	5

#define WSD_PLUGIN_SYMBOL	"wsd_plugin"

/* Message opcodes a plugin sees and sends. */
#define WSD_TEXT	1
#define WSD_BINARY	2

/* Log levels: the syslog numbers. */
#define WSD_LOG_ERR	3
#define WSD_LOG_WARNING	4
#define WSD_LOG_NOTICE	5
#define WSD_LOG_INFO	6
#define WSD_LOG_DEBUG	7

/* What a send did with a message. */
enum wsd_send_result {
	WSD_SEND_OK = 0,		/* queued */
	WSD_SEND_BACKPRESSURE = 1,	/* queued, but the client is now over
					   the route's send high-water mark;
					   `drain` runs when it catches up */
	WSD_SEND_DROPPED = -1,		/* not queued: the connection is
					   closing, the opcode or the text
					   (not UTF-8) was invalid, or the
					   send buffer limit was passed (the
					   connection is then closed, 1008) */
};

struct wsd_conn;	/* one client connection; opaque */
struct wsd_route;	/* one route, one plugin instance; opaque */
struct wsd_timer;	/* a timer of a route; opaque */
struct wsd_watch;	/* a descriptor watch of a route; opaque (1.4) */
struct wsd_metric;	/* a counter or gauge of a route; opaque (1.5) */

/*
 * The handshake hook's answer that defers the decision (1.4).  From a
 * plugin built for an older ABI, 1 stays what it was: not a valid
 * status, refused with 500.
 */
#define WSD_HANDSHAKE_PENDING	1

/* What a descriptor watch waits for, and what its callback got (1.4). */
#define WSD_WATCH_READ	1
#define WSD_WATCH_WRITE	2

typedef void (*wsd_timer_fn)(struct wsd_route *r, void *arg);
typedef void (*wsd_watch_fn)(struct wsd_route *r, int fd, int events,
    void *arg);
typedef void (*wsd_post_fn)(struct wsd_route *r, void *arg);
typedef void (*wsd_conn_fn)(struct wsd_conn *c, void *arg);

/*
 * Host services.  The table belongs to wsd and lives as long as the
 * process.  Use the inline wrappers below; they document each entry.
 */
struct wsd_host {
	uint32_t	abi_major;
	uint32_t	abi_minor;
	uint32_t	size;		/* sizeof(struct wsd_host) in wsd */

	void		 (*log)(struct wsd_route *r, int level,
			    const char *fmt, va_list ap);

	int		 (*send)(struct wsd_conn *c, int opcode,
			    const void *data, size_t len);
	int		 (*close)(struct wsd_conn *c, int code,
			    const char *reason);

	const char	*(*path)(struct wsd_conn *c);
	const char	*(*query)(struct wsd_conn *c);
	const char	*(*arg)(struct wsd_conn *c, const char *name);
	const char	*(*header)(struct wsd_conn *c, const char *name);
	const char	*(*cookie)(struct wsd_conn *c, const char *name);
	const char	*(*remote_addr)(struct wsd_conn *c);
	uint64_t	 (*id)(struct wsd_conn *c);
	const char	*(*subprotocol)(struct wsd_conn *c);

	void		 (*set_data)(struct wsd_conn *c, void *data);
	void		*(*get_data)(struct wsd_conn *c);
	struct wsd_route *(*conn_route)(struct wsd_conn *c);
	size_t		 (*buffered)(struct wsd_conn *c);

	int		 (*accept_subprotocol)(struct wsd_conn *c,
			    const char *name);
	int		 (*add_header)(struct wsd_conn *c, const char *name,
			    const char *value);

	const char	*(*route_path)(struct wsd_route *r);
	size_t		 (*broadcast)(struct wsd_route *r, int opcode,
			    const void *data, size_t len);
	size_t		 (*clients)(struct wsd_route *r);
	size_t		 (*foreach)(struct wsd_route *r, wsd_conn_fn fn,
			    void *arg);
	struct wsd_timer *(*timer_add)(struct wsd_route *r,
			    uint64_t after_ms, uint64_t repeat_ms,
			    wsd_timer_fn fn, void *arg);
	void		 (*timer_cancel)(struct wsd_timer *t);
	int		 (*post)(struct wsd_route *r, wsd_post_fn fn,
			    void *arg);

	int		 (*setting_string)(struct wsd_route *r,
			    const char *key, const char *def,
			    const char **out);
	int		 (*setting_int)(struct wsd_route *r, const char *key,
			    long long def, long long *out);
	int		 (*setting_bool)(struct wsd_route *r, const char *key,
			    int def, int *out);
	int		 (*setting_float)(struct wsd_route *r,
			    const char *key, double def, double *out);
	int		 (*setting_strings)(struct wsd_route *r,
			    const char *key, const char *const **out,
			    size_t *n);
	void		 (*setting_error)(struct wsd_route *r,
			    const char *key, const char *msg);

	/* 1.2 */
	int		 (*subscribe)(struct wsd_conn *c, const char *topic);
	int		 (*unsubscribe)(struct wsd_conn *c,
			    const char *topic);
	int		 (*publish)(struct wsd_route *r, const char *topic,
			    int opcode, const void *data, size_t len);
	int		 (*worker)(void);

	/* 1.3 */
	int		 (*conn_tls)(struct wsd_conn *c);
	const char	*(*peer_subject)(struct wsd_conn *c);

	/* 1.4 */
	const char	*(*param)(struct wsd_conn *c, const char *name);
	const char	*(*arg_at)(struct wsd_conn *c, const char *name,
			    size_t i);
	const char	*(*cookie_value)(struct wsd_conn *c,
			    const char *name);
	const char	*(*signed_cookie)(struct wsd_conn *c,
			    const char *name, const char *secret,
			    double max_age_days);
	const char	*(*offered_subprotocol)(struct wsd_conn *c,
			    size_t i);
	int		 (*header_at)(struct wsd_conn *c, size_t i,
			    const char **name, const char **value);
	const char	*(*local_addr)(struct wsd_conn *c);
	int		 (*ping)(struct wsd_conn *c, const void *data,
			    size_t len);
	size_t		 (*broadcast_except)(struct wsd_route *r,
			    struct wsd_conn *except, int opcode,
			    const void *data, size_t len);
	struct wsd_conn	*(*conn_find)(struct wsd_route *r, uint64_t id);
	int		 (*handshake_resume)(struct wsd_conn *c, int status);
	struct wsd_watch *(*watch_add)(struct wsd_route *r, int fd,
			    int events, wsd_watch_fn fn, void *arg);
	int		 (*watch_set)(struct wsd_watch *w, int events);
	void		 (*watch_cancel)(struct wsd_watch *w);

	/* 1.5 */
	struct wsd_metric *(*metric_counter)(struct wsd_route *r,
			    const char *name, const char *help);
	struct wsd_metric *(*metric_gauge)(struct wsd_route *r,
			    const char *name, const char *help);
	void		 (*metric_add)(struct wsd_metric *m, double v);
	void		 (*metric_set)(struct wsd_metric *m, double v);
};

/*
 * The descriptor a plugin exports.  Only `name` is required; every
 * callback may be NULL.
 */
struct wsd_plugin {
	uint32_t	 abi_major;	/* WSD_ABI_MAJOR it was built with */
	uint32_t	 abi_minor;	/* WSD_ABI_MINOR it needs */
	uint32_t	 size;		/* sizeof(struct wsd_plugin), built */
	const char	*name;
	const char	*version;
	/*
	 * Where wsd stores its host table before the first callback, so
	 * the inline wrappers can reach it.  WSD_PLUGIN() sets it.
	 */
	const struct wsd_host **host_slot;

	/*
	 * Once per route.  Store the instance state in *state.  Return 0,
	 * or -1 to refuse the route (log why, or report a setting with
	 * wsd_setting_error()); the configuration then fails.
	 */
	int	(*init)(const struct wsd_host *host, struct wsd_route *r,
		    void **state);
	/* Once per route, last.  Stop threads, free the state. */
	void	(*fini)(void *state);

	/*
	 * Before the 101: return 0 to accept, or an HTTP status from 400 to
	 * 599 to refuse (403 for an origin you do not trust).  The route's
	 * `origins` list has been applied already.  May call the request
	 * accessors, wsd_accept_subprotocol(), wsd_add_header() and
	 * wsd_set_data(); must not send or close.  If it refuses, it must
	 * free what it attached with wsd_set_data(): close will not run.
	 */
	int	(*handshake)(void *state, struct wsd_conn *c);

	/* A client connected.  May send, close, read the request. */
	void	(*open)(void *state, struct wsd_conn *c);

	/*
	 * One whole message: WSD_TEXT (valid UTF-8, not NUL terminated) or
	 * WSD_BINARY.  data is read-only and valid during the call.  Sent
	 * back as it is (the same data and len to wsd_send, wsd_broadcast
	 * or wsd_publish during the call), a text message is not checked
	 * as UTF-8 a second time.
	 */
	void	(*message)(void *state, struct wsd_conn *c, int opcode,
		    const void *data, size_t len);

	/*
	 * The connection is gone (Tornado's on_close with close_code and
	 * close_reason).  code is the one the client sent in its Close
	 * frame (1005 if that had none), else the one wsd sent, else 1006
	 * if TCP ended without a Close.  reason is NUL terminated, possibly
	 * "".  Sends are no-ops now; free per-connection data here.
	 */
	void	(*close)(void *state, struct wsd_conn *c, int code,
		    const char *reason);

	/*
	 * The client's buffered output fell back under half the route's
	 * send high-water mark after a send returned
	 * WSD_SEND_BACKPRESSURE.
	 */
	void	(*drain)(void *state, struct wsd_conn *c);

	/* SIGUSR1: reopen log files. */
	void	(*reopen)(void *state);

	/* 1.4 */
	/*
	 * The client sent a Ping (Tornado's on_ping); wsd has queued the
	 * Pong already.  data is the Ping's payload (at most 125 bytes).
	 */
	void	(*ping)(void *state, struct wsd_conn *c, const void *data,
		    size_t len);
	/*
	 * A Pong came (Tornado's on_pong).  rtt_us is the time in
	 * microseconds since the Ping it answers was sent (one of the
	 * plugin's wsd_ping() or wsd's own keep-alive Ping, matched by
	 * payload), or -1 for an unsolicited Pong.
	 */
	void	(*pong)(void *state, struct wsd_conn *c, const void *data,
		    size_t len, int64_t rtt_us);
};

/*
 * The host table, for the wrappers.  WSD_PLUGIN() defines it, hidden, so
 * every source file of one plugin shares it and plugins never see each
 * other's; wsd fills it before calling init.  A unit test may set it to
 * a fake host.
 */
extern const struct wsd_host *wsd_host_ __attribute__((visibility("hidden")));

#define WSD_PLUGIN(...)							\
	__attribute__((visibility("hidden")))				\
	const struct wsd_host *wsd_host_;				\
	__attribute__((visibility("default")))				\
	extern const struct wsd_plugin wsd_plugin;			\
	const struct wsd_plugin wsd_plugin = {				\
		.abi_major = WSD_ABI_MAJOR,				\
		.abi_minor = WSD_ABI_MINOR,				\
		.size = sizeof(struct wsd_plugin),			\
		.host_slot = &wsd_host_,				\
		__VA_ARGS__						\
	}

/*
 * Marks the calls whose result a plugin must look at: a send that was
 * dropped, a post that will never run (its arg is still the caller's),
 * a timer that was not created.  Define WSD_WARN_UNUSED (empty) before
 * including this header to do without the warning.
 */
#ifndef WSD_WARN_UNUSED
#if defined(__GNUC__) || defined(__clang__)
#define WSD_WARN_UNUSED	__attribute__((warn_unused_result))
#else
#define WSD_WARN_UNUSED
#endif
#endif

/* ---------------------------------------------------------------- logging */

/*
 * Log through wsd's logger; the line carries the route's path.  The
 * line is at most 1023 bytes; wsd writes control bytes as \xHH and a
 * backslash as \\, so what a client sent can be logged as it is (text
 * the plugin escaped itself shows its backslashes doubled).
 */
__attribute__((format(printf, 3, 4), unused)) static inline void
wsd_log(struct wsd_route *r, int level, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	wsd_host_->log(r, level, fmt, ap);
	va_end(ap);
}

/* ---------------------------------------------------------------- a connection */

/* Send one message; see enum wsd_send_result. */
WSD_WARN_UNUSED static inline int
wsd_send(struct wsd_conn *c, int opcode, const void *data, size_t len)
{
	return wsd_host_->send(c, opcode, data, len);
}

/*
 * Start the closing handshake with code (1000, 1001, 1003, 1007-1011 or
 * 3000-4999) and a UTF-8 reason of at most 123 bytes (may be NULL).
 * Returns 0, or -1 if the connection is already closing or the code or
 * reason is invalid.  close runs later, when the connection is gone.
 */
static inline int
wsd_close(struct wsd_conn *c, int code, const char *reason)
{
	return wsd_host_->close(c, code, reason);
}

/* The request path, e.g. "/echo" (handshake and open only). */
static inline const char *
wsd_path(struct wsd_conn *c)
{
	return wsd_host_->path(c);
}

/* The raw query string after '?', or NULL (handshake and open only). */
static inline const char *
wsd_query(struct wsd_conn *c)
{
	return wsd_host_->query(c);
}

/* A percent-decoded query argument, or NULL (handshake and open only). */
static inline const char *
wsd_arg(struct wsd_conn *c, const char *name)
{
	return wsd_host_->arg(c, name);
}

/*
 * A request header by name, case-insensitive, the first of that name, or
 * NULL (handshake and open only).
 */
static inline const char *
wsd_header(struct wsd_conn *c, const char *name)
{
	return wsd_host_->header(c, name);
}

/* A cookie's raw value, or NULL (handshake and open only). */
static inline const char *
wsd_cookie(struct wsd_conn *c, const char *name)
{
	return wsd_host_->cookie(c, name);
}

/*
 * "192.0.2.1:5555" or "[2001:db8::1]:5555"; valid until close returns.
 * Behind a proxy the client's, when the listener believes the proxy
 * (proxy_protocol, trusted_proxies: wsd.conf(5)); from X-Forwarded-For
 * the port is unknown and 0.
 */
static inline const char *
wsd_remote_addr(struct wsd_conn *c)
{
	return wsd_host_->remote_addr(c);
}

/* A number unique to this connection for the life of the process. */
static inline uint64_t
wsd_conn_id(struct wsd_conn *c)
{
	return wsd_host_->id(c);
}

/* The negotiated subprotocol, or NULL; valid until close returns. */
static inline const char *
wsd_subprotocol(struct wsd_conn *c)
{
	return wsd_host_->subprotocol(c);
}

/* The plugin's own pointer for this connection (NULL at first). */
static inline void
wsd_set_data(struct wsd_conn *c, void *data)
{
	wsd_host_->set_data(c, data);
}

static inline void *
wsd_get_data(struct wsd_conn *c)
{
	return wsd_host_->get_data(c);
}

static inline struct wsd_route *
wsd_conn_route(struct wsd_conn *c)
{
	return wsd_host_->conn_route(c);
}

/* Bytes queued for the client and not yet written to its socket. */
static inline size_t
wsd_buffered(struct wsd_conn *c)
{
	return wsd_host_->buffered(c);
}

/*
 * In handshake: answer with this subprotocol, which must be one the
 * client offered (Sec-WebSocket-Protocol).  Returns 0 or -1 (not
 * offered, or no memory).
 */
static inline int
wsd_accept_subprotocol(struct wsd_conn *c, const char *name)
{
	return wsd_host_->accept_subprotocol(c, name);
}

/*
 * In handshake: add a header to the 101 response (e.g. Set-Cookie).
 * name must be a token and value free of CR, LF and NUL.  Returns 0 or -1
 * (an invalid header, or no memory: for a valid one, refusing with 503
 * is the answer that lets the client retry).
 */
static inline int
wsd_add_header(struct wsd_conn *c, const char *name, const char *value)
{
	return wsd_host_->add_header(c, name, value);
}

/* ---------------------------------------------------------------- a route */

/* The route's configured path. */
static inline const char *
wsd_route_path(struct wsd_route *r)
{
	return wsd_host_->route_path(r);
}

/*
 * Send one message to every open client of the route.  The frame is
 * encoded once and shared by reference among all of them (a frame under
 * 1 KiB is copied into each queue instead, which costs less than a
 * reference there).  Clients over
 * the send buffer limit are closed (1008) instead.  Returns how many
 * clients it was queued for.
 */
static inline size_t
wsd_broadcast(struct wsd_route *r, int opcode, const void *data, size_t len)
{
	return wsd_host_->broadcast(r, opcode, data, len);
}

/* How many open clients the route has. */
static inline size_t
wsd_clients(struct wsd_route *r)
{
	return wsd_host_->clients(r);
}

/*
 * Call fn for every open client of the route; returns how many.  fn may
 * send to or close the connection it is given.
 */
static inline size_t
wsd_foreach(struct wsd_route *r, wsd_conn_fn fn, void *arg)
{
	return wsd_host_->foreach(r, fn, arg);
}

/*
 * Run fn after after_ms milliseconds, then every repeat_ms if that is
 * not 0.  The timer belongs to the route: wsd_timer_cancel() stops it,
 * and all that remain are cancelled after fini.  Returns NULL on
 * failure.  Under `wsd -t` timers are created but never run.
 *
 * The handle stays valid until wsd_timer_cancel() or the end of fini,
 * also once a one-shot timer has fired (since ABI 1.1; built against
 * 1.0, a plugin's fired one-shot timers free themselves): it is then
 * inert (it never runs again) but still allocated, so cancelling it is
 * safe.  A plugin that
 * arms one-shot timers again and again (from their own callback, say)
 * should therefore cancel each handle it is done with, or they pile up
 * until fini:
 *
 *	static void
 *	tick(struct wsd_route *r, void *arg)
 *	{
 *		struct my *m = arg;
 *
 *		wsd_timer_cancel(m->timer);	(the one firing: freed on return)
 *		m->timer = wsd_timer_add(r, next_ms(m), 0, tick, m);
 *		...
 *	}
 */
WSD_WARN_UNUSED static inline struct wsd_timer *
wsd_timer_add(struct wsd_route *r, uint64_t after_ms, uint64_t repeat_ms,
    wsd_timer_fn fn, void *arg)
{
	return wsd_host_->timer_add(r, after_ms, repeat_ms, fn, arg);
}

/*
 * Stop and free a timer: one that has not fired yet, a repeating one, a
 * one-shot one that has fired, also from inside its own callback (it is
 * freed when the callback returns).  NULL is ignored.  The handle is
 * invalid afterwards.
 */
static inline void
wsd_timer_cancel(struct wsd_timer *t)
{
	wsd_host_->timer_cancel(t);
}

/*
 * THE THREAD-SAFE CALL.  From any thread, queue fn(r, arg) to run on the
 * loop that owns the route, in order.  Returns 0; or -1 when out of
 * memory or once the route is being retired (its fini has begun), and
 * then fn will not run and arg remains the caller's to free.  Calls
 * queued before fini begins all run before fini.
 */
WSD_WARN_UNUSED static inline int
wsd_post(struct wsd_route *r, wsd_post_fn fn, void *arg)
{
	return wsd_host_->post(r, fn, arg);
}

/* ---------------------------------------------------------------- settings */

/*
 * Typed settings of the route's `settings` group, read in init.  Each
 * stores the value, or def when the key is absent, and returns 0; or
 * returns -1 when the value has the wrong type, which wsd reports with
 * file and line and which fails the configuration (also under wsd -t).
 * Keys init never asks about are reported as unknown.
 */
static inline int
wsd_setting_string(struct wsd_route *r, const char *key, const char *def,
    const char **out)
{
	return wsd_host_->setting_string(r, key, def, out);
}

static inline int
wsd_setting_int(struct wsd_route *r, const char *key, long long def,
    long long *out)
{
	return wsd_host_->setting_int(r, key, def, out);
}

static inline int
wsd_setting_bool(struct wsd_route *r, const char *key, int def, int *out)
{
	return wsd_host_->setting_bool(r, key, def, out);
}

/* An integer is accepted for a float. */
static inline int
wsd_setting_float(struct wsd_route *r, const char *key, double def,
    double *out)
{
	return wsd_host_->setting_float(r, key, def, out);
}

/*
 * A list or array of strings.  *out is a NULL-terminated array (empty
 * when absent), owned by wsd until fini; *n its length (n may be NULL).
 */
static inline int
wsd_setting_strings(struct wsd_route *r, const char *key,
    const char *const **out, size_t *n)
{
	return wsd_host_->setting_strings(r, key, out, n);
}

/*
 * Report a bad or missing setting ("FILE:LINE: route P: setting 'key':
 * msg", at the key's line, or the settings group's when it is absent).
 * The configuration then fails.
 */
static inline void
wsd_setting_error(struct wsd_route *r, const char *key, const char *msg)
{
	wsd_host_->setting_error(r, key, msg);
}

/* ---------------------------------------------------------------- topics */

/*
 * Topics (ABI 1.2): publish/subscribe between connections.  A publish
 * reaches the subscribers on every worker process of the daemon and,
 * with a Redis backplane (`cluster` in wsd.conf), on every wsd node that
 * shares the Redis.  Between the workers of one node no broker is
 * needed: workers hand messages to each other over local sockets.
 *
 * Names: 1 to WSD_TOPIC_MAX bytes of printable ASCII without space
 * (0x21 to 0x7e), compared byte for byte.  A topic exists while it has
 * subscribers; there is nothing to create or delete.
 *
 * State is per worker: a plugin's state pointer, wsd_broadcast(),
 * wsd_foreach() and wsd_clients() see only the connections of the worker
 * they run in, and subscriptions belong to connections of that worker.
 * Topics are the way to reach the others.
 *
 * Delivery guarantees:
 * - Order: messages one publisher (one route in one worker) publishes to
 *   one topic reach each subscriber in publish order.  Messages of
 *   different publishers (other workers, other nodes, Redis clients) may
 *   interleave differently at different subscribers.
 * - Once: each subscriber gets each message once, however many workers
 *   and nodes there are.
 * - At most once: nothing is retried or stored.  A subscriber over its
 *   send buffer limit (max_send_buffer) is closed with 1008, as with
 *   wsd_send(); a message that another worker or node cannot take in
 *   time (its queue is full, Redis is down) is dropped for it and
 *   counted in the log, never held without bound.
 * - A subscriber only hears messages published after wsd_subscribe()
 *   returned; a publish returns before remote subscribers have it.
 */
#define WSD_TOPIC_MAX	128

/* The most topics one connection may be subscribed to at once. */
#define WSD_TOPIC_SUBS_MAX	1024

/*
 * Subscribe c to topic; a connection's subscriptions end when it closes.
 * Returns 0 (also when already subscribed: subscribing twice is the same
 * as once), -1 on a bad name, a connection that is not open (handshake
 * hook, closing) or already has WSD_TOPIC_SUBS_MAX subscriptions, or no
 * memory.  From open, message, drain, timers and posts; the topic string
 * is copied.
 */
static inline int
wsd_subscribe(struct wsd_conn *c, const char *topic)
{
	return wsd_host_->subscribe(c, topic);
}

/*
 * Returns 0, or -1 if c was not subscribed to topic.  Messages already
 * queued for c stay queued.  May be called from `close`.
 */
static inline int
wsd_unsubscribe(struct wsd_conn *c, const char *topic)
{
	return wsd_host_->unsubscribe(c, topic);
}

/*
 * Send one message (WSD_TEXT, which must be UTF-8, or WSD_BINARY) to
 * every subscriber of topic on every worker and node.  The data is
 * copied; the frame is encoded once per worker and shared by its
 * subscribers.  Returns without waiting for other workers or nodes: 0
 * once the message is on its way (also when nobody is subscribed), -1
 * (nothing sent anywhere) on a bad name, opcode or text, a message over
 * the route's max_message_size, or no memory for the frame.  The publisher's own connection gets the message
 * too if it is subscribed.  From any callback on the loop thread,
 * including init, timers, posts and `close`.
 */
static inline int
wsd_publish(struct wsd_route *r, const char *topic, int opcode,
    const void *data, size_t len)
{
	return wsd_host_->publish(r, topic, opcode, data, len);
}

/*
 * This worker process's number, 0 to workers - 1; -1 where no client is
 * served: under wsd -t and in the master's check of a configuration.
 */
static inline int
wsd_worker(void)
{
	return wsd_host_->worker();
}

/*
 * TLS (ABI 1.3).  wsd_conn_tls() is 1 when the client reached us over
 * TLS (wss://), or reached a trusted proxy over TLS as it says
 * (X-Forwarded-Proto, a PROXY v2 SSL TLV), 0 when not.  wsd_conn_peer_subject() is the subject of
 * the certificate the client presented and wsd verified against the
 * listener's client_ca, in RFC 2253 form ("CN=alice,O=Example"), or
 * NULL when it sent none (or the listener asks for none).  The string
 * lives as long as the connection.  From any callback with c.
 */
static inline int
wsd_conn_tls(struct wsd_conn *c)
{
	return wsd_host_->conn_tls(c);
}

static inline const char *
wsd_conn_peer_subject(struct wsd_conn *c)
{
	return wsd_host_->peer_subject(c);
}

/* ---------------------------------------------------------------- ABI 1.4 */

/*
 * A parameter of the route's pattern: for a route `/rooms/:room`,
 * wsd_param(c, "room") on "/rooms/blue%20sky" is "blue sky"; for a
 * route ending in a wildcard, "/files/" then "*", wsd_param(c, "*") is
 * the rest of the path after "/files/", decoded ("" when nothing
 * follows).  NULL for a name the pattern does not have (any name on an
 * exact route).  wsd_path() stays the whole path as sent.
 *
 * Percent-decoded ('+' stays '+') and checked before the route matched:
 * no NUL or other control byte, never "." or ".."; a :name value is not
 * empty, has no '/' (an encoded "%2F" does not match a :name) and at
 * most 1024 bytes; a "*" value at most 4096 bytes and no "." or ".."
 * between its slashes.  Bytes, not necessarily UTF-8.  Handshake and
 * open only, like the other request accessors; valid until open
 * returns.
 */
static inline const char *
wsd_param(struct wsd_conn *c, const char *name)
{
	return wsd_host_->param(c, name);
}

/*
 * The i-th value (from 0) of a query argument that may repeat, percent-
 * decoded (Tornado's get_arguments): NULL past the last, and for a
 * value that does not decode (as wsd_arg()).
 * wsd_arg_at(c, name, 0) is wsd_arg(c, name).  Handshake and open only.
 */
static inline const char *
wsd_arg_at(struct wsd_conn *c, const char *name, size_t i)
{
	return wsd_host_->arg_at(c, name, i);
}

/*
 * A cookie's value decoded as browsers and Tornado encode it: a quoted
 * value ("a b") loses its quotes and backslash escapes (\" \\, and
 * \NNN octal: the character U+0000..U+00FF, as Python's http.cookies
 * writes it, given in UTF-8), then %XX sequences are decoded (a '%'
 * without two hex digits stays, '+' stays).  NULL when absent, or when
 * the decoded value would contain a NUL byte.  Handshake and open only.
 */
static inline const char *
wsd_cookie_value(struct wsd_conn *c, const char *name)
{
	return wsd_host_->cookie_value(c, name);
}

/*
 * The value of a cookie that Tornado's set_signed_cookie() made with
 * secret (format version 2, HMAC-SHA256), if the signature is valid, the
 * name inside matches, and it is younger than max_age_days (which may be
 * fractional; <= 0: any age).  NULL otherwise: absent, tampered,
 * expired, version 1, malformed, stamped more than 31 days in the
 * future, or a value with a NUL byte.  One secret: the cookie's key
 * version is not used (Tornado's dict of secrets is not supported).
 * The value is bytes, not checked for UTF-8.  Handshake and open only.
 */
static inline const char *
wsd_signed_cookie(struct wsd_conn *c, const char *name, const char *secret,
    double max_age_days)
{
	return wsd_host_->signed_cookie(c, name, secret, max_age_days);
}

/*
 * The i-th subprotocol (from 0) the client offered in
 * Sec-WebSocket-Protocol, in its order over all such headers (blanks
 * trimmed, empty elements skipped); NULL past the last.  In handshake
 * (pick one with wsd_accept_subprotocol()); in open too.
 */
static inline const char *
wsd_offered_subprotocol(struct wsd_conn *c, size_t i)
{
	return wsd_host_->offered_subprotocol(c, i);
}

/*
 * The i-th request header (from 0) as sent: stores its name and value
 * (NUL terminated) and returns 0, or returns -1 past the last.
 * Handshake and open only.
 */
static inline int
wsd_header_at(struct wsd_conn *c, size_t i, const char **name,
    const char **value)
{
	return wsd_host_->header_at(c, i, name, value);
}

/*
 * The address and port the client connected to, as wsd_remote_addr()
 * writes them; valid until close returns.
 */
static inline const char *
wsd_local_addr(struct wsd_conn *c)
{
	return wsd_host_->local_addr(c);
}

/*
 * Send a Ping with up to 125 bytes of payload (Tornado's ping()).  The
 * client's Pong reaches the plugin's `pong` callback with the round-trip
 * time.  Returns 0, or -1 when the connection is not open or the payload
 * is too long.
 */
static inline int
wsd_ping(struct wsd_conn *c, const void *data, size_t len)
{
	return wsd_host_->ping(c, data, len);
}

/*
 * wsd_broadcast() to every open client of the route but except (the
 * sender, typically; NULL: nobody is skipped).  Returns how many clients
 * it was queued for.
 */
static inline size_t
wsd_broadcast_except(struct wsd_route *r, struct wsd_conn *except,
    int opcode, const void *data, size_t len)
{
	return wsd_host_->broadcast_except(r, except, opcode, data, len);
}

/*
 * Send a NUL-terminated UTF-8 string as one text message.
 */
WSD_WARN_UNUSED static inline int
wsd_send_text(struct wsd_conn *c, const char *s)
{
	return wsd_host_->send(c, WSD_TEXT, s, strlen(s));
}

/*
 * The route's connection whose wsd_conn_id() is id, or NULL once it is
 * gone (or if it never belonged to r).  A connection waiting for
 * wsd_handshake_resume() is found too.  This is how work done elsewhere
 * (a thread, via wsd_post(); a timer) reaches a connection safely: keep
 * the id, not the pointer.  On the loop thread only.
 */
static inline struct wsd_conn *
wsd_conn_find(struct wsd_route *r, uint64_t id)
{
	return wsd_host_->conn_find(r, id);
}

/*
 * ASYNCHRONOUS HANDSHAKES.  A handshake hook that must ask another
 * service returns WSD_HANDSHAKE_PENDING; wsd then waits (reading nothing
 * more from the client) until the plugin calls wsd_handshake_resume()
 * with 0 to accept (open follows at once) or an HTTP status from 400 to
 * 599 to refuse.  Call it on the loop: from a timer, or from a function
 * a thread handed to wsd_post(), finding the connection again with
 * wsd_conn_find() (keep its id, never the pointer).  The request
 * accessors, wsd_accept_subprotocol() and wsd_add_header() work until
 * then.  If the client leaves, or the route's handshake_timeout passes,
 * before the plugin decides, wsd calls `close` with 1006 (so the plugin
 * frees what it attached) and the connection is gone: wsd_conn_find()
 * returns NULL.  A connection refused through wsd_handshake_resume()
 * gets no `close`, as one refused by the hook itself.  Returns 0, or -1
 * when c is not waiting for a decision.
 */
static inline int
wsd_handshake_resume(struct wsd_conn *c, int status)
{
	return wsd_host_->handshake_resume(c, status);
}

/*
 * Watch a descriptor the plugin owns (a pipe to a child, a socket to
 * another service) on the route's loop: fn(r, fd, events, arg) runs
 * when it is readable (WSD_WATCH_READ) or writable (WSD_WATCH_WRITE),
 * as events asks, until wsd_watch_set() changes that (0: pause) or
 * wsd_watch_cancel() ends it.  The watch is level-triggered: fn runs
 * again on the next loop pass for as long as the descriptor stays
 * readable (or writable), so a plugin may read a bounded amount each
 * time.  fn's events says which of the asked-for conditions hold
 * (end of file and errors count as readable).  events may be 0 at
 * first (created paused).
 *
 * Make the descriptor non-blocking (O_NONBLOCK) and close-on-exec.  It
 * stays the plugin's to close, after cancelling: never close it while
 * its watch is alive.  Watches belong to the route: those left are
 * cancelled and freed after fini.  Under `wsd -t` watches are created
 * but never run.  Returns NULL on failure (fd < 0, unknown bits in
 * events, no memory).  From any callback on the loop thread, init
 * included.
 */
WSD_WARN_UNUSED static inline struct wsd_watch *
wsd_watch_add(struct wsd_route *r, int fd, int events, wsd_watch_fn fn,
    void *arg)
{
	return wsd_host_->watch_add(r, fd, events, fn, arg);
}

/*
 * Change what w waits for: WSD_WATCH_READ, WSD_WATCH_WRITE, both, or 0
 * to pause it (a reader whose client is over its high-water mark pauses
 * until `drain`).  Also from inside w's own callback.  Returns 0, or -1
 * for unknown bits or a watch already cancelled.
 */
static inline int
wsd_watch_set(struct wsd_watch *w, int events)
{
	return wsd_host_->watch_set(w, events);
}

/*
 * Stop and free a watch, also from inside its own callback (it is freed
 * when the callback returns and never runs again).  NULL is ignored.
 * The handle is invalid afterwards; the descriptor is still open.
 */
static inline void
wsd_watch_cancel(struct wsd_watch *w)
{
	wsd_host_->watch_cancel(w);
}

/* ---------------------------------------------------------------- ABI 1.5 */

/*
 * METRICS.  A plugin may show its own counters and gauges on wsd's
 * Prometheus listener (`metrics` in wsd.conf), next to wsd's figures for
 * its route:
 *
 *	static struct wsd_metric *joins;
 *	... in init:
 *	joins = wsd_metric_counter(r, "chat_joins_total",
 *	    "Clients that joined a room.");
 *	... in open:
 *	wsd_metric_inc(joins);
 *
 * shows as
 *
 *	wsd_plugin_chat_joins_total{route="/chat"} 1
 *
 * Names: [a-zA-Z_][a-zA-Z0-9_]*, at most 100 bytes, shown with the prefix
 * "wsd_plugin_" (so a plugin's names never clash with wsd's) and the
 * route's label, route="<the configured path>".  Prometheus's
 * conventions apply and are enforced: a counter's name ends in "_total";
 * a gauge's does not end in _total, _count, _sum or _bucket; use base
 * units (seconds, bytes) and say so in the name.  Add no labels of your
 * own: one series per route keeps what a client sends out of the names.
 *
 * Each worker process keeps its own values; a scrape shows the sum over
 * the workers (a gauge too: set it to what this worker holds).
 *
 * Lifetime: a metric belongs to the route's path and the name, not to
 * the route instance: the same path and name after a reload, or from a
 * new plugin instance, return the same metric and its value goes on (a
 * counter does not start again at 0).  The handle stays valid for as
 * long as the process runs, also after fini; values of a route that a
 * reload removed stay as they were.  Returns NULL (and wsd logs why)
 * for a bad name, a name already used with the other type by any
 * plugin, more than 256 names in the process, or no memory.  NULL is
 * accepted (ignored) by wsd_metric_add() and wsd_metric_set(), so a
 * plugin may go on without checking.
 *
 * Create metrics on the loop thread (init is the usual place; any
 * callback will do).  Under wsd -t they are created and never shown.
 */
static inline struct wsd_metric *
wsd_metric_counter(struct wsd_route *r, const char *name, const char *help)
{
	return wsd_host_->metric_counter(r, name, help);
}

static inline struct wsd_metric *
wsd_metric_gauge(struct wsd_route *r, const char *name, const char *help)
{
	return wsd_host_->metric_gauge(r, name, help);
}

/*
 * Add v to a counter (v < 0 and NaN are ignored) or to a gauge (any
 * sign).  wsd_metric_add() and wsd_metric_set() may be called from ANY
 * thread, without wsd_post(): the value is a relaxed atomic, so a
 * plugin's worker threads count directly (about the cost of an atomic
 * add; a counter increment is never lost).
 */
static inline void
wsd_metric_add(struct wsd_metric *m, double v)
{
	wsd_host_->metric_add(m, v);
}

/* Add 1. */
static inline void
wsd_metric_inc(struct wsd_metric *m)
{
	wsd_host_->metric_add(m, 1.0);
}

/* Set a gauge to v (a counter is left alone).  From any thread. */
static inline void
wsd_metric_set(struct wsd_metric *m, double v)
{
	wsd_host_->metric_set(m, v);
}

#ifdef __cplusplus
}
#endif

#endif /* WSD_PLUGIN_H */

/*
 * wsd/plugin.h - the whole contract between wsd and its plugins.
 *
 * A plugin is a shared object in wsd's plugins directory.  It exports one
 * symbol, WSD_PLUGIN_SYMBOL ("wsd_plugin"), a constant struct wsd_plugin
 * best written with the WSD_PLUGIN() macro:
 *
 *	#include <wsd/plugin.h>
 *
 *	static void
 *	on_message(void *state, struct wsd_conn *c, int opcode,
 *	    const void *data, size_t len)
 *	{
 *		wsd_send(c, opcode, data, len);
 *	}
 *
 *	WSD_PLUGIN(.name = "echo", .message = on_message);
 *
 * Lifecycle.  Each route of the configuration that names the plugin is
 * one instance: `init` runs once per route when the configuration is
 * loaded (also under `wsd -t`, which then calls `fini` straight away), and
 * gets the host table, the route handle and a place for the instance's
 * state pointer.  For every client of the route, `open` runs after the 101
 * response has been queued, then `message` once per complete message, then
 * `close` exactly once.  `close` also runs when `open` itself closed the
 * connection.  `fini` runs when the route is retired (shutdown, or a reload
 * that dropped it, once its last connection is gone).
 *
 * Threads.  wsd calls every callback on its event-loop thread, and every
 * host function must be called on that thread, from inside a callback.
 *
 * Ownership.  Strings and buffers that wsd passes in are wsd's, valid
 * until the callback returns unless stated otherwise.  Data passed to
 * wsd_send() is copied before it returns.  A struct wsd_conn * is valid
 * from `open` until `close` returns; a struct wsd_route * from `init`
 * until `fini` returns.
 *
 * Versions.  WSD_ABI_MAJOR changes only when old plugins truly cannot
 * work; WSD_ABI_MINOR grows when members are appended to struct wsd_plugin
 * or struct wsd_host.  wsd loads a plugin of the same major and a minor
 * no newer than its own; callbacks past the plugin's `size` are treated
 * as absent.  A plugin must check host->size (or use the wsd_*() wrappers,
 * which do) before using host functions newer than the minor it needs.
 */
#ifndef WSD_PLUGIN_H
#define WSD_PLUGIN_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define WSD_ABI_MAJOR	1
#define WSD_ABI_MINOR	0

#define WSD_PLUGIN_SYMBOL	"wsd_plugin"

/* Message opcodes a plugin sees and sends. */
#define WSD_TEXT	1
#define WSD_BINARY	2

/* Log levels, the syslog numbers. */
#define WSD_LOG_ERR	3
#define WSD_LOG_WARNING	4
#define WSD_LOG_NOTICE	5
#define WSD_LOG_INFO	6
#define WSD_LOG_DEBUG	7

/* What wsd_send() did with a message. */
enum wsd_send_result {
	WSD_SEND_OK = 0,		/* queued */
	WSD_SEND_BACKPRESSURE = 1,	/* queued, but the client is over its
					   send high-water mark: slow down */
	WSD_SEND_DROPPED = -1,		/* not queued: the connection is
					   closing, the opcode or text was
					   invalid, or the send buffer limit
					   was passed (the connection is then
					   closed with 1008) */
};

struct wsd_conn;	/* one client connection; opaque */
struct wsd_route;	/* one route: a plugin instance; opaque */

/*
 * Host services, handed to `init`.  Use the inline wrappers below rather
 * than the table.  The table belongs to wsd and lives as long as the
 * process.
 */
struct wsd_host {
	uint32_t	abi_major;
	uint32_t	abi_minor;
	uint32_t	size;		/* sizeof(struct wsd_host) in wsd */

	/* Logging, with the route's path in the line. */
	void		(*log)(struct wsd_route *r, int level, const char *fmt,
			    va_list ap);

	/* Sending and closing. */
	int		(*send)(struct wsd_conn *c, int opcode,
			    const void *data, size_t len);
	int		(*close)(struct wsd_conn *c, int code,
			    const char *reason);

	/* What the client asked for (see the accessors' comments). */
	const char	*(*path)(struct wsd_conn *c);
	const char	*(*query)(struct wsd_conn *c);
	const char	*(*arg)(struct wsd_conn *c, const char *name);
	const char	*(*header)(struct wsd_conn *c, const char *name);
	const char	*(*remote_addr)(struct wsd_conn *c);
	uint64_t	 (*id)(struct wsd_conn *c);

	/* The plugin's own per-connection pointer. */
	void		 (*set_data)(struct wsd_conn *c, void *data);
	void		*(*get_data)(struct wsd_conn *c);

	/* The route a connection belongs to. */
	struct wsd_route *(*conn_route)(struct wsd_conn *c);
	const char	*(*route_path)(struct wsd_route *r);

	/* Bytes queued for the client and not yet written to the socket. */
	size_t		 (*buffered)(struct wsd_conn *c);

	/*
	 * Settings of the route's `settings` group.  Each returns 0 and
	 * stores the value (or the default when the key is absent), or -1
	 * when the key has the wrong type, which wsd reports with file and
	 * line and which fails the configuration.  Strings are wsd's and
	 * live until `fini`.  Keys the plugin never asks about during
	 * `init` are reported as unknown.
	 */
	int		 (*setting_string)(struct wsd_route *r,
			    const char *key, const char *def,
			    const char **out);
	int		 (*setting_int)(struct wsd_route *r, const char *key,
			    long long def, long long *out);
	int		 (*setting_bool)(struct wsd_route *r, const char *key,
			    int def, int *out);
	/* Report a bad setting value: "FILE:LINE: route P: key: message". */
	void		 (*setting_error)(struct wsd_route *r, const char *key,
			    const char *msg);
};

/*
 * The descriptor a plugin exports.  Only `name` is required; every
 * callback may be NULL.
 */
struct wsd_plugin {
	uint32_t	 abi_major;	/* WSD_ABI_MAJOR when built */
	uint32_t	 abi_minor;	/* WSD_ABI_MINOR it needs */
	uint32_t	 size;		/* sizeof(struct wsd_plugin) when built */
	const char	*name;
	const char	*version;
	/*
	 * Where wsd stores its host table before the first callback, so the
	 * inline wrappers below can reach it.  WSD_PLUGIN() sets it.
	 */
	const struct wsd_host **host_slot;

	/*
	 * Once per route.  Store instance state in *state.  Return 0, or -1
	 * to refuse the route (log why first); the configuration then fails.
	 */
	int	(*init)(const struct wsd_host *host, struct wsd_route *r,
		    void **state);
	/* Once per route, last.  Free the state. */
	void	(*fini)(void *state);

	/* A client connected.  May send, close, or read the request. */
	void	(*open)(void *state, struct wsd_conn *c);

	/*
	 * One whole message: WSD_TEXT (valid UTF-8, not NUL terminated) or
	 * WSD_BINARY.  data is valid until the callback returns.
	 */
	void	(*message)(void *state, struct wsd_conn *c, int opcode,
		    const void *data, size_t len);

	/*
	 * The connection is gone.  code is the close code received from the
	 * client or sent by wsd (1005 if the close frame had none, 1006 if
	 * the TCP connection ended without a close frame); reason is NUL
	 * terminated (possibly ""), valid until the callback returns.  No
	 * sends are possible; free per-connection data here.
	 */
	void	(*close)(void *state, struct wsd_conn *c, int code,
		    const char *reason);
};

/*
 * The host table, for the wrappers.  WSD_PLUGIN() defines it, hidden, so
 * every source file of one plugin shares it and plugins never see each
 * other's; wsd fills it before calling `init`.
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

__attribute__((format(printf, 3, 4), unused)) static inline void
wsd_log(struct wsd_route *r, int level, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	wsd_host_->log(r, level, fmt, ap);
	va_end(ap);
}

/* Send one message; see enum wsd_send_result. */
static inline int
wsd_send(struct wsd_conn *c, int opcode, const void *data, size_t len)
{
	return wsd_host_->send(c, opcode, data, len);
}

/*
 * Start the closing handshake with code (1000, 1001, 1003, 1007-1011 or
 * 3000-4999) and a UTF-8 reason of at most 123 bytes (may be NULL).
 * Returns 0, or -1 if the connection was already closing or the code or
 * reason is invalid.  `close` runs later, when the connection is gone.
 */
static inline int
wsd_close(struct wsd_conn *c, int code, const char *reason)
{
	return wsd_host_->close(c, code, reason);
}

/*
 * The request path ("/echo"), the raw query string (NULL if none), a
 * percent-decoded query argument (NULL if absent), a request header
 * (first of that name, case-insensitive; NULL if absent).  These are
 * valid in `open` only: wsd frees the request head once `open` returns,
 * so copy what you need later.
 */
static inline const char *
wsd_path(struct wsd_conn *c)
{
	return wsd_host_->path(c);
}

static inline const char *
wsd_query(struct wsd_conn *c)
{
	return wsd_host_->query(c);
}

static inline const char *
wsd_arg(struct wsd_conn *c, const char *name)
{
	return wsd_host_->arg(c, name);
}

static inline const char *
wsd_header(struct wsd_conn *c, const char *name)
{
	return wsd_host_->header(c, name);
}

/* "192.0.2.1:5555" or "[2001:db8::1]:5555"; valid until `close` returns. */
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

static inline const char *
wsd_route_path(struct wsd_route *r)
{
	return wsd_host_->route_path(r);
}

static inline size_t
wsd_buffered(struct wsd_conn *c)
{
	return wsd_host_->buffered(c);
}

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

static inline void
wsd_setting_error(struct wsd_route *r, const char *key, const char *msg)
{
	wsd_host_->setting_error(r, key, msg);
}

#ifdef __cplusplus
}
#endif

#endif /* WSD_PLUGIN_H */

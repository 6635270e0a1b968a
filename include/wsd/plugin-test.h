/*
 * wsd/plugin-test.h - run a wsd plugin in a unit test, without wsd.
 *
 * The kit is a fake host: a complete struct wsd_host (ABI 1.4) that
 * records everything a plugin does and lets the test play the clients
 * and the clock.  It loads a plugin's .so (or takes the descriptor of
 * one linked into the test), makes routes with settings written as
 * libconfig text, opens fake connections with a path, query, headers,
 * cookies and subprotocols, delivers messages, pings and closes, and
 * lets the test look at what the plugin sent, closed, logged, armed,
 * posted, broadcast and published.  Time stands still until the test
 * advances the fake clock.  Nothing runs behind the test's back: no
 * thread, no socket, no event loop.
 *
 *	#include <wsd/plugin-test.h>
 *
 *	struct wsdt *k = wsdt_new();
 *	const struct wsd_plugin *p = wsdt_load(k, "./hello.so");
 *	struct wsdt_route *r = wsdt_route(k, p, "/hello", "greeting = \"Hi\";");
 *	struct wsdt_conn *c = wsdt_connect(r, "/hello?name=ann");
 *	const struct wsdt_msg *m = wsdt_pop(c);	   (m->text: "Hi, ann!")
 *	wsdt_client_text(c, "abc");
 *	wsdt_client_close(c, 1000, "bye");
 *	wsdt_free(k);				   (fini runs here)
 *
 * Build:  cc $(pkg-config --cflags wsd-plugin-test cmocka) t.c \
 *              $(pkg-config --libs wsd-plugin-test cmocka)
 *
 * The core needs no test framework.  Include <cmocka.h> (after its
 * usual companions: stdarg.h, stddef.h, stdint.h, setjmp.h) before this
 * header to get the WSDT_EXPECT_*() / wsdt_expect_*() assertion macros
 * at the end.
 *
 * SEMANTICS.  The fake follows wsd's rules as include/wsd/plugin.h
 * documents them: sends on a connection that is not open return
 * WSD_SEND_DROPPED, text must be UTF-8, close codes and reasons are
 * checked as wsd checks them, the request accessors answer in handshake
 * and open only, settings getters refuse a wrong type (-1 and an error
 * naming the key) and keys init never asked about are reported as
 * unknown, fired one-shot timers stay valid until cancelled (ABI 1.1 and
 * later), wsd_conn_find() returns NULL once the connection is gone.
 * What it does not simulate: threads (wsd_post() and wsd_log() may be
 * called from any thread, as in wsd; other host calls made off the test's
 * thread are not refused, and race), frames and compression,
 * TLS, other workers and nodes (a publish reaches the subscribers of
 * every route of this kit, nothing else), handshake_timeout (the test
 * decides when a pending client leaves: wsdt_client_leave()).
 *
 * A plugin's wsd_close() is not answered at once: as in wsd the
 * plugin's `close` runs later, here when the kit call that ran the
 * plugin returns (the fake client answers the Close frame with the same
 * code).  wsdt_set_manual_close() turns that off.
 *
 * OWNERSHIP.  Everything the kit returns (connections, messages, log
 * records) stays valid until wsdt_free(), also connections that closed.
 * Strings the test passes in are copied.
 */
#ifndef WSD_PLUGIN_TEST_H
#define WSD_PLUGIN_TEST_H

#include <stddef.h>
#include <stdint.h>

#include <wsd/plugin.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Opcodes in a connection's sent list besides WSD_TEXT and WSD_BINARY. */
#define WSDT_PING	9	/* the plugin's wsd_ping() */

struct wsdt;		/* the kit: one fake host, its clock, its routes */
struct wsdt_route;	/* one route: one plugin instance */
struct wsdt_conn;	/* one fake client connection */

/* A message the plugin sent to a connection, or broadcast, or published. */
struct wsdt_msg {
	int		 opcode;	/* WSD_TEXT, WSD_BINARY or WSDT_PING */
	size_t		 len;
	const unsigned char *data;	/* len bytes, then a NUL */
	const char	*text;		/* the same bytes, as a C string */
	uint64_t	 at_ms;		/* the fake clock when it was sent */
	/* Broadcasts: the id of the connection skipped, or 0. */
	uint64_t	 except_id;
	/* Publishes: the topic; broadcasts and sends: NULL. */
	const char	*topic;
};

/* One line the plugin logged (wsd_log), escaped as wsd escapes it. */
struct wsdt_log {
	int		 level;		/* WSD_LOG_* */
	const char	*text;		/* without wsd's route prefix */
	struct wsdt_route *route;	/* NULL for a NULL route */
	uint64_t	 at_ms;
};

/* Where a connection is in its life. */
enum wsdt_state {
	WSDT_NEW,		/* made, handshake not run yet */
	WSDT_PENDING,		/* the hook answered WSD_HANDSHAKE_PENDING */
	WSDT_REFUSED,		/* refused with an HTTP status; no close */
	WSDT_OPEN,		/* open ran */
	WSDT_CLOSING,		/* the plugin called wsd_close(); close not yet */
	WSDT_CLOSED,		/* the plugin's close has run */
};

/* ---------------------------------------------------------------- the kit */

/*
 * A new kit with the fake clock at 0 ms, worker number 0.  NULL when out
 * of memory.
 */
struct wsdt	*wsdt_new(void);

/*
 * Tear down: client-side closes (1001) for every open connection (the
 * plugin's close runs; pending ones get 1006), then the posts still
 * queued run, then fini of every route whose init succeeded, in the
 * reverse order of their creation; then the timers and watches left are
 * dropped, the loaded plugins closed (dlclose) and everything freed.
 */
void		 wsdt_free(struct wsdt *k);

/* The fake host table handed to plugins. */
const struct wsd_host *wsdt_host(struct wsdt *k);

/*
 * The last error of a kit call that failed (NULL returns or -1), as a
 * sentence: "dlopen: ...", "settings:2: syntax error", ...
 */
const char	*wsdt_error(struct wsdt *k);

/*
 * Load a plugin the way wsd does: dlopen(path, RTLD_NOW | RTLD_LOCAL),
 * the WSD_PLUGIN_SYMBOL descriptor, the ABI check (same major, minor no
 * newer than the kit's).  The host slot is set when a route is made.
 * Returns the descriptor, or NULL (see wsdt_error()).  A path without a
 * slash is taken relative to the current directory, not searched.
 */
const struct wsd_plugin *wsdt_load(struct wsdt *k, const char *path);

/*
 * Plugins whose clients' messages the kit checks: wsdt_client_send()
 * refuses what wsd would never deliver (text that is not UTF-8, a
 * message over max_message_size).  The default max_message_size is
 * wsd's, 1 MiB; 0 means no limit.
 */
void		 wsdt_set_max_message(struct wsdt *k, size_t bytes);

/* What wsd_worker() answers (default 0; -1 is what wsd -t answers). */
void		 wsdt_set_worker(struct wsdt *k, int worker);

/*
 * Manual closes: when on, a plugin's wsd_close() leaves the connection
 * in WSDT_CLOSING until wsdt_finish_closes(); off (the default), the kit
 * finishes them itself each time a plugin callback it ran returns.
 */
void		 wsdt_set_manual_close(struct wsdt *k, int on);

/*
 * Run the plugin's close for every connection in WSDT_CLOSING, with the
 * code and reason the plugin gave (as if the client echoed them).
 * Returns how many.
 */
size_t		 wsdt_finish_closes(struct wsdt *k);

/* ---------------------------------------------------------------- the clock */

/* The fake clock, in milliseconds since wsdt_new(). */
uint64_t	 wsdt_now(struct wsdt *k);

/*
 * Move the clock ms forward.  Every timer that falls due meanwhile fires
 * at its time, in order of due time (then of creation); a repeating one
 * is re-armed for due + repeat and may fire again within the same
 * advance; timers added by a callback fire too if they fall due before
 * the end.  Returns how many callbacks ran.
 */
size_t		 wsdt_advance(struct wsdt *k, uint64_t ms);

/*
 * Milliseconds until the next armed timer fires, or -1 when no timer is
 * armed.  wsdt_advance(k, wsdt_next_timer(k)) fires it.
 */
int64_t		 wsdt_next_timer(struct wsdt *k);

/* Armed timers (of every route; fired one-shot handles not counted). */
size_t		 wsdt_timers(struct wsdt *k);

/*
 * Make the plugin see the fake clock as the time of day too:
 * gettimeofday(), time() and clock_gettime() (CLOCK_REALTIME* gives
 * epoch_ms + wsdt_now(), the monotonic clocks 1000 s + wsdt_now(); others
 * are left to the system) answer from the fake clock for plugins loaded
 * in this process, until wsdt_free() of this kit.  For plugins that read
 * the time themselves (a clock, an expiry); the same calls made by the
 * test program see it too.  The calls are replaced only in programs that
 * call this function (it comes from its own object file of the library,
 * which a program that never calls it does not link).
 */
void		 wsdt_fake_wall_clock(struct wsdt *k, int64_t epoch_ms);

/* ---------------------------------------------------------------- routes */

/*
 * Make a route for plugin p at path and run the plugin's init.  settings
 * is the route's `settings` group as libconfig text, either the body
 * ("interval_ms = 10; utc = true;") or the whole group ("settings = {
 * interval_ms = 10; };"); NULL for none.  After a successful init the
 * keys init did not ask for are reported as unknown, as wsd does.
 * Returns the route also when init failed (see wsdt_route_ok()); NULL
 * only when the settings do not parse or memory runs out (wsdt_error()).
 */
struct wsdt_route *wsdt_route(struct wsdt *k, const struct wsd_plugin *p,
		    const char *path, const char *settings);

/*
 * The route's limits, for the back-pressure simulation: the send
 * high-water mark (default 64 KiB) and max_send_buffer (1 MiB).
 */
void		 wsdt_route_limits(struct wsdt_route *r, size_t high_water,
		    size_t max_send_buffer);

/* What init returned (0 or -1). */
int		 wsdt_route_init_rc(struct wsdt_route *r);

/*
 * 1 when wsd would accept the route: init returned 0 and no setting
 * error was reported (wrong type, wsd_setting_error(), unknown key).
 */
int		 wsdt_route_ok(struct wsdt_route *r);

/*
 * The setting errors, as wsd prints them with "settings" for the file
 * name: "settings:1: route /clock: setting 'interval_ms' must be an
 * integer", "... unknown setting 'x' for plugin clock".
 */
size_t		 wsdt_route_nerrors(struct wsdt_route *r);
const char	*wsdt_route_error(struct wsdt_route *r, size_t i);

/* The first error containing needle, or NULL. */
const char	*wsdt_route_find_error(struct wsdt_route *r, const char *needle);

/* The plugin's state pointer, as init stored it. */
void		*wsdt_route_state(struct wsdt_route *r);

/* The struct wsd_route * the plugin sees. */
struct wsd_route *wsdt_route_handle(struct wsdt_route *r);

/* Open connections of the route (what wsd_clients() answers). */
size_t		 wsdt_route_clients(struct wsdt_route *r);

/*
 * Run the plugin's `reopen` (SIGUSR1).  Returns 0, or -1 when the plugin
 * has none or init failed.
 */
int		 wsdt_route_reopen(struct wsdt_route *r);

/*
 * The route's broadcasts (wsd_broadcast, wsd_broadcast_except), oldest
 * first: each is also in the sent list of every connection it reached.
 */
size_t		 wsdt_broadcasts(struct wsdt_route *r);
const struct wsdt_msg *wsdt_broadcast_at(struct wsdt_route *r, size_t i);

/* ---------------------------------------------------------------- connections */

/*
 * A new fake client of route r for target, "/path" or "/path?query".
 * Nothing runs yet: describe the request with the calls below, then
 * wsdt_open() it.  Its id (wsd_conn_id) counts from 1 in each kit;
 * remote address "127.0.0.1:<40000 + id>", local "127.0.0.1:8888".
 * NULL when out of memory or r's init failed.
 */
struct wsdt_conn *wsdt_conn(struct wsdt_route *r, const char *target);

/* Request headers, in order (a name may repeat).  Returns 0 or -1. */
int		 wsdt_header(struct wsdt_conn *c, const char *name,
		    const char *value);

/*
 * A cookie, sent raw in the Cookie header ("name=value"; value as it is
 * on the wire, quotes and %XX included).  Returns 0 or -1.
 */
int		 wsdt_cookie(struct wsdt_conn *c, const char *name,
		    const char *value);

/*
 * What wsd_signed_cookie(c, name, ...) answers.  The kit checks no
 * signature: a unit test states which signed cookie is valid.
 */
int		 wsdt_signed_cookie(struct wsdt_conn *c, const char *name,
		    const char *value);

/* A subprotocol the client offers (Sec-WebSocket-Protocol), in order. */
int		 wsdt_offer(struct wsdt_conn *c, const char *subprotocol);

/* A route parameter, as wsd_param() answers it (already decoded). */
int		 wsdt_param(struct wsdt_conn *c, const char *name,
		    const char *value);

/* The client's address ("192.0.2.1:5555"), its TLS subject. */
int		 wsdt_remote(struct wsdt_conn *c, const char *addr);
int		 wsdt_tls(struct wsdt_conn *c, int tls, const char *subject);

/*
 * Run the handshake hook (if the plugin has one) and, if it accepts,
 * open.  Returns 101 when the connection is open (also when open itself
 * closed it), WSD_HANDSHAKE_PENDING (1) when the hook deferred, or the
 * HTTP status it refused with.  A hook answer wsd would not take
 * (outside 400-599, or 1 from a plugin built for ABI 1.3 or older) is a
 * 500, as in wsd.  -1 when c is not new.
 *
 * A deferred handshake waits (state WSDT_PENDING, its request accessors
 * still answering) until the plugin calls wsd_handshake_resume(), from a
 * timer, a post or a watch the test fires: 0 opens it there and then
 * (wsdt_status() 101), a status refuses it (400-599; anything else is a
 * 500, as in wsd) and the plugin gets no close.  wsdt_client_leave()
 * makes the client give up meanwhile (close with 1006).
 */
int		 wsdt_open(struct wsdt_conn *c);

/*
 * wsdt_conn() and wsdt_open() in one: the connection once open, or NULL
 * when it is refused or pending (wsdt_error() says which).
 */
struct wsdt_conn *wsdt_connect(struct wsdt_route *r, const char *target);

/* The HTTP status: 101 once opened, the refusal, 0 while new or pending. */
int		 wsdt_status(struct wsdt_conn *c);

enum wsdt_state	 wsdt_state(struct wsdt_conn *c);

/* The struct wsd_conn * the plugin sees, and its id. */
struct wsd_conn	*wsdt_handle(struct wsdt_conn *c);
uint64_t	 wsdt_id(struct wsdt_conn *c);

/* What the plugin attached with wsd_set_data(). */
void		*wsdt_data(struct wsdt_conn *c);

/* The subprotocol the plugin accepted, or NULL. */
const char	*wsdt_subprotocol(struct wsdt_conn *c);

/* A header the plugin added to the 101 (wsd_add_header()), or NULL. */
const char	*wsdt_response_header(struct wsdt_conn *c, const char *name);

/* 1 when c is subscribed to topic. */
int		 wsdt_subscribed(struct wsdt_conn *c, const char *topic);

/* ---------------------------------------------------------------- the client acts */

/*
 * Deliver one whole message to the plugin's `message`.  Returns 0, or -1
 * when the connection is not open or wsd would not deliver it (an
 * opcode other than WSD_TEXT or WSD_BINARY, text that is not UTF-8, over
 * the kit's max_message_size).
 */
int		 wsdt_client_send(struct wsdt_conn *c, int opcode,
		    const void *data, size_t len);
int		 wsdt_client_text(struct wsdt_conn *c, const char *text);
int		 wsdt_client_binary(struct wsdt_conn *c, const void *data,
		    size_t len);

/*
 * The client pings (payload at most 125 bytes): the plugin's `ping`
 * runs.  wsd answers the Ping itself; the Pong is not in the sent list.
 */
int		 wsdt_client_ping(struct wsdt_conn *c, const void *data,
		    size_t len);

/*
 * The client sends a Pong: the plugin's `pong` runs, with the round-trip
 * time on the fake clock (in microseconds) since the plugin's wsd_ping()
 * with the same payload, or -1 if there was none.
 */
int		 wsdt_client_pong(struct wsdt_conn *c, const void *data,
		    size_t len);

/*
 * The client closes with code (1005 for "no code") and reason: the
 * plugin's close runs with them.  Also for a connection in WSDT_CLOSING
 * (the client's Close crossed the plugin's).  Returns 0, or -1 when the
 * connection is not open or closing.
 */
int		 wsdt_client_close(struct wsdt_conn *c, int code,
		    const char *reason);

/*
 * The client vanishes without a Close frame: close runs with 1006 for an
 * open connection; for a pending one (the handshake hook deferred) too,
 * as wsd does when the client leaves or handshake_timeout passes.
 */
int		 wsdt_client_leave(struct wsdt_conn *c);

/*
 * Back-pressure.  Pretend bytes of output are queued for the client and
 * it is not reading: wsd_buffered() answers that, and while it is not 0
 * every send adds its length to it and returns WSD_SEND_BACKPRESSURE
 * once over the route's high-water mark, or is dropped (and the
 * connection closed with 1008) past max_send_buffer, as in wsd.
 */
void		 wsdt_set_buffered(struct wsdt_conn *c, size_t bytes);

/*
 * The client caught up: the queue empties (wsd_buffered() 0) and, if a
 * send returned WSD_SEND_BACKPRESSURE since the last drain, the plugin's
 * `drain` runs.  Returns 1 when drain ran, else 0.
 */
int		 wsdt_drain(struct wsdt_conn *c);

/* ---------------------------------------------------------------- what the plugin did */

/*
 * The sent list of a connection: what reached the client, oldest first:
 * the plugin's sends and pings, the broadcasts and publishes it got.
 * wsdt_pop() takes the oldest not yet taken (NULL when none is left);
 * wsdt_peek() looks at it without taking it; wsdt_unread() counts those
 * not taken; wsdt_sent_total() and wsdt_sent_at() see the whole list.
 */
const struct wsdt_msg *wsdt_pop(struct wsdt_conn *c);
const struct wsdt_msg *wsdt_peek(struct wsdt_conn *c);
size_t		 wsdt_unread(struct wsdt_conn *c);
size_t		 wsdt_sent_total(struct wsdt_conn *c);
const struct wsdt_msg *wsdt_sent_at(struct wsdt_conn *c, size_t i);

/*
 * Whether the plugin closed the connection (wsd_close(), or the kit's
 * 1008 for a send buffer overflow); if so stores its code and reason
 * (either pointer may be NULL) and returns 1.
 */
int		 wsdt_closed_by_plugin(struct wsdt_conn *c, int *code,
		    const char **reason);

/*
 * The code and reason the plugin's `close` was called with; returns 1,
 * or 0 when close has not run (yet).
 */
int		 wsdt_close_seen(struct wsdt_conn *c, int *code,
		    const char **reason);

/* The log, oldest first; wsdt_log_clear() forgets it. */
size_t		 wsdt_logs(struct wsdt *k);
const struct wsdt_log *wsdt_log_at(struct wsdt *k, size_t i);
void		 wsdt_log_clear(struct wsdt *k);

/*
 * The first log line at level (-1: any) containing needle, or NULL.
 * Lines logged before wsdt_log_clear() are not searched.
 */
const struct wsdt_log *wsdt_log_find(struct wsdt *k, int level,
		    const char *needle);

/* Log lines go to stderr as well while on (default: when WSDT_VERBOSE is set). */
void		 wsdt_log_echo(struct wsdt *k, int on);

/*
 * Posts (wsd_post) queued and not yet run.  wsdt_run_posts() runs them
 * in order, and those they queue, up to 100000; returns how many ran.
 */
size_t		 wsdt_posts(struct wsdt *k);
size_t		 wsdt_run_posts(struct wsdt *k);

/* Publishes of every route, oldest first (topic in msg->topic). */
size_t		 wsdt_publishes(struct wsdt *k);
const struct wsdt_msg *wsdt_publish_at(struct wsdt *k, size_t i);

/*
 * Descriptor watches (wsd_watch_add): how many are active, and what one
 * of fd asks for (0 when none).  wsdt_fire_watch() runs the callback of
 * the watch on fd with events (masked by what it asks for); returns 1
 * if it ran, 0 if not.  Nothing polls the descriptor.
 */
size_t		 wsdt_watches(struct wsdt *k);
int		 wsdt_watch_events(struct wsdt *k, int fd);
int		 wsdt_fire_watch(struct wsdt *k, int fd, int events);

/*
 * Misuses the kit noticed, which wsd would not forgive: a host call on a
 * connection after its close returned, wsd_set_data() on a connection
 * that is gone, a timer cancelled twice...  Each as a sentence.
 */
/*
 * Plugin metrics (ABI 1.5): the value of the metric the plugin made on
 * route r with wsd_metric_counter() or wsd_metric_gauge(), by the name
 * it gave (without wsd's "wsd_plugin_" prefix).  Stores it in *value
 * (value may be NULL) and returns WSDT_COUNTER or WSDT_GAUGE; 0 when
 * the plugin made no metric of that name on r.  A name wsd would refuse
 * is a misuse (wsdt_misuses()), and the plugin gets NULL, as in wsd.
 */
#define WSDT_COUNTER	1
#define WSDT_GAUGE	2
int		 wsdt_metric(struct wsdt_route *r, const char *name,
		    double *value);

size_t		 wsdt_misuses(struct wsdt *k);
const char	*wsdt_misuse_at(struct wsdt *k, size_t i);

/* ---------------------------------------------------------------- cmocka */

/*
 * With <cmocka.h> included first: assertions that print what the plugin
 * did instead when they fail.
 *
 *   wsdt_expect_sent_text(c, "hello")   the oldest unread message is that
 *                                       text (it is taken)
 *   wsdt_expect_sent_binary(c, p, n)    ... binary, n bytes at p
 *   wsdt_expect_nothing_sent(c)         no unread message
 *   wsdt_expect_closed(c, code)         the plugin closed c with code
 *   wsdt_expect_log(k, level, needle)   a log line contains needle
 *                                       (level -1: any)
 *   wsdt_expect_no_misuse(k)            the kit noticed no misuse
 *   wsdt_expect_route_ok(r)             init succeeded, no setting error
 *   wsdt_expect_route_error(r, needle)  a setting error contains needle
 */
#ifdef cmocka_unit_test

#define wsdt_expect_sent_text(c, s) do {				\
	const struct wsdt_msg *wsdt_m_ = wsdt_pop(c);			\
	assert_non_null(wsdt_m_);					\
	assert_int_equal(wsdt_m_->opcode, WSD_TEXT);			\
	assert_string_equal(wsdt_m_->text, (s));			\
	assert_int_equal(wsdt_m_->len, strlen(s));			\
} while (0)

#define wsdt_expect_sent_binary(c, p, n) do {				\
	const struct wsdt_msg *wsdt_m_ = wsdt_pop(c);			\
	assert_non_null(wsdt_m_);					\
	assert_int_equal(wsdt_m_->opcode, WSD_BINARY);			\
	assert_int_equal(wsdt_m_->len, (n));				\
	assert_memory_equal(wsdt_m_->data, (p), (n));			\
} while (0)

#define wsdt_expect_nothing_sent(c) do {				\
	const struct wsdt_msg *wsdt_m_ = wsdt_peek(c);			\
	if (wsdt_m_ != NULL)						\
		fail_msg("unexpected message (opcode %d, %zu bytes): %s", \
		    wsdt_m_->opcode, wsdt_m_->len, wsdt_m_->text);	\
} while (0)

#define wsdt_expect_closed(c, code) do {				\
	int wsdt_code_ = 0;						\
	assert_true(wsdt_closed_by_plugin((c), &wsdt_code_, NULL));	\
	assert_int_equal(wsdt_code_, (code));				\
} while (0)

#define wsdt_expect_log(k, level, needle) do {				\
	if (wsdt_log_find((k), (level), (needle)) == NULL)		\
		fail_msg("no log line (level %d) contains \"%s\"",	\
		    (int)(level), (needle));				\
} while (0)

#define wsdt_expect_no_misuse(k) do {					\
	if (wsdt_misuses(k) > 0)					\
		fail_msg("plugin misuse: %s", wsdt_misuse_at((k), 0));	\
} while (0)

#define wsdt_expect_route_ok(r) do {					\
	assert_int_equal(wsdt_route_init_rc(r), 0);			\
	if (wsdt_route_nerrors(r) > 0)					\
		fail_msg("route error: %s", wsdt_route_error((r), 0));	\
} while (0)

#define wsdt_expect_route_error(r, needle) do {				\
	if (wsdt_route_find_error((r), (needle)) == NULL)		\
		fail_msg("no route error contains \"%s\" (%zu errors%s%s)", \
		    (needle), wsdt_route_nerrors(r),			\
		    wsdt_route_nerrors(r) > 0 ? ", first: " : "",	\
		    wsdt_route_nerrors(r) > 0 ?				\
		    wsdt_route_error((r), 0) : "");			\
} while (0)

#endif /* cmocka_unit_test */

#ifdef __cplusplus
}
#endif

#endif /* WSD_PLUGIN_TEST_H */

/*
 * host: the struct wsd_host table that plugins call through.  Each entry
 * is a thin cast from the public opaque types to ours.
 */
#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <event2/event.h>

#include <wsd/plugin.h>

#include "conn.h"
#include "generation.h"
#include "log.h"
#include "metrics.h"
#include "plugin.h"
#include "route.h"
#include "server.h"
#include "topic.h"
#include "workers.h"

static struct conn *
C(struct wsd_conn *c)
{
	return (struct conn *)c;
}

static struct route *
R(struct wsd_route *r)
{
	return (struct route *)r;
}

/*
 * THE LOOP THREAD.  Every host call but wsd_post() and wsd_log() belongs
 * to the thread that runs the event loop; a plugin's own thread calling
 * one would race with the loop (and its broadcast would sit unsent until
 * the loop woke for another reason).  So each call first checks the
 * thread, which costs a pthread_self() and a compare, and refuses from
 * any other: it returns its failure value and the misuse is noted under
 * a lock, for the loop to log (naming the plugin's file, found from the
 * caller's address) at most once a second.  Lines a plugin's thread logs
 * take the same way to the log: the logger itself is the loop's.
 */
#define OFF_LINES_MAX	256

struct off_line {
	int			 level;
	struct off_line		*next;
	char			 text[];
};

static struct {
	bool		 set;
	int		 fd;		/* eventfd: wakes the loop */
	struct event	*ev;
	pthread_mutex_t	 lock;
	/* Under lock: */
	unsigned long	 refused;	/* calls refused since the last log */
	char		 who[256], call[32];
	const void	*who_base;	/* the caller's object, if known */
	struct off_line	*head, **tail;
	size_t		 nlines;
	unsigned long	 lines_dropped;
	uint64_t	 last_ms;	/* of the last refusal logged */
} off = { .fd = -1, .lock = PTHREAD_MUTEX_INITIALIZER };

/*
 * Set on the loop thread by host_attach(): one load of a thread-local
 * flag per call (a fork copies it to the worker's only thread).
 */
static __thread bool loop_thread __attribute__((tls_model("initial-exec")));

static inline bool
on_loop(void)
{
	return loop_thread || !off.set;
}

static void
off_wake(void)
{
	uint64_t one = 1;
	ssize_t n;

	if (off.fd != -1) {
		n = write(off.fd, &one, sizeof(one));
		(void)n;
	}
}

static void
off_refused(const char *call, const void *caller)
{
	Dl_info di;
	const char *who = "a plugin";
	const void *base = NULL;

	if (caller != NULL && dladdr(caller, &di) != 0) {
		base = di.dli_fbase;
		if (di.dli_fname != NULL)
			who = di.dli_fname;
	}
	pthread_mutex_lock(&off.lock);
	off.refused++;
	off.who_base = base;
	snprintf(off.who, sizeof(off.who), "%s", who);
	snprintf(off.call, sizeof(off.call), "%s", call);
	pthread_mutex_unlock(&off.lock);
	off_wake();
}

static void
off_line(int level, const char *text)
{
	size_t len = strlen(text);
	struct off_line *l;

	pthread_mutex_lock(&off.lock);
	if (off.nlines >= OFF_LINES_MAX ||
	    (l = malloc(sizeof(*l) + len + 1)) == NULL) {
		off.lines_dropped++;
		pthread_mutex_unlock(&off.lock);
		return;
	}
	l->level = level;
	l->next = NULL;
	memcpy(l->text, text, len + 1);
	*off.tail = l;
	off.tail = &l->next;
	off.nlines++;
	pthread_mutex_unlock(&off.lock);
	off_wake();
}

static uint64_t
off_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static struct event *off_timer;

/* On the loop: log what other threads left. */
static void
off_drain(void)
{
	struct off_line *l, *next;
	unsigned long refused = 0, dropped;
	char who[512], call[32], name[512];
	const void *base = NULL;
	uint64_t now = off_now_ms();
	bool held;

	pthread_mutex_lock(&off.lock);
	l = off.head;
	off.head = NULL;
	off.tail = &off.head;
	off.nlines = 0;
	dropped = off.lines_dropped;
	off.lines_dropped = 0;
	if (off.refused > 0 && (off.last_ms == 0 || now - off.last_ms >= 1000)) {
		refused = off.refused;
		off.refused = 0;
		off.last_ms = now;
		memcpy(who, off.who, sizeof(off.who));
		base = off.who_base;
		memcpy(call, off.call, sizeof(call));
	}
	held = off.refused > 0;
	pthread_mutex_unlock(&off.lock);
	if (held && off_timer != NULL) {
		struct timeval tv = { 1, 0 };

		event_add(off_timer, &tv);	/* their turn comes */
	}
	for (; l != NULL; l = next) {
		next = l->next;
		log_msg(l->level, "%s", l->text);
		free(l);
	}
	if (dropped > 0)
		log_warn("%lu line(s) plugins logged from their own threads "
		    "were dropped (more than %d waiting)", dropped,
		    OFF_LINES_MAX);
	/* The loaded plugins are the loop's to look at. */
	if (refused > 0 && base != NULL &&
	    plugin_describe(base, name, sizeof(name)) == 0)
		snprintf(who, sizeof(who), "%s", name);
	if (refused > 0)
		log_err("%s called %s() from its own thread, not wsd's event "
		    "loop: refused (%lu such call%s); only wsd_post() and "
		    "wsd_log() may be called there", who, call, refused,
		    refused == 1 ? "" : "s");
}

static void
off_cb(evutil_socket_t fd, short what, void *arg)
{
	uint64_t n;
	ssize_t r;

	(void)what;
	(void)arg;
	r = read(fd, &n, sizeof(n));
	(void)r;
	off_drain();
}

/* A refusal logged less than a second after the last waits this long. */
static void
off_timer_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	(void)arg;
	off_drain();
}


int
host_attach(struct event_base *base)
{
	host_detach();
	loop_thread = true;
	off.tail = &off.head;
	if ((off.fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) == -1)
		return -1;
	if ((off.ev = event_new(base, off.fd, EV_READ | EV_PERSIST, off_cb,
	    NULL)) == NULL || event_add(off.ev, NULL) == -1 ||
	    (off_timer = evtimer_new(base, off_timer_cb, NULL)) == NULL) {
		host_detach();
		errno = ENOMEM;
		return -1;
	}
	off.set = true;
	return 0;
}

void
host_detach(void)
{
	if (off.set)
		off_drain();
	off.set = false;
	if (off_timer != NULL)
		event_free(off_timer);
	off_timer = NULL;
	if (off.ev != NULL)
		event_free(off.ev);
	off.ev = NULL;
	if (off.fd != -1)
		close(off.fd);
	off.fd = -1;
}

/* Refuse the call unless on the loop thread; in each h_*() itself. */
#define LOOP_ONLY(call, fail) do {					\
	if (!on_loop()) {						\
		off_refused(call, __builtin_return_address(0));		\
		return fail;						\
	}								\
} while (0)
#define LOOP_ONLY_VOID(call) do {					\
	if (!on_loop()) {						\
		off_refused(call, __builtin_return_address(0));		\
		return;							\
	}								\
} while (0)

static void
h_log(struct wsd_route *r, int level, const char *fmt, va_list ap)
{
	static const char hex[] = "0123456789abcdef";
	char buf[1024], safe[4 * sizeof(buf)];
	size_t i, o = 0;

	vsnprintf(buf, sizeof(buf), fmt, ap);
	/*
	 * Plugins may log what clients sent: no control byte reaches the log
	 * raw, whatever the plugin forgot to escape, and a backslash is
	 * doubled, so that a client's literal "\x0a" cannot pass for an
	 * escaped newline (as log_escape() does for wsd's own lines).
	 */
	for (i = 0; buf[i] != '\0'; i++) {
		unsigned char ch = (unsigned char)buf[i];

		if (ch == '\\') {
			safe[o++] = '\\';
			safe[o++] = '\\';
		} else if (ch < 0x20 || ch == 0x7f) {
			safe[o++] = '\\';
			safe[o++] = 'x';
			safe[o++] = hex[ch >> 4];
			safe[o++] = hex[ch & 15];
		} else {
			safe[o++] = (char)ch;
		}
	}
	safe[o] = '\0';
	if (!on_loop()) {
		/* r->path is a configuration string: it outlives the route's use. */
		char line[sizeof(safe) + 300];

		snprintf(line, sizeof(line), "%s: %s",
		    r != NULL ? R(r)->path : "plugin", safe);
		off_line(level, line);
		return;
	}
	log_msg(level, "%s: %s", r != NULL ? R(r)->path : "plugin", safe);
}

static int
h_send(struct wsd_conn *c, int opcode, const void *data, size_t len)
{
	LOOP_ONLY("wsd_send", -1);
	return conn_send(C(c), opcode, data, len);
}

static int
h_close(struct wsd_conn *c, int code, const char *reason)
{
	LOOP_ONLY("wsd_close", -1);
	return conn_close(C(c), code, reason);
}

static const char *
h_path(struct wsd_conn *c)
{
	LOOP_ONLY("wsd_path", NULL);
	return conn_path(C(c));
}

static const char *
h_query(struct wsd_conn *c)
{
	LOOP_ONLY("wsd_query", NULL);
	return conn_query(C(c));
}

static const char *
h_arg(struct wsd_conn *c, const char *name)
{
	LOOP_ONLY("wsd_arg", NULL);
	return conn_arg(C(c), name);
}

static const char *
h_header(struct wsd_conn *c, const char *name)
{
	LOOP_ONLY("wsd_header", NULL);
	return conn_header(C(c), name);
}

static const char *
h_cookie(struct wsd_conn *c, const char *name)
{
	LOOP_ONLY("wsd_cookie", NULL);
	return conn_cookie(C(c), name);
}

static const char *
h_subprotocol(struct wsd_conn *c)
{
	LOOP_ONLY("wsd_subprotocol", NULL);
	return conn_subprotocol(C(c));
}

static int
h_accept_subprotocol(struct wsd_conn *c, const char *name)
{
	LOOP_ONLY("wsd_accept_subprotocol", -1);
	return conn_accept_subprotocol(C(c), name);
}

static int
h_add_header(struct wsd_conn *c, const char *name, const char *value)
{
	LOOP_ONLY("wsd_add_header", -1);
	return conn_add_header(C(c), name, value);
}

static size_t
h_broadcast(struct wsd_route *r, int opcode, const void *data, size_t len)
{
	LOOP_ONLY("wsd_broadcast", 0);
	return conn_broadcast(R(r), opcode, data, len);
}

static size_t
h_clients(struct wsd_route *r)
{
	LOOP_ONLY("wsd_clients", 0);
	return conn_route_clients(R(r));
}

static size_t
h_foreach(struct wsd_route *r, wsd_conn_fn fn, void *arg)
{
	LOOP_ONLY("wsd_foreach", 0);
	return conn_route_foreach(R(r), fn, arg);
}

static struct wsd_timer *
h_timer_add(struct wsd_route *r, uint64_t after_ms, uint64_t repeat_ms,
    wsd_timer_fn fn, void *arg)
{
	LOOP_ONLY("wsd_timer_add", NULL);
	return generation_timer_add(R(r), after_ms, repeat_ms, fn, arg);
}

static void
h_timer_cancel(struct wsd_timer *t)
{
	LOOP_ONLY_VOID("wsd_timer_cancel");
	generation_timer_cancel(t);
}

static int
h_post(struct wsd_route *r, wsd_post_fn fn, void *arg)
{
	return generation_post(R(r), fn, arg);
}

static int
h_setting_float(struct wsd_route *r, const char *key, double def,
    double *out)
{
	LOOP_ONLY("wsd_setting_float", -1);
	return route_setting_float(R(r), key, def, out);
}

static int
h_setting_strings(struct wsd_route *r, const char *key,
    const char *const **out, size_t *n)
{
	LOOP_ONLY("wsd_setting_strings", -1);
	return route_setting_strings(R(r), key, out, n);
}

static const char *
h_remote_addr(struct wsd_conn *c)
{
	LOOP_ONLY("wsd_remote_addr", NULL);
	return conn_remote(C(c));
}

static uint64_t
h_id(struct wsd_conn *c)
{
	LOOP_ONLY("wsd_conn_id", 0);
	return conn_id(C(c));
}

static void
h_set_data(struct wsd_conn *c, void *data)
{
	LOOP_ONLY_VOID("wsd_set_data");
	conn_set_user(C(c), data);
}

static void *
h_get_data(struct wsd_conn *c)
{
	LOOP_ONLY("wsd_get_data", NULL);
	return conn_user(C(c));
}

static struct wsd_route *
h_conn_route(struct wsd_conn *c)
{
	LOOP_ONLY("wsd_conn_route", NULL);
	return (struct wsd_route *)conn_route(C(c));
}

static const char *
h_route_path(struct wsd_route *r)
{
	LOOP_ONLY("wsd_route_path", NULL);
	return R(r)->path;
}

static size_t
h_buffered(struct wsd_conn *c)
{
	LOOP_ONLY("wsd_buffered", 0);
	return conn_buffered(C(c));
}

static int
h_setting_string(struct wsd_route *r, const char *key, const char *def,
    const char **out)
{
	LOOP_ONLY("wsd_setting_string", -1);
	return route_setting_string(R(r), key, def, out);
}

static int
h_setting_int(struct wsd_route *r, const char *key, long long def,
    long long *out)
{
	LOOP_ONLY("wsd_setting_int", -1);
	return route_setting_int(R(r), key, def, out);
}

static int
h_setting_bool(struct wsd_route *r, const char *key, int def, int *out)
{
	LOOP_ONLY("wsd_setting_bool", -1);
	return route_setting_bool(R(r), key, def, out);
}

static void
h_setting_error(struct wsd_route *r, const char *key, const char *msg)
{
	LOOP_ONLY_VOID("wsd_setting_error");
	route_setting_error(R(r), key, msg);
}

static int
h_subscribe(struct wsd_conn *c, const char *topic)
{
	LOOP_ONLY("wsd_subscribe", -1);
	return topic_subscribe(C(c), topic);
}

static int
h_unsubscribe(struct wsd_conn *c, const char *topic)
{
	LOOP_ONLY("wsd_unsubscribe", -1);
	return topic_unsubscribe(C(c), topic);
}

static int
h_publish(struct wsd_route *r, const char *topic, int opcode,
    const void *data, size_t len)
{
	LOOP_ONLY("wsd_publish", -1);
	return topic_publish(R(r), topic, opcode, data, len);
}

static int
h_worker(void)
{
	return worker_self.number;
}

static int
h_conn_tls(struct wsd_conn *c)
{
	LOOP_ONLY("wsd_conn_tls", -1);
	return conn_tls(C(c)) ? 1 : 0;
}

static const char *
h_peer_subject(struct wsd_conn *c)
{
	LOOP_ONLY("wsd_conn_peer_subject", NULL);
	return conn_peer_subject(C(c));
}

static const char *
h_param(struct wsd_conn *c, const char *name)
{
	LOOP_ONLY("wsd_param", NULL);
	return conn_param(C(c), name);
}

static const char *
h_arg_at(struct wsd_conn *c, const char *name, size_t i)
{
	LOOP_ONLY("wsd_arg_at", NULL);
	return conn_arg_at(C(c), name, i);
}

static const char *
h_cookie_value(struct wsd_conn *c, const char *name)
{
	LOOP_ONLY("wsd_cookie_value", NULL);
	return conn_cookie_value(C(c), name);
}

static const char *
h_signed_cookie(struct wsd_conn *c, const char *name, const char *secret,
    double max_age_days)
{
	LOOP_ONLY("wsd_signed_cookie", NULL);
	return conn_signed_cookie(C(c), name, secret, max_age_days);
}

static const char *
h_offered_subprotocol(struct wsd_conn *c, size_t i)
{
	LOOP_ONLY("wsd_offered_subprotocol", NULL);
	return conn_offered_subprotocol(C(c), i);
}

static int
h_header_at(struct wsd_conn *c, size_t i, const char **name,
    const char **value)
{
	LOOP_ONLY("wsd_header_at", -1);
	return conn_header_at(C(c), i, name, value);
}

static const char *
h_local_addr(struct wsd_conn *c)
{
	LOOP_ONLY("wsd_local_addr", NULL);
	return conn_local(C(c));
}

static int
h_ping(struct wsd_conn *c, const void *data, size_t len)
{
	LOOP_ONLY("wsd_ping", -1);
	return conn_ping(C(c), data, len);
}

static size_t
h_broadcast_except(struct wsd_route *r, struct wsd_conn *except, int opcode,
    const void *data, size_t len)
{
	LOOP_ONLY("wsd_broadcast_except", 0);
	return conn_broadcast_except(R(r), C(except), opcode, data, len);
}

static struct wsd_conn *
h_conn_find(struct wsd_route *r, uint64_t id)
{
	LOOP_ONLY("wsd_conn_find", NULL);
	return (struct wsd_conn *)conn_find(R(r), id);
}

static int
h_handshake_resume(struct wsd_conn *c, int status)
{
	LOOP_ONLY("wsd_handshake_resume", -1);
	return conn_handshake_resume(C(c), status);
}

static struct wsd_watch *
h_watch_add(struct wsd_route *r, int fd, int events, wsd_watch_fn fn,
    void *arg)
{
	LOOP_ONLY("wsd_watch_add", NULL);
	return generation_watch_add(R(r), fd, events, fn, arg);
}

static int
h_watch_set(struct wsd_watch *w, int events)
{
	LOOP_ONLY("wsd_watch_set", -1);
	return generation_watch_set(w, events);
}

static void
h_watch_cancel(struct wsd_watch *w)
{
	LOOP_ONLY_VOID("wsd_watch_cancel");
	generation_watch_cancel(w);
}

/* 1.5: metrics.  Made on the loop; add and set from any thread. */
static struct wsd_metric *
metric_new(struct wsd_route *wr, enum metric_type type, const char *name,
    const char *help, const char *call)
{
	struct route *r = R(wr);
	struct wsd_metric *m;
	const char *why = "no route";

	if (r == NULL || name == NULL) {
		log_warn("%s: no route or no name", call);
		return NULL;
	}
	if ((m = metrics_plugin(r->metrics, type, name, help, &why)) == NULL) {
		char n[128];

		log_escape(n, sizeof(n), name, strlen(name));
		log_warn("route %s: %s(\"%s\") refused: %s", r->path, call, n,
		    why);
	}
	return m;
}

static struct wsd_metric *
h_metric_counter(struct wsd_route *r, const char *name, const char *help)
{
	LOOP_ONLY("wsd_metric_counter", NULL);
	return metric_new(r, MT_COUNTER, name, help, "wsd_metric_counter");
}

static struct wsd_metric *
h_metric_gauge(struct wsd_route *r, const char *name, const char *help)
{
	LOOP_ONLY("wsd_metric_gauge", NULL);
	return metric_new(r, MT_GAUGE, name, help, "wsd_metric_gauge");
}

static void
h_metric_add(struct wsd_metric *m, double v)
{
	metrics_plugin_add(m, v);
}

static void
h_metric_set(struct wsd_metric *m, double v)
{
	metrics_plugin_set(m, v);
}

static const struct wsd_host host = {
	.abi_major = WSD_ABI_MAJOR,
	.abi_minor = WSD_ABI_MINOR,
	.size = sizeof(struct wsd_host),
	.log = h_log,
	.send = h_send,
	.close = h_close,
	.path = h_path,
	.query = h_query,
	.arg = h_arg,
	.header = h_header,
	.cookie = h_cookie,
	.remote_addr = h_remote_addr,
	.id = h_id,
	.subprotocol = h_subprotocol,
	.set_data = h_set_data,
	.get_data = h_get_data,
	.conn_route = h_conn_route,
	.buffered = h_buffered,
	.accept_subprotocol = h_accept_subprotocol,
	.add_header = h_add_header,
	.route_path = h_route_path,
	.broadcast = h_broadcast,
	.clients = h_clients,
	.foreach = h_foreach,
	.timer_add = h_timer_add,
	.timer_cancel = h_timer_cancel,
	.post = h_post,
	.setting_string = h_setting_string,
	.setting_int = h_setting_int,
	.setting_bool = h_setting_bool,
	.setting_float = h_setting_float,
	.setting_strings = h_setting_strings,
	.setting_error = h_setting_error,
	.subscribe = h_subscribe,
	.unsubscribe = h_unsubscribe,
	.publish = h_publish,
	.worker = h_worker,
	.conn_tls = h_conn_tls,
	.peer_subject = h_peer_subject,
	.param = h_param,
	.arg_at = h_arg_at,
	.cookie_value = h_cookie_value,
	.signed_cookie = h_signed_cookie,
	.offered_subprotocol = h_offered_subprotocol,
	.header_at = h_header_at,
	.local_addr = h_local_addr,
	.ping = h_ping,
	.broadcast_except = h_broadcast_except,
	.conn_find = h_conn_find,
	.handshake_resume = h_handshake_resume,
	.watch_add = h_watch_add,
	.watch_set = h_watch_set,
	.watch_cancel = h_watch_cancel,
	.metric_counter = h_metric_counter,
	.metric_gauge = h_metric_gauge,
	.metric_add = h_metric_add,
	.metric_set = h_metric_set,
};

const struct wsd_host *
host_table(void)
{
	return &host;
}

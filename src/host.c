/*
 * host: the struct wsd_host table that plugins call through.  Each entry
 * is a thin cast from the public opaque types to ours.
 */
#include <stdarg.h>
#include <stdio.h>

#include <wsd/plugin.h>

#include "conn.h"
#include "generation.h"
#include "log.h"
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
	log_msg(level, "%s: %s", r != NULL ? R(r)->path : "plugin", safe);
}

static int
h_send(struct wsd_conn *c, int opcode, const void *data, size_t len)
{
	return conn_send(C(c), opcode, data, len);
}

static int
h_close(struct wsd_conn *c, int code, const char *reason)
{
	return conn_close(C(c), code, reason);
}

static const char *
h_path(struct wsd_conn *c)
{
	return conn_path(C(c));
}

static const char *
h_query(struct wsd_conn *c)
{
	return conn_query(C(c));
}

static const char *
h_arg(struct wsd_conn *c, const char *name)
{
	return conn_arg(C(c), name);
}

static const char *
h_header(struct wsd_conn *c, const char *name)
{
	return conn_header(C(c), name);
}

static const char *
h_cookie(struct wsd_conn *c, const char *name)
{
	return conn_cookie(C(c), name);
}

static const char *
h_subprotocol(struct wsd_conn *c)
{
	return conn_subprotocol(C(c));
}

static int
h_accept_subprotocol(struct wsd_conn *c, const char *name)
{
	return conn_accept_subprotocol(C(c), name);
}

static int
h_add_header(struct wsd_conn *c, const char *name, const char *value)
{
	return conn_add_header(C(c), name, value);
}

static size_t
h_broadcast(struct wsd_route *r, int opcode, const void *data, size_t len)
{
	return conn_broadcast(R(r), opcode, data, len);
}

static size_t
h_clients(struct wsd_route *r)
{
	return conn_route_clients(R(r));
}

static size_t
h_foreach(struct wsd_route *r, wsd_conn_fn fn, void *arg)
{
	return conn_route_foreach(R(r), fn, arg);
}

static struct wsd_timer *
h_timer_add(struct wsd_route *r, uint64_t after_ms, uint64_t repeat_ms,
    wsd_timer_fn fn, void *arg)
{
	return generation_timer_add(R(r), after_ms, repeat_ms, fn, arg);
}

static void
h_timer_cancel(struct wsd_timer *t)
{
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
	return route_setting_float(R(r), key, def, out);
}

static int
h_setting_strings(struct wsd_route *r, const char *key,
    const char *const **out, size_t *n)
{
	return route_setting_strings(R(r), key, out, n);
}

static const char *
h_remote_addr(struct wsd_conn *c)
{
	return conn_remote(C(c));
}

static uint64_t
h_id(struct wsd_conn *c)
{
	return conn_id(C(c));
}

static void
h_set_data(struct wsd_conn *c, void *data)
{
	conn_set_user(C(c), data);
}

static void *
h_get_data(struct wsd_conn *c)
{
	return conn_user(C(c));
}

static struct wsd_route *
h_conn_route(struct wsd_conn *c)
{
	return (struct wsd_route *)conn_route(C(c));
}

static const char *
h_route_path(struct wsd_route *r)
{
	return R(r)->path;
}

static size_t
h_buffered(struct wsd_conn *c)
{
	return conn_buffered(C(c));
}

static int
h_setting_string(struct wsd_route *r, const char *key, const char *def,
    const char **out)
{
	return route_setting_string(R(r), key, def, out);
}

static int
h_setting_int(struct wsd_route *r, const char *key, long long def,
    long long *out)
{
	return route_setting_int(R(r), key, def, out);
}

static int
h_setting_bool(struct wsd_route *r, const char *key, int def, int *out)
{
	return route_setting_bool(R(r), key, def, out);
}

static void
h_setting_error(struct wsd_route *r, const char *key, const char *msg)
{
	route_setting_error(R(r), key, msg);
}

static int
h_subscribe(struct wsd_conn *c, const char *topic)
{
	return topic_subscribe(C(c), topic);
}

static int
h_unsubscribe(struct wsd_conn *c, const char *topic)
{
	return topic_unsubscribe(C(c), topic);
}

static int
h_publish(struct wsd_route *r, const char *topic, int opcode,
    const void *data, size_t len)
{
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
	return conn_tls(C(c)) ? 1 : 0;
}

static const char *
h_peer_subject(struct wsd_conn *c)
{
	return conn_peer_subject(C(c));
}

static const char *
h_param(struct wsd_conn *c, const char *name)
{
	return conn_param(C(c), name);
}

static const char *
h_arg_at(struct wsd_conn *c, const char *name, size_t i)
{
	return conn_arg_at(C(c), name, i);
}

static const char *
h_cookie_value(struct wsd_conn *c, const char *name)
{
	return conn_cookie_value(C(c), name);
}

static const char *
h_signed_cookie(struct wsd_conn *c, const char *name, const char *secret,
    double max_age_days)
{
	return conn_signed_cookie(C(c), name, secret, max_age_days);
}

static const char *
h_offered_subprotocol(struct wsd_conn *c, size_t i)
{
	return conn_offered_subprotocol(C(c), i);
}

static int
h_header_at(struct wsd_conn *c, size_t i, const char **name,
    const char **value)
{
	return conn_header_at(C(c), i, name, value);
}

static const char *
h_local_addr(struct wsd_conn *c)
{
	return conn_local(C(c));
}

static int
h_ping(struct wsd_conn *c, const void *data, size_t len)
{
	return conn_ping(C(c), data, len);
}

static size_t
h_broadcast_except(struct wsd_route *r, struct wsd_conn *except, int opcode,
    const void *data, size_t len)
{
	return conn_broadcast_except(R(r), C(except), opcode, data, len);
}

static struct wsd_conn *
h_conn_find(struct wsd_route *r, uint64_t id)
{
	return (struct wsd_conn *)conn_find(R(r), id);
}

static int
h_handshake_resume(struct wsd_conn *c, int status)
{
	return conn_handshake_resume(C(c), status);
}

static struct wsd_watch *
h_watch_add(struct wsd_route *r, int fd, int events, wsd_watch_fn fn,
    void *arg)
{
	return generation_watch_add(R(r), fd, events, fn, arg);
}

static int
h_watch_set(struct wsd_watch *w, int events)
{
	return generation_watch_set(w, events);
}

static void
h_watch_cancel(struct wsd_watch *w)
{
	generation_watch_cancel(w);
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
};

const struct wsd_host *
host_table(void)
{
	return &host;
}

/*
 * fuzz-plugin: a plugin for fuzz_conn whose every move the client
 * decides, so that the fuzzer reaches the parts of conn.c and host.c
 * that the echo-logger never calls: refusing in handshake, subprotocols
 * and extra headers, the request accessors, closing from open and from
 * message, broadcasts, sends that are over the limits, drain, timers and
 * posts.  It is a test tool, built by `make fuzz` as
 * tests/fuzz/fuzz-plugin.so; fuzz_conn serves it at /fuzz.
 *
 * Handshake (query arguments): status=N refuses with N (any number),
 * proto=NAME accepts that subprotocol, hdr=VALUE and hname=NAME add a
 * response header, open=close|send|both acts in open.
 *
 * Messages are commands, by their first byte:
 *	'c' CODE(2) REASON	wsd_close with that code and reason
 *	'b' DATA		broadcast DATA with the message's opcode
 *	'n' N DATA		send DATA N times (back-pressure, limits)
 *	't' DATA		send DATA as text, UTF-8 or not
 *	'o' OP DATA		send with a raw opcode (mostly refused)
 *	'f' DATA		send DATA to every client (foreach)
 *	'T' DATA		a timer (0 ms) broadcasts DATA
 *	'p' DATA		wsd_post from this thread broadcasts DATA
 *	'q'			the request accessors (NULL after open)
 *	'd' DATA		send DATA again from the next drain
 *	anything else		echo
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <wsd/plugin.h>

struct state {
	struct wsd_route	*route;
	long long		 max_repeat;
};

struct client {
	char	*drain_msg;
	size_t	 drain_len;
	int	 drains;
};

struct later {
	struct wsd_timer *timer;	/* NULL when posted */
	size_t	len;
	char	data[];
};

static int
fz_init(const struct wsd_host *host, struct wsd_route *r, void **state)
{
	struct state *s;
	const char *const *list;
	const char *str;
	long long n;
	double f;
	size_t nl;
	int b;

	(void)host;
	if (wsd_setting_int(r, "max_repeat", 64, &n) == -1 ||
	    wsd_setting_bool(r, "flag", 0, &b) == -1 ||
	    wsd_setting_float(r, "ratio", 0.5, &f) == -1 ||
	    wsd_setting_string(r, "name", "fuzz", &str) == -1 ||
	    wsd_setting_strings(r, "words", &list, &nl) == -1)
		return -1;
	if ((s = calloc(1, sizeof(*s))) == NULL)
		return -1;
	s->route = r;
	s->max_repeat = n;
	*state = s;
	return 0;
}

static void
fz_fini(void *state)
{
	free(state);
}

static int
fz_handshake(void *state, struct wsd_conn *c)
{
	const char *v;

	(void)state;
	(void)wsd_path(c);
	(void)wsd_query(c);
	(void)wsd_header(c, "Origin");
	(void)wsd_cookie(c, "id");
	if ((v = wsd_arg(c, "proto")) != NULL)
		(void)wsd_accept_subprotocol(c, v);
	if ((v = wsd_arg(c, "hdr")) != NULL)
		(void)wsd_add_header(c, "X-Fuzz", v);
	if ((v = wsd_arg(c, "hname")) != NULL)
		(void)wsd_add_header(c, v, "1");
	if ((v = wsd_arg(c, "status")) != NULL)
		return atoi(v);
	return 0;
}

static void
fz_open(void *state, struct wsd_conn *c)
{
	struct client *cl = calloc(1, sizeof(*cl));
	const char *v = wsd_arg(c, "open");

	(void)state;
	wsd_set_data(c, cl);
	(void)wsd_subprotocol(c);
	(void)wsd_remote_addr(c);
	(void)wsd_conn_id(c);
	if (v == NULL)
		return;
	if (strcmp(v, "send") == 0 || strcmp(v, "both") == 0)
		(void)wsd_send(c, WSD_TEXT, "hello", 5);
	if (strcmp(v, "close") == 0 || strcmp(v, "both") == 0) {
		(void)wsd_close(c, 4000, "closed in open");
		(void)wsd_send(c, WSD_TEXT, "dropped", 7);
	}
}

static void
send_each(struct wsd_conn *c, void *arg)
{
	struct later *l = arg;

	(void)wsd_send(c, WSD_BINARY, l->data, l->len);
}

static struct later *
later_new(const void *data, size_t len)
{
	struct later *l = malloc(sizeof(*l) + len + 1);

	if (l != NULL) {
		l->timer = NULL;
		l->len = len;
		memcpy(l->data, data, len);
		l->data[len] = '\0';
	}
	return l;
}

static void
later_broadcast(struct wsd_route *r, void *arg)
{
	struct later *l = arg;

	(void)wsd_broadcast(r, WSD_BINARY, l->data, l->len);
	(void)wsd_clients(r);
	(void)wsd_route_path(r);
	/* A fired one-shot timer is kept until cancelled: let it go. */
	wsd_timer_cancel(l->timer);
	free(l);
}

static void
fz_message(void *state, struct wsd_conn *c, int opcode, const void *data,
    size_t len)
{
	struct state *s = state;
	struct client *cl = wsd_get_data(c);
	const unsigned char *p = data;
	struct wsd_route *r = wsd_conn_route(c);
	struct later *l;
	char *reason;
	long long i, n;

	if (len == 0) {
		(void)wsd_send(c, opcode, data, len);
		return;
	}
	switch (p[0]) {
	case 'c':
		if (len < 3)
			break;
		if ((reason = malloc(len - 2)) == NULL)
			break;
		memcpy(reason, p + 3, len - 3);
		reason[len - 3] = '\0';
		(void)wsd_close(c, p[1] << 8 | p[2], reason);
		free(reason);
		(void)wsd_send(c, WSD_TEXT, "after close", 11);
		break;
	case 'b':
		(void)wsd_broadcast(r, opcode, p + 1, len - 1);
		break;
	case 'n':
		n = len > 1 ? p[1] : 0;
		if (n > s->max_repeat)
			n = s->max_repeat;
		for (i = 0; i < n; i++)
			if (wsd_send(c, opcode, p + 2, len - 2) ==
			    WSD_SEND_DROPPED)
				break;
		(void)wsd_buffered(c);
		break;
	case 't':
		(void)wsd_send(c, WSD_TEXT, p + 1, len - 1);
		break;
	case 'o':
		(void)wsd_send(c, len > 1 ? p[1] : 0, p + 1, len - 1);
		break;
	case 'f':
		if ((l = later_new(p + 1, len - 1)) != NULL) {
			(void)wsd_foreach(r, send_each, l);
			free(l);
		}
		break;
	case 'T':
		if ((l = later_new(p + 1, len - 1)) != NULL &&
		    (l->timer = wsd_timer_add(r, 0, 0, later_broadcast,
		    l)) == NULL)
			free(l);
		break;
	case 'p':
		if ((l = later_new(p + 1, len - 1)) != NULL &&
		    wsd_post(r, later_broadcast, l) == -1)
			free(l);
		break;
	case 'q':
		(void)wsd_arg(c, "id");
		(void)wsd_header(c, "Host");
		(void)wsd_cookie(c, "id");
		(void)wsd_path(c);
		(void)wsd_query(c);
		break;
	case 'd':
		if (cl != NULL) {
			free(cl->drain_msg);
			cl->drain_msg = malloc(len);
			if (cl->drain_msg != NULL) {
				memcpy(cl->drain_msg, p + 1, len - 1);
				cl->drain_len = len - 1;
			}
		}
		break;
	default:
		(void)wsd_send(c, opcode, data, len);
		break;
	}
}

static void
fz_drain(void *state, struct wsd_conn *c)
{
	struct client *cl = wsd_get_data(c);

	(void)state;
	if (cl != NULL && cl->drain_msg != NULL && cl->drains++ < 4)
		(void)wsd_send(c, WSD_BINARY, cl->drain_msg, cl->drain_len);
}

static void
fz_close(void *state, struct wsd_conn *c, int code, const char *reason)
{
	struct client *cl = wsd_get_data(c);

	(void)state;
	(void)code;
	(void)strlen(reason);
	(void)wsd_send(c, WSD_TEXT, "gone", 4);	/* a no-op now */
	if (cl != NULL) {
		free(cl->drain_msg);
		free(cl);
	}
	wsd_set_data(c, NULL);
}

WSD_PLUGIN(.name = "fuzz-plugin", .version = "1",
    .init = fz_init, .fini = fz_fini, .handshake = fz_handshake,
    .open = fz_open, .message = fz_message, .drain = fz_drain,
    .close = fz_close);

/*
 * The plugin test kit's own tests: a probe plugin linked into the test
 * (the kit's other way in, besides loading a .so) does what each test
 * asks, and the tests check that the fake host answers as wsd's host
 * does (include/wsd/plugin.h): request accessors, the handshake and
 * its asynchronous form, closing, sending rules, back-pressure,
 * broadcasts, topics, pings, timers, posts from a thread, watches,
 * wsd_conn_find() after close, and the misuses the kit reports.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include <wsd/plugin-test.h>

/* ---------------------------------------------------------------- the probe */

/* What the probe saw and what it is told to do; reset by setup(). */
static struct {
	struct wsd_route	*route;
	int			 inits, finis, opens, closes, drains;
	int			 hs_answer;	/* the hook returns this */
	struct wsd_conn		*pending;	/* kept by the hook */
	uint64_t		 pending_id;
	char			 seen[32][128];	/* what the accessors gave */
	int			 nseen;
	int			 close_code;
	char			 close_reason[128];
	int			 send_rc;	/* of the last send */
	int			 close_rc;	/* of the last wsd_close */
	int			 after_close_send_rc;
	int			 ticks[4];
	struct wsd_timer	*timers[4];
	int			 cancel_self;
	int			 posts_run;
	int			 post_after_fini;
	int			 watch_events;
	struct wsd_watch	*watch;
	int			 ping_len;
	int64_t			 pong_rtt;
	struct wsd_conn		*kept;		/* a pointer kept past close */
	int			 fini_saw_posts;
} P;

static void
note(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static void
note(const char *fmt, ...)
{
	va_list ap;

	if (P.nseen >= 32)
		return;
	va_start(ap, fmt);
	vsnprintf(P.seen[P.nseen++], sizeof(P.seen[0]), fmt, ap);
	va_end(ap);
}

static const char *
nz(const char *s)
{
	return s != NULL ? s : "(null)";
}

static int
probe_init(const struct wsd_host *host, struct wsd_route *r, void **state)
{
	long long n;
	const char *const *list;
	size_t nl;
	double d;

	(void)host;
	P.route = r;
	P.inits++;
	if (wsd_setting_int(r, "n", 1, &n) == -1 ||
	    wsd_setting_strings(r, "list", &list, &nl) == -1 ||
	    wsd_setting_float(r, "ratio", 0.5, &d) == -1)
		return -1;
	note("n=%lld list=%zu ratio=%g", n, nl, d);
	if (n < 0) {
		wsd_setting_error(r, "n", "must not be negative");
		return -1;
	}
	*state = &P;
	return 0;
}

static void
probe_fini(void *state)
{
	(void)state;
	P.finis++;
	P.fini_saw_posts = P.posts_run;
	if (wsd_post(P.route, NULL, NULL) == 0)
		P.post_after_fini = 1;
}

static int
probe_handshake(void *state, struct wsd_conn *c)
{
	const char *name, *value;
	size_t i;

	(void)state;
	note("path=%s query=%s", nz(wsd_path(c)), nz(wsd_query(c)));
	note("a0=%s a1=%s a2=%s", nz(wsd_arg(c, "a")),
	    nz(wsd_arg_at(c, "a", 1)), nz(wsd_arg_at(c, "a", 2)));
	note("cookie=%s value=%s signed=%s", nz(wsd_cookie(c, "sid")),
	    nz(wsd_cookie_value(c, "sid")),
	    nz(wsd_signed_cookie(c, "user", "secret", 31)));
	note("param=%s origin=%s", nz(wsd_param(c, "room")),
	    nz(wsd_header(c, "origin")));
	for (i = 0; wsd_header_at(c, i, &name, &value) == 0; i++)
		note("h%zu %s: %s", i, name, value);
	for (i = 0; wsd_offered_subprotocol(c, i) != NULL; i++)
		;
	note("offered=%zu", i);
	if (i > 1 && wsd_accept_subprotocol(c, wsd_offered_subprotocol(c, 1))
	    == -1)
		return 500;
	if (wsd_accept_subprotocol(c, "never-offered") == 0)
		return 501;
	if (wsd_add_header(c, "X-Probe", "yes") == -1 ||
	    wsd_add_header(c, "Bad Name", "x") == 0 ||
	    wsd_add_header(c, "X-Bad", "a\r\nb") == 0)
		return 502;
	/* Not in the handshake: */
	if (wsd_send(c, WSD_TEXT, "x", 1) != WSD_SEND_DROPPED)
		return 503;
	if (P.hs_answer == WSD_HANDSHAKE_PENDING) {
		P.pending = c;
		P.pending_id = wsd_conn_id(c);
	}
	return P.hs_answer;
}

static void
probe_open(void *state, struct wsd_conn *c)
{
	(void)state;
	P.opens++;
	note("open path=%s remote=%s local=%s", nz(wsd_path(c)),
	    nz(wsd_remote_addr(c)), nz(wsd_local_addr(c)));
	P.send_rc = wsd_send_text(c, "welcome");
}

static void
after_close(struct wsd_conn *c, void *arg)
{
	(void)c;
	(void)arg;
}

static void
tick(struct wsd_route *r, void *arg)
{
	int i = (int)(intptr_t)arg;

	(void)r;
	P.ticks[i]++;
	if (P.cancel_self && i == 1) {
		wsd_timer_cancel(P.timers[1]);
		P.timers[1] = NULL;
	}
}

static void
on_post(struct wsd_route *r, void *arg)
{
	struct wsd_conn *c;

	P.posts_run++;
	/* A thread's result finds its connection by id, or NULL. */
	if ((c = wsd_conn_find(r, (uint64_t)(uintptr_t)arg)) != NULL &&
	    wsd_send_text(c, "from a post") == WSD_SEND_DROPPED)
		P.send_rc = WSD_SEND_DROPPED;
}

static void
on_watch(struct wsd_route *r, int fd, int events, void *arg)
{
	(void)r;
	(void)fd;
	(void)arg;
	P.watch_events |= events;
	wsd_watch_cancel(P.watch);
	P.watch = NULL;
}

static void
probe_message(void *state, struct wsd_conn *c, int opcode, const void *data,
    size_t len)
{
	char cmd[256], *arg;

	(void)state;
	(void)opcode;
	snprintf(cmd, sizeof(cmd), "%.*s", (int)len, (const char *)data);
	arg = strchr(cmd, ' ');
	if (arg != NULL)
		*arg++ = '\0';
	else
		arg = cmd + strlen(cmd);
	/* The request head is gone once open has returned. */
	if (strcmp(cmd, "path") == 0)
		note("late path=%s", nz(wsd_path(c)));
	else if (strcmp(cmd, "echo") == 0)
		P.send_rc = wsd_send(c, opcode, arg, strlen(arg));
	else if (strcmp(cmd, "bad-utf8") == 0)
		P.send_rc = wsd_send(c, WSD_TEXT, "\xc3\x28", 2);
	else if (strcmp(cmd, "bad-opcode") == 0)
		P.send_rc = wsd_send(c, 9, "x", 1);
	else if (strcmp(cmd, "close") == 0) {
		P.close_rc = wsd_close(c, atoi(arg), "done");
		/* close runs later: the plugin is still inside message. */
		P.after_close_send_rc = wsd_send_text(c, "too late");
		if (P.closes != 0)
			P.close_rc = -99;
	} else if (strcmp(cmd, "close-bad") == 0)
		P.close_rc = wsd_close(c, atoi(arg), NULL);
	else if (strcmp(cmd, "close-long") == 0)
		P.close_rc = wsd_close(c, 1000, "0123456789012345678901234567"
		    "890123456789012345678901234567890123456789012345678901"
		    "2345678901234567890123456789012345678901234567890");
	else if (strcmp(cmd, "bcast") == 0)
		note("bcast=%zu", wsd_broadcast(wsd_conn_route(c), WSD_TEXT,
		    arg, strlen(arg)));
	else if (strcmp(cmd, "bcast-except") == 0)
		note("bcast-except=%zu", wsd_broadcast_except(
		    wsd_conn_route(c), c, WSD_TEXT, arg, strlen(arg)));
	else if (strcmp(cmd, "sub") == 0)
		note("sub=%d", wsd_subscribe(c, arg));
	else if (strcmp(cmd, "unsub") == 0)
		note("unsub=%d", wsd_unsubscribe(c, arg));
	else if (strcmp(cmd, "pub") == 0)
		note("pub=%d", wsd_publish(wsd_conn_route(c), arg, WSD_TEXT,
		    "news", 4));
	else if (strcmp(cmd, "ping") == 0)
		note("ping=%d", wsd_ping(c, arg, strlen(arg)));
	else if (strcmp(cmd, "keep") == 0)
		P.kept = c;
	else if (strcmp(cmd, "data") == 0)
		wsd_set_data(c, &P);
	else if (strcmp(cmd, "flood") == 0) {
		int i;

		for (i = 0; i < atoi(arg); i++)
			P.send_rc = wsd_send(c, WSD_BINARY, cmd, 100);
	} else if (strcmp(cmd, "foreach") == 0)
		note("foreach=%zu clients=%zu", wsd_foreach(wsd_conn_route(c),
		    after_close, NULL), wsd_clients(wsd_conn_route(c)));
}

static void
probe_close(void *state, struct wsd_conn *c, int code, const char *reason)
{
	(void)state;
	P.closes++;
	P.close_code = code;
	snprintf(P.close_reason, sizeof(P.close_reason), "%s", reason);
	/* Sends in close are no-ops; accessors still work. */
	if (wsd_send_text(c, "bye") != WSD_SEND_DROPPED ||
	    wsd_conn_id(c) == 0)
		P.close_code = -1;
}

static void
probe_drain(void *state, struct wsd_conn *c)
{
	(void)state;
	(void)c;
	P.drains++;
}

static void
probe_ping(void *state, struct wsd_conn *c, const void *data, size_t len)
{
	(void)state;
	(void)c;
	(void)data;
	P.ping_len = (int)len;
}

static void
probe_pong(void *state, struct wsd_conn *c, const void *data, size_t len,
    int64_t rtt_us)
{
	(void)state;
	(void)c;
	(void)data;
	(void)len;
	P.pong_rtt = rtt_us;
}

WSD_PLUGIN(
	.name = "probe",
	.version = "1",
	.init = probe_init,
	.fini = probe_fini,
	.handshake = probe_handshake,
	.open = probe_open,
	.message = probe_message,
	.close = probe_close,
	.drain = probe_drain,
	.ping = probe_ping,
	.pong = probe_pong,
);

/* ---------------------------------------------------------------- helpers */

static int
setup(void **state)
{
	struct wsdt *k;

	memset(&P, 0, sizeof(P));
	assert_non_null(k = wsdt_new());
	*state = k;
	return 0;
}

static int
teardown(void **state)
{
	wsdt_free(*state);
	return 0;
}

static int
saw(const char *s)
{
	int i;

	for (i = 0; i < P.nseen; i++)
		if (strcmp(P.seen[i], s) == 0)
			return 1;
	return 0;
}

#define assert_saw(s) do {						\
	if (!saw(s)) {							\
		int i_;							\
		for (i_ = 0; i_ < P.nseen; i_++)			\
			print_message("seen: %s\n", P.seen[i_]);	\
		fail_msg("the probe did not see: %s", (s));		\
	}								\
} while (0)

static struct wsdt_route *
probe_route(struct wsdt *k, const char *settings)
{
	struct wsdt_route *r = wsdt_route(k, &wsd_plugin, "/probe", settings);

	assert_non_null(r);
	return r;
}

static struct wsdt_conn *
open_one(struct wsdt_route *r)
{
	struct wsdt_conn *c = wsdt_connect(r, "/probe");

	assert_non_null(c);
	wsdt_expect_sent_text(c, "welcome");
	return c;
}

/* ---------------------------------------------------------------- tests */

static void
test_settings(void **state)
{
	struct wsdt *k = *state;
	struct wsdt_route *r;

	r = probe_route(k, "n = 3; list = [ \"a\", \"b\" ]; ratio = 2;");
	wsdt_expect_route_ok(r);
	assert_saw("n=3 list=2 ratio=2");
	assert_ptr_equal(wsdt_route_state(r), &P);

	r = probe_route(k, "settings = { n = -1; };");
	assert_int_equal(wsdt_route_init_rc(r), -1);
	wsdt_expect_route_error(r, "settings:1: route /probe: setting 'n': "
	    "must not be negative");
	/* init failed: no clients, and no fini for it at the end. */
	assert_null(wsdt_conn(r, "/probe"));

	r = probe_route(k, "list = ( \"a\", 1 );");
	assert_int_equal(wsdt_route_init_rc(r), -1);
	wsdt_expect_route_error(r, "setting 'list' must be a list of strings");
	r = probe_route(k, "ratio = \"half\";");
	wsdt_expect_route_error(r, "setting 'ratio' must be a number");
	r = probe_route(k, "n = 1;\nextra = true;\nmore = 2;");
	assert_int_equal(wsdt_route_init_rc(r), 0);
	assert_int_equal(wsdt_route_nerrors(r), 2);
	wsdt_expect_route_error(r, "settings:2: route /probe: unknown setting "
	    "'extra' for plugin probe");
	wsdt_expect_route_error(r, "settings:3: route /probe: unknown setting "
	    "'more'");

	/* Not libconfig: no route, and the parser's reason. */
	assert_null(wsdt_route(k, &wsd_plugin, "/probe", "n = ;"));
	assert_non_null(strstr(wsdt_error(k), "settings:1:"));
}

static void
test_request_accessors(void **state)
{
	struct wsdt *k = *state;
	struct wsdt_route *r = probe_route(k, NULL);
	struct wsdt_conn *c = wsdt_conn(r, "/probe/x?a=1&b=2&a=two+words%21&a");

	assert_non_null(c);
	assert_int_equal(wsdt_header(c, "Origin", "https://example.org"), 0);
	assert_int_equal(wsdt_cookie(c, "sid", "\"a%20b\\\"c\\351%zz\""), 0);
	assert_int_equal(wsdt_cookie(c, "theme", "dark"), 0);
	assert_int_equal(wsdt_signed_cookie(c, "user", "ann"), 0);
	assert_int_equal(wsdt_param(c, "room", "blue sky"), 0);
	assert_int_equal(wsdt_offer(c, "chat.v1"), 0);
	assert_int_equal(wsdt_offer(c, "chat.v2"), 0);
	assert_int_equal(wsdt_remote(c, "192.0.2.1:5555"), 0);
	assert_int_equal(wsdt_open(c), 101);
	assert_int_equal(wsdt_status(c), 101);
	assert_saw("path=/probe/x query=a=1&b=2&a=two+words%21&a");
	assert_saw("a0=1 a1=two words! a2=");
	/* \351 is U+00E9 in UTF-8; a stray '%' stays. */
	assert_saw("cookie=\"a%20b\\\"c\\351%zz\" value=a b\"c\xc3\xa9%zz "
	    "signed=ann");
	assert_saw("param=blue sky origin=https://example.org");
	assert_saw("h0 Origin: https://example.org");
	assert_saw("h1 Cookie: sid=\"a%20b\\\"c\\351%zz\"; theme=dark");
	assert_saw("h2 Sec-WebSocket-Protocol: chat.v1, chat.v2");
	assert_saw("offered=2");
	assert_saw("open path=/probe/x remote=192.0.2.1:5555 "
	    "local=127.0.0.1:8888");
	assert_string_equal(wsdt_subprotocol(c), "chat.v2");
	assert_string_equal(wsdt_response_header(c, "x-probe"), "yes");
	assert_null(wsdt_response_header(c, "X-Bad"));
	/* The request is over once open returned. */
	assert_int_equal(wsdt_client_text(c, "path"), 0);
	assert_saw("late path=(null)");
	/* Too late to describe the request. */
	assert_int_equal(wsdt_header(c, "X", "y"), -1);
	wsdt_expect_no_misuse(k);
}

static void
test_handshake_refused(void **state)
{
	struct wsdt *k = *state;
	struct wsdt_route *r = probe_route(k, NULL);
	struct wsdt_conn *c;

	P.hs_answer = 403;
	c = wsdt_conn(r, "/probe");
	assert_int_equal(wsdt_open(c), 403);
	assert_int_equal(wsdt_state(c), WSDT_REFUSED);
	assert_int_equal(P.opens, 0);
	/* An answer wsd would not take is a 500. */
	P.hs_answer = 200;
	assert_null(wsdt_connect(r, "/probe"));
	assert_non_null(strstr(wsdt_error(k), "refused with 500"));
	assert_int_equal(wsdt_route_clients(r), 0);
	/* 1 defers only for a plugin built for 1.4; before, it is a 500. */
	{
		static struct wsd_plugin old;
		struct wsdt_route *r13;

		old = wsd_plugin;
		old.abi_minor = 3;
		r13 = wsdt_route(k, &old, "/old", NULL);
		assert_non_null(r13);
		P.hs_answer = WSD_HANDSHAKE_PENDING;
		assert_int_equal(wsdt_open(wsdt_conn(r13, "/old")), 500);
		assert_int_equal(wsdt_open(wsdt_conn(r, "/probe")),
		    WSD_HANDSHAKE_PENDING);
	}
	/* Refused ones never get close. */
	assert_int_equal(P.closes, 0);
}

static void
resume_later(struct wsd_route *r, void *arg)
{
	struct wsd_conn *c = wsd_conn_find(r, P.pending_id);

	(void)arg;
	if (c != NULL)
		(void)wsd_handshake_resume(c, (int)(intptr_t)arg);
}

static void
test_handshake_pending(void **state)
{
	struct wsdt *k = *state;
	struct wsdt_route *r = probe_route(k, NULL);
	struct wsdt_conn *a, *b, *c;
	struct wsd_timer *t;

	P.hs_answer = WSD_HANDSHAKE_PENDING;
	a = wsdt_conn(r, "/probe");
	assert_int_equal(wsdt_open(a), WSD_HANDSHAKE_PENDING);
	assert_int_equal(wsdt_state(a), WSDT_PENDING);
	assert_int_equal(wsdt_status(a), 0);
	/* Found while pending. */
	assert_ptr_equal(wsdt_host(k)->conn_find(wsdt_route_handle(r),
	    P.pending_id), wsdt_handle(a));
	/* Decided later, from a timer: open follows at once. */
	t = wsdt_host(k)->timer_add(wsdt_route_handle(r), 50, 0, resume_later,
	    (void *)(intptr_t)0);
	assert_non_null(t);
	wsdt_advance(k, 50);
	assert_int_equal(wsdt_state(a), WSDT_OPEN);
	assert_int_equal(wsdt_status(a), 101);
	wsdt_expect_sent_text(a, "welcome");
	/* Not pending any more. */
	assert_int_equal(wsdt_host(k)->handshake_resume(wsdt_handle(a), 0), -1);

	/* Refused later: no open, no close. */
	b = wsdt_conn(r, "/probe");
	assert_int_equal(wsdt_open(b), WSD_HANDSHAKE_PENDING);
	assert_int_equal(wsdt_host(k)->handshake_resume(wsdt_handle(b), 401),
	    0);
	assert_int_equal(wsdt_state(b), WSDT_REFUSED);
	assert_int_equal(wsdt_status(b), 401);
	/* A status wsd would not send is a 500, as in wsd. */
	b = wsdt_conn(r, "/probe");
	assert_int_equal(wsdt_open(b), WSD_HANDSHAKE_PENDING);
	assert_int_equal(wsdt_host(k)->handshake_resume(wsdt_handle(b), 200),
	    0);
	assert_int_equal(wsdt_status(b), 500);

	/* Abandoned by its client: close with 1006, then gone. */
	c = wsdt_conn(r, "/probe");
	assert_int_equal(wsdt_open(c), WSD_HANDSHAKE_PENDING);
	assert_int_equal(wsdt_client_leave(c), 0);
	assert_int_equal(P.closes, 1);
	assert_int_equal(P.close_code, 1006);
	assert_null(wsdt_host(k)->conn_find(wsdt_route_handle(r),
	    wsdt_id(c)));
	assert_int_equal(P.opens, 1);
	wsdt_expect_no_misuse(k);
}

static void
test_plugin_closes(void **state)
{
	struct wsdt *k = *state;
	struct wsdt_route *r = probe_route(k, NULL);
	struct wsdt_conn *c = open_one(r);
	const char *reason;
	int code;

	assert_int_equal(wsdt_client_text(c, "close-bad 1005"), 0);
	assert_int_equal(P.close_rc, -1);
	assert_int_equal(wsdt_client_text(c, "close-bad 2000"), 0);
	assert_int_equal(P.close_rc, -1);
	assert_int_equal(wsdt_client_text(c, "close-long"), 0);
	assert_int_equal(P.close_rc, -1);
	assert_int_equal(wsdt_state(c), WSDT_OPEN);

	assert_int_equal(wsdt_client_text(c, "close 4001"), 0);
	assert_int_equal(P.close_rc, 0);	/* close had not run inside */
	assert_int_equal(P.after_close_send_rc, WSD_SEND_DROPPED);
	wsdt_expect_closed(c, 4001);
	assert_true(wsdt_closed_by_plugin(c, NULL, &reason));
	assert_string_equal(reason, "done");
	/* ... and ran once the callback returned, with the echoed code. */
	assert_int_equal(wsdt_state(c), WSDT_CLOSED);
	assert_int_equal(P.closes, 1);
	assert_int_equal(P.close_code, 4001);
	assert_string_equal(P.close_reason, "done");
	assert_true(wsdt_close_seen(c, &code, NULL));
	assert_int_equal(code, 4001);
	assert_null(wsdt_host(k)->conn_find(wsdt_route_handle(r), wsdt_id(c)));
	assert_int_equal(wsdt_client_text(c, "echo x"), -1);
	assert_int_equal(wsdt_client_close(c, 1000, NULL), -1);
	wsdt_expect_no_misuse(k);
}

static void
test_manual_close(void **state)
{
	struct wsdt *k = *state;
	struct wsdt_route *r = probe_route(k, NULL);
	struct wsdt_conn *c = open_one(r);

	wsdt_set_manual_close(k, 1);
	assert_int_equal(wsdt_client_text(c, "close 1000"), 0);
	assert_int_equal(wsdt_state(c), WSDT_CLOSING);
	assert_int_equal(P.closes, 0);
	/* Still found, not counted as a client, deaf to messages. */
	assert_non_null(wsdt_host(k)->conn_find(wsdt_route_handle(r),
	    wsdt_id(c)));
	assert_int_equal(wsdt_route_clients(r), 0);
	assert_int_equal(wsdt_client_text(c, "echo x"), -1);
	assert_int_equal(wsdt_finish_closes(k), 1);
	assert_int_equal(P.closes, 1);
	assert_int_equal(wsdt_state(c), WSDT_CLOSED);
}

static void
test_send_rules(void **state)
{
	struct wsdt *k = *state;
	struct wsdt_route *r = probe_route(k, NULL);
	struct wsdt_conn *c = open_one(r);
	const struct wsdt_msg *m;

	assert_int_equal(wsdt_client_text(c, "echo hi"), 0);
	assert_int_equal(P.send_rc, WSD_SEND_OK);
	m = wsdt_peek(c);
	assert_non_null(m);
	assert_int_equal(wsdt_unread(c), 1);
	wsdt_expect_sent_text(c, "hi");
	assert_int_equal(wsdt_client_binary(c, "echo \0\1", 7), 0);
	wsdt_expect_sent_binary(c, "", 0);	/* strlen stops at the NUL */
	assert_int_equal(wsdt_client_text(c, "bad-utf8"), 0);
	assert_int_equal(P.send_rc, WSD_SEND_DROPPED);
	assert_int_equal(wsdt_client_text(c, "bad-opcode"), 0);
	assert_int_equal(P.send_rc, WSD_SEND_DROPPED);
	wsdt_expect_nothing_sent(c);
	assert_int_equal(wsdt_sent_total(c), 3);
	assert_string_equal(wsdt_sent_at(c, 0)->text, "welcome");
	/* The kit delivers only what wsd would. */
	assert_int_equal(wsdt_client_send(c, WSD_TEXT, "\xff", 1), -1);
	assert_int_equal(wsdt_client_send(c, 8, "x", 1), -1);
	wsdt_set_max_message(k, 4);
	assert_int_equal(wsdt_client_text(c, "echo long"), -1);
}

static void
test_backpressure_and_drain(void **state)
{
	struct wsdt *k = *state;
	struct wsdt_route *r = probe_route(k, NULL);
	struct wsdt_conn *c;

	wsdt_route_limits(r, 250, 1000);
	c = open_one(r);
	/* A fast reader: nothing piles up. */
	assert_int_equal(wsdt_client_text(c, "flood 20"), 0);
	assert_int_equal(P.send_rc, WSD_SEND_OK);
	assert_int_equal(wsdt_drain(c), 0);
	assert_int_equal(P.drains, 0);
	/* A slow one: over the high-water mark after two more. */
	wsdt_set_buffered(c, 100);
	assert_int_equal(wsdt_client_text(c, "flood 1"), 0);
	assert_int_equal(P.send_rc, WSD_SEND_OK);
	assert_int_equal(wsdt_client_text(c, "flood 1"), 0);
	assert_int_equal(P.send_rc, WSD_SEND_BACKPRESSURE);
	assert_int_equal(wsdt_host(k)->buffered(wsdt_handle(c)), 300);
	assert_int_equal(wsdt_drain(c), 1);
	assert_int_equal(P.drains, 1);
	assert_int_equal(wsdt_host(k)->buffered(wsdt_handle(c)), 0);
	/* Past max_send_buffer: dropped, closed with 1008. */
	wsdt_set_buffered(c, 1);
	assert_int_equal(wsdt_client_text(c, "flood 20"), 0);
	assert_int_equal(P.send_rc, WSD_SEND_DROPPED);
	wsdt_expect_closed(c, 1008);
	assert_int_equal(P.close_code, 1008);
	assert_int_equal(wsdt_sent_total(c), 1 + 20 + 2 + 9);
}

static void
test_broadcasts(void **state)
{
	struct wsdt *k = *state;
	struct wsdt_route *r = probe_route(k, NULL);
	struct wsdt_route *other = wsdt_route(k, &wsd_plugin, "/other", NULL);
	struct wsdt_conn *a = open_one(r), *b = open_one(r), *c = open_one(r);
	struct wsdt_conn *elsewhere = open_one(other);

	assert_int_equal(wsdt_client_text(a, "bcast all"), 0);
	assert_saw("bcast=3");
	wsdt_expect_sent_text(a, "all");
	wsdt_expect_sent_text(b, "all");
	wsdt_expect_sent_text(c, "all");
	wsdt_expect_nothing_sent(elsewhere);
	assert_int_equal(wsdt_client_text(b, "bcast-except not you"), 0);
	assert_saw("bcast-except=2");
	wsdt_expect_sent_text(a, "not you");
	wsdt_expect_nothing_sent(b);
	wsdt_expect_sent_text(c, "not you");
	assert_int_equal(wsdt_broadcasts(r), 2);
	assert_int_equal(wsdt_broadcast_at(r, 1)->except_id, wsdt_id(b));
	assert_int_equal(wsdt_broadcast_at(r, 0)->except_id, 0);
	assert_int_equal(wsdt_client_close(c, 1000, NULL), 0);
	assert_int_equal(wsdt_client_text(a, "foreach"), 0);
	assert_saw("foreach=2 clients=2");
}

static void
test_topics(void **state)
{
	struct wsdt *k = *state;
	struct wsdt_route *r = probe_route(k, NULL);
	struct wsdt_route *other = wsdt_route(k, &wsd_plugin, "/other", NULL);
	struct wsdt_conn *a = open_one(r), *b = open_one(other);
	const struct wsdt_msg *m;

	assert_int_equal(wsdt_client_text(a, "sub news"), 0);
	assert_saw("sub=0");
	assert_int_equal(wsdt_client_text(a, "sub bad topic"), 0);
	assert_saw("sub=-1");
	assert_true(wsdt_subscribed(a, "news"));
	assert_false(wsdt_subscribed(b, "news"));
	/* A publish from another route reaches the subscriber. */
	assert_int_equal(wsdt_client_text(b, "pub news"), 0);
	assert_saw("pub=0");
	m = wsdt_pop(a);
	assert_non_null(m);
	assert_string_equal(m->text, "news");
	assert_string_equal(m->topic, "news");
	wsdt_expect_nothing_sent(b);
	assert_int_equal(wsdt_publishes(k), 1);
	assert_string_equal(wsdt_publish_at(k, 0)->topic, "news");
	assert_int_equal(wsdt_client_text(a, "unsub news"), 0);
	assert_saw("unsub=0");
	assert_int_equal(wsdt_client_text(a, "unsub news"), 0);
	assert_saw("unsub=-1");
	assert_int_equal(wsdt_client_text(b, "pub news"), 0);
	wsdt_expect_nothing_sent(a);
	assert_int_equal(wsdt_publishes(k), 2);
}

static void
test_ping_pong(void **state)
{
	struct wsdt *k = *state;
	struct wsdt_conn *c = open_one(probe_route(k, NULL));
	const struct wsdt_msg *m;

	assert_int_equal(wsdt_client_text(c, "ping abc"), 0);
	assert_saw("ping=0");
	m = wsdt_pop(c);
	assert_non_null(m);
	assert_int_equal(m->opcode, WSDT_PING);
	assert_string_equal(m->text, "abc");
	wsdt_advance(k, 42);
	assert_int_equal(wsdt_client_pong(c, "abc", 3), 0);
	assert_int_equal(P.pong_rtt, 42000);
	assert_int_equal(wsdt_client_pong(c, "abc", 3), 0);
	assert_int_equal(P.pong_rtt, -1);
	assert_int_equal(wsdt_client_ping(c, "12345", 5), 0);
	assert_int_equal(P.ping_len, 5);
	/* wsd answers Pings itself: nothing in the sent list. */
	wsdt_expect_nothing_sent(c);
}

static void
test_timers(void **state)
{
	struct wsdt *k = *state;
	struct wsdt_route *r = probe_route(k, NULL);
	const struct wsd_host *h = wsdt_host(k);
	struct wsd_route *wr = wsdt_route_handle(r);

	assert_int_equal(wsdt_next_timer(k), -1);
	P.timers[0] = h->timer_add(wr, 100, 0, tick, (void *)0);
	P.timers[1] = h->timer_add(wr, 30, 30, tick, (void *)1);
	P.timers[2] = h->timer_add(wr, 0, 0, tick, (void *)2);
	assert_int_equal(wsdt_timers(k), 3);
	assert_int_equal(wsdt_next_timer(k), 0);
	assert_int_equal(wsdt_advance(k, 0), 1);
	assert_int_equal(P.ticks[2], 1);
	assert_int_equal(wsdt_next_timer(k), 30);
	/* 30, 60, 90 (repeating), 100 (one-shot). */
	assert_int_equal(wsdt_advance(k, 100), 4);
	assert_int_equal(P.ticks[1], 3);
	assert_int_equal(P.ticks[0], 1);
	assert_int_equal(wsdt_now(k), 100);
	assert_int_equal(wsdt_timers(k), 1);
	/* A fired one-shot handle stays valid: cancelling it is fine. */
	h->timer_cancel(P.timers[0]);
	h->timer_cancel(P.timers[2]);
	wsdt_expect_no_misuse(k);
	/* ... but twice is a misuse the kit reports. */
	h->timer_cancel(P.timers[0]);
	assert_int_equal(wsdt_misuses(k), 1);
	assert_non_null(strstr(wsdt_misuse_at(k, 0), "wsd_timer_cancel"));
	/* A repeating timer cancelled from its own callback stops. */
	P.cancel_self = 1;
	assert_int_equal(wsdt_advance(k, 1000), 1);
	assert_int_equal(P.ticks[1], 4);
	assert_int_equal(wsdt_timers(k), 0);
	assert_int_equal(wsdt_next_timer(k), -1);
}

static void *
poster(void *arg)
{
	struct wsdt_conn *c = arg;
	int i;

	for (i = 0; i < 100; i++)
		if (wsd_post(P.route, on_post,
		    (void *)(uintptr_t)wsdt_id(c)) == -1)
			return NULL;
	return arg;
}

static void
test_posts_from_a_thread(void **state)
{
	struct wsdt *k = *state;
	struct wsdt_conn *c = open_one(probe_route(k, NULL));
	pthread_t t;
	void *rc;

	assert_int_equal(pthread_create(&t, NULL, poster, c), 0);
	assert_int_equal(pthread_join(t, &rc), 0);
	assert_ptr_equal(rc, c);
	assert_int_equal(wsdt_posts(k), 100);
	assert_int_equal(P.posts_run, 0);
	assert_int_equal(wsdt_run_posts(k), 100);
	assert_int_equal(wsdt_unread(c), 100);
	wsdt_expect_sent_text(c, "from a post");
	/* After close the id finds nothing: the post sends nothing. */
	assert_int_equal(wsdt_client_close(c, 1000, NULL), 0);
	assert_int_equal(wsd_post(P.route, on_post,
	    (void *)(uintptr_t)wsdt_id(c)), 0);
	assert_int_equal(wsdt_run_posts(k), 1);
	assert_int_equal(wsdt_sent_total(c), 101);
	/* Queued at the end: run before fini; a post in fini is refused. */
	assert_int_equal(wsd_post(P.route, on_post, (void *)0), 0);
	wsdt_free(k);
	*state = NULL;
	assert_int_equal(P.posts_run, 102);
	assert_int_equal(P.fini_saw_posts, 102);
	assert_int_equal(P.finis, 1);
	assert_int_equal(P.post_after_fini, 0);
}

static void
test_watches(void **state)
{
	struct wsdt *k = *state;
	struct wsdt_route *r = probe_route(k, NULL);
	const struct wsd_host *h = wsdt_host(k);

	P.watch = h->watch_add(wsdt_route_handle(r), 7, WSD_WATCH_READ,
	    on_watch, NULL);
	assert_non_null(P.watch);
	assert_null(h->watch_add(wsdt_route_handle(r), -1, WSD_WATCH_READ,
	    on_watch, NULL));
	assert_int_equal(wsdt_watches(k), 1);
	assert_int_equal(wsdt_watch_events(k, 7), WSD_WATCH_READ);
	/* Only what it asks for. */
	assert_int_equal(wsdt_fire_watch(k, 7, WSD_WATCH_WRITE), 0);
	assert_int_equal(h->watch_set(P.watch, WSD_WATCH_READ |
	    WSD_WATCH_WRITE), 0);
	assert_int_equal(wsdt_fire_watch(k, 7, WSD_WATCH_WRITE), 1);
	assert_int_equal(P.watch_events, WSD_WATCH_WRITE);
	/* It cancelled itself from its callback. */
	assert_int_equal(wsdt_watches(k), 0);
	assert_int_equal(wsdt_fire_watch(k, 7, WSD_WATCH_READ), 0);
	wsdt_expect_no_misuse(k);
}

static void
test_two_kits(void **state)
{
	struct wsdt *k = *state, *k2 = wsdt_new();
	struct wsdt_route *r = probe_route(k, NULL), *r2;
	struct wsd_route *first = P.route;
	struct wsd_timer *t;

	assert_non_null(k2);
	r2 = wsdt_route(k2, &wsd_plugin, "/probe", NULL);	/* P.route */
	assert_non_null(r2);
	/* A handle of the first kit, cancelled while the second is in use. */
	t = wsdt_host(k)->timer_add(wsdt_route_handle(r), 10, 0, tick,
	    (void *)0);
	assert_non_null(t);
	assert_int_equal(wsdt_timers(k2), 0);
	wsdt_host(k2)->timer_cancel(t);
	assert_int_equal(wsdt_timers(k), 0);
	wsdt_expect_no_misuse(k);
	wsdt_expect_no_misuse(k2);
	/* The clocks are separate. */
	wsdt_advance(k2, 500);
	assert_int_equal(wsdt_now(k), 0);
	wsdt_free(k2);
	assert_int_equal(P.finis, 1);
	P.route = first;	/* for the first kit's fini */
}

static void
test_use_after_close_is_reported(void **state)
{
	struct wsdt *k = *state;
	struct wsdt_conn *c = open_one(probe_route(k, NULL));

	assert_int_equal(wsdt_client_text(c, "keep"), 0);
	assert_int_equal(wsdt_client_text(c, "data"), 0);
	assert_ptr_equal(wsdt_data(c), &P);
	assert_int_equal(wsdt_client_close(c, 1001, "away"), 0);
	assert_int_equal(P.close_code, 1001);
	assert_string_equal(P.close_reason, "away");
	wsdt_expect_no_misuse(k);
	/* The plugin kept the pointer and uses it later (wsd would crash). */
	assert_int_equal(wsd_send_text(P.kept, "hello?"), WSD_SEND_DROPPED);
	assert_int_equal(wsdt_misuses(k), 1);
	assert_non_null(strstr(wsdt_misuse_at(k, 0), "wsd_send on connection "
	    "1 after its close returned"));
}

static void
test_teardown_closes_and_finis(void **state)
{
	struct wsdt *k = *state;
	struct wsdt_route *r = probe_route(k, NULL);

	(void)open_one(r);
	(void)open_one(r);
	P.hs_answer = WSD_HANDSHAKE_PENDING;
	assert_int_equal(wsdt_open(wsdt_conn(r, "/probe")),
	    WSD_HANDSHAKE_PENDING);
	(void)probe_route(k, "n = -1;");	/* its init fails */
	wsdt_free(k);
	*state = NULL;
	/* Two opened clients said 1001, the pending one left (1006). */
	assert_int_equal(P.closes, 3);
	assert_int_equal(P.inits, 2);
	assert_int_equal(P.finis, 1);
}

/*
 * ABI 1.5 metrics, through a bundled plugin that makes some (chat): the
 * kit records them by name, add and set work, and the rules wsd enforces
 * on names are misuses here too.
 */
static void
test_metrics(void **state)
{
	struct wsdt *k = *state;
	const struct wsd_plugin *p;
	struct wsdt_route *r;
	struct wsdt_conn *a, *b;
	double v = -1;

	assert_non_null(p = wsdt_load(k, PLUGIN_BUILD_DIR "/chat.so"));
	assert_non_null(r = wsdt_route(k, p, "/chat", NULL));
	assert_true(wsdt_route_ok(r));
	assert_int_equal(wsdt_metric(r, "chat_lines_total", &v), WSDT_COUNTER);
	assert_true(v == 0);
	assert_int_equal(wsdt_metric(r, "chat_members", &v), WSDT_GAUGE);
	assert_true(v == 0);
	assert_int_equal(wsdt_metric(r, "nonesuch", &v), 0);

	assert_non_null(a = wsdt_connect(r, "/chat?nick=ann"));
	assert_non_null(b = wsdt_connect(r, "/chat?nick=bob"));
	assert_int_equal(wsdt_metric(r, "chat_members", &v), WSDT_GAUGE);
	assert_true(v == 2);
	assert_int_equal(wsdt_client_text(a, "hi"), 0);
	assert_int_equal(wsdt_client_text(b, "ho"), 0);
	assert_int_equal(wsdt_client_text(a, "hum"), 0);
	assert_int_equal(wsdt_metric(r, "chat_lines_total", &v), WSDT_COUNTER);
	assert_true(v == 3);
	assert_int_equal(wsdt_client_close(b, 1000, ""), 0);
	assert_int_equal(wsdt_metric(r, "chat_members", &v), WSDT_GAUGE);
	assert_true(v == 1);
	wsdt_expect_no_misuse(k);

	/* The host calls themselves: the rules, the same metric again. */
	{
		const struct wsd_host *h = wsdt_host(k);
		struct wsd_route *wr = wsdt_route_handle(r);
		struct wsd_metric *m, *m2;

		assert_null(h->metric_counter(wr, "no_suffix", "x"));
		assert_null(h->metric_gauge(wr, "bad_total", "x"));
		assert_null(h->metric_counter(wr, "9starts_with_digit_total",
		    "x"));
		assert_null(h->metric_gauge(wr, "", "x"));
		/* The other type under a name in use: refused. */
		assert_null(h->metric_counter(wr, "chat_members", "x"));
		assert_true(wsdt_misuses(k) >= 4);
		assert_non_null(m = h->metric_gauge(wr, "g", "a gauge"));
		assert_non_null(m2 = h->metric_gauge(wr, "g", "again"));
		assert_ptr_equal(m, m2);
		h->metric_set(m, 2.5);
		h->metric_add(m, -1);
		assert_int_equal(wsdt_metric(r, "g", &v), WSDT_GAUGE);
		assert_true(v == 1.5);
		assert_non_null(m = h->metric_counter(wr, "c_total", NULL));
		h->metric_add(m, 2);
		h->metric_add(m, -5);	/* a counter never goes down */
		h->metric_set(m, 100);	/* nor is it set */
		assert_int_equal(wsdt_metric(r, "c_total", &v), WSDT_COUNTER);
		assert_true(v == 2);
		h->metric_add(NULL, 1);	/* NULL is harmless */
	}
}

int
main(void)
{
#define T(f)	cmocka_unit_test_setup_teardown(f, setup, teardown)
	const struct CMUnitTest tests[] = {
		T(test_settings),
		T(test_request_accessors),
		T(test_handshake_refused),
		T(test_handshake_pending),
		T(test_plugin_closes),
		T(test_manual_close),
		T(test_send_rules),
		T(test_backpressure_and_drain),
		T(test_broadcasts),
		T(test_topics),
		T(test_ping_pong),
		T(test_timers),
		T(test_posts_from_a_thread),
		T(test_watches),
		T(test_two_kits),
		T(test_use_after_close_is_reported),
		T(test_teardown_closes_and_finis),
		T(test_metrics),
	};
#undef T

	return cmocka_run_group_tests(tests, NULL, NULL);
}

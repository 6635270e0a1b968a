/*
 * hooks: a test plugin that exercises the plugin API for
 * tests/integration/test_api.py.
 *
 * handshake  refuses ?deny=1 with 403 and Cookie user=banned with 401;
 *            picks subprotocol chat.v2, else chat.v1, when offered; adds
 *            "Set-Cookie: session=s123; Path=/; HttpOnly" and "X-Hook: yes";
 *            answers 500 if wsd_add_header() accepts a value with CR LF or
 *            a name with a space (so a test sees that bug).
 * open       sends "<greeting> sub=S user=U path=P arg=X" (none when
 *            absent).
 * message    text commands:
 *              clients             -> the decimal wsd_clients()
 *              bcast:<rest>        -> broadcast <rest>, then "sent:<n>"
 *                                     (none sent: close 1011)
 *              foreach             -> "each" to every client, then
 *                                     "visited:<n>"
 *              timer:<ms>          -> a one-shot timer that broadcasts
 *                                     "fired" (no timer: close 1011)
 *              close:<code>:<why>  -> wsd_close(code, why)
 *              closetwice          -> wsd_close twice; the second and a
 *                                     send after it must fail, else "BUG"
 *                                     is logged at error level
 *              sendbig:<n>         -> n bytes binary
 *              bp                  -> 64 KiB binary messages until a send
 *                                     reports back-pressure (at most
 *                                     1000), then "bp:<count>"; drain
 *                                     then sends "drained"
 *              mytimer:<ms>        -> a one-shot timer that sends "fired"
 *                                     to this client (no timer: close
 *                                     1011)
 *              slowtimer:<busy>[:<ms>]
 *                                  -> a timer that arms a second one for
 *                                     <ms> (default 100) ms later, then
 *                                     keeps the loop busy for <busy> ms;
 *                                     they broadcast "t1 <ms>" (its start)
 *                                     and "t2 <ms>" (monotonic ms)
 *              spin:<period>:<n>   -> n times, 10 ms before a multiple of
 *                                     <period> ms by the wall clock, keeps
 *                                     the loop busy for 65% of a period (a
 *                                     clock route's tick with that
 *                                     interval is then more than half an
 *                                     interval late); then broadcasts
 *                                     "spun"
 * close      logs "hooks close code=<n> reason=<r>" at info level.
 *
 * Settings: greeting = "hello" (the first word of the open message).
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE	/* asprintf */
#endif
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>

#include <wsd/plugin.h>

#define BP_CHUNK	(64 * 1024)
#define BP_MAX		1000

struct hooks {
	struct wsd_route	*route;
	const char		*greeting;
};

static int
hooks_init(const struct wsd_host *host, struct wsd_route *r, void **state)
{
	struct hooks *h;
	const char *greeting;

	(void)host;
	if (wsd_setting_string(r, "greeting", "hello", &greeting) == -1)
		return -1;
	if ((h = calloc(1, sizeof(*h))) == NULL)
		return -1;
	h->route = r;
	h->greeting = greeting;
	*state = h;
	return 0;
}

static void
hooks_fini(void *state)
{
	free(state);
}

static int
hooks_handshake(void *state, struct wsd_conn *c)
{
	struct hooks *h = state;
	const char *deny = wsd_arg(c, "deny");
	const char *user = wsd_cookie(c, "user");

	/* wsd must refuse header injection and a non-token name. */
	if (wsd_add_header(c, "X-Injected", "a\r\nX-Evil: 1") != -1) {
		wsd_log(h->route, WSD_LOG_ERR,
		    "BUG: wsd_add_header accepted a value with CR LF");
		return 500;
	}
	if (wsd_add_header(c, "Bad Name", "x") != -1) {
		wsd_log(h->route, WSD_LOG_ERR,
		    "BUG: wsd_add_header accepted a name with a space");
		return 500;
	}

	if (deny != NULL && strcmp(deny, "1") == 0)
		return 403;
	if (user != NULL && strcmp(user, "banned") == 0)
		return 401;
	if (wsd_accept_subprotocol(c, "chat.v2") == -1)
		(void)wsd_accept_subprotocol(c, "chat.v1");
	if (wsd_add_header(c, "Set-Cookie",
	    "session=s123; Path=/; HttpOnly") == -1 ||
	    wsd_add_header(c, "X-Hook", "yes") == -1) {
		/* Valid headers: only memory can have run out. */
		wsd_log(h->route, WSD_LOG_WARNING,
		    "wsd_add_header failed: out of memory");
		return 503;
	}
	return 0;
}

static void
send_text(struct wsd_conn *c, const char *s)
{
	if (wsd_send(c, WSD_TEXT, s, strlen(s)) == WSD_SEND_DROPPED)
		wsd_log(wsd_conn_route(c), WSD_LOG_DEBUG, "hooks: reply dropped");
}

static void
hooks_open(void *state, struct wsd_conn *c)
{
	struct hooks *h = state;
	const char *sub = wsd_subprotocol(c);
	const char *user = wsd_cookie(c, "user");
	const char *path = wsd_path(c);
	const char *arg = wsd_arg(c, "x");
	char *msg;

	if (asprintf(&msg, "%s sub=%s user=%s path=%s arg=%s", h->greeting,
	    sub != NULL ? sub : "none", user != NULL ? user : "none",
	    path != NULL ? path : "none", arg != NULL ? arg : "none") == -1) {
		wsd_close(c, 1011, "out of memory");
		return;
	}
	send_text(c, msg);
	free(msg);
}

static void
each_cb(struct wsd_conn *c, void *arg)
{
	(void)arg;
	send_text(c, "each");
}

static void
fire_cb(struct wsd_route *r, void *arg)
{
	(void)arg;
	wsd_broadcast(r, WSD_TEXT, "fired", 5);
}

/* mytimer: "fired" to the one client that asked, if it is still there. */
static void
mine_cb(struct wsd_route *r, void *arg)
{
	struct wsd_conn *c = wsd_conn_find(r, (uint64_t)(uintptr_t)arg);

	if (c != NULL)
		send_text(c, "fired");
}

static unsigned long long
mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (unsigned long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Keep the loop busy, as a slow plugin or a huge broadcast would. */
static void
spin_ms(unsigned long long ms)
{
	unsigned long long start = mono_ms();

	while (mono_ms() - start < ms)
		;
}

static void
bcast_ms(struct wsd_route *r, const char *tag, unsigned long long ms)
{
	char buf[64];
	int n = snprintf(buf, sizeof(buf), "%s %llu", tag, ms);

	wsd_broadcast(r, WSD_TEXT, buf, (size_t)n);
}

static void
slow_second_cb(struct wsd_route *r, void *arg)
{
	(void)arg;
	bcast_ms(r, "t2", mono_ms());
}

/* slowtimer's argument: the busy time and the second timer's delay. */
#define SLOW_ARG(busy, ms)	((uintptr_t)(busy) | (uintptr_t)(ms) << 16)
#define SLOW_BUSY(arg)		((uintptr_t)(arg) & 0xffff)
#define SLOW_MS(arg)		((uintptr_t)(arg) >> 16)

static void
slow_first_cb(struct wsd_route *r, void *arg)
{
	unsigned long long start = mono_ms();

	if (wsd_timer_add(r, SLOW_MS(arg), 0, slow_second_cb, NULL) == NULL)
		wsd_log(r, WSD_LOG_ERR, "hooks: slowtimer: no timer");
	spin_ms(SLOW_BUSY(arg));
	bcast_ms(r, "t1", start);
}

/* spin's argument: the period and the number of spells left. */
#define SPIN_ARG(period, n)	((uintptr_t)(period) | (uintptr_t)(n) << 16)
#define SPIN_PERIOD(arg)	((uintptr_t)(arg) & 0xffff)
#define SPIN_LEFT(arg)		((uintptr_t)(arg) >> 16)

/* Milliseconds until 10 ms before the next multiple of period ms. */
static uint64_t
until_spin(unsigned long long period)
{
	struct timeval tv;
	unsigned long long now, at;

	gettimeofday(&tv, NULL);
	now = (unsigned long long)tv.tv_sec * 1000 + tv.tv_usec / 1000;
	at = now / period * period + period - 10;
	if (at <= now + 5)
		at += period;
	return at - now;
}

static void
spin_cb(struct wsd_route *r, void *arg)
{
	uintptr_t period = SPIN_PERIOD(arg), left = SPIN_LEFT(arg);

	spin_ms(period * 65 / 100);
	if (left > 1) {
		if (wsd_timer_add(r, until_spin(period), 0, spin_cb,
		    (void *)SPIN_ARG(period, left - 1)) == NULL)
			wsd_log(r, WSD_LOG_ERR, "hooks: spin: no timer");
		return;
	}
	wsd_broadcast(r, WSD_TEXT, "spun", 4);
}

static int
starts(const char *msg, size_t len, const char *prefix)
{
	size_t n = strlen(prefix);

	return len >= n && memcmp(msg, prefix, n) == 0;
}

static void
command(struct hooks *h, struct wsd_conn *c, const char *m, size_t len)
{
	char reply[64];

	if (len == 7 && memcmp(m, "clients", 7) == 0) {
		snprintf(reply, sizeof(reply), "%zu", wsd_clients(h->route));
		send_text(c, reply);
	} else if (starts(m, len, "bcast:")) {
		size_t n = wsd_broadcast(h->route, WSD_TEXT, m + 6, len - 6);

		/* c itself is a client: none means no memory for the frame. */
		if (n == 0) {
			wsd_close(c, 1011, "broadcast failed");
			return;
		}
		snprintf(reply, sizeof(reply), "sent:%zu", n);
		send_text(c, reply);
	} else if (len == 7 && memcmp(m, "foreach", 7) == 0) {
		size_t n = wsd_foreach(h->route, each_cb, NULL);

		snprintf(reply, sizeof(reply), "visited:%zu", n);
		send_text(c, reply);
	} else if (starts(m, len, "timer:")) {
		unsigned long long ms = strtoull(m + 6, NULL, 10);

		if (wsd_timer_add(h->route, ms, 0, fire_cb, NULL) == NULL)
			wsd_close(c, 1011, "timer failed");
	} else if (starts(m, len, "mytimer:")) {
		unsigned long long ms = strtoull(m + 8, NULL, 10);

		if (wsd_timer_add(h->route, ms, 0, mine_cb,
		    (void *)(uintptr_t)wsd_conn_id(c)) == NULL)
			wsd_close(c, 1011, "timer failed");
	} else if (starts(m, len, "slowtimer:")) {
		char *end;
		unsigned long busy = strtoul(m + 10, &end, 10), ms = 100;

		if (*end == ':')
			ms = strtoul(end + 1, NULL, 10);
		if (busy > 0xffff || ms > 0xffff ||
		    wsd_timer_add(h->route, 10, 0, slow_first_cb,
		    (void *)SLOW_ARG(busy, ms)) == NULL)
			send_text(c, "timer failed");
	} else if (starts(m, len, "spin:")) {
		char *end;
		unsigned long period = strtoul(m + 5, &end, 10), n = 0;

		if (*end == ':')
			n = strtoul(end + 1, NULL, 10);
		if (period < 20 || period > 0xffff || n == 0 || n > 0xffff ||
		    wsd_timer_add(h->route, until_spin(period), 0, spin_cb,
		    (void *)SPIN_ARG(period, n)) == NULL)
			send_text(c, "timer failed");
	} else if (starts(m, len, "close:")) {
		char *colon;
		int code = (int)strtol(m + 6, &colon, 10);

		if (*colon != ':')
			colon = NULL;
		if (wsd_close(c, code, colon != NULL ? colon + 1 : NULL) == -1)
			send_text(c, "close refused");
	} else if (len == 10 && memcmp(m, "closetwice", 10) == 0) {
		int r1 = wsd_close(c, 1000, "a");
		int r2 = wsd_close(c, 1000, "b");
		int s = wsd_send(c, WSD_TEXT, "after close", 11);

		if (r1 != 0 || r2 != -1 || s != WSD_SEND_DROPPED)
			wsd_log(h->route, WSD_LOG_ERR, "hooks: BUG: closetwice: "
			    "first close %d (want 0), second %d (want -1), "
			    "send after close %d (want %d)", r1, r2, s,
			    WSD_SEND_DROPPED);
	} else if (starts(m, len, "sendbig:")) {
		size_t n = (size_t)strtoull(m + 8, NULL, 10), i;
		unsigned char *buf = malloc(n > 0 ? n : 1);

		if (buf == NULL) {
			send_text(c, "sendbig: out of memory");
			return;
		}
		for (i = 0; i < n; i++)
			buf[i] = (unsigned char)(i * 7 + 3);
		if (wsd_send(c, WSD_BINARY, buf, n) == WSD_SEND_DROPPED)
			wsd_log(wsd_conn_route(c), WSD_LOG_DEBUG, "hooks: sendbig dropped");
		free(buf);
	} else if (len == 2 && memcmp(m, "bp", 2) == 0) {
		unsigned char *buf = calloc(1, BP_CHUNK);
		int count = 0, r = WSD_SEND_OK;

		if (buf == NULL) {
			send_text(c, "bp: out of memory");
			return;
		}
		while (count < BP_MAX && r == WSD_SEND_OK) {
			r = wsd_send(c, WSD_BINARY, buf, BP_CHUNK);
			count++;
		}
		free(buf);
		if (r == WSD_SEND_BACKPRESSURE)
			snprintf(reply, sizeof(reply), "bp:%d", count);
		else
			snprintf(reply, sizeof(reply), "bp failed:%d after %d",
			    r, count);
		send_text(c, reply);
	} else {
		send_text(c, "unknown command");
	}
}

static void
hooks_message(void *state, struct wsd_conn *c, int opcode, const void *data,
    size_t len)
{
	char *m;

	if (opcode != WSD_TEXT)
		return;
	/* A NUL-terminated copy, for strtol and friends. */
	if ((m = malloc(len + 1)) == NULL)
		return;
	memcpy(m, data, len);
	m[len] = '\0';
	command(state, c, m, len);
	free(m);
}

static void
hooks_drain(void *state, struct wsd_conn *c)
{
	(void)state;
	send_text(c, "drained");
}

static void
hooks_close(void *state, struct wsd_conn *c, int code, const char *reason)
{
	struct hooks *h = state;

	(void)c;
	wsd_log(h->route, WSD_LOG_INFO, "hooks close code=%d reason=%s", code,
	    reason);
}

WSD_PLUGIN(
	.name = "hooks",
	.version = "1",
	.init = hooks_init,
	.fini = hooks_fini,
	.handshake = hooks_handshake,
	.open = hooks_open,
	.message = hooks_message,
	.close = hooks_close,
	.drain = hooks_drain,
);

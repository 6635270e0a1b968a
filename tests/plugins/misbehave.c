/*
 * misbehave: a test plugin that abuses the plugin API on purpose, for
 * tests/integration/test_plugins_misbehave.py.  wsd must survive every
 * one of these, keep serving, and run `close` exactly once per opened
 * connection.
 *
 * Every log line starts with "misbehave ".  What the tests count:
 *   misbehave open conn=<id> do=<what>
 *   misbehave close conn=<id> code=<n> reason=<r>
 *   misbehave BUG: ...       (an API call answered what it must not)
 *   misbehave fini open=<n>  (connections opened but never closed)
 *
 * handshake, by ?do= (the argument is reduced to [a-z0-9_]):
 *   hs_send        wsd_send and wsd_close in handshake: both must fail
 *   hs_refuse      attach data, then refuse with 403 (close must not run)
 *   hs_status_<n>  return n (not a valid status unless 400..599; 1 is
 *                  WSD_HANDSHAKE_PENDING since ABI 1.4, so misbehave13,
 *                  this file built for ABI 1.3, checks that an older
 *                  plugin's 1 is still refused with 500)
 * open, by ?do=:
 *   close          wsd_close in open; then a send (must be DROPPED) and a
 *                  second close (must be -1)
 *   close_twice    two closes in a row: 0, then -1
 *   bad_close      invalid codes and reasons (all -1); then "still open"
 *   bad_send       invalid opcodes, invalid UTF-8, NULL data (DROPPED);
 *                  then "bad_send done"
 *   flood          64 KiB messages until a send is DROPPED (the send
 *                  buffer limit closes the connection, 1008)
 *   foreach        broadcast "joined <id>" from a wsd_foreach in open
 *   hello          send "hello <id>"
 *   (other)        nothing
 * message, text starting with '!':
 *   !close              close self (4000), then send (DROPPED), close (-1)
 *   !bcast_foreach      wsd_foreach; in the callback broadcast
 *                       "bf <visiting id>" to the route and close the
 *                       visited connection (4001)
 *   !every_other        wsd_foreach closing every other visited
 *                       connection (4002), then "every_other visited=<n>
 *                       closed=<k>" to the sender if it is still open
 *   !close_all_bcast    close every client from wsd_foreach, then
 *                       broadcast: must reach nobody
 *   !bcast:<text>       broadcast <text>, then "sent:<n>"
 *   !clients            "clients <n>"
 * message, binary, first byte 'D' ("dup"): send the message back until a
 *   send is DROPPED (the connection is then over its send buffer limit
 *   and failed), then read the message data again: it must still be
 *   valid until message returns (plugin.h, OWNERSHIP); the checksum is
 *   compared and logged.
 * Anything else is echoed.
 * close: sends and closes again (must fail), then logs.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <wsd/plugin.h>

#ifdef MISBEHAVE_V13
#undef WSD_ABI_MINOR
#define WSD_ABI_MINOR	3
#endif

#define MAGIC_OPEN	0x6f70656eU
#define MAGIC_DEAD	0xdeadbeefU
#define FLOOD_CHUNK	(64 * 1024)
#define FLOOD_MAX	4096

struct mb {
	struct wsd_route	*route;
	size_t			 nopen;		/* open called, close not yet */
	unsigned long		 opens, closes;
};

struct mconn {
	uint32_t	 magic;
	uint64_t	 id;
};

struct every {
	struct mb	*mb;
	size_t		 visited, closed;
};

static void
bug(struct mb *m, const char *what, long got, long want)
{
	wsd_log(m->route, WSD_LOG_ERR, "misbehave BUG: %s returned %ld, "
	    "wanted %ld", what, got, want);
}

static void
expect(struct mb *m, const char *what, long got, long want)
{
	if (got != want)
		bug(m, what, got, want);
}

static void
send_text(struct wsd_conn *c, const char *s)
{
	if (wsd_send(c, WSD_TEXT, s, strlen(s)) == WSD_SEND_DROPPED)
		wsd_log(wsd_conn_route(c), WSD_LOG_DEBUG, "misbehave: reply dropped");
}

static unsigned long long
id_of(struct wsd_conn *c)
{
	return (unsigned long long)wsd_conn_id(c);
}

/* The ?do= argument, reduced to [a-z0-9_] so it is safe to log. */
static void
get_do(struct wsd_conn *c, char *buf, size_t bufsz)
{
	const char *d = wsd_arg(c, "do");
	size_t i, o = 0;

	if (d == NULL)
		d = "";
	for (i = 0; d[i] != '\0' && o + 1 < bufsz; i++) {
		char ch = d[i];

		if ((ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') ||
		    ch == '_')
			buf[o++] = ch;
	}
	buf[o] = '\0';
}

/* ---------------------------------------------------------------- route */

static int
mb_init(const struct wsd_host *host, struct wsd_route *r, void **state)
{
	struct mb *m;

	(void)host;
	if ((m = calloc(1, sizeof(*m))) == NULL)
		return -1;
	m->route = r;
	*state = m;
	wsd_log(r, WSD_LOG_INFO, "misbehave init");
	return 0;
}

static void
mb_fini(void *state)
{
	struct mb *m = state;

	wsd_log(m->route, WSD_LOG_INFO, "misbehave fini open=%zu opens=%lu "
	    "closes=%lu", m->nopen, m->opens, m->closes);
	if (m->nopen != 0)
		wsd_log(m->route, WSD_LOG_ERR, "misbehave BUG: %zu "
		    "connection(s) opened but never closed", m->nopen);
	free(m);
}

/* ------------------------------------------------------------ handshake */

static int
mb_handshake(void *state, struct wsd_conn *c)
{
	struct mb *m = state;
	char what[64];

	get_do(c, what, sizeof(what));
	if (strcmp(what, "hs_send") == 0) {
		expect(m, "wsd_send in handshake",
		    wsd_send(c, WSD_TEXT, "early", 5), WSD_SEND_DROPPED);
		expect(m, "wsd_close in handshake",
		    wsd_close(c, 1000, "early"), -1);
		wsd_log(m->route, WSD_LOG_INFO, "misbehave hs_send done");
		return 0;
	}
	if (strcmp(what, "hs_refuse") == 0) {
		void *junk = malloc(100);

		/* The contract: whoever refuses frees what it attached. */
		wsd_set_data(c, junk);
		wsd_set_data(c, NULL);
		free(junk);
		return 403;
	}
	if (strncmp(what, "hs_status_", 10) == 0)
		return atoi(what + 10);
	return 0;
}

/* ---------------------------------------------------------------- open */

static void
each_joined(struct wsd_conn *c, void *arg)
{
	(void)arg;
	(void)c;
}

static void
open_bad_close(struct mb *m, struct wsd_conn *c)
{
	static const int codes[] = { 0, -1, 999, 1002, 1004, 1005, 1006,
	    1012, 1015, 1016, 2999, 5000, 65535 };
	char reason[200];
	size_t i;

	for (i = 0; i < sizeof(codes) / sizeof(codes[0]); i++) {
		char what[64];

		snprintf(what, sizeof(what), "wsd_close(%d)", codes[i]);
		expect(m, what, wsd_close(c, codes[i], "bad"), -1);
	}
	memset(reason, 'r', 124);
	reason[124] = '\0';
	expect(m, "wsd_close with a 124-byte reason",
	    wsd_close(c, 1000, reason), -1);
	expect(m, "wsd_close with a non-UTF-8 reason",
	    wsd_close(c, 1000, "bad \xff\xfe"), -1);
	expect(m, "wsd_close with a surrogate in the reason",
	    wsd_close(c, 1000, "\xed\xa0\x80"), -1);
	send_text(c, "still open");
}

static void
open_bad_send(struct mb *m, struct wsd_conn *c)
{
	static const int ops[] = { 0, 3, 8, 9, 10, 15, -1, 256 + 1 };
	size_t i;

	for (i = 0; i < sizeof(ops) / sizeof(ops[0]); i++) {
		char what[64];

		snprintf(what, sizeof(what), "wsd_send(opcode %d)", ops[i]);
		expect(m, what, wsd_send(c, ops[i], "x", 1),
		    WSD_SEND_DROPPED);
	}
	expect(m, "wsd_send(text, invalid UTF-8)",
	    wsd_send(c, WSD_TEXT, "a\xff", 2), WSD_SEND_DROPPED);
	expect(m, "wsd_send(text, truncated UTF-8)",
	    wsd_send(c, WSD_TEXT, "\xe2\x82", 2), WSD_SEND_DROPPED);
	expect(m, "wsd_send(binary, NULL, 5)",
	    wsd_send(c, WSD_BINARY, NULL, 5), WSD_SEND_DROPPED);
	expect(m, "wsd_broadcast(opcode 9)",
	    (long)wsd_broadcast(m->route, 9, "x", 1), 0);
	expect(m, "wsd_broadcast(text, invalid UTF-8)",
	    (long)wsd_broadcast(m->route, WSD_TEXT, "\xc0\xaf", 2), 0);
	expect(m, "wsd_broadcast(binary, NULL, 5)",
	    (long)wsd_broadcast(m->route, WSD_BINARY, NULL, 5), 0);
	expect(m, "wsd_accept_subprotocol outside handshake",
	    wsd_accept_subprotocol(c, "x"), -1);
	expect(m, "wsd_add_header outside handshake",
	    wsd_add_header(c, "X-Late", "1"), -1);
	/* An empty message, NULL data: valid. */
	expect(m, "wsd_send(binary, NULL, 0)",
	    wsd_send(c, WSD_BINARY, NULL, 0), WSD_SEND_OK);
	send_text(c, "bad_send done");
}

static void
open_flood(struct mb *m, struct wsd_conn *c)
{
	unsigned char *buf = calloc(1, FLOOD_CHUNK);
	int i, r = WSD_SEND_OK;

	if (buf == NULL)
		return;
	for (i = 0; i < FLOOD_MAX; i++) {
		if ((r = wsd_send(c, WSD_BINARY, buf, FLOOD_CHUNK)) ==
		    WSD_SEND_DROPPED)
			break;
	}
	free(buf);
	wsd_log(m->route, WSD_LOG_INFO, "misbehave flood sends=%d last=%d",
	    i, r);
	if (r != WSD_SEND_DROPPED)
		bug(m, "flood: the send buffer limit never hit; last send",
		    r, WSD_SEND_DROPPED);
	/* The connection is failing: more sends and closes are no-ops. */
	expect(m, "wsd_send after the flood",
	    wsd_send(c, WSD_TEXT, "more", 4), WSD_SEND_DROPPED);
	expect(m, "wsd_close after the flood", wsd_close(c, 1000, NULL), -1);
}

static void
mb_open(void *state, struct wsd_conn *c)
{
	struct mb *m = state;
	struct mconn *mc;
	char what[64], msg[96];

	get_do(c, what, sizeof(what));
	if ((mc = malloc(sizeof(*mc))) != NULL) {
		mc->magic = MAGIC_OPEN;
		mc->id = wsd_conn_id(c);
	}
	wsd_set_data(c, mc);
	m->nopen++;
	m->opens++;
	wsd_log(m->route, WSD_LOG_INFO, "misbehave open conn=%llu do=%s",
	    id_of(c), what[0] != '\0' ? what : "-");

	if (strcmp(what, "close") == 0) {
		expect(m, "wsd_close in open", wsd_close(c, 4000,
		    "closed in open"), 0);
		expect(m, "wsd_send after close",
		    wsd_send(c, WSD_TEXT, "after close", 11), WSD_SEND_DROPPED);
		expect(m, "second wsd_close", wsd_close(c, 1000, NULL), -1);
	} else if (strcmp(what, "close_twice") == 0) {
		expect(m, "first wsd_close", wsd_close(c, 1000, "one"), 0);
		expect(m, "second wsd_close", wsd_close(c, 1001, "two"), -1);
	} else if (strcmp(what, "bad_close") == 0) {
		open_bad_close(m, c);
	} else if (strcmp(what, "bad_send") == 0) {
		open_bad_send(m, c);
	} else if (strcmp(what, "flood") == 0) {
		open_flood(m, c);
	} else if (strcmp(what, "foreach") == 0) {
		size_t n = wsd_foreach(m->route, each_joined, NULL);

		snprintf(msg, sizeof(msg), "joined %llu", id_of(c));
		wsd_broadcast(m->route, WSD_TEXT, msg, strlen(msg));
		expect(m, "wsd_foreach in open vs wsd_clients", (long)n,
		    (long)wsd_clients(m->route));
	} else if (strcmp(what, "hello") == 0) {
		snprintf(msg, sizeof(msg), "hello %llu", id_of(c));
		send_text(c, msg);
	}
}

/* ---------------------------------------------------------------- message */

static void
each_bcast_close(struct wsd_conn *c, void *arg)
{
	struct mb *m = arg;
	char msg[64];

	snprintf(msg, sizeof(msg), "bf %llu", id_of(c));
	wsd_broadcast(m->route, WSD_TEXT, msg, strlen(msg));
	expect(m, "wsd_close in foreach", wsd_close(c, 4001,
	    "closed in foreach"), 0);
	/* Closed: not a recipient any more. */
	expect(m, "wsd_send to the connection just closed in foreach",
	    wsd_send(c, WSD_TEXT, "x", 1), WSD_SEND_DROPPED);
}

static void
each_every_other(struct wsd_conn *c, void *arg)
{
	struct every *e = arg;

	if (e->visited++ % 2 == 1) {
		expect(e->mb, "wsd_close every other", wsd_close(c, 4002,
		    "every other"), 0);
		e->closed++;
	}
}

static void
each_close(struct wsd_conn *c, void *arg)
{
	struct mb *m = arg;

	expect(m, "wsd_close all", wsd_close(c, 4003, "all"), 0);
}

static uint32_t
checksum(const unsigned char *p, size_t len)
{
	uint32_t h = 2166136261U;
	size_t i;

	for (i = 0; i < len; i++)
		h = (h ^ p[i]) * 16777619U;
	return h;
}

/* Send the data back until the send buffer limit fails the connection,
   then read the data again. */
static void
dup_message(struct mb *m, struct wsd_conn *c, const void *data, size_t len)
{
	uint32_t before = checksum(data, len), after;
	int i, r = WSD_SEND_OK;

	for (i = 0; i < 10000; i++)
		if ((r = wsd_send(c, WSD_BINARY, data, len)) ==
		    WSD_SEND_DROPPED)
			break;
	after = checksum(data, len);
	wsd_log(m->route, WSD_LOG_INFO, "misbehave dup sends=%d last=%d "
	    "checksum %s", i, r, before == after ? "same" : "CHANGED");
	if (before != after)
		wsd_log(m->route, WSD_LOG_ERR, "misbehave BUG: message data "
		    "changed under the callback after a failed send");
	/* And once more, through wsd: a broadcast copies the data. */
	(void)wsd_broadcast(m->route, WSD_BINARY, data, len);
}

static void
command(struct mb *m, struct wsd_conn *c, const char *s, size_t len)
{
	char reply[96];

#define IS(lit)	(len == sizeof(lit) - 1 && memcmp(s, lit, len) == 0)
	if (IS("!close")) {
		expect(m, "wsd_close in message", wsd_close(c, 4000,
		    "closed in message"), 0);
		expect(m, "wsd_send after close in message",
		    wsd_send(c, WSD_TEXT, "after", 5), WSD_SEND_DROPPED);
		expect(m, "second wsd_close in message",
		    wsd_close(c, 4000, NULL), -1);
	} else if (IS("!bcast_foreach")) {
		size_t n = wsd_foreach(m->route, each_bcast_close, m);

		wsd_log(m->route, WSD_LOG_INFO, "misbehave bcast_foreach "
		    "visited=%zu clients=%zu", n, wsd_clients(m->route));
		expect(m, "wsd_clients after closing all in foreach",
		    (long)wsd_clients(m->route), 0);
	} else if (IS("!every_other")) {
		struct every e = { m, 0, 0 };
		size_t n = wsd_foreach(m->route, each_every_other, &e);

		expect(m, "wsd_foreach count", (long)n, (long)e.visited);
		wsd_log(m->route, WSD_LOG_INFO, "misbehave every_other "
		    "visited=%zu closed=%zu", e.visited, e.closed);
		snprintf(reply, sizeof(reply), "every_other visited=%zu "
		    "closed=%zu", e.visited, e.closed);
		send_text(c, reply);
	} else if (IS("!close_all_bcast")) {
		size_t n;

		wsd_foreach(m->route, each_close, m);
		n = wsd_broadcast(m->route, WSD_TEXT, "nobody", 6);
		expect(m, "wsd_broadcast after closing everyone", (long)n, 0);
		wsd_log(m->route, WSD_LOG_INFO, "misbehave close_all_bcast "
		    "sent=%zu", n);
	} else if (len > 7 && memcmp(s, "!bcast:", 7) == 0) {
		size_t n = wsd_broadcast(m->route, WSD_TEXT, s + 7, len - 7);

		snprintf(reply, sizeof(reply), "sent:%zu", n);
		send_text(c, reply);
	} else if (len > 5 && memcmp(s, "!cut:", 5) == 0) {
		/*
		 * The message minus its last byte, from the message's own
		 * buffer, sent back and broadcast: wsd knows the whole
		 * message is UTF-8, not that a prefix of it is.
		 */
		int r = wsd_send(c, WSD_TEXT, s, len - 1);
		size_t n = wsd_broadcast(m->route, WSD_TEXT, s, len - 1);
		int p = wsd_publish(m->route, "cut", WSD_TEXT, s, len - 1);

		snprintf(reply, sizeof(reply), "cut:%d:%zu:%d", r, n, p);
		send_text(c, reply);
	} else if (IS("!clients")) {
		snprintf(reply, sizeof(reply), "clients %zu",
		    wsd_clients(m->route));
		send_text(c, reply);
	} else {
		send_text(c, "unknown command");
	}
#undef IS
}

static void
mb_message(void *state, struct wsd_conn *c, int opcode, const void *data,
    size_t len)
{
	struct mb *m = state;
	struct mconn *mc = wsd_get_data(c);

	if (mc == NULL || mc->magic != MAGIC_OPEN)
		wsd_log(m->route, WSD_LOG_ERR, "misbehave BUG: message for "
		    "conn %llu without its open data", id_of(c));
	if (opcode == WSD_TEXT && len > 0 && ((const char *)data)[0] == '!') {
		command(m, c, data, len);
		return;
	}
	if (opcode == WSD_BINARY && len > 0 &&
	    ((const unsigned char *)data)[0] == 'D') {
		dup_message(m, c, data, len);
		return;
	}
	if (wsd_send(c, opcode, data, len) == WSD_SEND_DROPPED)
		wsd_log(wsd_conn_route(c), WSD_LOG_DEBUG, "misbehave: echo dropped");
}

/* ---------------------------------------------------------------- close */

static void
mb_close(void *state, struct wsd_conn *c, int code, const char *reason)
{
	struct mb *m = state;
	struct mconn *mc = wsd_get_data(c);
	char r[64];
	size_t i;

	if (mc == NULL || mc->magic != MAGIC_OPEN ||
	    mc->id != wsd_conn_id(c)) {
		wsd_log(m->route, WSD_LOG_ERR, "misbehave BUG: close for conn "
		    "%llu: its data is %s", id_of(c), mc == NULL ? "NULL" :
		    mc->magic == MAGIC_DEAD ? "already closed" : "garbage");
	}
	expect(m, "wsd_send in close", wsd_send(c, WSD_TEXT, "late", 4),
	    WSD_SEND_DROPPED);
	expect(m, "wsd_close in close", wsd_close(c, 1000, NULL), -1);
	/* The reason is the client's: keep it printable for the log. */
	for (i = 0; reason[i] != '\0' && i < sizeof(r) - 1; i++)
		r[i] = reason[i] >= 0x20 && reason[i] < 0x7f ? reason[i] : '?';
	r[i] = '\0';
	wsd_log(m->route, WSD_LOG_INFO, "misbehave close conn=%llu code=%d "
	    "reason=%s", id_of(c), code, r);
	if (mc != NULL) {
		mc->magic = MAGIC_DEAD;
		free(mc);
	}
	wsd_set_data(c, NULL);
	m->nopen--;
	m->closes++;
}

WSD_PLUGIN(
	.name = "misbehave",
	.version = "1",
	.init = mb_init,
	.fini = mb_fini,
	.handshake = mb_handshake,
	.open = mb_open,
	.message = mb_message,
	.close = mb_close,
);

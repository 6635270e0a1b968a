/*
 * plugin-test: the fake host of the plugin test kit (libwsd-plugin-test).
 * See include/wsd/plugin-test.h for what each call does; this file only
 * says why where it is not obvious.
 *
 * Everything a plugin is handed (its struct wsd_conn *, wsd_route *,
 * wsd_timer *, wsd_watch *) is one of the kit's own structs, cast.
 * Connections and routes live until wsdt_free(), so a plugin that keeps
 * a pointer past close does not crash the test: the kit notices the use
 * and records a misuse instead.  Timers and watches are freed when
 * cancelled, as wsd frees them, so a plugin that uses one afterwards is
 * caught by the sanitizers; a handle the kit does not know is a misuse.
 */
#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <libconfig.h>

#include <wsd/plugin.h>
#include <wsd/plugin-test.h>

#include "kit-priv.h"

struct wsdt	*wsdt_wall_kit_;
int64_t		 wsdt_wall_epoch_ms_;

#define DEFAULT_HWM		(64 * 1024)
#define DEFAULT_MAX_SEND	(1024 * 1024)
#define DEFAULT_MAX_MESSAGE	(1024 * 1024)
#define FRAME_MAX_HEADER	14	/* what wsd adds to a queued message */
#define POSTS_MAX_RUN		100000
#define CLOSE_ROUNDS_MAX	100000
#define PINGS_KEPT		16

/* Does the plugin's descriptor reach member? (older plugins are shorter) */
#define HAS(p, m)	((p)->size >= offsetof(struct wsd_plugin, m) + \
			    sizeof((p)->m) && (p)->m != NULL)

struct kv {
	char	*name;
	char	*value;
};

struct kvs {
	struct kv	*v;
	size_t		 n;
};

struct msgs {
	struct wsdt_msg	**v;
	size_t		  n;
};

struct ping_out {
	unsigned char	data[125];
	size_t		len;
	uint64_t	at_ms;
	int		used;
};

struct wsdt_conn {
	struct wsdt_route	*r;
	struct wsdt_conn	*next;		/* the kit's list */
	uint64_t		 id;
	enum wsdt_state		 state;
	int			 status;
	char			*path;
	char			*query;		/* NULL: none */
	struct kvs		 headers;
	size_t			 cookie_header;	/* index + 1 of ours, or 0 */
	struct kvs		 signed_cookies;
	struct kvs		 params;
	struct kvs		 resp_headers;
	char			**offered;
	size_t			 noffered;
	char			*remote;
	char			*local;
	int			 tls;
	char			*subject;
	char			*subprotocol;
	void			*data;
	int			 in_request;	/* accessors answer */
	int			 in_handshake;	/* hook or pending */
	int			 in_close;	/* close callback running */
	struct msgs		 sent;
	size_t			 unread;	/* index of the oldest unread */
	int			 plugin_closed;
	int			 plugin_code;
	char			*plugin_reason;
	int			 close_seen;
	int			 seen_code;
	char			*seen_reason;
	size_t			 buffered;
	int			 backpressured;
	char			**subs;
	size_t			 nsubs;
	struct ping_out		 pings[PINGS_KEPT];
	char			**strings;	/* decoded values handed out */
	size_t			 nstrings;
};

struct wsdt_route {
	struct wsdt		*k;
	struct wsdt_route	*next;
	const struct wsd_plugin	*p;
	char			*path;
	config_t		 cfg;
	int			 have_cfg;
	config_setting_t	*settings;	/* NULL: none */
	char			**seen;
	size_t			 nseen;
	char			**errors;
	size_t			 nerrors;
	void			**allocs;	/* setting_strings arrays */
	size_t			 nallocs;
	void			*state;
	int			 init_rc;
	int			 retiring;	/* fini began */
	size_t			 hwm;
	size_t			 max_send;
	struct msgs		 broadcasts;
	struct wsd_metric	*metrics;	/* 1.5, in order */
};

/* A plugin metric (1.5): a double kept as its bits, for any thread. */
struct wsd_metric {
	struct wsd_metric	*next;
	char			*name;		/* as the plugin gave it */
	int			 type;		/* WSDT_COUNTER, WSDT_GAUGE */
	_Atomic uint64_t	 bits;
};

struct wsdt_timer {
	struct wsdt_timer	*next;
	struct wsdt_route	*r;
	uint64_t		 due;
	uint64_t		 repeat;
	uint64_t		 seq;
	wsd_timer_fn		 fn;
	void			*arg;
	int			 armed;
	int			 firing;
	int			 cancelled;
};

struct wsdt_watch {
	struct wsdt_watch	*next;
	struct wsdt_route	*r;
	int			 fd;
	int			 events;
	wsd_watch_fn		 fn;
	void			*arg;
	int			 firing;
	int			 cancelled;
};

struct post {
	struct post		*next;
	struct wsdt_route	*r;
	wsd_post_fn		 fn;
	void			*arg;
};

struct plugin_handle {
	void	*dl;
	const struct wsd_plugin *p;
};

struct wsdt {
	uint64_t		 now;
	uint64_t		 next_id;
	uint64_t		 timer_seq;
	int			 worker;
	int			 manual_close;
	int			 echo;
	size_t			 max_message;
	int			 depth;		/* plugin callbacks running */
	int			 finishing;
	struct wsdt_route	*routes;	/* newest first */
	struct wsdt_conn	*conns;		/* newest first */
	struct wsdt_conn	**conn_order;	/* oldest first, for loops */
	struct wsdt_timer	*timers;
	struct wsdt_watch	*watches;
	pthread_mutex_t		 post_lock;
	pthread_mutex_t		 log_lock;	/* wsd_log from any thread */
	struct post		*post_head;
	struct post		*post_tail;
	size_t			 nposts;
	struct plugin_handle	*plugins;
	size_t			 nplugins;
	struct wsdt_log		*logs;
	size_t			 nlogs;
	size_t			 log_from;	/* first after wsdt_log_clear */
	struct msgs		 publishes;
	char			**misuses;
	size_t			 nmisuses;
	struct wsdt		*next_kit;
	char			 error[512];
};

/*
 * Host entries that take no route or connection find their kit here:
 * the one the test used last.  Timer and watch handles are looked up in
 * every live kit (kits), so two kits at once do not confuse them.
 */
static struct wsdt *cur;
static struct wsdt *kits;

/* ---------------------------------------------------------------- helpers */

static struct wsdt_conn *
C(struct wsd_conn *c)
{
	return (struct wsdt_conn *)c;
}

static struct wsdt_route *
R(struct wsd_route *r)
{
	return (struct wsdt_route *)r;
}

static void *
xcalloc(size_t n, size_t sz)
{
	return calloc(n, sz);
}

static char *
xstrdup(const char *s)
{
	return s != NULL ? strdup(s) : NULL;
}

__attribute__((format(printf, 2, 3)))
static void
set_error(struct wsdt *k, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(k->error, sizeof(k->error), fmt, ap);
	va_end(ap);
}

__attribute__((format(printf, 2, 3)))
static void
misuse(struct wsdt *k, const char *fmt, ...)
{
	char **n, *s;
	va_list ap;

	va_start(ap, fmt);
	if (vasprintf(&s, fmt, ap) == -1)
		s = NULL;
	va_end(ap);
	if (s == NULL)
		return;
	if ((n = realloc(k->misuses, (k->nmisuses + 1) * sizeof(*n))) ==
	    NULL) {
		free(s);
		return;
	}
	k->misuses = n;
	k->misuses[k->nmisuses++] = s;
	if (k->echo)
		fprintf(stderr, "wsdt: misuse: %s\n", s);
}

static int
push_str(char ***v, size_t *n, const char *s)
{
	char **nv, *d;

	if ((d = strdup(s)) == NULL)
		return -1;
	if ((nv = realloc(*v, (*n + 1) * sizeof(*nv))) == NULL) {
		free(d);
		return -1;
	}
	*v = nv;
	(*v)[(*n)++] = d;
	return 0;
}

static void
free_strs(char **v, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

static int
kvs_add(struct kvs *s, const char *name, const char *value)
{
	struct kv *n;
	char *a, *b;

	a = strdup(name);
	b = strdup(value);
	n = realloc(s->v, (s->n + 1) * sizeof(*n));
	if (a == NULL || b == NULL || n == NULL) {
		free(a);
		free(b);
		if (n != NULL)
			s->v = n;
		return -1;
	}
	s->v = n;
	s->v[s->n].name = a;
	s->v[s->n].value = b;
	s->n++;
	return 0;
}

static const char *
kvs_get(const struct kvs *s, const char *name, int icase)
{
	size_t i;

	for (i = 0; i < s->n; i++)
		if ((icase ? strcasecmp(s->v[i].name, name) :
		    strcmp(s->v[i].name, name)) == 0)
			return s->v[i].value;
	return NULL;
}

static void
kvs_free(struct kvs *s)
{
	size_t i;

	for (i = 0; i < s->n; i++) {
		free(s->v[i].name);
		free(s->v[i].value);
	}
	free(s->v);
	s->v = NULL;
	s->n = 0;
}

static struct wsdt_msg *
msg_new(struct wsdt *k, int opcode, const void *data, size_t len,
    const char *topic, uint64_t except_id)
{
	struct wsdt_msg *m;
	unsigned char *d;
	char *t = NULL;

	if ((m = xcalloc(1, sizeof(*m))) == NULL)
		return NULL;
	if ((d = malloc(len + 1)) == NULL ||
	    (topic != NULL && (t = strdup(topic)) == NULL)) {
		free(d);
		free(m);
		return NULL;
	}
	if (len > 0)
		memcpy(d, data, len);
	d[len] = '\0';
	m->opcode = opcode;
	m->len = len;
	m->data = d;
	m->text = (const char *)d;
	m->at_ms = k->now;
	m->topic = t;
	m->except_id = except_id;
	return m;
}

static void
msg_free(struct wsdt_msg *m)
{
	if (m == NULL)
		return;
	free((void *)(uintptr_t)m->data);
	free((void *)(uintptr_t)m->topic);
	free(m);
}

static int
msgs_push(struct msgs *l, struct wsdt_msg *m)
{
	struct wsdt_msg **n;

	if (m == NULL)
		return -1;
	if ((n = realloc(l->v, (l->n + 1) * sizeof(*n))) == NULL) {
		msg_free(m);
		return -1;
	}
	l->v = n;
	l->v[l->n++] = m;
	return 0;
}

static void
msgs_free(struct msgs *l)
{
	size_t i;

	for (i = 0; i < l->n; i++)
		msg_free(l->v[i]);
	free(l->v);
	l->v = NULL;
	l->n = 0;
}

/* Strict UTF-8 (RFC 3629): no overlong forms, surrogates or > U+10FFFF. */
static int
utf8_ok(const unsigned char *s, size_t len)
{
	size_t i = 0, n, j;
	uint32_t cp;

	while (i < len) {
		unsigned char b = s[i];

		if (b < 0x80) {
			i++;
			continue;
		}
		if (b >= 0xc2 && b <= 0xdf) {
			n = 1;
			cp = b & 0x1f;
		} else if (b >= 0xe0 && b <= 0xef) {
			n = 2;
			cp = b & 0x0f;
		} else if (b >= 0xf0 && b <= 0xf4) {
			n = 3;
			cp = b & 0x07;
		} else
			return 0;
		if (len - i <= n)
			return 0;
		for (j = 1; j <= n; j++) {
			if ((s[i + j] & 0xc0) != 0x80)
				return 0;
			cp = cp << 6 | (s[i + j] & 0x3f);
		}
		if ((n == 2 && cp < 0x800) || (n == 3 && cp < 0x10000) ||
		    cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
			return 0;
		i += n + 1;
	}
	return 1;
}

static int
hexval(unsigned char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* %XX (and + as space if plus) into a new string; NULL on %00 or bad %. */
static char *
pct_decode(const char *s, size_t len, int plus)
{
	char *out = malloc(len + 1);
	size_t i, o = 0;
	int hi, lo;

	if (out == NULL)
		return NULL;
	for (i = 0; i < len; i++) {
		if (s[i] == '%') {
			if (len - i < 3 ||
			    (hi = hexval((unsigned char)s[i + 1])) < 0 ||
			    (lo = hexval((unsigned char)s[i + 2])) < 0 ||
			    (hi == 0 && lo == 0)) {
				free(out);
				return NULL;
			}
			out[o++] = (char)(hi << 4 | lo);
			i += 2;
		} else if (s[i] == '+' && plus)
			out[o++] = ' ';
		else
			out[o++] = s[i];
	}
	out[o] = '\0';
	return out;
}

/* Keep a string handed to the plugin until the connection is freed. */
static const char *
keep(struct wsdt_conn *c, char *s)
{
	char **n;

	if (s == NULL)
		return NULL;
	if ((n = realloc(c->strings, (c->nstrings + 1) * sizeof(*n))) ==
	    NULL) {
		free(s);
		return NULL;
	}
	c->strings = n;
	c->strings[c->nstrings++] = s;
	return s;
}

/* ---------------------------------------------------------------- callbacks */

static void finish_closes(struct wsdt *k);

/*
 * Around every plugin callback the kit runs: when the outermost one
 * returns, the closes the plugin started are finished (unless manual).
 */
static void
enter(struct wsdt *k)
{
	k->depth++;
}

static void
leave(struct wsdt *k)
{
	if (--k->depth == 0 && !k->manual_close)
		finish_closes(k);
}

static void
run_close(struct wsdt_conn *c, int code, const char *reason)
{
	struct wsdt_route *r = c->r;
	struct wsdt *k = r->k;

	c->state = WSDT_CLOSED;
	c->in_request = 0;
	c->in_handshake = 0;
	c->close_seen = 1;
	c->seen_code = code;
	free(c->seen_reason);
	c->seen_reason = xstrdup(reason != NULL ? reason : "");
	if (HAS(r->p, close)) {
		enter(k);
		c->in_close = 1;
		r->p->close(r->state, (struct wsd_conn *)c, code,
		    c->seen_reason != NULL ? c->seen_reason : "");
		c->in_close = 0;
		leave(k);
	}
	/* Subscriptions end with the connection. */
	free_strs(c->subs, c->nsubs);
	c->subs = NULL;
	c->nsubs = 0;
}

static void
finish_closes(struct wsdt *k)
{
	struct wsdt_conn *c;
	size_t rounds = 0;
	int again = 1;

	if (k->finishing)
		return;
	k->finishing = 1;
	while (again && rounds++ < CLOSE_ROUNDS_MAX) {
		again = 0;
		for (c = k->conns; c != NULL; c = c->next) {
			if (c->state != WSDT_CLOSING)
				continue;
			run_close(c, c->plugin_code, c->plugin_reason);
			again = 1;
			break;
		}
	}
	k->finishing = 0;
}

size_t
wsdt_finish_closes(struct wsdt *k)
{
	struct wsdt_conn *c;
	size_t n = 0;

	for (c = k->conns; c != NULL; c = c->next)
		n += c->state == WSDT_CLOSING;
	finish_closes(k);
	return n;
}

/*
 * A host call on c: 0 when it may go on, -1 (with a misuse recorded)
 * when c is gone: closed and its close has returned, or refused.
 */
static int
conn_alive(struct wsdt_conn *c, const char *call)
{
	if (c == NULL) {
		if (cur != NULL)
			misuse(cur, "%s called with a NULL connection", call);
		return -1;
	}
	if ((c->state == WSDT_CLOSED && !c->in_close) ||
	    c->state == WSDT_REFUSED) {
		misuse(c->r->k, "%s on connection %llu after %s", call,
		    (unsigned long long)c->id, c->state == WSDT_CLOSED ?
		    "its close returned" : "its handshake was refused");
		return -1;
	}
	return 0;
}

/* ---------------------------------------------------------------- host: log */

static void
h_log(struct wsd_route *wr, int level, const char *fmt, va_list ap)
{
	static const char hex[] = "0123456789abcdef";
	struct wsdt_route *r = R(wr);
	struct wsdt *k = r != NULL ? r->k : cur;
	char buf[1024], safe[4 * sizeof(buf)];
	struct wsdt_log *n;
	size_t i, o = 0;
	char *text;

	if (k == NULL)
		return;
	vsnprintf(buf, sizeof(buf), fmt, ap);
	/* As wsd writes it: control bytes as \xHH, a backslash doubled. */
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
		} else
			safe[o++] = (char)ch;
	}
	safe[o] = '\0';
	if (k->echo)
		fprintf(stderr, "wsdt: <%d> %s: %s\n", level,
		    r != NULL ? r->path : "plugin", safe);
	if ((text = strdup(safe)) == NULL)
		return;
	pthread_mutex_lock(&k->log_lock);
	if ((n = realloc(k->logs, (k->nlogs + 1) * sizeof(*n))) == NULL) {
		pthread_mutex_unlock(&k->log_lock);
		free(text);
		return;
	}
	k->logs = n;
	k->logs[k->nlogs].level = level;
	k->logs[k->nlogs].text = text;
	k->logs[k->nlogs].route = r;
	k->logs[k->nlogs].at_ms = k->now;
	k->nlogs++;
	pthread_mutex_unlock(&k->log_lock);
}

/* ---------------------------------------------------------------- host: output */

/*
 * Queue one message for c, as wsd's send does once the checks passed:
 * the hard limit first, then the high-water mark.
 */
static int
deliver(struct wsdt_conn *c, int opcode, const void *data, size_t len,
    const char *topic, uint64_t except_id)
{
	struct wsdt_route *r = c->r;
	struct wsdt *k = r->k;

	if (c->buffered > 0 &&
	    c->buffered + len + FRAME_MAX_HEADER > r->max_send) {
		if (k->echo)
			fprintf(stderr, "wsdt: conn %llu: send buffer limit "
			    "passed, closing\n", (unsigned long long)c->id);
		c->plugin_closed = 1;
		c->plugin_code = 1008;
		free(c->plugin_reason);
		c->plugin_reason = xstrdup("send buffer full");
		c->state = WSDT_CLOSING;
		return WSD_SEND_DROPPED;
	}
	if (msgs_push(&c->sent, msg_new(k, opcode, data, len, topic,
	    except_id)) == -1)
		return WSD_SEND_DROPPED;
	if (c->buffered == 0)
		return WSD_SEND_OK;
	c->buffered += len;
	if (c->buffered > r->hwm) {
		c->backpressured = 1;
		return WSD_SEND_BACKPRESSURE;
	}
	return WSD_SEND_OK;
}

static int
payload_ok(int opcode, const void *data, size_t len)
{
	if (opcode != WSD_TEXT && opcode != WSD_BINARY)
		return 0;
	if (len > 0 && data == NULL)
		return 0;
	if (opcode == WSD_TEXT && !utf8_ok(data, len))
		return 0;
	return 1;
}

static int
h_send(struct wsd_conn *wc, int opcode, const void *data, size_t len)
{
	struct wsdt_conn *c = C(wc);

	if (conn_alive(c, "wsd_send") == -1 || c->state != WSDT_OPEN)
		return WSD_SEND_DROPPED;
	if (!payload_ok(opcode, data, len))
		return WSD_SEND_DROPPED;
	return deliver(c, opcode, data, len, NULL, 0);
}

static int
close_args_ok(int code, const char *reason)
{
	size_t rl = reason != NULL ? strlen(reason) : 0;

	if (code != 1000 && code != 1001 && code != 1003 &&
	    !(code >= 1007 && code <= 1011) && !(code >= 3000 && code <= 4999))
		return 0;
	if (rl > 123 || !utf8_ok((const unsigned char *)(reason != NULL ?
	    reason : ""), rl))
		return 0;
	return 1;
}

static int
h_close(struct wsd_conn *wc, int code, const char *reason)
{
	struct wsdt_conn *c = C(wc);

	if (conn_alive(c, "wsd_close") == -1 || c->state != WSDT_OPEN)
		return -1;
	if (!close_args_ok(code, reason))
		return -1;
	c->plugin_closed = 1;
	c->plugin_code = code;
	free(c->plugin_reason);
	c->plugin_reason = xstrdup(reason != NULL ? reason : "");
	c->state = WSDT_CLOSING;
	/* Called from the test itself (not a callback): finish now. */
	if (c->r->k->depth == 0 && !c->r->k->manual_close)
		finish_closes(c->r->k);
	return 0;
}

static size_t
broadcast(struct wsdt_route *r, struct wsdt_conn *except, int opcode,
    const void *data, size_t len)
{
	struct wsdt *k = r->k;
	struct wsdt_conn *c;
	size_t n = 0, i, nc = 0;
	struct wsdt_conn **v;
	int rc;

	if (!payload_ok(opcode, data, len))
		return 0;
	if (msgs_push(&r->broadcasts, msg_new(k, opcode, data, len, NULL,
	    except != NULL ? except->id : 0)) == -1)
		return 0;
	/* Oldest first, as clients joined. */
	for (c = k->conns; c != NULL; c = c->next)
		nc++;
	if ((v = xcalloc(nc + 1, sizeof(*v))) == NULL)
		return 0;
	for (i = nc, c = k->conns; c != NULL; c = c->next)
		v[--i] = c;
	for (i = 0; i < nc; i++) {
		c = v[i];
		if (c->r != r || c->state != WSDT_OPEN || c == except)
			continue;
		rc = deliver(c, opcode, data, len, NULL,
		    except != NULL ? except->id : 0);
		if (rc != WSD_SEND_DROPPED)
			n++;
	}
	free(v);
	return n;
}

static size_t
h_broadcast(struct wsd_route *r, int opcode, const void *data, size_t len)
{
	return broadcast(R(r), NULL, opcode, data, len);
}

static size_t
h_broadcast_except(struct wsd_route *r, struct wsd_conn *except, int opcode,
    const void *data, size_t len)
{
	return broadcast(R(r), C(except), opcode, data, len);
}

static int
h_ping(struct wsd_conn *wc, const void *data, size_t len)
{
	struct wsdt_conn *c = C(wc);
	size_t i, slot = 0;

	if (conn_alive(c, "wsd_ping") == -1 || c->state != WSDT_OPEN ||
	    len > 125 || (len > 0 && data == NULL))
		return -1;
	if (msgs_push(&c->sent, msg_new(c->r->k, WSDT_PING, data, len, NULL,
	    0)) == -1)
		return -1;
	/* Remember when, for the Pong's round-trip time: the oldest slot. */
	for (i = 0; i < PINGS_KEPT; i++) {
		if (!c->pings[i].used) {
			slot = i;
			break;
		}
		if (c->pings[i].at_ms < c->pings[slot].at_ms)
			slot = i;
	}
	c->pings[slot].used = 1;
	c->pings[slot].len = len;
	if (len > 0)
		memcpy(c->pings[slot].data, data, len);
	c->pings[slot].at_ms = c->r->k->now;
	return 0;
}

/* ---------------------------------------------------------------- host: request */

static int
in_request(struct wsdt_conn *c, const char *call)
{
	if (conn_alive(c, call) == -1)
		return 0;
	return c->in_request;
}

static const char *
h_path(struct wsd_conn *wc)
{
	struct wsdt_conn *c = C(wc);

	return in_request(c, "wsd_path") ? c->path : NULL;
}

static const char *
h_query(struct wsd_conn *wc)
{
	struct wsdt_conn *c = C(wc);

	return in_request(c, "wsd_query") ? c->query : NULL;
}

/* The i-th value of query argument name, decoded as wsd does. */
static const char *
arg_at(struct wsdt_conn *c, const char *name, size_t want)
{
	const char *p, *end, *el, *eq;
	size_t nl, seen = 0;

	if (c->query == NULL || name == NULL || (nl = strlen(name)) == 0)
		return NULL;
	for (p = c->query; *p != '\0'; p = *end != '\0' ? end + 1 : end) {
		el = p;
		end = strchr(p, '&');
		if (end == NULL)
			end = p + strlen(p);
		if (end == el)
			continue;
		eq = memchr(el, '=', (size_t)(end - el));
		if ((size_t)((eq != NULL ? eq : end) - el) != nl ||
		    memcmp(el, name, nl) != 0)
			continue;
		if (seen++ < want)
			continue;
		if (eq == NULL)
			return keep(c, strdup(""));
		return keep(c, pct_decode(eq + 1, (size_t)(end - eq - 1), 1));
	}
	return NULL;
}

static const char *
h_arg(struct wsd_conn *wc, const char *name)
{
	struct wsdt_conn *c = C(wc);

	return in_request(c, "wsd_arg") ? arg_at(c, name, 0) : NULL;
}

static const char *
h_arg_at(struct wsd_conn *wc, const char *name, size_t i)
{
	struct wsdt_conn *c = C(wc);

	return in_request(c, "wsd_arg_at") ? arg_at(c, name, i) : NULL;
}

static const char *
h_header(struct wsd_conn *wc, const char *name)
{
	struct wsdt_conn *c = C(wc);

	if (!in_request(c, "wsd_header") || name == NULL)
		return NULL;
	return kvs_get(&c->headers, name, 1);
}

static int
h_header_at(struct wsd_conn *wc, size_t i, const char **name,
    const char **value)
{
	struct wsdt_conn *c = C(wc);

	if (!in_request(c, "wsd_header_at") || i >= c->headers.n)
		return -1;
	*name = c->headers.v[i].name;
	*value = c->headers.v[i].value;
	return 0;
}

static int
is_blank(char ch)
{
	return ch == ' ' || ch == '\t';
}

/* The raw value of cookie name in any Cookie header. */
static const char *
cookie_raw(struct wsdt_conn *c, const char *name, size_t *vlen)
{
	size_t i, nl;
	const char *p, *end, *eq, *b, *e;

	if (name == NULL || (nl = strlen(name)) == 0)
		return NULL;
	for (i = 0; i < c->headers.n; i++) {
		if (strcasecmp(c->headers.v[i].name, "Cookie") != 0)
			continue;
		for (p = c->headers.v[i].value; *p != '\0';
		    p = *end != '\0' ? end + 1 : end) {
			end = strchr(p, ';');
			if (end == NULL)
				end = p + strlen(p);
			b = p;
			while (b < end && is_blank(*b))
				b++;
			for (eq = b; eq < end && *eq != '='; eq++)
				;
			if (eq == end)
				eq = NULL;
			e = eq != NULL ? eq : end;
			while (e > b && is_blank(e[-1]))
				e--;
			if ((size_t)(e - b) != nl || memcmp(b, name, nl) != 0)
				continue;
			if (eq == NULL) {
				*vlen = 0;
				return end;
			}
			b = eq + 1;
			e = end;
			while (b < e && is_blank(*b))
				b++;
			while (e > b && is_blank(e[-1]))
				e--;
			*vlen = (size_t)(e - b);
			return b;
		}
	}
	return NULL;
}

static const char *
h_cookie(struct wsd_conn *wc, const char *name)
{
	struct wsdt_conn *c = C(wc);
	const char *v;
	size_t vl;
	char *d;

	if (!in_request(c, "wsd_cookie") ||
	    (v = cookie_raw(c, name, &vl)) == NULL)
		return NULL;
	if ((d = malloc(vl + 1)) == NULL)
		return NULL;
	memcpy(d, v, vl);
	d[vl] = '\0';
	return keep(c, d);
}

/* Quotes and backslash escapes (\" \\ \NNN) off, then %XX decoded. */
static const char *
h_cookie_value(struct wsd_conn *wc, const char *name)
{
	struct wsdt_conn *c = C(wc);
	const char *v;
	size_t vl, i, o = 0;
	char *un, *d;

	if (!in_request(c, "wsd_cookie_value") ||
	    (v = cookie_raw(c, name, &vl)) == NULL)
		return NULL;
	if ((un = malloc(2 * vl + 1)) == NULL)
		return NULL;
	if (vl >= 2 && v[0] == '"' && v[vl - 1] == '"') {
		size_t last = vl - 2;	/* the last byte inside the quotes */

		for (i = 1; i <= last; i++) {
			if (v[i] == '\\' && i + 3 <= last &&
			    v[i + 1] >= '0' && v[i + 1] <= '3' &&
			    v[i + 2] >= '0' && v[i + 2] <= '7' &&
			    v[i + 3] >= '0' && v[i + 3] <= '7') {
				unsigned ch = (unsigned)((v[i + 1] - '0') << 6 |
				    (v[i + 2] - '0') << 3 | (v[i + 3] - '0'));

				/* U+0000..U+00FF, written in UTF-8. */
				if (ch < 0x80)
					un[o++] = (char)ch;
				else {
					un[o++] = (char)(0xc0 | ch >> 6);
					un[o++] = (char)(0x80 | (ch & 0x3f));
				}
				i += 3;
			} else if (v[i] == '\\' && i + 1 <= last) {
				un[o++] = v[++i];
			} else
				un[o++] = v[i];
		}
	} else {
		memcpy(un, v, vl);
		o = vl;
	}
	/* %XX decoded; a '%' without two hex digits stays, '+' stays. */
	if ((d = malloc(o + 1)) == NULL) {
		free(un);
		return NULL;
	}
	for (i = 0, vl = 0; i < o; i++) {
		int hi, lo;

		if (un[i] == '%' && i + 2 < o &&
		    (hi = hexval((unsigned char)un[i + 1])) >= 0 &&
		    (lo = hexval((unsigned char)un[i + 2])) >= 0) {
			d[vl++] = (char)(hi << 4 | lo);
			i += 2;
		} else
			d[vl++] = un[i];
	}
	free(un);
	if (memchr(d, '\0', vl) != NULL) {
		free(d);
		return NULL;
	}
	d[vl] = '\0';
	return keep(c, d);
}

static const char *
h_signed_cookie(struct wsd_conn *wc, const char *name, const char *secret,
    double max_age_days)
{
	struct wsdt_conn *c = C(wc);

	(void)secret;
	(void)max_age_days;
	if (!in_request(c, "wsd_signed_cookie") || name == NULL)
		return NULL;
	return kvs_get(&c->signed_cookies, name, 0);
}

static const char *
h_param(struct wsd_conn *wc, const char *name)
{
	struct wsdt_conn *c = C(wc);

	if (!in_request(c, "wsd_param") || name == NULL)
		return NULL;
	return kvs_get(&c->params, name, 0);
}

static const char *
h_offered_subprotocol(struct wsd_conn *wc, size_t i)
{
	struct wsdt_conn *c = C(wc);

	if (conn_alive(c, "wsd_offered_subprotocol") == -1 ||
	    !c->in_request || i >= c->noffered)
		return NULL;
	return c->offered[i];
}

static const char *
h_remote_addr(struct wsd_conn *wc)
{
	struct wsdt_conn *c = C(wc);

	return conn_alive(c, "wsd_remote_addr") == 0 ? c->remote : NULL;
}

static const char *
h_local_addr(struct wsd_conn *wc)
{
	struct wsdt_conn *c = C(wc);

	return conn_alive(c, "wsd_local_addr") == 0 ? c->local : NULL;
}

static uint64_t
h_id(struct wsd_conn *wc)
{
	struct wsdt_conn *c = C(wc);

	return conn_alive(c, "wsd_conn_id") == 0 ? c->id : 0;
}

static const char *
h_subprotocol(struct wsd_conn *wc)
{
	struct wsdt_conn *c = C(wc);

	return conn_alive(c, "wsd_subprotocol") == 0 ? c->subprotocol : NULL;
}

static void
h_set_data(struct wsd_conn *wc, void *data)
{
	struct wsdt_conn *c = C(wc);

	if (conn_alive(c, "wsd_set_data") == 0)
		c->data = data;
}

static void *
h_get_data(struct wsd_conn *wc)
{
	struct wsdt_conn *c = C(wc);

	return conn_alive(c, "wsd_get_data") == 0 ? c->data : NULL;
}

static struct wsd_route *
h_conn_route(struct wsd_conn *wc)
{
	struct wsdt_conn *c = C(wc);

	if (conn_alive(c, "wsd_conn_route") == -1)
		return NULL;
	return (struct wsd_route *)c->r;
}

static size_t
h_buffered(struct wsd_conn *wc)
{
	struct wsdt_conn *c = C(wc);

	return conn_alive(c, "wsd_buffered") == 0 ? c->buffered : 0;
}

static int
h_accept_subprotocol(struct wsd_conn *wc, const char *name)
{
	struct wsdt_conn *c = C(wc);
	size_t i;

	if (conn_alive(c, "wsd_accept_subprotocol") == -1 ||
	    !c->in_handshake || name == NULL || c->subprotocol != NULL)
		return -1;
	for (i = 0; i < c->noffered; i++)
		if (strcmp(c->offered[i], name) == 0)
			return (c->subprotocol = strdup(name)) != NULL ? 0 : -1;
	return -1;
}

static int
h_add_header(struct wsd_conn *wc, const char *name, const char *value)
{
	struct wsdt_conn *c = C(wc);
	const char *p;

	if (conn_alive(c, "wsd_add_header") == -1 || !c->in_handshake ||
	    name == NULL || value == NULL || *name == '\0')
		return -1;
	for (p = name; *p != '\0'; p++)
		if (*p <= ' ' || *p >= 0x7f ||
		    strchr("()<>@,;:\\\"/[]?={}", *p) != NULL)
			return -1;
	for (p = value; *p != '\0'; p++)
		if (((unsigned char)*p < 0x20 && *p != '\t') || *p == 0x7f)
			return -1;
	return kvs_add(&c->resp_headers, name, value);
}

static int
h_conn_tls(struct wsd_conn *wc)
{
	struct wsdt_conn *c = C(wc);

	return conn_alive(c, "wsd_conn_tls") == 0 ? c->tls : 0;
}

static const char *
h_peer_subject(struct wsd_conn *wc)
{
	struct wsdt_conn *c = C(wc);

	return conn_alive(c, "wsd_conn_peer_subject") == 0 ? c->subject : NULL;
}

/* ---------------------------------------------------------------- host: route */

static const char *
h_route_path(struct wsd_route *r)
{
	return R(r)->path;
}

static size_t
h_clients(struct wsd_route *r)
{
	return wsdt_route_clients(R(r));
}

static size_t
h_foreach(struct wsd_route *wr, wsd_conn_fn fn, void *arg)
{
	struct wsdt_route *r = R(wr);
	struct wsdt_conn *c, **v;
	size_t n = 0, nc = 0, i;

	for (c = r->k->conns; c != NULL; c = c->next)
		nc += c->r == r && c->state == WSDT_OPEN;
	if (nc == 0 || (v = xcalloc(nc, sizeof(*v))) == NULL)
		return 0;
	/* A snapshot, oldest first: fn may close the one it is given. */
	for (i = nc, c = r->k->conns; c != NULL; c = c->next)
		if (c->r == r && c->state == WSDT_OPEN)
			v[--i] = c;
	for (i = 0; i < nc; i++) {
		if (v[i]->state != WSDT_OPEN)
			continue;
		fn((struct wsd_conn *)v[i], arg);
		n++;
	}
	free(v);
	return n;
}

static struct wsd_conn *
h_conn_find(struct wsd_route *wr, uint64_t id)
{
	struct wsdt_route *r = R(wr);
	struct wsdt_conn *c;

	for (c = r->k->conns; c != NULL; c = c->next)
		if (c->id == id && c->r == r &&
		    (c->state == WSDT_PENDING || c->state == WSDT_OPEN ||
		    c->state == WSDT_CLOSING))
			return (struct wsd_conn *)c;
	return NULL;
}

static void run_open(struct wsdt_conn *c);

static int
h_handshake_resume(struct wsd_conn *wc, int status)
{
	struct wsdt_conn *c = C(wc);

	if (conn_alive(c, "wsd_handshake_resume") == -1 ||
	    c->state != WSDT_PENDING)
		return -1;
	/* As wsd: a status it would not send is a 500. */
	if (status != 0 && (status < 400 || status > 599))
		status = 500;
	if (status != 0) {
		c->state = WSDT_REFUSED;
		c->status = status;
		c->in_request = 0;
		c->in_handshake = 0;
		return 0;
	}
	run_open(c);
	return 0;
}

/* ---------------------------------------------------------------- host: timers */

static struct wsd_timer *
h_timer_add(struct wsd_route *wr, uint64_t after_ms, uint64_t repeat_ms,
    wsd_timer_fn fn, void *arg)
{
	struct wsdt_route *r = R(wr);
	struct wsdt *k = r->k;
	struct wsdt_timer *t;

	if (fn == NULL || (t = xcalloc(1, sizeof(*t))) == NULL)
		return NULL;
	t->r = r;
	t->due = k->now + after_ms;
	t->repeat = repeat_ms;
	t->seq = ++k->timer_seq;
	t->fn = fn;
	t->arg = arg;
	t->armed = 1;
	t->next = k->timers;
	k->timers = t;
	return (struct wsd_timer *)t;
}

static void
timer_unlink(struct wsdt *k, struct wsdt_timer *t)
{
	struct wsdt_timer **pp;

	for (pp = &k->timers; *pp != NULL; pp = &(*pp)->next)
		if (*pp == t) {
			*pp = t->next;
			free(t);
			return;
		}
}

static void
h_timer_cancel(struct wsd_timer *wt)
{
	struct wsdt_timer *t = (struct wsdt_timer *)wt, *x = NULL;
	struct wsdt *k;

	if (t == NULL)
		return;
	for (k = kits; k != NULL; k = k->next_kit) {
		for (x = k->timers; x != NULL && x != t; x = x->next)
			;
		if (x != NULL)
			break;
	}
	if (x == NULL || t->cancelled) {
		if (cur != NULL)
			misuse(cur, "wsd_timer_cancel of a timer that is no "
			    "longer valid (cancelled already, or freed)");
		return;
	}
	if (t->firing) {
		t->cancelled = 1;	/* freed when its callback returns */
		t->armed = 0;
		return;
	}
	timer_unlink(k, t);
}

/* ---------------------------------------------------------------- host: posts */

static int
h_post(struct wsd_route *wr, wsd_post_fn fn, void *arg)
{
	struct wsdt_route *r = R(wr);
	struct wsdt *k = r->k;
	struct post *p;

	if (fn == NULL)
		return -1;
	pthread_mutex_lock(&k->post_lock);
	if (r->retiring || (p = xcalloc(1, sizeof(*p))) == NULL) {
		pthread_mutex_unlock(&k->post_lock);
		return -1;
	}
	p->r = r;
	p->fn = fn;
	p->arg = arg;
	if (k->post_tail != NULL)
		k->post_tail->next = p;
	else
		k->post_head = p;
	k->post_tail = p;
	k->nposts++;
	pthread_mutex_unlock(&k->post_lock);
	return 0;
}

/* ---------------------------------------------------------------- host: settings */

static void
route_err(struct wsdt_route *r, const config_setting_t *where,
    const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static void
route_err(struct wsdt_route *r, const config_setting_t *where,
    const char *fmt, ...)
{
	char msg[512], *line;
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (asprintf(&line, "settings:%d: route %s: %s",
	    where != NULL ? config_setting_source_line(where) : 0, r->path,
	    msg) == -1)
		return;
	if (r->k->echo)
		fprintf(stderr, "wsdt: %s\n", line);
	if (push_str(&r->errors, &r->nerrors, line) == -1) {
		free(line);
		return;
	}
	free(line);
}

static const config_setting_t *
lookup(struct wsdt_route *r, const char *key)
{
	size_t i;

	for (i = 0; i < r->nseen; i++)
		if (strcmp(r->seen[i], key) == 0)
			break;
	if (i == r->nseen)
		(void)push_str(&r->seen, &r->nseen, key);
	if (r->settings == NULL)
		return NULL;
	return config_setting_get_member(r->settings, key);
}

static int
h_setting_string(struct wsd_route *wr, const char *key, const char *def,
    const char **out)
{
	struct wsdt_route *r = R(wr);
	const config_setting_t *s = lookup(r, key);

	*out = def;
	if (s == NULL)
		return 0;
	if (config_setting_type(s) != CONFIG_TYPE_STRING) {
		route_err(r, s, "setting '%s' must be a string", key);
		return -1;
	}
	*out = config_setting_get_string(s);
	return 0;
}

static int
h_setting_int(struct wsd_route *wr, const char *key, long long def,
    long long *out)
{
	struct wsdt_route *r = R(wr);
	const config_setting_t *s = lookup(r, key);

	*out = def;
	if (s == NULL)
		return 0;
	if (config_setting_type(s) != CONFIG_TYPE_INT &&
	    config_setting_type(s) != CONFIG_TYPE_INT64) {
		route_err(r, s, "setting '%s' must be an integer", key);
		return -1;
	}
	*out = config_setting_get_int64(s);
	return 0;
}

static int
h_setting_bool(struct wsd_route *wr, const char *key, int def, int *out)
{
	struct wsdt_route *r = R(wr);
	const config_setting_t *s = lookup(r, key);

	*out = def;
	if (s == NULL)
		return 0;
	if (config_setting_type(s) != CONFIG_TYPE_BOOL) {
		route_err(r, s, "setting '%s' must be true or false", key);
		return -1;
	}
	*out = config_setting_get_bool(s) ? 1 : 0;
	return 0;
}

static int
h_setting_float(struct wsd_route *wr, const char *key, double def,
    double *out)
{
	struct wsdt_route *r = R(wr);
	const config_setting_t *s = lookup(r, key);

	*out = def;
	if (s == NULL)
		return 0;
	switch (config_setting_type(s)) {
	case CONFIG_TYPE_FLOAT:
		*out = config_setting_get_float(s);
		return 0;
	case CONFIG_TYPE_INT:
	case CONFIG_TYPE_INT64:
		*out = (double)config_setting_get_int64(s);
		return 0;
	default:
		route_err(r, s, "setting '%s' must be a number", key);
		return -1;
	}
}

static int
h_setting_strings(struct wsd_route *wr, const char *key,
    const char *const **out, size_t *np)
{
	static const char *const empty[] = { NULL };
	struct wsdt_route *r = R(wr);
	const config_setting_t *s = lookup(r, key);
	const char **v;
	void **na;
	int i, n;

	*out = empty;
	if (np != NULL)
		*np = 0;
	if (s == NULL)
		return 0;
	if (!config_setting_is_aggregate(s) || config_setting_is_group(s)) {
		route_err(r, s, "setting '%s' must be a list of strings", key);
		return -1;
	}
	n = config_setting_length(s);
	for (i = 0; i < n; i++)
		if (config_setting_type(config_setting_get_elem(s,
		    (unsigned)i)) != CONFIG_TYPE_STRING) {
			route_err(r, s, "setting '%s' must be a list of "
			    "strings", key);
			return -1;
		}
	if ((v = xcalloc((size_t)n + 1, sizeof(*v))) == NULL)
		return -1;
	if ((na = realloc(r->allocs, (r->nallocs + 1) * sizeof(*na))) ==
	    NULL) {
		free(v);
		return -1;
	}
	r->allocs = na;
	r->allocs[r->nallocs++] = v;
	for (i = 0; i < n; i++)
		v[i] = config_setting_get_string(config_setting_get_elem(s,
		    (unsigned)i));
	*out = v;
	if (np != NULL)
		*np = (size_t)n;
	return 0;
}

static void
h_setting_error(struct wsd_route *wr, const char *key, const char *msg)
{
	struct wsdt_route *r = R(wr);
	const config_setting_t *s = NULL;

	if (r->settings != NULL && key != NULL)
		s = config_setting_get_member(r->settings, key);
	route_err(r, s != NULL ? s : r->settings, "setting '%s': %s",
	    key != NULL ? key : "?", msg != NULL ? msg : "invalid");
}

/* ---------------------------------------------------------------- host: topics */

static int
topic_ok(const char *t)
{
	size_t n;

	if (t == NULL || (n = strlen(t)) == 0 || n > WSD_TOPIC_MAX)
		return 0;
	for (; *t != '\0'; t++)
		if ((unsigned char)*t < 0x21 || (unsigned char)*t > 0x7e)
			return 0;
	return 1;
}

static int
h_subscribe(struct wsd_conn *wc, const char *topic)
{
	struct wsdt_conn *c = C(wc);

	if (conn_alive(c, "wsd_subscribe") == -1 || c->state != WSDT_OPEN ||
	    !topic_ok(topic))
		return -1;
	if (wsdt_subscribed(c, topic))
		return 0;
	if (c->nsubs >= WSD_TOPIC_SUBS_MAX)
		return -1;
	return push_str(&c->subs, &c->nsubs, topic);
}

static int
h_unsubscribe(struct wsd_conn *wc, const char *topic)
{
	struct wsdt_conn *c = C(wc);
	size_t i;

	if (conn_alive(c, "wsd_unsubscribe") == -1 || topic == NULL)
		return -1;
	for (i = 0; i < c->nsubs; i++)
		if (strcmp(c->subs[i], topic) == 0) {
			free(c->subs[i]);
			c->subs[i] = c->subs[--c->nsubs];
			return 0;
		}
	return -1;
}

static int
h_publish(struct wsd_route *wr, const char *topic, int opcode,
    const void *data, size_t len)
{
	struct wsdt_route *r = R(wr);
	struct wsdt *k = r->k;
	struct wsdt_conn *c, **v;
	size_t nc = 0, i;

	if (!topic_ok(topic) || !payload_ok(opcode, data, len) ||
	    (k->max_message > 0 && len > k->max_message))
		return -1;
	if (msgs_push(&k->publishes, msg_new(k, opcode, data, len, topic,
	    0)) == -1)
		return -1;
	for (c = k->conns; c != NULL; c = c->next)
		nc++;
	if (nc == 0 || (v = xcalloc(nc, sizeof(*v))) == NULL)
		return 0;
	for (i = nc, c = k->conns; c != NULL; c = c->next)
		v[--i] = c;
	for (i = 0; i < nc; i++)
		if (v[i]->state == WSDT_OPEN && wsdt_subscribed(v[i], topic))
			(void)deliver(v[i], opcode, data, len, topic, 0);
	free(v);
	return 0;
}

static int
h_worker(void)
{
	return cur != NULL ? cur->worker : 0;
}

/* ---------------------------------------------------------------- host: watches */

static struct wsd_watch *
h_watch_add(struct wsd_route *wr, int fd, int events, wsd_watch_fn fn,
    void *arg)
{
	struct wsdt_route *r = R(wr);
	struct wsdt_watch *w;

	if (fd < 0 || fn == NULL ||
	    (events & ~(WSD_WATCH_READ | WSD_WATCH_WRITE)) != 0 ||
	    (w = xcalloc(1, sizeof(*w))) == NULL)
		return NULL;
	w->r = r;
	w->fd = fd;
	w->events = events;
	w->fn = fn;
	w->arg = arg;
	w->next = r->k->watches;
	r->k->watches = w;
	return (struct wsd_watch *)w;
}

/* The kit that owns watch w, or NULL (a misuse is recorded). */
static struct wsdt *
watch_known(struct wsdt_watch *w, const char *call)
{
	struct wsdt_watch *x = NULL;
	struct wsdt *k;

	for (k = kits; k != NULL; k = k->next_kit) {
		for (x = k->watches; x != NULL && x != w; x = x->next)
			;
		if (x != NULL)
			break;
	}
	if (x == NULL) {
		if (cur != NULL)
			misuse(cur, "%s of a watch that is no longer valid",
			    call);
		return NULL;
	}
	return k;
}

static void
watch_unlink(struct wsdt *k, struct wsdt_watch *w)
{
	struct wsdt_watch **pp;

	for (pp = &k->watches; *pp != NULL; pp = &(*pp)->next)
		if (*pp == w) {
			*pp = w->next;
			free(w);
			return;
		}
}

static int
h_watch_set(struct wsd_watch *ww, int events)
{
	struct wsdt_watch *w = (struct wsdt_watch *)ww;

	if (w == NULL || watch_known(w, "wsd_watch_set") == NULL ||
	    w->cancelled ||
	    (events & ~(WSD_WATCH_READ | WSD_WATCH_WRITE)) != 0)
		return -1;
	w->events = events;
	return 0;
}

static void
h_watch_cancel(struct wsd_watch *ww)
{
	struct wsdt_watch *w = (struct wsdt_watch *)ww;
	struct wsdt *k;

	/* Again from its own callback: harmless, as in wsd. */
	if (w == NULL || (k = watch_known(w, "wsd_watch_cancel")) == NULL ||
	    w->cancelled)
		return;
	if (w->firing) {
		w->cancelled = 1;
		return;
	}
	watch_unlink(k, w);
}

/* ---------------------------------------------------------------- metrics */

static int
ends_with(const char *s, const char *suffix)
{
	size_t n = strlen(s), k = strlen(suffix);

	return n >= k && strcmp(s + n - k, suffix) == 0;
}

/* The rules wsd applies (plugin.h, METRICS), as misuses. */
static const char *
metric_name_problem(const char *name, int type)
{
	size_t i;

	if (name == NULL || name[0] == '\0' || strlen(name) > 100)
		return "the name must be 1 to 100 bytes";
	for (i = 0; name[i] != '\0'; i++) {
		char ch = name[i];

		if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
		    ch == '_' || (i > 0 && ch >= '0' && ch <= '9')))
			return "the name must match [a-zA-Z_][a-zA-Z0-9_]*";
	}
	if (type == WSDT_COUNTER && !ends_with(name, "_total"))
		return "a counter's name must end in _total";
	if (type == WSDT_GAUGE && (ends_with(name, "_total") ||
	    ends_with(name, "_count") || ends_with(name, "_sum") ||
	    ends_with(name, "_bucket")))
		return "a gauge's name must not end in _total, _count, _sum or "
		    "_bucket";
	return NULL;
}

static struct wsd_metric *
metric_find(struct wsdt_route *r, const char *name)
{
	struct wsd_metric *m;

	for (m = r->metrics; m != NULL; m = m->next)
		if (strcmp(m->name, name) == 0)
			return m;
	return NULL;
}

static struct wsd_metric *
metric_new(struct wsd_route *wr, int type, const char *name,
    const char *help, const char *call)
{
	struct wsdt_route *r = R(wr), *o;
	struct wsd_metric *m, **tail;
	const char *why;

	if (r == NULL)
		return NULL;
	if ((why = metric_name_problem(name, type)) != NULL) {
		misuse(r->k, "%s(\"%s\"): %s", call, name != NULL ? name : "",
		    why);
		return NULL;
	}
	if (help != NULL && strlen(help) > 1024) {
		misuse(r->k, "%s(\"%s\"): help longer than 1024 bytes", call,
		    name);
		return NULL;
	}
	for (o = r->k->routes; o != NULL; o = o->next)
		if ((m = metric_find(o, name)) != NULL && m->type != type) {
			misuse(r->k, "%s(\"%s\"): already a metric of the "
			    "other type", call, name);
			return NULL;
		}
	if ((m = metric_find(r, name)) != NULL)
		return m;
	if ((m = calloc(1, sizeof(*m))) == NULL ||
	    (m->name = strdup(name)) == NULL) {
		free(m);
		return NULL;
	}
	m->type = type;
	atomic_init(&m->bits, 0);
	for (tail = &r->metrics; *tail != NULL; tail = &(*tail)->next)
		;
	*tail = m;
	return m;
}

static struct wsd_metric *
h_metric_counter(struct wsd_route *r, const char *name, const char *help)
{
	return metric_new(r, WSDT_COUNTER, name, help, "wsd_metric_counter");
}

static struct wsd_metric *
h_metric_gauge(struct wsd_route *r, const char *name, const char *help)
{
	return metric_new(r, WSDT_GAUGE, name, help, "wsd_metric_gauge");
}

static double
metric_get(struct wsd_metric *m)
{
	uint64_t u = atomic_load_explicit(&m->bits, memory_order_relaxed);
	double d;

	memcpy(&d, &u, sizeof(d));
	return d;
}

static void
h_metric_add(struct wsd_metric *m, double v)
{
	uint64_t old, new;
	double d;

	if (m == NULL || v != v || (m->type == WSDT_COUNTER && v < 0))
		return;
	old = atomic_load_explicit(&m->bits, memory_order_relaxed);
	do {
		memcpy(&d, &old, sizeof(d));
		d += v;
		memcpy(&new, &d, sizeof(new));
	} while (!atomic_compare_exchange_weak_explicit(&m->bits, &old, new,
	    memory_order_relaxed, memory_order_relaxed));
}

static void
h_metric_set(struct wsd_metric *m, double v)
{
	uint64_t u;

	if (m == NULL || m->type != WSDT_GAUGE)
		return;
	memcpy(&u, &v, sizeof(u));
	atomic_store_explicit(&m->bits, u, memory_order_relaxed);
}

int
wsdt_metric(struct wsdt_route *r, const char *name, double *value)
{
	struct wsd_metric *m;

	if (r == NULL || name == NULL || (m = metric_find(r, name)) == NULL)
		return 0;
	if (value != NULL)
		*value = metric_get(m);
	return m->type;
}

static const struct wsd_host host_table = {
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

/* ---------------------------------------------------------------- the kit */

struct wsdt *
wsdt_new(void)
{
	struct wsdt *k;
	const char *v;

	if ((k = xcalloc(1, sizeof(*k))) == NULL)
		return NULL;
	k->max_message = DEFAULT_MAX_MESSAGE;
	v = getenv("WSDT_VERBOSE");
	k->echo = v != NULL && *v != '\0' && strcmp(v, "0") != 0;
	pthread_mutex_init(&k->post_lock, NULL);
	pthread_mutex_init(&k->log_lock, NULL);
	k->next_kit = kits;
	kits = k;
	cur = k;
	return k;
}

const struct wsd_host *
wsdt_host(struct wsdt *k)
{
	(void)k;
	return &host_table;
}

const char *
wsdt_error(struct wsdt *k)
{
	return k->error;
}

void
wsdt_set_max_message(struct wsdt *k, size_t bytes)
{
	k->max_message = bytes;
}

void
wsdt_set_worker(struct wsdt *k, int worker)
{
	k->worker = worker;
}

void
wsdt_set_manual_close(struct wsdt *k, int on)
{
	k->manual_close = on;
}

void
wsdt_log_echo(struct wsdt *k, int on)
{
	k->echo = on;
}

const struct wsd_plugin *
wsdt_load(struct wsdt *k, const char *path)
{
	const struct wsd_plugin *p;
	struct plugin_handle *n;
	char buf[4096];
	void *dl;

	cur = k;
	/* As wsd: a name without a slash is a file here, not a search. */
	if (strchr(path, '/') == NULL) {
		snprintf(buf, sizeof(buf), "./%s", path);
		path = buf;
	}
	if ((dl = dlopen(path, RTLD_NOW | RTLD_LOCAL)) == NULL) {
		set_error(k, "dlopen: %s", dlerror());
		return NULL;
	}
	if ((p = dlsym(dl, WSD_PLUGIN_SYMBOL)) == NULL) {
		set_error(k, "%s: no symbol %s", path, WSD_PLUGIN_SYMBOL);
		dlclose(dl);
		return NULL;
	}
	if (p->abi_major != WSD_ABI_MAJOR || p->abi_minor > WSD_ABI_MINOR ||
	    p->size < offsetof(struct wsd_plugin, init)) {
		set_error(k, "%s: plugin ABI %u.%u, the kit has %d.%d", path,
		    p->abi_major, p->abi_minor, WSD_ABI_MAJOR, WSD_ABI_MINOR);
		dlclose(dl);
		return NULL;
	}
	if ((n = realloc(k->plugins, (k->nplugins + 1) * sizeof(*n))) ==
	    NULL) {
		set_error(k, "out of memory");
		dlclose(dl);
		return NULL;
	}
	k->plugins = n;
	k->plugins[k->nplugins].dl = dl;
	k->plugins[k->nplugins].p = p;
	k->nplugins++;
	return p;
}

/* ---------------------------------------------------------------- routes */

/* The settings group of text: a whole `settings = {...}` or its body. */
static int
parse_settings(struct wsdt_route *r, const char *text)
{
	config_setting_t *root, *s;
	char *wrapped;

	config_init(&r->cfg);
	r->have_cfg = 1;
	if (text == NULL)
		return 0;
	if (config_read_string(&r->cfg, text) == CONFIG_TRUE) {
		root = config_root_setting(&r->cfg);
		s = config_setting_get_member(root, "settings");
		if (s != NULL && config_setting_length(root) == 1 &&
		    config_setting_is_group(s)) {
			r->settings = s;
			return 0;
		}
	}
	config_destroy(&r->cfg);
	config_init(&r->cfg);
	if (asprintf(&wrapped, "settings = {%s\n};", text) == -1)
		return -1;
	if (config_read_string(&r->cfg, wrapped) != CONFIG_TRUE) {
		set_error(r->k, "settings:%d: %s", config_error_line(&r->cfg),
		    config_error_text(&r->cfg));
		free(wrapped);
		return -1;
	}
	free(wrapped);
	r->settings = config_lookup(&r->cfg, "settings");
	return 0;
}

static void
route_free(struct wsdt_route *r)
{
	size_t i;

	if (r->have_cfg)
		config_destroy(&r->cfg);
	free(r->path);
	free_strs(r->seen, r->nseen);
	free_strs(r->errors, r->nerrors);
	for (i = 0; i < r->nallocs; i++)
		free(r->allocs[i]);
	free(r->allocs);
	msgs_free(&r->broadcasts);
	while (r->metrics != NULL) {
		struct wsd_metric *m = r->metrics;

		r->metrics = m->next;
		free(m->name);
		free(m);
	}
	free(r);
}

struct wsdt_route *
wsdt_route(struct wsdt *k, const struct wsd_plugin *p, const char *path,
    const char *settings)
{
	struct wsdt_route *r;
	int i, n;

	cur = k;
	if (p == NULL || path == NULL) {
		set_error(k, "wsdt_route: no plugin or no path");
		return NULL;
	}
	if ((r = xcalloc(1, sizeof(*r))) == NULL ||
	    (r->path = strdup(path)) == NULL) {
		free(r);
		set_error(k, "out of memory");
		return NULL;
	}
	r->k = k;
	r->p = p;
	r->hwm = DEFAULT_HWM;
	r->max_send = DEFAULT_MAX_SEND;
	if (parse_settings(r, settings) == -1) {
		route_free(r);
		return NULL;
	}
	r->next = k->routes;
	k->routes = r;
	/*
	 * Every kit hands out the same table, which lives as long as the
	 * program: a plugin shared by two kits (the same .so loaded twice is
	 * loaded once) keeps a valid one whichever kit is freed first.
	 */
	if (p->host_slot != NULL)
		*p->host_slot = &host_table;
	r->init_rc = 0;
	if (HAS(p, init)) {
		enter(k);
		r->init_rc = p->init(&host_table, (struct wsd_route *)r,
		    &r->state) == 0 ? 0 : -1;
		leave(k);
	}
	/* As wsd: keys init never asked about are errors, once init is done. */
	if (r->init_rc == 0 && r->settings != NULL) {
		n = config_setting_length(r->settings);
		for (i = 0; i < n; i++) {
			config_setting_t *s = config_setting_get_elem(
			    r->settings, (unsigned)i);
			const char *name = config_setting_name(s);
			size_t j;
			int known = 0;

			for (j = 0; j < r->nseen && name != NULL; j++)
				known |= strcmp(r->seen[j], name) == 0;
			if (!known)
				route_err(r, s, "unknown setting '%s' for "
				    "plugin %s", name != NULL ? name : "?",
				    p->name != NULL ? p->name : "?");
		}
	}
	return r;
}

void
wsdt_route_limits(struct wsdt_route *r, size_t high_water,
    size_t max_send_buffer)
{
	r->hwm = high_water;
	r->max_send = max_send_buffer;
}

int
wsdt_route_init_rc(struct wsdt_route *r)
{
	return r->init_rc;
}

int
wsdt_route_ok(struct wsdt_route *r)
{
	return r->init_rc == 0 && r->nerrors == 0;
}

size_t
wsdt_route_nerrors(struct wsdt_route *r)
{
	return r->nerrors;
}

const char *
wsdt_route_error(struct wsdt_route *r, size_t i)
{
	return i < r->nerrors ? r->errors[i] : NULL;
}

const char *
wsdt_route_find_error(struct wsdt_route *r, const char *needle)
{
	size_t i;

	for (i = 0; i < r->nerrors; i++)
		if (strstr(r->errors[i], needle) != NULL)
			return r->errors[i];
	return NULL;
}

void *
wsdt_route_state(struct wsdt_route *r)
{
	return r->state;
}

struct wsd_route *
wsdt_route_handle(struct wsdt_route *r)
{
	return (struct wsd_route *)r;
}

size_t
wsdt_route_clients(struct wsdt_route *r)
{
	struct wsdt_conn *c;
	size_t n = 0;

	for (c = r->k->conns; c != NULL; c = c->next)
		n += c->r == r && c->state == WSDT_OPEN;
	return n;
}

int
wsdt_route_reopen(struct wsdt_route *r)
{
	if (r->init_rc != 0 || !HAS(r->p, reopen))
		return -1;
	cur = r->k;
	enter(r->k);
	r->p->reopen(r->state);
	leave(r->k);
	return 0;
}

size_t
wsdt_broadcasts(struct wsdt_route *r)
{
	return r->broadcasts.n;
}

const struct wsdt_msg *
wsdt_broadcast_at(struct wsdt_route *r, size_t i)
{
	return i < r->broadcasts.n ? r->broadcasts.v[i] : NULL;
}

/* ---------------------------------------------------------------- connections */

struct wsdt_conn *
wsdt_conn(struct wsdt_route *r, const char *target)
{
	struct wsdt *k = r->k;
	struct wsdt_conn *c;
	const char *q;
	char addr[64];

	cur = k;
	if (r->init_rc != 0) {
		set_error(k, "route %s: init failed", r->path);
		return NULL;
	}
	if (target == NULL || target[0] != '/') {
		set_error(k, "wsdt_conn: the target must start with '/'");
		return NULL;
	}
	if ((c = xcalloc(1, sizeof(*c))) == NULL)
		goto nomem;
	c->r = r;
	c->id = ++k->next_id;
	c->state = WSDT_NEW;
	q = strchr(target, '?');
	c->path = q != NULL ? strndup(target, (size_t)(q - target)) :
	    strdup(target);
	if (q != NULL)
		c->query = strdup(q + 1);
	snprintf(addr, sizeof(addr), "127.0.0.1:%llu",
	    40000ULL + (unsigned long long)c->id % 20000);
	c->remote = strdup(addr);
	c->local = strdup("127.0.0.1:8888");
	if (c->path == NULL || (q != NULL && c->query == NULL) ||
	    c->remote == NULL || c->local == NULL) {
		free(c->path);
		free(c->query);
		free(c->remote);
		free(c->local);
		free(c);
		goto nomem;
	}
	c->next = k->conns;
	k->conns = c;
	return c;
nomem:
	set_error(k, "out of memory");
	return NULL;
}

static int
conn_is_new(struct wsdt_conn *c, const char *call)
{
	if (c->state == WSDT_NEW)
		return 1;
	set_error(c->r->k, "%s: connection %llu was opened already", call,
	    (unsigned long long)c->id);
	return 0;
}

int
wsdt_header(struct wsdt_conn *c, const char *name, const char *value)
{
	if (!conn_is_new(c, "wsdt_header") || name == NULL || value == NULL)
		return -1;
	return kvs_add(&c->headers, name, value);
}

int
wsdt_cookie(struct wsdt_conn *c, const char *name, const char *value)
{
	struct kv *h;
	char *v;

	if (!conn_is_new(c, "wsdt_cookie") || name == NULL || value == NULL)
		return -1;
	if (c->cookie_header == 0) {
		if ((v = malloc(strlen(name) + strlen(value) + 2)) == NULL)
			return -1;
		sprintf(v, "%s=%s", name, value);
		if (kvs_add(&c->headers, "Cookie", v) == -1) {
			free(v);
			return -1;
		}
		free(v);
		c->cookie_header = c->headers.n;
		return 0;
	}
	/* One Cookie header for all, as browsers send them. */
	h = &c->headers.v[c->cookie_header - 1];
	if (asprintf(&v, "%s; %s=%s", h->value, name, value) == -1)
		return -1;
	free(h->value);
	h->value = v;
	return 0;
}

int
wsdt_signed_cookie(struct wsdt_conn *c, const char *name, const char *value)
{
	if (!conn_is_new(c, "wsdt_signed_cookie") || name == NULL ||
	    value == NULL)
		return -1;
	return kvs_add(&c->signed_cookies, name, value);
}

int
wsdt_offer(struct wsdt_conn *c, const char *subprotocol)
{
	char *v;
	const char *h;
	size_t i;

	if (!conn_is_new(c, "wsdt_offer") || subprotocol == NULL ||
	    push_str(&c->offered, &c->noffered, subprotocol) == -1)
		return -1;
	/* Keep Sec-WebSocket-Protocol in step, for wsd_header(). */
	for (i = 0; i < c->headers.n; i++)
		if (strcasecmp(c->headers.v[i].name,
		    "Sec-WebSocket-Protocol") == 0)
			break;
	if (i == c->headers.n)
		return kvs_add(&c->headers, "Sec-WebSocket-Protocol",
		    subprotocol);
	h = c->headers.v[i].value;
	if (asprintf(&v, "%s, %s", h, subprotocol) == -1)
		return -1;
	free(c->headers.v[i].value);
	c->headers.v[i].value = v;
	return 0;
}

int
wsdt_param(struct wsdt_conn *c, const char *name, const char *value)
{
	if (!conn_is_new(c, "wsdt_param") || name == NULL || value == NULL)
		return -1;
	return kvs_add(&c->params, name, value);
}

int
wsdt_remote(struct wsdt_conn *c, const char *addr)
{
	char *d;

	if (!conn_is_new(c, "wsdt_remote") || addr == NULL ||
	    (d = strdup(addr)) == NULL)
		return -1;
	free(c->remote);
	c->remote = d;
	return 0;
}

int
wsdt_tls(struct wsdt_conn *c, int tls, const char *subject)
{
	char *d = NULL;

	if (!conn_is_new(c, "wsdt_tls") ||
	    (subject != NULL && (d = strdup(subject)) == NULL))
		return -1;
	c->tls = tls != 0;
	free(c->subject);
	c->subject = d;
	return 0;
}

/* The handshake is accepted: open, as wsd does right after the 101. */
static void
run_open(struct wsdt_conn *c)
{
	struct wsdt_route *r = c->r;

	c->state = WSDT_OPEN;
	c->status = 101;
	c->in_handshake = 0;
	c->in_request = 1;
	if (HAS(r->p, open)) {
		enter(r->k);
		r->p->open(r->state, (struct wsd_conn *)c);
		leave(r->k);
	}
	/* wsd frees the request head once open returns. */
	c->in_request = 0;
}

int
wsdt_open(struct wsdt_conn *c)
{
	struct wsdt_route *r = c->r;
	struct wsdt *k = r->k;
	int rc = 0;

	cur = k;
	if (!conn_is_new(c, "wsdt_open"))
		return -1;
	if (HAS(r->p, handshake)) {
		c->in_handshake = 1;
		c->in_request = 1;
		enter(k);
		rc = r->p->handshake(r->state, (struct wsd_conn *)c);
		c->state = WSDT_PENDING;	/* until we know */
		leave(k);
		/* Before 1.4, 1 was only a bad status: refused with 500. */
		if (rc == WSD_HANDSHAKE_PENDING && r->p->abi_minor >= 4) {
			/* Unless the hook managed to resume already. */
			if (c->state != WSDT_PENDING)
				return c->status == 101 ? 101 : c->status;
			return WSD_HANDSHAKE_PENDING;
		}
		c->state = WSDT_NEW;
		if (rc != 0) {
			c->state = WSDT_REFUSED;
			c->status = rc >= 400 && rc <= 599 ? rc : 500;
			c->in_handshake = 0;
			c->in_request = 0;
			return c->status;
		}
	}
	run_open(c);
	return 101;
}

struct wsdt_conn *
wsdt_connect(struct wsdt_route *r, const char *target)
{
	struct wsdt_conn *c = wsdt_conn(r, target);
	int rc;

	if (c == NULL)
		return NULL;
	if ((rc = wsdt_open(c)) != 101) {
		set_error(r->k, "%s: %s %d", target, rc ==
		    WSD_HANDSHAKE_PENDING ? "handshake pending" :
		    "refused with", rc);
		return NULL;
	}
	return c;
}

int
wsdt_status(struct wsdt_conn *c)
{
	return c->status;
}

enum wsdt_state
wsdt_state(struct wsdt_conn *c)
{
	return c->state;
}

struct wsd_conn *
wsdt_handle(struct wsdt_conn *c)
{
	return (struct wsd_conn *)c;
}

uint64_t
wsdt_id(struct wsdt_conn *c)
{
	return c->id;
}

void *
wsdt_data(struct wsdt_conn *c)
{
	return c->data;
}

const char *
wsdt_subprotocol(struct wsdt_conn *c)
{
	return c->subprotocol;
}

const char *
wsdt_response_header(struct wsdt_conn *c, const char *name)
{
	return kvs_get(&c->resp_headers, name, 1);
}

int
wsdt_subscribed(struct wsdt_conn *c, const char *topic)
{
	size_t i;

	for (i = 0; i < c->nsubs; i++)
		if (strcmp(c->subs[i], topic) == 0)
			return 1;
	return 0;
}

/* ---------------------------------------------------------------- the client acts */

int
wsdt_client_send(struct wsdt_conn *c, int opcode, const void *data,
    size_t len)
{
	struct wsdt_route *r = c->r;
	struct wsdt *k = r->k;

	cur = k;
	if (c->state != WSDT_OPEN || !payload_ok(opcode, data, len) ||
	    (k->max_message > 0 && len > k->max_message))
		return -1;
	if (HAS(r->p, message)) {
		enter(k);
		r->p->message(r->state, (struct wsd_conn *)c, opcode,
		    len > 0 ? data : "", len);
		leave(k);
	}
	return 0;
}

int
wsdt_client_text(struct wsdt_conn *c, const char *text)
{
	return wsdt_client_send(c, WSD_TEXT, text, strlen(text));
}

int
wsdt_client_binary(struct wsdt_conn *c, const void *data, size_t len)
{
	return wsdt_client_send(c, WSD_BINARY, data, len);
}

int
wsdt_client_ping(struct wsdt_conn *c, const void *data, size_t len)
{
	struct wsdt_route *r = c->r;

	cur = r->k;
	if (c->state != WSDT_OPEN || len > 125 || (len > 0 && data == NULL))
		return -1;
	if (HAS(r->p, ping)) {
		enter(r->k);
		r->p->ping(r->state, (struct wsd_conn *)c,
		    len > 0 ? data : "", len);
		leave(r->k);
	}
	return 0;
}

int
wsdt_client_pong(struct wsdt_conn *c, const void *data, size_t len)
{
	struct wsdt_route *r = c->r;
	int64_t rtt = -1;
	size_t i;

	cur = r->k;
	if (c->state != WSDT_OPEN || len > 125 || (len > 0 && data == NULL))
		return -1;
	for (i = 0; i < PINGS_KEPT; i++) {
		struct ping_out *p = &c->pings[i];

		if (p->used && p->len == len &&
		    (len == 0 || memcmp(p->data, data, len) == 0)) {
			rtt = (int64_t)(r->k->now - p->at_ms) * 1000;
			p->used = 0;
			break;
		}
	}
	if (HAS(r->p, pong)) {
		enter(r->k);
		r->p->pong(r->state, (struct wsd_conn *)c,
		    len > 0 ? data : "", len, rtt);
		leave(r->k);
	}
	return 0;
}

int
wsdt_client_close(struct wsdt_conn *c, int code, const char *reason)
{
	cur = c->r->k;
	if (c->state != WSDT_OPEN && c->state != WSDT_CLOSING)
		return -1;
	run_close(c, code, reason != NULL ? reason : "");
	return 0;
}

int
wsdt_client_leave(struct wsdt_conn *c)
{
	cur = c->r->k;
	if (c->state != WSDT_OPEN && c->state != WSDT_CLOSING &&
	    c->state != WSDT_PENDING)
		return -1;
	run_close(c, 1006, "");
	return 0;
}

void
wsdt_set_buffered(struct wsdt_conn *c, size_t bytes)
{
	c->buffered = bytes;
}

int
wsdt_drain(struct wsdt_conn *c)
{
	struct wsdt_route *r = c->r;
	int was = c->backpressured;

	cur = r->k;
	c->buffered = 0;
	c->backpressured = 0;
	if (!was || c->state != WSDT_OPEN || !HAS(r->p, drain))
		return 0;
	enter(r->k);
	r->p->drain(r->state, (struct wsd_conn *)c);
	leave(r->k);
	return 1;
}

/* ---------------------------------------------------------------- what the plugin did */

const struct wsdt_msg *
wsdt_pop(struct wsdt_conn *c)
{
	if (c->unread >= c->sent.n)
		return NULL;
	return c->sent.v[c->unread++];
}

const struct wsdt_msg *
wsdt_peek(struct wsdt_conn *c)
{
	return c->unread < c->sent.n ? c->sent.v[c->unread] : NULL;
}

size_t
wsdt_unread(struct wsdt_conn *c)
{
	return c->sent.n - c->unread;
}

size_t
wsdt_sent_total(struct wsdt_conn *c)
{
	return c->sent.n;
}

const struct wsdt_msg *
wsdt_sent_at(struct wsdt_conn *c, size_t i)
{
	return i < c->sent.n ? c->sent.v[i] : NULL;
}

int
wsdt_closed_by_plugin(struct wsdt_conn *c, int *code, const char **reason)
{
	if (!c->plugin_closed)
		return 0;
	if (code != NULL)
		*code = c->plugin_code;
	if (reason != NULL)
		*reason = c->plugin_reason != NULL ? c->plugin_reason : "";
	return 1;
}

int
wsdt_close_seen(struct wsdt_conn *c, int *code, const char **reason)
{
	if (!c->close_seen)
		return 0;
	if (code != NULL)
		*code = c->seen_code;
	if (reason != NULL)
		*reason = c->seen_reason != NULL ? c->seen_reason : "";
	return 1;
}

size_t
wsdt_logs(struct wsdt *k)
{
	return k->nlogs - k->log_from;
}

const struct wsdt_log *
wsdt_log_at(struct wsdt *k, size_t i)
{
	return i < wsdt_logs(k) ? &k->logs[k->log_from + i] : NULL;
}

void
wsdt_log_clear(struct wsdt *k)
{
	k->log_from = k->nlogs;
}

const struct wsdt_log *
wsdt_log_find(struct wsdt *k, int level, const char *needle)
{
	size_t i;

	for (i = k->log_from; i < k->nlogs; i++)
		if ((level < 0 || k->logs[i].level == level) &&
		    strstr(k->logs[i].text, needle) != NULL)
			return &k->logs[i];
	return NULL;
}

size_t
wsdt_posts(struct wsdt *k)
{
	size_t n;

	pthread_mutex_lock(&k->post_lock);
	n = k->nposts;
	pthread_mutex_unlock(&k->post_lock);
	return n;
}

size_t
wsdt_run_posts(struct wsdt *k)
{
	struct post *p;
	size_t n = 0;

	cur = k;
	while (n < POSTS_MAX_RUN) {
		pthread_mutex_lock(&k->post_lock);
		if ((p = k->post_head) != NULL) {
			k->post_head = p->next;
			if (k->post_head == NULL)
				k->post_tail = NULL;
			k->nposts--;
		}
		pthread_mutex_unlock(&k->post_lock);
		if (p == NULL)
			break;
		enter(k);
		p->fn((struct wsd_route *)p->r, p->arg);
		leave(k);
		free(p);
		n++;
	}
	return n;
}

size_t
wsdt_publishes(struct wsdt *k)
{
	return k->publishes.n;
}

const struct wsdt_msg *
wsdt_publish_at(struct wsdt *k, size_t i)
{
	return i < k->publishes.n ? k->publishes.v[i] : NULL;
}

size_t
wsdt_watches(struct wsdt *k)
{
	struct wsdt_watch *w;
	size_t n = 0;

	for (w = k->watches; w != NULL; w = w->next)
		n += !w->cancelled;
	return n;
}

int
wsdt_watch_events(struct wsdt *k, int fd)
{
	struct wsdt_watch *w;

	for (w = k->watches; w != NULL; w = w->next)
		if (w->fd == fd && !w->cancelled)
			return w->events;
	return 0;
}

int
wsdt_fire_watch(struct wsdt *k, int fd, int events)
{
	struct wsdt_watch *w;
	int ev;

	cur = k;
	for (w = k->watches; w != NULL; w = w->next)
		if (w->fd == fd && !w->cancelled)
			break;
	if (w == NULL || (ev = events & w->events) == 0)
		return 0;
	w->firing = 1;
	enter(k);
	w->fn((struct wsd_route *)w->r, fd, ev, w->arg);
	leave(k);
	w->firing = 0;
	if (w->cancelled)
		watch_unlink(k, w);
	return 1;
}

size_t
wsdt_misuses(struct wsdt *k)
{
	return k->nmisuses;
}

const char *
wsdt_misuse_at(struct wsdt *k, size_t i)
{
	return i < k->nmisuses ? k->misuses[i] : NULL;
}

/* ---------------------------------------------------------------- the clock */

uint64_t
wsdt_now(struct wsdt *k)
{
	return k->now;
}

static struct wsdt_timer *
next_due(struct wsdt *k)
{
	struct wsdt_timer *t, *best = NULL;

	for (t = k->timers; t != NULL; t = t->next)
		if (t->armed && (best == NULL || t->due < best->due ||
		    (t->due == best->due && t->seq < best->seq)))
			best = t;
	return best;
}

size_t
wsdt_advance(struct wsdt *k, uint64_t ms)
{
	uint64_t target = k->now + ms;
	struct wsdt_timer *t;
	size_t n = 0;

	cur = k;
	while ((t = next_due(k)) != NULL && t->due <= target) {
		if (t->due > k->now)
			k->now = t->due;
		if (t->repeat > 0)
			t->due += t->repeat;
		else
			t->armed = 0;
		t->firing = 1;
		enter(k);
		t->fn((struct wsd_route *)t->r, t->arg);
		leave(k);
		t->firing = 0;
		n++;
		if (t->cancelled)
			timer_unlink(k, t);
		else if (!t->armed && t->r->p->abi_minor == 0)
			timer_unlink(k, t);	/* a 1.0 plugin's */
	}
	k->now = target;
	return n;
}

int64_t
wsdt_next_timer(struct wsdt *k)
{
	struct wsdt_timer *t = next_due(k);

	if (t == NULL)
		return -1;
	return t->due > k->now ? (int64_t)(t->due - k->now) : 0;
}

size_t
wsdt_timers(struct wsdt *k)
{
	struct wsdt_timer *t;
	size_t n = 0;

	for (t = k->timers; t != NULL; t = t->next)
		n += t->armed;
	return n;
}

/* ---------------------------------------------------------------- teardown */

static void
conn_free(struct wsdt_conn *c)
{
	size_t i;

	free(c->path);
	free(c->query);
	kvs_free(&c->headers);
	kvs_free(&c->signed_cookies);
	kvs_free(&c->params);
	kvs_free(&c->resp_headers);
	free_strs(c->offered, c->noffered);
	free(c->remote);
	free(c->local);
	free(c->subject);
	free(c->subprotocol);
	msgs_free(&c->sent);
	free(c->plugin_reason);
	free(c->seen_reason);
	free_strs(c->subs, c->nsubs);
	for (i = 0; i < c->nstrings; i++)
		free(c->strings[i]);
	free(c->strings);
	free(c);
}

void
wsdt_free(struct wsdt *k)
{
	struct wsdt_conn *c;
	struct wsdt_route *r, **order;
	struct wsdt **pk;
	struct wsdt_timer *t;
	struct wsdt_watch *w;
	size_t i, n = 0;
	struct post *p;
	int again = 1;

	if (k == NULL)
		return;
	cur = k;
	k->manual_close = 0;
	/* Clients go away: open ones say 1001, pending ones just leave. */
	while (again) {
		again = 0;
		for (c = k->conns; c != NULL; c = c->next) {
			if (c->state == WSDT_OPEN)
				run_close(c, 1001, "");
			else if (c->state == WSDT_CLOSING)
				run_close(c, c->plugin_code, c->plugin_reason);
			else if (c->state == WSDT_PENDING)
				run_close(c, 1006, "");
			else
				continue;
			again = 1;
			break;
		}
	}
	/* Posts queued before fini all run before it. */
	wsdt_run_posts(k);
	for (r = k->routes; r != NULL; r = r->next)
		n++;
	/* fini in the reverse order of creation: the list is newest first. */
	if ((order = xcalloc(n + 1, sizeof(*order))) != NULL) {
		for (i = 0, r = k->routes; r != NULL; r = r->next)
			order[i++] = r;
		for (i = 0; i < n; i++) {
			r = order[i];
			pthread_mutex_lock(&k->post_lock);
			r->retiring = 1;
			pthread_mutex_unlock(&k->post_lock);
			if (r->init_rc == 0 && HAS(r->p, fini)) {
				enter(k);
				r->p->fini(r->state);
				leave(k);
			}
		}
		free(order);
	}
	while ((t = k->timers) != NULL) {
		k->timers = t->next;
		free(t);
	}
	while ((w = k->watches) != NULL) {
		k->watches = w->next;
		free(w);
	}
	while ((p = k->post_head) != NULL) {
		k->post_head = p->next;
		free(p);
	}
	while ((c = k->conns) != NULL) {
		k->conns = c->next;
		conn_free(c);
	}
	while ((r = k->routes) != NULL) {
		k->routes = r->next;
		route_free(r);
	}
	for (i = 0; i < k->nplugins; i++)
		dlclose(k->plugins[i].dl);
	free(k->plugins);
	for (i = 0; i < k->nlogs; i++)
		free((void *)(uintptr_t)k->logs[i].text);
	free(k->logs);
	msgs_free(&k->publishes);
	free_strs(k->misuses, k->nmisuses);
	pthread_mutex_destroy(&k->post_lock);
	pthread_mutex_destroy(&k->log_lock);
	if (wsdt_wall_kit_ == k)
		wsdt_wall_kit_ = NULL;
	if (cur == k)
		cur = NULL;
	for (pk = &kits; *pk != NULL; pk = &(*pk)->next_kit)
		if (*pk == k) {
			*pk = k->next_kit;
			break;
		}
	free(k);
}

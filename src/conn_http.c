/*
 * conn_http: a connection's HTTP phase.  The request head is parsed,
 * answered with a static file or a refusal, or upgraded: route, origin,
 * the plugin's handshake hook, the 101.  The request accessors the
 * plugin may call in `handshake` and `open` live here too, since they
 * read the request that is freed after `open`.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>

#include <event2/buffer.h>

#include "conn_priv.h"
#include "cookie.h"
#include "workers.h"
#include "handshake.h"
#include "log.h"
#include "plugin.h"
#include "route.h"
#include "server.h"
#include "static.h"

/*
 * Out of memory in the HTTP phase, even for the answer: when nothing is
 * queued before it and there is no TLS record to make, conn_503 goes
 * straight to the socket, so that refusing needs no memory.  Else the
 * client just sees the connection close.
 */
static void
send_503_direct(struct conn *c)
{
	ssize_t n;

	c->status = 503;
	if (c->ssl == NULL && conn_out_len(c) == 0 && !c->wr_shut) {
		n = send(c->fd, conn_503, conn_503_len,
		    MSG_DONTWAIT | MSG_NOSIGNAL);
		(void)n;
	}
	conn_linger(c);
}

static void
respond_error(struct conn *c, int status, const char *extra)
{
	int head_only = c->rq != NULL && c->rq->req.method != NULL &&
	    http_token_eq(c->rq->req.method, c->rq->req.method_len, "HEAD");

	c->status = status;
	if (conn_outbuf(c) == NULL ||
	    http_write_error(c->out, status, extra, head_only) == -1) {
		send_503_direct(c);
		return;
	}
	conn_linger(c);
}

/* Out of memory in the HTTP phase: 503, which a client may retry. */
static void
respond_no_memory(struct conn *c)
{
	if (c->ssl != NULL || conn_out_len(c) != 0 || c->wr_shut)
		respond_error(c, 503, "Retry-After: 5\r\n");
	else
		send_503_direct(c);
}

void
conn_free_request(struct conn *c)
{
	struct conn_request *rq = c->rq;
	size_t i;

	if (rq == NULL)
		return;
	for (i = 0; i < rq->nstrs; i++)
		free(rq->strs[i]);
	free(rq->strs);
	free(rq->head);
	free(rq->hdrs);
	free(rq->path_z);
	free(rq->query_z);
	free(rq->extra_headers);
	free(rq);
	c->rq = NULL;
}

/*
 * Request lines are kept for the access log, and most connections of a
 * worker send one of a few ("GET /echo"): those are shared, counted,
 * from a small cache in cs that keeps the last REQLINE_CACHE distinct
 * ones (holding a count on each).  A line the cache no longer holds
 * lives on as long as a connection does.
 */
struct reqline {
	uint32_t		 refs;
	char			 s[];
};

static struct reqline *
reqline_of(const char *s)
{
	return (struct reqline *)(void *)(s - offsetof(struct reqline, s));
}

void
conn_req_line_put(char *s)
{
	struct reqline *rl;

	if (s == NULL)
		return;
	rl = reqline_of(s);
	if (--rl->refs == 0)
		free(rl);
}

/* The cached line equal to s, counted once more; or a new one, cached. */
static char *
reqline_get(struct conn_shared *cs, const char *s)
{
	struct reqline *rl;
	size_t i, len = strlen(s);

	for (i = 0; i < REQLINE_CACHE; i++) {
		if (cs->reqlines[i] != NULL && strcmp(cs->reqlines[i], s) == 0) {
			reqline_of(cs->reqlines[i])->refs++;
			return cs->reqlines[i];
		}
	}
	if ((rl = malloc(sizeof(*rl) + len + 1)) == NULL)
		return NULL;
	memcpy(rl->s, s, len + 1);
	rl->refs = 2;		/* c's and the cache's */
	i = cs->reqline_next++ % REQLINE_CACHE;
	conn_req_line_put(cs->reqlines[i]);
	cs->reqlines[i] = rl->s;
	return rl->s;
}

/* Keep the request line for the access log. */
static void
note_request_line(struct conn *c)
{
	char m[32], t[256], line[32 + 1 + 256];

	log_escape(m, sizeof(m), c->rq->req.method, c->rq->req.method_len);
	log_escape(t, sizeof(t), c->rq->req.target, c->rq->req.target_len);
	snprintf(line, sizeof(line), "%s %s", m, t);
	conn_req_line_put(c->req_line);
	c->req_line = reqline_get(c->srv->cs, line);
}

static char *
dup_counted(const char *s, size_t len)
{
	char *d = malloc(len + 1);

	if (d != NULL) {
		memcpy(d, s, len);
		d[len] = '\0';
	}
	return d;
}

/* At most this many Sec-WebSocket-Extensions headers are read. */
#define EXT_HEADERS_MAX	16

/*
 * permessage-deflate, if the route enables it and the client offers it:
 * the response header line into hdr ("" if none).
 */
static void
negotiate_deflate(struct conn *c, const struct pmd_conf *pc, char *hdr,
    size_t size)
{
	const char *vals[EXT_HEADERS_MAX];
	size_t lens[EXT_HEADERS_MAX], i, n = 0;
	char resp[PMD_RESPONSE_MAX];
	struct pmd_params p;

	hdr[0] = '\0';
	if (!pc->enabled)
		return;
	for (i = 0; i < c->rq->req.nheaders && n < EXT_HEADERS_MAX; i++) {
		const struct http_header *h = &c->rq->req.headers[i];

		if (http_token_eq(h->name, h->name_len,
		    "Sec-WebSocket-Extensions")) {
			vals[n] = h->value;
			lens[n++] = h->value_len;
		}
	}
	/* Without memory for its state, the extension is declined. */
	if (!pmd_negotiate(pc, vals, lens, n, &p) ||
	    (c->pmd = calloc(1, sizeof(*c->pmd))) == NULL)
		return;
	c->pmd->p = p;
	pmd_response(&c->pmd->p, resp, sizeof(resp));
	snprintf(hdr, size, "Sec-WebSocket-Extensions: %s\r\n", resp);
	c->rx.rsv1_ok = true;
}

static void	upgrade_accept(struct conn *c, struct route *r);

static void
upgrade(struct conn *c, struct route *r)
{
	const struct wsd_route_conf *rc = r->conf;
	struct ws_upgrade up;
	int status;

	if (!ws_is_upgrade(&c->rq->req)) {
		respond_error(c, 400, NULL);
		return;
	}
	if ((status = ws_check_upgrade(&c->rq->req, &up)) != 0) {
		respond_error(c, status, status == 426 ?
		    "Sec-WebSocket-Version: 13\r\n" : NULL);
		return;
	}
	/* The Host a trusted proxy was asked for (conn_proxy.c). */
	if (c->rq->fwd_host != NULL) {
		up.host = c->rq->fwd_host;
		up.host_len = c->rq->fwd_host_len;
	}
	if (rc->origins != NULL || up.origin != NULL) {
		if (!ws_origin_allowed(&up, (const char *const *)rc->origins,
		    rc->norigins)) {
			char o[128];

			log_escape(o, sizeof(o), up.origin, up.origin_len);
			log_info("conn %llu %s: origin \"%s\" not allowed on %s",
			    (unsigned long long)c->id, c->remote, o, r->path);
			respond_error(c, 403, NULL);
			return;
		}
	}
	if (ws_accept_key(up.key, up.key_len, c->rq->accept) == -1) {
		respond_no_memory(c);
		return;
	}
	c->rq->path_z = dup_counted(c->rq->req.path, c->rq->req.path_len);
	if (c->rq->req.query != NULL)
		c->rq->query_z = dup_counted(c->rq->req.query, c->rq->req.query_len);
	if (c->rq->path_z == NULL ||
	    (c->rq->req.query != NULL && c->rq->query_z == NULL)) {
		respond_no_memory(c);
		return;
	}
	if (r->plugin->ops.handshake != NULL) {
		conn_set_route(c, r);
		c->in_handshake = true;
		uint64_t t0;

		c->in_cb++;
		t0 = metrics_cb_start();
		status = r->plugin->ops.handshake(r->state,
		    (struct wsd_conn *)c);
		metrics_cb_end(r->metrics, MCB_HANDSHAKE, t0);
		c->in_cb--;
		c->in_handshake = false;
		/* Before 1.4, 1 was only a bad status: refused with 500. */
		if (status == WSD_HANDSHAKE_PENDING &&
		    r->plugin->ops.abi_minor >= 4) {
			/* close runs if it ends before the plugin decides. */
			c->hs_pending = true;
			c->hs_accepted = true;
			log_debug("conn %llu %s: %s decides later",
			    (unsigned long long)c->id, c->remote, rc->plugin);
			return;
		}
		if (status != 0) {
			c->user = NULL;
			log_info("conn %llu %s: refused by %s with %d",
			    (unsigned long long)c->id, c->remote,
			    rc->plugin, status);
			conn_set_route(c, NULL);
			respond_error(c, status >= 400 && status <= 599 ?
			    status : 500, NULL);
			return;
		}
	}
	upgrade_accept(c, r);
}

/* The handshake is accepted: answer 101 and open. */
static void
upgrade_accept(struct conn *c, struct route *r)
{
	const struct wsd_route_conf *rc = r->conf;
	char worker[40], ext[PMD_RESPONSE_MAX + 32];

	if (r->plugin->ops.handshake != NULL)
		c->hs_accepted = true;
	/* worker_header: which worker serves it, for tests and debugging. */
	worker[0] = '\0';
	if (c->gen->cfg->worker_header)
		snprintf(worker, sizeof(worker), "X-Wsd-Worker: %d\r\n",
		    worker_self.number);
	negotiate_deflate(c, &rc->compression, ext, sizeof(ext));
	if (conn_outbuf(c) == NULL || evbuffer_add_printf(c->out,
	    "HTTP/1.1 101 Switching Protocols\r\n"
	    "Upgrade: websocket\r\n"
	    "Connection: Upgrade\r\n"
	    "Sec-WebSocket-Accept: %s\r\n"
	    "%s%s%s%s"
	    "%s%s\r\n", c->rq->accept,
	    conn_subprotocol(c) != NULL ? "Sec-WebSocket-Protocol: " : "",
	    conn_subprotocol(c) != NULL ? conn_subprotocol(c) : "",
	    conn_subprotocol(c) != NULL ? "\r\n" : "", ext, worker,
	    c->rq->extra_headers != NULL ? c->rq->extra_headers : "") == -1) {
		/* The plugin accepted: it hears close, with 1011. */
		conn_set_close(c, WS_CLOSE_INTERNAL, NULL, 0);
		respond_no_memory(c);
		return;
	}
	free(c->rq->extra_headers);
	c->rq->extra_headers = NULL;
	c->status = 101;
	conn_want_flush(c);

	conn_opened(c, r);
	conn_free_request(c);
}

/*
 * The end of a handshake that waited for the plugin: accepted (0),
 * refused by the plugin (an HTTP status), or timed out (503 with
 * timed_out; the plugin then hears close, 1006, when the connection is
 * freed).
 */
void
conn_hs_finish(struct conn *c, int status, bool timed_out)
{
	struct route *r = c->route;

	c->hs_pending = false;
	if (c->state != CONN_HTTP || r == NULL)
		return;
	(void)conn_read_watch(c);	/* no memory: unwatched, as before */
	if (status == 0) {
		upgrade_accept(c, r);
		return;
	}
	if (!timed_out) {
		c->hs_accepted = false;
		c->user = NULL;
		log_info("conn %llu %s: refused by %s with %d",
		    (unsigned long long)c->id, c->remote, r->conf->plugin,
		    status);
		/* An old instance whose last client this was retires here. */
		conn_set_route(c, NULL);
	}
	respond_error(c, status, NULL);
	conn_want_flush(c);
}

static void
handle_request(struct conn *c)
{
	struct generation *g = c->srv->gen;
	struct route *r;
	long i;
	int head_only, status;

	/* Before the move below: the listener's settings are c->gen's. */
	if (conn_forwarded(c) == -1) {
		note_request_line(c);
		respond_error(c, 503, "Retry-After: 5\r\n");
		return;
	}
	/* A reload since accept: the request gets the new routes. */
	if (c->gen != g) {
		generation_ref(g);
		generation_unref(c->gen);
		c->gen = g;
	}
	note_request_line(c);
	/*
	 * The raw path: a pattern's parameters are decoded only once
	 * matched, so "%2F" never splits a segment (see pattern.h).
	 */
	i = route_find_index(&g->routes, c->rq->req.path,
	    c->rq->req.path_len);
	r = i >= 0 ? g->routes.routes[i] : NULL;
	if (r != NULL) {
		c->rq->route = r;
		c->rq->route_path = g->cfg->routes[i].path;
		c->rq->route_metrics = r->metrics;	/* the process's */
		upgrade(c, r);
		return;
	}
	if (ws_is_upgrade(&c->rq->req)) {
		respond_error(c, 404, NULL);
		return;
	}
	head_only = http_token_eq(c->rq->req.method, c->rq->req.method_len, "HEAD");
	if (!head_only &&
	    !http_token_eq(c->rq->req.method, c->rq->req.method_len, "GET")) {
		respond_error(c, 405, "Allow: GET, HEAD\r\n");
		return;
	}
	if (conn_outbuf(c) == NULL) {
		respond_no_memory(c);
		return;
	}
	if ((status = static_respond(c->out, g->cfg->document_root,
	    &c->rq->req, head_only)) == -1) {
		respond_no_memory(c);
		return;
	}
	c->status = (int16_t)status;
	conn_linger(c);
}

/*
 * The request's state, made with its first bytes: the parser's, and a
 * header array of max_headers entries that it fills as lines complete.
 */
static int
new_request(struct conn *c)
{
	size_t max = c->gen->cfg->limits.max_headers;
	struct conn_request *rq;

	if ((rq = calloc(1, sizeof(*rq))) == NULL)
		return -1;
	if (max > 0 && (rq->hdrs = calloc(max, sizeof(*rq->hdrs))) == NULL) {
		free(rq);
		return -1;
	}
	rq->max_hdrs = max;
	http_parser_init(&rq->hp);
	rq->req.headers = rq->hdrs;
	c->rq = rq;
	return 0;
}

/*
 * Parse the request head at the start of buf and answer it.  Returns the
 * bytes it took: 0 while the head is incomplete.
 */
size_t
conn_read_head(struct conn *c, const uint8_t *buf, size_t len)
{
	const struct wsd_limits *lim = &c->gen->cfg->limits;
	const char *p = (const char *)buf;
	struct conn_request *rq;
	size_t n;
	int r;

	n = len < lim->max_head_size ? len : lim->max_head_size;
	if (n == 0)
		return 0;
	if (c->rq == NULL && new_request(c) == -1) {
		respond_no_memory(c);
		return len;
	}
	rq = c->rq;

	/* buf holds the head so far; the parser looks at the new bytes. */
	r = http_parser_execute(&rq->hp, p, n, &rq->req, rq->hdrs,
	    rq->max_hdrs);
	if (r == HTTP_PARSE_INCOMPLETE) {
		if (len >= lim->max_head_size)
			respond_error(c, 431, NULL);
		return 0;
	}
	if (r < 0) {
		respond_error(c, r == HTTP_PARSE_TOO_MANY_HEADERS ? 431 :
		    r == HTTP_PARSE_BAD_VERSION ? 505 : 400, NULL);
		return len;
	}

	/*
	 * Keep our own copy, since the plugin reads it in `open`, and point
	 * the request into it: no second parse.
	 */
	if ((rq->head = malloc((size_t)r)) == NULL) {
		memset(&rq->req, 0, sizeof(rq->req));
		respond_no_memory(c);
		return len;
	}
	memcpy(rq->head, p, (size_t)r);
	http_parser_rebase(&rq->hp, rq->head, &rq->req);
	handle_request(c);
	return (size_t)r;
}

/* Keep a string for the plugin until the request is freed. */
static const char *
keep_string(struct conn *c, char *s)
{
	char **n;

	if (s == NULL)
		return NULL;
	if ((n = realloc(c->rq->strs, (c->rq->nstrs + 1) * sizeof(*n))) == NULL) {
		free(s);
		return NULL;
	}
	c->rq->strs = n;
	c->rq->strs[c->rq->nstrs++] = s;
	return s;
}

const char *
conn_arg(struct conn *c, const char *name)
{
	return conn_arg_at(c, name, 0);
}

const char *
conn_header(struct conn *c, const char *name)
{
	const struct http_header *h;

	if (c->rq == NULL || c->rq->head == NULL || name == NULL)
		return NULL;
	if ((h = http_find_header(&c->rq->req, name, NULL)) == NULL)
		return NULL;
	return keep_string(c, dup_counted(h->value, h->value_len));
}

/* The raw value of cookie `name` (the first one sent), not copied. */
static bool
find_cookie(struct conn *c, const char *name, const char **v, size_t *vl)
{
	size_t i;

	if (c->rq == NULL || c->rq->head == NULL || name == NULL)
		return false;
	/* Browsers send one Cookie header; HTTP/2 proxies may split it. */
	for (i = 0; i < c->rq->req.nheaders; i++) {
		const struct http_header *h = &c->rq->req.headers[i];

		if (http_token_eq(h->name, h->name_len, "Cookie") &&
		    http_cookie_find(h->value, h->value_len, name, v, vl))
			return true;
	}
	return false;
}

const char *
conn_cookie(struct conn *c, const char *name)
{
	const char *v;
	size_t vl;

	if (!find_cookie(c, name, &v, &vl))
		return NULL;
	return keep_string(c, dup_counted(v, vl));
}

int
conn_accept_subprotocol(struct conn *c, const char *name)
{
	const struct http_header *h;
	const char *one[1];
	size_t i;

	if ((!c->in_handshake && !c->hs_pending) || name == NULL ||
	    conn_subprotocol(c) != NULL)
		return -1;
	one[0] = name;
	/* It must be one the client offered, in any of its headers. */
	for (i = 0; i < c->rq->req.nheaders; i++) {
		h = &c->rq->req.headers[i];
		if (http_token_eq(h->name, h->name_len,
		    "Sec-WebSocket-Protocol") &&
		    ws_pick_subprotocol(h->value, h->value_len, one, 1) == 0)
			return conn_cold(c) != NULL && (c->cold->subprotocol =
			    strdup(name)) != NULL ? 0 : -1;
	}
	return -1;
}

/* A header name is a token; a value has no CR, LF or other controls. */
static bool
header_ok(const char *name, const char *value)
{
	const char *p;

	if (name == NULL || value == NULL || *name == '\0')
		return false;
	for (p = name; *p != '\0'; p++)
		if (*p <= ' ' || *p >= 0x7f || strchr("()<>@,;:\\\"/[]?={}",
		    *p) != NULL)
			return false;
	for (p = value; *p != '\0'; p++)
		if ((unsigned char)*p < ' ' && *p != '\t')
			return false;
	if (strcasecmp(name, "Sec-WebSocket-Accept") == 0 ||
	    strcasecmp(name, "Sec-WebSocket-Protocol") == 0 ||
	    strcasecmp(name, "Sec-WebSocket-Extensions") == 0 ||
	    strcasecmp(name, "Upgrade") == 0 ||
	    strcasecmp(name, "Connection") == 0)
		return false;
	return true;
}

int
conn_add_header(struct conn *c, const char *name, const char *value)
{
	char *n;

	if ((!c->in_handshake && !c->hs_pending) || !header_ok(name, value))
		return -1;
	if (asprintf(&n, "%s%s: %s\r\n", c->rq->extra_headers != NULL ?
	    c->rq->extra_headers : "", name, value) == -1)
		return -1;
	free(c->rq->extra_headers);
	c->rq->extra_headers = n;
	return 0;
}


const char *
conn_path(struct conn *c)
{
	return c->rq != NULL ? c->rq->path_z : NULL;
}

const char *
conn_query(struct conn *c)
{
	return c->rq != NULL ? c->rq->query_z : NULL;
}

const char *
conn_subprotocol(struct conn *c)
{
	return c->cold != NULL ? c->cold->subprotocol : NULL;
}

/*
 * A parameter of the route's pattern, decoded from the raw path that
 * matched it (the match checked it: no '/', NUL, "..", bounded).
 */
const char *
conn_param(struct conn *c, const char *name)
{
	struct conn_request *rq = c->rq;

	if (rq == NULL || rq->head == NULL || rq->route == NULL ||
	    name == NULL)
		return NULL;
	return keep_string(c, pattern_value(&rq->route->pat, rq->req.path,
	    rq->req.path_len, name));
}

/*
 * The i-th value of a repeated query argument, decoded as conn_arg()
 * decodes the first.
 */
const char *
conn_arg_at(struct conn *c, const char *name, size_t i)
{
	const char *v;
	size_t vl;
	char *d;

	if (c->rq == NULL || c->rq->head == NULL || c->rq->req.query == NULL ||
	    name == NULL)
		return NULL;
	if (!http_query_find_nth(c->rq->req.query, c->rq->req.query_len, name,
	    i, &v, &vl))
		return NULL;
	if ((d = malloc(vl + 1)) == NULL)
		return NULL;
	if (http_percent_decode(v, vl, d, true) < 0) {
		free(d);
		return NULL;
	}
	return keep_string(c, d);
}

const char *
conn_cookie_value(struct conn *c, const char *name)
{
	const char *v;
	size_t vl;
	char *d;

	if (!find_cookie(c, name, &v, &vl))
		return NULL;
	if ((d = malloc(vl + 1)) == NULL)
		return NULL;
	if (cookie_decode(v, vl, d) < 0) {
		free(d);
		return NULL;
	}
	return keep_string(c, d);
}

/*
 * Tornado reads the cookie unquoted (its set_cookie quotes a signed
 * value whose base64 has '/', '+' or '='), but not percent-decoded.
 */
const char *
conn_signed_cookie(struct conn *c, const char *name, const char *secret,
    double max_age_days)
{
	const char *v;
	size_t vl;
	char *u, *d;
	long ul;
	int r;

	if (secret == NULL || !find_cookie(c, name, &v, &vl))
		return NULL;
	if ((u = malloc(vl + 1)) == NULL)
		return NULL;
	if ((ul = cookie_unquote(v, vl, u)) < 0) {
		free(u);
		return NULL;
	}
	if ((d = malloc((size_t)ul + 1)) == NULL) {
		free(u);
		return NULL;
	}
	r = cookie_verify_signed(u, (size_t)ul, name, secret, strlen(secret),
	    max_age_days, (int64_t)time(NULL), d, NULL);
	free(u);
	if (r != COOKIE_OK) {
		log_debug("conn %llu %s: signed cookie \"%s\" refused: %s",
		    (unsigned long long)c->id, c->remote, name,
		    cookie_verdict_str(r));
		free(d);
		return NULL;
	}
	return keep_string(c, d);
}

int
conn_header_at(struct conn *c, size_t i, const char **name,
    const char **value)
{
	const struct http_header *h;
	const char *n, *v;

	if (c->rq == NULL || c->rq->head == NULL || i >= c->rq->req.nheaders ||
	    name == NULL || value == NULL)
		return -1;
	h = &c->rq->req.headers[i];
	if ((n = keep_string(c, dup_counted(h->name, h->name_len))) == NULL ||
	    (v = keep_string(c, dup_counted(h->value, h->value_len))) == NULL)
		return -1;
	*name = n;
	*value = v;
	return 0;
}

/* Offered in any Sec-WebSocket-Protocol header, in the order sent. */
const char *
conn_offered_subprotocol(struct conn *c, size_t i)
{
	const char *el;
	size_t k, el_len;

	if (c->rq == NULL || c->rq->head == NULL)
		return NULL;
	for (k = 0; k < c->rq->req.nheaders; k++) {
		const struct http_header *h = &c->rq->req.headers[k];

		if (http_token_eq(h->name, h->name_len,
		    "Sec-WebSocket-Protocol") &&
		    http_list_nth(h->value, h->value_len, &i, &el, &el_len))
			return keep_string(c, dup_counted(el, el_len));
	}
	return NULL;
}

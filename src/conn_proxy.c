/*
 * conn_proxy: a connection that comes through a proxy.
 *
 * On a proxy_protocol listener the connection's first bytes are a PROXY
 * protocol header (proxyproto.h), read before TLS and before HTTP.  It
 * is read with MSG_PEEK and then taken off the socket exactly, so that
 * not one byte after it is consumed here: on a TLS listener OpenSSL
 * reads the socket itself next.  A connection whose first bytes are not
 * a header, or which does not finish one within the handshake timeout,
 * is closed without a word (the peer is a proxy, or someone who should
 * not be talking to this port); the refusals are counted and said in
 * the log at most once a second, so a flood cannot flood the log.
 *
 * With trusted_proxies, the request head of a connection whose peer (the
 * client of the PROXY header, on such a listener) is trusted may say
 * who the client is: X-Forwarded-For (forwarded.h's walk), whether it
 * came over TLS (X-Forwarded-Proto) and which host it asked for
 * (X-Forwarded-Host, for the same-host origin check).  Anyone else's
 * X-Forwarded-* headers are ignored.
 *
 * Either way c->remote becomes the client and conn_peer() keeps the TCP
 * peer; the connection then counts for max_pending_per_address against
 * the client, unless the client is itself a trusted proxy.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

#include "addrcount.h"
#include "conn_priv.h"
#include "forwarded.h"
#include "log.h"
#include "metrics.h"
#include "proxyproto.h"
#include "static.h"

/* The PROXY header read so far. */
struct conn_pp {
	size_t		 len;
	uint8_t		 buf[PP_MAX];
};

/* Whether sa's address is one of lc's trusted proxies. */
static bool
trusted(const struct wsd_listen_conf *lc, const struct sockaddr *sa)
{
	uint8_t key[16];

	return lc != NULL && lc->ntrusted > 0 && fwd_key_of(sa, key) &&
	    cidr_match(lc->trusted, lc->ntrusted, key);
}

bool
conn_proxy_uncounted(const struct wsd_listen_conf *lc,
    const struct sockaddr *sa)
{
	return trusted(lc, sa);
}

int
conn_proxy_start(struct conn *c)
{
	if (c->lc == NULL || !c->lc->proxy_protocol)
		return 0;
	if (conn_cold(c) == NULL ||
	    (c->cold->pp = calloc(1, sizeof(*c->cold->pp))) == NULL)
		return -1;
	c->proxy_hdr = true;
	return 0;
}

void
conn_proxy_free(struct conn *c)
{
	if (c->cold == NULL)
		return;
	free(c->cold->pp);
	c->cold->pp = NULL;
	c->proxy_hdr = false;
}

/* A connection turned away for its PROXY header: counted, said seldom. */
static void
refused(struct conn *c, const char *why)
{
	struct conn_shared *cs = c->srv->cs;
	uint64_t now = conn_now_ms(c->srv);

	cs->proxy_refused_total++;
	cs->proxy_refused++;
	metrics.refused[MREF_PROXY_HEADER]++;
	log_debug("conn %llu %s: refused: %s", (unsigned long long)c->id,
	    c->remote, why);
	if (cs->proxy_log_ms != 0 && now - cs->proxy_log_ms < 1000)
		return;
	log_notice("refused %llu connection(s) on a proxy_protocol listener "
	    "without a valid PROXY header, last from %s: %s",
	    (unsigned long long)cs->proxy_refused, c->remote, why);
	cs->proxy_refused = 0;
	cs->proxy_log_ms = now;
}

uint64_t
conn_proxy_refused(struct server *srv)
{
	return srv->cs != NULL ? srv->cs->proxy_refused_total : 0;
}

void
conn_proxy_timeout(struct conn *c)
{
	refused(c, c->proxy_hdr && c->cold->pp->len > 0 ?
	    "no complete PROXY header within the handshake timeout" :
	    "nothing within the handshake timeout");
}

/*
 * The client is sa, not the address c came from: c->remote says so (the
 * text in cold->client), conn_peer() keeps the TCP peer, and the
 * connection, still in its HTTP
 * phase, counts against the client from now on.  Returns -1 when the
 * client is at max_pending_per_address (the caller refuses with 503).
 */
static int
set_client(struct conn *c, const struct wsd_listen_conf *lc,
    const struct sockaddr *sa)
{
	struct conn_shared *cs = c->srv->cs;
	struct addrcount_entry *pe = NULL;
	char addr[CONN_ADDR_MAX], *client;

	conn_format_addr(sa, addr, sizeof(addr));
	if (strcmp(addr, c->remote) == 0)
		return 0;
	if (conn_cold(c) == NULL || (client = strdup(addr)) == NULL) {
		log_warn("out of memory");
		return -1;
	}
	log_debug("conn %llu %s: the client is %s", (unsigned long long)c->id,
	    conn_peer(c) != NULL ? conn_peer(c) : c->remote, addr);
	free(c->cold->client);
	c->remote = c->cold->client = client;
	addrcount_put(cs->pending, c->pending);
	c->pending = NULL;
	if (!trusted(lc, sa) && addrcount_take(cs->pending, sa,
	    c->gen->cfg->limits.max_pending_per_address, &pe) != 0) {
		metrics.refused[MREF_PER_ADDRESS]++;
		conn_pending_refused(cs, sa);
		return -1;
	}
	c->pending = pe;
	return 0;
}

/* The header is in: take the client from it. */
static int
apply(struct conn *c, const struct pp_info *info)
{
	if (info->ssl)
		c->fwd_tls = true;
	if (info->local) {
		log_debug("conn %llu %s: PROXY v%d header without a client "
		    "(LOCAL or UNKNOWN): the peer is the client",
		    (unsigned long long)c->id, c->remote, info->version);
		return 0;
	}
	return set_client(c, c->lc, (const struct sockaddr *)&info->src);
}

/*
 * Readable while the PROXY header is not complete.  Returns 1 when it
 * is (the connection goes on to TLS or HTTP with the bytes after it
 * still in the socket), 0 to wait for more, -1 when c was freed.
 */
int
conn_proxy_read(struct conn *c)
{
	struct conn_pp *pp = c->cold->pp;
	struct pp_info info;
	const char *why = "not a PROXY protocol header";
	size_t want;
	ssize_t n;
	int r;

	n = recv(c->fd, pp->buf + pp->len, sizeof(pp->buf) - pp->len,
	    MSG_PEEK);
	if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK ||
	    errno == EINTR))
		return 0;
	if (n <= 0) {
		if (pp->len > 0)
			refused(c, n == 0 ? "closed in the PROXY header" :
			    strerror(errno));
		else
			log_debug("conn %llu %s: closed before a PROXY "
			    "header", (unsigned long long)c->id, c->remote);
		conn_io_error(c);
		return -1;
	}
	if ((r = pp_parse(pp->buf, pp->len + (size_t)n, &info, &why)) < 0) {
		refused(c, why);
		conn_io_error(c);
		return -1;
	}
	/* Take off the socket what belongs to the header, and no more. */
	want = r == 0 ? (size_t)n : (size_t)r - pp->len;
	if (recv(c->fd, pp->buf + pp->len, want, 0) != (ssize_t)want) {
		conn_io_error(c);
		return -1;
	}
	pp->len += want;
	if (r == 0)
		return 0;
	free(c->cold->pp);
	c->cold->pp = NULL;
	c->proxy_hdr = false;
	if (apply(c, &info) == -1) {
		/* Over the limit: 503 as at accept, a bare close on TLS. */
		c->status = 503;
		if (c->ssl == NULL && conn_outbuf(c) != NULL)
			http_write_error(c->out, 503, "Retry-After: 5\r\n", 0);
		if (c->ssl != NULL) {
			conn_io_error(c);
			return -1;
		}
		conn_linger(c);
		return 0;
	}
	return 1;
}

/* Every value of header name in the request, in order. */
static size_t
header_values(const struct http_request *req, const char *name,
    const char **vals, size_t *lens)
{
	size_t i, n = 0;

	for (i = 0; i < req->nheaders; i++) {
		const struct http_header *h = &req->headers[i];

		if (http_token_eq(h->name, h->name_len, name)) {
			vals[n] = h->value;
			lens[n++] = h->value_len;
		}
	}
	return n;
}

static bool
is_host(const char *s, size_t len)
{
	size_t i;

	for (i = 0; i < len; i++)
		if ((unsigned char)s[i] <= 0x20 || s[i] == 0x7f || s[i] == ',')
			return false;
	return len > 0;
}

/*
 * The request head is in: if the peer is a trusted proxy, believe its
 * X-Forwarded-For, -Proto and -Host.  Called before the request may
 * move to a newer generation (c->lc is in c->gen's configuration).
 * Returns -1 when the client so found is at max_pending_per_address, or
 * when there is no memory to look (the request is then refused, 503).
 */
int
conn_forwarded(struct conn *c)
{
	const struct wsd_listen_conf *lc = c->lc;
	const struct http_request *req = &c->rq->req;
	struct sockaddr_storage ss;
	const char **vals;
	const char *el;
	size_t *lens, n, ellen;
	uint8_t key[16];
	bool bad;
	int rc = 0;

	c->lc = NULL;
	if (lc == NULL || lc->ntrusted == 0 || req->nheaders == 0)
		return 0;
	if (!fwd_parse_addr(c->remote, strlen(c->remote), key, NULL) ||
	    !cidr_match(lc->trusted, lc->ntrusted, key))
		return 0;
	vals = malloc(req->nheaders * sizeof(*vals));
	lens = malloc(req->nheaders * sizeof(*lens));
	if (vals == NULL || lens == NULL) {
		/* Refused (503), not taken for the proxy itself. */
		free(vals);
		free(lens);
		return -1;
	}

	n = header_values(req, "X-Forwarded-For", vals, lens);
	if (xff_client(vals, lens, n, lc->trusted, lc->ntrusted, key,
	    &bad) > 0) {
		fwd_sockaddr(key, 0, &ss);
		rc = set_client(c, lc, (const struct sockaddr *)&ss);
	}
	if (bad)
		log_debug("conn %llu %s: X-Forwarded-For has an entry that is "
		    "not an address; nothing left of it is believed",
		    (unsigned long long)c->id, c->remote);

	n = header_values(req, "X-Forwarded-Proto", vals, lens);
	if (fwd_last_element(vals, lens, n, &el, &ellen)) {
		if (http_token_eq(el, ellen, "https") ||
		    http_token_eq(el, ellen, "wss"))
			c->fwd_tls = true;
		else if (http_token_eq(el, ellen, "http") ||
		    http_token_eq(el, ellen, "ws"))
			c->fwd_tls = false;
		else
			log_debug("conn %llu %s: X-Forwarded-Proto is neither "
			    "http nor https: ignored",
			    (unsigned long long)c->id, c->remote);
	}

	n = header_values(req, "X-Forwarded-Host", vals, lens);
	if (fwd_last_element(vals, lens, n, &el, &ellen)) {
		if (is_host(el, ellen)) {
			c->rq->fwd_host = el;
			c->rq->fwd_host_len = ellen;
		} else {
			log_debug("conn %llu %s: X-Forwarded-Host is not a "
			    "host: ignored", (unsigned long long)c->id,
			    c->remote);
		}
	}
	free(vals);
	free(lens);
	return rc;
}

/*
 * pmd: see pmd.h.
 *
 * Negotiation follows RFC 7692 section 7 and RFC 6455 section 9.1: an
 * offer is an extension name and parameters, "name[=value]" with the
 * value a token or a quoted string; the four parameters of the
 * extension each appear at most once, and the window sizes are decimal
 * numbers from 8 to 15 without leading zeros.
 */
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <zlib.h>

#include "pmd.h"
#include "utf8.h"

void
pmd_conf_default(struct pmd_conf *c)
{
	memset(c, 0, sizeof(*c));
	c->enabled = false;
	c->server_no_context_takeover = true;
	c->client_no_context_takeover = true;
	c->server_max_window_bits = PMD_DEFAULT_WBITS;
	c->client_max_window_bits = PMD_DEFAULT_WBITS;
	c->level = PMD_DEFAULT_LEVEL;
	c->mem_level = PMD_DEFAULT_MEM_LEVEL;
	c->min_size = PMD_DEFAULT_MIN_SIZE;
}

/* ------------------------------------------------------------ offers */

struct lex {
	const char	*p, *end;
};

/* RFC 7230 tchar. */
static bool
is_tchar(unsigned char c)
{
	if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	    (c >= '0' && c <= '9'))
		return true;
	return c != '\0' && strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

static void
skip_ows(struct lex *l)
{
	while (l->p < l->end && (*l->p == ' ' || *l->p == '\t'))
		l->p++;
}

static bool
at(struct lex *l, char c)
{
	return l->p < l->end && *l->p == c;
}

static bool
token(struct lex *l, const char **s, size_t *n)
{
	const char *b = l->p;

	while (l->p < l->end && is_tchar((unsigned char)*l->p))
		l->p++;
	*s = b;
	*n = (size_t)(l->p - b);
	return *n > 0;
}

/*
 * A quoted string, unescaped into buf (at most cap bytes; a longer one
 * is taken whole and reported by *n > cap).  False on bad syntax.
 */
static bool
quoted(struct lex *l, char *buf, size_t cap, size_t *n)
{
	unsigned char c;

	*n = 0;
	if (!at(l, '"'))
		return false;
	l->p++;
	while (l->p < l->end) {
		c = (unsigned char)*l->p++;
		if (c == '"')
			return true;
		if (c == '\\') {
			if (l->p == l->end)
				return false;
			c = (unsigned char)*l->p++;
			if (c < ' ' && c != '\t')
				return false;
		} else if ((c < ' ' && c != '\t') || c == 0x7f)
			return false;
		if (*n < cap)
			buf[*n] = (char)c;
		(*n)++;
	}
	return false;
}

/* Past the rest of the element: to the next comma outside quotes. */
static void
skip_element(struct lex *l)
{
	bool inq = false;

	while (l->p < l->end) {
		char c = *l->p;

		if (inq && c == '\\' && l->p + 1 < l->end)
			l->p++;
		else if (c == '"')
			inq = !inq;
		else if (c == ',' && !inq)
			return;
		l->p++;
	}
}

static bool
name_is(const char *s, size_t n, const char *name)
{
	return strlen(name) == n && strncasecmp(s, name, n) == 0;
}

/* "8" .. "15": the whole value, no sign, no leading zero. */
static int
window_bits(const char *v, size_t n)
{
	if (n == 1 && v[0] >= '8' && v[0] <= '9')
		return v[0] - '0';
	if (n == 2 && v[0] == '1' && v[1] >= '0' && v[1] <= '5')
		return 10 + (v[1] - '0');
	return -1;
}

enum param {
	P_SNCT = 1 << 0,
	P_CNCT = 1 << 1,
	P_SWB = 1 << 2,
	P_CWB = 1 << 3,
};

struct offer {
	unsigned	seen;
	int		swbits;		/* -1: no value */
	int		cwbits;
};

/*
 * One parameter of a permessage-deflate offer.  Returns false when it
 * declines the offer (unknown, repeated, a value where none belongs or
 * none where one does, a value out of range).
 */
static bool
offer_param(struct offer *o, const char *name, size_t nlen, bool hasval,
    const char *v, size_t vlen)
{
	unsigned bit;
	int wb = -1;

	if (name_is(name, nlen, "server_no_context_takeover"))
		bit = P_SNCT;
	else if (name_is(name, nlen, "client_no_context_takeover"))
		bit = P_CNCT;
	else if (name_is(name, nlen, "server_max_window_bits"))
		bit = P_SWB;
	else if (name_is(name, nlen, "client_max_window_bits"))
		bit = P_CWB;
	else
		return false;
	if (o->seen & bit)
		return false;
	o->seen |= bit;
	if (hasval && (wb = window_bits(v, vlen)) == -1)
		return false;
	switch (bit) {
	case P_SNCT:
	case P_CNCT:
		return !hasval;
	case P_SWB:
		if (!hasval)
			return false;
		o->swbits = wb;
		return true;
	default:
		o->cwbits = hasval ? wb : -1;
		return true;
	}
}

/* Could conf accept offer o?  Fills *p if so. */
static bool
offer_accept(const struct pmd_conf *conf, const struct offer *o,
    struct pmd_params *p)
{
	memset(p, 0, sizeof(*p));
	p->server_nct = conf->server_no_context_takeover ||
	    (o->seen & P_SNCT) != 0;
	p->client_nct = conf->client_no_context_takeover ||
	    (o->seen & P_CNCT) != 0;

	p->server_wbits = conf->server_max_window_bits;
	if (o->seen & P_SWB) {
		if (o->swbits < p->server_wbits)
			p->server_wbits = (uint8_t)o->swbits;
		p->resp_swbits = true;
	}
	/* zlib cannot compress with the 8-bit window such a client wants. */
	if (p->server_wbits < PMD_SERVER_WBITS_MIN)
		return false;
	if (p->server_wbits < PMD_WBITS_MAX)
		p->resp_swbits = true;

	p->client_wbits = PMD_WBITS_MAX;
	if (o->seen & P_CWB) {
		p->client_wbits = conf->client_max_window_bits;
		if (o->cwbits != -1 && o->cwbits < p->client_wbits)
			p->client_wbits = (uint8_t)o->cwbits;
		p->resp_cwbits = p->client_wbits < PMD_WBITS_MAX;
	} else if (conf->client_max_window_bits < PMD_WBITS_MAX &&
	    !p->client_nct) {
		/*
		 * The client cannot be told to use a smaller window, and its
		 * window would be kept per connection: not what the
		 * configuration allows.  (Without context takeover the
		 * worker's shared stream takes any window.)
		 */
		return false;
	}
	p->on = true;
	return true;
}

/*
 * One element of an extension list.  Returns 1 (an acceptable
 * permessage-deflate offer, in *p), 0 (something else, or declined)
 * with l past the element (at its comma or the end).
 */
static int
element(struct lex *l, const struct pmd_conf *conf, struct pmd_params *p)
{
	struct offer o = { 0, -1, -1 };
	const char *name, *pn, *v = NULL;
	size_t nlen, pnlen, vlen = 0;
	char qbuf[16];
	bool ours, ok = true, hasval;

	if (!token(l, &name, &nlen)) {
		skip_element(l);
		return 0;
	}
	ours = name_is(name, nlen, "permessage-deflate");
	for (;;) {
		skip_ows(l);
		if (l->p == l->end || at(l, ','))
			break;
		if (!at(l, ';'))
			goto syntax;
		l->p++;
		skip_ows(l);
		if (!token(l, &pn, &pnlen))
			goto syntax;
		skip_ows(l);
		hasval = false;
		if (at(l, '=')) {
			l->p++;
			skip_ows(l);
			hasval = true;
			if (at(l, '"')) {
				if (!quoted(l, qbuf, sizeof(qbuf), &vlen))
					goto syntax;
				/* RFC 6455 9.1: unquoted, it is a token. */
				if (vlen > sizeof(qbuf))
					ok = false;
				else {
					struct lex ql = { qbuf, qbuf + vlen };

					if (!token(&ql, &v, &vlen) ||
					    ql.p != ql.end)
						ok = false;
				}
			} else if (!token(l, &v, &vlen))
				goto syntax;
		}
		if (ours && ok && !offer_param(&o, pn, pnlen, hasval, v, vlen))
			ok = false;
	}
	if (!ours || !ok)
		return 0;
	return offer_accept(conf, &o, p) ? 1 : 0;
syntax:
	skip_element(l);
	return 0;
}

bool
pmd_negotiate(const struct pmd_conf *conf, const char *const *vals,
    const size_t *lens, size_t n, struct pmd_params *out)
{
	struct lex l;
	size_t i;

	memset(out, 0, sizeof(*out));
	if (!conf->enabled)
		return false;
	for (i = 0; i < n; i++) {
		l.p = vals[i];
		l.end = vals[i] + lens[i];
		for (;;) {
			skip_ows(&l);
			if (l.p == l.end)
				break;
			if (at(&l, ',')) {	/* empty list elements */
				l.p++;
				continue;
			}
			if (element(&l, conf, out) == 1)
				return true;
			memset(out, 0, sizeof(*out));
		}
	}
	return false;
}

size_t
pmd_response(const struct pmd_params *p, char *buf, size_t size)
{
	int n;

	n = snprintf(buf, size, "permessage-deflate%s%s",
	    p->server_nct ? "; server_no_context_takeover" : "",
	    p->client_nct ? "; client_no_context_takeover" : "");
	if (n >= 0 && (size_t)n < size && p->resp_swbits)
		n += snprintf(buf + n, size - (size_t)n,
		    "; server_max_window_bits=%u", p->server_wbits);
	if (n >= 0 && (size_t)n < size && p->resp_cwbits)
		n += snprintf(buf + n, size - (size_t)n,
		    "; client_max_window_bits=%u", p->client_wbits);
	if (n < 0)
		n = 0;
	return (size_t)n < size ? (size_t)n : size - 1;
}

/* ------------------------------------------------------------ buffers */

void
pmd_buf_free(struct pmd_buf *b)
{
	free(b->p);
	b->p = NULL;
	b->len = b->cap = 0;
}

/* Grow b towards limit (the most it may hold).  -1: at it, or ENOMEM. */
static int
buf_grow(struct pmd_buf *b, size_t limit, bool *nomem)
{
	size_t cap;
	uint8_t *p;

	*nomem = false;
	if (b->cap >= limit)
		return -1;
	cap = b->cap < 4096 ? 4096 : (b->cap > SIZE_MAX / 2 ? SIZE_MAX :
	    b->cap * 2);
	if (cap > limit)
		cap = limit;
	if ((p = realloc(b->p, cap)) == NULL) {
		*nomem = true;
		return -1;
	}
	b->p = p;
	b->cap = cap;
	return 0;
}

/* zlib counts in uInt: hand it input in pieces no larger than this. */
#define ZCHUNK	(1u << 30)

/*
 * Inflate in[0..len), a piece of a message that began at out->p[start],
 * with zs onto out: in bounded steps, never holding more than max + 1
 * bytes of the message, checking text as UTF-8 on each step's output
 * with the state *u.  fin: the message ends here, so the 00 00 FF FF
 * tail is added.  *ended: a final block came earlier in the message and
 * what follows it is ignored.
 */
static enum pmd_result
inflate_run(z_stream *zs, const uint8_t *in, size_t len, bool fin,
    size_t start, uint64_t max, bool text, utf8_state *u, bool *ended,
    struct pmd_buf *out)
{
	static const uint8_t tail[4] = { 0x00, 0x00, 0xff, 0xff };
	size_t limit, room, got;
	const uint8_t *src = in;
	size_t left = len;
	bool nomem, tail_fed = !fin;
	int r;

	if (*ended || (len == 0 && !fin))
		goto done;
	/* Room for one byte past max: that byte proves the message too big. */
	if (max >= SIZE_MAX - start)
		limit = SIZE_MAX;
	else
		limit = start + (size_t)max + 1;
	zs->avail_in = 0;
	for (;;) {
		if (zs->avail_in == 0 && (left > 0 || !tail_fed)) {
			if (left == 0) {
				tail_fed = true;
				src = tail;
				left = sizeof(tail);
			}
			zs->next_in = (Bytef *)(uintptr_t)src;
			zs->avail_in = left > ZCHUNK ? ZCHUNK : (uInt)left;
			src += zs->avail_in;
			left -= zs->avail_in;
		}
		if (out->len == out->cap && buf_grow(out, limit, &nomem) == -1)
			return nomem ? PMD_NOMEM : PMD_TOO_BIG;
		room = out->cap - out->len;
		if (room > PMD_INFLATE_STEP)
			room = PMD_INFLATE_STEP;
		zs->next_out = out->p + out->len;
		zs->avail_out = (uInt)room;
		r = inflate(zs, Z_SYNC_FLUSH);
		got = room - zs->avail_out;
		if (got > 0 && text) {
			*u = utf8_feed(*u, out->p + out->len, got);
			if (*u == UTF8_REJECT) {
				out->len += got;
				return PMD_BAD_UTF8;
			}
		}
		out->len += got;
		if (out->len - start > max)
			return PMD_TOO_BIG;
		if (r == Z_STREAM_END) {
			/*
			 * A final block: what follows (the tail we add, or
			 * more the sender put after it) is not deflate
			 * data.  The next message starts a new stream, as
			 * its sender's did.
			 */
			*ended = true;
			if (inflateReset(zs) != Z_OK)
				return PMD_CORRUPT;
			break;
		}
		if (r == Z_MEM_ERROR)
			return PMD_NOMEM;
		if (r != Z_OK && r != Z_BUF_ERROR)
			return PMD_CORRUPT;
		/* No progress with room and input left: cannot happen. */
		if (r == Z_BUF_ERROR && zs->avail_in > 0 && zs->avail_out > 0)
			return PMD_CORRUPT;
		/* Input used up and room left: all its output is out. */
		if (zs->avail_in == 0 && zs->avail_out > 0 && left == 0 &&
		    tail_fed)
			break;
	}
	zs->next_in = NULL;
	zs->next_out = NULL;
done:
	if (fin && text && *u != UTF8_ACCEPT)
		return PMD_BAD_UTF8;
	return PMD_OK;
}

enum pmd_result
pmd_inflate(struct z_stream_s *zs, const uint8_t *in, size_t len,
    uint64_t max, bool text, struct pmd_buf *out)
{
	utf8_state u = UTF8_ACCEPT;
	bool ended = false;

	return inflate_run(zs, in, len, true, out->len, max, text, &u,
	    &ended, out);
}

enum pmd_result
pmd_rx_feed(struct pmd_rx *r, const uint8_t *in, size_t len, bool fin)
{
	return inflate_run(r->zs, in, len, fin, 0, r->max, r->text, &r->u,
	    &r->ended, &r->out);
}

enum pmd_result
pmd_deflate(struct z_stream_s *zs, const uint8_t *data, size_t len,
    struct pmd_buf *out)
{
	size_t left = len, room;
	const uint8_t *src = data;
	bool nomem;
	int r, flush;

	out->len = 0;
	if (len == 0) {
		/*
		 * An empty stored block, tail removed: the stream's own
		 * state is untouched, so a stream with context takeover
		 * stays in step with the client's.
		 */
		if (out->cap == 0 && buf_grow(out, 4096, &nomem) == -1)
			return PMD_NOMEM;
		out->p[0] = 0x00;
		out->len = 1;
		return PMD_OK;
	}
	zs->avail_in = 0;
	for (;;) {
		if (zs->avail_in == 0 && left > 0) {
			zs->next_in = (Bytef *)(uintptr_t)src;
			zs->avail_in = left > ZCHUNK ? ZCHUNK : (uInt)left;
			src += zs->avail_in;
			left -= zs->avail_in;
		}
		flush = left > 0 ? Z_NO_FLUSH : Z_SYNC_FLUSH;
		if (out->cap - out->len < 64 &&
		    buf_grow(out, SIZE_MAX, &nomem) == -1)
			return PMD_NOMEM;
		room = out->cap - out->len;
		if (room > ZCHUNK)
			room = ZCHUNK;
		zs->next_out = out->p + out->len;
		zs->avail_out = (uInt)room;
		r = deflate(zs, flush);
		out->len += room - zs->avail_out;
		if (r == Z_MEM_ERROR)
			return PMD_NOMEM;
		if (r != Z_OK && r != Z_BUF_ERROR)
			return PMD_CORRUPT;
		if (flush == Z_SYNC_FLUSH && zs->avail_in == 0 &&
		    zs->avail_out > 0)
			break;
	}
	zs->next_in = NULL;
	zs->next_out = NULL;
	/* A sync flush ends in an empty stored block: 00 00 FF FF. */
	if (out->len < 4 || memcmp(out->p + out->len - 4, "\0\0\377\377",
	    4) != 0)
		return PMD_CORRUPT;
	out->len -= 4;
	return PMD_OK;
}

/* ------------------------------------------------------------ streams */

/*
 * zlib's allocations go through malloc() here rather than zlib's own, so
 * that they are wsd's (and the allocation-failure test reaches them).
 */
static voidpf
pmd_zalloc(voidpf opaque, uInt items, uInt size)
{
	(void)opaque;
	if (size != 0 && items > SIZE_MAX / size)
		return Z_NULL;
	return malloc((size_t)items * size);
}

static void
pmd_zfree(voidpf opaque, voidpf p)
{
	(void)opaque;
	free(p);
}

/* A z_stream set up for our allocator, or NULL. */
static z_stream *
pmd_stream_new(void)
{
	z_stream *zs;

	if ((zs = calloc(1, sizeof(*zs))) == NULL)
		return NULL;
	zs->zalloc = pmd_zalloc;
	zs->zfree = pmd_zfree;
	return zs;
}

struct z_stream_s *
pmd_inflate_new(int wbits)
{
	z_stream *zs;

	if ((zs = pmd_stream_new()) == NULL)
		return NULL;
	if (inflateInit2(zs, -wbits) != Z_OK) {
		free(zs);
		return NULL;
	}
	return zs;
}

struct z_stream_s *
pmd_deflate_new(int level, int wbits, int mem_level)
{
	z_stream *zs;

	if ((zs = pmd_stream_new()) == NULL)
		return NULL;
	if (deflateInit2(zs, level, Z_DEFLATED, -wbits, mem_level,
	    Z_DEFAULT_STRATEGY) != Z_OK) {
		free(zs);
		return NULL;
	}
	return zs;
}

void
pmd_inflate_free(struct z_stream_s *zs)
{
	if (zs == NULL)
		return;
	inflateEnd(zs);
	free(zs);
}

void
pmd_deflate_free(struct z_stream_s *zs)
{
	if (zs == NULL)
		return;
	deflateEnd(zs);
	free(zs);
}

int
pmd_inflate_reset(struct z_stream_s *zs)
{
	return inflateReset(zs) == Z_OK ? 0 : -1;
}

int
pmd_deflate_reset(struct z_stream_s *zs)
{
	return deflateReset(zs) == Z_OK ? 0 : -1;
}

void
pmd_worker_free(struct pmd_worker *w)
{
	size_t i;

	pmd_inflate_free(w->inflate);
	w->inflate = NULL;
	while (w->nspare > 0)
		pmd_inflate_free(w->spare[--w->nspare]);
	for (i = 0; i < PMD_SHARED_DEFLATE; i++) {
		pmd_deflate_free(w->deflate[i].zs);
		w->deflate[i].zs = NULL;
	}
	pmd_buf_free(&w->in);
	pmd_buf_free(&w->out);
}

void
pmd_conn_free(struct pmd_conn *pc)
{
	pmd_conn_rx_end(NULL, pc);
	pmd_inflate_free(pc->inflate);
	pmd_deflate_free(pc->deflate);
	pc->inflate = pc->deflate = NULL;
}

void
pmd_worker_trim_out(struct pmd_worker *w)
{
	if (w->out.cap > PMD_SCRATCH_KEEP)
		pmd_buf_free(&w->out);
}

void
pmd_worker_trim(struct pmd_worker *w)
{
	if (w->in.cap > PMD_SCRATCH_KEEP)
		pmd_buf_free(&w->in);
	pmd_worker_trim_out(w);
}

enum pmd_result
pmd_conn_inflate(struct pmd_worker *w, struct pmd_conn *pc,
    const uint8_t *in, size_t len, uint64_t max, bool text)
{
	struct z_stream_s *zs;
	enum pmd_result r;

	if (pc->p.client_nct) {
		if (w->inflate == NULL &&
		    (w->inflate = pmd_inflate_new(PMD_WBITS_MAX)) == NULL)
			return PMD_NOMEM;
		zs = w->inflate;
	} else {
		if (pc->inflate == NULL && (pc->inflate =
		    pmd_inflate_new(pc->p.client_wbits)) == NULL)
			return PMD_NOMEM;
		zs = pc->inflate;
	}
	w->in.len = 0;
	r = pmd_inflate(zs, in, len, max, text, &w->in);
	/* The shared stream is clean for the next client, whatever came. */
	if (pc->p.client_nct && pmd_inflate_reset(zs) == -1) {
		pmd_inflate_free(w->inflate);
		w->inflate = NULL;
	}
	return r;
}

enum pmd_result
pmd_conn_inflate_part(struct pmd_worker *w, struct pmd_conn *pc,
    const uint8_t *in, size_t len, bool fin, uint64_t max, bool text)
{
	struct pmd_rx *r = pc->rx;

	if (r == NULL) {
		if ((r = calloc(1, sizeof(*r))) == NULL)
			return PMD_NOMEM;
		if (!pc->p.client_nct) {
			if (pc->inflate == NULL && (pc->inflate =
			    pmd_inflate_new(pc->p.client_wbits)) == NULL) {
				free(r);
				return PMD_NOMEM;
			}
			r->zs = pc->inflate;
		} else {
			/*
			 * Not the worker's shared stream: this message may
			 * still be unfinished when another client's starts.
			 */
			if (w->nspare > 0)
				r->zs = w->spare[--w->nspare];
			else if ((r->zs = pmd_inflate_new(PMD_WBITS_MAX)) ==
			    NULL) {
				free(r);
				return PMD_NOMEM;
			}
			r->spare = true;
		}
		r->max = max;
		r->text = text;
		r->u = UTF8_ACCEPT;
		pc->rx = r;
	}
	return pmd_rx_feed(r, in, len, fin);
}

void
pmd_conn_rx_end(struct pmd_worker *w, struct pmd_conn *pc)
{
	struct pmd_rx *r = pc->rx;

	if (r == NULL)
		return;
	pc->rx = NULL;
	if (r->spare) {
		if (w != NULL && w->nspare < PMD_INFLATE_SPARE &&
		    pmd_inflate_reset(r->zs) == 0)
			w->spare[w->nspare++] = r->zs;
		else
			pmd_inflate_free(r->zs);
	}
	pmd_buf_free(&r->out);
	free(r);
}

enum pmd_result
pmd_shared_deflate(struct pmd_worker *w, int level, int wbits,
    int mem_level, const uint8_t *data, size_t len)
{
	size_t i, pick = 0;
	struct z_stream_s *zs;

	for (i = 0; i < PMD_SHARED_DEFLATE; i++) {
		if (w->deflate[i].zs != NULL && w->deflate[i].level == level &&
		    w->deflate[i].wbits == wbits &&
		    w->deflate[i].mem_level == mem_level)
			break;
		/* An empty slot, or else the one unused the longest. */
		if (w->deflate[pick].zs != NULL && (w->deflate[i].zs == NULL ||
		    w->deflate[i].used < w->deflate[pick].used))
			pick = i;
	}
	if (i == PMD_SHARED_DEFLATE) {
		i = pick;
		pmd_deflate_free(w->deflate[i].zs);
		w->deflate[i].zs = NULL;
		if ((zs = pmd_deflate_new(level, wbits, mem_level)) == NULL)
			return PMD_NOMEM;
		w->deflate[i].zs = zs;
		w->deflate[i].level = (uint8_t)level;
		w->deflate[i].wbits = (uint8_t)wbits;
		w->deflate[i].mem_level = (uint8_t)mem_level;
	} else if (pmd_deflate_reset(w->deflate[i].zs) == -1)
		return PMD_CORRUPT;
	w->deflate[i].used = ++w->uses;
	return pmd_deflate(w->deflate[i].zs, data, len, &w->out);
}

enum pmd_result
pmd_conn_deflate(struct pmd_worker *w, struct pmd_conn *pc,
    const struct pmd_conf *conf, const uint8_t *data, size_t len)
{
	if (pc->p.server_nct)
		return pmd_shared_deflate(w, conf->level, pc->p.server_wbits,
		    conf->mem_level, data, len);
	if (pc->deflate == NULL && (pc->deflate = pmd_deflate_new(conf->level,
	    pc->p.server_wbits, conf->mem_level)) == NULL)
		return PMD_NOMEM;
	return pmd_deflate(pc->deflate, data, len, &w->out);
}

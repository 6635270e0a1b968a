/*
 * fuzz_http: the HTTP request-head parser (src/http.c) and the upgrade
 * checks built on it (src/handshake.c).
 *
 * The input is a request head as a client would send it.  Besides "no
 * crash, no overread" (every buffer handed to the code under test is a
 * heap block of exactly the length it is told, so ASan sees a read one
 * byte past the end) the harness checks what the parser promises in
 * http.h:
 *   - a head's length is <= len, ends in CRLF CRLF, and holds no NUL,
 *     bare CR or LF, or other control byte;
 *   - every pointer in the request lies inside the head;
 *   - every proper prefix of a head is INCOMPLETE, every longer buffer
 *     gives the same length; a rejected buffer's prefixes are INCOMPLETE
 *     or the same error (each one-shot parse starts afresh);
 *   - the resumable parser (http_parser_execute), fed the input in
 *     random-size pieces in a buffer that moves at every call, ends as
 *     the one-shot parse does, with the same request at the same
 *     offsets, and examines each byte at most once;
 *   - max_headers is honoured exactly;
 * and cross-checks the helpers (header lookup, token lists, query and
 * cookie lookup, percent-decoding, ws_is_upgrade, ws_check_upgrade)
 * against slow reference versions written here.
 */
#include <ctype.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "http.h"
#include "handshake.h"

#include "fuzz_common.h"

#define MAXH		64	/* wsd's default max_headers */
#define PREFIX_ALL	300	/* check every prefix up to this length */
#define PREFIX_SAMPLES	48	/* else this many positions */
#define PIECES_MAX	256	/* calls per resumed parse, about */

static bool
is_blank(unsigned char c)
{
	return c == ' ' || c == '\t';
}

/* Case-insensitive equality of two counted strings. */
static bool
ci_eq(const char *a, size_t al, const char *b, size_t bl)
{
	size_t i;

	if (al != bl)
		return false;
	for (i = 0; i < al; i++)
		if (tolower((unsigned char)a[i]) != tolower((unsigned char)b[i]))
			return false;
	return true;
}

/* ------------------------------------------------------- references */

static int
ref_hex(unsigned char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c = (unsigned char)tolower(c);
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

/* What http_percent_decode is documented to do. */
static long
ref_percent_decode(const char *src, size_t n, char *dst, bool plus)
{
	const unsigned char *s = (const unsigned char *)src;
	size_t i, o = 0;

	for (i = 0; i < n; i++) {
		if (s[i] == '%') {
			int hi, lo;

			if (i + 2 >= n)
				return -1;
			hi = ref_hex(s[i + 1]);
			lo = ref_hex(s[i + 2]);
			if (hi < 0 || lo < 0 || hi * 16 + lo == 0)
				return -1;
			dst[o++] = (char)(hi * 16 + lo);
			i += 2;
		} else if (s[i] == '\0') {
			return -1;
		} else {
			dst[o++] = plus && s[i] == '+' ? ' ' : (char)s[i];
		}
	}
	dst[o] = '\0';
	return (long)o;
}

static void
check_percent_decode(const char *s, size_t n, bool plus)
{
	char *src = fuzz_dup(s, n);
	char *d1 = malloc(n + 1), *d2 = malloc(n + 1);
	long r1, r2;

	FUZZ_CHECK(d1 != NULL && d2 != NULL);
	r1 = http_percent_decode(src, n, d1, plus);
	r2 = ref_percent_decode(src, n, d2, plus);
	if (r1 != r2)
		FUZZ_FAIL("http_percent_decode returned %ld, reference %ld",
		    r1, r2);
	if (r1 >= 0) {
		FUZZ_CHECK((size_t)r1 <= n);
		FUZZ_CHECK(memcmp(d1, d2, (size_t)r1 + 1) == 0);
		FUZZ_CHECK(strlen(d1) == (size_t)r1);
	}
	free(src);
	free(d1);
	free(d2);
}

/*
 * Call fn for each element of s[0..n) split on sep, blanks around it
 * removed when trim is set (the helpers' list syntax).
 */
typedef void (*element_fn)(const char *el, size_t len, void *arg);

static void
split(const char *s, size_t n, char sep, bool trim, element_fn fn, void *arg)
{
	size_t b = 0;

	for (;;) {
		size_t end, eb, ee;

		for (end = b; end < n && s[end] != sep; end++)
			continue;
		eb = b;
		ee = end;
		if (trim) {
			while (eb < ee && is_blank((unsigned char)s[eb]))
				eb++;
			while (ee > eb && is_blank((unsigned char)s[ee - 1]))
				ee--;
		}
		fn(s + eb, ee - eb, arg);
		if (end == n)
			break;
		b = end + 1;
	}
}

struct has_token {
	const char	*token;
	bool		 found;
};

static void
has_token_el(const char *el, size_t len, void *arg)
{
	struct has_token *h = arg;

	if (len > 0 && ci_eq(el, len, h->token, strlen(h->token)))
		h->found = true;
}

static bool
ref_list_has_token(const char *v, size_t n, const char *token)
{
	struct has_token h = { token, false };

	if (token[0] == '\0')
		return false;
	split(v, n, ',', true, has_token_el, &h);
	return h.found;
}

/* Every element of a list must be found in it. */
struct list_ctx {
	const char	*value;
	size_t		 len;
};

static void
list_element_found(const char *el, size_t len, void *arg)
{
	struct list_ctx *l = arg;
	char *tok;

	if (len == 0 || memchr(el, '\0', len) != NULL)
		return;
	tok = fuzz_strndup(el, len);
	if (!http_list_has_token(l->value, l->len, tok))
		FUZZ_FAIL("http_list_has_token misses element \"%s\"", tok);
	free(tok);
}

/* Query and cookie lookups: the first element with the name wins. */
struct pair_ctx {
	const char	*base;		/* the whole list */
	size_t		 base_len;
	bool		 cookie;
};

static bool
ref_pair_find(const char *s, size_t n, const char *name, bool cookie,
    const char **val, size_t *val_len)
{
	size_t b = 0, name_len = strlen(name);

	if (name_len == 0)
		return false;
	for (;;) {
		size_t end, eb, ee, nl;
		const char *eq;

		for (end = b; end < n && s[end] != (cookie ? ';' : '&'); end++)
			continue;
		eb = b;
		ee = end;
		if (cookie) {
			while (eb < ee && is_blank((unsigned char)s[eb]))
				eb++;
			while (ee > eb && is_blank((unsigned char)s[ee - 1]))
				ee--;
		}
		if (ee > eb) {
			eq = memchr(s + eb, '=', ee - eb);
			nl = eq != NULL ? (size_t)(eq - (s + eb)) : ee - eb;
			if (cookie)
				while (nl > 0 && is_blank((unsigned char)s[eb +
				    nl - 1]))
					nl--;
			if (nl == name_len && memcmp(s + eb, name, nl) == 0) {
				size_t vb;

				if (eq == NULL) {
					*val = s + ee;
					*val_len = 0;
					return true;
				}
				vb = (size_t)(eq - s) + 1;
				if (cookie)
					while (vb < ee &&
					    is_blank((unsigned char)s[vb]))
						vb++;
				*val = s + vb;
				*val_len = ee - vb;
				return true;
			}
		}
		if (end == n)
			return false;
		b = end + 1;
	}
}

static void
check_pair_find(const char *s, size_t n, const char *name, bool cookie)
{
	const char *v1 = NULL, *v2 = NULL;
	size_t l1 = 0, l2 = 0;
	bool f1, f2;

	f1 = cookie ? http_cookie_find(s, n, name, &v1, &l1) :
	    http_query_find(s, n, name, &v1, &l1);
	f2 = ref_pair_find(s, n, name, cookie, &v2, &l2);
	if (f1 != f2)
		FUZZ_FAIL("%s \"%s\": found %d, reference %d",
		    cookie ? "http_cookie_find" : "http_query_find", name,
		    f1, f2);
	if (f1) {
		FUZZ_CHECK(fuzz_inside(v1, l1, s, n));
		FUZZ_CHECK(v1 == v2 && l1 == l2);
		if (!cookie)
			check_percent_decode(v1, l1, true);
	}
}

static void
pair_element(const char *el, size_t len, void *arg)
{
	struct pair_ctx *p = arg;
	const char *eq;
	size_t nl;
	char *name;

	if (len == 0)
		return;
	eq = memchr(el, '=', len);
	nl = eq != NULL ? (size_t)(eq - el) : len;
	if (p->cookie)
		while (nl > 0 && is_blank((unsigned char)el[nl - 1]))
			nl--;
	if (nl == 0 || memchr(el, '\0', nl) != NULL)
		return;
	name = fuzz_strndup(el, nl);
	check_pair_find(p->base, p->base_len, name, p->cookie);
	free(name);
}

/* ------------------------------------------------------- the request */

static void
check_head(const char *buf, int r, const struct http_request *req,
    const struct http_header *hdrs, size_t maxh)
{
	size_t n = (size_t)r, i;

	FUZZ_CHECK(n >= 4 && memcmp(buf + n - 4, "\r\n\r\n", 4) == 0);
	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)buf[i];

		if (c == '\r')
			FUZZ_CHECK(i + 1 < n && buf[i + 1] == '\n');
		else if (c == '\n')
			FUZZ_CHECK(i > 0 && buf[i - 1] == '\r');
		else if (c < 0x20 && c != '\t')
			FUZZ_FAIL("control byte 0x%02x at %zu in a head", c, i);
		else if (c == 0x7f)
			FUZZ_FAIL("DEL at %zu in a head", i);
	}

	FUZZ_CHECK(req->method == buf);
	FUZZ_CHECK(req->method_len > 0 && req->method_len < n);
	FUZZ_CHECK(buf[req->method_len] == ' ');
	FUZZ_CHECK(fuzz_inside(req->target, req->target_len, buf, n));
	FUZZ_CHECK(req->target == buf + req->method_len + 1);
	FUZZ_CHECK(req->target_len >= 1 && req->target[0] == '/');
	FUZZ_CHECK(memchr(req->target, '#', req->target_len) == NULL);
	FUZZ_CHECK(req->path == req->target);
	FUZZ_CHECK(req->path_len <= req->target_len);
	FUZZ_CHECK(memchr(req->path, '?', req->path_len) == NULL);
	if (req->query != NULL) {
		FUZZ_CHECK(req->target[req->path_len] == '?');
		FUZZ_CHECK(req->query == req->target + req->path_len + 1);
		FUZZ_CHECK(req->query_len == req->target_len - req->path_len - 1);
	} else {
		FUZZ_CHECK(req->path_len == req->target_len);
		FUZZ_CHECK(req->query_len == 0);
	}
	FUZZ_CHECK(req->version_minor == 0 || req->version_minor == 1);
	FUZZ_CHECK(req->headers == hdrs);
	FUZZ_CHECK(req->nheaders <= maxh);
	for (i = 0; i < req->nheaders; i++) {
		const struct http_header *h = &hdrs[i];

		FUZZ_CHECK(fuzz_inside(h->name, h->name_len, buf, n));
		FUZZ_CHECK(h->name_len > 0 && h->name[h->name_len] == ':');
		FUZZ_CHECK(h->name[-2] == '\r' && h->name[-1] == '\n');
		FUZZ_CHECK(fuzz_inside(h->value, h->value_len, buf, n));
		FUZZ_CHECK(h->value > h->name);
		FUZZ_CHECK(memchr(h->value, '\r', h->value_len) == NULL);
		if (h->value_len > 0) {
			FUZZ_CHECK(!is_blank((unsigned char)h->value[0]));
			FUZZ_CHECK(!is_blank((unsigned char)
			    h->value[h->value_len - 1]));
		}
		if (i > 0)
			FUZZ_CHECK(h->name > hdrs[i - 1].value);
	}
}

static const char *const lookup_names[] = {
	"Host", "Upgrade", "Connection", "Sec-WebSocket-Key",
	"Sec-WebSocket-Version", "Origin", "Sec-WebSocket-Protocol",
	"Cookie", "X-Not-There", "", NULL
};

static void
check_find_header(const struct http_request *req, const char *name)
{
	const struct http_header *h, *first = NULL;
	size_t count = 99, n = 0, i, nl = strlen(name);

	for (i = 0; i < req->nheaders; i++) {
		if (ci_eq(req->headers[i].name, req->headers[i].name_len,
		    name, nl)) {
			if (first == NULL)
				first = &req->headers[i];
			n++;
		}
	}
	h = http_find_header(req, name, &count);
	FUZZ_CHECK(h == first);
	FUZZ_CHECK(count == n);
	FUZZ_CHECK(http_find_header(req, name, NULL) == first);
}

static void
check_upgrade(const char *buf, size_t n, const struct http_request *req)
{
	struct ws_upgrade up;
	bool want_up = false, want_conn = false;
	size_t i, cnt;
	int status;

	for (i = 0; i < req->nheaders; i++) {
		const struct http_header *h = &req->headers[i];

		if (ci_eq(h->name, h->name_len, "Upgrade", 7) &&
		    ref_list_has_token(h->value, h->value_len, "websocket"))
			want_up = true;
		if (ci_eq(h->name, h->name_len, "Connection", 10) &&
		    ref_list_has_token(h->value, h->value_len, "upgrade"))
			want_conn = true;
	}
	FUZZ_CHECK(ws_is_upgrade(req) == (want_up && want_conn));

	memset(&up, 0xa5, sizeof(up));
	status = ws_check_upgrade(req, &up);
	if (status != 0) {
		FUZZ_CHECK(status == 400 || status == 405 || status == 426);
		return;
	}
	/* Accepted: everything the RFC requires is there. */
	FUZZ_CHECK(req->method_len == 3 && memcmp(req->method, "GET", 3) == 0);
	FUZZ_CHECK(req->version_minor == 1);
	FUZZ_CHECK(http_find_header(req, "Host", &cnt) != NULL && cnt == 1);
	FUZZ_CHECK(http_find_header(req, "Sec-WebSocket-Key", &cnt) != NULL &&
	    cnt == 1);
	FUZZ_CHECK(http_find_header(req, "Sec-WebSocket-Version", &cnt) !=
	    NULL && cnt == 1);
	http_find_header(req, "Origin", &cnt);
	FUZZ_CHECK(cnt <= 1);
	FUZZ_CHECK(fuzz_inside(up.key, up.key_len, buf, n));
	FUZZ_CHECK(up.key_len == 24 && up.key[22] == '=' && up.key[23] == '=');
	FUZZ_CHECK(fuzz_inside(up.host, up.host_len, buf, n) &&
	    up.host_len > 0);
	FUZZ_CHECK(up.origin == NULL ||
	    fuzz_inside(up.origin, up.origin_len, buf, n));
	FUZZ_CHECK(up.protocols == NULL ||
	    fuzz_inside(up.protocols, up.protocols_len, buf, n));

	{
		char accept[WS_ACCEPT_LEN + 8];

		memset(accept, 'X', sizeof(accept));
		FUZZ_CHECK(ws_accept_key(up.key, up.key_len, accept) == 0);
		FUZZ_CHECK(strlen(accept) == WS_ACCEPT_LEN);
		FUZZ_CHECK(accept[WS_ACCEPT_LEN - 1] == '=');
		for (i = 0; i + 1 < WS_ACCEPT_LEN; i++)
			FUZZ_CHECK(isalnum((unsigned char)accept[i]) ||
			    accept[i] == '+' || accept[i] == '/');
	}

	/* Origin policy. */
	{
		static const char *const star[] = { "*" };
		static const char *const other[] = { "https://example.invalid" };
		const char *self[1];
		bool same;

		same = ws_origin_allowed(&up, NULL, 0);
		FUZZ_CHECK(ws_origin_allowed(&up, star, 1));
		if (up.origin == NULL) {
			FUZZ_CHECK(same);
			FUZZ_CHECK(ws_origin_allowed(&up, other, 1));
		} else {
			char *o = fuzz_strndup(up.origin, up.origin_len);

			self[0] = o;
			if (strlen(o) == up.origin_len)
				FUZZ_CHECK(ws_origin_allowed(&up, self, 1));
			FUZZ_CHECK(ws_origin_allowed(&up, other, 1) ==
			    ci_eq(up.origin, up.origin_len, other[0],
			    strlen(other[0])));
			/* A same-host origin names the scheme. */
			if (same)
				FUZZ_CHECK(up.origin_len > 7 &&
				    (ci_eq(up.origin, 7, "http://", 7) ||
				    ci_eq(up.origin, 8, "https://", 8)));
			free(o);
		}
	}

	/* Subprotocols: the first offered one that we have. */
	if (up.protocols != NULL) {
		const char *p = up.protocols, *ours[2];
		size_t len = up.protocols_len, b = 0, e;
		int pick;

		while (b < len && (p[b] == ',' || is_blank((unsigned char)p[b])))
			b++;
		for (e = b; e < len && p[e] != ','; e++)
			continue;
		while (e > b && is_blank((unsigned char)p[e - 1]))
			e--;
		ours[0] = "fuzz-none-such";
		if (e > b) {
			char *first = fuzz_strndup(p + b, e - b);

			ours[1] = first;
			pick = ws_pick_subprotocol(p, len, ours, 2);
			FUZZ_CHECK(pick == (strcmp(first, ours[0]) == 0 ? 0 :
			    1));
			free(first);
		} else {
			FUZZ_CHECK(ws_pick_subprotocol(p, len, ours, 1) == -1);
		}
	}
}

static void
check_helpers(const char *buf, size_t n, const struct http_request *req)
{
	size_t i;

	for (i = 0; lookup_names[i] != NULL; i++)
		check_find_header(req, lookup_names[i]);
	for (i = 0; i < req->nheaders; i++) {
		const struct http_header *h = &req->headers[i];
		char *name = fuzz_strndup(h->name, h->name_len);
		struct list_ctx l = { h->value, h->value_len };
		static const char *const tokens[] = {
			"websocket", "upgrade", "keep-alive", "close", ""
		};
		size_t t;

		check_find_header(req, name);
		free(name);
		split(h->value, h->value_len, ',', true, list_element_found, &l);
		for (t = 0; t < sizeof(tokens) / sizeof(tokens[0]); t++)
			FUZZ_CHECK(http_list_has_token(h->value, h->value_len,
			    tokens[t]) == ref_list_has_token(h->value,
			    h->value_len, tokens[t]));
		if (ci_eq(h->name, h->name_len, "Cookie", 6)) {
			struct pair_ctx p = { h->value, h->value_len, true };

			split(h->value, h->value_len, ';', true, pair_element,
			    &p);
			check_pair_find(h->value, h->value_len, "id", true);
		}
	}
	check_percent_decode(req->path, req->path_len, false);
	if (req->query != NULL) {
		struct pair_ctx p = { req->query, req->query_len, false };

		split(req->query, req->query_len, '&', false, pair_element, &p);
		check_pair_find(req->query, req->query_len, "id", false);
		check_percent_decode(req->query, req->query_len, true);
	}
	check_upgrade(buf, n, req);
}

/*
 * Parse buf[0..k) from a block that ends right after it, so a read past
 * k is a heap overflow ASan reports.
 */
static int
parse_prefix(char *block, size_t blen, const char *buf, size_t k,
    struct http_header *hdrs, size_t maxh)
{
	struct http_request req;

	memcpy(block + blen - k, buf, k);
	return http_parse_request(block + blen - k, k, &req, hdrs, maxh);
}

static void
check_prefixes(const char *buf, size_t size, int full, const uint8_t *data,
    struct http_header *hdrs)
{
	size_t lim = full > 0 ? (size_t)full : size, k, s;
	char *block;
	bool failed = false;
	int r;

	if (lim == 0)
		return;
	block = malloc(lim);
	FUZZ_CHECK(block != NULL);
	for (s = 0; s < (lim <= PREFIX_ALL ? lim + 1 : PREFIX_SAMPLES); s++) {
		if (lim <= PREFIX_ALL)
			k = s;
		else if (s + 2 >= PREFIX_SAMPLES)	/* lim - 1, lim */
			k = lim - (PREFIX_SAMPLES - 1 - s);
		else	/* increasing, data-derived */
			k = (lim * s + data[s % size]) / PREFIX_SAMPLES;
		if (k > lim)
			k = lim;
		r = parse_prefix(block, lim, buf, k, hdrs, MAXH);
		if (full > 0) {
			if (k < lim && r != HTTP_PARSE_INCOMPLETE)
				FUZZ_FAIL("prefix %zu of a %d-byte head gave %d",
				    k, full, r);
			if (k == lim && r != full)
				FUZZ_FAIL("head alone gave %d, not %d", r, full);
		} else if (full == HTTP_PARSE_INCOMPLETE) {
			if (r != HTTP_PARSE_INCOMPLETE)
				FUZZ_FAIL("prefix %zu of an incomplete head "
				    "gave %d", k, r);
		} else {
			/* Once rejected, rejected the same way for good. */
			if (r != HTTP_PARSE_INCOMPLETE && r != full)
				FUZZ_FAIL("prefix %zu gave %d, the whole %d",
				    k, r, full);
			if (failed && r != full)
				FUZZ_FAIL("prefix %zu gave %d after an "
				    "earlier prefix was rejected", k, r);
			if (r == full)
				failed = true;
		}
	}
	free(block);
}

/*
 * The same request, offset for offset, from two buffers holding the same
 * head.
 */
static void
check_same_request(const char *a, const struct http_request *ra,
    const char *b, const struct http_request *rb)
{
	size_t i;

	FUZZ_CHECK(ra->method - a == rb->method - b);
	FUZZ_CHECK(ra->method_len == rb->method_len);
	FUZZ_CHECK(ra->target - a == rb->target - b);
	FUZZ_CHECK(ra->target_len == rb->target_len);
	FUZZ_CHECK(ra->path - a == rb->path - b);
	FUZZ_CHECK(ra->path_len == rb->path_len);
	FUZZ_CHECK((ra->query == NULL) == (rb->query == NULL));
	if (ra->query != NULL)
		FUZZ_CHECK(ra->query - a == rb->query - b);
	FUZZ_CHECK(ra->query_len == rb->query_len);
	FUZZ_CHECK(ra->version_minor == rb->version_minor);
	FUZZ_CHECK(ra->nheaders == rb->nheaders);
	for (i = 0; i < ra->nheaders; i++) {
		const struct http_header *ha = &ra->headers[i];
		const struct http_header *hb = &rb->headers[i];

		FUZZ_CHECK(ha->name - a == hb->name - b);
		FUZZ_CHECK(ha->name_len == hb->name_len);
		FUZZ_CHECK(ha->value - a == hb->value - b);
		FUZZ_CHECK(ha->value_len == hb->value_len);
	}
}

/*
 * Feed buf[0..size) to one http_parser in pieces whose sizes come from a
 * generator seeded by the input (sometimes a byte at a time, sometimes
 * empty), as reads would bring it.  Each call sees the bytes so far at
 * the end of a heap block, at a different address from the last call's,
 * so a read past them or a pointer kept from an earlier call is caught.
 * want and wreq are the one-shot parse with the same max_headers.
 */
static void
check_pieces(const char *buf, size_t size, size_t maxh, int want,
    const char *wbuf, const struct http_request *wreq)
{
	struct http_parser hp;
	struct http_request req;
	struct http_header *hdrs;
	uint32_t seed = 2166136261u;
	size_t k = 0, step, most, i;
	char *block;
	int r = HTTP_PARSE_INCOMPLETE, prev = HTTP_PARSE_INCOMPLETE;

	for (i = 0; i < size; i++)
		seed = (seed ^ (unsigned char)buf[i]) * 16777619u;
	seed ^= (uint32_t)maxh;
	switch (seed >> 30) {
	case 0:
		most = 1;
		break;
	case 1:
		most = 8;
		break;
	case 2:
		most = 64;
		break;
	default:
		most = size > 0 ? size : 1;
		break;
	}
	/* Bounded work: about PIECES_MAX calls, whatever the size. */
	if (most < size / PIECES_MAX + 1)
		most = size / PIECES_MAX + 1;

	block = malloc(size + PIECES_MAX + 2);
	FUZZ_CHECK(block != NULL);
	hdrs = maxh > 0 ? calloc(maxh, sizeof(*hdrs)) : NULL;
	memset(&req, 0, sizeof(req));
	http_parser_init(&hp);
	for (i = 0;; i++) {
		char *at;

		/* The bytes so far end the block, one byte further each call. */
		at = block + (size + PIECES_MAX + 2 - k) - (i % PIECES_MAX) - 1;
		memcpy(at, buf, k);
		r = http_parser_execute(&hp, at, k, &req, hdrs, maxh);
		FUZZ_CHECK(hp.steps <= k);
		if (prev != HTTP_PARSE_INCOMPLETE && r != prev)
			FUZZ_FAIL("resumed: %d after %d at %zu bytes", r, prev,
			    k);
		if (r != HTTP_PARSE_INCOMPLETE && r != want)
			FUZZ_FAIL("resumed: %d at %zu bytes, one-shot %d", r, k,
			    want);
		if (r > 0) {
			FUZZ_CHECK(req.headers == hdrs);
			check_same_request(at, &req, wbuf, wreq);
		}
		prev = r;
		if (k == size)
			break;
		seed = seed * 1103515245u + 12345u;
		step = (seed >> 8) % (most + 1);	/* 0: an empty read */
		if (step > size - k)
			step = size - k;
		k += step;
	}
	FUZZ_CHECK(r == want);
	free(hdrs);
	free(block);
}

/* The helpers on raw bytes (NULs and all), not only on parsed heads. */
static void
check_raw(const uint8_t *data, size_t size)
{
	static const char *const ours[] = { "chat", "superchat", "" };
	char *s = fuzz_dup(data, size);
	const char *v;
	size_t vl;
	int pick;

	check_percent_decode(s, size, size > 0 && (data[0] & 1));
	FUZZ_CHECK(http_list_has_token(s, size, "websocket") ==
	    ref_list_has_token(s, size, "websocket"));
	FUZZ_CHECK(http_list_has_token(s, size, "") == false);
	check_pair_find(s, size, "a", false);
	check_pair_find(s, size, "a", true);
	FUZZ_CHECK(!http_query_find(s, size, "", &v, &vl));
	FUZZ_CHECK(!http_cookie_find(s, size, "", &v, &vl));
	pick = ws_pick_subprotocol(s, size, ours, 3);
	FUZZ_CHECK(pick >= -1 && pick <= 1);
	FUZZ_CHECK(http_token_eq(s, size, "GET") == ci_eq(s, size, "GET", 3));
	free(s);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct http_header *hdrs, *small;
	struct http_request req;
	size_t maxh2;
	char *buf;
	int r, r2;

	check_raw(data, size);

	buf = fuzz_dup(data, size);
	hdrs = calloc(MAXH, sizeof(*hdrs));
	FUZZ_CHECK(hdrs != NULL);
	r = http_parse_request(buf, size, &req, hdrs, MAXH);
	FUZZ_CHECK(r == HTTP_PARSE_INCOMPLETE || r == HTTP_PARSE_MALFORMED ||
	    r == HTTP_PARSE_TOO_MANY_HEADERS || r == HTTP_PARSE_BAD_VERSION ||
	    (r > 0 && (size_t)r <= size));
	if (r > 0) {
		check_head(buf, r, &req, hdrs, MAXH);
		check_helpers(buf, (size_t)r, &req);
	}

	/* The same again: a fresh parse, the same answer. */
	{
		struct http_request again;

		FUZZ_CHECK(http_parse_request(buf, size, &again, hdrs, MAXH) ==
		    r);
	}

	/* A smaller header budget: exactly max_headers are accepted. */
	maxh2 = size > 0 ? data[size - 1] % 9 : 0;
	small = maxh2 > 0 ? malloc(maxh2 * sizeof(*small)) : NULL;
	r2 = http_parse_request(buf, size, &req, small, maxh2);
	if (r > 0) {
		struct http_request full;

		http_parse_request(buf, size, &full, hdrs, MAXH);
		if (full.nheaders <= maxh2)
			FUZZ_CHECK(r2 == r);
		else
			FUZZ_CHECK(r2 == HTTP_PARSE_TOO_MANY_HEADERS);
	} else if (r == HTTP_PARSE_TOO_MANY_HEADERS) {
		FUZZ_CHECK(r2 == HTTP_PARSE_TOO_MANY_HEADERS);
	} else if (r2 != r) {
		FUZZ_CHECK(r2 == HTTP_PARSE_TOO_MANY_HEADERS);
	}

	/* Resumed in pieces, with both budgets: the same verdicts. */
	{
		struct http_request full, part;

		(void)http_parse_request(buf, size, &full, hdrs, MAXH);
		check_pieces(buf, size, MAXH, r, buf, &full);
		(void)http_parse_request(buf, size, &part, small, maxh2);
		check_pieces(buf, size, maxh2, r2, buf, &part);
	}
	free(small);

	check_prefixes(buf, size, r, data, hdrs);

	free(hdrs);
	free(buf);
	return 0;
}

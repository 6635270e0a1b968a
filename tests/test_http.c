/*
 * Unit tests for src/http.c: the request-head parser and its helpers.
 *
 * Every parse runs on a heap copy of exactly the bytes under test, so a
 * read past len shows up under AddressSanitizer or valgrind.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "http.h"

#define MAXH	16

/* A string literal and its length, NUL bytes inside included. */
#define S(lit)	{ (lit), sizeof(lit) - 1 }

struct bytes {
	const char	*s;
	size_t		 len;
};

struct parsed {
	char			*buf;
	struct http_request	 req;
	struct http_header	 hdr[MAXH];
	int			 r;
};

/* Parse a fresh exact-size copy of s[0..len); the copy stays in p->buf. */
static int
parse_copy(struct parsed *p, const char *s, size_t len, size_t max_headers)
{
	p->buf = malloc(len > 0 ? len : 1);
	assert_non_null(p->buf);
	memcpy(p->buf, s, len);
	p->r = http_parse_request(p->buf, len, &p->req, p->hdr, max_headers);
	return p->r;
}

static void
parsed_free(struct parsed *p)
{
	free(p->buf);
	p->buf = NULL;
}

static void	check_pieces(const char *, size_t, size_t);

static int
parse_str(const char *s, size_t len)
{
	struct parsed p;
	int r;

	r = parse_copy(&p, s, len, MAXH);
	parsed_free(&p);
	return r;
}

static void
assert_span(const char *got, size_t got_len, const char *want)
{
	assert_non_null(got);
	assert_int_equal(got_len, strlen(want));
	assert_memory_equal(got, want, got_len);
}

static void
assert_header(const struct http_header *h, const char *name,
    const char *value)
{
	assert_span(h->name, h->name_len, name);
	assert_span(h->value, h->value_len, value);
}

/* ---------------------------------------------------------------- good */

static void
test_minimal(void **state)
{
	static const char head[] = "GET / HTTP/1.1\r\n\r\n";
	struct parsed p;

	assert_int_equal(parse_copy(&p, head, sizeof(head) - 1, MAXH),
	    (int)sizeof(head) - 1);
	assert_span(p.req.method, p.req.method_len, "GET");
	assert_span(p.req.target, p.req.target_len, "/");
	assert_span(p.req.path, p.req.path_len, "/");
	assert_null(p.req.query);
	assert_int_equal(p.req.query_len, 0);
	assert_int_equal(p.req.version_minor, 1);
	assert_int_equal(p.req.nheaders, 0);
	assert_ptr_equal(p.req.headers, p.hdr);
	parsed_free(&p);
}

static void
test_http10(void **state)
{
	static const char head[] = "GET /index.html HTTP/1.0\r\n\r\n";
	struct parsed p;

	assert_int_equal(parse_copy(&p, head, sizeof(head) - 1, MAXH),
	    (int)sizeof(head) - 1);
	assert_int_equal(p.req.version_minor, 0);
	assert_span(p.req.path, p.req.path_len, "/index.html");
	assert_null(p.req.query);
	parsed_free(&p);
}

static void
test_many_headers(void **state)
{
	static const char head[] =
	    "GET /chat HTTP/1.1\r\n"
	    "Host: example.com:8888\r\n"
	    "Upgrade: websocket\r\n"
	    "Connection: keep-alive, Upgrade\r\n"
	    "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
	    "Origin: http://example.com\r\n"
	    "Sec-WebSocket-Protocol: chat, superchat\r\n"
	    "Sec-WebSocket-Version: 13\r\n"
	    "X-Blanks: \t  padded value \t \r\n"
	    "X-Empty:\r\n"
	    "X-Only-Blanks:   \t \r\n"
	    "X-Tight:tight\r\n"
	    "X-Odd!#$%&'*+-.^_`|~: v\r\n"
	    "X-Obs-Text: caf\xc3\xa9 \x80\xff\r\n"
	    "\r\n";
	struct parsed p;

	assert_int_equal(parse_copy(&p, head, sizeof(head) - 1, MAXH),
	    (int)sizeof(head) - 1);
	assert_span(p.req.path, p.req.path_len, "/chat");
	assert_int_equal(p.req.nheaders, 13);
	assert_header(&p.hdr[0], "Host", "example.com:8888");
	assert_header(&p.hdr[1], "Upgrade", "websocket");
	assert_header(&p.hdr[2], "Connection", "keep-alive, Upgrade");
	assert_header(&p.hdr[3], "Sec-WebSocket-Key",
	    "dGhlIHNhbXBsZSBub25jZQ==");
	assert_header(&p.hdr[4], "Origin", "http://example.com");
	assert_header(&p.hdr[5], "Sec-WebSocket-Protocol", "chat, superchat");
	assert_header(&p.hdr[6], "Sec-WebSocket-Version", "13");
	assert_header(&p.hdr[7], "X-Blanks", "padded value");
	assert_header(&p.hdr[8], "X-Empty", "");
	assert_header(&p.hdr[9], "X-Only-Blanks", "");
	assert_header(&p.hdr[10], "X-Tight", "tight");
	assert_header(&p.hdr[11], "X-Odd!#$%&'*+-.^_`|~", "v");
	assert_header(&p.hdr[12], "X-Obs-Text", "caf\xc3\xa9 \x80\xff");
	/* Pointers go into the caller's buffer: nothing is copied. */
	assert_true(p.hdr[0].name > p.buf &&
	    p.hdr[0].name < p.buf + sizeof(head));
	parsed_free(&p);
}

static void
test_query_split(void **state)
{
	static const struct {
		const char	*head;
		const char	*path;
		const char	*query;		/* NULL: no '?' */
	} cases[] = {
		{ "GET /chat?room=1&x=%20 HTTP/1.1\r\n\r\n", "/chat",
		    "room=1&x=%20" },
		{ "GET /? HTTP/1.1\r\n\r\n", "/", "" },
		{ "GET /a?b?c=d HTTP/1.1\r\n\r\n", "/a", "b?c=d" },
		{ "GET /a/b/c.html HTTP/1.1\r\n\r\n", "/a/b/c.html", NULL },
		{ "GET //x HTTP/1.1\r\n\r\n", "//x", NULL },
		{ "GET /%7Euser/!$&'()*+,;=:@ HTTP/1.1\r\n\r\n",
		    "/%7Euser/!$&'()*+,;=:@", NULL },
	};
	struct parsed p;
	size_t i, len;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		len = strlen(cases[i].head);
		assert_int_equal(parse_copy(&p, cases[i].head, len, MAXH),
		    (int)len);
		assert_ptr_equal(p.req.target, p.buf + 4);
		assert_ptr_equal(p.req.path, p.req.target);
		assert_span(p.req.path, p.req.path_len, cases[i].path);
		if (cases[i].query == NULL) {
			assert_null(p.req.query);
			assert_int_equal(p.req.target_len, p.req.path_len);
		} else {
			assert_span(p.req.query, p.req.query_len,
			    cases[i].query);
			assert_int_equal(p.req.target_len,
			    p.req.path_len + 1 + p.req.query_len);
		}
		parsed_free(&p);
	}
}

static void
test_other_methods(void **state)
{
	static const char *const heads[] = {
		"POST /x HTTP/1.1\r\nContent-Length: 0\r\n\r\n",
		"DELETE /x HTTP/1.1\r\n\r\n",
		"get /x HTTP/1.1\r\n\r\n",	/* the parser keeps case */
		"M-SEARCH! /x HTTP/1.1\r\n\r\n",
	};
	size_t i, len;

	for (i = 0; i < sizeof(heads) / sizeof(heads[0]); i++) {
		len = strlen(heads[i]);
		assert_int_equal(parse_str(heads[i], len), (int)len);
	}
}

static void
test_pipelined_bytes_not_consumed(void **state)
{
	/* A head, then the start of a masked WebSocket frame. */
	static const char buf[] =
	    "GET / HTTP/1.1\r\nHost: h\r\n\r\n"
	    "\x81\x85\x37\xfa\x21\x3d\x7f\x9f\x4d\x51\x58";
	static const char head_only[] = "GET / HTTP/1.1\r\nHost: h\r\n\r\n";
	static const char second[] =
	    "GET /a HTTP/1.1\r\n\r\nGET /b HTTP/1.1\r\n\r\n";
	struct parsed p;

	assert_int_equal(parse_copy(&p, buf, sizeof(buf) - 1, MAXH),
	    (int)sizeof(head_only) - 1);
	assert_int_equal(p.req.nheaders, 1);
	parsed_free(&p);

	/* Two requests back to back: only the first is taken. */
	assert_int_equal(parse_copy(&p, second, sizeof(second) - 1, MAXH),
	    19);
	assert_span(p.req.path, p.req.path_len, "/a");
	parsed_free(&p);

	/* Garbage after the head is not looked at either. */
	assert_int_equal(parse_str("GET / HTTP/1.1\r\n\r\n\0\n\r \x01",
	    23), 18);
}

/* Every valid head, fed a byte at a time. */
static const struct bytes valid_heads[] = {
	S("GET / HTTP/1.1\r\n\r\n"),
	S("GET / HTTP/1.0\r\n\r\n"),
	S("GET /chat?a=1&b HTTP/1.1\r\n"
	    "Host: server.example.com\r\n"
	    "Upgrade: websocket\r\n"
	    "Connection: Upgrade\r\n"
	    "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
	    "Origin: http://example.com\r\n"
	    "Sec-WebSocket-Protocol: chat, superchat\r\n"
	    "Sec-WebSocket-Version: 13\r\n"
	    "\r\n"),
	S("GET /x HTTP/1.1\r\nA:\r\nB:  \t\r\nC:c\r\nD: d d \t\r\n\r\n"),
	S("OPTIONS /? HTTP/1.1\r\nX-Obs: \x80\xfe\xff\r\n\r\n"),
};

static void
test_growing_prefixes(void **state)
{
	struct parsed full, p;
	size_t i, n, k, len;

	for (i = 0; i < sizeof(valid_heads) / sizeof(valid_heads[0]); i++) {
		len = valid_heads[i].len;
		assert_int_equal(parse_copy(&full, valid_heads[i].s, len,
		    MAXH), (int)len);
		for (n = 0; n < len; n++) {
			assert_int_equal(parse_copy(&p, valid_heads[i].s, n,
			    MAXH), HTTP_PARSE_INCOMPLETE);
			parsed_free(&p);
		}
		/* The last byte completes it, with the same result. */
		assert_int_equal(parse_copy(&p, valid_heads[i].s, len, MAXH),
		    (int)len);
		assert_int_equal(p.req.nheaders, full.req.nheaders);
		assert_int_equal(p.req.version_minor,
		    full.req.version_minor);
		assert_int_equal(p.req.method_len, full.req.method_len);
		assert_int_equal(p.req.target_len, full.req.target_len);
		assert_int_equal(p.req.path_len, full.req.path_len);
		assert_int_equal(p.req.query_len, full.req.query_len);
		assert_int_equal(p.req.query == NULL, full.req.query == NULL);
		for (k = 0; k < p.req.nheaders; k++) {
			assert_int_equal(p.hdr[k].name - p.buf,
			    full.hdr[k].name - full.buf);
			assert_int_equal(p.hdr[k].name_len,
			    full.hdr[k].name_len);
			assert_int_equal(p.hdr[k].value - p.buf,
			    full.hdr[k].value - full.buf);
			assert_int_equal(p.hdr[k].value_len,
			    full.hdr[k].value_len);
		}
		parsed_free(&p);
		parsed_free(&full);
	}
}

static void
test_case_insensitive_names(void **state)
{
	static const char head[] =
	    "GET / HTTP/1.1\r\n"
	    "HOST: a\r\n"
	    "x-thing: 1\r\n"
	    "X-THING: 2\r\n"
	    "X-Thing: 3\r\n"
	    "\r\n";
	const struct http_header *h;
	struct parsed p;
	size_t count = 99;

	assert_int_equal(parse_copy(&p, head, sizeof(head) - 1, MAXH),
	    (int)sizeof(head) - 1);

	h = http_find_header(&p.req, "host", &count);
	assert_non_null(h);
	assert_int_equal(count, 1);
	assert_span(h->value, h->value_len, "a");

	h = http_find_header(&p.req, "X-Thing", &count);
	assert_non_null(h);
	assert_int_equal(count, 3);
	assert_span(h->value, h->value_len, "1");	/* the first one */

	h = http_find_header(&p.req, "x-thin", &count);
	assert_null(h);
	assert_int_equal(count, 0);
	assert_null(http_find_header(&p.req, "X-Thing-More", NULL));
	assert_non_null(http_find_header(&p.req, "x-thing", NULL));
	parsed_free(&p);
}

/* ---------------------------------------------------------------- bad */

struct bad_case {
	struct bytes	in;
	int		want;
};

static void
run_bad_cases(const struct bad_case *cases, size_t n)
{
	struct parsed p;
	size_t i, k;
	int r;

	for (i = 0; i < n; i++) {
		r = parse_copy(&p, cases[i].in.s, cases[i].in.len, MAXH);
		if (r != cases[i].want)
			print_error("case %zu: got %d, want %d\n", i, r,
			    cases[i].want);
		assert_int_equal(r, cases[i].want);
		parsed_free(&p);

		/* No prefix of a bad head may pass as a good one. */
		for (k = 0; k < cases[i].in.len; k++) {
			assert_true(parse_copy(&p, cases[i].in.s, k,
			    MAXH) <= 0);
			parsed_free(&p);
		}

		check_pieces(cases[i].in.s, cases[i].in.len, MAXH);
	}
}

static void
test_bad_request_line(void **state)
{
	static const struct bad_case cases[] = {
		{ S("\r\n"), HTTP_PARSE_MALFORMED },
		{ S("\r\nGET / HTTP/1.1\r\n\r\n"), HTTP_PARSE_MALFORMED },
		{ S(" GET / HTTP/1.1\r\n\r\n"), HTTP_PARSE_MALFORMED },
		{ S("GET  / HTTP/1.1\r\n\r\n"), HTTP_PARSE_MALFORMED },
		{ S("GET\t/ HTTP/1.1\r\n\r\n"), HTTP_PARSE_MALFORMED },
		{ S("GET /  HTTP/1.1\r\n\r\n"), HTTP_PARSE_MALFORMED },
		{ S("GET / HTTP/1.1 \r\n\r\n"), HTTP_PARSE_MALFORMED },
		{ S("GET /\tHTTP/1.1\r\n\r\n"), HTTP_PARSE_MALFORMED },
		{ S("G(T / HTTP/1.1\r\n\r\n"), HTTP_PARSE_MALFORMED },
		{ S("GET\r\n\r\n"), HTTP_PARSE_MALFORMED },
		{ S("GET /\r\n\r\n"), HTTP_PARSE_MALFORMED },	/* 0.9 */
		/* Only origin-form targets. */
		{ S("GET http://example.com/ HTTP/1.1\r\n\r\n"),
		    HTTP_PARSE_MALFORMED },
		{ S("OPTIONS * HTTP/1.1\r\n\r\n"), HTTP_PARSE_MALFORMED },
		{ S("CONNECT example.com:443 HTTP/1.1\r\n\r\n"),
		    HTTP_PARSE_MALFORMED },
		{ S("GET a/b HTTP/1.1\r\n\r\n"), HTTP_PARSE_MALFORMED },
		{ S("GET /a#frag HTTP/1.1\r\n\r\n"), HTTP_PARSE_MALFORMED },
		{ S("GET /a\x7f HTTP/1.1\r\n\r\n"), HTTP_PARSE_MALFORMED },
		{ S("GET /\x80 HTTP/1.1\r\n\r\n"), HTTP_PARSE_MALFORMED },
		{ S("GET /\x01 HTTP/1.1\r\n\r\n"), HTTP_PARSE_MALFORMED },
		/* NUL bytes anywhere on the line. */
		{ S("\0GET / HTTP/1.1\r\n\r\n"), HTTP_PARSE_MALFORMED },
		{ S("GE\0T / HTTP/1.1\r\n\r\n"), HTTP_PARSE_MALFORMED },
		{ S("GET /\0 HTTP/1.1\r\n\r\n"), HTTP_PARSE_MALFORMED },
		{ S("GET / HTTP/1.1\0\r\n\r\n"), HTTP_PARSE_MALFORMED },
		{ S("GET / HTTP/1.\0\r\n\r\n"), HTTP_PARSE_MALFORMED },
		/* Line ends. */
		{ S("GET / HTTP/1.1\n\r\n"), HTTP_PARSE_MALFORMED },
		{ S("GET / HTTP/1.1\n\n"), HTTP_PARSE_MALFORMED },
		{ S("GET / HTTP/1.1\r\r\n"), HTTP_PARSE_MALFORMED },
		{ S("GET / HTTP/1.1\rX\n\r\n"), HTTP_PARSE_MALFORMED },
		/* Versions that are not even of the form HTTP/x.y. */
		{ S("GET / http/1.1\r\n\r\n"), HTTP_PARSE_MALFORMED },
		{ S("GET / HTTP/1\r\n\r\n"), HTTP_PARSE_MALFORMED },
		{ S("GET / HTTP/2\r\n\r\n"), HTTP_PARSE_MALFORMED },
		{ S("GET / HTTP/11\r\n\r\n"), HTTP_PARSE_MALFORMED },
		{ S("GET / HTTP/1.1x\r\n\r\n"), HTTP_PARSE_MALFORMED },
		{ S("GET / HTTP/1.10\r\n\r\n"), HTTP_PARSE_MALFORMED },
		{ S("GET / HTTP/a.b\r\n\r\n"), HTTP_PARSE_MALFORMED },
		{ S("GET / HTTPS/1.1\r\n\r\n"), HTTP_PARSE_MALFORMED },
		{ S("GET / HTTP/1.1"), HTTP_PARSE_INCOMPLETE },
		/* Well-formed, but not a version we speak. */
		{ S("GET / HTTP/2.0\r\n\r\n"), HTTP_PARSE_BAD_VERSION },
		{ S("GET / HTTP/0.9\r\n\r\n"), HTTP_PARSE_BAD_VERSION },
		{ S("GET / HTTP/1.2\r\n\r\n"), HTTP_PARSE_BAD_VERSION },
		{ S("GET / HTTP/3.1\r\n\r\n"), HTTP_PARSE_BAD_VERSION },
		/* Known as soon as the request line ends. */
		{ S("GET / HTTP/2.0\r\n"), HTTP_PARSE_BAD_VERSION },
	};

	run_bad_cases(cases, sizeof(cases) / sizeof(cases[0]));
}

static void
test_bad_headers(void **state)
{
#define RL "GET / HTTP/1.1\r\n"
	static const struct bad_case cases[] = {
		/* Whitespace between the name and the colon. */
		{ S(RL "Host : h\r\n\r\n"), HTTP_PARSE_MALFORMED },
		{ S(RL "Host\t: h\r\n\r\n"), HTTP_PARSE_MALFORMED },
		/* obs-fold, and lines starting with blanks. */
		{ S(RL "X: a\r\n b\r\n\r\n"), HTTP_PARSE_MALFORMED },
		{ S(RL "X: a\r\n\tb\r\n\r\n"), HTTP_PARSE_MALFORMED },
		{ S(RL " X: a\r\n\r\n"), HTTP_PARSE_MALFORMED },
		{ S(RL " \r\n\r\n"), HTTP_PARSE_MALFORMED },
		/* Names. */
		{ S(RL ": a\r\n\r\n"), HTTP_PARSE_MALFORMED },
		{ S(RL "X a\r\n\r\n"), HTTP_PARSE_MALFORMED },
		{ S(RL "X\r\n\r\n"), HTTP_PARSE_MALFORMED },
		{ S(RL "X(y): a\r\n\r\n"), HTTP_PARSE_MALFORMED },
		{ S(RL "X/y: a\r\n\r\n"), HTTP_PARSE_MALFORMED },
		{ S(RL "X\x80: a\r\n\r\n"), HTTP_PARSE_MALFORMED },
		/* NUL bytes. */
		{ S(RL "X\0: a\r\n\r\n"), HTTP_PARSE_MALFORMED },
		{ S(RL "X: a\0b\r\n\r\n"), HTTP_PARSE_MALFORMED },
		{ S(RL "X: \0\r\n\r\n"), HTTP_PARSE_MALFORMED },
		{ S(RL "\0\r\n\r\n"), HTTP_PARSE_MALFORMED },
		/* Bare LF and bare CR. */
		{ S(RL "X: a\nY: b\r\n\r\n"), HTTP_PARSE_MALFORMED },
		{ S(RL "X: a\r\n\n"), HTTP_PARSE_MALFORMED },
		{ S(RL "\n"), HTTP_PARSE_MALFORMED },
		{ S(RL "X: a\n\n"), HTTP_PARSE_MALFORMED },
		{ S(RL "X: a\rY: b\r\n\r\n"), HTTP_PARSE_MALFORMED },
		{ S(RL "X: a\r\rY: b\r\n\r\n"), HTTP_PARSE_MALFORMED },
		{ S(RL "X: a\r\n\rY: b\r\n\r\n"), HTTP_PARSE_MALFORMED },
		{ S(RL "X: a\r\n\r\r\n"), HTTP_PARSE_MALFORMED },
		/* Other control characters in values. */
		{ S(RL "X: a\x01" "b\r\n\r\n"), HTTP_PARSE_MALFORMED },
		{ S(RL "X: a\x1b[0m\r\n\r\n"), HTTP_PARSE_MALFORMED },
		{ S(RL "X: a\x7f\r\n\r\n"), HTTP_PARSE_MALFORMED },
		{ S(RL "X: a\x0b\r\n\r\n"), HTTP_PARSE_MALFORMED },
		{ S(RL "X: a\x0c\r\n\r\n"), HTTP_PARSE_MALFORMED },
		/* Incomplete, not yet wrong. */
		{ S(RL "X: a\r\n\r"), HTTP_PARSE_INCOMPLETE },
		{ S(RL "X: a\r"), HTTP_PARSE_INCOMPLETE },
		{ S(RL "X:"), HTTP_PARSE_INCOMPLETE },
	};
#undef RL

	run_bad_cases(cases, sizeof(cases) / sizeof(cases[0]));
}

static void
test_malformed_early(void **state)
{
	/* No terminator anywhere, but already unacceptable. */
	static const struct bytes early[] = {
		S("GE\0"),
		S("GET /\0"),
		S("GET http:"),
		S("GET / HTTP/1.1\n"),
		S("GET / HTTP/1.1\r\nX: a\0"),
		S("GET / HTTP/1.1\r\nX: a\rY"),
		S("GET / HTTP/1.1\r\nX : "),
		S("GET / HTTP/1.1\r\nX: a\r\n b"),
		S("GET / FTP/"),
	};
	size_t i;

	for (i = 0; i < sizeof(early) / sizeof(early[0]); i++)
		assert_int_equal(parse_str(early[i].s, early[i].len),
		    HTTP_PARSE_MALFORMED);
}

/* Build a head with n headers "Hk: vk"; terminated when end is set. */
static char *
make_head(size_t n, bool end, size_t *len)
{
	size_t cap = 64 + n * 32, off = 0, i;
	char *s;

	s = malloc(cap);
	assert_non_null(s);
	off += (size_t)snprintf(s + off, cap - off, "GET / HTTP/1.1\r\n");
	for (i = 0; i < n; i++)
		off += (size_t)snprintf(s + off, cap - off, "H%zu: v%zu\r\n",
		    i, i);
	if (end)
		off += (size_t)snprintf(s + off, cap - off, "\r\n");
	*len = off;
	return s;
}

static void
test_too_many_headers(void **state)
{
	struct parsed p;
	size_t len;
	char *s;

	/* Exactly max is fine. */
	s = make_head(4, true, &len);
	assert_int_equal(parse_copy(&p, s, len, 4), (int)len);
	assert_int_equal(p.req.nheaders, 4);
	assert_header(&p.hdr[3], "H3", "v3");
	parsed_free(&p);
	free(s);

	/* max + 1 is not. */
	s = make_head(5, true, &len);
	assert_int_equal(parse_copy(&p, s, len, 4),
	    HTTP_PARSE_TOO_MANY_HEADERS);
	parsed_free(&p);
	assert_int_equal(parse_copy(&p, s, len, 5), (int)len);
	parsed_free(&p);

	/*
	 * Cut off on the first byte of the fifth line: the flood is
	 * refused before the head is complete.  One byte less is still
	 * merely incomplete.
	 */
	len = strlen("GET / HTTP/1.1\r\n") + 4 * strlen("Hk: vk\r\n");
	assert_int_equal(parse_copy(&p, s, len + 1, 4),
	    HTTP_PARSE_TOO_MANY_HEADERS);
	parsed_free(&p);
	assert_int_equal(parse_copy(&p, s, len, 4), HTTP_PARSE_INCOMPLETE);
	parsed_free(&p);
	free(s);

	/* A long unterminated flood. */
	s = make_head(1000, false, &len);
	assert_int_equal(parse_copy(&p, s, len, MAXH),
	    HTTP_PARSE_TOO_MANY_HEADERS);
	parsed_free(&p);
	free(s);

	/* max_headers 0: no header array needed, none allowed. */
	assert_int_equal(http_parse_request("GET / HTTP/1.1\r\n\r\n", 18,
	    &p.req, NULL, 0), 18);
	assert_int_equal(http_parse_request("GET / HTTP/1.1\r\nX: y\r\n\r\n",
	    24, &p.req, NULL, 0), HTTP_PARSE_TOO_MANY_HEADERS);
}

/*
 * Random corruptions of valid heads: whatever the verdict, it must be
 * consistent, and the sanitizers watch the reads.
 */
static void
test_mutations(void **state)
{
	static const char noise[] = "\0\r\n \t:/?#\x7f\x80\xff" "aZ0";
	struct parsed p;
	uint32_t seed = 12345;
	size_t i, j, n, len, pos;
	char *s;
	int r;

	for (i = 0; i < 4000; i++) {
		const struct bytes *v = &valid_heads[i %
		    (sizeof(valid_heads) / sizeof(valid_heads[0]))];

		len = v->len;
		s = malloc(len);
		assert_non_null(s);
		memcpy(s, v->s, len);
		n = 1 + i % 3;
		for (j = 0; j < n; j++) {
			seed = seed * 1103515245u + 12345u;
			pos = (seed >> 8) % len;
			seed = seed * 1103515245u + 12345u;
			s[pos] = noise[(seed >> 8) % (sizeof(noise) - 1)];
		}
		seed = seed * 1103515245u + 12345u;
		len -= (seed >> 8) % 4;
		r = parse_copy(&p, s, len, MAXH);
		assert_true(r <= (int)len);
		assert_true(r >= HTTP_PARSE_BAD_VERSION);
		if (r > 0) {
			assert_memory_equal(p.buf + r - 4, "\r\n\r\n", 4);
			for (j = 0; j < p.req.nheaders; j++) {
				assert_true(p.hdr[j].name_len > 0);
				assert_true(p.hdr[j].value + p.hdr[j].value_len
				    <= p.buf + r);
				assert_null(memchr(p.hdr[j].value, '\0',
				    p.hdr[j].value_len));
				assert_null(memchr(p.hdr[j].value, '\r',
				    p.hdr[j].value_len));
				assert_null(memchr(p.hdr[j].value, '\n',
				    p.hdr[j].value_len));
			}
		}
		parsed_free(&p);
		free(s);
	}
}

/* ---------------------------------------------------------------- resumable */

/* Parse s[0..len) with a fresh parser in one call, as a server would. */
static int
parse_fresh(struct parsed *p, struct http_parser *hp, const char *s,
    size_t len, size_t max_headers)
{
	p->buf = malloc(len > 0 ? len : 1);
	assert_non_null(p->buf);
	memcpy(p->buf, s, len);
	memset(&p->req, 0, sizeof(p->req));
	http_parser_init(hp);
	p->r = http_parser_execute(hp, p->buf, len, &p->req, p->hdr,
	    max_headers);
	return p->r;
}

/*
 * Give the parser hp the first len bytes of s in a fresh heap copy (the
 * last one freed), so that the buffer moves between calls as a
 * connection's does and a stale pointer shows up under ASan or valgrind.
 */
static int
parse_more(struct parsed *p, struct http_parser *hp, const char *s,
    size_t len, size_t max_headers)
{
	free(p->buf);
	p->buf = malloc(len > 0 ? len : 1);
	assert_non_null(p->buf);
	memcpy(p->buf, s, len);
	p->r = http_parser_execute(hp, p->buf, len, &p->req, p->hdr,
	    max_headers);
	return p->r;
}

static void
assert_offset(const struct parsed *a, const char *pa, size_t la,
    const struct parsed *b, const char *pb, size_t lb)
{
	assert_int_equal(la, lb);
	assert_int_equal(pa - a->buf, pb - b->buf);
}

/* The same verdict and, for a head, the same request at the same offsets. */
static void
assert_same_parse(const struct parsed *a, const struct parsed *b)
{
	size_t k;

	assert_int_equal(a->r, b->r);
	if (a->r <= 0)
		return;
	assert_ptr_equal(a->req.headers, a->hdr);
	assert_ptr_equal(b->req.headers, b->hdr);
	assert_offset(a, a->req.method, a->req.method_len,
	    b, b->req.method, b->req.method_len);
	assert_offset(a, a->req.target, a->req.target_len,
	    b, b->req.target, b->req.target_len);
	assert_offset(a, a->req.path, a->req.path_len,
	    b, b->req.path, b->req.path_len);
	assert_int_equal(a->req.query == NULL, b->req.query == NULL);
	if (a->req.query != NULL)
		assert_offset(a, a->req.query, a->req.query_len,
		    b, b->req.query, b->req.query_len);
	assert_int_equal(a->req.query_len, b->req.query_len);
	assert_int_equal(a->req.version_minor, b->req.version_minor);
	assert_int_equal(a->req.nheaders, b->req.nheaders);
	for (k = 0; k < a->req.nheaders; k++) {
		assert_offset(a, a->hdr[k].name, a->hdr[k].name_len,
		    b, b->hdr[k].name, b->hdr[k].name_len);
		assert_offset(a, a->hdr[k].value, a->hdr[k].value_len,
		    b, b->hdr[k].value, b->hdr[k].value_len);
	}
}

/*
 * Whatever the pieces s[0..len) arrives in, a resumed parse must end as
 * the one-shot parse does, and after each piece it must say what the
 * one-shot parse of the bytes so far says.  Tried: a byte at a time, two
 * pieces split at every position, an empty first call, and more calls
 * after the verdict (which is final).
 */
static void
check_pieces(const char *s, size_t len, size_t max_headers)
{
	struct http_parser hp, fhp;
	struct parsed whole, inc, pre;
	size_t k;

	parse_copy(&whole, s, len, max_headers);

	/* A byte at a time. */
	inc.buf = NULL;
	memset(&inc.req, 0, sizeof(inc.req));
	http_parser_init(&hp);
	for (k = 0; k <= len; k++) {
		parse_more(&inc, &hp, s, k, max_headers);
		parse_fresh(&pre, &fhp, s, k, max_headers);
		if (inc.r != pre.r)
			print_error("after %zu of %zu bytes: got %d, want "
			    "%d\n", k, len, inc.r, pre.r);
		assert_same_parse(&inc, &pre);
		parsed_free(&pre);
	}
	assert_same_parse(&inc, &whole);
	/* Asked again, with the same bytes elsewhere: the same answer. */
	parse_more(&inc, &hp, s, len, max_headers);
	assert_same_parse(&inc, &whole);
	parsed_free(&inc);

	/* Two pieces, split everywhere (k == 0: an empty first call). */
	for (k = 0; k <= len; k++) {
		inc.buf = NULL;
		memset(&inc.req, 0, sizeof(inc.req));
		http_parser_init(&hp);
		parse_more(&inc, &hp, s, k, max_headers);
		parse_more(&inc, &hp, s, len, max_headers);
		assert_same_parse(&inc, &whole);
		parsed_free(&inc);
	}
	parsed_free(&whole);
}

static void
test_pieces_valid(void **state)
{
	size_t i, len;
	char *s;

	for (i = 0; i < sizeof(valid_heads) / sizeof(valid_heads[0]); i++)
		check_pieces(valid_heads[i].s, valid_heads[i].len, MAXH);

	/* Header budgets: exactly full, one over, none at all. */
	s = make_head(4, true, &len);
	check_pieces(s, len, 4);
	check_pieces(s, len, 3);
	check_pieces(s, len, 0);
	free(s);
	s = make_head(40, false, &len);
	check_pieces(s, len, MAXH);
	free(s);
}

/*
 * The defect this parser was made for: a head sent a byte per read was
 * parsed from its first byte on every read, so it cost work quadratic in
 * its length.  Resumed, every byte is examined once.
 */
static char *
make_big_head(size_t want, size_t *len)
{
	size_t off = 0, i;
	char *s;

	s = malloc(want + 1);
	assert_non_null(s);
	/* A long target, many short headers, and one long value. */
	off += (size_t)snprintf(s + off, want + 1 - off, "GET /");
	for (i = 0; i < 1000; i++)
		s[off++] = "abc?=&/"[i % 7];
	off += (size_t)snprintf(s + off, want + 1 - off, " HTTP/1.1\r\n");
	for (i = 0; i < 60; i++)
		off += (size_t)snprintf(s + off, want + 1 - off,
		    "X-Header-%02zu: %s\r\n", i,
		    "value value value value value value value value value");
	off += (size_t)snprintf(s + off, want + 1 - off, "X-Long: ");
	for (i = 0; off < want - 4; i++)
		s[off++] = "v \t"[i % 3];
	s[off - 1] = 'v';
	memcpy(s + off, "\r\n\r\n", 4);
	off += 4;
	assert_int_equal(off, want);
	*len = off;
	return s;
}

static void
test_trickle_is_linear(void **state)
{
	struct http_parser hp;
	struct http_request req;
	struct http_header *hdrs, *h;
	size_t len, k, naive = 0;
	char *s, *buf = NULL, *nb;
	int r;

	s = make_big_head(8192, &len);
	hdrs = calloc(128, sizeof(*hdrs));
	assert_non_null(hdrs);

	/* A byte per read into a growing buffer that realloc may move. */
	http_parser_init(&hp);
	for (k = 1; k <= len; k++) {
		nb = realloc(buf, k);
		assert_non_null(nb);
		buf = nb;
		buf[k - 1] = s[k - 1];
		r = http_parser_execute(&hp, buf, k, &req, hdrs, 128);
		assert_int_equal(r, k < len ? HTTP_PARSE_INCOMPLETE : (int)len);
	}
	assert_int_equal(req.nheaders, 61);
	assert_int_equal(req.target_len, 1001);
	h = &hdrs[60];
	assert_span(h->name, h->name_len, "X-Long");
	assert_true(h->value > buf && h->value + h->value_len < buf + len);
	assert_int_equal(h->value[0], 'v');
	print_message("8 KiB head a byte at a time: %zu steps resumed\n",
	    hp.steps);
	assert_true(hp.steps >= len);
	assert_true(hp.steps <= 2 * len);

	/* What starting from the first byte at every read costs. */
	for (k = 1; k <= len; k++) {
		http_parser_init(&hp);
		(void)http_parser_execute(&hp, buf, k, &req, hdrs, 128);
		naive += hp.steps;
	}
	print_message("8 KiB head a byte at a time: %zu steps from the "
	    "start each time\n", naive);
	assert_true(naive >= len * len / 2);

	free(buf);
	free(hdrs);
	free(s);
}

/* ---------------------------------------------------------------- helpers */

static void
test_token_eq(void **state)
{
	assert_true(http_token_eq("Upgrade", 7, "upgrade"));
	assert_true(http_token_eq("UPGRADE", 7, "Upgrade"));
	assert_true(http_token_eq("UpgradeXYZ", 7, "upgrade"));
	assert_false(http_token_eq("Upgrad", 6, "upgrade"));
	assert_false(http_token_eq("Upgrades", 8, "upgrade"));
	assert_false(http_token_eq("Upgrade", 7, "upgradf"));
	assert_true(http_token_eq("", 0, ""));
	assert_false(http_token_eq("a", 1, ""));
	assert_false(http_token_eq("", 0, "a"));
	/* Only ASCII letters fold. */
	assert_false(http_token_eq("\xc9", 1, "\xe9"));
	assert_false(http_token_eq("@", 1, "`"));
	assert_false(http_token_eq("a\0", 2, "a"));
}

static void
test_list_has_token(void **state)
{
	static const char *const yes[] = {
		"Upgrade",
		"upgrade",
		"keep-alive, Upgrade",
		"keep-alive,Upgrade",
		"Upgrade, keep-alive",
		"  upgrade  ",
		"\tUPGRADE\t,close",
		",,upgrade,",
		"a , , upgrade , b",
	};
	static const char *const no[] = {
		"",
		",",
		"keep-alive",
		"upgrades",
		"up grade",
		"upgrade-insecure",
		"\"upgrade\"",
		"keep-alive upgrade",
		"close, keep-alive",
	};
	size_t i;

	for (i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
		if (!http_list_has_token(yes[i], strlen(yes[i]), "upgrade"))
			fail_msg("\"%s\" should have upgrade", yes[i]);
	}
	for (i = 0; i < sizeof(no) / sizeof(no[0]); i++) {
		if (http_list_has_token(no[i], strlen(no[i]), "upgrade"))
			fail_msg("\"%s\" should not have upgrade", no[i]);
	}
	/* The length bounds the list; no NUL is needed. */
	assert_true(http_list_has_token("upgradeX", 7, "upgrade"));
	assert_false(http_list_has_token("upgrade", 6, "upgrade"));
	assert_true(http_list_has_token("a, WebSocket", 12, "websocket"));
	/* An empty token never matches, not even an empty element. */
	assert_false(http_list_has_token("a,,b", 4, ""));
}

static void
test_reason(void **state)
{
	static const int codes[] = {
		101, 200, 206, 301, 304, 400, 403, 404, 405, 408, 413, 414,
		426, 431, 500, 501, 503, 505,
	};
	size_t i;

	for (i = 0; i < sizeof(codes) / sizeof(codes[0]); i++) {
		assert_non_null(http_reason(codes[i]));
		assert_string_not_equal(http_reason(codes[i]), "Unknown");
	}
	assert_string_equal(http_reason(101), "Switching Protocols");
	assert_string_equal(http_reason(200), "OK");
	assert_string_equal(http_reason(404), "Not Found");
	assert_string_equal(http_reason(426), "Upgrade Required");
	assert_string_equal(http_reason(431),
	    "Request Header Fields Too Large");
	assert_string_equal(http_reason(505), "HTTP Version Not Supported");
	assert_non_null(http_reason(0));
	assert_non_null(http_reason(999));
	assert_non_null(http_reason(-1));
}

static void
check_decode(const char *src, bool plus, long want_len, const char *want)
{
	char dst[64];
	long r;

	memset(dst, 'Z', sizeof(dst));
	r = http_percent_decode(src, strlen(src), dst, plus);
	assert_int_equal(r, want_len);
	if (want != NULL) {
		assert_memory_equal(dst, want, (size_t)want_len);
		assert_int_equal(dst[want_len], '\0');
	}
}

static void
test_percent_decode(void **state)
{
	char dst[8];

	check_decode("", false, 0, "");
	check_decode("abc", false, 3, "abc");
	check_decode("a%20b", false, 3, "a b");
	check_decode("%41%62%7e%7E", false, 4, "Ab~~");
	check_decode("%ff%80", false, 2, "\xff\x80");
	check_decode("a+b", false, 3, "a+b");
	check_decode("a+b", true, 3, "a b");
	check_decode("%2B+", true, 2, "+ ");
	check_decode("%25%32%30", false, 3, "%20");	/* decoded once */
	check_decode("/path/%2F", false, 7, "/path//");

	/* Malformed escapes. */
	check_decode("%", false, -1, NULL);
	check_decode("a%", false, -1, NULL);
	check_decode("%4", false, -1, NULL);
	check_decode("a%4", false, -1, NULL);
	check_decode("%zz", false, -1, NULL);
	check_decode("%4g", false, -1, NULL);
	check_decode("%g4", false, -1, NULL);
	check_decode("% 41", false, -1, NULL);
	check_decode("%+41", true, -1, NULL);
	check_decode("%-1", false, -1, NULL);
	/* NUL, encoded or raw. */
	check_decode("%00", false, -1, NULL);
	check_decode("abc%00def", false, -1, NULL);
	assert_int_equal(http_percent_decode("a\0b", 3, dst, false), -1);
	/* A truncated escape at the end of the counted input. */
	assert_int_equal(http_percent_decode("%41", 2, dst, false), -1);
	assert_int_equal(http_percent_decode("%41", 3, dst, false), 1);
	assert_string_equal(dst, "A");
}

static void
check_query(const char *q, const char *name, const char *want)
{
	const char *val = NULL;
	size_t val_len = 0;
	bool found;

	found = http_query_find(q, q != NULL ? strlen(q) : 0, name, &val,
	    &val_len);
	if (want == NULL) {
		assert_false(found);
		return;
	}
	assert_true(found);
	assert_span(val, val_len, want);
	assert_true(val >= q && val + val_len <= q + strlen(q));
}

static void
test_query_find(void **state)
{
	const char *val;
	size_t val_len;

	check_query("a=1&b=2", "a", "1");
	check_query("a=1&b=2", "b", "2");
	check_query("a=1&b=2", "c", NULL);
	check_query("a", "a", "");
	check_query("a&b=2", "a", "");
	check_query("b=2&a", "a", "");
	check_query("a=", "a", "");
	check_query("a=1&a=2", "a", "1");
	check_query("&&a=1&", "a", "1");
	check_query("a=b=c", "a", "b=c");
	check_query("x=%20&y=a+b", "x", "%20");	/* not decoded */
	check_query("x=%20&y=a+b", "y", "a+b");
	/* Names are compared raw and exactly. */
	check_query("ab=1", "a", NULL);
	check_query("a=1", "ab", NULL);
	check_query("A=1", "a", NULL);
	check_query("a%20b=1", "a b", NULL);
	check_query("a%20b=1", "a%20b", "1");
	check_query(" a=1", "a", NULL);
	check_query("a =1", "a", NULL);
	check_query("=x", "", NULL);
	check_query("", "a", NULL);
	check_query(NULL, "a", NULL);
	/* Only the counted bytes count. */
	assert_false(http_query_find("a=1&b=2", 3, "b", &val, &val_len));
	assert_true(http_query_find("a=123", 4, "a", &val, &val_len));
	assert_int_equal(val_len, 2);
}

/* The n-th value of name in q, or want NULL: none. */
static void
check_query_nth(const char *q, const char *name, size_t n, const char *want)
{
	const char *val = NULL;
	size_t val_len = 0, len = strlen(q);
	char *copy = malloc(len > 0 ? len : 1);
	bool found;

	assert_non_null(copy);
	memcpy(copy, q, len);
	found = http_query_find_nth(copy, len, name, n, &val, &val_len);
	if (want == NULL)
		assert_false(found);
	else {
		assert_true(found);
		assert_span(val, val_len, want);
	}
	free(copy);
}

static void
test_query_find_nth(void **state)
{
	const char *v1, *v2;
	size_t l1, l2;

	(void)state;
	check_query_nth("a=1&a=2&a=%20x", "a", 0, "1");
	check_query_nth("a=1&a=2&a=%20x", "a", 1, "2");
	check_query_nth("a=1&a=2&a=%20x", "a", 2, "%20x");
	check_query_nth("a=1&a=2&a=%20x", "a", 3, NULL);
	check_query_nth("a=1&a=2&a=%20x", "a", (size_t)-1, NULL);
	/* Other names and empty elements do not count. */
	check_query_nth("a=1&b=9&&ab=8&a&a=3", "a", 1, "");
	check_query_nth("a=1&b=9&&ab=8&a&a=3", "a", 2, "3");
	check_query_nth("a=1&b=9&&ab=8&a&a=3", "b", 1, NULL);
	check_query_nth("b=9", "a", 0, NULL);
	check_query_nth("", "a", 0, NULL);
	check_query_nth("a=1&a=2", "", 1, NULL);
	/* n == 0 is http_query_find. */
	assert_true(http_query_find("x=1&a=5&a=6", 11, "a", &v1, &l1));
	assert_true(http_query_find_nth("x=1&a=5&a=6", 11, "a", 0, &v2, &l2));
	assert_ptr_equal(v1, v2);
	assert_int_equal(l1, l2);
	/* Only the counted bytes count. */
	assert_false(http_query_find_nth("a=1&a=2", 4, "a", 1, &v1, &l1));
	assert_false(http_query_find_nth(NULL, 0, "a", 0, &v1, &l1));
}

/* The elements of the lists in vals, walked as conn.c does over headers. */
static void
check_list_nth(const char *const *vals, size_t nvals, const char *const *want,
    size_t nwant)
{
	const char *el;
	size_t i, k, n, el_len;
	bool found;

	for (i = 0; i <= nwant + 1; i++) {
		n = i;
		found = false;
		for (k = 0; k < nvals && !found; k++)
			found = http_list_nth(vals[k], strlen(vals[k]), &n, &el,
			    &el_len);
		if (i < nwant) {
			assert_true(found);
			assert_span(el, el_len, want[i]);
		} else
			assert_false(found);
	}
}

static void
test_list_nth(void **state)
{
	static const char *const one[] = { " chat, superchat ,\tv2.json" };
	static const char *const one_w[] = { "chat", "superchat", "v2.json" };
	static const char *const two[] = { "a, b", ",, ,", "c", "", "d ,e,," };
	static const char *const two_w[] = { "a", "b", "c", "d", "e" };
	static const char *const none[] = { "", " , ,\t" };
	const char *el = NULL;
	size_t n, el_len;

	(void)state;
	check_list_nth(one, 1, one_w, 3);
	check_list_nth(two, 5, two_w, 5);
	check_list_nth(none, 2, NULL, 0);
	/* Past the end, n loses the number of elements. */
	n = 7;
	assert_false(http_list_nth("a,b,,c", 6, &n, &el, &el_len));
	assert_int_equal(n, 4);
	n = 1;
	assert_true(http_list_nth("a,b,,c", 3, &n, &el, &el_len));
	assert_span(el, el_len, "b");
	n = 0;
	assert_false(http_list_nth(NULL, 0, &n, &el, &el_len));
	assert_int_equal(n, 0);
}

static void
check_cookie(const char *c, const char *name, const char *want)
{
	const char *val = NULL;
	size_t val_len = 0;
	bool found;

	found = http_cookie_find(c, strlen(c), name, &val, &val_len);
	if (want == NULL) {
		assert_false(found);
		return;
	}
	assert_true(found);
	assert_span(val, val_len, want);
}

static void
test_cookie_find(void **state)
{
	check_cookie("a=1; b=2", "a", "1");
	check_cookie("a=1; b=2", "b", "2");
	check_cookie("a=1;b=2", "b", "2");
	check_cookie("  a=1 ;  b=2  ", "b", "2");
	check_cookie("  a=1 ;  b=2  ", "a", "1");
	check_cookie("a = 1", "a", "1");
	check_cookie("\ta=1\t", "a", "1");
	check_cookie("sid=abc; sid=def", "sid", "abc");
	check_cookie("a=1; b=2", "c", NULL);
	check_cookie("ab=1; b=2", "a", NULL);
	check_cookie("a=1", "ab", NULL);
	check_cookie("SID=1", "sid", NULL);	/* names are exact */
	check_cookie("flag; b=2", "flag", "");
	check_cookie("a=; b=2", "a", "");
	check_cookie("q=\"x y\"", "q", "\"x y\"");	/* kept as sent */
	check_cookie("t=a%20b=c", "t", "a%20b=c");
	check_cookie(";;a=1;", "a", "1");
	check_cookie("", "a", NULL);
	check_cookie("=1", "", NULL);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_minimal),
		cmocka_unit_test(test_http10),
		cmocka_unit_test(test_many_headers),
		cmocka_unit_test(test_query_split),
		cmocka_unit_test(test_other_methods),
		cmocka_unit_test(test_pipelined_bytes_not_consumed),
		cmocka_unit_test(test_growing_prefixes),
		cmocka_unit_test(test_case_insensitive_names),
		cmocka_unit_test(test_bad_request_line),
		cmocka_unit_test(test_bad_headers),
		cmocka_unit_test(test_malformed_early),
		cmocka_unit_test(test_too_many_headers),
		cmocka_unit_test(test_mutations),
		cmocka_unit_test(test_pieces_valid),
		cmocka_unit_test(test_trickle_is_linear),
		cmocka_unit_test(test_token_eq),
		cmocka_unit_test(test_list_has_token),
		cmocka_unit_test(test_reason),
		cmocka_unit_test(test_percent_decode),
		cmocka_unit_test(test_query_find),
		cmocka_unit_test(test_query_find_nth),
		cmocka_unit_test(test_list_nth),
		cmocka_unit_test(test_cookie_find),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

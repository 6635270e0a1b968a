/*
 * Unit tests for pmd.c (permessage-deflate, RFC 7692): each negotiation
 * rule of section 7 on its own, the response, and the inflate loop's
 * limits (size, UTF-8, corrupt data) against zlib's own output.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include <zlib.h>

#include "pmd.h"

static struct pmd_conf conf;

static int
setup(void **state)
{
	(void)state;
	pmd_conf_default(&conf);
	conf.enabled = true;
	return 0;
}

/* Negotiate one header value; returns the response ("" if declined). */
static const char *
nego1(const struct pmd_conf *c, const char *offer, struct pmd_params *p)
{
	static char resp[PMD_RESPONSE_MAX];
	size_t len = strlen(offer);

	resp[0] = '\0';
	if (pmd_negotiate(c, &offer, &len, 1, p))
		pmd_response(p, resp, sizeof(resp));
	else
		assert_false(p->on);
	return resp;
}

static void
declined(const struct pmd_conf *c, const char *offer)
{
	struct pmd_params p;

	if (nego1(c, offer, &p)[0] != '\0')
		fail_msg("offer accepted: %s", offer);
}

static void
test_disabled(void **state)
{
	struct pmd_conf off;

	(void)state;
	pmd_conf_default(&off);
	declined(&off, "permessage-deflate");
}

static void
test_plain_offer(void **state)
{
	struct pmd_params p;

	(void)state;
	assert_string_equal(nego1(&conf, "permessage-deflate", &p),
	    "permessage-deflate; server_no_context_takeover; "
	    "client_no_context_takeover");
	assert_true(p.on && p.server_nct && p.client_nct);
	assert_int_equal(p.server_wbits, 15);
	assert_int_equal(p.client_wbits, 15);
}

/* With context takeover configured, only what the client asks for. */
static void
test_context_takeover(void **state)
{
	struct pmd_conf c = conf;
	struct pmd_params p;

	(void)state;
	c.server_no_context_takeover = false;
	c.client_no_context_takeover = false;
	assert_string_equal(nego1(&c, "permessage-deflate", &p),
	    "permessage-deflate");
	assert_false(p.server_nct || p.client_nct);
	/* server_no_context_takeover offered: it must be accepted. */
	assert_string_equal(nego1(&c, "permessage-deflate; "
	    "server_no_context_takeover", &p),
	    "permessage-deflate; server_no_context_takeover");
	assert_true(p.server_nct);
	/* client_no_context_takeover offered: the hint is taken. */
	assert_string_equal(nego1(&c, "permessage-deflate; "
	    "client_no_context_takeover", &p),
	    "permessage-deflate; client_no_context_takeover");
	assert_true(p.client_nct);
}

static void
test_unknown_param(void **state)
{
	(void)state;
	declined(&conf, "permessage-deflate; foo");
	declined(&conf, "permessage-deflate; foo=1");
	declined(&conf, "permessage-deflate; server_max_window_bit=10");
}

static void
test_repeated_param(void **state)
{
	(void)state;
	declined(&conf, "permessage-deflate; server_no_context_takeover; "
	    "server_no_context_takeover");
	declined(&conf, "permessage-deflate; client_no_context_takeover; "
	    "client_no_context_takeover");
	declined(&conf, "permessage-deflate; server_max_window_bits=10; "
	    "server_max_window_bits=10");
	declined(&conf, "permessage-deflate; client_max_window_bits; "
	    "client_max_window_bits=9");
}

static void
test_invalid_values(void **state)
{
	(void)state;
	declined(&conf, "permessage-deflate; server_no_context_takeover=1");
	declined(&conf, "permessage-deflate; client_no_context_takeover=x");
	declined(&conf, "permessage-deflate; server_max_window_bits");
	declined(&conf, "permessage-deflate; server_max_window_bits=16");
	declined(&conf, "permessage-deflate; server_max_window_bits=7");
	declined(&conf, "permessage-deflate; server_max_window_bits=08");
	declined(&conf, "permessage-deflate; server_max_window_bits=010");
	declined(&conf, "permessage-deflate; server_max_window_bits=+9");
	declined(&conf, "permessage-deflate; client_max_window_bits=0");
	declined(&conf, "permessage-deflate; client_max_window_bits=abc");
	declined(&conf, "permessage-deflate; client_max_window_bits=\"\"");
	declined(&conf, "permessage-deflate; client_max_window_bits=\"1 0\"");
}

static void
test_bad_syntax(void **state)
{
	(void)state;
	declined(&conf, "permessage-deflate;");
	declined(&conf, "permessage-deflate; ;");
	declined(&conf, "permessage-deflate; =10");
	declined(&conf, "permessage-deflate x");
	declined(&conf, "permessage-deflate; server_max_window_bits=\"10");
	declined(&conf, "permessage-deflate; server_max_window_bits=");
	declined(&conf, "\"permessage-deflate\"");
	declined(&conf, "");
	declined(&conf, " , ,");
}

static void
test_quoted_values(void **state)
{
	struct pmd_params p;

	(void)state;
	assert_string_equal(nego1(&conf, "permessage-deflate; "
	    "server_max_window_bits=\"10\"", &p), "permessage-deflate; "
	    "server_no_context_takeover; client_no_context_takeover; "
	    "server_max_window_bits=10");
	assert_int_equal(p.server_wbits, 10);
	/* A quoted pair stands for its character. */
	nego1(&conf, "permessage-deflate; client_max_window_bits=\"\\1\\1\"",
	    &p);
	assert_true(p.on);
	assert_int_equal(p.client_wbits, 11);
}

static void
test_first_acceptable_wins(void **state)
{
	struct pmd_params p;

	(void)state;
	nego1(&conf, "permessage-deflate; foo, "
	    "permessage-deflate; server_max_window_bits=8, "
	    "x-webkit-deflate-frame, "
	    "permessage-deflate; server_max_window_bits=11, "
	    "permessage-deflate; server_max_window_bits=12", &p);
	assert_true(p.on);
	assert_int_equal(p.server_wbits, 11);
	/* A comma inside another extension's quoted value is no boundary. */
	nego1(&conf, "foo; a=\"x, permessage-deflate; bar\", "
	    "permessage-deflate; server_max_window_bits=9", &p);
	assert_true(p.on);
	assert_int_equal(p.server_wbits, 9);
}

/* A list split over several headers is one list. */
static void
test_several_headers(void **state)
{
	const char *v[2] = {
		"x-webkit-deflate-frame, permessage-deflate; bogus",
		"permessage-deflate; client_max_window_bits"
	};
	size_t l[2] = { strlen(v[0]), strlen(v[1]) };
	struct pmd_params p;

	(void)state;
	assert_true(pmd_negotiate(&conf, v, l, 2, &p));
	assert_int_equal(p.client_wbits, 15);
	assert_false(p.resp_cwbits);
	assert_false(pmd_negotiate(&conf, v, l, 1, &p));
}

static void
test_server_window(void **state)
{
	struct pmd_conf c = conf;
	struct pmd_params p;

	(void)state;
	/* Offered: always answered, with the smaller of the two. */
	assert_string_equal(nego1(&conf, "permessage-deflate; "
	    "server_max_window_bits=15", &p), "permessage-deflate; "
	    "server_no_context_takeover; client_no_context_takeover; "
	    "server_max_window_bits=15");
	c.server_max_window_bits = 10;
	nego1(&c, "permessage-deflate; server_max_window_bits=12", &p);
	assert_int_equal(p.server_wbits, 10);
	/* Not offered: the server may still say it uses less. */
	assert_string_equal(nego1(&c, "permessage-deflate", &p),
	    "permessage-deflate; server_no_context_takeover; "
	    "client_no_context_takeover; server_max_window_bits=10");
	/* 8 cannot be done with zlib: declined. */
	declined(&conf, "permessage-deflate; server_max_window_bits=8");
}

static void
test_client_window(void **state)
{
	struct pmd_conf c = conf;
	struct pmd_params p;
	const char *r;

	(void)state;
	/* Never in a response to an offer without it. */
	c.client_max_window_bits = 10;
	r = nego1(&c, "permessage-deflate", &p);
	assert_null(strstr(r, "client_max_window_bits"));
	assert_true(p.on);
	/* ...and with client context takeover, such an offer is declined. */
	c.client_no_context_takeover = false;
	declined(&c, "permessage-deflate");
	/* Offered without a value: the configured size. */
	assert_string_equal(nego1(&c, "permessage-deflate; "
	    "client_max_window_bits", &p), "permessage-deflate; "
	    "server_no_context_takeover; client_max_window_bits=10");
	assert_int_equal(p.client_wbits, 10);
	/* Offered with a value: the smaller one. */
	nego1(&c, "permessage-deflate; client_max_window_bits=9", &p);
	assert_int_equal(p.client_wbits, 9);
	nego1(&conf, "permessage-deflate; client_max_window_bits=8", &p);
	assert_int_equal(p.client_wbits, 8);
	assert_true(p.resp_cwbits);
}

/* The longest response fits whole (the fuzzer found it cut once). */
static void
test_longest_response(void **state)
{
	struct pmd_params p;

	(void)state;
	assert_string_equal(nego1(&conf, "permessage-deflate; "
	    "server_no_context_takeover; client_no_context_takeover; "
	    "server_max_window_bits=10; client_max_window_bits=12", &p),
	    "permessage-deflate; server_no_context_takeover; "
	    "client_no_context_takeover; server_max_window_bits=10; "
	    "client_max_window_bits=12");
}

static void
test_case_and_spaces(void **state)
{
	struct pmd_params p;

	(void)state;
	nego1(&conf, "\tPermessage-Deflate ;Server_Max_Window_Bits = 12 ,x",
	    &p);
	assert_true(p.on);
	assert_int_equal(p.server_wbits, 12);
}

/* ------------------------------------------------------------ inflate */

/* What a peer's zlib would send: raw deflate, sync flush, tail cut. */
static uint8_t *
zcompress(const uint8_t *in, size_t len, int finish, size_t *outlen)
{
	z_stream zs;
	size_t cap = len + len / 8 + 256;
	uint8_t *out = malloc(cap);

	assert_non_null(out);
	memset(&zs, 0, sizeof(zs));
	assert_int_equal(deflateInit2(&zs, 6, Z_DEFLATED, -15, 8,
	    Z_DEFAULT_STRATEGY), Z_OK);
	zs.next_in = (Bytef *)(uintptr_t)in;
	zs.avail_in = (uInt)len;
	zs.next_out = out;
	zs.avail_out = (uInt)cap;
	assert_int_not_equal(deflate(&zs, finish ? Z_FINISH : Z_SYNC_FLUSH),
	    Z_STREAM_ERROR);
	assert_int_equal(zs.avail_in, 0);
	*outlen = cap - zs.avail_out;
	deflateEnd(&zs);
	if (!finish) {
		assert_true(*outlen >= 4);
		assert_memory_equal(out + *outlen - 4, "\0\0\377\377", 4);
		*outlen -= 4;
	}
	return out;
}

static void
test_round_trip_sizes(void **state)
{
	static const size_t sizes[] = { 0, 1, 125, 126, 65535, 65536,
	    1 << 20 };
	struct z_stream_s *inf, *def;
	struct pmd_buf z = { 0 }, out = { 0 };
	uint8_t *msg;
	size_t i, j;

	(void)state;
	assert_non_null(inf = pmd_inflate_new(15));
	assert_non_null(def = pmd_deflate_new(1, 15, 8));
	msg = malloc(1 << 20);
	for (j = 0; j < 1 << 20; j++)
		msg[j] = (uint8_t)("{\"k\":\"v\"} "[j % 11] ^ (j % 97 == 0));
	for (i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		assert_int_equal(pmd_deflate(def, msg, sizes[i], &z), PMD_OK);
		out.len = 0;
		assert_int_equal(pmd_inflate(inf, z.p, z.len, 1 << 20, false,
		    &out), PMD_OK);
		assert_int_equal(out.len, sizes[i]);
		if (sizes[i] > 0)
			assert_memory_equal(out.p, msg, sizes[i]);
	}
	/* An empty message is one byte (an empty stored block). */
	assert_int_equal(pmd_deflate(def, msg, 0, &z), PMD_OK);
	assert_int_equal(z.len, 1);
	assert_int_equal(z.p[0], 0);
	free(msg);
	pmd_buf_free(&z);
	pmd_buf_free(&out);
	pmd_inflate_free(inf);
	pmd_deflate_free(def);
}

/* A 16 MiB bomb of zeros stops at the limit, without the room for it. */
static void
test_bomb(void **state)
{
	size_t n = 16 << 20, zlen;
	uint8_t *zeros = calloc(1, n), *z;
	struct z_stream_s *inf = pmd_inflate_new(15);
	struct pmd_buf out = { 0 };

	(void)state;
	z = zcompress(zeros, n, 0, &zlen);
	assert_true(zlen < 32 * 1024);
	assert_int_equal(pmd_inflate(inf, z, zlen, 1 << 20, false, &out),
	    PMD_TOO_BIG);
	assert_true(out.cap <= (1 << 20) + 1);
	assert_int_equal(out.len, (1 << 20) + 1);
	/* The exact limit passes. */
	pmd_inflate_reset(inf);
	out.len = 0;
	free(z);
	z = zcompress(zeros, 1 << 20, 0, &zlen);
	assert_int_equal(pmd_inflate(inf, z, zlen, 1 << 20, false, &out),
	    PMD_OK);
	assert_int_equal(out.len, 1 << 20);
	free(z);
	free(zeros);
	pmd_buf_free(&out);
	pmd_inflate_free(inf);
}

/* Invalid UTF-8 stops the inflation at once, not at the end. */
static void
test_utf8_after_inflate(void **state)
{
	size_t n = 8 << 20, zlen;
	uint8_t *text = malloc(n), *z;
	struct z_stream_s *inf = pmd_inflate_new(15);
	struct pmd_buf out = { 0 };

	(void)state;
	memset(text, 'a', n);
	text[1000] = 0xff;
	z = zcompress(text, n, 0, &zlen);
	assert_int_equal(pmd_inflate(inf, z, zlen, n, true, &out),
	    PMD_BAD_UTF8);
	assert_true(out.len <= PMD_INFLATE_STEP);
	/* The same bytes are fine as binary. */
	pmd_inflate_reset(inf);
	out.len = 0;
	assert_int_equal(pmd_inflate(inf, z, zlen, n, false, &out), PMD_OK);
	free(z);
	/* A sequence cut by the end of the message. */
	pmd_inflate_reset(inf);
	out.len = 0;
	z = zcompress((const uint8_t *)"ab\xc3", 3, 0, &zlen);
	assert_int_equal(pmd_inflate(inf, z, zlen, n, true, &out),
	    PMD_BAD_UTF8);
	free(z);
	free(text);
	pmd_buf_free(&out);
	pmd_inflate_free(inf);
}

static void
test_corrupt(void **state)
{
	static const uint8_t bad[] = { 0xff, 0xff, 0xff, 0xff, 0x00 };
	static const uint8_t reserved[] = { 0x07, 0x00 };	/* BTYPE 11 */
	struct z_stream_s *inf = pmd_inflate_new(15);
	struct pmd_buf out = { 0 };

	(void)state;
	assert_int_equal(pmd_inflate(inf, bad, sizeof(bad), 1000, false,
	    &out), PMD_CORRUPT);
	pmd_inflate_reset(inf);
	assert_int_equal(pmd_inflate(inf, reserved, sizeof(reserved), 1000,
	    false, &out), PMD_CORRUPT);
	pmd_buf_free(&out);
	pmd_inflate_free(inf);
}

/* A message that ends in a final block (BFINAL) is accepted too. */
static void
test_final_block(void **state)
{
	struct z_stream_s *inf = pmd_inflate_new(15);
	struct pmd_buf out = { 0 };
	size_t zlen;
	uint8_t *z;

	(void)state;
	z = zcompress((const uint8_t *)"hello hello hello", 17, 1, &zlen);
	assert_int_equal(pmd_inflate(inf, z, zlen, 100, true, &out), PMD_OK);
	assert_int_equal(out.len, 17);
	assert_memory_equal(out.p, "hello hello hello", 17);
	free(z);
	pmd_buf_free(&out);
	pmd_inflate_free(inf);
}

/*
 * Context takeover: the second message refers back into the first, so
 * only a connection's own streams (kept between messages) get it right.
 */
static void
test_conn_streams(void **state)
{
	static const char m[] = "{\"user\":\"alice\",\"text\":\"hello there\"}";
	struct pmd_worker w;
	struct pmd_conn pc;
	struct pmd_conf c = conf;
	uint8_t first[64];
	size_t firstlen, i;

	(void)state;
	memset(&w, 0, sizeof(w));
	memset(&pc, 0, sizeof(pc));
	c.server_no_context_takeover = false;
	c.client_no_context_takeover = false;
	pc.p.on = true;
	pc.p.server_wbits = pc.p.client_wbits = 15;
	assert_null(pc.deflate);
	for (i = 0; i < 100; i++) {
		assert_int_equal(pmd_conn_deflate(&w, &pc, &c,
		    (const uint8_t *)m, sizeof(m) - 1), PMD_OK);
		assert_non_null(pc.deflate);
		if (i == 0) {
			memcpy(first, w.out.p, w.out.len);
			firstlen = w.out.len;
		} else {
			/* Later ones are back-references: much shorter. */
			assert_true(w.out.len < firstlen / 2);
		}
		assert_int_equal(pmd_conn_inflate(&w, &pc, w.out.p, w.out.len,
		    1000, true), PMD_OK);
		assert_non_null(pc.inflate);
		assert_int_equal(w.in.len, sizeof(m) - 1);
		assert_memory_equal(w.in.p, m, sizeof(m) - 1);
	}
	pmd_conn_free(&pc);
	assert_null(pc.inflate);
	assert_null(pc.deflate);

	/* Without context takeover nothing is kept by the connection. */
	pc.p.server_nct = pc.p.client_nct = true;
	for (i = 0; i < 3; i++) {
		assert_int_equal(pmd_conn_deflate(&w, &pc, &conf,
		    (const uint8_t *)m, sizeof(m) - 1), PMD_OK);
		assert_int_equal(w.out.len, firstlen);
		assert_memory_equal(w.out.p, first, firstlen);
		assert_int_equal(pmd_conn_inflate(&w, &pc, w.out.p, w.out.len,
		    1000, true), PMD_OK);
		assert_memory_equal(w.in.p, m, sizeof(m) - 1);
	}
	assert_null(pc.inflate);
	assert_null(pc.deflate);
	assert_non_null(w.inflate);
	pmd_worker_free(&w);
}

/* A connection's parameters for the tests of fragmented messages. */
static void
conn_init(struct pmd_conn *pc, bool nct)
{
	memset(pc, 0, sizeof(*pc));
	pc->p.on = true;
	pc->p.server_nct = pc->p.client_nct = nct;
	pc->p.server_wbits = pc->p.client_wbits = 15;
}

/*
 * Feed z[0..zlen) to pc in pieces of step bytes, the last with fin.
 * Returns the result of the piece that stopped it, and in *at that
 * piece's index (the last one's when none did); *npieces their number.
 */
static enum pmd_result
feed_pieces(struct pmd_worker *w, struct pmd_conn *pc, const uint8_t *z,
    size_t zlen, size_t step, uint64_t max, bool text, size_t *at,
    size_t *npieces)
{
	size_t off = 0, i = 0, n;
	enum pmd_result r;

	*npieces = zlen == 0 ? 1 : (zlen + step - 1) / step;
	do {
		n = zlen - off < step ? zlen - off : step;
		r = pmd_conn_inflate_part(w, pc, z + off, n, off + n == zlen,
		    max, text);
		off += n;
		*at = i++;
	} while (r == PMD_OK && off < zlen);
	return r;
}

/*
 * A text message whose first fragment inflates to a byte that is not
 * UTF-8 fails in that fragment, before the rest has come.
 */
static void
test_parts_utf8_first_fragment(void **state)
{
	struct z_stream_s *def = pmd_deflate_new(6, 15, 8);
	struct pmd_buf p1 = { 0 }, p2 = { 0 };
	struct pmd_worker w;
	struct pmd_conn pc;
	size_t n = 4 << 20, zlen, at, np;
	uint8_t *text = malloc(n), *z;

	(void)state;
	memset(&w, 0, sizeof(w));
	conn_init(&pc, true);
	/* The fragments as a client cuts them: each sync-flushed. */
	assert_int_equal(pmd_deflate(def, (const uint8_t *)"caf\xc3\xa9 \xff",
	    7, &p1), PMD_OK);
	assert_int_equal(pmd_deflate(def, (const uint8_t *)"rest", 4, &p2),
	    PMD_OK);
	assert_int_equal(pmd_conn_inflate_part(&w, &pc, p1.p, p1.len, false,
	    1000, true), PMD_BAD_UTF8);
	pmd_conn_rx_end(&w, &pc);
	assert_null(pc.rx);

	/*
	 * Valid so far, a sequence cut at the end of the fragment: fine
	 * until the message ends there.
	 */
	pmd_deflate_reset(def);
	assert_int_equal(pmd_deflate(def, (const uint8_t *)"caf\xc3", 4, &p1),
	    PMD_OK);
	assert_int_equal(pmd_conn_inflate_part(&w, &pc, p1.p, p1.len, false,
	    1000, true), PMD_OK);
	assert_int_equal(pmd_conn_inflate_part(&w, &pc,
	    (const uint8_t *)"\0\0\377\377", 4, false, 1000, true), PMD_OK);
	assert_int_equal(pmd_conn_inflate_part(&w, &pc, NULL, 0, true, 1000,
	    true), PMD_BAD_UTF8);
	pmd_conn_rx_end(&w, &pc);

	/* A long text in 100-byte fragments fails in the one that has it. */
	memset(text, 'a', n);
	text[1000] = 0xff;
	z = zcompress(text, n, 0, &zlen);
	assert_int_equal(feed_pieces(&w, &pc, z, zlen, 100, n, true, &at,
	    &np), PMD_BAD_UTF8);
	assert_true(at + 1 < np);
	assert_true(pc.rx->out.len <= 1000 + PMD_INFLATE_STEP);
	pmd_conn_rx_end(&w, &pc);
	/* As binary the same fragments make the whole message. */
	assert_int_equal(feed_pieces(&w, &pc, z, zlen, 100, n, false, &at,
	    &np), PMD_OK);
	assert_int_equal(at + 1, np);
	assert_int_equal(pc.rx->out.len, n);
	assert_memory_equal(pc.rx->out.p, text, n);
	pmd_conn_rx_end(&w, &pc);
	free(z);
	free(text);
	pmd_buf_free(&p1);
	pmd_buf_free(&p2);
	pmd_deflate_free(def);
	pmd_conn_free(&pc);
	pmd_worker_free(&w);
}

/* A bomb in fragments stops at the limit while fragments still come. */
static void
test_parts_bomb(void **state)
{
	size_t n = 16 << 20, zlen, at, np;
	uint8_t *zeros = calloc(1, n), *z;
	struct pmd_worker w;
	struct pmd_conn pc;
	int nct;

	(void)state;
	memset(&w, 0, sizeof(w));
	z = zcompress(zeros, n, 0, &zlen);
	for (nct = 0; nct < 2; nct++) {
		conn_init(&pc, nct);
		assert_int_equal(feed_pieces(&w, &pc, z, zlen, 16, 1 << 20,
		    false, &at, &np), PMD_TOO_BIG);
		/* 1 MiB of 16 MiB: about a sixteenth of the fragments. */
		assert_true(at < np / 8);
		assert_true(pc.rx->out.cap <= (1 << 20) + 1);
		assert_int_equal(pc.rx->out.len, (1 << 20) + 1);
		pmd_conn_rx_end(&w, &pc);
		pmd_conn_free(&pc);
	}
	free(z);
	free(zeros);
	pmd_worker_free(&w);
}

/*
 * Fragments give what the whole message gives, with or without context
 * takeover; several connections without it can be in the middle of a
 * message at once (each holds a stream of its own only until its
 * message ends), and the worker keeps at most PMD_INFLATE_SPARE of them.
 */
static void
test_parts_streams(void **state)
{
	static const char m[] = "{\"user\":\"alice\",\"text\":\"hi there\"}";
	struct pmd_conn pcs[PMD_INFLATE_SPARE + 2], pc;
	struct pmd_worker w;
	struct pmd_conf c = conf;
	size_t i, k, half;

	(void)state;
	memset(&w, 0, sizeof(w));

	/* Context takeover: the window outlives each fragmented message. */
	conn_init(&pc, false);
	c.server_no_context_takeover = false;
	c.client_no_context_takeover = false;
	for (i = 0; i < 20; i++) {
		assert_int_equal(pmd_conn_deflate(&w, &pc, &c,
		    (const uint8_t *)m, sizeof(m) - 1), PMD_OK);
		half = w.out.len / 2;
		assert_int_equal(pmd_conn_inflate_part(&w, &pc, w.out.p, half,
		    false, 1000, true), PMD_OK);
		assert_int_equal(pmd_conn_inflate_part(&w, &pc, w.out.p + half,
		    w.out.len - half, true, 1000, true), PMD_OK);
		assert_int_equal(pc.rx->out.len, sizeof(m) - 1);
		assert_memory_equal(pc.rx->out.p, m, sizeof(m) - 1);
		assert_ptr_equal(pc.rx->zs, pc.inflate);
		pmd_conn_rx_end(&w, &pc);
		assert_non_null(pc.inflate);
	}
	assert_int_equal(w.nspare, 0);
	pmd_conn_free(&pc);

	/* Without: interleaved messages of several connections. */
	conn_init(&pc, true);
	assert_int_equal(pmd_conn_deflate(&w, &pc, &conf, (const uint8_t *)m,
	    sizeof(m) - 1), PMD_OK);
	for (k = 0; k < 2; k++) {
		half = w.out.len / 2;
		for (i = 0; i < PMD_INFLATE_SPARE + 2; i++) {
			if (k == 0)
				conn_init(&pcs[i], true);
			assert_int_equal(pmd_conn_inflate_part(&w, &pcs[i],
			    w.out.p, half, false, 1000, true), PMD_OK);
			assert_non_null(pcs[i].rx);
			assert_ptr_not_equal(pcs[i].rx->zs, w.inflate);
		}
		for (i = 0; i < PMD_INFLATE_SPARE + 2; i++) {
			assert_int_equal(pmd_conn_inflate_part(&w, &pcs[i],
			    w.out.p + half, w.out.len - half, true, 1000, true),
			    PMD_OK);
			assert_memory_equal(pcs[i].rx->out.p, m, sizeof(m) - 1);
			pmd_conn_rx_end(&w, &pcs[i]);
			/* Idle again: no zlib state, no buffer. */
			assert_null(pcs[i].rx);
			assert_null(pcs[i].inflate);
		}
		assert_int_equal(w.nspare, PMD_INFLATE_SPARE);
	}
	/* A connection that goes in the middle of a message frees it. */
	assert_int_equal(pmd_conn_inflate_part(&w, &pcs[0], w.out.p, 3, false,
	    1000, true), PMD_OK);
	pmd_conn_free(&pcs[0]);
	assert_null(pcs[0].rx);
	assert_null(pc.deflate);
	pmd_worker_free(&w);
	assert_int_equal(w.nspare, 0);
}

/* Shared deflate streams: one per parameter set, the oldest replaced. */
static void
test_shared_slots(void **state)
{
	struct pmd_worker w;
	int lvl;

	(void)state;
	memset(&w, 0, sizeof(w));
	for (lvl = 1; lvl <= 6; lvl++)
		assert_int_equal(pmd_shared_deflate(&w, lvl, 15, 8,
		    (const uint8_t *)"abcabcabc", 9), PMD_OK);
	for (lvl = 0; lvl < PMD_SHARED_DEFLATE; lvl++) {
		assert_non_null(w.deflate[lvl].zs);
		assert_true(w.deflate[lvl].level >= 3);
	}
	pmd_worker_free(&w);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup(test_disabled, setup),
		cmocka_unit_test_setup(test_plain_offer, setup),
		cmocka_unit_test_setup(test_context_takeover, setup),
		cmocka_unit_test_setup(test_unknown_param, setup),
		cmocka_unit_test_setup(test_repeated_param, setup),
		cmocka_unit_test_setup(test_invalid_values, setup),
		cmocka_unit_test_setup(test_bad_syntax, setup),
		cmocka_unit_test_setup(test_quoted_values, setup),
		cmocka_unit_test_setup(test_first_acceptable_wins, setup),
		cmocka_unit_test_setup(test_several_headers, setup),
		cmocka_unit_test_setup(test_server_window, setup),
		cmocka_unit_test_setup(test_client_window, setup),
		cmocka_unit_test_setup(test_longest_response, setup),
		cmocka_unit_test_setup(test_case_and_spaces, setup),
		cmocka_unit_test_setup(test_round_trip_sizes, setup),
		cmocka_unit_test_setup(test_bomb, setup),
		cmocka_unit_test_setup(test_utf8_after_inflate, setup),
		cmocka_unit_test_setup(test_corrupt, setup),
		cmocka_unit_test_setup(test_final_block, setup),
		cmocka_unit_test_setup(test_conn_streams, setup),
		cmocka_unit_test_setup(test_shared_slots, setup),
		cmocka_unit_test_setup(test_parts_utf8_first_fragment, setup),
		cmocka_unit_test_setup(test_parts_bomb, setup),
		cmocka_unit_test_setup(test_parts_streams, setup),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

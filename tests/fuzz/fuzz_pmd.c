/*
 * fuzz_pmd: permessage-deflate's pure parts (src/pmd.c).
 *
 * One control byte, then bytes used three ways:
 *   - as Sec-WebSocket-Extensions values (split at newlines into up to
 *     four headers), negotiated under four configurations: an accepted
 *     offer must give a response of one element whose parameters are in
 *     range, never wider than the configuration, that carries
 *     client_max_window_bits only if the client wrote it, and that
 *     itself parses as an acceptable offer with the same flags;
 *   - as a compressed message, inflated under a limit (control bits
 *     0-1) as text or binary (bit 2): the output never passes the limit
 *     by more than the one byte that proves it too big, the buffer never
 *     grows past limit + 1, and accepted text is UTF-8; the same bytes
 *     cut into pieces (of one byte, and of a size from bits 3-7) and
 *     inflated piece by piece, as the fragments of a message are, give
 *     the same verdict and the same output (up to where each stopped,
 *     for bad text or data);
 *   - as a message, deflated (level from bits 4-7) and inflated back,
 *     which must give it unchanged.
 */
#include <ctype.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <zlib.h>

#include "pmd.h"
#include "utf8.h"

#include "fuzz_common.h"

static bool
has_ci(const char *hay, size_t n, const char *needle)
{
	size_t m = strlen(needle), i, j;

	for (i = 0; i + m <= n; i++) {
		for (j = 0; j < m; j++)
			if (tolower((unsigned char)hay[i + j]) != needle[j])
				break;
		if (j == m)
			return true;
	}
	return false;
}

static void
negotiate(const uint8_t *data, size_t size)
{
	struct pmd_conf confs[4], any;
	const char *vals[4];
	size_t lens[4], n = 0, i, start = 0;
	char *text = fuzz_strndup(data, size);
	char resp[PMD_RESPONSE_MAX];
	struct pmd_params p, q;

	for (i = 0; i <= size && n < 4; i++) {
		if (i == size || text[i] == '\n') {
			vals[n] = text + start;
			lens[n++] = i - start;
			start = i + 1;
		}
	}
	for (i = 0; i < 4; i++) {
		pmd_conf_default(&confs[i]);
		confs[i].enabled = true;
	}
	confs[1].server_no_context_takeover = false;
	confs[1].client_no_context_takeover = false;
	confs[2].server_max_window_bits = 9;
	confs[2].client_max_window_bits = 8;
	confs[3].client_no_context_takeover = false;
	confs[3].client_max_window_bits = 10;
	pmd_conf_default(&any);
	any.enabled = true;
	any.server_no_context_takeover = false;
	any.client_no_context_takeover = false;

	for (i = 0; i < 4; i++) {
		const struct pmd_conf *c = &confs[i];
		const char *rv = resp;
		size_t rl;

		if (!pmd_negotiate(c, vals, lens, n, &p)) {
			FUZZ_CHECK(!p.on);
			continue;
		}
		FUZZ_CHECK(p.on);
		FUZZ_CHECK(has_ci(text, size, "permessage-deflate"));
		FUZZ_CHECK(p.server_wbits >= PMD_SERVER_WBITS_MIN &&
		    p.server_wbits <= c->server_max_window_bits);
		FUZZ_CHECK(p.client_wbits >= PMD_CLIENT_WBITS_MIN &&
		    p.client_wbits <= PMD_WBITS_MAX);
		if (p.resp_cwbits) {
			FUZZ_CHECK(has_ci(text, size, "client_max_window_bits"));
			FUZZ_CHECK(p.client_wbits <= c->client_max_window_bits);
		} else {
			FUZZ_CHECK(p.client_wbits == PMD_WBITS_MAX);
		}
		if (!p.client_nct)
			FUZZ_CHECK(p.client_wbits <= c->client_max_window_bits);
		FUZZ_CHECK(p.server_nct || !c->server_no_context_takeover);
		FUZZ_CHECK(p.client_nct || !c->client_no_context_takeover);

		rl = pmd_response(&p, resp, sizeof(resp));
		FUZZ_CHECK(rl > 0 && rl < sizeof(resp) && resp[rl] == '\0');
		FUZZ_CHECK(strncmp(resp, "permessage-deflate", 18) == 0);
		FUZZ_CHECK(strchr(resp, ',') == NULL);
		/* The response is valid syntax with the same meaning. */
		FUZZ_CHECK(pmd_negotiate(&any, &rv, &rl, 1, &q));
		FUZZ_CHECK(q.server_nct == p.server_nct);
		FUZZ_CHECK(q.client_nct == p.client_nct);
		FUZZ_CHECK(q.server_wbits == p.server_wbits);
		FUZZ_CHECK(q.client_wbits == p.client_wbits);
	}
	free(text);
}

/* The whole message's verdict and output, against pieces of step. */
static void
inflate_pieces(const uint8_t *data, size_t size, uint64_t max, bool text,
    size_t step, enum pmd_result want, const struct pmd_buf *whole)
{
	struct pmd_rx rx;
	enum pmd_result r = PMD_OK;
	size_t off = 0, n, common;
	uint8_t *in = fuzz_dup(data, size);

	memset(&rx, 0, sizeof(rx));
	rx.zs = pmd_inflate_new(15);
	FUZZ_CHECK(rx.zs != NULL);
	rx.max = max;
	rx.text = text;
	rx.u = UTF8_ACCEPT;
	do {
		n = size - off < step ? size - off : step;
		r = pmd_rx_feed(&rx, in + off, n, off + n == size);
		off += n;
	} while (r == PMD_OK && off < size);
	if (r != want)
		FUZZ_FAIL("whole: %d, in pieces of %zu: %d", (int)want, step,
		    (int)r);
	FUZZ_CHECK(rx.out.cap <= max + 1);
	common = rx.out.len < whole->len ? rx.out.len : whole->len;
	FUZZ_CHECK(common == 0 || memcmp(rx.out.p, whole->p, common) == 0);
	if (r == PMD_OK || r == PMD_TOO_BIG)
		FUZZ_CHECK(rx.out.len == whole->len);
	pmd_buf_free(&rx.out);
	pmd_inflate_free(rx.zs);
	free(in);
}

static void
inflate_limits(const uint8_t *data, size_t size, uint64_t max, bool text,
    size_t step)
{
	struct z_stream_s *zs = pmd_inflate_new(15);
	uint8_t *in = fuzz_dup(data, size);
	struct pmd_buf out = { 0 };
	enum pmd_result r;

	FUZZ_CHECK(zs != NULL);
	r = pmd_inflate(zs, in, size, max, text, &out);
	FUZZ_CHECK(out.cap <= max + 1);
	FUZZ_CHECK(out.len <= max + 1);
	switch (r) {
	case PMD_OK:
		FUZZ_CHECK(out.len <= max);
		if (text)
			FUZZ_CHECK(utf8_valid(out.p, out.len));
		break;
	case PMD_TOO_BIG:
		FUZZ_CHECK(out.len == max + 1);
		break;
	case PMD_BAD_UTF8:
		FUZZ_CHECK(text);
		break;
	case PMD_CORRUPT:
		break;
	default:
		FUZZ_FAIL("unexpected result %d", (int)r);
	}
	if (size <= 4096)
		inflate_pieces(data, size, max, text, 1, r, &out);
	inflate_pieces(data, size, max, text, step, r, &out);
	pmd_buf_free(&out);
	pmd_inflate_free(zs);
	free(in);
}

static void
round_trip(const uint8_t *data, size_t size, int level, int wbits)
{
	struct z_stream_s *def = pmd_deflate_new(level, wbits, 8);
	struct z_stream_s *inf = pmd_inflate_new(wbits);
	struct pmd_buf z = { 0 }, out = { 0 };
	int i;

	FUZZ_CHECK(def != NULL && inf != NULL);
	/* Twice: the second message may refer back into the first. */
	for (i = 0; i < 2; i++) {
		FUZZ_CHECK(pmd_deflate(def, data, size, &z) == PMD_OK);
		out.len = 0;
		FUZZ_CHECK(pmd_inflate(inf, z.p, z.len, size, false, &out) ==
		    PMD_OK);
		FUZZ_CHECK(out.len == size);
		FUZZ_CHECK(size == 0 || memcmp(out.p, data, size) == 0);
	}
	pmd_buf_free(&z);
	pmd_buf_free(&out);
	pmd_deflate_free(def);
	pmd_inflate_free(inf);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const uint64_t maxes[] = { 0, 100, 65536, 1 << 20 };
	uint8_t ctl;

	if (size < 1)
		return 0;
	ctl = data[0];
	data++;
	size--;
	negotiate(data, size);
	inflate_limits(data, size, maxes[ctl & 3], (ctl & 4) != 0,
	    1 + (size_t)(ctl >> 3) * 37);
	round_trip(data, size, 1 + (ctl >> 4) % 9, 9 + (ctl >> 3) % 7);
	return 0;
}

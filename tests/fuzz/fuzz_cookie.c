/*
 * fuzz_cookie: cookie values (src/cookie.c) and the list helpers of
 * src/http.c that the plugin accessors wsd_arg_at() and
 * wsd_offered_subprotocol() use.
 *
 * The first byte chooses what the rest is:
 *   bit 0 clear: a cookie value as a client sends it, given as it is to
 *     cookie_verify_signed() (which must refuse it: nobody here knows
 *     the secret), and to cookie_unquote() / cookie_decode(), whose
 *     results are compared with slow reference versions written here;
 *   bit 0 set: the body of a signed cookie: the harness signs everything
 *     up to the last '|' with the secret, as Tornado does, so that the
 *     checks after the signature (name, numbers, age, base64) are
 *     reached; the verdict is compared with a reference reading of the
 *     format, a valid value must be the base64 of the value field, and
 *     any one changed byte must make it fail;
 * and in both cases the input is also a query string and a list header
 * for http_query_find_nth() and http_list_nth(), checked against a
 * plain split.  Every buffer is a heap block of exactly its length.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "cookie.h"
#include "http.h"

#include "fuzz_common.h"

#define SECRET	"fuzz-secret"
#define NOW	1700000000
#define SIG_LEN	64

/* ------------------------------------------------------ decoding */

static int
ref_hex(unsigned char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* cookie_unquote as cookie.h describes it, one case at a time. */
static long
ref_unquote(const unsigned char *s, size_t n, unsigned char *d)
{
	size_t i, o = 0;
	unsigned int ch;

	for (i = 0; i < n; i++)
		if (s[i] == 0)
			return -1;
	if (!(n >= 2 && s[0] == '"' && s[n - 1] == '"')) {
		memcpy(d, s, n);
		d[n] = 0;
		return (long)n;
	}
	s++;
	n -= 2;
	for (i = 0; i < n; i++) {
		if (s[i] != '\\' || i + 1 == n || s[i + 1] == '\n') {
			d[o++] = s[i];
		} else if (i + 3 < n && s[i + 1] >= '0' && s[i + 1] <= '3' &&
		    s[i + 2] >= '0' && s[i + 2] <= '7' &&
		    s[i + 3] >= '0' && s[i + 3] <= '7') {
			ch = (s[i + 1] - '0') * 64u + (s[i + 2] - '0') * 8u +
			    (s[i + 3] - '0');
			if (ch == 0)
				return -1;
			if (ch <= 0x7f)
				d[o++] = (unsigned char)ch;
			else {
				d[o++] = (unsigned char)(0xc0 + ch / 64);
				d[o++] = (unsigned char)(0x80 + ch % 64);
			}
			i += 3;
		} else {
			d[o++] = s[++i];
		}
	}
	d[o] = 0;
	return (long)o;
}

static long
ref_decode(const unsigned char *s, size_t n, unsigned char *d)
{
	unsigned char *u = malloc(n + 1);
	long un;
	size_t i, o = 0;

	FUZZ_CHECK(u != NULL);
	if ((un = ref_unquote(s, n, u)) < 0) {
		free(u);
		return -1;
	}
	for (i = 0; i < (size_t)un; i++) {
		if (u[i] == '%' && i + 2 < (size_t)un && ref_hex(u[i + 1]) >= 0 &&
		    ref_hex(u[i + 2]) >= 0) {
			d[o] = (unsigned char)(ref_hex(u[i + 1]) * 16 +
			    ref_hex(u[i + 2]));
			if (d[o++] == 0) {
				free(u);
				return -1;
			}
			i += 2;
		} else
			d[o++] = u[i];
	}
	d[o] = 0;
	free(u);
	return (long)o;
}

static void
check_decoding(const uint8_t *data, size_t n)
{
	char *src = fuzz_dup(data, n);
	char *a = malloc(n + 1);
	unsigned char *b = malloc(n + 1);
	long ra, rb;

	FUZZ_CHECK(a != NULL && b != NULL);
	ra = cookie_unquote(src, n, a);
	rb = ref_unquote(data, n, b);
	if (ra != rb)
		FUZZ_FAIL("cookie_unquote %ld, reference %ld", ra, rb);
	if (ra >= 0) {
		FUZZ_CHECK((size_t)ra <= n);
		FUZZ_CHECK(strlen(a) == (size_t)ra);
		FUZZ_CHECK(memcmp(a, b, (size_t)ra) == 0);
	}
	ra = cookie_decode(src, n, a);
	rb = ref_decode(data, n, b);
	if (ra != rb)
		FUZZ_FAIL("cookie_decode %ld, reference %ld", ra, rb);
	if (ra >= 0) {
		FUZZ_CHECK((size_t)ra <= n);
		FUZZ_CHECK(strlen(a) == (size_t)ra);
		FUZZ_CHECK(memcmp(a, b, (size_t)ra) == 0);
	}
	free(src);
	free(a);
	free(b);
}

/* ------------------------------------------------------ signed */

static void
hex_sig(const char *s, size_t n, char *out)
{
	static const char hx[] = "0123456789abcdef";
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0, i;

	FUZZ_CHECK(HMAC(EVP_sha256(), SECRET, (int)strlen(SECRET),
	    (const unsigned char *)s, n, md, &mdlen) != NULL);
	FUZZ_CHECK(mdlen * 2 == SIG_LEN);
	for (i = 0; i < mdlen; i++) {
		out[2 * i] = hx[md[i] >> 4];
		out[2 * i + 1] = hx[md[i] & 15];
	}
}

struct ref_fields {
	const char	*f[4];
	size_t		 len[4];
};

/* Read "<n>:<bytes>|" four times after "2|"; the end of the last '|'. */
static bool
ref_layout(const char *s, size_t n, struct ref_fields *rf, size_t *end)
{
	size_t p = 2, k, num, digits;

	if (n < 2 || memcmp(s, "2|", 2) != 0)
		return false;
	for (k = 0; k < 4; k++) {
		num = 0;
		for (digits = 0; p + digits < n && s[p + digits] >= '0' &&
		    s[p + digits] <= '9'; digits++) {
			if (digits >= 12)
				return false;	/* beyond any input size */
			num = num * 10 + (size_t)(s[p + digits] - '0');
		}
		if (digits == 0 || (digits > 1 && s[p] == '0'))
			return false;
		p += digits;
		if (p >= n || s[p] != ':')
			return false;
		p++;
		if (num >= n || p + num >= n || s[p + num] != '|')
			return false;
		rf->f[k] = s + p;
		rf->len[k] = num;
		p += num + 1;
	}
	*end = p;
	return true;
}

/* Canonical decimal: 0 ok, -1 not a number, 1 too long. */
static int
ref_number(const char *f, size_t n, int64_t *v)
{
	size_t i;

	if (n == 0 || (n > 1 && f[0] == '0'))
		return -1;
	for (i = 0; i < n; i++)
		if (f[i] < '0' || f[i] > '9')
			return -1;
	if (n > 18)
		return 1;
	*v = 0;
	for (i = 0; i < n; i++)
		*v = *v * 10 + (f[i] - '0');
	return 0;
}

static int
b64_index(unsigned char c)
{
	const char *al =
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	const char *p = c != 0 ? strchr(al, c) : NULL;

	return p != NULL ? (int)(p - al) : -1;
}

/* Strict base64 by hand, bits at a time. */
static long
ref_b64(const char *s, size_t n, unsigned char *d)
{
	size_t i, pad = 0, o = 0;
	unsigned int acc = 0, bits = 0;
	int v;

	if (n % 4 != 0)
		return -1;
	while (pad < 2 && pad < n && s[n - 1 - pad] == '=')
		pad++;
	for (i = 0; i < n - pad; i++) {
		if ((v = b64_index((unsigned char)s[i])) < 0)
			return -1;
		acc = (acc << 6 | (unsigned int)v) & 0xffffff;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			d[o++] = (unsigned char)(acc >> bits);
		}
	}
	if (pad > 0 && n - pad < 2)
		return -1;	/* "=" or "==" alone, or "x===" */
	return (long)o;
}

/* The verdict cookie.h promises for s, given that it is signed. */
static int
ref_verdict(const char *s, size_t n, const char *name, double max_age,
    unsigned char *val, long *vlen)
{
	struct ref_fields rf;
	size_t end;
	int64_t kv, ts;
	int r;

	if (!ref_layout(s, n, &rf, &end))
		return COOKIE_MALFORMED;
	if (n - end != SIG_LEN)
		return COOKIE_SIGNATURE;
	if (rf.len[2] != strlen(name) || memcmp(rf.f[2], name, rf.len[2]) != 0)
		return COOKIE_NAME;
	if (ref_number(rf.f[0], rf.len[0], &kv) != 0)
		return COOKIE_MALFORMED;
	if ((r = ref_number(rf.f[1], rf.len[1], &ts)) < 0)
		return COOKIE_MALFORMED;
	if (r > 0 || ts > (int64_t)NOW + COOKIE_MAX_FUTURE)
		return COOKIE_FUTURE;
	if (max_age > 0 && (double)ts < NOW - max_age * 86400)
		return COOKIE_EXPIRED;
	if ((*vlen = ref_b64(rf.f[3], rf.len[3], val)) < 0 ||
	    memchr(val, 0, (size_t)*vlen) != NULL)
		return COOKIE_VALUE;
	return COOKIE_OK;
}

static int
verify(const char *s, size_t n, const char *name, double max_age, char **out,
    size_t *out_len)
{
	char *in = fuzz_dup(s, n), *dst = malloc(n + 1);
	int r;

	FUZZ_CHECK(dst != NULL);
	r = cookie_verify_signed(in, n, name, SECRET, strlen(SECRET), max_age,
	    NOW, dst, out_len);
	free(in);
	if (r == COOKIE_OK && out != NULL)
		*out = dst;
	else
		free(dst);
	FUZZ_CHECK(r <= 0 && r >= COOKIE_ARGS);
	FUZZ_CHECK(cookie_verdict_str(r) != NULL);
	return r;
}

static void
check_signed(const uint8_t *data, size_t size, uint8_t ctl)
{
	static const double ages[] = { 31, 0, 0.5, -1, 1e9 };
	double max_age = ages[(ctl >> 1) % 5];
	const char *name = (ctl & 0x10) ? "session" : "s";
	const char *bar;
	char *s, *out = NULL;
	unsigned char *ref;
	size_t body, n, out_len = 0, pos;
	long ref_len = -1;
	int r, rr;

	/* Sign everything up to the last '|'; anything after is dropped. */
	bar = size > 0 ? memrchr(data, '|', size) : NULL;
	body = bar != NULL ? (size_t)(bar - (const char *)data) + 1 : size;
	n = body + SIG_LEN;
	s = malloc(n);
	ref = malloc(n + 1);
	FUZZ_CHECK(s != NULL && ref != NULL);
	memcpy(s, data, body);
	hex_sig(s, body, s + body);

	r = verify(s, n, name, max_age, &out, &out_len);
	rr = ref_verdict(s, n, name, max_age, ref, &ref_len);
	/* Not "2|": the reference calls it malformed, wsd names it. */
	if (rr == COOKIE_MALFORMED && r == COOKIE_VERSION &&
	    !(n >= 2 && s[0] == '2' && s[1] == '|'))
		rr = COOKIE_VERSION;
	if (r != rr)
		FUZZ_FAIL("verdict %d (%s), reference %d", r,
		    cookie_verdict_str(r), rr);
	if (r == COOKIE_OK) {
		FUZZ_CHECK((long)out_len == ref_len);
		FUZZ_CHECK(memcmp(out, ref, out_len) == 0);
		FUZZ_CHECK(out[out_len] == '\0');
		free(out);
		/* One changed byte anywhere: refused. */
		pos = (size_t)ctl * 7919 % n;
		s[pos] ^= (char)(1 + (ctl >> 5));
		FUZZ_CHECK(verify(s, n, name, max_age, NULL, NULL) != COOKIE_OK);
		s[pos] ^= (char)(1 + (ctl >> 5));
		/* Another name, another secret: refused. */
		FUZZ_CHECK(verify(s, n, (ctl & 0x10) ? "s" : "session", max_age,
		    NULL, NULL) == COOKIE_NAME);
		{
			char *in = fuzz_dup(s, n), *dst = malloc(n + 1);

			FUZZ_CHECK(dst != NULL);
			FUZZ_CHECK(cookie_verify_signed(in, n, name, "fuzz-secreT",
			    11, max_age, NOW, dst, NULL) == COOKIE_SIGNATURE);
			free(in);
			free(dst);
		}
	}
	free(s);
	free(ref);
}

/* ------------------------------------------------------ lists */

static void
check_query_nth(const char *q, size_t n)
{
	const char *name, *v, *el, *eq;
	size_t nlen, vl, i, b, e, k = 0, elen;
	char nm[8];

	/* The name: the first element's, cut to fit. */
	for (e = 0; e < n && q[e] != '&' && q[e] != '='; e++)
		continue;
	nlen = e < sizeof(nm) - 1 ? e : sizeof(nm) - 1;
	if (nlen == 0 || memchr(q, '\0', nlen) != NULL)
		return;
	memcpy(nm, q, nlen);
	nm[nlen] = '\0';
	name = nm;
	/* Walk the elements; every one named `name` is the next n-th. */
	for (b = 0; b <= n; b = e + 1) {
		for (e = b; e < n && q[e] != '&'; e++)
			continue;
		el = q + b;
		elen = e - b;
		eq = memchr(el, '=', elen);
		i = eq != NULL ? (size_t)(eq - el) : elen;
		if (elen == 0 || i != nlen || memcmp(el, name, nlen) != 0)
			continue;
		FUZZ_CHECK(http_query_find_nth(q, n, name, k, &v, &vl));
		if (eq == NULL)
			FUZZ_CHECK(vl == 0 && v == el + elen);
		else
			FUZZ_CHECK(v == eq + 1 && vl == elen - i - 1);
		k++;
		if (k > 64)
			return;
	}
	FUZZ_CHECK(!http_query_find_nth(q, n, name, k, &v, &vl));
}

static void
check_list_nth(const char *s, size_t n)
{
	const char *el;
	size_t b, e, tb, te, k = 0, i, el_len, cut;
	bool found;

	for (b = 0; b <= n && k < 64; b = e + 1) {
		for (e = b; e < n && s[e] != ','; e++)
			continue;
		tb = b;
		te = e;
		while (tb < te && (s[tb] == ' ' || s[tb] == '\t'))
			tb++;
		while (te > tb && (s[te - 1] == ' ' || s[te - 1] == '\t'))
			te--;
		if (te == tb)
			continue;
		i = k;
		FUZZ_CHECK(http_list_nth(s, n, &i, &el, &el_len));
		FUZZ_CHECK(el == s + tb && el_len == te - tb);
		/*
		 * Cut into two "headers" at a comma: the same element, found
		 * in the second one with n reduced by the first's count.
		 */
		cut = b > 0 ? b - 1 : 0;
		if (b > 0) {
			i = k;
			found = http_list_nth(s, cut, &i, &el, &el_len);
			if (!found)
				FUZZ_CHECK(http_list_nth(s + cut + 1, n - cut - 1,
				    &i, &el, &el_len));
			FUZZ_CHECK(el == s + tb && el_len == te - tb);
		}
		k++;
	}
	if (k < 64) {
		i = k;
		FUZZ_CHECK(!http_list_nth(s, n, &i, &el, &el_len));
		FUZZ_CHECK(i == 0);
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t ctl;
	char *buf;

	if (size < 1)
		return 0;
	ctl = data[0];
	data++;
	size--;
	if (ctl & 1)
		check_signed(data, size, ctl);
	else {
		check_decoding(data, size);
		/* Nobody here knows the secret: never valid. */
		buf = fuzz_dup(data, size);
		FUZZ_CHECK(verify(buf, size, "session", 0, NULL, NULL) !=
		    COOKIE_OK);
		free(buf);
	}
	buf = fuzz_dup(data, size);
	check_query_nth(buf, size);
	check_list_nth(buf, size);
	free(buf);
	return 0;
}

/*
 * Unit tests for src/cookie.c: cookie values decoded as Python's
 * http.cookies and browsers encode them, and Tornado's signed cookies
 * (format version 2).
 *
 * The fixed vectors below were made by Debian's python3-tornado 6.2:
 *
 *   from tornado.web import create_signed_value as cs
 *   cs("wsd-test-secret", "session", "alice", version=2,
 *      clock=lambda: 1700000000)
 *
 * (and the variations named at each).  The cases Tornado cannot make
 * (bad base64, leading zeros, a NUL in the value, any time stamp) are
 * signed by sign() here, which is first shown to give Tornado's bytes
 * for Tornado's inputs.  Every input is a heap copy of exactly its
 * length, so a read past the end shows under AddressSanitizer.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "cookie.h"

#define SECRET		"wsd-test-secret"
#define T0		1700000000
#define DAY		86400

/* Tornado's, see above. */
#define V2_ALICE	"2|" ALICE_FIELDS
#define ALICE_FIELDS	"1:0|10:1700000000|7:session|8:YWxpY2U=|" \
	"d130bfd5bce11256fe0af3c33fcce9b6488623885ba371041c9602bef856977b"
/* value "" */
#define V2_EMPTY	"2|1:0|10:1700000000|7:session|0:|" \
	"a90bfedec4e21dbce2cb6b1d6aef10624a8968520af6b7b8f04eb10f5dc8aeb5"
/* value "h\u00e9llo/w?rld>>" (UTF-8, base64 with '/' and '=') */
#define V2_UTF8		"2|1:0|10:1700000000|7:session|20:aMOpbGxvL3c/cmxkPj4=|" \
	"5cebe33f013962b54900739d73b94ef94d4a27c456ca802162d0b942eb886693"
/* secret {7: SECRET}, key_version=7 */
#define V2_KEY7		"2|1:7|10:1700000000|7:session|8:YWxpY2U=|" \
	"662c7ef2786bbaf1ceeef2a9265903ea34559a623dbdf1cfc409e4a8ce4adc51"
/* version=1 */
#define V1_ALICE	"YWxpY2U=|1700000000|4da90933afcf3dde0910abb4b2cda33ee10d37f2"

/*
 * Verify s as `name` at time now; the value (if valid) in out.  Runs on
 * an exact-size heap copy with an exact-size output buffer.
 */
static int
verify_at(const char *s, const char *name, double max_age, int64_t now,
    char **out, size_t *out_len)
{
	size_t len = strlen(s);
	char *in = malloc(len > 0 ? len : 1), *dst = malloc(len + 1);
	int r;

	assert_non_null(in);
	assert_non_null(dst);
	memcpy(in, s, len);
	r = cookie_verify_signed(in, len, name, SECRET, strlen(SECRET),
	    max_age, now, dst, out_len);
	free(in);
	if (out != NULL && r == COOKIE_OK)
		*out = dst;
	else
		free(dst);
	return r;
}

static int
verify(const char *s, const char *name, double max_age, int64_t now)
{
	return verify_at(s, name, max_age, now, NULL, NULL);
}

/*
 * Sign body ("2|...|") with SECRET the way Tornado does, into a new
 * string: body followed by the lowercase hex HMAC-SHA256 of it.
 */
static char *
sign(const char *body)
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0, i;
	size_t blen = strlen(body);
	char *s = malloc(blen + 2 * EVP_MAX_MD_SIZE + 1);

	assert_non_null(s);
	assert_non_null(HMAC(EVP_sha256(), SECRET, (int)strlen(SECRET),
	    (const unsigned char *)body, blen, md, &mdlen));
	memcpy(s, body, blen);
	for (i = 0; i < mdlen; i++)
		snprintf(s + blen + 2 * i, 3, "%02x", md[i]);
	return s;
}

/* sign() on fields: "2|<kv>|<ts>|<name>|<value>|" with length prefixes. */
static char *
sign_fields(const char *kv, const char *ts, const char *name,
    const char *value)
{
	char body[1024];

	snprintf(body, sizeof(body), "2|%zu:%s|%zu:%s|%zu:%s|%zu:%s|",
	    strlen(kv), kv, strlen(ts), ts, strlen(name), name,
	    strlen(value), value);
	return sign(body);
}

static void
test_sign_helper_matches_tornado(void **state)
{
	char *s;

	(void)state;
	s = sign_fields("0", "1700000000", "session", "YWxpY2U=");
	assert_string_equal(s, V2_ALICE);
	free(s);
	s = sign_fields("7", "1700000000", "session", "YWxpY2U=");
	assert_string_equal(s, V2_KEY7);
	free(s);
}

static void
test_valid(void **state)
{
	char *out = NULL;
	size_t n = 99;

	(void)state;
	assert_int_equal(verify_at(V2_ALICE, "session", 31, T0, &out, &n),
	    COOKIE_OK);
	assert_string_equal(out, "alice");
	assert_int_equal(n, 5);
	free(out);
	assert_int_equal(verify_at(V2_EMPTY, "session", 31, T0, &out, &n),
	    COOKIE_OK);
	assert_string_equal(out, "");
	assert_int_equal(n, 0);
	free(out);
	assert_int_equal(verify_at(V2_UTF8, "session", 31, T0 + 5 * DAY, &out,
	    &n), COOKIE_OK);
	assert_string_equal(out, "h\xc3\xa9llo/w?rld>>");
	free(out);
	/* One secret verifies any key version, as in Tornado. */
	assert_int_equal(verify_at(V2_KEY7, "session", 31, T0, &out, NULL),
	    COOKIE_OK);
	assert_string_equal(out, "alice");
	free(out);
}

static void
test_wrong_secret(void **state)
{
	char dst[sizeof(V2_ALICE)];

	(void)state;
	assert_int_equal(cookie_verify_signed(V2_ALICE, strlen(V2_ALICE),
	    "session", "wsd-test-secreT", 15, 31, T0, dst, NULL),
	    COOKIE_SIGNATURE);
	assert_int_equal(cookie_verify_signed(V2_ALICE, strlen(V2_ALICE),
	    "session", SECRET, strlen(SECRET) - 1, 31, T0, dst, NULL),
	    COOKIE_SIGNATURE);
	/* An empty secret is refused outright. */
	assert_int_equal(cookie_verify_signed(V2_ALICE, strlen(V2_ALICE),
	    "session", "", 0, 31, T0, dst, NULL), COOKIE_ARGS);
}

/* Change one byte at every position: never valid. */
static void
test_tampered_every_byte(void **state)
{
	char s[sizeof(V2_ALICE)];
	size_t i, len = strlen(V2_ALICE);
	int r;

	(void)state;
	for (i = 0; i < len; i++) {
		memcpy(s, V2_ALICE, sizeof(s));
		s[i] = s[i] == 'A' ? 'B' : 'A';
		r = verify(s, "session", 31, T0);
		if (r == COOKIE_OK)
			fail_msg("byte %zu changed still verifies", i);
		/* A changed byte after the version is a bad signature, or a
		 * layout that no longer parses. */
		if (i >= 2 && r != COOKIE_SIGNATURE && r != COOKIE_MALFORMED)
			fail_msg("byte %zu: verdict %d", i, r);
	}
}

static void
test_tampered_value(void **state)
{
	(void)state;
	/* "alice" -> "alicf" with the same length and signature. */
	assert_int_equal(verify("2|1:0|10:1700000000|7:session|8:YWxpY2Y=|"
	    "d130bfd5bce11256fe0af3c33fcce9b6488623885ba371041c9602bef856977b",
	    "session", 31, T0), COOKIE_SIGNATURE);
	/* A later time stamp, to escape expiry. */
	assert_int_equal(verify("2|1:0|10:1800000000|7:session|8:YWxpY2U=|"
	    "d130bfd5bce11256fe0af3c33fcce9b6488623885ba371041c9602bef856977b",
	    "session", 31, T0), COOKIE_SIGNATURE);
}

static void
test_tampered_signature(void **state)
{
	char s[sizeof(V2_ALICE)];
	size_t len = strlen(V2_ALICE);

	(void)state;
	/* Uppercase hex: Tornado compares the hex strings, so do we. */
	memcpy(s, V2_ALICE, sizeof(s));
	s[len - 64] = 'D';
	assert_int_equal(verify(s, "session", 31, T0), COOKIE_SIGNATURE);
	/* Cut short, one hex digit more, none. */
	memcpy(s, V2_ALICE, sizeof(s));
	s[len - 1] = '\0';
	assert_int_equal(verify(s, "session", 31, T0), COOKIE_SIGNATURE);
	assert_int_equal(verify(V2_ALICE "0", "session", 31, T0),
	    COOKIE_SIGNATURE);
	assert_int_equal(verify("2|1:0|10:1700000000|7:session|8:YWxpY2U=|",
	    "session", 31, T0), COOKIE_SIGNATURE);
}

static void
test_wrong_name(void **state)
{
	(void)state;
	assert_int_equal(verify(V2_ALICE, "sessio", 31, T0), COOKIE_NAME);
	assert_int_equal(verify(V2_ALICE, "sessions", 31, T0), COOKIE_NAME);
	assert_int_equal(verify(V2_ALICE, "Session", 31, T0), COOKIE_NAME);
	assert_int_equal(verify(V2_ALICE, "", 31, T0), COOKIE_NAME);
}

static void
test_expiry(void **state)
{
	(void)state;
	/* Tornado: expired when stamp < now - max_age_days * 86400. */
	assert_int_equal(verify(V2_ALICE, "session", 31, T0 + 31 * DAY),
	    COOKIE_OK);
	assert_int_equal(verify(V2_ALICE, "session", 31, T0 + 31 * DAY + 1),
	    COOKIE_EXPIRED);
	assert_int_equal(verify(V2_ALICE, "session", 0.5, T0 + DAY / 2),
	    COOKIE_OK);
	assert_int_equal(verify(V2_ALICE, "session", 0.5, T0 + DAY / 2 + 1),
	    COOKIE_EXPIRED);
	assert_int_equal(verify(V2_ALICE, "session", 1.0 / 86400, T0 + 2),
	    COOKIE_EXPIRED);
	/* <= 0 and infinity: any age.  NaN: refused. */
	assert_int_equal(verify(V2_ALICE, "session", 0, T0 + 3650 * DAY),
	    COOKIE_OK);
	assert_int_equal(verify(V2_ALICE, "session", -1, T0 + 3650 * DAY),
	    COOKIE_OK);
	assert_int_equal(verify(V2_ALICE, "session", INFINITY,
	    T0 + 3650 * DAY), COOKIE_OK);
	assert_int_equal(verify(V2_ALICE, "session", NAN, T0),
	    COOKIE_ARGS);
}

static void
test_future(void **state)
{
	char *s;

	(void)state;
	/* Up to COOKIE_MAX_FUTURE ahead of the clock is clock skew. */
	assert_int_equal(verify(V2_ALICE, "session", 31,
	    T0 - COOKIE_MAX_FUTURE), COOKIE_OK);
	assert_int_equal(verify(V2_ALICE, "session", 31,
	    T0 - COOKIE_MAX_FUTURE - 1), COOKIE_FUTURE);
	assert_int_equal(verify(V2_ALICE, "session", 0, 0), COOKIE_FUTURE);
	/* Signed, but stamped in the year 3000 or later: refused. */
	s = sign_fields("0", "32503680000", "session", "YWxpY2U=");
	assert_int_equal(verify(s, "session", 0, T0), COOKIE_FUTURE);
	free(s);
	s = sign_fields("0", "99999999999999999999999", "session", "YWxpY2U=");
	assert_int_equal(verify(s, "session", 0, T0), COOKIE_FUTURE);
	free(s);
}

static void
test_version1_and_others(void **state)
{
	(void)state;
	assert_int_equal(verify(V1_ALICE, "session", 31, T0), COOKIE_VERSION);
	assert_int_equal(verify("1|" ALICE_FIELDS, "session", 31, T0),
	    COOKIE_VERSION);
	assert_int_equal(verify("3|" ALICE_FIELDS, "session", 31, T0),
	    COOKIE_VERSION);
	assert_int_equal(verify("22|" ALICE_FIELDS, "session", 31, T0),
	    COOKIE_VERSION);
	assert_int_equal(verify("2", "session", 31, T0), COOKIE_VERSION);
	assert_int_equal(verify("", "session", 31, T0), COOKIE_MALFORMED);
	assert_int_equal(verify("\"" V2_ALICE "\"", "session", 31, T0),
	    COOKIE_VERSION);
}

static void
test_malformed_lengths(void **state)
{
	static const char *bad[] = {
		"2|",
		"2||",
		"2|1:0",
		"2|1:0|",
		"2|1:0|10:1700000000|7:session|8:YWxpY2U=",
		"2|1:0|10:1700000000|7:session|8:YWxpY2U",
		"2|1:0|10:1700000000|7:session|9:YWxpY2U=|",
		"2|1:0|10:1700000000|7:session|7:YWxpY2U=|",
		"2|1:0|10:1700000000|7:session|-8:YWxpY2U=|",
		"2|1:0|10:1700000000|7:session|+8:YWxpY2U=|",
		"2|1:0|10:1700000000|7:session| 8:YWxpY2U=|",
		"2|1:0|10:1700000000|7:session|08:YWxpY2U=|",
		"2|1:0|10:1700000000|7:session|:YWxpY2U=|",
		"2|1:0|10:1700000000|7:session|8YWxpY2U=|",
		"2|1:0|10:1700000000|7session|8:YWxpY2U=|",
		"2|2:0|10:1700000000|7:session|8:YWxpY2U=|",
		"2|0:|10:1700000000|7:session|8:YWxpY2U=|",
		"2|1:0|10:1700000000|7:session|8:YWxpY2U=|8:YWxpY2U=|",
	};
	char *s;
	size_t i;
	int r;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		/* Signed, so that only the layout can refuse it. */
		s = sign(bad[i]);
		r = verify(s, "session", 0, T0);
		if (r != COOKIE_MALFORMED && r != COOKIE_SIGNATURE)
			fail_msg("case %zu (%s): verdict %d", i, bad[i], r);
		if (r == COOKIE_OK)
			fail_msg("case %zu accepted", i);
		free(s);
	}
	/* The ones whose layout fails before any signature. */
	for (i = 0; i < 5; i++)
		assert_int_equal(verify(bad[i], "session", 0, T0),
		    COOKIE_MALFORMED);
}

static void
test_huge_lengths(void **state)
{
	static const char *bad[] = {
		"2|1:0|10:1700000000|7:session|99999999999999999999999999:x|",
		"2|1:0|10:1700000000|7:session|18446744073709551616:x|",
		"2|1:0|10:1700000000|7:session|18446744073709551615:x|",
		"2|1:0|10:1700000000|7:session|4294967296:x|",
		"2|1:0|10:1700000000|7:session|184467440737095516150:x|",
		"2|99999999999999999999:0|",
	};
	char *s;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		s = sign(bad[i]);
		assert_int_equal(verify(s, "session", 0, T0), COOKIE_MALFORMED);
		free(s);
	}
}

/* Signed by the secret's holder, but not a value Tornado would make. */
static void
test_signed_but_odd(void **state)
{
	static const struct {
		const char	*kv, *ts, *value;
		int		 want;
		const char	*out;	/* if COOKIE_OK */
	} cases[] = {
		{ "0", "1700000000", "YWxpY2U", COOKIE_VALUE, NULL },
		{ "0", "1700000000", "YWxpY2U==", COOKIE_VALUE, NULL },
		{ "0", "1700000000", "YWxp=2U=", COOKIE_VALUE, NULL },
		{ "0", "1700000000", "YWxp Y2U", COOKIE_VALUE, NULL },
		{ "0", "1700000000", "YWx-Y2U_", COOKIE_VALUE, NULL },
		{ "0", "1700000000", "====", COOKIE_VALUE, NULL },
		{ "0", "1700000000", "YQ==", COOKIE_OK, "a" },
		{ "0", "1700000000", "YWI=", COOKIE_OK, "ab" },
		{ "0", "1700000000", "YWJj", COOKIE_OK, "abc" },
		{ "0", "1700000000", "AA==", COOKIE_VALUE, NULL },	/* "\0" */
		{ "0", "1700000000", "YQBi", COOKIE_VALUE, NULL },	/* "a\0b" */
		{ "0", "01700000000", "YWxpY2U=", COOKIE_MALFORMED, NULL },
		{ "0", "+1700000000", "YWxpY2U=", COOKIE_MALFORMED, NULL },
		{ "0", "1700000000.5", "YWxpY2U=", COOKIE_MALFORMED, NULL },
		{ "0", "", "YWxpY2U=", COOKIE_MALFORMED, NULL },
		{ "00", "1700000000", "YWxpY2U=", COOKIE_MALFORMED, NULL },
		{ "x", "1700000000", "YWxpY2U=", COOKIE_MALFORMED, NULL },
		{ "", "1700000000", "YWxpY2U=", COOKIE_MALFORMED, NULL },
		{ "123456789012345678", "1700000000", "YWxpY2U=", COOKIE_OK,
		    "alice" },
	};
	char *s, *out = NULL;
	size_t i;
	int r;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		s = sign_fields(cases[i].kv, cases[i].ts, "session",
		    cases[i].value);
		r = verify_at(s, "session", 31, T0, &out, NULL);
		if (r != cases[i].want)
			fail_msg("case %zu (%s): verdict %d, want %d", i, s, r,
			    cases[i].want);
		if (r == COOKIE_OK) {
			assert_string_equal(out, cases[i].out);
			free(out);
		}
		free(s);
	}
}

static void
test_verdict_str(void **state)
{
	int v;

	(void)state;
	for (v = COOKIE_ARGS; v <= COOKIE_OK; v++)
		assert_string_not_equal(cookie_verdict_str(v), "unknown");
	assert_string_equal(cookie_verdict_str(1), "unknown");
}

/* ---------------------------------------------------------- decoding */

struct dcase {
	const char	*in;
	size_t		 in_len;
	const char	*unquoted;	/* NULL: -1 */
	const char	*decoded;	/* NULL: -1 */
};

#define D(lit, u, d)	{ (lit), sizeof(lit) - 1, (u), (d) }

static void
run_dcase(const struct dcase *dc)
{
	char *in = malloc(dc->in_len > 0 ? dc->in_len : 1);
	char *out = malloc(dc->in_len + 1);
	long n;

	assert_non_null(in);
	assert_non_null(out);
	memcpy(in, dc->in, dc->in_len);
	n = cookie_unquote(in, dc->in_len, out);
	if (dc->unquoted == NULL)
		assert_int_equal(n, -1);
	else {
		if (n < 0)
			fail_msg("unquote \"%s\" refused", dc->in);
		assert_int_equal((size_t)n, strlen(dc->unquoted));
		assert_string_equal(out, dc->unquoted);
	}
	n = cookie_decode(in, dc->in_len, out);
	if (dc->decoded == NULL)
		assert_int_equal(n, -1);
	else {
		if (n < 0)
			fail_msg("decode \"%s\" refused", dc->in);
		assert_int_equal((size_t)n, strlen(dc->decoded));
		assert_string_equal(out, dc->decoded);
	}
	free(in);
	free(out);
}

static void
test_decode_plain(void **state)
{
	static const struct dcase cases[] = {
		D("", "", ""),
		D("abc", "abc", "abc"),
		D("a+b", "a+b", "a+b"),
		D("\"", "\"", "\""),
		D("\"abc", "\"abc", "\"abc"),
		D("abc\"", "abc\"", "abc\""),
		D("a\\\"b", "a\\\"b", "a\\\"b"),	/* not quoted: as is */
		D("a\0b", NULL, NULL),
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		run_dcase(&cases[i]);
}

static void
test_decode_quoted(void **state)
{
	/* As Python's http.cookies writes them (see _quote). */
	static const struct dcase cases[] = {
		D("\"\"", "", ""),
		D("\"a b\"", "a b", "a b"),
		D("\"x y\\\"\\\\ \\351\\012\\073\"", "x y\"\\ \xc3\xa9\n;",
		    "x y\"\\ \xc3\xa9\n;"),
		D("\"\\101\\102\"", "AB", "AB"),
		D("\"\\377\"", "\xc3\xbf", "\xc3\xbf"),
		D("\"\\177\\200\"", "\x7f\xc2\x80", "\x7f\xc2\x80"),
		D("\"\\400\"", "400", "400"),		/* > 0377: \4 is 4 */
		D("\"\\08\"", "08", "08"),
		D("\"\\x\"", "x", "x"),
		D("\"\\\\\"", "\\", "\\"),
		D("\"ab\\\"", "ab\\", "ab\\"),		/* lone '\' at the end */
		D("\"a\\\nb\"", "a\\\nb", "a\\\nb"),	/* '\' LF stays */
		D("\"\\12\"", "12", "12"),		/* too short for octal */
		D("\"\\000\"", NULL, NULL),
		D("\"a\\\0\"", NULL, NULL),
		D("\"a\0\"", NULL, NULL),
		D("\"\"\"", "\"", "\""),
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		run_dcase(&cases[i]);
}

static void
test_decode_percent(void **state)
{
	/* As encodeURIComponent writes them. */
	static const struct dcase cases[] = {
		D("h%C3%A9llo%20w%C3%B6rld", "h%C3%A9llo%20w%C3%B6rld",
		    "h\xc3\xa9llo w\xc3\xb6rld"),
		D("a%3Bb%3d", "a%3Bb%3d", "a;b="),
		D("100%", "100%", "100%"),
		D("%", "%", "%"),
		D("%4", "%4", "%4"),
		D("%zz%41", "%zz%41", "%zzA"),
		D("%%41", "%%41", "%A"),
		D("%2541", "%2541", "%41"),		/* decoded once */
		D("a+b", "a+b", "a+b"),
		D("%00", "%00", NULL),
		D("a%00b", "a%00b", NULL),
		D("\"%41 b\"", "%41 b", "A b"),
		D("\"\\045\\064\\061\"", "%41", "A"),	/* quoted, then % */
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		run_dcase(&cases[i]);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_sign_helper_matches_tornado),
		cmocka_unit_test(test_valid),
		cmocka_unit_test(test_wrong_secret),
		cmocka_unit_test(test_tampered_every_byte),
		cmocka_unit_test(test_tampered_value),
		cmocka_unit_test(test_tampered_signature),
		cmocka_unit_test(test_wrong_name),
		cmocka_unit_test(test_expiry),
		cmocka_unit_test(test_future),
		cmocka_unit_test(test_version1_and_others),
		cmocka_unit_test(test_malformed_lengths),
		cmocka_unit_test(test_huge_lengths),
		cmocka_unit_test(test_signed_but_odd),
		cmocka_unit_test(test_verdict_str),
		cmocka_unit_test(test_decode_plain),
		cmocka_unit_test(test_decode_quoted),
		cmocka_unit_test(test_decode_percent),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

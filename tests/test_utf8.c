/*
 * Unit tests for utf8.c: known valid and invalid strings, incremental
 * feeding, fail-fast positions, and a cross-check against a slow
 * reference decoder over random input.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "utf8.h"
#include "rng.h"

#define S(lit)	(const uint8_t *)(lit), sizeof(lit) - 1

static unsigned
rng_below(unsigned n)
{
	return (unsigned)(rng_next() % n);
}

/*
 * The index of the byte at which feeding one byte at a time first gives
 * UTF8_REJECT, or -1 if it never does.
 */
static long
reject_pos(const uint8_t *p, size_t n)
{
	utf8_state st = UTF8_ACCEPT;
	size_t i;

	for (i = 0; i < n; i++) {
		st = utf8_feed(st, p + i, 1);
		if (st == UTF8_REJECT)
			return (long)i;
	}
	return -1;
}

/* Feed in two pieces split at s. */
static utf8_state
feed_split(const uint8_t *p, size_t n, size_t s)
{
	utf8_state st;

	st = utf8_feed(UTF8_ACCEPT, p, s);
	return utf8_feed(st, p + s, n - s);
}

/* p is valid however it is cut up. */
static void
check_valid(const uint8_t *p, size_t n)
{
	size_t s, t;
	utf8_state st;

	assert_true(utf8_valid(p, n));
	assert_int_equal(utf8_feed(UTF8_ACCEPT, p, n), UTF8_ACCEPT);
	assert_int_equal(reject_pos(p, n), -1);
	for (s = 0; s <= n; s++) {
		assert_int_equal(feed_split(p, n, s), UTF8_ACCEPT);
		for (t = s; t <= n; t++) {
			st = utf8_feed(UTF8_ACCEPT, p, s);
			st = utf8_feed(st, p + s, t - s);
			st = utf8_feed(st, p + t, n - t);
			assert_int_equal(st, UTF8_ACCEPT);
		}
	}
}

/* p is rejected at byte pos, however it is cut up. */
static void
check_reject_at(const uint8_t *p, size_t n, long pos)
{
	size_t s;

	assert_false(utf8_valid(p, n));
	assert_int_equal(reject_pos(p, n), pos);
	/* The prefix before the bad byte is not rejected... */
	assert_int_not_equal(utf8_feed(UTF8_ACCEPT, p, (size_t)pos),
	    UTF8_REJECT);
	/* ...but with the bad byte it is, in one call or two. */
	assert_int_equal(utf8_feed(UTF8_ACCEPT, p, (size_t)pos + 1),
	    UTF8_REJECT);
	for (s = 0; s <= n; s++)
		assert_int_equal(feed_split(p, n, s), UTF8_REJECT);
}

/* p is a valid prefix that stops inside a sequence. */
static void
check_truncated(const uint8_t *p, size_t n)
{
	utf8_state st;
	size_t s;

	assert_false(utf8_valid(p, n));
	assert_int_equal(reject_pos(p, n), -1);
	st = utf8_feed(UTF8_ACCEPT, p, n);
	assert_int_not_equal(st, UTF8_ACCEPT);
	assert_int_not_equal(st, UTF8_REJECT);
	for (s = 0; s <= n; s++)
		assert_int_equal(feed_split(p, n, s), st);
}

static void
test_valid_samples(void **state)
{
	static const uint8_t allascii[] =
	    "The quick brown fox jumps over the lazy dog, 0123456789!";
	uint8_t ascii[128];
	size_t i;

	check_valid(S(""));
	check_valid(S("a"));
	check_valid(allascii, sizeof(allascii) - 1);
	for (i = 0; i < 128; i++)
		ascii[i] = (uint8_t)i;
	check_valid(ascii, sizeof(ascii));

	check_valid(S("\xC2\x80"));			/* U+0080 */
	check_valid(S("\xC3\xA9"));			/* U+00E9 */
	check_valid(S("\xDF\xBF"));			/* U+07FF */
	check_valid(S("\xE0\xA0\x80"));			/* U+0800 */
	check_valid(S("\xE2\x82\xAC"));			/* U+20AC */
	check_valid(S("\xED\x9F\xBF"));			/* U+D7FF */
	check_valid(S("\xEE\x80\x80"));			/* U+E000 */
	check_valid(S("\xEF\xBF\xBD"));			/* U+FFFD */
	check_valid(S("\xEF\xBF\xBF"));			/* U+FFFF */
	check_valid(S("\xF0\x90\x80\x80"));		/* U+10000 */
	check_valid(S("\xF0\x9F\x98\x80"));		/* U+1F600 */
	check_valid(S("\xF3\xBF\xBF\xBF"));		/* U+FFFFF */
	check_valid(S("\xF4\x80\x80\x80"));		/* U+100000 */
	check_valid(S("\xF4\x8F\xBF\xBF"));		/* U+10FFFF */
	/* Autobahn 6.2: "Hello-µ@ßöäüàá-UTF-8!!" */
	check_valid(S("Hello-\xC2\xB5@\xC3\x9F\xC3\xB6\xC3\xA4\xC3\xBC"
	    "\xC3\xA0\xC3\xA1-UTF-8!!"));
	/* "κόσμε" */
	check_valid(S("\xCE\xBA\xE1\xBD\xB9\xCF\x83\xCE\xBC\xCE\xB5"));
	/* A mix, long enough for the ASCII fast path to matter. */
	check_valid(S("abcdefgh\xC3\xA9ijklmnopqrst\xE2\x82\xAC"
	    "uvwxyz01\xF0\x9F\x98\x80" "23456789ABCDEFGH"));
	/* U+0000 is valid UTF-8. */
	check_valid(S("\x00\x00\x00\x00\x00\x00\x00\x00\x00"));
}

static void
test_overlong(void **state)
{
	/* Overlong forms of '/' (Autobahn 6.8, RFC 3629 section 10). */
	check_reject_at(S("\xC0\xAF"), 0);
	check_reject_at(S("\xE0\x80\xAF"), 1);
	check_reject_at(S("\xF0\x80\x80\xAF"), 1);
	/* Overlong forms of U+0000. */
	check_reject_at(S("\xC0\x80"), 0);
	check_reject_at(S("\xE0\x80\x80"), 1);
	check_reject_at(S("\xF0\x80\x80\x80"), 1);
	/* The largest overlongs: U+007F, U+07FF and U+FFFF. */
	check_reject_at(S("\xC1\xBF"), 0);
	check_reject_at(S("\xE0\x9F\xBF"), 1);
	check_reject_at(S("\xF0\x8F\xBF\xBF"), 1);
	/* Five and six byte forms are gone too. */
	check_reject_at(S("\xF8\x88\x80\x80\x80"), 0);
	check_reject_at(S("\xFC\x84\x80\x80\x80\x80"), 0);
}

static void
test_surrogates(void **state)
{
	check_reject_at(S("\xED\xA0\x80"), 1);		/* U+D800 */
	check_reject_at(S("\xED\xAD\xBF"), 1);		/* U+DB7F */
	check_reject_at(S("\xED\xAE\x80"), 1);		/* U+DB80 */
	check_reject_at(S("\xED\xAF\xBF"), 1);		/* U+DBFF */
	check_reject_at(S("\xED\xB0\x80"), 1);		/* U+DC00 */
	check_reject_at(S("\xED\xBE\x80"), 1);		/* U+DF80 */
	check_reject_at(S("\xED\xBF\xBF"), 1);		/* U+DFFF */
	/* A surrogate pair, U+D800 U+DC00. */
	check_reject_at(S("\xED\xA0\x80\xED\xB0\x80"), 1);
	/* Surrounded by valid text. */
	check_reject_at(S("ab\xC3\xA9\xED\xBF\xBF"), 5);
}

static void
test_too_big(void **state)
{
	unsigned c;
	uint8_t b[4];

	check_reject_at(S("\xF4\x90\x80\x80"), 1);	/* U+110000 */
	check_reject_at(S("\xF4\xBF\xBF\xBF"), 1);
	check_reject_at(S("\xF7\xBF\xBF\xBF"), 0);	/* U+1FFFFF */
	/* No lead byte from F5 up can start anything. */
	for (c = 0xF5; c <= 0xFF; c++) {
		b[0] = (uint8_t)c;
		b[1] = 0x80;
		b[2] = 0x80;
		b[3] = 0x80;
		check_reject_at(b, 4, 0);
		check_reject_at(b, 1, 0);
	}
}

static void
test_stray_continuation(void **state)
{
	unsigned c;
	uint8_t b[3];

	for (c = 0x80; c <= 0xBF; c++) {
		b[0] = (uint8_t)c;
		check_reject_at(b, 1, 0);
		b[0] = 'x';
		b[1] = (uint8_t)c;
		check_reject_at(b, 2, 1);
		/* After a complete two-byte sequence. */
		b[0] = 0xC2;
		b[1] = 0x80;
		b[2] = (uint8_t)c;
		check_reject_at(b, 3, 2);
	}
	/* A lead byte where a continuation should be. */
	check_reject_at(S("\xC2\xC2\x80"), 1);
	check_reject_at(S("\xE2\x82\xE2\x82\xAC"), 2);
	check_reject_at(S("\xF0\x9F\x98" "a"), 3);
	check_reject_at(S("\xE1" "a"), 1);
}

static void
test_truncated(void **state)
{
	check_truncated(S("\xC2"));
	check_truncated(S("\xDF"));
	check_truncated(S("\xE0"));
	check_truncated(S("\xE0\xA0"));
	check_truncated(S("\xED"));
	check_truncated(S("\xED\x9F"));
	check_truncated(S("\xEF\xBF"));
	check_truncated(S("\xF0"));
	check_truncated(S("\xF0\x90"));
	check_truncated(S("\xF0\x90\x80"));
	check_truncated(S("\xF4"));
	check_truncated(S("\xF4\x8F"));
	check_truncated(S("\xF4\x8F\xBF"));
	check_truncated(S("abcdefghijklmnop\xE2\x82"));
	check_truncated(S("\xCE\xBA\xE1\xBD\xB9\xCF\x83\xCE\xBC\xCE"));
}

/* "κόσμε" and then something invalid (Autobahn 6.3 and 6.4). */
static void
test_autobahn_fail_fast(void **state)
{
	static const uint8_t kosme[] =
	    "\xCE\xBA\xE1\xBD\xB9\xCF\x83\xCE\xBC\xCE\xB5";
	static const uint8_t bad[] =
	    "\xCE\xBA\xE1\xBD\xB9\xCF\x83\xCE\xBC\xCE\xB5"
	    "\xF4\x90\x80\x80" "edited";
	const size_t k = sizeof(kosme) - 1;
	utf8_state st;

	/* Whole, the bad byte is the 0x90 after F4. */
	check_reject_at(bad, sizeof(bad) - 1, (long)k + 1);

	/* 6.4.1: in three fragments, the third one fails. */
	st = utf8_feed(UTF8_ACCEPT, bad, k);
	assert_int_equal(st, UTF8_ACCEPT);
	st = utf8_feed(st, bad + k, 4);
	assert_int_equal(st, UTF8_REJECT);

	/* 6.4.2: the F4 alone is still fine, the 0x90 is not. */
	st = utf8_feed(UTF8_ACCEPT, bad, k + 1);
	assert_int_not_equal(st, UTF8_ACCEPT);
	assert_int_not_equal(st, UTF8_REJECT);
	st = utf8_feed(st, bad + k + 1, 1);
	assert_int_equal(st, UTF8_REJECT);

	/* 6.4.3 and 6.4.4: "κόσμε" then a surrogate, byte by byte. */
	check_reject_at(S("\xCE\xBA\xE1\xBD\xB9\xCF\x83\xCE\xBC\xCE\xB5"
	    "\xED\xA0\x80" "edited"), 12);

	/* Autobahn 6.3: an invalid sequence in the middle. */
	check_reject_at(S("\xCE\xBA\xE1\xBD\xB9\xCF\x83\xCE\xBC\xCE\xB5"
	    "\xED\xA0\x80\x65\x64\x69\x74\x65\x64"), 12);

	/* Fail fast examples straight from the description. */
	check_reject_at(S("\xF4\x90"), 1);
	check_reject_at(S("\xED\xA0"), 1);
	check_reject_at(S("\xC0"), 0);
	check_reject_at(S("\xC1"), 0);
	check_reject_at(S("\xE0\x9F"), 1);
	check_reject_at(S("\xF0\x8F"), 1);
}

/* Once rejected, always rejected. */
static void
test_reject_sticks(void **state)
{
	utf8_state st;

	st = utf8_feed(UTF8_ACCEPT, S("\xFF"));
	assert_int_equal(st, UTF8_REJECT);
	st = utf8_feed(st, S("abcdefghijklmnopqrstuvwxyz"));
	assert_int_equal(st, UTF8_REJECT);
	st = utf8_feed(st, S("\xC3\xA9"));
	assert_int_equal(st, UTF8_REJECT);
	st = utf8_feed(st, S(""));
	assert_int_equal(st, UTF8_REJECT);
	st = utf8_feed(UTF8_REJECT, S("a"));
	assert_int_equal(st, UTF8_REJECT);

	/* Empty input leaves any state as it was. */
	st = utf8_feed(UTF8_ACCEPT, S("\xE2"));
	assert_int_equal(utf8_feed(st, NULL, 0), st);
	assert_int_equal(utf8_feed(UTF8_ACCEPT, NULL, 0), UTF8_ACCEPT);
	assert_true(utf8_valid(NULL, 0));
}

/*
 * The ASCII fast path: a bad byte or a multibyte sequence at every
 * position in a run of ASCII, at every alignment.
 */
static void
test_ascii_fast_path(void **state)
{
	enum { N = 64 };
	uint8_t buf[N + 8], *p;
	size_t pos, align;

	for (align = 0; align < 8; align++)
	for (pos = 0; pos < N; pos++) {
		p = buf + align;
		memset(p, 'A', N);
		p[pos] = 0x80;
		check_reject_at(p, N, (long)pos);
		p[pos] = 0xFE;
		check_reject_at(p, N, (long)pos);

		memset(p, 'A', N);
		if (pos + 1 < N) {
			p[pos] = 0xC3;
			p[pos + 1] = 0xA9;
			assert_true(utf8_valid(p, N));
			/* Cut short right after the lead byte. */
			check_truncated(p, pos + 1);
		}
		if (pos + 4 < N) {
			memcpy(p + pos, "\xF0\x9F\x98\x80", 4);
			assert_true(utf8_valid(p, N));
			/* The bad byte in the middle of ASCII after it. */
			p[N - 1] = 0xBF;
			check_reject_at(p, N, N - 1);
		}
	}
}

/*
 * The reference: a straightforward decoder that works out code points.
 * verdict[k] says what the first k bytes are: 0 on a character boundary,
 * 1 inside a character that can still be completed, 2 impossible.
 */
enum { V_ACCEPT, V_MIDDLE, V_REJECT };

/* Can a sequence of len bytes whose first bytes gave cp, with rest
 * continuation bytes still to come, end as a valid scalar value? */
static bool
ref_completable(uint32_t cp, int rest, int len)
{
	static const uint32_t minimum[5] = { 0, 0, 0x80, 0x800, 0x10000 };
	uint32_t lo, hi;

	lo = cp << (6 * rest);
	hi = lo | ((UINT32_C(1) << (6 * rest)) - 1);
	if (hi < minimum[len] || lo > 0x10FFFF)
		return false;
	/* Entirely inside the surrogates? */
	if (lo >= 0xD800 && hi <= 0xDFFF)
		return false;
	return true;
}

static void
ref_verdicts(const uint8_t *p, size_t n, uint8_t *verdict)
{
	size_t i = 0, k;
	uint32_t cp;
	int len, j;
	uint8_t c;

	verdict[0] = V_ACCEPT;
	while (i < n) {
		c = p[i];
		if (c < 0x80) {
			verdict[++i] = V_ACCEPT;
			continue;
		}
		if ((c & 0xE0) == 0xC0) {
			len = 2;
			cp = c & 0x1F;
		} else if ((c & 0xF0) == 0xE0) {
			len = 3;
			cp = c & 0x0F;
		} else if ((c & 0xF8) == 0xF0) {
			len = 4;
			cp = c & 0x07;
		} else {
			break;
		}
		if (!ref_completable(cp, len - 1, len))
			break;
		verdict[++i] = V_MIDDLE;
		for (j = 1; j < len && i < n; j++) {
			c = p[i];
			if ((c & 0xC0) != 0x80)
				goto bad;
			cp = (cp << 6) | (c & 0x3F);
			if (!ref_completable(cp, len - 1 - j, len))
				goto bad;
			verdict[++i] = j == len - 1 ? V_ACCEPT : V_MIDDLE;
		}
	}
bad:
	for (k = i + 1; k <= n; k++)
		verdict[k] = V_REJECT;
}

/* Encode cp (a scalar value) and return the length. */
static size_t
ref_encode(uint32_t cp, uint8_t *out)
{
	if (cp < 0x80) {
		out[0] = (uint8_t)cp;
		return 1;
	}
	if (cp < 0x800) {
		out[0] = (uint8_t)(0xC0 | (cp >> 6));
		out[1] = (uint8_t)(0x80 | (cp & 0x3F));
		return 2;
	}
	if (cp < 0x10000) {
		out[0] = (uint8_t)(0xE0 | (cp >> 12));
		out[1] = (uint8_t)(0x80 | ((cp >> 6) & 0x3F));
		out[2] = (uint8_t)(0x80 | (cp & 0x3F));
		return 3;
	}
	out[0] = (uint8_t)(0xF0 | (cp >> 18));
	out[1] = (uint8_t)(0x80 | ((cp >> 12) & 0x3F));
	out[2] = (uint8_t)(0x80 | ((cp >> 6) & 0x3F));
	out[3] = (uint8_t)(0x80 | (cp & 0x3F));
	return 4;
}

/* A random scalar value, biased towards the edges of the ranges. */
static uint32_t
random_scalar(void)
{
	static const uint32_t edges[] = {
		0x7F, 0x80, 0x7FF, 0x800, 0xD7FF, 0xE000, 0xFFFD, 0xFFFF,
		0x10000, 0x10FFFF, 0x100000, 0xFFFFF,
	};
	uint32_t cp;

	switch (rng_below(4)) {
	case 0:
		return edges[rng_below(sizeof(edges) / sizeof(edges[0]))];
	case 1:
		cp = 0x80 + rng_below(0x800 - 0x80);
		break;
	case 2:
		cp = 0x800 + rng_below(0x10000 - 0x800);
		break;
	default:
		cp = 0x10000 + rng_below(0x110000 - 0x10000);
		break;
	}
	if (cp >= 0xD800 && cp <= 0xDFFF)
		cp -= 0x800;
	return cp;
}

/* Random bytes that look a lot like UTF-8. */
static size_t
random_string(uint8_t *buf, size_t max)
{
	static const uint8_t tricky[] = {
		0x80, 0x8F, 0x90, 0x9F, 0xA0, 0xBF, 0xC0, 0xC1, 0xC2, 0xDF,
		0xE0, 0xE1, 0xEC, 0xED, 0xEE, 0xEF, 0xF0, 0xF1, 0xF3, 0xF4,
		0xF5, 0xF7, 0xF8, 0xFF,
	};
	uint8_t tmp[4];
	size_t n = 0, want, k, i;

	want = rng_below((unsigned)max + 1);
	while (n < want) {
		switch (rng_below(8)) {
		case 0:
		case 1:
			/* A run of ASCII. */
			k = 1 + rng_below(20);
			for (i = 0; i < k && n < max; i++)
				buf[n++] = (uint8_t)(0x20 + rng_below(0x5F));
			break;
		case 2:
		case 3:
			/* A whole valid character. */
			k = ref_encode(random_scalar(), tmp);
			for (i = 0; i < k && n < max; i++)
				buf[n++] = tmp[i];
			break;
		case 4:
			/* Part of a valid character. */
			k = ref_encode(random_scalar(), tmp);
			k = rng_below((unsigned)k);
			for (i = 0; i < k && n < max; i++)
				buf[n++] = tmp[i];
			break;
		case 5:
			buf[n++] = tricky[rng_below(sizeof(tricky))];
			break;
		case 6:
			/* A continuation byte. */
			buf[n++] = (uint8_t)(0x80 + rng_below(0x40));
			break;
		default:
			buf[n++] = (uint8_t)rng_next();
			break;
		}
	}
	return n;
}

static void
test_random_vs_reference(void **state)
{
	enum { MAX = 40, ITER = 300000 };
	uint8_t buf[MAX], verdict[MAX + 1];
	size_t n, i, s, t;
	utf8_state st, whole;
	unsigned seen[3] = { 0, 0, 0 };
	int iter;

	rng_seed(20240601);
	for (iter = 0; iter < ITER; iter++) {
		n = random_string(buf, MAX);
		ref_verdicts(buf, n, verdict);
		seen[verdict[n]]++;

		/* One byte at a time, the state class after every byte. */
		st = UTF8_ACCEPT;
		for (i = 0; i < n; i++) {
			st = utf8_feed(st, buf + i, 1);
			switch (verdict[i + 1]) {
			case V_ACCEPT:
				assert_int_equal(st, UTF8_ACCEPT);
				break;
			case V_MIDDLE:
				assert_int_not_equal(st, UTF8_ACCEPT);
				assert_int_not_equal(st, UTF8_REJECT);
				break;
			default:
				assert_int_equal(st, UTF8_REJECT);
				break;
			}
		}

		/* All at once, and cut in three at random. */
		whole = utf8_feed(UTF8_ACCEPT, buf, n);
		assert_int_equal(whole, st);
		assert_int_equal(utf8_valid(buf, n), verdict[n] == V_ACCEPT);
		s = n == 0 ? 0 : rng_below((unsigned)n + 1);
		t = s + rng_below((unsigned)(n - s) + 1);
		st = utf8_feed(UTF8_ACCEPT, buf, s);
		st = utf8_feed(st, buf + s, t - s);
		st = utf8_feed(st, buf + t, n - t);
		assert_int_equal(st, whole);
	}
	/* The generator gives a fair share of every outcome. */
	for (i = 0; i < 3; i++)
		assert_true(seen[i] > ITER / 100);
}

/* Every scalar value is accepted alone, and every surrogate refused. */
static void
test_all_scalars(void **state)
{
	uint8_t b[4];
	uint32_t cp;
	size_t n;

	for (cp = 0; cp <= 0x10FFFF; cp++) {
		if (cp >= 0xD800 && cp <= 0xDFFF) {
			b[0] = 0xED;
			b[1] = (uint8_t)(0x80 | ((cp >> 6) & 0x3F));
			b[2] = (uint8_t)(0x80 | (cp & 0x3F));
			assert_int_equal(reject_pos(b, 3), 1);
			continue;
		}
		n = ref_encode(cp, b);
		assert_int_equal(utf8_feed(UTF8_ACCEPT, b, n), UTF8_ACCEPT);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_valid_samples),
		cmocka_unit_test(test_overlong),
		cmocka_unit_test(test_surrogates),
		cmocka_unit_test(test_too_big),
		cmocka_unit_test(test_stray_continuation),
		cmocka_unit_test(test_truncated),
		cmocka_unit_test(test_autobahn_fail_fast),
		cmocka_unit_test(test_reject_sticks),
		cmocka_unit_test(test_ascii_fast_path),
		cmocka_unit_test(test_random_vs_reference),
		cmocka_unit_test(test_all_scalars),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

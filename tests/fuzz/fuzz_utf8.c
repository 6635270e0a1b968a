/*
 * fuzz_utf8: the incremental UTF-8 validator (src/utf8.c) against a slow
 * reference decoder written from RFC 3629 (section 3 and 4): code points
 * are decoded one by one, and a sequence is valid when it has the right
 * number of continuation bytes, is the shortest form of its code point,
 * is not a surrogate (U+D800..U+DFFF) and is at most U+10FFFF.
 *
 * utf8_feed() promises more than valid / invalid: it must say REJECT as
 * soon as the bytes so far cannot begin valid UTF-8, ACCEPT exactly on
 * a character boundary, and something in between otherwise.  So the
 * reference also decides whether a truncated last sequence could still
 * be completed.  Then the input is fed whole, split in two at a position
 * taken from the data, byte by byte, and (when short) split at every
 * position; every way must give the same state.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "utf8.h"

#include "fuzz_common.h"

enum ref { REF_VALID, REF_PARTIAL, REF_INVALID };

/*
 * Could a sequence of total length len whose first k bytes are known
 * (giving code point bits cp, the unknown low bits zero) still decode to
 * a valid code point?
 */
static bool
completable(uint32_t cp, size_t len, size_t k)
{
	static const uint32_t min_cp[5] = { 0, 0, 0x80, 0x800, 0x10000 };
	unsigned free_bits = 6 * (unsigned)(len - k);
	uint32_t lo = cp << free_bits, hi = lo | ((1u << free_bits) - 1);

	if (lo < min_cp[len])
		lo = min_cp[len];
	if (hi > 0x10ffff)
		hi = 0x10ffff;
	if (lo > hi)
		return false;
	/* All of [lo, hi] surrogates? */
	if (lo >= 0xd800 && hi <= 0xdfff)
		return false;
	return true;
}

static enum ref
ref_check(const uint8_t *p, size_t n)
{
	size_t i = 0;

	while (i < n) {
		uint8_t c = p[i];
		size_t len, k;
		uint32_t cp;

		if (c < 0x80) {
			i++;
			continue;
		}
		if ((c & 0xe0) == 0xc0) {
			len = 2;
			cp = c & 0x1f;
		} else if ((c & 0xf0) == 0xe0) {
			len = 3;
			cp = c & 0x0f;
		} else if ((c & 0xf8) == 0xf0) {
			len = 4;
			cp = c & 0x07;
		} else {
			return REF_INVALID;	/* 80..BF, F8..FF */
		}
		for (k = 1; k < len; k++) {
			if (i + k == n)
				return completable(cp, len, k) ? REF_PARTIAL :
				    REF_INVALID;
			if ((p[i + k] & 0xc0) != 0x80)
				return REF_INVALID;
			cp = cp << 6 | (p[i + k] & 0x3f);
			/* A prefix that no longer fits can't be finished. */
			if (k + 1 < len && !completable(cp, len, k + 1))
				return REF_INVALID;
		}
		if ((len == 2 && cp < 0x80) || (len == 3 && cp < 0x800) ||
		    (len == 4 && cp < 0x10000) || cp > 0x10ffff ||
		    (cp >= 0xd800 && cp <= 0xdfff))
			return REF_INVALID;
		i += len;
	}
	return REF_VALID;
}

static void
check_state(utf8_state st, enum ref want, const char *how)
{
	switch (want) {
	case REF_VALID:
		if (st != UTF8_ACCEPT)
			FUZZ_FAIL("%s: state %u for valid UTF-8", how, st);
		break;
	case REF_INVALID:
		if (st != UTF8_REJECT)
			FUZZ_FAIL("%s: state %u for invalid UTF-8", how, st);
		break;
	case REF_PARTIAL:
		if (st == UTF8_ACCEPT || st == UTF8_REJECT || st >= 8)
			FUZZ_FAIL("%s: state %u for a valid prefix that ends "
			    "mid-character", how, st);
		break;
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t *p = fuzz_dup(data, size);
	enum ref want = ref_check(p, size);
	utf8_state whole, st;
	size_t i, split;

	whole = utf8_feed(UTF8_ACCEPT, p, size);
	check_state(whole, want, "whole");
	FUZZ_CHECK(utf8_valid(p, size) == (want == REF_VALID));

	/* Split at a data-derived position. */
	split = size > 0 ? ((size_t)data[0] * 257 + data[size - 1]) %
	    (size + 1) : 0;
	st = utf8_feed(UTF8_ACCEPT, p, split);
	check_state(st, ref_check(p, split), "first part");
	st = utf8_feed(st, p + split, size - split);
	if (st != whole)
		FUZZ_FAIL("split at %zu: state %u, whole %u", split, st, whole);

	/* Byte by byte, checking every prefix's state as we go. */
	st = UTF8_ACCEPT;
	for (i = 0; i < size; i++) {
		st = utf8_feed(st, p + i, 1);
		if (size <= 256)
			check_state(st, ref_check(p, i + 1), "byte by byte");
	}
	FUZZ_CHECK(st == whole);

	/* Every split of a short input. */
	if (size <= 64) {
		for (split = 0; split <= size; split++) {
			st = utf8_feed(UTF8_ACCEPT, p, split);
			st = utf8_feed(st, p + split, size - split);
			FUZZ_CHECK(st == whole);
		}
	}

	/* Nothing gets out of REJECT, or of a state never handed out. */
	FUZZ_CHECK(utf8_feed(UTF8_REJECT, p, size) == UTF8_REJECT);
	FUZZ_CHECK(utf8_feed(UTF8_REJECT + 1 + (size > 0 ? data[0] : 0), p,
	    size) == UTF8_REJECT);
	FUZZ_CHECK(utf8_feed(whole, p, 0) == whole);

	free(p);
	return 0;
}

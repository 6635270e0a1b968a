/*
 * utf8: an incremental UTF-8 validator (RFC 3629).
 *
 * The state is a small number naming what the next byte must be.  In
 * UTF8_ACCEPT any ASCII byte or any valid lead byte may follow.  The
 * lead byte of a multibyte sequence picks one of seven states that
 * give the range allowed for the next continuation byte and how many
 * continuation bytes are still owed.  The first continuation byte after
 * E0, ED, F0 and F4 has a narrower range than 80..BF; that is where
 * overlong forms, surrogates and code points above U+10FFFF are turned
 * away, so every impossible prefix is rejected at the byte that makes it
 * impossible.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "utf8.h"

/* The states between UTF8_ACCEPT and UTF8_REJECT. */
enum {
	ST_TAIL1 = 1,		/* one more byte, 80..BF */
	ST_TAIL2 = 2,		/* two more bytes, 80..BF next */
	ST_E0 = 3,		/* two more bytes, A0..BF next */
	ST_ED = 4,		/* two more bytes, 80..9F next */
	ST_F0 = 5,		/* three more bytes, 90..BF next */
	ST_TAIL3 = 6,		/* three more bytes, 80..BF next */
	ST_F4 = 7,		/* three more bytes, 80..8F next */
	ST_COUNT = 8
};

/* For each state: the range of the next byte, and the state it leads to. */
static const uint8_t cont_lo[ST_COUNT] = {
	0, 0x80, 0x80, 0xA0, 0x80, 0x90, 0x80, 0x80
};
static const uint8_t cont_hi[ST_COUNT] = {
	0, 0xBF, 0xBF, 0xBF, 0x9F, 0xBF, 0xBF, 0x8F
};
static const uint8_t cont_next[ST_COUNT] = {
	0, UTF8_ACCEPT, ST_TAIL1, ST_TAIL1, ST_TAIL1, ST_TAIL2, ST_TAIL2,
	ST_TAIL2
};

#define HIGH_BITS	UINT64_C(0x8080808080808080)

/* The state after a byte read in UTF8_ACCEPT. */
static utf8_state
lead_state(uint8_t c)
{
	if (c < 0x80)
		return UTF8_ACCEPT;
	if (c < 0xC2)		/* continuation byte, or C0/C1 overlong */
		return UTF8_REJECT;
	if (c < 0xE0)
		return ST_TAIL1;
	if (c == 0xE0)
		return ST_E0;
	if (c == 0xED)
		return ST_ED;
	if (c < 0xF0)
		return ST_TAIL2;
	if (c == 0xF0)
		return ST_F0;
	if (c < 0xF4)
		return ST_TAIL3;
	if (c == 0xF4)
		return ST_F4;
	return UTF8_REJECT;	/* F5..FF */
}

/*
 * Where the first byte with its high bit set lies in the 8 bytes of w
 * (one is): the lowest such byte in memory order.
 */
static size_t
first_high(uint64_t w)
{
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
	return (size_t)__builtin_ctzll(w & HIGH_BITS) >> 3;
#else
	size_t k = 0;

	while (((const uint8_t *)&w)[k] < 0x80)
		k++;
	return k;
#endif
}

utf8_state
utf8_feed(utf8_state st, const uint8_t *p, size_t n)
{
	const uint8_t *end = p + n;
	uint64_t w, w2;
	uint8_t c;

	/* UTF8_REJECT stays put, and so does anything we never hand out. */
	if (st >= ST_COUNT)
		return UTF8_REJECT;

	for (;;) {
		/* The rest of a multibyte sequence, a byte at a time. */
		while (st != UTF8_ACCEPT) {
			if (p == end)
				return st;
			c = *p++;
			if (c < cont_lo[st] || c > cont_hi[st])
				return UTF8_REJECT;
			st = cont_next[st];
		}
		/*
		 * Runs of ASCII 16 bytes, then 8, at a time; a word with a
		 * high bit skips to that byte.
		 */
		while (end - p >= 16) {
			memcpy(&w, p, sizeof(w));
			memcpy(&w2, p + 8, sizeof(w2));
			if (((w | w2) & HIGH_BITS) != 0)
				break;
			p += 16;
		}
		for (;;) {
			if (end - p >= 8) {
				memcpy(&w, p, sizeof(w));
				if ((w & HIGH_BITS) == 0) {
					p += 8;
					continue;
				}
				p += first_high(w);
				break;
			}
			while (p < end && *p < 0x80)
				p++;
			break;
		}
		if (p == end)
			return UTF8_ACCEPT;
		/* A lead byte: which sequence, then its continuation. */
		st = lead_state(*p++);
		if (st == UTF8_REJECT)
			return UTF8_REJECT;
	}
}

bool
utf8_valid(const uint8_t *p, size_t n)
{
	return utf8_feed(UTF8_ACCEPT, p, n) == UTF8_ACCEPT;
}

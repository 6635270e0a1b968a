/*
 * utf8: incremental UTF-8 validation (RFC 3629).  The state survives
 * between calls, so a text message can be checked fragment by fragment
 * and buffer by buffer, failing at the first byte that makes the input
 * invalid, even when a sequence is split across calls.
 */
#ifndef WSD_UTF8_H
#define WSD_UTF8_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define UTF8_ACCEPT 0u
#define UTF8_REJECT 12u

/* Start state is UTF8_ACCEPT. */
typedef uint32_t utf8_state;

/*
 * Feed n bytes.  Returns the new state: UTF8_REJECT as soon as the input
 * cannot be valid UTF-8 (and stays there), UTF8_ACCEPT when it ends on a
 * character boundary, something else in the middle of a sequence.
 */
utf8_state utf8_feed(utf8_state st, const uint8_t *p, size_t n);

/* True if the whole of p[0..n) is valid UTF-8. */
bool utf8_valid(const uint8_t *p, size_t n);

#endif /* WSD_UTF8_H */

/*
 * cookie: cookie values as browsers and Tornado write them, and
 * Tornado's signed cookies (format version 2).  Pure: counted strings
 * in, a caller's buffer out; no I/O, no allocation, no logging.  The
 * HMAC and base64 come from libcrypto.
 */
#ifndef WSD_COOKIE_H
#define WSD_COOKIE_H

#include <stddef.h>
#include <stdint.h>

/*
 * How far ahead of the clock a signed cookie's time stamp may be, in
 * seconds.  Tornado's reader allows 31 days for version 1 cookies (and
 * does not look for version 2); wsd bounds version 2 the same way, so
 * that a cookie stamped by a badly wrong clock cannot outlive its
 * max_age_days by years.
 */
#define COOKIE_MAX_FUTURE	(31 * 86400)

/* Why cookie_verify_signed() refused a value. */
enum cookie_verdict {
	COOKIE_OK = 0,
	COOKIE_MALFORMED = -1,	/* not the version 2 layout */
	COOKIE_VERSION = -2,	/* version 1, or a version other than 2 */
	COOKIE_SIGNATURE = -3,	/* not signed with this secret */
	COOKIE_NAME = -4,	/* signed for another cookie name */
	COOKIE_EXPIRED = -5,	/* older than max_age_days */
	COOKIE_FUTURE = -6,	/* stamped beyond COOKIE_MAX_FUTURE */
	COOKIE_VALUE = -7,	/* bad base64, or a NUL in the value */
	COOKIE_ARGS = -8,	/* empty secret, or max_age_days NaN */
};

/*
 * Undo the quoting of Python's http.cookies (which Tornado's
 * set_cookie uses): a value in double quotes loses them, and inside,
 * \NNN (octal 000..377) becomes the character U+0000..U+00FF, written
 * in UTF-8 (Python escapes characters, not bytes: "é" is \351), and \c
 * becomes c for any other byte but LF.  A value that is not quoted (or
 * is a lone '"') is copied as it is.  dst gets at least len + 1 bytes;
 * the result is NUL terminated and never longer than src.
 * Returns its length, or -1 if it would contain a NUL byte.
 */
long	cookie_unquote(const char *src, size_t len, char *dst);

/*
 * cookie_unquote(), then %XX sequences decoded (encodeURIComponent's
 * encoding).  A '%' not followed by two hex digits stays as it is, as
 * in Python's urllib.parse.unquote; '+' stays '+'.  Same buffer and
 * result as cookie_unquote(), -1 also for a %00.
 */
long	cookie_decode(const char *src, size_t len, char *dst);

/*
 * Verify s[0..len), a cookie value Tornado's create_signed_value() made
 * in format version 2 (already unquoted), for cookie `name`, with
 * secret[0..secret_len):
 *
 *   2|<n>:<key version>|<n>:<time stamp>|<n>:<name>|<n>:<base64 value>|<hex>
 *
 * where each <n> is the decimal length of the field after it and <hex>
 * the lowercase hex HMAC-SHA256, with the secret, of everything before
 * it.  Lengths and numbers must be canonical decimal (no sign, no
 * leading zero), as Tornado writes them.  The key version is not used:
 * the one secret verifies every key version, as it does in Tornado when
 * its cookie_secret is a single string (a secret per key version is not
 * supported).  The signature is compared in constant time; then the
 * name, then the age: older than max_age_days (fractional; <= 0 or
 * infinite: any age) before now (seconds since the epoch) is expired,
 * more than COOKIE_MAX_FUTURE after it is refused too.  The value's
 * base64 must be strict (standard alphabet, '=' padding to a multiple
 * of 4).
 *
 * On COOKIE_OK the decoded value is in dst (at least len + 1 bytes), NUL
 * terminated, its length in *dst_len (may be NULL); it has no NUL (one
 * inside gives COOKIE_VALUE) and is not checked for UTF-8.  Otherwise
 * returns why (enum cookie_verdict), and dst holds nothing useful.
 */
int	cookie_verify_signed(const char *s, size_t len, const char *name,
	    const void *secret, size_t secret_len, double max_age_days,
	    int64_t now, char *dst, size_t *dst_len);

/* A short English phrase for a verdict, for log lines. */
const char *cookie_verdict_str(int verdict);

#endif /* WSD_COOKIE_H */

/*
 * cookie: decoding cookie values, and verifying Tornado's signed
 * cookies (format version 2).  See cookie.h for the formats.
 *
 * Everything here reads attacker-controlled bytes: every length is
 * checked against what is left before it is used, and numbers are
 * bounded before they can overflow.
 */
#include <limits.h>
#include <math.h>
#include <stdbool.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "cookie.h"
#include "http.h"

/* SHA-256 written in hex. */
#define SIG_HEX_LEN	64

/* Decimal digits of a number field we accept: 10^18 fits an int64_t. */
#define NUM_DIGITS_MAX	18

static bool
is_octal(unsigned char c)
{
	return c >= '0' && c <= '7';
}

static bool
is_digit(unsigned char c)
{
	return c >= '0' && c <= '9';
}

long
cookie_unquote(const char *src, size_t len, char *dst)
{
	const unsigned char *s = (const unsigned char *)src;
	size_t i, end, o = 0;
	unsigned int ch;

	if (len > LONG_MAX)
		return -1;
	if (len < 2 || s[0] != '"' || s[len - 1] != '"') {
		if (memchr(src, '\0', len) != NULL)
			return -1;
		memcpy(dst, src, len);
		dst[len] = '\0';
		return (long)len;
	}
	end = len - 1;
	for (i = 1; i < end; i++) {
		if (s[i] == '\0')
			return -1;
		if (s[i] != '\\' || i + 1 >= end || s[i + 1] == '\n') {
			dst[o++] = (char)s[i];
			continue;
		}
		if (end - i > 3 && s[i + 1] >= '0' && s[i + 1] <= '3' &&
		    is_octal(s[i + 2]) && is_octal(s[i + 3])) {
			ch = (unsigned int)(s[i + 1] - '0') << 6 |
			    (unsigned int)(s[i + 2] - '0') << 3 |
			    (unsigned int)(s[i + 3] - '0');
			/* Four bytes in, at most two out. */
			if (ch == 0)
				return -1;
			if (ch < 0x80)
				dst[o++] = (char)ch;
			else {
				dst[o++] = (char)(0xc0 | ch >> 6);
				dst[o++] = (char)(0x80 | (ch & 0x3f));
			}
			i += 3;
		} else {
			if (s[i + 1] == '\0')
				return -1;
			dst[o++] = (char)s[i + 1];
			i++;
		}
	}
	dst[o] = '\0';
	return (long)o;
}

long
cookie_decode(const char *src, size_t len, char *dst)
{
	long n;
	size_t i, o = 0;
	int hi, lo;

	if ((n = cookie_unquote(src, len, dst)) < 0)
		return -1;
	/* In place: the output never gets ahead of the input. */
	for (i = 0; i < (size_t)n; i++) {
		if (dst[i] == '%' && (size_t)n - i > 2 &&
		    (hi = http_hex_value((unsigned char)dst[i + 1])) >= 0 &&
		    (lo = http_hex_value((unsigned char)dst[i + 2])) >= 0) {
			if (hi == 0 && lo == 0)
				return -1;
			dst[o++] = (char)(hi << 4 | lo);
			i += 2;
		} else
			dst[o++] = dst[i];
	}
	dst[o] = '\0';
	return (long)o;
}

/*
 * One "<n>:<bytes>|" field at s[*pos..len): its bytes in *f, *flen, and
 * *pos moved past the '|'.  False if the length is not canonical
 * decimal or runs past the end, or no '|' follows.
 */
static bool
take_field(const char *s, size_t len, size_t *pos, const char **f,
    size_t *flen)
{
	size_t p = *pos, n = 0, digits = 0;

	for (; p < len && is_digit((unsigned char)s[p]); p++, digits++) {
		if (digits == 1 && n == 0)
			return false;		/* a leading zero */
		if (n > len / 10)
			return false;		/* longer than everything */
		n = n * 10 + (size_t)(s[p] - '0');
	}
	if (digits == 0 || p >= len || s[p] != ':')
		return false;
	p++;
	if (n >= len - p || s[p + n] != '|')
		return false;
	*f = s + p;
	*flen = n;
	*pos = p + n + 1;
	return true;
}

/*
 * A field that holds a number: canonical decimal.  Returns 0 and the
 * number, -1 if it is not a number, 1 if it has more than
 * NUM_DIGITS_MAX digits (a number too large to matter).
 */
static int
field_number(const char *f, size_t flen, int64_t *v)
{
	size_t i;

	*v = 0;
	if (flen == 0 || (flen > 1 && f[0] == '0'))
		return -1;
	for (i = 0; i < flen; i++)
		if (!is_digit((unsigned char)f[i]))
			return -1;
	if (flen > NUM_DIGITS_MAX)
		return 1;
	for (i = 0; i < flen; i++)
		*v = *v * 10 + (f[i] - '0');
	return 0;
}

/*
 * Strict base64 (standard alphabet, padded to a multiple of 4) into
 * dst, which has room for 3 bytes per 4 characters.  Returns the
 * decoded length or -1.
 */
static long
b64_decode(const char *s, size_t len, unsigned char *dst)
{
	size_t i, pad = 0;
	unsigned char c;
	int n;

	if (len % 4 != 0 || len > INT_MAX)
		return -1;
	for (i = 0; i < len; i++) {
		c = (unsigned char)s[i];
		if (c == '=') {
			/* Only the last one or two, and only '=' after. */
			if (len - i > 2)
				return -1;
			pad++;
		} else if (pad > 0 || !((c >= 'A' && c <= 'Z') ||
		    (c >= 'a' && c <= 'z') || is_digit(c) || c == '+' ||
		    c == '/'))
			return -1;
	}
	if (len == 0)
		return 0;
	/* It decodes padding as zero bits and counts them as bytes. */
	if ((n = EVP_DecodeBlock(dst, (const unsigned char *)s, (int)len)) < 0 ||
	    (size_t)n < pad)
		return -1;
	return (long)((size_t)n - pad);
}

int
cookie_verify_signed(const char *s, size_t len, const char *name,
    const void *secret, size_t secret_len, double max_age_days,
    int64_t now, char *dst, size_t *dst_len)
{
	static const char hexd[] = "0123456789abcdef";
	unsigned char md[EVP_MAX_MD_SIZE];
	char hex[SIG_HEX_LEN];
	const char *kv, *ts, *nm, *val;
	size_t pos, kvl, tsl, nml, vall, signed_len, i;
	unsigned int mdlen = 0;
	int64_t stamp, key_version;
	long n;
	int r;

	if (secret_len == 0 || secret_len > INT_MAX || isnan(max_age_days) ||
	    name == NULL)
		return COOKIE_ARGS;
	/*
	 * Version 1 has no version field (it starts with base64), so
	 * anything but "2|" is version 1 or a version we do not know.
	 */
	if (len < 2 || s[0] != '2' || s[1] != '|')
		return len > 0 ? COOKIE_VERSION : COOKIE_MALFORMED;
	pos = 2;
	if (!take_field(s, len, &pos, &kv, &kvl) ||
	    !take_field(s, len, &pos, &ts, &tsl) ||
	    !take_field(s, len, &pos, &nm, &nml) ||
	    !take_field(s, len, &pos, &val, &vall))
		return COOKIE_MALFORMED;
	signed_len = pos;
	if (len - signed_len != SIG_HEX_LEN)
		return COOKIE_SIGNATURE;

	if (HMAC(EVP_sha256(), secret, (int)secret_len,
	    (const unsigned char *)s, signed_len, md, &mdlen) == NULL ||
	    mdlen * 2 != SIG_HEX_LEN)
		return COOKIE_SIGNATURE;
	for (i = 0; i < mdlen; i++) {
		hex[2 * i] = hexd[md[i] >> 4];
		hex[2 * i + 1] = hexd[md[i] & 0xf];
	}
	if (CRYPTO_memcmp(hex, s + signed_len, SIG_HEX_LEN) != 0)
		return COOKIE_SIGNATURE;

	/* Signed by the secret's holder from here on: still checked. */
	if (nml != strlen(name) || memcmp(nm, name, nml) != 0)
		return COOKIE_NAME;
	if (field_number(kv, kvl, &key_version) != 0)
		return COOKIE_MALFORMED;
	if ((r = field_number(ts, tsl, &stamp)) < 0)
		return COOKIE_MALFORMED;
	if (r > 0 || (double)stamp > (double)now + COOKIE_MAX_FUTURE)
		return COOKIE_FUTURE;
	if (max_age_days > 0 &&
	    (double)stamp < (double)now - max_age_days * 86400.0)
		return COOKIE_EXPIRED;

	if ((n = b64_decode(val, vall, (unsigned char *)dst)) < 0)
		return COOKIE_VALUE;
	if (memchr(dst, '\0', (size_t)n) != NULL)
		return COOKIE_VALUE;
	dst[n] = '\0';
	if (dst_len != NULL)
		*dst_len = (size_t)n;
	return COOKIE_OK;
}

const char *
cookie_verdict_str(int verdict)
{
	switch (verdict) {
	case COOKIE_OK:		return "valid";
	case COOKIE_MALFORMED:	return "malformed";
	case COOKIE_VERSION:	return "not format version 2";
	case COOKIE_SIGNATURE:	return "bad signature";
	case COOKIE_NAME:	return "signed for another name";
	case COOKIE_EXPIRED:	return "expired";
	case COOKIE_FUTURE:	return "time stamp in the future";
	case COOKIE_VALUE:	return "bad value";
	case COOKIE_ARGS:	return "bad secret or max age";
	}
	return "unknown";
}

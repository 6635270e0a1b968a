/*
 * forwarded: see forwarded.h.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "forwarded.h"

static const uint8_t v4mapped[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };

bool
fwd_key_of(const struct sockaddr *sa, uint8_t key[16])
{
	if (sa->sa_family == AF_INET6) {
		memcpy(key, &((const struct sockaddr_in6 *)(const void *)sa)->
		    sin6_addr, 16);
		return true;
	}
	if (sa->sa_family == AF_INET) {
		memcpy(key, v4mapped, 12);
		memcpy(key + 12, &((const struct sockaddr_in *)(const void *)
		    sa)->sin_addr, 4);
		return true;
	}
	return false;
}

void
fwd_sockaddr(const uint8_t key[16], uint16_t port, struct sockaddr_storage *ss)
{
	memset(ss, 0, sizeof(*ss));
	if (memcmp(key, v4mapped, 12) == 0) {
		struct sockaddr_in *s4 = (struct sockaddr_in *)(void *)ss;

		s4->sin_family = AF_INET;
		memcpy(&s4->sin_addr, key + 12, 4);
		s4->sin_port = htons(port);
	} else {
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)(void *)ss;

		s6->sin6_family = AF_INET6;
		memcpy(&s6->sin6_addr, key, 16);
		s6->sin6_port = htons(port);
	}
}

static bool
is_ows(char c)
{
	return c == ' ' || c == '\t';
}

static void
trim(const char **s, size_t *len)
{
	while (*len > 0 && is_ows(**s)) {
		(*s)++;
		(*len)--;
	}
	while (*len > 0 && is_ows((*s)[*len - 1]))
		(*len)--;
}

/* An address without brackets or port into key; af is AF_INET or 6. */
static bool
pton(int af, const char *s, size_t len, uint8_t key[16])
{
	char tmp[INET6_ADDRSTRLEN];
	struct in_addr a4;
	size_t i;

	if (len == 0 || len >= sizeof(tmp))
		return false;
	for (i = 0; i < len; i++)
		if (s[i] == '\0')
			return false;
	memcpy(tmp, s, len);
	tmp[len] = '\0';
	if (af == AF_INET6)
		return inet_pton(AF_INET6, tmp, key) == 1;
	if (inet_pton(AF_INET, tmp, &a4) != 1)
		return false;
	memcpy(key, v4mapped, 12);
	memcpy(key + 12, &a4, 4);
	return true;
}

static bool
parse_port(const char *s, size_t len, uint16_t *port)
{
	unsigned long v = 0;
	size_t i;

	if (len == 0 || len > 5)
		return false;
	for (i = 0; i < len; i++) {
		if (s[i] < '0' || s[i] > '9')
			return false;
		v = v * 10 + (unsigned long)(s[i] - '0');
	}
	if (v > 65535)
		return false;
	if (port != NULL)
		*port = (uint16_t)v;
	return true;
}

bool
fwd_parse_addr(const char *s, size_t len, uint8_t key[16], uint16_t *port)
{
	const char *colon;
	size_t i, ncolons = 0;

	if (port != NULL)
		*port = 0;
	trim(&s, &len);
	if (len == 0)
		return false;
	if (s[0] == '[') {
		const char *end = memchr(s, ']', len);
		size_t inner, rest;

		if (end == NULL)
			return false;
		inner = (size_t)(end - s) - 1;
		rest = len - inner - 2;
		if (!pton(AF_INET6, s + 1, inner, key))
			return false;
		if (rest == 0)
			return true;
		return end[1] == ':' && parse_port(end + 2, rest - 1, port);
	}
	for (i = 0; i < len; i++)
		if (s[i] == ':')
			ncolons++;
	if (ncolons >= 2)
		return pton(AF_INET6, s, len, key);
	if (ncolons == 0)
		return pton(AF_INET, s, len, key);
	colon = memchr(s, ':', len);
	return pton(AF_INET, s, (size_t)(colon - s), key) &&
	    parse_port(colon + 1, len - (size_t)(colon - s) - 1, port);
}

int
cidr_parse(const char *s, struct cidr *out, char *err, size_t errlen)
{
	const char *slash = strchr(s, '/');
	size_t alen = slash != NULL ? (size_t)(slash - s) : strlen(s);
	char shown[INET6_ADDRSTRLEN];
	unsigned long bits, max;
	bool v4;
	char *end;
	int i;

	memset(out, 0, sizeof(*out));
	v4 = memchr(s, ':', alen) == NULL;
	if (!pton(v4 ? AF_INET : AF_INET6, s, alen, out->addr)) {
		snprintf(err, errlen, "'%s' is not an IPv4 or IPv6 address "
		    "(or one with a /prefix)", s);
		return -1;
	}
	max = v4 ? 32 : 128;
	bits = max;
	if (slash != NULL) {
		if (slash[1] < '0' || slash[1] > '9' ||
		    (bits = strtoul(slash + 1, &end, 10), *end != '\0') ||
		    bits > max) {
			snprintf(err, errlen, "'%s': the prefix length must be "
			    "0 to %lu", s, max);
			return -1;
		}
	}
	out->bits = (uint8_t)(v4 ? 96 + bits : bits);
	for (i = out->bits; i < 128; i++) {
		if (out->addr[i / 8] & (0x80 >> (i % 8))) {
			uint8_t m[16];
			int j;

			memcpy(m, out->addr, 16);
			for (j = out->bits; j < 128; j++)
				m[j / 8] &= (uint8_t)~(0x80 >> (j % 8));
			if (v4)
				inet_ntop(AF_INET, m + 12, shown, sizeof(shown));
			else
				inet_ntop(AF_INET6, m, shown, sizeof(shown));
			snprintf(err, errlen, "'%s' has bits set past its "
			    "prefix (did you mean '%s/%lu'?)", s, shown, bits);
			return -1;
		}
	}
	return 0;
}

static bool
cidr_has(const struct cidr *c, const uint8_t key[16])
{
	unsigned full = c->bits / 8, rest = c->bits % 8;
	uint8_t mask;

	if (memcmp(c->addr, key, full) != 0)
		return false;
	if (rest == 0)
		return true;
	mask = (uint8_t)(0xff << (8 - rest));
	return (c->addr[full] & mask) == (key[full] & mask);
}

bool
cidr_match(const struct cidr *list, size_t n, const uint8_t key[16])
{
	size_t i;

	for (i = 0; i < n; i++)
		if (cidr_has(&list[i], key))
			return true;
	return false;
}

/*
 * The element before position *end of v (going leftwards): its start
 * and length, trimmed; *end moves to the comma before it, or past the
 * start when it was the first.  False when nothing is left.
 */
static bool
prev_element(const char *v, size_t *end, bool *more, const char **el,
    size_t *ellen)
{
	size_t e = *end, b;

	if (!*more)
		return false;
	for (b = e; b > 0 && v[b - 1] != ','; b--)
		continue;
	*el = v + b;
	*ellen = e - b;
	trim(el, ellen);
	if (b == 0)
		*more = false;
	else
		*end = b - 1;
	return true;
}

size_t
xff_client(const char *const *vals, const size_t *lens, size_t nvals,
    const struct cidr *trusted, size_t ntrusted, uint8_t key[16], bool *bad)
{
	uint8_t k[16];
	const char *el;
	size_t line, end, ellen, n = 0;
	bool more;

	if (bad != NULL)
		*bad = false;
	for (line = nvals; line-- > 0; ) {
		end = lens[line];
		more = true;
		while (prev_element(vals[line], &end, &more, &el, &ellen)) {
			if (ellen == 0)
				continue;	/* empty list elements: ignored */
			if (!fwd_parse_addr(el, ellen, k, NULL)) {
				if (bad != NULL)
					*bad = true;
				return n;
			}
			memcpy(key, k, 16);
			n++;
			if (!cidr_match(trusted, ntrusted, k))
				return n;
		}
	}
	return n;
}

bool
fwd_last_element(const char *const *vals, const size_t *lens, size_t nvals,
    const char **el, size_t *ellen)
{
	size_t line, end;
	bool more;

	for (line = nvals; line-- > 0; ) {
		end = lens[line];
		more = true;
		while (prev_element(vals[line], &end, &more, el, ellen))
			if (*ellen > 0)
				return true;
	}
	return false;
}

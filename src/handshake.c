/*
 * handshake: the server side of the RFC 6455 opening handshake, on top of
 * a request head that http_parse_request has already accepted.
 */
#include "handshake.h"

#include <limits.h>
#include <string.h>

#include <openssl/evp.h>

/* RFC 6455 section 1.3. */
static const char ws_guid[] = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

static bool
is_blank(unsigned char c)
{
	return c == ' ' || c == '\t';
}

bool
ws_is_upgrade(const struct http_request *req)
{
	const struct http_header *h;
	bool upgrade = false, connection = false;
	size_t i;

	/* A list-valued field may be split over several lines. */
	for (i = 0; i < req->nheaders; i++) {
		h = &req->headers[i];
		if (http_token_eq(h->name, h->name_len, "Upgrade") &&
		    http_list_has_token(h->value, h->value_len, "websocket"))
			upgrade = true;
		else if (http_token_eq(h->name, h->name_len, "Connection") &&
		    http_list_has_token(h->value, h->value_len, "upgrade"))
			connection = true;
	}
	return upgrade && connection;
}

static bool
is_base64_char(unsigned char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
	    (c >= '0' && c <= '9') || c == '+' || c == '/';
}

/*
 * Sixteen bytes encode to 22 base64 characters and "==".  The four
 * unused low bits of the last character are not required to be zero:
 * the RFC only asks that the value decode to 16 bytes, which it does.
 */
static bool
key_is_valid(const char *key, size_t len)
{
	size_t i;

	if (len != 24 || key[22] != '=' || key[23] != '=')
		return false;
	for (i = 0; i < 22; i++) {
		if (!is_base64_char((unsigned char)key[i]))
			return false;
	}
	return true;
}

int
ws_check_upgrade(const struct http_request *req, struct ws_upgrade *up)
{
	const struct http_header *host, *version, *key, *origin, *proto;
	size_t n;

	if (req->method_len != 3 || memcmp(req->method, "GET", 3) != 0)
		return 405;
	if (req->version_minor == 0)
		return 400;

	/* An empty Host names no authority to connect to. */
	host = http_find_header(req, "Host", &n);
	if (n != 1 || host->value_len == 0)
		return 400;

	version = http_find_header(req, "Sec-WebSocket-Version", &n);
	if (n == 0)
		return 426;
	if (n > 1)
		return 400;
	if (version->value_len != 2 || memcmp(version->value, "13", 2) != 0)
		return 426;

	key = http_find_header(req, "Sec-WebSocket-Key", &n);
	if (n != 1 || !key_is_valid(key->value, key->value_len))
		return 400;

	origin = http_find_header(req, "Origin", &n);
	if (n > 1)
		return 400;

	proto = http_find_header(req, "Sec-WebSocket-Protocol", NULL);

	memset(up, 0, sizeof(*up));
	up->key = key->value;
	up->key_len = key->value_len;
	up->host = host->value;
	up->host_len = host->value_len;
	if (origin != NULL) {
		up->origin = origin->value;
		up->origin_len = origin->value_len;
	}
	if (proto != NULL) {
		up->protocols = proto->value;
		up->protocols_len = proto->value_len;
	}
	return 0;
}

int
ws_accept_key(const char *key, size_t len, char *out)
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;
	EVP_MD_CTX *ctx;
	int ok;

	ctx = EVP_MD_CTX_new();
	if (ctx == NULL)
		return -1;
	ok = EVP_DigestInit_ex(ctx, EVP_sha1(), NULL) == 1 &&
	    EVP_DigestUpdate(ctx, key, len) == 1 &&
	    EVP_DigestUpdate(ctx, ws_guid, sizeof(ws_guid) - 1) == 1 &&
	    EVP_DigestFinal_ex(ctx, md, &mdlen) == 1;
	EVP_MD_CTX_free(ctx);
	if (!ok || mdlen != 20)
		return -1;
	if (EVP_EncodeBlock((unsigned char *)out, md, (int)mdlen) !=
	    WS_ACCEPT_LEN)
		return -1;
	return 0;
}

/* An authority split into host and port; port is -1 when absent. */
struct authority {
	const char	*host;
	size_t		 host_len;
	long		 port;
};

static bool
is_host_char(unsigned char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
	    (c >= '0' && c <= '9') || c == '-' || c == '.' || c == '_' ||
	    c == '~';
}

static bool
is_ipv6_char(unsigned char c)
{
	return (c >= 'A' && c <= 'F') || (c >= 'a' && c <= 'f') ||
	    (c >= '0' && c <= '9') || c == ':' || c == '.';
}

/*
 * Parse host[:port] (a registered name, an IPv4 address or a bracketed
 * IPv6 address) from s[0..len).  Anything else, such as userinfo, a path,
 * an empty host or port, or a port outside 1..65535, fails.
 */
static bool
parse_authority(const char *s, size_t len, struct authority *a)
{
	size_t i = 0;
	long port;

	if (len == 0)
		return false;
	if (s[0] == '[') {
		for (i = 1; i < len && is_ipv6_char((unsigned char)s[i]); i++)
			continue;
		if (i == len || s[i] != ']' || i == 1)
			return false;
		i++;
	} else {
		for (; i < len && is_host_char((unsigned char)s[i]); i++)
			continue;
		if (i == 0)
			return false;
	}
	a->host = s;
	a->host_len = i;
	a->port = -1;
	if (i == len)
		return true;
	if (s[i] != ':' || ++i == len)
		return false;
	for (port = 0; i < len; i++) {
		if (s[i] < '0' || s[i] > '9')
			return false;
		port = port * 10 + (s[i] - '0');
		if (port > 65535)
			return false;
	}
	if (port == 0)
		return false;
	a->port = port;
	return true;
}

static bool
ascii_caseeq(const char *a, const char *b, size_t n)
{
	unsigned char x, y;
	size_t i;

	for (i = 0; i < n; i++) {
		x = (unsigned char)a[i];
		y = (unsigned char)b[i];
		if (x >= 'A' && x <= 'Z')
			x = (unsigned char)(x - 'A' + 'a');
		if (y >= 'A' && y <= 'Z')
			y = (unsigned char)(y - 'A' + 'a');
		if (x != y)
			return false;
	}
	return true;
}

static bool
has_prefix_ci(const char *s, size_t len, const char *prefix, size_t plen)
{
	return len >= plen && ascii_caseeq(s, prefix, plen);
}

/*
 * The same-host rule: the Origin's host and port must match the Host
 * header's, where a missing port on either side means the default port
 * of the Origin's scheme.
 */
static bool
same_host(const struct ws_upgrade *up)
{
	struct authority o, h;
	const char *rest;
	size_t rest_len;
	long defport;

	if (has_prefix_ci(up->origin, up->origin_len, "http://", 7)) {
		defport = 80;
		rest = up->origin + 7;
		rest_len = up->origin_len - 7;
	} else if (has_prefix_ci(up->origin, up->origin_len, "https://", 8)) {
		defport = 443;
		rest = up->origin + 8;
		rest_len = up->origin_len - 8;
	} else
		return false;
	if (!parse_authority(rest, rest_len, &o) ||
	    !parse_authority(up->host, up->host_len, &h))
		return false;
	if (o.port < 0)
		o.port = defport;
	if (h.port < 0)
		h.port = defport;
	if (o.port != h.port || o.host_len != h.host_len)
		return false;
	return ascii_caseeq(o.host, h.host, o.host_len);
}

bool
ws_origin_allowed(const struct ws_upgrade *up, const char *const *origins,
    size_t norigins)
{
	size_t i;

	if (up->origin == NULL)
		return true;
	if (norigins == 0)
		return same_host(up);
	for (i = 0; i < norigins; i++) {
		if (strcmp(origins[i], "*") == 0 ||
		    http_token_eq(up->origin, up->origin_len, origins[i]))
			return true;
	}
	return false;
}

int
ws_pick_subprotocol(const char *offered, size_t len,
    const char *const *ours, size_t nours)
{
	size_t b = 0, e, end, i;

	if (offered == NULL)
		return -1;
	while (b <= len) {
		for (end = b; end < len && offered[end] != ','; end++)
			continue;
		e = end;
		while (b < e && is_blank((unsigned char)offered[b]))
			b++;
		while (e > b && is_blank((unsigned char)offered[e - 1]))
			e--;
		for (i = 0; e > b && i < nours && i < INT_MAX; i++) {
			if (strlen(ours[i]) == e - b &&
			    memcmp(ours[i], offered + b, e - b) == 0)
				return (int)i;
		}
		b = end + 1;
	}
	return -1;
}

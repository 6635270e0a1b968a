/*
 * http: a strict, bounded HTTP/1.x request-head parser and a few helpers
 * for writing responses.
 *
 * The parser is stateless: every call walks the buffer from the start, so
 * the caller simply calls again once more bytes have arrived.  It reads
 * strictly inside buf[0..len), and it rejects a head as soon as the bytes
 * seen so far cannot begin a valid one, so a client cannot make us wait
 * for a terminator that would be refused anyway.
 */
#include "http.h"

#include <limits.h>
#include <string.h>

/* The "tchar" set of RFC 9110 section 5.6.2, minus the letters and digits. */
static const char tchar_punct[] = "!#$%&'*+-.^_`|~";

static bool
is_tchar(unsigned char c)
{
	if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	    (c >= '0' && c <= '9'))
		return true;
	return c != '\0' && strchr(tchar_punct, c) != NULL;
}

/* Visible ASCII, except '#': a fragment is never sent to a server. */
static bool
is_target_char(unsigned char c)
{
	return c >= 0x21 && c <= 0x7e && c != '#';
}

/* field-value characters: VCHAR, obs-text, SP and HTAB. */
static bool
is_field_char(unsigned char c)
{
	return c == ' ' || c == '\t' || (c >= 0x21 && c != 0x7f);
}

static bool
is_blank(unsigned char c)
{
	return c == ' ' || c == '\t';
}

static int
ascii_lower(unsigned char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A' + 'a';
	return c;
}

/*
 * Match "HTTP/" DIGIT "." DIGIT CRLF at p[0..n).  Returns the number of
 * bytes it took (10), HTTP_PARSE_INCOMPLETE if every available byte fits
 * but some are missing, HTTP_PARSE_MALFORMED if the shape is wrong, and
 * HTTP_PARSE_BAD_VERSION for a well-formed version other than 1.0 or 1.1.
 */
static int
parse_version(const unsigned char *p, size_t n, int *minor)
{
	static const char shape[] = "HTTP/9.9\r\n";
	size_t k;

	for (k = 0; k < sizeof(shape) - 1; k++) {
		if (k == n)
			return HTTP_PARSE_INCOMPLETE;
		if (shape[k] == '9') {
			if (p[k] < '0' || p[k] > '9')
				return HTTP_PARSE_MALFORMED;
		} else if (p[k] != (unsigned char)shape[k])
			return HTTP_PARSE_MALFORMED;
	}
	if (p[5] != '1' || (p[7] != '0' && p[7] != '1'))
		return HTTP_PARSE_BAD_VERSION;
	*minor = p[7] - '0';
	return (int)(sizeof(shape) - 1);
}

static int
parse_head(const char *buf, size_t len, struct http_request *req,
    struct http_header *headers, size_t max_headers)
{
	const unsigned char *p = (const unsigned char *)buf;
	struct http_header *h;
	size_t i, start, vstart, vend, k;
	int minor, r;

	memset(req, 0, sizeof(*req));
	req->headers = headers;

	/* The method: one or more tchars, then exactly one SP. */
	for (i = 0; i < len && is_tchar(p[i]); i++)
		continue;
	if (i == len)
		return HTTP_PARSE_INCOMPLETE;
	if (i == 0 || p[i] != ' ')
		return HTTP_PARSE_MALFORMED;
	req->method = buf;
	req->method_len = i;
	i++;

	/* The request-target, in origin-form, then exactly one SP. */
	if (i == len)
		return HTTP_PARSE_INCOMPLETE;
	if (p[i] != '/')
		return HTTP_PARSE_MALFORMED;
	start = i;
	for (; i < len && is_target_char(p[i]); i++)
		continue;
	if (i == len)
		return HTTP_PARSE_INCOMPLETE;
	if (p[i] != ' ')
		return HTTP_PARSE_MALFORMED;
	req->target = buf + start;
	req->target_len = i - start;
	req->path = req->target;
	req->path_len = req->target_len;
	for (k = 0; k < req->target_len; k++) {
		if (req->target[k] == '?') {
			req->path_len = k;
			req->query = req->target + k + 1;
			req->query_len = req->target_len - k - 1;
			break;
		}
	}
	i++;

	/* The version and the end of the request line. */
	r = parse_version(p + i, len - i, &minor);
	if (r <= 0)
		return r;
	req->version_minor = minor;
	i += (size_t)r;

	/* Header lines, up to the empty line. */
	for (;;) {
		if (i == len)
			return HTTP_PARSE_INCOMPLETE;
		if (p[i] == '\r') {
			if (i + 1 == len)
				return HTTP_PARSE_INCOMPLETE;
			if (p[i + 1] != '\n')
				return HTTP_PARSE_MALFORMED;
			i += 2;
			if (i > INT_MAX)
				return HTTP_PARSE_MALFORMED;
			return (int)i;
		}

		/*
		 * A header name starts here.  This also refuses obs-fold
		 * (a leading SP or HTAB), a bare LF and any control byte.
		 */
		if (!is_tchar(p[i]))
			return HTTP_PARSE_MALFORMED;
		if (req->nheaders == max_headers)
			return HTTP_PARSE_TOO_MANY_HEADERS;
		start = i;
		for (; i < len && is_tchar(p[i]); i++)
			continue;
		if (i == len)
			return HTTP_PARSE_INCOMPLETE;
		if (p[i] != ':')
			return HTTP_PARSE_MALFORMED;
		h = &headers[req->nheaders];
		h->name_off = start;
		h->name = buf + start;
		h->name_len = i - start;
		i++;

		/* The value, without the blanks around it. */
		for (; i < len && is_blank(p[i]); i++)
			continue;
		vstart = i;
		for (; i < len && is_field_char(p[i]); i++)
			continue;
		if (i == len)
			return HTTP_PARSE_INCOMPLETE;
		if (p[i] != '\r')
			return HTTP_PARSE_MALFORMED;
		if (i + 1 == len)
			return HTTP_PARSE_INCOMPLETE;
		if (p[i + 1] != '\n')
			return HTTP_PARSE_MALFORMED;
		vend = i;
		while (vend > vstart && is_blank(p[vend - 1]))
			vend--;
		h->value_off = vstart;
		h->value = buf + vstart;
		h->value_len = vend - vstart;
		req->nheaders++;
		i += 2;
	}
}

void
http_parser_init(struct http_parser *hp)
{
	memset(hp, 0, sizeof(*hp));
}

void
http_parser_rebase(const struct http_parser *hp, const char *head,
    struct http_request *req)
{
	struct http_header *h;
	size_t i;

	req->method = head;
	req->method_len = hp->method_len;
	req->target = head + hp->method_len + 1;
	req->target_len = hp->target_len;
	req->path = req->target;
	req->path_len = hp->path_len;
	if (hp->has_query) {
		req->query = req->target + hp->path_len + 1;
		req->query_len = hp->target_len - hp->path_len - 1;
	} else {
		req->query = NULL;
		req->query_len = 0;
	}
	req->version_minor = hp->version_minor;
	for (i = 0; i < req->nheaders; i++) {
		h = &req->headers[i];
		h->name = head + h->name_off;
		h->value = head + h->value_off;
	}
}

/* For now: parse from the start every time. */
int
http_parser_execute(struct http_parser *hp, const char *buf, size_t len,
    struct http_request *req, struct http_header *headers,
    size_t max_headers)
{
	int r;

	if (hp->state != 0) {
		if (hp->result > 0)
			http_parser_rebase(hp, buf, req);
		return hp->result;
	}
	r = parse_head(buf, len, req, headers, max_headers);
	hp->steps += r > 0 ? (size_t)r : len;
	if (r == HTTP_PARSE_INCOMPLETE)
		return r;
	hp->state = 1;
	hp->result = r;
	if (r > 0) {
		hp->method_len = req->method_len;
		hp->target_len = req->target_len;
		hp->path_len = req->path_len;
		hp->has_query = req->query != NULL;
		hp->version_minor = req->version_minor;
		hp->nheaders = req->nheaders;
	}
	return r;
}

int
http_parse_request(const char *buf, size_t len, struct http_request *req,
    struct http_header *headers, size_t max_headers)
{
	struct http_parser hp;

	http_parser_init(&hp);
	return http_parser_execute(&hp, buf, len, req, headers, max_headers);
}

bool
http_token_eq(const char *s, size_t len, const char *lit)
{
	size_t i;

	for (i = 0; i < len; i++) {
		if (lit[i] == '\0' ||
		    ascii_lower((unsigned char)s[i]) !=
		    ascii_lower((unsigned char)lit[i]))
			return false;
	}
	return lit[len] == '\0';
}

const struct http_header *
http_find_header(const struct http_request *req, const char *name,
    size_t *count)
{
	const struct http_header *found = NULL;
	size_t i, n = 0;

	for (i = 0; i < req->nheaders; i++) {
		if (!http_token_eq(req->headers[i].name,
		    req->headers[i].name_len, name))
			continue;
		if (found == NULL)
			found = &req->headers[i];
		n++;
	}
	if (count != NULL)
		*count = n;
	return found;
}

/*
 * Step through s[0..len) as a list separated by sep.  *pos is the offset
 * to continue from; each call yields the next element (possibly empty)
 * with the blanks around it removed when trim is set.  Returns false
 * once the list is exhausted.
 */
static bool
next_element(const char *s, size_t len, size_t *pos, char sep, bool trim,
    const char **el, size_t *el_len)
{
	size_t b, e;

	if (*pos > len)
		return false;
	b = *pos;
	for (e = b; e < len && s[e] != sep; e++)
		continue;
	*pos = e + 1;
	if (trim) {
		while (b < e && is_blank((unsigned char)s[b]))
			b++;
		while (e > b && is_blank((unsigned char)s[e - 1]))
			e--;
	}
	*el = s + b;
	*el_len = e - b;
	return true;
}

bool
http_list_has_token(const char *value, size_t len, const char *token)
{
	const char *el;
	size_t pos = 0, el_len;

	if (token[0] == '\0')
		return false;
	while (next_element(value, len, &pos, ',', true, &el, &el_len)) {
		if (el_len > 0 && http_token_eq(el, el_len, token))
			return true;
	}
	return false;
}

const char *
http_reason(int status)
{
	switch (status) {
	case 100:	return "Continue";
	case 101:	return "Switching Protocols";
	case 200:	return "OK";
	case 201:	return "Created";
	case 204:	return "No Content";
	case 206:	return "Partial Content";
	case 301:	return "Moved Permanently";
	case 302:	return "Found";
	case 303:	return "See Other";
	case 304:	return "Not Modified";
	case 307:	return "Temporary Redirect";
	case 308:	return "Permanent Redirect";
	case 400:	return "Bad Request";
	case 401:	return "Unauthorized";
	case 403:	return "Forbidden";
	case 404:	return "Not Found";
	case 405:	return "Method Not Allowed";
	case 406:	return "Not Acceptable";
	case 408:	return "Request Timeout";
	case 409:	return "Conflict";
	case 410:	return "Gone";
	case 411:	return "Length Required";
	case 412:	return "Precondition Failed";
	case 413:	return "Content Too Large";
	case 414:	return "URI Too Long";
	case 415:	return "Unsupported Media Type";
	case 416:	return "Range Not Satisfiable";
	case 426:	return "Upgrade Required";
	case 429:	return "Too Many Requests";
	case 431:	return "Request Header Fields Too Large";
	case 500:	return "Internal Server Error";
	case 501:	return "Not Implemented";
	case 502:	return "Bad Gateway";
	case 503:	return "Service Unavailable";
	case 504:	return "Gateway Timeout";
	case 505:	return "HTTP Version Not Supported";
	default:	return "Unknown";
	}
}

static int
hex_value(unsigned char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/*
 * Besides a malformed escape and %00, a raw NUL in the input is refused
 * too: the result is a C string and must not be cut short silently.
 */
long
http_percent_decode(const char *src, size_t len, char *dst,
    bool plus_is_space)
{
	const unsigned char *s = (const unsigned char *)src;
	size_t i, o = 0;
	int hi, lo;

	if (len > LONG_MAX)
		return -1;
	for (i = 0; i < len; i++) {
		if (s[i] == '%') {
			if (len - i < 3)
				return -1;
			hi = hex_value(s[i + 1]);
			lo = hex_value(s[i + 2]);
			if (hi < 0 || lo < 0 || (hi == 0 && lo == 0))
				return -1;
			dst[o++] = (char)(hi << 4 | lo);
			i += 2;
		} else if (s[i] == '+' && plus_is_space)
			dst[o++] = ' ';
		else if (s[i] == '\0')
			return -1;
		else
			dst[o++] = (char)s[i];
	}
	dst[o] = '\0';
	return (long)o;
}

/*
 * Split one "name=value" (or bare "name") element and compare the name
 * byte for byte with `name`.
 */
static bool
pair_match(const char *el, size_t el_len, const char *name, size_t name_len,
    bool trim, const char **val, size_t *val_len)
{
	const char *eq;
	size_t nlen, vb, ve;

	eq = memchr(el, '=', el_len);
	nlen = eq != NULL ? (size_t)(eq - el) : el_len;
	if (trim) {
		while (nlen > 0 && is_blank((unsigned char)el[nlen - 1]))
			nlen--;
	}
	if (nlen != name_len || memcmp(el, name, name_len) != 0)
		return false;
	if (eq == NULL) {
		*val = el + el_len;
		*val_len = 0;
		return true;
	}
	vb = (size_t)(eq - el) + 1;
	ve = el_len;
	if (trim) {
		while (vb < ve && is_blank((unsigned char)el[vb]))
			vb++;
	}
	*val = el + vb;
	*val_len = ve - vb;
	return true;
}

bool
http_query_find(const char *query, size_t len, const char *name,
    const char **val, size_t *val_len)
{
	const char *el;
	size_t pos = 0, el_len, name_len;

	name_len = strlen(name);
	if (name_len == 0 || query == NULL)
		return false;
	while (next_element(query, len, &pos, '&', false, &el, &el_len)) {
		if (el_len > 0 &&
		    pair_match(el, el_len, name, name_len, false, val, val_len))
			return true;
	}
	return false;
}

bool
http_cookie_find(const char *value, size_t len, const char *name,
    const char **val, size_t *val_len)
{
	const char *el;
	size_t pos = 0, el_len, name_len;

	name_len = strlen(name);
	if (name_len == 0 || value == NULL)
		return false;
	while (next_element(value, len, &pos, ';', true, &el, &el_len)) {
		if (el_len > 0 &&
		    pair_match(el, el_len, name, name_len, true, val, val_len))
			return true;
	}
	return false;
}

/*
 * http: a strict, bounded HTTP/1.x request-head parser and a few helpers
 * for writing responses.
 *
 * The parser is resumable, in the manner of nginx's: a state and a
 * position kept by the caller between reads, so that a head sent a byte
 * at a time costs no more than one sent whole.  It reads strictly inside
 * buf[0..len), and it rejects a head as soon as the bytes seen so far
 * cannot begin a valid one.
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
 * The parser's states: where in the head the next byte falls.  Positions
 * the states need (where the target or the current header starts) are
 * kept as offsets in hp and in the caller's header array, never as
 * pointers, since the caller's buffer may move between calls.
 */
enum {
	sw_method = 0,		/* tchars, then one SP */
	sw_target_start,	/* '/' */
	sw_target,		/* target chars, then one SP */
	sw_version,		/* "HTTP/" DIGIT "." DIGIT CRLF */
	sw_line_start,		/* a header name, or the final CRLF */
	sw_name,		/* tchars, then ':' */
	sw_value_lead,		/* blanks before the value */
	sw_value,		/* field chars up to CR */
	sw_value_lf,		/* the LF that ends a header line */
	sw_end_lf,		/* the LF that ends the head */
	sw_done,		/* hp->result is final */
};

/* The version's shape; 9 stands for a digit. */
static const char version_shape[] = "HTTP/9.9\r\n";

void
http_parser_init(struct http_parser *hp)
{
	memset(hp, 0, sizeof(*hp));
	hp->state = sw_method;
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
	req->nheaders = hp->nheaders;
	for (i = 0; i < req->nheaders; i++) {
		h = &req->headers[i];
		h->name = head + h->name_off;
		h->value = head + h->value_off;
	}
}

static int
parse_fail(struct http_parser *hp, int result)
{
	hp->state = sw_done;
	hp->result = result;
	return result;
}

/*
 * One byte at a time, each examined once over all calls: hp->pos is the
 * first byte not yet seen, and the state says what it may be.  A byte
 * that cannot begin or continue a valid head is refused on sight, so a
 * client cannot make us wait for a terminator that would be refused
 * anyway.
 */
int
http_parser_execute(struct http_parser *hp, const char *buf, size_t len,
    struct http_request *req, struct http_header *headers,
    size_t max_headers)
{
	const unsigned char *p = (const unsigned char *)buf;
	struct http_header *h;
	size_t i, k;
	unsigned char c;

	if (hp->state == sw_done)
		goto done;
	for (i = hp->pos; i < len; i++) {
		c = p[i];
		hp->steps++;
		switch (hp->state) {
		case sw_method:
			if (is_tchar(c))
				break;
			if (i == 0 || c != ' ')
				return parse_fail(hp, HTTP_PARSE_MALFORMED);
			hp->method_len = i;
			hp->state = sw_target_start;
			break;

		case sw_target_start:
			if (c != '/')
				return parse_fail(hp, HTTP_PARSE_MALFORMED);
			hp->state = sw_target;
			break;

		case sw_target:
			if (c == '?' && !hp->has_query) {
				hp->has_query = true;
				hp->path_len = i - (hp->method_len + 1);
			}
			if (is_target_char(c))
				break;
			if (c != ' ')
				return parse_fail(hp, HTTP_PARSE_MALFORMED);
			hp->target_len = i - (hp->method_len + 1);
			if (!hp->has_query)
				hp->path_len = hp->target_len;
			hp->state = sw_version;
			break;

		case sw_version:
			k = i - (hp->method_len + 1 + hp->target_len + 1);
			if (version_shape[k] == '9') {
				if (c < '0' || c > '9')
					return parse_fail(hp,
					    HTTP_PARSE_MALFORMED);
				if (k == 5)
					hp->version_major = c - '0';
				else
					hp->version_minor = c - '0';
			} else if (c != (unsigned char)version_shape[k])
				return parse_fail(hp, HTTP_PARSE_MALFORMED);
			if (k + 1 < sizeof(version_shape) - 1)
				break;
			if (hp->version_major != 1 || hp->version_minor > 1)
				return parse_fail(hp, HTTP_PARSE_BAD_VERSION);
			hp->state = sw_line_start;
			break;

		case sw_line_start:
			if (c == '\r') {
				hp->state = sw_end_lf;
				break;
			}
			/*
			 * A header name starts here.  This also refuses
			 * obs-fold (a leading SP or HTAB), a bare LF and
			 * any control byte.
			 */
			if (!is_tchar(c))
				return parse_fail(hp, HTTP_PARSE_MALFORMED);
			if (hp->nheaders == max_headers)
				return parse_fail(hp,
				    HTTP_PARSE_TOO_MANY_HEADERS);
			headers[hp->nheaders].name_off = i;
			hp->state = sw_name;
			break;

		case sw_name:
			if (is_tchar(c))
				break;
			if (c != ':')
				return parse_fail(hp, HTTP_PARSE_MALFORMED);
			h = &headers[hp->nheaders];
			h->name_len = i - h->name_off;
			hp->state = sw_value_lead;
			break;

		case sw_value_lead:
			if (is_blank(c))
				break;
			headers[hp->nheaders].value_off = i;
			hp->vend = i;
			hp->state = sw_value;
			/* FALLTHROUGH */
		case sw_value:
			if (c == '\r') {
				h = &headers[hp->nheaders];
				h->value_len = hp->vend - h->value_off;
				hp->state = sw_value_lf;
				break;
			}
			if (!is_field_char(c))
				return parse_fail(hp, HTTP_PARSE_MALFORMED);
			if (!is_blank(c))
				hp->vend = i + 1;
			break;

		case sw_value_lf:
			if (c != '\n')
				return parse_fail(hp, HTTP_PARSE_MALFORMED);
			hp->nheaders++;
			hp->state = sw_line_start;
			break;

		case sw_end_lf:
			if (c != '\n' || i + 1 > INT_MAX)
				return parse_fail(hp, HTTP_PARSE_MALFORMED);
			hp->pos = i + 1;
			hp->state = sw_done;
			hp->result = (int)(i + 1);
			goto done;
		}
	}
	hp->pos = i;
	return HTTP_PARSE_INCOMPLETE;

done:
	if (hp->result > 0) {
		req->headers = headers;
		http_parser_rebase(hp, buf, req);
	}
	return hp->result;
}

int
http_parse_request(const char *buf, size_t len, struct http_request *req,
    struct http_header *headers, size_t max_headers)
{
	struct http_parser hp;

	memset(req, 0, sizeof(*req));
	req->headers = headers;
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

bool
http_list_nth(const char *value, size_t len, size_t *n, const char **el,
    size_t *el_len)
{
	const char *e;
	size_t pos = 0, elen;

	if (value == NULL)
		return false;
	while (next_element(value, len, &pos, ',', true, &e, &elen)) {
		if (elen == 0)
			continue;
		if (*n == 0) {
			*el = e;
			*el_len = elen;
			return true;
		}
		(*n)--;
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

int
http_hex_value(unsigned char c)
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
			hi = http_hex_value(s[i + 1]);
			lo = http_hex_value(s[i + 2]);
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
	return http_query_find_nth(query, len, name, 0, val, val_len);
}

bool
http_query_find_nth(const char *query, size_t len, const char *name,
    size_t n, const char **val, size_t *val_len)
{
	const char *el;
	size_t pos = 0, el_len, name_len;

	name_len = strlen(name);
	if (name_len == 0 || query == NULL)
		return false;
	while (next_element(query, len, &pos, '&', false, &el, &el_len)) {
		if (el_len > 0 &&
		    pair_match(el, el_len, name, name_len, false, val, val_len) &&
		    n-- == 0)
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

/*
 * http: a strict, bounded HTTP/1.x request-head parser and a few helpers
 * for writing responses.  Pure: it reads a caller's buffer, points into it
 * (no copies, no allocation) and never does I/O.  The parser is
 * resumable: a head that arrives in pieces costs work in proportion to
 * its length, not to the number of pieces.
 */
#ifndef WSD_HTTP_H
#define WSD_HTTP_H

#include <stdbool.h>
#include <stddef.h>

struct http_header {
	const char	*name;
	size_t		 name_len;
	const char	*value;		/* leading/trailing blanks trimmed */
	size_t		 value_len;
	size_t		 name_off;	/* offsets from the head's start, */
	size_t		 value_off;	/* so that the head may move */
};

struct http_request {
	const char		*method;
	size_t			 method_len;
	const char		*target;	/* request-target as sent */
	size_t			 target_len;
	const char		*path;		/* target up to '?' */
	size_t			 path_len;
	const char		*query;		/* after '?', NULL if none */
	size_t			 query_len;
	int			 version_minor;	/* HTTP/1.<minor> */
	struct http_header	*headers;	/* caller's array */
	size_t			 nheaders;
};

enum http_parse_result {
	HTTP_PARSE_INCOMPLETE = 0,	/* no blank line yet */
	HTTP_PARSE_MALFORMED = -1,	/* answer 400 */
	HTTP_PARSE_TOO_MANY_HEADERS = -2,	/* answer 431 */
	HTTP_PARSE_BAD_VERSION = -3,	/* not HTTP/1.x: answer 505 */
};

/*
 * The state of one request head's parse, kept by the caller between
 * pieces of input.  Every field is the parser's; `steps` may be read:
 * it counts bytes examined, and since each byte is examined once over
 * all calls it never exceeds the bytes given (tests hold it to that).
 */
struct http_parser {
	int		 state;		/* private */
	int		 result;	/* once done: the length or error */
	size_t		 pos;		/* the next byte to examine */
	size_t		 method_len;
	size_t		 target_len;
	size_t		 path_len;
	bool		 has_query;
	int		 version_major;
	int		 version_minor;
	size_t		 nheaders;	/* complete header lines so far */
	size_t		 vend;		/* end of the value, blanks trimmed */
	size_t		 steps;		/* bytes examined, over all calls */
};

/* Make hp ready for a new request head. */
void http_parser_init(struct http_parser *hp);

/*
 * Go on parsing the request head at the start of buf[0..len).  Each call
 * is given the whole head received so far: the same bytes as before
 * (buf may have moved, say by realloc) followed by any new ones.  Only
 * the new bytes are examined.  headers is an array of max_headers
 * entries, the same array with the same max_headers at every call; it
 * is filled as header lines complete.
 *
 * Returns what http_parse_request returns, and the same verdict, after
 * the same bytes, whatever pieces they came in.  A verdict (an error or
 * a complete head) is final: later calls return it again without
 * examining buf.  req is filled in only when the head is complete
 * (> 0), and then its pointers point into the buf of that call (later
 * calls re-point them into theirs); until then it is not touched.  To
 * keep them after buf goes away, copy the head's bytes and call
 * http_parser_rebase.  Pointers are never kept across calls: the parser
 * remembers offsets (in hp and in headers[].name_off and value_off).
 */
int http_parser_execute(struct http_parser *hp, const char *buf, size_t len,
    struct http_request *req, struct http_header *headers,
    size_t max_headers);

/*
 * Point req and its headers into head, a complete head (or a copy of
 * one) that hp accepted; req->headers must be the array the parse
 * filled.  Costs one pass over the headers, no parsing.
 */
void http_parser_rebase(const struct http_parser *hp, const char *head,
    struct http_request *req);

/*
 * Parse the request head at the start of buf[0..len) in one go (a fresh
 * http_parser, one call).  headers is an array of max_headers entries
 * that req->headers will point at.
 * Returns the length of the head including the final CRLF CRLF (> 0),
 * or an enum http_parse_result (<= 0).  The caller enforces the byte
 * limit on incomplete heads.  Bytes after the head are not looked at.
 *
 * Strict: CRLF line ends only (a bare LF is an error), no obs-fold, no
 * control characters or NUL anywhere, header names are tokens, the
 * request-target is origin-form ("/..."), the version is HTTP/1.0 or 1.1.
 */
int http_parse_request(const char *buf, size_t len, struct http_request *req,
    struct http_header *headers, size_t max_headers);

/* Case-insensitive compare of a counted string with a C string. */
bool http_token_eq(const char *s, size_t len, const char *lit);

/*
 * Find header `name` (case-insensitive).  Returns the first match or
 * NULL; *count, if not NULL, gets how many headers had that name.
 */
const struct http_header *http_find_header(const struct http_request *req,
    const char *name, size_t *count);

/*
 * True if the comma-separated token list value[0..len) contains token
 * (case-insensitive, blanks around commas ignored).
 */
bool http_list_has_token(const char *value, size_t len, const char *token);

/*
 * The *n-th (from 0) element of the comma-separated list
 * value[0..len): blanks around it trimmed, empty elements skipped (as
 * http_list_has_token and ws_pick_subprotocol see them).  Returns true
 * and sets *el, *el_len; or, when the list is shorter, returns false
 * with its number of elements subtracted from *n, so that a caller
 * walks a list spread over several headers by calling it on each in
 * turn with the same n.
 */
bool http_list_nth(const char *value, size_t len, size_t *n, const char **el,
    size_t *el_len);

/* The reason phrase for a status code ("Not Found"). */
const char *http_reason(int status);

/*
 * Percent-decode src[0..len) into dst (at least len + 1 bytes), NUL
 * terminated.  plus_is_space turns '+' into ' ' (query strings).
 * Returns the decoded length, or -1 on a malformed escape or a %00.
 */
long http_percent_decode(const char *src, size_t len, char *dst,
    bool plus_is_space);

/*
 * Look up query argument `name` in query[0..len) ("a=1&b=2").  Returns
 * true and sets *val and *val_len to the raw (still encoded) value of the
 * first match; a bare "a" gives an empty value.
 */
bool http_query_find(const char *query, size_t len, const char *name,
    const char **val, size_t *val_len);

/*
 * The same for the n-th (from 0) occurrence of `name`: "a=1&b=2&a=3"
 * has a's values "1" and "3".  n == 0 is http_query_find.
 */
bool http_query_find_nth(const char *query, size_t len, const char *name,
    size_t n, const char **val, size_t *val_len);

/*
 * Look up cookie `name` in a Cookie header value ("a=1; b=2").  Same
 * contract as http_query_find; values are not decoded.
 */
bool http_cookie_find(const char *value, size_t len, const char *name,
    const char **val, size_t *val_len);

/* The value of one hex digit (either case), or -1. */
int	http_hex_value(unsigned char c);

#endif /* WSD_HTTP_H */

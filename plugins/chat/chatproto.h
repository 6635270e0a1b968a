/*
 * chatproto: the pure part of the chat plugin (names, the query, the
 * JSON it sends), apart from wsd's callbacks so it can be unit-tested.
 */
#ifndef CHATPROTO_H
#define CHATPROTO_H

#include <stddef.h>
#include <stdint.h>

#define CHAT_NAME_MAX	32		/* bytes in a nick or a room name */

/* 1 if s is 1 to CHAT_NAME_MAX of [A-Za-z0-9_.-], else 0. */
int	 chat_name_ok(const char *s);

/*
 * 1 if the raw query string (may be NULL) has an element named `name`
 * (compared before any percent-decoding, as wsd_arg() looks them up),
 * with or without a value.
 */
int	 chat_query_has(const char *query, const char *name);

/*
 * One event as compact JSON, NUL terminated, to free(); NULL when out of
 * memory or when text is not valid UTF-8.  type is "message" (text,
 * len and ts used: text may hold NULs), "join" or "leave" (text and ts
 * ignored).  *outlen gets the length.
 */
char	*chat_event(const char *type, const char *room, const char *nick,
	    const char *text, size_t len, int64_t ts, size_t *outlen);

#endif /* CHATPROTO_H */

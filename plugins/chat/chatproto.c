/*
 * chatproto: see chatproto.h.
 */
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "chatproto.h"

int
chat_name_ok(const char *s)
{
	size_t n;

	if (s == NULL)
		return 0;
	for (n = 0; s[n] != '\0'; n++) {
		unsigned char ch = (unsigned char)s[n];

		if (n >= CHAT_NAME_MAX)
			return 0;
		if (!((ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') ||
		    (ch >= '0' && ch <= '9') || ch == '_' || ch == '.' ||
		    ch == '-'))
			return 0;
	}
	return n > 0;
}

int
chat_query_has(const char *query, const char *name)
{
	size_t nlen = strlen(name), elen;
	const char *p, *amp;

	if (query == NULL || nlen == 0)
		return 0;
	for (p = query;; p = amp + 1) {
		amp = strchr(p, '&');
		elen = amp != NULL ? (size_t)(amp - p) : strlen(p);
		if (elen >= nlen && memcmp(p, name, nlen) == 0 &&
		    (elen == nlen || p[nlen] == '='))
			return 1;
		if (amp == NULL)
			return 0;
	}
}

char *
chat_event(const char *type, const char *room, const char *nick,
    const char *text, size_t len, int64_t ts, size_t *outlen)
{
	json_t *obj, *t;
	char *s;

	if ((obj = json_object()) == NULL)
		return NULL;
	/*
	 * The keys in the order the protocol lists them (jansson keeps
	 * insertion order), which makes the lines easy to read in a log.
	 * json_stringn, not json_string: a line may hold NULs, which
	 * WebSocket text allows and JSON writes as \u0000.
	 */
	if (json_object_set_new(obj, "type", json_string(type)) == -1 ||
	    json_object_set_new(obj, "room", json_string(room)) == -1 ||
	    json_object_set_new(obj, "nick", json_string(nick)) == -1)
		goto fail;
	if (strcmp(type, "message") == 0) {
		if ((t = json_stringn(text != NULL ? text : "", len)) == NULL ||
		    json_object_set_new(obj, "text", t) == -1 ||
		    json_object_set_new(obj, "ts", json_integer(ts)) == -1)
			goto fail;
	}
	s = json_dumps(obj, JSON_COMPACT);
	json_decref(obj);
	if (s != NULL && outlen != NULL)
		*outlen = strlen(s);
	return s;
fail:
	json_decref(obj);
	return NULL;
}

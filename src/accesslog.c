/*
 * accesslog: see accesslog.h.  jansson does the escaping.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "accesslog.h"
#include "log.h"

/* A JSON string for s; text that is not UTF-8 is escaped first. */
static json_t *
str(const char *s)
{
	char esc[1024];
	json_t *j;

	if (s == NULL)
		return json_null();
	if ((j = json_string(s)) != NULL)
		return j;
	log_escape(esc, sizeof(esc), s, strlen(s));
	return json_string(esc);
}

static int
set(json_t *o, const char *key, json_t *v)
{
	return v == NULL ? -1 : json_object_set_new(o, key, v);
}

char *
access_json(const struct access_rec *r, size_t *len)
{
	char stamp[40], when[48];
	time_t sec = (time_t)(r->time_ms / 1000);
	struct tm tm;
	json_t *o;
	char *s, *line = NULL;
	size_t n;
	int bad = 0;

	gmtime_r(&sec, &tm);
	strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(when, sizeof(when), "%s.%03uZ", stamp,
	    (unsigned)(r->time_ms % 1000));
	if ((o = json_object()) == NULL)
		return NULL;
	bad |= set(o, "time", json_string(when));
	bad |= set(o, "id", json_integer((json_int_t)r->id));
	bad |= set(o, "remote", str(r->remote));
	if (r->peer != NULL)
		bad |= set(o, "peer", str(r->peer));
	bad |= set(o, "request", str(r->request));
	bad |= set(o, "status", json_integer(r->status));
	bad |= set(o, "route", str(r->route));
	bad |= set(o, "subprotocol", str(r->subprotocol));
	bad |= set(o, "worker", r->worker >= 0 ?
	    json_integer(r->worker) : json_null());
	bad |= set(o, "tls", str(r->tls));
	bad |= set(o, "duration_ms", json_integer((json_int_t)r->duration_ms));
	if (r->status == 101) {
		bad |= set(o, "messages_in",
		    json_integer((json_int_t)r->msgs_in));
		bad |= set(o, "bytes_in",
		    json_integer((json_int_t)r->bytes_in));
		bad |= set(o, "messages_out",
		    json_integer((json_int_t)r->msgs_out));
		bad |= set(o, "bytes_out",
		    json_integer((json_int_t)r->bytes_out));
		bad |= set(o, "close_code", json_integer(r->close_code));
		bad |= set(o, "close_reason",
		    str(r->close_reason != NULL ? r->close_reason : ""));
	}
	s = bad ? NULL : json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
	json_decref(o);
	if (s == NULL)
		return NULL;
	n = strlen(s);
	if ((line = malloc(n + 2)) != NULL) {
		memcpy(line, s, n);
		line[n] = '\n';
		line[n + 1] = '\0';
		*len = n + 1;
	}
	free(s);
	return line;
}

/*
 * echo-logger: log every connection and message, and echo each message
 * back with the same opcode.  The reference plugin: it uses the API the
 * way a plugin should, and it is what the conformance tests talk to.
 *
 * Settings (all optional):
 *   echo = true;             send each message back
 *   log = "stderr";          "stderr" (through wsd's log) or a file path,
 *                            relative to wsd's working directory; the file
 *                            is reopened on SIGUSR1 (logrotate)
 *   format = "text";         "text" lines, or "json": one object a line
 *                            with time, event, conn, id, remote, opcode,
 *                            length and the text or base64 payload
 *   max_logged_bytes = 64;   longer payloads are truncated in the log
 *                            (they are always echoed whole)
 *   log_messages = true;     false: log opens and closes only, not each
 *                            message (for busy routes and benchmarks)
 *
 * Nothing a client sends reaches the log raw: text lines escape every
 * byte that is not printable ASCII, JSON lines are escaped by jansson.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>

#include <jansson.h>

#include <wsd/plugin.h>

struct echo {
	struct wsd_route	*route;
	int			 echo;
	int			 json;
	int			 log_messages;
	size_t			 max_logged;
	const char		*path;		/* NULL: stderr via wsd_log */
	FILE			*file;
};

/* Per connection: what every line about it repeats. */
struct client {
	uint64_t	 conn;
	char		*id;		/* ?id=, or NULL */
	const char	*remote;	/* wsd's: valid until close returns */
};

static int
open_log(struct echo *e)
{
	FILE *f;

	if ((f = fopen(e->path, "a")) == NULL) {
		wsd_log(e->route, WSD_LOG_ERR, "echo-logger: %s: %s", e->path,
		    strerror(errno));
		return -1;
	}
	setvbuf(f, NULL, _IOLBF, 0);
	if (e->file != NULL)
		fclose(e->file);
	e->file = f;
	return 0;
}

static int
echo_init(const struct wsd_host *host, struct wsd_route *r, void **state)
{
	const char *log, *format;
	struct echo *e;
	long long max;
	int echo, log_messages;

	(void)host;
	if (wsd_setting_bool(r, "echo", 1, &echo) == -1 ||
	    wsd_setting_string(r, "log", "stderr", &log) == -1 ||
	    wsd_setting_string(r, "format", "text", &format) == -1 ||
	    wsd_setting_int(r, "max_logged_bytes", 64, &max) == -1 ||
	    wsd_setting_bool(r, "log_messages", 1, &log_messages) == -1)
		return -1;
	if (max < 0 || max > 65536) {
		wsd_setting_error(r, "max_logged_bytes",
		    "must be between 0 and 65536");
		return -1;
	}
	if (strcmp(format, "text") != 0 && strcmp(format, "json") != 0) {
		wsd_setting_error(r, "format", "must be \"text\" or \"json\"");
		return -1;
	}
	if (log[0] == '\0') {
		wsd_setting_error(r, "log", "must be \"stderr\" or a path");
		return -1;
	}
	if ((e = calloc(1, sizeof(*e))) == NULL)
		return -1;
	e->route = r;
	e->echo = echo;
	e->json = strcmp(format, "json") == 0;
	e->log_messages = log_messages;
	e->max_logged = (size_t)max;
	if (strcmp(log, "stderr") != 0) {
		e->path = log;
		if (open_log(e) == -1) {
			wsd_setting_error(r, "log", "cannot open the file");
			free(e);
			return -1;
		}
	}
	*state = e;
	return 0;
}

static void
echo_fini(void *state)
{
	struct echo *e = state;

	if (e->file != NULL)
		fclose(e->file);
	free(e);
}

static void
echo_reopen(void *state)
{
	struct echo *e = state;

	if (e->path != NULL && open_log(e) == 0)
		wsd_log(e->route, WSD_LOG_INFO, "echo-logger: reopened %s",
		    e->path);
}

/* Printable ASCII stays; everything else becomes \xHH. */
static char *
escape(const unsigned char *s, size_t len)
{
	static const char hex[] = "0123456789abcdef";
	char *out = malloc(len * 4 + 1), *o = out;
	size_t i;

	if (out == NULL)
		return NULL;
	for (i = 0; i < len; i++) {
		if (s[i] >= 0x20 && s[i] < 0x7f && s[i] != '\\' &&
		    s[i] != '"') {
			*o++ = (char)s[i];
		} else {
			*o++ = '\\';
			*o++ = 'x';
			*o++ = hex[s[i] >> 4];
			*o++ = hex[s[i] & 15];
		}
	}
	*o = '\0';
	return out;
}

static char *
base64(const unsigned char *s, size_t len)
{
	static const char tab[] =
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	char *out = malloc((len + 2) / 3 * 4 + 1), *o = out;
	size_t i;

	if (out == NULL)
		return NULL;
	for (i = 0; i + 2 < len; i += 3) {
		*o++ = tab[s[i] >> 2];
		*o++ = tab[(s[i] & 3) << 4 | s[i + 1] >> 4];
		*o++ = tab[(s[i + 1] & 15) << 2 | s[i + 2] >> 6];
		*o++ = tab[s[i + 2] & 63];
	}
	if (i < len) {
		*o++ = tab[s[i] >> 2];
		if (i + 1 < len) {
			*o++ = tab[(s[i] & 3) << 4 | s[i + 1] >> 4];
			*o++ = tab[(s[i + 1] & 15) << 2];
		} else {
			*o++ = tab[(s[i] & 3) << 4];
			*o++ = '=';
		}
		*o++ = '=';
	}
	*o = '\0';
	return out;
}

/* Cut text at n bytes without splitting a UTF-8 sequence. */
static size_t
utf8_cut(const unsigned char *s, size_t len, size_t n)
{
	if (n >= len)
		return len;
	while (n > 0 && (s[n] & 0xc0) == 0x80)
		n--;
	return n;
}

/* Emit one finished line, to the file or through wsd's log. */
static void
emit(struct echo *e, const char *line)
{
	struct timeval tv;
	struct tm tm;
	char stamp[32];

	if (e->file == NULL) {
		wsd_log(e->route, WSD_LOG_INFO, "%s", line);
		return;
	}
	if (e->json) {
		fprintf(e->file, "%s\n", line);
		return;
	}
	gettimeofday(&tv, NULL);
	gmtime_r(&tv.tv_sec, &tm);
	strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%S", &tm);
	fprintf(e->file, "%s.%03ldZ %s\n", stamp, (long)(tv.tv_usec / 1000),
	    line);
}

/* A JSON record with the fields every event has. */
static json_t *
record(const char *event, const struct client *cl)
{
	struct timeval tv;
	struct tm tm;
	char stamp[40];

	gettimeofday(&tv, NULL);
	gmtime_r(&tv.tv_sec, &tm);
	strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(stamp + strlen(stamp), sizeof(stamp) - strlen(stamp),
	    ".%06ldZ", (long)tv.tv_usec);
	return json_pack("{s:s, s:s, s:I, s:s?, s:s}", "time", stamp,
	    "event", event, "conn", (json_int_t)cl->conn, "id", cl->id,
	    "remote", cl->remote);
}

/*
 * jansson escapes control bytes below 0x20 but writes DEL (0x7f) raw.
 * DEL can only occur inside a JSON string, where \u007f means the same,
 * so the line stays valid JSON.  Returns s itself when there is no DEL,
 * else a new string (free it), or NULL when out of memory.
 */
static char *
del_escaped(const char *s)
{
	size_t n = 0, len = 0;
	const char *p;
	char *out, *o;

	for (p = s; *p != '\0'; p++, len++)
		n += *p == 0x7f;
	if (n == 0)
		return (char *)s;
	if ((out = malloc(len + n * 5 + 1)) == NULL)
		return NULL;
	for (p = s, o = out; *p != '\0'; p++) {
		if (*p == 0x7f) {
			memcpy(o, "\\u007f", 6);
			o += 6;
		} else {
			*o++ = *p;
		}
	}
	*o = '\0';
	return out;
}

static void
emit_json(struct echo *e, json_t *obj)
{
	char *s;

	if (obj == NULL)
		return;
	if ((s = json_dumps(obj, JSON_COMPACT)) != NULL) {
		char *line = del_escaped(s);

		if (line != NULL)
			emit(e, line);
		if (line != s)
			free(line);
		free(s);
	}
	json_decref(obj);
}

static void
echo_open(void *state, struct wsd_conn *c)
{
	struct echo *e = state;
	struct client *cl = calloc(1, sizeof(*cl));
	const char *id = wsd_arg(c, "id");
	char *line, *eid;

	if (cl == NULL) {
		wsd_close(c, 1011, "out of memory");
		return;
	}
	cl->conn = wsd_conn_id(c);
	cl->remote = wsd_remote_addr(c);
	/* The id is kept as sent, only ever logged escaped. */
	if (id != NULL && (cl->id = strdup(id)) == NULL) {
		free(cl);
		wsd_close(c, 1011, "out of memory");
		return;
	}
	wsd_set_data(c, cl);
	if (e->json) {
		emit_json(e, record("open", cl));
		return;
	}
	eid = escape((const unsigned char *)(cl->id ? cl->id : ""),
	    cl->id ? strlen(cl->id) : 0);
	if (eid != NULL && asprintf(&line, "conn %llu open from %s id=\"%s\"",
	    (unsigned long long)cl->conn, cl->remote, eid) != -1) {
		emit(e, line);
		free(line);
	}
	free(eid);
}

static void
log_message(struct echo *e, const struct client *cl, int opcode,
    const unsigned char *p, size_t len)
{
	size_t shown = len < e->max_logged ? len : e->max_logged;
	char *body, *eid, *line;
	json_t *obj;

	if (opcode == WSD_TEXT)
		shown = utf8_cut(p, len, shown);
	if (e->json) {
		if ((obj = record("message", cl)) == NULL)
			return;
		json_object_set_new(obj, "opcode",
		    json_string(opcode == WSD_TEXT ? "text" : "binary"));
		json_object_set_new(obj, "length", json_integer((json_int_t)len));
		if (opcode == WSD_TEXT) {
			json_object_set_new(obj, "text",
			    json_stringn((const char *)p, shown));
		} else if ((body = base64(p, shown)) != NULL) {
			json_object_set_new(obj, "base64", json_string(body));
			free(body);
		}
		json_object_set_new(obj, "truncated", json_boolean(shown < len));
		emit_json(e, obj);
		return;
	}
	eid = escape((const unsigned char *)(cl->id ? cl->id : ""),
	    cl->id ? strlen(cl->id) : 0);
	body = opcode == WSD_TEXT ? escape(p, shown) : base64(p, shown);
	if (eid != NULL && body != NULL &&
	    asprintf(&line, "conn %llu id=\"%s\" %s %zu bytes: %s%s%s%s",
	    (unsigned long long)cl->conn, eid,
	    opcode == WSD_TEXT ? "text" : "binary", len,
	    opcode == WSD_TEXT ? "\"" : "base64:", body,
	    opcode == WSD_TEXT ? "\"" : "",
	    shown < len ? " (truncated)" : "") != -1) {
		emit(e, line);
		free(line);
	}
	free(eid);
	free(body);
}

static void
echo_message(void *state, struct wsd_conn *c, int opcode, const void *data,
    size_t len)
{
	struct echo *e = state;
	struct client *cl = wsd_get_data(c);

	if (cl != NULL && e->log_messages)
		log_message(e, cl, opcode, data, len);
	if (e->echo && wsd_send(c, opcode, data, len) == WSD_SEND_DROPPED)
		wsd_log(e->route, WSD_LOG_NOTICE, "conn %llu: echo dropped",
		    (unsigned long long)wsd_conn_id(c));
}

static void
echo_close(void *state, struct wsd_conn *c, int code, const char *reason)
{
	struct echo *e = state;
	struct client *cl = wsd_get_data(c);
	char *line, *r, *eid;
	json_t *obj;

	if (cl == NULL)
		return;
	if (e->json) {
		if ((obj = record("close", cl)) != NULL) {
			json_object_set_new(obj, "code", json_integer(code));
			json_object_set_new(obj, "reason", json_string(reason));
			emit_json(e, obj);
		}
	} else {
		r = escape((const unsigned char *)reason, strlen(reason));
		eid = escape((const unsigned char *)(cl->id ? cl->id : ""),
		    cl->id ? strlen(cl->id) : 0);
		if (r != NULL && eid != NULL && asprintf(&line,
		    "conn %llu id=\"%s\" closed: %d \"%s\"",
		    (unsigned long long)cl->conn, eid, code, r) != -1) {
			emit(e, line);
			free(line);
		}
		free(r);
		free(eid);
	}
	free(cl->id);
	free(cl);
}

WSD_PLUGIN(
	.name = "echo-logger",
	.version = "1.1",
	.init = echo_init,
	.fini = echo_fini,
	.open = echo_open,
	.message = echo_message,
	.close = echo_close,
	.reopen = echo_reopen,
);

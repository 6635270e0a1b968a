/*
 * echo-logger: log every connection and message, and echo each message
 * back with the same opcode.  The reference plugin: it uses the API the
 * way a plugin should, and it is what the conformance tests talk to.
 *
 * Settings (all optional):
 *   echo = true;               send each message back
 *   max_logged_bytes = 64;     longer messages are truncated in the log
 *                              (they are always echoed whole)
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <wsd/plugin.h>

struct echo {
	struct wsd_route	*route;
	int			 echo;
	size_t			 max_logged;
};

/* Per connection: the client's ?id=, if any, for every log line. */
struct client {
	char	 id[64];
};

static int
echo_init(const struct wsd_host *host, struct wsd_route *r, void **state)
{
	struct echo *e;
	long long max;
	int echo;

	(void)host;
	if (wsd_setting_bool(r, "echo", 1, &echo) == -1 ||
	    wsd_setting_int(r, "max_logged_bytes", 64, &max) == -1)
		return -1;
	if (max < 0 || max > 65536) {
		wsd_setting_error(r, "max_logged_bytes",
		    "must be between 0 and 65536");
		return -1;
	}
	if ((e = calloc(1, sizeof(*e))) == NULL)
		return -1;
	e->route = r;
	e->echo = echo;
	e->max_logged = (size_t)max;
	*state = e;
	return 0;
}

static void
echo_fini(void *state)
{
	free(state);
}

/*
 * Write text into dst so a client cannot forge log lines: printable
 * ASCII stays, everything else is escaped.
 */
static void
escape(char *dst, size_t dstsz, const unsigned char *s, size_t len)
{
	static const char hex[] = "0123456789abcdef";
	size_t i, o = 0;

	for (i = 0; i < len && o + 5 < dstsz; i++) {
		if (s[i] >= 0x20 && s[i] < 0x7f && s[i] != '\\' &&
		    s[i] != '"') {
			dst[o++] = (char)s[i];
		} else {
			dst[o++] = '\\';
			dst[o++] = 'x';
			dst[o++] = hex[s[i] >> 4];
			dst[o++] = hex[s[i] & 15];
		}
	}
	dst[o] = '\0';
}

static void
echo_open(void *state, struct wsd_conn *c)
{
	struct echo *e = state;
	struct client *cl = calloc(1, sizeof(*cl));
	const char *id = wsd_arg(c, "id");

	if (cl != NULL) {
		if (id != NULL)
			escape(cl->id, sizeof(cl->id),
			    (const unsigned char *)id, strlen(id));
		wsd_set_data(c, cl);
	}
	wsd_log(e->route, WSD_LOG_INFO, "conn %llu open from %s id=\"%s\"",
	    (unsigned long long)wsd_conn_id(c), wsd_remote_addr(c),
	    cl != NULL ? cl->id : "");
}

static void
echo_message(void *state, struct wsd_conn *c, int opcode, const void *data,
    size_t len)
{
	struct echo *e = state;
	struct client *cl = wsd_get_data(c);
	size_t shown = len < e->max_logged ? len : e->max_logged;
	char *buf;

	/* Four output bytes per input byte at most, and some slack. */
	if ((buf = malloc(shown * 4 + 8)) != NULL) {
		if (opcode == WSD_TEXT) {
			escape(buf, shown * 4 + 8, data, shown);
			wsd_log(e->route, WSD_LOG_INFO, "conn %llu id=\"%s\" "
			    "text %zu bytes: \"%s\"%s",
			    (unsigned long long)wsd_conn_id(c),
			    cl != NULL ? cl->id : "", len, buf,
			    shown < len ? " (truncated)" : "");
		} else {
			static const char hex[] = "0123456789abcdef";
			const unsigned char *p = data;
			size_t i, n = shown < 16 ? shown : 16;

			for (i = 0; i < n; i++) {
				buf[2 * i] = hex[p[i] >> 4];
				buf[2 * i + 1] = hex[p[i] & 15];
			}
			buf[2 * n] = '\0';
			wsd_log(e->route, WSD_LOG_INFO, "conn %llu id=\"%s\" "
			    "binary %zu bytes: %s%s",
			    (unsigned long long)wsd_conn_id(c),
			    cl != NULL ? cl->id : "", len, buf,
			    n < len ? "..." : "");
		}
		free(buf);
	}
	if (e->echo && wsd_send(c, opcode, data, len) == WSD_SEND_DROPPED)
		wsd_log(e->route, WSD_LOG_NOTICE, "conn %llu: echo dropped",
		    (unsigned long long)wsd_conn_id(c));
}

static void
echo_close(void *state, struct wsd_conn *c, int code, const char *reason)
{
	struct echo *e = state;
	struct client *cl = wsd_get_data(c);
	char r[4 * 123 + 1];

	escape(r, sizeof(r), (const unsigned char *)reason, strlen(reason));
	wsd_log(e->route, WSD_LOG_INFO, "conn %llu id=\"%s\" closed: %d \"%s\"",
	    (unsigned long long)wsd_conn_id(c), cl != NULL ? cl->id : "",
	    code, r);
	free(cl);
}

WSD_PLUGIN(
	.name = "echo-logger",
	.version = "1.0",
	.init = echo_init,
	.fini = echo_fini,
	.open = echo_open,
	.message = echo_message,
	.close = echo_close,
);

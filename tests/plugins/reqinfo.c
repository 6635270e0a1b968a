/*
 * reqinfo: a test plugin for tests/integration/test_tornado_api.py.  It
 * reports what the request accessors of ABI 1.4 return:
 * wsd_signed_cookie(), wsd_cookie_value(), wsd_arg_at() and
 * wsd_offered_subprotocol().
 *
 * The request is only readable in handshake and open, so both gather:
 * handshake keeps its lines with wsd_set_data(), open adds its own and
 * sends them all, one binary message per line (values are bytes):
 *
 *   "<phase> <kind> <name> <i> =<value>"   or   "<phase> <kind> <name> <i> -"
 *
 * phase is "hs" or "open"; kind is "signed", "cookie", "arg" or
 * "proto" (name "-"); arg and proto list every index up to the first
 * NULL, which is reported too.  Then the text message "end".
 *
 * handshake also accepts, among the offered subprotocols in the
 * client's order, the first that the `accept` setting lists.
 *
 * A text message "after" asks for the same lines again, now from the
 * message callback, where every accessor must return NULL (phase
 * "msg"), then "end".
 *
 * Settings: secret (string), max_age_days (float, 31), signed, cookies,
 * args, accept (lists of names).
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE	/* asprintf */
#endif
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <wsd/plugin.h>

/* An arg or subprotocol list is read up to this index. */
#define INDEX_MAX	32

struct reqinfo {
	const char		*secret;
	double			 max_age_days;
	const char *const	*signed_names;
	const char *const	*cookie_names;
	const char *const	*arg_names;
	const char *const	*accept;
};

/* The lines gathered for one connection. */
struct lines {
	char	**line;
	size_t	 *len;
	size_t	  n;
	int	  failed;
};

static int
ri_init(const struct wsd_host *host, struct wsd_route *r, void **state)
{
	struct reqinfo *ri;

	(void)host;
	if ((ri = calloc(1, sizeof(*ri))) == NULL)
		return -1;
	if (wsd_setting_string(r, "secret", "", &ri->secret) == -1 ||
	    wsd_setting_float(r, "max_age_days", 31, &ri->max_age_days) == -1 ||
	    wsd_setting_strings(r, "signed", &ri->signed_names, NULL) == -1 ||
	    wsd_setting_strings(r, "cookies", &ri->cookie_names, NULL) == -1 ||
	    wsd_setting_strings(r, "args", &ri->arg_names, NULL) == -1 ||
	    wsd_setting_strings(r, "accept", &ri->accept, NULL) == -1) {
		free(ri);
		return -1;
	}
	*state = ri;
	return 0;
}

static void
ri_fini(void *state)
{
	free(state);
}

static void
lines_free(struct lines *l)
{
	size_t i;

	if (l == NULL)
		return;
	for (i = 0; i < l->n; i++)
		free(l->line[i]);
	free(l->line);
	free(l->len);
	free(l);
}

static void
add(struct lines *l, const char *phase, const char *kind, const char *name,
    size_t i, const char *value)
{
	char **nl;
	size_t *nlen;
	char *s;
	int n;

	if (value != NULL)
		n = asprintf(&s, "%s %s %s %zu =%s", phase, kind, name, i, value);
	else
		n = asprintf(&s, "%s %s %s %zu -", phase, kind, name, i);
	if (n < 0) {
		l->failed = 1;
		return;
	}
	if ((nl = realloc(l->line, (l->n + 1) * sizeof(*nl))) == NULL) {
		free(s);
		l->failed = 1;
		return;
	}
	l->line = nl;
	if ((nlen = realloc(l->len, (l->n + 1) * sizeof(*nlen))) == NULL) {
		free(s);
		l->failed = 1;
		return;
	}
	l->len = nlen;
	l->line[l->n] = s;
	l->len[l->n++] = (size_t)n;
}

static void
gather(struct reqinfo *ri, struct wsd_conn *c, struct lines *l,
    const char *phase)
{
	const char *const *p;
	const char *v;
	size_t i;

	for (p = ri->signed_names; *p != NULL; p++)
		add(l, phase, "signed", *p, 0, wsd_signed_cookie(c, *p,
		    ri->secret, ri->max_age_days));
	for (p = ri->cookie_names; *p != NULL; p++)
		add(l, phase, "cookie", *p, 0, wsd_cookie_value(c, *p));
	for (p = ri->arg_names; *p != NULL; p++) {
		for (i = 0; i < INDEX_MAX; i++) {
			v = wsd_arg_at(c, *p, i);
			add(l, phase, "arg", *p, i, v);
			if (v == NULL)
				break;
		}
	}
	for (i = 0; i < INDEX_MAX; i++) {
		v = wsd_offered_subprotocol(c, i);
		add(l, phase, "proto", "-", i, v);
		if (v == NULL)
			break;
	}
}

static int
ri_handshake(void *state, struct wsd_conn *c)
{
	struct reqinfo *ri = state;
	struct lines *l;
	const char *const *a;
	const char *v;
	size_t i;

	if ((l = calloc(1, sizeof(*l))) == NULL)
		return 500;
	gather(ri, c, l, "hs");
	/* The client's order decides, as in Tornado's select_subprotocol. */
	for (i = 0; i < INDEX_MAX &&
	    (v = wsd_offered_subprotocol(c, i)) != NULL; i++) {
		for (a = ri->accept; *a != NULL; a++)
			if (strcmp(*a, v) == 0)
				break;
		if (*a != NULL) {
			if (wsd_accept_subprotocol(c, v) == -1)
				l->failed = 1;
			break;
		}
	}
	wsd_set_data(c, l);
	return 0;
}

static void
send_all(struct wsd_conn *c, struct lines *l)
{
	size_t i;

	/* A dropped line would show as a missing one: close instead. */
	for (i = 0; i < l->n; i++)
		if (wsd_send(c, WSD_BINARY, l->line[i], l->len[i]) ==
		    WSD_SEND_DROPPED) {
			wsd_close(c, 1011, "dropped");
			return;
		}
	if (wsd_send(c, WSD_TEXT, "end", 3) == WSD_SEND_DROPPED)
		wsd_close(c, 1011, "dropped");
}

static void
ri_open(void *state, struct wsd_conn *c)
{
	struct lines *l = wsd_get_data(c);

	if (l == NULL) {
		wsd_close(c, 1011, "no handshake data");
		return;
	}
	gather(state, c, l, "open");
	if (l->failed) {
		wsd_close(c, 1011, "out of memory");
		return;
	}
	send_all(c, l);
}

static void
ri_message(void *state, struct wsd_conn *c, int opcode, const void *data,
    size_t len)
{
	struct lines *l;

	if (opcode != WSD_TEXT || len != 5 || memcmp(data, "after", 5) != 0)
		return;
	if ((l = calloc(1, sizeof(*l))) == NULL) {
		wsd_close(c, 1011, "out of memory");
		return;
	}
	gather(state, c, l, "msg");
	send_all(c, l);
	lines_free(l);
}

static void
ri_close(void *state, struct wsd_conn *c, int code, const char *reason)
{
	(void)state;
	(void)code;
	(void)reason;
	lines_free(wsd_get_data(c));
	wsd_set_data(c, NULL);
}

WSD_PLUGIN(
	.name = "reqinfo",
	.version = "1",
	.init = ri_init,
	.fini = ri_fini,
	.handshake = ri_handshake,
	.open = ri_open,
	.message = ri_message,
	.close = ri_close,
);

/*
 * params: a test plugin for tests/integration/test_patterns.py.  It says
 * what wsd_param() and wsd_path() give, so a test can check routing by
 * pattern end to end.
 *
 * Settings:
 *   names    the parameter names to ask for (a list of strings; "*" for
 *            the rest of a wildcard route)
 *   pending  true: the handshake hook answers WSD_HANDSHAKE_PENDING and
 *            a timer 10 ms later finds the connection by id, asks again
 *            ("pend:<name>=<value>") and accepts it
 *
 * On open it sends one binary message (values may be any bytes but NUL
 * and controls, which wsd refuses, so not always UTF-8), one line per
 * fact:
 *   route=<the route's configured path>
 *   path=<wsd_path()>
 *   hook=ran              the handshake hook ran
 *   hs:<name>=<value>     wsd_param() in the handshake hook
 *   pend:<name>=<value>   the same while the handshake is pending
 *   open:<name>=<value>   wsd_param() in open
 *   hs:<name>!            wsd_param() was NULL (open:<name>! likewise)
 * On any message it answers the same for a call made then ("late:"),
 * which must be NULL: parameters live until open returns.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <wsd/plugin.h>

struct params {
	struct wsd_route	*route;
	const char *const	*names;
	size_t			 nnames;
	int			 pending;
};

struct out {
	char	*buf;
	size_t	 len;
	int	 failed;
};

static void
add(struct out *o, const char *tag, const char *name, const char *value)
{
	size_t need = strlen(tag) + strlen(name) + (value ? strlen(value) : 0)
	    + 4;
	char *n;

	if (o->failed || (n = realloc(o->buf, o->len + need)) == NULL) {
		o->failed = 1;
		return;
	}
	o->buf = n;
	o->len += (size_t)snprintf(o->buf + o->len, need, "%s%s%s%s\n", tag,
	    name, value != NULL ? "=" : "!", value != NULL ? value : "");
}

static void
add_params(struct params *p, struct out *o, struct wsd_conn *c,
    const char *tag)
{
	size_t i;

	for (i = 0; i < p->nnames; i++)
		add(o, tag, p->names[i], wsd_param(c, p->names[i]));
}

static int
pr_init(const struct wsd_host *host, struct wsd_route *r, void **state)
{
	struct params *p;

	(void)host;
	if ((p = calloc(1, sizeof(*p))) == NULL)
		return -1;
	p->route = r;
	if (wsd_setting_strings(r, "names", &p->names, &p->nnames) == -1 ||
	    wsd_setting_bool(r, "pending", 0, &p->pending) == -1) {
		free(p);
		return -1;
	}
	*state = p;
	return 0;
}

static void
pr_fini(void *state)
{
	free(state);
}

struct later {
	struct params	*p;
	uint64_t	 id;
};

/* A pending handshake decided: the parameters asked for again first. */
static void
pr_resume(struct wsd_route *r, void *arg)
{
	struct later *l = arg;
	struct wsd_conn *c = wsd_conn_find(r, l->id);
	struct params *p = l->p;
	struct out o;

	free(l);
	if (c == NULL)
		return;		/* the client left meanwhile */
	o.buf = wsd_get_data(c);
	o.len = strlen(o.buf);
	o.failed = 0;
	add_params(p, &o, c, "pend:");
	wsd_set_data(c, o.buf);
	if (wsd_handshake_resume(c, o.failed ? 500 : 0) == -1)
		wsd_log(r, WSD_LOG_ERR, "params: resume refused");
}

/* What the hook saw is kept for open (freed there or in close). */
static int
pr_handshake(void *state, struct wsd_conn *c)
{
	struct params *p = state;
	struct out o = { NULL, 0, 0 };
	struct later *l;

	add(&o, "", "hook", "ran");
	add_params(p, &o, c, "hs:");
	if (o.failed) {
		free(o.buf);
		return 500;
	}
	wsd_set_data(c, o.buf);
	if (!p->pending)
		return 0;
	if ((l = malloc(sizeof(*l))) == NULL)
		goto fail;
	l->p = p;
	l->id = wsd_conn_id(c);
	if (wsd_timer_add(p->route, 10, 0, pr_resume, l) == NULL) {
		free(l);
		goto fail;
	}
	return WSD_HANDSHAKE_PENDING;

fail:
	wsd_set_data(c, NULL);
	free(o.buf);
	return 500;
}

static void
pr_send(struct wsd_conn *c, struct out *o)
{
	if (o->failed) {
		wsd_close(c, 1011, "out of memory");
		return;
	}
	if (wsd_send(c, WSD_BINARY, o->buf, o->len) == WSD_SEND_DROPPED)
		wsd_log(wsd_conn_route(c), WSD_LOG_INFO, "params: dropped");
}

static void
pr_open(void *state, struct wsd_conn *c)
{
	struct params *p = state;
	struct out o = { NULL, 0, 0 };
	char *hs = wsd_get_data(c);

	add(&o, "", "route", wsd_route_path(p->route));
	add(&o, "", "path", wsd_path(c));
	if (hs != NULL && !o.failed) {
		char *n = realloc(o.buf, o.len + strlen(hs) + 1);

		if (n == NULL)
			o.failed = 1;
		else {
			o.buf = n;
			memcpy(o.buf + o.len, hs, strlen(hs) + 1);
			o.len += strlen(hs);
		}
	}
	wsd_set_data(c, NULL);
	free(hs);
	add_params(p, &o, c, "open:");
	pr_send(c, &o);
	free(o.buf);
}

static void
pr_message(void *state, struct wsd_conn *c, int opcode, const void *data,
    size_t len)
{
	struct out o = { NULL, 0, 0 };

	(void)opcode;
	(void)data;
	(void)len;
	add_params(state, &o, c, "late:");
	pr_send(c, &o);
	free(o.buf);
}

static void
pr_close(void *state, struct wsd_conn *c, int code, const char *reason)
{
	(void)state;
	(void)code;
	(void)reason;
	free(wsd_get_data(c));
}

WSD_PLUGIN(
	.name = "params",
	.version = "1",
	.init = pr_init,
	.fini = pr_fini,
	.handshake = pr_handshake,
	.open = pr_open,
	.message = pr_message,
	.close = pr_close,
);

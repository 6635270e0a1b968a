/*
 * topics: a test plugin for wsd_subscribe(), wsd_unsubscribe() and
 * wsd_publish() (tests/integration/test_topics.py).
 *
 * open subscribes to every topic of the query argument `sub` (a comma
 * separated list) and sends "open W N": W is wsd_worker(), N how many of
 * the subscriptions succeeded.  Text messages are commands, each answered
 * with one text line "<command> <result>":
 *
 *	sub NAME		wsd_subscribe(): "sub 0" or "sub -1"
 *	unsub NAME		wsd_unsubscribe()
 *	subs N PREFIX		subscribe to PREFIX0 .. PREFIX<N-1>: "subs K",
 *				K the number that succeeded
 *	pub NAME TEXT		publish TEXT (the rest of the line) as text
 *	pubn NAME COUNT SIZE	publish COUNT texts "<i> xxx..." of SIZE bytes
 *				(at least the number and a space): "pubn K"
 *	pubbad NAME		publish text that is not UTF-8
 *	pubop NAME OP		publish "x" with opcode OP
 *	pubsize NAME N		publish N bytes of 'x' as text
 *	pubtimer NAME TEXT	publish TEXT from a one-shot timer (0 ms)
 *
 * A binary message "NAME<space>PAYLOAD" publishes PAYLOAD as binary:
 * "pubbin 0".  When a connection closes and the setting `close_topic` is
 * set, "bye <id>" is published to that topic from `close`, while the
 * closing connection is still subscribed.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <wsd/plugin.h>

struct topics {
	struct wsd_route	*route;
	char			*close_topic;
};

struct deferred {
	struct topics		*t;
	char			*name;
	char			*text;
};

static int
topics_init(const struct wsd_host *host, struct wsd_route *r, void **state)
{
	struct topics *t;
	const char *ct = NULL;

	(void)host;
	if ((t = calloc(1, sizeof(*t))) == NULL)
		return -1;
	t->route = r;
	if (wsd_setting_string(r, "close_topic", NULL, &ct) == -1) {
		free(t);
		return -1;
	}
	if (ct != NULL && (t->close_topic = strdup(ct)) == NULL) {
		free(t);
		return -1;
	}
	*state = t;
	return 0;
}

static void
topics_fini(void *state)
{
	struct topics *t = state;

	free(t->close_topic);
	free(t);
}

static void
reply(struct wsd_conn *c, const char *cmd, long long v)
{
	char buf[96];
	int n;

	n = snprintf(buf, sizeof(buf), "%s %lld", cmd, v);
	/* A closing connection drops it; nothing else can. */
	if (wsd_send(c, WSD_TEXT, buf, (size_t)n) == WSD_SEND_DROPPED)
		wsd_log(wsd_conn_route(c), WSD_LOG_DEBUG, "reply dropped");
}

static void
topics_open(void *state, struct wsd_conn *c)
{
	const char *q = wsd_arg(c, "sub");
	char *list, *name, *save = NULL, cmd[32];
	int ok = 0;

	(void)state;
	if (q != NULL && (list = strdup(q)) != NULL) {
		for (name = strtok_r(list, ",", &save); name != NULL;
		    name = strtok_r(NULL, ",", &save))
			if (wsd_subscribe(c, name) == 0)
				ok++;
		free(list);
	}
	snprintf(cmd, sizeof(cmd), "open %d", wsd_worker());
	reply(c, cmd, ok);
}

static void
on_timer(struct wsd_route *r, void *arg)
{
	struct deferred *d = arg;

	(void)wsd_publish(r, d->name, WSD_TEXT, d->text, strlen(d->text));
	free(d->name);
	free(d->text);
	free(d);
}

/* Split "WORD REST" in place: returns REST ("" if none). */
static char *
split(char *s)
{
	char *sp = strchr(s, ' ');

	if (sp == NULL)
		return s + strlen(s);
	*sp = '\0';
	return sp + 1;
}

static void
command(struct topics *t, struct wsd_conn *c, char *line)
{
	struct wsd_route *r = t->route;
	char *arg = split(line), *rest, *buf;
	long long n, size, i, k;
	int rc;

	if (strcmp(line, "sub") == 0) {
		reply(c, "sub", wsd_subscribe(c, arg));
	} else if (strcmp(line, "unsub") == 0) {
		reply(c, "unsub", wsd_unsubscribe(c, arg));
	} else if (strcmp(line, "subs") == 0) {
		char name[160];

		rest = split(arg);
		n = atoll(arg);
		for (i = k = 0; i < n; i++) {
			snprintf(name, sizeof(name), "%s%lld", rest, i);
			if (wsd_subscribe(c, name) == 0)
				k++;
		}
		reply(c, "subs", k);
	} else if (strcmp(line, "pub") == 0) {
		rest = split(arg);
		reply(c, "pub", wsd_publish(r, arg, WSD_TEXT, rest,
		    strlen(rest)));
	} else if (strcmp(line, "pubn") == 0) {
		rest = split(arg);
		n = atoll(rest);
		size = atoll(split(rest));
		if ((buf = malloc((size_t)size + 32)) == NULL) {
			reply(c, "pubn", -1);
			return;
		}
		for (i = k = 0; i < n; i++) {
			int hl = snprintf(buf, 32, "%lld ", i);
			size_t len = size > hl ? (size_t)size : (size_t)hl;

			memset(buf + hl, 'x', len - (size_t)hl);
			if (wsd_publish(r, arg, WSD_TEXT, buf, len) == 0)
				k++;
		}
		free(buf);
		reply(c, "pubn", k);
	} else if (strcmp(line, "pubbad") == 0) {
		reply(c, "pubbad", wsd_publish(r, arg, WSD_TEXT, "a\xff\xfe",
		    3));
	} else if (strcmp(line, "pubop") == 0) {
		rest = split(arg);
		reply(c, "pubop", wsd_publish(r, arg, atoi(rest), "x", 1));
	} else if (strcmp(line, "pubsize") == 0) {
		size = atoll(split(arg));
		if ((buf = malloc((size_t)size + 1)) == NULL) {
			reply(c, "pubsize", -2);
			return;
		}
		memset(buf, 'x', (size_t)size);
		reply(c, "pubsize", wsd_publish(r, arg, WSD_TEXT, buf,
		    (size_t)size));
		free(buf);
	} else if (strcmp(line, "pubtimer") == 0) {
		struct deferred *d;

		rest = split(arg);
		if ((d = calloc(1, sizeof(*d))) == NULL ||
		    (d->name = strdup(arg)) == NULL ||
		    (d->text = strdup(rest)) == NULL) {
			if (d != NULL)
				free(d->name);
			free(d);
			reply(c, "pubtimer", -1);
			return;
		}
		d->t = t;
		rc = wsd_timer_add(r, 0, 0, on_timer, d) != NULL ? 0 : -1;
		reply(c, "pubtimer", rc);
	} else {
		reply(c, "unknown", -1);
	}
}

static void
topics_message(void *state, struct wsd_conn *c, int opcode,
    const void *data, size_t len)
{
	struct topics *t = state;
	const char *sp;
	char *line, name[256];
	size_t nl;

	if (opcode == WSD_BINARY) {
		sp = memchr(data, ' ', len);
		nl = sp != NULL ? (size_t)(sp - (const char *)data) : len;
		if (nl >= sizeof(name)) {
			reply(c, "pubbin", -2);
			return;
		}
		memcpy(name, data, nl);
		name[nl] = '\0';
		reply(c, "pubbin", wsd_publish(t->route, name, WSD_BINARY,
		    sp != NULL ? sp + 1 : "", sp != NULL ? len - nl - 1 : 0));
		return;
	}
	if ((line = malloc(len + 1)) == NULL)
		return;
	memcpy(line, data, len);
	line[len] = '\0';
	command(t, c, line);
	free(line);
}

static void
topics_close(void *state, struct wsd_conn *c, int code, const char *reason)
{
	struct topics *t = state;
	char buf[64];
	int n;

	(void)code;
	(void)reason;
	if (t->close_topic == NULL)
		return;
	n = snprintf(buf, sizeof(buf), "bye %llu",
	    (unsigned long long)wsd_conn_id(c));
	(void)wsd_publish(t->route, t->close_topic, WSD_TEXT, buf, (size_t)n);
}

WSD_PLUGIN(.name = "topics", .version = "1",
    .init = topics_init, .fini = topics_fini,
    .open = topics_open, .message = topics_message, .close = topics_close);

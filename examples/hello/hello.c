/*
 * hello: an example wsd plugin, built outside wsd's source tree.
 *
 * It greets each client by the name in its URL (ws://host/hello?name=ann
 * gets "Hello, ann!"), sends every text message back upper-cased and
 * every binary message back unchanged, and when the connection ends it
 * logs how many messages the client sent.
 *
 * Settings (optional):
 *   greeting = "Hello";    the word before the name, at most 64 bytes
 *
 * Build and install (see the Makefile next to this file):
 *   cc $(pkg-config --cflags wsd-plugin) -shared -fPIC -o hello.so hello.c
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <wsd/plugin.h>

/* The instance: one per route that names this plugin. */
struct hello {
	struct wsd_route	*route;
	const char		*greeting;	/* wsd's string, valid until fini */
};

/* Per connection, attached with wsd_set_data() in open. */
struct visitor {
	unsigned long long	 messages;
};

static int
hello_init(const struct wsd_host *host, struct wsd_route *r, void **state)
{
	struct hello *h;
	const char *greeting;

	(void)host;
	if (wsd_setting_string(r, "greeting", "Hello", &greeting) == -1)
		return -1;		/* not a string: wsd said where */
	if (greeting[0] == '\0' || strlen(greeting) > 64) {
		wsd_setting_error(r, "greeting", "must be 1 to 64 bytes long");
		return -1;
	}
	if ((h = calloc(1, sizeof(*h))) == NULL)
		return -1;
	h->route = r;
	h->greeting = greeting;
	*state = h;
	return 0;
}

static void
hello_fini(void *state)
{
	free(state);
}

static void
hello_open(void *state, struct wsd_conn *c)
{
	struct hello *h = state;
	struct visitor *v;
	const char *name = wsd_arg(c, "name");	/* NULL if not given */
	char text[256];
	int n;

	if ((v = calloc(1, sizeof(*v))) == NULL) {
		wsd_close(c, 1011, "out of memory");
		return;			/* close still runs, with no data */
	}
	wsd_set_data(c, v);

	if (name == NULL || name[0] == '\0')
		name = "stranger";
	n = snprintf(text, sizeof(text), "%s, %.64s!", h->greeting, name);
	/*
	 * wsd only sends text that is valid UTF-8.  The name is whatever
	 * bytes the client percent-encoded (and %.64s may cut a character
	 * in two), so if wsd refuses the text, greet without the name.
	 */
	if (n < 0 || wsd_send(c, WSD_TEXT, text, (size_t)n) ==
	    WSD_SEND_DROPPED) {
		n = snprintf(text, sizeof(text), "%s, stranger!", h->greeting);
		if (wsd_send(c, WSD_TEXT, text, (size_t)n) == WSD_SEND_DROPPED)
			wsd_log(h->route, WSD_LOG_DEBUG, "hello: closing");
	}
}

/* Past open a send is dropped only when the client is closing. */
static void
reply(struct wsd_conn *c, int opcode, const void *data, size_t len)
{
	if (wsd_send(c, opcode, data, len) == WSD_SEND_DROPPED)
		wsd_log(wsd_conn_route(c), WSD_LOG_DEBUG, "hello: conn %llu "
		    "is closing", (unsigned long long)wsd_conn_id(c));
}

static void
hello_message(void *state, struct wsd_conn *c, int opcode, const void *data,
    size_t len)
{
	struct visitor *v = wsd_get_data(c);
	char *upper;
	size_t i;

	(void)state;
	if (v != NULL)
		v->messages++;
	if (opcode != WSD_TEXT) {
		reply(c, opcode, data, len);
		return;
	}
	/*
	 * data is wsd's and read-only: upper-case a copy.  Only ASCII
	 * letters change, so the text stays valid UTF-8.
	 */
	if ((upper = malloc(len > 0 ? len : 1)) == NULL) {
		wsd_close(c, 1011, "out of memory");
		return;
	}
	memcpy(upper, data, len);
	for (i = 0; i < len; i++)
		if (upper[i] >= 'a' && upper[i] <= 'z')
			upper[i] = (char)(upper[i] - 'a' + 'A');
	reply(c, WSD_TEXT, upper, len);	/* wsd copies it */
	free(upper);
}

static void
hello_close(void *state, struct wsd_conn *c, int code, const char *reason)
{
	struct hello *h = state;
	struct visitor *v = wsd_get_data(c);

	(void)reason;		/* the client's words: escape before logging */
	wsd_log(h->route, WSD_LOG_INFO, "hello: conn %llu closed with code "
	    "%d after %llu message%s", (unsigned long long)wsd_conn_id(c),
	    code, v != NULL ? v->messages : 0ULL,
	    v != NULL && v->messages == 1 ? "" : "s");
	free(v);
}

WSD_PLUGIN(
	.name = "hello",
	.version = "1.0",
	.init = hello_init,
	.fini = hello_fini,
	.open = hello_open,
	.message = hello_message,
	.close = hello_close,
);

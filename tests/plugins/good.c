/*
 * A minimal well-formed plugin for the loader tests; it echoes.  With
 * `warn = true` it also logs each text message as a warning (for the
 * test of the repeated-warning limit).
 */
#include <stdlib.h>

#include <wsd/plugin.h>

struct good {
	long long	 answer;
	int		 warn;
	struct wsd_route *route;
};

static int
good_init(const struct wsd_host *host, struct wsd_route *r, void **state)
{
	struct good *g;
	long long n;
	int warn;

	(void)host;
	if (wsd_setting_int(r, "answer", 42, &n) == -1 ||
	    wsd_setting_bool(r, "warn", 0, &warn) == -1)
		return -1;
	if ((g = malloc(sizeof(*g))) == NULL)
		return -1;
	g->answer = n;
	g->warn = warn;
	g->route = r;
	*state = g;
	return 0;
}

static void
good_fini(void *state)
{
	free(state);
}

static void
good_message(void *state, struct wsd_conn *c, int opcode, const void *data,
    size_t len)
{
	struct good *g = state;

	if (g->warn && opcode == WSD_TEXT)
		wsd_log(g->route, WSD_LOG_WARNING, "good: %.*s", (int)len,
		    (const char *)data);
	if (wsd_send(c, opcode, data, len) == WSD_SEND_DROPPED)
		wsd_log(wsd_conn_route(c), WSD_LOG_DEBUG, "good: echo dropped");
}

WSD_PLUGIN(
	.name = "good",
	.version = "1",
	.init = good_init,
	.fini = good_fini,
	.message = good_message,
);

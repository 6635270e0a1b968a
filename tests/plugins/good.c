/* A minimal well-formed plugin for the loader tests: counts its calls. */
#include <stdlib.h>

#include <wsd/plugin.h>

static int
good_init(const struct wsd_host *host, struct wsd_route *r, void **state)
{
	long long n;

	(void)host;
	if (wsd_setting_int(r, "answer", 42, &n) == -1)
		return -1;
	if ((*state = malloc(sizeof(long long))) == NULL)
		return -1;
	*(long long *)*state = n;
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
	(void)state;
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

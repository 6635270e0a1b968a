/* A plugin whose init refuses to start: the configuration must fail. */
#include <wsd/plugin.h>

static int
initfail_init(const struct wsd_host *host, struct wsd_route *r, void **state)
{
	(void)host;
	(void)state;
	wsd_log(r, WSD_LOG_ERR, "initfail: refusing on purpose");
	return -1;
}

WSD_PLUGIN(
	.name = "initfail",
	.init = initfail_init,
);

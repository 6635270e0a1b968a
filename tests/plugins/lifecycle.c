/*
 * lifecycle: a test plugin for when a route's fini runs and for timer
 * handles (tests/integration/test_generations.py).
 *
 * init and fini log "lifecycle init tag=<tag>" and "lifecycle fini
 * tag=<tag>" at notice level, so a test sees which instance ran them.
 * message takes text commands:
 *   oneshot:<ms>  a one-shot timer that broadcasts "fired"; answers
 *                 "armed"
 *   cancel        wsd_timer_cancel() on that timer's handle, whether it
 *                 has fired or not; answers "cancelled"
 *   churn:<n>     n chains of 1 ms one-shot timers, each re-armed from
 *                 its own callback, which first cancels the handle that
 *                 fired (the documented way); answers "churning"
 *   stop          the chains stop re-arming; answers "stopped <fires>"
 *
 * Settings: tag = "" (any string).
 *
 * Built a second time with -DLIFECYCLE_V10 as lifecycle10.so: a plugin of
 * ABI 1.0, when a fired one-shot timer freed itself, so its chains re-arm
 * without cancelling the handle that fired.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <wsd/plugin.h>

#ifdef LIFECYCLE_V10
#undef WSD_ABI_MINOR
#define WSD_ABI_MINOR	0
#endif

#define MAX_CHAINS	256

struct life;

struct chain {
	struct life		*life;
	struct wsd_timer	*timer;
};

struct life {
	struct wsd_route	*route;
	const char		*tag;
	struct wsd_timer	*oneshot;
	struct chain		 chains[MAX_CHAINS];
	int			 churning;
	unsigned long long	 fires;
};

static int
life_init(const struct wsd_host *host, struct wsd_route *r, void **state)
{
	struct life *l;
	const char *tag;

	(void)host;
	if (wsd_setting_string(r, "tag", "", &tag) == -1)
		return -1;
	if ((l = calloc(1, sizeof(*l))) == NULL)
		return -1;
	l->route = r;
	l->tag = tag;
	wsd_log(r, WSD_LOG_NOTICE, "lifecycle init tag=%s", tag);
	*state = l;
	return 0;
}

static void
life_fini(void *state)
{
	struct life *l = state;

	/* wsd frees the timers still held after fini returns. */
	wsd_log(l->route, WSD_LOG_NOTICE, "lifecycle fini tag=%s", l->tag);
	free(l);
}

static void
reply(struct wsd_conn *c, const char *s)
{
	if (wsd_send(c, WSD_TEXT, s, strlen(s)) == WSD_SEND_DROPPED)
		wsd_log(wsd_conn_route(c), WSD_LOG_ERR, "lifecycle: reply "
		    "dropped");
}

static void
oneshot_cb(struct wsd_route *r, void *arg)
{
	(void)arg;
	(void)wsd_broadcast(r, WSD_TEXT, "fired", 5);
}

static void
chain_cb(struct wsd_route *r, void *arg)
{
	struct chain *ch = arg;
	struct life *l = ch->life;

#ifndef LIFECYCLE_V10
	/* The fired handle stays ours until cancelled: let it go. */
	wsd_timer_cancel(ch->timer);
#endif
	ch->timer = NULL;
	l->fires++;
	if (!l->churning)
		return;
	if ((ch->timer = wsd_timer_add(r, 1, 0, chain_cb, ch)) == NULL)
		wsd_log(r, WSD_LOG_ERR, "lifecycle: cannot re-arm");
}

static void
life_message(void *state, struct wsd_conn *c, int opcode, const void *data,
    size_t len)
{
	struct life *l = state;
	char cmd[64], buf[64];
	int i, n;

	(void)opcode;
	if (len >= sizeof(cmd))
		len = sizeof(cmd) - 1;
	memcpy(cmd, data, len);
	cmd[len] = '\0';
	if (sscanf(cmd, "oneshot:%d", &n) == 1 && n >= 0) {
		l->oneshot = wsd_timer_add(l->route, (uint64_t)n, 0, oneshot_cb,
		    l);
		reply(c, l->oneshot != NULL ? "armed" : "fail");
	} else if (strcmp(cmd, "cancel") == 0) {
		wsd_timer_cancel(l->oneshot);
		l->oneshot = NULL;
		reply(c, "cancelled");
	} else if (sscanf(cmd, "churn:%d", &n) == 1 && n > 0 &&
	    n <= MAX_CHAINS && !l->churning) {
		l->churning = 1;
		for (i = 0; i < n; i++) {
			struct chain *ch = &l->chains[i];

			if (ch->timer != NULL)
				continue;	/* still winding down */
			ch->life = l;
			ch->timer = wsd_timer_add(l->route, 1, 0, chain_cb, ch);
		}
		reply(c, "churning");
	} else if (strcmp(cmd, "stop") == 0) {
		l->churning = 0;
		snprintf(buf, sizeof(buf), "stopped %llu", l->fires);
		reply(c, buf);
	} else {
		reply(c, "unknown");
	}
}

#ifdef LIFECYCLE_V10
/*
 * The descriptor exactly as a plugin built against ABI 1.0 exported it:
 * that struct ended at `reopen`, so its size tells wsd that every later
 * callback (1.4's ping and pong) is absent.
 */
struct wsd_plugin_10 {
	uint32_t	 abi_major, abi_minor, size;
	const char	*name, *version;
	const struct wsd_host **host_slot;
	int	(*init)(const struct wsd_host *, struct wsd_route *, void **);
	void	(*fini)(void *);
	int	(*handshake)(void *, struct wsd_conn *);
	void	(*open)(void *, struct wsd_conn *);
	void	(*message)(void *, struct wsd_conn *, int, const void *,
		    size_t);
	void	(*close)(void *, struct wsd_conn *, int, const char *);
	void	(*drain)(void *, struct wsd_conn *);
	void	(*reopen)(void *);
};

__attribute__((visibility("hidden"))) const struct wsd_host *wsd_host_;
__attribute__((visibility("default")))
extern const struct wsd_plugin_10 wsd_plugin;
const struct wsd_plugin_10 wsd_plugin = {
	.abi_major = WSD_ABI_MAJOR,
	.abi_minor = 0,
	.size = sizeof(struct wsd_plugin_10),
	.name = "lifecycle",
	.version = "1",
	.host_slot = &wsd_host_,
	.init = life_init,
	.fini = life_fini,
	.message = life_message,
};
#else
WSD_PLUGIN(
	.name = "lifecycle",
	.version = "1",
	.init = life_init,
	.fini = life_fini,
	.message = life_message,
);
#endif

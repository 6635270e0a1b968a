/*
 * bench-topic: topic fan-out for bench/run's tests 8 and 9.
 *
 * Every connection of the route is subscribed to one topic when it
 * opens.  One worker (publisher_worker, default 0) of a node whose
 * settings say publish = true publishes to it on a repeating timer:
 *
 *	"wsdbench t=NS n=SEQ"
 *
 * NS is CLOCK_REALTIME in nanoseconds at the publish, which wsbench's
 * fan-out mode reads to measure publish-to-last-subscriber times (the
 * server and the load run on one machine, so they share the clock);
 * SEQ tells the messages apart.  The other workers, and a second node
 * sharing the Redis backplane with publish = false, only deliver.
 *
 * Settings (all optional):
 *   topic = "bench";
 *   interval_ms = 100;       10 .. 60000
 *   publish = true;
 *   publisher_worker = 0;
 */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include <wsd/plugin.h>

struct bt {
	struct wsd_route	*route;
	struct wsd_timer	*timer;
	const char		*topic;
	unsigned long long	 seq;
	unsigned long long	 failed;
};

static void
bt_tick(struct wsd_route *r, void *arg)
{
	struct bt *b = arg;
	struct timespec ts;
	char buf[64];
	int n;

	clock_gettime(CLOCK_REALTIME, &ts);
	n = snprintf(buf, sizeof(buf), "wsdbench t=%lld%09ld n=%llu",
	    (long long)ts.tv_sec, ts.tv_nsec, ++b->seq);
	if (wsd_publish(r, b->topic, WSD_TEXT, buf, (size_t)n) == -1 &&
	    b->failed++ == 0)
		wsd_log(r, WSD_LOG_ERR, "bench-topic: cannot publish to %s",
		    b->topic);
}

static int
bt_init(const struct wsd_host *host, struct wsd_route *r, void **state)
{
	long long interval, pworker;
	const char *topic;
	struct bt *b;
	int publish;

	(void)host;
	if (wsd_setting_string(r, "topic", "bench", &topic) == -1 ||
	    wsd_setting_int(r, "interval_ms", 100, &interval) == -1 ||
	    wsd_setting_bool(r, "publish", 1, &publish) == -1 ||
	    wsd_setting_int(r, "publisher_worker", 0, &pworker) == -1)
		return -1;
	if (interval < 10 || interval > 60000) {
		wsd_setting_error(r, "interval_ms",
		    "must be between 10 and 60000");
		return -1;
	}
	if ((b = calloc(1, sizeof(*b))) == NULL)
		return -1;
	b->route = r;
	b->topic = topic;
	/* wsd_worker() is -1 under wsd -t and in the master: no timer. */
	if (publish && wsd_worker() == pworker) {
		b->timer = wsd_timer_add(r, (uint64_t)interval,
		    (uint64_t)interval, bt_tick, b);
		if (b->timer == NULL) {
			free(b);
			return -1;
		}
	}
	*state = b;
	return 0;
}

static void
bt_fini(void *state)
{
	struct bt *b = state;

	if (b->timer != NULL)
		wsd_log(b->route, WSD_LOG_INFO, "bench-topic: %llu published, "
		    "%llu failed", b->seq, b->failed);
	free(b);
}

static void
bt_open(void *state, struct wsd_conn *c)
{
	struct bt *b = state;

	/* A subscriber that is not one would spoil the count: say so. */
	if (wsd_subscribe(c, b->topic) == -1)
		wsd_close(c, 1011, "cannot subscribe");
}

WSD_PLUGIN(
	.name = "bench-topic",
	.version = "1.0",
	.init = bt_init,
	.fini = bt_fini,
	.open = bt_open,
);

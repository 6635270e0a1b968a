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
 *   size = 0;                pad the message with JSON-like records to
 *                            this many bytes (at most 65536; bench/run's
 *                            test 13: 1024)
 *   broadcast = false;       wsd_broadcast() to the route instead of a
 *                            publish (the route's clients, this worker)
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <wsd/plugin.h>

struct bt {
	struct wsd_route	*route;
	struct wsd_timer	*timer;
	const char		*topic;
	unsigned long long	 seq;
	unsigned long long	 failed;
	size_t			 size;
	int			 broadcast;
	char			 buf[65536];
};

static void
bt_tick(struct wsd_route *r, void *arg)
{
	struct bt *b = arg;
	struct timespec ts;
	char *buf = b->buf;
	size_t n;
	int rc;

	clock_gettime(CLOCK_REALTIME, &ts);
	n = (size_t)snprintf(buf, 64, "wsdbench t=%lld%09ld n=%llu",
	    (long long)ts.tv_sec, ts.tv_nsec, ++b->seq);
	/* Chat-like records up to size: realistic, compressible text. */
	while (n < b->size) {
		char rec[128];
		int k = snprintf(rec, sizeof(rec), " {\"id\":%zu,\"user\":"
		    "\"user%zu\",\"room\":\"general\",\"text\":\"hello "
		    "number %llu\"}", n * 7, n % 13, b->seq);
		size_t m = (size_t)k < b->size - n ? (size_t)k : b->size - n;

		memcpy(buf + n, rec, m);
		n += m;
	}
	if (b->broadcast)
		rc = (wsd_broadcast(r, WSD_TEXT, buf, n), 0);
	else
		rc = wsd_publish(r, b->topic, WSD_TEXT, buf, n);
	if (rc == -1 &&
	    b->failed++ == 0)
		wsd_log(r, WSD_LOG_ERR, "bench-topic: cannot publish to %s",
		    b->topic);
}

static int
bt_init(const struct wsd_host *host, struct wsd_route *r, void **state)
{
	long long interval, pworker, size;
	const char *topic;
	struct bt *b;
	int publish, broadcast;

	(void)host;
	if (wsd_setting_string(r, "topic", "bench", &topic) == -1 ||
	    wsd_setting_int(r, "interval_ms", 100, &interval) == -1 ||
	    wsd_setting_bool(r, "publish", 1, &publish) == -1 ||
	    wsd_setting_int(r, "publisher_worker", 0, &pworker) == -1 ||
	    wsd_setting_int(r, "size", 0, &size) == -1 ||
	    wsd_setting_bool(r, "broadcast", 0, &broadcast) == -1)
		return -1;
	if (size < 0 || size > 65536) {
		wsd_setting_error(r, "size", "must be between 0 and 65536");
		return -1;
	}
	if (interval < 10 || interval > 60000) {
		wsd_setting_error(r, "interval_ms",
		    "must be between 10 and 60000");
		return -1;
	}
	if ((b = calloc(1, sizeof(*b))) == NULL)
		return -1;
	b->route = r;
	b->topic = topic;
	b->size = (size_t)size;
	b->broadcast = broadcast;
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
	if (!b->broadcast && wsd_subscribe(c, b->topic) == -1)
		wsd_close(c, 1011, "cannot subscribe");
}

WSD_PLUGIN(
	.name = "bench-topic",
	.version = "1.0",
	.init = bt_init,
	.fini = bt_fini,
	.open = bt_open,
);

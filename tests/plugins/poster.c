/*
 * poster: a test plugin for wsd_post(), the one host function a plugin
 * may call from its own threads (tests/integration/test_threads.py).
 *
 * init starts a thread that, every period_ms until fini stops it, posts
 * a heap-allocated sequence number to the loop; the posted function
 * (on the loop thread) broadcasts "tick <seq>" and frees it.  The thread
 * calls no host function but wsd_post().  open sends "poster".
 *
 * Settings: period_ms = 5;   1 .. 60000
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <wsd/plugin.h>

struct poster {
	struct wsd_route	*route;		/* read-only once the thread runs */
	long long		 period_ms;
	pthread_t		 thread;
	atomic_bool		 stop;
};

struct tick {
	unsigned long long	 seq;
};

/* On the loop thread. */
static void
on_tick(struct wsd_route *r, void *arg)
{
	struct tick *t = arg;
	char buf[48];
	int n;

	n = snprintf(buf, sizeof(buf), "tick %llu", t->seq);
	wsd_broadcast(r, WSD_TEXT, buf, (size_t)n);
	free(t);
}

/* The plugin's own thread: wsd_post() only. */
static void *
run(void *arg)
{
	struct poster *p = arg;
	unsigned long long seq = 0;
	struct timespec ts;
	struct tick *t;

	ts.tv_sec = (time_t)(p->period_ms / 1000);
	ts.tv_nsec = (long)(p->period_ms % 1000) * 1000000L;
	while (!atomic_load(&p->stop)) {
		while (nanosleep(&ts, &ts) == -1 && errno == EINTR)
			;
		ts.tv_sec = (time_t)(p->period_ms / 1000);
		ts.tv_nsec = (long)(p->period_ms % 1000) * 1000000L;
		if (atomic_load(&p->stop))
			break;
		if ((t = malloc(sizeof(*t))) == NULL)
			continue;
		t->seq = seq;
		if (wsd_post(p->route, on_tick, t) == -1) {
			free(t);
			continue;
		}
		seq++;
	}
	return NULL;
}

static int
poster_init(const struct wsd_host *host, struct wsd_route *r, void **state)
{
	struct poster *p;
	long long period;
	int err;

	(void)host;
	if (wsd_setting_int(r, "period_ms", 5, &period) == -1)
		return -1;
	if (period < 1 || period > 60000) {
		wsd_setting_error(r, "period_ms", "must be between 1 and 60000");
		return -1;
	}
	if ((p = calloc(1, sizeof(*p))) == NULL)
		return -1;
	p->route = r;
	p->period_ms = period;
	atomic_init(&p->stop, false);
	if ((err = pthread_create(&p->thread, NULL, run, p)) != 0) {
		wsd_log(r, WSD_LOG_ERR, "poster: pthread_create: %s",
		    strerror(err));
		free(p);
		return -1;
	}
	*state = p;
	return 0;
}

static void
poster_fini(void *state)
{
	struct poster *p = state;

	atomic_store(&p->stop, true);
	pthread_join(p->thread, NULL);
	free(p);
}

static void
poster_open(void *state, struct wsd_conn *c)
{
	(void)state;
	if (wsd_send(c, WSD_TEXT, "poster", 6) == WSD_SEND_DROPPED)
		wsd_log(wsd_conn_route(c), WSD_LOG_DEBUG, "poster: greeting dropped");
}

WSD_PLUGIN(
	.name = "poster",
	.version = "1",
	.init = poster_init,
	.fini = poster_fini,
	.open = poster_open,
);

/*
 * hotdeploy: a test plugin for hot deploy and per-route retirement
 * (tests/integration/test_hotdeploy.py).  One source, several builds:
 *   hotdeploy_a.so          HOTDEPLOY_VERSION "A"
 *   hotdeploy_b.so          HOTDEPLOY_VERSION "B"
 *   hotdeploy_initfail.so   init fails (a broken new version)
 *   hotdeploy_undef.so      needs a symbol nobody defines: dlopen fails
 *   hotdeploy_nodelete.so   linked -z nodelete: cannot be unloaded
 *
 * init and fini log "hotdeploy init version=V tag=T" and "hotdeploy fini
 * version=V tag=T count=N" at notice level.  With thread = true, init
 * starts a thread that waits until fini stops and joins it, so a test
 * can count the threads of retired instances.
 *
 * message takes text commands:
 *   version   answers the build's version
 *   count     adds one to the instance's counter; answers "count N"
 *   bcast:X   broadcasts "X" to every client of the route
 *   find:ID   answers "found" if wsd_conn_find() knows ID on this route
 *   id        answers this connection's id
 *   ticks     answers "ticks N": how often the tick_ms timer fired
 *   post      has the thread (thread = true) wsd_post() a broadcast of
 *             "posted"
 *   sub:T     subscribes this connection to topic T; answers "subscribed"
 *   pub:T:X   publishes X to topic T
 *
 * Settings: tag = "" (any string), thread = false, tick_ms = 0 (a
 * repeating timer when > 0), fail_in_worker = false (init fails in a
 * worker, not in the configuration check: a reload the master's check
 * passes and a worker refuses).
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <wsd/plugin.h>

#ifndef HOTDEPLOY_VERSION
#define HOTDEPLOY_VERSION	"?"
#endif

#ifdef HOTDEPLOY_UNDEF
/* Defined nowhere: an RTLD_NOW load of this build fails. */
extern int hotdeploy_missing_symbol(void);
#endif

struct hot {
	struct wsd_route	*route;
	const char		*tag;
	unsigned long long	 count;
	unsigned long long	 ticks;
	int			 threaded;
	int			 post_asked;
	pthread_t		 thread;
	pthread_mutex_t		 lock;
	pthread_cond_t		 cond;
	int			 stop;
};

static void
posted(struct wsd_route *r, void *arg)
{
	(void)arg;
	(void)wsd_broadcast(r, WSD_TEXT, "posted", 6);
}

/* Waits for fini; posts to the loop when asked to. */
static void *
waiter(void *arg)
{
	struct hot *h = arg;

	pthread_mutex_lock(&h->lock);
	while (!h->stop) {
		if (h->post_asked) {
			h->post_asked = 0;
			if (wsd_post(h->route, posted, NULL) == -1)
				wsd_log(h->route, WSD_LOG_ERR, "hotdeploy: "
				    "post refused");
			continue;
		}
		pthread_cond_wait(&h->cond, &h->lock);
	}
	pthread_mutex_unlock(&h->lock);
	return NULL;
}

static void
tick(struct wsd_route *r, void *arg)
{
	struct hot *h = arg;

	(void)r;
	h->ticks++;
}

static int
hot_init(const struct wsd_host *host, struct wsd_route *r, void **state)
{
	struct hot *h;
	const char *tag;
	long long tick_ms;
	int threaded, fail_in_worker;

	(void)host;
	if (wsd_setting_string(r, "tag", "", &tag) == -1 ||
	    wsd_setting_bool(r, "thread", 0, &threaded) == -1 ||
	    wsd_setting_bool(r, "fail_in_worker", 0, &fail_in_worker) == -1 ||
	    wsd_setting_int(r, "tick_ms", 0, &tick_ms) == -1)
		return -1;
	if (fail_in_worker && wsd_worker() >= 0) {
		wsd_log(r, WSD_LOG_ERR, "hotdeploy: failing in worker %d",
		    wsd_worker());
		return -1;
	}
#ifdef HOTDEPLOY_INITFAIL
	wsd_log(r, WSD_LOG_ERR, "hotdeploy: this build refuses to start");
	return -1;
#endif
#ifdef HOTDEPLOY_UNDEF
	if (hotdeploy_missing_symbol() != 0)
		return -1;
#endif
	if ((h = calloc(1, sizeof(*h))) == NULL)
		return -1;
	h->route = r;
	h->tag = tag;
	pthread_mutex_init(&h->lock, NULL);
	pthread_cond_init(&h->cond, NULL);
	if (threaded) {
		if (pthread_create(&h->thread, NULL, waiter, h) != 0) {
			free(h);
			return -1;
		}
		h->threaded = 1;
	}
	/* wsd cancels it after fini. */
	if (tick_ms > 0 && wsd_timer_add(r, (uint64_t)tick_ms,
	    (uint64_t)tick_ms, tick, h) == NULL)
		wsd_log(r, WSD_LOG_ERR, "hotdeploy: no timer");
	wsd_log(r, WSD_LOG_NOTICE, "hotdeploy init version=%s tag=%s",
	    HOTDEPLOY_VERSION, tag);
	*state = h;
	return 0;
}

static void
hot_fini(void *state)
{
	struct hot *h = state;

	if (h->threaded) {
		pthread_mutex_lock(&h->lock);
		h->stop = 1;
		pthread_cond_signal(&h->cond);
		pthread_mutex_unlock(&h->lock);
		pthread_join(h->thread, NULL);
	}
	wsd_log(h->route, WSD_LOG_NOTICE, "hotdeploy fini version=%s tag=%s "
	    "count=%llu", HOTDEPLOY_VERSION, h->tag, h->count);
	pthread_cond_destroy(&h->cond);
	pthread_mutex_destroy(&h->lock);
	free(h);
}

static void
reply(struct wsd_conn *c, const char *s)
{
	if (wsd_send(c, WSD_TEXT, s, strlen(s)) == WSD_SEND_DROPPED)
		wsd_log(wsd_conn_route(c), WSD_LOG_ERR, "hotdeploy: reply "
		    "dropped");
}

static void
hot_message(void *state, struct wsd_conn *c, int opcode, const void *data,
    size_t len)
{
	struct hot *h = state;
	char cmd[128], buf[160], *sep;
	unsigned long long id;

	(void)opcode;
	if (len >= sizeof(cmd))
		len = sizeof(cmd) - 1;
	memcpy(cmd, data, len);
	cmd[len] = '\0';
	if (strcmp(cmd, "version") == 0) {
		reply(c, HOTDEPLOY_VERSION);
	} else if (strcmp(cmd, "count") == 0) {
		snprintf(buf, sizeof(buf), "count %llu", ++h->count);
		reply(c, buf);
	} else if (strncmp(cmd, "bcast:", 6) == 0) {
		if (wsd_broadcast(h->route, WSD_TEXT, cmd + 6,
		    strlen(cmd + 6)) == 0)
			reply(c, "nobody");
	} else if (sscanf(cmd, "find:%llu", &id) == 1) {
		reply(c, wsd_conn_find(h->route, id) != NULL ? "found" :
		    "missing");
	} else if (strcmp(cmd, "ticks") == 0) {
		snprintf(buf, sizeof(buf), "ticks %llu", h->ticks);
		reply(c, buf);
	} else if (strcmp(cmd, "post") == 0 && h->threaded) {
		pthread_mutex_lock(&h->lock);
		h->post_asked = 1;
		pthread_cond_signal(&h->cond);
		pthread_mutex_unlock(&h->lock);
	} else if (strncmp(cmd, "sub:", 4) == 0) {
		reply(c, wsd_subscribe(c, cmd + 4) == 0 ? "subscribed" :
		    "fail");
	} else if (strncmp(cmd, "pub:", 4) == 0 &&
	    (sep = strchr(cmd + 4, ':')) != NULL) {
		*sep++ = '\0';
		if (wsd_publish(h->route, cmd + 4, WSD_TEXT, sep,
		    strlen(sep)) == -1)
			reply(c, "fail");
	} else if (strcmp(cmd, "id") == 0) {
		snprintf(buf, sizeof(buf), "%llu",
		    (unsigned long long)wsd_conn_id(c));
		reply(c, buf);
	} else {
		reply(c, "unknown");
	}
}

WSD_PLUGIN(
	.name = "hotdeploy",
	.version = HOTDEPLOY_VERSION,
	.init = hot_init,
	.fini = hot_fini,
	.message = hot_message,
);

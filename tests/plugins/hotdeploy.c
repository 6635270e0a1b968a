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
 *
 * Settings: tag = "" (any string), thread = false, fail_in_worker =
 * false (init fails in a worker, not in the configuration check: a
 * reload the master's check passes and a worker refuses).
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
	int			 threaded;
	pthread_t		 thread;
	pthread_mutex_t		 lock;
	pthread_cond_t		 cond;
	int			 stop;
};

static void *
waiter(void *arg)
{
	struct hot *h = arg;

	pthread_mutex_lock(&h->lock);
	while (!h->stop)
		pthread_cond_wait(&h->cond, &h->lock);
	pthread_mutex_unlock(&h->lock);
	return NULL;
}

static int
hot_init(const struct wsd_host *host, struct wsd_route *r, void **state)
{
	struct hot *h;
	const char *tag;
	int threaded, fail_in_worker;

	(void)host;
	if (wsd_setting_string(r, "tag", "", &tag) == -1 ||
	    wsd_setting_bool(r, "thread", 0, &threaded) == -1 ||
	    wsd_setting_bool(r, "fail_in_worker", 0, &fail_in_worker) == -1)
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
	char cmd[128], buf[160];
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

/*
 * generation: one loaded configuration, its routes with their plugin
 * instances, the routes' timers and posted work, and its lifetime.
 * Connections hold a reference, so a reload can make a new generation
 * current while old connections finish on the old routes; the last
 * reference retires the routes (fini).
 *
 * It knows nothing of the server or of connections: the event loop and
 * the host table come in through struct generations, the configuration
 * (and its file name) through generation_new().
 */
#ifndef WSD_GENERATION_H
#define WSD_GENERATION_H

#include <stdbool.h>
#include <stdint.h>
#include <pthread.h>
#include <sys/queue.h>

#include <wsd/plugin.h>

#include "config.h"
#include "route.h"

struct event_base;
struct event;
struct post;

struct tls_server;

struct generation {
	unsigned		 refs;
	struct generations	*gens;		/* owner of the list */
	struct wsd_config	*cfg;
	struct route_table	 routes;	/* empty once retired */
	bool			 retired;	/* no longer current */
	/* Per cfg->listen entry: its TLS contexts, NULL when plain. */
	struct tls_server	**tls;
	LIST_ENTRY(generation)	 link;		/* gens->live */
};
LIST_HEAD(generation_list, generation);
LIST_HEAD(route_list, route);

/*
 * What every generation of a process shares: the loop its timers run
 * on, the host table its plugins get, the wsd_post() queue and the list
 * of generations still alive (current or still serving connections).
 */
struct generations {
	struct event_base	*base;
	const struct wsd_host	*host;
	struct generation_list	 live;
	struct route_list	 instances;	/* every route not yet retired */

	/* wsd_post(): a queue any thread may append to, and its wake-up. */
	pthread_mutex_t		 post_lock;
	struct post		*post_head, **post_tail;
	int			 post_fd;	/* eventfd */
	struct event		*ev_post;
	bool			 ready;		/* generations_init() ran */
};

/*
 * Set up the shared part on base: needed before generation_new() (a
 * plugin may add timers or post in init, also under wsd -t).  Returns 0,
 * or -1 with errno set.  generations_fini() undoes it once the last
 * generation is gone; it is safe on a zeroed, never inited struct.
 */
int		 generations_init(struct generations *gs,
		    struct event_base *base, const struct wsd_host *host);
void		 generations_fini(struct generations *gs);

/*
 * Build a generation for cfg (which it takes over): load every route's
 * plugin and run its init, with the settings checks.  Returns it with
 * one reference, or NULL with the reasons in errs (the instances it
 * made are retired again).
 */
struct generation *generation_new(struct generations *gs,
		    struct wsd_config *cfg, struct wsd_errors *errs);
/*
 * The same, for a reload while prev is current: an instance of prev
 * whose route configuration (config_route_same()) and plugin file
 * (plugin_identify()) are unchanged is carried into the new table.
 */
struct generation *generation_next(struct generations *gs,
		    struct generation *prev, struct wsd_config *cfg,
		    struct wsd_errors *errs);
/*
 * g is no longer current: its table lets go of its instances (see the
 * top).  The caller still holds its reference; idempotent.
 */
void		 generation_retire(struct generation *g);
void		 generation_ref(struct generation *g);
/* Drop a reference; the last one frees g (retiring it first). */
void		 generation_unref(struct generation *g);

/*
 * A reference on a route instance (on the loop thread); the last one
 * retires it.
 */
void		 generation_route_ref(struct route *r);
void		 generation_route_unref(struct route *r);

/* SIGUSR1: every live route instance reopens its logs. */
void		 generations_reopen(struct generations *gs);

/*
 * Route timers and the thread-safe post; see <wsd/plugin.h> for what
 * they promise the plugin.
 */
struct wsd_timer *generation_timer_add(struct route *r, uint64_t after_ms,
		    uint64_t repeat_ms, wsd_timer_fn fn, void *arg);
void		 generation_timer_cancel(struct wsd_timer *t);
int		 generation_post(struct route *r, wsd_post_fn fn, void *arg);
struct wsd_watch *generation_watch_add(struct route *r, int fd, int events,
		    wsd_watch_fn fn, void *arg);
int		 generation_watch_set(struct wsd_watch *w, int events);
void		 generation_watch_cancel(struct wsd_watch *w);

#endif /* WSD_GENERATION_H */

/*
 * route: route instances and the table of one configuration generation.
 * A route is one plugin instance: its path, its plugin, the instance
 * state, its limits and origins, and the clients connected to it.  An
 * instance is allocated on its own and referenced, not owned, by the
 * tables of the generations it serves (a reload that changes nothing of
 * a route carries the same instance into the new table), and by its
 * connections; generation.c counts those references and retires it.
 * This module makes an instance, builds a table, finds a route by path
 * and implements the typed settings accessors; it does no I/O (plugin.c
 * loads the code).
 */
#ifndef WSD_ROUTE_H
#define WSD_ROUTE_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/queue.h>

#include <wsd/plugin.h>

#include "config.h"
#include "pattern.h"

struct plugin;
struct conn;
struct route_metrics;
struct generation;
struct generations;

TAILQ_HEAD(conn_list, conn);

/*
 * A route's timer (generation.c runs them).  A one-shot timer that has
 * fired stays here, inert (fired, no event), until the plugin cancels
 * its handle or the route is retired.
 */
struct wsd_timer {
	struct event		*ev;
	struct route		*route;
	wsd_timer_fn		 fn;
	void			*arg;
	uint64_t		 repeat_ms;
	bool			 running;	/* its callback is on the stack */
	bool			 cancelled;
	bool			 fired;		/* one-shot, done */
	TAILQ_ENTRY(wsd_timer)	 link;
};
TAILQ_HEAD(timer_list, wsd_timer);

/*
 * A route's descriptor watches (struct wsd_watch is generation.c's).  A
 * LIST, so that the zeroed head route_table_init() leaves is empty.
 */
LIST_HEAD(watch_list, wsd_watch);

struct route {
	const char		*path;		/* config's string */
	size_t			 path_len;
	struct pattern		 pat;		/* path, compiled */
	/*
	 * In the configuration the instance was made from (its home
	 * generation's, kept alive by a reference): a carried instance
	 * keeps it, so pointers init took into its settings stay good.
	 */
	const struct wsd_route_conf *conf;
	struct plugin		*plugin;
	void			*state;		/* the plugin's */
	bool			 inited;	/* init succeeded: fini owed */
	bool			 retiring;	/* fini begun; under post_lock */
	/*
	 * References: each generation table that holds the instance, each
	 * connection whose route it is, and a timer, watch or post while
	 * its callback runs.  The last one retires it (generation.c).
	 */
	unsigned		 refs;
	struct generations	*gens;		/* the process's (loop, posts) */
	struct generation	*home;		/* made from its cfg; referenced */
	LIST_ENTRY(route)	 inst_link;	/* gens->instances */
	const char		*file;		/* the configuration's */
	struct conn_list	 conns;		/* open WebSocket clients */
	size_t			 nconns;
	struct timer_list	 timers;
	struct watch_list	 watches;
	/* Its figures, kept by path for the process (metrics.h); never NULL. */
	struct route_metrics	*metrics;

	/* Arrays handed out by route_setting_strings(), freed with us. */
	void			**allocs;
	size_t			 nallocs;

	/* While init runs: where setting errors go, which keys it read. */
	struct wsd_errors	*errs;
	char			**seen;
	size_t			 nseen;
};

struct route_table {
	struct route		**routes;	/* in the configuration's order */
	size_t			 n;
	const struct pattern	**pats;		/* &routes[i]->pat */
	struct pattern_index	 ix;
};

/*
 * A new instance for rc (no plugin attached, no references), its path
 * compiled; file is the configuration's name, for messages.  NULL on
 * ENOMEM, or on EINVAL for a path that is not a valid pattern
 * (config_load() refuses those).  route_free() frees what route.c
 * allocated (pattern, settings arrays), not the plugin or its state.
 */
struct route *route_new(const struct wsd_route_conf *rc, const char *file);
void	route_free(struct route *r);

/*
 * Build the table over routes[0..n) (in the configuration's order; the
 * table copies the array and references nothing: the caller counts).
 * Returns 0, or -1 on ENOMEM.  route_table_free() frees the table, not
 * the routes.
 */
int	route_table_init(struct route_table *t, struct route *const *routes,
	    size_t n);
void	route_table_free(struct route_table *t);

/*
 * The route for the raw request path path[0..len) (see pattern.h for
 * patterns and their precedence), or NULL.
 */
struct route *route_find(const struct route_table *t, const char *path,
	    size_t len);
/* The same, as an index into t->routes (and the configuration's routes). */
long	route_find_index(const struct route_table *t, const char *path,
	    size_t len);

/*
 * Typed settings of the route's `settings` group.  See struct wsd_host in
 * <wsd/plugin.h>.  Wrong types are recorded in r->errs with file and line.
 */
int	route_setting_string(struct route *r, const char *key,
	    const char *def, const char **out);
int	route_setting_int(struct route *r, const char *key, long long def,
	    long long *out);
int	route_setting_bool(struct route *r, const char *key, int def,
	    int *out);
int	route_setting_float(struct route *r, const char *key, double def,
	    double *out);
int	route_setting_strings(struct route *r, const char *key,
	    const char *const **out, size_t *n);
void	route_setting_error(struct route *r, const char *key,
	    const char *msg);

/*
 * After init: report every key of the settings group that the plugin
 * never asked for.  Returns how many there were.
 */
size_t	route_settings_check_unknown(struct route *r);

/* Forget what init read (frees r->seen). */
void	route_settings_done(struct route *r);

#endif /* WSD_ROUTE_H */

/*
 * generation: see generation.h.
 *
 * Timers and posts run on the loop between two callbacks, like
 * everything else, so a route's plugin never sees one of them while
 * another of its callbacks is on the stack (except a timer cancelled
 * from inside itself, which is freed when it returns).  Descriptor
 * watches, at the end, work the same way.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include "generation.h"
#include "log.h"
#include "metrics.h"
#include "plugin.h"
#include "tls.h"
#include "workers.h"

struct post {
	struct route	*route;
	wsd_post_fn	 fn;
	void		*arg;
	struct post	*next;
};

/* ---------------------------------------------------------------- timers */

static uint64_t
mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static int
timer_arm(struct wsd_timer *t, uint64_t ms)
{
	struct timeval tv;

	tv.tv_sec = (time_t)(ms / 1000);
	tv.tv_usec = (suseconds_t)((ms % 1000) * 1000);
	/*
	 * From now, not from the time libevent read before the callback we
	 * may be in: a plugin that arms a timer after a long computation
	 * would see it fire early by that long.
	 */
	event_base_update_cache_time(event_get_base(t->ev));
	return evtimer_add(t->ev, &tv);
}

static void
timer_free(struct wsd_timer *t)
{
	TAILQ_REMOVE(&t->route->timers, t, link);
	if (t->ev != NULL)
		event_free(t->ev);
	free(t);
}

static void
timer_cb(evutil_socket_t fd, short what, void *arg)
{
	struct wsd_timer *t = arg;
	struct route *r = t->route;
	struct event_base *base = event_get_base(t->ev);
	uint64_t start = mono_ms(), t0;

	(void)fd;
	(void)what;
	/* The route cannot retire under its own callback. */
	generation_route_ref(r);
	t->running = true;
	t0 = metrics_cb_start();
	t->fn((struct wsd_route *)r, t->arg);
	metrics_cb_end(r->metrics, MCB_TIMER, t0);
	t->running = false;
	/*
	 * libevent reckons the next wait from the time it read before this
	 * callback: after a long one (a broadcast to many clients) every
	 * timer would fire that much late.
	 */
	event_base_update_cache_time(base);
	if (t->cancelled) {
		timer_free(t);
		goto out;
	}
	/*
	 * ABI 1.0 said a fired one-shot timer frees itself, and plugins
	 * built then re-arm without cancelling: keep that for them, or
	 * every fire would stay allocated until fini.
	 */
	if (t->repeat_ms == 0 && r->plugin->ops.abi_minor < 1) {
		timer_free(t);
		goto out;
	}
	if (t->repeat_ms == 0) {
		/*
		 * The plugin may still hold the handle and cancel it later:
		 * keep it, inert, until then or until fini.  Only the event
		 * goes now.
		 */
		event_free(t->ev);
		t->ev = NULL;
		t->fired = true;
		goto out;
	}
	/* The next run is repeat_ms after this one began: no creeping. */
	{
		uint64_t spent = mono_ms() - start;

		if (timer_arm(t, spent < t->repeat_ms ? t->repeat_ms - spent :
		    0) == -1)
			log_err("route %s: cannot re-arm a repeating timer; "
			    "it stops", r->path);
	}
out:
	generation_route_unref(r);
}

struct wsd_timer *
generation_timer_add(struct route *r, uint64_t after_ms, uint64_t repeat_ms,
    wsd_timer_fn fn, void *arg)
{
	struct generations *gs = r->gens;
	struct wsd_timer *t;

	if (fn == NULL || gs->base == NULL ||
	    (t = calloc(1, sizeof(*t))) == NULL)
		return NULL;
	if ((t->ev = evtimer_new(gs->base, timer_cb, t)) == NULL) {
		free(t);
		return NULL;
	}
	t->route = r;
	t->fn = fn;
	t->arg = arg;
	t->repeat_ms = repeat_ms;
	TAILQ_INSERT_TAIL(&r->timers, t, link);
	if (timer_arm(t, after_ms) == -1) {
		timer_free(t);
		return NULL;
	}
	return t;
}

void
generation_timer_cancel(struct wsd_timer *t)
{
	if (t == NULL)
		return;
	if (t->running)
		t->cancelled = true;	/* freed when its callback returns */
	else
		timer_free(t);
}

/* ---------------------------------------------------------------- post */

int
generation_post(struct route *r, wsd_post_fn fn, void *arg)
{
	struct generations *gs = r->gens;
	struct post *p;
	uint64_t one = 1;
	ssize_t n;

	if (fn == NULL || (p = malloc(sizeof(*p))) == NULL)
		return -1;
	p->route = r;
	p->fn = fn;
	p->arg = arg;
	p->next = NULL;
	pthread_mutex_lock(&gs->post_lock);
	if (r->retiring) {
		/* fini has begun: nothing would run it; arg stays the caller's. */
		pthread_mutex_unlock(&gs->post_lock);
		free(p);
		return -1;
	}
	*gs->post_tail = p;
	gs->post_tail = &p->next;
	pthread_mutex_unlock(&gs->post_lock);
	/* The counter only saturates after 2^64 - 2 wake-ups. */
	n = write(gs->post_fd, &one, sizeof(one));
	(void)n;
	return 0;
}

/*
 * Take the queue (all of it, or one route's part when r is not NULL).
 * All of it: each post holds a reference on its route until it has run,
 * so that running one cannot retire another's route under the list.
 */
static struct post *
take_posts(struct generations *gs, struct route *r)
{
	struct post *list = NULL, **tail = &list, **pp, *p;

	pthread_mutex_lock(&gs->post_lock);
	for (pp = &gs->post_head; (p = *pp) != NULL; ) {
		if (r == NULL || p->route == r) {
			*pp = p->next;
			p->next = NULL;
			*tail = p;
			tail = &p->next;
		} else {
			pp = &p->next;
		}
	}
	gs->post_tail = pp;
	pthread_mutex_unlock(&gs->post_lock);
	if (r == NULL)
		for (p = list; p != NULL; p = p->next)
			generation_route_ref(p->route);
	return list;
}

/* held: take_posts(gs, NULL)'s, each holding a reference. */
static void
run_posts(struct post *p, bool held)
{
	struct post *next;
	struct route *r;
	uint64_t t0;

	for (; p != NULL; p = next) {
		next = p->next;
		r = p->route;
		t0 = metrics_cb_start();
		p->fn((struct wsd_route *)r, p->arg);
		metrics_cb_end(r->metrics, MCB_POST, t0);
		free(p);
		if (held)
			generation_route_unref(r);
	}
}

static void
post_cb(evutil_socket_t fd, short what, void *arg)
{
	struct generations *gs = arg;
	uint64_t n;

	(void)what;
	if (read(fd, &n, sizeof(n)) == -1 && errno != EAGAIN)
		log_warn("post: read: %s", strerror(errno));
	run_posts(take_posts(gs, NULL), true);
	event_base_update_cache_time(gs->base);	/* see timer_cb */
}

int
generations_init(struct generations *gs, struct event_base *base,
    const struct wsd_host *host)
{
	gs->base = base;
	gs->host = host;
	LIST_INIT(&gs->live);
	LIST_INIT(&gs->instances);
	gs->post_head = NULL;
	gs->post_tail = &gs->post_head;
	gs->post_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (gs->post_fd == -1)
		return -1;
	gs->ev_post = event_new(base, gs->post_fd, EV_READ | EV_PERSIST,
	    post_cb, gs);
	if (gs->ev_post == NULL || event_add(gs->ev_post, NULL) == -1) {
		if (gs->ev_post != NULL)
			event_free(gs->ev_post);
		gs->ev_post = NULL;
		close(gs->post_fd);
		gs->post_fd = -1;
		errno = ENOMEM;
		return -1;
	}
	pthread_mutex_init(&gs->post_lock, NULL);
	gs->ready = true;
	return 0;
}

void
generations_fini(struct generations *gs)
{
	if (!gs->ready)
		return;
	/* Every route is retired: no post can be queued any more. */
	event_free(gs->ev_post);
	gs->ev_post = NULL;
	close(gs->post_fd);
	gs->post_fd = -1;
	pthread_mutex_destroy(&gs->post_lock);
	gs->ready = false;
}

static size_t	route_watches_free(struct route *);

/* ---------------------------------------------------------------- instances */

static void
route_fini(struct route *r)
{
	struct generations *gs = r->gens;
	size_t left = 0;

	/*
	 * From here on wsd_post() refuses the route, so its threads keep
	 * their arguments; work queued before runs before fini.
	 */
	pthread_mutex_lock(&gs->post_lock);
	r->retiring = true;
	pthread_mutex_unlock(&gs->post_lock);
	run_posts(take_posts(gs, r), false);
	if (r->inited && r->plugin->ops.fini != NULL)
		r->plugin->ops.fini(r->state);
	r->inited = false;
	/* Fired one-shot timers the plugin never cancelled count too. */
	while (!TAILQ_EMPTY(&r->timers)) {
		timer_free(TAILQ_FIRST(&r->timers));
		left++;
	}
	log_debug("route %s: %zu timer(s) left at fini", r->path, left);
	left = route_watches_free(r);
	log_debug("route %s: %zu watch(es) left at fini", r->path, left);
	plugin_unref(r->plugin);
	r->plugin = NULL;
}

/* The last reference is gone: fini, and free the instance. */
static void
route_retire(struct route *r)
{
	struct generation *home = r->home;

	route_fini(r);
	LIST_REMOVE(r, inst_link);
	route_free(r);
	generation_unref(home);
}

void
generation_route_ref(struct route *r)
{
	r->refs++;
}

void
generation_route_unref(struct route *r)
{
	/* A reference taken and dropped again during fini does nothing. */
	if (r == NULL || --r->refs > 0 || r->retiring)
		return;
	route_retire(r);
}

/*
 * prev's instance that cfg's route rc can keep: same configuration (what
 * the route's behaviour depends on), same plugin file version, alive,
 * and not taken already by an earlier route of the new table.
 */
static struct route *
carry_find(struct generation *prev, struct route *const *taken, size_t n,
    const struct wsd_route_conf *rc, const struct plugin_id *id)
{
	size_t i, j;

	if (prev == NULL)
		return NULL;
	for (i = 0; i < prev->routes.n; i++) {
		struct route *r = prev->routes.routes[i];

		if (!r->inited || r->retiring || r->plugin == NULL ||
		    !plugin_is(r->plugin, id) || !config_route_same(r->conf, rc))
			continue;
		for (j = 0; j < n; j++)
			if (taken[j] == r)
				break;
		if (j == n)
			return r;
	}
	return NULL;
}

/* prev's instance for the same path, if its plugin file differs from id. */
static struct route *
replaced_copy(struct generation *prev, const struct wsd_route_conf *rc,
    const struct plugin_id *id)
{
	size_t i;

	if (prev == NULL)
		return NULL;
	for (i = 0; i < prev->routes.n; i++) {
		struct route *r = prev->routes.routes[i];

		if (strcmp(r->conf->path, rc->path) == 0 && r->plugin != NULL &&
		    strcmp(r->conf->plugin_path, rc->plugin_path) == 0 &&
		    !plugin_is(r->plugin, id))
			return r;
	}
	return NULL;
}

/* ---------------------------------------------------------------- generations */

static void
generation_free(struct generation *g)
{
	size_t i;

	/* Only a generation none of whose instances calls home is freed. */
	generation_retire(g);
	if (g->tls != NULL)
		for (i = 0; i < g->cfg->nlisten; i++)
			tls_server_free(g->tls[i]);
	free(g->tls);
	LIST_REMOVE(g, link);
	config_free(g->cfg);
	free(g);
}

void
generation_retire(struct generation *g)
{
	struct route_table t;
	size_t i;

	if (g == NULL || g->retired)
		return;
	g->retired = true;
	/* Emptied first: nothing finds a retiring route through it. */
	t = g->routes;
	memset(&g->routes, 0, sizeof(g->routes));
	for (i = 0; i < t.n; i++)
		generation_route_unref(t.routes[i]);
	route_table_free(&t);
}

struct generation *
generation_new(struct generations *gs, struct wsd_config *cfg,
    struct wsd_errors *errs)
{
	return generation_next(gs, NULL, cfg, errs);
}

/* A new instance of rc for g: plugin loaded, init run.  NULL: see errs. */
static struct route *
instance_new(struct generation *g, const struct wsd_route_conf *rc,
    struct wsd_errors *errs, struct route **slot)
{
	struct generations *gs = g->gens;
	struct wsd_config *cfg = g->cfg;
	struct route *r;
	char err[1024];

	if ((r = route_new(rc, cfg->file)) == NULL) {
		errors_add(errs, "%s:%d: route %s: out of memory", cfg->file,
		    rc->line, rc->path);
		return NULL;
	}
	r->gens = gs;
	r->home = g;
	generation_ref(g);
	r->refs = 1;			/* the new table's */
	LIST_INSERT_HEAD(&gs->instances, r, inst_link);
	*slot = r;
	if (plugin_wants_execstack(rc->plugin_path) == 1)
		log_warn("%s:%d: route %s: plugin %s (%s) asks for an "
		    "executable stack; it cannot load where systemd's "
		    "MemoryDenyWriteExecute= is on (rebuild it with "
		    "-z noexecstack)", cfg->file, rc->line, rc->path,
		    rc->plugin, rc->plugin_path);
	r->plugin = plugin_load(rc->plugin_path, cfg->strict_permissions,
	    gs->host, err, sizeof(err));
	if (r->plugin == NULL) {
		errors_add(errs, "%s:%d: route %s: plugin %s: %s", cfg->file,
		    rc->line, rc->path, rc->plugin, err);
		return NULL;
	}
	r->errs = errs;
	if (r->plugin->ops.init != NULL &&
	    r->plugin->ops.init(gs->host, (struct wsd_route *)r,
	    &r->state) != 0) {
		errors_add(errs, "%s:%d: route %s: plugin %s (%s) refused to "
		    "start", cfg->file, rc->line, rc->path, rc->plugin,
		    rc->plugin_path);
		r->errs = NULL;
		return NULL;
	}
	r->inited = true;
	/* Bad or unknown settings are reported into errs. */
	route_settings_check_unknown(r);
	r->errs = NULL;
	route_settings_done(r);
	return r;
}

struct generation *
generation_next(struct generations *gs, struct generation *prev,
    struct wsd_config *cfg, struct wsd_errors *errs)
{
	struct generation *g;
	struct route **rs = NULL, *r;
	struct plugin_id id;
	size_t i, before = errs->n, kept = 0;
	bool missing = false;
	char err[1024];

	if (!gs->ready || (g = calloc(1, sizeof(*g))) == NULL) {
		errors_add(errs, "out of memory");
		config_free(cfg);
		return NULL;
	}
	g->refs = 1;
	g->gens = gs;
	g->cfg = cfg;
	LIST_INSERT_HEAD(&gs->live, g, link);
	if ((rs = calloc(cfg->nroutes + 1, sizeof(*rs))) == NULL ||
	    (g->tls = calloc(cfg->nlisten + 1, sizeof(*g->tls))) == NULL) {
		errors_add(errs, "out of memory");
		goto fail;
	}
	/* Certificates first: cheap, and wsd -t reports them with the rest. */
	for (i = 0; i < cfg->nlisten; i++)
		if (cfg->listen[i].tls != NULL)
			g->tls[i] = tls_server_new(cfg, &cfg->listen[i],
			    worker_self.shm != NULL ?
			    worker_self.shm->ticket_key : NULL, errs);
	for (i = 0; i < cfg->nroutes; i++) {
		const struct wsd_route_conf *rc = &cfg->routes[i];
		struct route *old;

		if (rc->plugin_missing) {
			missing = true;		/* config_load_check() said so */
			continue;
		}
		/* Judged as a load would; which version is on disk now. */
		if (plugin_identify(rc->plugin_path, cfg->strict_permissions,
		    &id, err, sizeof(err)) == -1) {
			errors_add(errs, "%s:%d: route %s: plugin %s: %s",
			    cfg->file, rc->line, rc->path, rc->plugin, err);
			continue;
		}
		if ((r = carry_find(prev, rs, i, rc, &id)) != NULL) {
			generation_route_ref(r);
			rs[i] = r;
			kept++;
			log_debug("route %s: unchanged, instance kept",
			    rc->path);
			continue;
		}
		old = replaced_copy(prev, rc, &id);
		if (instance_new(g, rc, errs, &rs[i]) != NULL && old != NULL)
			log_notice("route %s: plugin %s (%s) changed on disk: "
			    "new connections get the new copy, open ones "
			    "finish on the old", rc->path, rc->plugin,
			    rc->plugin_path);
	}
	if (errs->n > before || missing)
		goto fail;
	if (route_table_init(&g->routes, rs, cfg->nroutes) == -1) {
		errors_add(errs, "out of memory");
		goto fail;
	}
	free(rs);
	if (prev != NULL)
		log_info("%zu of %zu route(s) kept their instance", kept,
		    cfg->nroutes);
	return g;

fail:
	/* The instances made here retire; carried ones stay prev's. */
	if (rs != NULL)
		for (i = 0; i < cfg->nroutes; i++)
			generation_route_unref(rs[i]);
	free(rs);
	g->retired = true;
	generation_unref(g);
	return NULL;
}

void
generation_ref(struct generation *g)
{
	g->refs++;
}

void
generation_unref(struct generation *g)
{
	if (g != NULL && --g->refs == 0)
		generation_free(g);
}

void
generations_reopen(struct generations *gs)
{
	struct route *r;

	/*
	 * Old instances too: their plugins still log for the clients
	 * that stayed, and must not keep writing to the rotated file.
	 */
	LIST_FOREACH(r, &gs->instances, inst_link)
		if (r->inited && r->plugin->ops.reopen != NULL)
			r->plugin->ops.reopen(r->state);
}

/* ---------------------------------------------------------------- watches */

/*
 * A descriptor watch: one persistent libevent event on the generations'
 * base, owned by its route like a timer.  A watch whose callback is on
 * the stack is only marked when cancelled (or when its route is retired
 * under it) and freed when the callback returns.
 */
struct wsd_watch {
	struct event		*ev;
	struct route		*route;
	int			 fd;
	int			 events;	/* WSD_WATCH_READ|WRITE, or 0 */
	wsd_watch_fn		 fn;
	void			*arg;
	bool			 running;	/* in its callback */
	bool			 cancelled;	/* free when it returns */
	bool			 detached;	/* off route->watches */
	LIST_ENTRY(wsd_watch)	 link;
};

#define WATCH_EVENTS	(WSD_WATCH_READ | WSD_WATCH_WRITE)

static void
watch_free(struct wsd_watch *w)
{
	if (!w->detached)
		LIST_REMOVE(w, link);
	event_free(w->ev);
	free(w);
}

static void
watch_cb(evutil_socket_t fd, short what, void *arg)
{
	struct wsd_watch *w = arg;
	struct route *r;
	int events = 0;
	uint64_t t0;

	(void)fd;
	if (what & EV_READ)
		events |= WSD_WATCH_READ;
	if (what & EV_WRITE)
		events |= WSD_WATCH_WRITE;
	/* Paused by an earlier callback of this loop pass: nothing to say. */
	if ((events &= w->events) == 0)
		return;
	r = w->route;
	generation_route_ref(r);	/* see timer_cb */
	w->running = true;
	t0 = metrics_cb_start();
	w->fn((struct wsd_route *)r, w->fd, events, w->arg);
	metrics_cb_end(r->metrics, MCB_WATCH, t0);
	w->running = false;
	event_base_update_cache_time(event_get_base(w->ev)); /* see timer_cb */
	if (w->cancelled)
		watch_free(w);
	generation_route_unref(r);
}

/* (Re)arm w's event for events; 0 leaves it unarmed. */
static int
watch_arm(struct wsd_watch *w, int events)
{
	struct event_base *base = event_get_base(w->ev);
	short what = EV_PERSIST;

	/* Never pending here: event_assign() wants it so. */
	event_del(w->ev);
	w->events = events;
	if (events == 0)
		return 0;
	if (events & WSD_WATCH_READ)
		what |= EV_READ;
	if (events & WSD_WATCH_WRITE)
		what |= EV_WRITE;
	if (event_assign(w->ev, base, w->fd, what, watch_cb, w) == -1 ||
	    event_add(w->ev, NULL) == -1) {
		w->events = 0;
		return -1;
	}
	return 0;
}

struct wsd_watch *
generation_watch_add(struct route *r, int fd, int events, wsd_watch_fn fn,
    void *arg)
{
	struct generations *gs = r->gens;
	struct wsd_watch *w;

	if (fn == NULL || fd < 0 || (events & ~WATCH_EVENTS) != 0 ||
	    gs->base == NULL || (w = calloc(1, sizeof(*w))) == NULL)
		return NULL;
	/* Made unarmed, then armed: one path for add and set. */
	if ((w->ev = event_new(gs->base, fd, EV_PERSIST, watch_cb, w)) ==
	    NULL) {
		free(w);
		return NULL;
	}
	w->route = r;
	w->fd = fd;
	w->fn = fn;
	w->arg = arg;
	LIST_INSERT_HEAD(&r->watches, w, link);
	if (watch_arm(w, events) == -1) {
		watch_free(w);
		return NULL;
	}
	return w;
}

int
generation_watch_set(struct wsd_watch *w, int events)
{
	if (w == NULL || w->cancelled || (events & ~WATCH_EVENTS) != 0)
		return -1;
	if (events == w->events)
		return 0;
	return watch_arm(w, events);
}

void
generation_watch_cancel(struct wsd_watch *w)
{
	if (w == NULL || w->cancelled)
		return;
	if (w->running) {
		/* Freed when its callback returns; it never fires again. */
		event_del(w->ev);
		w->events = 0;
		w->cancelled = true;
	} else {
		watch_free(w);
	}
}

/*
 * After fini: the watches the plugin left.  One whose callback is on the
 * stack (fini reached from inside it) is freed when that returns.
 */
static size_t
route_watches_free(struct route *r)
{
	struct wsd_watch *w;
	size_t left = 0;

	while ((w = LIST_FIRST(&r->watches)) != NULL) {
		left++;
		if (w->running) {
			LIST_REMOVE(w, link);
			w->detached = true;
			generation_watch_cancel(w);
		} else {
			watch_free(w);
		}
	}
	return left;
}

/*
 * server: the daemon's top-level state.  Listeners and accept, the
 * registry of connections, configuration generations (SIGHUP reload),
 * signals and the graceful shutdown.
 */
#ifndef WSD_SERVER_H
#define WSD_SERVER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <pthread.h>
#include <sys/queue.h>

#include <event2/event.h>
#include <event2/listener.h>

#include "config.h"
#include "route.h"

struct server;
struct evbuffer;
struct conn_shared;

/*
 * One loaded configuration: its routes with their plugin instances.
 * Connections hold a reference, so a reload can swap in a new generation
 * while old connections finish on the old routes.
 */
struct generation {
	unsigned		 refs;
	struct server		*srv;
	struct wsd_config	*cfg;
	struct route_table	 routes;
};

struct listener {
	struct evconnlistener	*lev;
	struct server		*srv;
	char			*address;
	int			 port;		/* as configured (after -p) */
	char			 bound[64];	/* "127.0.0.1:8888" */
	struct listener		*next;
};

struct server {
	struct event_base	*base;
	const char		*config_file;
	const char		*plugin_dir_default;
	int			 port_override;	/* -1: none */
	struct generation	*gen;		/* current */
	struct listener		*listeners;
	struct conn_list	 conns;		/* every connection */
	size_t			 nconns;
	struct conn_shared	*cs;		/* conn.c's */
	size_t			 max_connections;
	uint64_t		 next_id;
	bool			 stopping;
	bool			 accept_paused;
	struct event		*ev_term, *ev_int, *ev_hup, *ev_usr1,
				*ev_stop, *ev_resume, *ev_watchdog;
	bool			 activated;	/* listeners from systemd */

	/* wsd_post(): a queue any thread may append to, and its wake-up. */
	pthread_mutex_t		 post_lock;
	struct post		*post_head, **post_tail;
	int			 post_fd;	/* eventfd */
	bool			 post_ready;	/* set once, by server_init */
	struct event		*ev_post;
};

/*
 * Build a generation for cfg: load every route's plugin and run its init
 * (with settings checks).  Returns NULL with the reasons in errs.  With
 * base == NULL nothing is bound to a loop (wsd -t).
 */
struct generation *generation_new(struct server *srv, struct wsd_config *cfg,
		    struct wsd_errors *errs);
void		 generation_ref(struct generation *g);
void		 generation_unref(struct generation *g);

/*
 * Create the loop and the post queue; needed before generation_new()
 * (plugins may add timers in init, also under wsd -t).  Returns 0 or -1.
 */
int		 server_init(struct server *srv);
/* Signals, limits, listeners.  Returns 0 or -1. */
int		 server_start(struct server *srv);
/* Tell systemd we are ready, with a status line. */
void		 server_notify_ready(struct server *srv);
/* Called by conn.c when a connection is gone. */
void		 server_conn_gone(struct server *srv);
/* Tear everything down (after the loop has exited). */
void		 server_free(struct server *srv);

/* Route timers and the thread-safe post (see <wsd/plugin.h>). */
struct wsd_timer *server_timer_add(struct route *r, uint64_t after_ms,
		    uint64_t repeat_ms, wsd_timer_fn fn, void *arg);
void		 server_timer_cancel(struct wsd_timer *t);
int		 server_post(struct route *r, wsd_post_fn fn, void *arg);

/* The table of host functions handed to plugins (host.c). */
const struct wsd_host *host_table(void);

#endif /* WSD_SERVER_H */

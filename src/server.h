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
#include <sys/queue.h>

#include <event2/event.h>
#include <event2/listener.h>

#include "config.h"
#include "route.h"

struct server;

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
	size_t			 max_connections;
	uint64_t		 next_id;
	bool			 stopping;
	bool			 accept_paused;
	struct event		*ev_term, *ev_int, *ev_hup, *ev_stop,
				*ev_resume;
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

/* Start listening with the current generation.  Returns 0 or -1. */
int		 server_start(struct server *srv);
/* Called by conn.c when a connection is gone. */
void		 server_conn_gone(struct server *srv);
/* Tear everything down (after the loop has exited). */
void		 server_free(struct server *srv);

/* The table of host functions handed to plugins (host.c). */
const struct wsd_host *host_table(void);

#endif /* WSD_SERVER_H */

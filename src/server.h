/*
 * server: the daemon's top-level state.  Listeners and accept, the
 * registry of connections, the current configuration generation and
 * SIGHUP reload (generation.h does the rest), signals and the graceful
 * shutdown.
 */
#ifndef WSD_SERVER_H
#define WSD_SERVER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/queue.h>

#include <event2/event.h>

#include "config.h"
#include "generation.h"
#include "route.h"

struct server;
struct evbuffer;
struct conn_shared;
struct topics;
struct peers;
struct backplane;
struct msrv;

/* A listening socket the master opened; every worker watches it. */
struct listener {
	struct event		*ev;
	int			 fd;
	struct server		*srv;
	char			 bound[64];	/* "127.0.0.1:8888" */
	char			*address;	/* as configured; NULL: systemd's */
	int			 port;		/* as configured (-p applied) */
	size_t			 index;		/* its entry in `listen` then */
	struct listener		*next;
};

struct server {
	struct event_base	*base;
	const char		*config_file;
	const char		*plugin_dir_default;
	int			 port_override;	/* -1: none */
	struct generation	*gen;		/* current */
	struct listener		*listeners;
	size_t			 nconns;	/* in cs->byid: every one */
	struct conn_shared	*cs;		/* conn.c's */
	size_t			 max_connections; /* this process */
	size_t			 max_total;	/* the daemon; 0: none */
	int			 nworkers;	/* configured, for the cap */
	uint64_t		 next_id;
	bool			 stopping;
	bool			 accept_paused;
	struct event		*ev_term, *ev_int, *ev_hup, *ev_usr1,
				*ev_stop, *ev_resume;

	/* Every live generation, their timers and the post queue. */
	struct generations	 gens;

	/* Worker mode (a master forked us): see workers.h. */
	bool			 worker;
	bool			 retiring;	/* SIGQUIT: serve, accept no more */
	struct event		*ev_quit, *ev_heartbeat;

	/* Topics of this worker (topic.c), peers (peers.c), Redis. */
	struct topics		*topics;
	struct peers		*peers;
	struct backplane	*backplane;

	/* The metrics listener and peer socket (metrics_srv.c); or NULL. */
	struct msrv		*msrv;
};

/*
 * Create the loop and srv->gens (the post queue); needed before
 * generation_new(&srv->gens, ...), as plugins may add timers or post in
 * init, also under wsd -t.  Returns 0 or -1.
 */
int		 server_init(struct server *srv);
/* Signals, limits, the heartbeat.  Returns 0 or -1. */
int		 server_start(struct server *srv);
/*
 * Accept connections on fd, a listening socket; bound names it, address,
 * port and index say which `listen` entry it was opened for (address
 * NULL: a socket from systemd, matched by bound).
 */
int		 server_add_listener(struct server *srv, int fd,
		    const char *bound, const char *address, int port,
		    size_t index);
/*
 * Send access lines where cfg's access_log says; if its file cannot be
 * opened, say so and keep the previous place (reload) or use stderr.
 */
void		 server_access_log(const struct wsd_config *cfg, bool reload);
/* Tell systemd we are ready, with a status line. */
void		 server_notify_ready(struct server *srv);
/* Called by conn.c when a connection is gone. */
void		 server_conn_gone(struct server *srv);
/* Tear everything down (after the loop has exited). */
void		 server_free(struct server *srv);

/* The table of host functions handed to plugins (host.c). */
const struct wsd_host *host_table(void);
/*
 * Make the calling thread the one plugins' host calls must come from,
 * and set up the wake-up that logs what other threads tried (host.c).
 * Returns 0, or -1 with errno set.  host_detach() undoes it.
 */
int		 host_attach(struct event_base *base);
void		 host_detach(void);

#endif /* WSD_SERVER_H */

/*
 * server: see server.h.
 *
 * Signals are loop events, so a reload or a stop runs between two
 * callbacks, never in the middle of a connection's work.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>
#include <event2/listener.h>

#include "conn.h"
#include "generation.h"
#include "log.h"
#include "notify.h"
#include "plugin.h"
#include "server.h"

/* Descriptors kept back from max_connections for listeners, logs, plugins. */
#define FD_RESERVE	32

/* For systemd's RELOADING=1, which wants the time with it. */
static uint64_t
mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* ---------------------------------------------------------------- listeners */

static void
accept_cb(struct evconnlistener *lev, evutil_socket_t fd,
    struct sockaddr *sa, int socklen, void *arg)
{
	struct listener *l = arg;
	struct server *srv = l->srv;

	(void)lev;
	if (srv->stopping) {
		evutil_closesocket(fd);
		return;
	}
	if (srv->nconns >= srv->max_connections) {
		conn_refuse(srv, fd);
		return;
	}
	/* NULL: refused or out of memory, and said so. */
	(void)conn_new(srv, fd, sa, socklen);
}

static void
pause_accept(struct server *srv)
{
	struct listener *l;
	struct timeval tv = { 1, 0 };

	if (srv->accept_paused)
		return;
	srv->accept_paused = true;
	for (l = srv->listeners; l != NULL; l = l->next)
		evconnlistener_disable(l->lev);
	/* Paused with no timer to resume would be paused for good. */
	if (evtimer_add(srv->ev_resume, &tv) == -1) {
		log_err("cannot arm the accept timer; accepting again now");
		srv->accept_paused = false;
		for (l = srv->listeners; l != NULL; l = l->next)
			evconnlistener_enable(l->lev);
	}
}

static void
resume_cb(evutil_socket_t fd, short what, void *arg)
{
	struct server *srv = arg;
	struct listener *l;

	(void)fd;
	(void)what;
	if (srv->stopping)
		return;
	srv->accept_paused = false;
	for (l = srv->listeners; l != NULL; l = l->next)
		evconnlistener_enable(l->lev);
}

static void
accept_error_cb(struct evconnlistener *lev, void *arg)
{
	struct listener *l = arg;
	int err = EVUTIL_SOCKET_ERROR();

	(void)lev;
	if (err == EMFILE || err == ENFILE || err == ENOBUFS ||
	    err == ENOMEM) {
		log_warn("accept on %s: %s; pausing accept for a second",
		    l->bound, strerror(err));
		pause_accept(l->srv);
	} else {
		log_warn("accept on %s: %s", l->bound, strerror(err));
	}
}

/* Note where l is bound, and log it (tests read the port from this). */
static void
describe_listener(struct listener *l)
{
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	char host[INET6_ADDRSTRLEN];

	memset(&ss, 0, sizeof(ss));
	getsockname(evconnlistener_get_fd(l->lev), (struct sockaddr *)&ss, &sl);
	if (ss.ss_family == AF_INET6) {
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;

		inet_ntop(AF_INET6, &s6->sin6_addr, host, sizeof(host));
		snprintf(l->bound, sizeof(l->bound), "[%s]:%u", host,
		    ntohs(s6->sin6_port));
	} else if (ss.ss_family == AF_INET) {
		struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;

		inet_ntop(AF_INET, &s4->sin_addr, host, sizeof(host));
		snprintf(l->bound, sizeof(l->bound), "%s:%u", host,
		    ntohs(s4->sin_port));
	} else {
		snprintf(l->bound, sizeof(l->bound), "fd %d",
		    (int)evconnlistener_get_fd(l->lev));
	}
	log_notice("listening on %s", l->bound);
}

static struct listener *
listener_alloc(struct server *srv, const char *address, int port)
{
	struct listener *l;

	if ((l = calloc(1, sizeof(*l))) == NULL ||
	    (l->address = strdup(address)) == NULL) {
		free(l);
		log_err("out of memory");
		return NULL;
	}
	l->srv = srv;
	l->port = port;
	return l;
}

static struct listener *
listener_open(struct server *srv, const char *address, int port)
{
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	struct listener *l;
	unsigned flags = LEV_OPT_CLOSE_ON_FREE | LEV_OPT_CLOSE_ON_EXEC |
	    LEV_OPT_REUSEABLE | LEV_OPT_DEFERRED_ACCEPT;

	memset(&ss, 0, sizeof(ss));
	if (inet_pton(AF_INET6, address, &((struct sockaddr_in6 *)&ss)->
	    sin6_addr) == 1) {
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;

		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons((uint16_t)port);
		sl = sizeof(*s6);
		flags |= LEV_OPT_BIND_IPV6ONLY;
	} else if (inet_pton(AF_INET, address, &((struct sockaddr_in *)&ss)->
	    sin_addr) == 1) {
		struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;

		s4->sin_family = AF_INET;
		s4->sin_port = htons((uint16_t)port);
		sl = sizeof(*s4);
	} else {
		log_err("listen address %s is not an IP address", address);
		return NULL;
	}
	if ((l = listener_alloc(srv, address, port)) == NULL)
		return NULL;
	l->lev = evconnlistener_new_bind(srv->base, accept_cb, l, flags, 1024,
	    (struct sockaddr *)&ss, (int)sl);
	if (l->lev == NULL) {
		log_err("cannot listen on %s%s%s:%d: %s",
		    ss.ss_family == AF_INET6 ? "[" : "", address,
		    ss.ss_family == AF_INET6 ? "]" : "", port,
		    strerror(errno));
		free(l->address);
		free(l);
		return NULL;
	}
	evconnlistener_set_error_cb(l->lev, accept_error_cb);
	describe_listener(l);
	return l;
}

/* Socket activation: take over an inherited listening socket. */
static struct listener *
listener_adopt(struct server *srv, int fd)
{
	struct listener *l;

	if ((l = listener_alloc(srv, "inherited", -1)) == NULL)
		return NULL;
	evutil_make_socket_nonblocking(fd);
	l->lev = evconnlistener_new(srv->base, accept_cb, l,
	    LEV_OPT_CLOSE_ON_FREE | LEV_OPT_CLOSE_ON_EXEC, -1, fd);
	if (l->lev == NULL) {
		log_err("cannot use inherited socket %d: %s", fd,
		    strerror(errno));
		free(l->address);
		free(l);
		return NULL;
	}
	evconnlistener_set_error_cb(l->lev, accept_error_cb);
	describe_listener(l);
	return l;
}

static void
listener_free(struct listener *l)
{
	evconnlistener_free(l->lev);
	free(l->address);
	free(l);
}

static int
effective_port(const struct server *srv, const struct wsd_listen_conf *lc)
{
	return srv->port_override >= 0 ? srv->port_override : lc->port;
}

/*
 * Make the listeners match cfg: keep the ones that are unchanged (same
 * address and configured port), open new ones before closing removed
 * ones.  On failure nothing changes and -1 is returned.
 */
static int
sync_listeners(struct server *srv, const struct wsd_config *cfg)
{
	struct listener *keep = NULL, *fresh = NULL, *l, *next, **pp;
	size_t i;

	/* Inherited sockets are systemd's to change, not the config's. */
	if (srv->activated)
		return 0;

	for (i = 0; i < cfg->nlisten; i++) {
		const struct wsd_listen_conf *lc = &cfg->listen[i];
		int port = effective_port(srv, lc);

		for (pp = &srv->listeners; *pp != NULL; pp = &(*pp)->next) {
			if (strcmp((*pp)->address, lc->address) == 0 &&
			    (*pp)->port == port)
				break;
		}
		if (*pp != NULL) {
			l = *pp;
			*pp = l->next;
			l->next = keep;
			keep = l;
			continue;
		}
		if ((l = listener_open(srv, lc->address, port)) == NULL) {
			/* Undo: close what we opened, put back what we kept. */
			while (fresh != NULL) {
				next = fresh->next;
				listener_free(fresh);
				fresh = next;
			}
			while (keep != NULL) {
				next = keep->next;
				keep->next = srv->listeners;
				srv->listeners = keep;
				keep = next;
			}
			return -1;
		}
		l->next = fresh;
		fresh = l;
	}
	/* What is left in srv->listeners was removed from the config. */
	for (l = srv->listeners; l != NULL; l = next) {
		next = l->next;
		log_notice("no longer listening on %s", l->bound);
		listener_free(l);
	}
	srv->listeners = NULL;
	for (l = keep; l != NULL; l = next) {
		next = l->next;
		l->next = srv->listeners;
		srv->listeners = l;
	}
	for (l = fresh; l != NULL; l = next) {
		next = l->next;
		l->next = srv->listeners;
		srv->listeners = l;
	}
	if (srv->accept_paused)
		for (l = srv->listeners; l != NULL; l = l->next)
			evconnlistener_disable(l->lev);
	return 0;
}

/* ---------------------------------------------------------------- limits */

/*
 * Derive the connection cap from the descriptor limit and the config.  At
 * start (raise) the soft descriptor limit is first raised to the hard one
 * (systemd leaves it at 1024); on reload it is only read, and the cap is
 * logged only when it changes.
 */
static void
set_max_connections(struct server *srv, const struct wsd_config *cfg,
    bool raise)
{
	struct rlimit rl;
	size_t fds = 1024, old = srv->max_connections;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
		if (raise && rl.rlim_cur < rl.rlim_max) {
			rlim_t cur = rl.rlim_cur;

			rl.rlim_cur = rl.rlim_max;
			if (setrlimit(RLIMIT_NOFILE, &rl) == -1)
				rl.rlim_cur = cur;
		}
		fds = rl.rlim_cur == RLIM_INFINITY ? 1048576 :
		    (size_t)rl.rlim_cur;
	}
	srv->max_connections = fds > FD_RESERVE * 2 ? fds - FD_RESERVE :
	    fds / 2;
	if (cfg->limits.max_connections > 0) {
		if (cfg->limits.max_connections > srv->max_connections)
			log_warn("max_connections %u is more than the "
			    "descriptor limit allows; using %zu",
			    cfg->limits.max_connections,
			    srv->max_connections);
		else
			srv->max_connections = cfg->limits.max_connections;
	}
	if (raise || srv->max_connections != old)
		log_info("accepting up to %zu connections",
		    srv->max_connections);
}

/* ---------------------------------------------------------------- signals */

static void
finish_stop(struct server *srv)
{
	event_base_loopexit(srv->base, NULL);
}

void
server_conn_gone(struct server *srv)
{
	if (srv->stopping && srv->nconns == 0)
		finish_stop(srv);
}

static void
stop_deadline_cb(evutil_socket_t fd, short what, void *arg)
{
	struct server *srv = arg;

	(void)fd;
	(void)what;
	log_notice("stop deadline reached: dropping %zu connection(s)",
	    srv->nconns);
	conn_abort_all(srv);
	finish_stop(srv);
}

static void
server_stop(struct server *srv, const char *why)
{
	struct listener *l;
	struct timeval tv;
	uint32_t ms;

	if (srv->stopping) {
		log_notice("%s again: stopping now", why);
		stop_deadline_cb(-1, 0, srv);
		return;
	}
	srv->stopping = true;
	notify_send("STOPPING=1\nSTATUS=stopping, closing %zu connection(s)",
	    srv->nconns);
	log_notice("%s: stopping, closing %zu connection(s)", why,
	    srv->nconns);
	for (l = srv->listeners; l != NULL; l = l->next)
		evconnlistener_disable(l->lev);
	conn_shutdown_all(srv);
	if (srv->nconns == 0) {
		finish_stop(srv);
		return;
	}
	ms = srv->gen->cfg->limits.close_timeout_ms + 1000;
	tv.tv_sec = ms / 1000;
	tv.tv_usec = (ms % 1000) * 1000;
	if (evtimer_add(srv->ev_stop, &tv) == -1) {
		log_err("cannot arm the stop deadline: stopping now");
		stop_deadline_cb(-1, 0, srv);
	}
}

static void
server_reload(struct server *srv)
{
	struct wsd_errors errs = { NULL, 0 };
	struct wsd_config *cfg;
	struct generation *g;
	size_t i;

	log_notice("reloading %s", srv->config_file);
	notify_send("RELOADING=1\nMONOTONIC_USEC=%llu",
	    (unsigned long long)mono_ms() * 1000);
	cfg = config_load(srv->config_file, srv->plugin_dir_default, &errs);
	g = cfg != NULL ? generation_new(&srv->gens, cfg, &errs) : NULL;
	if (g == NULL) {
		for (i = 0; i < errs.n; i++)
			log_err("%s", errs.msg[i]);
		log_err("reload failed: still running the previous "
		    "configuration");
		errors_clear(&errs);
		notify_send("READY=1\nSTATUS=reload failed; serving %zu "
		    "connection(s) with the previous configuration",
		    srv->nconns);
		return;
	}
	if (sync_listeners(srv, g->cfg) == -1) {
		log_err("reload failed: cannot open the new listeners; still "
		    "running the previous configuration");
		generation_unref(g);
		notify_send("READY=1\nSTATUS=reload failed; serving %zu "
		    "connection(s) with the previous configuration",
		    srv->nconns);
		return;
	}
	log_set_level(g->cfg->log_level);
	set_max_connections(srv, g->cfg, false);
	generation_unref(srv->gen);
	srv->gen = g;
	log_notice("reloaded: %zu route(s)", g->routes.n);
	server_notify_ready(srv);
}

static void
reopen_logs(struct server *srv)
{
	log_notice("SIGUSR1: plugins reopen their log files");
	generations_reopen(&srv->gens);
}

static void
signal_cb(evutil_socket_t sig, short what, void *arg)
{
	struct server *srv = arg;

	(void)what;
	switch (sig) {
	case SIGTERM:
		server_stop(srv, "SIGTERM");
		break;
	case SIGINT:
		server_stop(srv, "SIGINT");
		break;
	case SIGHUP:
		if (!srv->stopping)
			server_reload(srv);
		break;
	case SIGUSR1:
		reopen_logs(srv);
		break;
	}
}

/* ---------------------------------------------------------------- systemd */

void
server_notify_ready(struct server *srv)
{
	notify_send("READY=1\nSTATUS=%zu connection(s), %zu route(s)",
	    srv->nconns, srv->gen->routes.n);
}

static void
watchdog_cb(evutil_socket_t fd, short what, void *arg)
{
	struct server *srv = arg;

	(void)fd;
	(void)what;
	notify_send("WATCHDOG=1\nSTATUS=%zu connection(s)%s", srv->nconns,
	    srv->stopping ? ", stopping" : "");
}

/* ---------------------------------------------------------------- start */

int
server_init(struct server *srv)
{
	struct event_config *ec;

	TAILQ_INIT(&srv->conns);
	/*
	 * Precise timers: the coarse monotonic clock libevent would use
	 * otherwise has a 4 ms grain, which shows in the clock's ticks.
	 */
	if ((ec = event_config_new()) != NULL) {
		event_config_set_flag(ec, EVENT_BASE_FLAG_PRECISE_TIMER);
		srv->base = event_base_new_with_config(ec);
		event_config_free(ec);
	}
	if (srv->base == NULL) {
		log_err("cannot create the event loop");
		return -1;
	}
	if (conn_server_init(srv) == -1) {
		log_err("out of memory");
		return -1;
	}
	if (generations_init(&srv->gens, srv->base, host_table()) == -1) {
		log_err("cannot set up the post queue: %s", strerror(errno));
		return -1;
	}
	return 0;
}

int
server_start(struct server *srv)
{
	const struct wsd_config *cfg = srv->gen->cfg;
	struct listener *l;
	uint64_t wd;
	int i, nfds;

	set_max_connections(srv, cfg, true);

	srv->ev_term = evsignal_new(srv->base, SIGTERM, signal_cb, srv);
	srv->ev_int = evsignal_new(srv->base, SIGINT, signal_cb, srv);
	srv->ev_hup = evsignal_new(srv->base, SIGHUP, signal_cb, srv);
	srv->ev_usr1 = evsignal_new(srv->base, SIGUSR1, signal_cb, srv);
	srv->ev_stop = evtimer_new(srv->base, stop_deadline_cb, srv);
	srv->ev_resume = evtimer_new(srv->base, resume_cb, srv);
	if (srv->ev_term == NULL || srv->ev_int == NULL ||
	    srv->ev_hup == NULL || srv->ev_usr1 == NULL ||
	    srv->ev_stop == NULL ||
	    srv->ev_resume == NULL) {
		log_err("out of memory");
		return -1;
	}
	if (evsignal_add(srv->ev_term, NULL) == -1 ||
	    evsignal_add(srv->ev_int, NULL) == -1 ||
	    evsignal_add(srv->ev_hup, NULL) == -1 ||
	    evsignal_add(srv->ev_usr1, NULL) == -1) {
		log_err("cannot watch signals: %s", strerror(errno));
		return -1;
	}

	if ((nfds = notify_listen_fds()) > 0) {
		/* Socket activation: systemd's sockets replace `listen`. */
		srv->activated = true;
		for (i = 0; i < nfds; i++) {
			if ((l = listener_adopt(srv, 3 + i)) == NULL)
				return -1;
			l->next = srv->listeners;
			srv->listeners = l;
		}
	} else if (sync_listeners(srv, cfg) == -1) {
		return -1;
	}

	/* Pet systemd's watchdog at half its interval. */
	if ((wd = notify_watchdog_usec()) > 0) {
		struct timeval tv;

		wd /= 2;
		tv.tv_sec = (time_t)(wd / 1000000);
		tv.tv_usec = (suseconds_t)(wd % 1000000);
		srv->ev_watchdog = event_new(srv->base, -1, EV_PERSIST,
		    watchdog_cb, srv);
		if (srv->ev_watchdog == NULL ||
		    event_add(srv->ev_watchdog, &tv) == -1) {
			log_err("cannot set up the watchdog timer");
			return -1;
		}
	}
	return 0;
}

void
server_free(struct server *srv)
{
	struct listener *l, *next;

	conn_abort_all(srv);
	for (l = srv->listeners; l != NULL; l = next) {
		next = l->next;
		listener_free(l);
	}
	srv->listeners = NULL;
	if (srv->ev_term != NULL)
		event_free(srv->ev_term);
	if (srv->ev_int != NULL)
		event_free(srv->ev_int);
	if (srv->ev_hup != NULL)
		event_free(srv->ev_hup);
	if (srv->ev_usr1 != NULL)
		event_free(srv->ev_usr1);
	if (srv->ev_watchdog != NULL)
		event_free(srv->ev_watchdog);
	if (srv->ev_stop != NULL)
		event_free(srv->ev_stop);
	if (srv->ev_resume != NULL)
		event_free(srv->ev_resume);
	generation_unref(srv->gen);
	srv->gen = NULL;
	generations_fini(&srv->gens);
	conn_server_fini(srv);
	if (srv->base != NULL)
		event_base_free(srv->base);
	srv->base = NULL;
}

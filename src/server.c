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

#include "backplane.h"
#include "conn.h"
#include "failalloc.h"
#include "generation.h"
#include "log.h"
#include "metrics.h"
#include "metrics_srv.h"
#include "notify.h"
#include "plugin.h"
#include "server.h"
#include "tls.h"
#include "topic.h"
#include "workers.h"

/* Descriptors kept back from max_connections for listeners, logs, plugins. */
#define FD_RESERVE	32
/* How often a worker tells the master its loop runs. */
#define HEARTBEAT_MS	200

/* ---------------------------------------------------------------- listeners */

/* Accepts per readiness callback: the other workers get their turn. */
#define ACCEPT_BATCH	16
/* A worker ahead of the others leaves new connections to them this long. */
#define YIELD_MS	2
/* A worker whose loop has not run for this long is not counted on. */
#define FRESH_MS	1000

static void	pause_accept(struct server *srv, uint32_t ms);

/* Connections of the whole daemon: every worker's, or just ours. */
static uint64_t
total_conns(const struct server *srv)
{
	if (worker_self.shm == NULL)
		return srv->nconns;
	return workers_total_conns(worker_self.shm);
}

/*
 * Share connections evenly: every worker waits on the same listening
 * socket, and whichever wakes first would otherwise take all that are
 * queued.  A worker that holds noticeably more than the least loaded
 * live worker leaves the next ones to the others for a moment.  A
 * worker whose loop is stuck does not count, so nobody waits for it.
 */
static bool
should_yield(const struct server *srv)
{
	const struct worker_shm *shm = worker_self.shm;
	uint64_t now, min = UINT64_MAX, n;
	uint32_t i, nslots;

	if (shm == NULL)
		return false;
	nslots = atomic_load(&shm->nslots);
	now = workers_now_ms();
	for (i = 0; i < nslots && i < WORKERS_MAX; i++) {
		const struct worker_slot *sl = &shm->slot[i];

		if ((int)i == worker_self.index ||
		    atomic_load(&sl->state) != SLOT_READY ||
		    workers_age_ms(now, atomic_load(&sl->heartbeat_ms)) >
		    FRESH_MS)
			continue;
		n = atomic_load(&sl->nconns);
		if (n < min)
			min = n;
	}
	return min != UINT64_MAX && srv->nconns > min + 4 + min / 32;
}

static void
count_conns(struct server *srv)
{
	if (worker_self.slot != NULL)
		atomic_store(&worker_self.slot->nconns, srv->nconns);
}

/*
 * The `listen` entry of the current generation that listener l serves,
 * or -1: the entry it was opened for, if the file still has it there;
 * else the one with its address and port (a reload may reorder
 * entries).  Ephemeral ports (port 0, or -p 0) only match by position:
 * every such entry has the same port.  Its TLS contexts are
 * gen->tls[i] (NULL: plain), its proxy settings cfg->listen[i].
 */
static long
listener_entry(const struct listener *l)
{
	const struct generation *g = l->srv->gen;
	const struct wsd_config *cfg = g->cfg;
	const struct wsd_listen_conf *lc;
	char name[80];
	size_t i;
	int port;

	if (l->address != NULL && l->index < cfg->nlisten &&
	    strcmp(cfg->listen[l->index].address, l->address) == 0) {
		lc = &cfg->listen[l->index];
		port = l->srv->port_override >= 0 ?
		    l->srv->port_override : lc->port;
		if (port == l->port)
			return (long)l->index;
	}
	for (i = 0; i < cfg->nlisten; i++) {
		lc = &cfg->listen[i];
		port = l->srv->port_override >= 0 ?
		    l->srv->port_override : lc->port;
		if (l->address != NULL) {
			if (port != 0 && port == l->port &&
			    strcmp(l->address, lc->address) == 0)
				return (long)i;
			continue;
		}
		snprintf(name, sizeof(name), strchr(lc->address, ':') != NULL ?
		    "[%s]:%d" : "%s:%d", lc->address, port);
		if (strcmp(name, l->bound) == 0)
			return (long)i;
	}
	return -1;
}

static void
accepted(struct listener *l, int fd, struct sockaddr *sa, socklen_t sl)
{
	struct server *srv = l->srv;
	long i = listener_entry(l);
	struct tls_server *ts = i >= 0 ? srv->gen->tls[i] : NULL;
	const struct wsd_listen_conf *lc = i >= 0 ?
	    &srv->gen->cfg->listen[i] : NULL;
	struct conn *c;

	if (srv->stopping || srv->retiring) {
		evutil_closesocket(fd);
		return;
	}
	if (srv->nconns >= srv->max_connections ||
	    (srv->max_total > 0 && total_conns(srv) >= srv->max_total)) {
		metrics.refused[MREF_LIMIT]++;
		conn_refuse(srv, fd, ts != NULL);
		return;
	}
	/* NULL: refused or out of memory, and said so. */
	failalloc_accept();
	c = conn_new(srv, fd, sa, (int)sl, ts, lc);
	failalloc_owner(c);
	if (c != NULL) {
		metrics.accepted++;
		count_conns(srv);
	}
}

static void
accept_cb(evutil_socket_t fd, short what, void *arg)
{
	struct listener *l = arg;
	struct server *srv = l->srv;
	struct sockaddr_storage ss;
	socklen_t sl;
	int i, nfd, err;

	(void)what;
	for (i = 0; i < ACCEPT_BATCH; i++) {
		if (should_yield(srv)) {
			pause_accept(srv, YIELD_MS);
			return;
		}
		sl = sizeof(ss);
		nfd = accept4(fd, (struct sockaddr *)&ss, &sl,
		    SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (nfd == -1) {
			err = errno;
			if (err == EAGAIN || err == EWOULDBLOCK)
				return;
			if (err == EINTR || err == ECONNABORTED ||
			    err == EPROTO || err == EPERM)
				continue;
			if (err == EMFILE || err == ENFILE ||
			    err == ENOBUFS || err == ENOMEM) {
				metrics.refused[err == EMFILE ||
				    err == ENFILE ? MREF_DESCRIPTORS :
				    MREF_MEMORY]++;
				log_warn("accept on %s: %s; pausing accept for "
				    "a second", l->bound, strerror(err));
				pause_accept(srv, 1000);
			} else {
				log_warn("accept on %s: %s", l->bound,
				    strerror(err));
			}
			return;
		}
		accepted(l, nfd, (struct sockaddr *)&ss, sl);
	}
}

static void
listeners_enable(struct server *srv, bool on)
{
	struct listener *l;

	for (l = srv->listeners; l != NULL; l = l->next) {
		if (on)
			event_add(l->ev, NULL);
		else
			event_del(l->ev);
	}
}

static void
pause_accept(struct server *srv, uint32_t ms)
{
	struct timeval tv = { ms / 1000, (ms % 1000) * 1000 };

	if (srv->accept_paused)
		return;
	srv->accept_paused = true;
	listeners_enable(srv, false);
	/* Paused with no timer to resume would be paused for good. */
	if (evtimer_add(srv->ev_resume, &tv) == -1) {
		log_err("cannot arm the accept timer; accepting again now");
		srv->accept_paused = false;
		listeners_enable(srv, true);
	}
}

static void
resume_cb(evutil_socket_t fd, short what, void *arg)
{
	struct server *srv = arg;

	(void)fd;
	(void)what;
	if (srv->stopping || srv->retiring)
		return;
	srv->accept_paused = false;
	listeners_enable(srv, true);
}

int
server_add_listener(struct server *srv, int fd, const char *bound,
    const char *address, int port, size_t index)
{
	struct listener *l;

	if ((l = calloc(1, sizeof(*l))) == NULL ||
	    (address != NULL && (l->address = strdup(address)) == NULL)) {
		free(l);
		log_err("out of memory");
		return -1;
	}
	l->port = port;
	l->index = index;
	l->srv = srv;
	l->fd = fd;
	snprintf(l->bound, sizeof(l->bound), "%s", bound);
	evutil_make_socket_nonblocking(fd);
	l->ev = event_new(srv->base, fd, EV_READ | EV_PERSIST, accept_cb, l);
	if (l->ev == NULL || (!srv->accept_paused &&
	    event_add(l->ev, NULL) == -1)) {
		log_err("cannot watch the listener %s", bound);
		if (l->ev != NULL)
			event_free(l->ev);
		free(l->address);
		free(l);
		return -1;
	}
	l->next = srv->listeners;
	srv->listeners = l;
	return 0;
}

/*
 * Stop listening.  The descriptors are our copies of the master's:
 * closing them leaves the sockets, and the connections queued on them,
 * to the other workers.
 */
static void
listeners_close(struct server *srv)
{
	struct listener *l, *next;

	for (l = srv->listeners; l != NULL; l = next) {
		next = l->next;
		event_free(l->ev);
		close(l->fd);
		free(l->address);
		free(l);
	}
	srv->listeners = NULL;
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
	size_t fds = 1024, old = srv->max_connections, oldt = srv->max_total;
	size_t cap;

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
	/* What this process's descriptors allow... */
	srv->max_connections = fds > FD_RESERVE * 2 ? fds - FD_RESERVE :
	    fds / 2;
	/* ...and max_connections, which counts the whole daemon. */
	srv->max_total = cfg->limits.max_connections;
	cap = srv->max_connections * (size_t)(srv->nworkers > 0 ?
	    srv->nworkers : 1);
	if (srv->max_total > cap) {
		log_warn("max_connections %u is more than the descriptor "
		    "limit allows %s; using %zu", cfg->limits.max_connections,
		    srv->nworkers > 1 ? "this many workers" : "one process",
		    cap);
		srv->max_total = cap;
	}
	/* What this process takes: the daemon-wide cap may be lower. */
	if (raise || srv->max_connections != old || srv->max_total != oldt)
		log_info("accepting up to %zu connections",
		    srv->max_total > 0 && srv->max_total < srv->max_connections ?
		    srv->max_total : srv->max_connections);
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
	count_conns(srv);
	if ((srv->stopping || srv->retiring) && srv->nconns == 0)
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
	listeners_close(srv);
	metrics_srv_stop_accepting(srv);
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

/* A worker tells the master how its part of a reload went. */
static void
reload_done(uint32_t seq, bool ok)
{
	if (worker_self.slot == NULL)
		return;
	atomic_store(&worker_self.slot->reload_ok, ok ? 1 : 0);
	atomic_store(&worker_self.slot->reload_done, seq);
}

void
server_access_log(const struct wsd_config *cfg, bool reload)
{
	if (log_access_set(cfg->access_json, cfg->access_file) == 0)
		return;
	log_err("cannot open the access log %s: %s; access lines go %s",
	    cfg->access_file, strerror(errno), reload ?
	    "where they went before the reload" : "to stderr");
	if (!reload)
		log_access_set(cfg->access_json, NULL);
}

static void
server_reload(struct server *srv)
{
	struct wsd_errors errs = { NULL, 0 };
	struct wsd_config *cfg;
	struct generation *g, *old;
	uint32_t seq = 0;
	size_t i;

	if (worker_self.shm != NULL)
		seq = atomic_load(&worker_self.shm->reload_seq);
	log_notice("reloading %s", srv->config_file);
	notify_send("RELOADING=1\nMONOTONIC_USEC=%llu",
	    (unsigned long long)workers_now_ms() * 1000);
	cfg = config_load(srv->config_file, srv->plugin_dir_default, &errs);
	/* Unchanged routes keep their instances: see generation.h. */
	g = cfg != NULL ? generation_next(&srv->gens, srv->gen, cfg, &errs) :
	    NULL;
	if (g == NULL) {
		for (i = 0; i < errs.n; i++)
			log_err("%s", errs.msg[i]);
		log_err("reload failed: still running the previous "
		    "configuration");
		errors_clear(&errs);
		notify_send("READY=1\nSTATUS=reload failed; serving %zu "
		    "connection(s) with the previous configuration",
		    srv->nconns);
		reload_done(seq, false);
		return;
	}
	log_set_level(g->cfg->log_level);
	server_access_log(g->cfg, true);
	set_max_connections(srv, g->cfg, false);
	old = srv->gen;
	srv->gen = g;
	/*
	 * The old table lets go: every instance not carried over and with
	 * no client left retires now, the others with their last client.
	 */
	generation_retire(old);
	generation_unref(old);
	if (backplane_configure(srv, &g->cfg->cluster) == -1)
		log_err("reload: the Redis backplane keeps its old settings");
	/* "reloaded:" is the master's, once every worker is done. */
	log_notice("%s: %zu route(s)", worker_self.slot != NULL ?
	    "reload done" : "reloaded", g->routes.n);
	server_notify_ready(srv);
	reload_done(seq, true);
}

/*
 * SIGQUIT from the master: this worker is retired.  It accepts no more
 * connections and serves the ones it has until they are gone.
 */
static void
server_retire(struct server *srv)
{
	if (srv->retiring || srv->stopping)
		return;
	srv->retiring = true;
	if (worker_self.slot != NULL)
		atomic_store(&worker_self.slot->state, SLOT_RETIRING);
	listeners_close(srv);
	metrics_srv_stop_accepting(srv);
	log_notice("retired: serving %zu connection(s) until they close",
	    srv->nconns);
	if (srv->nconns == 0)
		finish_stop(srv);
}

static void
reopen_logs(struct server *srv)
{
	log_notice("SIGUSR1: reopening the access log and the plugins' log "
	    "files");
	log_access_reopen();
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
	case SIGQUIT:
		server_retire(srv);
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

/* Tell the master our loop runs (its watchdog and accept sharing). */
static void
heartbeat_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	(void)arg;
	if (worker_self.slot != NULL)
		atomic_store(&worker_self.slot->heartbeat_ms,
		    workers_now_ms());
	log_tick();
}

/* ---------------------------------------------------------------- start */

int
server_init(struct server *srv)
{
	struct event_config *ec;

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
	if (host_attach(srv->base) == -1) {
		log_err("cannot set up the host calls: %s", strerror(errno));
		return -1;
	}
	if (generations_init(&srv->gens, srv->base, host_table()) == -1) {
		log_err("cannot set up the post queue: %s", strerror(errno));
		return -1;
	}
	if (topics_init(srv) == -1) {
		log_err("cannot set up topics: %s", strerror(errno));
		return -1;
	}
	return 0;
}

int
server_start(struct server *srv)
{
	const struct wsd_config *cfg = srv->gen->cfg;
	struct timeval hb = { 0, HEARTBEAT_MS * 1000 };

	set_max_connections(srv, cfg, true);

	srv->ev_term = evsignal_new(srv->base, SIGTERM, signal_cb, srv);
	srv->ev_int = evsignal_new(srv->base, SIGINT, signal_cb, srv);
	srv->ev_hup = evsignal_new(srv->base, SIGHUP, signal_cb, srv);
	srv->ev_usr1 = evsignal_new(srv->base, SIGUSR1, signal_cb, srv);
	srv->ev_quit = evsignal_new(srv->base, SIGQUIT, signal_cb, srv);
	srv->ev_stop = evtimer_new(srv->base, stop_deadline_cb, srv);
	srv->ev_resume = evtimer_new(srv->base, resume_cb, srv);
	srv->ev_heartbeat = event_new(srv->base, -1, EV_PERSIST, heartbeat_cb,
	    srv);
	if (srv->ev_term == NULL || srv->ev_int == NULL ||
	    srv->ev_hup == NULL || srv->ev_usr1 == NULL ||
	    srv->ev_quit == NULL || srv->ev_stop == NULL ||
	    srv->ev_resume == NULL || srv->ev_heartbeat == NULL) {
		log_err("out of memory");
		return -1;
	}
	if (evsignal_add(srv->ev_term, NULL) == -1 ||
	    evsignal_add(srv->ev_int, NULL) == -1 ||
	    evsignal_add(srv->ev_hup, NULL) == -1 ||
	    evsignal_add(srv->ev_usr1, NULL) == -1 ||
	    evsignal_add(srv->ev_quit, NULL) == -1) {
		log_err("cannot watch signals: %s", strerror(errno));
		return -1;
	}
	if (worker_self.slot != NULL) {
		heartbeat_cb(-1, 0, srv);
		if (event_add(srv->ev_heartbeat, &hb) == -1) {
			log_err("cannot arm the heartbeat timer");
			return -1;
		}
	}
	if (backplane_configure(srv, &cfg->cluster) == -1)
		return -1;
	return 0;
}

void
server_free(struct server *srv)
{
	conn_abort_all(srv);
	backplane_stop(srv);
	listeners_close(srv);
	metrics_srv_free(srv);
	if (srv->ev_term != NULL)
		event_free(srv->ev_term);
	if (srv->ev_int != NULL)
		event_free(srv->ev_int);
	if (srv->ev_hup != NULL)
		event_free(srv->ev_hup);
	if (srv->ev_usr1 != NULL)
		event_free(srv->ev_usr1);
	if (srv->ev_quit != NULL)
		event_free(srv->ev_quit);
	if (srv->ev_heartbeat != NULL)
		event_free(srv->ev_heartbeat);
	if (srv->ev_stop != NULL)
		event_free(srv->ev_stop);
	if (srv->ev_resume != NULL)
		event_free(srv->ev_resume);
	generation_retire(srv->gen);
	generation_unref(srv->gen);
	srv->gen = NULL;
	generations_fini(&srv->gens);
	/* After the plugins' fini, which may still publish. */
	topics_fini(srv);
	host_detach();
	conn_server_fini(srv);
	if (srv->base != NULL)
		event_base_free(srv->base);
	srv->base = NULL;
	/* After every route that pointed into it is gone. */
	metrics_free();
}

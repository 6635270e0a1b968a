/*
 * master: see master.h.
 *
 * The master has no event loop: it blocks the signals it handles and
 * waits for them with sigtimedwait(), waking every SUPERVISE_MS to look
 * at its workers.  So a fork never copies a live libevent base, and each
 * worker builds its own loop from nothing.
 *
 * Listening sockets are opened here, once, and inherited by every
 * worker: all of them accept from the same queue.  A worker that dies
 * or is retired closes only its copy, so a connection waiting in the
 * queue is taken by another worker instead of being reset, which is
 * what would happen to the queue of an SO_REUSEPORT socket whose owner
 * exits.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "wsd-build.h"

#include "config.h"
#include "generation.h"
#include "log.h"
#include "master.h"
#include "metrics_srv.h"
#include "notify.h"
#include "server.h"
#include "workers.h"

#define SUPERVISE_MS	100
/* systemd's watchdog is not fed while a worker's loop is this late. */
#define UNRESPONSIVE_MS	1000
/* A worker that lived less than this before dying is restarted later. */
#define CRASH_LOOP_MS	2000
#define BACKOFF_MIN_MS	250
#define BACKOFF_MAX_MS	30000
/* How long workers have to apply a reload before the master says so. */
#define RELOAD_WAIT_MS	30000
#define LISTEN_BACKLOG	4096
/* A configuration check (plugin init and fini) may take this long. */
#define CHECK_MAX_MS	60000

#define EXIT_OK		0
#define EXIT_CONFIG	1
#define EXIT_START	3

struct mlistener {
	int		 fd;
	char		*address;	/* NULL: inherited from systemd */
	int		 port;
	char		 bound[64];
};

enum mstate { M_FREE, M_RUNNING, M_WAITING, M_RETIRING };

struct mworker {
	enum mstate	 state;
	pid_t		 pid;
	int		 number;
	uint64_t	 started_ms;
	uint64_t	 restart_at_ms;	/* M_WAITING */
	uint32_t	 backoff_ms;
	bool		 killed;	/* by our watchdog */
};

struct master {
	const struct master_opts *o;
	struct wsd_config	*cfg;
	struct worker_shm	*shm;
	struct mlistener	*ls;
	size_t			 nls;
	struct mlistener	 mls;		/* metrics; fd -1: none */
	bool			 activated;
	int			 want;
	struct mworker		 w[WORKERS_MAX];
	uint32_t		 serial;
	bool			 stopping;
	uint64_t		 stop_deadline_ms;
	bool			 ready_sent;
	uint64_t		 wd_ms, next_pet_ms;
	uint64_t		 next_status_ms;
	char			 status[256];
	char			 last_event[128];
	/* A reload the workers are applying: its number, when it began. */
	uint32_t		 reload_seq;
	uint64_t		 reload_started_ms;
	bool			 reload_pending;
	/* The process checking a new configuration (plugins included). */
	pid_t			 check_pid;
	uint64_t		 check_started_ms;
	bool			 recheck;	/* another SIGHUP came meanwhile */
	int			 exit_status;	/* a worker's failure at stop */
};

static int	 worker_main(struct master *m, int slot);

/* ---------------------------------------------------------------- listeners */

static void
describe(struct mlistener *l, const char *what)
{
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	char host[INET6_ADDRSTRLEN];

	memset(&ss, 0, sizeof(ss));
	getsockname(l->fd, (struct sockaddr *)&ss, &sl);
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
		snprintf(l->bound, sizeof(l->bound), "fd %d", l->fd);
	}
	log_notice("%s %s", what, l->bound);
}

static int
listen_open(struct mlistener *l, const char *address, int port,
    const char *what)
{
	struct sockaddr_storage ss;
	struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;
	struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;
	socklen_t sl;
	int fd, one = 1;

	memset(&ss, 0, sizeof(ss));
	memset(l, 0, sizeof(*l));
	l->fd = -1;
	if (inet_pton(AF_INET6, address, &s6->sin6_addr) == 1) {
		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons((uint16_t)port);
		sl = sizeof(*s6);
	} else if (inet_pton(AF_INET, address, &s4->sin_addr) == 1) {
		s4->sin_family = AF_INET;
		s4->sin_port = htons((uint16_t)port);
		sl = sizeof(*s4);
	} else {
		log_err("listen address %s is not an IP address", address);
		return -1;
	}
	fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
	    0);
	if (fd == -1)
		goto fail;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (ss.ss_family == AF_INET6)
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
	/* Accept only once the client has sent something (its request). */
	setsockopt(fd, IPPROTO_TCP, TCP_DEFER_ACCEPT, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&ss, sl) == -1 ||
	    listen(fd, LISTEN_BACKLOG) == -1)
		goto fail;
	l->fd = fd;
	l->port = port;
	if ((l->address = strdup(address)) == NULL) {
		close(fd);
		l->fd = -1;
		log_err("out of memory");
		return -1;
	}
	describe(l, what);
	return 0;
fail:
	log_err("cannot listen on %s%s%s:%d: %s",
	    ss.ss_family == AF_INET6 ? "[" : "", address,
	    ss.ss_family == AF_INET6 ? "]" : "", port, strerror(errno));
	if (fd != -1)
		close(fd);
	return -1;
}

static void
listeners_free(struct mlistener *ls, size_t n, bool close_fds)
{
	size_t i;

	for (i = 0; i < n; i++) {
		if (close_fds && ls[i].fd != -1)
			close(ls[i].fd);
		free(ls[i].address);
	}
	free(ls);
}

static int
effective_port(const struct master *m, const struct wsd_listen_conf *lc)
{
	return m->o->port_override >= 0 ? m->o->port_override : lc->port;
}

/*
 * The listeners cfg asks for, reusing the ones already open.  Returns
 * the new set in *out (and whether it differs from the current one), or
 * -1 with nothing changed.
 */
static int
listeners_for(struct master *m, const struct wsd_config *cfg,
    struct mlistener **out, size_t *nout, bool *changed)
{
	struct mlistener *ls;
	size_t i, j;

	*changed = false;
	if (m->activated) {
		*out = NULL;
		*nout = 0;
		return 0;
	}
	if ((ls = calloc(cfg->nlisten > 0 ? cfg->nlisten : 1,
	    sizeof(*ls))) == NULL) {
		log_err("out of memory");
		return -1;
	}
	*changed = cfg->nlisten != m->nls;
	for (i = 0; i < cfg->nlisten; i++) {
		const struct wsd_listen_conf *lc = &cfg->listen[i];
		int port = effective_port(m, lc);

		for (j = 0; j < m->nls; j++)
			if (m->ls[j].address != NULL &&
			    strcmp(m->ls[j].address, lc->address) == 0 &&
			    m->ls[j].port == port)
				break;
		if (j < m->nls) {
			ls[i] = m->ls[j];
			if ((ls[i].address = strdup(lc->address)) == NULL) {
				log_err("out of memory");
				goto undo;
			}
			ls[i].fd = -2 - (int)j;	/* borrowed; see below */
			continue;
		}
		*changed = true;
		if (listen_open(&ls[i], lc->address, port,
		    "listening on") == -1)
			goto undo;
	}
	/* Borrowed descriptors become ours now that nothing can fail. */
	for (i = 0; i < cfg->nlisten; i++)
		if (ls[i].fd <= -2)
			ls[i].fd = m->ls[-2 - ls[i].fd].fd;
	*out = ls;
	*nout = cfg->nlisten;
	return 0;
undo:
	for (j = 0; j <= i && j < cfg->nlisten; j++) {
		if (ls[j].fd >= 0)
			close(ls[j].fd);
		free(ls[j].address);
	}
	free(ls);
	return -1;
}

/* Swap in a new listener set; close what it no longer has. */
static void
listeners_install(struct master *m, struct mlistener *ls, size_t n)
{
	size_t i, j;

	for (i = 0; i < m->nls; i++) {
		for (j = 0; j < n; j++)
			if (ls[j].fd == m->ls[i].fd)
				break;
		if (j == n) {
			log_notice("no longer listening on %s", m->ls[i].bound);
			close(m->ls[i].fd);
		}
	}
	listeners_free(m->ls, m->nls, false);
	m->ls = ls;
	m->nls = n;
}

/*
 * The metrics listener cfg asks for: the open one if its address and
 * port are the same, a new one, or none (fd -1).  *changed says whether
 * it differs from the current one.  Returns 0, or -1 (nothing changed)
 * when a new one cannot be opened.
 */
static int
metrics_listener_for(struct master *m, const struct wsd_config *cfg,
    struct mlistener *out, bool *changed)
{
	const struct wsd_metrics_conf *mc = &cfg->metrics;

	memset(out, 0, sizeof(*out));
	out->fd = -1;
	*changed = false;
	if (!mc->enabled) {
		*changed = m->mls.fd != -1;
		return 0;
	}
	if (m->mls.fd != -1 && strcmp(m->mls.address, mc->address) == 0 &&
	    m->mls.port == mc->port) {
		*out = m->mls;
		return 0;
	}
	if (listen_open(out, mc->address, mc->port,
	    "metrics: GET /metrics on") == -1) {
		log_err("cannot open the metrics listener");
		return -1;
	}
	*changed = true;
	return 0;
}

/* Take the metrics listener ml (from metrics_listener_for). */
static void
metrics_listener_install(struct master *m, struct mlistener *ml)
{
	if (m->mls.fd == ml->fd)
		return;
	if (m->mls.fd != -1) {
		log_notice("metrics: no longer listening on %s", m->mls.bound);
		close(m->mls.fd);
		free(m->mls.address);
	}
	m->mls = *ml;
}

/* Reloads for wsd_config_reloads_total and the last reload's time. */
static void
reload_counted(struct master *m, bool ok)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	atomic_fetch_add(ok ? &m->shm->reloads_ok : &m->shm->reloads_failed,
	    1);
	atomic_store(&m->shm->last_reload_ms, (uint64_t)ts.tv_sec * 1000 +
	    (uint64_t)ts.tv_nsec / 1000000);
	atomic_store(&m->shm->last_reload_ok, ok ? 1 : 0);
}

/* ---------------------------------------------------------------- workers */

static int
workers_wanted(const struct wsd_config *cfg)
{
	long n;

	if (cfg->workers > 0)
		return cfg->workers;
	n = sysconf(_SC_NPROCESSORS_ONLN);
	if (n < 1)
		n = 1;
	if (n > WSD_WORKERS_MAX)
		n = WSD_WORKERS_MAX;
	return (int)n;
}

static int
free_slot(const struct master *m)
{
	int i;

	for (i = 0; i < WORKERS_MAX; i++)
		if (m->w[i].state == M_FREE)
			return i;
	return -1;
}

static void
slot_clear(struct master *m, int i)
{
	struct worker_slot *sl = &m->shm->slot[i];

	atomic_store(&sl->state, SLOT_FREE);
	atomic_store(&sl->pid, 0);
	atomic_store(&sl->nconns, 0);
}

/* Fork the worker for slot i.  Returns 0, or -1 (it is retried). */
static int
spawn(struct master *m, int i)
{
	struct mworker *w = &m->w[i];
	struct worker_slot *sl = &m->shm->slot[i];
	pid_t pid;

	atomic_store(&sl->serial, ++m->serial);
	atomic_store(&sl->number, w->number);
	atomic_store(&sl->nconns, 0);
	atomic_store(&sl->heartbeat_ms, workers_now_ms());
	atomic_store(&sl->reload_done, m->reload_seq);
	atomic_store(&sl->reload_ok, 1);
	atomic_store(&sl->state, SLOT_STARTING);
	if ((uint32_t)i >= atomic_load(&m->shm->nslots))
		atomic_store(&m->shm->nslots, (uint32_t)i + 1);
	fflush(stdout);
	fflush(stderr);
	if ((pid = fork()) == -1) {
		log_err("cannot start worker %d: %s", w->number,
		    strerror(errno));
		slot_clear(m, i);
		w->state = M_WAITING;
		w->restart_at_ms = workers_now_ms() + 1000;
		return -1;
	}
	if (pid == 0)
		exit(worker_main(m, i));
	atomic_store(&sl->pid, (int)pid);
	w->pid = pid;
	w->state = M_RUNNING;
	w->killed = false;
	w->started_ms = workers_now_ms();
	log_info("worker %d started (pid %d)", w->number, (int)pid);
	return 0;
}

static void
start_worker(struct master *m, int number)
{
	int i;

	if ((i = free_slot(m)) == -1) {
		log_err("no free worker slot for worker %d", number);
		return;
	}
	memset(&m->w[i], 0, sizeof(m->w[i]));
	m->w[i].number = number;
	spawn(m, i);
}

static void
retire(struct master *m, int i, const char *why)
{
	struct mworker *w = &m->w[i];

	if (w->state == M_WAITING) {
		w->state = M_FREE;
		slot_clear(m, i);
		return;
	}
	if (w->state != M_RUNNING)
		return;
	log_notice("retiring worker %d (pid %d): %s", w->number, (int)w->pid,
	    why);
	w->state = M_RETIRING;
	atomic_store(&m->shm->slot[i].state, SLOT_RETIRING);
	kill(w->pid, SIGQUIT);
}

static void
signal_workers(struct master *m, int sig, bool retiring_too)
{
	int i;

	for (i = 0; i < WORKERS_MAX; i++)
		if (m->w[i].state == M_RUNNING ||
		    (retiring_too && m->w[i].state == M_RETIRING))
			kill(m->w[i].pid, sig);
}

static bool
any_children(const struct master *m)
{
	int i;

	for (i = 0; i < WORKERS_MAX; i++)
		if (m->w[i].state == M_RUNNING || m->w[i].state == M_RETIRING)
			return true;
	return false;
}

static void
describe_status(int status, char *buf, size_t size)
{
	if (WIFEXITED(status))
		snprintf(buf, size, "exited with status %d",
		    WEXITSTATUS(status));
	else if (WIFSIGNALED(status))
		snprintf(buf, size, "was killed by signal %d (%s)%s",
		    WTERMSIG(status), strsignal(WTERMSIG(status)),
		    WCOREDUMP(status) ? ", core dumped" : "");
	else
		snprintf(buf, size, "ended with status 0x%x", status);
}

static void	reload(struct master *m);
static void	reload_apply(struct master *m);

static void
check_done(struct master *m, int status)
{
	char how[96];

	m->check_pid = 0;
	if (m->stopping)
		return;
	if (WIFEXITED(status) && WEXITSTATUS(status) == EXIT_OK) {
		reload_apply(m);
	} else {
		if (!WIFEXITED(status) || WEXITSTATUS(status) != EXIT_CONFIG) {
			describe_status(status, how, sizeof(how));
			log_err("the configuration check %s", how);
		}
		log_err("reload failed: still running the previous "
		    "configuration");
		notify_send("READY=1\nSTATUS=reload failed; running the "
		    "previous configuration");
		reload_counted(m, false);
	}
	if (m->recheck) {
		m->recheck = false;
		reload(m);
	}
}

/* Collect dead workers; restart the ones that should run. */
static void
reap(struct master *m)
{
	char how[96];
	uint64_t now, lived;
	struct mworker *w;
	pid_t pid;
	int status, i;

	while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
		if (pid == m->check_pid) {
			check_done(m, status);
			continue;
		}
		for (i = 0; i < WORKERS_MAX; i++)
			if (m->w[i].pid == pid && m->w[i].state != M_FREE &&
			    m->w[i].state != M_WAITING)
				break;
		if (i == WORKERS_MAX)
			continue;	/* a plugin's child, say */
		w = &m->w[i];
		describe_status(status, how, sizeof(how));
		slot_clear(m, i);
		w->pid = 0;
		if (m->stopping || w->state == M_RETIRING) {
			if (WIFEXITED(status) && WEXITSTATUS(status) == 0) {
				log_info("worker %d (pid %d) done", w->number,
				    (int)pid);
			} else {
				log_warn("worker %d (pid %d) %s", w->number,
				    (int)pid, how);
				/* Sanitizers and valgrind report this way. */
				if (m->exit_status == 0)
					m->exit_status = WIFEXITED(status) ?
					    WEXITSTATUS(status) : 128 +
					    WTERMSIG(status);
			}
			w->state = M_FREE;
			continue;
		}
		now = workers_now_ms();
		lived = now - w->started_ms;
		if (lived < CRASH_LOOP_MS)
			w->backoff_ms = w->backoff_ms == 0 ? BACKOFF_MIN_MS :
			    w->backoff_ms * 2 > BACKOFF_MAX_MS ?
			    BACKOFF_MAX_MS : w->backoff_ms * 2;
		else
			w->backoff_ms = 0;
		w->state = M_WAITING;
		w->restart_at_ms = now + w->backoff_ms;
		m->next_status_ms = 0;	/* tell systemd now */
		if (w->killed)
			snprintf(m->last_event, sizeof(m->last_event),
			    "worker %d was unresponsive and killed",
			    w->number);
		else
			snprintf(m->last_event, sizeof(m->last_event),
			    "worker %d %s", w->number, how);
		if (w->backoff_ms > 0)
			log_err("worker %d (pid %d) %s; restarting it in "
			    "%u.%02u s", w->number, (int)pid, how,
			    w->backoff_ms / 1000, w->backoff_ms % 1000 / 10);
		else
			log_err("worker %d (pid %d) %s; restarting it",
			    w->number, (int)pid, how);
	}
}

/* ---------------------------------------------------------------- checks */

/*
 * Check the configuration file as `wsd -t` does, plugins included (their
 * init, then fini), in a child process: plugin code never runs in the
 * master, so a plugin that crashes in init fails the reload, not the
 * daemon.  The child's lines start with "check: ".
 */
static void
check_start(struct master *m)
{
	struct wsd_errors errs = { NULL, 0 };
	struct wsd_config *cfg;
	struct server srv;
	sigset_t none;
	size_t i;
	pid_t pid;
	int status;

	fflush(stdout);
	fflush(stderr);
	if ((pid = fork()) == -1) {
		log_err("cannot check the configuration: %s", strerror(errno));
		log_err("reload failed: still running the previous "
		    "configuration");
		return;
	}
	if (pid > 0) {
		m->check_pid = pid;
		m->check_started_ms = workers_now_ms();
		return;
	}
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	setpgid(0, 0);
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	log_set_prefix("check: ");
	unsetenv("NOTIFY_SOCKET");
	listeners_free(m->ls, m->nls, false);
	free(m->mls.address);
	config_free(m->cfg);
	m->ls = NULL;
	m->cfg = NULL;
	status = EXIT_CONFIG;
	memset(&srv, 0, sizeof(srv));
	/* generation_new() takes cfg, whatever it returns. */
	if ((cfg = config_load_check(m->o->config_file,
	    m->o->plugin_dir_default, &errs)) != NULL) {
		if (server_init(&srv) == -1)
			config_free(cfg);
		else if ((srv.gen = generation_new(&srv.gens, cfg,
		    &errs)) != NULL)
			status = EXIT_OK;
	}
	for (i = 0; i < errs.n; i++)
		log_err("%s", errs.msg[i]);
	errors_clear(&errs);
	server_free(&srv);
	free(m);
	exit(status);
}

/* ---------------------------------------------------------------- signals */

static void
begin_stop(struct master *m, const char *why)
{
	int i;

	if (m->stopping) {
		log_notice("%s again: workers stop now", why);
		signal_workers(m, SIGTERM, true);
		return;
	}
	m->stopping = true;
	m->stop_deadline_ms = workers_now_ms() +
	    m->cfg->limits.close_timeout_ms + 5000;
	notify_send("STOPPING=1\nSTATUS=stopping, closing %llu "
	    "connection(s)", (unsigned long long)
	    workers_total_conns(m->shm));
	log_notice("%s: stopping", why);
	if (m->check_pid != 0)
		kill(m->check_pid, SIGKILL);
	for (i = 0; i < WORKERS_MAX; i++)
		if (m->w[i].state == M_WAITING) {
			m->w[i].state = M_FREE;
			slot_clear(m, i);
		}
	signal_workers(m, SIGTERM, true);
}

/* SIGHUP: check the new configuration first (check_start). */
static void
reload(struct master *m)
{
	if (m->check_pid != 0) {
		m->recheck = true;
		return;
	}
	log_notice("reloading %s", m->o->config_file);
	notify_send("RELOADING=1\nMONOTONIC_USEC=%llu",
	    (unsigned long long)workers_now_ms() * 1000);
	check_start(m);
}

static void
new_ticket_key(struct master *m)
{
	if (getrandom(m->shm->ticket_key, sizeof(m->shm->ticket_key), 0) !=
	    (ssize_t)sizeof(m->shm->ticket_key))
		log_warn("no randomness for TLS ticket keys: %s; each worker "
		    "makes its own", strerror(errno));
}

/* The check passed: apply the configuration. */
static void
reload_apply(struct master *m)
{
	struct wsd_errors errs = { NULL, 0 };
	struct wsd_config *cfg;
	struct mlistener *ls, ml;
	size_t nls, i;
	bool changed, mchanged;
	int want, old, n;

	if ((cfg = config_load(m->o->config_file, m->o->plugin_dir_default,
	    &errs)) == NULL) {
		/* The file changed again since the check. */
		for (i = 0; i < errs.n; i++)
			log_err("%s", errs.msg[i]);
		errors_clear(&errs);
		goto failed;
	}
	if (metrics_listener_for(m, cfg, &ml, &mchanged) == -1) {
		config_free(cfg);
		goto failed;
	}
	if (listeners_for(m, cfg, &ls, &nls, &changed) == -1) {
		config_free(cfg);
		if (ml.fd != -1 && ml.fd != m->mls.fd) {
			close(ml.fd);
			free(ml.address);
		}
		log_err("cannot open the new listeners");
		goto failed;
	}
	log_set_level(cfg->log_level);
	config_free(m->cfg);
	m->cfg = cfg;
	want = workers_wanted(cfg);
	/* Tickets issued before a reload no longer resume (rotation). */
	new_ticket_key(m);
	m->reload_seq++;
	atomic_store(&m->shm->reload_seq, m->reload_seq);
	m->reload_started_ms = workers_now_ms();
	m->reload_pending = true;

	if (changed || mchanged) {
		/*
		 * Workers cannot take up new sockets: a fresh set of workers
		 * serves the new listeners while the old ones finish with
		 * the connections they hold.  The metrics listener is one
		 * of them.
		 */
		for (i = 0; i < WORKERS_MAX; i++)
			retire(m, (int)i, "the listeners changed");
		if (changed)
			listeners_install(m, ls, nls);
		else
			listeners_free(ls, nls, false);
		metrics_listener_install(m, &ml);
		for (n = 0; n < want; n++)
			start_worker(m, n);
		m->want = want;
		return;
	}
	listeners_free(ls, nls, false);
	/* Reload in place, then add or retire workers. */
	signal_workers(m, SIGHUP, false);
	old = m->want;
	for (i = 0; i < WORKERS_MAX; i++)
		if ((m->w[i].state == M_RUNNING ||
		    m->w[i].state == M_WAITING) && m->w[i].number >= want)
			retire(m, (int)i, "fewer workers configured");
	for (n = old; n < want; n++)
		start_worker(m, n);
	m->want = want;
	return;
failed:
	log_err("reload failed: still running the previous configuration");
	notify_send("READY=1\nSTATUS=reload failed; running the previous "
	    "configuration");
	reload_counted(m, false);
}

/* Have the workers applied the reload?  Say so once they all have. */
static void
reload_check(struct master *m, uint64_t now)
{
	int i, pending = 0, failed = 0;

	if (!m->reload_pending)
		return;
	for (i = 0; i < WORKERS_MAX; i++) {
		const struct worker_slot *sl = &m->shm->slot[i];

		if (m->w[i].state != M_RUNNING)
			continue;
		if (atomic_load(&sl->state) != SLOT_READY ||
		    atomic_load(&sl->reload_done) != m->reload_seq)
			pending++;
		else if (!atomic_load(&sl->reload_ok))
			failed++;
	}
	if (pending > 0 && now - m->reload_started_ms < RELOAD_WAIT_MS)
		return;
	m->reload_pending = false;
	if (pending > 0)
		log_warn("reload: %d worker(s) have not applied it after %d s",
		    pending, RELOAD_WAIT_MS / 1000);
	if (failed > 0)
		log_err("reload failed in %d worker(s); they run the previous "
		    "configuration", failed);
	reload_counted(m, failed == 0);
	log_notice("reloaded: %zu route(s), %d worker(s)", m->cfg->nroutes,
	    m->want);
	m->next_status_ms = 0;
	m->status[0] = '\0';
	notify_send("READY=1\nSTATUS=reloaded; %zu route(s), %d worker(s)",
	    m->cfg->nroutes, m->want);
}

/* ---------------------------------------------------------------- supervision */

static bool
all_ready(const struct master *m)
{
	int i, n = 0;

	for (i = 0; i < WORKERS_MAX; i++) {
		if (m->w[i].state == M_WAITING)
			return false;
		if (m->w[i].state != M_RUNNING)
			continue;
		if (atomic_load(&m->shm->slot[i].state) != SLOT_READY)
			return false;
		n++;
	}
	return n == m->want;
}

/* systemd's STATUS=: what a `systemctl status` reader wants to know. */
static void
status_line(const struct master *m, int running, char *buf, size_t size)
{
	snprintf(buf, size, "%llu connection(s), %d worker(s)%s%s%s",
	    (unsigned long long)workers_total_conns(m->shm), running,
	    m->stopping ? ", stopping" : "",
	    m->last_event[0] != '\0' ? "; last: " : "", m->last_event);
}

static void
tick(struct master *m)
{
	uint64_t now = workers_now_ms(), age, timeout;
	char status[sizeof(m->status)];
	bool fresh = true;
	int i, running = 0;

	log_tick();
	for (i = 0; i < WORKERS_MAX; i++) {
		struct mworker *w = &m->w[i];
		const struct worker_slot *sl = &m->shm->slot[i];

		if (w->state == M_WAITING && !m->stopping &&
		    now >= w->restart_at_ms)
			spawn(m, i);
		if (w->state != M_RUNNING && w->state != M_RETIRING)
			continue;
		if (w->state == M_RUNNING)
			running++;
		if (atomic_load(&sl->state) == SLOT_STARTING)
			continue;
		age = workers_age_ms(now, atomic_load(&sl->heartbeat_ms));
		timeout = m->cfg->worker_timeout_ms;
		if (timeout > 0 && age > timeout && !w->killed) {
			log_err("worker %d (pid %d) has not run its event loop "
			    "for %llu ms; killing it", w->number, (int)w->pid,
			    (unsigned long long)age);
			w->killed = true;
			kill(w->pid, SIGKILL);
		}
		if (age > UNRESPONSIVE_MS)
			fresh = false;
	}

	if (m->check_pid != 0 && now - m->check_started_ms > CHECK_MAX_MS) {
		log_err("the configuration check has run for %d s; killing it",
		    CHECK_MAX_MS / 1000);
		kill(m->check_pid, SIGKILL);
		m->check_started_ms = now;
	}

	if (!m->ready_sent && all_ready(m)) {
		m->ready_sent = true;
		log_notice("%d worker(s) ready", m->want);
		status_line(m, running, m->status, sizeof(m->status));
		notify_send("READY=1\nSTATUS=%s", m->status);
	}
	reload_check(m, now);

	/* systemd's watchdog hears from us only while every worker runs. */
	if (m->wd_ms > 0 && now >= m->next_pet_ms && fresh) {
		notify_send("WATCHDOG=1");
		m->next_pet_ms = now + m->wd_ms / 2;
	}

	if (now >= m->next_status_ms) {
		m->next_status_ms = now + 1000;
		status_line(m, running, status, sizeof(status));
		if (strcmp(status, m->status) != 0) {
			memcpy(m->status, status, sizeof(status));
			notify_send("STATUS=%s", status);
		}
	}

	if (m->stopping && now > m->stop_deadline_ms && any_children(m)) {
		log_warn("workers still running past the stop deadline: "
		    "killing them");
		signal_workers(m, SIGKILL, true);
		m->stop_deadline_ms = UINT64_MAX;
	}
}

/* ---------------------------------------------------------------- worker */

/* The child side of spawn(): become worker slot i and serve. */
static int
worker_main(struct master *m, int i)
{
	struct wsd_errors errs = { NULL, 0 };
	struct wsd_config *cfg;
	struct server srv;
	sigset_t none;
	char prefix[32];
	size_t k, nls = m->nls;
	int status, *fds, *ports, mfd = m->mls.fd;
	char **addrs;
	char (*bound)[64];

	/*
	 * The master's signals stay blocked until our loop watches them:
	 * a SIGHUP sent while we load the configuration waits instead of
	 * killing us (its default action).
	 *
	 * Signals reach a worker from its master only: a Ctrl-C on the
	 * terminal goes to the master's process group, not to ours, or a
	 * worker would hear it twice (itself, then relayed) and take the
	 * second for "stop now".  A master that is gone (even by SIGKILL)
	 * stops its workers.
	 */
	setpgid(0, 0);
	prctl(PR_SET_PDEATHSIG, SIGTERM);
	if (getppid() != m->shm->master_pid)
		return EXIT_START;

	worker_self.shm = m->shm;
	worker_self.slot = &m->shm->slot[i];
	worker_self.index = i;
	worker_self.number = m->w[i].number;
	worker_self.serial = atomic_load(&worker_self.slot->serial);
	snprintf(prefix, sizeof(prefix), "worker %d: ", worker_self.number);
	log_set_prefix(prefix);
	/* systemd hears from the master only. */
	unsetenv("NOTIFY_SOCKET");
	unsetenv("WATCHDOG_USEC");
	unsetenv("WATCHDOG_PID");

	/* Keep the listeners; drop the rest of the master's state. */
	fds = calloc(nls > 0 ? nls : 1, sizeof(*fds));
	bound = calloc(nls > 0 ? nls : 1, sizeof(*bound));
	ports = calloc(nls > 0 ? nls : 1, sizeof(*ports));
	addrs = calloc(nls > 0 ? nls : 1, sizeof(*addrs));
	if (fds == NULL || bound == NULL || ports == NULL || addrs == NULL) {
		log_err("out of memory");
		return EXIT_START;
	}
	for (k = 0; k < nls; k++) {
		fds[k] = m->ls[k].fd;
		memcpy(bound[k], m->ls[k].bound, sizeof(bound[k]));
		ports[k] = m->ls[k].port;
		if (m->ls[k].address != NULL &&
		    (addrs[k] = strdup(m->ls[k].address)) == NULL) {
			log_err("out of memory");
			return EXIT_START;
		}
	}
	memset(&srv, 0, sizeof(srv));
	srv.config_file = m->o->config_file;
	srv.plugin_dir_default = m->o->plugin_dir_default;
	srv.port_override = m->o->port_override;
	srv.worker = true;
	srv.nworkers = m->want;
	/* Connection ids stay unique across the daemon. */
	srv.next_id = (uint64_t)worker_self.number << 40;
	listeners_free(m->ls, m->nls, false);
	free(m->mls.address);
	config_free(m->cfg);
	m->ls = NULL;
	m->cfg = NULL;

	status = EXIT_START;
	if (server_init(&srv) == -1)
		goto out;
	if ((cfg = config_load(srv.config_file, srv.plugin_dir_default,
	    &errs)) != NULL) {
		log_set_level(cfg->log_level);
		srv.gen = generation_new(&srv.gens, cfg, &errs);
		if (srv.gen != NULL)
			server_access_log(srv.gen->cfg, false);
	}
	if (srv.gen == NULL) {
		for (k = 0; k < errs.n; k++)
			log_err("%s", errs.msg[k]);
		errors_clear(&errs);
		status = EXIT_CONFIG;
		goto out;
	}
	if (server_start(&srv) == -1)
		goto out;
	for (k = 0; k < nls; k++)
		if (server_add_listener(&srv, fds[k], bound[k], addrs[k],
		    ports[k], k) == -1)
			goto out;
	if (metrics_srv_start(&srv, mfd) == -1)
		goto out;
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	atomic_store(&worker_self.slot->state, SLOT_READY);
	log_attach(srv.base);
	status = event_base_dispatch(srv.base) == -1 ? EXIT_START : EXIT_OK;
	log_detach();
out:
	server_free(&srv);
	log_access_close();
	for (k = 0; k < nls; k++)
		free(addrs[k]);
	free(addrs);
	free(ports);
	free(fds);
	free(bound);
	return status;
}

/* ---------------------------------------------------------------- run */

int
master_run(const struct master_opts *o, struct wsd_config *cfg)
{
	struct master *m;
	struct mlistener *ls;
	struct timespec ts = { 0, SUPERVISE_MS * 1000000L };
	siginfo_t si;
	sigset_t set, old;
	bool changed;
	size_t nls, i;
	int sig, n, nfds, status = EXIT_OK, m_status;

	if ((m = calloc(1, sizeof(*m))) == NULL) {
		log_err("out of memory");
		config_free(cfg);
		return EXIT_START;
	}
	m->o = o;
	m->cfg = cfg;
	m->shm = mmap(NULL, sizeof(*m->shm), PROT_READ | PROT_WRITE,
	    MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (m->shm == MAP_FAILED) {
		log_err("cannot map the workers' shared memory: %s",
		    strerror(errno));
		config_free(cfg);
		free(m);
		return EXIT_START;
	}
	memset(m->shm, 0, sizeof(*m->shm));
	m->shm->master_pid = (int)getpid();
	m->mls.fd = -1;
	atomic_store(&m->shm->last_reload_ok, 1);
	{
		struct timespec now;

		clock_gettime(CLOCK_REALTIME, &now);
		m->shm->start_ms = (uint64_t)now.tv_sec * 1000 +
		    (uint64_t)now.tv_nsec / 1000000;
	}
	new_ticket_key(m);
	if (getrandom(&m->shm->node_id, sizeof(m->shm->node_id), 0) !=
	    sizeof(m->shm->node_id))
		m->shm->node_id = ((uint64_t)getpid() << 32) ^
		    workers_now_ms();

	/* The signals are read with sigtimedwait; workers unblock them. */
	sigemptyset(&set);
	sigaddset(&set, SIGCHLD);
	sigaddset(&set, SIGHUP);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGUSR1);
	sigaddset(&set, SIGQUIT);
	sigprocmask(SIG_BLOCK, &set, &old);

	if ((nfds = notify_listen_fds()) > 0) {
		/* Socket activation: systemd's sockets replace `listen`. */
		m->activated = true;
		if ((m->ls = calloc((size_t)nfds, sizeof(*m->ls))) == NULL) {
			log_err("out of memory");
			status = EXIT_START;
			goto out;
		}
		for (n = 0; n < nfds; n++) {
			m->ls[n].fd = 3 + n;
			m->ls[n].port = -1;
			describe(&m->ls[n], "listening on");
		}
		m->nls = (size_t)nfds;
	} else if (listeners_for(m, cfg, &ls, &nls, &changed) == -1) {
		status = EXIT_START;
		goto out;
	} else {
		m->ls = ls;
		m->nls = nls;
	}

	{
		struct mlistener ml;

		if (metrics_listener_for(m, cfg, &ml, &changed) == -1) {
			status = EXIT_START;
			goto out;
		}
		m->mls = ml;
	}
	m->wd_ms = notify_watchdog_usec() / 1000;
	m->want = workers_wanted(cfg);
	log_notice("wsd %s started: %zu route(s), %d worker(s)",
	    PACKAGE_VERSION, cfg->nroutes, m->want);
	for (n = 0; n < m->want; n++)
		start_worker(m, n);

	for (;;) {
		/* Look more often while workers apply a reload. */
		ts.tv_nsec = (m->reload_pending || m->check_pid != 0 ?
		    5 : SUPERVISE_MS) * 1000000L;
		sig = sigtimedwait(&set, &si, &ts);
		switch (sig) {
		case SIGTERM:
			begin_stop(m, "SIGTERM");
			break;
		case SIGINT:
			begin_stop(m, "SIGINT");
			break;
		case SIGQUIT:
			begin_stop(m, "SIGQUIT");
			break;
		case SIGHUP:
			if (!m->stopping)
				reload(m);
			break;
		case SIGUSR1:
			log_notice("SIGUSR1: plugins reopen their log files");
			signal_workers(m, SIGUSR1, true);
			break;
		default:
			break;
		}
		reap(m);
		if (m->stopping && !any_children(m) && m->check_pid == 0)
			break;
		tick(m);
	}
	log_detach();	/* counts of repeated warnings */
	log_notice("stopped");
out:
	m_status = m->exit_status;
	for (i = 0; i < m->nls; i++)
		if (m->ls[i].fd >= 0)
			close(m->ls[i].fd);
	listeners_free(m->ls, m->nls, false);
	if (m->mls.fd != -1)
		close(m->mls.fd);
	free(m->mls.address);
	config_free(m->cfg);
	munmap(m->shm, sizeof(*m->shm));
	free(m);
	sigprocmask(SIG_SETMASK, &old, NULL);
	return status != EXIT_OK ? status : m_status;
}

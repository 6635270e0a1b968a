/*
 * metrics_srv: GET /metrics on the `metrics` listener, and the sum over
 * every worker in one scrape.
 *
 * The master opens the metrics listener like the others and every worker
 * accepts from it; a scrape is not a WebSocket connection and does not
 * count against max_connections.  The worker that accepts a scrape
 * gathers the other workers' figures: each worker also listens on the
 * abstract Unix socket "\0wsd.<master pid>.<serial>.metrics" (only its
 * own uid may connect, SO_PEERCRED) and answers a connection with its
 * rendered text, then closes it.  The scraping worker connects to every
 * READY or RETIRING slot, reads each text to EOF (all of them at once,
 * from its loop, never blocking it), merges the samples that have the
 * same name and labels by summing them, and answers.  A worker that does
 * not answer within GATHER_MS is left out and counted in
 * wsd_scrape_workers_missing.
 *
 * Why text and not shared memory: routes and plugin metrics come and go
 * with the configuration, so their figures do not fit a fixed region;
 * and a worker stuck in a plugin cannot answer, which the scrape then
 * says instead of showing stale numbers.
 */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include "wsd-build.h"

#include "backplane.h"
#include "http.h"
#include "log.h"
#include "metrics.h"
#include "metrics_srv.h"
#include "peers.h"
#include "server.h"
#include "workers.h"

/* A request head bigger than this is refused (431). */
#define REQ_MAX		8192
/* A scrape must send its request and take its answer within these. */
#define READ_MS		5000
#define WRITE_MS	10000
/* How long the other workers have to answer. */
#define GATHER_MS	2000
/* Scrapes served at once by one worker; more are closed. */
#define SCRAPES_MAX	16
/* Another worker's text is not read past this. */
#define PEER_TEXT_MAX	(64 * 1024 * 1024)

struct scrape;

struct fetch {
	struct scrape		*s;
	int			 fd;
	struct event		*ev;
	struct mbuf		 text;
	bool			 done;
};

enum scrape_phase { SC_READ, SC_GATHER, SC_WRITE };

struct scrape {
	struct msrv		*ms;
	int			 fd;
	struct event		*ev;
	struct event		*timer;
	enum scrape_phase	 phase;
	char			 req[REQ_MAX];
	size_t			 rlen;
	bool			 head_only;
	struct mbuf		 out;
	size_t			 off;
	struct fetch		*fetches;
	size_t			 nfetch, pending;
	struct scrape		*next;
};

/* Another worker reading our figures. */
struct serve {
	struct msrv		*ms;
	int			 fd;
	struct event		*ev;
	struct event		*timer;
	struct mbuf		 text;
	size_t			 off;
	struct serve		*next;
};

struct msrv {
	struct server		*srv;
	int			 lfd;		/* the scrape listener; -1 */
	struct event		*lev;
	int			 pfd;		/* the peer socket; -1 */
	struct event		*pev;
	struct scrape		*scrapes;
	size_t			 nscrapes;
	struct serve		*serves;
	size_t			 nserves;
};

static void	scrape_free(struct scrape *s);
static void	scrape_respond(struct scrape *s);
static void	scrape_cb(evutil_socket_t fd, short what, void *arg);

/* ---------------------------------------------------------------- figures */

static uint64_t
count_fds(void)
{
	struct dirent *de;
	uint64_t n = 0;
	DIR *d;

	if ((d = opendir("/proc/self/fd")) == NULL)
		return 0;
	while ((de = readdir(d)) != NULL)
		if (de->d_name[0] != '.')
			n++;
	closedir(d);
	return n > 0 ? n - 1 : 0;	/* not the one opendir holds */
}

static void
read_sys(struct server *srv, struct metrics_sys *sys)
{
	struct backplane_stats st;
	struct rusage ru;
	struct rlimit rl;
	unsigned long long vsz = 0, rss = 0;
	long page = sysconf(_SC_PAGESIZE);
	FILE *f;

	memset(sys, 0, sizeof(*sys));
	if (getrusage(RUSAGE_SELF, &ru) == 0)
		sys->cpu_seconds = (double)ru.ru_utime.tv_sec +
		    (double)ru.ru_utime.tv_usec / 1e6 +
		    (double)ru.ru_stime.tv_sec +
		    (double)ru.ru_stime.tv_usec / 1e6;
	if ((f = fopen("/proc/self/statm", "re")) != NULL) {
		if (fscanf(f, "%llu %llu", &vsz, &rss) != 2)
			vsz = rss = 0;
		fclose(f);
	}
	sys->vsize_bytes = vsz * (unsigned long long)(page > 0 ? page : 4096);
	sys->rss_bytes = rss * (unsigned long long)(page > 0 ? page : 4096);
	sys->open_fds = count_fds();
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0)
		sys->max_fds = rl.rlim_cur == RLIM_INFINITY ? 0 :
		    (uint64_t)rl.rlim_cur;
	sys->conns = srv->nconns;
	sys->worker = worker_self.slot != NULL ? worker_self.number : 0;
	sys->peer_dropped = srv->peers != NULL ? peers_dropped(srv->peers) :
	    0;
	if (srv->gen != NULL && srv->gen->cfg->cluster.redis != NULL) {
		backplane_get_stats(srv->backplane, &st);
		sys->backplane = true;
		sys->bp_up = st.connected;
		sys->bp_reconnects = st.reconnects;
		sys->bp_published = st.published;
		sys->bp_received = st.received;
		sys->bp_not_relayed = st.dropped_down + st.dropped_full +
		    st.dropped_too_big + st.dropped_bad_utf8 +
		    st.dropped_bad_envelope + st.publish_errors;
	}
}

static void
render_self(struct server *srv, struct mbuf *b)
{
	struct metrics_sys sys;

	read_sys(srv, &sys);
	metrics_render(b, &sys);
}

static void
read_daemon(struct metrics_daemon *d, uint64_t missing)
{
	const struct worker_shm *shm = worker_self.shm;
	uint32_t i, n;

	memset(d, 0, sizeof(*d));
	d->version = PACKAGE_VERSION;
	d->abi_major = WSD_ABI_MAJOR;
	d->abi_minor = WSD_ABI_MINOR;
	d->missing = missing;
	d->last_reload_ok = true;
	if (shm == NULL)
		return;
	n = atomic_load(&shm->nslots);
	for (i = 0; i < n && i < WORKERS_MAX; i++)
		if (atomic_load(&shm->slot[i].state) == SLOT_READY)
			d->workers++;
	d->reloads_ok = atomic_load(&shm->reloads_ok);
	d->reloads_failed = atomic_load(&shm->reloads_failed);
	d->last_reload = (double)atomic_load(&shm->last_reload_ms) / 1000.0;
	d->last_reload_ok = atomic_load(&shm->last_reload_ok) != 0;
	d->start_time = (double)shm->start_ms / 1000.0;
}

/* ---------------------------------------------------------------- peers */

static void
serve_free(struct serve *v)
{
	struct serve **pp;

	for (pp = &v->ms->serves; *pp != NULL; pp = &(*pp)->next)
		if (*pp == v) {
			*pp = v->next;
			break;
		}
	v->ms->nserves--;
	event_free(v->ev);
	event_free(v->timer);
	close(v->fd);
	mbuf_free(&v->text);
	free(v);
}

static void
serve_cb(evutil_socket_t fd, short what, void *arg)
{
	struct serve *v = arg;
	ssize_t n;

	if (what & EV_TIMEOUT) {
		serve_free(v);
		return;
	}
	while (v->off < v->text.len) {
		n = send(fd, v->text.p + v->off, v->text.len - v->off,
		    MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n > 0) {
			v->off += (size_t)n;
			continue;
		}
		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			return;
		break;
	}
	serve_free(v);
}

static void
peer_accept_cb(evutil_socket_t lfd, short what, void *arg)
{
	struct msrv *ms = arg;
	struct timeval tv = { GATHER_MS / 1000 + 1, 0 };
	struct ucred cred;
	socklen_t cl = sizeof(cred);
	struct serve *v;
	int fd;

	(void)what;
	if ((fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC)) ==
	    -1)
		return;
	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &cl) == -1 ||
	    cl != sizeof(cred) || cred.uid != getuid() ||
	    ms->nserves >= SCRAPES_MAX * 2 ||
	    (v = calloc(1, sizeof(*v))) == NULL) {
		close(fd);
		return;
	}
	v->ms = ms;
	v->fd = fd;
	render_self(ms->srv, &v->text);
	v->ev = event_new(ms->srv->base, fd, EV_WRITE | EV_PERSIST, serve_cb,
	    v);
	v->timer = evtimer_new(ms->srv->base, serve_cb, v);
	v->next = ms->serves;
	ms->serves = v;
	ms->nserves++;
	if (v->text.failed || v->ev == NULL || v->timer == NULL ||
	    event_add(v->ev, NULL) == -1 || evtimer_add(v->timer, &tv) == -1)
		serve_free(v);
}

static size_t
metrics_sock_name(char *buf, size_t size, int master_pid, uint32_t serial)
{
	size_t n = workers_peer_name(buf, size, master_pid, serial);
	int k;

	if (n == 0)
		return 0;
	k = snprintf(buf + n, size - n, ".metrics");
	if (k < 0 || (size_t)k >= size - n)
		return 0;
	return n + (size_t)k;
}

static int
peer_listen(struct msrv *ms)
{
	struct sockaddr_un sun;
	size_t n;
	int fd;

	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	n = metrics_sock_name(sun.sun_path, sizeof(sun.sun_path),
	    worker_self.shm->master_pid, worker_self.serial);
	if (n == 0)
		return -1;
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
	    0)) == -1)
		return -1;
	if (bind(fd, (struct sockaddr *)&sun,
	    (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n)) == -1 ||
	    listen(fd, 64) == -1) {
		log_err("metrics: cannot listen on @%s: %s", sun.sun_path + 1,
		    strerror(errno));
		close(fd);
		return -1;
	}
	ms->pfd = fd;
	ms->pev = event_new(ms->srv->base, fd, EV_READ | EV_PERSIST,
	    peer_accept_cb, ms);
	if (ms->pev == NULL || event_add(ms->pev, NULL) == -1)
		return -1;
	return 0;
}

/* ---------------------------------------------------------------- gather */

static void
fetch_end(struct fetch *f)
{
	if (f->done)
		return;
	f->done = true;
	if (f->ev != NULL) {
		event_free(f->ev);
		f->ev = NULL;
	}
	if (f->fd != -1) {
		close(f->fd);
		f->fd = -1;
	}
	if (--f->s->pending == 0)
		scrape_respond(f->s);
}

static void
fetch_cb(evutil_socket_t fd, short what, void *arg)
{
	struct fetch *f = arg;
	char buf[16384];
	ssize_t n;

	(void)what;
	for (;;) {
		n = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);
		if (n > 0) {
			mbuf_add(&f->text, buf, (size_t)n);
			if (f->text.failed || f->text.len > PEER_TEXT_MAX) {
				mbuf_free(&f->text);
				f->text.failed = true;
				fetch_end(f);
				return;
			}
			continue;
		}
		if (n == 0) {
			fetch_end(f);	/* complete */
			return;
		}
		if (errno == EAGAIN || errno == EINTR)
			return;
		f->text.failed = true;
		fetch_end(f);
		return;
	}
}

/* Connect to every other live worker; pending counts the ones asked. */
static void
gather_start(struct scrape *s)
{
	const struct worker_shm *shm = worker_self.shm;
	struct sockaddr_un sun;
	uint32_t i, nslots;
	struct fetch *f;
	size_t n;
	int st;

	if (shm == NULL)
		return;
	nslots = atomic_load(&shm->nslots);
	if ((s->fetches = calloc(nslots > 0 ? nslots : 1,
	    sizeof(*s->fetches))) == NULL)
		return;
	for (i = 0; i < nslots && i < WORKERS_MAX; i++) {
		const struct worker_slot *sl = &shm->slot[i];

		st = atomic_load(&sl->state);
		if ((int)i == worker_self.index ||
		    (st != SLOT_READY && st != SLOT_RETIRING))
			continue;
		f = &s->fetches[s->nfetch++];
		f->s = s;
		f->fd = -1;
		memset(&sun, 0, sizeof(sun));
		sun.sun_family = AF_UNIX;
		n = metrics_sock_name(sun.sun_path, sizeof(sun.sun_path),
		    shm->master_pid, atomic_load(&sl->serial));
		if (n == 0 || (f->fd = socket(AF_UNIX, SOCK_STREAM |
		    SOCK_NONBLOCK | SOCK_CLOEXEC, 0)) == -1 ||
		    connect(f->fd, (struct sockaddr *)&sun, (socklen_t)
		    (offsetof(struct sockaddr_un, sun_path) + n)) == -1 ||
		    (f->ev = event_new(s->ms->srv->base, f->fd,
		    EV_READ | EV_PERSIST, fetch_cb, f)) == NULL ||
		    event_add(f->ev, NULL) == -1) {
			/* Not there (yet, or any more): missing. */
			f->text.failed = true;
			if (f->ev != NULL)
				event_free(f->ev);
			f->ev = NULL;
			if (f->fd != -1)
				close(f->fd);
			f->fd = -1;
			f->done = true;
			continue;
		}
		s->pending++;
	}
}

/* ---------------------------------------------------------------- scrape */

static void
scrape_free(struct scrape *s)
{
	struct scrape **pp;
	size_t i;

	for (pp = &s->ms->scrapes; *pp != NULL; pp = &(*pp)->next)
		if (*pp == s) {
			*pp = s->next;
			break;
		}
	s->ms->nscrapes--;
	for (i = 0; i < s->nfetch; i++) {
		struct fetch *f = &s->fetches[i];

		if (f->ev != NULL)
			event_free(f->ev);
		if (f->fd != -1)
			close(f->fd);
		mbuf_free(&f->text);
	}
	free(s->fetches);
	event_free(s->ev);
	event_free(s->timer);
	close(s->fd);
	mbuf_free(&s->out);
	free(s);
}

static void
scrape_write(struct scrape *s)
{
	ssize_t n;

	while (s->off < s->out.len) {
		n = send(s->fd, s->out.p + s->off, s->out.len - s->off,
		    MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n > 0) {
			s->off += (size_t)n;
			continue;
		}
		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			return;		/* EV_WRITE brings us back */
		break;
	}
	shutdown(s->fd, SHUT_WR);
	scrape_free(s);
}

/* Switch s to writing what s->out holds. */
static void
scrape_send(struct scrape *s)
{
	struct timeval tv = { WRITE_MS / 1000, (WRITE_MS % 1000) * 1000 };

	s->phase = SC_WRITE;
	event_del(s->ev);
	event_assign(s->ev, s->ms->srv->base, s->fd, EV_WRITE | EV_PERSIST,
	    scrape_cb, s);
	if (event_add(s->ev, NULL) == -1 || evtimer_add(s->timer, &tv) == -1) {
		scrape_free(s);
		return;
	}
	scrape_write(s);
}

static void
scrape_error(struct scrape *s, int status, const char *extra)
{
	const char *reason = http_reason(status);

	mbuf_free(&s->out);
	mbuf_printf(&s->out, "HTTP/1.1 %d %s\r\n"
	    "Content-Type: text/plain; charset=utf-8\r\n"
	    "Content-Length: %zu\r\n%s"
	    "Connection: close\r\n\r\n", status, reason,
	    strlen(reason) + 5, extra);
	if (!s->head_only)
		mbuf_printf(&s->out, "%d %s\n", status, reason);
	scrape_send(s);
}

/* Everyone answered or the time is up: merge, answer. */
static void
scrape_respond(struct scrape *s)
{
	struct metrics_merge *mm;
	struct metrics_daemon d;
	struct mbuf own = { NULL, 0, 0, false }, body = { NULL, 0, 0, false };
	uint64_t missing = 0;
	size_t i;

	if (s->phase != SC_GATHER)
		return;
	evtimer_del(s->timer);
	render_self(s->ms->srv, &own);
	if ((mm = metrics_merge_new()) == NULL ||
	    metrics_merge_add(mm, own.p != NULL ? own.p : "", own.len) == -1)
		goto fail;
	for (i = 0; i < s->nfetch; i++) {
		struct fetch *f = &s->fetches[i];

		/* Those that did not finish are missing, not half-counted. */
		if (!f->done || f->text.failed) {
			missing++;
			continue;
		}
		if (metrics_merge_add(mm, f->text.p != NULL ? f->text.p : "",
		    f->text.len) == -1)
			goto fail;
	}
	metrics_merge_render(mm, &body);
	read_daemon(&d, missing);
	metrics_render_daemon(&body, &d);
	if (own.failed || body.failed)
		goto fail;
	metrics_merge_free(mm);
	mbuf_free(&own);
	mbuf_free(&s->out);
	mbuf_printf(&s->out, "HTTP/1.1 200 OK\r\n"
	    "Content-Type: text/plain; version=0.0.4; charset=utf-8\r\n"
	    "Content-Length: %zu\r\n"
	    "Cache-Control: no-store\r\n"
	    "Connection: close\r\n\r\n", body.len);
	if (!s->head_only)
		mbuf_add(&s->out, body.p, body.len);
	mbuf_free(&body);
	if (s->out.failed) {
		scrape_free(s);
		return;
	}
	scrape_send(s);
	return;
fail:
	metrics_merge_free(mm);
	mbuf_free(&own);
	mbuf_free(&body);
	scrape_error(s, 500, "");
}

static void
scrape_request(struct scrape *s, const struct http_request *req)
{
	struct timeval tv = { GATHER_MS / 1000, (GATHER_MS % 1000) * 1000 };

	s->head_only = http_token_eq(req->method, req->method_len, "HEAD");
	if (!s->head_only &&
	    !http_token_eq(req->method, req->method_len, "GET")) {
		scrape_error(s, 405, "Allow: GET, HEAD\r\n");
		return;
	}
	if (!(req->path_len == 8 && memcmp(req->path, "/metrics", 8) == 0)) {
		scrape_error(s, 404, "");
		return;
	}
	s->phase = SC_GATHER;
	event_del(s->ev);
	gather_start(s);
	if (s->pending == 0) {
		scrape_respond(s);
		return;
	}
	evtimer_del(s->timer);
	if (evtimer_add(s->timer, &tv) == -1)
		scrape_respond(s);
}

static void
scrape_cb(evutil_socket_t fd, short what, void *arg)
{
	struct scrape *s = arg;
	struct http_header hdrs[64];
	struct http_request req;
	ssize_t n;
	int r;

	if (what & EV_TIMEOUT) {
		if (s->phase == SC_GATHER)
			scrape_respond(s);	/* without the late ones */
		else
			scrape_free(s);
		return;
	}
	if (s->phase == SC_WRITE) {
		scrape_write(s);
		return;
	}
	if (s->phase != SC_READ)
		return;
	n = recv(fd, s->req + s->rlen, sizeof(s->req) - s->rlen,
	    MSG_DONTWAIT);
	if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) {
		scrape_free(s);
		return;
	}
	if (n < 0)
		return;
	s->rlen += (size_t)n;
	r = http_parse_request(s->req, s->rlen, &req, hdrs, 64);
	if (r > 0) {
		scrape_request(s, &req);
		return;
	}
	if (r == HTTP_PARSE_INCOMPLETE && s->rlen < sizeof(s->req))
		return;
	scrape_error(s, r == HTTP_PARSE_TOO_MANY_HEADERS ||
	    r == HTTP_PARSE_INCOMPLETE ? 431 : r == HTTP_PARSE_BAD_VERSION ?
	    505 : 400, "");
}

static void
scrape_accept_cb(evutil_socket_t lfd, short what, void *arg)
{
	struct msrv *ms = arg;
	struct timeval tv = { READ_MS / 1000, (READ_MS % 1000) * 1000 };
	struct scrape *s;
	int i, fd;

	(void)what;
	for (i = 0; i < 8; i++) {
		if ((fd = accept4(lfd, NULL, NULL,
		    SOCK_NONBLOCK | SOCK_CLOEXEC)) == -1)
			return;
		if (ms->nscrapes >= SCRAPES_MAX ||
		    (s = calloc(1, sizeof(*s))) == NULL) {
			close(fd);
			continue;
		}
		s->ms = ms;
		s->fd = fd;
		s->next = ms->scrapes;
		ms->scrapes = s;
		ms->nscrapes++;
		s->ev = event_new(ms->srv->base, fd, EV_READ | EV_PERSIST,
		    scrape_cb, s);
		s->timer = evtimer_new(ms->srv->base, scrape_cb, s);
		if (s->ev == NULL || s->timer == NULL ||
		    event_add(s->ev, NULL) == -1 ||
		    evtimer_add(s->timer, &tv) == -1) {
			if (s->ev == NULL)
				s->ev = event_new(ms->srv->base, -1, 0,
				    scrape_cb, s);
			if (s->timer == NULL)
				s->timer = evtimer_new(ms->srv->base,
				    scrape_cb, s);
			if (s->ev == NULL || s->timer == NULL) {
				/* Nothing to free it with: undo by hand. */
				ms->scrapes = s->next;
				ms->nscrapes--;
				if (s->ev != NULL)
					event_free(s->ev);
				if (s->timer != NULL)
					event_free(s->timer);
				close(fd);
				free(s);
				continue;
			}
			scrape_free(s);
		}
	}
}

/* ---------------------------------------------------------------- setup */

/*
 * Every worker answers the others, with or without a metrics listener
 * of its own: a reload that adds the listener starts new workers, and
 * the old ones, which serve their last clients without it, are still
 * summed instead of reported missing.
 */
int
metrics_srv_start(struct server *srv, int lfd)
{
	struct msrv *ms;

	if ((ms = calloc(1, sizeof(*ms))) == NULL) {
		log_err("out of memory");
		return -1;
	}
	ms->srv = srv;
	ms->lfd = lfd;
	ms->pfd = -1;
	srv->msrv = ms;
	if (worker_self.shm != NULL && peer_listen(ms) == -1)
		return -1;
	if (lfd < 0)
		return 0;
	metrics.enabled = true;
	evutil_make_socket_nonblocking(lfd);
	ms->lev = event_new(srv->base, lfd, EV_READ | EV_PERSIST,
	    scrape_accept_cb, ms);
	if (ms->lev == NULL || event_add(ms->lev, NULL) == -1) {
		log_err("metrics: cannot watch the listener");
		return -1;
	}
	return 0;
}

void
metrics_srv_stop_accepting(struct server *srv)
{
	struct msrv *ms = srv->msrv;

	if (ms == NULL || ms->lfd == -1)
		return;
	if (ms->lev != NULL)
		event_free(ms->lev);
	ms->lev = NULL;
	close(ms->lfd);
	ms->lfd = -1;
}

void
metrics_srv_free(struct server *srv)
{
	struct msrv *ms = srv->msrv;

	if (ms == NULL)
		return;
	metrics_srv_stop_accepting(srv);
	while (ms->scrapes != NULL)
		scrape_free(ms->scrapes);
	while (ms->serves != NULL)
		serve_free(ms->serves);
	if (ms->pev != NULL)
		event_free(ms->pev);
	if (ms->pfd != -1)
		close(ms->pfd);
	free(ms);
	srv->msrv = NULL;
}

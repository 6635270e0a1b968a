/*
 * parity: a test plugin for tests/integration/test_parity.py, which
 * drives the Tornado-like calls of ABI 1.4 through it.
 *
 * Handshake, by the query argument hs:
 *   (none)             accept at once
 *   accept:MS          WSD_HANDSHAKE_PENDING, accept MS ms later from a
 *                      timer (taking the subprotocol "chat" if offered)
 *   refuse:MS          pending, then refuse with 403
 *   thread:MS          pending, a thread sleeps MS ms and posts the
 *                      decision (accept) back to the loop
 *   never              pending, never decided (the handshake timeout
 *                      ends it)
 * Every pending connection gets per-connection data, freed in close or
 * when refused: LeakSanitizer checks that every path frees it.
 *
 * Open sends "open ID".  Messages:
 *   ping:DATA        wsd_ping(DATA), answers "pinged" (or "ping failed")
 *   bcx:TEXT         wsd_broadcast_except(sender), answers "bcx N"
 *   text:TEXT        wsd_send_text(TEXT)
 *   later:ID:MS      after MS ms, looks connection ID up and tells the
 *                    sender "later ID found" or "later ID gone"
 *   thread           a thread of the plugin calls wsd_broadcast() and
 *                    wsd_send() (both refused off the loop) and
 *                    wsd_log(), then posts "thread bcast=N send=S" back
 * Callbacks: `ping` sends "ping DATA", `pong` sends "pong DATA rtt=US",
 * `close` logs "parity: close ID CODE".
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <wsd/plugin.h>

struct later {
	struct wsd_route	*route;
	struct wsd_timer	*timer;
	uint64_t		 asker, id;
	int			 status;
};

struct job {
	struct wsd_route	*route;
	pthread_t		 th;
	uint64_t		 id;
	unsigned		 ms;
	int			 decide;	/* a handshake to resume */
	size_t			 bcast;
	int			 send;
	struct job		*next;
};

struct state {
	struct wsd_route	*route;
	struct job		*jobs;		/* joined in fini */
	struct later		*pending[64];	/* timers not yet fired */
};

static struct state *the;

static void
reply(struct wsd_conn *c, const char *fmt, ...)
{
	char buf[512];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof(buf))
		return;
	if (wsd_send(c, WSD_TEXT, buf, (size_t)n) == WSD_SEND_DROPPED)
		wsd_log(wsd_conn_route(c), WSD_LOG_INFO, "parity: dropped");
}

static int
pa_init(const struct wsd_host *host, struct wsd_route *r, void **state)
{
	struct state *s;

	(void)host;
	if ((s = calloc(1, sizeof(*s))) == NULL)
		return -1;
	s->route = r;
	the = s;
	*state = s;
	return 0;
}

static void
pa_fini(void *state)
{
	struct state *s = state;
	struct job *j;
	size_t i;

	while ((j = s->jobs) != NULL) {
		s->jobs = j->next;
		pthread_join(j->th, NULL);
		free(j);
	}
	for (i = 0; i < 64; i++)
		free(s->pending[i]);
	free(s);
	the = NULL;
}

static void
keep_later(struct state *s, struct later *l)
{
	size_t i;

	for (i = 0; i < 64; i++)
		if (s->pending[i] == NULL) {
			s->pending[i] = l;
			return;
		}
}

static void
drop_later(struct state *s, struct later *l)
{
	size_t i;

	for (i = 0; i < 64; i++)
		if (s->pending[i] == l)
			s->pending[i] = NULL;
	wsd_timer_cancel(l->timer);
	free(l);
}

/* A handshake decided on the loop, from a timer or a post. */
static void
decide(struct wsd_route *r, uint64_t id, int status)
{
	struct wsd_conn *c = wsd_conn_find(r, id);

	if (c == NULL) {
		wsd_log(r, WSD_LOG_NOTICE, "parity: decide %llu: gone",
		    (unsigned long long)id);
		return;
	}
	if (status == 0)
		(void)wsd_accept_subprotocol(c, "chat");
	else
		free(wsd_get_data(c));	/* refused: close will not run */
	if (wsd_handshake_resume(c, status) != 0)
		wsd_log(r, WSD_LOG_ERR, "parity: resume %llu failed",
		    (unsigned long long)id);
}

static void
later_fired(struct wsd_route *r, void *arg)
{
	struct later *l = arg;
	struct wsd_conn *asker;

	if (l->asker == 0) {
		decide(r, l->id, l->status);
	} else if ((asker = wsd_conn_find(r, l->asker)) != NULL) {
		reply(asker, "later %llu %s", (unsigned long long)l->id,
		    wsd_conn_find(r, l->id) != NULL ? "found" : "gone");
	}
	drop_later(the, l);
}

static int
add_later(struct wsd_route *r, uint64_t asker, uint64_t id, int status,
    unsigned ms)
{
	struct later *l;

	if ((l = calloc(1, sizeof(*l))) == NULL)
		return -1;
	l->route = r;
	l->asker = asker;
	l->id = id;
	l->status = status;
	if ((l->timer = wsd_timer_add(r, ms, 0, later_fired, l)) == NULL) {
		free(l);
		return -1;
	}
	keep_later(the, l);
	return 0;
}

static void
job_done(struct wsd_route *r, void *arg)
{
	struct job *j = arg;
	struct wsd_conn *c;

	if (j->decide) {
		decide(r, j->id, 0);
		return;
	}
	if ((c = wsd_conn_find(r, j->id)) != NULL)
		reply(c, "thread bcast=%zu send=%d", j->bcast, j->send);
}

static void *
job_run(void *arg)
{
	struct job *j = arg;

	if (j->ms > 0)
		usleep(j->ms * 1000);
	if (!j->decide) {
		/* Both are the loop's: wsd refuses them here. */
		j->bcast = wsd_broadcast(j->route, WSD_TEXT, "from a thread",
		    13);
		j->send = wsd_send(wsd_conn_find(j->route, j->id), WSD_TEXT,
		    "x", 1);
		wsd_log(j->route, WSD_LOG_NOTICE, "parity: thread %llu says "
		    "hello", (unsigned long long)j->id);
	}
	if (wsd_post(j->route, job_done, j) != 0)
		wsd_log(j->route, WSD_LOG_ERR, "parity: post failed");
	return NULL;
}

static int
start_job(struct wsd_route *r, uint64_t id, unsigned ms, int decide_it)
{
	struct job *j;

	if ((j = calloc(1, sizeof(*j))) == NULL)
		return -1;
	j->route = r;
	j->id = id;
	j->ms = ms;
	j->decide = decide_it;
	if (pthread_create(&j->th, NULL, job_run, j) != 0) {
		free(j);
		return -1;
	}
	j->next = the->jobs;
	the->jobs = j;
	return 0;
}

static int
pa_handshake(void *state, struct wsd_conn *c)
{
	struct wsd_route *r = wsd_conn_route(c);
	const char *hs = wsd_arg(c, "hs");
	unsigned ms = 0;
	int status = -1;

	(void)state;
	if (hs == NULL)
		return 0;
	if (strncmp(hs, "accept:", 7) == 0) {
		ms = (unsigned)atoi(hs + 7);
		status = 0;
	} else if (strncmp(hs, "refuse:", 7) == 0) {
		ms = (unsigned)atoi(hs + 7);
		status = 403;
	} else if (strncmp(hs, "thread:", 7) == 0) {
		ms = (unsigned)atoi(hs + 7);
	} else if (strcmp(hs, "never") != 0) {
		return 400;
	}
	/* Something to free, so that a path that forgets it leaks. */
	wsd_set_data(c, strdup("pending"));
	if (strcmp(hs, "never") == 0)
		return WSD_HANDSHAKE_PENDING;
	if ((status >= 0 ? add_later(r, 0, wsd_conn_id(c), status, ms) :
	    start_job(r, wsd_conn_id(c), ms, 1)) == -1) {
		free(wsd_get_data(c));
		return 503;
	}
	return WSD_HANDSHAKE_PENDING;
}

static void
pa_open(void *state, struct wsd_conn *c)
{
	(void)state;
	reply(c, "open %llu", (unsigned long long)wsd_conn_id(c));
}

static void
pa_message(void *state, struct wsd_conn *c, int opcode, const void *data,
    size_t len)
{
	struct wsd_route *r = wsd_conn_route(c);
	char buf[256];
	unsigned long long id;
	unsigned ms;

	(void)state;
	if (opcode != WSD_TEXT || len >= sizeof(buf))
		return;
	memcpy(buf, data, len);
	buf[len] = '\0';
	if (strncmp(buf, "ping:", 5) == 0) {
		reply(c, wsd_ping(c, buf + 5, len - 5) == 0 ? "pinged" :
		    "ping failed");
	} else if (strncmp(buf, "bcx:", 4) == 0) {
		reply(c, "bcx %zu", wsd_broadcast_except(r, c, WSD_TEXT,
		    buf + 4, len - 4));
	} else if (strncmp(buf, "text:", 5) == 0) {
		if (wsd_send_text(c, buf + 5) == WSD_SEND_DROPPED)
			wsd_log(r, WSD_LOG_INFO, "parity: text dropped");
	} else if (sscanf(buf, "later:%llu:%u", &id, &ms) == 2) {
		if (add_later(r, wsd_conn_id(c), id, 0, ms) == -1)
			reply(c, "later failed");
	} else if (strcmp(buf, "thread") == 0) {
		if (start_job(r, wsd_conn_id(c), 0, 0) == -1)
			reply(c, "thread failed");
	}
}

static void
pa_close(void *state, struct wsd_conn *c, int code, const char *reason)
{
	(void)state;
	(void)reason;
	free(wsd_get_data(c));
	wsd_log(wsd_conn_route(c), WSD_LOG_NOTICE, "parity: close %llu %d",
	    (unsigned long long)wsd_conn_id(c), code);
}

static void
pa_ping(void *state, struct wsd_conn *c, const void *data, size_t len)
{
	(void)state;
	reply(c, "ping %.*s", (int)len, (const char *)data);
}

static void
pa_pong(void *state, struct wsd_conn *c, const void *data, size_t len,
    int64_t rtt_us)
{
	(void)state;
	reply(c, "pong %.*s rtt=%lld", (int)len, (const char *)data,
	    (long long)rtt_us);
}

WSD_PLUGIN(
	.name = "parity",
	.version = "1",
	.init = pa_init,
	.fini = pa_fini,
	.handshake = pa_handshake,
	.open = pa_open,
	.message = pa_message,
	.close = pa_close,
	.ping = pa_ping,
	.pong = pa_pong,
);

/*
 * metrics: the figures a worker process keeps for Prometheus, and their
 * text form (the exposition format 0.0.4).  Pure: plain counters in the
 * process's memory, rendering into a growable buffer, and the merge of
 * several workers' texts into one; no sockets (metrics_srv.c serves
 * them).
 *
 * The hot path only increments fields of `metrics` (the process's) or of
 * a route's struct route_metrics: no locks, no atomics, on memory only
 * the worker's loop touches.  A route finds its figures through one
 * pointer (struct route's `metrics`), set when the route is built and
 * never NULL; the figures are kept by route path for the life of the
 * process, so a reload that keeps a path keeps its series (Prometheus
 * sees no counter reset), and one that drops a path leaves its counters
 * where they were.
 */
#ifndef WSD_METRICS_H
#define WSD_METRICS_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include <wsd/plugin.h>

/* The plugin callbacks that are timed. */
enum metrics_cb {
	MCB_HANDSHAKE, MCB_OPEN, MCB_MESSAGE, MCB_CLOSE, MCB_DRAIN,
	MCB_PING, MCB_PONG, MCB_TIMER, MCB_POST, MCB_WATCH, MCB_MAX
};

/*
 * Close codes as label values: 1000 to 1015 by number, then "3xxx"
 * (registered), "4xxx" (private) and "other": a bounded set whatever a
 * client sends.
 */
#define METRICS_CLOSE_CLASSES	19
/* HTTP statuses counted by number: 100 to 599. */
#define METRICS_STATUS_MIN	100
#define METRICS_STATUS_MAX	599
#define METRICS_NSTATUS		(METRICS_STATUS_MAX - METRICS_STATUS_MIN + 1)

/* Why a connection was not served. */
enum metrics_refusal {
	MREF_LIMIT,		/* max_connections (503) */
	MREF_PER_ADDRESS,	/* max_pending_per_address (503) */
	MREF_DESCRIPTORS,	/* accept() failed: EMFILE, ENFILE */
	MREF_MEMORY,		/* out of memory accepting it */
	MREF_TIMEOUT,		/* no request head within handshake_timeout */
	MREF_PROXY_HEADER,	/* proxy_protocol: no valid PROXY header */
	MREF_MAX
};

/* TLS protocol versions as label values. */
enum metrics_tls { MTLS_12, MTLS_13, MTLS_OTHER, MTLS_MAX };

/* Where a topic message a worker delivered came from. */
enum metrics_src { MSRC_LOCAL, MSRC_WORKER, MSRC_REDIS, MSRC_MAX };

struct plugin_metric;

struct route_metrics {
	char			*path;
	uint64_t		 open;		/* gauge */
	uint64_t		 opened;
	uint64_t		 closed[METRICS_CLOSE_CLASSES];
	uint64_t		 msgs_in, msgs_out, bytes_in, bytes_out;
	uint64_t		 dropped;	/* sends not queued */
	uint64_t		 backpressure;	/* closed: output limits */
	uint64_t		*refused;	/* [METRICS_NSTATUS], lazily */
	uint64_t		 cb_calls[MCB_MAX];
	uint64_t		 cb_ns[MCB_MAX];
	struct wsd_metric	*plugin;	/* the plugin's, in order */
	struct route_metrics	*next;
};

/* What one worker process counts besides its routes. */
struct metrics {
	bool			 enabled;	/* a metrics listener exists */
	uint64_t		 accepted;
	uint64_t		 refused[MREF_MAX];
	uint64_t		 http[METRICS_NSTATUS];	/* answers but 101 */
	uint64_t		 tls_ok[MTLS_MAX];
	uint64_t		 tls_failed;
	uint64_t		 publishes;
	uint64_t		 deliveries[MSRC_MAX];	/* topic messages */
	uint64_t		 recipients;	/* connections they reached */
	struct route_metrics	*routes;	/* by path, newest first */
};

extern struct metrics metrics;

/* Figures a caller reads from the system for metrics_render(). */
struct metrics_sys {
	double		 cpu_seconds;
	uint64_t	 rss_bytes, vsize_bytes;
	uint64_t	 open_fds, max_fds;
	uint64_t	 conns;		/* connections the process holds */
	int		 worker;	/* its number, -1: none */
	/* Topics across workers and the Redis backplane. */
	uint64_t	 peer_dropped;
	bool		 backplane;	/* configured */
	bool		 bp_up;
	uint64_t	 bp_reconnects, bp_published, bp_received;
	uint64_t	 bp_not_relayed;	/* dropped, out or in */
};

/* Figures of the whole daemon, rendered once per scrape (not summed). */
struct metrics_daemon {
	const char	*version;
	int		 abi_major, abi_minor;
	uint64_t	 workers;		/* ready */
	uint64_t	 missing;		/* left out of this scrape */
	uint64_t	 reloads_ok, reloads_failed;
	double		 last_reload;		/* unix time; 0: none yet */
	bool		 last_reload_ok;
	double		 start_time;		/* the master's, unix time */
};

/* A growing text buffer.  Out of memory sets `failed`. */
struct mbuf {
	char		*p;
	size_t		 len, cap;
	bool		 failed;
};

void	 mbuf_printf(struct mbuf *b, const char *fmt, ...)
	    __attribute__((format(printf, 2, 3)));
void	 mbuf_add(struct mbuf *b, const char *s, size_t len);
void	 mbuf_free(struct mbuf *b);

/*
 * The figures of route path `path`, made on first use and kept until
 * metrics_free().  Never NULL: without memory, one shared spare that
 * renders nothing.
 */
struct route_metrics *metrics_route(const char *path);

/* Forget every route and plugin metric (at exit). */
void	 metrics_free(void);

/* The label value of close code `code` (see METRICS_CLOSE_CLASSES). */
int	 metrics_close_class(int code);
const char *metrics_close_label(int cls);

static inline void
metrics_closed(struct route_metrics *m, int code)
{
	m->closed[metrics_close_class(code)]++;
}

/* Count an HTTP answer other than 101 (and a refusal on route m). */
void	 metrics_http(struct route_metrics *m, int status);

/*
 * Timing of plugin callbacks, only while a metrics listener exists:
 * CLOCK_MONOTONIC through the vDSO, two reads a callback.
 */
static inline uint64_t
metrics_cb_start(void)
{
	struct timespec ts;

	if (!metrics.enabled)
		return 0;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static inline void
metrics_cb_end(struct route_metrics *m, enum metrics_cb cb, uint64_t t0)
{
	struct timespec ts;

	if (t0 == 0)
		return;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	m->cb_calls[cb]++;
	m->cb_ns[cb] += (uint64_t)ts.tv_sec * 1000000000u +
	    (uint64_t)ts.tv_nsec - t0;
}

/*
 * Plugin metrics (ABI 1.5).  name must match [a-zA-Z_][a-zA-Z0-9_]*, at
 * most METRICS_NAME_MAX bytes; it is shown as "wsd_plugin_" name.  A
 * counter's name ends in "_total".  The same route path and name give
 * the same metric again (its value continues); a name already used
 * with the other type, anywhere, is refused.  Returns NULL and sets
 * *why on refusal.
 */
#define METRICS_NAME_MAX	100
#define METRICS_HELP_MAX	1024
#define METRICS_PLUGIN_PREFIX	"wsd_plugin_"
#define METRICS_PLUGIN_MAX	256	/* families per process */

enum metric_type { MT_COUNTER, MT_GAUGE };

struct wsd_metric *metrics_plugin(struct route_metrics *rm,
	    enum metric_type type, const char *name, const char *help,
	    const char **why);
/* From any thread: relaxed atomics. */
void	 metrics_plugin_add(struct wsd_metric *m, double v);
void	 metrics_plugin_set(struct wsd_metric *m, double v);
double	 metrics_plugin_value(const struct wsd_metric *m);

/* Whether name is a valid Prometheus metric name without colons. */
bool	 metrics_name_ok(const char *name);

/* label value / HELP text escaping (\\, \", \n). */
void	 metrics_escape(struct mbuf *b, const char *s, bool quote);

/*
 * This process's figures: everything that is summed over workers.
 */
void	 metrics_render(struct mbuf *b, const struct metrics_sys *sys);

/* The daemon's own figures, once per scrape, after the merge. */
void	 metrics_render_daemon(struct mbuf *b, const struct metrics_daemon *d);

/*
 * Merging texts: every sample whose name and labels are the same is
 * summed; families keep the order they were first seen in, with their
 * HELP and TYPE once.  metrics_merge_add() takes one text (it need not
 * end in a newline); metrics_merge_render() appends the result.
 * Returns 0, or -1 when out of memory.
 */
struct metrics_merge;
struct metrics_merge *metrics_merge_new(void);
int	 metrics_merge_add(struct metrics_merge *mm, const char *text,
	    size_t len);
void	 metrics_merge_render(const struct metrics_merge *mm, struct mbuf *b);
void	 metrics_merge_free(struct metrics_merge *mm);

/* A value as the format writes it. */
void	 metrics_value(struct mbuf *b, double v);

#endif /* WSD_METRICS_H */

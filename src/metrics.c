/*
 * metrics: see metrics.h.
 */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "metrics.h"

struct metrics metrics;

/* What metrics_route() hands out without memory: counted, never shown. */
static struct route_metrics spare;

/* ---------------------------------------------------------------- mbuf */

static bool
mbuf_room(struct mbuf *b, size_t n)
{
	size_t cap;
	char *p;

	if (b->failed)
		return false;
	if (b->cap - b->len > n)
		return true;
	cap = b->cap > 0 ? b->cap : 4096;
	while (cap - b->len <= n) {
		if (cap > SIZE_MAX / 2) {
			b->failed = true;
			return false;
		}
		cap *= 2;
	}
	if ((p = realloc(b->p, cap)) == NULL) {
		b->failed = true;
		return false;
	}
	b->p = p;
	b->cap = cap;
	return true;
}

void
mbuf_add(struct mbuf *b, const char *s, size_t len)
{
	if (!mbuf_room(b, len))
		return;
	memcpy(b->p + b->len, s, len);
	b->len += len;
	b->p[b->len] = '\0';
}

void
mbuf_printf(struct mbuf *b, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (!mbuf_room(b, 128))
		return;
	va_start(ap, fmt);
	n = vsnprintf(b->p + b->len, b->cap - b->len, fmt, ap);
	va_end(ap);
	if (n < 0) {
		b->failed = true;
		return;
	}
	if ((size_t)n >= b->cap - b->len) {
		if (!mbuf_room(b, (size_t)n + 1))
			return;
		va_start(ap, fmt);
		vsnprintf(b->p + b->len, b->cap - b->len, fmt, ap);
		va_end(ap);
	}
	b->len += (size_t)n;
}

void
mbuf_free(struct mbuf *b)
{
	free(b->p);
	memset(b, 0, sizeof(*b));
}

void
metrics_escape(struct mbuf *b, const char *s, bool quote)
{
	const char *run = s;

	for (; *s != '\0'; s++) {
		const char *esc;

		if (*s == '\\')
			esc = "\\\\";
		else if (*s == '\n')
			esc = "\\n";
		else if (*s == '"' && quote)
			esc = "\\\"";
		else
			continue;
		mbuf_add(b, run, (size_t)(s - run));
		mbuf_add(b, esc, 2);
		run = s + 1;
	}
	mbuf_add(b, run, (size_t)(s - run));
}

/*
 * Integers as integers (counters read naturally), anything else with
 * enough digits to come back the same; the format's own words for the
 * infinities and NaN.
 */
void
metrics_value(struct mbuf *b, double v)
{
	if (isnan(v))
		mbuf_add(b, "NaN", 3);
	else if (isinf(v))
		mbuf_add(b, v > 0 ? "+Inf" : "-Inf", 4);
	else if (v == floor(v) && fabs(v) < 9007199254740992.0)
		mbuf_printf(b, "%.0f", v);
	else {
		char tmp[40];
		int prec;

		/* The shortest that reads back as the same double. */
		for (prec = 15; prec < 17; prec++) {
			snprintf(tmp, sizeof(tmp), "%.*g", prec, v);
			if (strtod(tmp, NULL) == v)
				break;
		}
		mbuf_printf(b, "%.*g", prec, v);
	}
}

/* ---------------------------------------------------------------- routes */

struct route_metrics *
metrics_route(const char *path)
{
	struct route_metrics *m;

	for (m = metrics.routes; m != NULL; m = m->next)
		if (strcmp(m->path, path) == 0)
			return m;
	if ((m = calloc(1, sizeof(*m))) == NULL ||
	    (m->path = strdup(path)) == NULL) {
		free(m);
		return &spare;
	}
	m->next = metrics.routes;
	metrics.routes = m;
	return m;
}

struct metric_family {
	char			*name;		/* with the prefix */
	char			*help;
	enum metric_type	 type;
	struct metric_family	*next;
};

static struct metric_family *families;
static size_t nfamilies;

struct wsd_metric {
	struct metric_family	*fam;
	_Atomic uint64_t	 bits;		/* the double's */
	struct wsd_metric	*next;		/* the route's */
};

void
metrics_free(void)
{
	struct route_metrics *m, *mn;
	struct metric_family *f, *fn;
	struct wsd_metric *p, *pn;

	for (m = metrics.routes; m != NULL; m = mn) {
		mn = m->next;
		for (p = m->plugin; p != NULL; p = pn) {
			pn = p->next;
			free(p);
		}
		free(m->refused);
		free(m->path);
		free(m);
	}
	metrics.routes = NULL;
	for (f = families; f != NULL; f = fn) {
		fn = f->next;
		free(f->name);
		free(f->help);
		free(f);
	}
	families = NULL;
	nfamilies = 0;
}

int
metrics_close_class(int code)
{
	if (code >= 1000 && code <= 1015)
		return code - 1000;
	if (code >= 3000 && code <= 3999)
		return 16;
	if (code >= 4000 && code <= 4999)
		return 17;
	return 18;
}

const char *
metrics_close_label(int cls)
{
	static const char *const names[METRICS_CLOSE_CLASSES] = {
		"1000", "1001", "1002", "1003", "1004", "1005", "1006",
		"1007", "1008", "1009", "1010", "1011", "1012", "1013",
		"1014", "1015", "3xxx", "4xxx", "other"
	};

	return cls >= 0 && cls < METRICS_CLOSE_CLASSES ? names[cls] : "other";
}

void
metrics_http(struct route_metrics *m, int status)
{
	if (status < METRICS_STATUS_MIN || status > METRICS_STATUS_MAX ||
	    status == 101)
		return;
	metrics.http[status - METRICS_STATUS_MIN]++;
	if (m == NULL || m == &spare || status < 400)
		return;
	if (m->refused == NULL &&
	    (m->refused = calloc(METRICS_NSTATUS, sizeof(*m->refused))) == NULL)
		return;
	m->refused[status - METRICS_STATUS_MIN]++;
}

/* ---------------------------------------------------------------- plugins */

bool
metrics_name_ok(const char *name)
{
	size_t i;

	if (name == NULL || name[0] == '\0' ||
	    strlen(name) > METRICS_NAME_MAX)
		return false;
	for (i = 0; name[i] != '\0'; i++) {
		char c = name[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		    c == '_' || (i > 0 && c >= '0' && c <= '9')))
			return false;
	}
	return true;
}

static bool
ends_with(const char *s, const char *suffix)
{
	size_t n = strlen(s), k = strlen(suffix);

	return n >= k && strcmp(s + n - k, suffix) == 0;
}

struct wsd_metric *
metrics_plugin(struct route_metrics *rm, enum metric_type type,
    const char *name, const char *help, const char **why)
{
	struct metric_family *f;
	struct wsd_metric *m, **tail;
	char full[sizeof(METRICS_PLUGIN_PREFIX) + METRICS_NAME_MAX];

	if (!metrics_name_ok(name)) {
		*why = "the name must match [a-zA-Z_][a-zA-Z0-9_]* (at most "
		    "100 bytes)";
		return NULL;
	}
	if (type == MT_COUNTER && !ends_with(name, "_total")) {
		*why = "a counter's name must end in _total";
		return NULL;
	}
	if (type == MT_GAUGE && (ends_with(name, "_total") ||
	    ends_with(name, "_bucket") || ends_with(name, "_count") ||
	    ends_with(name, "_sum"))) {
		*why = "a gauge's name must not end in _total, _count, _sum "
		    "or _bucket";
		return NULL;
	}
	if (help == NULL)
		help = "";
	if (strlen(help) > METRICS_HELP_MAX) {
		*why = "the help text is longer than 1024 bytes";
		return NULL;
	}
	if (rm == &spare) {
		*why = "out of memory";
		return NULL;
	}
	snprintf(full, sizeof(full), "%s%s", METRICS_PLUGIN_PREFIX, name);
	for (f = families; f != NULL; f = f->next)
		if (strcmp(f->name, full) == 0)
			break;
	if (f != NULL && f->type != type) {
		*why = "the name is already used by a metric of the other "
		    "type";
		return NULL;
	}
	if (f == NULL) {
		if (nfamilies >= METRICS_PLUGIN_MAX) {
			*why = "too many plugin metrics (256 names)";
			return NULL;
		}
		if ((f = calloc(1, sizeof(*f))) == NULL ||
		    (f->name = strdup(full)) == NULL ||
		    (f->help = strdup(help)) == NULL) {
			if (f != NULL)
				free(f->name);
			free(f);
			*why = "out of memory";
			return NULL;
		}
		f->type = type;
		/* Appended: families render in the order they came. */
		{
			struct metric_family **fp = &families;

			while (*fp != NULL)
				fp = &(*fp)->next;
			*fp = f;
		}
		nfamilies++;
	}
	for (tail = &rm->plugin; *tail != NULL; tail = &(*tail)->next)
		if ((*tail)->fam == f)
			return *tail;	/* the same series goes on */
	if ((m = calloc(1, sizeof(*m))) == NULL) {
		*why = "out of memory";
		return NULL;
	}
	m->fam = f;
	atomic_init(&m->bits, 0);	/* +0.0 */
	*tail = m;
	return m;
}

static double
bits_double(uint64_t u)
{
	double d;

	memcpy(&d, &u, sizeof(d));
	return d;
}

static uint64_t
double_bits(double d)
{
	uint64_t u;

	memcpy(&u, &d, sizeof(u));
	return u;
}

void
metrics_plugin_add(struct wsd_metric *m, double v)
{
	uint64_t old, new;

	if (m == NULL || isnan(v) || (m->fam->type == MT_COUNTER && v < 0))
		return;
	old = atomic_load_explicit(&m->bits, memory_order_relaxed);
	do {
		new = double_bits(bits_double(old) + v);
	} while (!atomic_compare_exchange_weak_explicit(&m->bits, &old, new,
	    memory_order_relaxed, memory_order_relaxed));
}

void
metrics_plugin_set(struct wsd_metric *m, double v)
{
	if (m == NULL || m->fam->type != MT_GAUGE)
		return;
	atomic_store_explicit(&m->bits, double_bits(v), memory_order_relaxed);
}

double
metrics_plugin_value(const struct wsd_metric *m)
{
	return m == NULL ? 0 : bits_double(atomic_load_explicit(
	    (_Atomic uint64_t *)&m->bits, memory_order_relaxed));
}

/* ---------------------------------------------------------------- render */

static void
family(struct mbuf *b, const char *name, const char *type, const char *help)
{
	mbuf_printf(b, "# HELP %s ", name);
	metrics_escape(b, help, false);
	mbuf_printf(b, "\n# TYPE %s %s\n", name, type);
}

static void
route_sample(struct mbuf *b, const char *name, const struct route_metrics *m,
    const char *extra, double v)
{
	mbuf_printf(b, "%s{route=\"", name);
	metrics_escape(b, m->path, true);
	mbuf_printf(b, "\"%s} ", extra);
	metrics_value(b, v);
	mbuf_add(b, "\n", 1);
}

static void
sample(struct mbuf *b, const char *name, const char *labels, double v)
{
	mbuf_printf(b, "%s%s%s%s ", name, labels[0] != '\0' ? "{" : "", labels,
	    labels[0] != '\0' ? "}" : "");
	metrics_value(b, v);
	mbuf_add(b, "\n", 1);
}

/* A per-route counter or gauge: one field at offset off of each route. */
static void
route_family(struct mbuf *b, const char *name, const char *type,
    const char *help, size_t off)
{
	const struct route_metrics *m;

	family(b, name, type, help);
	for (m = metrics.routes; m != NULL; m = m->next)
		route_sample(b, name, m, "", (double)*(const uint64_t *)
		    (const void *)((const char *)m + off));
}

static const char *const cb_names[MCB_MAX] = {
	"handshake", "open", "message", "close", "drain", "ping", "pong",
	"timer", "post", "watch"
};
static const char *const refusal_names[MREF_MAX] = {
	"limit", "per_address", "descriptors", "memory", "timeout",
	"proxy_header"
};
static const char *const tls_names[MTLS_MAX] = {
	"TLSv1.2", "TLSv1.3", "other"
};
static const char *const src_names[MSRC_MAX] = {
	"local", "worker", "redis"
};

void
metrics_render(struct mbuf *b, const struct metrics_sys *sys)
{
	const struct route_metrics *m;
	const struct metric_family *f;
	const struct wsd_metric *p;
	char lab[64];
	int i;

	route_family(b, "wsd_connections", "gauge",
	    "Open WebSocket connections.",
	    offsetof(struct route_metrics, open));
	route_family(b, "wsd_connections_opened_total", "counter",
	    "WebSocket connections opened (handshakes accepted).",
	    offsetof(struct route_metrics, opened));
	family(b, "wsd_connections_closed_total", "counter",
	    "WebSocket connections closed, by the close code the plugin "
	    "heard (1000-1015, 3xxx, 4xxx, other).");
	for (m = metrics.routes; m != NULL; m = m->next)
		for (i = 0; i < METRICS_CLOSE_CLASSES; i++)
			if (m->closed[i] > 0) {
				snprintf(lab, sizeof(lab), ",code=\"%s\"",
				    metrics_close_label(i));
				route_sample(b, "wsd_connections_closed_total",
				    m, lab, (double)m->closed[i]);
			}
	route_family(b, "wsd_messages_received_total", "counter",
	    "Messages received from clients.",
	    offsetof(struct route_metrics, msgs_in));
	route_family(b, "wsd_messages_sent_total", "counter",
	    "Messages queued or sent to clients.",
	    offsetof(struct route_metrics, msgs_out));
	route_family(b, "wsd_received_bytes_total", "counter",
	    "Payload bytes of the messages received (after inflating).",
	    offsetof(struct route_metrics, bytes_in));
	route_family(b, "wsd_sent_bytes_total", "counter",
	    "Payload bytes of the messages sent (before compressing).",
	    offsetof(struct route_metrics, bytes_out));
	route_family(b, "wsd_sends_dropped_total", "counter",
	    "Sends the plugin made that were not queued (closing "
	    "connection, invalid message, send buffer limit).",
	    offsetof(struct route_metrics, dropped));
	route_family(b, "wsd_backpressure_closes_total", "counter",
	    "Connections closed (1008) because their output passed "
	    "max_send_buffer or max_output_total.",
	    offsetof(struct route_metrics, backpressure));
	family(b, "wsd_handshakes_refused_total", "counter",
	    "Requests to a route answered with an HTTP error instead of "
	    "101, by status.");
	for (m = metrics.routes; m != NULL; m = m->next) {
		if (m->refused == NULL)
			continue;
		for (i = 0; i < METRICS_NSTATUS; i++)
			if (m->refused[i] > 0) {
				snprintf(lab, sizeof(lab), ",status=\"%d\"",
				    i + METRICS_STATUS_MIN);
				route_sample(b, "wsd_handshakes_refused_total",
				    m, lab, (double)m->refused[i]);
			}
	}
	if (metrics.enabled) {
		family(b, "wsd_plugin_callback_seconds_total", "counter",
		    "Time spent in the plugin's callbacks, by callback.");
		for (m = metrics.routes; m != NULL; m = m->next)
			for (i = 0; i < MCB_MAX; i++)
				if (m->cb_calls[i] > 0) {
					snprintf(lab, sizeof(lab),
					    ",callback=\"%s\"", cb_names[i]);
					route_sample(b,
					    "wsd_plugin_callback_seconds_total",
					    m, lab, (double)m->cb_ns[i] / 1e9);
				}
		family(b, "wsd_plugin_callbacks_total", "counter",
		    "Calls of the plugin's callbacks, by callback.");
		for (m = metrics.routes; m != NULL; m = m->next)
			for (i = 0; i < MCB_MAX; i++)
				if (m->cb_calls[i] > 0) {
					snprintf(lab, sizeof(lab),
					    ",callback=\"%s\"", cb_names[i]);
					route_sample(b,
					    "wsd_plugin_callbacks_total", m,
					    lab, (double)m->cb_calls[i]);
				}
	}

	/* The plugins' own. */
	for (f = families; f != NULL; f = f->next) {
		family(b, f->name, f->type == MT_COUNTER ? "counter" :
		    "gauge", f->help);
		for (m = metrics.routes; m != NULL; m = m->next)
			for (p = m->plugin; p != NULL; p = p->next)
				if (p->fam == f)
					route_sample(b, f->name, m, "",
					    metrics_plugin_value(p));
	}

	family(b, "wsd_connections_accepted_total", "counter",
	    "TCP connections accepted (WebSocket or plain HTTP).");
	sample(b, "wsd_connections_accepted_total", "",
	    (double)metrics.accepted);
	family(b, "wsd_connections_refused_total", "counter",
	    "Connections not served, by reason: limit (max_connections), "
	    "per_address (max_pending_per_address), descriptors (accept "
	    "failed for want of file descriptors), memory, timeout (no "
	    "request within handshake_timeout), proxy_header (no valid "
	    "PROXY protocol header on a proxy_protocol listener).");
	for (i = 0; i < MREF_MAX; i++) {
		snprintf(lab, sizeof(lab), "reason=\"%s\"", refusal_names[i]);
		sample(b, "wsd_connections_refused_total", lab,
		    (double)metrics.refused[i]);
	}
	family(b, "wsd_http_responses_total", "counter",
	    "HTTP answers other than 101 (static files, refusals), by "
	    "status.");
	for (i = 0; i < METRICS_NSTATUS; i++)
		if (metrics.http[i] > 0) {
			snprintf(lab, sizeof(lab), "status=\"%d\"",
			    i + METRICS_STATUS_MIN);
			sample(b, "wsd_http_responses_total", lab,
			    (double)metrics.http[i]);
		}
	family(b, "wsd_open_connections", "gauge",
	    "Connections the workers hold (WebSocket and HTTP).");
	sample(b, "wsd_open_connections", "", (double)sys->conns);

	family(b, "wsd_tls_handshakes_total", "counter",
	    "TLS handshakes, by result and protocol version.");
	for (i = 0; i < MTLS_MAX; i++) {
		snprintf(lab, sizeof(lab), "result=\"ok\",version=\"%s\"",
		    tls_names[i]);
		sample(b, "wsd_tls_handshakes_total", lab,
		    (double)metrics.tls_ok[i]);
	}
	sample(b, "wsd_tls_handshakes_total",
	    "result=\"failed\",version=\"none\"", (double)metrics.tls_failed);

	family(b, "wsd_topic_publishes_total", "counter",
	    "Messages plugins published to topics.");
	sample(b, "wsd_topic_publishes_total", "", (double)metrics.publishes);
	family(b, "wsd_topic_deliveries_total", "counter",
	    "Topic messages a worker delivered to its subscribers, by where "
	    "they came from (local: this worker, worker: another worker, "
	    "redis: another node).");
	for (i = 0; i < MSRC_MAX; i++) {
		snprintf(lab, sizeof(lab), "source=\"%s\"", src_names[i]);
		sample(b, "wsd_topic_deliveries_total", lab,
		    (double)metrics.deliveries[i]);
	}
	family(b, "wsd_topic_recipients_total", "counter",
	    "Connections topic messages were queued for.");
	sample(b, "wsd_topic_recipients_total", "",
	    (double)metrics.recipients);
	family(b, "wsd_topic_peer_dropped_total", "counter",
	    "Topic messages another worker could not take in time.");
	sample(b, "wsd_topic_peer_dropped_total", "",
	    (double)sys->peer_dropped);

	if (sys->backplane) {
		snprintf(lab, sizeof(lab), "worker=\"%d\"", sys->worker);
		family(b, "wsd_backplane_up", "gauge",
		    "1 while the worker's Redis connections are ready.");
		sample(b, "wsd_backplane_up", lab, sys->bp_up ? 1 : 0);
		family(b, "wsd_backplane_reconnects_total", "counter",
		    "Times the Redis backplane connected again after losing "
		    "Redis.");
		sample(b, "wsd_backplane_reconnects_total", "",
		    (double)sys->bp_reconnects);
		family(b, "wsd_backplane_published_total", "counter",
		    "Messages published to Redis.");
		sample(b, "wsd_backplane_published_total", "",
		    (double)sys->bp_published);
		family(b, "wsd_backplane_received_total", "counter",
		    "Messages received from Redis.");
		sample(b, "wsd_backplane_received_total", "",
		    (double)sys->bp_received);
		family(b, "wsd_backplane_not_relayed_total", "counter",
		    "Messages not relayed through Redis (Redis down, queue "
		    "full, or refused on the way in).");
		sample(b, "wsd_backplane_not_relayed_total", "",
		    (double)sys->bp_not_relayed);
	}

	family(b, "process_cpu_seconds_total", "counter",
	    "User and system CPU time of the worker processes.");
	sample(b, "process_cpu_seconds_total", "", sys->cpu_seconds);
	family(b, "process_resident_memory_bytes", "gauge",
	    "Resident memory of the worker processes.");
	sample(b, "process_resident_memory_bytes", "",
	    (double)sys->rss_bytes);
	family(b, "process_virtual_memory_bytes", "gauge",
	    "Virtual memory of the worker processes.");
	sample(b, "process_virtual_memory_bytes", "",
	    (double)sys->vsize_bytes);
	family(b, "process_open_fds", "gauge",
	    "Open file descriptors of the worker processes.");
	sample(b, "process_open_fds", "", (double)sys->open_fds);
	family(b, "process_max_fds", "gauge",
	    "The descriptor limit of the worker processes, summed.");
	sample(b, "process_max_fds", "", (double)sys->max_fds);
}

void
metrics_render_daemon(struct mbuf *b, const struct metrics_daemon *d)
{
	char lab[128];

	family(b, "wsd_build_info", "gauge",
	    "wsd's version and plugin ABI; always 1.");
	snprintf(lab, sizeof(lab), "version=\"%s\",abi=\"%d.%d\"", d->version,
	    d->abi_major, d->abi_minor);
	sample(b, "wsd_build_info", lab, 1);
	family(b, "wsd_workers", "gauge", "Worker processes accepting "
	    "connections.");
	sample(b, "wsd_workers", "", (double)d->workers);
	family(b, "wsd_scrape_workers_missing", "gauge",
	    "Workers whose figures are missing from this scrape (they did "
	    "not answer in time).");
	sample(b, "wsd_scrape_workers_missing", "", (double)d->missing);
	family(b, "wsd_config_reloads_total", "counter",
	    "Configuration reloads (SIGHUP), by result.");
	sample(b, "wsd_config_reloads_total", "result=\"ok\"",
	    (double)d->reloads_ok);
	sample(b, "wsd_config_reloads_total", "result=\"failed\"",
	    (double)d->reloads_failed);
	family(b, "wsd_config_last_reload_successful", "gauge",
	    "1 if the last reload succeeded (or none was tried), else 0.");
	sample(b, "wsd_config_last_reload_successful", "",
	    d->last_reload_ok ? 1 : 0);
	family(b, "wsd_config_last_reload_timestamp_seconds", "gauge",
	    "When the last reload finished (Unix time; 0: none yet).");
	sample(b, "wsd_config_last_reload_timestamp_seconds", "",
	    d->last_reload);
	family(b, "process_start_time_seconds", "gauge",
	    "When the daemon (its master process) started, Unix time.");
	sample(b, "process_start_time_seconds", "", d->start_time);
}

/* ---------------------------------------------------------------- merge */

struct msample {
	char		*key;		/* name and labels */
	size_t		 fam;
	double		 v;
	size_t		 next_in_fam;	/* index + 1; 0: last */
};

struct mfam {
	char		*name;
	char		*help;		/* the rest of its HELP line, or NULL */
	char		*type;
	size_t		 first, last;	/* sample index + 1 */
};

struct metrics_merge {
	struct mfam	*fams;
	size_t		 nfams, capfams;
	struct msample	*samples;
	size_t		 nsamples, capsamples;
	size_t		*hash;		/* sample index + 1; open addressing */
	size_t		 hmask;
	int		 cur;		/* the family of the last TYPE/HELP */
};

struct metrics_merge *
metrics_merge_new(void)
{
	struct metrics_merge *mm = calloc(1, sizeof(*mm));

	if (mm != NULL)
		mm->cur = -1;
	return mm;
}

void
metrics_merge_free(struct metrics_merge *mm)
{
	size_t i;

	if (mm == NULL)
		return;
	for (i = 0; i < mm->nfams; i++) {
		free(mm->fams[i].name);
		free(mm->fams[i].help);
		free(mm->fams[i].type);
	}
	for (i = 0; i < mm->nsamples; i++)
		free(mm->samples[i].key);
	free(mm->fams);
	free(mm->samples);
	free(mm->hash);
	free(mm);
}

static uint64_t
fnv(const char *s, size_t n)
{
	uint64_t h = 1469598103934665603ULL;
	size_t i;

	for (i = 0; i < n; i++) {
		h ^= (unsigned char)s[i];
		h *= 1099511628211ULL;
	}
	return h;
}

static char *
dupn(const char *s, size_t n)
{
	char *d = malloc(n + 1);

	if (d != NULL) {
		memcpy(d, s, n);
		d[n] = '\0';
	}
	return d;
}

static int
fam_find(struct metrics_merge *mm, const char *name, size_t n, bool make)
{
	size_t i;
	struct mfam *f;

	for (i = mm->nfams; i > 0; i--)
		if (strlen(mm->fams[i - 1].name) == n &&
		    memcmp(mm->fams[i - 1].name, name, n) == 0)
			return (int)(i - 1);
	if (!make)
		return -1;
	if (mm->nfams == mm->capfams) {
		size_t cap = mm->capfams > 0 ? mm->capfams * 2 : 64;

		if ((f = reallocarray(mm->fams, cap, sizeof(*f))) == NULL)
			return -2;
		mm->fams = f;
		mm->capfams = cap;
	}
	f = &mm->fams[mm->nfams];
	memset(f, 0, sizeof(*f));
	if ((f->name = dupn(name, n)) == NULL)
		return -2;
	return (int)mm->nfams++;
}

static int
rehash(struct metrics_merge *mm)
{
	size_t cap = mm->hash != NULL ? (mm->hmask + 1) * 2 : 1024, i;
	size_t *h;

	if ((h = calloc(cap, sizeof(*h))) == NULL)
		return -1;
	for (i = 0; i < mm->nsamples; i++) {
		const char *k = mm->samples[i].key;
		size_t j = fnv(k, strlen(k)) & (cap - 1);

		while (h[j] != 0)
			j = (j + 1) & (cap - 1);
		h[j] = i + 1;
	}
	free(mm->hash);
	mm->hash = h;
	mm->hmask = cap - 1;
	return 0;
}

/*
 * The length of the metric name at the start of s[0..n): [a-zA-Z_:]
 * then [a-zA-Z0-9_:]; 0 if there is none.
 */
static size_t
name_len(const char *s, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		char c = s[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		    c == '_' || c == ':' || (i > 0 && c >= '0' && c <= '9')))
			break;
	}
	return i;
}

static bool
has_prefix(const char *s, size_t n, const char *p)
{
	size_t k = strlen(p);

	return n >= k && memcmp(s, p, k) == 0;
}

/* Whether name[0..n) is family f's name plus a sample suffix. */
static bool
suffixed(const char *name, size_t n, const char *f)
{
	static const char *const sfx[] = {
		"_bucket", "_sum", "_count", "_total", "_created", NULL
	};
	size_t k = strlen(f), i;

	if (n <= k || memcmp(name, f, k) != 0)
		return false;
	for (i = 0; sfx[i] != NULL; i++)
		if (n - k == strlen(sfx[i]) &&
		    memcmp(name + k, sfx[i], n - k) == 0)
			return true;
	return false;
}

static int
add_sample(struct metrics_merge *mm, const char *key, size_t klen, double v)
{
	struct msample *s;
	size_t j, nlen;
	int fi;

	if (mm->hash == NULL || (mm->nsamples + 1) * 2 > mm->hmask + 1)
		if (rehash(mm) == -1)
			return -1;
	j = fnv(key, klen) & mm->hmask;
	while (mm->hash[j] != 0) {
		s = &mm->samples[mm->hash[j] - 1];
		if (strlen(s->key) == klen && memcmp(s->key, key, klen) == 0) {
			s->v += v;
			mm->cur = (int)s->fam;
			return 0;
		}
		j = (j + 1) & mm->hmask;
	}
	/*
	 * Its family: its own name; else the family just described, if
	 * the name is that one's and a suffix (a histogram's _bucket);
	 * else a new one.
	 */
	nlen = name_len(key, klen);
	fi = fam_find(mm, key, nlen, false);
	if (fi < 0 && mm->cur >= 0 && suffixed(key, nlen,
	    mm->fams[mm->cur].name))
		fi = mm->cur;
	if (fi < 0 && (fi = fam_find(mm, key, nlen, true)) < 0)
		return -1;
	mm->cur = fi;	/* a family's lines are together */
	if (mm->nsamples == mm->capsamples) {
		size_t cap = mm->capsamples > 0 ? mm->capsamples * 2 : 256;

		if ((s = reallocarray(mm->samples, cap, sizeof(*s))) == NULL)
			return -1;
		mm->samples = s;
		mm->capsamples = cap;
	}
	s = &mm->samples[mm->nsamples];
	if ((s->key = dupn(key, klen)) == NULL)
		return -1;
	s->v = v;
	s->fam = (size_t)fi;
	s->next_in_fam = 0;
	mm->hash[j] = ++mm->nsamples;
	if (mm->fams[fi].last != 0)
		mm->samples[mm->fams[fi].last - 1].next_in_fam = mm->nsamples;
	else
		mm->fams[fi].first = mm->nsamples;
	mm->fams[fi].last = mm->nsamples;
	return 0;
}

/* "# HELP name text" or "# TYPE name type": kept once per family. */
static int
add_meta(struct metrics_merge *mm, const char *p, size_t n)
{
	bool help = has_prefix(p, n, "# HELP ");
	const char *name = p + 7, *sp;
	char **slot;
	int fi;

	if (!help && !has_prefix(p, n, "# TYPE "))
		return 0;	/* another comment */
	n -= 7;
	sp = memchr(name, ' ', n);
	if (sp == NULL || sp == name ||
	    name_len(name, (size_t)(sp - name)) != (size_t)(sp - name))
		return 0;	/* not a metric name: ignored */
	if ((fi = fam_find(mm, name, (size_t)(sp - name), true)) < 0)
		return -1;
	mm->cur = fi;
	slot = help ? &mm->fams[fi].help : &mm->fams[fi].type;
	if (*slot == NULL) {
		size_t rest = n - (size_t)(sp + 1 - name);

		if ((*slot = dupn(sp + 1, rest)) == NULL)
			return -1;
	}
	return 0;
}

int
metrics_merge_add(struct metrics_merge *mm, const char *text, size_t len)
{
	const char *p = text, *end = text + len, *nl, *sp;
	char num[64];
	size_t n, vlen;
	double v;

	mm->cur = -1;
	for (; p < end; p = nl + 1) {
		if ((nl = memchr(p, '\n', (size_t)(end - p))) == NULL)
			nl = end;
		n = (size_t)(nl - p);
		if (n == 0)
			continue;
		if (p[0] == '#') {
			if (add_meta(mm, p, n) == -1)
				return -1;
			continue;
		}
		/* "key value": the value is the last field. */
		for (sp = nl; sp > p && sp[-1] != ' '; sp--)
			;
		if (sp == p || sp - 1 == p)
			continue;	/* not a sample */
		/* A name, then nothing or labels in braces. */
		{
			size_t klen = (size_t)(sp - 1 - p);
			size_t nml = name_len(p, klen);

			if (nml == 0 || (nml < klen && (p[nml] != '{' ||
			    p[klen - 1] != '}')))
				continue;
		}
		vlen = (size_t)(nl - sp);
		if (vlen == 0 || vlen >= sizeof(num))
			continue;
		memcpy(num, sp, vlen);
		num[vlen] = '\0';
		if (strcmp(num, "+Inf") == 0)
			v = INFINITY;
		else if (strcmp(num, "-Inf") == 0)
			v = -INFINITY;
		else {
			char *e;

			v = strtod(num, &e);
			if (*e != '\0')
				continue;
		}
		if (add_sample(mm, p, (size_t)(sp - 1 - p), v) == -1)
			return -1;
	}
	return 0;
}

void
metrics_merge_render(const struct metrics_merge *mm, struct mbuf *b)
{
	const struct mfam *f;
	const struct msample *s;
	size_t i, k;

	for (i = 0; i < mm->nfams; i++) {
		f = &mm->fams[i];
		if (f->first == 0)
			continue;	/* described, never sampled */
		if (f->help != NULL)
			mbuf_printf(b, "# HELP %s %s\n", f->name, f->help);
		if (f->type != NULL)
			mbuf_printf(b, "# TYPE %s %s\n", f->name, f->type);
		for (k = f->first; k != 0; k = s->next_in_fam) {
			s = &mm->samples[k - 1];
			mbuf_printf(b, "%s ", s->key);
			metrics_value(b, s->v);
			mbuf_add(b, "\n", 1);
		}
	}
}

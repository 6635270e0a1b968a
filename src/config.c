/*
 * config: load wsd.conf with libconfig and validate it into a
 * struct wsd_config.
 *
 * Nothing stops at the first mistake.  Every check that fails records a
 * problem tagged with the file and line of the offending setting, and
 * the loader carries on with a default in its place so that later
 * checks still run.  At the end the problems are sorted into file order
 * and handed to the caller; if there were any, the config is thrown
 * away.
 *
 * Types are strict (no libconfig auto-conversion): integers may be
 * written as int or int64 ("5000000000L"), and durations in seconds may
 * be int, int64 or float.  Unknown keys are errors everywhere except
 * inside a route's `settings` group, which belongs to the plugin.
 */
#include <sys/stat.h>

#include <arpa/inet.h>
#include <errno.h>
#include <libgen.h>
#include <limits.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <syslog.h>
#include <unistd.h>

#include "bpwire.h"
#include "config.h"
#include "pattern.h"

#define NITEMS(a)	(sizeof(a) / sizeof((a)[0]))

/* A problem found while loading, before it is sorted into file order. */
struct problem {
	const char	*file;	/* file the setting came from */
	unsigned int	 line;
	size_t		 seq;	/* order of discovery, to keep sorts stable */
	size_t		 rank;	/* order of the file: 0 is the main file */
	char		*msg;	/* "FILE:LINE: message" */
};

struct loader {
	struct wsd_config	*c;
	struct problem		*p;
	size_t			 np;
	size_t			 nmissing;	/* of them, plugin files */
	size_t			 nlost;		/* problems without memory */
};

/* ------------------------------------------------------------ memory */

/*
 * Out of memory while a configuration loads.  A worker reloads with this
 * code, and must not die of it: load() sets unwind.jb, oom() frees the
 * temporaries held (those not yet hung on the configuration) and jumps
 * back there, and load() frees the partial configuration and fails.
 * Outside a load, as before, it aborts.
 */
#define HELD_MAX	4
static struct {
	jmp_buf		*jb;
	void		*held[HELD_MAX];
	size_t		 nheld;
} unwind;

static void __attribute__((noreturn))
oom(void)
{
	while (unwind.nheld > 0)
		free(unwind.held[--unwind.nheld]);
	if (unwind.jb != NULL)
		longjmp(*unwind.jb, 1);
	abort();
}

/* Free p if oom() unwinds before let_go(p); LIFO. */
static void
hold(void *p)
{
	if (unwind.nheld == HELD_MAX)
		abort();	/* a programming error */
	unwind.held[unwind.nheld++] = p;
}

static void
let_go(void *p)
{
	if (unwind.nheld == 0 || unwind.held[unwind.nheld - 1] != p)
		abort();	/* a programming error */
	unwind.nheld--;
}

static void *
xcalloc(size_t n, size_t size)
{
	void *p;

	if ((p = calloc(n == 0 ? 1 : n, size == 0 ? 1 : size)) == NULL)
		oom();
	return p;
}

static void *
xreallocarray(void *p, size_t n, size_t size)
{
	if ((p = reallocarray(p, n == 0 ? 1 : n, size)) == NULL)
		oom();
	return p;
}

static char *
xstrdup(const char *s)
{
	char *d;

	if ((d = strdup(s)) == NULL)
		oom();
	return d;
}

static char *xasprintf(const char *fmt, ...)
    __attribute__((format(printf, 1, 2)));

static char *
xasprintf(const char *fmt, ...)
{
	va_list ap;
	char *s;
	int r;

	va_start(ap, fmt);
	r = vasprintf(&s, fmt, ap);
	va_end(ap);
	if (r == -1)
		oom();
	return s;
}

/* ------------------------------------------------------------ errors */

/*
 * Append an allocated message; e takes ownership.  Without memory the
 * message is lost (the caller fails anyway): a worker reloading must not
 * die of a message.
 */
static void
errors_push(struct wsd_errors *e, char *m)
{
	char **n;

	if ((n = reallocarray(e->msg, e->n + 1, sizeof(*e->msg))) == NULL) {
		free(m);
		return;
	}
	e->msg = n;
	e->msg[e->n++] = m;
}

void
errors_add(struct wsd_errors *e, const char *fmt, ...)
{
	va_list ap;
	char *m;
	int r;

	va_start(ap, fmt);
	r = vasprintf(&m, fmt, ap);
	va_end(ap);
	if (r != -1)
		errors_push(e, m);
}

void
errors_clear(struct wsd_errors *e)
{
	size_t i;

	if (e == NULL)
		return;
	for (i = 0; i < e->n; i++)
		free(e->msg[i]);
	free(e->msg);
	e->msg = NULL;
	e->n = 0;
}

static void problem(struct loader *, const config_setting_t *,
    const char *, ...) __attribute__((format(printf, 3, 4)));

/* Record a problem at the file and line of setting s. */
static void
problem(struct loader *ld, const config_setting_t *s, const char *fmt, ...)
{
	struct problem *p, *np;
	const char *file = NULL;
	unsigned int line = 0;
	va_list ap;
	char *m;
	int r;

	if (s != NULL) {
		file = config_setting_source_file(s);
		line = config_setting_source_line(s);
	}
	if (file == NULL)
		file = ld->c->file;

	/*
	 * Without memory the problem is only counted (the load fails with
	 * "out of memory"): problem() is called with temporaries in hand
	 * everywhere, and must not unwind.
	 */
	np = reallocarray(ld->p, ld->np + 1, sizeof(*ld->p));
	if (np == NULL) {
		ld->nlost++;
		return;
	}
	ld->p = np;
	va_start(ap, fmt);
	r = vasprintf(&m, fmt, ap);
	va_end(ap);
	if (r == -1) {
		ld->nlost++;
		return;
	}
	p = &ld->p[ld->np];
	p->file = file;
	p->line = line;
	p->seq = ld->np;
	p->rank = 0;
	r = asprintf(&p->msg, "%s:%u: %s", file, line, m);
	free(m);
	if (r == -1) {
		ld->nlost++;
		return;
	}
	ld->np++;
}

static int
problem_cmp(const void *a, const void *b)
{
	const struct problem *pa = a, *pb = b;

	if (pa->rank != pb->rank)
		return pa->rank < pb->rank ? -1 : 1;
	if (pa->line != pb->line)
		return pa->line < pb->line ? -1 : 1;
	if (pa->seq != pb->seq)
		return pa->seq < pb->seq ? -1 : 1;
	return 0;
}

/*
 * Hand the problems to errs in file order: the main file first, then
 * included files in the order their first problem was found; by line
 * within a file.  Returns how many there were.
 */
static size_t
problems_flush(struct loader *ld, struct wsd_errors *errs)
{
	size_t i, j, n = ld->np;

	for (i = 0; i < n; i++) {
		if (strcmp(ld->p[i].file, ld->c->file) == 0) {
			ld->p[i].rank = 0;
			continue;
		}
		for (j = 0; j < i; j++)
			if (strcmp(ld->p[j].file, ld->p[i].file) == 0)
				break;
		ld->p[i].rank = j + 1;
	}
	if (n > 1)
		qsort(ld->p, n, sizeof(*ld->p), problem_cmp);
	for (i = 0; i < n; i++)
		errors_push(errs, ld->p[i].msg);
	free(ld->p);
	ld->p = NULL;
	ld->np = 0;
	if (ld->nlost > 0) {
		errors_add(errs, "%s: out of memory", ld->c->file);
		n += ld->nlost;
		ld->nlost = 0;
	}
	return n;
}

/* ------------------------------------------------------------ keys */

static const char *const top_keys[] = {
	"listen", "plugin_dir", "document_root", "log_level", "limits",
	"strict_permissions", "workers", "worker_timeout", "worker_header",
	"routes", "cluster", "compression", "access_log", "metrics",
	"trusted_proxies", NULL
};
static const char *const listen_keys[] = {
	"address", "port", "tls", "proxy_protocol", "trusted_proxies", NULL
};
static const char *const tls_keys[] = {
	"certificate", "key", "ciphers", "ciphersuites", "min_protocol",
	"client_ca", "verify_client", "sni", NULL
};
static const char *const sni_keys[] = { "certificate", "key", NULL };
static const char *const route_keys[] = {
	"path", "plugin", "origins", "settings", "limits", "compression", NULL
};
static const char *const limit_keys[] = {
	"max_message_size", "max_fragments", "max_head_size", "max_headers",
	"handshake_timeout", "idle_timeout", "ping_interval", "close_timeout",
	"max_send_buffer", "send_high_water", "max_connections", "pong_timeout",
	"max_pending_per_address", "max_output_total", NULL
};

#define HINT_MAX_LEN	40

/*
 * Optimal string alignment distance (Levenshtein plus transposition of
 * neighbours), or HINT_MAX_LEN when either string is too long to care.
 */
static size_t
edit_distance(const char *a, const char *b)
{
	size_t d[HINT_MAX_LEN + 1][HINT_MAX_LEN + 1];
	size_t la = strlen(a), lb = strlen(b), i, j, v;

	if (la > HINT_MAX_LEN || lb > HINT_MAX_LEN)
		return HINT_MAX_LEN;
	for (i = 0; i <= la; i++)
		d[i][0] = i;
	for (j = 0; j <= lb; j++)
		d[0][j] = j;
	for (i = 1; i <= la; i++) {
		for (j = 1; j <= lb; j++) {
			v = d[i - 1][j - 1] + (a[i - 1] != b[j - 1]);
			if (d[i - 1][j] + 1 < v)
				v = d[i - 1][j] + 1;
			if (d[i][j - 1] + 1 < v)
				v = d[i][j - 1] + 1;
			if (i > 1 && j > 1 && a[i - 1] == b[j - 2] &&
			    a[i - 2] == b[j - 1] && d[i - 2][j - 2] + 1 < v)
				v = d[i - 2][j - 2] + 1;
			d[i][j] = v;
		}
	}
	return d[la][lb];
}

/* The known key closest to name within distance 2, or NULL. */
static const char *
suggest(const char *name, const char *const *known)
{
	const char *best = NULL;
	size_t bestd = 3, dist;

	for (; *known != NULL; known++) {
		dist = edit_distance(name, *known);
		if (dist < bestd && dist < strlen(*known)) {
			bestd = dist;
			best = *known;
		}
	}
	return best;
}

static bool
key_known(const char *name, const char *const *known)
{
	for (; *known != NULL; known++)
		if (strcmp(name, *known) == 0)
			return true;
	return false;
}

/* Report every member of group whose name is not in known. */
static void
check_keys(struct loader *ld, const config_setting_t *group,
    const char *const *known)
{
	const config_setting_t *s;
	const char *name, *hint;
	int i, n;

	n = config_setting_length(group);
	for (i = 0; i < n; i++) {
		s = config_setting_get_elem(group, (unsigned int)i);
		if (s == NULL || (name = config_setting_name(s)) == NULL)
			continue;
		if (key_known(name, known))
			continue;
		if ((hint = suggest(name, known)) != NULL)
			problem(ld, s, "unknown key '%s' (did you mean '%s'?)",
			    name, hint);
		else
			problem(ld, s, "unknown key '%s'", name);
	}
}

/* ------------------------------------------------------------ values */

enum got {
	GOT_NONE,	/* the key is absent */
	GOT_OK,
	GOT_BAD,	/* present but unusable; already reported */
};

static bool
is_integer(const config_setting_t *s)
{
	int t = config_setting_type(s);

	return t == CONFIG_TYPE_INT || t == CONFIG_TYPE_INT64;
}

static bool
has_ctl(const char *s)
{
	for (; *s != '\0'; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			return true;
	return false;
}

static enum got
get_string(struct loader *ld, const config_setting_t *g, const char *name,
    const char **v, const config_setting_t **sp)
{
	const config_setting_t *s;

	*sp = s = config_setting_get_member(g, name);
	if (s == NULL)
		return GOT_NONE;
	if (config_setting_type(s) != CONFIG_TYPE_STRING) {
		problem(ld, s, "'%s' must be a string", name);
		return GOT_BAD;
	}
	*v = config_setting_get_string(s);
	return GOT_OK;
}

/* An integer in [min, max]. */
static enum got
get_int(struct loader *ld, const config_setting_t *g, const char *name,
    long long min, long long max, long long *v)
{
	const config_setting_t *s;
	long long x;

	if ((s = config_setting_get_member(g, name)) == NULL)
		return GOT_NONE;
	if (!is_integer(s)) {
		problem(ld, s, "'%s' must be an integer", name);
		return GOT_BAD;
	}
	x = config_setting_get_int64(s);
	if (x < min || x > max) {
		if (max == LLONG_MAX)
			problem(ld, s, "'%s' must be at least %lld (got %lld)",
			    name, min, x);
		else
			problem(ld, s,
			    "'%s' must be between %lld and %lld (got %lld)",
			    name, min, max, x);
		return GOT_BAD;
	}
	*v = x;
	return GOT_OK;
}

/*
 * A duration in seconds (int or float), returned in milliseconds.
 * positive: 0 is refused as well as negative values.
 */
static enum got
get_seconds(struct loader *ld, const config_setting_t *g, const char *name,
    bool positive, uint32_t *ms)
{
	const config_setting_t *s;
	double secs, m;

	if ((s = config_setting_get_member(g, name)) == NULL)
		return GOT_NONE;
	if (is_integer(s))
		secs = (double)config_setting_get_int64(s);
	else if (config_setting_type(s) == CONFIG_TYPE_FLOAT)
		secs = config_setting_get_float(s);
	else {
		problem(ld, s, "'%s' must be a number of seconds", name);
		return GOT_BAD;
	}
	if (!isfinite(secs)) {
		problem(ld, s, "'%s' must be a finite number of seconds",
		    name);
		return GOT_BAD;
	}
	if (positive && secs <= 0) {
		problem(ld, s, "'%s' must be greater than 0 (got %g)", name,
		    secs);
		return GOT_BAD;
	}
	if (secs < 0) {
		problem(ld, s, "'%s' must not be negative (got %g)", name,
		    secs);
		return GOT_BAD;
	}
	m = secs * 1000.0 + 0.5;
	if (m > (double)UINT32_MAX) {
		problem(ld, s, "'%s' is too large (at most %u seconds)", name,
		    UINT32_MAX / 1000);
		return GOT_BAD;
	}
	*ms = (uint32_t)m;
	if (*ms == 0 && secs > 0)
		*ms = 1;	/* a positive value never rounds to "off" */
	return GOT_OK;
}

/* The setting `name` of group g if it is a group; reports other types. */
static const config_setting_t *
get_group(struct loader *ld, const config_setting_t *g, const char *name)
{
	const config_setting_t *s;

	if ((s = config_setting_get_member(g, name)) == NULL)
		return NULL;
	if (!config_setting_is_group(s)) {
		problem(ld, s, "'%s' must be a group", name);
		return NULL;
	}
	return s;
}

/* ------------------------------------------------------------ paths */

/* rel if it is absolute, else dir/rel. */
static char *
path_join(const char *dir, const char *rel)
{
	size_t len;

	if (rel[0] == '/')
		return xstrdup(rel);
	len = strlen(dir);
	if (len > 0 && dir[len - 1] == '/')
		return xasprintf("%s%s", dir, rel);
	return xasprintf("%s/%s", dir, rel);
}

/* p made absolute against the current directory, if possible. */
static char *
path_absolute(const char *p)
{
	char *cwd, *r;

	if (p[0] == '/' || (cwd = getcwd(NULL, 0)) == NULL)
		return xstrdup(p);
	hold(cwd);
	r = path_join(cwd, p);
	let_go(cwd);
	free(cwd);
	return r;
}

/* The directory of file, absolute and canonical when possible. */
static char *
file_dir(const char *file)
{
	char *tmp, *d, *r;

	tmp = xstrdup(file);
	hold(tmp);
	d = dirname(tmp);
	if ((r = realpath(d, NULL)) == NULL)
		r = path_absolute(d);
	let_go(tmp);
	free(tmp);
	return r;
}

/* ------------------------------------------------------------ limits */

enum limit_kind {
	LIMIT_INT,
	LIMIT_SECONDS,
};

struct limit_def {
	const char	*key;		/* as written in the file */
	enum limit_kind	 kind;
	long long	 min;		/* LIMIT_SECONDS: 1 means "> 0" */
	long long	 max;
	size_t		 off;
	size_t		 size;
	bool		 global_only;
};

#define LIMIT(key, field, kind, lo, hi, global)				\
	{ key, kind, lo, hi, offsetof(struct wsd_limits, field),	\
	  sizeof(((struct wsd_limits *)0)->field), global }

static const struct limit_def limit_defs[] = {
	LIMIT("max_message_size", max_message_size, LIMIT_INT,
	    1, LLONG_MAX, false),
	LIMIT("max_fragments", max_fragments, LIMIT_INT,
	    1, UINT32_MAX, false),
	LIMIT("max_head_size", max_head_size, LIMIT_INT,
	    256, 1048576, true),
	LIMIT("max_headers", max_headers, LIMIT_INT,
	    1, 10000, true),
	LIMIT("handshake_timeout", handshake_timeout_ms, LIMIT_SECONDS,
	    1, 0, true),
	LIMIT("idle_timeout", idle_timeout_ms, LIMIT_SECONDS,
	    0, 0, false),
	LIMIT("ping_interval", ping_interval_ms, LIMIT_SECONDS,
	    0, 0, false),
	LIMIT("close_timeout", close_timeout_ms, LIMIT_SECONDS,
	    1, 0, false),
	LIMIT("max_send_buffer", max_send_buffer, LIMIT_INT,
	    1024, LLONG_MAX, false),
	LIMIT("send_high_water", send_high_water, LIMIT_INT,
	    1, LLONG_MAX, false),
	LIMIT("max_connections", max_connections, LIMIT_INT,
	    0, UINT32_MAX, true),
	LIMIT("pong_timeout", pong_timeout_ms, LIMIT_SECONDS,
	    0, 0, false),
	LIMIT("max_pending_per_address", max_pending_per_address, LIMIT_INT,
	    0, UINT32_MAX, true),
	LIMIT("max_output_total", max_output_total, LIMIT_INT,
	    0, LLONG_MAX, true),
};

_Static_assert(NITEMS(limit_defs) == NITEMS(limit_keys) - 1,
    "limit_defs and limit_keys disagree");

void
config_default_limits(struct wsd_limits *l)
{
	memset(l, 0, sizeof(*l));
	l->max_message_size = WSD_DEFAULT_MAX_MESSAGE;
	l->max_fragments = WSD_DEFAULT_MAX_FRAGMENTS;
	l->max_head_size = WSD_DEFAULT_MAX_HEAD;
	l->max_headers = WSD_DEFAULT_MAX_HEADERS;
	l->handshake_timeout_ms = WSD_DEFAULT_HANDSHAKE_MS;
	l->idle_timeout_ms = WSD_DEFAULT_IDLE_MS;
	l->ping_interval_ms = WSD_DEFAULT_PING_MS;
	l->pong_timeout_ms = WSD_DEFAULT_PONG_MS;
	l->close_timeout_ms = WSD_DEFAULT_CLOSE_MS;
	l->max_send_buffer = WSD_DEFAULT_MAX_SEND_BUFFER;
	l->send_high_water = WSD_DEFAULT_SEND_HIGH_WATER;
	l->max_connections = 0;
	l->max_pending_per_address = WSD_DEFAULT_MAX_PENDING_PER_ADDRESS;
	l->max_output_total = WSD_DEFAULT_MAX_OUTPUT_TOTAL;
}

static void
limit_store(struct wsd_limits *l, const struct limit_def *d, uint64_t v)
{
	char *p = (char *)l + d->off;

	if (d->size == sizeof(uint64_t)) {
		uint64_t x = v;

		memcpy(p, &x, sizeof(x));
	} else {
		uint32_t x = (uint32_t)v;

		memcpy(p, &x, sizeof(x));
	}
}

/*
 * Apply the keys of limits group g on top of *l.  In a route, keys that
 * only make sense globally are refused: those that apply before any route
 * is known (the request head and its timer) and daemon-wide caps.
 */
static void
parse_limits(struct loader *ld, const config_setting_t *g,
    struct wsd_limits *l, bool in_route)
{
	const struct limit_def *d;
	const config_setting_t *s;
	const char *key;
	long long v;
	uint32_t ms;
	size_t i;

	check_keys(ld, g, limit_keys);
	for (i = 0; i < NITEMS(limit_defs); i++) {
		d = &limit_defs[i];
		key = d->key;
		if ((s = config_setting_get_member(g, key)) == NULL)
			continue;
		if (in_route && d->global_only) {
			problem(ld, s, "'%s' is only allowed in the global "
			    "limits, not in a route", key);
			continue;
		}
		if (d->kind == LIMIT_INT) {
			if (get_int(ld, g, key, d->min, d->max, &v) == GOT_OK)
				limit_store(l, d, (uint64_t)v);
		} else {
			if (get_seconds(ld, g, key, d->min > 0, &ms) ==
			    GOT_OK)
				limit_store(l, d, ms);
		}
	}
}

/* ------------------------------------------------------------ compression */

static const char *const compression_keys[] = {
	"enabled", "server_no_context_takeover", "client_no_context_takeover",
	"server_max_window_bits", "client_max_window_bits", "level",
	"mem_level", "min_size", NULL
};

static void
compression_bool(struct loader *ld, const config_setting_t *g,
    const char *name, bool *v)
{
	const config_setting_t *s;

	if ((s = config_setting_get_member(g, name)) == NULL)
		return;
	if (config_setting_type(s) != CONFIG_TYPE_BOOL) {
		problem(ld, s, "'%s' must be true or false", name);
		return;
	}
	*v = config_setting_get_bool(s);
}

static void
compression_u8(struct loader *ld, const config_setting_t *g,
    const char *name, long long min, long long max, uint8_t *v)
{
	long long x;

	if (get_int(ld, g, name, min, max, &x) == GOT_OK)
		*v = (uint8_t)x;
}

/*
 * The `compression` group (permessage-deflate) on top of *pc: the
 * global one on the defaults, a route's on the global one.
 */
static void
parse_compression(struct loader *ld, const config_setting_t *g,
    struct pmd_conf *pc)
{
	long long x;

	check_keys(ld, g, compression_keys);
	compression_bool(ld, g, "enabled", &pc->enabled);
	compression_bool(ld, g, "server_no_context_takeover",
	    &pc->server_no_context_takeover);
	compression_bool(ld, g, "client_no_context_takeover",
	    &pc->client_no_context_takeover);
	compression_u8(ld, g, "server_max_window_bits", PMD_SERVER_WBITS_MIN,
	    PMD_WBITS_MAX, &pc->server_max_window_bits);
	compression_u8(ld, g, "client_max_window_bits", PMD_CLIENT_WBITS_MIN,
	    PMD_WBITS_MAX, &pc->client_max_window_bits);
	compression_u8(ld, g, "level", 1, 9, &pc->level);
	compression_u8(ld, g, "mem_level", 1, 9, &pc->mem_level);
	if (get_int(ld, g, "min_size", 0, LLONG_MAX, &x) == GOT_OK)
		pc->min_size = (uint64_t)x;
}

/* ------------------------------------------------------------ top level */

int
config_parse_log_level(const char *s)
{
	static const struct {
		const char	*name;
		int		 level;
	} levels[] = {
		{ "debug", LOG_DEBUG },
		{ "info", LOG_INFO },
		{ "notice", LOG_NOTICE },
		{ "warning", LOG_WARNING },
		{ "error", LOG_ERR },
	};
	size_t i;

	if (s == NULL)
		return -1;
	for (i = 0; i < NITEMS(levels); i++)
		if (strcasecmp(s, levels[i].name) == 0)
			return levels[i].level;
	return -1;
}

static void
parse_log_level(struct loader *ld, const config_setting_t *root)
{
	const config_setting_t *s;
	const char *v;
	int level;

	if (get_string(ld, root, "log_level", &v, &s) != GOT_OK)
		return;
	if ((level = config_parse_log_level(v)) == -1) {
		if (has_ctl(v))
			problem(ld, s, "'log_level' must be one of debug, "
			    "info, notice, warning, error");
		else
			problem(ld, s, "'log_level' must be one of debug, "
			    "info, notice, warning, error (got '%s')", v);
		return;
	}
	ld->c->log_level = level;
}

/*
 * workers = N | "auto"; worker_timeout = seconds (0: never);
 * worker_header = bool.
 */
static void
parse_workers(struct loader *ld, const config_setting_t *root)
{
	struct wsd_config *c = ld->c;
	const config_setting_t *s;
	long long n;

	c->workers = 1;
	c->worker_timeout_ms = WSD_DEFAULT_WORKER_TIMEOUT_MS;
	if ((s = config_setting_get_member(root, "workers")) != NULL) {
		if (config_setting_type(s) == CONFIG_TYPE_STRING) {
			if (strcmp(config_setting_get_string(s), "auto") == 0)
				c->workers = 0;
			else
				problem(ld, s, "'workers' must be a number "
				    "from 1 to %d or \"auto\"", WSD_WORKERS_MAX);
		} else if (get_int(ld, root, "workers", 1, WSD_WORKERS_MAX,
		    &n) == GOT_OK) {
			c->workers = (int)n;
		}
	}
	if (config_setting_get_member(root, "worker_timeout") != NULL &&
	    get_int(ld, root, "worker_timeout", 0, 3600, &n) == GOT_OK)
		c->worker_timeout_ms = (uint32_t)n * 1000;
	if ((s = config_setting_get_member(root, "worker_header")) != NULL) {
		if (config_setting_type(s) != CONFIG_TYPE_BOOL)
			problem(ld, s, "'worker_header' must be true or false");
		else
			c->worker_header = config_setting_get_bool(s);
	}
}

static void
parse_plugin_dir(struct loader *ld, const config_setting_t *root,
    const char *plugin_dir_default)
{
	struct wsd_config *c = ld->c;
	const config_setting_t *s;
	const char *v;

	switch (get_string(ld, root, "plugin_dir", &v, &s)) {
	case GOT_OK:
		if (v[0] == '\0') {
			problem(ld, s, "'plugin_dir' must not be empty");
			break;
		}
		c->plugin_dir = path_join(c->dir, v);
		break;
	case GOT_NONE:
		if (plugin_dir_default != NULL)
			c->plugin_dir = path_absolute(plugin_dir_default);
		else
			c->plugin_dir = xstrdup(c->dir);
		break;
	case GOT_BAD:
		break;
	}
}

static void
parse_document_root(struct loader *ld, const config_setting_t *root)
{
	struct wsd_config *c = ld->c;
	const config_setting_t *s;
	struct stat st;
	const char *v;
	char *p;

	if (get_string(ld, root, "document_root", &v, &s) != GOT_OK)
		return;
	if (v[0] == '\0') {
		problem(ld, s, "'document_root' must not be empty");
		return;
	}
	p = path_join(c->dir, v);
	if (stat(p, &st) == -1) {
		problem(ld, s, "document_root %s: %s", p, strerror(errno));
		free(p);
	} else if (!S_ISDIR(st.st_mode)) {
		problem(ld, s, "document_root %s: not a directory", p);
		free(p);
	} else
		c->document_root = p;
}

/*
 * access_log = { format = "text" | "json"; file = "PATH"; }: the file is
 * resolved against the configuration's directory; its directory must
 * exist (wsd does not make directories), the file is made if missing.
 */
static void
parse_access_log(struct loader *ld, const config_setting_t *root)
{
	static const char *const keys[] = { "format", "file", NULL };
	struct wsd_config *c = ld->c;
	const config_setting_t *g, *s;
	struct stat st;
	const char *v;
	char *p, *slash;

	if ((g = get_group(ld, root, "access_log")) == NULL)
		return;
	check_keys(ld, g, keys);
	if (get_string(ld, g, "format", &v, &s) == GOT_OK) {
		if (strcmp(v, "json") == 0)
			c->access_json = true;
		else if (strcmp(v, "text") != 0)
			problem(ld, s, "'format' must be \"text\" or \"json\"");
	}
	if (get_string(ld, g, "file", &v, &s) != GOT_OK)
		return;
	if (v[0] == '\0') {
		problem(ld, s, "'file' must not be empty");
		return;
	}
	p = path_join(c->dir, v);
	if ((slash = strrchr(p, '/')) != NULL && slash != p) {
		*slash = '\0';
		if (stat(p, &st) == -1) {
			problem(ld, s, "access_log file: directory %s: %s", p,
			    strerror(errno));
			free(p);
			return;
		}
		if (!S_ISDIR(st.st_mode)) {
			problem(ld, s, "access_log file: %s is not a "
			    "directory", p);
			free(p);
			return;
		}
		*slash = '/';
	}
	if (stat(p, &st) == 0 && S_ISDIR(st.st_mode)) {
		problem(ld, s, "access_log file %s: a directory", p);
		free(p);
		return;
	}
	c->access_file = p;
}

/* Whether two textual addresses name the same address. */
static bool
same_address(const char *a, const char *b)
{
	unsigned char ba[sizeof(struct in6_addr)], bb[sizeof(struct in6_addr)];

	if (inet_pton(AF_INET, a, ba) == 1)
		return inet_pton(AF_INET, b, bb) == 1 &&
		    memcmp(ba, bb, sizeof(struct in_addr)) == 0;
	if (inet_pton(AF_INET6, a, ba) == 1)
		return inet_pton(AF_INET6, b, bb) == 1 &&
		    memcmp(ba, bb, sizeof(struct in6_addr)) == 0;
	return false;
}

static bool
address_valid(const char *a)
{
	unsigned char buf[sizeof(struct in6_addr)];

	return inet_pton(AF_INET, a, buf) == 1 ||
	    inet_pton(AF_INET6, a, buf) == 1;
}

/* ------------------------------------------------------------ tls */

/* A file path setting: present, non-empty, resolved against the config. */
static enum got
tls_path(struct loader *ld, const config_setting_t *g, const char *name,
    char **out, int *line)
{
	const config_setting_t *s;
	const char *v;
	enum got got;

	if ((got = get_string(ld, g, name, &v, &s)) != GOT_OK)
		return got;
	if (*v == '\0' || has_ctl(v)) {
		problem(ld, s, "'%s' must be a file name", name);
		return GOT_BAD;
	}
	*out = path_join(ld->c->dir, v);
	if (line != NULL)
		*line = (int)config_setting_source_line(s);
	return GOT_OK;
}

/* A certificate and its key from group g; false if either is missing. */
static bool
tls_cert(struct loader *ld, const config_setting_t *g,
    struct wsd_tls_cert_conf *cc)
{
	bool ok;

	memset(cc, 0, sizeof(*cc));
	cc->line = (int)config_setting_source_line(g);
	if (tls_path(ld, g, "certificate", &cc->certificate, &cc->line) ==
	    GOT_NONE)
		problem(ld, g, "'tls' needs a 'certificate' (a PEM file, "
		    "the certificate first, then its chain)");
	if (tls_path(ld, g, "key", &cc->key, NULL) == GOT_NONE)
		problem(ld, g, "'tls' needs a 'key' (the certificate's "
		    "private key, PEM)");
	ok = cc->certificate != NULL && cc->key != NULL;
	if (!ok) {
		free(cc->certificate);
		free(cc->key);
		cc->certificate = cc->key = NULL;
	}
	return ok;
}

/* A cipher list: printable, no spaces that OpenSSL would choke on. */
static enum got
tls_ciphers(struct loader *ld, const config_setting_t *g, const char *name,
    char **out, int *line)
{
	const config_setting_t *s;
	const char *v;
	enum got got;

	if ((got = get_string(ld, g, name, &v, &s)) != GOT_OK)
		return got;
	if (*v == '\0' || has_ctl(v)) {
		problem(ld, s, "'%s' must be a non-empty OpenSSL cipher list",
		    name);
		return GOT_BAD;
	}
	*out = xstrdup(v);
	*line = (int)config_setting_source_line(s);
	return GOT_OK;
}

void
tls_conf_free(struct wsd_tls_conf *t)
{
	size_t i;

	if (t == NULL)
		return;
	for (i = 0; i < t->ncerts; i++) {
		free(t->certs[i].certificate);
		free(t->certs[i].key);
	}
	free(t->certs);
	free(t->ciphers);
	free(t->ciphersuites);
	free(t->client_ca);
	free(t);
}

/*
 * tls = { certificate = ...; key = ...; ... } into *out (NULL when absent
 * or wrong): the files are only named here; tls.c loads and checks them
 * (and wsd -t reports what it finds with this group's lines).
 */
static void
parse_tls(struct loader *ld, const config_setting_t *e,
    struct wsd_tls_conf **out)
{
	const config_setting_t *g, *s, *sni;
	struct wsd_tls_conf *t;
	const char *v;
	bool ok = true;
	int i, n;

	*out = NULL;
	if ((g = get_group(ld, e, "tls")) == NULL)
		return;
	check_keys(ld, g, tls_keys);
	/*
	 * Hung on the listener at once, and each certificate slot counted
	 * before it is filled: if memory runs out below, the partial
	 * configuration's config_free() frees all of it.
	 */
	t = *out = xcalloc(1, sizeof(*t));
	t->line = (int)config_setting_source_line(g);
	t->min_protocol = WSD_TLS_MIN_DEFAULT;
	t->certs = xcalloc(1, sizeof(*t->certs));
	t->ncerts = 1;
	if (!tls_cert(ld, g, &t->certs[0]))
		ok = false;

	if ((sni = config_setting_get_member(g, "sni")) != NULL) {
		if (!config_setting_is_list(sni) &&
		    !config_setting_is_array(sni)) {
			problem(ld, sni, "'sni' must be a list of groups "
			    "( { certificate = ...; key = ...; }, ... )");
			ok = false;
		} else {
			n = config_setting_length(sni);
			t->certs = xreallocarray(t->certs, (size_t)n + 1,
			    sizeof(*t->certs));
			for (i = 0; i < n; i++) {
				s = config_setting_get_elem(sni,
				    (unsigned int)i);
				if (!config_setting_is_group(s)) {
					problem(ld, s, "'sni' entries must be "
					    "groups");
					ok = false;
					continue;
				}
				check_keys(ld, s, sni_keys);
				/* tls_conf_free() frees what is counted. */
				memset(&t->certs[t->ncerts], 0,
				    sizeof(*t->certs));
				if (!tls_cert(ld, s, &t->certs[t->ncerts++]))
					ok = false;
			}
		}
	}

	if (tls_ciphers(ld, g, "ciphers", &t->ciphers,
	    &t->ciphers_line) == GOT_BAD)
		ok = false;
	if (tls_ciphers(ld, g, "ciphersuites", &t->ciphersuites,
	    &t->ciphersuites_line) == GOT_BAD)
		ok = false;

	switch (get_string(ld, g, "min_protocol", &v, &s)) {
	case GOT_OK:
		if (strcmp(v, "TLSv1.2") == 0)
			t->min_protocol = WSD_TLS_1_2;
		else if (strcmp(v, "TLSv1.3") == 0)
			t->min_protocol = WSD_TLS_1_3;
		else {
			problem(ld, s, "'min_protocol' must be \"TLSv1.2\" or "
			    "\"TLSv1.3\"");
			ok = false;
		}
		break;
	case GOT_BAD:
		ok = false;
		break;
	case GOT_NONE:
		break;
	}

	if (tls_path(ld, g, "client_ca", &t->client_ca,
	    &t->client_ca_line) == GOT_BAD)
		ok = false;
	switch (get_string(ld, g, "verify_client", &v, &s)) {
	case GOT_OK:
		if (strcmp(v, "optional") == 0)
			t->verify_client = WSD_VERIFY_OPTIONAL;
		else if (strcmp(v, "required") == 0)
			t->verify_client = WSD_VERIFY_REQUIRED;
		else if (strcmp(v, "off") == 0)
			t->verify_client = WSD_VERIFY_NONE;
		else {
			problem(ld, s, "'verify_client' must be \"off\", "
			    "\"optional\" or \"required\"");
			ok = false;
		}
		if (t->verify_client != WSD_VERIFY_NONE &&
		    t->client_ca == NULL) {
			problem(ld, s, "'verify_client' needs 'client_ca' "
			    "(the CA certificates client certificates must "
			    "be signed by)");
			ok = false;
		}
		break;
	case GOT_BAD:
		ok = false;
		break;
	case GOT_NONE:
		/* A CA alone means: ask for a certificate, do not insist. */
		if (t->client_ca != NULL)
			t->verify_client = WSD_VERIFY_OPTIONAL;
		break;
	}
	if (!ok) {
		*out = NULL;
		tls_conf_free(t);
	}
}

/* ------------------------------------------------------------ proxies */

/*
 * trusted_proxies = [ "127.0.0.1", "10.0.0.0/8", "::1" ] in group g, if
 * there: false when absent, else true with the list in *out (NULL and 0
 * for an empty one: trust nobody).
 */
static bool
parse_trusted(struct loader *ld, const config_setting_t *g, struct cidr **out,
    size_t *nout)
{
	const config_setting_t *s, *e;
	char err[160];
	int i, n;

	*out = NULL;
	*nout = 0;
	if ((s = config_setting_get_member(g, "trusted_proxies")) == NULL)
		return false;
	if (!config_setting_is_array(s) && !config_setting_is_list(s)) {
		problem(ld, s, "'trusted_proxies' must be a list of addresses "
		    "or CIDRs, e.g. [ \"127.0.0.1\", \"10.0.0.0/8\" ]");
		return true;
	}
	n = config_setting_length(s);
	if (n > 0)
		*out = xcalloc((size_t)n, sizeof(**out));
	for (i = 0; i < n; i++) {
		e = config_setting_get_elem(s, (unsigned int)i);
		if (config_setting_type(e) != CONFIG_TYPE_STRING) {
			problem(ld, e, "'trusted_proxies' entries must be "
			    "strings");
			continue;
		}
		if (has_ctl(config_setting_get_string(e))) {
			problem(ld, e, "'trusted_proxies' entry is not an "
			    "address");
			continue;
		}
		if (cidr_parse(config_setting_get_string(e), &(*out)[*nout],
		    err, sizeof(err)) == -1) {
			problem(ld, e, "trusted_proxies: %s", err);
			continue;
		}
		(*nout)++;
	}
	return true;
}

/* The listener's trusted proxies: its own list, else the top-level one. */
static void
listen_trusted(struct loader *ld, const config_setting_t *e,
    struct wsd_listen_conf *l)
{
	const struct wsd_config *c = ld->c;

	if (e != NULL && parse_trusted(ld, e, &l->trusted, &l->ntrusted))
		return;
	if (c->ntrusted == 0)
		return;
	l->trusted = xcalloc(c->ntrusted, sizeof(*l->trusted));
	memcpy(l->trusted, c->trusted, c->ntrusted * sizeof(*l->trusted));
	l->ntrusted = c->ntrusted;
}

static void
parse_listen_entry(struct loader *ld, const config_setting_t *e)
{
	struct wsd_config *c = ld->c;
	struct wsd_listen_conf *l;
	const config_setting_t *s;
	const char *addr = NULL;
	long long port = WSD_DEFAULT_PORT;
	bool ok = true;
	size_t i;

	if (!config_setting_is_group(e)) {
		problem(ld, e, "'listen' entries must be groups");
		return;
	}
	check_keys(ld, e, listen_keys);
	switch (get_string(ld, e, "address", &addr, &s)) {
	case GOT_NONE:
		problem(ld, e, "listen entry has no 'address'");
		ok = false;
		break;
	case GOT_BAD:
		ok = false;
		break;
	case GOT_OK:
		if (!address_valid(addr)) {
			if (has_ctl(addr))
				problem(ld, s, "'address' is not a valid "
				    "IPv4 or IPv6 address");
			else
				problem(ld, s, "'address' is not a valid "
				    "IPv4 or IPv6 address: '%s'", addr);
			ok = false;
		}
		break;
	}
	if (get_int(ld, e, "port", 0, 65535, &port) == GOT_BAD)
		ok = false;
	if (!ok)
		return;

	for (i = 0; i < c->nlisten; i++) {
		l = &c->listen[i];
		if (port != 0 && l->port == port &&
		    same_address(l->address, addr)) {
			problem(ld, e, "duplicate listener %s port %lld "
			    "(first defined at line %d)", addr, port, l->line);
			return;
		}
	}
	c->listen = xreallocarray(c->listen, c->nlisten + 1,
	    sizeof(*c->listen));
	l = &c->listen[c->nlisten++];
	memset(l, 0, sizeof(*l));
	l->address = xstrdup(addr);
	l->port = (int)port;
	l->line = (int)config_setting_source_line(e);
	parse_tls(ld, e, &l->tls);
	if ((s = config_setting_get_member(e, "proxy_protocol")) != NULL) {
		if (config_setting_type(s) != CONFIG_TYPE_BOOL)
			problem(ld, s, "'proxy_protocol' must be true or false");
		else
			l->proxy_protocol = config_setting_get_bool(s);
	}
	listen_trusted(ld, e, l);
}

static void
parse_listen(struct loader *ld, const config_setting_t *root)
{
	struct wsd_config *c = ld->c;
	const config_setting_t *s;
	int i, n;

	if ((s = config_setting_get_member(root, "listen")) == NULL) {
		c->listen = xcalloc(1, sizeof(*c->listen));
		c->listen[0].address = xstrdup("0.0.0.0");
		c->listen[0].port = WSD_DEFAULT_PORT;
		c->listen[0].line = 0;
		c->nlisten = 1;
		listen_trusted(ld, NULL, &c->listen[0]);
		return;
	}
	if (!config_setting_is_list(s)) {
		problem(ld, s, "'listen' must be a list of groups");
		return;
	}
	if ((n = config_setting_length(s)) == 0) {
		problem(ld, s, "'listen' must not be empty");
		return;
	}
	for (i = 0; i < n; i++)
		parse_listen_entry(ld, config_setting_get_elem(s,
		    (unsigned int)i));
}

/* ------------------------------------------------------------ routes */

static bool
route_path_ok(struct loader *ld, const config_setting_t *s, const char *p)
{
	struct pattern pat;
	char err[160];

	if (has_ctl(p) || strpbrk(p, " \t") != NULL) {
		problem(ld, s, "route path must not contain whitespace or "
		    "control characters");
		return false;
	}
	if (p[0] != '/') {
		problem(ld, s, "route path '%s' must start with '/'", p);
		return false;
	}
	if (strpbrk(p, "?#") != NULL) {
		problem(ld, s, "route path '%s' must not contain '?' or '#'",
		    p);
		return false;
	}
	if (pattern_compile(&pat, p, err, sizeof(err)) == -1) {
		if (errno == ENOMEM)
			oom();
		problem(ld, s, "route path '%s': %s", p, err);
		return false;
	}
	pattern_free(&pat);
	return true;
}

static bool
plugin_name_ok(struct loader *ld, const config_setting_t *s, const char *p)
{
	const char *q;
	bool ok = p[0] != '\0' && p[0] != '.';

	for (q = p; ok && *q != '\0'; q++)
		if (strchr("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
		    "0123456789_.-", *q) == NULL)
			ok = false;
	if (ok)
		return true;
	if (has_ctl(p))
		problem(ld, s, "invalid plugin name: use letters, digits, "
		    "'_', '-' and '.' (not first)");
	else
		problem(ld, s, "invalid plugin name '%s': use letters, "
		    "digits, '_', '-' and '.' (not first)", p);
	return false;
}

/* Check that the plugin's shared object is there and readable. */
static void
check_plugin_file(struct loader *ld, const config_setting_t *s,
    struct wsd_route_conf *r)
{
	struct stat st;
	size_t before = ld->np;

	if (stat(r->plugin_path, &st) == -1)
		problem(ld, s, "plugin '%s': %s: %s", r->plugin,
		    r->plugin_path, strerror(errno));
	else if (!S_ISREG(st.st_mode))
		problem(ld, s, "plugin '%s': %s: not a regular file",
		    r->plugin, r->plugin_path);
	else if (access(r->plugin_path, R_OK) == -1)
		problem(ld, s, "plugin '%s': %s: %s", r->plugin,
		    r->plugin_path, strerror(errno));
	if (ld->np > before) {
		r->plugin_missing = true;
		ld->nmissing++;
	}
}

static void
parse_origins(struct loader *ld, const config_setting_t *g,
    struct wsd_route_conf *r)
{
	const config_setting_t *s, *e;
	const char *v;
	int i, n;

	if ((s = config_setting_get_member(g, "origins")) == NULL)
		return;
	if (!config_setting_is_array(s) && !config_setting_is_list(s)) {
		problem(ld, s, "'origins' must be a list of strings");
		return;
	}
	n = config_setting_length(s);
	r->origins = xcalloc((size_t)n + 1, sizeof(*r->origins));
	for (i = 0; i < n; i++) {
		e = config_setting_get_elem(s, (unsigned int)i);
		if (config_setting_type(e) != CONFIG_TYPE_STRING) {
			problem(ld, e, "'origins' entries must be strings");
			continue;
		}
		v = config_setting_get_string(e);
		if (v[0] == '\0') {
			problem(ld, e, "'origins' entries must not be empty");
			continue;
		}
		r->origins[r->norigins++] = xstrdup(v);
	}
}

/* Returns the route's `path` setting if its path is valid, else NULL. */
static const config_setting_t *
parse_route(struct loader *ld, const config_setting_t *e)
{
	struct wsd_config *c = ld->c;
	struct wsd_route_conf *r;
	const config_setting_t *s, *ps = NULL, *ns = NULL;
	const char *v;

	if (!config_setting_is_group(e)) {
		problem(ld, e, "'routes' entries must be groups");
		return NULL;
	}
	/*
	 * The route is kept even when it is broken (the whole config is
	 * dropped anyway), so that later checks still run on the others.
	 */
	c->routes = xreallocarray(c->routes, c->nroutes + 1,
	    sizeof(*c->routes));
	r = &c->routes[c->nroutes++];
	memset(r, 0, sizeof(*r));
	r->line = (int)config_setting_source_line(e);
	r->limits = c->limits;
	r->compression = c->compression;

	check_keys(ld, e, route_keys);

	switch (get_string(ld, e, "path", &v, &ps)) {
	case GOT_NONE:
		problem(ld, e, "route has no 'path'");
		break;
	case GOT_OK:
		if (route_path_ok(ld, ps, v))
			r->path = xstrdup(v);
		break;
	case GOT_BAD:
		break;
	}

	switch (get_string(ld, e, "plugin", &v, &ns)) {
	case GOT_NONE:
		problem(ld, e, "route has no 'plugin'");
		break;
	case GOT_OK:
		if (plugin_name_ok(ld, ns, v))
			r->plugin = xstrdup(v);
		break;
	case GOT_BAD:
		break;
	}

	parse_origins(ld, e, r);
	r->settings = get_group(ld, e, "settings");
	if ((s = get_group(ld, e, "limits")) != NULL)
		parse_limits(ld, s, &r->limits, true);
	if ((s = get_group(ld, e, "compression")) != NULL)
		parse_compression(ld, s, &r->compression);

	if (r->plugin != NULL && c->plugin_dir != NULL) {
		v = c->plugin_dir;
		if (v[0] != '\0' && v[strlen(v) - 1] == '/')
			r->plugin_path = xasprintf("%s%s.so", v, r->plugin);
		else
			r->plugin_path = xasprintf("%s/%s.so", v, r->plugin);
		check_plugin_file(ld, ns, r);
	}
	return r->path != NULL ? ps : NULL;
}

/*
 * Two routes that match exactly the same paths: the later one would
 * never get a request (pattern.h's precedence ends with the file's
 * order).  Both places are named, since either may be the mistake.
 */
static void
check_route_overlap(struct loader *ld, const config_setting_t **ps)
{
	struct wsd_config *c = ld->c;
	struct pattern *pats;
	const char *f;
	size_t i, j;

	pats = xcalloc(c->nroutes, sizeof(*pats));
	for (i = 0; i < c->nroutes; i++)
		if (ps[i] != NULL &&
		    pattern_compile(&pats[i], c->routes[i].path, NULL, 0) == -1) {
			/* ENOMEM: route_path_ok() took it */
			while (i-- > 0)
				pattern_free(&pats[i]);
			free(pats);
			oom();
		}
	for (j = 1; j < c->nroutes; j++) {
		if (ps[j] == NULL)
			continue;
		for (i = 0; i < j; i++) {
			if (ps[i] == NULL || !pattern_same(&pats[i], &pats[j]))
				continue;
			f = config_setting_source_file(ps[i]);
			if (f == NULL)
				f = c->file;
			if (pattern_is_exact(&pats[j]))
				problem(ld, ps[j], "duplicate route %s (first "
				    "defined at %s:%u)", c->routes[j].path, f,
				    config_setting_source_line(ps[i]));
			else
				problem(ld, ps[j], "route %s can never be told "
				    "apart from route %s at %s:%u (the same "
				    "pattern but for parameter names): it "
				    "would never get a request",
				    c->routes[j].path, c->routes[i].path, f,
				    config_setting_source_line(ps[i]));
			break;
		}
	}
	for (i = 0; i < c->nroutes; i++)
		pattern_free(&pats[i]);
	free(pats);
}

static void
parse_routes(struct loader *ld, const config_setting_t *root)
{
	const config_setting_t *s, *r, **ps;
	size_t before;
	int i, n;

	if ((s = config_setting_get_member(root, "routes")) == NULL)
		return;
	if (!config_setting_is_list(s)) {
		problem(ld, s, "'routes' must be a list of groups");
		return;
	}
	n = config_setting_length(s);
	ps = xcalloc((size_t)n, sizeof(*ps));
	hold(ps);
	for (i = 0; i < n; i++) {
		before = ld->c->nroutes;
		r = parse_route(ld, config_setting_get_elem(s,
		    (unsigned int)i));
		/* An entry that is not a group makes no route. */
		if (ld->c->nroutes > before)
			ps[before] = r;
	}
	check_route_overlap(ld, ps);
	let_go(ps);
	free(ps);
}

/* ------------------------------------------------------------ cluster */

static const char *const cluster_keys[] = {
	"redis", "user", "password", "prefix", "max_pending", NULL
};

/* A cluster string: present, non-empty, without control characters. */
static enum got
cluster_string(struct loader *ld, const config_setting_t *g,
    const char *name, char **out)
{
	const config_setting_t *s;
	const char *v;
	enum got got;

	if ((got = get_string(ld, g, name, &v, &s)) != GOT_OK)
		return got;
	if (*v == '\0') {
		problem(ld, s, "'%s' must not be empty", name);
		return GOT_BAD;
	}
	if (has_ctl(v)) {
		problem(ld, s, "'%s' must not contain control characters",
		    name);
		return GOT_BAD;
	}
	*out = xstrdup(v);
	return GOT_OK;
}

/*
 * cluster = { redis = "127.0.0.1:6379"; ... }: the Redis backplane.
 * The address is parsed here, once, by the same code the workers use
 * (bpwire.c), and it never names a host to look up: a worker must not
 * block its loop on a resolver.
 */
static void
parse_cluster(struct loader *ld, const config_setting_t *root)
{
	struct wsd_cluster_conf *cc = &ld->c->cluster;
	const config_setting_t *g, *s;
	struct bpwire_addr addr;
	const char *why;
	long long v;
	size_t i;

	cc->max_pending = WSD_CLUSTER_MAX_PENDING_DEFAULT;
	if ((g = get_group(ld, root, "cluster")) == NULL)
		return;
	cc->line = (int)config_setting_source_line(g);
	check_keys(ld, g, cluster_keys);

	switch (cluster_string(ld, g, "redis", &cc->redis)) {
	case GOT_NONE:
		problem(ld, g, "'cluster' needs 'redis' (\"HOST:PORT\", "
		    "\"[IPV6]:PORT\" or a Unix socket path)");
		break;
	case GOT_OK:
		if (bpwire_parse_addr(cc->redis, &addr, &why) == -1) {
			problem(ld, config_setting_get_member(g, "redis"),
			    "'redis' \"%s\": %s", cc->redis, why);
			free(cc->redis);
			cc->redis = NULL;
		}
		break;
	case GOT_BAD:
		break;
	}
	cluster_string(ld, g, "user", &cc->user);
	cluster_string(ld, g, "password", &cc->password);
	if (cc->user != NULL && cc->password == NULL)
		problem(ld, config_setting_get_member(g, "user"),
		    "'user' needs a 'password'");

	if (cluster_string(ld, g, "prefix", &cc->prefix) == GOT_OK) {
		s = config_setting_get_member(g, "prefix");
		if (strlen(cc->prefix) > WSD_CLUSTER_PREFIX_MAX)
			problem(ld, s, "'prefix' must be at most %d bytes",
			    WSD_CLUSTER_PREFIX_MAX);
		else
			for (i = 0; cc->prefix[i] != '\0'; i++)
				if ((unsigned char)cc->prefix[i] < 0x21 ||
				    (unsigned char)cc->prefix[i] > 0x7e) {
					problem(ld, s, "'prefix' must be "
					    "printable ASCII without spaces");
					break;
				}
	}
	if (cc->prefix == NULL)
		cc->prefix = xstrdup(WSD_CLUSTER_PREFIX_DEFAULT);

	if (get_int(ld, g, "max_pending", WSD_CLUSTER_MAX_PENDING_MIN,
	    (long long)WSD_CLUSTER_MAX_PENDING_MAX, &v) == GOT_OK)
		cc->max_pending = (uint64_t)v;
}

static void
cluster_free(struct wsd_cluster_conf *cc)
{
	free(cc->redis);
	free(cc->user);
	free(cc->password);
	free(cc->prefix);
	memset(cc, 0, sizeof(*cc));
}

/* ------------------------------------------------------------ metrics */

static const char *const metrics_keys[] = { "address", "port", NULL };

/*
 * metrics = { address = "127.0.0.1"; port = 9108; }: the Prometheus
 * listener.  Off without the group; the address defaults to loopback,
 * never to a wildcard.
 */
static void
parse_metrics(struct loader *ld, const config_setting_t *root)
{
	struct wsd_config *c = ld->c;
	struct wsd_metrics_conf *mc = &c->metrics;
	const config_setting_t *g, *s;
	const char *addr = WSD_METRICS_ADDRESS_DEFAULT;
	long long port = WSD_METRICS_PORT_DEFAULT;
	size_t i;

	if ((g = get_group(ld, root, "metrics")) == NULL)
		return;
	mc->line = (int)config_setting_source_line(g);
	check_keys(ld, g, metrics_keys);
	if (get_string(ld, g, "address", &addr, &s) == GOT_OK &&
	    !address_valid(addr)) {
		if (has_ctl(addr))
			problem(ld, s, "'address' is not a valid IPv4 or IPv6 "
			    "address");
		else
			problem(ld, s, "'address' is not a valid IPv4 or IPv6 "
			    "address: '%s'", addr);
		return;
	}
	if (get_int(ld, g, "port", 0, 65535, &port) == GOT_BAD)
		return;
	for (i = 0; i < c->nlisten; i++)
		if (port != 0 && c->listen[i].port == port &&
		    same_address(c->listen[i].address, addr)) {
			problem(ld, g, "metrics listener %s port %lld is also "
			    "a 'listen' entry (line %d)", addr, port,
			    c->listen[i].line);
			return;
		}
	mc->enabled = true;
	mc->address = xstrdup(addr);
	mc->port = (int)port;
}

/* ------------------------------------------------------------ load */

/*
 * libconfig 1.5 calls exit() when an @include names something it cannot
 * read as a file (a directory, an empty name), which would kill a running
 * daemon on SIGHUP.  So look at the @include lines first, recursively, and
 * refuse any that does not name a regular file.  Returns the number of
 * problems added to errs.
 */
static size_t
check_includes(const char *file, const char *dir, struct wsd_errors *errs,
    int depth)
{
	char *line = NULL, *name, *end, *path;
	size_t cap = 0, bad = 0;
	struct stat st;
	int lineno = 0;
	FILE *f;

	if (depth > 10 || (f = fopen(file, "r")) == NULL)
		return 0;	/* libconfig reports these itself */
	while (getline(&line, &cap, f) != -1) {
		lineno++;
		name = line + strspn(line, " \t");
		if (strncmp(name, "@include", 8) != 0)
			continue;
		name += 8;
		name += strspn(name, " \t");
		if (*name++ != '"' || (end = strchr(name, '"')) == NULL)
			continue;	/* a syntax error libconfig will report */
		*end = '\0';
		/* Not xstrdup(): line and f are in hand. */
		if (name[0] == '/')
			path = strdup(name);
		else if (asprintf(&path, "%s/%s", dir, name) == -1)
			path = NULL;
		if (path == NULL) {
			errors_add(errs, "%s:%d: out of memory", file, lineno);
			bad++;
		} else if (stat(path, &st) == -1) {
			errors_add(errs, "%s:%d: @include \"%s\": %s", file,
			    lineno, name, strerror(errno));
			bad++;
		} else if (!S_ISREG(st.st_mode)) {
			errors_add(errs, "%s:%d: @include \"%s\": not a regular "
			    "file", file, lineno, name);
			bad++;
		} else {
			bad += check_includes(path, dir, errs, depth + 1);
		}
		free(path);
	}
	free(line);
	fclose(f);
	return bad;
}

static struct wsd_config *
load_parse(struct loader *ldp, const char *file,
    const char *plugin_dir_default, struct wsd_errors *errs, bool for_check)
{
	struct wsd_config *c;
	const config_setting_t *root, *s;
	const char *efile;
	int saved;

	c = xcalloc(1, sizeof(*c));
	ldp->c = c;		/* for load() to free if memory runs out */
	config_init(&c->cf);
	c->file = xstrdup(file);
	c->dir = file_dir(file);
	c->log_level = LOG_INFO;
	config_default_limits(&c->limits);
	config_set_auto_convert(&c->cf, CONFIG_FALSE);
	config_set_include_dir(&c->cf, c->dir);

	/* libconfig exits the process on an @include it cannot read. */
	if (check_includes(file, c->dir, errs, 0) > 0) {
		config_free(c);
		return NULL;
	}
	errno = 0;
	if (config_read_file(&c->cf, file) != CONFIG_TRUE) {
		saved = errno;
		if (config_error_type(&c->cf) == CONFIG_ERR_FILE_IO)
			errors_add(errs, "%s: cannot read: %s", file,
			    saved != 0 ? strerror(saved) :
			    config_error_text(&c->cf));
		else {
			efile = config_error_file(&c->cf);
			errors_add(errs, "%s:%d: %s",
			    efile != NULL ? efile : file,
			    config_error_line(&c->cf),
			    config_error_text(&c->cf));
		}
		config_free(c);
		return NULL;
	}

	root = config_root_setting(&c->cf);

	check_keys(ldp, root, top_keys);
	/* Global limits first: routes start from them. */
	if ((s = get_group(ldp, root, "limits")) != NULL)
		parse_limits(ldp, s, &c->limits, false);
	pmd_conf_default(&c->compression);
	if ((s = get_group(ldp, root, "compression")) != NULL)
		parse_compression(ldp, s, &c->compression);
	parse_log_level(ldp, root);
	parse_access_log(ldp, root);
	c->strict_permissions = true;
	if ((s = config_setting_get_member(root, "strict_permissions")) != NULL) {
		if (config_setting_type(s) != CONFIG_TYPE_BOOL)
			problem(ldp, s, "'strict_permissions' must be true or "
			    "false");
		else
			c->strict_permissions = config_setting_get_bool(s);
	}
	parse_workers(ldp, root);
	parse_plugin_dir(ldp, root, plugin_dir_default);
	parse_document_root(ldp, root);
	/* Before the listeners: it is their default. */
	parse_trusted(ldp, root, &c->trusted, &c->ntrusted);
	parse_listen(ldp, root);
	parse_routes(ldp, root);
	parse_cluster(ldp, root);
	parse_metrics(ldp, root);

	/* For a check, missing plugins do not hide the others' errors. */
	if (problems_flush(ldp, errs) > ldp->nmissing || (ldp->nmissing > 0 &&
	    !for_check)) {
		config_free(c);
		return NULL;
	}
	return c;
}

static struct wsd_config *
load(const char *file, const char *plugin_dir_default,
    struct wsd_errors *errs, bool for_check)
{
	struct loader ld;
	jmp_buf jb, *outer = unwind.jb;
	struct wsd_config *c;
	size_t i;

	memset(&ld, 0, sizeof(ld));
	if (setjmp(jb) != 0) {
		/* oom(): what is not on ld.c is freed already. */
		unwind.jb = outer;
		for (i = 0; i < ld.np; i++)
			free(ld.p[i].msg);
		free(ld.p);
		config_free(ld.c);
		errors_add(errs, "%s: out of memory", file);
		return NULL;
	}
	unwind.jb = &jb;
	c = load_parse(&ld, file, plugin_dir_default, errs, for_check);
	unwind.jb = outer;
	return c;
}

struct wsd_config *
config_load(const char *file, const char *plugin_dir_default,
    struct wsd_errors *errs)
{
	return load(file, plugin_dir_default, errs, false);
}

struct wsd_config *
config_load_check(const char *file, const char *plugin_dir_default,
    struct wsd_errors *errs)
{
	return load(file, plugin_dir_default, errs, true);
}

void
config_free(struct wsd_config *c)
{
	struct wsd_route_conf *r;
	size_t i, j;

	if (c == NULL)
		return;
	for (i = 0; i < c->nlisten; i++) {
		free(c->listen[i].address);
		tls_conf_free(c->listen[i].tls);
		free(c->listen[i].trusted);
	}
	free(c->listen);
	free(c->trusted);
	for (i = 0; i < c->nroutes; i++) {
		r = &c->routes[i];
		free(r->path);
		free(r->plugin);
		free(r->plugin_path);
		for (j = 0; j < r->norigins; j++)
			free(r->origins[j]);
		free(r->origins);
	}
	free(c->routes);
	cluster_free(&c->cluster);
	free(c->metrics.address);
	free(c->plugin_dir);
	free(c->document_root);
	free(c->access_file);
	free(c->file);
	free(c->dir);
	config_destroy(&c->cf);
	free(c);
}

/* ---------------------------------------------------------------- reload */

/*
 * Two settings with the same value: type, scalar value, and for groups
 * the same members (in any order), for lists and arrays the same
 * elements in order.  Where they sit in the file does not matter.
 */
static bool
setting_same(const config_setting_t *a, const config_setting_t *b)
{
	int i, n;

	if (a == NULL || b == NULL)
		return a == b;
	if (config_setting_type(a) != config_setting_type(b))
		return false;
	switch (config_setting_type(a)) {
	case CONFIG_TYPE_INT:
	case CONFIG_TYPE_INT64:
		return config_setting_get_int64(a) ==
		    config_setting_get_int64(b);
	case CONFIG_TYPE_FLOAT:
		return config_setting_get_float(a) ==
		    config_setting_get_float(b);
	case CONFIG_TYPE_BOOL:
		return config_setting_get_bool(a) == config_setting_get_bool(b);
	case CONFIG_TYPE_STRING:
		return strcmp(config_setting_get_string(a),
		    config_setting_get_string(b)) == 0;
	case CONFIG_TYPE_GROUP:
		n = config_setting_length(a);
		if (n != config_setting_length(b))
			return false;
		for (i = 0; i < n; i++) {
			const config_setting_t *e = config_setting_get_elem(a,
			    (unsigned)i);
			const char *name = config_setting_name(e);

			if (name == NULL || !setting_same(e,
			    config_setting_get_member(b, name)))
				return false;
		}
		return true;
	case CONFIG_TYPE_ARRAY:
	case CONFIG_TYPE_LIST:
		n = config_setting_length(a);
		if (n != config_setting_length(b))
			return false;
		for (i = 0; i < n; i++)
			if (!setting_same(config_setting_get_elem(a, (unsigned)i),
			    config_setting_get_elem(b, (unsigned)i)))
				return false;
		return true;
	default:
		return true;
	}
}

/*
 * Every limit a configuration can set, from the table parse_limits()
 * reads them with, so a limit added there is compared too.
 */
static bool
limits_same(const struct wsd_limits *a, const struct wsd_limits *b)
{
	const struct limit_def *d;
	size_t i;

	for (i = 0; i < NITEMS(limit_defs); i++) {
		d = &limit_defs[i];
		if (memcmp((const char *)a + d->off, (const char *)b + d->off,
		    d->size) != 0)
			return false;
	}
	return true;
}

static bool
pmd_same(const struct pmd_conf *a, const struct pmd_conf *b)
{
	return a->enabled == b->enabled &&
	    a->server_no_context_takeover == b->server_no_context_takeover &&
	    a->client_no_context_takeover == b->client_no_context_takeover &&
	    a->server_max_window_bits == b->server_max_window_bits &&
	    a->client_max_window_bits == b->client_max_window_bits &&
	    a->level == b->level && a->mem_level == b->mem_level &&
	    a->min_size == b->min_size;
}

bool
config_route_same(const struct wsd_route_conf *a,
    const struct wsd_route_conf *b)
{
	size_t i;

	if (strcmp(a->path, b->path) != 0 ||
	    strcmp(a->plugin, b->plugin) != 0 ||
	    strcmp(a->plugin_path, b->plugin_path) != 0 ||
	    a->plugin_missing || b->plugin_missing ||
	    (a->origins == NULL) != (b->origins == NULL) ||
	    a->norigins != b->norigins ||
	    !limits_same(&a->limits, &b->limits) ||
	    !pmd_same(&a->compression, &b->compression) ||
	    !setting_same(a->settings, b->settings))
		return false;
	for (i = 0; i < a->norigins; i++)
		if (strcmp(a->origins[i], b->origins[i]) != 0)
			return false;
	return true;
}

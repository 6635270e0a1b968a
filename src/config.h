/*
 * config: read the libconfig file into a validated, read-only struct.
 * Every problem is reported as "FILE:LINE: message" and all of them are
 * collected, so `wsd -t` shows every mistake in one run.  The only I/O is
 * reading the file (and checking that plugin files exist).
 */
#ifndef WSD_CONFIG_H
#define WSD_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <libconfig.h>

#include "forwarded.h"
#include "pmd.h"

/* Defaults, documented in wsd.conf(5). */
#define WSD_DEFAULT_PORT		8888
#define WSD_DEFAULT_MAX_MESSAGE		(1024 * 1024)
#define WSD_DEFAULT_MAX_HEAD		8192
#define WSD_DEFAULT_MAX_HEADERS		64
#define WSD_DEFAULT_HANDSHAKE_MS	10000
#define WSD_DEFAULT_IDLE_MS		120000
#define WSD_DEFAULT_PING_MS		30000
#define WSD_DEFAULT_PONG_MS		20000
#define WSD_DEFAULT_CLOSE_MS		5000
#define WSD_DEFAULT_MAX_SEND_BUFFER	(1024 * 1024)
#define WSD_DEFAULT_MAX_FRAGMENTS	1024
#define WSD_DEFAULT_SEND_HIGH_WATER	(64 * 1024)
#define WSD_DEFAULT_MAX_PENDING_PER_ADDRESS 256
#define WSD_DEFAULT_MAX_OUTPUT_TOTAL	(256ULL * 1024 * 1024)
#define WSD_DEFAULT_WORKER_TIMEOUT_MS	10000
/* min_protocol: OpenSSL's TLS1_2_VERSION, TLS1_3_VERSION. */
#define WSD_TLS_1_2			0x0303
#define WSD_TLS_1_3			0x0304
#define WSD_TLS_MIN_DEFAULT		WSD_TLS_1_2
#define WSD_WORKERS_MAX			128	/* half of workers.h WORKERS_MAX */

struct wsd_limits {
	uint64_t	max_message_size;	/* bytes of one message */
	uint32_t	max_fragments;		/* frames in one message */
	uint32_t	max_head_size;		/* bytes of a request head */
	uint32_t	max_headers;		/* header lines in a request */
	uint32_t	handshake_timeout_ms;
	uint32_t	idle_timeout_ms;	/* 0 = never */
	uint32_t	ping_interval_ms;	/* 0 = no pings */
	uint32_t	close_timeout_ms;
	uint64_t	max_send_buffer;	/* bytes queued for a client */
	uint64_t	send_high_water;	/* back-pressure above this */
	uint32_t	max_connections;	/* 0 = derive from RLIMIT_NOFILE */
	uint32_t	pong_timeout_ms;	/* 0 = pings need no answer */
	/*
	 * Global only.  Connections from one address still in their HTTP
	 * phase (request head not yet answered); one more gets 503 at once.
	 * 0 = no limit.
	 */
	uint32_t	max_pending_per_address;
	/*
	 * Global only.  Bytes queued for all WebSocket clients together;
	 * past it the clients with the most queued are dropped (the plugin
	 * hears 1008) until the total is within it.  0 = no limit.
	 */
	uint64_t	max_output_total;
};

/* One certificate and its key (resolved paths). */
struct wsd_tls_cert_conf {
	char		*certificate;	/* PEM: the leaf, then its chain */
	char		*key;
	int		 line;		/* of the `certificate` setting */
};

enum wsd_verify_client {
	WSD_VERIFY_NONE,
	WSD_VERIFY_OPTIONAL,
	WSD_VERIFY_REQUIRED,
};

/* A listener's `tls` group.  The files are read by tls.c, not here. */
struct wsd_tls_conf {
	struct wsd_tls_cert_conf *certs;	/* [0] the default, then sni */
	size_t		 ncerts;
	char		*ciphers;	/* TLS 1.2 list, or NULL */
	char		*ciphersuites;	/* TLS 1.3 list, or NULL */
	int		 ciphers_line, ciphersuites_line;
	int		 min_protocol;	/* TLS1_2_VERSION or TLS1_3_VERSION */
	char		*client_ca;	/* NULL: no client certificates */
	int		 client_ca_line;
	enum wsd_verify_client verify_client;
	int		 line;
};

struct wsd_listen_conf {
	char		*address;	/* "0.0.0.0", "::", "127.0.0.1" */
	int		 port;
	int		 line;
	struct wsd_tls_conf *tls;	/* NULL: plain */
	/*
	 * Behind a proxy.  proxy_protocol: every connection starts with a
	 * PROXY protocol header (v1 or v2) naming the client.  trusted:
	 * the peers (after the PROXY header) whose X-Forwarded-For, -Proto
	 * and -Host are believed; the listener's own trusted_proxies, else
	 * the top-level one (a copy either way), NULL when none.
	 */
	bool		 proxy_protocol;
	struct cidr	*trusted;
	size_t		 ntrusted;
};

struct wsd_route_conf {
	char			*path;		/* "/echo" */
	char			*plugin;	/* "echo-logger" */
	char			*plugin_path;	/* resolved .so path */
	const config_setting_t	*settings;	/* group or NULL */
	char			**origins;	/* NULL when not configured */
	size_t			 norigins;
	struct wsd_limits	 limits;	/* global merged with overrides */
	struct pmd_conf		 compression;	/* global merged with overrides */
	int			 line;
	bool			 plugin_missing;	/* reported already */
};

#define WSD_CLUSTER_PREFIX_DEFAULT	"wsd:"
#define WSD_CLUSTER_PREFIX_MAX		64
#define WSD_CLUSTER_MAX_PENDING_DEFAULT	(16ULL * 1024 * 1024)
#define WSD_CLUSTER_MAX_PENDING_MIN	4096
#define WSD_CLUSTER_MAX_PENDING_MAX	(64ULL * 1024 * 1024 * 1024)

/* `cluster`: the Redis backplane.  redis == NULL: none. */
struct wsd_cluster_conf {
	char		*redis;		/* "HOST:PORT" or a Unix socket path */
	char		*user;		/* ACL user, or NULL */
	char		*password;	/* or NULL */
	char		*prefix;	/* channel prefix, default "wsd:" */
	uint64_t	 max_pending;	/* bytes waiting for Redis, per worker */
	int		 line;
};

/* `metrics`: the Prometheus listener.  enabled false: none. */
#define WSD_METRICS_ADDRESS_DEFAULT	"127.0.0.1"
#define WSD_METRICS_PORT_DEFAULT	9108
struct wsd_metrics_conf {
	bool		 enabled;
	char		*address;	/* default 127.0.0.1 */
	int		 port;		/* default 9108 */
	int		 line;
};

struct wsd_config {
	config_t		 cf;		/* keeps settings alive */
	char			*file;		/* as given */
	char			*dir;		/* its directory */
	struct wsd_listen_conf	*listen;
	size_t			 nlisten;
	char			*plugin_dir;	/* absolute or relative to dir */
	char			*document_root;	/* NULL: no static files */
	int			 log_level;	/* LOG_ERR .. LOG_DEBUG */
	bool			 access_json;	/* access_log format "json" */
	char			*access_file;	/* NULL: stderr */
	bool			 strict_permissions; /* plugin file checks */
	struct wsd_limits	 limits;
	struct pmd_conf		 compression;	/* routes start from it */
	struct wsd_route_conf	*routes;
	size_t			 nroutes;
	int			 workers;	/* 0: "auto", one per CPU */
	uint32_t		 worker_timeout_ms; /* stuck worker; 0: never */
	bool			 worker_header;	/* X-Wsd-Worker on the 101 */
	struct wsd_cluster_conf	 cluster;
	struct wsd_metrics_conf	 metrics;
	/* The top-level trusted_proxies: the listeners' default. */
	struct cidr		*trusted;
	size_t			 ntrusted;
};

/* A list of "FILE:LINE: message" strings. */
struct wsd_errors {
	char	**msg;
	size_t	  n;
};

/* Append a formatted message.  Never fails silently: aborts on ENOMEM. */
void errors_add(struct wsd_errors *e, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
void errors_clear(struct wsd_errors *e);

/*
 * Load and validate `file`.  plugin_dir_default is used when the file
 * has no plugin_dir.  Returns the config, or NULL with every problem in
 * *errs.  Checks: syntax, unknown keys, types, ranges, duplicate route
 * paths, route paths that do not start with '/', listen addresses that
 * do not parse, and plugin files that do not exist.
 */
struct wsd_config *config_load(const char *file,
    const char *plugin_dir_default, struct wsd_errors *errs);

/*
 * config_load() for a check of the whole configuration (wsd -t, the
 * master's check before a start or reload): when its only problems are
 * plugin files that are missing, it still returns the config, with
 * those problems in *errs and the routes marked plugin_missing, so that
 * loading the other routes' plugins reports their errors in the same
 * run.  generation_new() refuses such a config.
 */
struct wsd_config *config_load_check(const char *file,
    const char *plugin_dir_default, struct wsd_errors *errs);

void config_free(struct wsd_config *c);

/*
 * Whether two routes' configurations give the route the same behaviour:
 * path, plugin and its resolved file name, settings (by value, wherever
 * they sit in the file), origins, limits and compression.  A reload
 * keeps a route's plugin instance when this holds and the plugin file
 * is unchanged.
 */
bool config_route_same(const struct wsd_route_conf *a,
    const struct wsd_route_conf *b);
void tls_conf_free(struct wsd_tls_conf *t);

/* Default limits (the WSD_DEFAULT_* values). */
void config_default_limits(struct wsd_limits *l);

/* Parse "debug", "info", "notice", "warning", "error": LOG_* or -1. */
int config_parse_log_level(const char *s);

#endif /* WSD_CONFIG_H */

/*
 * wsd: a WebSocket daemon.  main() reads like the table of contents:
 * options, configuration, plugins, listeners, the loop, the exit status.
 */
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>
#include <openssl/opensslv.h>

#include <wsd/plugin.h>

#include "wsd-build.h"

#include "config.h"
#include "failalloc.h"
#include "log.h"
#include "master.h"
#include "server.h"

/* Exit statuses, documented in wsd(8). */
#define EXIT_OK		0
#define EXIT_CONFIG	1	/* invalid configuration or plugin */
#define EXIT_USAGE	2	/* bad command line */
#define EXIT_START	3	/* could not start (listen, memory) */
/* master.c uses the same numbers. */

static void
usage(FILE *f)
{
	fprintf(f,
	    "usage: wsd [-t] [-q] [-c file] [-p port]\n"
	    "       wsd -V | -h\n"
	    "  -c, --config FILE  configuration file (default %s/wsd.conf)\n"
	    "  -t, --test         check the configuration and plugins, then exit\n"
	    "  -q, --quiet        with -t: print errors only\n"
	    "  -p, --port PORT    listen on PORT instead of the configured ports\n"
	    "                     (0: an ephemeral port, logged at start-up)\n"
	    "  -V, --version      print version and build information\n"
	    "  -h, --help         print this help\n", SYSCONFDIR);
}

static void
version(void)
{
	printf("wsd %s\n", PACKAGE_VERSION);
	printf("plugin ABI %d.%d\n", WSD_ABI_MAJOR, WSD_ABI_MINOR);
	printf("plugin directory %s\n", PLUGINDIR);
	printf("configuration %s/wsd.conf\n", SYSCONFDIR);
	printf("libevent %s, %s\n", event_get_version(), OPENSSL_VERSION_TEXT);
}

static int
parse_port(const char *s)
{
	char *end;
	long v;

	v = strtol(s, &end, 10);
	if (*s == '\0' || *end != '\0' || v < 0 || v > 65535)
		return -1;
	return (int)v;
}

int
main(int argc, char *argv[])
{
	static const struct option longopts[] = {
		{ "config",	required_argument, NULL, 'c' },
		{ "test",	no_argument,	   NULL, 't' },
		{ "quiet",	no_argument,	   NULL, 'q' },
		{ "port",	required_argument, NULL, 'p' },
		{ "version",	no_argument,	   NULL, 'V' },
		{ "help",	no_argument,	   NULL, 'h' },
		{ NULL,		0,		   NULL, 0 }
	};
	const char *file = SYSCONFDIR "/wsd.conf";
	struct wsd_errors errs = { NULL, 0 };
	struct server srv;
	struct master_opts opts;
	struct wsd_config *cfg;
	int ch, test = 0, quiet = 0, port = -1, status;
	size_t i;

	failalloc_init();	/* tests only; before anything allocates */
	log_init();
	while ((ch = getopt_long(argc, argv, "c:tqp:Vh", longopts,
	    NULL)) != -1) {
		switch (ch) {
		case 'c':
			file = optarg;
			break;
		case 't':
			test = 1;
			break;
		case 'q':
			quiet = 1;
			break;
		case 'p':
			if ((port = parse_port(optarg)) == -1) {
				fprintf(stderr, "wsd: bad port '%s'\n", optarg);
				return EXIT_USAGE;
			}
			break;
		case 'V':
			version();
			return EXIT_OK;
		case 'h':
			usage(stdout);
			return EXIT_OK;
		default:
			usage(stderr);
			return EXIT_USAGE;
		}
	}
	if (optind != argc) {
		fprintf(stderr, "wsd: unexpected argument '%s'\n", argv[optind]);
		usage(stderr);
		return EXIT_USAGE;
	}

	/*
	 * A write to a closed socket or pipe must fail with EPIPE, not kill
	 * us: plugins' init runs while loading the configuration, -t too.
	 */
	signal(SIGPIPE, SIG_IGN);

	memset(&srv, 0, sizeof(srv));
	srv.config_file = file;
	srv.plugin_dir_default = PLUGINDIR;
	srv.port_override = port;

	if (server_init(&srv) == -1) {
		server_free(&srv);
		return EXIT_START;
	}

	/*
	 * Configuration, then every plugin and its settings.  Before a
	 * start this is the master's check, and its lines say so.
	 */
	if (!test)
		log_set_prefix("check: ");
	cfg = config_load_check(file, PLUGINDIR, &errs);
	if (cfg != NULL) {
		/* -t -q: problems only, whatever log_level says. */
		log_set_level(test && quiet && cfg->log_level > LOG_WARNING ?
		    LOG_WARNING : cfg->log_level);
		srv.gen = generation_new(&srv.gens, cfg, &errs);
	}
	if (srv.gen == NULL) {
		for (i = 0; i < errs.n; i++)
			fprintf(stderr, "%s\n", errs.msg[i]);
		fprintf(stderr, "wsd: %s: configuration invalid (%zu "
		    "error%s)\n", file, errs.n, errs.n == 1 ? "" : "s");
		errors_clear(&errs);
		server_free(&srv);
		return EXIT_CONFIG;
	}
	if (test) {
		if (!quiet)
			printf("wsd: %s: configuration OK (%zu route%s)\n",
			    file, srv.gen->routes.n,
			    srv.gen->routes.n == 1 ? "" : "s");
		server_free(&srv);
		return EXIT_OK;
	}

	/*
	 * The check is done: its plugin instances go (fini), and the
	 * master forks the workers, each of which loads its own.
	 */
	server_free(&srv);
	log_set_prefix("");
	if ((cfg = config_load(file, PLUGINDIR, &errs)) == NULL) {
		for (i = 0; i < errs.n; i++)
			fprintf(stderr, "%s\n", errs.msg[i]);
		errors_clear(&errs);
		return EXIT_CONFIG;
	}
	opts.config_file = file;
	opts.plugin_dir_default = PLUGINDIR;
	opts.port_override = port;
	status = master_run(&opts, cfg);
	return status;
}

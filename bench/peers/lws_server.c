/*
 * libwebsockets peer for the wsd benchmark: /echo echoes every message
 * with its type, /clock pushes the local time to every client every
 * 100 ms.  Against Debian's libwebsockets-dev (4.1); one service thread.
 *
 * usage: lws_server PORT [deflate] [CERT KEY]   (listens on 127.0.0.1)
 *
 * With CERT (PEM, leaf then chain) and KEY it serves TLS only (wss),
 * with libwebsockets' own OpenSSL set-up and defaults.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/time.h>
#include <time.h>

#include <libwebsockets.h>

struct msg {
	struct msg	*next;
	size_t		 len;
	int		 binary;
	unsigned char	 buf[];		/* LWS_PRE headroom, then payload */
};

struct session {
	struct lws	*wsi;
	int		 clock;
	unsigned	 tick_seen;
	struct session	*prev, *next;	/* clock clients */
	struct msg	*head, *tail;	/* echoes to send */
	unsigned char	*rx;		/* a message arriving in pieces */
	size_t		 rxlen, rxcap;
};

static struct lws_context *ctx;
static struct session *clocks;
static lws_sorted_usec_list_t tick_sul;
static unsigned char tick_buf[LWS_PRE + 64];
static size_t tick_len;
static unsigned tick_gen;
static volatile int stop;

static void
tick(lws_sorted_usec_list_t *sul)
{
	struct session *s;
	struct timeval tv;
	struct tm tm;
	char *p = (char *)tick_buf + LWS_PRE;
	size_t n;

	gettimeofday(&tv, NULL);
	localtime_r(&tv.tv_sec, &tm);
	n = strftime(p, 40, "%Y-%m-%d %H:%M:%S", &tm);
	n += (size_t)snprintf(p + n, 24, ".%06ld", (long)tv.tv_usec);
	tick_len = n;
	tick_gen++;
	for (s = clocks; s != NULL; s = s->next)
		lws_callback_on_writable(s->wsi);
	lws_sul_schedule(ctx, 0, sul, tick, 100 * LWS_US_PER_MS);
}

static void
queue_msg(struct session *s, const void *data, size_t len, int binary)
{
	struct msg *m = malloc(sizeof(*m) + LWS_PRE + len);

	if (m == NULL)
		return;
	m->next = NULL;
	m->len = len;
	m->binary = binary;
	memcpy(m->buf + LWS_PRE, data, len);
	if (s->tail)
		s->tail->next = m;
	else
		s->head = m;
	s->tail = m;
	lws_callback_on_writable(s->wsi);
}

static int
callback(struct lws *wsi, enum lws_callback_reasons reason, void *user,
    void *in, size_t len)
{
	struct session *s = user;
	char uri[64];
	struct msg *m;

	switch (reason) {
	case LWS_CALLBACK_ESTABLISHED:
		s->wsi = wsi;
		if (lws_hdr_copy(wsi, uri, sizeof(uri), WSI_TOKEN_GET_URI) > 0 &&
		    strcmp(uri, "/clock") == 0) {
			s->clock = 1;
			s->tick_seen = tick_gen;
			s->next = clocks;
			if (clocks)
				clocks->prev = s;
			clocks = s;
		}
		break;
	case LWS_CALLBACK_RECEIVE:
		if (s->clock)
			break;
		if (lws_is_first_fragment(wsi) && lws_is_final_fragment(wsi) &&
		    lws_remaining_packet_payload(wsi) == 0 && s->rxlen == 0) {
			queue_msg(s, in, len, lws_frame_is_binary(wsi));
			break;
		}
		if (s->rxlen + len > s->rxcap) {
			s->rxcap = (s->rxlen + len) * 2;
			if ((s->rx = realloc(s->rx, s->rxcap)) == NULL)
				return -1;
		}
		memcpy(s->rx + s->rxlen, in, len);
		s->rxlen += len;
		if (lws_is_final_fragment(wsi) &&
		    lws_remaining_packet_payload(wsi) == 0) {
			queue_msg(s, s->rx, s->rxlen, lws_frame_is_binary(wsi));
			s->rxlen = 0;
		}
		break;
	case LWS_CALLBACK_SERVER_WRITEABLE:
		if (s->clock) {
			if (s->tick_seen != tick_gen) {
				s->tick_seen = tick_gen;
				if (lws_write(wsi, tick_buf + LWS_PRE, tick_len,
				    LWS_WRITE_TEXT) < (int)tick_len)
					return -1;
			}
			break;
		}
		if ((m = s->head) == NULL)
			break;
		if (lws_write(wsi, m->buf + LWS_PRE, m->len, m->binary ?
		    LWS_WRITE_BINARY : LWS_WRITE_TEXT) < (int)m->len)
			return -1;
		s->head = m->next;
		if (s->head == NULL)
			s->tail = NULL;
		free(m);
		if (s->head)
			lws_callback_on_writable(wsi);
		break;
	case LWS_CALLBACK_CLOSED:
		if (s->clock) {
			if (s->prev)
				s->prev->next = s->next;
			else
				clocks = s->next;
			if (s->next)
				s->next->prev = s->prev;
		}
		while ((m = s->head) != NULL) {
			s->head = m->next;
			free(m);
		}
		free(s->rx);
		break;
	default:
		break;
	}
	return 0;
}

static const struct lws_protocols protocols[] = {
	{ "bench", callback, sizeof(struct session), 65536, 0, NULL, 0 },
	{ NULL, NULL, 0, 0, 0, NULL, 0 }
};

/* lws_server PORT deflate: permessage-deflate offered by clients is taken. */
static const struct lws_extension extensions[] = {
	{ "permessage-deflate", lws_extension_callback_pm_deflate,
	  "permessage-deflate; client_no_context_takeover; "
	  "client_max_window_bits" },
	{ NULL, NULL, NULL }
};

static void
on_signal(int sig)
{
	(void)sig;
	stop = 1;
	lws_cancel_service(ctx);
}

int
main(int argc, char **argv)
{
	struct lws_context_creation_info info;
	struct rlimit rl;
	const char *cert = NULL, *key = NULL;
	int a, deflate = 0;

	a = 2;
	if (argc > a && strcmp(argv[a], "deflate") == 0) {
		deflate = 1;
		a++;
	}
	if (argc == a + 2) {
		cert = argv[a];
		key = argv[a + 1];
	} else if (argc != a) {
		fprintf(stderr, "usage: lws_server PORT [deflate] [CERT KEY]\n");
		return 2;
	}
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	lws_set_log_level(LLL_ERR, NULL);
	memset(&info, 0, sizeof(info));
	info.port = atoi(argv[1]);
	info.iface = "127.0.0.1";
	info.protocols = protocols;
	if (deflate)
		info.extensions = extensions;
	info.options = LWS_SERVER_OPTION_DISABLE_IPV6;
	info.gid = -1;
	info.uid = -1;
	if (cert != NULL) {
		info.options |= LWS_SERVER_OPTION_DO_SSL_GLOBAL_INIT;
		info.ssl_cert_filepath = cert;
		info.ssl_private_key_filepath = key;
	}
	if ((ctx = lws_create_context(&info)) == NULL) {
		fprintf(stderr, "lws_server: cannot create the context\n");
		return 3;
	}
	signal(SIGTERM, on_signal);
	signal(SIGINT, on_signal);
	lws_sul_schedule(ctx, 0, &tick_sul, tick, 100 * LWS_US_PER_MS);
	fprintf(stderr, "lws: listening on 127.0.0.1:%s%s\n", argv[1],
	    cert != NULL ? " (TLS)" : "");
	while (!stop && lws_service(ctx, 0) >= 0)
		;
	lws_context_destroy(ctx);
	return 0;
}

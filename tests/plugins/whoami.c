/*
 * whoami: a test plugin for tests/integration/test_proxy.py.  On open
 * it sends one text message saying whom wsd takes the client for:
 *
 *   "remote=203.0.113.7:4711 tls=0 host=127.0.0.1:8080"
 *
 * wsd_remote_addr() (the client behind a PROXY header or a trusted
 * X-Forwarded-For), wsd_conn_tls() (also 1 when a trusted proxy says the
 * client came over TLS) and the request's own Host header (which a
 * proxy may have rewritten: wsd leaves it as received), then echoes
 * every message.
 */
#include <stdio.h>

#include <wsd/plugin.h>

static void
wh_open(void *state, struct wsd_conn *c)
{
	const char *host = wsd_header(c, "Host");
	char buf[512];
	int n;

	(void)state;
	n = snprintf(buf, sizeof(buf), "remote=%s tls=%d host=%s",
	    wsd_remote_addr(c), wsd_conn_tls(c), host != NULL ? host : "-");
	if (n < 0 || (size_t)n >= sizeof(buf)) {
		wsd_close(c, 1011, "too long");
		return;
	}
	if (wsd_send(c, WSD_TEXT, buf, (size_t)n) == WSD_SEND_DROPPED)
		wsd_log(wsd_conn_route(c), WSD_LOG_INFO, "whoami: dropped");
}

static void
wh_message(void *state, struct wsd_conn *c, int opcode, const void *data,
    size_t len)
{
	(void)state;
	if (wsd_send(c, opcode, data, len) == WSD_SEND_DROPPED)
		wsd_log(wsd_conn_route(c), WSD_LOG_INFO, "whoami: echo dropped");
}

WSD_PLUGIN(
	.name = "whoami",
	.version = "1",
	.open = wh_open,
	.message = wh_message,
);

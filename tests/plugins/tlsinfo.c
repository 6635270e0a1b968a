/*
 * tlsinfo: a test plugin for tests/integration/test_tls.py.  On open it
 * sends one text message that says how the client came, from ABI 1.3's
 * wsd_conn_tls() and wsd_conn_peer_subject():
 *
 *   "tls=1 subject=CN=alice,O=wsd clients worker=0"
 *   "tls=1 subject=- worker=1"		(TLS, no verified certificate)
 *   "tls=0 subject=- worker=0"		(plain TCP)
 *
 * then echoes every message.
 */
#include <stdio.h>
#include <string.h>

#include <wsd/plugin.h>

static void
ti_open(void *state, struct wsd_conn *c)
{
	const char *subject;
	char buf[1024];
	int n;

	(void)state;
	subject = wsd_conn_peer_subject(c);
	n = snprintf(buf, sizeof(buf), "tls=%d subject=%s worker=%d",
	    wsd_conn_tls(c), subject != NULL ? subject : "-", wsd_worker());
	if (n < 0 || (size_t)n >= sizeof(buf)) {
		wsd_close(c, 1011, "subject too long");
		return;
	}
	if (wsd_send(c, WSD_TEXT, buf, (size_t)n) == WSD_SEND_DROPPED)
		wsd_log(wsd_conn_route(c), WSD_LOG_INFO, "tlsinfo: dropped");
}

static void
ti_message(void *state, struct wsd_conn *c, int opcode, const void *data,
    size_t len)
{
	(void)state;
	if (wsd_send(c, opcode, data, len) == WSD_SEND_DROPPED)
		wsd_log(wsd_conn_route(c), WSD_LOG_DEBUG, "tlsinfo: echo "
		    "dropped");
}

WSD_PLUGIN(
	.name = "tlsinfo",
	.version = "1",
	.open = ti_open,
	.message = ti_message,
);

/*
 * bench-echo: echo every message back with its opcode, and nothing else.
 * bench/run loads it as the "wsd-nolog" server, beside wsd with the
 * echo-logger, to tell the cost of wsd's core from the plugin's logging.
 */
#include <wsd/plugin.h>

static void
bench_echo_message(void *state, struct wsd_conn *c, int opcode,
    const void *data, size_t len)
{
	(void)state;
	/* A dropped echo needs no action: wsd closes that client. */
	if (wsd_send(c, opcode, data, len) == WSD_SEND_DROPPED)
		return;
}

WSD_PLUGIN(
	.name = "bench-echo",
	.version = "1.0",
	.message = bench_echo_message,
);

/*
 * workerctl: a test plugin for tests/integration/test_workers.py.  It
 * answers which worker serves a connection and makes its worker fail in
 * the ways the master must survive.
 *
 * Messages (text):
 *   who      "worker <N> pid <P>"
 *   exit     the worker exits with status 42 at once
 *   spin     the worker's loop stops (a plugin stuck in a loop)
 *   (other)  echoed
 * Settings:
 *   die_file  if this file exists when init runs in a worker, the
 *             worker exits with status 42 (a crash loop on restart);
 *             the configuration check (wsd_worker() -1) is spared.
 */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <wsd/plugin.h>

struct state {
	char	die_file[256];
};

static struct state the_state;

static int
wc_init(const struct wsd_host *host, struct wsd_route *r, void **state)
{
	const char *f;

	(void)host;
	if (wsd_setting_string(r, "die_file", "", &f) == -1)
		return -1;
	snprintf(the_state.die_file, sizeof(the_state.die_file), "%s", f);
	if (the_state.die_file[0] != '\0' && wsd_worker() >= 0 &&
	    access(the_state.die_file, F_OK) == 0) {
		wsd_log(r, WSD_LOG_NOTICE, "workerctl: dying in init");
		_exit(42);
	}
	*state = &the_state;
	return 0;
}

static void
wc_message(void *state, struct wsd_conn *c, int opcode, const void *data,
    size_t len)
{
	char buf[64];
	volatile unsigned long spins = 0;

	(void)state;
	if (opcode == WSD_TEXT && len == 3 && memcmp(data, "who", 3) == 0) {
		snprintf(buf, sizeof(buf), "worker %d pid %d", wsd_worker(),
		    (int)getpid());
		if (wsd_send(c, WSD_TEXT, buf, strlen(buf)) ==
		    WSD_SEND_DROPPED)
			wsd_log(wsd_conn_route(c), WSD_LOG_INFO, "dropped");
	} else if (opcode == WSD_TEXT && len == 4 &&
	    memcmp(data, "exit", 4) == 0) {
		_exit(42);
	} else if (opcode == WSD_TEXT && len == 4 &&
	    memcmp(data, "spin", 4) == 0) {
		for (;;)
			spins++;
	} else {
		if (wsd_send(c, opcode, data, len) == WSD_SEND_DROPPED)
			wsd_log(wsd_conn_route(c), WSD_LOG_INFO, "dropped");
	}
}

WSD_PLUGIN(.name = "workerctl", .init = wc_init, .message = wc_message);

/*
 * A plugin whose init writes to a pipe and a socket nobody reads, as a
 * plugin talking to a dead helper or a closed backend would.  wsd must
 * have SIGPIPE ignored by then (wsd -t included), so that the write fails
 * with EPIPE instead of killing the daemon.
 */
#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <wsd/plugin.h>

static int
write_orphaned(struct wsd_route *r, const char *what, int fds[2])
{
	ssize_t n;

	close(fds[0]);
	n = write(fds[1], "x", 1);
	close(fds[1]);
	if (n != -1 || errno != EPIPE) {
		wsd_log(r, WSD_LOG_ERR, "sigpipe: %s: write gave %zd (%s), "
		    "wanted EPIPE", what, n, n == -1 ? strerror(errno) : "-");
		return -1;
	}
	wsd_log(r, WSD_LOG_NOTICE, "sigpipe: %s: EPIPE, still alive", what);
	return 0;
}

static int
sigpipe_init(const struct wsd_host *host, struct wsd_route *r, void **state)
{
	int fds[2];

	(void)host;
	(void)state;
	if (pipe(fds) == -1 || write_orphaned(r, "pipe", fds) == -1)
		return -1;
	if (socketpair(AF_UNIX, SOCK_STREAM, 0, fds) == -1 ||
	    write_orphaned(r, "socket", fds) == -1)
		return -1;
	return 0;
}

WSD_PLUGIN(
	.name = "sigpipe",
	.init = sigpipe_init,
);

/*
 * Descriptor watches, driven by the client (test_exec.py's watch cases).
 * Each connection owns a pipe whose read end is watched, paused at first.
 * Messages:
 *   write:DATA    write DATA into the pipe
 *   pause, resume wsd_watch_set(w, 0) / (w, WSD_WATCH_READ)
 *   cancel-in-cb  the next callback cancels its own watch
 *   write-watch   watch the write end for WSD_WATCH_WRITE (once)
 *   bad           wsd_watch_add()/wsd_watch_set() with bad arguments
 * The callback sends "got:DATA" with what it read.
 *
 * init adds two watches on a pipe that is readable at once: one cancels
 * itself in its callback (logs "init watch fired"), the other is never
 * cancelled and left for wsd to free after fini.  Under wsd -t neither
 * runs.
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <wsd/plugin.h>

struct watcher {
	int			 fds[2];
	struct wsd_watch	*once, *left;
};

struct cw {
	int			 fds[2];
	struct wsd_watch	*w, *ww;
	struct wsd_conn		*c;
	int			 cancel_next;
};

static void
init_once(struct wsd_route *r, int fd, int events, void *arg)
{
	struct watcher *st = arg;

	(void)fd;
	wsd_log(r, WSD_LOG_INFO, "watcher: init watch fired (events %d)",
	    events);
	wsd_watch_cancel(st->once);	/* from inside: freed on return */
	st->once = NULL;
}

static void
init_left(struct wsd_route *r, int fd, int events, void *arg)
{
	(void)r;
	(void)fd;
	(void)events;
	(void)arg;
	/* Readable for ever: pause, or it would spin. */
	(void)wsd_watch_set(((struct watcher *)arg)->left, 0);
}

static int
w_init(const struct wsd_host *host, struct wsd_route *r, void **state)
{
	struct watcher *st;

	(void)host;
	if ((st = calloc(1, sizeof(*st))) == NULL)
		return -1;
	if (pipe2(st->fds, O_CLOEXEC | O_NONBLOCK) == -1 ||
	    write(st->fds[1], "x", 1) != 1) {
		free(st);
		return -1;
	}
	st->once = wsd_watch_add(r, st->fds[0], WSD_WATCH_READ, init_once, st);
	st->left = wsd_watch_add(r, st->fds[0], WSD_WATCH_READ, init_left, st);
	if (st->once == NULL || st->left == NULL) {
		/* wsd frees the watches made (no fini after a failed init). */
		close(st->fds[0]);
		close(st->fds[1]);
		free(st);
		return -1;
	}
	*state = st;
	return 0;
}

static void
w_fini(void *state)
{
	struct watcher *st = state;

	/* st->left is wsd's to free now; the descriptors are ours. */
	close(st->fds[0]);
	close(st->fds[1]);
	free(st);
}

static void
conn_readable(struct wsd_route *r, int fd, int events, void *arg)
{
	struct cw *cw = arg;
	char buf[256 + 4];
	ssize_t n;

	(void)r;
	if (!(events & WSD_WATCH_READ))
		return;
	memcpy(buf, "got:", 4);
	if ((n = read(fd, buf + 4, 256)) > 0 &&
	    wsd_send(cw->c, WSD_TEXT, buf, (size_t)n + 4) == WSD_SEND_DROPPED)
		return;
	if (cw->cancel_next) {
		wsd_watch_cancel(cw->w);
		cw->w = NULL;
		if (wsd_send_text(cw->c, "cancelled") == WSD_SEND_DROPPED)
			return;
	}
}

static void
conn_writable(struct wsd_route *r, int fd, int events, void *arg)
{
	struct cw *cw = arg;

	(void)r;
	(void)fd;
	if (wsd_send_text(cw->c, events == WSD_WATCH_WRITE ? "writable" :
	    "odd events") == WSD_SEND_DROPPED)
		return;
	wsd_watch_cancel(cw->ww);
	cw->ww = NULL;
}

static void
w_open(void *state, struct wsd_conn *c)
{
	struct cw *cw;

	(void)state;
	if ((cw = calloc(1, sizeof(*cw))) == NULL ||
	    pipe2(cw->fds, O_CLOEXEC | O_NONBLOCK) == -1) {
		free(cw);
		(void)wsd_close(c, 1011, NULL);
		return;
	}
	cw->c = c;
	cw->w = wsd_watch_add(wsd_conn_route(c), cw->fds[0], 0, conn_readable,
	    cw);
	wsd_set_data(c, cw);
	if (cw->w == NULL)
		(void)wsd_close(c, 1011, "no watch");
}

static void
reply(struct wsd_conn *c, const char *s)
{
	if (wsd_send_text(c, s) == WSD_SEND_DROPPED)
		wsd_log(wsd_conn_route(c), WSD_LOG_INFO, "watcher: dropped");
}

static void
w_message(void *state, struct wsd_conn *c, int opcode, const void *data,
    size_t len)
{
	struct cw *cw = wsd_get_data(c);
	struct wsd_route *r = wsd_conn_route(c);
	const char *s = data;

	(void)state;
	(void)opcode;
	if (cw == NULL)
		return;
	if (len > 6 && memcmp(s, "write:", 6) == 0) {
		if (write(cw->fds[1], s + 6, len - 6) != (ssize_t)(len - 6))
			reply(c, "short write");
	} else if (len == 5 && memcmp(s, "pause", 5) == 0) {
		reply(c, wsd_watch_set(cw->w, 0) == 0 ? "paused" : "failed");
	} else if (len == 6 && memcmp(s, "resume", 6) == 0) {
		reply(c, wsd_watch_set(cw->w, WSD_WATCH_READ) == 0 ? "resumed" :
		    "failed");
	} else if (len == 12 && memcmp(s, "cancel-in-cb", 12) == 0) {
		cw->cancel_next = 1;
		reply(c, "armed");
	} else if (len == 11 && memcmp(s, "write-watch", 11) == 0) {
		if ((cw->ww = wsd_watch_add(r, cw->fds[1], WSD_WATCH_WRITE,
		    conn_writable, cw)) == NULL)
			reply(c, "failed");
	} else if (len == 3 && memcmp(s, "bad", 3) == 0) {
		struct wsd_watch *w1, *w2;

		w1 = wsd_watch_add(r, -1, WSD_WATCH_READ, conn_readable, cw);
		w2 = wsd_watch_add(r, cw->fds[0], 4, conn_readable, cw);
		reply(c, w1 == NULL && w2 == NULL && (cw->w == NULL ||
		    wsd_watch_set(cw->w, 8) == -1) ? "refused" : "accepted");
		wsd_watch_cancel(w1);
		wsd_watch_cancel(w2);
	}
}

static void
w_close(void *state, struct wsd_conn *c, int code, const char *reason)
{
	struct cw *cw = wsd_get_data(c);

	(void)state;
	(void)code;
	(void)reason;
	if (cw == NULL)
		return;
	wsd_watch_cancel(cw->w);
	wsd_watch_cancel(cw->ww);
	close(cw->fds[0]);
	close(cw->fds[1]);
	free(cw);
}

WSD_PLUGIN(
	.name = "watcher",
	.version = "1",
	.init = w_init,
	.fini = w_fini,
	.open = w_open,
	.message = w_message,
	.close = w_close,
);

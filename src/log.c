/*
 * log: see log.h.
 *
 * Until log_attach() and after log_detach(), lines go to stderr at once.
 * In between they must not stall the event loop when whoever reads our
 * stderr (the journal, a pipe, a terminal held with ^S) is slow: a line
 * is written straight away only if that does not block, and otherwise
 * queued, up to LOG_BUF_MAX bytes, for an EV_WRITE event on the output.
 * Lines that do not fit are counted and the count logged once there is
 * room again.  Only the loop thread logs (plugin.h), so no lock.
 *
 * Not blocking without surprising anyone else who holds our stderr: a
 * socket (the journal) takes send(MSG_DONTWAIT), per call.  O_NONBLOCK on
 * fd 2 itself would be shared with every holder of that open file
 * description (the shell that started us, on a terminal), so for a pipe
 * or a terminal we open /proc/self/fd/2 again, which gives a description
 * of our own, and set O_NONBLOCK on that.  A regular file never blocks
 * for long and cannot be polled: it stays synchronous, as does anything
 * that cannot be reopened or polled.
 */
#include <errno.h>
#include <limits.h>
#include <fcntl.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/event.h>

#include "log.h"
#include "logrl.h"
#include "workers.h"

/* Queued output at most; beyond it lines are dropped and counted. */
#define LOG_BUF_MAX	(1024 * 1024)
/* How long log_detach() waits for a stuck reader before giving up. */
#define LOG_DETACH_MS	5000

static int	log_level = LOG_INFO;
static int	log_journal;	/* stderr is the journal: "<N>" prefixes */
static char	log_prefix[32];	/* "worker 2: " in a worker */

/* While attached: */
static struct event	*log_ev;	/* EV_WRITE on log_fd */
static struct evbuffer	*log_buf;	/* lines not written yet */
static int		 log_fd = -1;
static int		 log_fd_own;	/* log_fd is our reopened copy */
static int		 log_is_sock;
static unsigned long	 log_dropped;
static int		 log_gone;	/* log_detach gave up on the reader */

/* Repeated warnings (logrl.h). */
static struct logrl	 log_rl;

/* Access lines: their format, and their file if not stderr. */
static int		 acc_json;
static char		*acc_path;
static int		 acc_fd = -1;

static const char *const level_names[] = {
	"emerg", "alert", "crit", "error", "warning", "notice", "info", "debug"
};

void
log_init(void)
{
	const char *js = getenv("JOURNAL_STREAM");
	unsigned long long dev, ino;
	struct stat st;

	log_journal = 0;
	if (js != NULL && sscanf(js, "%llu:%llu", &dev, &ino) == 2 &&
	    fstat(STDERR_FILENO, &st) == 0 &&
	    (unsigned long long)st.st_dev == dev &&
	    (unsigned long long)st.st_ino == ino)
		log_journal = 1;
}

void
log_set_prefix(const char *prefix)
{
	snprintf(log_prefix, sizeof(log_prefix), "%s", prefix);
}

void
log_set_level(int level)
{
	log_level = level;
}

int
log_get_level(void)
{
	return log_level;
}

static size_t	format_line_how(char *buf, size_t bufsz, int level,
		    const char *msg, int journal);

/* One whole line, prefix and newline included, into buf; its length. */
static size_t
format_line(char *buf, size_t bufsz, int level, const char *msg)
{
	return format_line_how(buf, bufsz, level, msg, log_journal);
}

/* The same with a time stamp, wherever stderr goes (for a file). */
static size_t
format_line_plain(char *buf, size_t bufsz, int level, const char *msg)
{
	return format_line_how(buf, bufsz, level, msg, 0);
}

static size_t
format_line_how(char *buf, size_t bufsz, int level, const char *msg,
    int journal)
{
	char stamp[40];
	struct timeval tv;
	struct tm tm;
	int n;

	if (journal) {
		n = snprintf(buf, bufsz, "<%d>%s%s\n", level, log_prefix,
		    msg);
	} else {
		gettimeofday(&tv, NULL);
		gmtime_r(&tv.tv_sec, &tm);
		strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%S", &tm);
		n = snprintf(buf, bufsz, "%s.%03ldZ %s: %s%s\n", stamp,
		    (long)(tv.tv_usec / 1000), level_names[level],
		    log_prefix, msg);
	}
	if (n < 0)
		return 0;
	if ((size_t)n >= bufsz) {
		n = (int)bufsz - 1;
		buf[n - 1] = '\n';
	}
	return (size_t)n;
}

/* Write without blocking; -1 with errno EAGAIN when the output is full. */
static ssize_t
out_write(const void *p, size_t n)
{
	if (log_is_sock)
		return send(log_fd, p, n, MSG_DONTWAIT | MSG_NOSIGNAL);
	return write(log_fd, p, n);
}

/*
 * Write what is queued until done or the output is full.  Returns 0, or
 * -1 when the output is gone for good (the queue is then thrown away).
 */
static int
drain(void)
{
	unsigned char *p, *nl;
	size_t len, chunk;
	ssize_t n;

	/*
	 * Whole lines, at most PIPE_BUF bytes a write: on a pipe such a
	 * write is all or nothing, so the master's and the workers' lines,
	 * which share stderr, never cut into one another.
	 */
	while ((len = evbuffer_get_length(log_buf)) > 0) {
		chunk = len < PIPE_BUF ? len : PIPE_BUF;
		if ((p = evbuffer_pullup(log_buf, (ssize_t)chunk)) == NULL)
			return 0;
		if ((nl = memrchr(p, '\n', chunk)) != NULL)
			chunk = (size_t)(nl - p) + 1;
		n = out_write(p, chunk);
		if (n > 0) {
			evbuffer_drain(log_buf, (size_t)n);
			continue;
		}
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return 0;
		evbuffer_drain(log_buf, evbuffer_get_length(log_buf));
		return -1;
	}
	return 0;
}

/* Once the queue is down to half, say how many lines did not fit. */
static void
note_dropped(int force)
{
	char msg[80], line[160];
	size_t n;

	if (log_dropped == 0 ||
	    (!force && evbuffer_get_length(log_buf) > LOG_BUF_MAX / 2))
		return;
	snprintf(msg, sizeof(msg), "%lu log line%s dropped (stderr was not "
	    "keeping up)", log_dropped, log_dropped == 1 ? "" : "s");
	n = format_line(line, sizeof(line), LOG_WARNING, msg);
	evbuffer_add(log_buf, line, n);
	log_dropped = 0;
}

static void
flush_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	(void)arg;
	if (drain() == 0) {
		note_dropped(0);
		drain();
	}
	if (evbuffer_get_length(log_buf) == 0)
		event_del(log_ev);
}

static void
out_line(const char *line, size_t n)
{
	ssize_t w;

	if (log_gone)
		return;		/* the reader stopped: exiting must not block */
	if (log_ev == NULL) {
		fwrite(line, 1, n, stderr);
		fflush(stderr);
		return;
	}
	/* Nothing queued: try it straight away, most often that is all. */
	if (evbuffer_get_length(log_buf) == 0 && log_dropped == 0) {
		do
			w = out_write(line, n);
		while (w == -1 && errno == EINTR);
		if (w == (ssize_t)n)
			return;
		if (w == -1 && errno != EAGAIN && errno != EWOULDBLOCK)
			return;		/* nobody to tell */
		if (w > 0) {
			line += w;
			n -= (size_t)w;
		}
	}
	note_dropped(0);
	if (evbuffer_get_length(log_buf) + n > LOG_BUF_MAX) {
		log_dropped++;
		return;
	}
	evbuffer_add(log_buf, line, n);
	event_add(log_ev, NULL);
}

static void
say_suppressed(void *arg, int level, uint64_t count, const char *text)
{
	char msg[LOGRL_TEXT + 96], line[sizeof(msg) + 64];

	(void)arg;
	snprintf(msg, sizeof(msg), "repeated %llu more time%s (a message is "
	    "logged at most once a second): %s", (unsigned long long)count,
	    count == 1 ? "" : "s", text);
	out_line(line, format_line(line, sizeof(line), level, msg));
}

void
log_tick(void)
{
	logrl_due(&log_rl, workers_now_ms(), false, say_suppressed, NULL);
}

void
log_vmsg(int level, const char *fmt, va_list ap)
{
	char msg[2048], line[2048 + 64];
	uint64_t now;
	int n;

	if (level > log_level)
		return;
	if (level < 0)
		level = 0;
	if (level > LOG_DEBUG)
		level = LOG_DEBUG;

	n = vsnprintf(msg, sizeof(msg), fmt, ap);
	if (n < 0)
		return;
	if ((size_t)n >= sizeof(msg))
		memcpy(msg + sizeof(msg) - 4, "...", 4);
	if (level <= LOG_WARNING) {
		now = workers_now_ms();
		logrl_due(&log_rl, now, false, say_suppressed, NULL);
		if (!logrl_admit(&log_rl, level, msg, now))
			return;
	}
	out_line(line, format_line(line, sizeof(line), level, msg));
}

int
log_attach(struct event_base *base)
{
	struct stat st;
	int fd = -1, sock = 0;

	if (log_ev != NULL || fstat(STDERR_FILENO, &st) == -1)
		return -1;
	if (S_ISSOCK(st.st_mode)) {
		fd = STDERR_FILENO;
		sock = 1;
	} else if (S_ISFIFO(st.st_mode) || S_ISCHR(st.st_mode)) {
		fd = open("/proc/self/fd/2", O_WRONLY | O_NONBLOCK |
		    O_NOCTTY | O_CLOEXEC);
	}
	if (fd == -1)
		return -1;
	if ((log_buf = evbuffer_new()) == NULL)
		goto fail;
	if ((log_ev = event_new(base, fd, EV_WRITE | EV_PERSIST, flush_cb,
	    NULL)) == NULL)
		goto fail;
	/* /dev/null and the like cannot be polled: stay synchronous. */
	if (event_add(log_ev, NULL) == -1)
		goto fail;
	event_del(log_ev);
	fflush(stderr);
	log_fd = fd;
	log_fd_own = !sock;
	log_is_sock = sock;
	return 0;

fail:
	if (log_ev != NULL)
		event_free(log_ev);
	if (log_buf != NULL)
		evbuffer_free(log_buf);
	log_ev = NULL;
	log_buf = NULL;
	if (!sock)
		close(fd);
	return -1;
}

void
log_detach(void)
{
	struct pollfd pfd;
	int waited = 0;

	/* The counts of repeats not said yet, before the last lines go. */
	logrl_due(&log_rl, workers_now_ms(), true, say_suppressed, NULL);
	if (log_ev == NULL)
		return;
	event_free(log_ev);
	log_ev = NULL;
	/*
	 * A normal exit loses nothing while the reader keeps reading; one
	 * that reads nothing at all for LOG_DETACH_MS must not hold up the
	 * exit (systemd would have to kill us).
	 */
	note_dropped(1);
	while (evbuffer_get_length(log_buf) > 0 && drain() == 0 &&
	    evbuffer_get_length(log_buf) > 0 && waited < LOG_DETACH_MS) {
		pfd.fd = log_fd;
		pfd.events = POLLOUT;
		switch (poll(&pfd, 1, 100)) {
		case -1:
			if (errno != EINTR)
				waited = LOG_DETACH_MS;
			break;
		case 0:
			waited += 100;
			break;
		default:
			waited = 0;	/* it moved: wait on */
			break;
		}
	}
	/* Still stuck: the last lines would block the exit, so they go too. */
	log_gone = evbuffer_get_length(log_buf) > 0;
	evbuffer_free(log_buf);
	log_buf = NULL;
	if (log_fd_own)
		close(log_fd);
	log_fd = -1;
	log_fd_own = log_is_sock = 0;
}

void
log_msg(int level, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vmsg(level, fmt, ap);
	va_end(ap);
}

/* ------------------------------------------------------------ access */

static int
access_open(const char *path)
{
	return open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC |
	    O_NOCTTY, 0640);
}

int
log_access_set(int json, const char *path)
{
	char *p = NULL;
	int fd = -1;

	if (path != NULL && acc_path != NULL && strcmp(path, acc_path) == 0) {
		acc_json = json;
		return 0;	/* same file: keep it open */
	}
	if (path != NULL) {
		if ((p = strdup(path)) == NULL)
			return -1;
		if ((fd = access_open(path)) == -1) {
			int e = errno;

			free(p);
			errno = e;
			return -1;
		}
	}
	if (acc_fd != -1)
		close(acc_fd);
	free(acc_path);
	acc_fd = fd;
	acc_path = p;
	acc_json = json;
	return 0;
}

int
log_access_json(void)
{
	return acc_json;
}

void
log_access_reopen(void)
{
	int fd;

	if (acc_path == NULL)
		return;
	if ((fd = access_open(acc_path)) == -1) {
		log_err("cannot reopen the access log %s: %s; it stays open "
		    "as it was", acc_path, strerror(errno));
		return;
	}
	close(acc_fd);
	acc_fd = fd;
}

void
log_access_close(void)
{
	if (acc_fd != -1)
		close(acc_fd);
	acc_fd = -1;
	free(acc_path);
	acc_path = NULL;
	acc_json = 0;
}

void
log_access(const char *text, size_t len)
{
	char line[4096];
	size_t n;
	ssize_t w;

	if (acc_fd != -1) {
		/*
		 * A file is written whatever log_level says, one write a
		 * line (O_APPEND: the workers' lines never cut into one
		 * another).  Text lines get the time stamp stderr's have.
		 */
		if (!acc_json) {
			n = format_line_plain(line, sizeof(line), LOG_INFO,
			    text);
			text = line;
			len = n;
		}
		do
			w = write(acc_fd, text, len);
		while (w == -1 && errno == EINTR);
		if (w != (ssize_t)len)
			log_warn("access log %s: %s", acc_path, w == -1 ?
			    strerror(errno) : "short write");
		return;
	}
	if (LOG_INFO > log_level)
		return;
	if (!acc_json) {
		log_info("%.*s", (int)(len > 0 && text[len - 1] == '\n' ?
		    len - 1 : len), text);
		return;
	}
	/* JSON on stderr: the object alone (it has its time), so that the
	   line parses; the journal gets its priority prefix. */
	if (log_journal) {
		n = (size_t)snprintf(line, sizeof(line), "<%d>", LOG_INFO);
		if (n + len > sizeof(line))
			return;
		memcpy(line + n, text, len);
		out_line(line, n + len);
		return;
	}
	out_line(text, len);
}

size_t
log_escape(char *dst, size_t dstsz, const void *src, size_t len)
{
	static const char hex[] = "0123456789abcdef";
	const uint8_t *s = src;
	size_t i, o = 0;
	char tmp[4];
	size_t tl;

	if (dstsz == 0)
		return 0;
	for (i = 0; i < len; i++) {
		uint8_t ch = s[i];

		tl = 0;
		if (ch == '\\' || ch == '"') {
			tmp[tl++] = '\\';
			tmp[tl++] = (char)ch;
		} else if (ch >= 0x20 && ch < 0x7f) {
			tmp[tl++] = (char)ch;
		} else if (ch == '\n') {
			tmp[tl++] = '\\';
			tmp[tl++] = 'n';
		} else if (ch == '\r') {
			tmp[tl++] = '\\';
			tmp[tl++] = 'r';
		} else if (ch == '\t') {
			tmp[tl++] = '\\';
			tmp[tl++] = 't';
		} else {
			tmp[tl++] = '\\';
			tmp[tl++] = 'x';
			tmp[tl++] = hex[ch >> 4];
			tmp[tl++] = hex[ch & 15];
		}
		/* Keep room for "..." and the NUL. */
		if (o + tl + 4 > dstsz) {
			if (dstsz >= 4) {
				memcpy(dst + (o < dstsz - 4 ? o : dstsz - 4),
				    "...", 4);
			} else {
				dst[0] = '\0';
			}
			return i;
		}
		memcpy(dst + o, tmp, tl);
		o += tl;
	}
	dst[o] = '\0';
	return len;
}

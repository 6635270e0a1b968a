/*
 * exec: each client of the route talks to a program of its own, through
 * the program's stdin and stdout (websocketd's model).  One child process
 * per connection, started from an argv (never a shell) with a CGI-style
 * environment; its exit closes the connection, and the connection's end
 * stops it.
 *
 * Settings:
 *   command = [ "/usr/bin/prog", "arg" ];   required; argv[0] is an
 *                          absolute path to an executable file
 *   mode = "text";         "text": each message is one line of the
 *                          child's stdin, each line of its stdout one
 *                          message; "binary": bytes as they come
 *   env = [ "NAME=value" ];        added to the child's environment
 *   pass_env = [ "NAME" ];         taken from wsd's own environment
 *   max_processes = 64;    children of the route at once, stopping ones
 *                          included; beyond, upgrades get 503
 *   kill_grace_ms = 2000;  SIGTERM, then SIGKILL this much later
 *   max_line = 65536;      text: longer stdout lines are cut into pieces
 *   chunk = 16384;         bytes read from stdout at once; in binary
 *                          mode the largest message
 *   max_stdin_buffer = 1048576;  input the child has not read yet;
 *                          beyond, the connection is closed (1008)
 *   stderr_rate = 20;      stderr lines logged per second per child
 *                          (the rest are counted); 0: none
 *
 * wsd.conf(5) describes what the child sees.  The way things are put
 * together:
 *
 * - A child is a process group of its own (setsid), so that stopping it
 *   reaches what it started too (a shell's sleep).  It is reaped through
 *   a pidfd watched on the loop and waitpid() on its pid alone: wsd's
 *   workers do not wait for any child, and we take no one else's.
 * - Before fork every signal is blocked, so that none runs wsd's
 *   handlers in the child; the child resets every disposition (SIGPIPE
 *   is ignored in wsd) and unblocks them just before execve.  The child
 *   closes every descriptor above 2 (close_range), whatever wsd or
 *   another plugin left without close-on-exec.
 * - Back-pressure: stdout is not read while the client is over its
 *   send high-water mark (the watch is paused until `drain`), so a
 *   child that writes faster than the client reads blocks in write(2).
 *   Input the child does not read waits in a bounded buffer.
 * - The child's exit: what it wrote before is still in the pipe; the
 *   bytes there at that moment (FIONREAD) are sent, then the connection
 *   closes with 1000 (status 0) or 1011.  A grandchild that keeps the
 *   pipe open does not hold the connection.
 * - Everything here runs on the worker's loop: no locks.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/queue.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <wsd/plugin.h>

#include "execproto.h"

extern char **environ;

#define ERR_LINE_MAX	512	/* bytes of stderr logged as one line */
#define POLL_MS		50	/* reaping without a pidfd */
#define PUMP_READS	4	/* reads of one pipe per loop pass */
#define FINI_WAIT_MS	1000	/* for children killed in fini */

struct proc;
TAILQ_HEAD(proc_list, proc);

struct exec {
	struct wsd_route	*route;
	char			**argv;		/* ours, NULL terminated */
	char			**env;		/* pass_env, env: "N=v" */
	size_t			 nenv;
	char			**params;	/* the path's parameter names */
	size_t			 nparams;
	int			 binary;
	size_t			 max_processes;
	long long		 kill_grace_ms;
	size_t			 max_line;
	size_t			 chunk;
	size_t			 max_stdin;
	unsigned		 stderr_rate;
	size_t			 nprocs;
	struct proc_list	 procs;
};

/* One connection's child, from the handshake until it is reaped. */
struct proc {
	struct exec		*ex;
	struct wsd_conn		*conn;		/* NULL once close ran */
	uint64_t		 conn_id;
	pid_t			 pid;		/* 0: not started, or reaped */
	int			 pidfd;
	int			 in_fd, out_fd, err_fd;
	struct wsd_watch	*w_in, *w_out, *w_err, *w_pid;
	struct wsd_timer	*kill_timer, *poll_timer;

	char			*in_buf;	/* input not written yet */
	size_t			 in_off, in_len, in_cap;

	char			*out_buf;	/* stdout not sent yet */
	size_t			 out_len, out_cap;
	bool			 out_paused;	/* back-pressure */
	bool			 exited;	/* reaped; sending the rest */
	size_t			 out_tail;	/* left in the pipe then */

	char			 err_buf[ERR_LINE_MAX + 1];
	size_t			 err_len;
	uint64_t		 err_window;	/* ms, start of this second */
	unsigned		 err_lines;	/* logged in it */
	unsigned long		 err_dropped;	/* not logged, since the last
						   report */
	int			 status;	/* waitpid's; -1 unknown */
	bool			 closing;	/* wsd_close() called */
	TAILQ_ENTRY(proc)	 link;
};

static void	proc_free(struct proc *);
static void	out_pump(struct proc *);
static void	reap(struct proc *);

static uint64_t
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void
close_fd(int *fd)
{
	if (*fd >= 0)
		close(*fd);
	*fd = -1;
}

/* Stop and close one of the pipes. */
static void
pipe_end(struct wsd_watch **w, int *fd)
{
	wsd_watch_cancel(*w);
	*w = NULL;
	close_fd(fd);
}

/* ---------------------------------------------------------------- settings */

static int
int_setting(struct wsd_route *r, const char *key, long long def,
    long long min, long long max, long long *out)
{
	char msg[96];

	if (wsd_setting_int(r, key, def, out) == -1)
		return -1;
	if (*out < min || *out > max) {
		snprintf(msg, sizeof(msg), "must be from %lld to %lld", min,
		    max);
		wsd_setting_error(r, key, msg);
		return -1;
	}
	return 0;
}

static int
add_env(char ***env, size_t *n, const char *name, size_t namelen,
    const char *value)
{
	char **v, *s;
	size_t i, vl = strlen(value);

	if ((s = malloc(namelen + 1 + vl + 1)) == NULL)
		return -1;
	memcpy(s, name, namelen);
	s[namelen] = '=';
	memcpy(s + namelen + 1, value, vl + 1);
	/* Later wins: the same name again replaces the value. */
	for (i = 0; i < *n; i++) {
		if (strncmp((*env)[i], s, namelen + 1) == 0) {
			free((*env)[i]);
			(*env)[i] = s;
			return 0;
		}
	}
	if ((v = realloc(*env, (*n + 2) * sizeof(*v))) == NULL) {
		free(s);
		return -1;
	}
	v[(*n)++] = s;
	v[*n] = NULL;
	*env = v;
	return 0;
}

static void
free_strv(char **v, size_t n)
{
	size_t i;

	if (v == NULL)
		return;
	for (i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

static void
exec_free(struct exec *ex)
{
	size_t i;

	if (ex->argv != NULL)
		for (i = 0; ex->argv[i] != NULL; i++)
			free(ex->argv[i]);
	free(ex->argv);
	free_strv(ex->env, ex->nenv);
	free_strv(ex->params, ex->nparams);
	free(ex);
}

static int
read_command(struct exec *ex, struct wsd_route *r)
{
	const char *const *argv;
	struct stat st;
	char msg[256];
	size_t n, i;

	if (wsd_setting_strings(r, "command", &argv, &n) == -1)
		return -1;
	if (n == 0) {
		wsd_setting_error(r, "command", "required: the program and "
		    "its arguments, as [ \"/usr/bin/prog\", \"arg\" ]");
		return -1;
	}
	if (argv[0][0] != '/') {
		wsd_setting_error(r, "command", "the program must be an "
		    "absolute path (no PATH search, no shell)");
		return -1;
	}
	if (stat(argv[0], &st) == -1 || access(argv[0], X_OK) == -1) {
		snprintf(msg, sizeof(msg), "%s: %s", argv[0], strerror(errno));
		wsd_setting_error(r, "command", msg);
		return -1;
	}
	if (!S_ISREG(st.st_mode)) {
		snprintf(msg, sizeof(msg), "%s: not a file", argv[0]);
		wsd_setting_error(r, "command", msg);
		return -1;
	}
	if ((ex->argv = calloc(n + 1, sizeof(*ex->argv))) == NULL)
		return -1;
	for (i = 0; i < n; i++)
		if ((ex->argv[i] = strdup(argv[i])) == NULL)
			return -1;
	return 0;
}

static int
read_env(struct exec *ex, struct wsd_route *r)
{
	const char *const *list;
	const char *eq, *val;
	char msg[160];
	size_t n, i;

	if (wsd_setting_strings(r, "pass_env", &list, &n) == -1)
		return -1;
	for (i = 0; i < n; i++) {
		if (!exec_env_name_ok(list[i], strlen(list[i]))) {
			snprintf(msg, sizeof(msg), "'%.60s' is no variable "
			    "name", list[i]);
			wsd_setting_error(r, "pass_env", msg);
			return -1;
		}
		/* Read once, here: the environment wsd was started with. */
		if ((val = getenv(list[i])) != NULL &&
		    add_env(&ex->env, &ex->nenv, list[i], strlen(list[i]),
		    val) == -1)
			return -1;
	}
	if (wsd_setting_strings(r, "env", &list, &n) == -1)
		return -1;
	for (i = 0; i < n; i++) {
		if ((eq = strchr(list[i], '=')) == NULL ||
		    !exec_env_name_ok(list[i], (size_t)(eq - list[i]))) {
			snprintf(msg, sizeof(msg), "'%.60s' is not NAME=value",
			    list[i]);
			wsd_setting_error(r, "env", msg);
			return -1;
		}
		if (add_env(&ex->env, &ex->nenv, list[i],
		    (size_t)(eq - list[i]), eq + 1) == -1)
			return -1;
	}
	return 0;
}

/* The names of the route's parameters, from its path (`/rooms/:room`). */
static int
read_params(struct exec *ex, struct wsd_route *r)
{
	const char *path = wsd_route_path(r);
	char name[EXEC_ENV_NAME_MAX + 1], var[EXEC_ENV_NAME_MAX + 1];
	char **v;
	size_t pos = 0;

	while (exec_pattern_param(path, &pos, name, sizeof(name)) == 1) {
		if (exec_param_env(name, var, sizeof(var)) == -1)
			continue;
		if ((v = realloc(ex->params, (ex->nparams + 1) *
		    sizeof(*v))) == NULL)
			return -1;
		ex->params = v;
		if ((v[ex->nparams] = strdup(name)) == NULL)
			return -1;
		ex->nparams++;
	}
	return 0;
}

static int
exec_init(const struct wsd_host *host, struct wsd_route *r, void **state)
{
	struct exec *ex;
	const char *mode;
	long long v;

	(void)host;
	if ((ex = calloc(1, sizeof(*ex))) == NULL)
		return -1;
	ex->route = r;
	TAILQ_INIT(&ex->procs);
	if (read_command(ex, r) == -1 || read_env(ex, r) == -1 ||
	    read_params(ex, r) == -1 ||
	    wsd_setting_string(r, "mode", "text", &mode) == -1)
		goto fail;
	if (strcmp(mode, "text") == 0) {
		ex->binary = 0;
	} else if (strcmp(mode, "binary") == 0) {
		ex->binary = 1;
	} else {
		wsd_setting_error(r, "mode", "must be \"text\" or \"binary\"");
		goto fail;
	}
	if (int_setting(r, "max_processes", 64, 1, 65536, &v) == -1)
		goto fail;
	ex->max_processes = (size_t)v;
	if (int_setting(r, "kill_grace_ms", 2000, 0, 600000,
	    &ex->kill_grace_ms) == -1)
		goto fail;
	if (int_setting(r, "max_line", 65536, 16, 16 << 20, &v) == -1)
		goto fail;
	ex->max_line = (size_t)v;
	if (int_setting(r, "chunk", 16384, 512, 1 << 20, &v) == -1)
		goto fail;
	ex->chunk = (size_t)v;
	if (int_setting(r, "max_stdin_buffer", 1 << 20, 4096, 64 << 20,
	    &v) == -1)
		goto fail;
	ex->max_stdin = (size_t)v;
	if (int_setting(r, "stderr_rate", 20, 0, 100000, &v) == -1)
		goto fail;
	ex->stderr_rate = (unsigned)v;
	*state = ex;
	return 0;
fail:
	exec_free(ex);
	return -1;
}

/* ---------------------------------------------------------------- signals */

/*
 * Signal the child's process group (it is its leader: setsid), or the
 * child alone if it has not got that far.  Only while it is not reaped,
 * so the pid is still its own.
 */
static void
signal_child(struct proc *p, int sig)
{
	if (p->pid <= 0)
		return;
	if (kill(-p->pid, sig) == -1)
		kill(p->pid, sig);
}

static void
kill_cb(struct wsd_route *r, void *arg)
{
	struct proc *p = arg;

	(void)r;
	wsd_log(p->ex->route, WSD_LOG_INFO, "pid %d: still running %lld ms "
	    "after SIGTERM: SIGKILL", (int)p->pid, p->ex->kill_grace_ms);
	signal_child(p, SIGKILL);
	wsd_timer_cancel(p->kill_timer);	/* this one: freed on return */
	p->kill_timer = NULL;
}

/* ---------------------------------------------------------------- stderr */

static void
err_report_dropped(struct proc *p)
{
	if (p->err_dropped == 0)
		return;
	wsd_log(p->ex->route, WSD_LOG_WARNING, "pid %d: %lu more stderr "
	    "line(s) not logged (stderr_rate %u/s)", (int)p->pid,
	    p->err_dropped, p->ex->stderr_rate);
	p->err_dropped = 0;
}

static void
err_line(struct proc *p, const char *s, size_t len)
{
	uint64_t now = now_ms();

	if (now - p->err_window >= 1000) {
		err_report_dropped(p);
		p->err_window = now;
		p->err_lines = 0;
	}
	if (p->err_lines >= p->ex->stderr_rate) {
		p->err_dropped++;
		return;
	}
	p->err_lines++;
	wsd_log(p->ex->route, WSD_LOG_WARNING, "pid %d: %.*s", (int)p->pid,
	    (int)len, s);
}

/* Read what stderr holds (a few reads at most); log it line by line. */
static void
err_pump(struct proc *p, int eof_too)
{
	size_t k, m, off;
	ssize_t n;
	int i, eof = 0;

	for (i = 0; i < PUMP_READS && p->err_fd >= 0; i++) {
		n = read(p->err_fd, p->err_buf + p->err_len,
		    ERR_LINE_MAX - p->err_len);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1 && errno != EAGAIN)
			eof = 1;
		if (n == 0)
			eof = 1;
		if (n > 0)
			p->err_len += (size_t)n;
		off = 0;
		while ((k = exec_line_next(p->err_buf + off, p->err_len - off,
		    ERR_LINE_MAX - 1, eof || eof_too, &m)) > 0) {
			err_line(p, p->err_buf + off, m);
			off += k;
		}
		memmove(p->err_buf, p->err_buf + off, p->err_len - off);
		p->err_len -= off;
		if (eof) {
			pipe_end(&p->w_err, &p->err_fd);
			return;
		}
		if (n <= 0)
			return;
	}
}

static void
err_cb(struct wsd_route *r, int fd, int events, void *arg)
{
	(void)r;
	(void)fd;
	(void)events;
	err_pump(arg, 0);
}

/* ---------------------------------------------------------------- stdin */

static void
in_pump(struct proc *p)
{
	ssize_t n;

	while (p->in_fd >= 0 && p->in_off < p->in_len) {
		n = write(p->in_fd, p->in_buf + p->in_off,
		    p->in_len - p->in_off);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1 && errno == EAGAIN)
			break;
		if (n == -1) {
			/* EPIPE: it closed its stdin; later input is lost. */
			pipe_end(&p->w_in, &p->in_fd);
			p->in_off = p->in_len = 0;
			return;
		}
		p->in_off += (size_t)n;
	}
	if (p->in_off == p->in_len)
		p->in_off = p->in_len = 0;
	if (p->w_in != NULL)
		(void)wsd_watch_set(p->w_in, p->in_off < p->in_len ?
		    WSD_WATCH_WRITE : 0);
}

static void
in_cb(struct wsd_route *r, int fd, int events, void *arg)
{
	(void)r;
	(void)fd;
	(void)events;
	in_pump(arg);
}

/* Queue data (and a newline) for the child; -1 when over the bound. */
static int
in_queue(struct proc *p, const void *data, size_t len, int newline)
{
	size_t need = len + (newline ? 1 : 0), cap;
	char *b;

	if (p->in_len - p->in_off + need > p->ex->max_stdin)
		return -1;
	if (p->in_off > 0 && p->in_len + need > p->in_cap) {
		memmove(p->in_buf, p->in_buf + p->in_off,
		    p->in_len - p->in_off);
		p->in_len -= p->in_off;
		p->in_off = 0;
	}
	if (p->in_len + need > p->in_cap) {
		cap = p->in_cap > 0 ? p->in_cap : 4096;
		while (cap < p->in_len + need)
			cap *= 2;
		/* No more than the bound, which in_len + need is within. */
		if (cap > p->ex->max_stdin)
			cap = p->ex->max_stdin;
		if ((b = realloc(p->in_buf, cap)) == NULL)
			return -1;
		p->in_buf = b;
		p->in_cap = cap;
	}
	memcpy(p->in_buf + p->in_len, data, len);
	p->in_len += len;
	if (newline)
		p->in_buf[p->in_len++] = '\n';
	return 0;
}

/* ---------------------------------------------------------------- stdout */

static void
out_pause(struct proc *p)
{
	p->out_paused = true;
	if (p->w_out != NULL)
		(void)wsd_watch_set(p->w_out, 0);
}

/* Send one message of the child's output; false once we must stop. */
static bool
out_send(struct proc *p, const char *data, size_t len)
{
	int op = WSD_BINARY;

	if (!p->ex->binary && exec_utf8_valid(data, len))
		op = WSD_TEXT;
	switch (wsd_send(p->conn, op, data, len)) {
	case WSD_SEND_OK:
		return true;
	case WSD_SEND_BACKPRESSURE:
		/* It is queued; read no more until `drain`. */
		out_pause(p);
		return true;
	default:
		/* Closing (or over the hard limit, and closed 1008). */
		out_pause(p);
		p->closing = true;
		return false;
	}
}

/* Send what out_buf holds: whole lines (text), everything (binary). */
static void
out_flush(struct proc *p, int eof)
{
	size_t off = 0, k, m;

	if (p->ex->binary) {
		if (p->out_len > 0)
			out_send(p, p->out_buf, p->out_len);
		p->out_len = 0;
		return;
	}
	while ((k = exec_line_next(p->out_buf + off, p->out_len - off,
	    p->ex->max_line, eof, &m)) > 0) {
		off += k;
		if (!out_send(p, p->out_buf + off - k, m)) {
			p->out_len = 0;
			return;
		}
	}
	memmove(p->out_buf, p->out_buf + off, p->out_len - off);
	p->out_len -= off;
}

/* The child is gone and its output sent: close the connection. */
static void
finish(struct proc *p)
{
	char reason[64];
	int code = 1011;

	out_flush(p, 1);
	pipe_end(&p->w_out, &p->out_fd);
	if (p->status != -1 && WIFEXITED(p->status)) {
		if (WEXITSTATUS(p->status) == 0)
			code = 1000;
		snprintf(reason, sizeof(reason), "exit status %d",
		    WEXITSTATUS(p->status));
	} else if (p->status != -1 && WIFSIGNALED(p->status)) {
		snprintf(reason, sizeof(reason), "killed by signal %d",
		    WTERMSIG(p->status));
	} else {
		snprintf(reason, sizeof(reason), "exit status unknown");
	}
	if (p->closing || p->conn == NULL) {
		p->closing = true;
		return;
	}
	p->closing = true;		/* first: close may free p one day */
	(void)wsd_close(p->conn, code, reason);
}

/*
 * Read stdout (a few reads, then the loop's other work gets its turn:
 * the watch fires again) and send it, unless paused.
 */
static void
out_pump(struct proc *p)
{
	size_t want;
	ssize_t n;
	int i;

	for (i = 0; i < PUMP_READS; i++) {
		if (p->out_paused || p->closing || p->out_fd < 0 ||
		    (p->exited && p->out_tail == 0))
			break;
		want = p->out_cap - p->out_len;
		if (want > p->ex->chunk)
			want = p->ex->chunk;
		if (p->exited && want > p->out_tail)
			want = p->out_tail;
		n = read(p->out_fd, p->out_buf + p->out_len, want);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1 && errno == EAGAIN) {
			if (p->exited)
				p->out_tail = 0;
			break;
		}
		if (n <= 0) {
			/* End of stdout: the rest is one message. */
			out_flush(p, 1);
			pipe_end(&p->w_out, &p->out_fd);
			p->out_tail = 0;
			break;
		}
		p->out_len += (size_t)n;
		if (p->exited)
			p->out_tail -= (size_t)n;
		out_flush(p, 0);
	}
	if (p->exited && !p->closing && (p->out_fd < 0 || p->out_tail == 0))
		finish(p);
}

static void
out_cb(struct wsd_route *r, int fd, int events, void *arg)
{
	(void)r;
	(void)fd;
	(void)events;
	out_pump(arg);
}

/* ---------------------------------------------------------------- the child */

static void
describe_status(int status, char *buf, size_t sz)
{
	if (status == -1)
		snprintf(buf, sz, "was reaped by someone else");
	else if (WIFEXITED(status))
		snprintf(buf, sz, "exited with status %d", WEXITSTATUS(status));
	else if (WIFSIGNALED(status))
		snprintf(buf, sz, "was killed by signal %d", WTERMSIG(status));
	else
		snprintf(buf, sz, "ended (status %#x)", status);
}

/* The child may have exited: collect it, then send the rest. */
static void
reap(struct proc *p)
{
	char how[64];
	pid_t got;
	int status;

	do
		got = waitpid(p->pid, &status, WNOHANG);
	while (got == -1 && errno == EINTR);
	if (got == 0)
		return;				/* not yet */
	p->status = got == p->pid ? status : -1;
	describe_status(p->status, how, sizeof(how));
	wsd_log(p->ex->route, WSD_LOG_INFO, "pid %d %s", (int)p->pid, how);
	pipe_end(&p->w_pid, &p->pidfd);
	wsd_timer_cancel(p->poll_timer);
	p->poll_timer = NULL;
	wsd_timer_cancel(p->kill_timer);
	p->kill_timer = NULL;
	pipe_end(&p->w_in, &p->in_fd);
	free(p->in_buf);
	p->in_buf = NULL;
	p->in_off = p->in_len = p->in_cap = 0;
	/* Its last words; a grandchild may hold the pipe: no waiting. */
	err_pump(p, 1);
	err_report_dropped(p);
	pipe_end(&p->w_err, &p->err_fd);
	p->pid = 0;
	p->exited = true;
	if (p->conn == NULL) {
		proc_free(p);
		return;
	}
	/* What it wrote before it exited is in the pipe: send that much. */
	{
		int avail = 0;

		if (p->out_fd >= 0 && ioctl(p->out_fd, FIONREAD, &avail) ==
		    -1)
			avail = 0;
		p->out_tail = avail > 0 ? (size_t)avail : 0;
	}
	out_pump(p);
}

static void
pid_cb(struct wsd_route *r, int fd, int events, void *arg)
{
	(void)r;
	(void)fd;
	(void)events;
	reap(arg);
}

static void
poll_cb(struct wsd_route *r, void *arg)
{
	(void)r;
	reap(arg);
}

/* Write a number in the child, where printf is not safe. */
static void
child_say(const char *what, const char *path, int err)
{
	char num[16];
	int i = (int)sizeof(num);
	ssize_t n;

	do {
		num[--i] = (char)('0' + err % 10);
		err /= 10;
	} while (err > 0 && i > 0);
	n = write(2, "wsd exec: ", 10);
	n = write(2, what, strlen(what));
	n = write(2, path, strlen(path));
	n = write(2, ": errno ", 8);
	n = write(2, num + i, sizeof(num) - (size_t)i);
	n = write(2, "\n", 1);
	(void)n;
}

/*
 * glibc keeps a few real-time signals for itself (32 and 33) and its
 * sigaction() refuses them, so one that whoever started wsd ignores (GNU
 * make does) would stay ignored in the program.  The kernel takes them:
 * an all-zero struct sigaction is SIG_DFL, no flags, no mask, whatever
 * the architecture's layout; the size of its sigset is 8 bytes, or 16
 * where there are 128 signals.
 */
static void
reset_reserved(int sig)
{
	unsigned long zero[16];

	memset(zero, 0, sizeof(zero));
	if (syscall(SYS_rt_sigaction, sig, zero, NULL, 8) == -1)
		(void)syscall(SYS_rt_sigaction, sig, zero, NULL, 16);
}

/*
 * In the child, between fork and execve: async-signal-safe calls only
 * (another plugin's thread may hold malloc's lock).  fds: the ends for
 * 0, 1 and 2.
 */
static void __attribute__((noreturn))
child(char **argv, char **envp, const int fds[3], pid_t parent)
{
	struct sigaction sa;
	sigset_t none;
	int i, moved[3];

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = SIG_DFL;
	for (i = 1; i < NSIG; i++)
		if (sigaction(i, &sa, NULL) == -1 && errno == EINVAL &&
		    i != SIGKILL && i != SIGSTOP)
			reset_reserved(i);
	/* A group of its own, so that stopping it stops what it started. */
	(void)setsid();
	/* Dies with the worker if that is killed before it could stop us. */
	(void)prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (getppid() != parent)
		_exit(127);
	/* Out of the way of 0, 1 and 2 first, then into them. */
	for (i = 0; i < 3; i++)
		if ((moved[i] = fcntl(fds[i], F_DUPFD_CLOEXEC, 3)) == -1)
			_exit(127);
	for (i = 0; i < 3; i++)
		if (dup2(moved[i], i) == -1)
			_exit(127);
	/*
	 * Whatever is still open above 2 goes, close-on-exec or not: a
	 * descriptor some library opened without it must not leak into the
	 * program.  Without close_range (Linux < 5.9) close-on-exec must do.
	 */
#ifdef SYS_close_range
	(void)syscall(SYS_close_range, 3U, ~0U, 0U);
#endif
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	execve(argv[0], argv, envp);
	child_say("cannot execute ", argv[0], errno);
	_exit(127);
}

/* The child's environment for connection c (see wsd.conf(5)). */
static char **
build_env(struct exec *ex, struct wsd_conn *c, size_t *np)
{
	char host[256], port[16], var[EXEC_ENV_NAME_MAX + 1], *uri = NULL;
	const char *name, *value, *s, *path, *query;
	char **env = NULL, *joined;
	size_t n = 0, i, k;
	int ok = 0;

	*np = 0;
	if ((s = wsd_remote_addr(c)) != NULL &&
	    exec_split_addr(s, host, sizeof(host), port, sizeof(port)) == 0 &&
	    (add_env(&env, &n, "REMOTE_ADDR", 11, host) == -1 ||
	    add_env(&env, &n, "REMOTE_PORT", 11, port) == -1))
		goto out;
	if ((s = wsd_local_addr(c)) != NULL &&
	    exec_split_addr(s, host, sizeof(host), port, sizeof(port)) == 0) {
		if (add_env(&env, &n, "SERVER_PORT", 11, port) == -1)
			goto out;
		/* SERVER_NAME falls back on the address we were reached at. */
		if (strchr(host, ':') != NULL) {
			char v6[sizeof(host) + 2];

			snprintf(v6, sizeof(v6), "[%s]", host);
			if (add_env(&env, &n, "SERVER_NAME", 11, v6) == -1)
				goto out;
		} else if (add_env(&env, &n, "SERVER_NAME", 11, host) == -1)
			goto out;
	}
	if ((s = wsd_header(c, "Host")) != NULL &&
	    exec_server_name(s, host, sizeof(host)) == 0 &&
	    add_env(&env, &n, "SERVER_NAME", 11, host) == -1)
		goto out;
	path = wsd_path(c);
	query = wsd_query(c);
	if (path == NULL)
		path = "/";
	if (asprintf(&uri, "%s%s%s", path, query != NULL ? "?" : "",
	    query != NULL ? query : "") == -1) {
		uri = NULL;
		goto out;
	}
	if (add_env(&env, &n, "QUERY_STRING", 12, query != NULL ? query :
	    "") == -1 ||
	    add_env(&env, &n, "PATH_INFO", 9, path) == -1 ||
	    add_env(&env, &n, "REQUEST_URI", 11, uri) == -1)
		goto out;
	if (wsd_conn_tls(c) == 1 && add_env(&env, &n, "HTTPS", 5, "on") == -1)
		goto out;
	for (i = 0; i < ex->nparams; i++) {
		if ((value = wsd_param(c, ex->params[i])) == NULL ||
		    exec_param_env(ex->params[i], var, sizeof(var)) == -1)
			continue;
		if (add_env(&env, &n, var, strlen(var), value) == -1)
			goto out;
	}
	for (i = 0; wsd_header_at(c, i, &name, &value) == 0; i++) {
		/* Proxy: HTTP_PROXY, which programs obey (httpoxy). */
		if (strcasecmp(name, "Proxy") == 0 ||
		    exec_header_env(name, var, sizeof(var)) == -1)
			continue;
		k = strlen(var);
		s = NULL;
		for (size_t j = 0; j < n; j++)
			if (strncmp(env[j], var, k) == 0 && env[j][k] == '=')
				s = env[j] + k + 1;
		if (s != NULL) {
			/* Repeated: one variable, the values joined (CGI). */
			if (asprintf(&joined, "%s%s%s", s,
			    strcmp(var, "HTTP_COOKIE") == 0 ? "; " : ", ",
			    value) == -1)
				goto out;
			if (add_env(&env, &n, var, k, joined) == -1) {
				free(joined);
				goto out;
			}
			free(joined);
		} else if (add_env(&env, &n, var, k, value) == -1)
			goto out;
	}
	/* The operator's word last: pass_env, then env. */
	for (i = 0; i < ex->nenv; i++)
		if (add_env(&env, &n, ex->env[i], strcspn(ex->env[i], "="),
		    strchr(ex->env[i], '=') + 1) == -1)
			goto out;
	ok = 1;
out:
	free(uri);
	if (!ok) {
		free_strv(env, n);
		return NULL;
	}
	if (env == NULL)
		env = calloc(1, sizeof(*env));
	*np = n;
	return env;
}

static int
nonblock(int fd)
{
	int fl = fcntl(fd, F_GETFL);

	return fl == -1 ? -1 : fcntl(fd, F_SETFL, fl | O_NONBLOCK);
}

/* Start p's child; -1 with errno and a logged reason. */
static int
spawn(struct proc *p)
{
	struct exec *ex = p->ex;
	struct wsd_route *r = ex->route;
	int in[2] = { -1, -1 }, out[2] = { -1, -1 }, err[2] = { -1, -1 };
	int fds[3], e = 0;
	sigset_t all, old;
	char **env;
	size_t nenv;
	pid_t pid, self = getpid();

	if ((env = build_env(ex, p->conn, &nenv)) == NULL) {
		wsd_log(r, WSD_LOG_ERR, "out of memory");
		return -1;
	}
	if (pipe2(in, O_CLOEXEC) == -1 || pipe2(out, O_CLOEXEC) == -1 ||
	    pipe2(err, O_CLOEXEC) == -1 || nonblock(in[1]) == -1 ||
	    nonblock(out[0]) == -1 || nonblock(err[0]) == -1) {
		e = errno;
		wsd_log(r, WSD_LOG_ERR, "pipe: %s", strerror(e));
		goto fail;
	}
	fds[0] = in[0];
	fds[1] = out[1];
	fds[2] = err[1];
	/* No signal may run wsd's handlers in the child. */
	sigfillset(&all);
	sigprocmask(SIG_SETMASK, &all, &old);
	pid = fork();
	if (pid == 0)
		child(ex->argv, env, fds, self);
	e = errno;
	sigprocmask(SIG_SETMASK, &old, NULL);
	if (pid == -1) {
		wsd_log(r, WSD_LOG_ERR, "fork: %s", strerror(e));
		goto fail;
	}
	p->pid = pid;
	close_fd(&in[0]);
	close_fd(&out[1]);
	close_fd(&err[1]);
	free_strv(env, nenv);
	env = NULL;
	p->in_fd = in[1];
	p->out_fd = out[0];
	p->err_fd = err[0];
	/* Close-on-exec, always. */
#ifdef SYS_pidfd_open
	p->pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
#else
	errno = ENOSYS;
#endif
	if ((p->w_in = wsd_watch_add(r, p->in_fd, 0, in_cb, p)) == NULL ||
	    (p->w_out = wsd_watch_add(r, p->out_fd, WSD_WATCH_READ, out_cb,
	    p)) == NULL ||
	    (p->w_err = wsd_watch_add(r, p->err_fd, WSD_WATCH_READ, err_cb,
	    p)) == NULL)
		goto started;
	if (p->pidfd >= 0) {
		if ((p->w_pid = wsd_watch_add(r, p->pidfd, WSD_WATCH_READ,
		    pid_cb, p)) == NULL)
			goto started;
	} else {
		/* No pidfd (Linux < 5.3, or a seccomp filter): look often. */
		wsd_log(r, WSD_LOG_DEBUG, "pidfd_open: %s; polling",
		    strerror(errno));
		if ((p->poll_timer = wsd_timer_add(r, POLL_MS, POLL_MS,
		    poll_cb, p)) == NULL)
			goto started;
	}
	wsd_log(r, WSD_LOG_INFO, "pid %d started for connection %llu",
	    (int)pid, (unsigned long long)p->conn_id);
	return 0;
started:
	/* It runs, but we cannot follow it: stop it, reap it in fini. */
	wsd_log(r, WSD_LOG_ERR, "pid %d: cannot watch it: out of memory",
	    (int)pid);
	signal_child(p, SIGKILL);
	errno = ENOMEM;
	return -1;
fail:
	free_strv(env, nenv);
	close_fd(&in[0]);
	close_fd(&in[1]);
	close_fd(&out[0]);
	close_fd(&out[1]);
	close_fd(&err[0]);
	close_fd(&err[1]);
	errno = e;
	return -1;
}

/* ---------------------------------------------------------------- callbacks */

static void
proc_free(struct proc *p)
{
	wsd_timer_cancel(p->kill_timer);
	wsd_timer_cancel(p->poll_timer);
	pipe_end(&p->w_pid, &p->pidfd);
	pipe_end(&p->w_in, &p->in_fd);
	pipe_end(&p->w_out, &p->out_fd);
	pipe_end(&p->w_err, &p->err_fd);
	TAILQ_REMOVE(&p->ex->procs, p, link);
	p->ex->nprocs--;
	free(p->in_buf);
	free(p->out_buf);
	free(p);
}

static int
exec_handshake(void *state, struct wsd_conn *c)
{
	struct exec *ex = state;
	struct proc *p;

	if (ex->nprocs >= ex->max_processes) {
		wsd_log(ex->route, WSD_LOG_NOTICE, "max_processes (%zu) "
		    "reached: 503", ex->max_processes);
		return 503;
	}
	/* The slot is taken now: open follows, or close with 1011. */
	if ((p = calloc(1, sizeof(*p))) == NULL)
		return 503;
	p->ex = ex;
	p->pidfd = p->in_fd = p->out_fd = p->err_fd = -1;
	p->conn_id = wsd_conn_id(c);
	TAILQ_INSERT_TAIL(&ex->procs, p, link);
	ex->nprocs++;
	wsd_set_data(c, p);
	return 0;
}

static void
exec_open(void *state, struct wsd_conn *c)
{
	struct exec *ex = state;
	struct proc *p = wsd_get_data(c);

	(void)ex;
	if (p == NULL)
		return;
	p->conn = c;
	p->out_cap = ex->binary ? ex->chunk : ex->max_line + 1;
	if ((p->out_buf = malloc(p->out_cap)) == NULL || spawn(p) == -1) {
		p->closing = true;
		(void)wsd_close(c, 1011, "cannot start the command");
	}
}

static void
exec_message(void *state, struct wsd_conn *c, int opcode, const void *data,
    size_t len)
{
	struct exec *ex = state;
	struct proc *p = wsd_get_data(c);
	int nl = !ex->binary;

	(void)opcode;
	if (p == NULL || p->closing || p->in_fd < 0)
		return;			/* no one reads it any more */
	if (len + (size_t)nl > ex->max_stdin) {
		p->closing = true;
		(void)wsd_close(c, 1009, "message too big for the command");
		return;
	}
	if (in_queue(p, data, len, nl) == -1) {
		wsd_log(ex->route, WSD_LOG_NOTICE, "pid %d: %zu bytes of input "
		    "not read: closing (max_stdin_buffer)", (int)p->pid,
		    p->in_len - p->in_off);
		p->closing = true;
		(void)wsd_close(c, 1008, "the command does not read its input");
		return;
	}
	in_pump(p);
}

static void
exec_drain(void *state, struct wsd_conn *c)
{
	struct proc *p = wsd_get_data(c);

	(void)state;
	if (p == NULL || p->closing || !p->out_paused)
		return;
	p->out_paused = false;
	if (p->w_out != NULL)
		(void)wsd_watch_set(p->w_out, WSD_WATCH_READ);
	/* After the exit nothing may wake the watch: go on now. */
	if (p->exited)
		out_pump(p);
}

static void
exec_close(void *state, struct wsd_conn *c, int code, const char *reason)
{
	struct exec *ex = state;
	struct proc *p = wsd_get_data(c);

	(void)code;
	(void)reason;
	if (p == NULL)
		return;
	wsd_set_data(c, NULL);
	p->conn = NULL;
	if (p->pid <= 0) {
		proc_free(p);		/* never started, or reaped */
		return;
	}
	/*
	 * The client is gone: EOF on the child's stdin, EPIPE (or SIGPIPE)
	 * on its stdout, SIGTERM to its group, SIGKILL after the grace.
	 */
	pipe_end(&p->w_in, &p->in_fd);
	pipe_end(&p->w_out, &p->out_fd);
	signal_child(p, SIGTERM);
	if ((p->kill_timer = wsd_timer_add(ex->route,
	    (uint64_t)ex->kill_grace_ms, 0, kill_cb, p)) == NULL)
		signal_child(p, SIGKILL);
}

static void
exec_fini(void *state)
{
	struct exec *ex = state;
	struct proc *p;
	uint64_t deadline;
	pid_t got;
	int status;

	/*
	 * Children of clients that left and are still in their grace: the
	 * route is retired (reload, shutdown), they go now.
	 */
	while ((p = TAILQ_FIRST(&ex->procs)) != NULL) {
		if (p->pid > 0) {
			signal_child(p, SIGKILL);
			deadline = now_ms() + FINI_WAIT_MS;
			while ((got = waitpid(p->pid, &status, WNOHANG)) == 0 &&
			    now_ms() < deadline) {
				struct timespec ts = { 0, 5 * 1000000L };

				nanosleep(&ts, NULL);
			}
			if (got == 0)
				wsd_log(ex->route, WSD_LOG_WARNING, "pid %d "
				    "still not dead after SIGKILL; left to "
				    "init", (int)p->pid);
		}
		proc_free(p);
	}
	exec_free(ex);
}

WSD_PLUGIN(
	.name = "exec",
	.version = "1.0",
	.init = exec_init,
	.fini = exec_fini,
	.handshake = exec_handshake,
	.open = exec_open,
	.message = exec_message,
	.drain = exec_drain,
	.close = exec_close,
);

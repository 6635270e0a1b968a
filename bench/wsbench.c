/*
 * wsbench: a WebSocket load generator for the wsd benchmark.
 *
 * One epoll loop per thread, many connections per loop.  Every client
 * frame is masked, every Sec-WebSocket-Accept is checked (SHA-1/base64
 * with OpenSSL), every echoed payload is compared byte for byte.
 *
 * Modes:
 *   echo    N connections send messages of S bytes, K in flight each, for
 *           a duration (or a fixed --count of messages in all); reports
 *           msg/s, MB/s, latency percentiles, messages per connection.
 *   fanout  N clients listen on a broadcast path; ticks are matched by
 *           payload; reports ticks seen, the share delivered to every
 *           client and the first-to-last spread per tick.
 *   idle    open N connections, report successes, failures by kind
 *           and handshakes/s, then hold them for --hold seconds.
 *   hs      N slots, each opening a connection, waiting for its 101 and
 *           closing it, again and again for a duration: handshakes/s
 *           (with -L: a TLS handshake and the upgrade; -Z resumes the
 *           slot's previous session each time).
 *
 * With -L every connection is TLS (OpenSSL, non-blocking, SNI -N NAME,
 * ALPN http/1.1); the server's certificate is not verified: this is a
 * load generator, not a security test.  The plain path is unchanged but
 * for one test of c->ssl per read and write.
 *
 * With -x PID the server's CPU time (utime+stime from /proc/N/stat) is
 * sampled over the measured interval and its RSS (VmRSS) before the
 * connections and while they are held, both summed over PID and all its
 * descendants (wsd's master and workers).  With -p P1,P2 connection i
 * goes to port P(i mod 2): subscribers split over two servers.  A 101
 * with X-Wsd-Worker (wsd's worker_header) is counted per worker.
 *
 * With -z OFFER the handshake offers permessage-deflate (RFC 7692): a
 * client message is a stored block with its stamp followed by the rest
 * of the payload compressed once at start (valid whatever the context
 * takeover), server frames with RSV1 are inflated (with the
 * connection's own stream when the server keeps its context) and the
 * payload bytes on the wire are counted both ways.  -j makes the
 * payload JSON-like text; -e (idle) sends one message per connection
 * once open, so that streams made on first use exist while held.
 *
 * The last line on stdout is "RESULT key=value ...", for bench/run.
 * Everything is bounded by --deadline (seconds, whole run).
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/sha.h>
#include <zlib.h>
#include <openssl/ssl.h>

#ifndef IP_BIND_ADDRESS_NO_PORT
#define IP_BIND_ADDRESS_NO_PORT 24
#endif

enum mode { M_ECHO, M_FANOUT, M_IDLE, M_HS };

/* ------------------------------------------------------------ options */

static struct {
	enum mode	mode;
	const char	*host;
	int		 port;		/* the first of ports[] */
	int		 ports[16];	/* -p P1,P2,..: connection i to */
	int		 nports;	/*   ports[i % nports] */
	int		 idx_base;	/* -I: first connection index */
	const char	*path;
	int		 conns;
	size_t		 size;
	int		 inflight;
	double		 duration;
	double		 warmup;
	long long	 count;		/* echo: total messages, -1: by time */
	int		 text;
	int		 threads;
	int		 nsrc;		/* source addresses 127.0.0.2.. */
	int		 pending;	/* handshakes in progress at once */
	double		 hs_timeout;
	double		 hold;
	double		 deadline;
	pid_t		 pid;		/* the first of pids[] */
	pid_t		 pids[16];	/* -x P1,P2,..: servers measured */
	int		 npids;
	const char	*ready_file;	/* idle: written while holding */
	const char	*release_file;	/* idle: its appearance ends the hold */
	const char	*deflate;	/* -z: the extension offer, or NULL */
	int		 json;		/* -j: JSON-like text payload */
	int		 idle_echo;	/* -e: idle clients send one message */
	int		 tls;		/* -L: TLS */
	const char	*sni;		/* -N: server name sent */
	int		 tls_max;	/* -V 1.2|1.3: highest version offered */
	int		 resume;	/* -Z: hs mode resumes sessions */
} opt = {
	.mode = M_ECHO, .host = "127.0.0.1", .port = 0, .path = NULL,
	.conns = 100, .size = 64, .inflight = 1, .duration = 10,
	.warmup = 1, .count = -1, .text = 0, .threads = 1, .nsrc = 64,
	.pending = 200, .hs_timeout = 10, .hold = 0, .deadline = 120,
	.pid = 0, .ready_file = NULL, .sni = "localhost",
};

static SSL_CTX *g_tls;

static double t_deadline;

static double
now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static uint64_t
now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void
die(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fprintf(stderr, "wsbench: ");
	vfprintf(stderr, fmt, ap);
	fprintf(stderr, "\n");
	va_end(ap);
	printf("RESULT error=1\n");
	fflush(stdout);
	_exit(2);
}

static void
on_alarm(int sig)
{
	static const char msg[] = "wsbench: global deadline passed\n"
	    "RESULT error=1 deadline=1\n";

	(void)sig;
	if (write(2, msg, 33) < 0 || write(1, msg + 33, sizeof(msg) - 34) < 0)
		_exit(3);
	_exit(3);
}

/* ------------------------------------------------------------ histogram */

/* Log buckets: 8 per power of two, of nanoseconds (12.5% resolution). */
#define HBUCKETS	(64 * 8)

struct hist {
	uint64_t	b[HBUCKETS];
	uint64_t	n;
};

static int
hbucket(uint64_t v)
{
	int msb;

	if (v < 8)
		return (int)v;
	msb = 63 - __builtin_clzll(v);
	return msb * 8 + (int)((v >> (msb - 3)) & 7);
}

static uint64_t
hbucket_value(int b)		/* the middle of bucket b */
{
	int msb = b / 8, sub = b % 8;
	uint64_t lo, width;

	if (b < 8)
		return (uint64_t)b;
	lo = (8ull + sub) << (msb - 3);
	width = 1ull << (msb - 3);
	return lo + width / 2;
}

static void
hadd(struct hist *h, uint64_t v)
{
	h->b[hbucket(v)]++;
	h->n++;
}

static uint64_t
hpct(const struct hist *h, double p)
{
	uint64_t want, seen = 0;
	int i;

	if (h->n == 0)
		return 0;
	want = (uint64_t)(p / 100.0 * (double)h->n);
	if (want >= h->n)
		want = h->n - 1;
	for (i = 0; i < HBUCKETS; i++) {
		seen += h->b[i];
		if (seen > want)
			return hbucket_value(i);
	}
	return 0;
}

/* ------------------------------------------------------------ /proc */

/*
 * The server is a process tree: wsd is a master and its worker processes
 * (children), and any server may fork.  CPU and RSS are summed over the
 * PID given with -x and all its descendants, found again at each sample
 * (by the parent PID in /proc/N/stat: this kernel has no
 * /proc/PID/task/TID/children) so a worker started meanwhile counts.  A
 * process that exits between two samples takes its CPU with it; the
 * benchmark's servers keep theirs for the whole run.
 */
#define MAXPROCS	256

static int
proc_stat_fields(pid_t pid, pid_t *ppid, unsigned long *ut, unsigned long *st)
{
	char path[64], buf[2048], *p;
	FILE *f;
	size_t n;
	int pp;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	if ((f = fopen(path, "r")) == NULL)
		return -1;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	/* After "pid (comm) ": field 3 is state, 4 ppid; utime 14, stime 15. */
	if ((p = strrchr(buf, ')')) == NULL)
		return -1;
	if (sscanf(p + 2, "%*c %d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu",
	    &pp, ut, st) != 3)
		return -1;
	*ppid = (pid_t)pp;
	return 0;
}

/*
 * The -x PIDs and their descendants into out (at most max), the -x PIDs
 * first; returns how many.
 */
static int
proc_tree(pid_t *out, int max)
{
	struct { pid_t pid, ppid; } *all = NULL;
	int nall = 0, cap = 0, n = 0, i, j;
	struct dirent *d;
	DIR *dir;

	for (i = 0; i < opt.npids && n < max; i++)
		out[n++] = opt.pids[i];
	if (n == 0)
		return 0;
	if ((dir = opendir("/proc")) == NULL)
		return n;
	while ((d = readdir(dir)) != NULL) {
		unsigned long ut, st;
		pid_t p, pp;

		if (d->d_name[0] < '1' || d->d_name[0] > '9')
			continue;
		p = (pid_t)atoi(d->d_name);
		for (i = 0; i < opt.npids && opt.pids[i] != p; i++)
			;
		if (i < opt.npids || proc_stat_fields(p, &pp, &ut, &st) == -1)
			continue;
		if (nall == cap) {
			cap = cap ? cap * 2 : 512;
			if ((all = realloc(all, (size_t)cap * sizeof(*all))) ==
			    NULL)
				die("out of memory");
		}
		all[nall].pid = p;
		all[nall++].ppid = pp;
	}
	closedir(dir);
	/* Breadth first: out[i]'s children are appended after it. */
	for (i = 0; i < n; i++)
		for (j = 0; j < nall && n < max; j++)
			if (all[j].ppid == out[i])
				out[n++] = all[j].pid;
	free(all);
	return n;
}

static double
proc_cpu_us(void)
{
	pid_t tree[MAXPROCS], pp;
	unsigned long ut, st, sum = 0;
	int i, n;

	if ((n = proc_tree(tree, MAXPROCS)) == 0)
		return 0;
	for (i = 0; i < n; i++) {
		if (proc_stat_fields(tree[i], &pp, &ut, &st) == -1) {
			if (i < opt.npids)
				return -1;
			continue;	/* exited meanwhile */
		}
		sum += ut + st;
	}
	return (double)sum * 1e6 / (double)sysconf(_SC_CLK_TCK);
}

static long
proc_rss_kb1(pid_t pid)
{
	char path[64], line[256];
	long kb = -1;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	if ((f = fopen(path, "r")) == NULL)
		return -1;
	while (fgets(line, sizeof(line), f) != NULL)
		if (sscanf(line, "VmRSS: %ld", &kb) == 1)
			break;
	fclose(f);
	return kb;
}

/* VmRSS summed over the tree; *nprocs: how many processes it had. */
static long
proc_rss_kb(int *nprocs)
{
	pid_t tree[MAXPROCS];
	long kb, sum = 0;
	int i, n;

	if (nprocs != NULL)
		*nprocs = 0;
	if ((n = proc_tree(tree, MAXPROCS)) == 0)
		return 0;
	for (i = 0; i < n; i++) {
		if ((kb = proc_rss_kb1(tree[i])) == -1) {
			if (i < opt.npids)
				return -1;
			continue;
		}
		sum += kb;
	}
	if (nprocs != NULL)
		*nprocs = n;
	return sum;
}

/* ------------------------------------------------------------ random */

static uint64_t
xorshift(uint64_t *s)
{
	uint64_t x = *s;

	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	return *s = x;
}

/* ------------------------------------------------------------ connections */

/* Server workers told apart by the X-Wsd-Worker header of the 101. */
#define MAXWORKERS	64

enum cstate { C_FREE, C_CONNECTING, C_TLS, C_HANDSHAKE, C_OPEN, C_DEAD };

struct conn {
	int		 fd;
	int		 idx;		/* global index */
	enum cstate	 state;
	double		 t_start;	/* connect() time */
	char		 accept[32];	/* expected Sec-WebSocket-Accept */
	unsigned char	*in;
	size_t		 inlen, incap;
	unsigned char	*out;
	size_t		 outoff, outlen, outcap;
	int		 want_out;
	/* echo */
	uint64_t	 sent_seq, recv_seq;
	uint64_t	*sent_ns;	/* ring of inflight send times */
	uint64_t	 msgs;		/* completed in the window */
	/* fanout */
	uint64_t	 ticks;
	int		 last_tick;
	int		 port;
	int		 worker;	/* X-Wsd-Worker of the 101, or -1 */
	int		 z;		/* permessage-deflate negotiated */
	int		 z_takeover;	/* the server keeps its context */
	z_stream	*inf;		/* then: our inflate stream */
	/* TLS (-L) */
	SSL		*ssl;
	SSL_SESSION	*sess[4];	/* hs -Z: tickets received, newest */
	int		 nsess;		/*   last */
	int		 rd_wants_out;	/* SSL_read said WANT_WRITE */
};

struct tick {
	char		 key[48];
	size_t		 keylen;
	uint64_t	 first, last;	/* ns */
	uint64_t	 pub;		/* publish time (monotonic ns), 0: unknown */
	int		 count;
};

struct worker {
	int		 id;
	pthread_t	 thr;
	int		 ep;
	struct conn	*c;
	int		 n;		/* connections of this worker */
	int		 first;	/* global index of c[0] */
	int		 next_connect;
	int		 pending;
	int		 open;
	uint64_t	 rng;
	unsigned char	*payload;	/* base payload, size bytes */
	unsigned char	*scratch;	/* expected payload */
	struct hist	 lat;
	/* counters */
	long		 ok, refused, http_err, closed_early, timeouts,
			 bad_accept, other_err;
	double		 t_first_conn, t_last_ok;
	struct hist	 refuse_lat;	/* how soon a refusal came, ns */
	long		 mismatches, proto_err;
	uint64_t	 msgs, bytes;
	long long	 quota;		/* --count share of this worker */
	uint64_t	 done_count;
	uint64_t	 tnow;		/* ns, taken once per event */
	struct tick	*ticks;
	int		 nticks, capticks;
	int		 phase_done;
	long		 by_worker[MAXWORKERS];	/* 101s per X-Wsd-Worker */
	/* permessage-deflate */
	unsigned char	*zrest;		/* payload after the stamp, compressed */
	size_t		 zrestlen;
	z_stream	 inf;		/* for servers without context takeover */
	unsigned char	*zout;		/* inflated message */
	size_t		 zoutcap;
	uint64_t	 wire_in, wire_out, zmsgs;	/* in the window */
	/* hs mode, in the measured window */
	uint64_t	 hs, hs_resumed;
	long		 tls_err;
};

static volatile int g_measuring;	/* echo/fanout: inside the window */
static volatile int g_stop;		/* everyone wind down */
static volatile int g_conn_phase_over;

static const char ws_guid[] = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

static void
b64(const unsigned char *in, size_t n, char *out)
{
	EVP_EncodeBlock((unsigned char *)out, in, (int)n);
}

static void
out_reserve(struct conn *c, size_t more)
{
	size_t need = c->outlen + more;

	if (c->outoff > 0 && c->outoff == c->outlen) {
		c->outoff = c->outlen = 0;
		need = more;
	}
	if (need > c->outcap) {
		if (c->outoff > 0) {
			memmove(c->out, c->out + c->outoff,
			    c->outlen - c->outoff);
			c->outlen -= c->outoff;
			c->outoff = 0;
			need = c->outlen + more;
		}
		if (need > c->outcap) {
			size_t cap = c->outcap ? c->outcap : 256;

			while (cap < need)
				cap *= 2;
			if ((c->out = realloc(c->out, cap)) == NULL)
				die("out of memory");
			c->outcap = cap;
		}
	}
}

/* Append a masked client frame. */
static void
put_frame2(struct worker *w, struct conn *c, int opcode,
    const unsigned char *p0, size_t n0, const unsigned char *p, size_t len)
{
	if (g_measuring)
		w->wire_out += n0 + len;
	unsigned char *o;
	uint32_t key = (uint32_t)xorshift(&w->rng);
	unsigned char k[4];
	uint64_t k8;
	size_t i, h;

	len += n0;
	out_reserve(c, len + 14);
	o = c->out + c->outlen;
	o[0] = 0x80 | (unsigned char)opcode;
	if (len < 126) {
		o[1] = 0x80 | (unsigned char)len;
		h = 2;
	} else if (len < 65536) {
		o[1] = 0x80 | 126;
		o[2] = (unsigned char)(len >> 8);
		o[3] = (unsigned char)len;
		h = 4;
	} else {
		o[1] = 0x80 | 127;
		for (i = 0; i < 8; i++)
			o[2 + i] = (unsigned char)((uint64_t)len >> (56 - 8 * i));
		h = 10;
	}
	memcpy(k, &key, 4);
	memcpy(o + h, k, 4);
	h += 4;
	k8 = (uint64_t)key | (uint64_t)key << 32;
	/* n0 is 0 or a multiple of 4, so the key phase carries over */
	for (i = 0; i < n0; i++)
		o[h + i] = p0[i] ^ k[i & 3];
	h += n0;
	len -= n0;
	for (i = 0; i + 8 <= len; i += 8) {
		uint64_t v;

		memcpy(&v, p + i, 8);
		v ^= k8;
		memcpy(o + h + i, &v, 8);
	}
	for (; i < len; i++)
		o[h + i] = p[i] ^ k[i & 3];
	c->outlen += h + len;
}

static void
put_frame(struct worker *w, struct conn *c, int opcode,
    const unsigned char *p, size_t len)
{
	put_frame2(w, c, opcode, NULL, 0, p, len);
}

static void
set_events(struct worker *w, struct conn *c, uint32_t ev)
{
	struct epoll_event e = { .events = ev, .data.ptr = c };

	if (epoll_ctl(w->ep, EPOLL_CTL_MOD, c->fd, &e) == -1)
		die("epoll_ctl: %s", strerror(errno));
}

static int flush_out(struct worker *, struct conn *);
static void send_request(struct worker *, struct conn *);

static void
conn_kill(struct worker *w, struct conn *c)
{
	if (c->fd >= 0) {
		epoll_ctl(w->ep, EPOLL_CTL_DEL, c->fd, NULL);
		close(c->fd);
	}
	if (c->ssl != NULL) {
		SSL_free(c->ssl);
		c->ssl = NULL;
		c->rd_wants_out = 0;
	}
	if (c->state == C_CONNECTING || c->state == C_TLS ||
	    c->state == C_HANDSHAKE)
		w->pending--;
	if (c->state == C_OPEN)
		w->open--;
	c->fd = -1;
	c->state = C_DEAD;
	free(c->in);
	free(c->out);
	c->in = c->out = NULL;
	c->inlen = c->incap = c->outlen = c->outcap = c->outoff = 0;
}

static void
fail(struct worker *w, struct conn *c, long *counter)
{
	(*counter)++;
	conn_kill(w, c);
}

/* ------------------------------------------------------------ TLS (-L) */

/*
 * hs -Z: keep the sessions (tickets) a connection received for its slot's
 * next connections, the newest 4.  A TLS 1.3 ticket is used once, as
 * RFC 8446 (C.4) asks of clients and browsers do: a server that sends no
 * new ticket on a resumed handshake gets a full one when they run out.
 * A TLS 1.2 session is used until a newer one comes.
 */
static int
tls_new_session(SSL *ssl, SSL_SESSION *sess)
{
	struct conn *c = SSL_get_app_data(ssl);
	int n = (int)(sizeof(c->sess) / sizeof(c->sess[0]));

	if (c == NULL)
		return 0;
	if (c->nsess == n) {
		SSL_SESSION_free(c->sess[0]);
		memmove(c->sess, c->sess + 1, (size_t)(n - 1) * sizeof(c->sess[0]));
		c->nsess--;
	}
	c->sess[c->nsess++] = sess;
	return 1;
}

/* The session a slot's next connection resumes, or NULL. */
static SSL_SESSION *
tls_take_session(struct conn *c)
{
	SSL_SESSION *s;

	if (c->nsess == 0)
		return NULL;
	s = c->sess[c->nsess - 1];
	if (SSL_SESSION_get_protocol_version(s) < TLS1_3_VERSION) {
		SSL_SESSION_up_ref(s);
		return s;
	}
	c->nsess--;
	return s;
}

/* The chain is not checked at all (OpenSSL would build and verify it even
 * with SSL_VERIFY_NONE, only to ignore the result): the load generator
 * spends its one CPU on the handshake itself. */
static int
tls_accept_chain(X509_STORE_CTX *ctx, void *arg)
{
	(void)ctx;
	(void)arg;
	return 1;
}

static void
tls_init(void)
{
	static const unsigned char alpn[] = "\x08http/1.1";
	long mode = SSL_MODE_ENABLE_PARTIAL_WRITE |
	    SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER;

	if ((g_tls = SSL_CTX_new(TLS_client_method())) == NULL)
		die("SSL_CTX_new failed");
	SSL_CTX_set_min_proto_version(g_tls, TLS1_2_VERSION);
	if (opt.tls_max)
		SSL_CTX_set_max_proto_version(g_tls, opt.tls_max);
	/* Not a security test: the server's certificate is not checked
	 * (TLS itself still checks the handshake's signature). */
	SSL_CTX_set_verify(g_tls, SSL_VERIFY_NONE, NULL);
	SSL_CTX_set_cert_verify_callback(g_tls, tls_accept_chain, NULL);
	/* Many idle clients: no record buffers kept between reads.  Not in
	 * the throughput modes, where it would cost a malloc per record. */
	if (opt.mode == M_IDLE)
		mode |= SSL_MODE_RELEASE_BUFFERS;
	SSL_CTX_set_mode(g_tls, mode);
	/* A record's header and body in one read, and several records per
	 * read when they are there (the loops read until WANT_READ, so none
	 * is left waiting in OpenSSL's buffer). */
	SSL_CTX_set_read_ahead(g_tls, 1);
	SSL_CTX_set_default_read_buffer_len(g_tls, 65536);
	SSL_CTX_set_options(g_tls, SSL_OP_IGNORE_UNEXPECTED_EOF);
	SSL_CTX_set_alpn_protos(g_tls, alpn, sizeof(alpn) - 1);
	if (opt.resume) {
		SSL_CTX_set_session_cache_mode(g_tls, SSL_SESS_CACHE_CLIENT |
		    SSL_SESS_CACHE_NO_INTERNAL_STORE);
		SSL_CTX_sess_set_new_cb(g_tls, tls_new_session);
	}
}

/*
 * SSL_read or SSL_write answering as read(2) or write(2) would: bytes,
 * 0 at the server's close, -1 with errno EAGAIN (a read that must write
 * first sets rd_wants_out) or ECONNRESET.
 */
static ssize_t
tls_io(struct conn *c, void *buf, size_t len, int wr)
{
	int n;

	if (len > INT32_MAX)
		len = INT32_MAX;
	n = wr ? SSL_write(c->ssl, buf, (int)len) :
	    SSL_read(c->ssl, buf, (int)len);
	if (n > 0)
		return n;
	switch (SSL_get_error(c->ssl, n)) {
	case SSL_ERROR_WANT_READ:
		errno = EAGAIN;
		return -1;
	case SSL_ERROR_WANT_WRITE:
		if (!wr)
			c->rd_wants_out = 1;
		errno = EAGAIN;
		return -1;
	case SSL_ERROR_ZERO_RETURN:
		return 0;
	default:
		ERR_clear_error();
		errno = ECONNRESET;
		return -1;
	}
}

static void
tls_handshake(struct worker *w, struct conn *c)
{
	int n = SSL_do_handshake(c->ssl);

	if (n == 1) {
		if (c->want_out) {
			c->want_out = 0;
			set_events(w, c, EPOLLIN);
		}
		send_request(w, c);
		return;
	}
	switch (SSL_get_error(c->ssl, n)) {
	case SSL_ERROR_WANT_READ:
		if (c->want_out) {
			c->want_out = 0;
			set_events(w, c, EPOLLIN);
		}
		return;
	case SSL_ERROR_WANT_WRITE:
		if (!c->want_out) {
			c->want_out = 1;
			set_events(w, c, EPOLLIN | EPOLLOUT);
		}
		return;
	default:
		if (w->tls_err++ == 0) {
			char e[256];

			ERR_error_string_n(ERR_peek_error(), e, sizeof(e));
			fprintf(stderr, "wsbench: TLS handshake failed: %s\n",
			    ERR_peek_error() ? e : strerror(errno));
		}
		ERR_clear_error();
		hadd(&w->refuse_lat, now_ns() - (uint64_t)(c->t_start * 1e9));
		fail(w, c, &w->closed_early);
	}
}

/* The TCP connection is up (events: EPOLLIN): start the TLS handshake. */
static void
tls_start(struct worker *w, struct conn *c)
{
	if ((c->ssl = SSL_new(g_tls)) == NULL ||
	    SSL_set_fd(c->ssl, c->fd) != 1)
		die("SSL_new failed");
	SSL_set_app_data(c->ssl, c);
	SSL_set_tlsext_host_name(c->ssl, opt.sni);
	if (opt.resume) {
		SSL_SESSION *s = tls_take_session(c);

		if (s != NULL) {
			SSL_set_session(c->ssl, s);
			SSL_SESSION_free(s);	/* the SSL holds its own */
		}
	}
	SSL_set_connect_state(c->ssl);
	c->state = C_TLS;
	tls_handshake(w, c);
}

static void
start_connect(struct worker *w, struct conn *c)
{
	struct sockaddr_in src = { .sin_family = AF_INET }, dst = {
		.sin_family = AF_INET };
	struct epoll_event e = { .events = EPOLLOUT, .data.ptr = c };
	int fd, one = 1;

	if ((fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0)) == -1) {
		fprintf(stderr, "wsbench: socket: %s\n", strerror(errno));
		c->state = C_DEAD;
		w->other_err++;
		return;
	}
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (opt.nsrc > 0) {
		setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one,
		    sizeof(one));
		src.sin_addr.s_addr = htonl(0x7f000002u +
		    (uint32_t)(c->idx % opt.nsrc));
		if (bind(fd, (struct sockaddr *)&src, sizeof(src)) == -1) {
			fprintf(stderr, "wsbench: bind: %s\n", strerror(errno));
			close(fd);
			c->state = C_DEAD;
			w->other_err++;
			return;
		}
	}
	c->port = opt.ports[(c->idx - opt.idx_base) % opt.nports];
	dst.sin_port = htons((uint16_t)c->port);
	inet_pton(AF_INET, opt.host, &dst.sin_addr);
	c->fd = fd;
	c->state = C_CONNECTING;
	c->t_start = now();
	w->pending++;
	if (w->t_first_conn == 0)
		w->t_first_conn = c->t_start;
	if (epoll_ctl(w->ep, EPOLL_CTL_ADD, fd, &e) == -1)
		die("epoll_ctl add: %s", strerror(errno));
	if (connect(fd, (struct sockaddr *)&dst, sizeof(dst)) == -1 &&
	    errno != EINPROGRESS) {
		if (errno == ECONNREFUSED) {
			hadd(&w->refuse_lat, 0);
			fail(w, c, &w->refused);
		} else {
			fprintf(stderr, "wsbench: connect: %s\n",
			    strerror(errno));
			fail(w, c, &w->other_err);
		}
	}
}

static void
send_request(struct worker *w, struct conn *c)
{
	unsigned char key[16], dig[SHA_DIGEST_LENGTH];
	char key64[32], req[768], cat[64];
	int i, n;

	for (i = 0; i < 16; i++)
		key[i] = (unsigned char)xorshift(&w->rng);
	b64(key, 16, key64);
	n = snprintf(cat, sizeof(cat), "%s%s", key64, ws_guid);
	SHA1((const unsigned char *)cat, (size_t)n, dig);
	b64(dig, sizeof(dig), c->accept);
	n = snprintf(req, sizeof(req),
	    "GET %s HTTP/1.1\r\n"
	    "Host: %s:%d\r\n"
	    "Upgrade: websocket\r\n"
	    "Connection: Upgrade\r\n"
	    "Sec-WebSocket-Key: %s\r\n"
	    "Sec-WebSocket-Version: 13\r\n"
	    "%s%s%s"
	    "\r\n", opt.path, opt.host, c->port, key64,
	    opt.deflate ? "Sec-WebSocket-Extensions: " : "",
	    opt.deflate ? opt.deflate : "", opt.deflate ? "\r\n" : "");
	out_reserve(c, (size_t)n);
	memcpy(c->out + c->outlen, req, (size_t)n);
	c->outlen += (size_t)n;
	c->state = C_HANDSHAKE;
	flush_out(w, c);
}

/* Write what is queued; returns -1 if the connection died. */
static int
flush_out(struct worker *w, struct conn *c)
{
	ssize_t n;

	while (c->outoff < c->outlen) {
		if (c->ssl == NULL)
			n = write(c->fd, c->out + c->outoff,
			    c->outlen - c->outoff);
		else
			n = tls_io(c, c->out + c->outoff,
			    c->outlen - c->outoff, 1);
		if (n > 0) {
			c->outoff += (size_t)n;
			continue;
		}
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1 && errno == EAGAIN) {
			if (!c->want_out) {
				c->want_out = 1;
				set_events(w, c, EPOLLIN | EPOLLOUT);
			}
			return 0;
		}
		if (c->state == C_OPEN)
			fail(w, c, &w->proto_err);
		else
			fail(w, c, &w->closed_early);
		return -1;
	}
	c->outoff = c->outlen = 0;
	if (c->want_out) {
		c->want_out = 0;
		set_events(w, c, EPOLLIN);
	}
	return 0;
}

/*
 * A message is the worker's base payload with its first 16 bytes (or
 * fewer, if smaller) replaced by a stamp: connection and sequence number
 * in ASCII hex, so a text payload stays valid UTF-8.
 */
static size_t
make_stamp(struct conn *c, uint64_t seq, unsigned char *dst)
{
	static const char hex[] = "0123456789abcdef";
	size_t n = opt.size < 16 ? opt.size : 16, i;
	uint64_t v = seq ^ ((uint64_t)c->idx << 40);

	for (i = 0; i < n; i++)
		dst[i] = (unsigned char)hex[(v >> (4 * (15 - i))) & 15];
	return n;
}

/*
 * A compressed message: a stored block holding the stamp, then the rest
 * as compressed once at start.  RSV1 is set on the frame just queued.
 */
static void
zsend(struct worker *w, struct conn *c, int opcode, const unsigned char *st,
    size_t n)
{
	unsigned char *msg = w->scratch;
	size_t len = 0, start = c->outlen;

	if (n > 0) {
		msg[0] = 0x00;		/* BFINAL 0, stored, to the byte */
		msg[1] = (unsigned char)n;
		msg[2] = 0;
		msg[3] = (unsigned char)~n;
		msg[4] = 0xff;
		memcpy(msg + 5, st, n);
		len = 5 + n;
	}
	memcpy(msg + len, w->zrest, w->zrestlen);
	len += w->zrestlen;
	out_reserve(c, len + 14);
	start = c->outlen;
	put_frame(w, c, opcode, msg, len);
	c->out[start] |= 0x40;
}

static void
echo_send_one(struct worker *w, struct conn *c)
{
	unsigned char st[16];
	size_t n = make_stamp(c, c->sent_seq, st);

	c->sent_ns[c->sent_seq % (uint64_t)opt.inflight] = w->tnow;
	c->sent_seq++;
	if (c->z)
		zsend(w, c, opt.text ? 1 : 2, st, n);
	else if (n % 4 == 0)
		put_frame2(w, c, opt.text ? 1 : 2, st, n, w->payload + n,
		    opt.size - n);
	else {
		memcpy(w->scratch, st, n);
		put_frame(w, c, opt.text ? 1 : 2, w->scratch, n);
	}
}

static int
echo_may_send(struct worker *w)
{
	if (g_stop)
		return 0;
	if (opt.count >= 0)
		return (long long)w->done_count < w->quota ? 1 : 0;
	return 1;
}

static void
echo_fill(struct worker *w, struct conn *c)
{
	while (c->sent_seq - c->recv_seq < (uint64_t)opt.inflight &&
	    echo_may_send(w)) {
		if (opt.count >= 0 && (long long)(w->done_count +
		    (c->sent_seq - c->recv_seq)) >= w->quota)
			break;
		echo_send_one(w, c);
	}
}

static struct tick *
tick_find(struct worker *w, const unsigned char *p, size_t len)
{
	size_t n = len < sizeof(w->ticks[0].key) ? len :
	    sizeof(w->ticks[0].key);
	int i, lim;

	lim = w->nticks > 64 ? w->nticks - 64 : 0;
	for (i = w->nticks - 1; i >= lim; i--)
		if (w->ticks[i].keylen == n &&
		    memcmp(w->ticks[i].key, p, n) == 0)
			return &w->ticks[i];
	if (w->nticks == w->capticks) {
		w->capticks = w->capticks ? w->capticks * 2 : 256;
		w->ticks = realloc(w->ticks,
		    (size_t)w->capticks * sizeof(*w->ticks));
		if (w->ticks == NULL)
			die("out of memory");
	}
	memset(&w->ticks[w->nticks], 0, sizeof(w->ticks[0]));
	memcpy(w->ticks[w->nticks].key, p, n);
	w->ticks[w->nticks].keylen = n;
	return &w->ticks[w->nticks++];
}

static int64_t g_rt_off;	/* CLOCK_REALTIME minus CLOCK_MONOTONIC, ns */

/*
 * When a fan-out message was sent, as CLOCK_MONOTONIC ns, from its
 * payload; 0 if the payload does not say.  Two forms:
 *   "wsdbench t=NS ..."           bench/plugins/bench-topic.c: CLOCK_REALTIME
 *                                 nanoseconds at the publish;
 *   "YYYY-MM-DD HH:MM:SS.UUUUUU"  the clock plugin's default format, local
 *                                 time, taken just before its broadcast.
 * The server runs on this machine, so its wall clock is ours.
 */
static uint64_t
publish_time(const unsigned char *p, size_t len)
{
	char buf[64];
	int64_t rt = 0;

	if (len >= sizeof(buf))
		len = sizeof(buf) - 1;
	memcpy(buf, p, len);
	buf[len] = '\0';
	if (strncmp(buf, "wsdbench t=", 11) == 0) {
		rt = strtoll(buf + 11, NULL, 10);
	} else if (len >= 26 && buf[4] == '-' && buf[10] == ' ' &&
	    buf[19] == '.') {
		struct tm tm;
		char *rest;
		time_t sec;

		memset(&tm, 0, sizeof(tm));
		if ((rest = strptime(buf, "%Y-%m-%d %H:%M:%S", &tm)) == NULL ||
		    *rest != '.')
			return 0;
		tm.tm_isdst = -1;
		if ((sec = mktime(&tm)) == (time_t)-1)
			return 0;
		rt = (int64_t)sec * 1000000000 + strtol(rest + 1, NULL, 10) *
		    1000;
	}
	if (rt <= g_rt_off)
		return 0;
	return (uint64_t)(rt - g_rt_off);
}

/* One complete message from the server. */
static void
on_message(struct worker *w, struct conn *c, int opcode,
    const unsigned char *p, size_t len)
{
	uint64_t t = w->tnow;

	if (opt.mode == M_ECHO) {
		uint64_t seq = c->recv_seq;
		int bad;

		if (seq >= c->sent_seq) {
			w->proto_err++;
			fprintf(stderr, "wsbench: unexpected message\n");
			return;
		}
		{
			unsigned char st[16];
			size_t sn = make_stamp(c, seq, st);

			bad = opcode != (opt.text ? 1 : 2) ||
			    len != opt.size || memcmp(p, st, sn) != 0 ||
			    memcmp(p + sn, w->payload + sn, len - sn) != 0;
		}
		if (bad) {
			if (w->mismatches++ < 3)
				fprintf(stderr, "wsbench: conn %d message %llu:"
				    " echo differs (opcode %d, %zu bytes)\n",
				    c->idx, (unsigned long long)seq, opcode,
				    len);
		}
		c->recv_seq++;
		w->done_count++;
		if (g_measuring) {
			hadd(&w->lat,
			    t - c->sent_ns[seq % (uint64_t)opt.inflight]);
			c->msgs++;
			w->msgs++;
			w->bytes += len;
		}
		echo_fill(w, c);
		return;
	}
	if (opt.mode == M_FANOUT) {
		struct tick *k = tick_find(w, p, len);

		if (k->count == 0) {
			k->first = t;
			k->pub = publish_time(p, len);
		} else if (t < k->first)
			k->first = t;
		if (t > k->last)
			k->last = t;
		k->count++;
		c->ticks++;
		return;
	}
	/* idle: nothing expected, ignore pushes */
}

/* Inflate one server message into w->zout; -1 if it does not inflate. */
static int
zinflate(struct worker *w, struct conn *c, const unsigned char *p,
    size_t len, size_t *outlen)
{
	static const unsigned char tail[4] = { 0, 0, 0xff, 0xff };
	z_stream *zs = c->z_takeover ? c->inf : &w->inf;
	int r, pass;

	if (zs == NULL) {
		if ((zs = c->inf = calloc(1, sizeof(*zs))) == NULL ||
		    inflateInit2(zs, -15) != Z_OK)
			die("inflateInit2");
	}
	*outlen = 0;
	for (pass = 0; pass < 2; pass++) {
		zs->next_in = (unsigned char *)(pass ? tail : p);
		zs->avail_in = (uInt)(pass ? 4 : len);
		do {
			if (w->zoutcap - *outlen < 65536) {
				w->zoutcap = w->zoutcap ? w->zoutcap * 2 :
				    262144;
				if ((w->zout = realloc(w->zout, w->zoutcap)) ==
				    NULL)
					die("out of memory");
			}
			zs->next_out = w->zout + *outlen;
			zs->avail_out = (uInt)(w->zoutcap - *outlen);
			r = inflate(zs, Z_SYNC_FLUSH);
			*outlen = w->zoutcap - zs->avail_out;
			if (r == Z_STREAM_END) {
				inflateReset(zs);
				break;
			}
			if (r != Z_OK && r != Z_BUF_ERROR)
				return -1;
		} while (zs->avail_in > 0 || zs->avail_out == 0);
	}
	if (!c->z_takeover)
		inflateReset(zs);
	return 0;
}

/* Parse server frames in c->in; returns -1 if the connection died. */
static int
parse_frames(struct worker *w, struct conn *c)
{
	size_t off = 0;

	for (;;) {
		unsigned char *p = c->in + off;
		size_t avail = c->inlen - off, h = 2, len;
		int opcode, i;

		if (avail < 2)
			break;
		if (p[1] & 0x80) {
			fprintf(stderr, "wsbench: masked server frame\n");
			fail(w, c, &w->proto_err);
			return -1;
		}
		len = p[1] & 0x7f;
		if (len == 126) {
			if (avail < 4)
				break;
			len = (size_t)p[2] << 8 | p[3];
			h = 4;
		} else if (len == 127) {
			if (avail < 10)
				break;
			len = 0;
			for (i = 0; i < 8; i++)
				len = len << 8 | p[2 + i];
			h = 10;
		}
		if (avail < h + len) {
			if (h + len > c->incap) {
				c->incap = h + len + 65536;
				if (off > 0) {
					memmove(c->in, c->in + off, avail);
					c->inlen = avail;
					off = 0;
				}
				c->in = realloc(c->in, c->incap);
				if (c->in == NULL)
					die("out of memory");
			}
			break;
		}
		opcode = p[0] & 0x0f;
		if (!(p[0] & 0x80)) {
			fprintf(stderr, "wsbench: fragmented server message "
			    "(not expected from an echo or clock)\n");
			fail(w, c, &w->proto_err);
			return -1;
		}
		if (opcode == 8) {
			if (!g_stop)
				fail(w, c, &w->proto_err);
			else
				conn_kill(w, c);
			return -1;
		} else if (opcode == 9) {
			put_frame(w, c, 10, p + h, len);
			if (flush_out(w, c) == -1)
				return -1;
		} else if ((opcode == 1 || opcode == 2) && (p[0] & 0x40)) {
			size_t n;

			if (g_measuring) {
				w->wire_in += len;
				w->zmsgs++;
			}
			if (!c->z || zinflate(w, c, p + h, len, &n) == -1) {
				fprintf(stderr, "wsbench: bad compressed "
				    "message\n");
				fail(w, c, &w->proto_err);
				return -1;
			}
			on_message(w, c, opcode, w->zout, n);
			if (c->state != C_OPEN)
				return -1;
		} else if (opcode == 1 || opcode == 2) {
			if (g_measuring)
				w->wire_in += len;
			on_message(w, c, opcode, p + h, len);
			if (c->state != C_OPEN)
				return -1;
		}
		off += h + len;
	}
	if (off > 0) {
		memmove(c->in, c->in + off, c->inlen - off);
		c->inlen -= off;
	}
	if (c->outlen > c->outoff)
		return flush_out(w, c);
	return 0;
}

static int
header_value(const char *head, const char *name, char *out, size_t outsz)
{
	const char *p = head;
	size_t nl = strlen(name);

	while ((p = strstr(p, "\r\n")) != NULL) {
		p += 2;
		if (strncasecmp(p, name, nl) == 0 && p[nl] == ':') {
			const char *v = p + nl + 1, *e;
			size_t n;

			while (*v == ' ' || *v == '\t')
				v++;
			e = strstr(v, "\r\n");
			n = e ? (size_t)(e - v) : strlen(v);
			while (n > 0 && (v[n - 1] == ' ' || v[n - 1] == '\t'))
				n--;
			if (n >= outsz)
				return -1;
			memcpy(out, v, n);
			out[n] = '\0';
			return 0;
		}
	}
	return -1;
}

/* What the TLS connections negotiated: the first one seen by thread 0
 * after the first 101 (in hs mode, in the measured window). */
static const char *g_tls_proto = "", *g_tls_cipher = "", *g_tls_group = "";

static void
tls_note(struct worker *w, struct conn *c)
{
	const char *g;

	if (w->id != 0 || *g_tls_proto != '\0' ||
	    (opt.mode == M_HS && !g_measuring))
		return;
	g = SSL_group_to_name(c->ssl, SSL_get_negotiated_group(c->ssl));
	g_tls_group = g != NULL ? g : "none";
	g_tls_cipher = SSL_get_cipher_name(c->ssl);
	g_tls_proto = SSL_get_version(c->ssl);
}

static const char *
tls_desc(void)
{
	static char out[160];

	if (*g_tls_proto == '\0')
		return "";
	snprintf(out, sizeof(out), " proto=%s cipher=%s group=%s",
	    g_tls_proto, g_tls_cipher, g_tls_group);
	return out;
}

/* The generator's own CPU time, to tell whether it was the limit. */
static double
self_cpu_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
}

/* hs mode: a 101 came; count it (in the window) and close. */
static void
hs_finish(struct worker *w, struct conn *c)
{
	if (g_measuring) {
		w->hs++;
		if (c->ssl != NULL && SSL_session_reused(c->ssl))
			w->hs_resumed++;
		hadd(&w->lat, w->tnow - (uint64_t)(c->t_start * 1e9));
	}
	if (c->ssl != NULL)
		SSL_shutdown(c->ssl);	/* close_notify; no answer awaited */
	conn_kill(w, c);
	c->state = C_FREE;
}

static void
on_readable(struct worker *w, struct conn *c)
{
	for (;;) {
		ssize_t n;

		if (c->incap - c->inlen < 4096) {
			c->incap = c->incap ? c->incap * 2 : 16384;
			if ((c->in = realloc(c->in, c->incap)) == NULL)
				die("out of memory");
		}
		if (c->ssl == NULL)
			n = read(c->fd, c->in + c->inlen,
			    c->incap - c->inlen - 1);
		else
			n = tls_io(c, c->in + c->inlen,
			    c->incap - c->inlen - 1, 0);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1 && errno == EAGAIN) {
			if (c->ssl == NULL)
				return;
			/* A write that wanted to read first goes on now; a
			 * read that wants to write waits for EPOLLOUT. */
			if (c->outoff < c->outlen && flush_out(w, c) == -1)
				return;
			if (c->rd_wants_out && !c->want_out) {
				c->want_out = 1;
				set_events(w, c, EPOLLIN | EPOLLOUT);
			}
			return;
		}
		if (n <= 0) {
			if (c->state == C_HANDSHAKE) {
				hadd(&w->refuse_lat, now_ns() -
				    (uint64_t)(c->t_start * 1e9));
				fail(w, c, &w->closed_early);
			} else if (g_stop)
				conn_kill(w, c);
			else
				fail(w, c, &w->proto_err);
			return;
		}
		c->inlen += (size_t)n;
		if (c->state == C_HANDSHAKE) {
			char *end, got[160];
			size_t hl;

			c->in[c->inlen] = '\0';	/* room: incap - inlen >= 4096 */
			if ((end = strstr((char *)c->in, "\r\n\r\n")) == NULL) {
				if (c->inlen > 8192)
					fail(w, c, &w->http_err);
				continue;
			}
			*end = '\0';
			hl = (size_t)(end - (char *)c->in) + 4;
			if (strncmp((char *)c->in, "HTTP/1.1 101", 12) != 0) {
				double dt = now() - c->t_start;

				hadd(&w->refuse_lat, (uint64_t)(dt * 1e9));
				if (w->http_err == 0)
					fprintf(stderr, "wsbench: refused: %.40s\n",
					    (char *)c->in);
				fail(w, c, &w->http_err);
				return;
			}
			if (header_value((char *)c->in, "Sec-WebSocket-Accept",
			    got, sizeof(got)) == -1 ||
			    strcmp(got, c->accept) != 0) {
				fprintf(stderr, "wsbench: bad Sec-WebSocket-Accept\n");
				fail(w, c, &w->bad_accept);
				return;
			}
			if (header_value((char *)c->in, "X-Wsd-Worker", got,
			    sizeof(got)) == 0) {
				c->worker = atoi(got);
				if (c->worker >= 0 && c->worker < MAXWORKERS)
					w->by_worker[c->worker]++;
			}
			if (opt.deflate != NULL && header_value((char *)c->in,
			    "Sec-WebSocket-Extensions", got, sizeof(got)) == 0 &&
			    strncmp(got, "permessage-deflate", 18) == 0) {
				c->z = 1;
				c->z_takeover = strstr(got,
				    "server_no_context_takeover") == NULL;
			}
			memmove(c->in, c->in + hl, c->inlen - hl);
			c->inlen -= hl;
			c->state = C_OPEN;
			w->pending--;
			w->open++;
			w->ok++;
			w->t_last_ok = now();
			if (c->ssl != NULL)
				tls_note(w, c);
			if (opt.mode == M_HS) {
				hs_finish(w, c);
				return;
			}
			if (opt.mode == M_ECHO && g_conn_phase_over)
				echo_fill(w, c);
			if (opt.mode == M_IDLE && opt.idle_echo) {
				unsigned char st[16];
				size_t sn = make_stamp(c, 0, st);

				if (c->z)
					zsend(w, c, opt.text ? 1 : 2, st, sn);
				else {
					memcpy(w->scratch, st, sn);
					memcpy(w->scratch + sn, w->payload + sn,
					    opt.size - sn);
					put_frame(w, c, opt.text ? 1 : 2,
					    w->scratch, opt.size);
				}
				flush_out(w, c);
			}
			if (opt.mode == M_IDLE && c->incap > 16384 &&
			    c->inlen == 0) {
				/* keep idle clients small */
				free(c->in);
				c->in = NULL;
				c->incap = 0;
			}
		}
		if (c->state == C_OPEN && parse_frames(w, c) == -1)
			return;
		if (opt.mode == M_IDLE && c->inlen == 0 && c->in != NULL) {
			free(c->in);
			c->in = NULL;
			c->incap = 0;
			return;
		}
	}
}

static void
on_event(struct worker *w, struct conn *c, uint32_t ev)
{
	w->tnow = now_ns();
	if (c->state == C_CONNECTING) {
		int err = 0;
		socklen_t sl = sizeof(err);

		getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &sl);
		if (err != 0) {
			if (err == ECONNREFUSED) {
				hadd(&w->refuse_lat, now_ns() -
				    (uint64_t)(c->t_start * 1e9));
				fail(w, c, &w->refused);
			} else if (err == ETIMEDOUT) {
				fail(w, c, &w->timeouts);
			} else {
				if (w->other_err == 0)
					fprintf(stderr, "wsbench: connect: %s\n",
					    strerror(err));
				fail(w, c, &w->other_err);
			}
			return;
		}
		if (!(ev & EPOLLOUT))
			return;
		set_events(w, c, EPOLLIN);
		if (opt.tls)
			tls_start(w, c);
		else
			send_request(w, c);
		return;
	}
	if (c->state == C_TLS) {
		tls_handshake(w, c);
		return;
	}
	if ((ev & EPOLLOUT) && c->state != C_DEAD)
		if (flush_out(w, c) == -1)
			return;
	if (c->rd_wants_out && (ev & EPOLLOUT)) {
		c->rd_wants_out = 0;
		ev |= EPOLLIN;
	}
	if ((ev & (EPOLLIN | EPOLLHUP | EPOLLERR)) && c->state != C_DEAD)
		on_readable(w, c);
}

static void
check_timeouts(struct worker *w, double t)
{
	int i;

	for (i = 0; i < w->n; i++) {
		struct conn *c = &w->c[i];

		if ((c->state == C_CONNECTING || c->state == C_TLS ||
		    c->state == C_HANDSHAKE) && t - c->t_start > opt.hs_timeout)
			fail(w, c, &w->timeouts);
	}
}

static void
connect_more(struct worker *w)
{
	while (w->next_connect < w->n && w->pending < opt.pending &&
	    !g_stop) {
		struct conn *c = &w->c[w->next_connect++];

		start_connect(w, c);
	}
}

static int
conn_phase_done(struct worker *w)
{
	return w->next_connect == w->n && w->pending == 0;
}

/* The loop: run until *flag is set (or until the connection phase is
 * done if flag is NULL), or the deadline. */
static void
loop(struct worker *w, volatile int *flag, double until)
{
	struct epoll_event ev[256];
	double last_to = now();
	int i, n;

	for (;;) {
		double t = now();

		if (t > t_deadline)
			die("deadline passed");
		if (flag != NULL && *flag)
			return;
		if (flag == NULL && conn_phase_done(w))
			return;
		if (until > 0 && t >= until)
			return;
		connect_more(w);
		if (t - last_to > 0.1) {
			check_timeouts(w, t);
			last_to = t;
		}
		n = epoll_wait(w->ep, ev, 256, 20);
		if (n == -1 && errno != EINTR)
			die("epoll_wait: %s", strerror(errno));
		for (i = 0; i < n; i++) {
			struct conn *c = ev[i].data.ptr;

			if (c->state != C_DEAD && c->fd >= 0)
				on_event(w, c, ev[i].events);
		}
	}
}

static volatile int g_go_measure, g_end_measure, g_all_done;
static pthread_mutex_t g_mu = PTHREAD_MUTEX_INITIALIZER;
static int g_phase_count;

static void
phase_arrive(void)
{
	pthread_mutex_lock(&g_mu);
	g_phase_count++;
	pthread_mutex_unlock(&g_mu);
}

/*
 * hs mode: every slot connects, waits for its 101, closes and starts
 * over (a failed one too) until the run ends.  A slot's connections get
 * distinct indexes (so source addresses) idx, idx + conns, ...
 */
static void
hs_loop(struct worker *w)
{
	struct epoll_event ev[256];
	double last_to = now();
	int i, n;

	while (!g_all_done) {
		double t = now();

		if (t > t_deadline)
			die("deadline passed");
		for (i = 0; i < w->n && !g_stop; i++) {
			struct conn *c = &w->c[i];

			if (c->state != C_FREE && c->state != C_DEAD)
				continue;
			start_connect(w, c);
			c->idx += opt.conns;	/* the slot's next one */
		}
		if (t - last_to > 0.1) {
			check_timeouts(w, t);
			last_to = t;
		}
		n = epoll_wait(w->ep, ev, 256, 20);
		if (n == -1 && errno != EINTR)
			die("epoll_wait: %s", strerror(errno));
		for (i = 0; i < n; i++) {
			struct conn *c = ev[i].data.ptr;

			if (c->state != C_DEAD && c->fd >= 0)
				on_event(w, c, ev[i].events);
		}
	}
	for (i = 0; i < w->n; i++)
		if (w->c[i].state != C_FREE && w->c[i].state != C_DEAD)
			conn_kill(w, &w->c[i]);
}

static void *
worker_main(void *arg)
{
	struct worker *w = arg;
	int i;

	if (opt.mode == M_HS) {
		hs_loop(w);
		return NULL;
	}

	/* 1. connect everybody */
	loop(w, NULL, 0);
	phase_arrive();
	loop(w, &g_conn_phase_over, 0);
	if (opt.mode == M_IDLE)
		return NULL;
	/* 2. run */
	if (opt.mode == M_ECHO) {
		for (i = 0; i < w->n; i++)
			if (w->c[i].state == C_OPEN) {
				w->tnow = now_ns();
				echo_fill(w, &w->c[i]);
				flush_out(w, &w->c[i]);
			}
	}
	if (opt.mode == M_ECHO && opt.count >= 0) {
		/* until the quota is echoed */
		struct epoll_event ev[256];

		while ((long long)w->done_count < w->quota && w->open > 0) {
			int n = epoll_wait(w->ep, ev, 256, 50);

			if (now() > t_deadline)
				die("deadline passed in --count run");
			for (i = 0; i < n; i++) {
				struct conn *c = ev[i].data.ptr;

				if (c->state != C_DEAD)
					on_event(w, c, ev[i].events);
			}
		}
		phase_arrive();
		return NULL;
	}
	loop(w, &g_all_done, 0);
	return NULL;
}

static int
cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/*
 * " worker_conns=A/B/.. workers_seen=N": the 101s per X-Wsd-Worker value
 * 0, 1, .. (up to the highest seen), or "" without the header.
 */
static const char *
worker_counts(const struct worker *ws)
{
	static char out[MAXWORKERS * 12 + 64];
	long by[MAXWORKERS];
	int i, j, hi = -1, seen = 0;
	size_t o;

	for (j = 0; j < MAXWORKERS; j++) {
		by[j] = 0;
		for (i = 0; i < opt.threads; i++)
			by[j] += ws[i].by_worker[j];
		if (by[j] > 0) {
			hi = j;
			seen++;
		}
	}
	if (hi < 0)
		return "";
	o = (size_t)snprintf(out, sizeof(out), " workers_seen=%d worker_conns=",
	    seen);
	for (j = 0; j <= hi; j++)
		o += (size_t)snprintf(out + o, sizeof(out) - o, "%s%ld",
		    j ? "/" : "", by[j]);
	return out;
}

static void sleep_s(double);

/* hs mode: the slots run for warmup + duration; the window is measured. */
static void
hs_main(struct worker *ws)
{
	struct hist lat;
	uint64_t hs = 0, res = 0;
	long failed = 0, tlserr = 0;
	double t0, t1, cpu0, cpu1, self0, self1;
	int i, b, nprocs = 0;

	for (i = 0; i < opt.threads; i++)
		pthread_create(&ws[i].thr, NULL, worker_main, &ws[i]);
	sleep_s(opt.warmup);
	cpu0 = proc_cpu_us();
	self0 = self_cpu_us();
	t0 = now();
	g_measuring = 1;
	sleep_s(opt.duration);
	g_measuring = 0;
	cpu1 = proc_cpu_us();
	self1 = self_cpu_us();
	t1 = now();
	(void)proc_rss_kb(&nprocs);
	g_stop = 1;
	g_all_done = 1;
	memset(&lat, 0, sizeof(lat));
	for (i = 0; i < opt.threads; i++) {
		struct worker *w = &ws[i];

		pthread_join(w->thr, NULL);
		hs += w->hs;
		res += w->hs_resumed;
		failed += w->refused + w->http_err + w->closed_early +
		    w->timeouts + w->bad_accept + w->other_err;
		tlserr += w->tls_err;
		for (b = 0; b < HBUCKETS; b++)
			lat.b[b] += w->lat.b[b];
		lat.n += w->lat.n;
	}
	printf("RESULT mode=hs conns=%d tls=%d resume=%d secs=%.3f hs=%llu "
	    "hs_per_s=%.0f resumed=%llu resumed_share=%.4f p50_ms=%.3f "
	    "p99_ms=%.3f failed=%ld tls_err=%ld server_cpu_us=%.0f "
	    "cpu_us_per_hs=%.2f gen_cpu_pct=%.1f proto=%s cipher=%s group=%s "
	    "server_procs=%d\n", opt.conns, opt.tls, opt.resume, t1 - t0,
	    (unsigned long long)hs, hs / (t1 - t0), (unsigned long long)res,
	    hs ? (double)res / (double)hs : 0, hpct(&lat, 50) / 1e6,
	    hpct(&lat, 99) / 1e6, failed, tlserr, cpu1 - cpu0,
	    hs ? (cpu1 - cpu0) / (double)hs : 0,
	    (self1 - self0) / (t1 - t0) / 1e4,
	    *g_tls_proto ? g_tls_proto : "plain",
	    *g_tls_cipher ? g_tls_cipher : "none",
	    *g_tls_group ? g_tls_group : "none", nprocs);
	fflush(stdout);
	_exit(hs == 0 ? 1 : 0);
}

static void
usage(void)
{
	fprintf(stderr,
	    "usage: wsbench -m echo|fanout|idle|hs -p PORT[,PORT..] [-P PATH]\n"
	    "  [-c CONNS] [-I FIRST_INDEX]\n"
	    "  [-s SIZE] [-k INFLIGHT] [-d SECONDS] [-w WARMUP] [-n COUNT]\n"
	    "  [-t (text payload)] [-T THREADS] [-S NSRC] [-q PENDING]\n"
	    "  [-H HANDSHAKE_TIMEOUT] [-o HOLD] [-D DEADLINE]\n"
	    "  [-x SERVER_PID[,PID..]]\n"
	    "  [-r READY_FILE] [-R RELEASE_FILE] [-a HOST]\n"
	    "  [-z EXTENSION_OFFER] [-j (JSON-like text)] [-e (idle: one "
	    "message)]\n"
	    "  [-L (TLS) [-N SERVER_NAME] [-V 1.2|1.3 (highest)] [-Z (hs:"
	    " resume)]]\n");
	exit(2);
}

static void
sleep_s(double s)
{
	struct timespec ts = { (time_t)s, (long)((s - (time_t)s) * 1e9) };

	nanosleep(&ts, NULL);
}

/* The rest of a hold, ended early when the release file appears. */
static void
hold_rest(double s)
{
	double end = now() + s;

	while (now() < end) {
		if (opt.release_file != NULL &&
		    access(opt.release_file, F_OK) == 0)
			return;
		sleep_s(0.05);
	}
}

/*
 * -z: payload bytes on the wire in the window, per message each way,
 * and how many server messages came compressed ("ZWIRE", before
 * RESULT; bench/run merges it).
 */
static void
zwire(const struct worker *ws, uint64_t msgs)
{
	uint64_t in = 0, out = 0, z = 0, rx = msgs;
	int i;

	for (i = 0; i < opt.threads; i++) {
		in += ws[i].wire_in;
		out += ws[i].wire_out;
		z += ws[i].zmsgs;
	}
	if (rx == 0)
		for (i = 0; i < opt.threads; i++) {
			int j;

			for (j = 0; j < ws[i].n; j++)
				rx += ws[i].c[j].ticks;
		}
	printf("ZWIRE wire_in=%llu wire_out=%llu zmsgs=%llu "
	    "wire_in_per_msg=%.1f wire_out_per_msg=%.1f\n",
	    (unsigned long long)in, (unsigned long long)out,
	    (unsigned long long)z, rx ? (double)in / (double)rx : 0.0,
	    msgs ? (double)out / (double)msgs : 0.0);
}

int
main(int argc, char **argv)
{
	struct worker *ws;
	struct rlimit rl;
	double t0, t_meas0, t_meas1, cpu0 = 0, cpu1 = 0, self0 = 0, self1 = 0;
	long rss0 = 0, rss1 = 0;
	int ch, i, per, rem, idx, nprocs = 0;

	while ((ch = getopt(argc, argv,
	    "m:p:P:c:s:k:d:w:n:tT:S:q:H:o:D:x:r:R:a:I:z:jeLN:V:Z"))
	    != -1) {
		switch (ch) {
		case 'm':
			if (strcmp(optarg, "echo") == 0)
				opt.mode = M_ECHO;
			else if (strcmp(optarg, "fanout") == 0)
				opt.mode = M_FANOUT;
			else if (strcmp(optarg, "idle") == 0)
				opt.mode = M_IDLE;
			else if (strcmp(optarg, "hs") == 0)
				opt.mode = M_HS;
			else
				usage();
			break;
		case 'p': {
			char *q = optarg, *end;

			opt.nports = 0;
			do {
				long v = strtol(q, &end, 10);

				if (end == q || v <= 0 || v > 65535 ||
				    opt.nports == 16)
					usage();
				opt.ports[opt.nports++] = (int)v;
				q = end + 1;
			} while (*end == ',');
			if (*end != '\0')
				usage();
			opt.port = opt.ports[0];
			break;
		}
		case 'I': opt.idx_base = atoi(optarg); break;
		case 'P': opt.path = optarg; break;
		case 'c': opt.conns = atoi(optarg); break;
		case 's': opt.size = (size_t)atol(optarg); break;
		case 'k': opt.inflight = atoi(optarg); break;
		case 'd': opt.duration = atof(optarg); break;
		case 'w': opt.warmup = atof(optarg); break;
		case 'n': opt.count = atoll(optarg); break;
		case 't': opt.text = 1; break;
		case 'T': opt.threads = atoi(optarg); break;
		case 'S': opt.nsrc = atoi(optarg); break;
		case 'q': opt.pending = atoi(optarg); break;
		case 'H': opt.hs_timeout = atof(optarg); break;
		case 'o': opt.hold = atof(optarg); break;
		case 'D': opt.deadline = atof(optarg); break;
		case 'x': {
			char *q = optarg, *end;

			opt.npids = 0;
			do {
				long v = strtol(q, &end, 10);

				if (end == q || v <= 0 || opt.npids == 16)
					usage();
				opt.pids[opt.npids++] = (pid_t)v;
				q = end + 1;
			} while (*end == ',');
			if (*end != '\0')
				usage();
			opt.pid = opt.pids[0];
			break;
		}
		case 'R': opt.release_file = optarg; break;
		case 'z': opt.deflate = optarg; break;
		case 'j': opt.json = opt.text = 1; break;
		case 'e': opt.idle_echo = 1; break;
		case 'r': opt.ready_file = optarg; break;
		case 'a': opt.host = optarg; break;
		case 'L': opt.tls = 1; break;
		case 'N': opt.sni = optarg; break;
		case 'V':
			if (strcmp(optarg, "1.2") == 0)
				opt.tls_max = TLS1_2_VERSION;
			else if (strcmp(optarg, "1.3") == 0)
				opt.tls_max = TLS1_3_VERSION;
			else
				usage();
			break;
		case 'Z': opt.resume = 1; break;
		default: usage();
		}
	}
	if (opt.port <= 0 || opt.conns < 0 || opt.inflight < 1 ||
	    opt.threads < 1 || opt.pending < 1)
		usage();
	if (opt.path == NULL)
		opt.path = opt.mode == M_FANOUT ? "/clock" : "/echo";
	if (opt.tls)
		tls_init();
	if (opt.threads > opt.conns && opt.conns > 0)
		opt.threads = opt.conns;
	t_deadline = now() + opt.deadline;
	{
		struct timespec rt;

		clock_gettime(CLOCK_REALTIME, &rt);
		g_rt_off = (int64_t)rt.tv_sec * 1000000000 + rt.tv_nsec -
		    (int64_t)now_ns();
	}
	tzset();
	signal(SIGALRM, on_alarm);
	alarm((unsigned)opt.deadline + 5);
	signal(SIGPIPE, SIG_IGN);

	/* As many descriptors as the hard limit allows. */
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 &&
	    (rlim_t)opt.conns + 16 > rl.rlim_cur)
		die("%d connections need more descriptors than the limit %llu",
		    opt.conns, (unsigned long long)rl.rlim_cur);

	ws = calloc((size_t)opt.threads, sizeof(*ws));
	per = opt.conns / opt.threads;
	rem = opt.conns % opt.threads;
	idx = 0;
	for (i = 0; i < opt.threads; i++) {
		struct worker *w = &ws[i];
		int j;
		size_t b;

		w->id = i;
		w->n = per + (i < rem);
		w->first = idx;
		w->rng = 0x9e3779b97f4a7c15ull ^ ((uint64_t)i << 32) ^
		    (uint64_t)now_ns();
		w->c = calloc((size_t)w->n + 1, sizeof(*w->c));
		if ((w->ep = epoll_create1(0)) == -1)
			die("epoll_create1: %s", strerror(errno));
		for (j = 0; j < w->n; j++) {
			w->c[j].fd = -1;
			w->c[j].idx = opt.idx_base + idx++;
			w->c[j].last_tick = -1;
			w->c[j].worker = -1;
			if (opt.mode == M_ECHO)
				w->c[j].sent_ns = calloc((size_t)opt.inflight,
				    sizeof(uint64_t));
		}
		if (opt.count >= 0)
			w->quota = opt.conns ? opt.count * w->n / opt.conns : 0;
		/* Base payload: printable ASCII with some 2-, 3- and 4-byte
		 * UTF-8 sequences in text mode, any bytes in binary mode. */
		w->payload = malloc(opt.size + 1);
		w->scratch = malloc(opt.size + opt.size / 8 + 256);
		if (inflateInit2(&w->inf, -15) != Z_OK)
			die("inflateInit2");
		for (b = 0; b < opt.size; ) {
			if (opt.json) {
				/* Chat-like records: realistic, compressible. */
				static const char *const users[] = { "alice",
				    "bob", "carol", "dave" };
				char rec[128];
				int rn = snprintf(rec, sizeof(rec),
				    "{\"id\":%zu,\"user\":\"%s\",\"room\":"
				    "\"general\",\"text\":\"message number %zu"
				    " says hi\",\"ts\":%zu},", b * 7 + 1000,
				    users[b % 4], b / 3, 1700000000 + b);
				size_t k = (size_t)rn;

				if (k > opt.size - b)
					k = opt.size - b;
				memcpy(w->payload + b, rec, k);
				b += k;
			} else if (!opt.text) {
				w->payload[b] = (unsigned char)(b * 131 + 7);
				b++;
			} else if (b % 97 == 50 && b + 4 <= opt.size) {
				memcpy(w->payload + b, "\xf0\x9f\x98\x80", 4);
				b += 4;
			} else if (b % 89 == 40 && b + 3 <= opt.size) {
				memcpy(w->payload + b, "\xe2\x82\xac", 3);
				b += 3;
			} else if (b % 53 == 20 && b + 2 <= opt.size) {
				memcpy(w->payload + b, "\xc3\xa9", 2);
				b += 2;
			} else {
				w->payload[b] = (unsigned char)(' ' + b % 95);
				b++;
			}
		}
	}
	/* -z: the payload after the stamp, compressed once. */
	for (i = 0; opt.deflate != NULL && i < opt.threads; i++) {
		struct worker *w = &ws[i];
		size_t sn = opt.size < 16 ? opt.size : 16, cap;
		z_stream d;

		memset(&d, 0, sizeof(d));
		if (deflateInit2(&d, 6, Z_DEFLATED, -15, 8,
		    Z_DEFAULT_STRATEGY) != Z_OK)
			die("deflateInit2");
		cap = deflateBound(&d, opt.size) + 64;
		w->zrest = malloc(cap);
		d.next_in = w->payload + sn;
		d.avail_in = (uInt)(opt.size - sn);
		d.next_out = w->zrest;
		d.avail_out = (uInt)cap;
		if (deflate(&d, Z_SYNC_FLUSH) != Z_OK || d.avail_in != 0)
			die("deflate");
		w->zrestlen = cap - d.avail_out - 4;	/* tail removed */
		deflateEnd(&d);
	}
	if (opt.count >= 0) {	/* hand out the rounding remainder */
		long long given = 0;

		for (i = 0; i < opt.threads; i++)
			given += ws[i].quota;
		ws[0].quota += opt.count - given;
	}

	if (opt.mode == M_HS)
		hs_main(ws);
	rss0 = proc_rss_kb(&nprocs);
	t0 = now();
	for (i = 0; i < opt.threads; i++)
		pthread_create(&ws[i].thr, NULL, worker_main, &ws[i]);
	/* Wait for every worker to finish connecting. */
	while (g_phase_count < opt.threads) {
		if (now() > t_deadline)
			die("deadline passed while connecting");
		sleep_s(0.005);
	}
	{
		long ok = 0, refused = 0, http = 0, early = 0, to = 0, bad = 0,
		    other = 0;
		double first = 0, last = 0;
		struct hist rl_all;

		memset(&rl_all, 0, sizeof(rl_all));
		for (i = 0; i < opt.threads; i++) {
			struct worker *w = &ws[i];
			int b;

			ok += w->ok; refused += w->refused; http += w->http_err;
			early += w->closed_early; to += w->timeouts;
			bad += w->bad_accept; other += w->other_err;
			if (w->t_first_conn && (!first || w->t_first_conn < first))
				first = w->t_first_conn;
			if (w->t_last_ok > last)
				last = w->t_last_ok;
			for (b = 0; b < HBUCKETS; b++)
				rl_all.b[b] += w->refuse_lat.b[b];
			rl_all.n += w->refuse_lat.n;
		}
		fprintf(stderr, "wsbench: %ld/%d connected in %.2f s "
		    "(refused %ld, http error %ld, closed %ld, timed out %ld, "
		    "bad accept %ld, other %ld)\n", ok, opt.conns, now() - t0,
		    refused, http, early, to, bad, other);
		if (opt.mode == M_IDLE) {
			double hs = ok > 0 && last > first ? ok / (last - first)
			    : 0;
			long failed = refused + http + early + to + bad + other;
			long fast = 0, held = 0;
			int b;
			uint64_t seen = 0;

			/* refusals that came within 1 s */
			for (b = 0; b < HBUCKETS; b++) {
				if (hbucket_value(b) < 1000000000ull)
					seen += rl_all.b[b];
			}
			fast = (long)seen;
			if (opt.hold > 0) {
				if (opt.ready_file != NULL) {
					FILE *f = fopen(opt.ready_file, "w");

					if (f != NULL) {
						fprintf(f, "holding %ld\n", ok);
						fclose(f);
					}
				}
				hold_rest(opt.hold / 2);
				rss1 = proc_rss_kb(&nprocs);
				hold_rest(opt.hold / 2);
			} else
				rss1 = proc_rss_kb(&nprocs);
			/* Still open at the end of the hold: the worker
			 * threads watched them all along. */
			g_conn_phase_over = 1;
			for (i = 0; i < opt.threads; i++) {
				pthread_join(ws[i].thr, NULL);
				held += ws[i].open;
			}
			printf("RESULT mode=idle conns=%d ok=%ld failed=%ld "
			    "refused=%ld http_err=%ld closed_early=%ld "
			    "timeouts=%ld bad_accept=%ld other=%ld "
			    "fast_refusals=%ld refusal_p50_ms=%.2f "
			    "refusal_max_ms=%.2f hs_per_s=%.0f "
			    "connect_s=%.3f rss0_kb=%ld rss1_kb=%ld "
			    "rss_per_conn_b=%.0f held=%ld server_procs=%d%s%s\n",
			    opt.conns, ok, failed,
			    refused, http, early, to, bad, other, fast,
			    hpct(&rl_all, 50) / 1e6, hpct(&rl_all, 100) / 1e6,
			    hs, last - first, rss0, rss1,
			    ok > 0 && opt.pid > 0 ? (double)(rss1 - rss0) *
			    1024.0 / (double)ok : 0, held, nprocs,
			    worker_counts(ws), tls_desc());
			fflush(stdout);
			_exit(0);
		}
		if (ok == 0)
			die("no connection succeeded");
		(void)bad;
	}

	/* echo / fanout: run for warmup + duration (or count) */
	g_conn_phase_over = 1;
	if (opt.mode == M_ECHO && opt.count >= 0) {
		g_measuring = 1;
		t_meas0 = now();
		cpu0 = proc_cpu_us();
		self0 = self_cpu_us();
		while (g_phase_count < 2 * opt.threads) {
			if (now() > t_deadline)
				die("deadline passed");
			sleep_s(0.002);
		}
		t_meas1 = now();
		cpu1 = proc_cpu_us();
		self1 = self_cpu_us();
		(void)proc_rss_kb(&nprocs);
		g_stop = 1;
		g_all_done = 1;
	} else {
		sleep_s(opt.mode == M_FANOUT ? (opt.warmup > 0.3 ?
		    opt.warmup : 0.3) : opt.warmup);
		if (opt.mode == M_FANOUT) {
			/* Ticks first seen from here on count. */
			for (i = 0; i < opt.threads; i++)
				ws[i].phase_done = 0;
		}
		cpu0 = proc_cpu_us();
		self0 = self_cpu_us();
		t_meas0 = now();
		g_measuring = 1;
		sleep_s(opt.duration);
		g_measuring = 0;
		cpu1 = proc_cpu_us();
		self1 = self_cpu_us();
		t_meas1 = now();
		(void)proc_rss_kb(&nprocs);
		if (opt.mode == M_FANOUT)
			sleep_s(1.0);	/* let the last ticks arrive */
		g_stop = 1;
		g_all_done = 1;
	}
	for (i = 0; i < opt.threads; i++)
		pthread_join(ws[i].thr, NULL);

	if (opt.mode == M_ECHO) {
		struct hist lat;
		uint64_t msgs = 0, bytes = 0, *per_conn;
		long mism = 0, perr = 0, open = 0, nc = 0;
		double el = t_meas1 - t_meas0;
		int b, j;

		memset(&lat, 0, sizeof(lat));
		per_conn = calloc((size_t)opt.conns + 1, sizeof(uint64_t));
		for (i = 0; i < opt.threads; i++) {
			struct worker *w = &ws[i];

			for (b = 0; b < HBUCKETS; b++)
				lat.b[b] += w->lat.b[b];
			lat.n += w->lat.n;
			msgs += w->msgs;
			bytes += w->bytes;
			mism += w->mismatches;
			perr += w->proto_err;
			open += w->open;
			for (j = 0; j < w->n; j++)
				if (w->c[j].state == C_OPEN ||
				    w->c[j].msgs > 0)
					per_conn[nc++] = w->c[j].msgs;
		}
		qsort(per_conn, (size_t)nc, sizeof(uint64_t), cmp_u64);
		zwire(ws, msgs);
		printf("RESULT mode=echo conns=%d size=%zu inflight=%d "
		    "text=%d secs=%.3f msgs=%llu msg_per_s=%.0f MB_per_s=%.2f "
		    "p50_us=%.1f p99_us=%.1f p999_us=%.1f max_us=%.1f "
		    "conn_min=%llu conn_med=%llu conn_max=%llu "
		    "mismatches=%ld proto_err=%ld open_at_end=%ld "
		    "server_cpu_us=%.0f cpu_us_per_msg=%.3f gen_cpu_pct=%.1f "
		    "server_procs=%d%s%s\n",
		    opt.conns, opt.size, opt.inflight, opt.text, el,
		    (unsigned long long)msgs, msgs / el, bytes / el / 1e6,
		    hpct(&lat, 50) / 1e3, hpct(&lat, 99) / 1e3,
		    hpct(&lat, 99.9) / 1e3, hpct(&lat, 100) / 1e3,
		    (unsigned long long)(nc ? per_conn[0] : 0),
		    (unsigned long long)(nc ? per_conn[nc / 2] : 0),
		    (unsigned long long)(nc ? per_conn[nc - 1] : 0),
		    mism, perr, open, cpu1 - cpu0,
		    msgs ? (cpu1 - cpu0) / (double)msgs : 0,
		    (self1 - self0) / el / 1e4, nprocs, worker_counts(ws),
		    tls_desc());
		fflush(stdout);
		_exit(mism || perr ? 1 : 0);
	}

	/* fan-out */
	{
		uint64_t t0ns = (uint64_t)(t_meas0 * 1e9),
		    t1ns = (uint64_t)(t_meas1 * 1e9), deliveries = 0,
		    *spread, *per, spread_max = 0, *publast, *pubfirst;
		int npub = 0, nt = 0, full = 0, open = 0, j, k, ntot = 0;
		struct tick *all = NULL;
		long perr = 0;

		/* Merge the ticks of all workers by key. */
		for (i = 0; i < opt.threads; i++)
			ntot += ws[i].nticks;
		all = calloc((size_t)ntot + 1, sizeof(*all));
		for (i = 0; i < opt.threads; i++) {
			perr += ws[i].proto_err;
			open += ws[i].open;
			for (j = 0; j < ws[i].nticks; j++) {
				struct tick *x = &ws[i].ticks[j];

				for (k = 0; k < nt; k++)
					if (all[k].keylen == x->keylen &&
					    memcmp(all[k].key, x->key,
					    x->keylen) == 0)
						break;
				if (k == nt)
					all[nt++] = *x;
				else {
					if (all[k].pub == 0)
						all[k].pub = x->pub;
					if (x->first < all[k].first)
						all[k].first = x->first;
					if (x->last > all[k].last)
						all[k].last = x->last;
					all[k].count += x->count;
				}
			}
		}
		spread = calloc((size_t)nt + 1, sizeof(uint64_t));
		publast = calloc((size_t)nt + 1, sizeof(uint64_t));
		pubfirst = calloc((size_t)nt + 1, sizeof(uint64_t));
		j = 0;
		for (k = 0; k < nt; k++) {
			if (all[k].first < t0ns || all[k].first >= t1ns)
				continue;
			deliveries += (uint64_t)all[k].count;
			if (all[k].count >= open && open > 0)
				full++;
			spread[j++] = all[k].last - all[k].first;
			if (all[k].pub != 0 && all[k].pub <= all[k].first) {
				publast[npub] = all[k].last - all[k].pub;
				pubfirst[npub++] = all[k].first - all[k].pub;
			}
			if (all[k].last - all[k].first > spread_max)
				spread_max = all[k].last - all[k].first;
		}
		qsort(spread, (size_t)j, sizeof(uint64_t), cmp_u64);
		qsort(publast, (size_t)npub, sizeof(uint64_t), cmp_u64);
		qsort(pubfirst, (size_t)npub, sizeof(uint64_t), cmp_u64);
		per = calloc((size_t)opt.conns + 1, sizeof(uint64_t));
		{
			int np = 0;

			for (i = 0; i < opt.threads; i++)
				for (k = 0; k < ws[i].n; k++)
					per[np++] = ws[i].c[k].ticks;
			qsort(per, (size_t)np, sizeof(uint64_t), cmp_u64);
			zwire(ws, 0);
			printf("RESULT mode=fanout conns=%d open=%d secs=%.3f "
			    "ticks=%d full_ticks=%d full_share=%.4f "
			    "deliveries=%llu deliveries_per_s=%.0f "
			    "spread_p50_ms=%.2f spread_p99_ms=%.2f "
			    "spread_max_ms=%.2f client_ticks_min=%llu "
			    "client_ticks_max=%llu proto_err=%ld "
			    "server_cpu_us=%.0f cpu_us_per_delivery=%.4f "
			    "pub_ticks=%d pub_first_p50_ms=%.2f "
			    "pub_last_p50_ms=%.2f pub_last_p99_ms=%.2f "
			    "pub_last_max_ms=%.2f server_procs=%d%s\n",
			    opt.conns, open, t_meas1 - t_meas0, j, full,
			    j ? (double)full / j : 0,
			    (unsigned long long)deliveries,
			    deliveries / (t_meas1 - t_meas0),
			    j ? spread[j / 2] / 1e6 : 0,
			    j ? spread[(j * 99) / 100] / 1e6 : 0,
			    spread_max / 1e6,
			    (unsigned long long)(np ? per[0] : 0),
			    (unsigned long long)(np ? per[np - 1] : 0),
			    perr, cpu1 - cpu0, deliveries ?
			    (cpu1 - cpu0) / (double)deliveries : 0, npub,
			    npub ? pubfirst[npub / 2] / 1e6 : 0,
			    npub ? publast[npub / 2] / 1e6 : 0,
			    npub ? publast[(npub * 99) / 100] / 1e6 : 0,
			    npub ? publast[npub - 1] / 1e6 : 0, nprocs,
			    worker_counts(ws));
		}
		fflush(stdout);
		_exit(perr ? 1 : 0);
	}
}

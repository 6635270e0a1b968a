/*
 * ceiling: the least a WebSocket echo/clock server can do, as the yard
 * stick for wsd.  Plain epoll, one thread.  It answers the handshake,
 * echoes every data frame (one write per read: all frames decoded from
 * one read go out in one write), answers pings and closes, and
 * broadcasts the time from a timerfd to every client of /clock every
 * 100 ms.  No validation beyond what it needs to parse frames: this is
 * a ceiling, not a server.
 *
 * usage: ceiling PORT   (listens on 127.0.0.1)
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/sha.h>

struct client {
	int		 fd;
	int		 open;		/* handshake done */
	int		 clock;		/* on /clock */
	int		 closing;
	unsigned char	*in;		/* NULL while nothing is pending */
	size_t		 inlen, incap;
	unsigned char	*out;		/* unsent rest of a short write */
	size_t		 outlen;
	struct client	*prev, *next;	/* clock list */
};

static int ep;
static struct client *clocks;
static unsigned char *obuf;		/* one read's replies */
static size_t obufcap;

static void
watch(struct client *c, int op, uint32_t ev)
{
	struct epoll_event e = { .events = ev, .data.ptr = c };

	epoll_ctl(ep, op, c->fd, &e);
}

static void
drop(struct client *c)
{
	if (c->clock) {
		if (c->prev)
			c->prev->next = c->next;
		else
			clocks = c->next;
		if (c->next)
			c->next->prev = c->prev;
	}
	close(c->fd);
	free(c->in);
	free(c->out);
	free(c);
}

/* Write p; keep what does not go out and wait for EPOLLOUT. */
static int
send_bytes(struct client *c, const unsigned char *p, size_t n)
{
	ssize_t w = 0;

	if (c->outlen == 0) {
		w = write(c->fd, p, n);
		if (w == -1 && errno != EAGAIN)
			return -1;
		if (w == -1)
			w = 0;
		if ((size_t)w == n)
			return 0;
	}
	c->out = realloc(c->out, c->outlen + n - (size_t)w);
	if (c->out == NULL)
		return -1;
	memcpy(c->out + c->outlen, p + w, n - (size_t)w);
	if (c->outlen == 0)
		watch(c, EPOLL_CTL_MOD, EPOLLIN | EPOLLOUT);
	c->outlen += n - (size_t)w;
	return 0;
}

static void
obuf_need(size_t n)
{
	if (n > obufcap) {
		while (obufcap < n)
			obufcap = obufcap ? obufcap * 2 : 65536;
		if ((obuf = realloc(obuf, obufcap)) == NULL)
			abort();
	}
}

static size_t
frame_head(unsigned char *o, int opcode, size_t len)
{
	o[0] = 0x80 | (unsigned char)opcode;
	if (len < 126) {
		o[1] = (unsigned char)len;
		return 2;
	}
	if (len < 65536) {
		o[1] = 126;
		o[2] = (unsigned char)(len >> 8);
		o[3] = (unsigned char)len;
		return 4;
	}
	o[1] = 127;
	for (int i = 0; i < 8; i++)
		o[2 + i] = (unsigned char)((uint64_t)len >> (56 - 8 * i));
	return 10;
}

static int
handshake(struct client *c)
{
	static const char guid[] = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
	char *end, *k, *e, cat[128], acc[64], resp[256];
	unsigned char dig[SHA_DIGEST_LENGTH];
	size_t kl, hl;
	int n;

	c->in[c->inlen] = '\0';
	if ((end = strstr((char *)c->in, "\r\n\r\n")) == NULL)
		return c->inlen > 8192 ? -1 : 0;
	hl = (size_t)(end - (char *)c->in) + 4;
	if ((k = strcasestr((char *)c->in, "\r\nSec-WebSocket-Key:")) == NULL)
		return -1;
	k += 20;
	while (*k == ' ')
		k++;
	for (e = k; *e != '\r' && *e != ' '; e++)
		;
	kl = (size_t)(e - k);
	if (kl == 0 || kl > 60)
		return -1;
	memcpy(cat, k, kl);
	memcpy(cat + kl, guid, sizeof(guid));
	SHA1((unsigned char *)cat, kl + sizeof(guid) - 1, dig);
	EVP_EncodeBlock((unsigned char *)acc, dig, sizeof(dig));
	n = snprintf(resp, sizeof(resp), "HTTP/1.1 101 Switching Protocols\r\n"
	    "Upgrade: websocket\r\nConnection: Upgrade\r\n"
	    "Sec-WebSocket-Accept: %s\r\n\r\n", acc);
	if (send_bytes(c, (unsigned char *)resp, (size_t)n) == -1)
		return -1;
	c->open = 1;
	if (strncmp((char *)c->in, "GET /clock", 10) == 0 &&
	    (c->in[10] == ' ' || c->in[10] == '?')) {
		c->clock = 1;
		c->next = clocks;
		if (clocks)
			clocks->prev = c;
		clocks = c;
	}
	memmove(c->in, c->in + hl, c->inlen - hl);
	c->inlen -= hl;
	return 1;
}

/* Decode every whole frame in c->in, answer them in one write. */
static int
frames(struct client *c)
{
	size_t off = 0, olen = 0;

	for (;;) {
		unsigned char *p = c->in + off, *pl, mk[4];
		size_t avail = c->inlen - off, h = 2, len, i;
		int op;

		if (avail < 2)
			break;
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
		if (!(p[1] & 0x80) || len > (64u << 20))
			return -1;
		if (avail < h + 4 + len) {
			if (h + 4 + len + 1 > c->incap) {
				memmove(c->in, p, avail);
				c->inlen = avail;
				off = 0;
				c->incap = h + 4 + len + 1;
				if ((c->in = realloc(c->in, c->incap)) == NULL)
					return -1;
			}
			break;
		}
		memcpy(mk, p + h, 4);
		pl = p + h + 4;
		op = p[0] & 0x0f;
		obuf_need(olen + len + 10);
		if (op == 8) {
			olen += frame_head(obuf + olen, 8, 0);
			c->closing = 1;
		} else if (op != 10) {	/* echo data, answer pings */
			unsigned char *o;

			olen += frame_head(obuf + olen, op == 9 ? 10 : p[0] & 0x0f,
			    len);
			o = obuf + olen;
			for (i = 0; i < len; i++)
				o[i] = pl[i] ^ mk[i & 3];
			olen += len;
		}
		off += h + 4 + len;
		if (c->closing)
			break;
	}
	memmove(c->in, c->in + off, c->inlen - off);
	c->inlen -= off;
	if (olen > 0 && send_bytes(c, obuf, olen) == -1)
		return -1;
	return c->closing ? -1 : 0;
}

static void
readable(struct client *c)
{
	ssize_t n;
	int r;

	if (c->in == NULL) {
		c->incap = 16384;
		if ((c->in = malloc(c->incap)) == NULL)
			goto bad;
	} else if (c->incap - c->inlen < 2) {
		c->incap *= 2;
		if ((c->in = realloc(c->in, c->incap)) == NULL)
			goto bad;
	}
	n = read(c->fd, c->in + c->inlen, c->incap - c->inlen - 1);
	if (n == -1 && errno == EAGAIN)
		return;
	if (n <= 0)
		goto bad;
	c->inlen += (size_t)n;
	if (!c->open) {
		if ((r = handshake(c)) == -1)
			goto bad;
		if (r == 0)
			return;
	}
	if (frames(c) == -1)
		goto bad;
	if (c->inlen == 0 && c->incap <= 16384) {
		free(c->in);	/* idle clients hold no buffer */
		c->in = NULL;
		c->incap = 0;
	}
	return;
bad:
	drop(c);
}

static void
tick(void)
{
	unsigned char f[64];
	struct timeval tv;
	struct tm tm;
	struct client *c, *next;
	size_t h, n;
	char s[48];

	gettimeofday(&tv, NULL);
	localtime_r(&tv.tv_sec, &tm);
	n = strftime(s, sizeof(s), "%Y-%m-%d %H:%M:%S", &tm);
	n += (size_t)snprintf(s + n, sizeof(s) - n, ".%06ld", (long)tv.tv_usec);
	h = frame_head(f, 1, n);
	memcpy(f + h, s, n);
	/*
	 * A failed client is not freed here: it may have an event later in
	 * the batch being handled.  Shut it down; its read event drops it.
	 */
	for (c = clocks; c != NULL; c = next) {
		next = c->next;
		if (send_bytes(c, f, h + n) == -1)
			shutdown(c->fd, SHUT_RDWR);
	}
}

int
main(int argc, char **argv)
{
	struct sockaddr_in sa = { .sin_family = AF_INET };
	struct itimerspec its = { { 0, 100000000 }, { 0, 100000000 } };
	struct epoll_event ev[512], e;
	struct rlimit rl;
	int lfd, tfd, one = 1, n, i;
	static int lmark, tmark;

	if (argc != 2) {
		fprintf(stderr, "usage: ceiling PORT\n");
		return 2;
	}
	signal(SIGPIPE, SIG_IGN);
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
	setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	sa.sin_port = htons((uint16_t)atoi(argv[1]));
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (bind(lfd, (struct sockaddr *)&sa, sizeof(sa)) == -1 ||
	    listen(lfd, 4096) == -1) {
		perror("ceiling: bind/listen");
		return 3;
	}
	tfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK);
	timerfd_settime(tfd, 0, &its, NULL);
	ep = epoll_create1(0);
	e.events = EPOLLIN | EPOLLET;	/* ET: a full fd table must not spin */
	e.data.ptr = &lmark;
	epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &e);
	e.events = EPOLLIN;
	e.data.ptr = &tmark;
	epoll_ctl(ep, EPOLL_CTL_ADD, tfd, &e);
	fprintf(stderr, "ceiling: listening on 127.0.0.1:%s\n", argv[1]);
	for (;;) {
		n = epoll_wait(ep, ev, 512, -1);
		for (i = 0; i < n; i++) {
			void *p = ev[i].data.ptr;
			struct client *c;

			if (p == &lmark) {
				int fd;

				while ((fd = accept4(lfd, NULL, NULL,
				    SOCK_NONBLOCK)) != -1) {
					setsockopt(fd, IPPROTO_TCP, TCP_NODELAY,
					    &one, sizeof(one));
					c = calloc(1, sizeof(*c));
					c->fd = fd;
					watch(c, EPOLL_CTL_ADD, EPOLLIN);
				}
				continue;
			}
			if (p == &tmark) {
				uint64_t x;

				if (read(tfd, &x, sizeof(x)) > 0)
					tick();
				continue;
			}
			c = p;
			if (ev[i].events & EPOLLOUT) {
				ssize_t w = write(c->fd, c->out, c->outlen);

				if (w == -1 && errno != EAGAIN) {
					drop(c);
					continue;
				}
				if (w > 0) {
					memmove(c->out, c->out + w,
					    c->outlen - (size_t)w);
					c->outlen -= (size_t)w;
				}
				if (c->outlen == 0)
					watch(c, EPOLL_CTL_MOD, EPOLLIN);
			}
			if (ev[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR))
				readable(c);
		}
	}
}

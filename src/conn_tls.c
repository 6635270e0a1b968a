/*
 * conn_tls: a connection's TLS records, on the same path as plain reads
 * and writes (conn_readcb, conn_flush) rather than in a bufferevent:
 * reads decrypt into the shared read buffer, writes encrypt from the
 * connection's output evbuffer, a record of up to 16 KiB at a time.
 * The contexts (certificates, SNI, tickets) are tls.c's.
 */
#include <errno.h>
#include <limits.h>
#include <string.h>
#include <sys/socket.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <openssl/err.h>
#include <openssl/ssl.h>

#include "conn_priv.h"
#include "log.h"
#include "metrics.h"
#include "tls.h"

/* Queued bytes gathered into one record when they lie in small pieces. */
#define RECORD_PLAIN	16384

/* What a TLS listener says to a client that speaks plain HTTP to it. */
static const char plain_http_answer[] = "HTTP/1.1 400 Bad Request\r\n"
    "Content-Type: text/plain; charset=utf-8\r\n"
    "Content-Length: 52\r\n"
    "Connection: close\r\n\r\n"
    "This port speaks TLS: use https:// or wss:// here.\r\n";

/* How a read that returned data ended; told by the next read. */
enum { END_NONE, END_EOF, END_ERROR };

static void
handshake_done(struct conn *c)
{
	c->tls_ready = true;
	switch (SSL_version(c->ssl)) {
	case TLS1_2_VERSION:
		metrics.tls_ok[MTLS_12]++;
		break;
	case TLS1_3_VERSION:
		metrics.tls_ok[MTLS_13]++;
		break;
	default:
		metrics.tls_ok[MTLS_OTHER]++;
		break;
	}
	/* Without memory for it, as without memory for the subject. */
	if (SSL_get0_peer_certificate(c->ssl) != NULL &&
	    conn_cold(c) != NULL)
		c->cold->peer_subject = tls_peer_subject(c->ssl);
	log_debug("conn %llu %s: %s %s%s%s%s",
	    (unsigned long long)c->id, c->remote, SSL_get_version(c->ssl),
	    SSL_get_cipher_name(c->ssl), SSL_session_reused(c->ssl) ?
	    ", resumed" : "", conn_peer_subject(c) != NULL ? ", client " : "",
	    conn_peer_subject(c) != NULL ? conn_peer_subject(c) : "");
}

/*
 * A read or handshake that wants the socket writable first.  Until it
 * is, OpenSSL reads nothing more, so the socket stays readable and its
 * read event would run the read callback at every turn of the loop for
 * nothing (a client that stops reading, then sends, had a worker spin):
 * it is not watched again until conn_writecb() says writable.
 */
static void
wants_write(struct conn *c)
{
	if (!c->tls_read_wants_write) {
		c->tls_read_wants_write = true;
		conn_read_unwatch(c);
	}
	if (conn_wait_writable(c) == -1)
		conn_broken(c, "cannot wait for writability");
}

static ssize_t
handshake_failed(struct conn *c, int r)
{
	int err = SSL_get_error(c->ssl, r), reason;

	switch (err) {
	case SSL_ERROR_WANT_READ:
		errno = EAGAIN;
		return -1;
	case SSL_ERROR_WANT_WRITE:
		wants_write(c);
		errno = EAGAIN;
		return -1;
	case SSL_ERROR_ZERO_RETURN:
		return 0;
	case SSL_ERROR_SYSCALL:
		if (ERR_peek_error() == 0) {
			/* The client went away mid-handshake. */
			if (errno == 0)
				return 0;
			log_debug("conn %llu %s: TLS handshake: %s",
			    (unsigned long long)c->id, c->remote,
			    strerror(errno));
			metrics.tls_failed++;
			return -1;
		}
		break;
	}
	metrics.tls_failed++;
	reason = ERR_GET_REASON(ERR_peek_last_error());
	if (reason == SSL_R_HTTP_REQUEST ||
	    reason == SSL_R_HTTPS_PROXY_REQUEST) {
		ERR_clear_error();
		log_info("conn %llu %s: plain HTTP on a TLS port: 400",
		    (unsigned long long)c->id, c->remote);
		conn_answer_plain(c->fd, plain_http_answer,
		    sizeof(plain_http_answer) - 1);
	} else {
		log_info("conn %llu %s: TLS handshake failed: %s",
		    (unsigned long long)c->id, c->remote, tls_error_string());
	}
	errno = EPROTO;
	return -1;
}

ssize_t
conn_tls_recv(struct conn *c, uint8_t *dst, size_t room)
{
	size_t got = 0;
	int r, err, end;

	if (c->tls_end != END_NONE) {
		end = c->tls_end;
		c->tls_end = END_NONE;
		if (end == END_EOF)
			return 0;
		errno = ECONNRESET;
		return -1;
	}
	c->tls_read_full = false;
	ERR_clear_error();
	if (!c->tls_ready) {
		errno = 0;
		if ((r = SSL_do_handshake(c->ssl)) != 1)
			return handshake_failed(c, r);
		handshake_done(c);
	}
	while (got < room) {
		errno = 0;
		r = SSL_read(c->ssl, dst + got,
		    room - got > INT_MAX ? INT_MAX : (int)(room - got));
		if (r > 0) {
			got += (size_t)r;
			continue;
		}
		err = SSL_get_error(c->ssl, r);
		if (err == SSL_ERROR_WANT_READ)
			break;
		if (err == SSL_ERROR_WANT_WRITE) {
			wants_write(c);
			break;
		}
		if (err == SSL_ERROR_ZERO_RETURN ||
		    (err == SSL_ERROR_SYSCALL && errno == 0 &&
		    ERR_peek_error() == 0))
			end = END_EOF;
		else {
			end = END_ERROR;
			log_debug("conn %llu %s: TLS read: %s",
			    (unsigned long long)c->id, c->remote,
			    err == SSL_ERROR_SYSCALL && errno != 0 ?
			    strerror(errno) : tls_error_string());
		}
		ERR_clear_error();
		if (got == 0) {
			if (end == END_EOF)
				return 0;
			errno = errno != 0 ? errno : ECONNRESET;
			return -1;
		}
		/* First the data, then (from the loop, at once) the end. */
		c->tls_end = (int8_t)end;
		conn_read_activate(c);
		return (ssize_t)got;
	}
	if (got == 0) {
		errno = EAGAIN;
		return -1;
	}
	c->tls_read_full = got >= room;	/* not stopped by WANT_READ */
	return (ssize_t)got;
}

/*
 * Decrypted bytes wait inside OpenSSL that no socket event will
 * announce: the read callback ran out of rounds.  Have it run again.
 * Only when the last read stopped because its room was full: a read
 * that stopped at WANT_READ left at most part of a record, which
 * SSL_has_pending() counts too, and which only the socket can finish
 * (activating the event for it would run the callback again and again,
 * never returning to the loop, until the rest of the record came).
 */
void
conn_tls_read_more(struct conn *c)
{
	if (c->ssl != NULL && c->state != CONN_DEAD && !c->rd_eof &&
	    c->tls_ready && c->tls_read_full && SSL_has_pending(c->ssl))
		conn_read_activate(c);
}

int
conn_tls_write(struct conn *c)
{
	struct evbuffer_iovec v;
	size_t len, chunk;
	int r, err, total = 0;
	uint8_t *p;

	if (!c->tls_ready)
		return 0;
	ERR_clear_error();
	while ((len = evbuffer_get_length(c->out)) > 0) {
		if (evbuffer_peek(c->out, -1, NULL, &v, 1) < 1)
			break;
		p = v.iov_base;
		chunk = v.iov_len;
		/*
		 * Small pieces (a burst of echoes, a header before its
		 * payload) go out in one record, not one each.  A retry
		 * after WANT_WRITE is never shorter than the try: the queue
		 * only grows at its tail.
		 */
		if (chunk < RECORD_PLAIN && len > chunk) {
			chunk = len < RECORD_PLAIN ? len : RECORD_PLAIN;
			if ((p = evbuffer_pullup(c->out, (ssize_t)chunk)) ==
			    NULL) {
				errno = ENOMEM;
				return -1;
			}
		}
		if (chunk > INT_MAX)
			chunk = INT_MAX;
		errno = 0;
		r = SSL_write(c->ssl, p, (int)chunk);
		if (r > 0) {
			evbuffer_drain(c->out, (size_t)r);
			total += r;
			continue;
		}
		err = SSL_get_error(c->ssl, r);
		if (err == SSL_ERROR_WANT_WRITE || err == SSL_ERROR_WANT_READ) {
			if (total > 0)
				return total;
			errno = EAGAIN;
			return -1;
		}
		if (err != SSL_ERROR_SYSCALL || errno == 0) {
			log_debug("conn %llu %s: TLS write: %s",
			    (unsigned long long)c->id, c->remote,
			    tls_error_string());
			errno = EPIPE;
		}
		ERR_clear_error();
		return -1;
	}
	return total;
}

/*
 * n bytes (a Close frame there was no memory to queue) in one record now,
 * with nothing queued before them.  0 when all went; -1 otherwise, and a
 * record that went only into OpenSSL's buffer then goes out, if at all,
 * ahead of the close_notify that follows the dropped connection.
 */
int
conn_tls_write_now(struct conn *c, const uint8_t *p, size_t n)
{
	int r;

	if (!c->tls_ready || n == 0 || n > RECORD_PLAIN)
		return -1;
	ERR_clear_error();
	r = SSL_write(c->ssl, p, (int)n);
	ERR_clear_error();
	return r == (int)n ? 0 : -1;
}

/*
 * Our side is done: close_notify, then the caller's TCP half-close.
 * -1 when the socket had no room for the alert: OpenSSL keeps it, and
 * the caller calls again once the socket is writable (half-closing now
 * would lose it, and the client would see a truncated stream).
 */
int
conn_tls_shutdown(struct conn *c)
{
	int r;

	if (!c->tls_ready)
		return 0;
	if (!(SSL_get_shutdown(c->ssl) & SSL_SENT_SHUTDOWN) ||
	    c->tls_shut_pending) {
		r = SSL_shutdown(c->ssl);
		c->tls_shut_pending = r < 0 &&
		    SSL_get_error(c->ssl, r) == SSL_ERROR_WANT_WRITE;
		ERR_clear_error();
	}
	return c->tls_shut_pending ? -1 : 0;
}

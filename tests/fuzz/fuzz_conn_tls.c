/*
 * fuzz_conn_tls: a connection on a TLS listener (src/conn_tls.c, the
 * contexts of src/tls.c, and behind them everything fuzz_conn drives),
 * one connection per input through a socketpair, with the server of
 * fuzz_conn (fuzz_conn_common.c: the same routes, plugins and document
 * root) and a `listen` entry with a tls group:
 *	a.pem	the default certificate (Ed25519, names a.test, localhost)
 *	b.pem	an `sni` certificate (names b.test, *.w.test and 400 more,
 *		so that its handshake flight does not fit a socket buffer)
 *	client_ca = the client certificate itself (self-signed, subject
 *		O=wsd fuzz é, CN=fuzz-client), verify_client optional
 * Keys and certificates are made at startup with OpenSSL's API in the
 * private directory; none is committed.
 *
 * The first byte of an input says what the client is, the last how to
 * deliver the bytes between (the same control byte as fuzz_conn's: chunk
 * sizes, receive window, stalled reader, seed; see fuzz_conn.c):
 *	bits 0-1  0: raw: the bytes go to the TLS port as they are
 *		  (ClientHellos, garbage, plain HTTP); 1: a TLS 1.3 client;
 *		  2: TLS 1.2 (AEAD); 3: TLS 1.2 with a CBC cipher
 *	bits 2-3  the client's hello: 0 no SNI, no ALPN; 1 SNI nomatch.test
 *		  and ALPN h2 only; 2 SNI b.test, ALPN h2 and http/1.1;
 *		  3 SNI x.w.test (the wildcard), ALPN http/1.1
 *	bit  4    the client presents its certificate
 *	bit  5    resumption: a first connection gets a ticket, the one
 *		  that carries the input resumes with it
 *	bits 6-7  how the client ends: 0 TCP EOF; 1 close_notify, then EOF;
 *		  2 one more record, of which only half is sent, then EOF
 *		  (mid-record), or if the control byte's stalled bit is set,
 *		  a close of the socket (no more reading, the server's writes
 *		  fail); 3 a KeyUpdate (update_requested) after each
 *		  chunk (TLS 1.3) or, once the rest has come, a renegotiation
 *		  request (TLS 1.2), then EOF
 * A TLS client (memory BIOs; the harness moves the bytes between them
 * and its end of the socketpair) makes a real handshake, then sends the
 * input as application data, a record per chunk: the seeds are
 * fuzz_conn's with a mode byte in front.
 *
 * Checked: a client handshake always succeeds, with the certificate
 * SNI chose (verified against both, and the name), the ALPN answer, the
 * version and (bit 5) resumption; on the server the connection says TLS
 * and has the client's subject exactly when it sent a certificate.
 * Everything the server sends decrypts, ends at a record boundary, and
 * its plaintext passes fuzz_conn's checks (response head, frames, body).
 * In raw mode no handshake ever completes, and the server sends TLS
 * records (whole ones) or, only to a plain HTTP request, the plain-text
 * 400.  After the client's EOF the connection must be gone (else
 * conn_abort_all() frees it) and the routes empty, as in fuzz_conn.
 */
#include <sys/socket.h>
#include <sys/un.h>

#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "conn.h"
#include "conn_priv.h"
#include "server.h"

#include "fuzz_common.h"
#include "fuzz_conn_common.h"

/* The client certificate's subject as wsd reports it (RFC 2253). */
#define CLIENT_SUBJECT	"CN=fuzz-client,O=wsd fuzz \xc3\xa9"

/* What conn_tls.c answers plain HTTP with. */
static const char plain_400[] = "HTTP/1.1 400 Bad Request\r\n";

static SSL_CTX *cctx;			/* the clients' */
static X509 *cert_a, *cert_b, *client_cert;
static EVP_PKEY *client_key;
static struct tls_server *ts;

/* ------------------------------------------------------------ setup */

static X509 *
make_cert(EVP_PKEY *key, const char *o, const char *cn, const char *san,
    long serial)
{
	X509_EXTENSION *ext;
	X509_NAME *name;
	X509V3_CTX v3;
	X509 *x;

	FUZZ_CHECK((x = X509_new()) != NULL);
	FUZZ_CHECK(X509_set_version(x, X509_VERSION_3) == 1);
	FUZZ_CHECK(ASN1_INTEGER_set(X509_get_serialNumber(x), serial) == 1);
	FUZZ_CHECK(X509_gmtime_adj(X509_getm_notBefore(x), -3600) != NULL);
	FUZZ_CHECK(X509_gmtime_adj(X509_getm_notAfter(x), 90L * 86400) !=
	    NULL);
	FUZZ_CHECK(X509_set_pubkey(x, key) == 1);
	name = X509_get_subject_name(x);
	if (o != NULL)
		FUZZ_CHECK(X509_NAME_add_entry_by_txt(name, "O", MBSTRING_UTF8,
		    (const unsigned char *)o, -1, -1, 0) == 1);
	FUZZ_CHECK(X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8,
	    (const unsigned char *)cn, -1, -1, 0) == 1);
	FUZZ_CHECK(X509_set_issuer_name(x, name) == 1);
	if (san != NULL) {
		X509V3_set_ctx(&v3, x, x, NULL, NULL, 0);
		ext = X509V3_EXT_conf_nid(NULL, &v3, NID_subject_alt_name,
		    san);
		FUZZ_CHECK(ext != NULL && X509_add_ext(x, ext, -1) == 1);
		X509_EXTENSION_free(ext);
	}
	/* Ed25519 signs the message itself: no digest. */
	FUZZ_CHECK(X509_sign(x, key, NULL) > 0);
	return x;
}

static void
write_pem(const char *name, X509 *x, EVP_PKEY *key)
{
	char p[PATH_MAX];
	FILE *f;

	fc_path(p, name);
	fc_remove_at_exit(name);
	FUZZ_CHECK((f = fopen(p, "w")) != NULL);
	if (x != NULL)
		FUZZ_CHECK(PEM_write_X509(f, x) == 1);
	else
		FUZZ_CHECK(PEM_write_PrivateKey(f, key, NULL, NULL, 0, NULL,
		    NULL) == 1);
	FUZZ_CHECK(fclose(f) == 0);
}

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	static const char listen[] =
	    "listen = ( { address = \"127.0.0.1\"; port = 8443;\n"
	    "  tls = { certificate = \"a.pem\"; key = \"a.key\";\n"
	    "    client_ca = \"client.pem\"; verify_client = \"optional\";\n"
	    "    sni = ( { certificate = \"b.pem\"; key = \"b.key\"; } );\n"
	    "  }; } );\n";
	EVP_PKEY *ka, *kb;
	X509_STORE *store;
	char *san, *old;
	int i;

	(void)argc;
	(void)argv;
	fc_prepare("fuzz_conn_tls");
	FUZZ_CHECK((ka = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519")) != NULL);
	FUZZ_CHECK((kb = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519")) != NULL);
	FUZZ_CHECK((client_key = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519")) !=
	    NULL);
	cert_a = make_cert(ka, NULL, "a.test", "DNS:a.test,DNS:localhost", 1);
	/*
	 * Names enough to make b's handshake flight larger than a full
	 * socket buffer: a raw client that does not read has the server's
	 * handshake wait for writability.
	 */
	san = NULL;
	for (i = 0; i < 400; i++) {
		old = san;
		FUZZ_CHECK(asprintf(&san, "%s,DNS:n%d.b.test", old != NULL ?
		    old : "DNS:b.test,DNS:*.w.test", i) != -1);
		free(old);
	}
	cert_b = make_cert(kb, NULL, "b.test", san, 2);
	free(san);
	client_cert = make_cert(client_key, "wsd fuzz \xc3\xa9", "fuzz-client",
	    NULL, 3);
	write_pem("a.pem", cert_a, NULL);
	write_pem("a.key", NULL, ka);
	write_pem("b.pem", cert_b, NULL);
	write_pem("b.key", NULL, kb);
	write_pem("client.pem", client_cert, NULL);
	EVP_PKEY_free(ka);
	EVP_PKEY_free(kb);
	fc_start(listen);
	FUZZ_CHECK(fc_srv.gen->cfg->nlisten == 1);
	FUZZ_CHECK((ts = fc_srv.gen->tls[0]) != NULL);

	/* The clients trust the two server certificates and nothing else. */
	FUZZ_CHECK((cctx = SSL_CTX_new(TLS_client_method())) != NULL);
	store = SSL_CTX_get_cert_store(cctx);
	FUZZ_CHECK(X509_STORE_add_cert(store, cert_a) == 1);
	FUZZ_CHECK(X509_STORE_add_cert(store, cert_b) == 1);
	SSL_CTX_set_verify(cctx, SSL_VERIFY_PEER, NULL);
	SSL_CTX_set_min_proto_version(cctx, TLS1_2_VERSION);
	return 0;
}

/* ------------------------------------------------------------ client */

enum kind { RAW, TLS13, TLS12, TLS12_CBC };
enum ending { END_EOF, END_NOTIFY, END_CUT, END_REKEY };

struct tclient {
	SSL		*ssl;		/* NULL: raw */
	BIO		*rbio;		/* from the socket to ssl */
	int		 fd;		/* the client's end */
	uint8_t		*out;		/* for the socket */
	size_t		 olen, ocap, osent;
	size_t		 limit;		/* send no byte past this */
	size_t		 window;	/* per recv; 0: any */
	bool		 stalled;	/* not reading */
	bool		 eof;		/* the server's EOF seen */
	bool		 notify;	/* the server's close_notify seen */
	bool		 dead;		/* the client's SSL failed, as allowed */
	bool		 may_die;	/* it asked to renegotiate */
	bool		 rekey;		/* it sends KeyUpdates (TLS 1.3) */
	bool		 server_blocked; /* the server's output waited */
	bool		 closed;	/* its socket is closed: no more I/O */
	bool		 aborted;	/* conn_abort_all() ended the server's */
	bool		 server_shut;	/* the server's end half-closed in order */
	bool		 handshaken;
	bool		 has_cert;	/* it sent its certificate */
	struct fc_client cl;		/* the plaintext (TLS) */
	uint8_t		*raw;		/* what came, as it came (raw) */
	size_t		 rawlen, rawcap;
};

static void
buf_add(uint8_t **b, size_t *len, size_t *cap, const void *p, size_t n)
{
	if (*len + n > *cap) {
		size_t c = *cap ? *cap : 4096;

		while (c < *len + n)
			c *= 2;
		FUZZ_CHECK((*b = realloc(*b, c)) != NULL);
		*cap = c;
	}
	memcpy(*b + *len, p, n);
	*len += n;
}

static const char *
ssl_err(void)
{
	static char buf[256];
	unsigned long e = ERR_peek_last_error();

	if (e == 0)
		snprintf(buf, sizeof(buf), "no OpenSSL error (errno %d)", errno);
	else
		ERR_error_string_n(e, buf, sizeof(buf));
	return buf;
}

/* What the client SSL wrote, to the queue for the socket. */
static void
take_written(struct tclient *t)
{
	BIO *w = SSL_get_wbio(t->ssl);
	uint8_t buf[16384];
	int n;

	while ((n = BIO_read(w, buf, sizeof(buf))) > 0)
		buf_add(&t->out, &t->olen, &t->ocap, buf, (size_t)n);
}

/*
 * Known (regress/conn_tls-keyupdate-write-pending): a KeyUpdate that
 * asks for one back, arriving while a record of the server's (another
 * KeyUpdate answer, or data) waits for room in the socket, makes the
 * server's SSL_read fail (OpenSSL: "bad write retry": a second write
 * while one is pending), and the connection is dropped with an alert.
 * Until wsd stops reading while a write is pending, a client that sends
 * KeyUpdates to a server whose output waited may see that, and nothing
 * else.
 */
static bool
may_die(const struct tclient *t)
{
	return t->may_die || (t->rekey && t->server_blocked);
}

/* The client reads what it can decrypt. */
static void
client_read(struct tclient *t)
{
	uint8_t buf[16384];
	int r, err;

	while (!t->dead && !t->notify) {
		ERR_clear_error();
		errno = 0;
		r = SSL_read(t->ssl, buf, sizeof(buf));
		if (r > 0) {
			fc_client_take(&t->cl, buf, (size_t)r);
			continue;
		}
		err = SSL_get_error(t->ssl, r);
		if (err == SSL_ERROR_WANT_READ)
			break;
		if (err == SSL_ERROR_ZERO_RETURN) {
			t->notify = true;
			break;
		}
		/*
		 * A server that closes TCP without close_notify (OpenSSL
		 * says so one way or the other).
		 */
		if (t->eof && ((err == SSL_ERROR_SYSCALL &&
		    ERR_peek_error() == 0) ||
		    ERR_GET_REASON(ERR_peek_last_error()) ==
		    SSL_R_UNEXPECTED_EOF_WHILE_READING))
			break;
		if (may_die(t)) {
			if (fc_verbose)
				fprintf(stderr, "fuzz_conn_tls: client: %s\n",
				    ssl_err());
			t->dead = true;
			break;
		}
		FUZZ_FAIL("the client cannot read what the server sent "
		    "(SSL_get_error %d): %s", err, ssl_err());
	}
	ERR_clear_error();
}

/* Move bytes between the socket and the client, once. */
static void
pump(struct tclient *t)
{
	uint8_t buf[16384];
	size_t end, want;
	ssize_t n;
	int i;

	if (t->closed)
		return;
	if (t->ssl != NULL && !t->dead)
		take_written(t);
	end = t->olen < t->limit ? t->olen : t->limit;
	while (t->osent < end) {
		n = send(t->fd, t->out + t->osent, end - t->osent,
		    MSG_NOSIGNAL);
		if (n > 0) {
			t->osent += (size_t)n;
			continue;
		}
		if (n == -1 && (errno == EAGAIN || errno == EWOULDBLOCK))
			break;
		t->osent = t->olen;	/* the server closed: drop the rest */
		break;
	}
	for (i = 0; i < 4 && !t->stalled && !t->eof; i++) {
		want = t->window > 0 && t->window < sizeof(buf) ? t->window :
		    sizeof(buf);
		n = recv(t->fd, buf, want, 0);
		if (n < 0) {
			FUZZ_CHECK(errno == EAGAIN || errno == EWOULDBLOCK ||
			    errno == ECONNRESET);
			break;
		}
		if (n == 0) {
			t->eof = true;
			if (t->ssl != NULL)
				BIO_set_mem_eof_return(t->rbio, 0);
			break;
		}
		if (t->ssl != NULL)
			FUZZ_CHECK(BIO_write(t->rbio, buf, (int)n) == (int)n);
		else if (t->rawlen < 1024 * 1024)
			buf_add(&t->raw, &t->rawlen, &t->rawcap, buf,
			    (size_t)n);
	}
	if (t->ssl != NULL && t->handshaken)
		client_read(t);
}

/* What the server's end of the connection says about itself. */
static void
check_server_side(struct tclient *t)
{
	struct conn *c = conn_first(&fc_srv);
	const char *subject;

	if (c == NULL)
		return;
	FUZZ_CHECK(fc_srv.nconns == 1);
	FUZZ_CHECK(conn_tls(c));
	if (t->ssl == NULL) {
		if (c->tls_ready)
			FUZZ_FAIL("raw bytes completed a TLS handshake");
		return;
	}
	if (!c->tls_ready)
		return;
	if (c->wev_added || c->tls_read_wants_write ||
	    (c->out != NULL && evbuffer_get_length(c->out) > 0))
		t->server_blocked = true;
	/* Half-closed after its output, not dropped (conn_drop). */
	if (c->wr_shut && !c->broken)
		t->server_shut = true;
	subject = conn_peer_subject(c);
	if (t->has_cert) {
		if (subject == NULL || strcmp(subject, CLIENT_SUBJECT) != 0)
			FUZZ_FAIL("the client's subject is \"%s\", not \"%s\"",
			    subject != NULL ? subject : "(none)",
			    CLIENT_SUBJECT);
	} else if (subject != NULL)
		FUZZ_FAIL("a subject (%s) without a client certificate",
		    subject);
}

static void
step(struct tclient *t)
{
	pump(t);
	fc_run_loop();
	check_server_side(t);
	pump(t);
}

/*
 * Send everything queued, or until the server stops taking it: a server
 * that must write before it reads on (a KeyUpdate to answer) to a client
 * that does not read is stuck until the client reads.
 */
static void
flush(struct tclient *t)
{
	size_t before;
	int idle = 0;

	while (idle < 64) {
		before = t->osent;
		pump(t);
		if (t->osent >= (t->olen < t->limit ? t->olen : t->limit))
			return;
		fc_run_loop();
		check_server_side(t);
		idle = t->osent > before ? 0 : idle + 1;
	}
}

static void
tclient_open(struct tclient *t, uint8_t mode, SSL_SESSION *sess,
    size_t window)
{
	static const char *const sni[4] = {
		NULL, "nomatch.test", "b.test", "x.w.test"
	};
	static const unsigned char *const alpn[4] = {
		NULL, (const unsigned char *)"\x02h2",
		(const unsigned char *)"\x02h2\x08http/1.1",
		(const unsigned char *)"\x08http/1.1"
	};
	static const unsigned alpn_len[4] = { 0, 3, 12, 9 };
	struct sockaddr_un sun;
	enum kind kind = mode & 3;
	unsigned hello = (mode >> 2) & 3;
	BIO *wbio;
	int sv[2], sz;

	memset(t, 0, sizeof(*t));
	fc_client_init(&t->cl);
	t->limit = SIZE_MAX;
	FUZZ_CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0);
	FUZZ_CHECK(evutil_make_socket_nonblocking(sv[1]) == 0);
	if (window > 0) {
		/* The kernel keeps its minimum; it is still a few KiB. */
		sz = (int)window;
		setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &sz, sizeof(sz));
	}
	t->fd = sv[1];
	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	FUZZ_CHECK(conn_new(&fc_srv, sv[0], (struct sockaddr *)&sun,
	    sizeof(sun), ts, NULL) != NULL);
	FUZZ_CHECK(fc_srv.nconns == 1);
	if (kind == RAW)
		return;

	FUZZ_CHECK((t->ssl = SSL_new(cctx)) != NULL);
	FUZZ_CHECK((t->rbio = BIO_new(BIO_s_mem())) != NULL);
	FUZZ_CHECK((wbio = BIO_new(BIO_s_mem())) != NULL);
	BIO_set_mem_eof_return(t->rbio, -1);
	SSL_set_bio(t->ssl, t->rbio, wbio);
	SSL_set_connect_state(t->ssl);
	if (kind == TLS13)
		SSL_set_min_proto_version(t->ssl, TLS1_3_VERSION);
	else
		SSL_set_max_proto_version(t->ssl, TLS1_2_VERSION);
	if (kind == TLS12_CBC)
		FUZZ_CHECK(SSL_set_cipher_list(t->ssl,
		    "ECDHE-ECDSA-AES128-SHA:ECDHE-ECDSA-AES256-SHA") == 1);
	if (sni[hello] != NULL)
		FUZZ_CHECK(SSL_set_tlsext_host_name(t->ssl, sni[hello]) == 1);
	/* The certificate must carry the name SNI asked for. */
	if (hello >= 2)
		FUZZ_CHECK(SSL_set1_host(t->ssl, sni[hello]) == 1);
	if (alpn[hello] != NULL)
		FUZZ_CHECK(SSL_set_alpn_protos(t->ssl, alpn[hello],
		    alpn_len[hello]) == 0);
	if (mode & 0x10) {
		FUZZ_CHECK(SSL_use_certificate(t->ssl, client_cert) == 1);
		FUZZ_CHECK(SSL_use_PrivateKey(t->ssl, client_key) == 1);
		t->has_cert = true;
	}
	if (sess != NULL)
		FUZZ_CHECK(SSL_set_session(t->ssl, sess) == 1);
}

/* The client's handshake, which must succeed. */
static void
handshake(struct tclient *t, uint8_t mode, bool resumed)
{
	unsigned hello = (mode >> 2) & 3;
	const unsigned char *proto;
	unsigned proto_len;
	X509 *peer;
	int i, r = 0, err;

	for (i = 0; i < 200; i++) {
		ERR_clear_error();
		if ((r = SSL_do_handshake(t->ssl)) == 1)
			break;
		err = SSL_get_error(t->ssl, r);
		if (err != SSL_ERROR_WANT_READ)
			FUZZ_FAIL("the client's handshake failed (SSL_get_error "
			    "%d, verify %ld): %s", err,
			    SSL_get_verify_result(t->ssl), ssl_err());
		step(t);
	}
	FUZZ_CHECK(r == 1);
	t->handshaken = true;
	peer = SSL_get0_peer_certificate(t->ssl);
	FUZZ_CHECK(peer != NULL);
	if (X509_cmp(peer, hello >= 2 ? cert_b : cert_a) != 0)
		FUZZ_FAIL("SNI %u: the server sent the wrong certificate",
		    hello);
	FUZZ_CHECK(SSL_version(t->ssl) == ((mode & 3) == TLS13 ?
	    TLS1_3_VERSION : TLS1_2_VERSION));
	SSL_get0_alpn_selected(t->ssl, &proto, &proto_len);
	if (hello >= 2)
		FUZZ_CHECK(proto_len == 8 && memcmp(proto, "http/1.1", 8) == 0);
	else
		FUZZ_CHECK(proto_len == 0);
	if (resumed && !SSL_session_reused(t->ssl))
		FUZZ_FAIL("the session ticket was not taken");
	pump(t);
}

/*
 * The client's end is done: wait for the server to let go (aborting it
 * if it does not), and take the rest of its output.
 */
static void
tclient_finish(struct tclient *t)
{
	int i;

	for (i = 0; i < 8 && fc_srv.nconns > 0; i++)
		step(t);
	if (fc_srv.nconns > 0) {
		if (fc_verbose)
			fprintf(stderr, "fuzz_conn_tls: connection survived "
			    "EOF; aborting it\n");
		conn_abort_all(&fc_srv);
		t->aborted = true;
	}
	fc_run_loop();
	for (i = 0; i < 8 && !t->eof; i++)
		pump(t);
}

static void
tclient_free(struct tclient *t)
{
	SSL_free(t->ssl);
	if (!t->closed)
		close(t->fd);
	fc_client_free(&t->cl);
	free(t->out);
	free(t->raw);
	fc_run_loop();
	fc_check_idle();
}

/* A connection that only fetches a session ticket, and closes cleanly. */
static SSL_SESSION *
get_ticket(uint8_t mode)
{
	struct tclient t;
	SSL_SESSION *s = NULL;
	int i;

	tclient_open(&t, mode, NULL, 0);
	handshake(&t, mode, false);
	/* TLS 1.3 tickets come after the handshake. */
	for (i = 0; i < 8; i++) {
		SSL_SESSION_free(s);
		s = SSL_get1_session(t.ssl);
		if (s != NULL && SSL_SESSION_is_resumable(s))
			break;
		step(&t);
	}
	FUZZ_CHECK(s != NULL && SSL_SESSION_is_resumable(s));
	FUZZ_CHECK(SSL_shutdown(t.ssl) >= 0);
	flush(&t);
	shutdown(t.fd, SHUT_WR);
	tclient_finish(&t);
	tclient_free(&t);
	return s;
}

/* ------------------------------------------------------------ raw */

static bool
starts_http(const uint8_t *p, size_t n)
{
	static const char *const m[] = { "GET ", "POST ", "HEAD ", "PUT ",
	    "CONNE" };
	size_t i;

	for (i = 0; i < sizeof(m) / sizeof(m[0]); i++)
		if (n >= strlen(m[i]) && memcmp(p, m[i], strlen(m[i])) == 0)
			return true;
	return false;
}

/* Whole TLS records, or the plain 400 to what looked like HTTP. */
static void
check_raw_output(const struct tclient *t, const uint8_t *in, size_t n)
{
	size_t pos = 0, len;
	const uint8_t *p = t->raw;

	if (t->rawlen > 0 && p[0] == 'H') {
		if (t->rawlen < sizeof(plain_400) - 1 ||
		    memcmp(p, plain_400, sizeof(plain_400) - 1) != 0)
			FUZZ_FAIL("the TLS port sent %.20s...", p);
		if (!starts_http(in, n))
			FUZZ_FAIL("plain HTTP answer to a non-HTTP client");
		return;
	}
	while (pos < t->rawlen) {
		if (t->rawlen - pos < 5)
			FUZZ_FAIL("the server's output ends in half a record "
			    "header");
		if (p[pos] < 20 || p[pos] > 23 || p[pos + 1] != 3)
			FUZZ_FAIL("not a TLS record: %02x %02x %02x",
			    p[pos], p[pos + 1], p[pos + 2]);
		len = (size_t)p[pos + 3] << 8 | p[pos + 4];
		FUZZ_CHECK(len > 0 && len <= 16384 + 2048);
		if (t->rawlen - pos - 5 < len)
			FUZZ_FAIL("the server's output ends in half a record");
		pos += 5 + len;
	}
}

/* ------------------------------------------------------------ input */

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const size_t chunk_max[4] = { 0, 8, 128, 4096 };
	static const size_t window[4] = { 0, 16, 512, 8192 };
	SSL_SESSION *sess = NULL;
	struct tclient t;
	enum ending ending;
	uint8_t mode, ctl;
	uint32_t rnd;
	size_t n, pos, len, mark;
	const uint8_t *in;

	if (size < 2)
		return 0;
	mode = data[0];
	ctl = data[size - 1];
	in = data + 1;
	n = size - 2;
	ending = mode >> 6;
	rnd = 0x9e3779b9u ^ (uint32_t)(ctl >> 5) * 0x85ebca6bu ^ (uint32_t)n;

	if ((mode & 3) != RAW && (mode & 0x20))
		sess = get_ticket(mode);
	tclient_open(&t, mode, sess, window[(ctl >> 2) & 3]);
	if (t.ssl != NULL)
		handshake(&t, mode, sess != NULL);
	SSL_SESSION_free(sess);
	t.window = window[(ctl >> 2) & 3];
	t.stalled = (ctl & 0x10) != 0;
	t.rekey = ending == END_REKEY && (mode & 3) == TLS13;

	for (pos = 0; pos < n && !t.dead; pos += len) {
		len = n - pos;
		if (chunk_max[ctl & 3] > 0) {
			size_t want = 1 + fc_rand(&rnd) % chunk_max[ctl & 3];

			if (want < len)
				len = want;
		}
		if (t.ssl == NULL) {
			buf_add(&t.out, &t.olen, &t.ocap, in + pos, len);
			flush(&t);
			continue;
		}
		ERR_clear_error();
		if (SSL_write(t.ssl, in + pos, (int)len) != (int)len) {
			if (!may_die(&t))
				FUZZ_FAIL("the client cannot write: %s",
				    ssl_err());
			t.dead = true;
			break;
		}
		if (t.rekey) {
			FUZZ_CHECK(SSL_key_update(t.ssl,
			    SSL_KEY_UPDATE_REQUESTED) == 1);
			if (SSL_do_handshake(t.ssl) != 1) {
				if (!may_die(&t))
					FUZZ_FAIL("the client cannot send a "
					    "KeyUpdate: %s", ssl_err());
				t.dead = true;
				break;
			}
		}
		flush(&t);
		fc_run_loop();
		check_server_side(&t);
	}

	/* The client reads what is left, all of it, then closes. */
	t.stalled = false;
	t.window = 0;
	flush(&t);
	step(&t);
	if (t.ssl != NULL && !t.dead) {
		ERR_clear_error();
		switch (ending) {
		case END_NOTIFY:
			FUZZ_CHECK(SSL_shutdown(t.ssl) >= 0);
			break;
		case END_CUT:
			/* One more record, of which the server sees half. */
			take_written(&t);
			mark = t.olen;
			FUZZ_CHECK(SSL_write(t.ssl, "0123456789abcdef", 16) ==
			    16);
			take_written(&t);
			t.limit = mark + (t.olen - mark) / 2;
			break;
		case END_REKEY:
			if ((mode & 3) == TLS13)
				break;
			/* Refused: the server must neither break nor obey. */
			t.may_die = true;
			FUZZ_CHECK(SSL_renegotiate(t.ssl) == 1);
			(void)SSL_do_handshake(t.ssl);
			break;
		default:
			break;
		}
		ERR_clear_error();
		flush(&t);
		step(&t);
	}
	if (ending == END_CUT && (ctl & 0x10) && t.ssl != NULL) {
		/* Gone for good: the server's writes fail from now on. */
		close(t.fd);
		t.closed = true;
	} else
		shutdown(t.fd, SHUT_WR);
	tclient_finish(&t);
	if (!t.closed && t.ssl == NULL)
		check_raw_output(&t, in, n);
	else if (!t.closed && !t.dead) {
		if (BIO_ctrl_pending(t.rbio) > 0)
			FUZZ_FAIL("the server's output ends in half a record "
			    "(%zu bytes)", (size_t)BIO_ctrl_pending(t.rbio));
		fc_client_end(&t.cl);
		/* A half-close in order comes after a close_notify. */
		if (t.server_shut && !t.aborted && !t.notify)
			FUZZ_FAIL("the server half-closed without a TLS "
			    "close_notify");
	}
	tclient_free(&t);
	return 0;
}

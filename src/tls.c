/*
 * tls: see tls.h.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/err.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "log.h"
#include "tls.h"
#include "workers.h"

/* A certificate closer than this to its end is worth a warning. */
#define EXPIRY_WARN_DAYS	14

struct tls_cert {
	SSL_CTX		*ctx;
	X509		*leaf;		/* the ctx's; for SNI */
};

struct tls_server {
	struct tls_cert	*certs;		/* [0]: the default */
	size_t		 ncerts;
};

/* What a problem report says first: "FILE:LINE: listen ADDR:PORT: ". */
struct where {
	const struct wsd_config		*cfg;
	const struct wsd_listen_conf	*lc;
	struct wsd_errors		*errs;
	bool				 failed;
};

static void __attribute__((format(printf, 3, 4)))
fail(struct where *w, int line, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	errors_add(w->errs, "%s:%d: listen %s port %d: %s", w->cfg->file, line,
	    w->lc->address, w->lc->port, msg);
	w->failed = true;
}

static void __attribute__((format(printf, 3, 4)))
warn(struct where *w, int line, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	log_warn("%s:%d: listen %s port %d: %s", w->cfg->file, line,
	    w->lc->address, w->lc->port, msg);
}

const char *
tls_error_string(void)
{
	static char buf[256];
	/*
	 * The first error says what went wrong ("no start line"), the
	 * last only where it was noticed ("PEM lib").
	 */
	unsigned long e = ERR_peek_error();
	const char *r;

	if (e == 0)
		return "unknown error";
	if ((r = ERR_reason_error_string(e)) != NULL)
		snprintf(buf, sizeof(buf), "%s", r);
	else
		ERR_error_string_n(e, buf, sizeof(buf));
	ERR_clear_error();
	return buf;
}

int
tls_ticket_key_new(uint8_t key[TLS_TICKET_KEY_LEN])
{
	return RAND_bytes(key, TLS_TICKET_KEY_LEN) == 1 ? 0 : -1;
}

/* Only http/1.1 is spoken; a client that offers nothing else gets none. */
static int
alpn_cb(SSL *ssl, const unsigned char **out, unsigned char *outlen,
    const unsigned char *in, unsigned int inlen, void *arg)
{
	static const unsigned char ours[] = "\x08http/1.1";
	unsigned char *sel;

	(void)ssl;
	(void)arg;
	if (SSL_select_next_proto(&sel, outlen, ours, sizeof(ours) - 1, in,
	    inlen) != OPENSSL_NPN_NEGOTIATED)
		return SSL_TLSEXT_ERR_NOACK;
	*out = sel;
	return SSL_TLSEXT_ERR_OK;
}

/* The certificate whose names match the client's server name, if any. */
static int
sni_cb(SSL *ssl, int *alert, void *arg)
{
	struct tls_server *ts = arg;
	const char *name;
	size_t i;

	(void)alert;
	name = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);
	if (name == NULL || ts->ncerts < 2)
		return SSL_TLSEXT_ERR_OK;
	for (i = 0; i < ts->ncerts; i++) {
		if (X509_check_host(ts->certs[i].leaf, name, 0, 0,
		    NULL) != 1)
			continue;
		if (i > 0 && SSL_set_SSL_CTX(ssl, ts->certs[i].ctx) == NULL)
			return SSL_TLSEXT_ERR_ALERT_FATAL;
		break;
	}
	/* No match: the default certificate, as for a client without SNI. */
	return SSL_TLSEXT_ERR_OK;
}

/* "Dec  6 15:56:35 2026 GMT" */
static void
asn1_time_str(const ASN1_TIME *t, char *buf, size_t size)
{
	BIO *b;
	int n;

	buf[0] = '\0';
	if ((b = BIO_new(BIO_s_mem())) == NULL)
		return;
	if (ASN1_TIME_print(b, t) == 1 &&
	    (n = BIO_read(b, buf, (int)size - 1)) > 0)
		buf[n] = '\0';
	BIO_free(b);
}

/* A file we cannot open is said with errno's words, not OpenSSL's. */
static bool
readable(struct where *w, int line, const char *what, const char *path)
{
	FILE *f;

	if ((f = fopen(path, "r")) == NULL) {
		fail(w, line, "cannot read %s %s: %s", what, path,
		    strerror(errno));
		return false;
	}
	fclose(f);
	return true;
}

/*
 * What only an operator can judge: dates, and whether the system's
 * trusted CAs vouch for the chain.  Expired or not yet valid is an
 * error (no client would accept it); an untrusted chain is a warning,
 * since a private or test CA is a legitimate choice.
 */
static void
check_cert(struct where *w, const struct wsd_tls_cert_conf *cc, SSL_CTX *ctx,
    X509 *leaf, bool warnings)
{
	STACK_OF(X509) *chain = NULL;
	X509_STORE_CTX *vctx = NULL;
	X509_STORE *store = NULL;
	char when[64];
	int days, secs, err;

	asn1_time_str(X509_get0_notAfter(leaf), when, sizeof(when));
	if (X509_cmp_current_time(X509_get0_notAfter(leaf)) <= 0) {
		fail(w, cc->line, "certificate %s expired on %s",
		    cc->certificate, when);
		return;
	}
	if (X509_cmp_current_time(X509_get0_notBefore(leaf)) >= 0) {
		asn1_time_str(X509_get0_notBefore(leaf), when, sizeof(when));
		fail(w, cc->line, "certificate %s is not valid before %s",
		    cc->certificate, when);
		return;
	}
	if (!warnings)
		return;
	if (ASN1_TIME_diff(&days, &secs, NULL, X509_get0_notAfter(leaf)) ==
	    1 && days < EXPIRY_WARN_DAYS)
		warn(w, cc->line, "certificate %s expires on %s, in %d "
		    "day(s)", cc->certificate, when, days);

	SSL_CTX_get0_chain_certs(ctx, &chain);
	if ((store = X509_STORE_new()) == NULL ||
	    X509_STORE_set_default_paths(store) != 1 ||
	    (vctx = X509_STORE_CTX_new()) == NULL ||
	    X509_STORE_CTX_init(vctx, store, leaf, chain) != 1) {
		warn(w, cc->line, "cannot check the chain of %s: %s",
		    cc->certificate, tls_error_string());
		goto done;
	}
	X509_STORE_CTX_set_purpose(vctx, X509_PURPOSE_SSL_SERVER);
	if (X509_verify_cert(vctx) != 1) {
		err = X509_STORE_CTX_get_error(vctx);
		if (err == X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT)
			warn(w, cc->line, "certificate %s is self-signed: "
			    "clients must be told to trust it", cc->certificate);
		else
			warn(w, cc->line, "certificate %s does not verify "
			    "against the system's trusted CAs (%s): fine for a "
			    "private CA, whose certificate clients must trust; "
			    "otherwise check that the file has the chain after "
			    "the certificate", cc->certificate,
			    X509_verify_cert_error_string(err));
	}
	ERR_clear_error();
done:
	X509_STORE_CTX_free(vctx);
	X509_STORE_free(store);
}

static SSL_CTX *
ctx_new(struct where *w, struct tls_server *ts, const struct wsd_tls_cert_conf *cc,
    const uint8_t *ticket_key, bool warnings)
{
	const struct wsd_tls_conf *t = w->lc->tls;
	static const unsigned char sid[] = "wsd";
	STACK_OF(X509_NAME) *cas;
	unsigned long e;
	SSL_CTX *ctx;
	X509 *leaf;

	if ((ctx = SSL_CTX_new(TLS_server_method())) == NULL) {
		fail(w, t->line, "cannot make a TLS context: %s",
		    tls_error_string());
		return NULL;
	}
	SSL_CTX_set_min_proto_version(ctx, t->min_protocol);
	/*
	 * No renegotiation (a client could make us work at will), no TLS
	 * compression (CRIME); a peer that closes TCP without close_notify
	 * is an EOF like any other: the WebSocket Close says whether a
	 * stream ended where it should.
	 */
	SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION |
	    SSL_OP_NO_COMPRESSION | SSL_OP_IGNORE_UNEXPECTED_EOF |
	    SSL_OP_CIPHER_SERVER_PREFERENCE);
	/*
	 * Record buffers only while a record is in flight (an idle
	 * connection holds none); writes may stop at a record boundary and
	 * resume from a buffer that moved (conn_out.c writes from an
	 * evbuffer).
	 */
	SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS |
	    SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
	/* Read what the socket has in one call, not a header at a time. */
	SSL_CTX_set_read_ahead(ctx, 1);
	/*
	 * Resumption by tickets only: a server-side cache would hold every
	 * session in one worker's memory and no other worker could use it.
	 */
	SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
	SSL_CTX_set_num_tickets(ctx, 1);
	SSL_CTX_set_session_id_context(ctx, sid, sizeof(sid) - 1);
	if (ticket_key != NULL &&
	    SSL_CTX_set_tlsext_ticket_keys(ctx, (void *)ticket_key,
	    TLS_TICKET_KEY_LEN) != 1)
		fail(w, t->line, "cannot set the session ticket keys: %s",
		    tls_error_string());
	SSL_CTX_set_alpn_select_cb(ctx, alpn_cb, NULL);

	if (t->ciphers != NULL &&
	    SSL_CTX_set_cipher_list(ctx, t->ciphers) != 1)
		fail(w, t->ciphers_line, "'ciphers' \"%s\": %s", t->ciphers,
		    tls_error_string());
	if (t->ciphersuites != NULL &&
	    SSL_CTX_set_ciphersuites(ctx, t->ciphersuites) != 1)
		fail(w, t->ciphersuites_line, "'ciphersuites' \"%s\": %s",
		    t->ciphersuites, tls_error_string());

	if (t->client_ca != NULL && readable(w, t->client_ca_line,
	    "client_ca", t->client_ca)) {
		if (SSL_CTX_load_verify_locations(ctx, t->client_ca,
		    NULL) != 1 ||
		    (cas = SSL_load_client_CA_file(t->client_ca)) == NULL)
			fail(w, t->client_ca_line, "client_ca %s: %s",
			    t->client_ca, tls_error_string());
		else
			SSL_CTX_set_client_CA_list(ctx, cas);
		SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER |
		    (t->verify_client == WSD_VERIFY_REQUIRED ?
		    SSL_VERIFY_FAIL_IF_NO_PEER_CERT : 0), NULL);
	}

	if (!readable(w, cc->line, "certificate", cc->certificate) ||
	    !readable(w, cc->line, "key", cc->key))
		goto out;
	if (SSL_CTX_use_certificate_chain_file(ctx, cc->certificate) != 1) {
		fail(w, cc->line, "certificate %s: %s", cc->certificate,
		    tls_error_string());
		goto out;
	}
	if (SSL_CTX_use_PrivateKey_file(ctx, cc->key, SSL_FILETYPE_PEM) != 1) {
		e = ERR_peek_last_error();
		if (ERR_GET_REASON(e) == X509_R_KEY_VALUES_MISMATCH ||
		    ERR_GET_REASON(e) == SSL_R_PRIVATE_KEY_MISMATCH ||
		    ERR_GET_REASON(e) == X509_R_KEY_TYPE_MISMATCH) {
			ERR_clear_error();
			fail(w, cc->line, "key %s does not match certificate %s",
			    cc->key, cc->certificate);
		} else
			fail(w, cc->line, "key %s: %s", cc->key,
			    tls_error_string());
		goto out;
	}
	if (SSL_CTX_check_private_key(ctx) != 1) {
		ERR_clear_error();
		fail(w, cc->line, "key %s does not match certificate %s",
		    cc->key, cc->certificate);
		goto out;
	}
	if ((leaf = SSL_CTX_get0_certificate(ctx)) == NULL) {
		fail(w, cc->line, "certificate %s: no certificate in it",
		    cc->certificate);
		goto out;
	}
	check_cert(w, cc, ctx, leaf, warnings);
	SSL_CTX_set_tlsext_servername_callback(ctx, sni_cb);
	SSL_CTX_set_tlsext_servername_arg(ctx, ts);
out:
	return ctx;
}

struct tls_server *
tls_server_new(const struct wsd_config *cfg, const struct wsd_listen_conf *lc,
    const uint8_t *ticket_key, struct wsd_errors *errs)
{
	struct where w = { cfg, lc, errs, false };
	struct tls_server *ts;
	bool warnings;
	size_t i;

	/*
	 * Warnings come from the check that precedes a start or a reload
	 * (and from wsd -t), not once more from every worker.
	 */
	warnings = worker_self.number < 0;
	if ((ts = calloc(1, sizeof(*ts))) == NULL ||
	    (ts->certs = calloc(lc->tls->ncerts, sizeof(*ts->certs))) ==
	    NULL) {
		free(ts);
		errors_add(errs, "out of memory");
		return NULL;
	}
	for (i = 0; i < lc->tls->ncerts; i++) {
		ts->certs[i].ctx = ctx_new(&w, ts, &lc->tls->certs[i],
		    ticket_key, warnings);
		ts->ncerts = i + 1;
		if (ts->certs[i].ctx != NULL)
			ts->certs[i].leaf =
			    SSL_CTX_get0_certificate(ts->certs[i].ctx);
	}
	if (w.failed) {
		tls_server_free(ts);
		return NULL;
	}
	return ts;
}

void
tls_server_free(struct tls_server *ts)
{
	size_t i;

	if (ts == NULL)
		return;
	for (i = 0; i < ts->ncerts; i++)
		SSL_CTX_free(ts->certs[i].ctx);
	free(ts->certs);
	free(ts);
}

SSL *
tls_server_ssl(struct tls_server *ts, int fd)
{
	SSL *ssl;

	if ((ssl = SSL_new(ts->certs[0].ctx)) == NULL)
		return NULL;
	if (SSL_set_fd(ssl, fd) != 1) {
		SSL_free(ssl);
		return NULL;
	}
	SSL_set_accept_state(ssl);
	return ssl;
}

char *
tls_peer_subject(SSL *ssl)
{
	X509 *x = SSL_get0_peer_certificate(ssl);
	char *p, *s = NULL;
	long n;
	BIO *b;

	if (x == NULL || SSL_get_verify_result(ssl) != X509_V_OK)
		return NULL;
	if ((b = BIO_new(BIO_s_mem())) == NULL)
		return NULL;
	/* RFC 2253, but UTF-8 left as it is for the plugin. */
	if (X509_NAME_print_ex(b, X509_get_subject_name(x), 0,
	    XN_FLAG_RFC2253 & ~ASN1_STRFLGS_ESC_MSB) >= 0 &&
	    (n = BIO_get_mem_data(b, &p)) >= 0 &&
	    (s = malloc((size_t)n + 1)) != NULL) {
		memcpy(s, p, (size_t)n);
		s[n] = '\0';
	}
	BIO_free(b);
	return s;
}

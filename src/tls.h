/*
 * tls: a TLS listener's OpenSSL contexts, built from its `tls` group
 * (config.h), and the checks `wsd -t` makes of its files.  The record
 * I/O on a connection is conn.c's and conn_out.c's; this file knows no
 * connection.
 *
 * A listener has one context per certificate: the first is the default,
 * the others (`sni`) are chosen when the client's server name matches
 * one of their names.  Each generation builds its own (a reload reads
 * the files again); an SSL keeps its context alive, so connections that
 * began on an old generation finish on its certificates.
 */
#ifndef WSD_TLS_H
#define WSD_TLS_H

#include <stddef.h>
#include <stdint.h>

#include <openssl/ssl.h>

#include "config.h"

/* Session ticket key material: name, HMAC and AES keys. */
#define TLS_TICKET_KEY_LEN	80

struct tls_server;

/*
 * Build the contexts of listener lc of cfg.  Problems that make it
 * unusable (unreadable file, key that does not match, expired
 * certificate, bad cipher list) go to errs as "FILE:LINE: ..."; lesser
 * ones (a chain the system store does not trust, expiry within 14 days)
 * are logged as warnings.  ticket_key: TLS_TICKET_KEY_LEN bytes shared
 * by every worker, or NULL for keys of our own.  Returns NULL on error.
 */
struct tls_server *tls_server_new(const struct wsd_config *cfg,
		    const struct wsd_listen_conf *lc,
		    const uint8_t *ticket_key, struct wsd_errors *errs);
void		 tls_server_free(struct tls_server *ts);

/* A server-side SSL for an accepted socket; NULL when out of memory. */
SSL		*tls_server_ssl(struct tls_server *ts, int fd);

/*
 * The verified client certificate's subject (RFC 2253), malloc'ed, or
 * NULL when the client sent none.
 */
char		*tls_peer_subject(SSL *ssl);

/* Fill buf with fresh random ticket key material; 0 or -1. */
int		 tls_ticket_key_new(uint8_t key[TLS_TICKET_KEY_LEN]);

/* Why the last OpenSSL call failed, for a log line (static buffer). */
const char	*tls_error_string(void);

#endif /* WSD_TLS_H */

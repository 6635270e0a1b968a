/*
 * accesslog: one access line as a JSON object (access_log's format
 * "json"), from the facts conn.c gathers when a connection ends.  Pure:
 * log.c writes the line.
 */
#ifndef WSD_ACCESSLOG_H
#define WSD_ACCESSLOG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct access_rec {
	uint64_t	 time_ms;	/* the end, ms since the epoch (UTC) */
	uint64_t	 id;		/* the connection's wsd_conn_id() */
	const char	*remote;	/* the client, "ADDR:PORT" */
	const char	*peer;		/* the TCP peer if not the client */
	const char	*request;	/* "GET /echo?x=1"; NULL: none */
	int		 status;	/* the HTTP status answered */
	const char	*route;		/* the configured path; NULL */
	const char	*subprotocol;	/* NULL: none */
	int		 worker;	/* -1: not a worker */
	const char	*tls;		/* "TLSv1.3", "proxy"; NULL: plain */
	uint64_t	 duration_ms;
	uint64_t	 msgs_in, bytes_in, msgs_out, bytes_out;
	int		 close_code;	/* status 101 only */
	const char	*close_reason;	/* status 101 only; may be "" */
};

/*
 * The record as one line of compact JSON, newline included, in a string
 * the caller frees; *len is its length.  Strings that are not valid
 * UTF-8 are written escaped as log_escape() does.  NULL when out of
 * memory.
 */
char		*access_json(const struct access_rec *r, size_t *len);

#endif /* WSD_ACCESSLOG_H */

/*
 * fuzz_conn_common: what fuzz_conn and fuzz_conn_tls share: the server
 * they set up once per process (a private directory with a document
 * root and the two plugins, a wsd.conf, server_init, config_load,
 * generation_new), the checker of what a client receives, and the loop
 * helpers.  See fuzz_conn.c for the routes and the checks.
 */
#ifndef WSD_FUZZ_CONN_COMMON_H
#define WSD_FUZZ_CONN_COMMON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "pmd.h"
#include "server.h"

extern struct server	fc_srv;
extern bool		fc_verbose;	/* WSD_FUZZ_VERBOSE is set */
extern const char	*fc_prog;	/* for messages: "fuzz_conn" */

/*
 * Make the private directory (under TMPDIR) with the document root and
 * the plugin directory; prog names the harness in messages and in the
 * directory's name.
 */
void	fc_prepare(const char *prog);

/* out (PATH_MAX) = the private directory's name/path. */
void	fc_path(char *out, const char *name);

/* Write text to path, or abort. */
void	fc_write_file(const char *path, const char *text);

/* Remove the private directory's file name at exit (at most 8). */
void	fc_remove_at_exit(const char *name);

/*
 * Write wsd.conf (listen: a `listen = (...);` setting, or "" for the
 * default) and set the server up as main.c does; exits if it cannot.
 */
void	fc_start(const char *listen);

/* The loop, a few rounds: the server's output reaches a client later. */
void	fc_run_loop(void);

/* A xorshift step, for chunk sizes derived from the input. */
uint32_t fc_rand(uint32_t *x);

/* No connection left, no route holding one, the generation unshared. */
void	fc_check_idle(void);

enum fc_phase { FC_HEAD, FC_FRAMES, FC_BODY };

/* What a client has received, checked as it arrives. */
struct fc_client {
	uint8_t		*buf;		/* unconsumed bytes */
	size_t		 len, cap;
	enum fc_phase	 phase;
	int		 status;
	long long	 content_length;	/* -1: none */
	size_t		 body;		/* body bytes so far */
	bool		 close_seen;
	bool		 stalled;	/* not reading yet */
	size_t		 frames;
	size_t		 total;		/* bytes received in all */
	bool		 pmd;		/* permessage-deflate negotiated */
	bool		 pmd_reset;	/* server_no_context_takeover */
	struct z_stream_s *zs;		/* inflates the server's frames */
	struct pmd_buf	 z;
};

void	fc_client_init(struct fc_client *cl);

/*
 * n more bytes from the server: a response head first; after a 101
 * only valid, unmasked, final server frames, UTF-8 text (inflated first
 * when compressed), valid close codes, nothing after a Close; otherwise a body within Content-Length
 * that never holds the file outside the document root.
 */
void	fc_client_take(struct fc_client *cl, const void *p, size_t n);

/* The server is done sending: no half head, no half frame. */
void	fc_client_end(struct fc_client *cl);

void	fc_client_free(struct fc_client *cl);

#endif /* WSD_FUZZ_CONN_COMMON_H */

/*
 * sslmem: what OpenSSL itself keeps per idle server-side TLS connection,
 * for the benchmark's idle TLS test (bench/run test 11).
 *
 * N server SSL objects finish a handshake with a client in this process
 * (a BIO pair between them; the client reads the session tickets too);
 * then the client is freed and the server SSL is left as a server keeps
 * an idle connection: on a socket BIO, no record buffers
 * (SSL_MODE_RELEASE_BUFFERS unless -b).  Reported: malloc'd bytes still
 * in use per server SSL (mallinfo2: what OpenSSL needs) and VmRSS growth
 * per SSL (what it costs with the heap's fragmentation from the
 * handshakes' transient allocations).  For scale, the heap a bare
 * SSL_new() takes (before any handshake) is reported too.
 *
 * usage: sslmem [-n N] [-V 1.2|1.3] [-b (keep buffers)] CERT KEY
 * The last line on stdout is "RESULT key=value ...".
 */
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

static void
die(const char *what)
{
	fprintf(stderr, "sslmem: %s\n", what);
	ERR_print_errors_fp(stderr);
	printf("RESULT error=1\n");
	exit(2);
}

static long
rss_kb(void)
{
	char line[256];
	long kb = -1;
	FILE *f;

	if ((f = fopen("/proc/self/status", "r")) == NULL)
		return -1;
	while (fgets(line, sizeof(line), f) != NULL)
		if (sscanf(line, "VmRSS: %ld", &kb) == 1)
			break;
	fclose(f);
	return kb;
}

static int
accept_chain(X509_STORE_CTX *ctx, void *arg)
{
	(void)ctx;
	(void)arg;
	return 1;
}

/*
 * One handshake between a fresh client and a fresh server SSL; returns
 * the server SSL, idle, on a socket BIO (descriptor 0, never used).
 */
static SSL *
one(SSL_CTX *sctx, SSL_CTX *cctx)
{
	SSL *s, *c;
	BIO *sb, *cb;
	unsigned char buf[256];
	int i, rs = 0, rc = 0;

	if ((s = SSL_new(sctx)) == NULL || (c = SSL_new(cctx)) == NULL)
		die("SSL_new");
	if (BIO_new_bio_pair(&sb, 0, &cb, 0) != 1)
		die("BIO_new_bio_pair");
	SSL_set_bio(s, sb, sb);
	SSL_set_bio(c, cb, cb);
	SSL_set_accept_state(s);
	SSL_set_connect_state(c);
	SSL_set_tlsext_host_name(c, "localhost");
	for (i = 0; i < 100 && (rs != 1 || rc != 1); i++) {
		if (rc != 1)
			rc = SSL_do_handshake(c);
		if (rs != 1)
			rs = SSL_do_handshake(s);
	}
	if (rs != 1 || rc != 1)
		die("handshake did not finish");
	/* The client takes the tickets (TLS 1.3 sends them after the
	 * handshake), and the server has nothing left to write. */
	for (i = 0; i < 4; i++)
		(void)SSL_read(c, buf, sizeof(buf));
	ERR_clear_error();
	SSL_free(c);		/* and its end of the pair */
	if (SSL_set_fd(s, 0) != 1)	/* frees the server's end */
		die("SSL_set_fd");
	return s;
}

int
main(int argc, char **argv)
{
	SSL_CTX *sctx, *cctx;
	SSL **keep;
	struct mallinfo2 m0, m1;
	double bare;
	long r0, r1;
	int ch, n = 2000, ver = 0, keepbuf = 0, i;

	while ((ch = getopt(argc, argv, "n:V:b")) != -1) {
		switch (ch) {
		case 'n': n = atoi(optarg); break;
		case 'V':
			ver = strcmp(optarg, "1.2") == 0 ? TLS1_2_VERSION :
			    TLS1_3_VERSION;
			break;
		case 'b': keepbuf = 1; break;
		default: goto usage;
		}
	}
	if (argc - optind != 2 || n < 1) {
usage:
		fprintf(stderr, "usage: sslmem [-n N] [-V 1.2|1.3] [-b] CERT "
		    "KEY\n");
		return 2;
	}
	if ((sctx = SSL_CTX_new(TLS_server_method())) == NULL ||
	    (cctx = SSL_CTX_new(TLS_client_method())) == NULL)
		die("SSL_CTX_new");
	if (SSL_CTX_use_certificate_chain_file(sctx, argv[optind]) != 1 ||
	    SSL_CTX_use_PrivateKey_file(sctx, argv[optind + 1],
	    SSL_FILETYPE_PEM) != 1)
		die("certificate or key");
	if (!keepbuf)
		SSL_CTX_set_mode(sctx, SSL_MODE_RELEASE_BUFFERS);
	SSL_CTX_set_verify(cctx, SSL_VERIFY_NONE, NULL);
	SSL_CTX_set_cert_verify_callback(cctx, accept_chain, NULL);
	SSL_CTX_set_mode(cctx, SSL_MODE_RELEASE_BUFFERS);
	if (ver) {
		SSL_CTX_set_min_proto_version(cctx, ver);
		SSL_CTX_set_max_proto_version(cctx, ver);
	}
	if ((keep = calloc((size_t)n, sizeof(*keep))) == NULL)
		die("calloc");
	/* Warm-up: what the first handshakes load once is not per
	 * connection. */
	for (i = 0; i < 50; i++)
		SSL_free(one(sctx, cctx));
	/* A bare SSL object, on a socket BIO as after the handshake. */
	m0 = mallinfo2();
	for (i = 0; i < n; i++)
		if ((keep[i] = SSL_new(sctx)) == NULL ||
		    SSL_set_fd(keep[i], 0) != 1)
			die("SSL_new");
	m1 = mallinfo2();
	bare = ((double)m1.uordblks - (double)m0.uordblks) / n;
	for (i = 0; i < n; i++)
		SSL_free(keep[i]);
	malloc_trim(0);
	m0 = mallinfo2();
	r0 = rss_kb();
	for (i = 0; i < n; i++)
		keep[i] = one(sctx, cctx);
	m1 = mallinfo2();
	r1 = rss_kb();
	printf("RESULT n=%d proto=%s cipher=%s release_buffers=%d "
	    "heap_per_conn_b=%.0f rss_per_conn_b=%.0f bare_ssl_b=%.0f\n", n,
	    SSL_get_version(keep[0]), SSL_get_cipher_name(keep[0]), !keepbuf,
	    ((double)m1.uordblks - (double)m0.uordblks) / n,
	    (double)(r1 - r0) * 1024.0 / n, bare);
	for (i = 0; i < n; i++)
		SSL_free(keep[i]);
	free(keep);
	SSL_CTX_free(sctx);
	SSL_CTX_free(cctx);
	return 0;
}

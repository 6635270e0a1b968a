/*
 * static: see static.h.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <event2/buffer.h>

#include "static.h"

#define WELL_KNOWN	".well-known"

static const struct {
	const char	*ext;
	const char	*type;
} mime_types[] = {
	{ "html",	"text/html; charset=utf-8" },
	{ "htm",	"text/html; charset=utf-8" },
	{ "js",		"text/javascript; charset=utf-8" },
	{ "mjs",	"text/javascript; charset=utf-8" },
	{ "css",	"text/css; charset=utf-8" },
	{ "json",	"application/json" },
	{ "png",	"image/png" },
	{ "svg",	"image/svg+xml" },
	{ "ico",	"image/x-icon" },
	{ "jpg",	"image/jpeg" },
	{ "jpeg",	"image/jpeg" },
	{ "gif",	"image/gif" },
	{ "webp",	"image/webp" },
	{ "txt",	"text/plain; charset=utf-8" },
	{ "wasm",	"application/wasm" },
};

const char *
static_mime_type(const char *name)
{
	const char *dot = strrchr(name, '.');
	size_t i;

	if (dot != NULL && strchr(dot, '/') == NULL) {
		for (i = 0; i < sizeof(mime_types) / sizeof(mime_types[0]); i++)
			if (strcasecmp(dot + 1, mime_types[i].ext) == 0)
				return mime_types[i].type;
	}
	return "application/octet-stream";
}

int
http_write_error(struct evbuffer *out, int status, const char *extra,
    int head_only)
{
	const char *reason = http_reason(status);
	char body[128], resp[PATH_MAX + 512];
	int n, h;

	/* Head and body in one piece: all of it is queued, or nothing. */
	n = snprintf(body, sizeof(body), "%d %s\n", status, reason);
	h = snprintf(resp, sizeof(resp), "HTTP/1.1 %d %s\r\n"
	    "Content-Type: text/plain; charset=utf-8\r\n"
	    "Content-Length: %d\r\n"
	    "Connection: close\r\n"
	    "%s\r\n%s", status, reason, n, extra != NULL ? extra : "",
	    head_only ? "" : body);
	if (h < 0 || (size_t)h >= sizeof(resp))
		return -1;
	return evbuffer_add(out, resp, (size_t)h);
}

/*
 * Decode the request path and check it segment by segment.  Returns 0
 * with the decoded path (starting with '/') in buf, or -1.
 */
static int
clean_path(const struct http_request *req, char *buf, size_t bufsz)
{
	const char *seg;
	long n;

	if (req->path_len + 1 > bufsz)
		return -1;
	n = http_percent_decode(req->path, req->path_len, buf, false);
	if (n < 1 || buf[0] != '/')
		return -1;
	/*
	 * No segment starting with a dot, encoded or not: that covers "."
	 * and "..", and keeps .git, .env and the like private.  The one
	 * exception is a top-level /.well-known/ (RFC 8615), for ACME.
	 */
	for (seg = buf; seg != NULL; seg = strchr(seg + 1, '/')) {
		const char *s = seg + 1;
		size_t len = strcspn(s, "/");

		if (s[0] != '.')
			continue;
		if (seg == buf && len == sizeof(WELL_KNOWN) - 1 &&
		    memcmp(s, WELL_KNOWN, len) == 0)
			continue;
		return -1;
	}
	if (strchr(buf, '\\') != NULL)
		return -1;
	return 0;
}

int
static_respond(struct evbuffer *out, const char *root,
    const struct http_request *req, int head_only)
{
	char rel[PATH_MAX], full[PATH_MAX * 2], real[PATH_MAX];
	char rootreal[PATH_MAX], head[512];
	struct stat st;
	size_t rl;
	int fd, n;

	if (root == NULL || realpath(root, rootreal) == NULL ||
	    clean_path(req, rel, sizeof(rel)) == -1)
		goto notfound;
	n = snprintf(full, sizeof(full), "%s%s%s", rootreal, rel,
	    rel[strlen(rel) - 1] == '/' ? "index.html" : "");
	if (n < 0 || (size_t)n >= sizeof(full))
		goto notfound;
	/* Symlinks may point anywhere: the resolved file must be inside. */
	if (realpath(full, real) == NULL)
		goto notfound;
	/* Inside means below "root/", or anywhere when the root is "/". */
	rl = strlen(rootreal);
	if (rl > 1 && (strncmp(real, rootreal, rl) != 0 || real[rl] != '/'))
		goto notfound;
	if (stat(real, &st) == -1)
		goto notfound;
	if (S_ISDIR(st.st_mode)) {
		/* "/dir" -> "/dir/" so relative links in its index work. */
		char loc[PATH_MAX + 32];

		snprintf(loc, sizeof(loc), "Location: %.*s/\r\n",
		    (int)req->path_len, req->path);
		return http_write_error(out, 301, loc, head_only) == 0 ?
		    301 : -1;
	}
	if (!S_ISREG(st.st_mode))
		goto notfound;
	if ((fd = open(real, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)) == -1) {
		/* Out of descriptors is not "no such file". */
		if (errno == EMFILE || errno == ENFILE)
			return http_write_error(out, 503, "Retry-After: 1\r\n",
			    head_only) == 0 ? 503 : -1;
		goto notfound;
	}
	if (fstat(fd, &st) == -1 || !S_ISREG(st.st_mode)) {
		close(fd);
		goto notfound;
	}
	n = snprintf(head, sizeof(head), "HTTP/1.1 200 OK\r\n"
	    "Content-Type: %s\r\n"
	    "Content-Length: %lld\r\n"
	    "X-Content-Type-Options: nosniff\r\n"
	    "Cache-Control: no-cache\r\n"
	    "Connection: close\r\n\r\n",
	    static_mime_type(real), (long long)st.st_size);
	if (n < 0 || (size_t)n >= sizeof(head) ||
	    evbuffer_add(out, head, (size_t)n) == -1) {
		close(fd);
		return -1;
	}
	if (head_only || st.st_size == 0)
		close(fd);
	else if (evbuffer_add_file(out, fd, 0, st.st_size) == -1) {
		/* No head without its body: out held nothing before it. */
		close(fd);
		evbuffer_drain(out, evbuffer_get_length(out));
		return -1;
	}
	return 200;

notfound:
	return http_write_error(out, 404, NULL, head_only) == 0 ? 404 : -1;
}

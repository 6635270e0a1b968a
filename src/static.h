/*
 * static: answer plain GET/HEAD requests from document_root.  The
 * request path is percent-decoded, refused if any segment starts with a
 * dot (".", "..", ".git"; a top-level ".well-known" excepted) or it holds
 * a NUL, and the file must resolve (symlinks included) to a regular file
 * inside the root.
 */
#ifndef WSD_STATIC_H
#define WSD_STATIC_H

#include <event2/buffer.h>

#include "http.h"

/*
 * Write a complete response for req into out, which must be empty, and
 * return its status.  root may be NULL (no static files: 404).
 * head_only for HEAD.  -1 when there was no memory for the response:
 * out is then left empty.
 */
int		 static_respond(struct evbuffer *out, const char *root,
		    const struct http_request *req, int head_only);

/* The Content-Type for a file name, by extension. */
const char	*static_mime_type(const char *name);

/*
 * Write a small error response (text body, Connection: close).  extra is
 * additional header lines ("Name: value\r\n...") or NULL.  0, or -1 when
 * there was no memory for it: nothing of it is then in out.
 */
int		 http_write_error(struct evbuffer *out, int status,
		    const char *extra, int head_only);

#endif /* WSD_STATIC_H */

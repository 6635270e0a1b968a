/*
 * execproto: the pure part of the exec plugin (cutting the child's output
 * into messages, UTF-8, the names and values of the CGI-style
 * environment), apart from wsd's callbacks and the processes so it can be
 * unit-tested.
 */
#ifndef EXECPROTO_H
#define EXECPROTO_H

#include <stddef.h>

/* Bytes of the longest environment name the plugin makes. */
#define EXEC_ENV_NAME_MAX	128

/* 1 if buf[0..len) is UTF-8 (RFC 3629: no overlong forms, no surrogates). */
int	 exec_utf8_valid(const void *buf, size_t len);

/*
 * The next text-mode message in buf[0..len), what the child wrote and
 * was not sent yet.  Returns how many bytes it takes from buf (0: none
 * yet, wait for more) and stores in *msglen how many of them are the
 * message: a line without its "\n".  A line longer than max bytes is cut
 * into pieces of at most max bytes, between UTF-8 characters when the
 * piece is UTF-8 (max >= 4).  At eof the unterminated rest is a message.
 */
size_t	 exec_line_next(const char *buf, size_t len, size_t max, int eof,
	    size_t *msglen);

/* 1 if name[0..len) is [A-Za-z_][A-Za-z0-9_]* and not too long. */
int	 exec_env_name_ok(const char *name, size_t len);

/*
 * The variable of a request header: "HTTP_" and the name upper-cased,
 * '-' made '_'.  Returns 0, or -1 for a name with any other byte than
 * letters, digits and '-' (skipped: "X_Forwarded_For" must not pass for
 * X-Forwarded-For), an empty one or one too long for out.
 */
int	 exec_header_env(const char *name, char *out, size_t outsz);

/*
 * Split "192.0.2.1:80" or "[2001:db8::1]:80" (wsd_remote_addr()'s form)
 * into host (brackets dropped) and port.  Returns 0, or -1 when the form
 * is not that or a part does not fit.
 */
int	 exec_split_addr(const char *addr, char *host, size_t hostsz,
	    char *port, size_t portsz);

/*
 * SERVER_NAME from a Host header: the host without its port; an IPv6
 * literal keeps its brackets (RFC 3875).  Returns 0, or -1 when value is
 * empty, too long, or has bytes no host name has.
 */
int	 exec_server_name(const char *value, char *out, size_t outsz);

/*
 * The parameters of a route pattern ("/rooms/:room/files/" then "*"),
 * one per call: from *pos (0 at first) stores the next one's name
 * (":room" gives "room", "*" gives "*") and returns 1; 0 when there is
 * no more.  Names too long for out are skipped.
 */
int	 exec_pattern_param(const char *pattern, size_t *pos, char *out,
	    size_t outsz);

/*
 * The variable of a route parameter: "PARAM_" and the name as written
 * (PARAM_room), "PATH_REST" for "*".  Returns 0, or -1 for a name that
 * is no variable name or too long.
 */
int	 exec_param_env(const char *name, char *out, size_t outsz);

#endif /* EXECPROTO_H */

/*
 * notify: see notify.h.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "notify.h"

int
notify_send(const char *fmt, ...)
{
	const char *path = getenv("NOTIFY_SOCKET");
	struct sockaddr_un sun;
	socklen_t len;
	char msg[1024];
	va_list ap;
	ssize_t n;
	size_t pl;
	int fd, m;

	if (path == NULL || path[0] == '\0')
		return 0;
	pl = strlen(path);
	if ((path[0] != '/' && path[0] != '@') || pl >= sizeof(sun.sun_path))
		return -1;
	va_start(ap, fmt);
	m = vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (m < 0 || (size_t)m >= sizeof(msg))
		return -1;

	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	memcpy(sun.sun_path, path, pl);
	if (path[0] == '@')
		sun.sun_path[0] = '\0';		/* abstract namespace */
	len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + pl +
	    (path[0] == '/'));
	if ((fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0)) == -1)
		return -1;
	n = sendto(fd, msg, (size_t)m, MSG_NOSIGNAL,
	    (struct sockaddr *)&sun, len);
	close(fd);
	return n == m ? 0 : -1;
}

/* The value of variable name if pid_var is unset or names us. */
static const char *
for_us(const char *name, const char *pid_var)
{
	const char *v = getenv(name), *p = getenv(pid_var);
	char *end;
	long pid;

	if (v == NULL)
		return NULL;
	if (p != NULL) {
		pid = strtol(p, &end, 10);
		if (*p == '\0' || *end != '\0' || pid != (long)getpid())
			return NULL;
	}
	return v;
}

uint64_t
notify_watchdog_usec(void)
{
	const char *v = for_us("WATCHDOG_USEC", "WATCHDOG_PID");
	unsigned long long u;
	char *end;

	if (v == NULL || *v == '\0')
		return 0;
	errno = 0;
	u = strtoull(v, &end, 10);
	if (errno != 0 || *end != '\0')
		return 0;
	return u;
}

int
notify_listen_fds(void)
{
	const char *v, *p = getenv("LISTEN_PID");
	char *end;
	long n;
	int fd;

	/* LISTEN_PID is required here: without it the fds may not be ours. */
	if (p == NULL || (v = for_us("LISTEN_FDS", "LISTEN_PID")) == NULL)
		return 0;
	n = strtol(v, &end, 10);
	unsetenv("LISTEN_FDS");
	unsetenv("LISTEN_PID");
	unsetenv("LISTEN_FDNAMES");
	if (*v == '\0' || *end != '\0' || n <= 0 || n > 1024)
		return 0;
	for (fd = 3; fd < 3 + n; fd++)
		fcntl(fd, F_SETFD, FD_CLOEXEC);
	return (int)n;
}

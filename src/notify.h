/*
 * notify: the systemd notification protocol, spoken directly: one
 * datagram per message to the AF_UNIX socket named by $NOTIFY_SOCKET (a
 * leading '@' names an abstract socket).  Without $NOTIFY_SOCKET every
 * call is a no-op.  Also the inherited listeners of socket activation.
 */
#ifndef WSD_NOTIFY_H
#define WSD_NOTIFY_H

#include <stdint.h>

/*
 * Send "READY=1", "STATUS=...", etc.  Lines are separated by '\n'.
 * Returns 0 when sent (or nothing to do), -1 on error.
 */
int	notify_send(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/*
 * The watchdog interval systemd asked for ($WATCHDOG_USEC, for this
 * process if $WATCHDOG_PID is set), in microseconds; 0 if none.
 */
uint64_t notify_watchdog_usec(void);

/*
 * Socket activation: the number of listening descriptors passed to this
 * process ($LISTEN_FDS for $LISTEN_PID), starting at fd 3; 0 if none.
 * The variables are removed so that children do not see them.
 */
int	notify_listen_fds(void);

#endif /* WSD_NOTIFY_H */

/*
 * log: levelled lines on stderr.  When stderr is the systemd journal
 * ($JOURNAL_STREAM names it) each line gets a "<N>" priority prefix and no
 * time stamp, since the journal adds its own; otherwise lines carry an
 * ISO 8601 UTC time stamp and the level's name.
 */
#ifndef WSD_LOG_H
#define WSD_LOG_H

#include <stdarg.h>
#include <stddef.h>
#include <syslog.h>

struct event_base;

void	log_init(void);
void	log_set_level(int level);
/* Put prefix ("worker 2: ") before every message of this process. */
void	log_set_prefix(const char *prefix);
int	log_get_level(void);

/*
 * From log_attach() to log_detach(), lines never block the loop: what
 * stderr does not take at once is queued (bounded; lines beyond it are
 * counted and the count logged later) and written when it is writable.
 * log_attach returns -1 and changes nothing when stderr is a regular
 * file or cannot be polled: writes then stay synchronous.  log_detach
 * writes out everything still queued, waiting while the reader takes
 * some (a reader that takes nothing for 5 s is given up on); call it
 * before the loop is freed.
 */
int	log_attach(struct event_base *base);
void	log_detach(void);

/*
 * Warnings and errors are rate-limited: the same message (numbers aside)
 * at most once a second, the repeats counted (logrl.h).  log_tick(),
 * called a few times a second, writes the counts that are due.
 */
void	log_tick(void);

void	log_msg(int level, const char *fmt, ...)
	    __attribute__((format(printf, 2, 3)));
void	log_vmsg(int level, const char *fmt, va_list ap)
	    __attribute__((format(printf, 2, 0)));

#define log_err(...)	log_msg(LOG_ERR, __VA_ARGS__)
#define log_warn(...)	log_msg(LOG_WARNING, __VA_ARGS__)
#define log_notice(...)	log_msg(LOG_NOTICE, __VA_ARGS__)
#define log_info(...)	log_msg(LOG_INFO, __VA_ARGS__)
#define log_debug(...)	log_msg(LOG_DEBUG, __VA_ARGS__)

/*
 * Access lines (access_log in wsd.conf).  log_access_set() chooses the
 * format (json: 1, text: 0) and the file (NULL: stderr, with the
 * daemon's own lines); it returns -1 with errno set and changes nothing
 * when the file cannot be opened.  log_access() writes one line (text
 * without its newline, or a JSON object with it): to the file always,
 * to stderr at log_level info.  log_access_reopen() (SIGUSR1) opens the
 * file again after a rotation.
 */
int	log_access_set(int json, const char *path);
int	log_access_json(void);
void	log_access(const char *text, size_t len);
void	log_access_reopen(void);
void	log_access_close(void);

/*
 * Copy src[0..len) into dst (size dstsz, NUL terminated) so that it is
 * safe to put in a log line: printable ASCII stays, '\\' and '"' are
 * escaped, everything else becomes \n, \r, \t or \xHH.  Stops early (and
 * ends with "...") when dst is full.  Returns the number of source bytes
 * that were represented.
 */
size_t	log_escape(char *dst, size_t dstsz, const void *src, size_t len);

#endif /* WSD_LOG_H */

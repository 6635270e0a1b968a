/*
 * log: see log.h.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "log.h"

static int	log_level = LOG_INFO;
static int	log_journal;	/* stderr is the journal: "<N>" prefixes */

static const char *const level_names[] = {
	"emerg", "alert", "crit", "error", "warning", "notice", "info", "debug"
};

void
log_init(void)
{
	const char *js = getenv("JOURNAL_STREAM");
	unsigned long long dev, ino;
	struct stat st;

	log_journal = 0;
	if (js != NULL && sscanf(js, "%llu:%llu", &dev, &ino) == 2 &&
	    fstat(STDERR_FILENO, &st) == 0 &&
	    (unsigned long long)st.st_dev == dev &&
	    (unsigned long long)st.st_ino == ino)
		log_journal = 1;
}

void
log_set_level(int level)
{
	log_level = level;
}

int
log_get_level(void)
{
	return log_level;
}

void
log_vmsg(int level, const char *fmt, va_list ap)
{
	char line[2048], stamp[40];
	struct timeval tv;
	struct tm tm;
	int n;

	if (level > log_level)
		return;
	if (level < 0)
		level = 0;
	if (level > LOG_DEBUG)
		level = LOG_DEBUG;

	n = vsnprintf(line, sizeof(line), fmt, ap);
	if (n < 0)
		return;
	if ((size_t)n >= sizeof(line))
		memcpy(line + sizeof(line) - 4, "...", 4);

	if (log_journal) {
		fprintf(stderr, "<%d>%s\n", level, line);
	} else {
		gettimeofday(&tv, NULL);
		gmtime_r(&tv.tv_sec, &tm);
		strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%S", &tm);
		fprintf(stderr, "%s.%03ldZ %s: %s\n", stamp,
		    (long)(tv.tv_usec / 1000), level_names[level], line);
	}
	fflush(stderr);
}

void
log_msg(int level, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vmsg(level, fmt, ap);
	va_end(ap);
}

size_t
log_escape(char *dst, size_t dstsz, const void *src, size_t len)
{
	static const char hex[] = "0123456789abcdef";
	const uint8_t *s = src;
	size_t i, o = 0;
	char tmp[4];
	size_t tl;

	if (dstsz == 0)
		return 0;
	for (i = 0; i < len; i++) {
		uint8_t ch = s[i];

		tl = 0;
		if (ch == '\\' || ch == '"') {
			tmp[tl++] = '\\';
			tmp[tl++] = (char)ch;
		} else if (ch >= 0x20 && ch < 0x7f) {
			tmp[tl++] = (char)ch;
		} else if (ch == '\n') {
			tmp[tl++] = '\\';
			tmp[tl++] = 'n';
		} else if (ch == '\r') {
			tmp[tl++] = '\\';
			tmp[tl++] = 'r';
		} else if (ch == '\t') {
			tmp[tl++] = '\\';
			tmp[tl++] = 't';
		} else {
			tmp[tl++] = '\\';
			tmp[tl++] = 'x';
			tmp[tl++] = hex[ch >> 4];
			tmp[tl++] = hex[ch & 15];
		}
		/* Keep room for "..." and the NUL. */
		if (o + tl + 4 > dstsz) {
			if (dstsz >= 4) {
				memcpy(dst + (o < dstsz - 4 ? o : dstsz - 4),
				    "...", 4);
			} else {
				dst[0] = '\0';
			}
			return i;
		}
		memcpy(dst + o, tmp, tl);
		o += tl;
	}
	dst[o] = '\0';
	return len;
}

/*
 * logrl: the rate limit on repeated warnings.  The same message (the
 * same level and the same text: two configuration errors that differ in
 * a line number are two messages) is let through at most once per
 * LOGRL_INTERVAL_MS; the repeats in between are counted, and the count
 * is handed back once the interval is over, so that the log says how
 * many were suppressed.  Pure: the caller brings the clock and writes
 * the lines.
 */
#ifndef WSD_LOGRL_H
#define WSD_LOGRL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define LOGRL_INTERVAL_MS	1000
#define LOGRL_SLOTS		64
/* How much of a suppressed message is kept to name it in the count. */
#define LOGRL_TEXT		160

struct logrl_slot {
	uint64_t	 key;		/* 0: free */
	uint64_t	 since_ms;	/* when the last one went through */
	uint64_t	 suppressed;	/* since then */
	int		 level;
	char		 text[LOGRL_TEXT];	/* the last suppressed one */
};

struct logrl {
	struct logrl_slot slot[LOGRL_SLOTS];
	uint64_t	 npending;	/* slots with suppressed > 0 */
};

/* The key of a message: a hash of its level and text. */
uint64_t	 logrl_key(int level, const char *msg);

/*
 * A message at now_ms: true if it is to be written, false if it is a
 * repeat within the interval (then counted).  A slot that must make
 * room for a new message gives up the oldest one, whose count, if any,
 * is lost only after logrl_due() had the chance to report it.
 */
bool		 logrl_admit(struct logrl *rl, int level, const char *msg,
		    uint64_t now_ms);

/*
 * Report suppressed counts whose interval is over: calls fn(arg, level,
 * count, text) for each and clears it.  A slot is due once now_ms is
 * LOGRL_INTERVAL_MS past when its message last went through; force
 * reports every count at once (at exit).  Returns how many counts are
 * still waiting.
 */
size_t		 logrl_due(struct logrl *rl, uint64_t now_ms, bool force,
		    void (*fn)(void *, int, uint64_t, const char *),
		    void *arg);

#endif /* WSD_LOGRL_H */

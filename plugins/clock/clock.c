/*
 * clock: push the current time to every client of the route.
 *
 * Ticks fall on multiples of interval_ms since the epoch, by the wall
 * clock, so every client of every wsd ticks together and the schedule
 * never drifts: each tick re-arms a one-shot timer for the next boundary
 * instead of repeating at a fixed period.  One broadcast per tick, so the
 * text is formatted once and the frame encoded once whatever the number
 * of clients; with no clients a tick formats nothing.
 *
 * Settings (all optional):
 *   interval_ms = 1000;    10 .. 86400000
 *   format = "%Y-%m-%d %H:%M:%S.%f";
 *                          strftime(3) plus %f (microseconds, 6 digits)
 *                          and %L (milliseconds, 3 digits); or "json" for
 *                          {"time": "<default format>", "epoch_ms": N}
 *   utc = false;           UTC instead of local time
 *   reply = false;         answer any message with the time (else ignored)
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>

#include <jansson.h>

#include <wsd/plugin.h>

#define DEFAULT_FORMAT	"%Y-%m-%d %H:%M:%S.%f"

struct clock {
	struct wsd_route	*route;
	struct wsd_timer	*timer;
	long long		 interval_ms;
	const char		*format;
	int			 json;
	int			 utc;
	int			 reply;
	unsigned long long	 ticks;
	unsigned long long	 due_ms;	/* the boundary armed for */
};

/*
 * Expand %f and %L, which strftime does not know, then let strftime do
 * the rest.  Returns the length written to out (0 on overflow).
 */
static size_t
format_time(const struct clock *k, const struct timeval *tv, const char *fmt,
    char *out, size_t outsz)
{
	char pattern[512], digits[24];
	struct tm tm;
	size_t o = 0;
	const char *p;

	for (p = fmt; *p != '\0' && o + 8 < sizeof(pattern); p++) {
		if (p[0] == '%' && (p[1] == 'f' || p[1] == 'L')) {
			if (p[1] == 'f')
				snprintf(digits, sizeof(digits), "%06ld",
				    (long)tv->tv_usec);
			else
				snprintf(digits, sizeof(digits), "%03ld",
				    (long)(tv->tv_usec / 1000));
			memcpy(pattern + o, digits, strlen(digits));
			o += strlen(digits);
			p++;
		} else if (p[0] == '%' && p[1] == '%') {
			pattern[o++] = *p++;
			pattern[o++] = *p;
		} else {
			pattern[o++] = *p;
		}
	}
	pattern[o] = '\0';
	if (k->utc)
		gmtime_r(&tv->tv_sec, &tm);
	else
		localtime_r(&tv->tv_sec, &tm);
	/* The pattern is the operator's, checked at init. */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
	return strftime(out, outsz, pattern, &tm);
#pragma GCC diagnostic pop
}

/* The message for time tv into buf; returns its length, 0 on failure. */
static size_t
render(const struct clock *k, const struct timeval *tv, char *buf,
    size_t bufsz)
{
	char when[256];
	json_t *obj;
	char *s;
	size_t n;

	if (!k->json)
		return format_time(k, tv, k->format, buf, bufsz);
	if (format_time(k, tv, DEFAULT_FORMAT, when, sizeof(when)) == 0)
		return 0;
	obj = json_pack("{s:s, s:I}", "time", when, "epoch_ms",
	    (json_int_t)tv->tv_sec * 1000 + tv->tv_usec / 1000);
	if (obj == NULL)
		return 0;
	s = json_dumps(obj, JSON_COMPACT);
	json_decref(obj);
	if (s == NULL)
		return 0;
	n = strlen(s);
	if (n >= bufsz)
		n = 0;
	else
		memcpy(buf, s, n + 1);
	free(s);
	return n;
}

/*
 * Milliseconds from now to the next tick, which is then k->due_ms.  From
 * a tick (on_tick) the next one is one interval after the boundary this
 * tick was armed for, so a tick that fires a little early (.998 s for
 * 1.000 s) or late (1.060 s, behind a busy loop) is still that boundary's
 * tick, and none is skipped.  Only a tick late by a whole interval or
 * more, or a wall clock that was set, starts again from the next
 * multiple of the interval after now.
 */
static uint64_t
until_next_tick(struct clock *k, int on_tick)
{
	unsigned long long now_ms, iv = (unsigned long long)k->interval_ms;
	unsigned long long next;
	struct timeval tv;

	gettimeofday(&tv, NULL);
	now_ms = (unsigned long long)tv.tv_sec * 1000 + tv.tv_usec / 1000;
	next = k->due_ms + iv;
	if (!on_tick || k->due_ms == 0 || next <= now_ms ||
	    next - now_ms > 2 * iv)
		next = now_ms / iv * iv + iv;
	k->due_ms = next;
	return next - now_ms;
}

static void
tick(struct wsd_route *r, void *arg)
{
	struct clock *k = arg;
	struct wsd_timer *next;
	struct timeval tv;
	char buf[512];
	size_t n;

	/*
	 * Re-arm first, for the next boundary after this one, then let the
	 * timer that fired go (it is freed when this returns), or every
	 * tick would keep one until fini.  Each timer also repeats once an
	 * interval: when there is no memory for the next one, the one that
	 * fired is kept and ticks again an interval later (off the
	 * boundary until a re-arm works), so that one failed allocation
	 * does not stop the clock.
	 */
	next = wsd_timer_add(r, until_next_tick(k, 1),
	    (uint64_t)k->interval_ms, tick, k);
	if (next != NULL) {
		wsd_timer_cancel(k->timer);
		k->timer = next;
	} else
		wsd_log(r, WSD_LOG_ERR, "cannot re-arm the clock timer: it "
		    "ticks again in %lld ms", k->interval_ms);
	if (wsd_clients(r) == 0)
		return;
	gettimeofday(&tv, NULL);
	if ((n = render(k, &tv, buf, sizeof(buf))) > 0) {
		wsd_broadcast(r, WSD_TEXT, buf, n);
		k->ticks++;
	}
}

static int
clock_init(const struct wsd_host *host, struct wsd_route *r, void **state)
{
	struct clock *k;
	struct timeval tv;
	char probe[512];
	long long interval;
	const char *format;
	int utc, reply;

	(void)host;
	if (wsd_setting_int(r, "interval_ms", 1000, &interval) == -1 ||
	    wsd_setting_string(r, "format", DEFAULT_FORMAT, &format) == -1 ||
	    wsd_setting_bool(r, "utc", 0, &utc) == -1 ||
	    wsd_setting_bool(r, "reply", 0, &reply) == -1)
		return -1;
	if (interval < 10 || interval > 86400000) {
		wsd_setting_error(r, "interval_ms",
		    "must be between 10 and 86400000");
		return -1;
	}
	if ((k = calloc(1, sizeof(*k))) == NULL)
		return -1;
	k->route = r;
	k->interval_ms = interval;
	k->format = format;
	k->json = strcmp(format, "json") == 0;
	k->utc = utc;
	k->reply = reply;
	gettimeofday(&tv, NULL);
	if (format[0] == '\0' || render(k, &tv, probe, sizeof(probe)) == 0) {
		wsd_setting_error(r, "format", "gives an empty or overlong "
		    "time (at most 511 bytes)");
		free(k);
		return -1;
	}
	k->timer = wsd_timer_add(r, until_next_tick(k, 0),
	    (uint64_t)k->interval_ms, tick, k);
	if (k->timer == NULL) {
		free(k);
		return -1;
	}
	*state = k;
	return 0;
}

static void
clock_fini(void *state)
{
	struct clock *k = state;

	/* wsd cancels the route's timers after fini. */
	wsd_log(k->route, WSD_LOG_INFO, "clock: %llu ticks sent", k->ticks);
	free(k);
}

static void
send_now(struct clock *k, struct wsd_conn *c)
{
	struct timeval tv;
	char buf[512];
	size_t n;

	gettimeofday(&tv, NULL);
	/* Dropped only when the client is closing: nothing to do then. */
	if ((n = render(k, &tv, buf, sizeof(buf))) > 0 &&
	    wsd_send(c, WSD_TEXT, buf, n) == WSD_SEND_DROPPED)
		wsd_log(k->route, WSD_LOG_DEBUG, "clock: conn %llu closing",
		    (unsigned long long)wsd_conn_id(c));
}

static void
clock_open(void *state, struct wsd_conn *c)
{
	send_now(state, c);
}

static void
clock_message(void *state, struct wsd_conn *c, int opcode, const void *data,
    size_t len)
{
	struct clock *k = state;

	(void)opcode;
	(void)data;
	(void)len;
	if (k->reply)
		send_now(k, c);
}

WSD_PLUGIN(
	.name = "clock",
	.version = "1.0",
	.init = clock_init,
	.fini = clock_fini,
	.open = clock_open,
	.message = clock_message,
);

/*
 * The kit's fake time of day: gettimeofday(), time() and clock_gettime()
 * answered from a kit's fake clock.  Defined in the test program, these
 * take the place of the C library's for the program and for every
 * plugin it loads (the dynamic linker looks in the program first), with
 * nothing to preload.  This file is an object of its own in the static
 * library, so only programs that call wsdt_fake_wall_clock() get it.
 * Without a kit they ask the kernel, as the C library would.
 */
#include <sys/syscall.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include <wsd/plugin-test.h>

#include "kit-priv.h"

/* Where the monotonic clocks start: any fixed value would do. */
#define MONOTONIC_BASE_MS	1000000ULL

void
wsdt_fake_wall_clock(struct wsdt *k, int64_t epoch_ms)
{
	wsdt_wall_epoch_ms_ = epoch_ms;
	wsdt_wall_kit_ = k;
}

static int
fake_ms(clockid_t id, int64_t *ms)
{
	if (wsdt_wall_kit_ == NULL)
		return -1;
	switch (id) {
	case CLOCK_REALTIME:
	case CLOCK_REALTIME_COARSE:
		*ms = wsdt_wall_epoch_ms_ + (int64_t)wsdt_now(wsdt_wall_kit_);
		return 0;
	case CLOCK_MONOTONIC:
	case CLOCK_MONOTONIC_RAW:
	case CLOCK_MONOTONIC_COARSE:
	case CLOCK_BOOTTIME:
		*ms = (int64_t)(MONOTONIC_BASE_MS + wsdt_now(wsdt_wall_kit_));
		return 0;
	default:
		return -1;
	}
}

int
clock_gettime(clockid_t id, struct timespec *ts)
{
	int64_t ms;

	if (fake_ms(id, &ms) == -1)
		return (int)syscall(SYS_clock_gettime, id, ts);
	ts->tv_sec = (time_t)(ms / 1000);
	ts->tv_nsec = (long)(ms % 1000) * 1000000L;
	if (ts->tv_nsec < 0) {
		ts->tv_sec--;
		ts->tv_nsec += 1000000000L;
	}
	return 0;
}

int
gettimeofday(struct timeval *restrict tv, void *restrict tz)
{
	struct timespec ts;

	if (wsdt_wall_kit_ == NULL)
		return (int)syscall(SYS_gettimeofday, tv, tz);
	clock_gettime(CLOCK_REALTIME, &ts);
	tv->tv_sec = ts.tv_sec;
	tv->tv_usec = ts.tv_nsec / 1000;
	return 0;
}

time_t
time(time_t *out)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	if (out != NULL)
		*out = ts.tv_sec;
	return ts.tv_sec;
}

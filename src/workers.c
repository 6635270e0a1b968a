/*
 * workers: see workers.h.
 */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "workers.h"

/* number -1: not a worker (wsd -t, the master, its checks). */
struct worker_self worker_self = { .number = -1 };

uint64_t
workers_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

uint64_t
workers_age_ms(uint64_t now, uint64_t then)
{
	return then < now ? now - then : 0;
}

size_t
workers_peer_name(char *buf, size_t size, int master_pid, uint32_t serial)
{
	int n;

	/* Abstract namespace: a leading NUL, no terminating one. */
	n = snprintf(buf, size, "%cwsd.%d.%u", '\0', master_pid,
	    (unsigned)serial);
	if (n < 0 || (size_t)n >= size)
		return 0;
	return (size_t)n;
}

uint64_t
workers_total_conns(const struct worker_shm *shm)
{
	uint32_t i, n = atomic_load(&shm->nslots);
	uint64_t total = 0;
	int st;

	for (i = 0; i < n && i < WORKERS_MAX; i++) {
		st = atomic_load(&shm->slot[i].state);
		if (st != SLOT_FREE)
			total += atomic_load(&shm->slot[i].nconns);
	}
	return total;
}

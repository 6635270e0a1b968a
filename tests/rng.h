/*
 * A small deterministic generator for the unit tests (splitmix64), so that
 * a failure on random input reproduces from its seed.
 */
#ifndef WSD_TESTS_RNG_H
#define WSD_TESTS_RNG_H

#include <stdint.h>

static uint64_t rng_state;

static inline void
rng_seed(uint64_t seed)
{
	rng_state = seed;
}

static inline uint64_t
rng_next(void)
{
	uint64_t z;

	rng_state += UINT64_C(0x9E3779B97F4A7C15);
	z = rng_state;
	z = (z ^ (z >> 30)) * UINT64_C(0xBF58476D1CE4E5B9);
	z = (z ^ (z >> 27)) * UINT64_C(0x94D049BB133111EB);
	return z ^ (z >> 31);
}

#endif

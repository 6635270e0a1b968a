/*
 * Unit tests for src/workers.c: what the master and the workers compute
 * from the shared slot table.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "workers.h"

/*
 * A worker that beats its heart after the master read its clock is
 * fresh, not 2^64 - 2 ms late: the master once killed a healthy worker
 * for that (a subtraction that wrapped).
 */
static void
test_age_of_a_heartbeat_after_now(void **state)
{
	(void)state;
	assert_int_equal(workers_age_ms(1000, 1002), 0);
	assert_int_equal(workers_age_ms(1000, 1000), 0);
	assert_int_equal(workers_age_ms(1000, 400), 600);
	assert_int_equal(workers_age_ms(UINT64_MAX, 0), UINT64_MAX);
}

static void
test_age_against_the_clock(void **state)
{
	uint64_t now = workers_now_ms();

	(void)state;
	assert_int_equal(workers_age_ms(now, workers_now_ms()), 0);
	assert_true(workers_age_ms(workers_now_ms(), now) < 1000);
}

static void
test_peer_name_is_abstract(void **state)
{
	char buf[64];
	size_t n;

	(void)state;
	n = workers_peer_name(buf, sizeof(buf), 1234, 7);
	assert_int_equal(n, strlen("?wsd.1234.7"));
	assert_int_equal(buf[0], '\0');
	assert_memory_equal(buf + 1, "wsd.1234.7", n - 1);
	assert_int_equal(workers_peer_name(buf, 4, 1234, 7), 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_age_of_a_heartbeat_after_now),
		cmocka_unit_test(test_age_against_the_clock),
		cmocka_unit_test(test_peer_name_is_abstract),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

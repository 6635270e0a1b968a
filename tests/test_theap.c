/*
 * Unit tests for theap.c: ordering, moving and removing deadlines, the
 * nodes' places kept right, and a long random run checked after every
 * step against a plain array.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "theap.h"
#include "rng.h"

#define NNODES	2000

/* Every node knows its place and no child is earlier than its parent. */
static void
check_heap(const struct theap *h)
{
	uint32_t i;

	assert_true(h->n <= h->cap);
	for (i = 0; i < h->n; i++) {
		assert_int_equal(h->v[i]->idx, i + 1);
		if (i > 0)
			assert_true(h->v[(i - 1) / 2]->when <= h->v[i]->when);
	}
}

static void
test_empty(void **state)
{
	struct theap h;
	struct theap_node nd;

	(void)state;
	theap_init(&h);
	assert_null(theap_top(&h));
	memset(&nd, 0, sizeof(nd));
	assert_false(theap_armed(&nd));
	theap_del(&h, &nd);	/* not in it: nothing happens */
	assert_int_equal(h.n, 0);
	theap_free(&h);
}

static void
test_order(void **state)
{
	static const uint64_t when[] = { 50, 10, 40, 30, 20, 10, 60 };
	static const uint64_t sorted[] = { 10, 10, 20, 30, 40, 50, 60 };
	struct theap_node nd[7];
	struct theap h;
	size_t i;

	(void)state;
	theap_init(&h);
	memset(nd, 0, sizeof(nd));
	for (i = 0; i < 7; i++) {
		assert_int_equal(theap_set(&h, &nd[i], when[i]), 0);
		assert_true(theap_armed(&nd[i]));
		check_heap(&h);
	}
	for (i = 0; i < 7; i++) {
		struct theap_node *t = theap_top(&h);

		assert_non_null(t);
		assert_int_equal(t->when, sorted[i]);
		theap_del(&h, t);
		assert_false(theap_armed(t));
		check_heap(&h);
	}
	assert_null(theap_top(&h));
	theap_free(&h);
}

static void
test_move_and_delete(void **state)
{
	struct theap_node a, b, c;
	struct theap h;

	(void)state;
	theap_init(&h);
	memset(&a, 0, sizeof(a));
	memset(&b, 0, sizeof(b));
	memset(&c, 0, sizeof(c));
	assert_int_equal(theap_set(&h, &a, 100), 0);
	assert_int_equal(theap_set(&h, &b, 200), 0);
	assert_int_equal(theap_set(&h, &c, 300), 0);
	assert_ptr_equal(theap_top(&h), &a);
	/* Setting a node that is in the heap moves it: no second entry. */
	assert_int_equal(theap_set(&h, &c, 50), 0);
	assert_int_equal(h.n, 3);
	assert_ptr_equal(theap_top(&h), &c);
	assert_int_equal(theap_set(&h, &c, 400), 0);
	assert_ptr_equal(theap_top(&h), &a);
	check_heap(&h);
	/* Out of the middle. */
	theap_del(&h, &b);
	assert_false(theap_armed(&b));
	assert_int_equal(h.n, 2);
	check_heap(&h);
	theap_del(&h, &b);
	assert_int_equal(h.n, 2);
	/* theap_free lets the nodes know they are out. */
	theap_free(&h);
	assert_false(theap_armed(&a));
	assert_false(theap_armed(&c));
	assert_null(theap_top(&h));
}

/* Random sets, moves and deletes, checked against the nodes themselves. */
static void
test_random(void **state)
{
	struct theap_node *nd;
	bool in[NNODES];
	struct theap h;
	uint32_t peak = 0;
	int step;

	(void)state;
	rng_seed(16);
	nd = calloc(NNODES, sizeof(*nd));
	assert_non_null(nd);
	memset(in, 0, sizeof(in));
	theap_init(&h);
	for (step = 0; step < 200000; step++) {
		size_t i = (size_t)(rng_next() % NNODES);
		uint64_t r = rng_next();
		uint64_t min = UINT64_MAX;
		uint32_t n = 0;
		size_t k;

		/* Grow for the first half, shrink in the second. */
		if (r % 3 != 0 && (step < 100000 || r % 5 == 0)) {
			assert_int_equal(theap_set(&h, &nd[i], r % 1000), 0);
			in[i] = true;
		} else {
			theap_del(&h, &nd[i]);
			in[i] = false;
		}
		if (step % 97 == 0 || step > 199000)
			check_heap(&h);
		for (k = 0; k < NNODES; k++) {
			assert_int_equal(theap_armed(&nd[k]), in[k]);
			if (in[k]) {
				n++;
				if (nd[k].when < min)
					min = nd[k].when;
			}
		}
		assert_int_equal(h.n, n);
		if (n > 0)
			assert_int_equal(theap_top(&h)->when, min);
		else
			assert_null(theap_top(&h));
		if (h.cap > peak)
			peak = h.cap;
	}
	/* Emptied, the array gave back what it no longer needed. */
	for (step = 0; step < NNODES; step++)
		theap_del(&h, &nd[step]);
	assert_int_equal(h.n, 0);
	assert_true(peak >= NNODES / 2);
	assert_true(h.cap <= 128);
	theap_free(&h);
	free(nd);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_empty),
		cmocka_unit_test(test_order),
		cmocka_unit_test(test_move_and_delete),
		cmocka_unit_test(test_random),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

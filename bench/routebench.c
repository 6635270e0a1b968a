/*
 * routebench: route lookups per second, for bench/run test 16.
 *
 * Builds route tables of N routes from wsd's own src/pattern.c (a mix of
 * exact paths, :name patterns and wildcards, as a real configuration
 * might hold) and looks up request paths in them: paths that hit an
 * exact route, a pattern, a wildcard, and paths that match nothing, in
 * a fixed shuffled order.  Each measurement runs a fixed number of
 * lookups (-c) or until -t seconds, whichever comes first; -r of them
 * per size, and the median with min..max is printed.  For scale, the
 * same lookups are also made by trying every pattern in precedence
 * order (a sorted list, no index): what the index saves.
 *
 * usage: routebench [-n N,N,...] [-r REPEATS] [-c LOOKUPS] [-t SECONDS]
 * One "RESULT key=value ..." line per table size, last on stdout.
 */
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "pattern.h"

#define NPATHS	4096		/* request paths, cycled through */
#define MAXR	32

struct table {
	struct pattern		*pats;
	const struct pattern	**pp;
	size_t			 n;
	struct pattern_index	 ix;
	size_t			*order;		/* linear: precedence order */
	char			**paths;	/* requests */
	size_t			 npaths;
};

static void
die(const char *what)
{
	fprintf(stderr, "routebench: %s\n", what);
	printf("RESULT error=1\n");
	exit(2);
}

static double
now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static char *xsprintf(const char *fmt, ...)
    __attribute__((format(printf, 1, 2)));

static char *
xsprintf(const char *fmt, ...)
{
	va_list ap;
	char *s;

	va_start(ap, fmt);
	if (vasprintf(&s, fmt, ap) == -1)
		die("out of memory");
	va_end(ap);
	return s;
}

static uint32_t rng = 2463534242u;

static uint32_t
next_rand(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 17;
	rng ^= rng << 5;
	return rng;
}

/*
 * Route i of a table: 40% exact, 30% one parameter, 15% two, 10% a
 * wildcard, 5% a parameter first.  Distinct shapes, so no route hides
 * another.
 */
static char *
route_path(size_t i)
{
	switch (i % 20) {
	case 0: case 1: case 2: case 3: case 4: case 5: case 6: case 7:
		return xsprintf("/api/v1/res%zu", i);
	case 8: case 9: case 10: case 11: case 12: case 13:
		return xsprintf("/api/v1/res%zu/:id", i);
	case 14: case 15: case 16:
		return xsprintf("/org%zu/:team/members/:user", i);
	case 17: case 18:
		return xsprintf("/static%zu/*", i);
	default:
		return xsprintf("/:lang/page%zu", i);
	}
}

/* A request path for route i (or, one in 8, for no route). */
static char *
request_path(size_t i, uint32_t r)
{
	if (r % 8 == 0)
		return xsprintf("/nothing/here/%u", r);
	switch (i % 20) {
	case 0: case 1: case 2: case 3: case 4: case 5: case 6: case 7:
		return xsprintf("/api/v1/res%zu", i);
	case 8: case 9: case 10: case 11: case 12: case 13:
		return xsprintf("/api/v1/res%zu/item%u", i, r % 1000);
	case 14: case 15: case 16:
		return xsprintf("/org%zu/team%u/members/user%%20%u", i,
		    r % 50, r % 1000);
	case 17: case 18:
		return xsprintf("/static%zu/css/site%u.css", i, r % 10);
	default:
		return xsprintf("/fr/page%zu", i);
	}
}

static const struct pattern *const *cmp_pats;

static int
order_cmp(const void *a, const void *b)
{
	size_t x = *(const size_t *)a, y = *(const size_t *)b;
	int c = pattern_cmp(cmp_pats[x], cmp_pats[y]);

	if (c != 0)
		return c;
	return (x > y) - (x < y);
}

static void
table_make(struct table *t, size_t n)
{
	char err[160], *p;
	size_t i;

	memset(t, 0, sizeof(*t));
	t->n = n;
	t->pats = calloc(n, sizeof(*t->pats));
	t->pp = calloc(n, sizeof(*t->pp));
	t->order = calloc(n, sizeof(*t->order));
	t->paths = calloc(NPATHS, sizeof(*t->paths));
	if (t->pats == NULL || t->pp == NULL || t->order == NULL ||
	    t->paths == NULL)
		die("out of memory");
	for (i = 0; i < n; i++) {
		p = route_path(i);
		if (pattern_compile(&t->pats[i], p, err, sizeof(err)) == -1)
			die(err);
		free(p);
		t->pp[i] = &t->pats[i];
		t->order[i] = i;
	}
	if (pattern_index_build(&t->ix, t->pp, n) == -1)
		die("out of memory");
	cmp_pats = t->pp;
	qsort(t->order, n, sizeof(*t->order), order_cmp);
	for (i = 0; i < NPATHS; i++) {
		uint32_t r = next_rand();

		t->paths[i] = request_path(next_rand() % n, r);
	}
	t->npaths = NPATHS;
}

static void
table_free(struct table *t)
{
	size_t i;

	pattern_index_free(&t->ix);
	for (i = 0; i < t->n; i++)
		pattern_free(&t->pats[i]);
	for (i = 0; i < t->npaths; i++)
		free(t->paths[i]);
	free(t->pats);
	free(t->pp);
	free(t->order);
	free(t->paths);
}

/* The rule without the index: every route in precedence order. */
static long
linear_find(const struct table *t, const char *path, size_t len)
{
	size_t i;

	for (i = 0; i < t->n; i++)
		if (pattern_match(t->pp[t->order[i]], path, len))
			return (long)t->order[i];
	return -1;
}

/* Lookups per second over at most count lookups or secs seconds. */
static double
measure(const struct table *t, bool linear, uint64_t count, double secs,
    long *sum)
{
	uint64_t done = 0;
	double t0 = now(), t1 = t0;
	size_t k = 0, lens[NPATHS], j;

	for (j = 0; j < t->npaths; j++)
		lens[j] = strlen(t->paths[j]);
	while (done < count) {
		for (j = 0; j < 1024; j++) {
			*sum += linear ? linear_find(t, t->paths[k], lens[k]) :
			    pattern_index_find(&t->ix, t->paths[k], lens[k]);
			if (++k == t->npaths)
				k = 0;
		}
		done += 1024;
		if ((t1 = now()) - t0 > secs)
			break;
	}
	return (double)done / (t1 - t0);
}

static int
dbl_cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

int
main(int argc, char **argv)
{
	const char *sizes = "10,500";
	double secs = 1.0, idx[MAXR], lin[MAXR];
	uint64_t count = 50000000;
	int repeats = 5, ch, i;
	long sum = 0, agree = 0;
	char *s, *tok, *save;

	while ((ch = getopt(argc, argv, "n:r:c:t:h")) != -1) {
		switch (ch) {
		case 'n':
			sizes = optarg;
			break;
		case 'r':
			repeats = atoi(optarg);
			break;
		case 'c':
			count = strtoull(optarg, NULL, 10);
			break;
		case 't':
			secs = atof(optarg);
			break;
		default:
			fprintf(stderr, "usage: routebench [-n N,N,...] "
			    "[-r REPEATS] [-c LOOKUPS] [-t SECONDS]\n");
			return ch == 'h' ? 0 : 2;
		}
	}
	if (repeats < 1 || repeats > MAXR || secs <= 0 || count == 0)
		die("bad -r, -t or -c");
	if ((s = strdup(sizes)) == NULL)
		die("out of memory");
	for (tok = strtok_r(s, ",", &save); tok != NULL;
	    tok = strtok_r(NULL, ",", &save)) {
		struct table t;
		size_t n = strtoul(tok, NULL, 10), j, hits = 0;

		if (n == 0)
			die("bad -n");
		table_make(&t, n);
		/* The index and the rule agree on every path. */
		for (j = 0; j < t.npaths; j++) {
			long a = pattern_index_find(&t.ix, t.paths[j],
			    strlen(t.paths[j]));

			if (a != linear_find(&t, t.paths[j],
			    strlen(t.paths[j])))
				die("the index and the linear scan disagree");
			hits += a != -1;
			agree++;
		}
		for (i = 0; i < repeats; i++) {
			idx[i] = measure(&t, false, count, secs, &sum);
			lin[i] = measure(&t, true, count / 10 + 1, secs / 2,
			    &sum);
		}
		qsort(idx, (size_t)repeats, sizeof(*idx), dbl_cmp);
		qsort(lin, (size_t)repeats, sizeof(*lin), dbl_cmp);
		printf("%zu routes (%zu of %d paths match): index %.2f M "
		    "lookups/s [%.2f..%.2f], linear scan %.2f M/s "
		    "[%.2f..%.2f]\n", n, hits, NPATHS,
		    idx[repeats / 2] / 1e6, idx[0] / 1e6,
		    idx[repeats - 1] / 1e6, lin[repeats / 2] / 1e6,
		    lin[0] / 1e6, lin[repeats - 1] / 1e6);
		printf("RESULT routes=%zu lookups_per_s=%.0f min=%.0f max=%.0f "
		    "linear_per_s=%.0f repeats=%d\n", n, idx[repeats / 2],
		    idx[0], idx[repeats - 1], lin[repeats / 2], repeats);
		table_free(&t);
	}
	free(s);
	/* Keeps the lookups from being optimised away. */
	fprintf(stderr, "routebench: %ld paths checked (sum %ld)\n", agree,
	    sum);
	return 0;
}

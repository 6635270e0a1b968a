/*
 * fuzz_route: route patterns and the lookup (src/pattern.c).
 *
 * The input is lines: every line but the last is a route path (compiled
 * as config_load() would: a bad one is left out), the last is a request
 * path, handed over as a heap block of exactly its length so that ASan
 * sees a read past its end.  Checked:
 *   - the index picks what the rule picks done the slow way (every
 *     pattern that matches, the least by pattern_cmp(), then by order);
 *   - the route it picks matches the path (pattern_match());
 *   - every parameter of that route has a value, which is what the
 *     promise in pattern.h says: decoded, no NUL or other control byte,
 *     within PATTERN_VALUE_MAX (PATTERN_REST_MAX for '*'), no '/' in a
 *     :name, and no "." or ".." (for '*', no such part between '/');
 *   - pattern_cmp() is antisymmetric and 0 for patterns pattern_same()
 *     calls the same, and pattern_same() is symmetric.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "http.h"
#include "pattern.h"

#include "fuzz_common.h"

#define MAX_ROUTES	64

static int
sign(int x)
{
	return (x > 0) - (x < 0);
}

static bool
dot_part(const char *s, size_t len)
{
	return (len == 1 && s[0] == '.') ||
	    (len == 2 && s[0] == '.' && s[1] == '.');
}

static void
check_value(const char *v, bool rest)
{
	size_t i, len = strlen(v), start = 0;

	FUZZ_CHECK(len <= (rest ? PATTERN_REST_MAX : PATTERN_VALUE_MAX));
	for (i = 0; i < len; i++)
		FUZZ_CHECK((unsigned char)v[i] >= 0x20 &&
		    (unsigned char)v[i] != 0x7f);
	if (!rest) {
		FUZZ_CHECK(len > 0);
		FUZZ_CHECK(strchr(v, '/') == NULL);
		FUZZ_CHECK(!dot_part(v, len));
		return;
	}
	for (i = 0; i <= len; i++)
		if (i == len || v[i] == '/') {
			FUZZ_CHECK(!dot_part(v + start, i - start));
			start = i + 1;
		}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct pattern pats[MAX_ROUTES];
	const struct pattern *pp[MAX_ROUTES];
	struct pattern_index ix;
	const char *p = (const char *)data, *end = p + size, *nl;
	char err[160], *line, *path, *v, name[PATTERN_NAME_MAX + 1];
	size_t n = 0, i, j, plen;
	long got, want = -1;

	/* Route lines, up to the last newline. */
	while ((nl = memchr(p, '\n', (size_t)(end - p))) != NULL) {
		if (n < MAX_ROUTES && nl > p && p[0] == '/') {
			line = fuzz_strndup(p, (size_t)(nl - p));
			/* A route path holds no NUL (libconfig strings). */
			if (strlen(line) == (size_t)(nl - p)) {
				memset(err, 'x', sizeof(err));
				if (pattern_compile(&pats[n], line, err,
				    sizeof(err)) == 0) {
					pp[n] = &pats[n];
					n++;
				} else
					FUZZ_CHECK(memchr(err, '\0',
					    sizeof(err)) != NULL);
			}
			free(line);
		}
		p = nl + 1;
	}
	plen = (size_t)(end - p);
	path = fuzz_dup(p, plen);

	for (i = 0; i < n; i++)
		for (j = 0; j < n; j++) {
			FUZZ_CHECK(sign(pattern_cmp(pp[i], pp[j])) ==
			    -sign(pattern_cmp(pp[j], pp[i])));
			FUZZ_CHECK(pattern_same(pp[i], pp[j]) ==
			    pattern_same(pp[j], pp[i]));
			if (pattern_same(pp[i], pp[j]))
				FUZZ_CHECK(pattern_cmp(pp[i], pp[j]) == 0);
		}

	if (pattern_index_build(&ix, pp, n) != 0)
		abort();
	got = pattern_index_find(&ix, path, plen);
	for (i = 0; i < n; i++)
		if (pattern_match(pp[i], path, plen) && (want == -1 ||
		    pattern_cmp(pp[i], pp[want]) < 0))
			want = (long)i;
	if (got != want)
		FUZZ_FAIL("index picked %ld, the rule %ld", got, want);

	if (got >= 0 && !pattern_is_exact(pp[got])) {
		const struct pattern *m = pp[got];

		for (i = 0; i < m->nsegs; i++) {
			const struct pattern_seg *sg = &m->segs[i];

			if (sg->kind == PSEG_LITERAL)
				continue;
			if (sg->kind == PSEG_REST)
				strcpy(name, "*");
			else {
				memcpy(name, sg->text, sg->len);
				name[sg->len] = '\0';
			}
			v = pattern_value(m, path, plen, name);
			FUZZ_CHECK(v != NULL);
			check_value(v, sg->kind == PSEG_REST);
			free(v);
		}
		FUZZ_CHECK(pattern_value(m, path, plen, "no-such") == NULL);
	}

	pattern_index_free(&ix);
	for (i = 0; i < n; i++)
		pattern_free(&pats[i]);
	free(path);
	return 0;
}

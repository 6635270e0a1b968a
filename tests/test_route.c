/*
 * Unit tests for route.c and pattern.c: lookup by exact path and by
 * pattern (syntax, precedence, hostile segments, parameter values), and
 * the typed settings accessors, with libconfig parsing a string (no
 * files).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "pattern.h"
#include "route.h"

static struct wsd_route_conf *
confs(const char *const *paths, size_t n)
{
	struct wsd_route_conf *rc = calloc(n, sizeof(*rc));
	size_t i;

	assert_non_null(rc);
	for (i = 0; i < n; i++)
		rc[i].path = (char *)paths[i];
	return rc;
}

/* A table over fresh instances of cfg's routes (route_new()). */
static int
table_init(struct route_table *t, const struct wsd_config *cfg)
{
	struct route **rs = calloc(cfg->nroutes + 1, sizeof(*rs));
	size_t i;
	int r;

	assert_non_null(rs);
	for (i = 0; i < cfg->nroutes; i++) {
		if ((rs[i] = route_new(&cfg->routes[i], "test.conf")) == NULL) {
			while (i-- > 0)
				route_free(rs[i]);
			free(rs);
			memset(t, 0, sizeof(*t));
			return -1;
		}
	}
	r = route_table_init(t, rs, cfg->nroutes);
	if (r == -1)
		for (i = 0; i < cfg->nroutes; i++)
			route_free(rs[i]);
	free(rs);
	return r;
}

static void
table_free(struct route_table *t)
{
	size_t i;

	for (i = 0; i < t->n; i++)
		route_free(t->routes[i]);
	route_table_free(t);
}

static void
test_find(void **state)
{
	static const char *const paths[] = { "/echo", "/clock", "/", "/e",
	    "/echo/deeper" };
	struct wsd_config cfg;
	struct route_table t;
	size_t i;

	(void)state;
	memset(&cfg, 0, sizeof(cfg));
	cfg.routes = confs(paths, 5);
	cfg.nroutes = 5;
	assert_int_equal(table_init(&t, &cfg), 0);
	for (i = 0; i < 5; i++) {
		struct route *r = route_find(&t, paths[i], strlen(paths[i]));

		assert_non_null(r);
		assert_string_equal(r->path, paths[i]);
		assert_true(TAILQ_EMPTY(&r->conns));
	}
	/* Exact match only: prefixes and longer paths do not match. */
	assert_null(route_find(&t, "/ech", 4));
	assert_null(route_find(&t, "/echoes", 7));
	assert_null(route_find(&t, "/ECHO", 5));
	assert_null(route_find(&t, "", 0));
	/* The length given counts, not a NUL. */
	assert_non_null(route_find(&t, "/echo?x", 5));
	table_free(&t);
	free(cfg.routes);
}


/* ------------------------------------------------------------ patterns */

static void
compile_ok(struct pattern *p, const char *path)
{
	char err[160];

	err[0] = '\0';
	if (pattern_compile(p, path, err, sizeof(err)) != 0)
		fail_msg("%s: %s", path, err);
}

/* Compiling path fails with a message containing want. */
static void
compile_fails(const char *path, const char *want)
{
	struct pattern p;
	char err[160];

	err[0] = '\0';
	if (pattern_compile(&p, path, err, sizeof(err)) != -1)
		fail_msg("%s compiled", path);
	if (strstr(err, want) == NULL)
		fail_msg("%s: \"%s\" lacks \"%s\"", path, err, want);
	assert_null(p.src);
	assert_null(p.segs);
}

static void
test_pattern_compile(void **state)
{
	struct pattern p;

	(void)state;
	compile_ok(&p, "/echo");
	assert_true(pattern_is_exact(&p));
	assert_null(p.segs);
	pattern_free(&p);
	/* Exact paths keep today's freedom: ':' inside, empty segments. */
	compile_ok(&p, "/a:b//c/");
	assert_true(pattern_is_exact(&p));
	pattern_free(&p);
	compile_ok(&p, "/");
	assert_true(pattern_is_exact(&p));
	pattern_free(&p);

	compile_ok(&p, "/rooms/:room");
	assert_false(pattern_is_exact(&p));
	assert_int_equal(p.nsegs, 2);
	assert_int_equal(p.nparams, 1);
	assert_false(p.rest);
	assert_int_equal(p.prefix_len, strlen("/rooms/"));
	assert_int_equal(p.nprefix, 1);
	assert_int_equal(p.segs[0].kind, PSEG_LITERAL);
	assert_int_equal(p.segs[1].kind, PSEG_PARAM);
	assert_int_equal(p.segs[1].len, 4);
	assert_memory_equal(p.segs[1].text, "room", 4);
	pattern_free(&p);

	compile_ok(&p, "/files/:user/*");
	assert_true(p.rest);
	assert_int_equal(p.nparams, 1);
	assert_int_equal(p.nsegs, 3);
	assert_int_equal(p.segs[2].kind, PSEG_REST);
	pattern_free(&p);

	compile_ok(&p, "/*");
	assert_true(p.rest);
	assert_int_equal(p.prefix_len, 1);
	assert_int_equal(p.nprefix, 0);
	pattern_free(&p);

	compile_ok(&p, "/:_a9/x/:B_");
	assert_int_equal(p.nparams, 2);
	pattern_free(&p);
}

static void
test_pattern_compile_errors(void **state)
{
	char many[256], name[80];
	int i;

	(void)state;
	compile_fails("rooms/:room", "must start with '/'");
	compile_fails("/rooms/:", "bad parameter name ':'");
	compile_fails("/rooms/:1st", "bad parameter name ':1st'");
	compile_fails("/rooms/:a-b", "bad parameter name ':a-b'");
	compile_fails("/rooms/:a.b", "bad parameter name");
	compile_fails("/r/:x/s/:x", "parameter ':x' appears twice");
	compile_fails("/files*", "'*' must be the whole last segment");
	compile_fails("/files/*/more", "'*' must be the whole last segment");
	compile_fails("/files/**", "'*' must be the whole last segment");
	compile_fails("/files/a*", "'*' must be the whole last segment");
	compile_fails("/a//:x", "empty segment");
	compile_fails("/:x/", "empty segment");
	compile_fails("//*", "empty segment");

	strcpy(many, "");
	for (i = 0; i <= PATTERN_PARAMS_MAX; i++)
		snprintf(many + strlen(many), sizeof(many) - strlen(many),
		    "/:p%d", i);
	compile_fails(many, "more than 16 parameters");

	memset(name, 'n', sizeof(name));
	name[0] = '/';
	name[1] = ':';
	name[2 + PATTERN_NAME_MAX + 1] = '\0';
	compile_fails(name, "parameter name longer than 64 bytes");
	name[2 + PATTERN_NAME_MAX] = '\0';
	{
		struct pattern p;

		compile_ok(&p, name);
		pattern_free(&p);
	}
}

/* p matches path, and parameter name's value is want (NULL: none). */
static void
assert_value(const char *pat, const char *path, const char *name,
    const char *want)
{
	struct pattern p;
	char *v;

	compile_ok(&p, pat);
	if (!pattern_match(&p, path, strlen(path)))
		fail_msg("%s does not match %s", pat, path);
	v = pattern_value(&p, path, strlen(path), name);
	if (want == NULL)
		assert_null(v);
	else {
		if (v == NULL)
			fail_msg("%s on %s: no value for %s", pat, path, name);
		assert_string_equal(v, want);
	}
	free(v);
	pattern_free(&p);
}

static bool
matches(const char *pat, const char *path)
{
	struct pattern p;
	bool m;

	compile_ok(&p, pat);
	m = pattern_match(&p, path, strlen(path));
	pattern_free(&p);
	return m;
}

static void
test_pattern_match(void **state)
{
	(void)state;
	assert_value("/rooms/:room", "/rooms/blue", "room", "blue");
	assert_value("/rooms/:room", "/rooms/blue%20sky", "room", "blue sky");
	assert_value("/rooms/:room", "/rooms/%C3%A9t%c3%a9", "room",
	    "\xc3\xa9t\xc3\xa9");
	/* '+' is a plus in a path, not a space. */
	assert_value("/rooms/:room", "/rooms/a+b", "room", "a+b");
	assert_value("/rooms/:room", "/rooms/...", "room", "...");
	assert_value("/rooms/:room", "/rooms/.x", "room", ".x");
	assert_value("/rooms/:room", "/rooms/blue", "nope", NULL);
	assert_value("/rooms/:room", "/rooms/blue", "*", NULL);
	assert_value("/rooms/:room", "/rooms/blue", "", NULL);
	assert_value("/a/:x/b/:y", "/a/1/b/2", "x", "1");
	assert_value("/a/:x/b/:y", "/a/1/b/2", "y", "2");
	assert_value("/:x", "/%41", "x", "A");
	assert_value("/files/*", "/files/", "*", "");
	assert_value("/files/*", "/files/a/b%20c/d", "*", "a/b c/d");
	assert_value("/files/*", "/files/a%2Fb", "*", "a/b");
	assert_value("/files/*", "/files/a//b/", "*", "a//b/");
	assert_value("/files/:user/*", "/files/bo/x/y", "user", "bo");
	assert_value("/files/:user/*", "/files/bo/x/y", "*", "x/y");
	assert_value("/*", "/", "*", "");
	assert_value("/echo", "/echo", "*", NULL);

	assert_false(matches("/rooms/:room", "/rooms/"));
	assert_false(matches("/rooms/:room", "/rooms"));
	assert_false(matches("/rooms/:room", "/rooms/a/"));
	assert_false(matches("/rooms/:room", "/rooms/a/b"));
	assert_false(matches("/rooms/:room", "/Rooms/a"));
	assert_false(matches("/rooms/:room", "/room/a"));
	assert_false(matches("/rooms/:room", ""));
	assert_false(matches("/rooms/:room", "rooms/a"));
	/* Literal segments match the raw bytes, as exact paths do. */
	assert_false(matches("/rooms/:room", "/r%6Foms/a"));
	assert_false(matches("/files/*", "/files"));
	assert_false(matches("/files/*", "/filesx/a"));
	assert_false(matches("/files/:u/*", "/files/bo"));
	assert_true(matches("/files/:u/*", "/files/bo/"));
	assert_true(matches("/echo", "/echo"));
	assert_false(matches("/echo", "/echo/"));
}

/* Segments that must never reach a plugin as a parameter. */
static void
test_pattern_hostile(void **state)
{
	static const char *const bad_param[] = {
		"/rooms/a%2Fb", "/rooms/a%2fb", "/rooms/%2F",
		"/rooms/.", "/rooms/..", "/rooms/%2e", "/rooms/%2E%2e",
		"/rooms/.%2E",
		"/rooms/a%00b", "/rooms/%00", "/rooms/a%0Ab", "/rooms/%0d",
		"/rooms/%1f", "/rooms/%7F", "/rooms/a\tb",
		"/rooms/%zz", "/rooms/%4", "/rooms/%", "/rooms/a%g1",
	};
	static const char *const bad_rest[] = {
		"/files/..", "/files/.", "/files/a/..", "/files/../a",
		"/files/a/../b", "/files/a/./b", "/files/a/%2e%2e/b",
		"/files/a%2F..%2Fb", "/files/a%2f%2E", "/files/%00",
		"/files/a/b%00", "/files/%0a", "/files/%", "/files/%2",
	};
	char path[8 * 1024], want[PATTERN_VALUE_MAX + 1];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(bad_param) / sizeof(*bad_param); i++)
		if (matches("/rooms/:room", bad_param[i]))
			fail_msg("/rooms/:room matched %s", bad_param[i]);
	for (i = 0; i < sizeof(bad_rest) / sizeof(*bad_rest); i++)
		if (matches("/files/*", bad_rest[i]))
			fail_msg("/files/* matched %s", bad_rest[i]);
	/* "..." and "a..b" are names like any other. */
	assert_true(matches("/files/*", "/files/.../a..b/.x"));

	/* At most PATTERN_VALUE_MAX decoded bytes, however they come. */
	strcpy(path, "/rooms/");
	memset(path + 7, 'a', PATTERN_VALUE_MAX);
	path[7 + PATTERN_VALUE_MAX] = '\0';
	assert_true(matches("/rooms/:room", path));
	strcat(path, "a");
	assert_false(matches("/rooms/:room", path));
	strcpy(path, "/rooms/");
	for (i = 0; i < PATTERN_VALUE_MAX; i++)
		strcat(path, "%41");
	memset(want, 'A', PATTERN_VALUE_MAX);
	want[PATTERN_VALUE_MAX] = '\0';
	assert_value("/rooms/:room", path, "room", want);
	strcat(path, "%41");
	assert_false(matches("/rooms/:room", path));

	/* The rest: PATTERN_REST_MAX, '/' included. */
	strcpy(path, "/files/");
	for (i = 0; i < PATTERN_REST_MAX / 2; i++)
		strcat(path, "b/");
	assert_true(matches("/files/*", path));
	strcat(path, "b");
	assert_false(matches("/files/*", path));
}

/* An index of paths[0..n), compiled into pats (freed by index_done). */
static void
index_of(struct pattern_index *ix, struct pattern *pats,
    const struct pattern **pp, const char *const *paths, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		compile_ok(&pats[i], paths[i]);
		pp[i] = &pats[i];
	}
	assert_int_equal(pattern_index_build(ix, pp, n), 0);
}

static void
index_done(struct pattern_index *ix, struct pattern *pats, size_t n)
{
	size_t i;

	pattern_index_free(ix);
	for (i = 0; i < n; i++)
		pattern_free(&pats[i]);
}

/* The route the index picks for path: its path, or NULL. */
static const char *
pick(const struct pattern_index *ix, const char *path)
{
	long i = pattern_index_find(ix, path, strlen(path));

	return i < 0 ? NULL : ix->pats[i]->src;
}

/*
 * What pattern.h's rule says, the slow way: of every pattern that
 * matches, the least by pattern_cmp(), then by order.
 */
static long
pick_slow(const struct pattern_index *ix, const char *path, size_t len)
{
	long best = -1;
	size_t i;

	for (i = 0; i < ix->n; i++) {
		if (!pattern_match(ix->pats[i], path, len))
			continue;
		if (best == -1 || pattern_cmp(ix->pats[i], ix->pats[best]) < 0)
			best = (long)i;
	}
	return best;
}

static const char *const prec_paths[] = {
	"/rooms/:room/log", "/*", "/rooms/*", "/:a/:b", "/rooms/:room",
	"/a/:x/:y/:z", "/a/:x/:y/c", "/a/:x/b/:y", "/rooms/lobby",
	"/w/:x/*", "/w/*", "/w/:x/:y", "/echo", "/rooms/lobby/:x",
};
#define NPREC	(sizeof(prec_paths) / sizeof(*prec_paths))

static const struct {
	const char *path, *route;
} prec_cases[] = {
	/* 1: exact first. */
	{ "/rooms/lobby", "/rooms/lobby" },
	{ "/echo", "/echo" },
	/* 2: the longest literal prefix ("/rooms/" over "/"). */
	{ "/rooms/blue", "/rooms/:room" },
	{ "/rooms/blue/log", "/rooms/:room/log" },
	{ "/rooms/lobby/log", "/rooms/lobby/:x" },
	{ "/rooms/blue/x", "/rooms/*" },
	{ "/rooms/", "/rooms/*" },
	{ "/x/y", "/:a/:b" },
	{ "/x", "/*" },
	{ "/", "/*" },
	{ "/echo/", "/*" },		/* :b takes no empty segment */
	/* 3: no '*' before '*'; 4: more segments before the '*'. */
	{ "/w/1/2", "/w/:x/:y" },
	{ "/w/1/2/3", "/w/:x/*" },
	{ "/w/1/", "/w/:x/*" },
	{ "/w/1", "/w/*" },
	/* 5: fewer parameters; 6: a literal further left. */
	{ "/a/1/b/c", "/a/:x/b/:y" },
	{ "/a/1/z/c", "/a/:x/:y/c" },
	{ "/a/1/z/q", "/a/:x/:y/:z" },
	/* A refused segment makes its pattern not match: the next one. */
	{ "/rooms/a%2Fb", "/rooms/*" },
	{ "/rooms/..", NULL },
	{ "/rooms/%2e%2e", NULL },
	{ "/rooms/a%00", NULL },
	{ "/x/..", NULL },
	{ "/%2e%2e/x", NULL },
	/* Not a path wsd routes. */
	{ "", NULL },
	{ "*", NULL },
};

static void
check_prec(const struct pattern_index *ix)
{
	size_t i;

	for (i = 0; i < sizeof(prec_cases) / sizeof(*prec_cases); i++) {
		const char *got = pick(ix, prec_cases[i].path);
		const char *want = prec_cases[i].route;

		if (want == NULL ? got != NULL : got == NULL ||
		    strcmp(got, want) != 0)
			fail_msg("%s: got %s, want %s", prec_cases[i].path,
			    got ? got : "none", want ? want : "none");
		assert_int_equal(pattern_index_find(ix, prec_cases[i].path,
		    strlen(prec_cases[i].path)), pick_slow(ix,
		    prec_cases[i].path, strlen(prec_cases[i].path)));
	}
}

static void
test_precedence(void **state)
{
	struct pattern pats[NPREC];
	const struct pattern *pp[NPREC];
	const char *order[NPREC];
	struct pattern_index ix;
	unsigned seed = 12345;
	size_t i, j, round;

	(void)state;
	index_of(&ix, pats, pp, prec_paths, NPREC);
	check_prec(&ix);
	index_done(&ix, pats, NPREC);

	/* No pair in the set ties: any order gives the same answers. */
	memcpy(order, prec_paths, sizeof(order));
	for (round = 0; round < 20; round++) {
		for (i = NPREC - 1; i > 0; i--) {
			const char *t;

			seed = seed * 1103515245 + 12345;
			j = (seed >> 16) % (i + 1);
			t = order[i];
			order[i] = order[j];
			order[j] = t;
		}
		index_of(&ix, pats, pp, order, NPREC);
		check_prec(&ix);
		index_done(&ix, pats, NPREC);
	}
}

static void
test_ties(void **state)
{
	static const char *const paths[] = { "/t/:x", "/t/:y", "/u/*",
	    "/u/:a/*", "/t/v", "/t/v" };
	struct pattern pats[6];
	const struct pattern *pp[6];
	struct pattern_index ix;

	(void)state;
	index_of(&ix, pats, pp, paths, 6);
	/* The same shape: the first given wins, the other never does. */
	assert_true(pattern_same(&pats[0], &pats[1]));
	assert_int_equal(pattern_cmp(&pats[0], &pats[1]), 0);
	assert_int_equal(pattern_index_find(&ix, "/t/1", 4), 0);
	/* Duplicated exact paths: the first too. */
	assert_true(pattern_same(&pats[4], &pats[5]));
	assert_int_equal(pattern_index_find(&ix, "/t/v", 4), 4);
	/* Different shapes, each with paths of its own. */
	assert_false(pattern_same(&pats[2], &pats[3]));
	assert_false(pattern_same(&pats[0], &pats[4]));
	assert_false(pattern_same(&pats[0], &pats[2]));
	assert_int_equal(pattern_index_find(&ix, "/u/1", 4), 2);
	assert_int_equal(pattern_index_find(&ix, "/u/1/", 5), 3);
	index_done(&ix, pats, 6);

	/* pattern_same() ignores names, not literals or places. */
	{
		static const char *const pairs[][2] = {
			{ "/a/:x/b", "/a/:y/b" },
			{ "/:p/*", "/:q/*" },
		};
		static const char *const differ[][2] = {
			{ "/a/:x/b", "/a/:x/c" },
			{ "/a/:x/b", "/a/b/:x" },
			{ "/a/:x", "/a/:x/:y" },
			{ "/a/:x", "/a/*" },
			{ "/a/:x/*", "/a/*" },
			{ "/a/:x", "/b/:x" },
		};
		struct pattern a, b;
		size_t i;

		for (i = 0; i < 2; i++) {
			compile_ok(&a, pairs[i][0]);
			compile_ok(&b, pairs[i][1]);
			assert_true(pattern_same(&a, &b));
			pattern_free(&a);
			pattern_free(&b);
		}
		for (i = 0; i < 6; i++) {
			compile_ok(&a, differ[i][0]);
			compile_ok(&b, differ[i][1]);
			assert_false(pattern_same(&a, &b));
			assert_false(pattern_same(&b, &a));
			pattern_free(&a);
			pattern_free(&b);
		}
	}
}

/*
 * The trie against the slow rule, on many routes and paths made from
 * the same few segments (so that many patterns overlap).
 */
static void
test_index_vs_slow(void **state)
{
	static const char *const segs[] = { "a", "b", "c", ":x", ":y", "*",
	    "%2F", "..", "a%20b", "" };
	enum { NPAT = 300, NPATH = 4000 };
	struct pattern *pats;
	const struct pattern **pp;
	struct pattern_index ix;
	char buf[128], err[160];
	unsigned seed = 99;
	size_t i, n = 0, k, nseg, npat = 0, nnone = 0;
	long found;

	(void)state;
	pats = calloc(NPAT, sizeof(*pats));
	pp = calloc(NPAT, sizeof(*pp));
	assert_non_null(pats);
	assert_non_null(pp);
	while (n < NPAT) {
		seed = seed * 1103515245 + 12345;
		nseg = 1 + (seed >> 16) % 5;
		buf[0] = '\0';
		for (k = 0; k < nseg; k++) {
			seed = seed * 1103515245 + 12345;
			strcat(buf, "/");
			strcat(buf, segs[(seed >> 16) % 6]);
			if (buf[strlen(buf) - 1] == 'x' ||
			    buf[strlen(buf) - 1] == 'y')
				snprintf(buf + strlen(buf), 8, "%zu", k);
		}
		if (pattern_compile(&pats[n], buf, err, sizeof(err)) == 0) {
			pp[n] = &pats[n];
			n++;
		}
	}
	assert_int_equal(pattern_index_build(&ix, pp, n), 0);
	for (i = 0; i < NPATH; i++) {
		seed = seed * 1103515245 + 12345;
		nseg = 1 + (seed >> 16) % 6;
		buf[0] = '\0';
		for (k = 0; k < nseg; k++) {
			seed = seed * 1103515245 + 12345;
			strcat(buf, "/");
			/* ":x" and "*" are plain text in a request's path. */
			strcat(buf, segs[(seed >> 16) % 10]);
		}
		found = pattern_index_find(&ix, buf, strlen(buf));
		if (found != pick_slow(&ix, buf, strlen(buf)))
			fail_msg("%s: index %ld, slow %ld", buf, found,
			    pick_slow(&ix, buf, strlen(buf)));
		if (found == -1)
			nnone++;
		else if (!pattern_is_exact(pp[found]))
			npat++;
	}
	/* The mix is worth the name: patterns won, and nothing did. */
	print_message("%zu paths: %zu to a pattern, %zu to none\n",
	    (size_t)NPATH, npat, nnone);
	assert_true(npat > NPATH / 5);
	assert_true(nnone > NPATH / 20);
	index_done(&ix, pats, n);
	free(pats);
	free(pp);
}

/* route_find() over a configuration's routes, patterns included. */
static void
test_find_patterns(void **state)
{
	static const char *const paths[] = { "/rooms/:room", "/echo",
	    "/files/*" };
	struct wsd_config cfg;
	struct route_table t;
	struct route *r;
	char *v;

	(void)state;
	memset(&cfg, 0, sizeof(cfg));
	cfg.routes = confs(paths, 3);
	cfg.nroutes = 3;
	assert_int_equal(table_init(&t, &cfg), 0);
	/* The table keeps the configuration's order. */
	assert_string_equal(t.routes[0]->path, "/rooms/:room");
	assert_ptr_equal(route_find(&t, "/echo", 5), t.routes[1]);
	r = route_find(&t, "/rooms/x%20y", 12);
	assert_ptr_equal(r, t.routes[0]);
	v = pattern_value(&r->pat, "/rooms/x%20y", 12, "room");
	assert_string_equal(v, "x y");
	free(v);
	assert_ptr_equal(route_find(&t, "/files/a/b", 10), t.routes[2]);
	assert_null(route_find(&t, "/rooms/:room/", 13));
	/* A request for the pattern's own text is just a value. */
	assert_ptr_equal(route_find(&t, "/rooms/:room", 12), t.routes[0]);
	assert_null(route_find(&t, "/files", 6));
	table_free(&t);
	free(cfg.routes);

	/* A path that is not a valid pattern fails the table. */
	{
		static const char *const bad[] = { "/ok", "/x/:" };

		cfg.routes = confs(bad, 2);
		cfg.nroutes = 2;
		assert_int_equal(table_init(&t, &cfg), -1);
		assert_null(t.routes);
		assert_int_equal(t.n, 0);
		free(cfg.routes);
	}
}

static void
test_empty(void **state)
{
	struct wsd_config cfg;
	struct route_table t;

	(void)state;
	memset(&cfg, 0, sizeof(cfg));
	assert_int_equal(table_init(&t, &cfg), 0);
	assert_null(route_find(&t, "/", 1));
	table_free(&t);
}

static const char settings_text[] =
    "settings = {\n"			/* line 1 */
    "  name = \"clock\";\n"		/* line 2 */
    "  count = 7;\n"			/* line 3 */
    "  big = 10000000000L;\n"		/* line 4 */
    "  on = true;\n"			/* line 5 */
    "  wrong = \"x\";\n"		/* line 6 */
    "  typo = 1;\n"			/* line 7 */
    "};\n";

static void
test_settings(void **state)
{
	struct wsd_route_conf rc;
	struct wsd_errors errs = { NULL, 0 };
	struct route r;
	config_t cf;
	const char *s;
	long long n;
	int b;

	(void)state;
	config_init(&cf);
	assert_int_equal(config_read_string(&cf, settings_text), CONFIG_TRUE);
	memset(&rc, 0, sizeof(rc));
	rc.path = "/t";
	rc.plugin = "p";
	rc.settings = config_lookup(&cf, "settings");
	memset(&r, 0, sizeof(r));
	r.conf = &rc;
	r.path = rc.path;
	r.errs = &errs;

	assert_int_equal(route_setting_string(&r, "name", "d", &s), 0);
	assert_string_equal(s, "clock");
	assert_int_equal(route_setting_string(&r, "absent", "dflt", &s), 0);
	assert_string_equal(s, "dflt");
	assert_int_equal(route_setting_int(&r, "count", 1, &n), 0);
	assert_int_equal(n, 7);
	assert_int_equal(route_setting_int(&r, "big", 1, &n), 0);
	assert_true(n == 10000000000LL);
	assert_int_equal(route_setting_int(&r, "missing", -5, &n), 0);
	assert_int_equal(n, -5);
	assert_int_equal(route_setting_bool(&r, "on", 0, &b), 0);
	assert_int_equal(b, 1);
	assert_int_equal(errs.n, 0);

	/* A wrong type is an error naming the line, and the default stays. */
	assert_int_equal(route_setting_int(&r, "wrong", 3, &n), -1);
	assert_int_equal(n, 3);
	assert_int_equal(errs.n, 1);
	assert_non_null(strstr(errs.msg[0], ":6: route /t: setting 'wrong' "
	    "must be an integer"));
	assert_int_equal(route_setting_bool(&r, "count", 0, &b), -1);
	assert_non_null(strstr(errs.msg[1], ":3:"));

	/* "typo" was never asked for: reported as unknown, with its line. */
	assert_int_equal(route_settings_check_unknown(&r), 1);
	assert_int_equal(errs.n, 3);
	assert_non_null(strstr(errs.msg[2], ":7: route /t: unknown setting "
	    "'typo' for plugin p"));

	route_setting_error(&r, "count", "must be odd");
	assert_non_null(strstr(errs.msg[3], ":3: route /t: setting 'count': "
	    "must be odd"));

	route_settings_done(&r);
	errors_clear(&errs);
	config_destroy(&cf);
}

static void
test_settings_absent_group(void **state)
{
	struct wsd_route_conf rc;
	struct wsd_errors errs = { NULL, 0 };
	struct route r;
	long long n;

	(void)state;
	memset(&rc, 0, sizeof(rc));
	rc.path = "/t";
	memset(&r, 0, sizeof(r));
	r.conf = &rc;
	r.path = rc.path;
	r.errs = &errs;
	assert_int_equal(route_setting_int(&r, "x", 9, &n), 0);
	assert_int_equal(n, 9);
	assert_int_equal(route_settings_check_unknown(&r), 0);
	assert_int_equal(errs.n, 0);
	route_settings_done(&r);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_find),
		cmocka_unit_test(test_empty),
		cmocka_unit_test(test_pattern_compile),
		cmocka_unit_test(test_pattern_compile_errors),
		cmocka_unit_test(test_pattern_match),
		cmocka_unit_test(test_pattern_hostile),
		cmocka_unit_test(test_precedence),
		cmocka_unit_test(test_ties),
		cmocka_unit_test(test_index_vs_slow),
		cmocka_unit_test(test_find_patterns),
		cmocka_unit_test(test_settings),
		cmocka_unit_test(test_settings_absent_group),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

/*
 * pattern: see pattern.h.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http.h"
#include "pattern.h"

/* A trie node: one literal segment of some patterns' literal prefix. */
struct pattern_kid {
	const char	*seg;
	size_t		 len;
	size_t		 node;
};

struct pattern_ref {
	const struct pattern	*p;
	size_t			 idx;
};

struct pattern_node {
	size_t			 parent;
	struct pattern_kid	*kids;		/* sorted by segment */
	size_t			 nkids;
	struct pattern_ref	*pats;		/* in precedence order */
	size_t			 npats;
};

/* An exact path, for the binary search. */
struct pattern_exact {
	const char	*path;
	size_t		 len;
	size_t		 idx;
};

static void
set_err(char *err, size_t size, const char *fmt, ...)
{
	va_list ap;

	if (err == NULL || size == 0)
		return;
	va_start(ap, fmt);
	vsnprintf(err, size, fmt, ap);
	va_end(ap);
}

/* Bytes compared as memcmp does, a shorter string first on a tie. */
static int
seg_cmp(const char *a, size_t al, const char *b, size_t bl)
{
	int c = memcmp(a, b, al < bl ? al : bl);

	if (c != 0)
		return c;
	return (al > bl) - (al < bl);
}

static bool
name_ok(const char *s, size_t len)
{
	size_t i;

	if (len == 0 || (s[0] >= '0' && s[0] <= '9'))
		return false;
	for (i = 0; i < len; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') ||
		    (s[i] >= 'A' && s[i] <= 'Z') ||
		    (s[i] >= '0' && s[i] <= '9') || s[i] == '_'))
			return false;
	return true;
}

int
pattern_compile(struct pattern *p, const char *path, char *err,
    size_t errsize)
{
	size_t len, i, j, n, start, end, nvars = 0;
	bool pattern = false;
	const char *s, *e;

	memset(p, 0, sizeof(*p));
	if (path[0] != '/') {
		set_err(err, errsize, "must start with '/'");
		errno = EINVAL;
		return -1;
	}
	len = strlen(path);
	if ((p->src = strdup(path)) == NULL) {
		set_err(err, errsize, "out of memory");
		errno = ENOMEM;
		return -1;
	}
	p->src_len = len;

	/* A segment that starts with ':' or holds a '*' makes a pattern. */
	for (n = 0, start = 1; start <= len; start = end + 1, n++) {
		s = p->src + start;
		e = memchr(s, '/', len - start);
		end = e != NULL ? (size_t)(e - p->src) : len;
		if ((end > start && s[0] == ':') ||
		    memchr(s, '*', end - start) != NULL)
			pattern = true;
	}
	if (!pattern)
		return 0;

	if ((p->segs = calloc(n, sizeof(*p->segs))) == NULL) {
		set_err(err, errsize, "out of memory");
		errno = ENOMEM;
		goto fail;
	}
	p->nsegs = n;
	errno = EINVAL;
	for (i = 0, start = 1; i < n; start = end + 1, i++) {
		struct pattern_seg *sg = &p->segs[i];

		s = p->src + start;
		e = memchr(s, '/', len - start);
		end = e != NULL ? (size_t)(e - p->src) : len;
		sg->text = s;
		sg->len = end - start;
		if (sg->len == 0) {
			set_err(err, errsize, "empty segment (\"//\" or a "
			    "'/' at the end) in a pattern");
			goto fail;
		}
		if (memchr(s, '*', sg->len) != NULL) {
			if (sg->len != 1 || i + 1 != n) {
				set_err(err, errsize, "'*' must be the whole "
				    "last segment");
				goto fail;
			}
			sg->kind = PSEG_REST;
			p->rest = true;
		} else if (s[0] == ':') {
			sg->text++;
			sg->len--;
			if (!name_ok(sg->text, sg->len)) {
				set_err(err, errsize, "bad parameter name "
				    "':%.*s': use letters, digits and '_', "
				    "not a digit first", (int)sg->len,
				    sg->text);
				goto fail;
			}
			if (sg->len > PATTERN_NAME_MAX) {
				set_err(err, errsize, "parameter name longer "
				    "than %d bytes", PATTERN_NAME_MAX);
				goto fail;
			}
			for (j = 0; j < i; j++)
				if (p->segs[j].kind == PSEG_PARAM &&
				    p->segs[j].len == sg->len &&
				    memcmp(p->segs[j].text, sg->text,
				    sg->len) == 0) {
					set_err(err, errsize, "parameter "
					    "':%.*s' appears twice",
					    (int)sg->len, sg->text);
					goto fail;
				}
			sg->kind = PSEG_PARAM;
			p->nparams++;
		} else
			sg->kind = PSEG_LITERAL;
		if (sg->kind != PSEG_LITERAL) {
			if (++nvars > PATTERN_PARAMS_MAX) {
				set_err(err, errsize, "more than %d "
				    "parameters", PATTERN_PARAMS_MAX);
				goto fail;
			}
			if (nvars == 1) {
				p->prefix_len = start;
				p->nprefix = i;
			}
		}
	}
	return 0;

fail:
	pattern_free(p);
	return -1;
}

void
pattern_free(struct pattern *p)
{
	free(p->segs);
	free(p->src);
	memset(p, 0, sizeof(*p));
}

int
pattern_cmp(const struct pattern *a, const struct pattern *b)
{
	size_t i, n;
	bool ae = pattern_is_exact(a), be = pattern_is_exact(b);

	if (ae || be)
		return ae && be ? 0 : ae ? -1 : 1;
	if (a->prefix_len != b->prefix_len)
		return a->prefix_len > b->prefix_len ? -1 : 1;
	if (a->rest != b->rest)
		return a->rest ? 1 : -1;
	if (a->rest && a->nsegs != b->nsegs)
		return a->nsegs > b->nsegs ? -1 : 1;
	if (a->nparams != b->nparams)
		return a->nparams < b->nparams ? -1 : 1;
	n = a->nsegs < b->nsegs ? a->nsegs : b->nsegs;
	for (i = 0; i < n; i++) {
		bool al = a->segs[i].kind == PSEG_LITERAL;
		bool bl = b->segs[i].kind == PSEG_LITERAL;

		if (al != bl)
			return al ? -1 : 1;
	}
	return 0;
}

bool
pattern_same(const struct pattern *a, const struct pattern *b)
{
	size_t i;

	if (pattern_is_exact(a) || pattern_is_exact(b))
		return pattern_is_exact(a) && pattern_is_exact(b) &&
		    a->src_len == b->src_len &&
		    memcmp(a->src, b->src, a->src_len) == 0;
	if (a->nsegs != b->nsegs || a->rest != b->rest)
		return false;
	for (i = 0; i < a->nsegs; i++) {
		const struct pattern_seg *x = &a->segs[i], *y = &b->segs[i];

		if (x->kind != y->kind)
			return false;
		if (x->kind == PSEG_LITERAL && (x->len != y->len ||
		    memcmp(x->text, y->text, x->len) != 0))
			return false;
	}
	return true;
}

/*
 * Whether raw s[0..len) decodes to a value we hand on: well-formed
 * escapes, no control byte, at most max bytes, no '/' unless rest, and
 * no part (between '/') that is "." or "..".
 */
static bool
value_ok(const char *s, size_t len, bool rest, size_t max)
{
	const unsigned char *u = (const unsigned char *)s;
	size_t i, out = 0, part = 0;
	bool dots = true;
	int hi, lo;
	unsigned c;

	for (i = 0; i < len; i++) {
		c = u[i];
		if (c == '%') {
			if (len - i < 3 || (hi = http_hex_value(u[i + 1])) < 0 ||
			    (lo = http_hex_value(u[i + 2])) < 0)
				return false;
			c = (unsigned)(hi << 4 | lo);
			i += 2;
		}
		if (c < 0x20 || c == 0x7f || ++out > max)
			return false;
		if (c == '/') {
			if (!rest || (part > 0 && part <= 2 && dots))
				return false;
			part = 0;
			dots = true;
			continue;
		}
		if (c != '.')
			dots = false;
		part++;
	}
	return !(part > 0 && part <= 2 && dots);
}

/*
 * Match p's segments from segs[i] on, path[pos] being the '/' before
 * the segment that segs[i] must match.
 */
static bool
match_from(const struct pattern *p, const char *path, size_t len, size_t i,
    size_t pos)
{
	const struct pattern_seg *sg;
	size_t start, end;
	const char *e;

	for (; i < p->nsegs; i++) {
		sg = &p->segs[i];
		start = pos + 1;
		if (sg->kind == PSEG_REST)
			return value_ok(path + start, len - start, true,
			    PATTERN_REST_MAX);
		e = memchr(path + start, '/', len - start);
		/* The last segment ends the path; the others do not. */
		if ((e == NULL) != (i + 1 == p->nsegs))
			return false;
		end = e != NULL ? (size_t)(e - path) : len;
		if (sg->kind == PSEG_LITERAL) {
			if (end - start != sg->len ||
			    memcmp(path + start, sg->text, sg->len) != 0)
				return false;
		} else if (end == start || !value_ok(path + start,
		    end - start, false, PATTERN_VALUE_MAX))
			return false;
		pos = end;
	}
	return true;
}

bool
pattern_match(const struct pattern *p, const char *path, size_t len)
{
	if (pattern_is_exact(p))
		return len == p->src_len && memcmp(path, p->src, len) == 0;
	if (len == 0 || path[0] != '/')
		return false;
	return match_from(p, path, len, 0, 0);
}

char *
pattern_value(const struct pattern *p, const char *path, size_t len,
    const char *name)
{
	size_t i, j, nl, pos, start, end;
	const char *e;
	char *v;

	if (name == NULL || pattern_is_exact(p))
		return NULL;
	nl = strlen(name);
	for (i = 0; i < p->nsegs; i++) {
		const struct pattern_seg *sg = &p->segs[i];

		if (sg->kind == PSEG_REST ? strcmp(name, "*") == 0 :
		    sg->kind == PSEG_PARAM && sg->len == nl &&
		    memcmp(sg->text, name, nl) == 0)
			break;
	}
	if (i == p->nsegs || len == 0 || path[0] != '/')
		return NULL;
	/* Segment i starts after the path's (i + 1)-th '/'. */
	for (pos = 0, j = 0; j < i; j++) {
		if ((e = memchr(path + pos + 1, '/', len - pos - 1)) == NULL)
			return NULL;
		pos = (size_t)(e - path);
	}
	start = pos + 1;
	end = len;
	if (p->segs[i].kind != PSEG_REST &&
	    (e = memchr(path + start, '/', len - start)) != NULL)
		end = (size_t)(e - path);
	if ((v = malloc(end - start + 1)) == NULL)
		return NULL;
	if (http_percent_decode(path + start, end - start, v, false) < 0) {
		free(v);
		return NULL;
	}
	return v;
}

/* ------------------------------------------------------------ index */

static int
exact_cmp(const void *a, const void *b)
{
	const struct pattern_exact *x = a, *y = b;
	int c = seg_cmp(x->path, x->len, y->path, y->len);

	if (c != 0)
		return c;
	return (x->idx > y->idx) - (x->idx < y->idx);
}

static int
kid_cmp(const void *a, const void *b)
{
	const struct pattern_kid *x = a, *y = b;

	return seg_cmp(x->seg, x->len, y->seg, y->len);
}

static int
ref_cmp(const void *a, const void *b)
{
	const struct pattern_ref *x = a, *y = b;
	int c = pattern_cmp(x->p, y->p);

	if (c != 0)
		return c;
	return (x->idx > y->idx) - (x->idx < y->idx);
}

/* The index of node's kid for seg, made if it is not there; -1: ENOMEM. */
static long
kid_for(struct pattern_index *ix, size_t node, const char *seg, size_t len)
{
	struct pattern_node *nd = &ix->nodes[node], *nn;
	struct pattern_kid *k;
	size_t i;

	for (i = 0; i < nd->nkids; i++)
		if (nd->kids[i].len == len &&
		    memcmp(nd->kids[i].seg, seg, len) == 0)
			return (long)nd->kids[i].node;
	k = realloc(nd->kids, (nd->nkids + 1) * sizeof(*k));
	if (k == NULL)
		return -1;
	nd->kids = k;
	nn = realloc(ix->nodes, (ix->nnodes + 1) * sizeof(*nn));
	if (nn == NULL)
		return -1;
	ix->nodes = nn;
	nd = &ix->nodes[node];
	memset(&nn[ix->nnodes], 0, sizeof(*nn));
	nn[ix->nnodes].parent = node;
	nd->kids[nd->nkids].seg = seg;
	nd->kids[nd->nkids].len = len;
	nd->kids[nd->nkids].node = ix->nnodes;
	nd->nkids++;
	return (long)ix->nnodes++;
}

int
pattern_index_build(struct pattern_index *ix,
    const struct pattern *const *pats, size_t n)
{
	struct pattern_node *nd;
	struct pattern_ref *r;
	size_t i, d, node;
	long k;

	memset(ix, 0, sizeof(*ix));
	ix->pats = pats;
	ix->n = n;
	for (i = 0; i < n; i++) {
		const struct pattern *p = pats[i];

		if (pattern_is_exact(p)) {
			struct pattern_exact *x = realloc(ix->exact,
			    (ix->nexact + 1) * sizeof(*x));

			if (x == NULL)
				goto fail;
			ix->exact = x;
			x[ix->nexact].path = p->src;
			x[ix->nexact].len = p->src_len;
			x[ix->nexact].idx = i;
			ix->nexact++;
			continue;
		}
		if (ix->nnodes == 0) {
			if ((ix->nodes = calloc(1, sizeof(*ix->nodes))) == NULL)
				goto fail;
			ix->nnodes = 1;
		}
		for (node = 0, d = 0; d < p->nprefix; d++) {
			k = kid_for(ix, node, p->segs[d].text, p->segs[d].len);
			if (k == -1)
				goto fail;
			node = (size_t)k;
		}
		nd = &ix->nodes[node];
		if ((r = realloc(nd->pats, (nd->npats + 1) * sizeof(*r))) ==
		    NULL)
			goto fail;
		nd->pats = r;
		r[nd->npats].p = p;
		r[nd->npats].idx = i;
		nd->npats++;
	}
	if (ix->nexact > 1)
		qsort(ix->exact, ix->nexact, sizeof(*ix->exact), exact_cmp);
	for (i = 0; i < ix->nnodes; i++) {
		nd = &ix->nodes[i];
		if (nd->nkids > 1)
			qsort(nd->kids, nd->nkids, sizeof(*nd->kids), kid_cmp);
		if (nd->npats > 1)
			qsort(nd->pats, nd->npats, sizeof(*nd->pats), ref_cmp);
	}
	return 0;

fail:
	pattern_index_free(ix);
	errno = ENOMEM;
	return -1;
}

void
pattern_index_free(struct pattern_index *ix)
{
	size_t i;

	for (i = 0; i < ix->nnodes; i++) {
		free(ix->nodes[i].kids);
		free(ix->nodes[i].pats);
	}
	free(ix->nodes);
	free(ix->exact);
	memset(ix, 0, sizeof(*ix));
}

static long
find_exact(const struct pattern_index *ix, const char *path, size_t len)
{
	const struct pattern_exact *x = ix->exact;
	size_t lo = 0, hi = ix->nexact;

	/* The first of equal paths: a duplicate never wins. */
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (seg_cmp(x[mid].path, x[mid].len, path, len) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo < ix->nexact && x[lo].len == len &&
	    memcmp(x[lo].path, path, len) == 0)
		return (long)x[lo].idx;
	return -1;
}

static long
find_kid(const struct pattern_node *nd, const char *seg, size_t len)
{
	size_t lo = 0, hi = nd->nkids;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = seg_cmp(nd->kids[mid].seg, nd->kids[mid].len, seg,
		    len);

		if (c == 0)
			return (long)nd->kids[mid].node;
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return -1;
}

long
pattern_index_find(const struct pattern_index *ix, const char *path,
    size_t len)
{
	const struct pattern_node *nd;
	size_t node = 0, pos = 0, nslash = 0, i, start;
	const char *e;
	long k;

	if ((k = find_exact(ix, path, len)) != -1)
		return k;
	if (ix->nnodes == 0 || len == 0 || path[0] != '/')
		return -1;
	for (i = 0; i < len; i++)
		nslash += path[i] == '/';

	/* Down the trie along the path's segments that end in '/'... */
	for (;;) {
		start = pos + 1;
		e = memchr(path + start, '/', len - start);
		if (e == NULL || (k = find_kid(&ix->nodes[node], path + start,
		    (size_t)(e - path) - start)) == -1)
			break;
		node = (size_t)k;
		pos = (size_t)(e - path);
	}
	/* ...then back up: the longest literal prefix first. */
	for (;;) {
		nd = &ix->nodes[node];
		for (i = 0; i < nd->npats; i++) {
			const struct pattern *p = nd->pats[i].p;

			if (p->rest ? nslash < p->nsegs : nslash != p->nsegs)
				continue;
			if (match_from(p, path, len, p->nprefix,
			    p->prefix_len - 1))
				return (long)nd->pats[i].idx;
		}
		if (node == 0)
			break;
		node = nd->parent;
	}
	return -1;
}

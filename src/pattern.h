/*
 * pattern: route paths with parameters, and the index that finds the
 * route of a request path.  No I/O, no allocation while matching.
 *
 * A route path is split on '/'.  Each segment is
 *	literal		"rooms": matches the same bytes, as the client sent
 *			them (still percent-encoded);
 *	:name		one non-empty segment, its value percent-decoded;
 *	*		only as the whole last segment: the rest of the path,
 *			possibly empty, possibly holding '/', decoded.
 * A path with neither is exact, and matches only itself, byte for byte.
 * Names are [A-Za-z_][A-Za-z0-9_]*, unique in a pattern; a pattern has
 * no empty segment ("//", or a '/' at its end).
 *
 * Matching runs on the raw path, so "%2F" never splits a segment.  A
 * value that would be unsafe to hand on makes its pattern not match
 * (the lookup goes on with the next one): a malformed escape, a NUL or
 * other control byte (below 0x20, or 0x7f), a '/' in a :name value, a
 * value (or for '*', any '/'-separated part of it) that is "." or "..",
 * or one longer than PATTERN_VALUE_MAX (PATTERN_REST_MAX for '*') once
 * decoded.
 *
 * Precedence, when several routes match a path:
 *  1. an exact path;
 *  2. the pattern with the longest literal prefix (the text before its
 *     first parameter or '*': "/rooms/" in "/rooms/:room/log");
 *  3. a pattern without '*' before one with it;
 *  4. of two with '*', the one with more segments before it;
 *  5. fewer parameters;
 *  6. going from the left, the first to have a literal segment where the
 *     other has a parameter;
 *  7. the one given first (pattern_index_build's order).
 * Patterns that rules 1-6 cannot order have the same shape: literal
 * segments equal and in the same places, parameters in the same places
 * under any names.  They match exactly the same paths, so the later one
 * never gets a request: pattern_same() tells, and `wsd -t` reports it.
 */
#ifndef WSD_PATTERN_H
#define WSD_PATTERN_H

#include <stdbool.h>
#include <stddef.h>

#define PATTERN_PARAMS_MAX	16	/* :name segments and '*', per pattern */
#define PATTERN_NAME_MAX	64	/* bytes of a parameter's name */
#define PATTERN_VALUE_MAX	1024	/* decoded bytes of a :name value */
#define PATTERN_REST_MAX	4096	/* decoded bytes of a '*' value */

enum pattern_seg_kind {
	PSEG_LITERAL,
	PSEG_PARAM,
	PSEG_REST,
};

struct pattern_seg {
	enum pattern_seg_kind	 kind;
	const char		*text;	/* literal bytes, or the name; in src */
	size_t			 len;
};

struct pattern {
	char			*src;		/* our copy of the path */
	size_t			 src_len;
	struct pattern_seg	*segs;		/* NULL for an exact path */
	size_t			 nsegs;
	size_t			 prefix_len;	/* "/rooms/": up to the first param */
	size_t			 nprefix;	/* literal segments in it */
	size_t			 nparams;	/* :name segments */
	bool			 rest;		/* ends in '*' */
};

/*
 * Compile path into *p.  Returns 0 (p->segs is NULL for an exact path),
 * or -1 with a message in err: a bad or repeated name, a '*' that is not
 * the whole last segment, an empty segment, too many parameters, or no
 * memory (errno ENOMEM then, EINVAL otherwise).  A path must start with
 * '/'.
 */
int	pattern_compile(struct pattern *p, const char *path, char *err,
	    size_t errsize);
void	pattern_free(struct pattern *p);

static inline bool
pattern_is_exact(const struct pattern *p)
{
	return p->nparams == 0 && !p->rest;
}

/* Precedence: < 0 when a wins over b (rules 1-6 above), 0 for a tie. */
int	pattern_cmp(const struct pattern *a, const struct pattern *b);

/* a and b match exactly the same paths (rules 1-6 cannot order them). */
bool	pattern_same(const struct pattern *a, const struct pattern *b);

/* Whether p matches path[0..len), the raw request path. */
bool	pattern_match(const struct pattern *p, const char *path, size_t len);

/*
 * The decoded value of parameter name ("*" for the rest) in path, which
 * p must match: a malloc'd string, or NULL when p has no such parameter
 * (or on ENOMEM).
 */
char	*pattern_value(const struct pattern *p, const char *path, size_t len,
	    const char *name);

/*
 * The index of a set of routes' patterns: exact paths sorted for a
 * binary search, the other patterns in a trie of their literal prefixes,
 * each node's patterns in precedence order.  A lookup walks the path's
 * segments down the trie, then tries the nodes deepest first: a few
 * comparisons per segment, whatever the number of routes.
 */
struct pattern_node;
struct pattern_exact;

struct pattern_index {
	const struct pattern *const *pats;	/* the caller's, kept */
	size_t			 n;
	struct pattern_exact	*exact;		/* sorted by path */
	size_t			 nexact;
	struct pattern_node	*nodes;		/* [0] is the root */
	size_t			 nnodes;
};

/*
 * Build the index of pats[0..n) (compiled; they must outlive it, and
 * their order breaks ties).  Returns 0, or -1 on ENOMEM.
 */
int	pattern_index_build(struct pattern_index *ix,
	    const struct pattern *const *pats, size_t n);
void	pattern_index_free(struct pattern_index *ix);

/* The index in pats of the route for path[0..len), or -1 for none. */
long	pattern_index_find(const struct pattern_index *ix, const char *path,
	    size_t len);

#endif /* WSD_PATTERN_H */

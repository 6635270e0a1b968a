/*
 * route: see route.h.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "metrics.h"
#include "route.h"

struct route *
route_new(const struct wsd_route_conf *rc, const char *file)
{
	struct route *r;
	char err[128];

	if ((r = calloc(1, sizeof(*r))) == NULL)
		return NULL;
	r->conf = rc;
	r->path = rc->path;
	r->path_len = strlen(r->path);
	/* The process's registry: shared by the instances of one path. */
	r->metrics = metrics_route(r->path);
	r->file = file;
	TAILQ_INIT(&r->conns);
	TAILQ_INIT(&r->timers);
	LIST_INIT(&r->watches);
	if (pattern_compile(&r->pat, r->path, err, sizeof(err)) == -1) {
		free(r);
		errno = EINVAL;
		return NULL;
	}
	return r;
}

void
route_free(struct route *r)
{
	size_t j;

	if (r == NULL)
		return;
	route_settings_done(r);
	for (j = 0; j < r->nallocs; j++)
		free(r->allocs[j]);
	free(r->allocs);
	pattern_free(&r->pat);
	free(r);
}

int
route_table_init(struct route_table *t, struct route *const *routes,
    size_t n)
{
	size_t i;
	int e;

	memset(t, 0, sizeof(*t));
	if (n == 0)
		return 0;
	t->routes = calloc(n, sizeof(*t->routes));
	t->pats = calloc(n, sizeof(*t->pats));
	if (t->routes == NULL || t->pats == NULL)
		goto fail;
	for (i = 0; i < n; i++) {
		t->routes[i] = routes[i];
		t->pats[i] = &routes[i]->pat;
	}
	t->n = n;
	/* The configuration's order breaks ties between patterns. */
	if (pattern_index_build(&t->ix, t->pats, t->n) == -1)
		goto fail;
	return 0;

fail:
	e = errno;
	route_table_free(t);
	errno = e;
	return -1;
}

void
route_table_free(struct route_table *t)
{
	pattern_index_free(&t->ix);
	free(t->routes);
	free(t->pats);
	memset(t, 0, sizeof(*t));
}

long
route_find_index(const struct route_table *t, const char *path, size_t len)
{
	return pattern_index_find(&t->ix, path, len);
}

struct route *
route_find(const struct route_table *t, const char *path, size_t len)
{
	long i = route_find_index(t, path, len);

	return i >= 0 ? t->routes[i] : NULL;
}

/* Note that init asked for key, so it is not reported as unknown. */
static void
mark_seen(struct route *r, const char *key)
{
	char **n, *k;
	size_t i;

	for (i = 0; i < r->nseen; i++)
		if (strcmp(r->seen[i], key) == 0)
			return;
	/* On ENOMEM the key is at worst reported as unknown. */
	if ((k = strdup(key)) == NULL)
		return;
	n = realloc(r->seen, (r->nseen + 1) * sizeof(*n));
	if (n == NULL) {
		free(k);
		return;
	}
	r->seen = n;
	r->seen[r->nseen++] = k;
}

/* The setting, or NULL when absent.  Records that key was asked for. */
static const config_setting_t *
lookup(struct route *r, const char *key)
{
	mark_seen(r, key);
	if (r->conf == NULL || r->conf->settings == NULL)
		return NULL;
	return config_setting_get_member(r->conf->settings, key);
}

static void
type_error(struct route *r, const config_setting_t *s, const char *key,
    const char *what)
{
	if (r->errs != NULL)
		errors_add(r->errs, "%s:%d: route %s: setting '%s' must be %s",
		    config_setting_source_file(s) ? config_setting_source_file(s)
		    : "?", config_setting_source_line(s), r->path, key, what);
}

int
route_setting_string(struct route *r, const char *key, const char *def,
    const char **out)
{
	const config_setting_t *s = lookup(r, key);

	*out = def;
	if (s == NULL)
		return 0;
	if (config_setting_type(s) != CONFIG_TYPE_STRING) {
		type_error(r, s, key, "a string");
		return -1;
	}
	*out = config_setting_get_string(s);
	return 0;
}

int
route_setting_int(struct route *r, const char *key, long long def,
    long long *out)
{
	const config_setting_t *s = lookup(r, key);

	*out = def;
	if (s == NULL)
		return 0;
	switch (config_setting_type(s)) {
	case CONFIG_TYPE_INT:
	case CONFIG_TYPE_INT64:
		*out = config_setting_get_int64(s);
		return 0;
	default:
		type_error(r, s, key, "an integer");
		return -1;
	}
}

int
route_setting_bool(struct route *r, const char *key, int def, int *out)
{
	const config_setting_t *s = lookup(r, key);

	*out = def;
	if (s == NULL)
		return 0;
	if (config_setting_type(s) != CONFIG_TYPE_BOOL) {
		type_error(r, s, key, "true or false");
		return -1;
	}
	*out = config_setting_get_bool(s) ? 1 : 0;
	return 0;
}

int
route_setting_float(struct route *r, const char *key, double def,
    double *out)
{
	const config_setting_t *s = lookup(r, key);

	*out = def;
	if (s == NULL)
		return 0;
	switch (config_setting_type(s)) {
	case CONFIG_TYPE_FLOAT:
		*out = config_setting_get_float(s);
		return 0;
	case CONFIG_TYPE_INT:
	case CONFIG_TYPE_INT64:
		*out = (double)config_setting_get_int64(s);
		return 0;
	default:
		type_error(r, s, key, "a number");
		return -1;
	}
}

/* Remember p so it is freed with the route. */
static int
keep_alloc(struct route *r, void *p)
{
	void **n = realloc(r->allocs, (r->nallocs + 1) * sizeof(*n));

	if (n == NULL)
		return -1;
	r->allocs = n;
	r->allocs[r->nallocs++] = p;
	return 0;
}

int
route_setting_strings(struct route *r, const char *key,
    const char *const **out, size_t *np)
{
	static const char *const empty[] = { NULL };
	const config_setting_t *s = lookup(r, key);
	const char **v;
	int i, n;

	*out = empty;
	if (np != NULL)
		*np = 0;
	if (s == NULL)
		return 0;
	if (!config_setting_is_aggregate(s) || config_setting_is_group(s)) {
		type_error(r, s, key, "a list of strings");
		return -1;
	}
	n = config_setting_length(s);
	for (i = 0; i < n; i++) {
		const config_setting_t *e = config_setting_get_elem(s,
		    (unsigned)i);

		if (config_setting_type(e) != CONFIG_TYPE_STRING) {
			type_error(r, s, key, "a list of strings");
			return -1;
		}
	}
	if ((v = calloc((size_t)n + 1, sizeof(*v))) == NULL ||
	    keep_alloc(r, v) == -1) {
		free(v);
		route_setting_error(r, key, "out of memory");
		return -1;
	}
	for (i = 0; i < n; i++)
		v[i] = config_setting_get_string(config_setting_get_elem(s,
		    (unsigned)i));
	*out = v;
	if (np != NULL)
		*np = (size_t)n;
	return 0;
}

void
route_setting_error(struct route *r, const char *key, const char *msg)
{
	const config_setting_t *s = NULL;
	const config_setting_t *where;

	if (r->conf != NULL && r->conf->settings != NULL)
		s = config_setting_get_member(r->conf->settings, key);
	where = s != NULL ? s : (r->conf != NULL ? r->conf->settings : NULL);
	if (r->errs == NULL)
		return;
	if (where != NULL)
		errors_add(r->errs, "%s:%d: route %s: setting '%s': %s",
		    config_setting_source_file(where) ?
		    config_setting_source_file(where) : "?",
		    config_setting_source_line(where), r->path, key, msg);
	else
		errors_add(r->errs, "%s:%d: route %s: setting '%s': %s",
		    r->file != NULL ? r->file : "?",
		    r->conf != NULL ? r->conf->line : 0, r->path, key, msg);
}

size_t
route_settings_check_unknown(struct route *r)
{
	const config_setting_t *g;
	size_t n = 0;
	int i, count;

	if (r->conf == NULL || (g = r->conf->settings) == NULL)
		return 0;
	count = config_setting_length(g);
	for (i = 0; i < count; i++) {
		const config_setting_t *s = config_setting_get_elem(g,
		    (unsigned)i);
		const char *name = config_setting_name(s);
		size_t j;
		int known = 0;

		for (j = 0; j < r->nseen && name != NULL; j++)
			if (strcmp(r->seen[j], name) == 0)
				known = 1;
		if (known)
			continue;
		n++;
		if (r->errs != NULL)
			errors_add(r->errs, "%s:%d: route %s: unknown setting "
			    "'%s' for plugin %s",
			    config_setting_source_file(s) ?
			    config_setting_source_file(s) : "?",
			    config_setting_source_line(s), r->path,
			    name ? name : "?", r->conf->plugin);
	}
	return n;
}

void
route_settings_done(struct route *r)
{
	size_t i;

	for (i = 0; i < r->nseen; i++)
		free(r->seen[i]);
	free(r->seen);
	r->seen = NULL;
	r->nseen = 0;
}

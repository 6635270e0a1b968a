/*
 * plugin: load plugin shared objects, check their ABI, and keep one
 * handle per file however many routes use it.
 */
#ifndef WSD_PLUGIN_LOADER_H
#define WSD_PLUGIN_LOADER_H

#include <stddef.h>

#include <wsd/plugin.h>

struct plugin {
	char			*path;
	void			*dl;
	/*
	 * The plugin's descriptor copied into our own layout: members the
	 * plugin's (older, smaller) struct lacks are NULL.
	 */
	struct wsd_plugin	 ops;
	unsigned		 refs;
	struct plugin		*next;
};

/*
 * Load the plugin at path (or take another reference to it if it is
 * loaded already).  On failure returns NULL and writes the reason,
 * naming the file, into err.
 */
struct plugin	*plugin_load(const char *path, const struct wsd_host *host,
		    char *err, size_t errlen);

/* Drop a reference; the last one unloads the object. */
void		 plugin_unref(struct plugin *p);

/*
 * Check a descriptor against this wsd's ABI.  Returns 0, or -1 with the
 * reason in err.  Exposed for the unit tests.
 */
int		 plugin_check_abi(const struct wsd_plugin *d, const char *path,
		    char *err, size_t errlen);

#endif /* WSD_PLUGIN_LOADER_H */

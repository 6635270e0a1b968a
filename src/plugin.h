/*
 * plugin: load plugin shared objects, check their ABI, and keep one
 * handle per file version however many routes use it.  A file is known
 * by its identity (device, inode, size, modification time): a new
 * version installed beside a loaded one (renamed over it, or rewritten)
 * loads as a new copy with its own handle, while the old copy stays
 * until its last route instance lets it go.
 */
#ifndef WSD_PLUGIN_LOADER_H
#define WSD_PLUGIN_LOADER_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>
#include <time.h>

#include <wsd/plugin.h>

/* Which version of a plugin file: what a reload compares. */
struct plugin_id {
	dev_t			 dev;
	ino_t			 ino;
	off_t			 size;
	struct timespec		 mtime;
};

/*
 * A loaded object's mapping as /proc/self/maps names it (device and
 * inode there are the backing file's, which on overlayfs are not what
 * stat() says).
 */
struct plugin_map {
	unsigned		 major, minor;
	unsigned long long	 ino;
	bool			 known;
};

struct plugin {
	char			*path;
	void			*dl;
	struct plugin_id	 id;	/* of the file loaded */
	struct plugin_map	 map;	/* of its mapping */
	/*
	 * The plugin's descriptor copied into our own layout: members the
	 * plugin's (older, smaller) struct lacks are NULL.
	 */
	struct wsd_plugin	 ops;
	int			 fd;	/* what was judged and mapped */
	void			*base;	/* where it is mapped (dladdr) */
	unsigned		 refs;
	struct plugin		*next;
};

/*
 * Load the plugin at path (or take another reference to it if that very
 * file version is loaded already: same device, inode, size and mtime).
 * With strict (strict_permissions), refuse a plugin
 * that others could have changed, as sshd's StrictModes: the file, or any
 * directory above it, owned by someone other than root or the daemon's
 * user, or writable by group or others (a sticky directory above the
 * plugin's own is fine).  A symlink is followed and the directory holding
 * it judged too.  What is judged is what is loaded: one descriptor.  On
 * failure returns NULL and writes the reason, naming the file and what
 * was wrong with which part, into err.
 */
struct plugin	*plugin_load(const char *path, int strict,
		    const struct wsd_host *host, char *err, size_t errlen);

/*
 * Judge the file at path as plugin_load() would (strict included) and
 * say which version it is, without loading it.  Returns 0, or -1 with
 * the reason in err.
 */
int		 plugin_identify(const char *path, int strict,
		    struct plugin_id *id, char *err, size_t errlen);

/* Whether p was loaded from that file version. */
bool		 plugin_is(const struct plugin *p, const struct plugin_id *id);

/*
 * 1 if the ELF object at path asks for an executable stack (PT_GNU_STACK
 * with PF_X), which systemd's MemoryDenyWriteExecute= refuses; 0 if not;
 * -1 if it cannot be read as ELF.
 */
int		 plugin_wants_execstack(const char *path);

/*
 * "plugin NAME (PATH)" of the loaded plugin mapped at base (dladdr()'s
 * dli_fbase) into buf; -1 if none is.  On the loop thread.
 */
int		 plugin_describe(const void *base, char *buf, size_t len);

/*
 * Drop a reference; the last one unloads the object (dlclose).  If its
 * mapping is still in /proc/self/maps afterwards (RTLD_NODELETE, -z
 * nodelete, thread-local destructors or unique symbols left), a warning
 * says so: a hot deploy then loads the new copy beside old code that
 * stays mapped until wsd restarts.
 */
void		 plugin_unref(struct plugin *p);

/*
 * Whether the object whose mapping was m is still mapped in this
 * process (/proc/self/maps); -1 if that cannot be read or m is not
 * known.  Exposed for the tests.
 */
int		 plugin_mapped(const struct plugin_map *m);

/*
 * Check a descriptor against this wsd's ABI.  Returns 0, or -1 with the
 * reason in err.  Exposed for the unit tests.
 */
int		 plugin_check_abi(const struct wsd_plugin *d, const char *path,
		    char *err, size_t errlen);

#endif /* WSD_PLUGIN_LOADER_H */

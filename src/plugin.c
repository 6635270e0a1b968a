/*
 * plugin: see plugin.h.
 *
 * Plugins are opened RTLD_NOW so that a missing symbol is found at load
 * time, not at the first message, and RTLD_LOCAL so that plugins cannot
 * see each other's symbols.  glibc hands back the same handle for a path
 * that is already open, so a changed file at the same path is only
 * picked up once every route using it is gone; we keep our own list to
 * count routes per file.
 */
#include <dlfcn.h>
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "plugin.h"

static struct plugin *loaded;

int
plugin_check_abi(const struct wsd_plugin *d, const char *path, char *err,
    size_t errlen)
{
	if (d->abi_major != WSD_ABI_MAJOR) {
		snprintf(err, errlen, "%s: plugin ABI %u.%u, but wsd has ABI "
		    "%u.%u (rebuild the plugin against this wsd)", path,
		    d->abi_major, d->abi_minor, WSD_ABI_MAJOR, WSD_ABI_MINOR);
		return -1;
	}
	if (d->abi_minor > WSD_ABI_MINOR) {
		snprintf(err, errlen, "%s: plugin needs ABI %u.%u, but wsd has "
		    "only ABI %u.%u (upgrade wsd)", path, d->abi_major,
		    d->abi_minor, WSD_ABI_MAJOR, WSD_ABI_MINOR);
		return -1;
	}
	/* The fields up to and including `name` exist in every version. */
	if (d->size < offsetof(struct wsd_plugin, init)) {
		snprintf(err, errlen, "%s: plugin descriptor too small "
		    "(%u bytes)", path, d->size);
		return -1;
	}
	if (d->name == NULL || d->name[0] == '\0') {
		snprintf(err, errlen, "%s: plugin descriptor has no name",
		    path);
		return -1;
	}
	return 0;
}

struct plugin *
plugin_load(const char *path, const struct wsd_host *host, char *err,
    size_t errlen)
{
	const struct wsd_plugin *d;
	struct plugin *p;
	void *dl;
	size_t n;

	for (p = loaded; p != NULL; p = p->next) {
		if (strcmp(p->path, path) == 0) {
			p->refs++;
			return p;
		}
	}

	dlerror();
	if ((dl = dlopen(path, RTLD_NOW | RTLD_LOCAL)) == NULL) {
		snprintf(err, errlen, "%s: cannot load plugin: %s", path,
		    dlerror());
		return NULL;
	}
	d = dlsym(dl, WSD_PLUGIN_SYMBOL);
	if (d == NULL) {
		snprintf(err, errlen, "%s: not a wsd plugin: no symbol '%s'",
		    path, WSD_PLUGIN_SYMBOL);
		dlclose(dl);
		return NULL;
	}
	if (plugin_check_abi(d, path, err, errlen) == -1) {
		dlclose(dl);
		return NULL;
	}
	if ((p = calloc(1, sizeof(*p))) == NULL ||
	    (p->path = strdup(path)) == NULL) {
		free(p);
		snprintf(err, errlen, "%s: out of memory", path);
		dlclose(dl);
		return NULL;
	}
	/* An older plugin's descriptor is shorter: the rest stays NULL. */
	n = d->size < sizeof(p->ops) ? d->size : sizeof(p->ops);
	memcpy(&p->ops, d, n);
	if (n >= offsetof(struct wsd_plugin, host_slot) +
	    sizeof(p->ops.host_slot) && p->ops.host_slot != NULL)
		*p->ops.host_slot = host;
	p->dl = dl;
	p->refs = 1;
	p->next = loaded;
	loaded = p;
	return p;
}

static int
check_one(const char *what, const char *path, char *err, size_t errlen)
{
	struct stat st;

	if (stat(path, &st) == -1) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return -1;
	}
	if (st.st_uid != 0 && st.st_uid != geteuid()) {
		snprintf(err, errlen, "%s: refusing plugin: %s %s is owned by "
		    "uid %u, not root or the daemon's user (set "
		    "strict_permissions = false to allow)", path, what,
		    path, (unsigned)st.st_uid);
		return -1;
	}
	if (st.st_mode & (S_IWGRP | S_IWOTH)) {
		snprintf(err, errlen, "%s: refusing plugin: %s %s is writable "
		    "by %s (set strict_permissions = false to allow)", path,
		    what, path, st.st_mode & S_IWOTH ? "everyone" : "its group");
		return -1;
	}
	return 0;
}

int
plugin_check_permissions(const char *path, char *err, size_t errlen)
{
	char dir[PATH_MAX], tmp[PATH_MAX], real[PATH_MAX];

	/* Judge the file a symlink leads to, and the directory it is in. */
	if (realpath(path, real) == NULL) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return -1;
	}
	snprintf(tmp, sizeof(tmp), "%s", real);
	snprintf(dir, sizeof(dir), "%s", dirname(tmp));
	if (check_one("file", real, err, errlen) == -1)
		return -1;
	if (check_one("directory", dir, err, errlen) == -1) {
		/* Name the plugin first, whichever part failed. */
		char why[512];

		snprintf(why, sizeof(why), "%s", err);
		snprintf(err, errlen, "%s (%s)", why, path);
		return -1;
	}
	return 0;
}

int
plugin_wants_execstack(const char *path)
{
	Elf64_Ehdr eh;
	Elf64_Phdr ph;
	int fd, i, r = 0;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1)
		return -1;
	if (pread(fd, &eh, sizeof(eh), 0) != (ssize_t)sizeof(eh) ||
	    memcmp(eh.e_ident, ELFMAG, SELFMAG) != 0 ||
	    eh.e_ident[EI_CLASS] != ELFCLASS64 ||
	    eh.e_phentsize != sizeof(ph)) {
		close(fd);
		return -1;
	}
	for (i = 0; i < eh.e_phnum; i++) {
		if (pread(fd, &ph, sizeof(ph), (off_t)(eh.e_phoff +
		    (Elf64_Off)i * sizeof(ph))) != (ssize_t)sizeof(ph)) {
			r = -1;
			break;
		}
		if (ph.p_type == PT_GNU_STACK) {
			r = (ph.p_flags & PF_X) != 0;
			break;
		}
	}
	close(fd);
	return r;
}

void
plugin_unref(struct plugin *p)
{
	struct plugin **pp;

	if (p == NULL || --p->refs > 0)
		return;
	for (pp = &loaded; *pp != NULL; pp = &(*pp)->next) {
		if (*pp == p) {
			*pp = p->next;
			break;
		}
	}
	/* Under valgrind, WSD_NO_DLCLOSE keeps symbols for leak reports. */
	if (getenv("WSD_NO_DLCLOSE") == NULL)
		dlclose(p->dl);
	free(p->path);
	free(p);
}

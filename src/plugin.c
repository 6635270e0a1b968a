/*
 * plugin: see plugin.h.
 *
 * Plugins are opened RTLD_NOW so that a missing symbol is found at load
 * time, not at the first message, and RTLD_LOCAL so that plugins cannot
 * see each other's symbols.
 *
 * The file is opened once, judged through that descriptor, and the
 * object dlopen() maps is that same descriptor (/proc/self/fd/N): nothing
 * can swap the file between the check and the load.  The descriptor stays
 * open while the object is loaded, since glibc knows objects by name and
 * a reused "/proc/self/fd/N" would otherwise hand back a stale handle.
 *
 * We keep our own list of loaded copies, known by file identity (device,
 * inode, size, mtime), to count the route instances using each.  A path
 * is judged again at every load (a file that became unsafe is refused).
 * glibc too knows an object by device and inode: a new version renamed
 * over the old one (a new inode, as dpkg and install(1) do it) maps as a
 * second copy with its own handle, the old one staying until its last
 * instance retires.  A file rewritten in place keeps its inode, so glibc
 * would hand back the old copy (whose pages the rewrite may already have
 * changed under it): that is refused, naming the cure.
 */
#include <dlfcn.h>
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <libgen.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"
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

/*
 * Judge one file or directory for strict_permissions, as sshd's
 * StrictModes does: owned by root or us, not writable by group or
 * others.  A sticky directory (/tmp) may be writable by all when
 * sticky_ok: nobody else can rename or remove what we own in it.  path is
 * the plugin as configured, name what is being judged.
 */
static int
check_one(const char *path, const char *what, const char *name,
    const struct stat *st, int sticky_ok, char *err, size_t errlen)
{
	if (st->st_uid != 0 && st->st_uid != geteuid()) {
		snprintf(err, errlen, "%s: refusing plugin: %s %s is owned by "
		    "uid %u, not root or the daemon's user (set "
		    "strict_permissions = false to allow)", path, what,
		    name, (unsigned)st->st_uid);
		return -1;
	}
	if ((st->st_mode & (S_IWGRP | S_IWOTH)) &&
	    !(sticky_ok && (st->st_mode & S_ISVTX))) {
		snprintf(err, errlen, "%s: refusing plugin: %s %s is writable "
		    "by %s (set strict_permissions = false to allow)", path,
		    what, name, st->st_mode & S_IWOTH ? "everyone" :
		    "its group");
		return -1;
	}
	return 0;
}

/*
 * Open dir (absolute, no symlinks: realpath's output) one component at a
 * time from "/", never following a link, and judge each directory on the
 * way.  Directories above dir may be sticky and world-writable; dir
 * itself, which holds the plugin, may not.  Returns a descriptor of dir.
 */
static int
open_dir_checked(const char *path, const char *dir, char *err,
    size_t errlen)
{
	char sofar[PATH_MAX], comp[NAME_MAX + 1];
	const char *s = dir;
	struct stat st;
	size_t len;
	int dfd, nfd;

	snprintf(sofar, sizeof(sofar), "/");
	if ((dfd = open("/", O_RDONLY | O_DIRECTORY | O_CLOEXEC)) == -1)
		goto syserr;
	for (;;) {
		while (*s == '/')
			s++;
		if (fstat(dfd, &st) == -1)
			goto syserr;
		if (check_one(path, "directory", sofar, &st, *s != '\0', err,
		    errlen) == -1) {
			close(dfd);
			return -1;
		}
		if (*s == '\0')
			return dfd;
		len = strcspn(s, "/");
		if (len >= sizeof(comp) ||
		    strlen(sofar) + len + 2 > sizeof(sofar)) {
			errno = ENAMETOOLONG;
			goto syserr;
		}
		memcpy(comp, s, len);
		comp[len] = '\0';
		if (strcmp(sofar, "/") != 0)
			strcat(sofar, "/");
		strcat(sofar, comp);
		s += len;
		nfd = openat(dfd, comp, O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
		    O_CLOEXEC);
		if (nfd == -1)
			goto syserr;
		close(dfd);
		dfd = nfd;
	}

syserr:
	snprintf(err, errlen, "%s: cannot load plugin: %s: %s", path, sofar,
	    strerror(errno));
	if (dfd != -1)
		close(dfd);
	return -1;
}

/*
 * Open the plugin file for loading; with strict, judge it and every
 * directory above it first.  A configured path that is a symlink is
 * followed (distributions link foo.so to foo.so.1): what is judged and
 * loaded is the file it resolves to, and the directory holding the link
 * is judged as well, since whoever can write there picks the target.
 */
static int
open_plugin(const char *path, int strict, struct stat *st, char *err,
    size_t errlen)
{
	char real[PATH_MAX], tmp[PATH_MAX], linkdir[PATH_MAX];
	const char *base;
	int dfd, fd;

	if (!strict) {
		if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1) {
			snprintf(err, errlen, "%s: cannot load plugin: %s",
			    path, strerror(errno));
			return -1;
		}
		goto opened;
	}
	if (realpath(path, real) == NULL) {
		snprintf(err, errlen, "%s: cannot load plugin: %s", path,
		    strerror(errno));
		return -1;
	}
	if (lstat(path, st) == 0 && S_ISLNK(st->st_mode)) {
		snprintf(tmp, sizeof(tmp), "%s", path);
		if (realpath(dirname(tmp), linkdir) == NULL) {
			snprintf(err, errlen, "%s: cannot load plugin: %s",
			    path, strerror(errno));
			return -1;
		}
		if ((dfd = open_dir_checked(path, linkdir, err, errlen)) == -1)
			return -1;
		close(dfd);
	}
	snprintf(tmp, sizeof(tmp), "%s", real);
	if ((dfd = open_dir_checked(path, dirname(tmp), err, errlen)) == -1)
		return -1;
	base = strrchr(real, '/') + 1;
	fd = openat(dfd, base, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	close(dfd);
	if (fd == -1) {
		snprintf(err, errlen, "%s: cannot load plugin: %s: %s", path,
		    real, strerror(errno));
		return -1;
	}
	if (fstat(fd, st) == 0 && S_ISREG(st->st_mode) &&
	    check_one(path, "file", real, st, 0, err, errlen) == -1) {
		close(fd);
		return -1;
	}

opened:
	if (fstat(fd, st) == -1 || !S_ISREG(st->st_mode)) {
		snprintf(err, errlen, "%s: cannot load plugin: not a regular "
		    "file", path);
		close(fd);
		return -1;
	}
	return fd;
}

static void
stat_id(const struct stat *st, struct plugin_id *id)
{
	memset(id, 0, sizeof(*id));
	id->dev = st->st_dev;
	id->ino = st->st_ino;
	id->size = st->st_size;
	id->mtime = st->st_mtim;
}

bool
plugin_is(const struct plugin *p, const struct plugin_id *id)
{
	return p->id.dev == id->dev && p->id.ino == id->ino &&
	    p->id.size == id->size &&
	    p->id.mtime.tv_sec == id->mtime.tv_sec &&
	    p->id.mtime.tv_nsec == id->mtime.tv_nsec;
}

int
plugin_identify(const char *path, int strict, struct plugin_id *id,
    char *err, size_t errlen)
{
	struct stat st;
	int fd;

	if ((fd = open_plugin(path, strict, &st, err, errlen)) == -1)
		return -1;
	stat_id(&st, id);
	close(fd);
	return 0;
}

/*
 * Walk /proc/self/maps: with addr, find the mapping holding it and fill
 * *m; without, say whether m's file is mapped anywhere.
 */
static int
scan_maps(const void *addr, struct plugin_map *m)
{
	char line[4096];
	unsigned long long ino;
	uintptr_t lo, hi;
	unsigned maj, mnr;
	FILE *f;
	int found = 0;

	if ((f = fopen("/proc/self/maps", "re")) == NULL)
		return -1;
	/* "start-end perms offset major:minor inode path" */
	while (fgets(line, sizeof(line), f) != NULL) {
		if (sscanf(line, "%" SCNxPTR "-%" SCNxPTR " %*s %*s %x:%x %llu",
		    &lo, &hi, &maj, &mnr, &ino) != 5 || ino == 0)
			continue;
		if (addr != NULL ? (uintptr_t)addr >= lo &&
		    (uintptr_t)addr < hi : ino == m->ino && maj == m->major &&
		    mnr == m->minor) {
			if (addr != NULL) {
				m->major = maj;
				m->minor = mnr;
				m->ino = ino;
				m->known = true;
			}
			found = 1;
			break;
		}
	}
	fclose(f);
	return found;
}

int
plugin_mapped(const struct plugin_map *m)
{
	struct plugin_map copy = *m;

	if (!m->known)
		return -1;
	return scan_maps(NULL, &copy);
}

struct plugin *
plugin_load(const char *path, int strict, const struct wsd_host *host,
    char *err, size_t errlen)
{
	const struct wsd_plugin *d;
	struct plugin *p;
	struct plugin_id id;
	struct stat st;
	char name[64], magic[SELFMAG];
	const char *why;
	void *dl;
	Dl_info di;
	size_t n;
	int fd;

	if ((fd = open_plugin(path, strict, &st, err, errlen)) == -1)
		return NULL;
	stat_id(&st, &id);
	for (p = loaded; p != NULL; p = p->next) {
		if (p->id.dev != id.dev || p->id.ino != id.ino)
			continue;
		if (plugin_is(p, &id)) {
			close(fd);
			p->refs++;
			return p;
		}
		snprintf(err, errlen, "%s: cannot load the new version: the "
		    "file changed in place (the inode of the copy in use, "
		    "with another size or modification time), and one "
		    "inode cannot be loaded twice; install new versions by "
		    "renaming a new file over the old one, as dpkg and "
		    "install(1) do", path);
		close(fd);
		return NULL;
	}

	snprintf(name, sizeof(name), "/proc/self/fd/%d", fd);
	dlerror();
	if ((dl = dlopen(name, RTLD_NOW | RTLD_LOCAL)) == NULL) {
		/* dlerror() names our descriptor: say it of the path. */
		why = dlerror();
		n = strlen(name);
		if (why == NULL)
			why = "unknown error";
		else if (strncmp(why, name, n) == 0 && why[n] == ':')
			why += n + 2;
		if (pread(fd, magic, sizeof(magic), 0) !=
		    (ssize_t)sizeof(magic) || memcmp(magic, ELFMAG, SELFMAG) != 0)
			why = "not a loadable object (no ELF header)";
		else if (access("/proc/self/fd", F_OK) == -1)
			why = "/proc is not mounted (plugins load from there)";
		snprintf(err, errlen, "%s: cannot load plugin: %s", path, why);
		close(fd);
		return NULL;
	}
	d = dlsym(dl, WSD_PLUGIN_SYMBOL);
	if (d == NULL) {
		snprintf(err, errlen, "%s: not a wsd plugin: no symbol '%s'",
		    path, WSD_PLUGIN_SYMBOL);
		goto fail;
	}
	if (plugin_check_abi(d, path, err, errlen) == -1)
		goto fail;
	if ((p = calloc(1, sizeof(*p))) == NULL ||
	    (p->path = strdup(path)) == NULL) {
		free(p);
		snprintf(err, errlen, "%s: out of memory", path);
		goto fail;
	}
	/* An older plugin's descriptor is shorter: the rest stays NULL. */
	n = d->size < sizeof(p->ops) ? d->size : sizeof(p->ops);
	memcpy(&p->ops, d, n);
	if (n >= offsetof(struct wsd_plugin, host_slot) +
	    sizeof(p->ops.host_slot) && p->ops.host_slot != NULL)
		*p->ops.host_slot = host;
	p->dl = dl;
	p->fd = fd;
	p->id = id;
	p->refs = 1;
	if (dladdr(d, &di) != 0)
		p->base = di.dli_fbase;
	/* To tell after dlclose whether it really went (see plugin_unref). */
	if (p->base != NULL)
		(void)scan_maps(p->base, &p->map);
	p->next = loaded;
	loaded = p;
	return p;

fail:
	dlclose(dl);
	close(fd);
	return NULL;
}

int
plugin_describe(const void *base, char *buf, size_t len)
{
	struct plugin *p;

	for (p = loaded; p != NULL; p = p->next) {
		if (p->base != NULL && p->base == base) {
			snprintf(buf, len, "plugin %s (%s)", p->ops.name != NULL ?
			    p->ops.name : "?", p->path);
			return 0;
		}
	}
	return -1;
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
	char name[128];

	if (p == NULL || --p->refs > 0)
		return;
	for (pp = &loaded; *pp != NULL; pp = &(*pp)->next) {
		if (*pp == p) {
			*pp = p->next;
			break;
		}
	}
	/* Under valgrind, WSD_NO_DLCLOSE keeps symbols for leak reports. */
	if (getenv("WSD_NO_DLCLOSE") == NULL) {
		/* The descriptor's strings go with the object. */
		snprintf(name, sizeof(name), "%s", p->ops.name != NULL ?
		    p->ops.name : "?");
		dlclose(p->dl);
		/* Kept while loaded: see the top of this file. */
		close(p->fd);
		if (plugin_mapped(&p->map) == 1)
			log_warn("plugin %s (%s) cannot be unloaded: it stays "
			    "mapped after dlclose (linked -z nodelete or "
			    "opened RTLD_NODELETE, or it left thread-local "
			    "destructors or unique symbols behind); a hot "
			    "deploy loads a new copy beside it, but its old "
			    "code stays mapped until wsd restarts",
			    name, p->path);
	}
	free(p->path);
	free(p);
}

/* A plugin built for a future, incompatible ABI major: must be refused. */
#include <wsd/plugin.h>

__attribute__((visibility("default")))
extern const struct wsd_plugin wsd_plugin;
const struct wsd_plugin wsd_plugin = {
	.abi_major = WSD_ABI_MAJOR + 1,
	.abi_minor = 0,
	.size = sizeof(struct wsd_plugin),
	.name = "badabi",
};

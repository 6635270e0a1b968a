/*
 * A plugin linked with an executable stack (-z execstack): wsd -t warns
 * about it, since systemd's MemoryDenyWriteExecute= would refuse it.
 */
#include <wsd/plugin.h>

WSD_PLUGIN(.name = "execstack");

/*
 * Private to the plugin test kit (libwsd-plugin-test): what its fake
 * wall clock (walltime.c, linked only into programs that call
 * wsdt_fake_wall_clock()) shares with the rest of it.
 */
#ifndef WSD_KIT_PRIV_H
#define WSD_KIT_PRIV_H

#include <stdint.h>

struct wsdt;

/* The kit whose clock gives the time of day, or NULL: the real one. */
extern struct wsdt	*wsdt_wall_kit_;
extern int64_t		 wsdt_wall_epoch_ms_;

#endif /* WSD_KIT_PRIV_H */

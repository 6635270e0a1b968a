/*
 * addrcount: how many of something each client IP address holds (wsd
 * counts connections still in their HTTP phase, for
 * max_pending_per_address).  A chained hash table of the addresses that
 * hold at least one; an entry goes when its count returns to zero, so
 * the table is as large as the number of distinct addresses at once.
 * IPv4 and IPv4-mapped IPv6 addresses are the same address.  No I/O.
 */
#ifndef WSD_ADDRCOUNT_H
#define WSD_ADDRCOUNT_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

struct addrcount;
struct addrcount_entry;

struct addrcount *addrcount_new(void);
void		 addrcount_free(struct addrcount *t);

/*
 * Count one more for sa's address unless it already holds limit (0: no
 * limit).  Returns 0 and the entry to give back with addrcount_put();
 * 1 when the address is at its limit; -1 when out of memory.  Addresses
 * other than IPv4 and IPv6 are not counted (*e is NULL, 0 is returned).
 */
int		 addrcount_take(struct addrcount *t, const struct sockaddr *sa,
		    uint32_t limit, struct addrcount_entry **e);

/* One less for that entry's address (e may be NULL). */
void		 addrcount_put(struct addrcount *t, struct addrcount_entry *e);

/* What sa's address holds now. */
uint32_t	 addrcount_get(const struct addrcount *t,
		    const struct sockaddr *sa);

/* Addresses that hold at least one. */
size_t		 addrcount_size(const struct addrcount *t);

#endif /* WSD_ADDRCOUNT_H */

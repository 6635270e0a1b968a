/*
 * forwarded: whom to believe about a client's address.  Address and
 * CIDR parsing, matching an address against a listener's
 * trusted_proxies, and the walk along X-Forwarded-For that finds the
 * client behind a chain of trusted proxies.  Pure: no I/O.
 *
 * Addresses are kept as 16 bytes, IPv4 as IPv4-mapped IPv6
 * (::ffff:a.b.c.d), so that 127.0.0.1 and ::ffff:127.0.0.1 are the same
 * address, as the kernel's dual-stack sockets make them (addrcount.c
 * keys addresses the same way).
 */
#ifndef WSD_FORWARDED_H
#define WSD_FORWARDED_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

/* An address with a prefix length, over the 16-byte form (0..128). */
struct cidr {
	uint8_t		addr[16];
	uint8_t		bits;
};

/* The 16-byte form of an IPv4 or IPv6 socket address; false if neither. */
bool	fwd_key_of(const struct sockaddr *sa, uint8_t key[16]);

/* The socket address (port as given, host order) of a 16-byte form. */
void	fwd_sockaddr(const uint8_t key[16], uint16_t port,
	    struct sockaddr_storage *ss);

/*
 * Parse one address of a header or of wsd's own "addr:port" text:
 * "192.0.2.1", "2001:db8::1", "[2001:db8::1]", and each with a port
 * ("192.0.2.1:5555", "[2001:db8::1]:5555"), surrounding spaces and tabs
 * ignored.  Anything else (RFC 7239's "unknown", obfuscated names,
 * junk) is false.  *port, if not NULL, gets the port or 0.
 */
bool	fwd_parse_addr(const char *s, size_t len, uint8_t key[16],
	    uint16_t *port);

/*
 * Parse a trusted_proxies entry: an address, or an address and a prefix
 * length ("10.0.0.0/8", "fd00::/8"; an IPv4 prefix counts IPv4 bits).
 * Returns 0, or -1 with a reason in err: not an address, a prefix out
 * of range, or bits set past the prefix ("10.0.0.1/8": a typo that
 * would otherwise trust more or less than meant).
 */
int	cidr_parse(const char *s, struct cidr *out, char *err, size_t errlen);

/* Whether key lies in one of list[0..n). */
bool	cidr_match(const struct cidr *list, size_t n, const uint8_t key[16]);

/*
 * X-Forwarded-For: every header line's value in request order (a
 * repeated header is one comma-separated list, RFC 9110 5.3).  The walk
 * starts from the peer, which the caller has found trusted, and goes
 * from the rightmost entry leftwards, as long as the address it reaches
 * is itself trusted: the first address that is not trusted is the
 * client; if every one is, the leftmost is.  An entry that does not
 * parse stops the walk, since nobody vouches for what lies left of it:
 * the client is then the last address reached (the peer when it is the
 * rightmost).  Returns the number of entries accepted (0: the header
 * changes nothing), the client in key, and in *bad (if not NULL) whether
 * the walk stopped at a malformed entry.
 */
size_t	xff_client(const char *const *vals, const size_t *lens, size_t nvals,
	    const struct cidr *trusted, size_t ntrusted, uint8_t key[16],
	    bool *bad);

/*
 * The last non-empty element of a comma-separated header over all its
 * lines (the one the proxy nearest to us added or set), trimmed of
 * spaces and tabs; false when the header has none.
 */
bool	fwd_last_element(const char *const *vals, const size_t *lens,
	    size_t nvals, const char **el, size_t *ellen);

#endif /* WSD_FORWARDED_H */

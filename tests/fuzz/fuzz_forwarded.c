/*
 * fuzz_forwarded: X-Forwarded-For and trusted_proxies (src/forwarded.c).
 *
 * The input is header lines separated by '\n' (at most 8).  Checked:
 * the X-Forwarded-For walk over the lines gives the same client, count
 * and verdict as over the same lines joined with ',' into one (a
 * repeated header is one list); the count is never more than the
 * elements; the client it names is the parse of one of them; an address
 * that parses prints and parses back to itself; the last element is
 * trimmed and not empty; each line taken as a trusted_proxies entry
 * either fails with a reason or matches its own address.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "forwarded.h"

#include "fuzz_common.h"

#define LINES_MAX	8

static struct cidr trusted[4];
static size_t ntrusted;

static void
setup(void)
{
	static const char *const t[] = {
		"127.0.0.0/8", "10.0.0.0/8", "::1", "fd00::/8"
	};
	char err[200];
	size_t i;

	if (ntrusted > 0)
		return;
	for (i = 0; i < 4; i++)
		FUZZ_CHECK(cidr_parse(t[i], &trusted[i], err, sizeof(err)) == 0);
	ntrusted = 4;
}

/* Every element of the lines that parses, compared with key. */
static bool
some_element_is(char *const *v, const size_t *lens, size_t n,
    const uint8_t key[16], size_t *nel)
{
	uint8_t k[16];
	bool found = false;
	size_t i, b, e;

	*nel = 0;
	for (i = 0; i < n; i++) {
		for (b = 0; b <= lens[i]; b = e + 1) {
			for (e = b; e < lens[i] && v[i][e] != ','; e++)
				continue;
			(*nel)++;
			if (fwd_parse_addr(v[i] + b, e - b, k, NULL) &&
			    memcmp(k, key, 16) == 0)
				found = true;
		}
	}
	return found;
}

static void
check_addr(const char *s, size_t n)
{
	char text[INET6_ADDRSTRLEN + 2];
	uint8_t k[16], k2[16];
	uint16_t port;

	if (!fwd_parse_addr(s, n, k, &port))
		return;
	FUZZ_CHECK(inet_ntop(AF_INET6, k, text, sizeof(text)) != NULL);
	FUZZ_CHECK(fwd_parse_addr(text, strlen(text), k2, NULL));
	FUZZ_CHECK(memcmp(k, k2, 16) == 0);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *v[LINES_MAX], *joined, *entry, err[200];
	size_t lens[LINES_MAX], n = 0, b = 0, e, i, nel, jl = 0, c1, c2;
	uint8_t k1[16], k2[16];
	const char *el;
	size_t ellen;
	bool bad1, bad2;
	struct cidr cd;

	setup();
	while (b <= size && n < LINES_MAX) {
		for (e = b; e < size && data[e] != '\n'; e++)
			continue;
		lens[n] = e - b;
		v[n++] = fuzz_dup(data + b, e - b);
		b = e + 1;
	}
	joined = malloc(size + 1);
	FUZZ_CHECK(joined != NULL);
	for (i = 0; i < n; i++) {
		if (i > 0)
			joined[jl++] = ',';
		memcpy(joined + jl, v[i], lens[i]);
		jl += lens[i];
	}

	memset(k1, 0x5a, 16);
	memset(k2, 0x5a, 16);
	c1 = xff_client((const char *const *)v, lens, n, trusted, ntrusted,
	    k1, &bad1);
	c2 = xff_client((const char *const *)&joined, &jl, 1, trusted,
	    ntrusted, k2, &bad2);
	FUZZ_CHECK(c1 == c2 && bad1 == bad2);
	FUZZ_CHECK(memcmp(k1, k2, 16) == 0);
	if (c1 > 0) {
		FUZZ_CHECK(some_element_is(v, lens, n, k1, &nel));
		FUZZ_CHECK(c1 <= nel);
	}
	if (fwd_last_element((const char *const *)v, lens, n, &el, &ellen)) {
		FUZZ_CHECK(ellen > 0);
		FUZZ_CHECK(el[0] != ' ' && el[0] != '\t' && el[0] != ',');
		FUZZ_CHECK(el[ellen - 1] != ' ' && el[ellen - 1] != '\t');
	}
	for (i = 0; i < n; i++) {
		check_addr(v[i], lens[i]);
		entry = fuzz_strndup(v[i], lens[i]);
		err[0] = '\0';
		if (cidr_parse(entry, &cd, err, sizeof(err)) == 0) {
			FUZZ_CHECK(cd.bits <= 128);
			FUZZ_CHECK(cidr_match(&cd, 1, cd.addr));
		} else {
			FUZZ_CHECK(err[0] != '\0');
		}
		free(entry);
	}
	for (i = 0; i < n; i++)
		free(v[i]);
	free(joined);
	return 0;
}

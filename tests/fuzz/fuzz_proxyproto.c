/*
 * fuzz_proxyproto: the PROXY protocol header parser (src/proxyproto.c).
 *
 * The input is what a connection sent first.  Checked: the result is
 * -1, 0 or a length within the input and PP_MAX; a complete v1 header
 * ends with CRLF within 107 bytes, a v2 one is at least 16 bytes; the
 * header alone parses to the same result as the header with the rest;
 * a prefix of the input is never complete when the whole is only
 * beginning, never wrong when the whole is complete, and gives the same
 * header when it holds it (the parser may be fed piece by piece).
 * Every buffer is a heap block of exactly its length.
 */
#include <netinet/in.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "proxyproto.h"

#include "fuzz_common.h"

static int
parse(const uint8_t *data, size_t n, struct pp_info *info)
{
	uint8_t *b = fuzz_dup(data, n);
	const char *why = NULL;
	int r;

	memset(info, 0, sizeof(*info));
	r = pp_parse(b, n, info, &why);
	if (r == -1)
		FUZZ_CHECK(why != NULL && why[0] != '\0');
	free(b);
	return r;
}

/* What a prefix of k bytes may say when the whole input says r. */
static void
check_prefix(const uint8_t *data, size_t k, int r, const struct pp_info *whole)
{
	struct pp_info info;
	int p = parse(data, k, &info);

	if (r > 0 && (size_t)r <= k) {
		FUZZ_CHECK(p == r);
		FUZZ_CHECK(info.version == whole->version &&
		    info.local == whole->local && info.ssl == whole->ssl);
		FUZZ_CHECK(memcmp(&info.src, &whole->src,
		    sizeof(info.src)) == 0);
	} else if (r >= 0) {
		FUZZ_CHECK(p == 0);
	} else {
		FUZZ_CHECK(p == 0 || p == -1);
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct pp_info info;
	int r;

	r = parse(data, size, &info);
	FUZZ_CHECK(r >= -1 && r <= (int)size && r <= PP_MAX);
	if (r > 0) {
		FUZZ_CHECK(info.version == 1 || info.version == 2);
		if (info.version == 1) {
			FUZZ_CHECK(r <= PP_V1_MAX && r >= 15);
			FUZZ_CHECK(data[r - 2] == '\r' && data[r - 1] == '\n');
		} else {
			FUZZ_CHECK(r >= PP_V2_FIXED);
		}
		if (!info.local) {
			FUZZ_CHECK(info.src.ss_family == AF_INET ||
			    info.src.ss_family == AF_INET6);
			FUZZ_CHECK(info.dst.ss_family == info.src.ss_family);
		}
		FUZZ_CHECK(!info.ssl || info.version == 2);
		check_prefix(data, (size_t)r, r, &info);
		check_prefix(data, (size_t)r - 1, r, &info);
	}
	if (size > 0) {
		check_prefix(data, size / 2, r, &info);
		check_prefix(data, size - 1, r, &info);
		check_prefix(data, 1, r, &info);
	}
	return 0;
}

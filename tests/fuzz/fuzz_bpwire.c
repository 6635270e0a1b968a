/*
 * fuzz_bpwire: what the Redis backplane makes of a payload read from a
 * channel (bpwire_judge), of a `cluster.redis` address, and of the
 * PUBLISH command it writes (src/bpwire.c).
 *
 * The first byte of the input picks the node id and max_message_size
 * the payload is judged against (so that "own node" and "too big" are
 * both reached); the rest is the payload.  The verdict is checked
 * against the rules written out again here: anything not starting with
 * 0xFF is plain text; an envelope is the magic, version 1, opcode 1 or
 * 2 and an 8-byte node id; size before UTF-8; text must be UTF-8.  A
 * delivered envelope is re-encoded and must give the same header, and
 * the message must lie inside the payload.  The same bytes, as a string,
 * go through the address parser, whose accepted results must be sane
 * and parse again to the same thing once written back.
 */
#include <arpa/inet.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bpwire.h"
#include "utf8.h"

#include "fuzz_common.h"

static void
check_judge(const uint8_t *p, size_t n, uint8_t pick)
{
	static const uint64_t maxes[4] = { 0, 1, 16, UINT64_MAX };
	uint64_t max = maxes[pick & 3], self, node = 0;
	uint8_t hdr[BPWIRE_HEADER];
	enum bpwire_verdict v;
	struct bpwire_msg m;
	bool env;
	size_t i, len;
	int op;

	/* Either a node id that may be in the input, or a fixed one. */
	self = (pick & 4) && n >= BPWIRE_HEADER ? 0 : UINT64_C(0x1122334455667788);
	if ((pick & 4) && n >= BPWIRE_HEADER)
		for (i = 0; i < 8; i++)
			self = self << 8 | p[6 + i];

	v = bpwire_judge(p, n, self, max, &m);
	FUZZ_CHECK(bpwire_verdict_name(v) != NULL);

	env = n > 0 && p[0] == 0xff;
	if (env) {
		if (n < BPWIRE_HEADER || memcmp(p, "\xffWSD", 4) != 0 ||
		    p[4] != 1 || (p[5] != 1 && p[5] != 2)) {
			FUZZ_CHECK(v == BPWIRE_BAD_ENVELOPE);
			return;
		}
		for (i = 0; i < 8; i++)
			node = node << 8 | p[6 + i];
		op = p[5];
		len = n - BPWIRE_HEADER;
	} else {
		op = 1;
		len = n;
	}
	FUZZ_CHECK(v != BPWIRE_BAD_ENVELOPE);
	FUZZ_CHECK(m.enveloped == env);
	FUZZ_CHECK(m.opcode == op);
	FUZZ_CHECK(m.node == node);
	FUZZ_CHECK(m.len == len);
	FUZZ_CHECK(m.data == p + (n - len));
	if (env && node == self) {
		FUZZ_CHECK(v == BPWIRE_OWN);
		return;
	}
	if (len > max) {
		FUZZ_CHECK(v == BPWIRE_TOO_BIG);
		return;
	}
	if (op == 1 && !utf8_valid(m.data, m.len)) {
		FUZZ_CHECK(v == BPWIRE_BAD_UTF8);
		return;
	}
	FUZZ_CHECK(v == BPWIRE_DELIVER);
	if (env) {
		bpwire_header(hdr, m.opcode, m.node);
		FUZZ_CHECK(memcmp(hdr, p, BPWIRE_HEADER) == 0);
	}
}

static void
check_addr(const uint8_t *data, size_t size)
{
	unsigned char bin[sizeof(struct in6_addr)];
	struct bpwire_addr a, b;
	char *s = fuzz_strndup(data, size), back[BPWIRE_PATH_MAX + 64];
	const char *why = NULL;

	if (bpwire_parse_addr(s, &a, &why) == -1) {
		FUZZ_CHECK(why != NULL && *why != '\0');
		free(s);
		return;
	}
	if (a.unix_path) {
		FUZZ_CHECK(a.path[0] == '/');
		FUZZ_CHECK(strcmp(a.path, s) == 0);
		snprintf(back, sizeof(back), "%s", a.path);
	} else {
		FUZZ_CHECK(a.port >= 1 && a.port <= 65535);
		if (inet_pton(AF_INET, a.host, bin) == 1)
			snprintf(back, sizeof(back), "%s:%d", a.host, a.port);
		else {
			FUZZ_CHECK(inet_pton(AF_INET6, a.host, bin) == 1);
			snprintf(back, sizeof(back), "[%s]:%d", a.host,
			    a.port);
		}
	}
	FUZZ_CHECK(bpwire_parse_addr(back, &b, &why) == 0);
	FUZZ_CHECK(a.unix_path == b.unix_path && a.port == b.port &&
	    strcmp(a.host, b.host) == 0 && strcmp(a.path, b.path) == 0);
	free(s);
}

/* PUBLISH <first half> <second half>: the size is exact. */
static void
check_publish(const uint8_t *data, size_t size)
{
	size_t half = size / 2, want, got;
	uint8_t *out;

	want = bpwire_publish_size(half, 0, size - half);
	FUZZ_CHECK(want > size);
	out = malloc(want);
	FUZZ_CHECK(out != NULL);
	got = bpwire_publish_format(out, (const char *)data, half, NULL, 0,
	    data + half, size - half);
	FUZZ_CHECK(got == want);
	FUZZ_CHECK(memcmp(out, "*3\r\n$7\r\nPUBLISH\r\n$", 18) == 0);
	FUZZ_CHECK(memcmp(out + want - 2, "\r\n", 2) == 0);
	FUZZ_CHECK(size == half ||
	    memcmp(out + want - 2 - (size - half), data + half,
	    size - half) == 0);
	free(out);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t *p;

	if (size == 0) {
		check_judge(data, 0, 0);
		return 0;
	}
	p = fuzz_dup(data + 1, size - 1);
	check_judge(p, size - 1, data[0]);
	free(p);
	check_addr(data, size);
	check_publish(data, size);
	return 0;
}

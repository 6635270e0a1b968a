/*
 * bpwire: see bpwire.h.
 */
#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>

#include "bpwire.h"
#include "utf8.h"

#define OP_TEXT		1
#define OP_BINARY	2

void
bpwire_header(uint8_t out[BPWIRE_HEADER], int opcode, uint64_t node)
{
	int i;

	memcpy(out, BPWIRE_MAGIC, BPWIRE_MAGIC_LEN);
	out[4] = BPWIRE_VERSION;
	out[5] = (uint8_t)opcode;
	for (i = 0; i < 8; i++)
		out[6 + i] = (uint8_t)(node >> (56 - 8 * i));
}

enum bpwire_verdict
bpwire_judge(const uint8_t *p, size_t n, uint64_t self, uint64_t max_size,
    struct bpwire_msg *m)
{
	int i;

	memset(m, 0, sizeof(*m));
	if (n == 0 || p[0] != 0xff) {
		m->opcode = OP_TEXT;
		m->data = p;
		m->len = n;
	} else {
		/*
		 * A later version may grow the header; until then another
		 * version is as unreadable as garbage.
		 */
		if (n < BPWIRE_HEADER ||
		    memcmp(p, BPWIRE_MAGIC, BPWIRE_MAGIC_LEN) != 0 ||
		    p[4] != BPWIRE_VERSION ||
		    (p[5] != OP_TEXT && p[5] != OP_BINARY))
			return BPWIRE_BAD_ENVELOPE;
		m->enveloped = true;
		m->opcode = p[5];
		for (i = 0; i < 8; i++)
			m->node = m->node << 8 | p[6 + i];
		m->data = p + BPWIRE_HEADER;
		m->len = n - BPWIRE_HEADER;
		if (m->node == self)
			return BPWIRE_OWN;
	}
	if (m->len > max_size)
		return BPWIRE_TOO_BIG;
	if (m->opcode == OP_TEXT && !utf8_valid(m->data, m->len))
		return BPWIRE_BAD_UTF8;
	return BPWIRE_DELIVER;
}

const char *
bpwire_verdict_name(enum bpwire_verdict v)
{
	switch (v) {
	case BPWIRE_DELIVER:
		return "delivered";
	case BPWIRE_OWN:
		return "own";
	case BPWIRE_BAD_ENVELOPE:
		return "bad envelope";
	case BPWIRE_TOO_BIG:
		return "over max_message_size";
	case BPWIRE_BAD_UTF8:
		return "text not UTF-8";
	}
	return "?";
}

/* Decimal digits of n. */
static size_t
digits(size_t n)
{
	size_t d = 1;

	while (n >= 10) {
		n /= 10;
		d++;
	}
	return d;
}

/* "$<len>\r\n<data>\r\n" without the data. */
static size_t
bulk_overhead(size_t len)
{
	return 1 + digits(len) + 2 + 2;
}

size_t
bpwire_publish_size(size_t chlen, size_t hlen, size_t len)
{
	size_t body = hlen + len, total;

	if (body < len)
		return 0;
	total = 4 + 13;			/* "*3\r\n" "$7\r\nPUBLISH\r\n" */
	total += bulk_overhead(chlen) + chlen;
	if (total + bulk_overhead(body) + body < body)
		return 0;
	return total + bulk_overhead(body) + body;
}

size_t
bpwire_publish_format(uint8_t *out, const char *ch, size_t chlen,
    const uint8_t *hdr, size_t hlen, const void *data, size_t len)
{
	uint8_t *o = out;
	int n;

	memcpy(o, "*3\r\n$7\r\nPUBLISH\r\n", 17);
	o += 17;
	/* At most 1 + 20 + 2 + NUL bytes each: a 24-byte room is enough. */
	n = snprintf((char *)o, 24, "$%zu\r\n", chlen);
	o += n;
	memcpy(o, ch, chlen);
	o += chlen;
	memcpy(o, "\r\n", 2);
	o += 2;
	n = snprintf((char *)o, 24, "$%zu\r\n", hlen + len);
	o += n;
	if (hlen > 0)
		memcpy(o, hdr, hlen);
	o += hlen;
	if (len > 0)
		memcpy(o, data, len);
	o += len;
	memcpy(o, "\r\n", 2);
	o += 2;
	return (size_t)(o - out);
}

/* A port: 1 to 65535, digits only; -1 otherwise. */
static int
parse_port(const char *s)
{
	long v = 0;

	if (*s == '\0')
		return -1;
	for (; *s != '\0'; s++) {
		if (*s < '0' || *s > '9')
			return -1;
		v = v * 10 + (*s - '0');
		if (v > 65535)
			return -1;
	}
	return v == 0 ? -1 : (int)v;
}

static bool
has_ctl(const char *s)
{
	for (; *s != '\0'; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			return true;
	return false;
}

int
bpwire_parse_addr(const char *s, struct bpwire_addr *a, const char **why)
{
	unsigned char bin[sizeof(struct in6_addr)];
	const char *port = NULL, *end;
	char host[BPWIRE_HOST_MAX];
	size_t hlen;

	memset(a, 0, sizeof(*a));
	if (s[0] == '/') {
		if (strlen(s) >= sizeof(a->path)) {
			*why = "Unix socket path too long";
			return -1;
		}
		if (has_ctl(s)) {
			*why = "control character in the Unix socket path";
			return -1;
		}
		a->unix_path = true;
		strcpy(a->path, s);
		return 0;
	}
	if (s[0] == '[') {
		if ((end = strchr(s, ']')) == NULL) {
			*why = "'[' without ']'";
			return -1;
		}
		hlen = (size_t)(end - (s + 1));
		if (end[1] == ':')
			port = end + 2;
		else if (end[1] != '\0') {
			*why = "expected ':PORT' after ']'";
			return -1;
		}
		if (hlen == 0 || hlen >= sizeof(host)) {
			*why = "not a numeric IPv6 address in brackets";
			return -1;
		}
		memcpy(host, s + 1, hlen);
		host[hlen] = '\0';
		if (inet_pton(AF_INET6, host, bin) != 1) {
			*why = "not a numeric IPv6 address in brackets";
			return -1;
		}
	} else {
		if ((end = strrchr(s, ':')) != NULL) {
			if (memchr(s, ':', (size_t)(end - s)) != NULL) {
				*why = "an IPv6 address goes in brackets: "
				    "[ADDRESS]:PORT";
				return -1;
			}
			port = end + 1;
			hlen = (size_t)(end - s);
		} else
			hlen = strlen(s);
		if (hlen == 0 || hlen >= sizeof(host)) {
			*why = "expected HOST:PORT, [IPV6]:PORT or an absolute "
			    "Unix socket path";
			return -1;
		}
		memcpy(host, s, hlen);
		host[hlen] = '\0';
		if (strcmp(host, "localhost") == 0)
			strcpy(host, "127.0.0.1");
		else if (inet_pton(AF_INET, host, bin) != 1) {
			*why = "HOST must be a numeric IP address or "
			    "\"localhost\" (no name is looked up)";
			return -1;
		}
	}
	a->port = BPWIRE_DEFAULT_PORT;
	if (port != NULL && (a->port = parse_port(port)) == -1) {
		*why = "PORT must be 1 to 65535";
		return -1;
	}
	strcpy(a->host, host);
	return 0;
}

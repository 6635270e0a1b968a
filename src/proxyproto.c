/*
 * proxyproto: see proxyproto.h.  The rules are those of HAProxy's
 * proxy-protocol.txt (Debian ships it in haproxy's doc directory):
 * version 1 is exactly "PROXY TCP4|TCP6 SRC DST SPORT DPORT\r\n" with
 * single spaces, canonical addresses and no leading zeros, or "PROXY
 * UNKNOWN" and anything up to the CRLF; version 2 is a 12-byte
 * signature, version and command, family and transport, a length, the
 * address block and TLVs.  Anything else is not a header.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>

#include "proxyproto.h"

static const uint8_t v2sig[12] = {
	0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a
};
static const char v1sig[] = "PROXY ";

#define V2_CMD_LOCAL	0x0
#define V2_CMD_PROXY	0x1
#define PP2_TYPE_SSL	0x20
#define PP2_CLIENT_SSL	0x01

static int
bad(const char **why, const char *reason)
{
	if (why != NULL)
		*why = reason;
	return -1;
}

/* ---------------------------------------------------------------- v1 */

/* A port: 0..65535 in decimal, no leading zero.  Returns -1 if not. */
static long
v1_port(const char *s, size_t n)
{
	long v = 0;
	size_t i;

	if (n == 0 || n > 5 || (n > 1 && s[0] == '0'))
		return -1;
	for (i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		v = v * 10 + (s[i] - '0');
	}
	return v <= 65535 ? v : -1;
}

/*
 * An address of family af from s[0..n) into ss with port.  IPv4 must be
 * four decimal numbers without leading zeros (inet_pton's rule too);
 * IPv6 whatever inet_pton takes, at most 39 characters as the spec's
 * longest form.
 */
static bool
v1_addr(int af, const char *s, size_t n, long port,
    struct sockaddr_storage *ss)
{
	char tmp[INET6_ADDRSTRLEN];
	size_t i;

	if (n == 0 || n > (af == AF_INET ? 15u : 39u))
		return false;
	/* inet_pton stops at nothing we have not checked: no NUL inside. */
	for (i = 0; i < n; i++)
		if (s[i] == '\0')
			return false;
	memcpy(tmp, s, n);
	tmp[n] = '\0';
	memset(ss, 0, sizeof(*ss));
	if (af == AF_INET) {
		struct sockaddr_in *s4 = (struct sockaddr_in *)(void *)ss;

		if (inet_pton(AF_INET, tmp, &s4->sin_addr) != 1)
			return false;
		s4->sin_family = AF_INET;
		s4->sin_port = htons((uint16_t)port);
	} else {
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)(void *)ss;

		if (inet_pton(AF_INET6, tmp, &s6->sin6_addr) != 1)
			return false;
		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons((uint16_t)port);
	}
	return true;
}

/*
 * The next space-separated field of line[*pos..end): exactly one space
 * before it unless it is the first.  Returns its length, 0 if none.
 */
static size_t
v1_field(const char *line, size_t end, size_t *pos, const char **f)
{
	size_t b = *pos, e;

	if (b >= end)
		return 0;
	for (e = b; e < end && line[e] != ' '; e++)
		continue;
	*f = line + b;
	*pos = e < end ? e + 1 : e;
	/* "a  b" or a trailing space: an empty field follows. */
	if (e < end && e + 1 == end)
		*pos = end + 1;
	return e - b;
}

/* The complete line buf[0..end), CRLF not included. */
static int
v1_line(const char *buf, size_t end, struct pp_info *info, const char **why)
{
	const char *proto, *f[4];
	size_t pos = sizeof(v1sig) - 1, plen, n[4];
	long sport, dport;
	int af, i;

	plen = v1_field(buf, end, &pos, &proto);
	if (plen == 7 && memcmp(proto, "UNKNOWN", 7) == 0) {
		/* The receiver must ignore what follows, up to the CRLF. */
		info->local = true;
		return 0;
	}
	if (plen == 4 && memcmp(proto, "TCP4", 4) == 0)
		af = AF_INET;
	else if (plen == 4 && memcmp(proto, "TCP6", 4) == 0)
		af = AF_INET6;
	else
		return bad(why, "PROXY v1: unknown protocol");
	for (i = 0; i < 4; i++)
		if ((n[i] = v1_field(buf, end, &pos, &f[i])) == 0)
			return bad(why, "PROXY v1: missing field");
	if (pos < end)
		return bad(why, "PROXY v1: too many fields");
	if (pos > end)
		return bad(why, "PROXY v1: trailing space");
	if ((sport = v1_port(f[2], n[2])) < 0 ||
	    (dport = v1_port(f[3], n[3])) < 0)
		return bad(why, "PROXY v1: bad port");
	if (!v1_addr(af, f[0], n[0], sport, &info->src) ||
	    !v1_addr(af, f[1], n[1], dport, &info->dst))
		return bad(why, "PROXY v1: bad address");
	return 0;
}

/* Whether c may appear after "PROXY " in a line still coming in. */
static bool
v1_char_ok(uint8_t c, bool unknown)
{
	if (unknown)
		return c != '\n';	/* a lone LF is never allowed */
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') ||
	    (c >= 'A' && c <= 'F') || c == '.' || c == ':' || c == ' ' ||
	    c == '\r';
}

static int
v1_parse(const uint8_t *buf, size_t len, struct pp_info *info,
    const char **why)
{
	static const char *const protos[] = { "TCP4 ", "TCP6 ", "UNKNOWN" };
	size_t i, n, pre = sizeof(v1sig) - 1;
	bool proto_ok = false, unknown;

	n = len < pre ? len : pre;
	if (memcmp(buf, v1sig, n) != 0)
		return bad(why, "not a PROXY protocol header");
	if (len <= pre)
		return 0;
	/* The protocol, as far as it has come. */
	n = len - pre < 5 ? len - pre : 5;
	for (i = 0; i < 3; i++)
		if (memcmp(buf + pre, protos[i], n < strlen(protos[i]) ? n :
		    strlen(protos[i])) == 0)
			proto_ok = true;
	if (!proto_ok)
		return bad(why, "PROXY v1: unknown protocol");
	unknown = buf[pre] == 'U';
	/* The CRLF ends at byte PP_V1_MAX at the latest. */
	for (i = pre + 4; i < len && i + 1 < PP_V1_MAX; i++) {
		if (buf[i] == '\r') {
			if (i + 1 == len)
				return 0;
			if (buf[i + 1] != '\n')
				return bad(why, "PROXY v1: CR without LF");
			memset(info, 0, sizeof(*info));
			info->version = 1;
			if (v1_line((const char *)buf, i, info, why) == -1)
				return -1;
			return (int)(i + 2);
		}
		if (!v1_char_ok(buf[i], unknown))
			return bad(why, "PROXY v1: bad character");
	}
	if (len + 1 >= PP_V1_MAX)
		return bad(why, "PROXY v1: no CRLF within 107 bytes");
	return 0;
}

/* ---------------------------------------------------------------- v2 */

/* The address block's size for a family and transport byte, or -1. */
static int
v2_block(uint8_t fam)
{
	switch (fam) {
	case 0x00:
		return 0;		/* UNSPEC: nothing to read */
	case 0x11: case 0x12:
		return 12;		/* IPv4: two addresses, two ports */
	case 0x21: case 0x22:
		return 36;		/* IPv6 */
	case 0x31: case 0x32:
		return 216;		/* AF_UNIX: two 108-byte paths */
	default:
		return -1;
	}
}

/* The TLVs in p[0..n): each must fit, and they must fill it exactly. */
static int
v2_tlvs(const uint8_t *p, size_t n, struct pp_info *info, const char **why)
{
	size_t off = 0, vl;

	while (off < n) {
		if (n - off < 3)
			return bad(why, "PROXY v2: truncated TLV");
		vl = (size_t)p[off + 1] << 8 | p[off + 2];
		if (vl > n - off - 3)
			return bad(why, "PROXY v2: TLV longer than the header");
		/* client (1 byte), verify (4), then sub-TLVs. */
		if (p[off] == PP2_TYPE_SSL && vl >= 5 &&
		    (p[off + 3] & PP2_CLIENT_SSL))
			info->ssl = true;
		off += 3 + vl;
	}
	return 0;
}

static void
v2_addrs(uint8_t fam, const uint8_t *a, struct pp_info *info)
{
	if (fam == 0x11) {
		struct sockaddr_in *s = (struct sockaddr_in *)(void *)&info->src;
		struct sockaddr_in *d = (struct sockaddr_in *)(void *)&info->dst;

		s->sin_family = d->sin_family = AF_INET;
		memcpy(&s->sin_addr, a, 4);
		memcpy(&d->sin_addr, a + 4, 4);
		memcpy(&s->sin_port, a + 8, 2);
		memcpy(&d->sin_port, a + 10, 2);
	} else {
		struct sockaddr_in6 *s =
		    (struct sockaddr_in6 *)(void *)&info->src;
		struct sockaddr_in6 *d =
		    (struct sockaddr_in6 *)(void *)&info->dst;

		s->sin6_family = d->sin6_family = AF_INET6;
		memcpy(&s->sin6_addr, a, 16);
		memcpy(&d->sin6_addr, a + 16, 16);
		memcpy(&s->sin6_port, a + 32, 2);
		memcpy(&d->sin6_port, a + 34, 2);
	}
}

static int
v2_parse(const uint8_t *buf, size_t len, struct pp_info *info,
    const char **why)
{
	size_t n = len < sizeof(v2sig) ? len : sizeof(v2sig), total, hlen;
	uint8_t cmd, fam;
	int block = 0;

	if (memcmp(buf, v2sig, n) != 0)
		return bad(why, "not a PROXY protocol header");
	if (len < 13)
		return 0;
	if ((buf[12] & 0xf0) != 0x20)
		return bad(why, "PROXY v2: unknown version");
	cmd = buf[12] & 0x0f;
	if (cmd != V2_CMD_LOCAL && cmd != V2_CMD_PROXY)
		return bad(why, "PROXY v2: unknown command");
	if (len < 14)
		return 0;
	fam = buf[13];
	/* LOCAL: the family is ignored, and so is the address block. */
	if (cmd == V2_CMD_PROXY && (block = v2_block(fam)) < 0)
		return bad(why, "PROXY v2: unknown family or transport");
	if (len < PP_V2_FIXED)
		return 0;
	hlen = (size_t)buf[14] << 8 | buf[15];
	if (hlen > PP_V2_MAX_LEN)
		return bad(why, "PROXY v2: header too long");
	if (hlen < (size_t)block)
		return bad(why, "PROXY v2: address block too short");
	total = PP_V2_FIXED + hlen;
	if (len < total)
		return 0;

	memset(info, 0, sizeof(*info));
	info->version = 2;
	if (cmd == V2_CMD_LOCAL || fam == 0x00) {
		/* Health checks and unknown protocols: the real endpoints. */
		info->local = true;
		return (int)total;
	}
	if (v2_tlvs(buf + PP_V2_FIXED + block, hlen - (size_t)block, info,
	    why) == -1)
		return -1;
	if (fam == 0x11 || fam == 0x21)
		v2_addrs(fam, buf + PP_V2_FIXED, info);
	else
		info->local = true;	/* UDP or AF_UNIX: not ours to use */
	return (int)total;
}

int
pp_parse(const uint8_t *buf, size_t len, struct pp_info *info,
    const char **why)
{
	if (len == 0)
		return 0;
	if (buf[0] == 'P')
		return v1_parse(buf, len, info, why);
	if (buf[0] == '\r')
		return v2_parse(buf, len, info, why);
	return bad(why, "not a PROXY protocol header");
}

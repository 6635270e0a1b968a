/*
 * execproto: see execproto.h.
 */
#include <stdio.h>
#include <string.h>

#include "execproto.h"

int
exec_utf8_valid(const void *buf, size_t len)
{
	const unsigned char *s = buf;
	size_t i = 0, n, k;
	unsigned long cp;

	while (i < len) {
		unsigned char c = s[i];

		if (c < 0x80) {
			i++;
			continue;
		}
		if (c >= 0xc2 && c <= 0xdf) {
			n = 1;
			cp = c & 0x1f;
		} else if (c >= 0xe0 && c <= 0xef) {
			n = 2;
			cp = c & 0x0f;
		} else if (c >= 0xf0 && c <= 0xf4) {
			n = 3;
			cp = c & 0x07;
		} else {
			return 0;	/* continuation, 0xc0/0xc1, 0xf5.. */
		}
		if (len - i - 1 < n)
			return 0;
		for (k = 1; k <= n; k++) {
			if ((s[i + k] & 0xc0) != 0x80)
				return 0;
			cp = (cp << 6) | (s[i + k] & 0x3f);
		}
		if ((n == 2 && cp < 0x800) || (n == 3 && cp < 0x10000) ||
		    (cp >= 0xd800 && cp <= 0xdfff) || cp > 0x10ffff)
			return 0;
		i += n + 1;
	}
	return 1;
}

/*
 * Where to cut buf[0..max) so that the cut does not split a UTF-8
 * character: max, or up to 3 bytes less when a character started there
 * runs past max.  When buf[0..max) is no UTF-8 anyway the cut is max.
 */
static size_t
utf8_cut(const unsigned char *s, size_t max)
{
	size_t back, start;
	unsigned char c;
	size_t need;

	for (back = 0; back < 4 && back < max; back++) {
		start = max - 1 - back;
		c = s[start];
		if ((c & 0xc0) == 0x80)
			continue;	/* a continuation: look further */
		if (c < 0x80)
			return max;
		need = c >= 0xf0 ? 4 : c >= 0xe0 ? 3 : c >= 0xc0 ? 2 : 1;
		if (back + 1 >= need)
			return max;		/* it ends inside the piece */
		if (start == 0)
			return max;		/* cannot cut before it */
		return exec_utf8_valid(s, start) ? start : max;
	}
	return max;
}

size_t
exec_line_next(const char *buf, size_t len, size_t max, int eof,
    size_t *msglen)
{
	const char *nl;
	size_t look = len < max + 1 ? len : max + 1;

	if (len == 0)
		return 0;
	if ((nl = memchr(buf, '\n', look)) != NULL) {
		*msglen = (size_t)(nl - buf);
		return *msglen + 1;
	}
	if (len > max) {
		*msglen = utf8_cut((const unsigned char *)buf, max);
		return *msglen;
	}
	if (eof) {
		*msglen = len;
		return len;
	}
	return 0;
}

int
exec_env_name_ok(const char *name, size_t len)
{
	size_t i;

	if (len == 0 || len > EXEC_ENV_NAME_MAX ||
	    (name[0] >= '0' && name[0] <= '9'))
		return 0;
	for (i = 0; i < len; i++) {
		char c = name[i];

		if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
		    (c >= '0' && c <= '9') || c == '_'))
			return 0;
	}
	return 1;
}

int
exec_header_env(const char *name, char *out, size_t outsz)
{
	size_t i, n = strlen(name);

	if (n == 0 || outsz < 5 + n + 1 || 5 + n > EXEC_ENV_NAME_MAX)
		return -1;
	memcpy(out, "HTTP_", 5);
	for (i = 0; i < n; i++) {
		char c = name[i];

		if (c >= 'a' && c <= 'z')
			c = (char)(c - 'a' + 'A');
		else if (c == '-')
			c = '_';
		else if (!((c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')))
			return -1;
		out[5 + i] = c;
	}
	out[5 + n] = '\0';
	return 0;
}

static int
copy_part(const char *s, size_t n, char *out, size_t outsz)
{
	if (n >= outsz)
		return -1;
	memcpy(out, s, n);
	out[n] = '\0';
	return 0;
}

int
exec_split_addr(const char *addr, char *host, size_t hostsz, char *port,
    size_t portsz)
{
	const char *colon, *end, *p;

	if (addr[0] == '[') {
		if ((end = strchr(addr, ']')) == NULL || end[1] != ':')
			return -1;
		colon = end + 1;
		if (copy_part(addr + 1, (size_t)(end - addr - 1), host,
		    hostsz) == -1)
			return -1;
	} else {
		if ((colon = strrchr(addr, ':')) == NULL ||
		    memchr(addr, ':', (size_t)(colon - addr)) != NULL)
			return -1;
		if (copy_part(addr, (size_t)(colon - addr), host, hostsz) == -1)
			return -1;
	}
	if (host[0] == '\0' || colon[1] == '\0')
		return -1;
	for (p = colon + 1; *p != '\0'; p++)
		if (*p < '0' || *p > '9')
			return -1;
	return copy_part(colon + 1, strlen(colon + 1), port, portsz);
}

int
exec_server_name(const char *value, char *out, size_t outsz)
{
	const char *end, *p;
	size_t n;

	if (value[0] == '[') {
		if ((end = strchr(value, ']')) == NULL)
			return -1;
		n = (size_t)(end - value) + 1;
		for (p = value + 1; p < end; p++)
			if (!((*p >= '0' && *p <= '9') ||
			    (*p >= 'a' && *p <= 'f') ||
			    (*p >= 'A' && *p <= 'F') || *p == ':' ||
			    *p == '.'))
				return -1;
		if (end[1] != '\0' && end[1] != ':')
			return -1;
	} else {
		n = strcspn(value, ":");
		/* RFC 3986 reg-name, less percent-encoding. */
		for (p = value; p < value + n; p++)
			if (!((*p >= '0' && *p <= '9') ||
			    (*p >= 'a' && *p <= 'z') ||
			    (*p >= 'A' && *p <= 'Z') ||
			    strchr("-._~!$&'()*+,;=", *p) != NULL))
				return -1;
	}
	if (n == 0)
		return -1;
	return copy_part(value, n, out, outsz);
}

int
exec_pattern_param(const char *pattern, size_t *pos, char *out, size_t outsz)
{
	size_t i = *pos, n;
	const char *seg;

	while (pattern[i] != '\0') {
		if (pattern[i] == '/') {
			i++;
			continue;
		}
		seg = pattern + i;
		n = strcspn(seg, "/");
		i += n;
		*pos = i;
		if (seg[0] == ':' && n > 1 &&
		    copy_part(seg + 1, n - 1, out, outsz) == 0)
			return 1;
		if (n == 1 && seg[0] == '*' && copy_part("*", 1, out, outsz) ==
		    0)
			return 1;
	}
	*pos = i;
	return 0;
}

int
exec_param_env(const char *name, char *out, size_t outsz)
{
	int n;

	if (strcmp(name, "*") == 0)
		n = snprintf(out, outsz, "PATH_REST");
	else if (!exec_env_name_ok(name, strlen(name)))
		return -1;
	else
		n = snprintf(out, outsz, "PARAM_%s", name);
	if (n < 0 || (size_t)n >= outsz || (size_t)n > EXEC_ENV_NAME_MAX)
		return -1;
	return 0;
}

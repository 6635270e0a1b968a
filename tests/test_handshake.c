/*
 * Unit tests for src/handshake.c: upgrade detection and validation,
 * Sec-WebSocket-Accept, the origin policy and subprotocol choice.
 * Requests go through the real parser, so the tests see what the
 * daemon sees.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "handshake.h"
#include "http.h"

#define MAXH	32

#define GOOD_KEY	"dGhlIHNhbXBsZSBub25jZQ=="

struct req {
	struct http_request	r;
	struct http_header	h[MAXH];
};

/* Parse a complete head from a static string; it must be valid HTTP. */
static void
parse(struct req *rq, const char *head)
{
	size_t len = strlen(head);

	assert_int_equal(http_parse_request(head, len, &rq->r, rq->h, MAXH),
	    (int)len);
}

/* The status ws_check_upgrade gives the head. */
static int
check(const char *head)
{
	struct ws_upgrade up;
	struct req rq;

	parse(&rq, head);
	return ws_check_upgrade(&rq.r, &up);
}

static void
assert_span(const char *got, size_t got_len, const char *want)
{
	assert_non_null(got);
	assert_int_equal(got_len, strlen(want));
	assert_memory_equal(got, want, got_len);
}

/* ---------------------------------------------------------------- accept */

static void
test_accept_rfc_example(void **state)
{
	char out[WS_ACCEPT_LEN + 1];

	memset(out, 'Z', sizeof(out));
	assert_int_equal(ws_accept_key(GOOD_KEY, strlen(GOOD_KEY), out), 0);
	assert_int_equal(out[WS_ACCEPT_LEN], '\0');
	assert_string_equal(out, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
}

static void
test_accept_other_key(void **state)
{
	char out[WS_ACCEPT_LEN + 1];

	assert_int_equal(ws_accept_key("x3JJHMbDL1EzLkh9GBhXDw==", 24, out),
	    0);
	assert_string_equal(out, "HSmrc0sMlYUkAGmm5OPpG2HaGWk=");

	/* Only the counted bytes are hashed. */
	assert_int_equal(ws_accept_key(GOOD_KEY "trailing", 24, out), 0);
	assert_string_equal(out, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
}

/* ---------------------------------------------------------------- upgrade */

static bool
is_upgrade(const char *head)
{
	struct req rq;

	parse(&rq, head);
	return ws_is_upgrade(&rq.r);
}

static void
test_is_upgrade(void **state)
{
	assert_true(is_upgrade("GET / HTTP/1.1\r\n"
	    "Upgrade: websocket\r\nConnection: Upgrade\r\n\r\n"));
	assert_true(is_upgrade("GET / HTTP/1.1\r\n"
	    "upgrade: WebSocket\r\nconnection: upgrade\r\n\r\n"));
	/* Firefox sends this one. */
	assert_true(is_upgrade("GET / HTTP/1.1\r\n"
	    "Connection: keep-alive, Upgrade\r\nUpgrade: websocket\r\n\r\n"));
	/* A list may be split over several lines. */
	assert_true(is_upgrade("GET / HTTP/1.1\r\n"
	    "Connection: keep-alive\r\nUpgrade: websocket\r\n"
	    "Connection: Upgrade\r\n\r\n"));
	assert_true(is_upgrade("GET / HTTP/1.1\r\n"
	    "Upgrade: foo, websocket\r\nConnection: Upgrade\r\n\r\n"));

	assert_false(is_upgrade("GET / HTTP/1.1\r\n\r\n"));
	assert_false(is_upgrade("GET / HTTP/1.1\r\n"
	    "Upgrade: websocket\r\n\r\n"));
	assert_false(is_upgrade("GET / HTTP/1.1\r\n"
	    "Connection: Upgrade\r\n\r\n"));
	assert_false(is_upgrade("GET / HTTP/1.1\r\n"
	    "Upgrade: h2c\r\nConnection: Upgrade\r\n\r\n"));
	assert_false(is_upgrade("GET / HTTP/1.1\r\n"
	    "Upgrade: websocket\r\nConnection: keep-alive\r\n\r\n"));
	assert_false(is_upgrade("GET / HTTP/1.1\r\n"
	    "Upgrade: websockets\r\nConnection: Upgrade\r\n\r\n"));
	/* The tokens must be in the right headers. */
	assert_false(is_upgrade("GET / HTTP/1.1\r\n"
	    "Upgrade: Upgrade\r\nConnection: websocket\r\n\r\n"));
}

#define HEAD(method, version, extra) \
	method " /chat HTTP/1." version "\r\n" extra "\r\n"
#define H_HOST		"Host: server.example.com\r\n"
#define H_UPGRADE	"Upgrade: websocket\r\nConnection: Upgrade\r\n"
#define H_KEY		"Sec-WebSocket-Key: " GOOD_KEY "\r\n"
#define H_VERSION	"Sec-WebSocket-Version: 13\r\n"
#define GOOD_HEADERS	H_HOST H_UPGRADE H_KEY H_VERSION

static void
test_check_ok(void **state)
{
	struct ws_upgrade up;
	struct req rq;

	parse(&rq, HEAD("GET", "1", GOOD_HEADERS));
	memset(&up, 0xa5, sizeof(up));
	assert_int_equal(ws_check_upgrade(&rq.r, &up), 0);
	assert_span(up.key, up.key_len, GOOD_KEY);
	assert_span(up.host, up.host_len, "server.example.com");
	assert_null(up.origin);
	assert_null(up.protocols);

	/* The RFC 6455 section 1.3 request, in full. */
	parse(&rq, "GET /chat HTTP/1.1\r\n"
	    "Host: server.example.com\r\n"
	    "Upgrade: websocket\r\n"
	    "Connection: Upgrade\r\n"
	    "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
	    "Origin: http://example.com\r\n"
	    "Sec-WebSocket-Protocol: chat, superchat\r\n"
	    "Sec-WebSocket-Version: 13\r\n"
	    "\r\n");
	assert_int_equal(ws_check_upgrade(&rq.r, &up), 0);
	assert_span(up.origin, up.origin_len, "http://example.com");
	assert_span(up.protocols, up.protocols_len, "chat, superchat");

	/* Several protocol lines: the first one is taken. */
	parse(&rq, HEAD("GET", "1", GOOD_HEADERS
	    "Sec-WebSocket-Protocol: a, b\r\n"
	    "Sec-WebSocket-Protocol: c\r\n"));
	assert_int_equal(ws_check_upgrade(&rq.r, &up), 0);
	assert_span(up.protocols, up.protocols_len, "a, b");

	/* Header names in any case, the value blanks trimmed. */
	parse(&rq, HEAD("GET", "1", "host: h\r\n" H_UPGRADE
	    "SEC-WEBSOCKET-KEY:   " GOOD_KEY "  \r\n"
	    "sec-websocket-version:\t13\t\r\n"));
	assert_int_equal(ws_check_upgrade(&rq.r, &up), 0);
	assert_span(up.key, up.key_len, GOOD_KEY);
}

static void
test_check_405(void **state)
{
	assert_int_equal(check(HEAD("POST", "1", GOOD_HEADERS)), 405);
	assert_int_equal(check(HEAD("HEAD", "1", GOOD_HEADERS)), 405);
	assert_int_equal(check(HEAD("GETX", "1", GOOD_HEADERS)), 405);
	/* Methods are case-sensitive. */
	assert_int_equal(check(HEAD("get", "1", GOOD_HEADERS)), 405);
	/* The method is checked first. */
	assert_int_equal(check(HEAD("POST", "0", "")), 405);
}

static void
test_check_400(void **state)
{
	/* HTTP/1.0. */
	assert_int_equal(check(HEAD("GET", "0", GOOD_HEADERS)), 400);
	/* Host missing, repeated or empty. */
	assert_int_equal(check(HEAD("GET", "1",
	    H_UPGRADE H_KEY H_VERSION)), 400);
	assert_int_equal(check(HEAD("GET", "1",
	    GOOD_HEADERS "Host: other.example.com\r\n")), 400);
	assert_int_equal(check(HEAD("GET", "1",
	    GOOD_HEADERS H_HOST)), 400);
	assert_int_equal(check(HEAD("GET", "1",
	    "Host:\r\n" H_UPGRADE H_KEY H_VERSION)), 400);
	/* Sec-WebSocket-Version repeated, even with the same value. */
	assert_int_equal(check(HEAD("GET", "1", GOOD_HEADERS H_VERSION)),
	    400);
	assert_int_equal(check(HEAD("GET", "1",
	    GOOD_HEADERS "Sec-WebSocket-Version: 8\r\n")), 400);
	/* Sec-WebSocket-Key missing or repeated. */
	assert_int_equal(check(HEAD("GET", "1",
	    H_HOST H_UPGRADE H_VERSION)), 400);
	assert_int_equal(check(HEAD("GET", "1", GOOD_HEADERS H_KEY)), 400);
	assert_int_equal(check(HEAD("GET", "1", GOOD_HEADERS
	    "Sec-WebSocket-Key: x3JJHMbDL1EzLkh9GBhXDw==\r\n")), 400);
	/* Origin repeated. */
	assert_int_equal(check(HEAD("GET", "1", GOOD_HEADERS
	    "Origin: http://a\r\nOrigin: http://a\r\n")), 400);
	/* One Origin is fine. */
	assert_int_equal(check(HEAD("GET", "1", GOOD_HEADERS
	    "Origin: http://a\r\n")), 0);
}

static void
test_check_426(void **state)
{
	assert_int_equal(check(HEAD("GET", "1", H_HOST H_UPGRADE H_KEY)),
	    426);
	assert_int_equal(check(HEAD("GET", "1", H_HOST H_UPGRADE H_KEY
	    "Sec-WebSocket-Version: 8\r\n")), 426);
	assert_int_equal(check(HEAD("GET", "1", H_HOST H_UPGRADE H_KEY
	    "Sec-WebSocket-Version: 013\r\n")), 426);
	assert_int_equal(check(HEAD("GET", "1", H_HOST H_UPGRADE H_KEY
	    "Sec-WebSocket-Version: 13, 8\r\n")), 426);
	assert_int_equal(check(HEAD("GET", "1", H_HOST H_UPGRADE H_KEY
	    "Sec-WebSocket-Version: 1\r\n")), 426);
	assert_int_equal(check(HEAD("GET", "1", H_HOST H_UPGRADE H_KEY
	    "Sec-WebSocket-Version:\r\n")), 426);
}

static void
test_check_order(void **state)
{
	/* HTTP/1.0 before Host. */
	assert_int_equal(check(HEAD("GET", "0", "")), 400);
	/* Host before the version. */
	assert_int_equal(check(HEAD("GET", "1", H_UPGRADE)), 400);
	/* A missing version before a bad key. */
	assert_int_equal(check(HEAD("GET", "1", H_HOST
	    "Sec-WebSocket-Key: nope\r\n")), 426);
	/* A repeated Host before a missing version. */
	assert_int_equal(check(HEAD("GET", "1", H_HOST H_HOST H_KEY)), 400);
	/* HTTP/1.0 before a missing version. */
	assert_int_equal(check(HEAD("GET", "0", H_HOST H_KEY)), 400);
	/* A wrong version before a missing key. */
	assert_int_equal(check(HEAD("GET", "1", H_HOST
	    "Sec-WebSocket-Version: 7\r\n")), 426);
}

static int
check_key(const char *key)
{
	char head[512];

	snprintf(head, sizeof(head), "GET / HTTP/1.1\r\n" H_HOST H_UPGRADE
	    H_VERSION "Sec-WebSocket-Key: %s\r\n\r\n", key);
	return check(head);
}

static void
test_check_keys(void **state)
{
	/* Sixteen bytes, in various spellings. */
	assert_int_equal(check_key(GOOD_KEY), 0);
	assert_int_equal(check_key("AAAAAAAAAAAAAAAAAAAAAA=="), 0);
	assert_int_equal(check_key("/////////////////////w=="), 0);
	assert_int_equal(check_key("+/+/+/+/+/09az09AZ09ag=="), 0);
	/*
	 * Non-zero unused bits in the last character still decode to 16
	 * bytes; the RFC asks for nothing more.
	 */
	assert_int_equal(check_key("dGhlIHNhbXBsZSBub25jZR=="), 0);

	/* 15 bytes, 17 bytes and 18 bytes. */
	assert_int_equal(check_key("QUFBQUFBQUFBQUFBQUFB"), 400);
	assert_int_equal(check_key("QUFBQUFBQUFBQUFBQUFBQUE="), 400);
	assert_int_equal(check_key("QUFBQUFBQUFBQUFBQUFBQUFB"), 400);
	/* 16 bytes badly padded or not padded. */
	assert_int_equal(check_key("dGhlIHNhbXBsZSBub25jZQ"), 400);
	assert_int_equal(check_key("dGhlIHNhbXBsZSBub25jZQ="), 400);
	assert_int_equal(check_key("dGhlIHNhbXBsZSBub25jZQ==="), 400);
	assert_int_equal(check_key("dGhlIHNhbXBsZSBub25jZ=Q="), 400);
	assert_int_equal(check_key("dGhlIHNhbXBsZSBub25jZ==="), 400);
	assert_int_equal(check_key("========================"), 400);
	/* Characters outside the alphabet. */
	assert_int_equal(check_key("dGhlIHNhbXBsZSBub25jZ*=="), 400);
	assert_int_equal(check_key("dGhlIHNhbXBsZSBub25j-_=="), 400);
	assert_int_equal(check_key("dGhlIHNhbXBs ZSBub25jZQ=="), 400);
	assert_int_equal(check_key("dGhlIHNhbXBsZSBu.25jZQ=="), 400);
	assert_int_equal(check_key("dGhlIHNhbXBsZSBub25jZ\xc3\xa9=="), 400);
	/* Empty. */
	assert_int_equal(check_key(""), 400);
}

/* ---------------------------------------------------------------- origin */

static struct ws_upgrade
mkup(const char *host, const char *origin)
{
	struct ws_upgrade up;

	memset(&up, 0, sizeof(up));
	up.key = GOOD_KEY;
	up.key_len = strlen(GOOD_KEY);
	up.host = host;
	up.host_len = strlen(host);
	if (origin != NULL) {
		up.origin = origin;
		up.origin_len = strlen(origin);
	}
	return up;
}

static bool
same_host_ok(const char *host, const char *origin)
{
	struct ws_upgrade up = mkup(host, origin);

	return ws_origin_allowed(&up, NULL, 0);
}

static bool
list_ok(const char *origin, const char *const *list, size_t n)
{
	struct ws_upgrade up = mkup("server.example.com", origin);

	return ws_origin_allowed(&up, list, n);
}

static void
test_origin_same_host(void **state)
{
	/* No Origin: not a browser, allowed. */
	assert_true(same_host_ok("example.com", NULL));

	assert_true(same_host_ok("example.com", "http://example.com"));
	assert_true(same_host_ok("example.com", "https://example.com"));
	assert_true(same_host_ok("Example.COM", "HTTP://example.com"));
	assert_true(same_host_ok("example.com:8888",
	    "http://example.com:8888"));
	assert_true(same_host_ok("example.com:8888",
	    "https://EXAMPLE.com:8888"));
	assert_true(same_host_ok("127.0.0.1:8888", "http://127.0.0.1:8888"));
	assert_true(same_host_ok("[::1]:8888", "http://[::1]:8888"));
	assert_true(same_host_ok("[::1]", "http://[::1]"));

	/* Default ports, on either side. */
	assert_true(same_host_ok("h", "http://h:80"));
	assert_true(same_host_ok("h", "https://h:443"));
	assert_true(same_host_ok("h:80", "http://h"));
	assert_true(same_host_ok("h:443", "https://h"));
	assert_true(same_host_ok("h:80", "http://h:80"));
	assert_false(same_host_ok("h", "http://h:443"));
	assert_false(same_host_ok("h", "https://h:80"));
	assert_false(same_host_ok("h:80", "https://h"));
	assert_false(same_host_ok("h:443", "http://h"));

	/* Port mismatches. */
	assert_false(same_host_ok("example.com:8888", "http://example.com"));
	assert_false(same_host_ok("example.com", "http://example.com:8888"));
	assert_false(same_host_ok("example.com:8888",
	    "http://example.com:8889"));

	/* Host mismatches and tricks. */
	assert_false(same_host_ok("example.com", "http://evil.com"));
	assert_false(same_host_ok("example.com",
	    "http://example.com.evil.com"));
	assert_false(same_host_ok("example.com", "http://evilexample.com"));
	assert_false(same_host_ok("example.com", "http://example.co"));
	assert_false(same_host_ok("example.com",
	    "http://example.com@evil.com"));
	assert_false(same_host_ok("example.com",
	    "http://evil.com/example.com"));
	assert_false(same_host_ok("example.com", "http://example.com/"));
	assert_false(same_host_ok("example.com", "http://example.com:"));
	assert_false(same_host_ok("example.com:", "http://example.com"));
	assert_false(same_host_ok("example.com",
	    "http://example.com:99999"));
	assert_false(same_host_ok("[::1]", "http://[::2]"));

	/* Not an http(s) origin at all. */
	assert_false(same_host_ok("example.com", "null"));
	assert_false(same_host_ok("example.com", ""));
	assert_false(same_host_ok("example.com", "example.com"));
	assert_false(same_host_ok("example.com", "ws://example.com"));
	assert_false(same_host_ok("example.com", "file://example.com"));
	assert_false(same_host_ok("example.com", "http:/example.com"));
	assert_false(same_host_ok("example.com", "http://"));
	assert_false(same_host_ok("example.com", "//example.com"));
}

static void
test_origin_list(void **state)
{
	static const char *const one[] = { "https://app.example.com" };
	static const char *const two[] = {
		"http://localhost:8080", "https://app.example.com",
	};
	static const char *const star[] = { "*" };
	static const char *const with_null[] = { "null" };

	assert_true(list_ok("https://app.example.com", one, 1));
	assert_true(list_ok("HTTPS://APP.EXAMPLE.COM", one, 1));
	assert_true(list_ok(NULL, one, 1));
	assert_false(list_ok("http://app.example.com", one, 1));
	assert_false(list_ok("https://app.example.com:443", one, 1));
	assert_false(list_ok("https://app.example.com/", one, 1));
	assert_false(list_ok("https://app.example.co", one, 1));
	assert_false(list_ok("null", one, 1));
	/* With a list the same-host rule no longer applies. */
	assert_false(list_ok("http://server.example.com", one, 1));

	assert_true(list_ok("http://localhost:8080", two, 2));
	assert_true(list_ok("https://app.example.com", two, 2));
	assert_false(list_ok("http://localhost:8081", two, 2));

	assert_true(list_ok("https://anything.example", star, 1));
	assert_true(list_ok("null", star, 1));
	assert_true(list_ok(NULL, star, 1));

	assert_true(list_ok("null", with_null, 1));
}

static void
test_origin_from_request(void **state)
{
	struct ws_upgrade up;
	struct req rq;

	parse(&rq, HEAD("GET", "1", "Host: example.com:8888\r\n" H_UPGRADE
	    H_KEY H_VERSION "Origin: http://example.com:8888\r\n"));
	assert_int_equal(ws_check_upgrade(&rq.r, &up), 0);
	assert_true(ws_origin_allowed(&up, NULL, 0));

	parse(&rq, HEAD("GET", "1", "Host: example.com:8888\r\n" H_UPGRADE
	    H_KEY H_VERSION "Origin: http://attacker.test\r\n"));
	assert_int_equal(ws_check_upgrade(&rq.r, &up), 0);
	assert_false(ws_origin_allowed(&up, NULL, 0));
}

/* ---------------------------------------------------------------- protocols */

static int
pick(const char *offered, const char *const *ours, size_t n)
{
	return ws_pick_subprotocol(offered, strlen(offered), ours, n);
}

static void
test_pick_subprotocol(void **state)
{
	static const char *const ours[] = { "chat", "superchat", "v2.json" };

	/* The client's order wins. */
	assert_int_equal(pick("chat, superchat", ours, 3), 0);
	assert_int_equal(pick("superchat, chat", ours, 3), 1);
	assert_int_equal(pick("foo, v2.json, chat", ours, 3), 2);
	assert_int_equal(pick("chat", ours, 3), 0);
	assert_int_equal(pick("  superchat\t", ours, 3), 1);
	assert_int_equal(pick(",, ,chat", ours, 3), 0);
	assert_int_equal(pick("foo,superchat", ours, 3), 1);

	/* Exact and case-sensitive. */
	assert_int_equal(pick("Chat", ours, 3), -1);
	assert_int_equal(pick("CHAT, SUPERCHAT", ours, 3), -1);
	assert_int_equal(pick("cha", ours, 3), -1);
	assert_int_equal(pick("chats", ours, 3), -1);
	assert_int_equal(pick("super chat", ours, 3), -1);
	assert_int_equal(pick("foo, bar", ours, 3), -1);
	assert_int_equal(pick("", ours, 3), -1);
	assert_int_equal(pick(",", ours, 3), -1);
	assert_int_equal(pick("chat", ours, 0), -1);
	assert_int_equal(ws_pick_subprotocol(NULL, 0, ours, 3), -1);

	/* Only the counted bytes count. */
	assert_int_equal(ws_pick_subprotocol("chatX", 4, ours, 3), 0);
	assert_int_equal(ws_pick_subprotocol("superchat", 5, ours, 3), -1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_accept_rfc_example),
		cmocka_unit_test(test_accept_other_key),
		cmocka_unit_test(test_is_upgrade),
		cmocka_unit_test(test_check_ok),
		cmocka_unit_test(test_check_405),
		cmocka_unit_test(test_check_400),
		cmocka_unit_test(test_check_426),
		cmocka_unit_test(test_check_order),
		cmocka_unit_test(test_check_keys),
		cmocka_unit_test(test_origin_same_host),
		cmocka_unit_test(test_origin_list),
		cmocka_unit_test(test_origin_from_request),
		cmocka_unit_test(test_pick_subprotocol),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

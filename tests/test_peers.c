/*
 * Unit tests for the record codec of src/peers.c (the stream between
 * workers) and for topic_name_len() of src/topic.c.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include <wsd/plugin.h>

#include "peers.h"
#include "topic.h"

/* A whole record for name/payload in a fresh buffer; its size in *n. */
static uint8_t *
record(int opcode, const char *name, const void *data, size_t len,
    size_t *n)
{
	uint8_t *b = malloc(PEER_HDR_SIZE + WSD_TOPIC_MAX + len);
	size_t hl;

	assert_non_null(b);
	hl = peer_record_encode(b, opcode, name, strlen(name), len);
	assert_int_equal(hl, PEER_HDR_SIZE + strlen(name));
	if (len > 0)
		memcpy(b + hl, data, len);
	*n = hl + len;
	return b;
}

static void
test_round_trip(void **state)
{
	struct peer_record rec;
	size_t n, need;
	uint8_t *b = record(WSD_TEXT, "news", "hello", 5, &n);

	(void)state;
	assert_int_equal(n, 6 + 4 + 5);
	/* Big-endian length of what follows the length field. */
	assert_memory_equal(b, "\x00\x00\x00\x0b\x01\x04news", 10);
	assert_int_equal(peer_record_decode(b, n, 1024, &rec, &need), PEER_OK);
	assert_int_equal(need, n);
	assert_int_equal(rec.opcode, WSD_TEXT);
	assert_int_equal(rec.nlen, 4);
	assert_memory_equal(rec.name, "news", 4);
	assert_int_equal(rec.len, 5);
	assert_memory_equal(rec.data, "hello", 5);
	free(b);
}

static void
test_empty_payload_binary(void **state)
{
	struct peer_record rec;
	size_t n, need;
	uint8_t *b = record(WSD_BINARY, "a", NULL, 0, &n);

	(void)state;
	assert_int_equal(n, 7);
	assert_int_equal(peer_record_decode(b, n, 0, &rec, &need), PEER_OK);
	assert_int_equal(rec.opcode, WSD_BINARY);
	assert_int_equal(rec.len, 0);
	assert_int_equal(rec.nlen, 1);
	free(b);
}

/* Every prefix of a record is PEER_MORE, never OK or BAD. */
static void
test_prefixes(void **state)
{
	struct peer_record rec;
	size_t n, need, i;
	uint8_t *b = record(WSD_TEXT, "room.1", "some payload", 12, &n);

	(void)state;
	for (i = 0; i < n; i++) {
		assert_int_equal(peer_record_decode(b, i, 100, &rec, &need),
		    PEER_MORE);
		if (i >= PEER_LEN_SIZE)
			assert_int_equal(need, n);
		else
			assert_true(need > i);
	}
	free(b);
}

/* Two records back to back: the first is decoded, need says where. */
static void
test_two_records(void **state)
{
	struct peer_record rec;
	size_t n1, n2, need;
	uint8_t *a = record(WSD_TEXT, "t", "1", 1, &n1);
	uint8_t *b = record(WSD_BINARY, "u", "22", 2, &n2);
	uint8_t buf[64];

	(void)state;
	memcpy(buf, a, n1);
	memcpy(buf + n1, b, n2);
	assert_int_equal(peer_record_decode(buf, n1 + n2, 10, &rec, &need),
	    PEER_OK);
	assert_int_equal(need, n1);
	assert_memory_equal(rec.data, "1", 1);
	assert_int_equal(peer_record_decode(buf + need, n1 + n2 - need, 10,
	    &rec, &need), PEER_OK);
	assert_int_equal(rec.opcode, WSD_BINARY);
	assert_memory_equal(rec.data, "22", 2);
	free(a);
	free(b);
}

static void
test_encode_refuses(void **state)
{
	uint8_t b[PEER_HDR_SIZE + WSD_TOPIC_MAX + 1];
	char longname[WSD_TOPIC_MAX + 2];

	(void)state;
	memset(longname, 'n', sizeof(longname));
	longname[WSD_TOPIC_MAX + 1] = '\0';
	assert_int_equal(peer_record_encode(b, 9, "t", 1, 0), 0);
	assert_int_equal(peer_record_encode(b, 0, "t", 1, 0), 0);
	assert_int_equal(peer_record_encode(b, WSD_TEXT, "", 0, 0), 0);
	assert_int_equal(peer_record_encode(b, WSD_TEXT, "a b", 3, 0), 0);
	assert_int_equal(peer_record_encode(b, WSD_TEXT, longname,
	    WSD_TOPIC_MAX + 1, 0), 0);
	assert_int_equal(peer_record_encode(b, WSD_TEXT, longname,
	    WSD_TOPIC_MAX, 0), PEER_HDR_SIZE + WSD_TOPIC_MAX);
	/* The length field is 32 bits. */
	assert_int_equal(peer_record_encode(b, WSD_TEXT, "t", 1,
	    (size_t)UINT32_MAX - 2), 0);
	assert_int_equal(peer_record_encode(b, WSD_TEXT, "t", 1,
	    (size_t)UINT32_MAX - 3), PEER_HDR_SIZE + 1);
}

static enum peer_decode
decode_bytes(const char *bytes, size_t n, uint64_t maxp)
{
	struct peer_record rec;
	size_t need;

	return peer_record_decode((const uint8_t *)bytes, n, maxp, &rec,
	    &need);
}

static void
test_malformed(void **state)
{
	(void)state;
	/* Length too small for opcode, name length and a name. */
	assert_int_equal(decode_bytes("\0\0\0\2", 4, 10), PEER_BAD);
	assert_int_equal(decode_bytes("\0\0\0\0", 4, 10), PEER_BAD);
	/* Longer than a maximal name and payload: judged on 4 bytes. */
	assert_int_equal(decode_bytes("\xff\xff\xff\xff", 4, 10), PEER_BAD);
	assert_int_equal(decode_bytes("\0\0\0\x8d", 4, 10), PEER_BAD);
	assert_int_equal(decode_bytes("\0\0\0\x8c", 4, 10), PEER_MORE);
	/* Bad opcodes. */
	assert_int_equal(decode_bytes("\0\0\0\3\0\1a", 7, 10), PEER_BAD);
	assert_int_equal(decode_bytes("\0\0\0\3\x08\1a", 7, 10), PEER_BAD);
	assert_int_equal(decode_bytes("\0\0\0\3\x09\1", 6, 10), PEER_BAD);
	/* Name length 0, over WSD_TOPIC_MAX, or past the record. */
	assert_int_equal(decode_bytes("\0\0\0\3\1\0a", 7, 10), PEER_BAD);
	assert_int_equal(decode_bytes("\0\0\0\x83\1\x81", 6, 200), PEER_BAD);
	assert_int_equal(decode_bytes("\0\0\0\3\1\2ab", 8, 10), PEER_BAD);
	/* Payload over the limit, seen from the header alone. */
	assert_int_equal(decode_bytes("\0\0\0\x0e\1\1a", 7, 10), PEER_BAD);
	assert_int_equal(decode_bytes("\0\0\0\x0d\1\1a", 7, 10), PEER_MORE);
	/* Name bytes outside 0x21..0x7e, seen before the payload. */
	assert_int_equal(decode_bytes("\0\0\0\5\1\2a ", 8, 10), PEER_BAD);
	assert_int_equal(decode_bytes("\0\0\0\5\1\2a\x7f", 8, 10), PEER_BAD);
	assert_int_equal(decode_bytes("\0\0\0\5\1\2\x80z", 8, 10), PEER_BAD);
	assert_int_equal(decode_bytes("\0\0\0\7\1\2ab", 8, 10), PEER_MORE);
}

static void
test_topic_name_len(void **state)
{
	char name[WSD_TOPIC_MAX + 2];

	(void)state;
	assert_int_equal(topic_name_len(NULL), 0);
	assert_int_equal(topic_name_len(""), 0);
	assert_int_equal(topic_name_len("a"), 1);
	assert_int_equal(topic_name_len("chat:room/1~!"), 13);
	assert_int_equal(topic_name_len("a b"), 0);
	assert_int_equal(topic_name_len("a\tb"), 0);
	assert_int_equal(topic_name_len("caf\xc3\xa9"), 0);
	assert_int_equal(topic_name_len("del\x7f"), 0);
	memset(name, 'x', sizeof(name));
	name[WSD_TOPIC_MAX] = '\0';
	assert_int_equal(topic_name_len(name), WSD_TOPIC_MAX);
	name[WSD_TOPIC_MAX] = 'x';
	name[WSD_TOPIC_MAX + 1] = '\0';
	assert_int_equal(topic_name_len(name), 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_round_trip),
		cmocka_unit_test(test_empty_payload_binary),
		cmocka_unit_test(test_prefixes),
		cmocka_unit_test(test_two_records),
		cmocka_unit_test(test_encode_refuses),
		cmocka_unit_test(test_malformed),
		cmocka_unit_test(test_topic_name_len),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

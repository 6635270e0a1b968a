/*
 * fuzz_metrics: the merge of several workers' exposition texts
 * (src/metrics.c), which a scraping worker parses from the others.
 *
 * The input is split at its first NUL byte (or used whole) into two
 * texts, A and B, merged in that order with a rendered text of the
 * harness's own.  Invariants: no crash or leak; the result renders, and
 * merging the rendered result alone renders the very same text again
 * (the merge is a fixed point: every sample line it writes parses back
 * to the same key and value, and each family comes out once).
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "metrics.h"

#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char own[] =
	    "# HELP wsd_connections Open.\n"
	    "# TYPE wsd_connections gauge\n"
	    "wsd_connections{route=\"/a\"} 1\n"
	    "# TYPE process_open_fds gauge\n"
	    "process_open_fds 12\n";
	const char *text = (const char *)data;
	const char *nul = memchr(data, '\0', size);
	size_t alen = nul != NULL ? (size_t)(nul - text) : size;
	struct metrics_merge *mm, *again;
	struct mbuf one = { NULL, 0, 0, false }, two = { NULL, 0, 0, false };

	if ((mm = metrics_merge_new()) == NULL)
		return 0;
	if (metrics_merge_add(mm, own, sizeof(own) - 1) == -1 ||
	    metrics_merge_add(mm, text, alen) == -1 ||
	    (nul != NULL && metrics_merge_add(mm, nul + 1,
	    size - alen - 1) == -1)) {
		metrics_merge_free(mm);
		return 0;
	}
	metrics_merge_render(mm, &one);
	metrics_merge_free(mm);
	if (one.failed || one.p == NULL) {
		mbuf_free(&one);
		return 0;
	}
	/* B may hold NULs of its own, which the text cannot carry. */
	if (nul == NULL || memchr(nul + 1, '\0', size - alen - 1) == NULL) {
		FUZZ_CHECK((again = metrics_merge_new()) != NULL);
		FUZZ_CHECK(metrics_merge_add(again, one.p, one.len) == 0);
		metrics_merge_render(again, &two);
		metrics_merge_free(again);
		FUZZ_CHECK(!two.failed);
		if (two.len != one.len || memcmp(two.p, one.p, one.len) != 0)
			FUZZ_FAIL("merging the merge changed it:\n%s\n---\n%s",
			    one.p, two.p != NULL ? two.p : "");
	}
	mbuf_free(&one);
	mbuf_free(&two);
	return 0;
}

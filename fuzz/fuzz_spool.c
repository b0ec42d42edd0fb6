/* libFuzzer target: spool frames (pf_spool_frame_parse) and record bodies (pf_record_decode). */
#include <stdint.h>
#include <string.h>

#include "fuzz_common.h"
#include "pf_record.h"
#include "pf_spool.h"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	return 0;
}

/* A body that decodes must encode back to the very same bytes (the encoding is canonical). */
static void check_body(const uint8_t *body, size_t len)
{
	static uint8_t buf[1 << 17];
	struct pf_record rec;
	int n;

	/* The writer's decoder takes what the strict one takes, and what it cleans is a record. */
	n = pf_record_decode_spooled(&rec, body, len);
	if (n == 1)
		FUZZ_CHECK(pf_record_encode(&rec, buf, sizeof(buf)) > 0);
	if (pf_record_decode(&rec, body, len) != 0) {
		FUZZ_CHECK(n != 0);
		return;
	}
	FUZZ_CHECK(n == 0);
	n = pf_record_encode(&rec, buf, sizeof(buf));
	FUZZ_CHECK(n > 0);
	FUZZ_CHECK((size_t)n == len && memcmp(buf, body, len) == 0);
}

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
	uint8_t *copy = malloc(size ? size : 1); /* exact size: over-reads are caught */
	const uint8_t *body;
	uint32_t blen;
	size_t off = 0, used;
	int rc;

	if (!copy)
		abort();
	memcpy(copy, data, size);
	/* the input as a segment file: frames until the end or a bad one */
	while (off < size) {
		rc = pf_spool_frame_parse(copy + off, size - off, &body, &blen, &used);
		if (rc <= 0)
			break;
		FUZZ_CHECK(used == 8 + (size_t)blen && used <= size - off);
		FUZZ_CHECK(body == copy + off + 8);
		check_body(body, blen);
		off += used;
	}
	/* and the input as one record body (the CRC would keep most mutations out above) */
	check_body(copy, size);
	free(copy);
	return 0;
}

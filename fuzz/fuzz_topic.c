/* libFuzzer target: pf_topic_parse; an accepted topic must yield a lot id the contract allows. */
#include <stdint.h>
#include <string.h>

#include "fuzz_common.h"
#include "pf_normalize.h"

static int lot_char(unsigned char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
	       c == '.' || c == '_' || c == '-';
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	return 0;
}

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
	char *topic = malloc(size ? size : 1); /* exact size, not NUL-terminated */
	char lot[PF_LOT_ID_MAX + 1];
	enum pf_topic_kind kind = 0;
	size_t n;

	if (!topic)
		abort();
	memcpy(topic, data, size);
	memset(lot, 'X', sizeof(lot));
	if (pf_topic_parse("parking", topic, size, 256, &kind, lot) == 0) {
		FUZZ_CHECK(size <= 256);
		FUZZ_CHECK(kind == PF_TOPIC_OCCUPANCY || kind == PF_TOPIC_STATUS);
		n = strnlen(lot, sizeof(lot));
		FUZZ_CHECK(n >= 1 && n <= PF_LOT_ID_MAX);
		for (size_t i = 0; i < n; i++)
			FUZZ_CHECK(lot_char((unsigned char)lot[i]));
		/* the lot id is the topic's second level, verbatim */
		FUZZ_CHECK(size > 8 + n && memcmp(topic, "parking/", 8) == 0);
		FUZZ_CHECK(memcmp(topic + 8, lot, n) == 0 && topic[8 + n] == '/');
	}
	free(topic);
	return 0;
}

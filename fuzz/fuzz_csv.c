/* libFuzzer target: the lot-import CSV reader (pf_csv_next) over a whole file. */
#include <stdint.h>
#include <string.h>

#include "fuzz_common.h"
#include "pf_ledger.h"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	return 0;
}

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
	char *copy = malloc(size ? size : 1); /* exact size, no terminating NUL */
	const char *const *fields;
	size_t nfields, line, prev_line = 0, records = 0;
	char err[256];
	struct pf_csv c;
	int rc;

	if (!copy)
		abort();
	memcpy(copy, data, size);
	pf_csv_init(&c, copy, size);
	for (;;) {
		err[0] = '\0';
		rc = pf_csv_next(&c, &fields, &nfields, &line, err, sizeof(err));
		if (rc == 0)
			break;
		if (rc < 0) {
			FUZZ_CHECK(err[0] != '\0');
		} else {
			FUZZ_CHECK(rc == 1 && nfields >= 1 && fields != NULL);
			for (size_t i = 0; i < nfields; i++) {
				FUZZ_CHECK(fields[i] != NULL);
				(void)strlen(fields[i]); /* every field is NUL-terminated */
			}
			FUZZ_CHECK(line > prev_line); /* records come in file order */
			prev_line = line;
		}
		/* every call consumes at least one line: more records than bytes means a loop */
		FUZZ_CHECK(++records <= size + 1);
	}
	pf_csv_free(&c);
	free(copy);
	return 0;
}

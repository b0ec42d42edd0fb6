/*
 * A database batch: records turned into the parallel array parameters of the schema's
 * ingest functions (PostgreSQL text array literals), one transaction's worth.
 */
#ifndef PF_BATCH_H
#define PF_BATCH_H

#include <stddef.h>
#include <stdint.h>

#include "pf_buf.h"
#include "pf_record.h"

/* The schema's ingest functions a batch calls (schema/001_base.sql), in the order they run. */
enum pf_ingest_call {
	PF_INGEST_OCCUPANCY = 0, /* parking.ingest_occupancy */
	PF_INGEST_STATUS,	 /* parking.ingest_status */
	PF_INGEST_REJECTED,	 /* parking.ingest_rejected */
	PF_INGEST__N
};
#define PF_INGEST_MAX_PARAMS 9

/* One call: its parameters in text format (array literals). */
struct pf_ingest_query {
	enum pf_ingest_call call;
	const char *params[PF_INGEST_MAX_PARAMS];
};

struct pf_batch;

struct pf_batch *pf_batch_new(void);
void pf_batch_free(struct pf_batch *b);
/* Empty it, keeping its buffers for the next batch. */
void pf_batch_reset(struct pf_batch *b);
/* Add a record (any kind). Returns 0 or -ENOMEM. */
__attribute__((warn_unused_result)) int pf_batch_add(struct pf_batch *b,
						     const struct pf_record *rec);
size_t pf_batch_records(const struct pf_batch *b);
size_t pf_batch_bytes(const struct pf_batch *b);
/* Oldest received_at in the batch (microseconds), 0 when empty. */
int64_t pf_batch_oldest(const struct pf_batch *b);
/*
 * Close the arrays and describe the non-empty ones as queries (at most PF_INGEST__N).
 * The strings stay valid until the next reset or add.
 */
int pf_batch_queries(struct pf_batch *b, struct pf_ingest_query *q);

/*
 * A text[] parameter built element by element, quoted as the batches' are (NUL and invalid
 * UTF-8 replaced): append the element that has n_before elements before it (0 or -ENOMEM),
 * then close the literal with the element count ("{}" for none): the string, or NULL without
 * memory.
 */
__attribute__((warn_unused_result)) int pf_pgarray_text(struct pf_buf *s, size_t n_before,
							const char *text, size_t n);
const char *pf_pgarray_end(struct pf_buf *s, size_t n);

#endif

/*
 * A database batch: records turned into the parallel array parameters of the schema's
 * ingest functions (PostgreSQL text array literals), one transaction's worth.
 */
#ifndef PF_BATCH_H
#define PF_BATCH_H

#include <stddef.h>
#include <stdint.h>

#include "db.h"
#include "pf_record.h"

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
 * Close the arrays and describe the non-empty ones as queries (at most PF_DB__NSTMT).
 * The strings stay valid until the next reset or add.
 */
int pf_batch_queries(struct pf_batch *b, struct pf_db_query *q);

#endif

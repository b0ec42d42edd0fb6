/*
 * The live feed's bookkeeping, pure (no I/O, no clock: times are passed in): which lots may
 * have changed, from the records the writer committed; which to ask the database about; what
 * to publish, compared with what was published; and the bounded queue of messages waiting for
 * the broker, where a lot's newer message replaces its older one (latest wins).
 *
 * A lot's or a district's way through it:
 *
 *   commit of a record newer than what is known of the lot (and, when this daemon is the
 *   lot's only writer, with other values)        -> dirty
 *   pf_feedq_ask_lots                            -> asked (the database's answer is awaited)
 *   answer: changed since the message rendered last -> a message waits in the queue
 *   pf_feedq_next / pf_feedq_done                -> published (or dropped)
 *
 * Counting: every change ends published, coalesced (a newer one replaced it before it was
 * published) or dropped (the queue was full, the send failed, the lot could not be tracked).
 */
#ifndef PF_FEEDQ_H
#define PF_FEEDQ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "pf_avail.h"
#include "pf_buf.h"
#include "pf_record.h"

enum pf_feedq_kind { PF_FEEDQ_LOT = 0, PF_FEEDQ_DISTRICT, PF_FEEDQ__N };

struct pf_feedq_config {
	size_t queue_max;     /* messages waiting, lots and districts together ([feed] queue_max) */
	size_t max_lots;      /* lots tracked; records of further lots are dropped */
	size_t max_districts; /* districts tracked */
	bool exclusive;	      /* this daemon alone writes its lots (no [mqtt] shared_group) */
};

struct pf_feedq_stats {
	uint64_t published[PF_FEEDQ__N]; /* messages handed to the broker */
	uint64_t coalesced[PF_FEEDQ__N]; /* changes replaced by a newer one before publishing */
	uint64_t dropped[PF_FEEDQ__N];	 /* changes given up */
	uint64_t queued;		 /* messages waiting now */
	uint64_t asking;		 /* lots and districts the database is to tell about */
};

/* A lot as feed_lots answers it; strings valid during the call only. */
struct pf_feedq_lot_row {
	struct pf_avail_lot lot; /* has_data is true: feed_lots answers lots that reported */
	int64_t changes;	 /* lot_state.changes */
};

/* A message to publish: the payload belongs to the queue until pf_feedq_done. */
struct pf_feedq_msg {
	enum pf_feedq_kind kind;
	const char *key; /* the lot id or the district */
	const char *payload;
	size_t len;
	uint64_t since_ns; /* when the commit it reports was known (for the latency figure) */
	uint32_t item;	   /* internal */
};

struct pf_feedq;
struct pf_feedq_txn;

__attribute__((warn_unused_result)) struct pf_feedq *
pf_feedq_new(const struct pf_feedq_config *cfg);
void pf_feedq_free(struct pf_feedq *q);

/* The observations of one database transaction, kept until it commits. */
struct pf_feedq_txn *pf_feedq_txn_new(void);
void pf_feedq_txn_free(struct pf_feedq_txn *t);
void pf_feedq_txn_reset(struct pf_feedq_txn *t);
/* Observations noted (of lots tracked). */
size_t pf_feedq_txn_size(const struct pf_feedq_txn *t);
/* Note an observation of the transaction being built: 0 or -ENOMEM. */
__attribute__((warn_unused_result)) int pf_feedq_txn_add(struct pf_feedq *q, struct pf_feedq_txn *t,
							 const struct pf_observation *o);

/* The transaction committed (known at now_ns): its lots that may have changed become dirty.
 * The transaction is reset. */
void pf_feedq_committed(struct pf_feedq *q, struct pf_feedq_txn *t, uint64_t now_ns);

/* Up to max dirty lots, as the elements of a text[] literal appended to lit (which ends with
 * the literal's NUL); they are asked from then on. Returns how many (0: none to ask), or
 * -ENOMEM (nothing asked). */
__attribute__((warn_unused_result)) int pf_feedq_ask_lots(struct pf_feedq *q, struct pf_buf *lit,
							  size_t max);
/* One row of the answer; then pf_feedq_lots_answered(ok): ok false when there was no answer
 * (the asked lots become dirty again). */
void pf_feedq_lot_row(struct pf_feedq *q, const struct pf_feedq_lot_row *row);
void pf_feedq_lots_answered(struct pf_feedq *q, bool ok);

/* One dirty district not asked in the gap_ms before now_ms (the caller's clock, ms), as
 * pf_feedq_ask_lots does for lots: one at a time, since a district's aggregate reads all its
 * lots. An answer to a question about every district (NULL) comes through
 * pf_feedq_district_row too, and leaves dirty ones dirty. */
__attribute__((warn_unused_result)) int
pf_feedq_ask_district(struct pf_feedq *q, struct pf_buf *lit, uint64_t now_ms, uint64_t gap_ms);
/* Every district known is to be asked about again (lots go stale by themselves). */
void pf_feedq_sweep_districts(struct pf_feedq *q);
void pf_feedq_district_row(struct pf_feedq *q, const struct pf_avail_district *d);
void pf_feedq_districts_answered(struct pf_feedq *q, bool ok);

bool pf_feedq_want_lots(const struct pf_feedq *q);
bool pf_feedq_want_districts(const struct pf_feedq *q);

/* The oldest waiting message, or false. It leaves the queue only with pf_feedq_done: sent (its
 * values become the published ones) or not (counted as dropped). */
bool pf_feedq_next(struct pf_feedq *q, struct pf_feedq_msg *m);
void pf_feedq_done(struct pf_feedq *q, const struct pf_feedq_msg *m, bool sent);

void pf_feedq_stats(const struct pf_feedq *q, struct pf_feedq_stats *out);

#endif

/*
 * The spool: parkfeed's write-ahead log. Every received message is appended here and made
 * durable before its PUBACK leaves; the database writer reads it back in order (or takes a
 * flush's frames from memory once durable: handoff) and moves a checkpoint forward as
 * PostgreSQL commits. Plain blocking file I/O: the daemon runs the
 * [worker] calls on libuv's thread pool and everything else on the loop thread.
 *
 * Threading: calls marked [loop] run on one thread. At most one [worker:W] call (flush) and
 * one [worker:R] call (read) and one [worker:C] call (checkpoint) run at a time, each
 * possibly concurrent with [loop] calls and with the other two kinds. They share no mutable
 * state except through the begin/end hand-offs documented below.
 *
 * On disk: <dir>/<20-digit segment number>.seg files, each a sequence of frames
 *   u32 length (LE) | u32 zlib crc32 of the body (LE) | body[length]
 * and <dir>/checkpoint holding the position PostgreSQL has committed up to (with its own
 * CRC, replaced atomically by rename). Segment numbers only grow.
 */
#ifndef PF_SPOOL_H
#define PF_SPOOL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct pf_spool;

struct pf_spool_pos {
	uint64_t seg; /* segment number */
	uint64_t off; /* byte offset of the next frame in that segment */
};

struct pf_spool_config {
	const char *dir;
	uint64_t max_bytes;	/* cap on spooled, uncommitted bytes (backpressure beyond) */
	uint64_t segment_bytes; /* rotate to a new segment past this size */
	bool fsync;		/* true: fdatasync each flush (fsync = batch); false: off */
};

/* What pf_spool_open found, for the log. */
struct pf_spool_recovery {
	struct pf_spool_pos checkpoint; /* where replay starts */
	uint64_t records;		/* intact records after the checkpoint (to replay) */
	uint64_t bytes;			/* their bytes */
	uint64_t truncated_bytes;	/* torn/corrupt tail bytes cut off */
	uint64_t segments;		/* segment files present */
	char note[256];			/* one line describing any repair, "" if none */
};

/*
 * [loop] Open (creating dir if needed), read the checkpoint, verify every frame after it,
 * truncate a torn or corrupt tail (after the last intact frame) and report it. A missing or
 * corrupt checkpoint file means "start of the oldest segment" (replay is idempotent).
 * Returns 0 or a negative errno, with a message in errbuf saying what to fix.
 */
__attribute__((warn_unused_result)) int pf_spool_open(struct pf_spool **out,
						      const struct pf_spool_config *cfg,
						      struct pf_spool_recovery *rec, char *errbuf,
						      size_t errlen);
void pf_spool_close(struct pf_spool *sp); /* [loop], no job running */

/* ---- writer side ---- */

/*
 * [loop] Append one record body to the staging buffer. -ENOSPC when the spool is full
 * (uncommitted bytes + staged would exceed max_bytes): the caller stops reading input.
 * -EMSGSIZE if len is absurd (> 16 MiB), -EINVAL if it is 0 (an all-zero tail on disk must
 * never parse as a record).
 */
__attribute__((warn_unused_result)) int pf_spool_append(struct pf_spool *sp, const void *body,
							uint32_t len);
size_t pf_spool_staged_bytes(const struct pf_spool *sp); /* [loop] */
bool pf_spool_full(const struct pf_spool *sp);		 /* [loop] used + staged >= max */
/* [loop] A new cap ([spool] max_bytes on reload); lowering it below what is held stops
 * appends until the writer catches up, nothing held is dropped. */
void pf_spool_set_max_bytes(struct pf_spool *sp, uint64_t max_bytes);

/*
 * Flush = begin [loop] -> run [worker:W] -> end [loop]. begin moves the staging buffer
 * aside (appends go on into a fresh one) and returns false if there was nothing to flush.
 * run writes it (rotating segments as needed) and fdatasyncs if configured; returns 0 or a
 * negative errno. end publishes the new durable end to readers; on error the frames are
 * kept staged for the next try (nothing is lost; the caller logs and retries).
 */
bool pf_spool_flush_begin(struct pf_spool *sp);
__attribute__((warn_unused_result)) int pf_spool_flush_run(struct pf_spool *sp);
void pf_spool_flush_end(struct pf_spool *sp, int rc);

/*
 * [loop] After a successful flush_end and before the next flush_begin: hand the frames that
 * flush made durable to the reader from memory, as if a read job had read them, so next()
 * returns them without a read job. Only when no read job runs, the read buffer is used up,
 * the read cursor is where the flush began (nothing durable is skipped) and they are at most
 * max_bytes; returns false otherwise, and read jobs find them on disk as before.
 */
bool pf_spool_handoff(struct pf_spool *sp, size_t max_bytes);

/* ---- reader side ---- */

/*
 * Read = begin [loop] -> run [worker:R] -> end [loop], then iterate with next [loop].
 * begin returns false when nothing durable lies past the read cursor or the previous read
 * buffer has not been consumed. run fills the read buffer with whole frames (up to about
 * max_bytes of them) from the cursor up to the durable end, verifying CRCs. next hands out
 * the bodies in order; *pos_after is the position just past that record (what to
 * checkpoint once it is committed).
 */
bool pf_spool_read_begin(struct pf_spool *sp, size_t max_bytes);
__attribute__((warn_unused_result)) int pf_spool_read_run(struct pf_spool *sp);
void pf_spool_read_end(struct pf_spool *sp, int rc);
/* 1 and a body, or 0 when the buffer is used up. body stays valid until the next read_begin
 * or handoff. */
int pf_spool_next(struct pf_spool *sp, const uint8_t **body, uint32_t *len,
		  struct pf_spool_pos *pos_after);
/* [loop] Move the read cursor back (e.g. to the checkpoint after a failed commit). */
void pf_spool_rewind(struct pf_spool *sp, struct pf_spool_pos pos);

/* ---- checkpoint side ---- */

/*
 * Checkpoint = begin [loop] -> run [worker:C] -> end [loop]. begin records `pos` (everything
 * before it is committed in PostgreSQL) and returns false if it is not ahead of the last one.
 * run writes the checkpoint file durably (tmp + fdatasync + rename + dir fsync) and unlinks
 * segments entirely before it. end updates the used-bytes accounting.
 */
bool pf_spool_checkpoint_begin(struct pf_spool *sp, struct pf_spool_pos pos);
__attribute__((warn_unused_result)) int pf_spool_checkpoint_run(struct pf_spool *sp);
void pf_spool_checkpoint_end(struct pf_spool *sp, int rc);

/* ---- figures ([loop]) ---- */
struct pf_spool_stats {
	uint64_t used_bytes;   /* durable bytes not yet checkpointed */
	uint64_t staged_bytes; /* appended, not yet flushed */
	uint64_t segments;     /* segment files on disk */
	uint64_t flushes;      /* completed flushes */
	uint64_t fsyncs;       /* fdatasync calls */
	uint64_t records_flushed;
	uint64_t handoffs; /* flushes handed to the reader from memory */
	struct pf_spool_pos durable_end, read_cursor, checkpoint;
};
void pf_spool_stats(const struct pf_spool *sp, struct pf_spool_stats *st);
/* true when every durable record has been handed out by next */
bool pf_spool_read_caught_up(const struct pf_spool *sp);
/* -1, 0, 1 like memcmp */
int pf_spool_pos_cmp(struct pf_spool_pos a, struct pf_spool_pos b);

/*
 * Pure: parse one frame at the start of buf[0, len) and check its CRC. Returns 1 with the body,
 * its length and the frame's size in *consumed; 0 if more bytes are needed; -EBADMSG if the
 * frame is corrupt (length 0 or over 16 MiB, or a CRC mismatch). For recovery and fuzzing.
 */
__attribute__((warn_unused_result)) int pf_spool_frame_parse(const uint8_t *buf, size_t len,
							     const uint8_t **body,
							     uint32_t *body_len, size_t *consumed);

#endif

/* Unit tests of the spool: round trips, recovery from damaged files, backpressure, hand-offs. */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include <zlib.h>

#include "pf_spool.h"

#define MAX_BODY 20000

struct fx {
	char root[1024]; /* mkdtemp'd, removed in teardown */
	char dir[1100];	 /* the spool dir inside root (created by open) */
	struct pf_spool_config cfg;
	struct pf_spool_recovery rec;
	struct pf_spool *sp;
	uint8_t body[MAX_BODY];
};

/* ---- records: body size and contents follow from the sequence number ---- */

static uint32_t body_size(uint64_t seq)
{
	if (seq % 997 == 500)
		return 15000; /* the odd large one */
	return 60 + (uint32_t)((seq * 7919) % 4541);
}

static void make_body(uint8_t *b, uint64_t seq, uint32_t len)
{
	memcpy(b, &seq, sizeof(seq));
	for (uint32_t i = sizeof(seq); i < len; i++)
		b[i] = (uint8_t)(seq * 31 + i);
}

static void check_body(const uint8_t *b, uint32_t len, uint64_t seq)
{
	uint64_t got;

	assert_int_equal(len, body_size(seq));
	memcpy(&got, b, sizeof(got));
	assert_int_equal(got, seq);
	for (uint32_t i = sizeof(seq); i < len; i++)
		if (b[i] != (uint8_t)(seq * 31 + i))
			fail_msg("record %llu: byte %u differs", (unsigned long long)seq, i);
}

static uint64_t frame_bytes(uint64_t from, uint64_t to)
{
	uint64_t n = 0;

	for (uint64_t s = from; s < to; s++)
		n += 8 + body_size(s);
	return n;
}

/* ---- fixture ---- */

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	chmod(path, 0700);
	return remove(path);
}

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	const char *tmp = getenv("TMPDIR");

	if (!f)
		return -1;
	snprintf(f->root, sizeof(f->root), "%s/pf_spool_XXXXXX", tmp && *tmp ? tmp : "/tmp");
	if (!mkdtemp(f->root)) {
		free(f);
		return -1;
	}
	snprintf(f->dir, sizeof(f->dir), "%s/spool", f->root);
	f->cfg.dir = f->dir;
	f->cfg.max_bytes = 256u << 20;
	f->cfg.segment_bytes = 256u << 10;
	f->cfg.fsync = false;
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;

	pf_spool_close(f->sp);
	nftw(f->root, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
	free(f);
	return 0;
}

static void fx_open(struct fx *f)
{
	char err[256] = "";
	int rc = pf_spool_open(&f->sp, &f->cfg, &f->rec, err, sizeof(err));

	if (rc != 0)
		fail_msg("pf_spool_open: %d %s", rc, err);
}

static void fx_reopen(struct fx *f)
{
	pf_spool_close(f->sp);
	f->sp = NULL;
	fx_open(f);
}

static void append_range(struct fx *f, uint64_t from, uint64_t to)
{
	for (uint64_t s = from; s < to; s++) {
		uint32_t len = body_size(s);

		make_body(f->body, s, len);
		assert_int_equal(pf_spool_append(f->sp, f->body, len), 0);
	}
}

static int flush(struct pf_spool *sp)
{
	int rc;

	if (!pf_spool_flush_begin(sp))
		return 0;
	rc = pf_spool_flush_run(sp);
	pf_spool_flush_end(sp, rc);
	return rc;
}

/* Reads everything durable; checks records `from` on in order; returns the count. */
static uint64_t read_all(struct pf_spool *sp, uint64_t from, size_t budget,
			 struct pf_spool_pos *last)
{
	uint64_t n = 0;

	while (pf_spool_read_begin(sp, budget)) {
		const uint8_t *body;
		uint32_t len;
		struct pf_spool_pos pos;
		int rc = pf_spool_read_run(sp);

		pf_spool_read_end(sp, rc);
		assert_int_equal(rc, 0);
		while (pf_spool_next(sp, &body, &len, &pos) == 1) {
			check_body(body, len, from + n);
			if (last)
				*last = pos;
			n++;
		}
	}
	assert_true(pf_spool_read_caught_up(sp));
	return n;
}

static void checkpoint(struct pf_spool *sp, struct pf_spool_pos pos)
{
	int rc;

	assert_true(pf_spool_checkpoint_begin(sp, pos));
	rc = pf_spool_checkpoint_run(sp);
	pf_spool_checkpoint_end(sp, rc);
	assert_int_equal(rc, 0);
}

static void seg_path(char *p, size_t n, const struct fx *f, uint64_t seg)
{
	snprintf(p, n, "%s/%020llu.seg", f->dir, (unsigned long long)seg);
}

static bool seg_exists(const struct fx *f, uint64_t seg)
{
	char p[PATH_MAX];

	seg_path(p, sizeof(p), f, seg);
	return access(p, F_OK) == 0;
}

static off_t seg_size(const struct fx *f, uint64_t seg)
{
	char p[PATH_MAX];
	struct stat st;

	seg_path(p, sizeof(p), f, seg);
	assert_int_equal(stat(p, &st), 0);
	return st.st_size;
}

static void seg_truncate(const struct fx *f, uint64_t seg, off_t size)
{
	char p[PATH_MAX];

	seg_path(p, sizeof(p), f, seg);
	assert_int_equal(truncate(p, size), 0);
}

static void seg_pwrite(const struct fx *f, uint64_t seg, const void *b, size_t n, off_t off)
{
	char p[PATH_MAX];
	int fd;

	seg_path(p, sizeof(p), f, seg);
	fd = open(p, O_WRONLY);
	assert_true(fd >= 0);
	assert_int_equal(pwrite(fd, b, n, off), (ssize_t)n);
	close(fd);
}

static int count_segments(const struct fx *f)
{
	DIR *d = opendir(f->dir);
	struct dirent *de;
	int n = 0;

	assert_non_null(d);
	while ((de = readdir(d)))
		if (strlen(de->d_name) == 24 && strstr(de->d_name, ".seg"))
			n++;
	closedir(d);
	return n;
}

/* ---- tests ---- */

static void test_frame_parse(void **state)
{
	struct fx *f = *state;
	const uint8_t *body;
	uint32_t len;
	size_t used;
	uint8_t b[64];
	struct pf_spool_pos pos;
	int fd;
	char p[PATH_MAX];

	/* Build one real frame through the spool and parse it back from the file. */
	fx_open(f);
	make_body(f->body, 7, 40);
	assert_int_equal(pf_spool_append(f->sp, f->body, 40), 0);
	assert_int_equal(flush(f->sp), 0);
	seg_path(p, sizeof(p), f, f->rec.checkpoint.seg);
	fd = open(p, O_RDONLY);
	assert_true(fd >= 0);
	assert_int_equal(read(fd, b, sizeof(b)), 48);
	close(fd);

	assert_int_equal(pf_spool_frame_parse(b, 48, &body, &len, &used), 1);
	assert_int_equal(len, 40);
	assert_int_equal(used, 48);
	assert_memory_equal(body, f->body, 40);
	for (size_t n = 0; n < 48; n++)
		assert_int_equal(pf_spool_frame_parse(b, n, &body, &len, &used), 0);
	b[20] ^= 1;
	assert_int_equal(pf_spool_frame_parse(b, 48, &body, &len, &used), -EBADMSG);
	memset(b, 0, 8);
	assert_int_equal(pf_spool_frame_parse(b, 48, &body, &len, &used), -EBADMSG);
	memset(b, 0xff, 8);
	assert_int_equal(pf_spool_frame_parse(b, 8, &body, &len, &used), -EBADMSG);

	assert_int_equal(pf_spool_append(f->sp, f->body, 0), -EINVAL);
	assert_int_equal(pf_spool_append(f->sp, f->body, (16u << 20) + 1), -EMSGSIZE);
	pos = (struct pf_spool_pos){1, 2};
	assert_int_equal(pf_spool_pos_cmp(pos, (struct pf_spool_pos){1, 2}), 0);
	assert_int_equal(pf_spool_pos_cmp(pos, (struct pf_spool_pos){2, 0}), -1);
	assert_int_equal(pf_spool_pos_cmp(pos, (struct pf_spool_pos){1, 1}), 1);
}

static void test_round_trip_rotations(void **state)
{
	struct fx *f = *state;
	struct pf_spool_stats st;
	const uint64_t n = 6000;

	f->cfg.segment_bytes = 64u << 10;
	fx_open(f);
	assert_string_equal(f->rec.note, "");
	assert_false(pf_spool_flush_begin(f->sp));
	assert_false(pf_spool_read_begin(f->sp, 0));
	for (uint64_t s = 0; s < n; s += 37) {
		append_range(f, s, s + 37 < n ? s + 37 : n);
		assert_int_equal(flush(f->sp), 0);
	}
	pf_spool_stats(f->sp, &st);
	assert_true(st.segments > 100);
	assert_int_equal(st.segments, (uint64_t)count_segments(f));
	assert_int_equal(st.records_flushed, n);
	assert_int_equal(st.used_bytes, frame_bytes(0, n));
	assert_int_equal(st.staged_bytes, 0);
	assert_int_equal(st.fsyncs, 0);
	/* Segments are filled close to segment_bytes and never past it. */
	for (uint64_t s = st.checkpoint.seg; s <= st.durable_end.seg; s++) {
		assert_true(seg_size(f, s) <= (off_t)f->cfg.segment_bytes);
		if (s < st.durable_end.seg)
			assert_true(seg_size(f, s) + 8 + 15000 > (off_t)f->cfg.segment_bytes);
	}
	/* A small budget forces many read jobs, and the 15000-byte frames fit anyway. */
	assert_int_equal(read_all(f->sp, 0, 1, NULL), n);
}

static void test_oversized_frame(void **state)
{
	struct fx *f = *state;
	static uint8_t big[300000];
	const uint8_t *body;
	uint32_t len;
	struct pf_spool_pos pos, first;
	struct pf_spool_stats st;

	f->cfg.segment_bytes = 4096;
	fx_open(f);
	first = f->rec.checkpoint;
	append_range(f, 0, 1);
	memset(big, 0xab, sizeof(big));
	assert_int_equal(pf_spool_append(f->sp, big, sizeof(big)), 0);
	append_range(f, 1, 2);
	assert_int_equal(flush(f->sp), 0);
	pf_spool_stats(f->sp, &st);
	assert_int_equal(st.segments, 3);
	assert_int_equal(seg_size(f, first.seg + 1), 8 + (off_t)sizeof(big));

	/* The read budget is below the frame's size: the buffer grows for it alone. */
	assert_true(pf_spool_read_begin(f->sp, 1000));
	assert_int_equal(pf_spool_read_run(f->sp), 0);
	pf_spool_read_end(f->sp, 0);
	assert_int_equal(pf_spool_next(f->sp, &body, &len, &pos), 1);
	check_body(body, len, 0);
	/* The big frame does not join a buffer that already holds records: a job of its own. */
	assert_int_equal(pf_spool_next(f->sp, &body, &len, &pos), 0);
	assert_true(pf_spool_read_begin(f->sp, 1000));
	assert_int_equal(pf_spool_read_run(f->sp), 0);
	pf_spool_read_end(f->sp, 0);
	assert_int_equal(pf_spool_next(f->sp, &body, &len, &pos), 1);
	assert_int_equal(len, sizeof(big));
	assert_memory_equal(body, big, sizeof(big));
	assert_int_equal(pos.seg, first.seg + 1);
	assert_int_equal(pos.off, 8 + sizeof(big));
	assert_int_equal(pf_spool_next(f->sp, &body, &len, &pos), 0);
	assert_int_equal(read_all(f->sp, 1, 1000, NULL), 1);
}

static void test_read_interleaved(void **state)
{
	struct fx *f = *state;
	uint64_t written = 0, read = 0;

	f->cfg.segment_bytes = 32u << 10;
	fx_open(f);
	for (int round = 0; round < 300; round++) {
		uint64_t k = 1 + (uint64_t)(round * 13) % 29;

		append_range(f, written, written + k);
		written += k;
		if (round % 3 != 2) {
			assert_int_equal(flush(f->sp), 0);
		} else {
			/* Staged but unflushed records are invisible to the reader. */
			read += read_all(f->sp, read, 20000, NULL);
			assert_int_equal(read, written - k);
			continue;
		}
		read += read_all(f->sp, read, 20000, NULL);
		assert_int_equal(read, written);
		assert_false(pf_spool_read_begin(f->sp, 0));
	}
}

static void test_checkpoint_deletes_consumed(void **state)
{
	struct fx *f = *state;
	struct pf_spool_pos last = {0, 0};
	struct pf_spool_stats st;
	uint64_t first, n;
	const uint8_t *body;
	uint32_t len;

	f->cfg.segment_bytes = 16u << 10;
	fx_open(f);
	first = f->rec.checkpoint.seg;
	append_range(f, 0, 400);
	assert_int_equal(flush(f->sp), 0);

	/* Hand out records up to about the middle, checkpoint there. */
	n = 0;
	assert_true(pf_spool_read_begin(f->sp, 2u << 20));
	assert_int_equal(pf_spool_read_run(f->sp), 0);
	pf_spool_read_end(f->sp, 0);
	while (n < 200 && pf_spool_next(f->sp, &body, &len, &last) == 1)
		check_body(body, len, n++);
	assert_int_equal(n, 200);
	assert_true(last.seg > first + 3);
	checkpoint(f->sp, last);
	assert_false(pf_spool_checkpoint_begin(f->sp, last));
	for (uint64_t s = first; s < last.seg; s++)
		assert_false(seg_exists(f, s));
	pf_spool_stats(f->sp, &st);
	for (uint64_t s = last.seg; s <= st.durable_end.seg; s++)
		assert_true(seg_exists(f, s));
	assert_int_equal(st.used_bytes, frame_bytes(200, 400));
	assert_int_equal(st.segments, (uint64_t)count_segments(f));

	/* The rest of the buffer is still handed out, then the rest of the spool. */
	while (pf_spool_next(f->sp, &body, &len, &last) == 1)
		check_body(body, len, n++);
	n += read_all(f->sp, n, 0, &last);
	assert_int_equal(n, 400);
	checkpoint(f->sp, last);
	pf_spool_stats(f->sp, &st);
	assert_int_equal(st.used_bytes, 0);
	assert_int_equal(count_segments(f), 1);
}

static void test_checkpoint_spares_read_cursor(void **state)
{
	struct fx *f = *state;
	struct pf_spool_pos mid = {0, 0}, end = {0, 0};
	uint64_t first;
	int rc;

	f->cfg.segment_bytes = 16u << 10;
	fx_open(f);
	first = f->rec.checkpoint.seg;
	append_range(f, 0, 100);
	assert_int_equal(flush(f->sp), 0);
	assert_int_equal(read_all(f->sp, 0, 0, &end), 100);

	/* Rewind to an earlier segment, then checkpoint past it: the reader's segment stays. */
	mid.seg = first + 2;
	pf_spool_rewind(f->sp, mid);
	assert_true(pf_spool_checkpoint_begin(f->sp, end));
	rc = pf_spool_checkpoint_run(f->sp);
	pf_spool_checkpoint_end(f->sp, rc);
	assert_int_equal(rc, 0);
	assert_false(seg_exists(f, first + 1));
	assert_true(seg_exists(f, first + 2));
	assert_true(pf_spool_read_begin(f->sp, 0));
	assert_int_equal(pf_spool_read_run(f->sp), 0);
	pf_spool_read_end(f->sp, 0);
}

static void test_rewind_rereads(void **state)
{
	struct fx *f = *state;
	struct pf_spool_pos last = {0, 0}, ck;

	f->cfg.segment_bytes = 8u << 10;
	fx_open(f);
	append_range(f, 0, 50);
	assert_int_equal(flush(f->sp), 0);
	assert_int_equal(read_all(f->sp, 0, 0, &last), 50);
	ck = last;
	append_range(f, 50, 120);
	assert_int_equal(flush(f->sp), 0);
	checkpoint(f->sp, ck);
	assert_int_equal(read_all(f->sp, 50, 0, NULL), 70);
	/* A failed commit: back to the checkpoint, the same records come again. */
	pf_spool_rewind(f->sp, ck);
	assert_false(pf_spool_read_caught_up(f->sp));
	assert_int_equal(read_all(f->sp, 50, 0, NULL), 70);
	/* A rewind during a read job drops that job's result. */
	pf_spool_rewind(f->sp, ck);
	assert_true(pf_spool_read_begin(f->sp, 0));
	pf_spool_rewind(f->sp, ck);
	assert_int_equal(pf_spool_read_run(f->sp), 0);
	pf_spool_read_end(f->sp, 0);
	assert_int_equal(read_all(f->sp, 50, 0, NULL), 70);
}

/* Flushed frames handed to the reader from memory come out as a read job would give them. */
static void test_handoff(void **state)
{
	struct fx *f = *state;
	const uint64_t n = 3000;
	struct pf_spool_pos *pos = calloc(n, sizeof(*pos)), start, got;
	struct pf_spool_stats st;
	const uint8_t *body;
	uint32_t len;
	uint64_t k = 0;

	assert_non_null(pos);
	f->cfg.segment_bytes = 64u << 10;
	fx_open(f);
	pf_spool_stats(f->sp, &st);
	start = st.read_cursor;
	for (uint64_t s = 0, to; s < n; s = to) {
		to = s + 1 + s % 41 < n ? s + 1 + s % 41 : n;
		append_range(f, s, to);
		assert_int_equal(flush(f->sp), 0);
		assert_true(pf_spool_handoff(f->sp, 1u << 20));
		assert_false(pf_spool_handoff(f->sp, 1u << 20)); /* once */
		while (pf_spool_next(f->sp, &body, &len, &got) == 1) {
			check_body(body, len, k);
			pos[k++] = got;
		}
		assert_int_equal(k, to);
		assert_true(pf_spool_read_caught_up(f->sp));
	}
	pf_spool_stats(f->sp, &st);
	assert_true(st.segments > 20); /* hand-offs across rotations */
	assert_int_equal(st.handoffs, st.flushes);

	/* Read back from disk: the same records at the same positions. */
	pf_spool_rewind(f->sp, start);
	k = 0;
	while (pf_spool_read_begin(f->sp, 0)) {
		int rc = pf_spool_read_run(f->sp);

		pf_spool_read_end(f->sp, rc);
		assert_int_equal(rc, 0);
		while (pf_spool_next(f->sp, &body, &len, &got) == 1) {
			check_body(body, len, k);
			assert_int_equal(got.seg, pos[k].seg);
			assert_int_equal(got.off, pos[k].off);
			k++;
		}
	}
	assert_int_equal(k, n);

	/* Refused while the reader still holds records: the next ones come from disk after. */
	append_range(f, n, n + 10);
	assert_int_equal(flush(f->sp), 0);
	assert_true(pf_spool_handoff(f->sp, 1u << 20));
	append_range(f, n + 10, n + 20);
	assert_int_equal(flush(f->sp), 0);
	assert_false(pf_spool_handoff(f->sp, 1u << 20));
	for (k = n; pf_spool_next(f->sp, &body, &len, &got) == 1; k++)
		check_body(body, len, k);
	assert_int_equal(k, n + 10);
	assert_false(pf_spool_read_caught_up(f->sp));
	/* The cursor is behind now: a later flush is not handed over either. */
	append_range(f, n + 20, n + 30);
	assert_int_equal(flush(f->sp), 0);
	assert_false(pf_spool_handoff(f->sp, 1u << 20));
	assert_int_equal(read_all(f->sp, n + 10, 0, NULL), 20);

	/* Larger than the caller's budget: read back. */
	append_range(f, n + 30, n + 40);
	assert_int_equal(flush(f->sp), 0);
	assert_false(pf_spool_handoff(f->sp, 16));
	assert_int_equal(read_all(f->sp, n + 30, 0, NULL), 10);
	free(pos);
}

static void test_reopen_resumes(void **state)
{
	struct fx *f = *state;
	struct pf_spool_pos last = {0, 0};
	const uint8_t *body;
	uint32_t len;
	uint64_t n = 0;

	f->cfg.segment_bytes = 32u << 10;
	fx_open(f);
	append_range(f, 0, 1000);
	assert_int_equal(flush(f->sp), 0);
	assert_true(pf_spool_read_begin(f->sp, 1u << 20));
	assert_int_equal(pf_spool_read_run(f->sp), 0);
	pf_spool_read_end(f->sp, 0);
	while (n < 333 && pf_spool_next(f->sp, &body, &len, &last) == 1)
		check_body(body, len, n++);
	checkpoint(f->sp, last);
	append_range(f, 1000, 1010); /* staged only: lost by the close, never acknowledged */

	fx_reopen(f);
	assert_string_equal(f->rec.note, "");
	assert_int_equal(pf_spool_pos_cmp(f->rec.checkpoint, last), 0);
	assert_int_equal(f->rec.records, 1000 - 333);
	assert_int_equal(f->rec.bytes, frame_bytes(333, 1000));
	assert_int_equal(f->rec.truncated_bytes, 0);
	assert_int_equal(f->rec.segments, (uint64_t)count_segments(f));
	assert_int_equal(read_all(f->sp, 333, 0, NULL), 1000 - 333);

	/* Appends go on after the old tail; a second reopen replays the same plus them. */
	append_range(f, 1000, 1100);
	assert_int_equal(flush(f->sp), 0);
	fx_reopen(f);
	assert_int_equal(f->rec.records, 1100 - 333);
	assert_int_equal(read_all(f->sp, 333, 0, NULL), 1100 - 333);
}

/* Writes 200 records with a checkpoint after the first 50, closes, and returns the last segment. */
static uint64_t prepare_damage(struct fx *f, struct pf_spool_pos *ck)
{
	struct pf_spool_stats st;

	f->cfg.segment_bytes = 32u << 10;
	fx_open(f);
	append_range(f, 0, 50);
	assert_int_equal(flush(f->sp), 0);
	assert_int_equal(read_all(f->sp, 0, 0, ck), 50);
	checkpoint(f->sp, *ck);
	append_range(f, 50, 200);
	assert_int_equal(flush(f->sp), 0);
	pf_spool_stats(f->sp, &st);
	pf_spool_close(f->sp);
	f->sp = NULL;
	return st.durable_end.seg;
}

/* After a repair, records 50..expect-1 replay and new appends read back after them. */
static void check_after_repair(struct fx *f, uint64_t expect)
{
	assert_int_equal(f->rec.records, expect - 50);
	assert_int_equal(read_all(f->sp, 50, 0, NULL), expect - 50);
	append_range(f, expect, expect + 20);
	assert_int_equal(flush(f->sp), 0);
	assert_int_equal(read_all(f->sp, expect, 0, NULL), 20);
	fx_reopen(f);
	assert_string_equal(f->rec.note, "");
	assert_int_equal(read_all(f->sp, 50, 0, NULL), expect + 20 - 50);
}

static void test_torn_tail(void **state)
{
	struct fx *f = *state;
	struct pf_spool_pos ck;
	uint64_t last = prepare_damage(f, &ck);
	off_t size = seg_size(f, last);

	/* Cut the final frame (record 199) in the middle of its body. */
	seg_truncate(f, last, size - 100);
	fx_open(f);
	assert_int_equal(f->rec.truncated_bytes, 8 + body_size(199) - 100);
	assert_non_null(strstr(f->rec.note, "torn frame"));
	assert_non_null(strstr(f->rec.note, ".seg"));
	assert_int_equal(seg_size(f, last), size - 8 - body_size(199));
	check_after_repair(f, 199);
}

static void test_torn_header(void **state)
{
	struct fx *f = *state;
	struct pf_spool_pos ck;
	uint64_t last = prepare_damage(f, &ck);
	off_t size = seg_size(f, last);

	seg_truncate(f, last, size - body_size(199) - 5);
	fx_open(f);
	assert_int_equal(f->rec.truncated_bytes, 3);
	check_after_repair(f, 199);
}

static void test_corrupt_crc_last(void **state)
{
	struct fx *f = *state;
	struct pf_spool_pos ck;
	uint64_t last = prepare_damage(f, &ck);
	off_t size = seg_size(f, last);
	uint8_t x = 0x5a;

	seg_pwrite(f, last, &x, 1, size - 10);
	fx_open(f);
	assert_int_equal(f->rec.truncated_bytes, 8 + body_size(199));
	assert_non_null(strstr(f->rec.note, "corrupt frame"));
	check_after_repair(f, 199);
}

static void test_garbage_appended(void **state)
{
	struct fx *f = *state;
	struct pf_spool_pos ck;
	uint64_t last = prepare_damage(f, &ck);
	off_t size = seg_size(f, last);
	uint8_t junk[777];

	for (size_t i = 0; i < sizeof(junk); i++)
		junk[i] = (uint8_t)(i * 131 + 7);
	seg_pwrite(f, last, junk, sizeof(junk), size);
	fx_open(f);
	assert_int_equal(f->rec.truncated_bytes, sizeof(junk));
	assert_int_equal(seg_size(f, last), size);
	check_after_repair(f, 200);
}

static void test_zero_filled_tail(void **state)
{
	struct fx *f = *state;
	struct pf_spool_pos ck;
	uint64_t last = prepare_damage(f, &ck);
	off_t size = seg_size(f, last);

	seg_truncate(f, last, size + 8192);
	fx_open(f);
	assert_int_equal(f->rec.truncated_bytes, 8192);
	assert_non_null(strstr(f->rec.note, "zero-filled"));
	check_after_repair(f, 200);
}

static void test_corrupt_middle_segment(void **state)
{
	struct fx *f = *state;
	struct pf_spool_pos ck;
	uint64_t last = prepare_damage(f, &ck);
	uint64_t victim = last - 2;
	off_t size = seg_size(f, victim);
	uint8_t x = 0xee;
	const uint8_t *body;
	uint32_t len;
	struct pf_spool_pos pos;
	uint64_t seen = 0, expect = 50, lost = 0;

	assert_true(victim > ck.seg);
	/* Damage the first frame of the victim segment. */
	seg_pwrite(f, victim, &x, 1, 20);
	fx_open(f);
	assert_int_equal(f->rec.truncated_bytes, (uint64_t)size);
	assert_non_null(strstr(f->rec.note, "later segments kept"));
	assert_true(seg_exists(f, last));
	/* Everything but the victim's records replays, in order. */
	while (pf_spool_read_begin(f->sp, 0)) {
		int rc = pf_spool_read_run(f->sp);

		pf_spool_read_end(f->sp, rc);
		assert_int_equal(rc, 0);
		while (pf_spool_next(f->sp, &body, &len, &pos) == 1) {
			uint64_t seq;

			memcpy(&seq, body, sizeof(seq));
			assert_true(seq >= expect);
			lost += seq - expect;
			check_body(body, len, seq);
			expect = seq + 1;
			seen++;
		}
	}
	assert_int_equal(expect, 200);
	assert_true(lost > 0);
	assert_int_equal(seen + lost, 150);
	assert_int_equal(f->rec.records, seen);
}

static void test_corrupt_checkpoint(void **state)
{
	struct fx *f = *state;
	struct pf_spool_pos ck;
	char p[PATH_MAX];
	FILE *fp;

	(void)prepare_damage(f, &ck);
	snprintf(p, sizeof(p), "%s/checkpoint", f->dir);
	fp = fopen(p, "r+");
	assert_non_null(fp);
	fseek(fp, 9, SEEK_SET);
	fputc(0x77, fp);
	fclose(fp);
	fx_open(f);
	assert_non_null(strstr(f->rec.note, "corrupt checkpoint"));
	/* Segments below the checkpoint were already deleted: replay starts at the oldest left. */
	assert_int_equal(f->rec.checkpoint.off, 0);
	assert_true(f->rec.records >= 150);
	{
		struct pf_spool_pos pos;
		const uint8_t *body;
		uint32_t len;
		uint64_t first;

		assert_true(pf_spool_read_begin(f->sp, 0));
		assert_int_equal(pf_spool_read_run(f->sp), 0);
		pf_spool_read_end(f->sp, 0);
		assert_int_equal(pf_spool_next(f->sp, &body, &len, &pos), 1);
		memcpy(&first, body, sizeof(first));
		assert_true(first <= 50);
		assert_int_equal(f->rec.records, 200 - first);
		pf_spool_rewind(f->sp, f->rec.checkpoint);
		assert_int_equal(read_all(f->sp, first, 0, NULL), 200 - first);
	}
}

static void test_missing_checkpoint(void **state)
{
	struct fx *f = *state;
	char p[PATH_MAX];

	f->cfg.segment_bytes = 1u << 20;
	fx_open(f);
	append_range(f, 0, 100);
	assert_int_equal(flush(f->sp), 0);
	pf_spool_close(f->sp);
	f->sp = NULL;
	snprintf(p, sizeof(p), "%s/checkpoint", f->dir);
	assert_true(access(p, F_OK) != 0);
	fx_open(f);
	assert_non_null(strstr(f->rec.note, "no checkpoint"));
	assert_int_equal(f->rec.records, 100);
	assert_int_equal(read_all(f->sp, 0, 0, NULL), 100);
}

static void test_checkpoint_not_on_boundary(void **state)
{
	struct fx *f = *state;
	struct pf_spool_pos bad;

	f->cfg.segment_bytes = 1u << 20;
	fx_open(f);
	append_range(f, 0, 100);
	assert_int_equal(flush(f->sp), 0);
	bad = f->rec.checkpoint;
	bad.off = 13; /* inside the first frame */
	checkpoint(f->sp, bad);
	fx_reopen(f);
	assert_non_null(strstr(f->rec.note, "not a frame boundary"));
	assert_int_equal(f->rec.checkpoint.off, 0);
	assert_int_equal(f->rec.records, 100);
	assert_int_equal(f->rec.truncated_bytes, 0);
	assert_int_equal(read_all(f->sp, 0, 0, NULL), 100);
}

static void test_checkpoint_past_damage(void **state)
{
	struct fx *f = *state;
	struct pf_spool_pos ck;
	uint64_t last;

	f->cfg.segment_bytes = 1u << 20;
	fx_open(f);
	append_range(f, 0, 100);
	assert_int_equal(flush(f->sp), 0);
	assert_int_equal(read_all(f->sp, 0, 0, &ck), 100);
	checkpoint(f->sp, ck);
	last = ck.seg;
	pf_spool_close(f->sp);
	f->sp = NULL;
	/* Committed bytes lost: the spool starts at what is left and rewrites its checkpoint. */
	seg_truncate(f, last, (off_t)ck.off - 10);
	fx_open(f);
	assert_int_equal(f->rec.records, 0);
	assert_true(f->rec.checkpoint.off < ck.off);
	append_range(f, 100, 110);
	assert_int_equal(flush(f->sp), 0);
	fx_reopen(f);
	assert_string_equal(f->rec.note, "");
	assert_int_equal(read_all(f->sp, 100, 0, NULL), 10);
}

static uint32_t rnd(uint64_t *x)
{
	*x ^= *x << 13;
	*x ^= *x >> 7;
	*x ^= *x << 17;
	return (uint32_t)*x;
}

static void put32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

/* A checkpoint file whose CRC is right but whose position may point anywhere. */
static void write_checkpoint(const struct fx *f, uint64_t seg, uint64_t off)
{
	uint8_t b[28];
	char p[PATH_MAX];
	FILE *fp;

	put32(b, 0x4b434650u);
	put32(b + 4, 1);
	put32(b + 8, (uint32_t)seg);
	put32(b + 12, (uint32_t)(seg >> 32));
	put32(b + 16, (uint32_t)off);
	put32(b + 20, (uint32_t)(off >> 32));
	put32(b + 24, (uint32_t)crc32(0L, b, 24));
	snprintf(p, sizeof(p), "%s/checkpoint", f->dir);
	fp = fopen(p, "w");
	assert_non_null(fp);
	assert_int_equal(fwrite(b, 1, sizeof(b), fp), sizeof(b));
	fclose(fp);
}

static void test_arbitrary_content(void **state)
{
	struct fx *f = *state;
	uint64_t x = 88172645463325252ull;

	f->cfg.segment_bytes = 16u << 10;
	for (int round = 0; round < 40; round++) {
		struct pf_spool_stats st;
		uint64_t first, last, got = 0;
		const uint8_t *body;
		uint32_t len;
		struct pf_spool_pos pos;

		nftw(f->dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
		fx_open(f);
		first = f->rec.checkpoint.seg;
		append_range(f, 0, 40 + rnd(&x) % 60);
		assert_int_equal(flush(f->sp), 0);
		pf_spool_stats(f->sp, &st);
		last = st.durable_end.seg;
		pf_spool_close(f->sp);
		f->sp = NULL;
		/* Flip bytes, cut files, append junk, point the checkpoint anywhere. */
		for (int k = rnd(&x) % 4; k > 0; k--) {
			uint64_t seg = first + rnd(&x) % (last - first + 1);
			off_t size = seg_size(f, seg);
			uint8_t junk[64];

			for (size_t i = 0; i < sizeof(junk); i++)
				junk[i] = (uint8_t)rnd(&x);
			switch (rnd(&x) % 3) {
			case 0:
				if (size > 0)
					seg_pwrite(f, seg, junk, 1 + rnd(&x) % 8, rnd(&x) % size);
				break;
			case 1:
				seg_truncate(f, seg, size ? rnd(&x) % size : 0);
				break;
			default:
				seg_pwrite(f, seg, junk, sizeof(junk), size);
			}
		}
		if (rnd(&x) % 2)
			write_checkpoint(f, first + rnd(&x) % (last - first + 3) - 1,
					 rnd(&x) % (f->cfg.segment_bytes + 100));
		fx_open(f);
		while (pf_spool_read_begin(f->sp, 0)) {
			int rc = pf_spool_read_run(f->sp);

			pf_spool_read_end(f->sp, rc);
			assert_int_equal(rc, 0);
			while (pf_spool_next(f->sp, &body, &len, &pos) == 1) {
				uint64_t seq;

				memcpy(&seq, body, sizeof(seq));
				check_body(body, len, seq);
				got++;
			}
		}
		assert_int_equal(got, f->rec.records);
		/* The repair is complete: a second open finds nothing more to cut. */
		fx_reopen(f);
		assert_int_equal(f->rec.truncated_bytes, 0);
		pf_spool_close(f->sp);
		f->sp = NULL;
	}
}

static void test_unrelated_files(void **state)
{
	struct fx *f = *state;
	const char *names[] = {"README", "123.seg", "0000000000000000000x.seg", "checkpoint.tmp",
			       "00000000000000000001.seg.bak"};
	char p[PATH_MAX];

	assert_int_equal(mkdir(f->dir, 0750), 0);
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		FILE *fp;

		snprintf(p, sizeof(p), "%s/%s", f->dir, names[i]);
		fp = fopen(p, "w");
		assert_non_null(fp);
		fputs("not a spool file\n", fp);
		fclose(fp);
	}
	fx_open(f);
	assert_string_equal(f->rec.note, "");
	assert_int_equal(f->rec.segments, 1);
	append_range(f, 0, 10);
	assert_int_equal(flush(f->sp), 0);
	fx_reopen(f);
	assert_int_equal(read_all(f->sp, 0, 0, NULL), 10);
	snprintf(p, sizeof(p), "%s/README", f->dir);
	assert_int_equal(access(p, F_OK), 0);
}

static void test_enospc_then_checkpoint(void **state)
{
	struct fx *f = *state;
	static uint8_t big[200000];
	struct pf_spool_pos last = {0, 0};
	struct pf_spool_stats st;
	uint64_t n = 0;
	int rc;

	f->cfg.max_bytes = 100000;
	f->cfg.segment_bytes = 16u << 10;
	fx_open(f);
	/* An empty spool takes even a record larger than max_bytes. */
	assert_int_equal(pf_spool_append(f->sp, big, sizeof(big)), 0);
	assert_true(pf_spool_full(f->sp));
	assert_int_equal(pf_spool_append(f->sp, big, 100), -ENOSPC);
	assert_int_equal(flush(f->sp), 0);
	assert_true(pf_spool_full(f->sp));
	assert_true(pf_spool_read_begin(f->sp, 0));
	assert_int_equal(pf_spool_read_run(f->sp), 0);
	pf_spool_read_end(f->sp, 0);
	{
		const uint8_t *body;
		uint32_t len;

		assert_int_equal(pf_spool_next(f->sp, &body, &len, &last), 1);
		assert_int_equal(len, sizeof(big));
	}
	checkpoint(f->sp, last);
	assert_false(pf_spool_full(f->sp));

	for (;;) {
		uint32_t len = body_size(n);

		make_body(f->body, n, len);
		rc = pf_spool_append(f->sp, f->body, len);
		if (rc == -ENOSPC)
			break;
		assert_int_equal(rc, 0);
		if (++n % 7 == 0)
			assert_int_equal(flush(f->sp), 0);
	}
	assert_int_equal(flush(f->sp), 0);
	pf_spool_stats(f->sp, &st);
	assert_true(st.used_bytes <= f->cfg.max_bytes);
	assert_true(st.used_bytes + 8 + body_size(n) > f->cfg.max_bytes);
	assert_int_equal(st.used_bytes, frame_bytes(0, n));
	/* Still full until PostgreSQL catches up and a checkpoint frees the space. */
	assert_int_equal(pf_spool_append(f->sp, f->body, body_size(n)), -ENOSPC);
	assert_int_equal(read_all(f->sp, 0, 0, &last), n);
	checkpoint(f->sp, last);
	pf_spool_stats(f->sp, &st);
	assert_int_equal(st.used_bytes, 0);
	assert_false(pf_spool_full(f->sp));
	make_body(f->body, n, body_size(n));
	assert_int_equal(pf_spool_append(f->sp, f->body, body_size(n)), 0);
}

static void test_flush_error_keeps_frames(void **state)
{
	struct fx *f = *state;
	struct rlimit old, lim;
	struct pf_spool_stats st, st2;
	off_t size;
	int rc;

	f->cfg.segment_bytes = 1u << 20;
	fx_open(f);
	append_range(f, 0, 10);
	assert_int_equal(flush(f->sp), 0);
	assert_int_equal(read_all(f->sp, 0, 0, NULL), 10);
	pf_spool_stats(f->sp, &st);
	size = seg_size(f, st.durable_end.seg);

	/* A file size limit makes the next write stop part way, as a full disk would. */
	signal(SIGXFSZ, SIG_IGN);
	assert_int_equal(getrlimit(RLIMIT_FSIZE, &old), 0);
	lim = old;
	lim.rlim_cur = (rlim_t)size + 3000;
	assert_int_equal(setrlimit(RLIMIT_FSIZE, &lim), 0);
	append_range(f, 10, 30);
	assert_true(pf_spool_flush_begin(f->sp));
	append_range(f, 30, 35); /* appends go on during the flush */
	rc = pf_spool_flush_run(f->sp);
	pf_spool_flush_end(f->sp, rc);
	assert_int_equal(rc, -EFBIG);
	assert_int_equal(seg_size(f, st.durable_end.seg), size); /* partial write cut back */
	pf_spool_stats(f->sp, &st2);
	assert_int_equal(pf_spool_pos_cmp(st2.durable_end, st.durable_end), 0);
	assert_int_equal(st2.staged_bytes, frame_bytes(10, 35));
	assert_int_equal(st2.flushes, st.flushes);
	assert_false(pf_spool_read_begin(f->sp, 0));

	/* A second failure, then the limit lifted: everything lands once, in order. */
	append_range(f, 35, 40);
	assert_int_equal(flush(f->sp), -EFBIG);
	assert_int_equal(seg_size(f, st.durable_end.seg), size);
	assert_int_equal(setrlimit(RLIMIT_FSIZE, &old), 0);
	assert_int_equal(flush(f->sp), 0);
	assert_int_equal(pf_spool_staged_bytes(f->sp), 0);
	assert_int_equal(read_all(f->sp, 10, 0, NULL), 30);
	fx_reopen(f);
	assert_int_equal(f->rec.truncated_bytes, 0);
	assert_int_equal(f->rec.records, 40);
	assert_int_equal(read_all(f->sp, 0, 0, NULL), 40);
}

static void test_rotation_error_readonly_dir(void **state)
{
	struct fx *f = *state;

	if (geteuid() == 0)
		skip(); /* root writes into a read-only directory anyway */
	f->cfg.segment_bytes = 4096;
	fx_open(f);
	append_range(f, 0, 1);
	assert_int_equal(flush(f->sp), 0);
	assert_int_equal(chmod(f->dir, 0500), 0);
	append_range(f, 1, 5);
	assert_int_equal(flush(f->sp), -EACCES);
	assert_int_equal(chmod(f->dir, 0750), 0);
	assert_int_equal(flush(f->sp), 0);
	assert_int_equal(read_all(f->sp, 0, 0, NULL), 5);
}

static void test_fsync_counts(void **state)
{
	struct fx *f = *state;
	struct pf_spool_stats st;

	f->cfg.fsync = true;
	f->cfg.segment_bytes = 1u << 20;
	fx_open(f);
	append_range(f, 0, 50);
	assert_int_equal(flush(f->sp), 0);
	append_range(f, 50, 60);
	assert_int_equal(flush(f->sp), 0);
	pf_spool_stats(f->sp, &st);
	assert_int_equal(st.flushes, 2);
	assert_int_equal(st.fsyncs, 2);
	assert_int_equal(st.records_flushed, 60);
	fx_reopen(f);
	assert_int_equal(read_all(f->sp, 0, 0, NULL), 60);
}

static void test_open_errors(void **state)
{
	struct fx *f = *state;
	struct pf_spool_config cfg = f->cfg;
	char p[PATH_MAX], err[256];
	FILE *fp;

	snprintf(p, sizeof(p), "%s/file", f->root);
	fp = fopen(p, "w");
	assert_non_null(fp);
	fclose(fp);
	snprintf(p, sizeof(p), "%s/file/spool", f->root);
	cfg.dir = p;
	err[0] = '\0';
	assert_int_equal(pf_spool_open(&f->sp, &cfg, &f->rec, err, sizeof(err)), -ENOTDIR);
	assert_null(f->sp);
	assert_non_null(strstr(err, "[spool] dir"));
	assert_non_null(strstr(err, p));

	cfg = f->cfg;
	cfg.max_bytes = 0;
	assert_int_equal(pf_spool_open(&f->sp, &cfg, &f->rec, err, sizeof(err)), -EINVAL);
	cfg = f->cfg;
	cfg.dir = "";
	assert_int_equal(pf_spool_open(&f->sp, &cfg, &f->rec, err, sizeof(err)), -EINVAL);

	/* Nested directories are created, with mode 0750. */
	snprintf(p, sizeof(p), "%s/a/b/spool", f->root);
	cfg = f->cfg;
	cfg.dir = p;
	assert_int_equal(pf_spool_open(&f->sp, &cfg, &f->rec, err, sizeof(err)), 0);
	{
		struct stat st;

		assert_int_equal(stat(p, &st), 0);
		assert_true(S_ISDIR(st.st_mode));
		assert_int_equal(st.st_mode & 0027, 0);
	}
}

/* ---- concurrency: a worker thread per job kind, as on libuv's pool ---- */

struct job {
	pthread_t thread;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int state; /* 0 idle, 1 posted, 2 done, 3 quit */
	int rc;
	int (*fn)(struct pf_spool *);
	struct pf_spool *sp;
};

static void *job_main(void *arg)
{
	struct job *j = arg;

	pthread_mutex_lock(&j->mu);
	for (;;) {
		while (j->state != 1 && j->state != 3)
			pthread_cond_wait(&j->cv, &j->mu);
		if (j->state == 3)
			break;
		pthread_mutex_unlock(&j->mu);
		{
			int rc = j->fn(j->sp);

			pthread_mutex_lock(&j->mu);
			j->rc = rc;
		}
		j->state = 2;
	}
	pthread_mutex_unlock(&j->mu);
	return NULL;
}

static void job_start(struct job *j, struct pf_spool *sp, int (*fn)(struct pf_spool *))
{
	memset(j, 0, sizeof(*j));
	j->sp = sp;
	j->fn = fn;
	pthread_mutex_init(&j->mu, NULL);
	pthread_cond_init(&j->cv, NULL);
	assert_int_equal(pthread_create(&j->thread, NULL, job_main, j), 0);
}

static void job_post(struct job *j)
{
	pthread_mutex_lock(&j->mu);
	j->state = 1;
	pthread_cond_signal(&j->cv);
	pthread_mutex_unlock(&j->mu);
}

/* 1 and the result if the posted job finished. */
static int job_done(struct job *j, int *rc)
{
	int done;

	pthread_mutex_lock(&j->mu);
	done = j->state == 2;
	if (done) {
		*rc = j->rc;
		j->state = 0;
	}
	pthread_mutex_unlock(&j->mu);
	return done;
}

static void job_stop(struct job *j)
{
	pthread_mutex_lock(&j->mu);
	j->state = 3;
	pthread_cond_signal(&j->cv);
	pthread_mutex_unlock(&j->mu);
	pthread_join(j->thread, NULL);
	pthread_mutex_destroy(&j->mu);
	pthread_cond_destroy(&j->cv);
}

static void test_concurrent_jobs(void **state)
{
	struct fx *f = *state;
	struct job jw, jr, jc;
	bool flushing = false, reading = false, ckpting = false;
	uint64_t appended = 0, acked = 0, mark = 0, nread = 0, enospc = 0;
	const uint64_t n = 20000;
	struct pf_spool_pos last = {0, 0};
	struct pf_spool_stats st;
	int rc;

	f->cfg.max_bytes = 1u << 20;
	f->cfg.segment_bytes = 64u << 10;
	fx_open(f);
	job_start(&jw, f->sp, pf_spool_flush_run);
	job_start(&jr, f->sp, pf_spool_read_run);
	job_start(&jc, f->sp, pf_spool_checkpoint_run);
	while (nread < n || flushing || reading || ckpting) {
		for (int k = 0; k < 8 && appended < n; k++) {
			uint32_t len = body_size(appended);

			make_body(f->body, appended, len);
			rc = pf_spool_append(f->sp, f->body, len);
			if (rc == -ENOSPC) {
				enospc++;
				break;
			}
			assert_int_equal(rc, 0);
			appended++;
		}
		if (!flushing && pf_spool_flush_begin(f->sp)) {
			mark = appended;
			flushing = true;
			job_post(&jw);
		} else if (flushing && job_done(&jw, &rc)) {
			pf_spool_flush_end(f->sp, rc);
			assert_int_equal(rc, 0);
			acked = mark; /* the PUBACKs could leave now */
			flushing = false;
		}
		/* The reader starts once the spool was full, so backpressure is exercised too. */
		if (!reading && enospc > 0 && pf_spool_read_begin(f->sp, 128u << 10)) {
			reading = true;
			job_post(&jr);
		} else if (reading && job_done(&jr, &rc)) {
			const uint8_t *body;
			uint32_t len;

			pf_spool_read_end(f->sp, rc);
			assert_int_equal(rc, 0);
			reading = false;
			while (pf_spool_next(f->sp, &body, &len, &last) == 1)
				check_body(body, len, nread++);
			/* Only acknowledged (durable) records are ever read back. */
			assert_true(nread <= acked);
		}
		if (!ckpting && nread > 0 && pf_spool_checkpoint_begin(f->sp, last)) {
			ckpting = true;
			job_post(&jc);
		}
		if (ckpting && job_done(&jc, &rc)) {
			pf_spool_checkpoint_end(f->sp, rc);
			assert_int_equal(rc, 0);
			ckpting = false;
		}
	}
	job_stop(&jw);
	job_stop(&jr);
	job_stop(&jc);
	assert_int_equal(nread, n);
	if (pf_spool_checkpoint_begin(f->sp, last)) {
		rc = pf_spool_checkpoint_run(f->sp);
		pf_spool_checkpoint_end(f->sp, rc);
		assert_int_equal(rc, 0);
	}
	pf_spool_stats(f->sp, &st);
	assert_int_equal(st.used_bytes, 0);
	assert_int_equal(st.records_flushed, n);
	assert_int_equal(st.segments, (uint64_t)count_segments(f));
	assert_true(st.segments <= 2);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_frame_parse, setup, teardown),
		cmocka_unit_test_setup_teardown(test_round_trip_rotations, setup, teardown),
		cmocka_unit_test_setup_teardown(test_oversized_frame, setup, teardown),
		cmocka_unit_test_setup_teardown(test_read_interleaved, setup, teardown),
		cmocka_unit_test_setup_teardown(test_checkpoint_deletes_consumed, setup, teardown),
		cmocka_unit_test_setup_teardown(test_checkpoint_spares_read_cursor, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_rewind_rereads, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reopen_resumes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_torn_tail, setup, teardown),
		cmocka_unit_test_setup_teardown(test_torn_header, setup, teardown),
		cmocka_unit_test_setup_teardown(test_corrupt_crc_last, setup, teardown),
		cmocka_unit_test_setup_teardown(test_garbage_appended, setup, teardown),
		cmocka_unit_test_setup_teardown(test_zero_filled_tail, setup, teardown),
		cmocka_unit_test_setup_teardown(test_corrupt_middle_segment, setup, teardown),
		cmocka_unit_test_setup_teardown(test_corrupt_checkpoint, setup, teardown),
		cmocka_unit_test_setup_teardown(test_missing_checkpoint, setup, teardown),
		cmocka_unit_test_setup_teardown(test_checkpoint_not_on_boundary, setup, teardown),
		cmocka_unit_test_setup_teardown(test_checkpoint_past_damage, setup, teardown),
		cmocka_unit_test_setup_teardown(test_arbitrary_content, setup, teardown),
		cmocka_unit_test_setup_teardown(test_unrelated_files, setup, teardown),
		cmocka_unit_test_setup_teardown(test_enospc_then_checkpoint, setup, teardown),
		cmocka_unit_test_setup_teardown(test_flush_error_keeps_frames, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rotation_error_readonly_dir, setup, teardown),
		cmocka_unit_test_setup_teardown(test_fsync_counts, setup, teardown),
		cmocka_unit_test_setup_teardown(test_handoff, setup, teardown),
		cmocka_unit_test_setup_teardown(test_open_errors, setup, teardown),
		cmocka_unit_test_setup_teardown(test_concurrent_jobs, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

/* The spool: an append-only log of framed records in numbered segment files (see pf_spool.h). */
#include "pf_spool.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#define SPOOL_HDR 8u		     /* u32 length | u32 crc32 */
#define SPOOL_MAX_RECORD (16u << 20) /* longer lengths are corruption */
#define SPOOL_SCAN_CHUNK (1u << 20)  /* recovery read size */
#define SPOOL_MIN_READ (64u << 10)   /* smallest read buffer worth a job */
#define SPOOL_NAME_LEN 24	     /* 20 digits + ".seg" */
#define SPOOL_FILE_MODE 0640
#define SPOOL_DIR_MODE 0750
#define SPOOL_CKPT_NAME "checkpoint"
#define SPOOL_CKPT_TMP "checkpoint.tmp"
#define SPOOL_CKPT_MAGIC 0x4b434650u /* "PFCK" read as little-endian bytes */
#define SPOOL_CKPT_VER 1u
#define SPOOL_CKPT_SIZE 28 /* magic, version, seg, off, crc */

#define MUST_CHECK __attribute__((warn_unused_result))

/* A growable byte buffer of whole frames. */
struct spool__buf {
	uint8_t *data;
	size_t len;
	size_t cap;
	uint64_t records; /* frames in data[0, len) */
};

struct spool__seg {
	uint64_t seg;
	uint64_t size; /* durable, verified bytes */
};

struct spool__segs {
	struct spool__seg *v; /* oldest first */
	size_t n;
	size_t cap;
};

/* Owned by the flush job between flush_begin and flush_end, by the loop otherwise. */
struct spool__writer {
	int fd; /* O_APPEND fd of the newest segment */
	uint64_t seg;
	uint64_t size;	       /* bytes of whole, written frames in seg */
	bool dirty;	       /* a failed write may have left bytes past size */
	struct spool__buf buf; /* frames being flushed */
	size_t done;	       /* buf[0, done) is written (and synced) */
	uint64_t done_records;
	struct spool__segs touched; /* (seg, size) this job wrote; reserved in begin */
	uint64_t fsyncs;
};

/* Which segment and offset the bytes from buf_off on in the read buffer came from. */
struct spool__chunk {
	size_t buf_off;
	uint64_t seg;
	uint64_t seg_off;
};

/* Owned by the read job between read_begin and read_end, by the loop otherwise. */
struct spool__reader {
	int fd; /* the reader's own fd, kept across jobs */
	uint64_t fd_seg;
	struct pf_spool_pos start; /* copy of the read cursor */
	struct pf_spool_pos end;   /* copy of the durable end: never read past it */
	struct pf_spool_pos stop;  /* where this job stopped */
	size_t budget;
	uint8_t *buf;
	size_t len;
	size_t cap;
	struct spool__chunk *chunks;
	size_t nchunks;
	size_t chunk_cap;
};

/* Owned by the checkpoint job between checkpoint_begin and checkpoint_end. */
struct spool__ckpt {
	struct pf_spool_pos pos;
	uint64_t *unlink; /* segments to delete, copied from the loop's table */
	size_t nunlink;
	size_t unlink_cap;
	size_t nunlinked; /* leading entries actually deleted */
	bool written;	  /* checkpoint file replaced durably */
};

struct pf_spool {
	char *dir;
	int dirfd;
	uint64_t max_bytes;
	uint64_t segment_bytes;
	bool fsync;

	/* loop-owned */
	struct spool__buf staging; /* appends since the last flush_begin */
	size_t aside;		   /* bytes handed to the writer, not yet durable */
	bool flushing;
	bool reading;
	bool checkpointing;
	bool read_discard;	 /* rewound during a read job: drop its result */
	struct spool__segs segs; /* segments on disk with durable sizes */
	struct pf_spool_pos durable_end;
	struct pf_spool_pos read_cursor; /* where the next read job starts */
	struct pf_spool_pos checkpoint;	 /* last completed checkpoint */
	uint64_t used_bytes;
	size_t rlen; /* bytes of the read buffer published by read_end or handoff */
	size_t next_off;
	size_t next_chunk;
	uint64_t flushes;
	uint64_t fsyncs;
	uint64_t records_flushed;
	uint64_t handoffs;
	/* What the last flush made durable, for pf_spool_handoff: w.buf[0, flushed_len), the
	 * segments in w.touched, starting at flushed_from. 0 once taken or refused. */
	struct pf_spool_pos flushed_from;
	size_t flushed_len;

	struct spool__writer w;
	struct spool__reader r;
	struct spool__ckpt c;
};

/* ---- encoding, buffers, file I/O ---- */

static uint32_t get_le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t get_le64(const uint8_t *p)
{
	return (uint64_t)get_le32(p) | (uint64_t)get_le32(p + 4) << 32;
}

static void put_le32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
	p[2] = (uint8_t)(v >> 16);
	p[3] = (uint8_t)(v >> 24);
}

static void put_le64(uint8_t *p, uint64_t v)
{
	put_le32(p, (uint32_t)v);
	put_le32(p + 4, (uint32_t)(v >> 32));
}

static void seg_name(char *name, uint64_t seg)
{
	snprintf(name, SPOOL_NAME_LEN + 1, "%020llu.seg", (unsigned long long)seg);
}

/* Exactly 20 digits and ".seg": anything else in the directory is not ours. */
static bool parse_seg_name(const char *name, uint64_t *seg)
{
	uint64_t v = 0;

	if (strlen(name) != SPOOL_NAME_LEN || strcmp(name + 20, ".seg") != 0)
		return false;
	for (int i = 0; i < 20; i++) {
		if (name[i] < '0' || name[i] > '9')
			return false;
		if (v > (UINT64_MAX - 9) / 10)
			return false;
		v = v * 10 + (uint64_t)(name[i] - '0');
	}
	*seg = v;
	return true;
}

static void note_add(struct pf_spool_recovery *rec, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* Repairs are reported as one line; several are joined with "; ". */
static void note_add(struct pf_spool_recovery *rec, const char *fmt, ...)
{
	size_t len = strlen(rec->note);
	va_list ap;

	if (len > 0 && len + 2 < sizeof(rec->note)) {
		memcpy(rec->note + len, "; ", 3);
		len += 2;
	}
	if (len + 1 >= sizeof(rec->note))
		return;
	va_start(ap, fmt);
	vsnprintf(rec->note + len, sizeof(rec->note) - len, fmt, ap);
	va_end(ap);
}

MUST_CHECK static int grow(void **p, size_t *cap, size_t need, size_t elem)
{
	size_t ncap = *cap ? *cap : 16;
	void *np;

	if (need <= *cap)
		return 0;
	while (ncap < need)
		ncap = ncap > SIZE_MAX / 4 ? need : ncap * 2;
	np = realloc(*p, ncap * elem);
	if (!np)
		return -ENOMEM;
	*p = np;
	*cap = ncap;
	return 0;
}

MUST_CHECK static int write_all(int fd, const uint8_t *p, size_t n)
{
	while (n > 0) {
		ssize_t k = write(fd, p, n);

		if (k < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		p += k;
		n -= (size_t)k;
	}
	return 0;
}

/* Reads exactly n bytes; a file shorter than the caller was told is an I/O error. */
MUST_CHECK static int pread_all(int fd, uint8_t *p, size_t n, uint64_t off)
{
	while (n > 0) {
		ssize_t k = pread(fd, p, n, (off_t)off);

		if (k < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (k == 0)
			return -EIO;
		p += k;
		n -= (size_t)k;
		off += (uint64_t)k;
	}
	return 0;
}

MUST_CHECK static int segs_push(struct spool__segs *s, uint64_t seg, uint64_t size)
{
	if (grow((void **)&s->v, &s->cap, s->n + 1, sizeof(*s->v)) < 0)
		return -ENOMEM;
	s->v[s->n].seg = seg;
	s->v[s->n].size = size;
	s->n++;
	return 0;
}

/* Durable bytes from the checkpoint to the durable end. */
static void recount_used(struct pf_spool *sp)
{
	uint64_t used = 0;

	for (size_t i = 0; i < sp->segs.n; i++) {
		const struct spool__seg *s = &sp->segs.v[i];

		if (s->seg > sp->checkpoint.seg)
			used += s->size;
		else if (s->seg == sp->checkpoint.seg && s->size > sp->checkpoint.off)
			used += s->size - sp->checkpoint.off;
	}
	sp->used_bytes = used;
}

int pf_spool_pos_cmp(struct pf_spool_pos a, struct pf_spool_pos b)
{
	if (a.seg != b.seg)
		return a.seg < b.seg ? -1 : 1;
	if (a.off != b.off)
		return a.off < b.off ? -1 : 1;
	return 0;
}

int pf_spool_frame_parse(const uint8_t *buf, size_t len, const uint8_t **body, uint32_t *body_len,
			 size_t *consumed)
{
	uint32_t blen;

	if (len < SPOOL_HDR)
		return 0;
	blen = get_le32(buf);
	if (blen == 0 || blen > SPOOL_MAX_RECORD)
		return -EBADMSG;
	if (len - SPOOL_HDR < blen)
		return 0;
	if ((uint32_t)crc32(0L, buf + SPOOL_HDR, blen) != get_le32(buf + 4))
		return -EBADMSG;
	*body = buf + SPOOL_HDR;
	*body_len = blen;
	*consumed = SPOOL_HDR + (size_t)blen;
	return 1;
}

/* ---- writer side ---- */

int pf_spool_append(struct pf_spool *sp, const void *body, uint32_t len)
{
	struct spool__buf *b = &sp->staging;
	uint64_t pending = sp->used_bytes + pf_spool_staged_bytes(sp);
	size_t frame = SPOOL_HDR + (size_t)len;

	if (len == 0)
		return -EINVAL;
	if (len > SPOOL_MAX_RECORD)
		return -EMSGSIZE;
	/* An empty spool takes any record, so one large record cannot wedge it. */
	if (pending > 0 && pending + frame > sp->max_bytes)
		return -ENOSPC;
	if (b->len + frame > b->cap && grow((void **)&b->data, &b->cap, b->len + frame, 1) < 0)
		return -ENOMEM;
	put_le32(b->data + b->len, len);
	put_le32(b->data + b->len + 4, (uint32_t)crc32(0L, body, len));
	memcpy(b->data + b->len + SPOOL_HDR, body, len);
	b->len += frame;
	b->records++;
	return 0;
}

size_t pf_spool_staged_bytes(const struct pf_spool *sp)
{
	return sp->staging.len + sp->aside;
}

void pf_spool_set_max_bytes(struct pf_spool *sp, uint64_t max_bytes)
{
	sp->max_bytes = max_bytes;
}

bool pf_spool_full(const struct pf_spool *sp)
{
	return sp->used_bytes + pf_spool_staged_bytes(sp) >= sp->max_bytes;
}

/* Most segments one flush of len bytes in n frames can touch (the current one included). */
static size_t flush_seg_bound(const struct pf_spool *sp, size_t len, uint64_t n)
{
	uint64_t by_size = 2 * (len / sp->segment_bytes) + 2;

	return (size_t)(n < by_size ? n : by_size) + 1;
}

bool pf_spool_flush_begin(struct pf_spool *sp)
{
	struct spool__writer *w = &sp->w;
	struct spool__buf *st = &sp->staging;
	size_t bound;

	if (sp->flushing || w->buf.len + st->len == 0)
		return false;
	bound = flush_seg_bound(sp, w->buf.len + st->len, w->buf.records + st->records);
	/* flush_end must not allocate: reserve the table rows this flush can add. */
	if (grow((void **)&sp->segs.v, &sp->segs.cap, sp->segs.n + bound, sizeof(*sp->segs.v)) <
		    0 ||
	    grow((void **)&w->touched.v, &w->touched.cap, bound, sizeof(*w->touched.v)) < 0)
		return false;
	if (w->buf.len > 0) {
		/* Frames kept from a failed flush go first; newer appends join them. */
		if (st->len > 0) {
			if (grow((void **)&w->buf.data, &w->buf.cap, w->buf.len + st->len, 1) < 0)
				return false;
			memcpy(w->buf.data + w->buf.len, st->data, st->len);
			w->buf.len += st->len;
			w->buf.records += st->records;
			st->len = 0;
			st->records = 0;
		}
	} else {
		struct spool__buf tmp = w->buf;

		w->buf = *st;
		*st = tmp;
	}
	w->done = 0;
	w->done_records = 0;
	w->touched.n = 0;
	w->fsyncs = 0;
	sp->aside = w->buf.len;
	sp->flushing = true;
	sp->flushed_len = 0;
	return true;
}

/* Cuts what a failed write may have left past the last whole frame. */
MUST_CHECK static int writer_trim(struct spool__writer *w)
{
	if (ftruncate(w->fd, (off_t)w->size) < 0)
		return -errno;
	w->dirty = false;
	return 0;
}

MUST_CHECK static int writer_rotate(struct pf_spool *sp)
{
	struct spool__writer *w = &sp->w;
	char name[SPOOL_NAME_LEN + 1];
	struct stat st;
	int fd, rc = 0;

	seg_name(name, w->seg + 1);
	fd = openat(sp->dirfd, name, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, SPOOL_FILE_MODE);
	if (fd < 0)
		return -errno;
	/* Left over empty by an earlier failed rotation is fine; data is never clobbered. */
	if (fstat(fd, &st) < 0)
		rc = -errno;
	else if (st.st_size != 0)
		rc = -EEXIST;
	if (rc < 0) {
		close(fd);
		return rc;
	}
	/* The new name must survive power loss before frames in it are acknowledged. */
	if (sp->fsync && fsync(sp->dirfd) < 0) {
		rc = -errno;
		close(fd);
		return rc;
	}
	close(w->fd);
	w->fd = fd;
	w->seg++;
	w->size = 0;
	w->dirty = false;
	return 0;
}

/* How many bytes (and frames) from buf[done] on fit in the current segment; 0: rotate first. */
static size_t writer_plan(const struct pf_spool *sp, uint64_t *records)
{
	const struct spool__writer *w = &sp->w;
	size_t left = w->buf.len - w->done;
	size_t n = 0;

	if (w->size + left <= sp->segment_bytes) {
		*records = w->buf.records - w->done_records;
		return left;
	}
	*records = 0;
	while (n < left) {
		size_t frame = SPOOL_HDR + get_le32(w->buf.data + w->done + n);

		/* A frame larger than a segment gets an empty segment of its own. */
		if (w->size + n + frame > sp->segment_bytes && (w->size > 0 || n > 0))
			break;
		n += frame;
		(*records)++;
	}
	return n;
}

MUST_CHECK static int writer_write(struct pf_spool *sp, size_t n)
{
	struct spool__writer *w = &sp->w;
	int rc;

	rc = write_all(w->fd, w->buf.data + w->done, n);
	if (rc == 0 && sp->fsync) {
		w->fsyncs++;
		if (fdatasync(w->fd) < 0)
			rc = -errno;
	}
	if (rc < 0) {
		/* Back to the last whole frame, so a retry appends nothing twice; if even that
		 * fails, dirty makes the next run try again before it writes. */
		w->dirty = true;
		if (writer_trim(w) < 0)
			return rc;
	}
	return rc;
}

int pf_spool_flush_run(struct pf_spool *sp)
{
	struct spool__writer *w = &sp->w;
	int rc;

	if (w->dirty && (rc = writer_trim(w)) < 0)
		return rc;
	while (w->done < w->buf.len) {
		uint64_t records;
		size_t n = writer_plan(sp, &records);

		if (n == 0) {
			if ((rc = writer_rotate(sp)) < 0)
				return rc;
			continue;
		}
		if ((rc = writer_write(sp, n)) < 0)
			return rc;
		w->size += n;
		w->done += n;
		w->done_records += records;
		if (w->touched.n > 0 && w->touched.v[w->touched.n - 1].seg == w->seg) {
			w->touched.v[w->touched.n - 1].size = w->size;
		} else {
			w->touched.v[w->touched.n].seg = w->seg;
			w->touched.v[w->touched.n].size = w->size;
			w->touched.n++;
		}
	}
	return 0;
}

void pf_spool_flush_end(struct pf_spool *sp, int rc)
{
	struct spool__writer *w = &sp->w;

	sp->flushed_from = sp->durable_end;
	/* A successful run wrote the whole buffer, so the memmove below moves nothing and
	 * w->buf still holds those frames for pf_spool_handoff. */
	sp->flushed_len = rc == 0 && w->done == w->buf.len ? w->done : 0;
	/* Whatever reached the disk is published, even when a later part failed. */
	for (size_t i = 0; i < w->touched.n; i++) {
		struct spool__seg *last = sp->segs.n ? &sp->segs.v[sp->segs.n - 1] : NULL;

		if (last && last->seg == w->touched.v[i].seg) {
			last->size = w->touched.v[i].size;
		} else {
			/* Reserved in flush_begin. */
			sp->segs.v[sp->segs.n++] = w->touched.v[i];
		}
		sp->durable_end.seg = w->touched.v[i].seg;
		sp->durable_end.off = w->touched.v[i].size;
	}
	sp->fsyncs += w->fsyncs;
	sp->records_flushed += w->done_records;
	if (rc == 0)
		sp->flushes++;
	/* Keep the unwritten frames for the next flush_begin. */
	memmove(w->buf.data, w->buf.data + w->done, w->buf.len - w->done);
	w->buf.len -= w->done;
	w->buf.records -= w->done_records;
	w->done = 0;
	w->done_records = 0;
	/* w->touched stays until the next flush_begin: pf_spool_handoff reads it. */
	sp->aside = w->buf.len;
	sp->flushing = false;
	recount_used(sp);
}

bool pf_spool_handoff(struct pf_spool *sp, size_t max_bytes)
{
	const struct spool__writer *w = &sp->w;
	struct spool__reader *r = &sp->r;
	size_t len = sp->flushed_len, off = 0;

	sp->flushed_len = 0;
	/* Only when the reader holds nothing and has everything before these frames: the
	 * records must still come out in spool order, once. */
	if (len == 0 || len > max_bytes || sp->reading || sp->next_off < sp->rlen ||
	    pf_spool_pos_cmp(sp->read_cursor, sp->flushed_from) != 0)
		return false;
	if (grow((void **)&r->buf, &r->cap, len, 1) < 0 ||
	    grow((void **)&r->chunks, &r->chunk_cap, w->touched.n, sizeof(*r->chunks)) < 0)
		return false;
	r->nchunks = 0;
	for (size_t i = 0; i < w->touched.n; i++) {
		const struct spool__seg *t = &w->touched.v[i];
		uint64_t from = i == 0 && t->seg == sp->flushed_from.seg ? sp->flushed_from.off : 0;

		r->chunks[r->nchunks++] = (struct spool__chunk){off, t->seg, from};
		off += (size_t)(t->size - from);
	}
	if (off != len) {
		r->nchunks = 0; /* not what was written: leave it to a read job */
		return false;
	}
	memcpy(r->buf, w->buf.data, len);
	r->len = len;
	sp->rlen = len;
	sp->next_off = 0;
	sp->next_chunk = 0;
	sp->read_cursor = sp->durable_end;
	sp->handoffs++;
	return true;
}

/* ---- reader side ---- */

bool pf_spool_read_begin(struct pf_spool *sp, size_t max_bytes)
{
	struct spool__reader *r = &sp->r;

	if (sp->reading || sp->next_off < sp->rlen)
		return false;
	if (pf_spool_pos_cmp(sp->read_cursor, sp->durable_end) >= 0)
		return false;
	if (max_bytes < SPOOL_MIN_READ)
		max_bytes = SPOOL_MIN_READ;
	if (max_bytes > sp->max_bytes)
		max_bytes = (size_t)sp->max_bytes;
	r->start = sp->read_cursor;
	r->end = sp->durable_end;
	r->budget = max_bytes;
	r->len = 0;
	r->nchunks = 0;
	sp->rlen = 0;
	sp->next_off = 0;
	sp->next_chunk = 0;
	sp->read_discard = false;
	sp->reading = true;
	return true;
}

/* The first segment after seg on disk: seg + 1 unless someone removed files by hand. */
MUST_CHECK static int reader_next_seg(struct pf_spool *sp, uint64_t seg, uint64_t *next)
{
	struct spool__reader *r = &sp->r;
	uint64_t best = UINT64_MAX, v;
	char name[SPOOL_NAME_LEN + 1];
	struct dirent *de;
	DIR *d;
	int fd;

	*next = seg + 1;
	seg_name(name, seg + 1);
	if (faccessat(sp->dirfd, name, F_OK, 0) == 0)
		return 0;
	fd = openat(sp->dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0 || !(d = fdopendir(fd))) {
		if (fd >= 0)
			close(fd);
		return -EIO;
	}
	while ((de = readdir(d)))
		if (parse_seg_name(de->d_name, &v) && v > seg && v < best)
			best = v;
	closedir(d);
	if (best > r->end.seg)
		return -EIO;
	*next = best;
	return 0;
}

/* Opens seg for reading if needed and says how far it may be read. */
MUST_CHECK static int reader_seg_end(struct pf_spool *sp, uint64_t seg, uint64_t *end)
{
	struct spool__reader *r = &sp->r;
	struct stat st;

	if (r->fd < 0 || r->fd_seg != seg) {
		char name[SPOOL_NAME_LEN + 1];

		if (r->fd >= 0)
			close(r->fd);
		seg_name(name, seg);
		r->fd = openat(sp->dirfd, name, O_RDONLY | O_CLOEXEC);
		if (r->fd < 0)
			return errno == ENOENT ? -EIO : -errno;
		r->fd_seg = seg;
	}
	if (seg == r->end.seg) {
		*end = r->end.off;
		return 0;
	}
	/* Older segments are complete: the writer only moves on after their last frame. */
	if (fstat(r->fd, &st) < 0)
		return -errno;
	*end = (uint64_t)st.st_size;
	return 0;
}

/* Reads whole frames of one segment from *pos; 1 when the budget is used up. */
MUST_CHECK static int reader_fill(struct spool__reader *r, struct pf_spool_pos *pos,
				  uint64_t seg_end)
{
	uint64_t avail = seg_end - pos->off;
	size_t got = (size_t)(avail < r->budget - r->len ? avail : r->budget - r->len);
	size_t p = 0;
	bool full = false;
	int rc;

	if (grow((void **)&r->buf, &r->cap, r->len + got, 1) < 0)
		return -ENOMEM;
	if ((rc = pread_all(r->fd, r->buf + r->len, got, pos->off)) < 0)
		return rc;
	while (p < got) {
		const uint8_t *body;
		uint32_t blen;
		size_t used, need;

		rc = pf_spool_frame_parse(r->buf + r->len + p, got - p, &body, &blen, &used);
		if (rc == 1) {
			p += used;
			continue;
		}
		if (rc < 0)
			return -EIO; /* durable bytes that fail their CRC: the disk lies */
		need = got - p < SPOOL_HDR ? SPOOL_HDR : SPOOL_HDR + get_le32(r->buf + r->len + p);
		if (pos->off + p + need > seg_end)
			return -EIO; /* the durable region holds whole frames only */
		if (r->len + p > 0) {
			full = true;
			break;
		}
		/* A single frame larger than the budget: grow to fit just it. */
		if (grow((void **)&r->buf, &r->cap, need, 1) < 0)
			return -ENOMEM;
		if ((rc = pread_all(r->fd, r->buf + got, need - got, pos->off + got)) < 0)
			return rc;
		got = need;
	}
	if (p > 0) {
		if (grow((void **)&r->chunks, &r->chunk_cap, r->nchunks + 1, sizeof(*r->chunks)) <
		    0)
			return -ENOMEM;
		r->chunks[r->nchunks++] = (struct spool__chunk){r->len, pos->seg, pos->off};
		r->len += p;
		pos->off += p;
	}
	return full || r->len >= r->budget ? 1 : 0;
}

int pf_spool_read_run(struct pf_spool *sp)
{
	struct spool__reader *r = &sp->r;
	struct pf_spool_pos pos = r->start;
	int rc;

	r->len = 0;
	r->nchunks = 0;
	for (;;) {
		uint64_t seg_end = 0;

		if ((rc = reader_seg_end(sp, pos.seg, &seg_end)) < 0)
			return rc;
		if (pos.off >= seg_end) {
			if (pos.seg >= r->end.seg || r->len >= r->budget)
				break;
			if ((rc = reader_next_seg(sp, pos.seg, &pos.seg)) < 0)
				return rc;
			pos.off = 0;
			continue;
		}
		if ((rc = reader_fill(r, &pos, seg_end)) < 0)
			return rc;
		if (rc == 1)
			break;
	}
	r->stop = pos;
	return 0;
}

void pf_spool_read_end(struct pf_spool *sp, int rc)
{
	sp->reading = false;
	if (rc < 0 || sp->read_discard) {
		sp->rlen = 0;
	} else {
		sp->rlen = sp->r.len;
		sp->read_cursor = sp->r.stop;
	}
	sp->read_discard = false;
	sp->next_off = 0;
	sp->next_chunk = 0;
}

int pf_spool_next(struct pf_spool *sp, const uint8_t **body, uint32_t *len,
		  struct pf_spool_pos *pos_after)
{
	const struct spool__reader *r = &sp->r;
	const struct spool__chunk *ch;
	uint32_t blen;

	if (sp->reading || sp->next_off >= sp->rlen)
		return 0;
	while (sp->next_chunk + 1 < r->nchunks &&
	       r->chunks[sp->next_chunk + 1].buf_off <= sp->next_off)
		sp->next_chunk++;
	ch = &r->chunks[sp->next_chunk];
	blen = get_le32(r->buf + sp->next_off);
	*body = r->buf + sp->next_off + SPOOL_HDR;
	*len = blen;
	sp->next_off += SPOOL_HDR + (size_t)blen;
	pos_after->seg = ch->seg;
	pos_after->off = ch->seg_off + (sp->next_off - ch->buf_off);
	return 1;
}

void pf_spool_rewind(struct pf_spool *sp, struct pf_spool_pos pos)
{
	struct pf_spool_pos floor = {sp->segs.n ? sp->segs.v[0].seg : 0, 0};

	/* Never before what a running checkpoint job may be deleting. */
	if (sp->checkpointing && sp->c.nunlink > 0 && floor.seg <= sp->c.unlink[sp->c.nunlink - 1])
		floor.seg = sp->c.unlink[sp->c.nunlink - 1] + 1;
	if (pf_spool_pos_cmp(pos, floor) < 0)
		pos = floor;
	if (pf_spool_pos_cmp(pos, sp->durable_end) > 0)
		pos = sp->durable_end;
	sp->read_cursor = pos;
	sp->rlen = 0;
	sp->next_off = 0;
	sp->next_chunk = 0;
	if (sp->reading)
		sp->read_discard = true;
}

bool pf_spool_read_caught_up(const struct pf_spool *sp)
{
	return !sp->reading && sp->next_off >= sp->rlen &&
	       pf_spool_pos_cmp(sp->read_cursor, sp->durable_end) >= 0;
}

/* ---- checkpoint side ---- */

bool pf_spool_checkpoint_begin(struct pf_spool *sp, struct pf_spool_pos pos)
{
	struct spool__ckpt *c = &sp->c;
	uint64_t limit = pos.seg;
	size_t n = 0;

	if (sp->checkpointing || pf_spool_pos_cmp(pos, sp->checkpoint) <= 0 ||
	    pf_spool_pos_cmp(pos, sp->durable_end) > 0)
		return false;
	/* Segments the reader may still open stay. */
	if (sp->read_cursor.seg < limit)
		limit = sp->read_cursor.seg;
	if (sp->reading && sp->r.start.seg < limit)
		limit = sp->r.start.seg;
	while (n < sp->segs.n && sp->segs.v[n].seg < limit)
		n++;
	if (grow((void **)&c->unlink, &c->unlink_cap, n ? n : 1, sizeof(*c->unlink)) < 0)
		return false;
	for (size_t i = 0; i < n; i++)
		c->unlink[i] = sp->segs.v[i].seg;
	c->nunlink = n;
	c->nunlinked = 0;
	c->written = false;
	c->pos = pos;
	sp->checkpointing = true;
	return true;
}

/* tmp + fdatasync + rename + directory fsync: the old or the new file, never a torn one. */
MUST_CHECK static int checkpoint_write(int dirfd, bool sync, struct pf_spool_pos pos)
{
	uint8_t b[SPOOL_CKPT_SIZE];
	int fd, rc = 0;

	put_le32(b, SPOOL_CKPT_MAGIC);
	put_le32(b + 4, SPOOL_CKPT_VER);
	put_le64(b + 8, pos.seg);
	put_le64(b + 16, pos.off);
	put_le32(b + 24, (uint32_t)crc32(0L, b, 24));
	fd = openat(dirfd, SPOOL_CKPT_TMP, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC,
		    SPOOL_FILE_MODE);
	if (fd < 0)
		return -errno;
	rc = write_all(fd, b, sizeof(b));
	if (rc == 0 && sync && fdatasync(fd) < 0)
		rc = -errno;
	if (close(fd) < 0 && rc == 0)
		rc = -errno;
	if (rc == 0 && renameat(dirfd, SPOOL_CKPT_TMP, dirfd, SPOOL_CKPT_NAME) < 0)
		rc = -errno;
	if (rc == 0 && sync && fsync(dirfd) < 0)
		rc = -errno;
	return rc;
}

int pf_spool_checkpoint_run(struct pf_spool *sp)
{
	struct spool__ckpt *c = &sp->c;
	int rc;

	if ((rc = checkpoint_write(sp->dirfd, sp->fsync, c->pos)) < 0)
		return rc;
	c->written = true;
	/* Unlinks need no fsync: a segment that comes back is below the checkpoint, and open
	 * deletes those again. */
	for (; c->nunlinked < c->nunlink; c->nunlinked++) {
		char name[SPOOL_NAME_LEN + 1];

		seg_name(name, c->unlink[c->nunlinked]);
		if (unlinkat(sp->dirfd, name, 0) < 0 && errno != ENOENT)
			return -errno;
	}
	return 0;
}

void pf_spool_checkpoint_end(struct pf_spool *sp, int rc)
{
	struct spool__ckpt *c = &sp->c;

	if (c->written)
		sp->checkpoint = c->pos;
	/* The unlinked segments are the table's oldest entries (appends happen at the end). */
	memmove(sp->segs.v, sp->segs.v + c->nunlinked,
		(sp->segs.n - c->nunlinked) * sizeof(*sp->segs.v));
	sp->segs.n -= c->nunlinked;
	c->nunlink = 0;
	c->nunlinked = 0;
	sp->checkpointing = false;
	recount_used(sp);
}

void pf_spool_stats(const struct pf_spool *sp, struct pf_spool_stats *st)
{
	st->used_bytes = sp->used_bytes;
	st->staged_bytes = pf_spool_staged_bytes(sp);
	st->segments = sp->segs.n;
	st->flushes = sp->flushes;
	st->fsyncs = sp->fsyncs;
	st->records_flushed = sp->records_flushed;
	st->handoffs = sp->handoffs;
	st->durable_end = sp->durable_end;
	st->read_cursor = sp->read_cursor;
	st->checkpoint = sp->checkpoint;
}

/* ---- open and recovery ---- */

struct spool__scan {
	uint64_t valid_end; /* end of the last intact frame */
	uint64_t file_size;
	uint64_t records; /* intact frames starting at or after `from` */
	uint64_t bytes;
	bool boundary;	 /* `from` is a frame boundary */
	const char *why; /* what stopped the scan before file_size */
};

/* Verifies the frames of one segment with large reads; frames may be as large as 16 MiB. */
MUST_CHECK static int scan_segment(int fd, uint64_t from, uint8_t **buf, size_t *cap,
				   struct spool__scan *s)
{
	uint64_t off = 0; /* file offset of (*buf)[0] */
	size_t have = 0, p = 0;
	struct stat st;

	if (fstat(fd, &st) < 0)
		return -errno;
	if (grow((void **)buf, cap, SPOOL_SCAN_CHUNK, 1) < 0)
		return -ENOMEM;
	memset(s, 0, sizeof(*s));
	s->file_size = (uint64_t)st.st_size;
	s->boundary = from == 0;
	for (;;) {
		const uint8_t *body;
		uint32_t blen;
		size_t used, need, room;
		int rc = pf_spool_frame_parse(*buf + p, have - p, &body, &blen, &used);

		if (rc == 1) {
			if (off + p >= from) {
				s->records++;
				s->bytes += used;
			}
			p += used;
			if (off + p == from)
				s->boundary = true;
			continue;
		}
		if (rc < 0) {
			bool zero = have - p >= SPOOL_HDR && get_le64(*buf + p) == 0;

			s->why = zero ? "zero-filled frame" : "corrupt frame";
			break;
		}
		if (off + have == s->file_size) {
			if (have > p)
				s->why = "torn frame";
			break;
		}
		if (p > 0)
			memmove(*buf, *buf + p, have - p);
		off += p;
		have -= p;
		p = 0;
		need = have < SPOOL_HDR ? SPOOL_HDR : SPOOL_HDR + get_le32(*buf);
		if (grow((void **)buf, cap, need > SPOOL_SCAN_CHUNK ? need : SPOOL_SCAN_CHUNK, 1) <
		    0)
			return -ENOMEM;
		room = *cap - have;
		if (room > s->file_size - off - have)
			room = (size_t)(s->file_size - off - have);
		if ((rc = pread_all(fd, *buf + have, room, off + have)) < 0)
			return rc;
		have += room;
	}
	s->valid_end = off + p;
	return 0;
}

static int fail(char *errbuf, size_t errlen, int rc, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static int fail(char *errbuf, size_t errlen, int rc, const char *fmt, ...)
{
	va_list ap;

	if (errbuf && errlen) {
		va_start(ap, fmt);
		vsnprintf(errbuf, errlen, fmt, ap);
		va_end(ap);
	}
	return rc;
}

/* mkdir -p with mode 0750 for what is created. */
MUST_CHECK static int make_dirs(const char *dir)
{
	char path[4096];
	size_t len = strlen(dir);

	if (len == 0 || len >= sizeof(path))
		return -ENAMETOOLONG;
	memcpy(path, dir, len + 1);
	for (size_t i = 1; i <= len; i++) {
		if (path[i] != '/' && path[i] != '\0')
			continue;
		path[i] = '\0';
		if (mkdir(path, SPOOL_DIR_MODE) < 0 && errno != EEXIST)
			return -errno;
		path[i] = dir[i];
	}
	return 0;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/* Segment numbers on disk, sorted. */
MUST_CHECK static int list_segments(int dirfd, uint64_t **out, size_t *n)
{
	size_t cap = 0;
	struct dirent *de;
	uint64_t v;
	int fd;
	DIR *d;

	*out = NULL;
	*n = 0;
	fd = openat(dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (!(d = fdopendir(fd))) {
		close(fd);
		return -errno;
	}
	while ((de = readdir(d))) {
		if (!parse_seg_name(de->d_name, &v))
			continue;
		if (grow((void **)out, &cap, *n + 1, sizeof(**out)) < 0) {
			closedir(d);
			return -ENOMEM;
		}
		(*out)[(*n)++] = v;
	}
	closedir(d);
	if (*n > 1)
		qsort(*out, *n, sizeof(**out), cmp_u64);
	return 0;
}

enum ckpt_state { CKPT_OK, CKPT_MISSING, CKPT_CORRUPT };

MUST_CHECK static int read_checkpoint(int dirfd, struct pf_spool_pos *pos, enum ckpt_state *state)
{
	uint8_t b[SPOOL_CKPT_SIZE + 1];
	ssize_t n;
	int fd;

	fd = openat(dirfd, SPOOL_CKPT_NAME, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		*state = CKPT_MISSING;
		return errno == ENOENT ? 0 : -errno;
	}
	n = pread(fd, b, sizeof(b), 0);
	close(fd);
	if (n < 0)
		return -errno;
	*state = CKPT_CORRUPT;
	if (n != SPOOL_CKPT_SIZE || get_le32(b) != SPOOL_CKPT_MAGIC ||
	    get_le32(b + 4) != SPOOL_CKPT_VER || get_le32(b + 24) != (uint32_t)crc32(0L, b, 24))
		return 0;
	pos->seg = get_le64(b + 8);
	pos->off = get_le64(b + 16);
	*state = CKPT_OK;
	return 0;
}

MUST_CHECK static int truncate_segment(struct pf_spool *sp, uint64_t seg, uint64_t size)
{
	char name[SPOOL_NAME_LEN + 1];
	int fd, rc = 0;

	seg_name(name, seg);
	fd = openat(sp->dirfd, name, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (ftruncate(fd, (off_t)size) < 0 || (sp->fsync && fsync(fd) < 0))
		rc = -errno;
	close(fd);
	return rc;
}

/* Where replay starts, from the checkpoint file and the segments present. */
MUST_CHECK static int choose_start(struct pf_spool *sp, const uint64_t *segs, size_t n,
				   struct pf_spool_pos *start, bool *trusted,
				   struct pf_spool_recovery *rec)
{
	enum ckpt_state state = CKPT_MISSING;
	struct pf_spool_pos ck = {0, 0};
	size_t i = 0;
	int rc;

	if ((rc = read_checkpoint(sp->dirfd, &ck, &state)) < 0)
		return rc;
	*trusted = state == CKPT_OK;
	if (!*trusted) {
		start->seg = n ? segs[0] : 1;
		start->off = 0;
		if (n)
			note_add(rec, "%s checkpoint file, replaying from segment %020llu.seg",
				 state == CKPT_MISSING ? "no" : "corrupt",
				 (unsigned long long)segs[0]);
		return 0;
	}
	while (i < n && segs[i] < ck.seg)
		i++;
	if (i < n && segs[i] == ck.seg) {
		*start = ck;
		return 0;
	}
	/* The checkpoint's segment is gone: what follows it is all there is. */
	start->seg = i < n ? segs[i] : ck.seg + 1;
	start->off = 0;
	note_add(rec, "checkpoint segment %020llu.seg missing, starting at %020llu.seg",
		 (unsigned long long)ck.seg, (unsigned long long)start->seg);
	return 0;
}

/* Verifies one segment; cuts a torn or corrupt tail. */
MUST_CHECK static int recover_segment(struct pf_spool *sp, uint64_t seg, uint64_t from, bool last,
				      uint8_t **buf, size_t *cap, struct spool__scan *s,
				      struct pf_spool_recovery *rec)
{
	char name[SPOOL_NAME_LEN + 1];
	int fd, rc;

	seg_name(name, seg);
	fd = openat(sp->dirfd, name, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	rc = scan_segment(fd, from, buf, cap, s);
	close(fd);
	/* Not a boundary: the caller rescans from the oldest segment, which decides. */
	if (rc < 0 || s->valid_end == s->file_size || (s->valid_end >= from && !s->boundary))
		return rc;
	if ((rc = truncate_segment(sp, seg, s->valid_end)) < 0)
		return rc;
	rec->truncated_bytes += s->file_size - s->valid_end;
	/* A segment is complete before the next one starts, so damage before the newest one's
	 * end is no torn write in progress: later segments and their records stay. */
	note_add(rec, "segment %s: %s at offset %llu, truncated %llu bytes%s", name, s->why,
		 (unsigned long long)s->valid_end,
		 (unsigned long long)(s->file_size - s->valid_end),
		 last ? "" : " (later segments kept)");
	return 0;
}

/* Scans from start to the newest segment and fills the table; -EAGAIN: start is no boundary. */
MUST_CHECK static int recover_scan(struct pf_spool *sp, const uint64_t *segs, size_t n,
				   struct pf_spool_pos *start, bool *rewrite,
				   struct pf_spool_recovery *rec)
{
	uint8_t *buf = NULL;
	size_t cap = 0;
	int rc = 0;

	for (size_t i = 0; i < n; i++) {
		struct spool__scan s = {0};
		uint64_t from = segs[i] == start->seg ? start->off : 0;

		if (segs[i] < start->seg)
			continue;
		rc = recover_segment(sp, segs[i], from, i + 1 == n, &buf, &cap, &s, rec);
		if (rc < 0)
			break;
		if (s.valid_end < from) {
			/* Committed bytes are damaged: replay starts where they end. */
			start->off = s.valid_end;
			*rewrite = true;
		} else if (!s.boundary) {
			rc = -EAGAIN;
			break;
		}
		if ((rc = segs_push(&sp->segs, segs[i], s.valid_end)) < 0)
			break;
		rec->records += s.records;
		rec->bytes += s.bytes;
	}
	free(buf);
	return rc;
}

MUST_CHECK static int create_segment(struct pf_spool *sp, uint64_t seg)
{
	char name[SPOOL_NAME_LEN + 1];
	int fd;

	seg_name(name, seg);
	fd = openat(sp->dirfd, name, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, SPOOL_FILE_MODE);
	if (fd < 0)
		return -errno;
	close(fd);
	if (sp->fsync && fsync(sp->dirfd) < 0)
		return -errno;
	return 0;
}

/* Deletes segments before start: fully committed ones below a trusted checkpoint. */
static void drop_committed(struct pf_spool *sp, const uint64_t *segs, size_t n, uint64_t below)
{
	char name[SPOOL_NAME_LEN + 1];

	for (size_t i = 0; i < n && segs[i] < below; i++) {
		seg_name(name, segs[i]);
		(void)unlinkat(sp->dirfd, name, 0);
	}
}

MUST_CHECK static int recover(struct pf_spool *sp, struct pf_spool_recovery *rec, char *errbuf,
			      size_t errlen)
{
	struct pf_spool_pos start;
	uint64_t *segs = NULL;
	bool trusted, rewrite = false;
	size_t n;
	int rc;

	(void)unlinkat(sp->dirfd, SPOOL_CKPT_TMP, 0);
	if ((rc = list_segments(sp->dirfd, &segs, &n)) < 0) {
		fail(errbuf, errlen, rc, "spool: cannot list %s: %s", sp->dir, strerror(-rc));
		goto out;
	}
	if ((rc = choose_start(sp, segs, n, &start, &trusted, rec)) < 0) {
		fail(errbuf, errlen, rc,
		     "spool: cannot read %s/" SPOOL_CKPT_NAME ": %s (check permissions)", sp->dir,
		     strerror(-rc));
		goto out;
	}
	rc = recover_scan(sp, segs, n, &start, &rewrite, rec);
	if (rc == -EAGAIN && n > 0) {
		note_add(rec,
			 "checkpoint offset %llu is not a frame boundary in %020llu.seg, "
			 "replaying from segment %020llu.seg",
			 (unsigned long long)start.off, (unsigned long long)start.seg,
			 (unsigned long long)segs[0]);
		sp->segs.n = 0;
		rec->records = rec->bytes = 0;
		trusted = false;
		start.seg = segs[0];
		start.off = 0;
		rc = recover_scan(sp, segs, n, &start, &rewrite, rec);
	}
	if (rc < 0) {
		fail(errbuf, errlen, rc,
		     "spool: cannot verify segments in %s: %s (check [spool] dir and its "
		     "permissions)",
		     sp->dir, strerror(-rc));
		goto out;
	}
	if (trusted)
		drop_committed(sp, segs, n, start.seg);
	if (sp->segs.n == 0) {
		if ((rc = create_segment(sp, start.seg)) < 0 ||
		    (rc = segs_push(&sp->segs, start.seg, 0)) < 0) {
			fail(errbuf, errlen, rc,
			     "spool: cannot create a segment in %s: %s (check "
			     "[spool] dir and its permissions)",
			     sp->dir, strerror(-rc));
			goto out;
		}
	}
	if (rewrite && (rc = checkpoint_write(sp->dirfd, sp->fsync, start)) < 0) {
		fail(errbuf, errlen, rc, "spool: cannot rewrite %s/" SPOOL_CKPT_NAME ": %s",
		     sp->dir, strerror(-rc));
		goto out;
	}
	sp->checkpoint = sp->read_cursor = start;
	rc = 0;
out:
	free(segs);
	return rc;
}

MUST_CHECK static int open_writer(struct pf_spool *sp, char *errbuf, size_t errlen)
{
	const struct spool__seg *last = &sp->segs.v[sp->segs.n - 1];
	char name[SPOOL_NAME_LEN + 1];

	seg_name(name, last->seg);
	sp->w.fd = openat(sp->dirfd, name, O_WRONLY | O_APPEND | O_CLOEXEC);
	if (sp->w.fd < 0)
		return fail(errbuf, errlen, -errno,
			    "spool: cannot open %s/%s for writing: %s "
			    "(check [spool] dir and its permissions)",
			    sp->dir, name, strerror(errno));
	sp->w.seg = last->seg;
	sp->w.size = last->size;
	sp->durable_end.seg = last->seg;
	sp->durable_end.off = last->size;
	return 0;
}

MUST_CHECK static int check_config(const struct pf_spool_config *cfg, char *errbuf, size_t errlen)
{
	if (!cfg->dir || !cfg->dir[0])
		return fail(errbuf, errlen, -EINVAL, "spool: [spool] dir is empty");
	if (cfg->max_bytes == 0 || cfg->segment_bytes == 0)
		return fail(errbuf, errlen, -EINVAL,
			    "spool: max_bytes and segment_bytes must be > 0");
	return 0;
}

int pf_spool_open(struct pf_spool **out, const struct pf_spool_config *cfg,
		  struct pf_spool_recovery *rec, char *errbuf, size_t errlen)
{
	struct pf_spool_recovery scratch;
	struct pf_spool *sp;
	int rc;

	*out = NULL;
	if (!rec)
		rec = &scratch;
	memset(rec, 0, sizeof(*rec));
	if ((rc = check_config(cfg, errbuf, errlen)) < 0)
		return rc;
	if (!(sp = calloc(1, sizeof(*sp))) || !(sp->dir = strdup(cfg->dir))) {
		free(sp);
		return fail(errbuf, errlen, -ENOMEM, "spool: out of memory");
	}
	sp->dirfd = sp->w.fd = sp->r.fd = -1;
	sp->max_bytes = cfg->max_bytes;
	sp->segment_bytes = cfg->segment_bytes;
	sp->fsync = cfg->fsync;
	if ((rc = make_dirs(cfg->dir)) < 0) {
		fail(errbuf, errlen, rc,
		     "spool: cannot create directory %s: %s (check [spool] dir "
		     "and that the daemon's user may create it)",
		     cfg->dir, strerror(-rc));
		goto fail;
	}
	sp->dirfd = open(cfg->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (sp->dirfd < 0) {
		rc = -errno;
		fail(errbuf, errlen, rc,
		     "spool: cannot open directory %s: %s (check [spool] dir "
		     "and its permissions)",
		     cfg->dir, strerror(-rc));
		goto fail;
	}
	if ((rc = recover(sp, rec, errbuf, errlen)) < 0 ||
	    (rc = open_writer(sp, errbuf, errlen)) < 0)
		goto fail;
	recount_used(sp);
	rec->checkpoint = sp->checkpoint;
	rec->segments = sp->segs.n;
	*out = sp;
	return 0;
fail:
	pf_spool_close(sp);
	return rc;
}

void pf_spool_close(struct pf_spool *sp)
{
	if (!sp)
		return;
	if (sp->w.fd >= 0)
		close(sp->w.fd);
	if (sp->r.fd >= 0)
		close(sp->r.fd);
	if (sp->dirfd >= 0)
		close(sp->dirfd);
	free(sp->staging.data);
	free(sp->w.buf.data);
	free(sp->w.touched.v);
	free(sp->r.buf);
	free(sp->r.chunks);
	free(sp->c.unlink);
	free(sp->segs.v);
	free(sp->dir);
	free(sp);
}

/* Snapshots: built once from the database's rows, never changed, freed with their last user. */
#include "snapshot.h"

#include <stdlib.h>
#include <string.h>

static size_t str_size(const char *s)
{
	return s ? strlen(s) + 1 : 0;
}

static const char *copy_str(char **arena, const char *s)
{
	char *p = *arena;
	size_t n;

	if (!s)
		return NULL;
	n = strlen(s) + 1;
	memcpy(p, s, n);
	*arena += n;
	return p;
}

static int lot_cmp(const void *a, const void *b)
{
	return strcmp(((const struct api_lot *)a)->id, ((const struct api_lot *)b)->id);
}

/* By name in byte order; the unknown district (NULL) last. */
static int district_cmp(const void *a, const void *b)
{
	const char *x = ((const struct api_district *)a)->name;
	const char *y = ((const struct api_district *)b)->name;

	if (!x || !y)
		return !x - !y;
	return strcmp(x, y);
}

static void copy_lot(struct api_lot *l, const struct snap_lot_row *r, char **arena)
{
	l->id = copy_str(arena, r->id);
	l->name = copy_str(arena, r->name);
	l->district = copy_str(arena, r->district);
	l->address = copy_str(arena, r->address);
	l->status = copy_str(arena, r->status);
	l->has_pos = r->has_pos;
	l->lon = r->lon;
	l->lat = r->lat;
	l->has_data = r->has_data;
	l->has_free = r->has_free;
	l->has_occupied = r->has_occupied;
	l->free = r->free;
	l->total = r->total;
	l->occupied = r->occupied;
	l->observed_us = r->observed_us;
	l->freshness = r->freshness;
}

static void destroy(struct rc *r)
{
	struct api_snapshot *s = rc__of(r, struct api_snapshot, rc);

	for (int c = 0; c < API_CRS__N; c++)
		if (s->full[c])
			rc__unref(&s->full[c]->rc);
	pthread_mutex_destroy(&s->lock);
	free(s->arena);
	free(s->lots);
	free(s->vec);
	free(s->has_pos);
	free(s->districts);
	free(s);
}

struct api_snapshot *snap__build(const struct snap_lot_row *lots, size_t n_lots,
				 const struct snap_district_row *districts, size_t n_districts,
				 const struct snap_meta *meta)
{
	struct api_snapshot *s = calloc(1, sizeof(*s));
	size_t bytes = 1;
	char *a;

	if (!s || pthread_mutex_init(&s->lock, NULL) != 0) {
		free(s);
		return NULL;
	}
	rc__init(&s->rc, destroy); /* from here on, a failure is a release like any other */
	for (size_t i = 0; i < n_lots; i++)
		bytes += str_size(lots[i].id) + str_size(lots[i].name) +
			 str_size(lots[i].district) + str_size(lots[i].address) +
			 str_size(lots[i].status);
	for (size_t i = 0; i < n_districts; i++)
		bytes += str_size(districts[i].name);
	s->arena = malloc(bytes);
	s->lots = calloc(n_lots ? n_lots : 1, sizeof(*s->lots));
	s->vec = calloc(n_lots ? n_lots : 1, sizeof(*s->vec));
	s->has_pos = calloc(n_lots ? n_lots : 1, sizeof(*s->has_pos));
	s->districts = calloc(n_districts ? n_districts : 1, sizeof(*s->districts));
	if (!s->arena || !s->lots || !s->vec || !s->has_pos || !s->districts) {
		rc__unref(&s->rc);
		return NULL;
	}
	a = s->arena;
	for (size_t i = 0; i < n_lots; i++)
		copy_lot(&s->lots[i], &lots[i], &a);
	s->n_lots = n_lots;
	qsort(s->lots, n_lots, sizeof(*s->lots), lot_cmp);
	for (size_t i = 0; i < n_lots; i++) {
		s->has_pos[i] = s->lots[i].has_pos;
		if (s->has_pos[i])
			geo__unit(s->lots[i].lon, s->lots[i].lat, s->vec[i]);
	}
	for (size_t i = 0; i < n_districts; i++) {
		struct api_district *d = &s->districts[i];
		const struct snap_district_row *r = &districts[i];

		d->name = copy_str(&a, r->name);
		d->lots = r->lots;
		d->lots_reporting = r->lots_reporting;
		d->lots_online = r->lots_online;
		d->lots_stale = r->lots_stale;
		d->lots_offline = r->lots_offline;
		d->has_spaces = r->has_spaces;
		d->free = r->free;
		d->total = r->total;
	}
	s->n_districts = n_districts;
	qsort(s->districts, n_districts, sizeof(*s->districts), district_cmp);
	s->meta = *meta;
	return s;
}

const struct api_lot *snap__find(const struct api_snapshot *s, const char *id)
{
	struct api_lot key = {.id = id};

	return bsearch(&key, s->lots, s->n_lots, sizeof(*s->lots), lot_cmp);
}

const struct api_district *snap__district(const struct api_snapshot *s, const char *name)
{
	struct api_district key = {.name = name};

	return bsearch(&key, s->districts, s->n_districts, sizeof(*s->districts), district_cmp);
}

struct api_snapshot *snap__get(struct rc_holder *h)
{
	struct rc *r = rc__get(h);

	return r ? rc__of(r, struct api_snapshot, rc) : NULL;
}

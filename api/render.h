/* JSON bodies: GeoJSON lots, districts, NGSI-LD OffStreetParking entities, problems (render.c). */
#ifndef API_RENDER_H
#define API_RENDER_H

#include <stdbool.h>
#include <stddef.h>

#include "geo.h"
#include "pf_ledger.h"
#include "snapshot.h"

#include "pf_avail.h"

#define NGSI_TYPE PF_NGSI_TYPE
#define NGSI_URN_PREFIX PF_NGSI_URN_PREFIX
#define NGSI_CONTEXT_PARKING PF_NGSI_CONTEXT_PARKING
#define NGSI_CONTEXT_CORE PF_NGSI_CONTEXT_CORE

/* A GeoJSON Feature for a lot, in crs; with distance_m when >= 0 (nearest queries). Lots
 * without a position get "geometry": null. */
void render__feature(struct pf_buf *out, const struct api_lot *l, enum api_crs crs,
		     double distance_m);
/* A FeatureCollection of the lots at idx[0..n) (each Feature as above; dist may be NULL). */
void render__collection(struct pf_buf *out, const struct api_snapshot *s, const size_t *idx,
			const double *dist, size_t n, enum api_crs crs);
/* [{district, lots, lots_reporting, lots_online, lots_stale, lots_offline, free, total}, ...] */
void render__districts(struct pf_buf *out, const struct api_snapshot *s);
/* One OffStreetParking entity: keyValues or normalized; with "@context" when ld. */
void render__entity(struct pf_buf *out, const struct api_lot *l, bool key_values, bool ld);
/* An application/problem+json body (RFC 9457); type NULL = about:blank. */
void render__problem(struct pf_buf *out, int status, const char *type, const char *title,
		     const char *detail);
/* GET /v1/config: what the web page needs to know (empty strings become null); tile_crs is
 * the coordinate system the page asks for lots in when it shows the tiles. */
void render__config(struct pf_buf *out, const char *tile_url, const char *tile_attribution,
		    const char *tile_crs, const char *version);

#endif

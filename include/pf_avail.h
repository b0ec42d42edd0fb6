/*
 * Availability out: the JSON of a lot and of a district that parkfeed-api serves and parkfeedd's
 * live feed publishes, written by one piece of code so the two say the same (avail.c).
 */
#ifndef PF_AVAIL_H
#define PF_AVAIL_H

#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>

#include "pf_buf.h"

#define PF_NGSI_TYPE "OffStreetParking"
#define PF_NGSI_URN_PREFIX "urn:ngsi-ld:OffStreetParking:"
/* The Smart Data Models context of OffStreetParking, and the NGSI-LD core context. */
#define PF_NGSI_CONTEXT_PARKING                                                                    \
	"https://raw.githubusercontent.com/smart-data-models/dataModel.Parking/master/context.jsonld"
#define PF_NGSI_CONTEXT_CORE "https://uri.etsi.org/ngsi-ld/v1/ngsi-ld-core-context-v1.8.jsonld"

/* A lot as parking.lot_map has it (strings NULL when unknown). */
struct pf_avail_lot {
	const char *id;
	const char *name, *district, *address, *status;
	double lon, lat; /* WGS-84, when has_pos */
	bool has_pos;
	bool has_data; /* the lot has reported: total and observed_us are set */
	bool has_free, has_occupied;
	int free, total, occupied;
	int64_t observed_us; /* epoch microseconds */
};

/* A district as parking.district_overview has it (name NULL: lots of unknown district). */
struct pf_avail_district {
	const char *name;
	int lots, lots_reporting, lots_online, lots_stale, lots_offline;
	bool has_spaces;     /* some lot is online: free and total are set */
	int64_t free, total; /* in online lots */
};

/* One FIWARE OffStreetParking entity: keyValues or normalized; with "@context" when ld. */
void pf_avail_entity(struct pf_buf *out, const struct pf_avail_lot *l, bool key_values, bool ld);
/* {district, lots, lots_reporting, lots_online, lots_stale, lots_offline, free, total}; NULL
 * without memory. */
json_t *pf_avail_district_json(const struct pf_avail_district *d);
/* A GeoJSON Point, coordinates rounded to 1e-7 degrees (about 1 cm); NULL without memory. */
json_t *pf_avail_point(double lon, double lat);
/* Append j compactly, reals with ten significant digits, and drop it: the same value always
 * gives the same bytes. A NULL j (a failed allocation) sets out->oom. */
void pf_avail_emit(struct pf_buf *out, json_t *j);
/* RFC 3339 in UTC, "Z", with .mmm or .uuuuuu only when there is a fraction. */
void pf_avail_time(int64_t epoch_us, char buf[32]);

#endif

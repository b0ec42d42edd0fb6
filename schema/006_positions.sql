-- 006_positions: where each lot is, as numbers (WGS-84 decimal degrees), for maps and for the
-- nearest-lot questions of navigation apps.
--
-- Until now a position was free text in lots.location ("lon,lat"). It becomes two checked
-- columns; a location that parses as two numbers in range is carried over, anything else is
-- reported (NOTICE) and left behind with the dropped column.
--
-- Run by `parkfeedctl migrate` in one transaction under the migration advisory lock, once per
-- database (recorded in parking.schema_migrations by the caller).

SET LOCAL ROLE parkfeed_owner;

ALTER TABLE parking.lots
	ADD COLUMN lon double precision,
	ADD COLUMN lat double precision,
	ADD CONSTRAINT lots_position_ck CHECK (
		(lon IS NULL) = (lat IS NULL)
		AND (lon IS NULL OR (lon BETWEEN -180 AND 180 AND lat BETWEEN -90 AND 90)));
COMMENT ON COLUMN parking.lots.lon IS 'Longitude, WGS-84 decimal degrees (east positive); NULL = position unknown';
COMMENT ON COLUMN parking.lots.lat IS 'Latitude, WGS-84 decimal degrees (north positive); NULL = position unknown';

DO $$
DECLARE
	r record;
	m text[];
BEGIN
	FOR r IN SELECT lot_id, location FROM parking.lots
		 WHERE location IS NOT NULL AND btrim(location) <> '' ORDER BY lot_id LOOP
		m := regexp_match(r.location,
				  '^\s*(-?[0-9]+(?:\.[0-9]+)?)\s*,\s*(-?[0-9]+(?:\.[0-9]+)?)\s*$');
		IF m IS NOT NULL AND m[1]::double precision BETWEEN -180 AND 180
		   AND m[2]::double precision BETWEEN -90 AND 90 THEN
			UPDATE parking.lots SET lon = m[1]::double precision, lat = m[2]::double precision
			WHERE lot_id = r.lot_id;
		ELSE
			RAISE NOTICE 'lot %: location "%" is not "lon,lat" in decimal degrees; set it '
				     'again with parkfeedctl lots set % lon=... lat=...',
				r.lot_id, r.location, r.lot_id;
		END IF;
	END LOOP;
END
$$;

-- my_lots names the old column: recreate it around the new ones.
DROP VIEW parking.my_lots;
ALTER TABLE parking.lots DROP COLUMN location;

CREATE VIEW parking.my_lots WITH (security_invoker = true) AS
SELECT l.lot_id, l.name, l.district, l.address, l.spaces, l.lon, l.lat, l.deadline, l.stage,
       l.stage_at, l.upgraded_at, l.connected_at, l.accepted_at, l.system, l.version, l.protocol,
       l.online, l.status_at, l.registered, l.expected_interval_s
FROM parking.lots l;
COMMENT ON VIEW parking.my_lots IS
	'Which lots are mine (the districts granted to me), and where is each in its upgrade?';
GRANT SELECT ON parking.my_lots TO parkfeed_district;

REVOKE UPDATE ON parking.lots FROM parkfeed_operator;
GRANT UPDATE (name, district, address, spaces, lon, lat, deadline, expected_interval_s)
	ON parking.lots TO parkfeed_operator;

-- The availability views gain the position and address (appended: existing columns keep
-- their order for whoever selects by position).
CREATE OR REPLACE VIEW parking.lot_availability AS
SELECT l.lot_id, l.district, l.name, s.free, s.total, s.occupied,
       CASE WHEN s.total > 0
	    THEN round(100.0 * coalesce(s.occupied, s.total - s.free) / s.total, 2) END
	       AS occupancy_pct,
       s.status, s.observed_at, s.received_at,
       parking.freshness(s.received_at, l.expected_interval_s, l.online, l.status_at) AS freshness,
       l.lon, l.lat, l.address
FROM parking.lots l
JOIN parking.lot_state s ON s.lot_id = l.lot_id;
COMMENT ON COLUMN parking.lot_availability.lon IS 'Longitude, WGS-84 decimal degrees (NULL = unknown)';
COMMENT ON COLUMN parking.lot_availability.lat IS 'Latitude, WGS-84 decimal degrees (NULL = unknown)';
COMMENT ON COLUMN parking.lot_availability.address IS 'Street address';

CREATE OR REPLACE VIEW parking.my_lot_availability WITH (security_invoker = true) AS
SELECT l.lot_id, l.district, l.name, s.free, s.total, s.occupied,
       CASE WHEN s.total > 0
	    THEN round(100.0 * coalesce(s.occupied, s.total - s.free) / s.total, 2) END
	       AS occupancy_pct,
       s.status, s.observed_at, s.received_at,
       parking.freshness(s.received_at, l.expected_interval_s, l.online, l.status_at) AS freshness,
       l.lon, l.lat, l.address
FROM parking.lots l
JOIN parking.lot_state s ON s.lot_id = l.lot_id;
COMMENT ON COLUMN parking.my_lot_availability.lon IS 'Longitude, WGS-84 decimal degrees (NULL = unknown)';
COMMENT ON COLUMN parking.my_lot_availability.lat IS 'Latitude, WGS-84 decimal degrees (NULL = unknown)';

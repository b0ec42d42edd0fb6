-- 009_api: what parkfeed-api reads, as parkfeed_reader: every lot with its position and latest
-- state (lots without data included), per-district counts by freshness, the occupancy curve of
-- the last hours for one lot or one district, and the schema version it checks at connect.
--
-- Read-only throughout: views and STABLE functions. The views and SECURITY DEFINER functions
-- belong to parkfeed_owner, so (like the views of 001) they see every lot whatever the row-level
-- security of 002 says; a reader still reads no table but schema_migrations.
--
-- Run by `parkfeedctl migrate` in one transaction under the migration advisory lock, once per
-- database (recorded in parking.schema_migrations by the caller).

SET LOCAL ROLE parkfeed_owner;
SET LOCAL search_path = pg_catalog, parking;

-- parkfeed-api reads max(version) when it connects and refuses an older schema.
GRANT SELECT ON parking.schema_migrations TO parkfeed_reader;

CREATE VIEW parking.lot_map AS
SELECT l.lot_id, l.name, l.district, l.address, l.lon, l.lat,
       s.free, s.total, s.occupied, s.status, s.observed_at, s.received_at,
       parking.freshness(s.received_at, l.expected_interval_s, l.online, l.status_at) AS freshness
FROM parking.lots l
LEFT JOIN parking.lot_state s ON s.lot_id = l.lot_id;
COMMENT ON VIEW parking.lot_map IS
	'Where is each lot, and what did it last report (lots that never reported included)?';
COMMENT ON COLUMN parking.lot_map.lot_id IS 'Lot identifier';
COMMENT ON COLUMN parking.lot_map.name IS 'Lot name as the bureau knows it (NULL: not registered yet)';
COMMENT ON COLUMN parking.lot_map.district IS 'County, city or district (NULL = unknown)';
COMMENT ON COLUMN parking.lot_map.address IS 'Street address';
COMMENT ON COLUMN parking.lot_map.lon IS 'Longitude, WGS-84 decimal degrees (NULL = position unknown)';
COMMENT ON COLUMN parking.lot_map.lat IS 'Latitude, WGS-84 decimal degrees (NULL = position unknown)';
COMMENT ON COLUMN parking.lot_map.free IS 'Free spaces at the last observation (NULL: no data)';
COMMENT ON COLUMN parking.lot_map.total IS 'Spaces in service at the last observation (NULL: no data)';
COMMENT ON COLUMN parking.lot_map.occupied IS 'Occupied spaces at the last observation';
COMMENT ON COLUMN parking.lot_map.status IS 'open, closed, full, or NULL if not reported';
COMMENT ON COLUMN parking.lot_map.observed_at IS 'When the controller counted (NULL: no data)';
COMMENT ON COLUMN parking.lot_map.received_at IS 'When parkfeed received it';
COMMENT ON COLUMN parking.lot_map.freshness IS
	'online (heard within 3x expected_interval_s), stale (within 10x) or offline (longer, never, or said so)';

CREATE VIEW parking.district_overview AS
SELECT m.district,
       count(*) AS lots,
       count(*) FILTER (WHERE m.observed_at IS NOT NULL) AS lots_reporting,
       count(*) FILTER (WHERE m.freshness = 'online') AS lots_online,
       count(*) FILTER (WHERE m.freshness = 'stale') AS lots_stale,
       count(*) FILTER (WHERE m.freshness = 'offline') AS lots_offline,
       sum(m.free) FILTER (WHERE m.freshness = 'online') AS free,
       sum(m.total) FILTER (WHERE m.freshness = 'online') AS total
FROM parking.lot_map m
GROUP BY m.district;
COMMENT ON VIEW parking.district_overview IS
	'How many lots of each district are online, stale or offline, and how many spaces are free in the online ones?';
COMMENT ON COLUMN parking.district_overview.district IS 'District (NULL = lots of unknown district)';
COMMENT ON COLUMN parking.district_overview.lots IS 'Lots in the registry';
COMMENT ON COLUMN parking.district_overview.lots_reporting IS 'Lots that have ever reported';
COMMENT ON COLUMN parking.district_overview.lots_online IS 'Lots whose data is fresh';
COMMENT ON COLUMN parking.district_overview.lots_stale IS 'Lots heard from within 10x their interval, not 3x';
COMMENT ON COLUMN parking.district_overview.lots_offline IS 'Lots not heard from for longer, never, or offline by their own status';
COMMENT ON COLUMN parking.district_overview.free IS 'Free spaces in online lots (NULL: none online)';
COMMENT ON COLUMN parking.district_overview.total IS 'Spaces in service in online lots (NULL: none online)';

-- The buckets of a curve: p_hours back from now, p_bucket_minutes wide, aligned to whole
-- multiples of the width since midnight (Asia/Shanghai hours are whole UTC hours).
CREATE FUNCTION parking.curve_buckets(p_hours integer, p_bucket_minutes integer)
RETURNS TABLE (bucket_start timestamptz, bucket_end timestamptz)
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	width interval := p_bucket_minutes * interval '1 minute';
BEGIN
	IF p_hours IS NULL OR p_hours NOT BETWEEN 1 AND 48 THEN
		RAISE EXCEPTION 'hours must be 1..48, not %', p_hours
			USING ERRCODE = 'invalid_parameter_value';
	END IF;
	IF p_bucket_minutes IS NULL OR p_bucket_minutes NOT IN (5, 10, 15, 20, 30, 60) THEN
		RAISE EXCEPTION 'bucket minutes must be 5, 10, 15, 20, 30 or 60, not %', p_bucket_minutes
			USING ERRCODE = 'invalid_parameter_value';
	END IF;
	RETURN QUERY
	SELECT b, b + width
	FROM generate_series(date_bin(width, now() - p_hours * interval '1 hour',
				      timestamptz '2000-01-01 00:00:00+00'),
			     now(), width) AS b;
END
$$;
COMMENT ON FUNCTION parking.curve_buckets(integer, integer) IS
	'The time buckets of an occupancy curve: p_hours (1..48) back from now, p_bucket_minutes (5..60) wide';

-- Each observation falls into its bucket by date_bin, the same grid curve_buckets lays out; the
-- range is read once from the buckets, so one index range scan per lot does it.
CREATE FUNCTION parking.lot_occupancy_curve(p_lot_id text, p_hours integer DEFAULT 24,
					    p_bucket_minutes integer DEFAULT 15)
RETURNS TABLE (bucket_start timestamptz, samples integer, free_avg numeric, free_min integer,
	       free_max integer, total_avg numeric, occupancy_pct numeric)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, parking, pg_temp AS $$
	WITH b AS MATERIALIZED (
		SELECT * FROM parking.curve_buckets(p_hours, p_bucket_minutes)
	), o AS (
		SELECT date_bin(p_bucket_minutes * interval '1 minute', x.observed_at,
				timestamptz '2000-01-01 00:00:00+00') AS bucket_start,
		       x.free, x.total, coalesce(x.occupied, x.total - x.free) AS occ
		FROM parking.occupancy x
		WHERE x.lot_id = p_lot_id
		  AND x.observed_at >= (SELECT min(b.bucket_start) FROM b)
		  AND x.observed_at < (SELECT max(b.bucket_end) FROM b)
	)
	SELECT b.bucket_start, count(o.total)::integer,
	       round(avg(o.free), 1), min(o.free), max(o.free), round(avg(o.total), 1),
	       round(100.0 * sum(o.occ) / nullif(sum(o.total), 0), 2)
	FROM b LEFT JOIN o ON o.bucket_start = b.bucket_start
	GROUP BY b.bucket_start
	ORDER BY b.bucket_start
$$;
COMMENT ON FUNCTION parking.lot_occupancy_curve(text, integer, integer) IS
	'How full was one lot over the last hours? One row per bucket (empty buckets included): '
	'observations, free spaces (average, least, most), spaces in service, occupancy percent';

CREATE FUNCTION parking.district_occupancy_curve(p_district text, p_hours integer DEFAULT 24,
						 p_bucket_minutes integer DEFAULT 15)
RETURNS TABLE (bucket_start timestamptz, lots integer, samples integer, free numeric,
	       total numeric, occupancy_pct numeric)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, parking, pg_temp AS $$
	WITH b AS MATERIALIZED (
		SELECT * FROM parking.curve_buckets(p_hours, p_bucket_minutes)
	), per_lot AS (
		-- each lot's average over the bucket, so a lot reporting often weighs no more
		SELECT date_bin(p_bucket_minutes * interval '1 minute', x.observed_at,
				timestamptz '2000-01-01 00:00:00+00') AS bucket_start,
		       x.lot_id, count(*) AS n, avg(x.free) AS free, avg(x.total) AS total,
		       avg(coalesce(x.occupied, x.total - x.free)) AS occ
		FROM parking.lots l
		JOIN parking.occupancy x ON x.lot_id = l.lot_id
		WHERE l.district = p_district
		  AND x.observed_at >= (SELECT min(b.bucket_start) FROM b)
		  AND x.observed_at < (SELECT max(b.bucket_end) FROM b)
		GROUP BY 1, x.lot_id
	)
	SELECT b.bucket_start, count(p.lot_id)::integer, coalesce(sum(p.n), 0)::integer,
	       round(sum(p.free), 1), round(sum(p.total), 1),
	       round(100.0 * sum(p.occ) / nullif(sum(p.total), 0), 2)
	FROM b LEFT JOIN per_lot p ON p.bucket_start = b.bucket_start
	GROUP BY b.bucket_start
	ORDER BY b.bucket_start
$$;
COMMENT ON FUNCTION parking.district_occupancy_curve(text, integer, integer) IS
	'How full was one district over the last hours? One row per bucket (empty buckets included): '
	'lots that reported, observations, free spaces and spaces in service (sums of each lot''s '
	'average over the bucket), occupancy percent';

REVOKE ALL ON FUNCTION parking.curve_buckets(integer, integer),
	parking.lot_occupancy_curve(text, integer, integer),
	parking.district_occupancy_curve(text, integer, integer) FROM PUBLIC;
GRANT SELECT ON parking.lot_map, parking.district_overview TO parkfeed_reader;
GRANT EXECUTE ON FUNCTION parking.curve_buckets(integer, integer),
	parking.lot_occupancy_curve(text, integer, integer),
	parking.district_occupancy_curve(text, integer, integer) TO parkfeed_reader;

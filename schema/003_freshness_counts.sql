-- 003_freshness_counts: how many lots are online, stale or offline, for the daemon's metrics.
--
-- The daemon's role reads no table; this is one more function it may call, returning counts
-- only (no lot, no district). Freshness is the one lot_availability shows.
--
-- Run by `parkfeedctl migrate` in one transaction under the migration advisory lock, once per
-- database (recorded in parking.schema_migrations by the caller).

SET LOCAL ROLE parkfeed_owner;
SET LOCAL search_path = pg_catalog, parking;

CREATE FUNCTION parking.freshness_counts(OUT online bigint, OUT stale bigint, OUT offline bigint)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, parking, pg_temp AS $$
	SELECT count(*) FILTER (WHERE f = 'online'),
	       count(*) FILTER (WHERE f = 'stale'),
	       count(*) FILTER (WHERE f = 'offline')
	FROM (SELECT parking.freshness(s.received_at, l.expected_interval_s, l.online, l.status_at)
		     AS f
	      FROM parking.lots l
	      JOIN parking.lot_state s ON s.lot_id = l.lot_id) AS x
$$;
COMMENT ON FUNCTION parking.freshness_counts() IS
	'Daemon interface: lots with data by freshness (online, stale, offline), for its metrics';

REVOKE ALL ON FUNCTION parking.freshness_counts() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION parking.freshness_counts() TO parkfeed_ingest, parkfeed_operator;

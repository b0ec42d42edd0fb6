-- copy_staging: the COPY-into-a-staging-table path, for comparison with the array function.
--
--   SELECT parking.ingest_staging_open();            -- once per connection: creates
--                                                    -- pg_temp.occupancy_staging (owned by
--                                                    -- parkfeed_owner, INSERT granted to the
--                                                    -- session user, rows deleted at commit)
--   BEGIN;
--   COPY pg_temp.occupancy_staging FROM STDIN (FORMAT binary);  -- the batch
--   SELECT parking.ingest_staged();                  -- returns rows newly stored
--   COMMIT;
--
-- ingest_staged has the semantics of parking.ingest_occupancy (registers/connects lots, stores
-- each (lot_id, observed_at) once, moves lot_state only forward). Times arrive as timestamptz.
-- Measured (bench/ingest_bench.sh --copy, as pf_daemon, binary COPY): 33-42 ms per 5,000-row
-- batch, i.e. no better than the v2/v5 array functions.
SET search_path = pg_catalog, parking;
SET ROLE parkfeed_owner;

CREATE OR REPLACE FUNCTION parking.ingest_staging_open() RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, parking, pg_temp AS $$
BEGIN
	IF to_regclass('pg_temp.occupancy_staging') IS NULL THEN
		CREATE TEMP TABLE occupancy_staging (
			lot_id      text NOT NULL,
			observed_at timestamptz NOT NULL,
			received_at timestamptz NOT NULL,
			total       integer NOT NULL,
			free        integer,
			occupied    integer,
			status      text,
			seq         bigint,
			format      text
		) ON COMMIT DELETE ROWS;
		EXECUTE format('GRANT INSERT ON pg_temp.occupancy_staging TO %I', session_user);
	END IF;
END
$$;

CREATE OR REPLACE FUNCTION parking.ingest_staged() RETURNS integer
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, parking, pg_temp AS $$
DECLARE
	n     integer;
	lots  text[];
	recs  bigint[];
BEGIN
	IF EXISTS (SELECT 1 FROM (SELECT DISTINCT u.lot_id FROM pg_temp.occupancy_staging u) u
		   LEFT JOIN parking.lots l ON l.lot_id = u.lot_id
		   WHERE l.lot_id IS NULL OR l.stage < 'connected') THEN
		SELECT array_agg(u.lot_id),
		       array_agg((extract(epoch FROM u.received_at) * 1000000)::bigint)
		INTO lots, recs FROM pg_temp.occupancy_staging u;
		PERFORM parking.connect_lots(lots, recs);
	END IF;

	BEGIN
		INSERT INTO parking.occupancy (lot_id, observed_at, received_at, total, free,
					       occupied, status, seq, format)
		SELECT lot_id, observed_at, received_at, total, free, occupied, status, seq, format
		FROM pg_temp.occupancy_staging;
		GET DIAGNOSTICS n = ROW_COUNT;
	EXCEPTION WHEN unique_violation THEN
		INSERT INTO parking.occupancy (lot_id, observed_at, received_at, total, free,
					       occupied, status, seq, format)
		SELECT lot_id, observed_at, received_at, total, free, occupied, status, seq, format
		FROM pg_temp.occupancy_staging
		ON CONFLICT (lot_id, observed_at) DO NOTHING;
		GET DIAGNOSTICS n = ROW_COUNT;
	END;

	INSERT INTO parking.lot_state AS s (lot_id, observed_at, received_at, total, free, occupied,
					    status, seq, format)
	SELECT DISTINCT ON (u.lot_id COLLATE "C") u.lot_id, u.observed_at, u.received_at, u.total,
	       u.free, u.occupied, u.status, u.seq, u.format
	FROM pg_temp.occupancy_staging u
	ORDER BY u.lot_id COLLATE "C", u.observed_at DESC, u.received_at DESC
	ON CONFLICT (lot_id) DO UPDATE
	SET observed_at = EXCLUDED.observed_at, received_at = EXCLUDED.received_at,
	    total = EXCLUDED.total, free = EXCLUDED.free, occupied = EXCLUDED.occupied,
	    status = EXCLUDED.status, seq = EXCLUDED.seq, format = EXCLUDED.format
	WHERE s.observed_at < EXCLUDED.observed_at;

	RETURN n;
END
$$;

REVOKE ALL ON FUNCTION parking.ingest_staging_open(), parking.ingest_staged() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION parking.ingest_staging_open(), parking.ingest_staged()
	TO parkfeed_ingest;
RESET ROLE;

-- A candidate variant of parking.ingest_occupancy: same signature, same result, same effects.
-- MEASURED: NO GAIN. bench/proposals/ingest_bench.sh, 100k rows in 5000-row batches, 2 rounds:
-- schema version 104.8 ms per batch (round 2), this one 108.6 and 120.6 ms (noise on a shared 2-core
-- machine). The time is in the INSERT into parking.occupancy (about 70% of the function, see
-- docs/benchmarks.md), which this variant does not change. Kept as the baseline for the next try.
-- Differences from schema/001_base.sql:
--   1. the "any lot unknown or not yet connected?" test probes parking.lots once per distinct
--      lot of the batch (a hash aggregate first) instead of once per row;
--   2. lot_state takes the newest row per lot from the raw arrays, sorted on lot_id in the C
--      collation (lot ids are ASCII by the contract; equality is the same in every
--      deterministic collation), and converts times only for the one row per lot it keeps.
CREATE OR REPLACE FUNCTION parking.ingest_occupancy(p_lot_id text[], p_observed_us bigint[],
					 p_received_us bigint[], p_total integer[],
					 p_free integer[], p_occupied integer[], p_status text[],
					 p_seq bigint[], p_format text[])
RETURNS integer
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, parking, pg_temp AS $$
DECLARE
	n integer;
BEGIN
	IF EXISTS (SELECT 1
		   FROM (SELECT DISTINCT u.lot_id FROM unnest(p_lot_id) AS u(lot_id)) u
		   LEFT JOIN parking.lots l ON l.lot_id = u.lot_id
		   WHERE l.lot_id IS NULL OR l.stage < 'connected') THEN
		PERFORM parking.connect_lots(p_lot_id, p_received_us);
	END IF;

	-- Fast path: a batch without repeats is a plain insert (ON CONFLICT costs a second index
	-- probe per row); a repeat anywhere, in the batch or the table, takes the careful path.
	BEGIN
		INSERT INTO parking.occupancy (lot_id, observed_at, received_at, total, free,
					       occupied, status, seq, format)
		SELECT u.lot_id,
		       timestamptz 'epoch' + u.obs * interval '1 microsecond',
		       timestamptz 'epoch' + u.rec * interval '1 microsecond',
		       u.total, u.free, u.occupied, u.status, u.seq, u.format
		FROM unnest(p_lot_id, p_observed_us, p_received_us, p_total, p_free, p_occupied,
			    p_status, p_seq, p_format)
		     AS u(lot_id, obs, rec, total, free, occupied, status, seq, format);
		GET DIAGNOSTICS n = ROW_COUNT;
	EXCEPTION WHEN unique_violation THEN
		INSERT INTO parking.occupancy (lot_id, observed_at, received_at, total, free,
					       occupied, status, seq, format)
		SELECT u.lot_id,
		       timestamptz 'epoch' + u.obs * interval '1 microsecond',
		       timestamptz 'epoch' + u.rec * interval '1 microsecond',
		       u.total, u.free, u.occupied, u.status, u.seq, u.format
		FROM unnest(p_lot_id, p_observed_us, p_received_us, p_total, p_free, p_occupied,
			    p_status, p_seq, p_format)
		     AS u(lot_id, obs, rec, total, free, occupied, status, seq, format)
		ON CONFLICT (lot_id, observed_at) DO NOTHING;
		GET DIAGNOSTICS n = ROW_COUNT;
	END;

	-- One row per lot (the newest of the batch), and only ever forward.
	INSERT INTO parking.lot_state AS s (lot_id, observed_at, received_at, total, free, occupied,
					    status, seq, format)
	SELECT v.lot_id,
	       timestamptz 'epoch' + v.obs * interval '1 microsecond',
	       timestamptz 'epoch' + v.rec * interval '1 microsecond',
	       v.total, v.free, v.occupied, v.status, v.seq, v.format
	FROM (SELECT DISTINCT ON (u.lot_id COLLATE "C") u.*
	      FROM unnest(p_lot_id, p_observed_us, p_received_us, p_total, p_free, p_occupied,
			  p_status, p_seq, p_format)
		   AS u(lot_id, obs, rec, total, free, occupied, status, seq, format)
	      ORDER BY u.lot_id COLLATE "C", u.obs DESC, u.rec DESC) v
	ON CONFLICT (lot_id) DO UPDATE
	SET observed_at = EXCLUDED.observed_at, received_at = EXCLUDED.received_at,
	    total = EXCLUDED.total, free = EXCLUDED.free, occupied = EXCLUDED.occupied,
	    status = EXCLUDED.status, seq = EXCLUDED.seq, format = EXCLUDED.format
	WHERE s.observed_at < EXCLUDED.observed_at;

	RETURN n;
END
$$;

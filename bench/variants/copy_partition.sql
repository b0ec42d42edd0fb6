-- copy_partition: what the daemon would call after `COPY parking.occupancy_pYYYYMM FROM STDIN`
-- (straight into the month's partition, which has no row-level security of its own; needs
-- GRANT INSERT ON the partition TO parkfeed_ingest) in the same transaction: register/connect
-- lots and move lot_state, from the newest row of each lot in the batch (computed by the
-- daemon: ~500 rows instead of 5,000) plus each lot's earliest receive time in the batch (what
-- connect_lots uses for connected_at).
--
--   BEGIN;
--   COPY parking.occupancy_p202611 FROM STDIN (FORMAT binary);   -- the batch
--   SELECT parking.ingest_latest(...newest row per lot..., first_received_us);
--   COMMIT;
-- On unique_violation (a replayed row) or a row outside the partition: ROLLBACK and send the
-- batch through parking.ingest_occupancy instead.
-- Measured (bench/ingest_bench.sh --copy, as pf_daemon, binary COPY): 26-31 ms per 5,000-row
-- batch (COPY + this call) against 50-59 ms for the schema's function: about 2x.
SET search_path = pg_catalog, parking;
SET ROLE parkfeed_owner;

CREATE OR REPLACE FUNCTION parking.ingest_latest(p_lot_id text[], p_observed_us bigint[],
					 p_received_us bigint[], p_total integer[],
					 p_free integer[], p_occupied integer[], p_status text[],
					 p_seq bigint[], p_format text[], p_first_received_us bigint[])
RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, parking, pg_temp AS $$
BEGIN
	IF EXISTS (SELECT 1 FROM unnest(p_lot_id) AS u(lot_id)
		   LEFT JOIN parking.lots l ON l.lot_id = u.lot_id
		   WHERE l.lot_id IS NULL OR l.stage < 'connected') THEN
		PERFORM parking.connect_lots(p_lot_id, p_first_received_us);
	END IF;

	INSERT INTO parking.lot_state AS s (lot_id, observed_at, received_at, total, free, occupied,
					    status, seq, format)
	SELECT DISTINCT ON (u.lot_id COLLATE "C") u.lot_id,
	       timestamptz 'epoch' + u.obs * interval '1 microsecond',
	       timestamptz 'epoch' + u.rec * interval '1 microsecond',
	       u.total, u.free, u.occupied, u.status, u.seq, u.format
	FROM unnest(p_lot_id, p_observed_us, p_received_us, p_total, p_free, p_occupied, p_status,
		    p_seq, p_format) AS u(lot_id, obs, rec, total, free, occupied, status, seq, format)
	ORDER BY u.lot_id COLLATE "C", u.obs DESC, u.rec DESC
	ON CONFLICT (lot_id) DO UPDATE
	SET observed_at = EXCLUDED.observed_at, received_at = EXCLUDED.received_at,
	    total = EXCLUDED.total, free = EXCLUDED.free, occupied = EXCLUDED.occupied,
	    status = EXCLUDED.status, seq = EXCLUDED.seq, format = EXCLUDED.format
	WHERE s.observed_at < EXCLUDED.observed_at;
END
$$;
REVOKE ALL ON FUNCTION parking.ingest_latest(text[], bigint[], bigint[], integer[], integer[],
	integer[], text[], bigint[], text[], bigint[]) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION parking.ingest_latest(text[], bigint[], bigint[], integer[], integer[],
	integer[], text[], bigint[], text[], bigint[]) TO parkfeed_ingest;
RESET ROLE;

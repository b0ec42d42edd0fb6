-- unchecked: ingest_occupancy without 008's checks of its caller (store_occupancy called
-- directly), to measure what the checks cost:
--   bench/ingest_bench.sh --rounds 7 --variant bench/variants/unchecked.sql
-- With the opt-in per-lot cap on for the schema's function (nothing refused at 1000 a minute):
--   bench/ingest_bench.sh --rounds 7 --variant bench/variants/unchecked.sql \
--       --variant bench/variants/capped.sql
CREATE FUNCTION parking.ingest_occupancy(p_lot_id text[], p_observed_us bigint[],
					 p_received_us bigint[], p_total integer[],
					 p_free integer[], p_occupied integer[], p_status text[],
					 p_seq bigint[], p_format text[])
RETURNS integer
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, parking, pg_temp AS $$
BEGIN
	RETURN parking.store_occupancy(p_lot_id, p_observed_us, p_received_us, p_total, p_free,
				       p_occupied, p_status, p_seq, p_format);
END
$$;

-- 007_lifecycle: years of data without growing without bound: hourly and daily rollups kept
-- for good, a retention policy for raw occupancy and rejected messages, and the role that runs
-- both (parkfeed_maintainer, used by `parkfeedctl maintain`).
--
-- Rollups. parking.occupancy_hourly (one row per lot and hour with observations: samples,
-- free_min, free_avg, free_max) is a view over parking.occupancy_hourly_sums, which keeps
-- exact sums so that free_avg is exactly avg(free) of the raw rows and the daily tables are
-- exact too. Which lot-hours need recomputing is recorded at insert time by a statement-level
-- AFTER INSERT trigger with a transition table on parking.occupancy and on each of its
-- partitions (a statement fires the trigger of the table it names: the ingest functions insert
-- into the parent or straight into a month's partition). It adds (lot, hour, backend pid) to
-- parking.rollup_pending, so concurrent writers never wait on each other's markers, and a
-- marker that exists already costs one index probe. maintain claims the markers under a short
-- table lock that waits for every writer holding one to commit (rollup_claim), then recomputes
-- those lot-hours from the raw rows in a later transaction (rollup_refresh): a row committed
-- after the claim has a marker of its own, one committed before it is visible to the refresh.
-- Late data, a replayed spool backlog or a row moved out of the default partition all end in a
-- recomputation from the raw rows, so the rollups equal the raw aggregates.
--
-- Retention. parking.retention holds the policy: raw occupancy months (13 on a fresh install),
-- rejected messages days (31); audit tables are kept. A database that held data before this
-- migration gets no policy: maintain then deletes nothing and says what the defaults would
-- delete, until an operator sets one (parkfeedctl retention set). Before maintain drops a
-- month it brings that month's rollups up to date under a lock that keeps writers out; an
-- hour older than the oldest raw month kept (rollup_state.raw_kept_from) is final, and rows
-- arriving later for it are deleted with the rest of that month.
--
-- Upgrades. Data stored before this migration has no markers: each partition holding rows is
-- queued in parking.rollup_backfill, and maintain rolls it up a hundred lots at a time before it
-- will drop anything.
--
-- Run by `parkfeedctl migrate` in one transaction under the migration advisory lock, once per
-- database (recorded in parking.schema_migrations by the caller).

-- Cluster-wide, like 001's roles: another database may have created it already.
DO $roles$
BEGIN
	IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = 'parkfeed_maintainer') THEN
		BEGIN
			CREATE ROLE parkfeed_maintainer NOLOGIN;
		EXCEPTION WHEN duplicate_object OR unique_violation THEN
			NULL;
		END;
	END IF;
END
$roles$;

COMMENT ON ROLE parkfeed_maintainer IS
	'parkfeed: parkfeedctl maintain: occupancy partitions, rollups and retention through the '
	'maintenance functions, nothing else';

SET LOCAL ROLE parkfeed_owner;
SET LOCAL search_path = pg_catalog, parking;

GRANT USAGE ON SCHEMA parking TO parkfeed_maintainer;

-- ---------------------------------------------------------------------------------------------
-- Schema version, for programs that must know what they talk to
-- ---------------------------------------------------------------------------------------------

CREATE FUNCTION parking.schema_version() RETURNS integer
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, parking, pg_temp AS $$
	SELECT coalesce(max(version), 0) FROM parking.schema_migrations
$$;
COMMENT ON FUNCTION parking.schema_version() IS
	'The newest migration applied (parking.schema_migrations), for every parkfeed role: '
	'programs check it when they connect';

-- ---------------------------------------------------------------------------------------------
-- The retention policy
-- ---------------------------------------------------------------------------------------------

CREATE TABLE parking.retention (
	only_row      boolean PRIMARY KEY DEFAULT true CHECK (only_row),
	policy_set    boolean NOT NULL,
	raw_months    integer CHECK (raw_months BETWEEN 1 AND 1200),
	rejected_days integer CHECK (rejected_days BETWEEN 1 AND 36500),
	changed_at    timestamptz NOT NULL DEFAULT now(),
	changed_by    text NOT NULL,
	CHECK (policy_set OR (raw_months IS NULL AND rejected_days IS NULL))
);
COMMENT ON TABLE parking.retention IS
	'How long raw data is kept (one row; parkfeedctl retention set); applied by parkfeedctl '
	'maintain. Rollups and audit tables are kept for good';
COMMENT ON COLUMN parking.retention.only_row IS 'Always true: the table has one row';
COMMENT ON COLUMN parking.retention.policy_set IS
	'false: never set (the database held data before retention existed): nothing is deleted';
COMMENT ON COLUMN parking.retention.raw_months IS
	'Raw occupancy is kept at least this many months (whole Asia/Shanghai months are dropped); '
	'NULL = for good';
COMMENT ON COLUMN parking.retention.rejected_days IS
	'Rejected messages are kept this many days (by received_at); NULL = for good';
COMMENT ON COLUMN parking.retention.changed_at IS 'When the policy was last changed';
COMMENT ON COLUMN parking.retention.changed_by IS 'Who changed it (operator, database login)';

CREATE TABLE parking.retention_history (
	id            bigserial PRIMARY KEY,
	policy_set    boolean NOT NULL,
	raw_months    integer,
	rejected_days integer,
	actor         text NOT NULL,
	db_user       text NOT NULL DEFAULT session_user,
	recorded_at   timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE parking.retention_history IS 'Audit trail: every retention policy, who set it and when';
COMMENT ON COLUMN parking.retention_history.policy_set IS 'false: the policy was left unset (upgrade)';
COMMENT ON COLUMN parking.retention_history.raw_months IS 'Raw occupancy months from then on (NULL = for good)';
COMMENT ON COLUMN parking.retention_history.rejected_days IS 'Rejected message days from then on (NULL = for good)';
COMMENT ON COLUMN parking.retention_history.actor IS 'Operator who set it (migrate: the initial policy)';
COMMENT ON COLUMN parking.retention_history.db_user IS 'Database login that set it';
COMMENT ON COLUMN parking.retention_history.recorded_at IS 'When it was set';

-- A fresh database gets the defaults; one that already holds data keeps everything until an
-- operator decides.
DO $$
DECLARE
	upgraded boolean := EXISTS (SELECT 1 FROM parking.occupancy)
			    OR EXISTS (SELECT 1 FROM parking.rejected)
			    OR EXISTS (SELECT 1 FROM parking.lots);
BEGIN
	INSERT INTO parking.retention (policy_set, raw_months, rejected_days, changed_by)
	VALUES (NOT upgraded, CASE WHEN NOT upgraded THEN 13 END, CASE WHEN NOT upgraded THEN 31 END,
		'migrate (' || session_user || ')');
	INSERT INTO parking.retention_history (policy_set, raw_months, rejected_days, actor)
	SELECT policy_set, raw_months, rejected_days, 'migrate' FROM parking.retention;
END
$$;

-- NULL leaves a value as it is, 0 keeps that data for good. A policy never set takes both.
CREATE FUNCTION parking.set_retention(p_raw_months integer, p_rejected_days integer,
				      p_actor text)
RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, parking, pg_temp AS $$
DECLARE
	pol parking.retention;
BEGIN
	IF coalesce(p_actor, '') = '' THEN
		RAISE EXCEPTION 'set_retention: an actor is required';
	END IF;
	IF p_raw_months NOT BETWEEN 0 AND 1200 OR p_rejected_days NOT BETWEEN 0 AND 36500 THEN
		RAISE EXCEPTION 'raw months must be 1..1200 and rejected days 1..36500 (0: for good)'
			USING ERRCODE = 'invalid_parameter_value';
	END IF;
	IF p_raw_months IS NULL AND p_rejected_days IS NULL THEN
		RAISE EXCEPTION 'set_retention: nothing to change';
	END IF;
	SELECT * INTO pol FROM parking.retention FOR UPDATE;
	IF NOT pol.policy_set AND (p_raw_months IS NULL OR p_rejected_days IS NULL) THEN
		RAISE EXCEPTION 'the retention policy of this database was never set: give both the raw '
				'occupancy months and the rejected message days'
			USING ERRCODE = 'invalid_parameter_value',
			      HINT = 'parkfeedctl retention set --raw-months 13 --rejected-days 31 '
				     '(or forever, to keep that data for good)';
	END IF;
	UPDATE parking.retention
	SET policy_set = true,
	    raw_months = CASE WHEN p_raw_months IS NULL THEN raw_months
			      ELSE nullif(p_raw_months, 0) END,
	    rejected_days = CASE WHEN p_rejected_days IS NULL THEN rejected_days
				 ELSE nullif(p_rejected_days, 0) END,
	    changed_at = now(),
	    changed_by = p_actor || ' (' || session_user || ')'
	RETURNING * INTO pol;
	INSERT INTO parking.retention_history (policy_set, raw_months, rejected_days, actor)
	VALUES (true, pol.raw_months, pol.rejected_days, p_actor);
END
$$;
COMMENT ON FUNCTION parking.set_retention(integer, integer, text) IS
	'Operator interface: set the retention policy (NULL = unchanged, 0 = for good); audited in '
	'retention_history';

-- ---------------------------------------------------------------------------------------------
-- Rollups
-- ---------------------------------------------------------------------------------------------

CREATE TABLE parking.occupancy_hourly_sums (
	lot_id       text NOT NULL,
	hour         timestamptz NOT NULL,
	free_sum     bigint,
	total_sum    bigint NOT NULL,
	samples      integer NOT NULL CHECK (samples > 0),
	free_samples integer NOT NULL CHECK (free_samples BETWEEN 0 AND samples),
	free_min     integer,
	free_max     integer,
	PRIMARY KEY (lot_id, hour)
);
-- Rows arrive roughly in hour order: a block range index answers "all lots, these hours".
CREATE INDEX occupancy_hourly_sums_hour_idx ON parking.occupancy_hourly_sums USING brin (hour);
COMMENT ON TABLE parking.occupancy_hourly_sums IS
	'Per lot and hour with observations: exact aggregates of parking.occupancy, kept when the '
	'raw rows are dropped (kept up to date by parkfeedctl maintain); read it as '
	'parking.occupancy_hourly';
COMMENT ON COLUMN parking.occupancy_hourly_sums.lot_id IS 'The lot';
COMMENT ON COLUMN parking.occupancy_hourly_sums.hour IS
	'Start of the hour: date_trunc(''hour'', observed_at) in UTC (the same hours as Asia/Shanghai)';
COMMENT ON COLUMN parking.occupancy_hourly_sums.free_sum IS 'Sum of free over the hour''s observations';
COMMENT ON COLUMN parking.occupancy_hourly_sums.total_sum IS 'Sum of total (spaces in service)';
COMMENT ON COLUMN parking.occupancy_hourly_sums.samples IS 'Observations in the hour';
COMMENT ON COLUMN parking.occupancy_hourly_sums.free_samples IS 'Of those, observations with free reported';
COMMENT ON COLUMN parking.occupancy_hourly_sums.free_min IS 'Fewest free spaces observed';
COMMENT ON COLUMN parking.occupancy_hourly_sums.free_max IS 'Most free spaces observed';

CREATE VIEW parking.occupancy_hourly WITH (security_invoker = true) AS
SELECT s.lot_id, s.hour, s.samples, s.free_min,
       s.free_sum::numeric / nullif(s.free_samples, 0) AS free_avg, s.free_max
FROM parking.occupancy_hourly_sums s;
COMMENT ON VIEW parking.occupancy_hourly IS
	'How many spaces did each lot have free, hour by hour? One row per lot and hour that had '
	'observations, equal to the aggregate of the raw rows, kept when they are dropped';
COMMENT ON COLUMN parking.occupancy_hourly.lot_id IS 'The lot';
COMMENT ON COLUMN parking.occupancy_hourly.hour IS 'Start of the hour (date_trunc(''hour'', observed_at))';
COMMENT ON COLUMN parking.occupancy_hourly.samples IS 'Observations in the hour (count(*))';
COMMENT ON COLUMN parking.occupancy_hourly.free_min IS 'min(free)';
COMMENT ON COLUMN parking.occupancy_hourly.free_avg IS 'avg(free), numeric, exactly as avg() computes it';
COMMENT ON COLUMN parking.occupancy_hourly.free_max IS 'max(free)';

CREATE TABLE parking.occupancy_daily (
	lot_id       text NOT NULL,
	day          date NOT NULL,
	district     text,
	free_sum     bigint,
	total_sum    bigint,
	samples      integer NOT NULL,
	free_samples integer NOT NULL,
	free_min     integer,
	free_max     integer,
	hours        smallint NOT NULL,
	PRIMARY KEY (lot_id, day)
);
CREATE INDEX occupancy_daily_day_idx ON parking.occupancy_daily (day, district);
COMMENT ON TABLE parking.occupancy_daily IS
	'Per lot and Asia/Shanghai day: the day''s hourly rollups summed; also a row with no '
	'samples for each day a connected lot sent nothing (the basis of lot_data_completeness)';
COMMENT ON COLUMN parking.occupancy_daily.lot_id IS 'The lot';
COMMENT ON COLUMN parking.occupancy_daily.day IS 'Calendar day in Asia/Shanghai';
COMMENT ON COLUMN parking.occupancy_daily.district IS 'The lot''s district when the day was last rolled up';
COMMENT ON COLUMN parking.occupancy_daily.free_sum IS 'Sum of free over the day''s observations';
COMMENT ON COLUMN parking.occupancy_daily.total_sum IS 'Sum of total over the day''s observations';
COMMENT ON COLUMN parking.occupancy_daily.samples IS 'Observations that day (0: none arrived)';
COMMENT ON COLUMN parking.occupancy_daily.free_samples IS 'Of those, observations with free reported';
COMMENT ON COLUMN parking.occupancy_daily.free_min IS 'Fewest free spaces observed';
COMMENT ON COLUMN parking.occupancy_daily.free_max IS 'Most free spaces observed';
COMMENT ON COLUMN parking.occupancy_daily.hours IS 'Hours of the day with at least one observation';

CREATE TABLE parking.district_daily (
	day            date NOT NULL,
	district       text,
	lots           integer NOT NULL,
	lots_reporting integer NOT NULL,
	samples        bigint NOT NULL,
	free_avg       numeric,
	total_avg      numeric,
	occupancy_pct  numeric,
	UNIQUE NULLS NOT DISTINCT (day, district)
);
COMMENT ON TABLE parking.district_daily IS
	'How full was each district, day by day (Asia/Shanghai days)? From occupancy_daily, kept for good';
COMMENT ON COLUMN parking.district_daily.day IS 'Calendar day in Asia/Shanghai';
COMMENT ON COLUMN parking.district_daily.district IS 'District (NULL = lots of unknown district)';
COMMENT ON COLUMN parking.district_daily.lots IS 'Lots connected or reporting that day';
COMMENT ON COLUMN parking.district_daily.lots_reporting IS 'Of those, lots that sent at least one observation';
COMMENT ON COLUMN parking.district_daily.samples IS 'Observations that day';
COMMENT ON COLUMN parking.district_daily.free_avg IS
	'Free spaces on average over the day: the sum of each reporting lot''s daily mean (2 decimals)';
COMMENT ON COLUMN parking.district_daily.total_avg IS
	'Spaces in service on average over the day, summed the same way (2 decimals)';
COMMENT ON COLUMN parking.district_daily.occupancy_pct IS
	'Share of the spaces in service that were not free: 100 * (1 - free_avg / total_avg)';

-- What maintain still has to roll up.
CREATE TABLE parking.rollup_pending (
	lot_id text NOT NULL,
	hour   timestamptz NOT NULL,
	writer integer NOT NULL,
	PRIMARY KEY (lot_id, hour, writer)
);
COMMENT ON TABLE parking.rollup_pending IS
	'Lot-hours with rows inserted since maintain last claimed them (by the trigger '
	'occupancy_rollup_mark); writer = backend pid, so that writers never wait on each other';
COMMENT ON COLUMN parking.rollup_pending.hour IS 'Start of the hour (UTC terms)';
COMMENT ON COLUMN parking.rollup_pending.writer IS 'pg_backend_pid() of the inserting session';

CREATE TABLE parking.rollup_work (
	lot_id text NOT NULL,
	hour   timestamptz NOT NULL,
	PRIMARY KEY (lot_id, hour)
);
COMMENT ON TABLE parking.rollup_work IS
	'Lot-hours claimed by maintain and not yet recomputed (they survive a failed run)';
COMMENT ON COLUMN parking.rollup_work.hour IS 'Start of the hour (UTC terms)';

CREATE TABLE parking.rollup_backfill (
	lo        timestamptz NOT NULL,
	hi        timestamptz NOT NULL CHECK (lo < hi),
	after_lot text,
	PRIMARY KEY (lo, hi)
);
COMMENT ON TABLE parking.rollup_backfill IS
	'Ranges of observed_at stored before rollups existed, still to be rolled up by maintain';
COMMENT ON COLUMN parking.rollup_backfill.lo IS 'Start of the range (inclusive)';
COMMENT ON COLUMN parking.rollup_backfill.hi IS 'End of the range (exclusive)';
COMMENT ON COLUMN parking.rollup_backfill.after_lot IS 'Lots up to this one are done (NULL: none yet)';

CREATE TABLE parking.rollup_state (
	only_row            boolean PRIMARY KEY DEFAULT true CHECK (only_row),
	raw_kept_from       date,
	days_from           date,
	days_filled_through date,
	refreshed_at        timestamptz
);
INSERT INTO parking.rollup_state DEFAULT VALUES;
COMMENT ON TABLE parking.rollup_state IS 'Where maintain stands (one row)';
COMMENT ON COLUMN parking.rollup_state.only_row IS 'Always true: the table has one row';
COMMENT ON COLUMN parking.rollup_state.raw_kept_from IS
	'First Asia/Shanghai month of raw occupancy kept: older months were dropped and their '
	'rollups are final (NULL: nothing dropped yet)';
COMMENT ON COLUMN parking.rollup_state.days_from IS
	'First day of occupancy_daily rows for connected lots that sent nothing';
COMMENT ON COLUMN parking.rollup_state.days_filled_through IS 'Last day those rows were added for';
COMMENT ON COLUMN parking.rollup_state.refreshed_at IS 'When maintain last recomputed rollups';

-- Data stored before now has no markers: queue each partition that holds rows.
DO $$
DECLARE
	r   record;
	lo  timestamptz;
	hi  timestamptz;
	has boolean;
BEGIN
	FOR r IN SELECT c.relname FROM pg_catalog.pg_inherits i
		 JOIN pg_catalog.pg_class c ON c.oid = i.inhrelid
		 WHERE i.inhparent = 'parking.occupancy'::regclass
		   AND c.relname ~ '^occupancy_p[0-9]{6}$' LOOP
		EXECUTE format('SELECT EXISTS (SELECT 1 FROM parking.%I)', r.relname) INTO has;
		IF has THEN
			lo := to_date(substr(r.relname, 12), 'YYYYMM')::timestamp AT TIME ZONE 'Asia/Shanghai';
			hi := (to_date(substr(r.relname, 12), 'YYYYMM') + interval '1 month')::timestamp
			      AT TIME ZONE 'Asia/Shanghai';
			INSERT INTO parking.rollup_backfill (lo, hi) VALUES (lo, hi);
		END IF;
	END LOOP;
	SELECT min(observed_at), max(observed_at) + interval '1 microsecond' INTO lo, hi
	FROM ONLY parking.occupancy_default;
	IF lo IS NOT NULL THEN
		INSERT INTO parking.rollup_backfill (lo, hi) VALUES (lo, hi) ON CONFLICT DO NOTHING;
	END IF;
END
$$;

-- Trigger: the lot-hours a statement inserted, one marker per writer. date_bin from the epoch is
-- date_trunc('hour') in UTC terms, in integer arithmetic (no zone lookup per row). Markers
-- this writer has already are skipped by the NOT EXISTS (a third of the cost of letting ON
-- CONFLICT find them). That read is safe against a concurrent claim: a statement takes its
-- locks before its snapshot, so one that waited for rollup_claim sees the markers it deleted
-- as gone (lifecycle_roles.sh forces this case).
CREATE FUNCTION parking.mark_rollup_hours() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, parking, pg_temp AS $$
BEGIN
	INSERT INTO parking.rollup_pending (lot_id, hour, writer)
	SELECT k.lot_id, k.hour, pg_backend_pid()
	FROM (SELECT DISTINCT n.lot_id, date_bin('1 hour', n.observed_at, timestamptz 'epoch') AS hour
	      FROM new_rows n) AS k
	WHERE NOT EXISTS (SELECT 1 FROM parking.rollup_pending p
			  WHERE p.lot_id = k.lot_id AND p.hour = k.hour
			    AND p.writer = pg_backend_pid())
	ON CONFLICT DO NOTHING;
	RETURN NULL;
END
$$;
COMMENT ON FUNCTION parking.mark_rollup_hours() IS
	'Trigger of parking.occupancy and its partitions: record the lot-hours a statement inserted '
	'in rollup_pending';

CREATE FUNCTION parking.ensure_rollup_triggers() RETURNS integer
LANGUAGE plpgsql SET search_path = pg_catalog, parking, pg_temp AS $$
DECLARE
	rel regclass;
	n   integer := 0;
BEGIN
	FOR rel IN SELECT 'parking.occupancy'::regclass
		   UNION ALL
		   SELECT i.inhrelid::regclass FROM pg_catalog.pg_inherits i
		   WHERE i.inhparent = 'parking.occupancy'::regclass LOOP
		CONTINUE WHEN EXISTS (SELECT 1 FROM pg_catalog.pg_trigger t
				      WHERE t.tgrelid = rel AND t.tgname = 'occupancy_rollup_mark');
		EXECUTE format('CREATE TRIGGER occupancy_rollup_mark AFTER INSERT ON %s '
			       'REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT '
			       'EXECUTE FUNCTION parking.mark_rollup_hours()', rel);
		EXECUTE format('COMMENT ON TRIGGER occupancy_rollup_mark ON %s IS %L', rel,
			       'Records the lot-hours each insert touches (parking.rollup_pending)');
		n := n + 1;
	END LOOP;
	RETURN n;
END
$$;
COMMENT ON FUNCTION parking.ensure_rollup_triggers() IS
	'Give parking.occupancy and every partition the occupancy_rollup_mark trigger (a statement '
	'fires only the trigger of the table it names)';
SELECT parking.ensure_rollup_triggers();

-- Recompute lot-days from the hourly rollups (and the districts' days they belong to, before
-- and after: a lot may have changed district). Returns how many of each.
CREATE FUNCTION parking.rollup_days(p_lot text[], p_day date[], OUT lot_days integer,
				    OUT district_days integer)
LANGUAGE plpgsql SET search_path = pg_catalog, parking, pg_temp AS $$
DECLARE
	d_district text[];
	d_day      date[];
BEGIN
	WITH k AS (
		SELECT DISTINCT u.lot_id, u.day FROM unnest(p_lot, p_day) AS u(lot_id, day)
	), agg AS (
		SELECT k.lot_id, k.day, l.district, a.*
		FROM k
		LEFT JOIN parking.lots l ON l.lot_id = k.lot_id
		CROSS JOIN LATERAL (
			SELECT sum(h.free_sum)::bigint AS free_sum, sum(h.total_sum)::bigint AS total_sum,
			       coalesce(sum(h.samples), 0)::integer AS samples,
			       coalesce(sum(h.free_samples), 0)::integer AS free_samples,
			       min(h.free_min) AS free_min, max(h.free_max) AS free_max,
			       count(*)::smallint AS hours
			FROM parking.occupancy_hourly_sums h
			WHERE h.lot_id = k.lot_id
			  AND h.hour >= k.day::timestamp AT TIME ZONE 'Asia/Shanghai'
			  AND h.hour < (k.day + 1)::timestamp AT TIME ZONE 'Asia/Shanghai') AS a
	), old AS (
		SELECT d.district, d.day FROM parking.occupancy_daily d
		JOIN k ON k.lot_id = d.lot_id AND k.day = d.day
	), up AS (
		INSERT INTO parking.occupancy_daily AS d (lot_id, day, district, free_sum, total_sum,
							  samples, free_samples, free_min,
							  free_max, hours)
		SELECT lot_id, day, district, free_sum, total_sum, samples, free_samples, free_min,
		       free_max, hours
		FROM agg
		ON CONFLICT (lot_id, day) DO UPDATE
		SET district = EXCLUDED.district, free_sum = EXCLUDED.free_sum,
		    total_sum = EXCLUDED.total_sum, samples = EXCLUDED.samples,
		    free_samples = EXCLUDED.free_samples, free_min = EXCLUDED.free_min,
		    free_max = EXCLUDED.free_max, hours = EXCLUDED.hours
	)
	SELECT array_agg(x.district), array_agg(x.day) INTO d_district, d_day
	FROM (SELECT district, day FROM old UNION SELECT district, day FROM agg) AS x;
	lot_days := (SELECT count(DISTINCT (u.lot_id, u.day)) FROM unnest(p_lot, p_day) AS u(lot_id, day));
	district_days := coalesce(parking.rollup_districts(d_district, d_day), 0);
END
$$;
COMMENT ON FUNCTION parking.rollup_days(text[], date[]) IS
	'Part of maintain: recompute occupancy_daily for these lot-days from the hourly rollups, '
	'then the district days they touch';

CREATE FUNCTION parking.rollup_districts(p_district text[], p_day date[]) RETURNS integer
LANGUAGE plpgsql SET search_path = pg_catalog, parking, pg_temp AS $$
DECLARE
	n integer;
BEGIN
	WITH k AS (
		SELECT DISTINCT u.district, u.day FROM unnest(p_district, p_day) AS u(district, day)
	), agg AS (
		SELECT k.day, k.district, count(d.lot_id)::integer AS lots,
		       (count(*) FILTER (WHERE d.samples > 0))::integer AS lots_reporting,
		       coalesce(sum(d.samples), 0)::bigint AS samples,
		       round(sum(d.free_sum::numeric / nullif(d.free_samples, 0)), 2) AS free_avg,
		       round(sum(d.total_sum::numeric / nullif(d.samples, 0)), 2) AS total_avg
		FROM k
		LEFT JOIN parking.occupancy_daily d
		       ON d.day = k.day AND d.district IS NOT DISTINCT FROM k.district
		GROUP BY k.day, k.district
	), gone AS (
		DELETE FROM parking.district_daily x USING agg
		WHERE agg.lots = 0 AND x.day = agg.day AND x.district IS NOT DISTINCT FROM agg.district
	), up AS (
		INSERT INTO parking.district_daily AS x (day, district, lots, lots_reporting, samples,
							 free_avg, total_avg, occupancy_pct)
		SELECT day, district, lots, lots_reporting, samples, free_avg, total_avg,
		       CASE WHEN total_avg > 0 THEN round(100 * (1 - free_avg / total_avg), 2) END
		FROM agg WHERE lots > 0
		ON CONFLICT (day, district) DO UPDATE
		SET lots = EXCLUDED.lots, lots_reporting = EXCLUDED.lots_reporting,
		    samples = EXCLUDED.samples, free_avg = EXCLUDED.free_avg,
		    total_avg = EXCLUDED.total_avg, occupancy_pct = EXCLUDED.occupancy_pct
	)
	SELECT count(*) INTO n FROM agg;
	RETURN n;
END
$$;
COMMENT ON FUNCTION parking.rollup_districts(text[], date[]) IS
	'Part of maintain: recompute district_daily for these district days from occupancy_daily';

-- Recompute lot-hours from the raw rows (an hour before the oldest raw month kept is final),
-- then their days.
CREATE FUNCTION parking.rollup_hours(p_lot text[], p_hour timestamptz[], OUT lot_hours integer,
				     OUT lot_days integer, OUT district_days integer)
LANGUAGE plpgsql SET search_path = pg_catalog, parking, pg_temp AS $$
DECLARE
	kept_from timestamptz := coalesce((SELECT raw_kept_from::timestamp AT TIME ZONE 'Asia/Shanghai'
					   FROM parking.rollup_state), '-infinity');
	t_lot     text[];
	t_day     date[];
BEGIN
	WITH k AS (
		SELECT DISTINCT u.lot_id, u.hour FROM unnest(p_lot, p_hour) AS u(lot_id, hour)
		WHERE u.hour >= kept_from
	), agg AS (
		SELECT k.lot_id, k.hour, a.*
		FROM k CROSS JOIN LATERAL (
			SELECT sum(o.free) AS free_sum, sum(o.total) AS total_sum,
			       count(*)::integer AS samples, count(o.free)::integer AS free_samples,
			       min(o.free) AS free_min, max(o.free) AS free_max
			FROM parking.occupancy o
			WHERE o.lot_id = k.lot_id AND o.observed_at >= k.hour
			  AND o.observed_at < k.hour + interval '1 hour') AS a
	), gone AS (
		DELETE FROM parking.occupancy_hourly_sums s USING agg
		WHERE agg.samples = 0 AND s.lot_id = agg.lot_id AND s.hour = agg.hour
	), up AS (
		INSERT INTO parking.occupancy_hourly_sums AS s (lot_id, hour, free_sum, total_sum,
								samples, free_samples, free_min,
								free_max)
		SELECT lot_id, hour, free_sum, total_sum, samples, free_samples, free_min, free_max
		FROM agg WHERE samples > 0
		ON CONFLICT (lot_id, hour) DO UPDATE
		SET free_sum = EXCLUDED.free_sum, total_sum = EXCLUDED.total_sum,
		    samples = EXCLUDED.samples, free_samples = EXCLUDED.free_samples,
		    free_min = EXCLUDED.free_min, free_max = EXCLUDED.free_max
		WHERE (s.free_sum, s.total_sum, s.samples, s.free_samples, s.free_min, s.free_max)
		      IS DISTINCT FROM (EXCLUDED.free_sum, EXCLUDED.total_sum, EXCLUDED.samples,
					EXCLUDED.free_samples, EXCLUDED.free_min, EXCLUDED.free_max)
	)
	SELECT count(*), array_agg(lot_id), array_agg((hour AT TIME ZONE 'Asia/Shanghai')::date)
	INTO lot_hours, t_lot, t_day FROM agg;
	lot_days := 0;
	district_days := 0;
	IF lot_hours > 0 THEN
		SELECT d.lot_days, d.district_days INTO lot_days, district_days
		FROM parking.rollup_days(t_lot, t_day) AS d;
	END IF;
	UPDATE parking.rollup_state SET refreshed_at = now();
END
$$;
COMMENT ON FUNCTION parking.rollup_hours(text[], timestamptz[]) IS
	'Part of maintain: recompute these lot-hours of occupancy_hourly_sums from parking.occupancy, '
	'then their days';

-- ---------------------------------------------------------------------------------------------
-- What maintain calls (parkfeed_maintainer), each in a transaction of its own
-- ---------------------------------------------------------------------------------------------

-- A time other than now is for tests that age a database, and only for the schema owner: it
-- would let anyone else drop recent data.
CREATE FUNCTION parking.maintenance_clock(p_now timestamptz) RETURNS timestamptz
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, parking, pg_temp AS $$
BEGIN
	IF p_now IS NULL THEN
		RETURN now();
	END IF;
	IF NOT pg_catalog.pg_has_role(session_user, 'parkfeed_owner', 'MEMBER') THEN
		RAISE EXCEPTION 'only members of parkfeed_owner may run maintenance as of another time'
			USING ERRCODE = 'insufficient_privilege',
			      HINT = 'run maintain without --as-of';
	END IF;
	RETURN p_now;
END
$$;
COMMENT ON FUNCTION parking.maintenance_clock(timestamptz) IS
	'Part of maintain: the time it works as of (now, or a given time for the schema owner)';

-- The first Asia/Shanghai month of raw occupancy to keep: p_retain_months (a one-off override),
-- else the policy's months; never before a month already dropped. NULL: keep everything.
CREATE FUNCTION parking.raw_cutoff(p_now timestamptz, p_retain_months integer) RETURNS date
LANGUAGE sql STABLE SET search_path = pg_catalog, parking, pg_temp AS $$
	SELECT greatest((date_trunc('month', p_now AT TIME ZONE 'Asia/Shanghai')
			 - make_interval(months => coalesce(p_retain_months,
							    CASE WHEN r.policy_set THEN r.raw_months END)))::date,
			s.raw_kept_from)
	FROM parking.retention r CROSS JOIN parking.rollup_state s
$$;
COMMENT ON FUNCTION parking.raw_cutoff(timestamptz, integer) IS
	'Part of maintain: first month of raw occupancy kept (NULL: all of it)';

-- 001's function gains the months found in the default partition and the rollup triggers, and
-- leaves dropping to apply_retention (which rolls up first).
DROP FUNCTION parking.maintain_partitions(integer, integer, integer);
CREATE FUNCTION parking.maintain_partitions(p_back integer, p_ahead integer,
					    p_retain_months integer DEFAULT NULL,
					    p_now timestamptz DEFAULT NULL)
RETURNS SETOF text
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, parking, pg_temp AS $$
DECLARE
	t      timestamptz := parking.maintenance_clock(p_now);
	cur    date := date_trunc('month', t AT TIME ZONE 'Asia/Shanghai')::date;
	cutoff date;
	m      date;
	r      record;
BEGIN
	IF p_back NOT BETWEEN 0 AND 120 OR p_ahead NOT BETWEEN 0 AND 120
	   OR p_retain_months NOT BETWEEN 0 AND 1200 THEN
		RAISE EXCEPTION 'months back and ahead must be 0..120, retained months 0..1200'
			USING ERRCODE = 'invalid_parameter_value';
	END IF;
	cutoff := parking.raw_cutoff(t, p_retain_months);
	-- Late and early data: every month with rows in the default partition gets its own,
	-- unless retention is about to delete those rows.
	FOR r IN SELECT date_trunc('month', o.observed_at AT TIME ZONE 'Asia/Shanghai')::date AS month,
			count(*) AS n
		 FROM ONLY parking.occupancy_default o GROUP BY 1 ORDER BY 1 LOOP
		IF (cutoff IS NULL OR r.month >= cutoff) AND parking.create_occupancy_partition(r.month) THEN
			RETURN NEXT format('created parking.occupancy_p%s for %s row(s) that were in the '
					   'default partition', to_char(r.month, 'YYYYMM'), r.n);
		END IF;
	END LOOP;
	FOR i IN -p_back .. p_ahead LOOP
		m := (cur + make_interval(months => i))::date;
		CONTINUE WHEN cutoff IS NOT NULL AND m < cutoff;
		IF parking.create_occupancy_partition(m) THEN
			RETURN NEXT 'created parking.occupancy_p' || to_char(m, 'YYYYMM');
		END IF;
	END LOOP;
	PERFORM parking.ensure_rollup_triggers();
END
$$;
COMMENT ON FUNCTION parking.maintain_partitions(integer, integer, integer, timestamptz) IS
	'maintain: create occupancy partitions from p_back months before to p_ahead after the current '
	'one and for every month with rows in the default partition (not those retention deletes)';

-- One step of rolling up data stored before rollups existed: up to p_lots lots of the oldest
-- queued range. NULL when nothing is queued.
CREATE FUNCTION parking.rollup_backfill_step(p_lots integer DEFAULT 100) RETURNS text
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, parking, pg_temp AS $$
DECLARE
	b      parking.rollup_backfill;
	bound  text;
	kept   timestamptz := coalesce((SELECT raw_kept_from::timestamp AT TIME ZONE 'Asia/Shanghai'
				       FROM parking.rollup_state), '-infinity');
	t_lot  text[];
	t_day  date[];
	n      integer;
BEGIN
	IF p_lots NOT BETWEEN 1 AND 100000 THEN
		RAISE EXCEPTION 'lots per step must be 1..100000' USING ERRCODE = 'invalid_parameter_value';
	END IF;
	SELECT * INTO b FROM parking.rollup_backfill ORDER BY lo, hi LIMIT 1 FOR UPDATE;
	IF NOT FOUND THEN
		RETURN NULL;
	END IF;
	-- Lots (after_lot, bound]; the last step takes every lot after after_lot, registered or not.
	SELECT l.lot_id INTO bound FROM parking.lots l
	WHERE b.after_lot IS NULL OR l.lot_id > b.after_lot
	ORDER BY l.lot_id OFFSET p_lots - 1 LIMIT 1;
	EXECUTE format(
		'WITH agg AS ('
		'  SELECT o.lot_id, date_bin(''1 hour'', o.observed_at, timestamptz ''epoch'') AS hour,'
		'         sum(o.free) AS free_sum, sum(o.total) AS total_sum,'
		'         count(*)::integer AS samples, count(o.free)::integer AS free_samples,'
		'         min(o.free) AS free_min, max(o.free) AS free_max'
		'  FROM parking.occupancy o'
		'  WHERE o.observed_at >= $1 AND o.observed_at < $2 AND o.observed_at >= $3 %s %s'
		'  GROUP BY 1, 2'
		'), up AS ('
		'  INSERT INTO parking.occupancy_hourly_sums AS s (lot_id, hour, free_sum, total_sum,'
		'         samples, free_samples, free_min, free_max)'
		'  SELECT * FROM agg'
		'  ON CONFLICT (lot_id, hour) DO UPDATE'
		'  SET free_sum = EXCLUDED.free_sum, total_sum = EXCLUDED.total_sum,'
		'      samples = EXCLUDED.samples, free_samples = EXCLUDED.free_samples,'
		'      free_min = EXCLUDED.free_min, free_max = EXCLUDED.free_max'
		') SELECT count(*), array_agg(lot_id), '
		'         array_agg((hour AT TIME ZONE ''Asia/Shanghai'')::date) FROM agg',
		CASE WHEN b.after_lot IS NOT NULL THEN 'AND o.lot_id > $4' ELSE '' END,
		CASE WHEN bound IS NOT NULL THEN 'AND o.lot_id <= $5' ELSE '' END)
	INTO n, t_lot, t_day USING b.lo, b.hi, kept, b.after_lot, bound;
	IF n > 0 THEN
		PERFORM parking.rollup_days(t_lot, t_day);
	END IF;
	IF bound IS NULL THEN
		DELETE FROM parking.rollup_backfill WHERE lo = b.lo AND hi = b.hi;
	ELSE
		UPDATE parking.rollup_backfill SET after_lot = bound WHERE lo = b.lo AND hi = b.hi;
	END IF;
	RETURN format('rolled up %s lot-hour(s) of data stored before rollups existed (%s .. %s, '
		      'lots %s .. %s)%s', n, to_char(b.lo, 'YYYY-MM-DD HH24:MI'),
		      to_char(b.hi, 'YYYY-MM-DD HH24:MI'), coalesce(b.after_lot, 'first'),
		      coalesce(bound, 'last'),
		      CASE WHEN bound IS NULL THEN '; range done' ELSE '' END);
END
$$;
COMMENT ON FUNCTION parking.rollup_backfill_step(integer) IS
	'maintain: roll up the next lots of the oldest range stored before rollups existed';

-- Claim the markers. The lock waits for every writer that has inserted one to commit (their
-- rows are then visible to rollup_refresh) and holds new ones back for the moment it takes.
CREATE FUNCTION parking.rollup_claim() RETURNS bigint
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, parking, pg_temp
SET lock_timeout = '10s' AS $$
DECLARE
	n bigint;
BEGIN
	BEGIN
		LOCK TABLE parking.rollup_pending IN SHARE ROW EXCLUSIVE MODE;
	EXCEPTION WHEN lock_not_available THEN
		RAISE EXCEPTION 'could not lock parking.rollup_pending within 10 s'
			USING ERRCODE = 'lock_not_available',
			      HINT = 'a transaction inserting occupancy stays open (see pg_stat_activity); '
				     'run maintain again';
	END;
	WITH claimed AS (
		DELETE FROM parking.rollup_pending RETURNING lot_id, hour
	), moved AS (
		INSERT INTO parking.rollup_work (lot_id, hour)
		SELECT DISTINCT lot_id, hour FROM claimed
		ON CONFLICT DO NOTHING
	)
	SELECT count(DISTINCT (lot_id, hour)) INTO n FROM claimed;
	RETURN n;
END
$$;
COMMENT ON FUNCTION parking.rollup_claim() IS
	'maintain: move the lot-hours inserted so far from rollup_pending to rollup_work';

CREATE FUNCTION parking.rollup_refresh(p_max integer DEFAULT 20000, OUT lot_hours integer,
				       OUT lot_days integer, OUT district_days integer)
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, parking, pg_temp AS $$
DECLARE
	t_lot  text[];
	t_hour timestamptz[];
BEGIN
	IF p_max NOT BETWEEN 1 AND 1000000 THEN
		RAISE EXCEPTION 'lot-hours per step must be 1..1000000'
			USING ERRCODE = 'invalid_parameter_value';
	END IF;
	WITH batch AS (
		SELECT w.lot_id, w.hour FROM parking.rollup_work w ORDER BY w.lot_id, w.hour
		LIMIT p_max   -- the primary key's order: no sort of a large backlog per step
	), done AS (
		DELETE FROM parking.rollup_work w USING batch b
		WHERE w.lot_id = b.lot_id AND w.hour = b.hour
		RETURNING w.lot_id, w.hour
	)
	SELECT array_agg(lot_id), array_agg(hour) INTO t_lot, t_hour FROM done;
	IF t_lot IS NULL THEN
		lot_hours := 0;
		lot_days := 0;
		district_days := 0;
		RETURN;
	END IF;
	SELECT r.lot_hours, r.lot_days, r.district_days INTO lot_hours, lot_days, district_days
	FROM parking.rollup_hours(t_lot, t_hour) AS r;
END
$$;
COMMENT ON FUNCTION parking.rollup_refresh(integer) IS
	'maintain: recompute up to p_max claimed lot-hours from the raw rows, and their days';

-- Days on which a connected lot sent nothing get a row with no samples, from the first day
-- with data (or today) on.
CREATE FUNCTION parking.rollup_fill_days(p_now timestamptz DEFAULT NULL) RETURNS integer
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, parking, pg_temp AS $$
DECLARE
	today      date := (parking.maintenance_clock(p_now) AT TIME ZONE 'Asia/Shanghai')::date;
	st         parking.rollup_state;
	first_day  date;
	d_district text[];
	d_day      date[];
	n          integer;
BEGIN
	SELECT * INTO st FROM parking.rollup_state FOR UPDATE;
	first_day := least(st.days_from, (SELECT min(day) FROM parking.occupancy_daily), today);
	WITH days AS (
		SELECT g::date AS day
		FROM generate_series(first_day, today, interval '1 day') AS g
		-- only days never filled: before the old start, or from the last filled day on
		WHERE st.days_from IS NULL OR g::date < st.days_from
		   OR g::date >= coalesce(st.days_filled_through, st.days_from)
	), ins AS (
		INSERT INTO parking.occupancy_daily (lot_id, day, district, samples, free_samples,
						     hours)
		SELECT l.lot_id, d.day, l.district, 0, 0, 0
		FROM days d
		JOIN parking.lots l
		  ON l.stage >= 'connected'
		 AND coalesce(l.connected_at, l.accepted_at) < (d.day + 1)::timestamp AT TIME ZONE 'Asia/Shanghai'
		ON CONFLICT (lot_id, day) DO NOTHING
		RETURNING district, day
	)
	SELECT count(*), array_agg(district), array_agg(day) INTO n, d_district, d_day FROM ins;
	IF n > 0 THEN
		PERFORM parking.rollup_districts(d_district, d_day);
	END IF;
	UPDATE parking.rollup_state
	SET days_from = first_day, days_filled_through = greatest(days_filled_through, today);
	RETURN n;
END
$$;
COMMENT ON FUNCTION parking.rollup_fill_days(timestamptz) IS
	'maintain: add occupancy_daily rows with no samples for connected lots that sent nothing';

-- Retention, after the rollups: drop whole months of raw occupancy older than the policy (or
-- p_retain_months, a one-off override) and rejected messages older than theirs. A policy never
-- set deletes nothing and says what the defaults would delete. One line per action.
CREATE FUNCTION parking.apply_retention(p_retain_months integer DEFAULT NULL,
					p_now timestamptz DEFAULT NULL)
RETURNS SETOF text
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, parking, pg_temp
SET lock_timeout = '10s' AS $$
DECLARE
	t       timestamptz := parking.maintenance_clock(p_now);
	pol     parking.retention;
	cut     date;
	asked   date;
	cut_ts  timestamptz;
	drops   text[];
	r       record;
	n       bigint;
	t_lot   text[];
	t_hour  timestamptz[];
BEGIN
	IF p_retain_months NOT BETWEEN 0 AND 1200 THEN
		RAISE EXCEPTION 'retained months must be 0..1200' USING ERRCODE = 'invalid_parameter_value';
	END IF;
	SELECT * INTO pol FROM parking.retention;
	IF NOT pol.policy_set AND p_retain_months IS NULL THEN
		RETURN QUERY SELECT parking.retention_preview(t);
		RETURN;
	END IF;

	cut := parking.raw_cutoff(t, p_retain_months);
	IF cut IS NULL THEN
		RETURN NEXT 'raw occupancy: kept for good (the policy says so)';
	ELSIF EXISTS (SELECT 1 FROM parking.rollup_backfill) THEN
		RETURN NEXT 'raw occupancy: nothing dropped: data stored before rollups existed is not '
			    'rolled up yet';
	ELSE
		cut_ts := cut::timestamp AT TIME ZONE 'Asia/Shanghai';
		SELECT array_agg(c.relname ORDER BY c.relname) INTO drops
		FROM pg_catalog.pg_inherits i JOIN pg_catalog.pg_class c ON c.oid = i.inhrelid
		WHERE i.inhparent = 'parking.occupancy'::regclass
		  AND c.relname ~ '^occupancy_p[0-9]{6}$'
		  AND to_date(substr(c.relname, 12), 'YYYYMM') < cut;
		IF drops IS NOT NULL
		   OR EXISTS (SELECT 1 FROM ONLY parking.occupancy_default WHERE observed_at < cut_ts) THEN
			-- No writer in flight: the rows and markers of those months are final.
			BEGIN
				LOCK TABLE parking.occupancy IN ACCESS EXCLUSIVE MODE;
			EXCEPTION WHEN lock_not_available THEN
				RAISE EXCEPTION 'could not lock parking.occupancy within 10 s to drop old months'
					USING ERRCODE = 'lock_not_available',
					      HINT = 'a long query or transaction holds it (see pg_stat_activity); '
						     'nothing was dropped: run maintain again';
			END;
			WITH p AS (
				DELETE FROM parking.rollup_pending WHERE hour < cut_ts RETURNING lot_id, hour
			), w AS (
				DELETE FROM parking.rollup_work WHERE hour < cut_ts RETURNING lot_id, hour
			)
			SELECT array_agg(x.lot_id), array_agg(x.hour) INTO t_lot, t_hour
			FROM (SELECT * FROM p UNION SELECT * FROM w) AS x;
			IF t_lot IS NOT NULL THEN
				PERFORM parking.rollup_hours(t_lot, t_hour);
			END IF;
			FOR r IN SELECT unnest(drops) AS relname LOOP
				n := pg_catalog.pg_total_relation_size(('parking.' || quote_ident(r.relname))::regclass);
				EXECUTE format('DROP TABLE parking.%I', r.relname);
				RETURN NEXT format('raw occupancy: dropped parking.%s (%s; its hours stay in '
						   'parking.occupancy_hourly)', r.relname,
						   pg_catalog.pg_size_pretty(n));
			END LOOP;
			DELETE FROM ONLY parking.occupancy_default WHERE observed_at < cut_ts;
			GET DIAGNOSTICS n = ROW_COUNT;
			IF n > 0 THEN
				RETURN NEXT format('raw occupancy: deleted %s row(s) observed before %s from '
						   'the default partition', n, cut);
			END IF;
		END IF;
		UPDATE parking.rollup_state SET raw_kept_from = greatest(raw_kept_from, cut);
		asked := (date_trunc('month', t AT TIME ZONE 'Asia/Shanghai')
			  - make_interval(months => coalesce(p_retain_months, pol.raw_months)))::date;
		RETURN NEXT format('raw occupancy: kept from %s (%s%s)', cut,
				   CASE WHEN p_retain_months IS NOT NULL
					THEN format('--retain-months %s', p_retain_months)
					ELSE format('policy: %s months', pol.raw_months) END,
				   CASE WHEN asked < cut THEN '; older months were dropped before' ELSE '' END);
	END IF;

	IF NOT pol.policy_set THEN
		RETURN NEXT 'rejected messages: kept (the retention policy is not set)';
	ELSIF pol.rejected_days IS NULL THEN
		RETURN NEXT 'rejected messages: kept for good (the policy says so)';
	ELSE
		DELETE FROM parking.rejected
		WHERE received_at < t - make_interval(days => pol.rejected_days);
		GET DIAGNOSTICS n = ROW_COUNT;
		RETURN NEXT format('rejected messages: deleted %s received before %s (policy: %s days)',
				   n, (t - make_interval(days => pol.rejected_days))::date,
				   pol.rejected_days);
	END IF;
	n := (SELECT count(*) FROM ONLY parking.occupancy_default);
	RETURN NEXT CASE WHEN n = 0 THEN 'default partition: empty'
			 ELSE format('default partition: %s row(s) arrived meanwhile; the next run '
				     'moves them', n) END;
END
$$;
COMMENT ON FUNCTION parking.apply_retention(integer, timestamptz) IS
	'maintain: drop raw occupancy months and rejected messages past the retention policy (or '
	'p_retain_months), rolling the months up first';

CREATE FUNCTION parking.retention_preview(p_now timestamptz) RETURNS SETOF text
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, parking, pg_temp AS $$
DECLARE
	cut   date := (date_trunc('month', p_now AT TIME ZONE 'Asia/Shanghai')
		       - interval '13 months')::date;
	parts text;
	n     bigint;
BEGIN
	RETURN NEXT 'retention: the policy is not set (this database held data before retention '
		    'existed): nothing deleted';
	SELECT string_agg(format('parking.%s (%s)', c.relname,
				 pg_catalog.pg_size_pretty(pg_catalog.pg_total_relation_size(c.oid))),
			  ', ' ORDER BY c.relname)
	INTO parts
	FROM pg_catalog.pg_inherits i JOIN pg_catalog.pg_class c ON c.oid = i.inhrelid
	WHERE i.inhparent = 'parking.occupancy'::regclass
	  AND c.relname ~ '^occupancy_p[0-9]{6}$'
	  AND to_date(substr(c.relname, 12), 'YYYYMM') < cut;
	RETURN NEXT format('retention: with the default of 13 months it would drop raw occupancy '
			   'observed before %s: %s', cut, coalesce(parts, 'nothing yet'));
	SELECT count(*) INTO n FROM parking.rejected WHERE received_at < p_now - interval '31 days';
	RETURN NEXT format('retention: with the default of 31 days it would delete %s rejected '
			   'message(s) received before %s', n, (p_now - interval '31 days')::date);
	RETURN NEXT 'retention: set the policy with: parkfeedctl retention set --raw-months 13 '
		    '--rejected-days 31 (or forever, to keep that data for good)';
END
$$;
COMMENT ON FUNCTION parking.retention_preview(timestamptz) IS
	'Part of apply_retention: what the default policy would delete, while none is set';

-- ---------------------------------------------------------------------------------------------
-- Data completeness: the bureau accepts a lot on the quality of its data
-- ---------------------------------------------------------------------------------------------

-- Observations a lot promised on a day (one per expected_interval_s from its connection on, up
-- to now for today) and the share of them received, at most 100.
CREATE FUNCTION parking.data_completeness(p_day date, p_since timestamptz, p_interval_s integer,
					  p_received integer, OUT expected integer,
					  OUT completeness_pct numeric)
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
	SELECT e.n, CASE WHEN e.n > 0 THEN least(100.00, round(100.0 * p_received / e.n, 2)) END
	FROM (SELECT CASE WHEN p_since IS NULL THEN 0
			  ELSE greatest(0, floor(extract(epoch FROM
				least((p_day + 1)::timestamp AT TIME ZONE 'Asia/Shanghai', now())
				- greatest(p_day::timestamp AT TIME ZONE 'Asia/Shanghai', p_since))
				/ p_interval_s))::integer END AS n) AS e
$$;
COMMENT ON FUNCTION parking.data_completeness(date, timestamptz, integer, integer) IS
	'Observations expected of a lot on a day (every expected_interval_s since it connected) and '
	'the percentage received';

CREATE VIEW parking.lot_data_completeness AS
SELECT d.day, d.lot_id, l.district, l.name, d.samples AS received, c.expected,
       c.completeness_pct, d.hours AS hours_with_data, l.expected_interval_s
FROM parking.occupancy_daily d
JOIN parking.lots l ON l.lot_id = d.lot_id
CROSS JOIN LATERAL parking.data_completeness(d.day, coalesce(l.connected_at, l.accepted_at),
					     l.expected_interval_s, d.samples) AS c;
COMMENT ON VIEW parking.lot_data_completeness IS
	'How complete was each lot''s data each day: observations received against those its '
	'expected_interval_s promises (Asia/Shanghai days, from its connection on)?';
COMMENT ON COLUMN parking.lot_data_completeness.day IS 'Calendar day in Asia/Shanghai';
COMMENT ON COLUMN parking.lot_data_completeness.received IS 'Observations stored for that day';
COMMENT ON COLUMN parking.lot_data_completeness.expected IS
	'Observations promised: the connected part of the day (up to now for today) / expected_interval_s';
COMMENT ON COLUMN parking.lot_data_completeness.completeness_pct IS
	'received / expected, percent, at most 100 (NULL: nothing was expected)';
COMMENT ON COLUMN parking.lot_data_completeness.hours_with_data IS 'Hours of the day with at least one observation';
COMMENT ON COLUMN parking.lot_data_completeness.expected_interval_s IS 'The lot''s promised reporting interval, seconds (as registered now)';

CREATE VIEW parking.my_lot_data_completeness WITH (security_invoker = true) AS
SELECT d.day, d.lot_id, l.district, l.name, d.samples AS received, c.expected,
       c.completeness_pct, d.hours AS hours_with_data, l.expected_interval_s
FROM parking.occupancy_daily d
JOIN parking.lots l ON l.lot_id = d.lot_id
CROSS JOIN LATERAL parking.data_completeness(d.day, coalesce(l.connected_at, l.accepted_at),
					     l.expected_interval_s, d.samples) AS c;
COMMENT ON VIEW parking.my_lot_data_completeness IS
	'How complete was the data of each of my lots each day? (parking.lot_data_completeness, '
	'limited to the districts granted to me)';

-- ---------------------------------------------------------------------------------------------
-- Row-level security and privileges
-- ---------------------------------------------------------------------------------------------

ALTER TABLE parking.occupancy_hourly_sums ENABLE ROW LEVEL SECURITY;
CREATE POLICY operator_all ON parking.occupancy_hourly_sums FOR SELECT TO parkfeed_operator
	USING (true);
COMMENT ON POLICY operator_all ON parking.occupancy_hourly_sums IS 'Operators see every lot''s rollups';
CREATE POLICY reader_all ON parking.occupancy_hourly_sums FOR SELECT TO parkfeed_reader
	USING (true);
COMMENT ON POLICY reader_all ON parking.occupancy_hourly_sums IS
	'Readers see every lot''s rollups (through parking.occupancy_hourly)';
CREATE POLICY district_granted ON parking.occupancy_hourly_sums FOR SELECT TO parkfeed_district
	USING (lot_id IN (SELECT l.lot_id FROM parking.lots l));
COMMENT ON POLICY district_granted ON parking.occupancy_hourly_sums IS
	'District staff see the rollups of the lots they see';

ALTER TABLE parking.occupancy_daily ENABLE ROW LEVEL SECURITY;
CREATE POLICY operator_all ON parking.occupancy_daily FOR SELECT TO parkfeed_operator USING (true);
COMMENT ON POLICY operator_all ON parking.occupancy_daily IS 'Operators see every lot''s days';
CREATE POLICY reader_all ON parking.occupancy_daily FOR SELECT TO parkfeed_reader USING (true);
COMMENT ON POLICY reader_all ON parking.occupancy_daily IS 'Readers see every lot''s days';
CREATE POLICY district_granted ON parking.occupancy_daily FOR SELECT TO parkfeed_district
	USING (lot_id IN (SELECT l.lot_id FROM parking.lots l));
COMMENT ON POLICY district_granted ON parking.occupancy_daily IS
	'District staff see the days of the lots they see';

ALTER TABLE parking.district_daily ENABLE ROW LEVEL SECURITY;
CREATE POLICY operator_all ON parking.district_daily FOR SELECT TO parkfeed_operator USING (true);
COMMENT ON POLICY operator_all ON parking.district_daily IS 'Operators see every district';
CREATE POLICY reader_all ON parking.district_daily FOR SELECT TO parkfeed_reader USING (true);
COMMENT ON POLICY reader_all ON parking.district_daily IS 'Readers see every district';
CREATE POLICY district_granted ON parking.district_daily FOR SELECT TO parkfeed_district
	USING (district IN (SELECT g.district FROM parking.district_grants g));
COMMENT ON POLICY district_granted ON parking.district_daily IS
	'District staff see the districts granted to them';

REVOKE ALL ON parking.retention, parking.retention_history, parking.occupancy_hourly_sums,
	parking.occupancy_hourly, parking.occupancy_daily, parking.district_daily,
	parking.rollup_pending, parking.rollup_work, parking.rollup_backfill, parking.rollup_state,
	parking.lot_data_completeness, parking.my_lot_data_completeness FROM PUBLIC;
REVOKE ALL ON FUNCTION parking.schema_version(), parking.set_retention(integer, integer, text),
	parking.mark_rollup_hours(), parking.ensure_rollup_triggers(),
	parking.rollup_days(text[], date[]), parking.rollup_districts(text[], date[]),
	parking.rollup_hours(text[], timestamptz[]), parking.maintenance_clock(timestamptz),
	parking.raw_cutoff(timestamptz, integer),
	parking.maintain_partitions(integer, integer, integer, timestamptz),
	parking.rollup_backfill_step(integer), parking.rollup_claim(), parking.rollup_refresh(integer),
	parking.rollup_fill_days(timestamptz), parking.apply_retention(integer, timestamptz),
	parking.retention_preview(timestamptz),
	parking.data_completeness(date, timestamptz, integer, integer) FROM PUBLIC;

-- Operators read every new table already (001's default privileges).
GRANT EXECUTE ON FUNCTION parking.schema_version()
	TO parkfeed_ingest, parkfeed_operator, parkfeed_reader, parkfeed_district,
	   parkfeed_maintainer;
GRANT EXECUTE ON FUNCTION parking.set_retention(integer, integer, text) TO parkfeed_operator;
GRANT EXECUTE ON FUNCTION
	parking.maintain_partitions(integer, integer, integer, timestamptz),
	parking.rollup_backfill_step(integer), parking.rollup_claim(), parking.rollup_refresh(integer),
	parking.rollup_fill_days(timestamptz), parking.apply_retention(integer, timestamptz)
	TO parkfeed_maintainer;
GRANT EXECUTE ON FUNCTION parking.data_completeness(date, timestamptz, integer, integer)
	TO parkfeed_operator, parkfeed_reader, parkfeed_district;
GRANT SELECT ON parking.occupancy_hourly_sums, parking.occupancy_hourly, parking.occupancy_daily,
	parking.district_daily, parking.lot_data_completeness TO parkfeed_reader;
GRANT SELECT ON parking.occupancy_hourly_sums, parking.occupancy_hourly, parking.occupancy_daily,
	parking.district_daily, parking.my_lot_data_completeness TO parkfeed_district;

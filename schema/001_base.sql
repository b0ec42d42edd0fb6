-- 001_base: roles, the parking schema, the lot registry, occupancy and the ingest interface.
--
-- Run by `parkfeedctl migrate` inside one transaction that already holds the migration advisory
-- lock; the version is recorded in parking.schema_migrations by the caller. Run as a superuser
-- or as a role with CREATEROLE and CREATEDB (and CREATE on this database).

-- Group roles are cluster-wide: another database's migration may be creating them right now,
-- so a duplicate is not an error.
DO $roles$
DECLARE
	r text;
BEGIN
	FOREACH r IN ARRAY ARRAY['parkfeed_owner', 'parkfeed_ingest', 'parkfeed_operator',
				 'parkfeed_reader'] LOOP
		IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = r) THEN
			BEGIN
				EXECUTE format('CREATE ROLE %I NOLOGIN', r);
			EXCEPTION WHEN duplicate_object OR unique_violation THEN
				NULL;
			END;
		END IF;
	END LOOP;
	-- A non-superuser migrator creates the objects as parkfeed_owner: it must be a member.
	IF NOT (SELECT rolsuper FROM pg_catalog.pg_roles WHERE rolname = current_user)
	   AND NOT pg_catalog.pg_has_role(current_user, 'parkfeed_owner', 'MEMBER') THEN
		EXECUTE format('GRANT parkfeed_owner TO %I', current_user);
	END IF;
END
$roles$;

COMMENT ON ROLE parkfeed_owner IS
	'parkfeed: owns the parking schema and its objects; members may run migrate and maintain';
COMMENT ON ROLE parkfeed_ingest IS
	'parkfeed: what the daemon needs and nothing more: EXECUTE on the parking.ingest_* functions';
COMMENT ON ROLE parkfeed_operator IS
	'parkfeed: platform operators: read everything; stage and target changes through audited functions';
COMMENT ON ROLE parkfeed_reader IS
	'parkfeed: read-only access to the parking views';

CREATE SCHEMA IF NOT EXISTS parking AUTHORIZATION parkfeed_owner;

-- Everything below is created by, and so owned by, parkfeed_owner.
SET LOCAL ROLE parkfeed_owner;
SET LOCAL search_path = pg_catalog, parking;

COMMENT ON SCHEMA parking IS
	'parkfeed: Jiaozuo smart-parking registry, occupancy feed and upgrade ledger';

CREATE TABLE IF NOT EXISTS parking.schema_migrations (
	version    integer PRIMARY KEY,
	name       text NOT NULL,
	applied_at timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE parking.schema_migrations IS
	'Migrations applied by parkfeedctl migrate, one row per schema/NNN_name.sql file';

REVOKE ALL ON SCHEMA parking FROM PUBLIC;
GRANT USAGE ON SCHEMA parking TO parkfeed_ingest, parkfeed_operator, parkfeed_reader;

-- ---------------------------------------------------------------------------------------------
-- The registry
-- ---------------------------------------------------------------------------------------------

CREATE TYPE parking.stage AS ENUM ('planned', 'upgrading', 'upgraded', 'connected', 'accepted');
COMMENT ON TYPE parking.stage IS
	'Upgrade stages of a lot, in order: planned -> upgrading -> upgraded -> connected -> accepted';

CREATE TABLE parking.lots (
	lot_id              text PRIMARY KEY CHECK (lot_id ~ '^[A-Za-z0-9._-]{1,64}$'),
	name                text,
	district            text CHECK (district <> ''),
	address             text,
	spaces              integer CHECK (spaces >= 0),
	location            text,
	deadline            date,
	stage               parking.stage NOT NULL DEFAULT 'planned',
	stage_at            timestamptz,
	upgraded_at         timestamptz,
	connected_at        timestamptz,
	accepted_at         timestamptz,
	system              text,
	version             text,
	protocol            text,
	online              boolean,
	status_at           timestamptz,
	registered          boolean NOT NULL DEFAULT true,
	expected_interval_s integer NOT NULL DEFAULT 60 CHECK (expected_interval_s > 0),
	created_at          timestamptz NOT NULL DEFAULT now(),
	updated_at          timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX lots_district_idx ON parking.lots (district);
COMMENT ON TABLE parking.lots IS
	'The lot registry: one row per parking lot, registered by import or discovered from MQTT';
COMMENT ON COLUMN parking.lots.lot_id IS 'Lot identifier, as in the MQTT topic <prefix>/<lot_id>/...';
COMMENT ON COLUMN parking.lots.name IS 'Lot name as the bureau knows it';
COMMENT ON COLUMN parking.lots.district IS 'County, city or district (县、市、区) responsible; NULL = unknown';
COMMENT ON COLUMN parking.lots.address IS 'Street address';
COMMENT ON COLUMN parking.lots.spaces IS 'Parking spaces as registered (the feed reports its own total)';
COMMENT ON COLUMN parking.lots.location IS 'Position as "lon,lat" (WGS-84 unless noted)';
COMMENT ON COLUMN parking.lots.deadline IS 'Date by which the lot must be connected to the city platform';
COMMENT ON COLUMN parking.lots.stage IS 'Current upgrade stage (see parking.stage_history for how it got there)';
COMMENT ON COLUMN parking.lots.stage_at IS 'When the current stage was reached';
COMMENT ON COLUMN parking.lots.upgraded_at IS 'When the lot reached stage upgraded';
COMMENT ON COLUMN parking.lots.connected_at IS 'When the lot reached stage connected (first valid occupancy message received)';
COMMENT ON COLUMN parking.lots.accepted_at IS 'When the lot reached stage accepted';
COMMENT ON COLUMN parking.lots.system IS 'Lot management system, as its last status message reported';
COMMENT ON COLUMN parking.lots.version IS 'Lot management system version, as its last status message reported';
COMMENT ON COLUMN parking.lots.protocol IS 'Protocol the controller reported speaking';
COMMENT ON COLUMN parking.lots.online IS 'Online flag from the controller''s last status message (false = its last will)';
COMMENT ON COLUMN parking.lots.status_at IS 'When the last status message was received';
COMMENT ON COLUMN parking.lots.registered IS 'true = registered by an operator; false = discovered from MQTT, needs registering';
COMMENT ON COLUMN parking.lots.expected_interval_s IS 'Seconds between reports the controller promises; data is stale after 3x, offline after 10x';
COMMENT ON COLUMN parking.lots.created_at IS 'When the row was created';
COMMENT ON COLUMN parking.lots.updated_at IS 'When the row was last changed';

CREATE TABLE parking.stage_history (
	id          bigserial PRIMARY KEY,
	lot_id      text NOT NULL REFERENCES parking.lots (lot_id),
	from_stage  parking.stage,
	stage       parking.stage NOT NULL,
	at          timestamptz NOT NULL,
	actor       text NOT NULL,
	note        text,
	db_user     text NOT NULL DEFAULT session_user,
	recorded_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX stage_history_lot_idx ON parking.stage_history (lot_id, at);
COMMENT ON TABLE parking.stage_history IS
	'Audit trail: every stage change of every lot, who made it and why';
COMMENT ON COLUMN parking.stage_history.lot_id IS 'The lot';
COMMENT ON COLUMN parking.stage_history.from_stage IS 'Stage before the change (NULL: the lot was new)';
COMMENT ON COLUMN parking.stage_history.stage IS 'Stage after the change';
COMMENT ON COLUMN parking.stage_history.at IS 'When the change happened (may be earlier than recorded_at)';
COMMENT ON COLUMN parking.stage_history.actor IS 'Who made it: parkfeedd, import, or the operator''s name';
COMMENT ON COLUMN parking.stage_history.note IS 'Why (required for forced changes)';
COMMENT ON COLUMN parking.stage_history.db_user IS 'Database login that made the change';
COMMENT ON COLUMN parking.stage_history.recorded_at IS 'When the change was written';

CREATE TABLE parking.district_targets (
	year     integer NOT NULL CHECK (year BETWEEN 2000 AND 2100),
	district text NOT NULL CHECK (district <> ''),
	target   integer NOT NULL CHECK (target >= 0),
	PRIMARY KEY (year, district)
);
COMMENT ON TABLE parking.district_targets IS
	'The year''s target (全年任务目标) of lots to connect, per district';
COMMENT ON COLUMN parking.district_targets.year IS 'Calendar year';
COMMENT ON COLUMN parking.district_targets.district IS 'County, city or district (县、市、区)';
COMMENT ON COLUMN parking.district_targets.target IS 'Lots to be connected by the end of the year (cumulative count)';

CREATE TABLE parking.target_history (
	id          bigserial PRIMARY KEY,
	year        integer NOT NULL,
	district    text NOT NULL,
	old_target  integer,
	target      integer NOT NULL,
	actor       text NOT NULL,
	db_user     text NOT NULL DEFAULT session_user,
	recorded_at timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE parking.target_history IS 'Audit trail: every change of a district''s target';
COMMENT ON COLUMN parking.target_history.old_target IS 'Target before the change (NULL: none was set)';
COMMENT ON COLUMN parking.target_history.target IS 'Target after the change';
COMMENT ON COLUMN parking.target_history.actor IS 'Operator who made the change';
COMMENT ON COLUMN parking.target_history.db_user IS 'Database login that made the change';
COMMENT ON COLUMN parking.target_history.recorded_at IS 'When the change was written';

-- ---------------------------------------------------------------------------------------------
-- The feed
-- ---------------------------------------------------------------------------------------------

-- No foreign key to lots: the ingest function registers lots before inserting, and a per-row
-- RI check would halve the insert rate.
CREATE TABLE parking.occupancy (
	lot_id      text NOT NULL,
	observed_at timestamptz NOT NULL,
	received_at timestamptz NOT NULL,
	total       integer NOT NULL CHECK (total >= 0),
	free        integer CHECK (free >= 0),
	occupied    integer CHECK (occupied >= 0),
	status      text CHECK (status IN ('open', 'closed', 'full')),
	seq         bigint,
	format      text,
	PRIMARY KEY (lot_id, observed_at)
) PARTITION BY RANGE (observed_at);
COMMENT ON TABLE parking.occupancy IS
	'Every accepted occupancy observation, stored once per (lot_id, observed_at); '
	'monthly partitions occupancy_pYYYYMM (Asia/Shanghai months) plus occupancy_default';
COMMENT ON COLUMN parking.occupancy.lot_id IS 'The lot (from the MQTT topic)';
COMMENT ON COLUMN parking.occupancy.observed_at IS 'When the controller counted (its clock)';
COMMENT ON COLUMN parking.occupancy.received_at IS 'When parkfeed received the message (our clock)';
COMMENT ON COLUMN parking.occupancy.total IS 'Spaces in service';
COMMENT ON COLUMN parking.occupancy.free IS 'Free spaces';
COMMENT ON COLUMN parking.occupancy.occupied IS 'Occupied spaces (total - free - occupied are out of service)';
COMMENT ON COLUMN parking.occupancy.status IS 'open, closed, full, or NULL if not reported';
COMMENT ON COLUMN parking.occupancy.seq IS 'The controller''s message counter, if it sends one';
COMMENT ON COLUMN parking.occupancy.format IS 'Payload format the message arrived in: native, vendor (field aliases), fiware (keyValues) or ngsi-ld';

CREATE TABLE parking.occupancy_default PARTITION OF parking.occupancy DEFAULT;
COMMENT ON TABLE parking.occupancy_default IS
	'Observations outside every monthly partition; parkfeedctl maintain moves them out';

CREATE TABLE parking.lot_state (
	lot_id      text PRIMARY KEY REFERENCES parking.lots (lot_id),
	observed_at timestamptz NOT NULL,
	received_at timestamptz NOT NULL,
	total       integer NOT NULL,
	free        integer,
	occupied    integer,
	status      text,
	seq         bigint,
	format      text
);
COMMENT ON TABLE parking.lot_state IS
	'The latest observation per lot (by observed_at; an older message never overwrites a newer one)';
COMMENT ON COLUMN parking.lot_state.lot_id IS 'The lot';
COMMENT ON COLUMN parking.lot_state.observed_at IS 'When the controller counted';
COMMENT ON COLUMN parking.lot_state.received_at IS 'When parkfeed received it';
COMMENT ON COLUMN parking.lot_state.total IS 'Spaces in service';
COMMENT ON COLUMN parking.lot_state.free IS 'Free spaces';
COMMENT ON COLUMN parking.lot_state.occupied IS 'Occupied spaces';
COMMENT ON COLUMN parking.lot_state.status IS 'open, closed, full, or NULL';
COMMENT ON COLUMN parking.lot_state.seq IS 'The controller''s message counter';
COMMENT ON COLUMN parking.lot_state.format IS 'Payload format';

CREATE TABLE parking.rejected (
	id          bigserial PRIMARY KEY,
	received_at timestamptz NOT NULL,
	topic       text NOT NULL,
	lot_id      text,
	reason      text NOT NULL,
	detail      text,
	payload     bytea,
	payload_len integer
);
CREATE UNIQUE INDEX rejected_once_idx ON parking.rejected (received_at, topic, md5(payload));
CREATE INDEX rejected_received_idx ON parking.rejected (received_at);
COMMENT ON TABLE parking.rejected IS
	'Messages that failed validation, with the reason; a redelivered reject is stored once';
COMMENT ON COLUMN parking.rejected.received_at IS 'When parkfeed received the message';
COMMENT ON COLUMN parking.rejected.topic IS 'MQTT topic';
COMMENT ON COLUMN parking.rejected.lot_id IS 'Lot named by the topic, NULL if the topic was unusable';
COMMENT ON COLUMN parking.rejected.reason IS 'Stable reason code: payload_too_large, bad_utf8, json_syntax, ...';
COMMENT ON COLUMN parking.rejected.detail IS 'Human-readable detail (which field, what value)';
COMMENT ON COLUMN parking.rejected.payload IS 'Raw payload bytes, possibly truncated';
COMMENT ON COLUMN parking.rejected.payload_len IS 'Original payload length in bytes';

-- ---------------------------------------------------------------------------------------------
-- Partitions
-- ---------------------------------------------------------------------------------------------

-- Create the monthly partition holding month_start (an Asia/Shanghai month); rows of that month
-- waiting in the default partition are moved into it first (a partition cannot be created
-- while the default holds rows of its range). Returns true if it was created.
CREATE FUNCTION parking.create_occupancy_partition(p_month date) RETURNS boolean
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, parking, pg_temp AS $$
DECLARE
	m    date := date_trunc('month', p_month)::date;
	lo   timestamptz := m::timestamp AT TIME ZONE 'Asia/Shanghai';
	hi   timestamptz := (m + interval '1 month')::timestamp AT TIME ZONE 'Asia/Shanghai';
	name text := 'occupancy_p' || to_char(m, 'YYYYMM');
BEGIN
	IF to_regclass('parking.' || name) IS NOT NULL THEN
		RETURN false;
	END IF;
	-- Parent before child, as inserts lock them; nothing may land in the default meanwhile.
	LOCK TABLE parking.occupancy IN SHARE UPDATE EXCLUSIVE MODE;
	LOCK TABLE parking.occupancy_default IN ACCESS EXCLUSIVE MODE;
	IF to_regclass('parking.' || name) IS NOT NULL THEN
		RETURN false;
	END IF;
	EXECUTE format('CREATE TABLE parking.%I (LIKE parking.occupancy INCLUDING DEFAULTS '
		       'INCLUDING CONSTRAINTS, '
		       'CONSTRAINT %I CHECK (observed_at >= %L AND observed_at < %L))',
		       name, name || '_range', lo, hi);
	EXECUTE format('WITH moved AS (DELETE FROM parking.occupancy_default '
		       'WHERE observed_at >= %L AND observed_at < %L RETURNING *) '
		       'INSERT INTO parking.%I SELECT * FROM moved', lo, hi, name);
	EXECUTE format('ALTER TABLE parking.occupancy ATTACH PARTITION parking.%I '
		       'FOR VALUES FROM (%L) TO (%L)', name, lo, hi);
	-- The CHECK only spared ATTACH a scan; the partition bound says the same.
	EXECUTE format('ALTER TABLE parking.%I DROP CONSTRAINT %I', name, name || '_range');
	EXECUTE format('COMMENT ON TABLE parking.%I IS %L', name,
		       'Occupancy observed in ' || to_char(m, 'YYYY-MM') || ' (Asia/Shanghai)');
	RETURN true;
END
$$;
COMMENT ON FUNCTION parking.create_occupancy_partition(date) IS
	'Create the occupancy partition of the month holding the date, moving its rows out of the default';

-- Create partitions from p_back months before to p_ahead months after the current month;
-- with p_retain_months, drop partitions that ended more than that many months before it.
-- Returns one line per action.
CREATE FUNCTION parking.maintain_partitions(p_back integer, p_ahead integer,
					    p_retain_months integer DEFAULT NULL)
RETURNS SETOF text
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, parking, pg_temp AS $$
DECLARE
	cur  date := date_trunc('month', now() AT TIME ZONE 'Asia/Shanghai')::date;
	i    integer;
	m    date;
	keep date;
	r    record;
BEGIN
	IF p_back < 0 OR p_ahead < 0 OR p_retain_months < 0 THEN
		RAISE EXCEPTION 'month counts must not be negative';
	END IF;
	FOR i IN -p_back .. p_ahead LOOP
		m := (cur + make_interval(months => i))::date;
		IF parking.create_occupancy_partition(m) THEN
			RETURN NEXT 'created parking.occupancy_p' || to_char(m, 'YYYYMM');
		END IF;
	END LOOP;
	IF p_retain_months IS NOT NULL THEN
		keep := (cur - make_interval(months => p_retain_months))::date;
		FOR r IN SELECT c.relname FROM pg_catalog.pg_inherits i2
			 JOIN pg_catalog.pg_class c ON c.oid = i2.inhrelid
			 WHERE i2.inhparent = 'parking.occupancy'::regclass
			   AND c.relname ~ '^occupancy_p[0-9]{6}$'
			   AND to_date(substr(c.relname, 12), 'YYYYMM') < keep
			 ORDER BY c.relname LOOP
			EXECUTE format('DROP TABLE parking.%I', r.relname);
			RETURN NEXT 'dropped parking.' || r.relname;
		END LOOP;
	END IF;
END
$$;
COMMENT ON FUNCTION parking.maintain_partitions(integer, integer, integer) IS
	'Create occupancy partitions around the current month; optionally drop those older than the retention';

-- ---------------------------------------------------------------------------------------------
-- Ingest interface (the daemon's role may call these and nothing else)
-- ---------------------------------------------------------------------------------------------

-- Register unknown lots and connect registered ones: a lot's first valid occupancy message
-- makes it connected (connected_at = its earliest receive time in the batch).
CREATE FUNCTION parking.connect_lots(p_lot_id text[], p_received_us bigint[]) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, parking, pg_temp AS $$
BEGIN
	-- Lots never seen before: registered=false, connected by this very message.
	WITH first AS (
		SELECT u.lot_id, min(u.rec) AS rec
		FROM unnest(p_lot_id, p_received_us) AS u(lot_id, rec)
		GROUP BY u.lot_id
	), fresh AS (
		INSERT INTO parking.lots AS l (lot_id, registered, stage, stage_at, connected_at)
		SELECT f.lot_id, false, 'connected', t.at, t.at
		FROM first f
		CROSS JOIN LATERAL (SELECT timestamptz 'epoch' + f.rec * interval '1 microsecond') AS t(at)
		WHERE NOT EXISTS (SELECT 1 FROM parking.lots x WHERE x.lot_id = f.lot_id)
		ORDER BY f.lot_id
		ON CONFLICT (lot_id) DO NOTHING
		RETURNING l.lot_id, l.connected_at
	)
	INSERT INTO parking.stage_history (lot_id, from_stage, stage, at, actor, note)
	SELECT lot_id, NULL, 'connected', connected_at, 'parkfeedd', 'auto-registered on first message'
	FROM fresh;

	-- Registered lots sending their first valid message: connected.
	WITH first AS (
		SELECT u.lot_id, min(u.rec) AS rec
		FROM unnest(p_lot_id, p_received_us) AS u(lot_id, rec)
		GROUP BY u.lot_id
	), due AS (
		SELECT l.lot_id, l.stage AS old_stage,
		       timestamptz 'epoch' + f.rec * interval '1 microsecond' AS at
		FROM parking.lots l JOIN first f ON f.lot_id = l.lot_id
		WHERE l.stage < 'connected'
		ORDER BY l.lot_id
		FOR UPDATE OF l
	), moved AS (
		UPDATE parking.lots l
		SET stage = 'connected', stage_at = due.at, connected_at = due.at, updated_at = now()
		FROM due
		WHERE l.lot_id = due.lot_id AND l.stage < 'connected'
		RETURNING l.lot_id, due.old_stage, due.at
	)
	INSERT INTO parking.stage_history (lot_id, from_stage, stage, at, actor, note)
	SELECT lot_id, old_stage, 'connected', at, 'parkfeedd', 'first valid occupancy message'
	FROM moved;
END
$$;
COMMENT ON FUNCTION parking.connect_lots(text[], bigint[]) IS
	'Part of ingest_occupancy: register unknown lots, connect registered ones on their first message';

CREATE FUNCTION parking.ingest_occupancy(p_lot_id text[], p_observed_us bigint[],
					 p_received_us bigint[], p_total integer[],
					 p_free integer[], p_occupied integer[], p_status text[],
					 p_seq bigint[], p_format text[])
RETURNS integer
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, parking, pg_temp AS $$
DECLARE
	n integer;
BEGIN
	IF EXISTS (SELECT 1 FROM unnest(p_lot_id) AS u(lot_id)
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
	SELECT DISTINCT ON (u.lot_id) u.lot_id,
	       timestamptz 'epoch' + u.obs * interval '1 microsecond',
	       timestamptz 'epoch' + u.rec * interval '1 microsecond',
	       u.total, u.free, u.occupied, u.status, u.seq, u.format
	FROM unnest(p_lot_id, p_observed_us, p_received_us, p_total, p_free, p_occupied, p_status,
		    p_seq, p_format) AS u(lot_id, obs, rec, total, free, occupied, status, seq, format)
	ORDER BY u.lot_id, u.obs DESC, u.rec DESC
	ON CONFLICT (lot_id) DO UPDATE
	SET observed_at = EXCLUDED.observed_at, received_at = EXCLUDED.received_at,
	    total = EXCLUDED.total, free = EXCLUDED.free, occupied = EXCLUDED.occupied,
	    status = EXCLUDED.status, seq = EXCLUDED.seq, format = EXCLUDED.format
	WHERE s.observed_at < EXCLUDED.observed_at;

	RETURN n;
END
$$;
COMMENT ON FUNCTION parking.ingest_occupancy(text[], bigint[], bigint[], integer[], integer[],
					     integer[], text[], bigint[], text[]) IS
	'Daemon interface: store a batch of occupancy observations (parallel arrays, times in '
	'microseconds since the epoch); registers and connects lots; returns rows newly stored';

CREATE FUNCTION parking.ingest_status(p_lot_id text[], p_received_us bigint[], p_online boolean[],
				      p_system text[], p_version text[], p_protocol text[],
				      p_compliant boolean[])
RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, parking, pg_temp AS $$
BEGIN
	INSERT INTO parking.lots (lot_id, registered, stage)
	SELECT DISTINCT u.lot_id, false, 'planned'::parking.stage
	FROM unnest(p_lot_id) AS u(lot_id)
	WHERE NOT EXISTS (SELECT 1 FROM parking.lots x WHERE x.lot_id = u.lot_id)
	ORDER BY 1
	ON CONFLICT (lot_id) DO NOTHING;

	-- Per lot, what the messages newer than the last applied one report, the newest value of
	-- each field winning; NULL = not reported, keep what we have.
	WITH u AS (
		SELECT u.lot_id, timestamptz 'epoch' + u.rec * interval '1 microsecond' AS at,
		       u.online, u.system, u.version, u.protocol
		FROM unnest(p_lot_id, p_received_us, p_online, p_system, p_version, p_protocol)
		     AS u(lot_id, rec, online, system, version, protocol)
	), newest AS (
		SELECT u.lot_id, max(u.at) AS at,
		       (array_agg(u.online ORDER BY u.at DESC) FILTER (WHERE u.online IS NOT NULL))[1]
			       AS online,
		       (array_agg(u.system ORDER BY u.at DESC) FILTER (WHERE u.system IS NOT NULL))[1]
			       AS system,
		       (array_agg(u.version ORDER BY u.at DESC) FILTER (WHERE u.version IS NOT NULL))[1]
			       AS version,
		       (array_agg(u.protocol ORDER BY u.at DESC)
			FILTER (WHERE u.protocol IS NOT NULL))[1] AS protocol
		FROM u JOIN parking.lots l ON l.lot_id = u.lot_id
		WHERE l.status_at IS NULL OR u.at > l.status_at
		GROUP BY u.lot_id
	)
	UPDATE parking.lots l
	SET status_at = n.at,
	    online = coalesce(n.online, l.online),
	    system = coalesce(n.system, l.system),
	    version = coalesce(n.version, l.version),
	    protocol = coalesce(n.protocol, l.protocol),
	    updated_at = now()
	FROM newest n
	WHERE l.lot_id = n.lot_id AND (l.status_at IS NULL OR l.status_at < n.at);

	-- A compliant protocol means the lot's system has been upgraded.
	WITH first AS (
		SELECT DISTINCT ON (u.lot_id) u.lot_id,
		       timestamptz 'epoch' + u.rec * interval '1 microsecond' AS at, u.protocol
		FROM unnest(p_lot_id, p_received_us, p_protocol, p_compliant)
		     AS u(lot_id, rec, protocol, compliant)
		WHERE u.compliant
		ORDER BY u.lot_id, u.rec
	), due AS (
		SELECT l.lot_id, l.stage AS old_stage, f.at, f.protocol
		FROM parking.lots l JOIN first f ON f.lot_id = l.lot_id
		WHERE l.stage < 'upgraded'
		ORDER BY l.lot_id
		FOR UPDATE OF l
	), moved AS (
		UPDATE parking.lots l
		SET stage = 'upgraded', stage_at = due.at, upgraded_at = due.at, updated_at = now()
		FROM due
		WHERE l.lot_id = due.lot_id AND l.stage < 'upgraded'
		RETURNING l.lot_id, due.old_stage, due.at, due.protocol
	)
	INSERT INTO parking.stage_history (lot_id, from_stage, stage, at, actor, note)
	SELECT lot_id, old_stage, 'upgraded', at, 'parkfeedd',
	       'status reports protocol ' || coalesce(protocol, '(unnamed)')
	FROM moved;
END
$$;
COMMENT ON FUNCTION parking.ingest_status(text[], bigint[], boolean[], text[], text[], text[],
					  boolean[]) IS
	'Daemon interface: apply a batch of controller status messages (per lot and field the newest '
	'reported value wins; NULL = not reported); a compliant protocol moves the lot to upgraded';

CREATE FUNCTION parking.ingest_rejected(p_received_us bigint[], p_topic text[], p_lot_id text[],
					p_reason text[], p_detail text[], p_payload bytea[],
					p_payload_len integer[])
RETURNS integer
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, parking, pg_temp AS $$
DECLARE
	n integer;
BEGIN
	INSERT INTO parking.rejected (received_at, topic, lot_id, reason, detail, payload,
				      payload_len)
	SELECT timestamptz 'epoch' + u.rec * interval '1 microsecond', u.topic,
	       nullif(u.lot_id, ''), u.reason, u.detail, u.payload, u.payload_len
	FROM unnest(p_received_us, p_topic, p_lot_id, p_reason, p_detail, p_payload, p_payload_len)
	     AS u(rec, topic, lot_id, reason, detail, payload, payload_len)
	ON CONFLICT (received_at, topic, md5(payload)) DO NOTHING;
	GET DIAGNOSTICS n = ROW_COUNT;
	RETURN n;
END
$$;
COMMENT ON FUNCTION parking.ingest_rejected(bigint[], text[], text[], text[], text[], bytea[],
					    integer[]) IS
	'Daemon interface: store a batch of rejected messages (a replayed reject is stored once); '
	'returns rows newly stored';

-- ---------------------------------------------------------------------------------------------
-- Operator interface (audited)
-- ---------------------------------------------------------------------------------------------

CREATE FUNCTION parking.set_stage(p_lot_id text, p_stage parking.stage, p_at timestamptz,
				  p_actor text, p_note text, p_force boolean DEFAULT false)
RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, parking, pg_temp AS $$
DECLARE
	cur parking.stage;
	at  timestamptz := coalesce(p_at, now());
BEGIN
	IF coalesce(p_actor, '') = '' THEN
		RAISE EXCEPTION 'set_stage: an actor is required';
	END IF;
	SELECT stage INTO cur FROM parking.lots WHERE lot_id = p_lot_id FOR UPDATE;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'no lot % in the registry', p_lot_id
			USING HINT = 'import it first (parkfeedctl lots import)';
	END IF;
	IF p_force AND coalesce(btrim(p_note), '') = '' THEN
		RAISE EXCEPTION 'a forced stage change needs a note saying why'
			USING HINT = 'pass --note TEXT';
	END IF;
	IF p_stage = cur THEN
		RAISE EXCEPTION 'lot % is already %', p_lot_id, cur;
	END IF;
	IF NOT p_force AND array_position(enum_range(NULL::parking.stage), p_stage)
			   <> array_position(enum_range(NULL::parking.stage), cur) + 1 THEN
		RAISE EXCEPTION 'lot % is %: moving it to % is not one step forward', p_lot_id, cur,
			p_stage USING HINT = 'use --force with a --note saying why';
	END IF;
	UPDATE parking.lots
	SET stage = p_stage, stage_at = at, updated_at = now(),
	    -- the stage's own time; stages now ahead of the lot are undone
	    upgraded_at = CASE WHEN p_stage = 'upgraded' THEN at
			       WHEN p_stage < 'upgraded' THEN NULL ELSE upgraded_at END,
	    connected_at = CASE WHEN p_stage = 'connected' THEN at
				WHEN p_stage = 'accepted' THEN coalesce(connected_at, at)
				ELSE NULL END,
	    accepted_at = CASE WHEN p_stage = 'accepted' THEN at ELSE NULL END
	WHERE lot_id = p_lot_id;
	INSERT INTO parking.stage_history (lot_id, from_stage, stage, at, actor, note)
	VALUES (p_lot_id, cur, p_stage, at,
		p_actor, CASE WHEN p_force THEN '[forced] ' ELSE '' END || coalesce(p_note, ''));
END
$$;
COMMENT ON FUNCTION parking.set_stage(text, parking.stage, timestamptz, text, text, boolean) IS
	'Operator interface: move a lot one stage forward (or anywhere with force and a note); audited in stage_history';

CREATE FUNCTION parking.set_target(p_year integer, p_district text, p_target integer,
				   p_actor text)
RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, parking, pg_temp AS $$
DECLARE
	old integer;
BEGIN
	IF coalesce(p_actor, '') = '' THEN
		RAISE EXCEPTION 'set_target: an actor is required';
	END IF;
	SELECT target INTO old FROM parking.district_targets
	WHERE year = p_year AND district = p_district FOR UPDATE;
	INSERT INTO parking.district_targets (year, district, target)
	VALUES (p_year, p_district, p_target)
	ON CONFLICT (year, district) DO UPDATE SET target = EXCLUDED.target;
	INSERT INTO parking.target_history (year, district, old_target, target, actor)
	VALUES (p_year, p_district, old, p_target, p_actor);
END
$$;
COMMENT ON FUNCTION parking.set_target(integer, text, integer, text) IS
	'Operator interface: set a district''s target for a year; audited in target_history';

-- Import (parkfeedctl lots import): upsert the registry; a row with a stage brings over the
-- old ledger's history, but never moves a lot backwards (use set_stage with force for that).
-- Returns (inserted, updated, stage_changes, stage_kept).
CREATE FUNCTION parking.import_lots(p_lot_id text[], p_name text[], p_district text[],
				    p_spaces integer[], p_deadline date[], p_stage parking.stage[],
				    p_stage_at timestamptz[], p_actor text,
				    OUT inserted integer, OUT updated integer,
				    OUT stage_changes integer, OUT stage_kept integer)
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, parking, pg_temp AS $$
BEGIN
	CREATE TEMP TABLE import_batch ON COMMIT DROP AS
	SELECT u.lot_id, nullif(btrim(u.name), '') AS name, nullif(btrim(u.district), '') AS district,
	       u.spaces, u.deadline, u.stage, u.stage_at, l.stage AS old_stage, l.lot_id IS NULL AS new
	FROM unnest(p_lot_id, p_name, p_district, p_spaces, p_deadline, p_stage, p_stage_at)
	     AS u(lot_id, name, district, spaces, deadline, stage, stage_at)
	LEFT JOIN parking.lots l ON l.lot_id = u.lot_id;

	IF (SELECT count(DISTINCT lot_id) <> count(*) FROM import_batch) THEN
		RAISE EXCEPTION 'import: duplicate lot_id in the batch';
	END IF;

	SELECT count(*) FILTER (WHERE new), count(*) FILTER (WHERE NOT new)
	INTO inserted, updated FROM import_batch;

	INSERT INTO parking.lots AS l (lot_id, name, district, spaces, deadline, registered)
	SELECT lot_id, name, district, spaces, deadline, true FROM import_batch ORDER BY lot_id
	ON CONFLICT (lot_id) DO UPDATE
	SET name = EXCLUDED.name, district = EXCLUDED.district, spaces = EXCLUDED.spaces,
	    deadline = EXCLUDED.deadline, registered = true, updated_at = now()
	WHERE (l.name, l.district, l.spaces, l.deadline, l.registered)
	      IS DISTINCT FROM (EXCLUDED.name, EXCLUDED.district, EXCLUDED.spaces, EXCLUDED.deadline,
				true);

	SELECT count(*) FILTER (WHERE NOT new AND stage < old_stage) INTO stage_kept
	FROM import_batch WHERE stage IS NOT NULL;

	WITH due AS (
		SELECT b.lot_id, l.stage AS old_stage, b.stage, coalesce(b.stage_at, now()) AS at
		FROM import_batch b JOIN parking.lots l ON l.lot_id = b.lot_id
		WHERE b.stage IS NOT NULL AND b.stage > l.stage
	), moved AS (
		UPDATE parking.lots l
		SET stage = due.stage, stage_at = due.at, updated_at = now(),
		    upgraded_at = CASE WHEN due.stage = 'upgraded' THEN due.at ELSE l.upgraded_at END,
		    connected_at = CASE WHEN due.stage = 'connected' THEN due.at
					WHEN due.stage = 'accepted' THEN coalesce(l.connected_at, due.at)
					ELSE l.connected_at END,
		    accepted_at = CASE WHEN due.stage = 'accepted' THEN due.at ELSE l.accepted_at END
		FROM due
		WHERE l.lot_id = due.lot_id
		RETURNING l.lot_id, due.old_stage, due.stage, due.at
	)
	INSERT INTO parking.stage_history (lot_id, from_stage, stage, at, actor, note)
	SELECT lot_id, old_stage, stage, at, 'import',
	       'imported by ' || p_actor
	FROM moved;
	GET DIAGNOSTICS stage_changes = ROW_COUNT;

	DROP TABLE import_batch;
END
$$;
COMMENT ON FUNCTION parking.import_lots(text[], text[], text[], integer[], date[],
				       parking.stage[], timestamptz[], text) IS
	'Operator interface: register or update lots from a ledger; stages only move forward, '
	'each change audited in stage_history with actor import';

-- Keep updated_at honest for direct column updates by operators (parkfeedctl lots set).
CREATE FUNCTION parking.touch_updated_at() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, parking, pg_temp AS $$
BEGIN
	NEW.updated_at := now();
	RETURN NEW;
END
$$;
COMMENT ON FUNCTION parking.touch_updated_at() IS 'Trigger: set updated_at on every update of a lot';
CREATE TRIGGER lots_touch BEFORE UPDATE ON parking.lots
	FOR EACH ROW EXECUTE FUNCTION parking.touch_updated_at();

-- ---------------------------------------------------------------------------------------------
-- Questions operators ask (views)
-- ---------------------------------------------------------------------------------------------

-- online: heard from within 3x the promised interval; stale: within 10x; offline: longer, never,
-- or the controller's newest status (newer than its newest data) said offline.
CREATE FUNCTION parking.freshness(p_received_at timestamptz, p_interval_s integer,
				  p_online boolean, p_status_at timestamptz)
RETURNS text
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
	SELECT CASE
		WHEN p_received_at IS NULL THEN 'offline'
		WHEN p_online = false AND p_status_at >= p_received_at THEN 'offline'
		WHEN p_received_at >= now() - 3 * p_interval_s * interval '1 second' THEN 'online'
		WHEN p_received_at >= now() - 10 * p_interval_s * interval '1 second' THEN 'stale'
		ELSE 'offline'
	END
$$;
COMMENT ON FUNCTION parking.freshness(timestamptz, integer, boolean, timestamptz) IS
	'online (heard within 3x the expected interval), stale (within 10x) or offline';

CREATE VIEW parking.lot_availability AS
SELECT l.lot_id, l.district, l.name, s.free, s.total, s.occupied,
       CASE WHEN s.total > 0
	    THEN round(100.0 * coalesce(s.occupied, s.total - s.free) / s.total, 2) END
	       AS occupancy_pct,
       s.status, s.observed_at, s.received_at,
       parking.freshness(s.received_at, l.expected_interval_s, l.online, l.status_at) AS freshness
FROM parking.lots l
JOIN parking.lot_state s ON s.lot_id = l.lot_id;
COMMENT ON VIEW parking.lot_availability IS
	'How many spaces are free at each lot right now, and can the number be trusted?';
COMMENT ON COLUMN parking.lot_availability.free IS 'Free spaces at the last observation';
COMMENT ON COLUMN parking.lot_availability.total IS 'Spaces in service at the last observation';
COMMENT ON COLUMN parking.lot_availability.occupied IS 'Occupied spaces at the last observation';
COMMENT ON COLUMN parking.lot_availability.status IS 'open, closed, full, or NULL if not reported';
COMMENT ON COLUMN parking.lot_availability.occupancy_pct IS 'Occupied / total, percent (NULL if total is 0)';
COMMENT ON COLUMN parking.lot_availability.observed_at IS 'When the controller counted';
COMMENT ON COLUMN parking.lot_availability.received_at IS 'When parkfeed received it';
COMMENT ON COLUMN parking.lot_availability.freshness IS
	'online (heard within 3x expected_interval_s), stale (within 10x) or offline';

CREATE VIEW parking.district_availability AS
SELECT a.district,
       count(*) AS lots_reporting,
       count(*) FILTER (WHERE a.freshness = 'online') AS lots_online,
       sum(a.free) FILTER (WHERE a.freshness = 'online') AS free,
       sum(a.total) FILTER (WHERE a.freshness = 'online') AS total,
       CASE WHEN sum(a.total) FILTER (WHERE a.freshness = 'online') > 0
	    THEN round(100.0 * sum(coalesce(a.occupied, a.total - a.free))
			       FILTER (WHERE a.freshness = 'online')
		       / sum(a.total) FILTER (WHERE a.freshness = 'online'), 2) END AS occupancy_pct
FROM parking.lot_availability a
GROUP BY a.district;
COMMENT ON VIEW parking.district_availability IS
	'How many spaces are free in each district right now (counting only lots whose data is fresh)?';
COMMENT ON COLUMN parking.district_availability.district IS 'District (NULL = lots of unknown district)';
COMMENT ON COLUMN parking.district_availability.lots_reporting IS 'Lots that have ever reported';
COMMENT ON COLUMN parking.district_availability.lots_online IS 'Lots whose data is fresh (online)';
COMMENT ON COLUMN parking.district_availability.free IS 'Free spaces in online lots';
COMMENT ON COLUMN parking.district_availability.total IS 'Spaces in service in online lots';
COMMENT ON COLUMN parking.district_availability.occupancy_pct IS 'Occupied / total in online lots, percent';

-- The ledger (台账) of one year as of the end of one day (Asia/Shanghai). A district without an
-- explicit target counts its lots due that year, if any. Completed counts are cumulative.
-- Ranks: competition ranks; the rate rank is on the rate capped at 100%, as printed (2 decimals).
CREATE FUNCTION parking.progress(p_year integer, p_as_of date)
RETURNS TABLE (district text, target integer, completed integer, completed_rank integer,
	       rate numeric, rate_rank integer, overdue integer)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, parking, pg_temp AS $$
	WITH cutoff AS (
		SELECT ((p_as_of + 1)::timestamp AT TIME ZONE 'Asia/Shanghai') AS t
	), targets AS (
		SELECT d.district, d.target FROM parking.district_targets d WHERE d.year = p_year
		UNION ALL
		SELECT l.district, count(*)::integer FROM parking.lots l
		WHERE l.district IS NOT NULL AND extract(year FROM l.deadline) = p_year
		  AND NOT EXISTS (SELECT 1 FROM parking.district_targets d
				  WHERE d.year = p_year AND d.district = l.district)
		GROUP BY l.district
	), counts AS (
		SELECT l.district,
		       count(*) FILTER (WHERE l.stage >= 'connected'
					AND coalesce(l.connected_at, l.accepted_at) < c.t)::integer
			       AS completed,
		       count(*) FILTER (WHERE l.deadline < p_as_of
					AND NOT (l.stage >= 'connected'
						 AND coalesce(l.connected_at, l.accepted_at) < c.t)
						 IS TRUE)::integer AS overdue
		FROM parking.lots l CROSS JOIN cutoff c
		WHERE l.district IS NOT NULL
		GROUP BY l.district
	), rows AS (
		SELECT t.district, t.target, coalesce(n.completed, 0) AS completed,
		       coalesce(n.overdue, 0) AS overdue,
		       CASE WHEN t.target > 0
			    THEN round(100.0 * coalesce(n.completed, 0) / t.target, 2) END AS rate
		FROM targets t LEFT JOIN counts n ON n.district = t.district
	)
	SELECT r.district, r.target, r.completed,
	       (rank() OVER (ORDER BY r.completed DESC))::integer,
	       r.rate,
	       (rank() OVER (ORDER BY least(r.rate, 100) DESC NULLS LAST))::integer,
	       r.overdue
	FROM rows r
	ORDER BY 4, r.district COLLATE "C"
$$;
COMMENT ON FUNCTION parking.progress(integer, date) IS
	'The ledger: per district, the year''s target, lots connected (cumulative) by the end of the '
	'as-of day (Asia/Shanghai), ranks, rate (percent) and overdue lots';

CREATE VIEW parking.district_progress AS
SELECT p.* FROM parking.progress(extract(year FROM now() AT TIME ZONE 'Asia/Shanghai')::integer,
				 (now() AT TIME ZONE 'Asia/Shanghai')::date) AS p;
COMMENT ON VIEW parking.district_progress IS
	'How far is each district with this year''s target of connected lots (as of today)?';
COMMENT ON COLUMN parking.district_progress.district IS 'County, city or district (县、市、区)';
COMMENT ON COLUMN parking.district_progress.target IS 'The year''s target (全年任务目标)';
COMMENT ON COLUMN parking.district_progress.completed IS 'Lots connected so far, cumulative (完成数)';
COMMENT ON COLUMN parking.district_progress.completed_rank IS 'Competition rank by completed (完成情况排名)';
COMMENT ON COLUMN parking.district_progress.rate IS 'completed / target, percent, 2 decimals (完成率); NULL if target is 0';
COMMENT ON COLUMN parking.district_progress.rate_rank IS 'Competition rank by rate capped at 100% (完成率排名)';
COMMENT ON COLUMN parking.district_progress.overdue IS 'Lots past their deadline and not connected';

CREATE VIEW parking.overdue_lots AS
SELECT l.lot_id, l.district, l.name, l.deadline, l.stage, l.stage_at,
       (now() AT TIME ZONE 'Asia/Shanghai')::date - l.deadline AS days_overdue
FROM parking.lots l
WHERE l.deadline < (now() AT TIME ZONE 'Asia/Shanghai')::date AND l.stage < 'connected';
COMMENT ON VIEW parking.overdue_lots IS
	'Which lots are past their deadline and still not connected?';
COMMENT ON COLUMN parking.overdue_lots.deadline IS 'Date by which the lot had to be connected';
COMMENT ON COLUMN parking.overdue_lots.stage IS 'Where the lot is now';
COMMENT ON COLUMN parking.overdue_lots.days_overdue IS 'Days since the deadline (Asia/Shanghai)';

CREATE VIEW parking.silent_lots AS
SELECT l.lot_id, l.district, l.name, l.stage, l.connected_at, s.received_at AS last_heard,
       parking.freshness(s.received_at, l.expected_interval_s, l.online, l.status_at) AS freshness
FROM parking.lots l
LEFT JOIN parking.lot_state s ON s.lot_id = l.lot_id
WHERE l.stage >= 'connected'
  AND parking.freshness(s.received_at, l.expected_interval_s, l.online, l.status_at) <> 'online';
COMMENT ON VIEW parking.silent_lots IS
	'Which connected lots have stopped sending data (stale or offline)?';
COMMENT ON COLUMN parking.silent_lots.last_heard IS 'When the last observation was received (NULL: never)';
COMMENT ON COLUMN parking.silent_lots.freshness IS 'stale (over 3x the expected interval) or offline (over 10x, or said so)';

-- ---------------------------------------------------------------------------------------------
-- Privileges
-- ---------------------------------------------------------------------------------------------

REVOKE ALL ON ALL FUNCTIONS IN SCHEMA parking FROM PUBLIC;
REVOKE ALL ON ALL TABLES IN SCHEMA parking FROM PUBLIC;
ALTER DEFAULT PRIVILEGES FOR ROLE parkfeed_owner IN SCHEMA parking
	REVOKE EXECUTE ON FUNCTIONS FROM PUBLIC;

GRANT EXECUTE ON FUNCTION
	parking.ingest_occupancy(text[], bigint[], bigint[], integer[], integer[], integer[],
				 text[], bigint[], text[]),
	parking.ingest_status(text[], bigint[], boolean[], text[], text[], text[], boolean[]),
	parking.ingest_rejected(bigint[], text[], text[], text[], text[], bytea[], integer[])
	TO parkfeed_ingest;

GRANT SELECT ON ALL TABLES IN SCHEMA parking TO parkfeed_operator;
ALTER DEFAULT PRIVILEGES FOR ROLE parkfeed_owner IN SCHEMA parking
	GRANT SELECT ON TABLES TO parkfeed_operator;
GRANT UPDATE (name, district, address, spaces, location, deadline, expected_interval_s)
	ON parking.lots TO parkfeed_operator;
GRANT EXECUTE ON FUNCTION
	parking.set_stage(text, parking.stage, timestamptz, text, text, boolean),
	parking.set_target(integer, text, integer, text),
	parking.import_lots(text[], text[], text[], integer[], date[], parking.stage[],
			    timestamptz[], text),
	parking.progress(integer, date),
	parking.freshness(timestamptz, integer, boolean, timestamptz)
	TO parkfeed_operator;

GRANT SELECT ON parking.lot_availability, parking.district_availability,
	parking.district_progress, parking.overdue_lots, parking.silent_lots TO parkfeed_reader;
GRANT EXECUTE ON FUNCTION parking.progress(integer, date),
	parking.freshness(timestamptz, integer, boolean, timestamptz) TO parkfeed_reader;

-- Partitions from two months back to three ahead; maintain keeps the window moving.
SELECT count(*) FROM parking.maintain_partitions(2, 3);

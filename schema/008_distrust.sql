-- 008_distrust: the ingest functions distrust their caller; registry changes are audited;
-- functions created later are not executable by PUBLIC.
--
-- The threat is a stolen parkfeed_ingest login (or a daemon host taken over). Until now the
-- ingest functions took every time from their caller: one call with an observation of year
-- 9999 pinned a lot's live state for good, a receive time in the future kept a lot "online"
-- for ever, and a backdated receive time moved a lot's connected_at, and so the ledger's
-- ranks, into the past. Now, against the database's own clock (now()):
--   * an observation more than ingest_limits.max_future_s ahead is refused: stored in
--     parking.rejected as future_ts (one row per lot and batch, counting the rest) and counted;
--   * a receive time more than a minute ahead is set to now() (the daemon's and the database's
--     clocks agree far better than that when both run NTP); counted and warned about;
--   * a stage reached by ingest (connected, upgraded) is dated no earlier than
--     max_backlog_hours ago (the longest a message may legitimately wait in a daemon's spool
--     for the database) and connected_at no earlier than the lot's registration;
--   * controller text a caller passes (status strings, reject details) loses its control
--     characters, as the daemon's normalizer already replaces them;
--   * with ingest_limits.max_per_lot_minute set, observations of one lot beyond that many in
--     a minute of observation time are refused as rate_limited (opt-in: 0 = off).
-- Every refusal and correction raises a WARNING with SQLSTATE 01PF2, which parkfeedd logs.
-- The daemon's normal path is unchanged: it never sends such times.
--
-- Registry changes: a trigger on parking.lots writes every change of name, district,
-- address, spaces, position, deadline or expected interval into parking.lot_history, direct
-- UPDATEs by operators included, with the actor parkfeedctl names (the transaction-local
-- setting parkfeed.actor) or else the login, and the login itself (session_user).
--
-- Run by `parkfeedctl migrate` in one transaction under the migration advisory lock, once per
-- database (recorded in parking.schema_migrations by the caller).

SET LOCAL ROLE parkfeed_owner;
SET LOCAL search_path = pg_catalog, parking;

-- ---------------------------------------------------------------------------------------------
-- Default privileges that revoke: 001's "IN SCHEMA parking REVOKE EXECUTE" could only subtract
-- from that schema's own entry, which grants nothing, so it did nothing. Only the global entry
-- for the role removes PUBLIC's EXECUTE from functions parkfeed_owner creates from now on.
-- ---------------------------------------------------------------------------------------------

ALTER DEFAULT PRIVILEGES FOR ROLE parkfeed_owner REVOKE EXECUTE ON FUNCTIONS FROM PUBLIC;
REVOKE EXECUTE ON ALL FUNCTIONS IN SCHEMA parking FROM PUBLIC;

-- ---------------------------------------------------------------------------------------------
-- The bounds, with the lot caps of 004 (one row; parkfeedctl limits set changes them)
-- ---------------------------------------------------------------------------------------------

ALTER TABLE parking.ingest_limits
	ADD COLUMN max_future_s integer NOT NULL DEFAULT 600
		CHECK (max_future_s BETWEEN 0 AND 604800),
	ADD COLUMN max_backlog_hours integer NOT NULL DEFAULT 168
		CHECK (max_backlog_hours BETWEEN 1 AND 87600),
	ADD COLUMN max_per_lot_minute integer NOT NULL DEFAULT 0
		CHECK (max_per_lot_minute BETWEEN 0 AND 60000),
	ADD COLUMN refused_future bigint NOT NULL DEFAULT 0,
	ADD COLUMN refused_rate bigint NOT NULL DEFAULT 0,
	ADD COLUMN corrected_times bigint NOT NULL DEFAULT 0;
COMMENT ON COLUMN parking.ingest_limits.max_future_s IS
	'Seconds an observation may lie ahead of the database''s clock; later ones are refused '
	'(future_ts). At least the daemon''s [ingest] clock_skew plus the clocks'' difference';
COMMENT ON COLUMN parking.ingest_limits.max_backlog_hours IS
	'Longest a message may wait in a daemon''s spool: stages reached by ingest are dated no '
	'earlier than this many hours before the database''s clock';
COMMENT ON COLUMN parking.ingest_limits.max_per_lot_minute IS
	'Most observations of one lot stored per minute of observation time; the rest are '
	'refused (rate_limited). 0 = no limit';
COMMENT ON COLUMN parking.ingest_limits.refused_future IS
	'Observations refused by max_future_s since 008 was applied';
COMMENT ON COLUMN parking.ingest_limits.refused_rate IS
	'Observations refused by max_per_lot_minute since 008 was applied';
COMMENT ON COLUMN parking.ingest_limits.corrected_times IS
	'Receive times more than a minute ahead of the database''s clock, set to it';

CREATE FUNCTION parking.set_ingest_bounds(p_max_future_s integer, p_max_backlog_hours integer,
					  p_max_per_lot_minute integer, p_actor text)
RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, parking, pg_temp AS $$
BEGIN
	UPDATE parking.ingest_limits
	SET max_future_s = coalesce(p_max_future_s, max_future_s),
	    max_backlog_hours = coalesce(p_max_backlog_hours, max_backlog_hours),
	    max_per_lot_minute = coalesce(p_max_per_lot_minute, max_per_lot_minute),
	    changed_at = now(),
	    changed_by = coalesce(nullif(p_actor, ''), session_user) || ' (' || session_user || ')';
END
$$;
COMMENT ON FUNCTION parking.set_ingest_bounds(integer, integer, integer, text) IS
	'Operator interface: change max_future_s, max_backlog_hours and max_per_lot_minute of '
	'parking.ingest_limits (NULL keeps a value; the table''s checks bound them)';

-- ---------------------------------------------------------------------------------------------
-- Pieces of the ingest functions
-- ---------------------------------------------------------------------------------------------

-- The daemon's normalizer replaces these characters in controller text; a caller that is not
-- the daemon gets the same treatment here.
CREATE FUNCTION parking.clean_text(p_text text) RETURNS text
LANGUAGE sql IMMUTABLE STRICT SET search_path = pg_catalog, pg_temp AS $$
	SELECT regexp_replace(p_text, '[\x01-\x1f\x7f-\x9f]', '?', 'g')
$$;
COMMENT ON FUNCTION parking.clean_text(text) IS
	'Part of the ingest functions: control characters (C0, DEL, C1) replaced by ?, as the '
	'daemon does, so that no caller can store text that drives a terminal';

CREATE FUNCTION parking.now_us() RETURNS bigint
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
	SELECT (extract(epoch FROM now()) * 1000000)::bigint
$$;
COMMENT ON FUNCTION parking.now_us() IS
	'Part of the ingest functions: the transaction''s time in microseconds since the epoch';

-- Details name times as the daemon's do, in UTC, whatever the session's TimeZone.
CREATE FUNCTION parking.utc_text(p_us bigint) RETURNS text
LANGUAGE sql STABLE STRICT SET search_path = pg_catalog, pg_temp AS $$
	SELECT to_char((timestamptz 'epoch' + p_us * interval '1 microsecond') AT TIME ZONE 'UTC',
		       'YYYY-MM-DD"T"HH24:MI:SS') || CASE WHEN p_us % 1000000 = 0 THEN ''
		       ELSE '.' || lpad((p_us % 1000000)::text, 6, '0') END || 'Z'
$$;
COMMENT ON FUNCTION parking.utc_text(bigint) IS
	'Part of the ingest functions: microseconds since the epoch as RFC 3339 UTC, for details';

-- Receive times more than a minute ahead of the database's clock become the clock's time.
CREATE FUNCTION parking.bound_received(p_received_us bigint[]) RETURNS bigint[]
LANGUAGE plpgsql SET search_path = pg_catalog, parking, pg_temp AS $$
DECLARE
	now_us bigint := parking.now_us();
	n      bigint;
	worst  bigint;
BEGIN
	SELECT count(*), max(r) - now_us INTO n, worst
	FROM unnest(p_received_us) AS r WHERE r > now_us + 60000000;
	IF n = 0 THEN
		RETURN p_received_us;
	END IF;
	UPDATE parking.ingest_limits SET corrected_times = corrected_times + n;
	RAISE WARNING 'distrust: % receive time(s) up to % s ahead of the database''s clock were '
		      'set to it', n, worst / 1000000
		USING ERRCODE = '01PF2',
		      HINT = 'check the clocks (NTP) of the daemon''s host and the database''s; '
			     'if they agree, the caller is not the daemon';
	RETURN (SELECT array_agg(CASE WHEN u.r > now_us + 60000000 THEN now_us ELSE u.r END
				 ORDER BY u.i)
		FROM unnest(p_received_us) WITH ORDINALITY AS u(r, i));
END
$$;
COMMENT ON FUNCTION parking.bound_received(bigint[]) IS
	'Part of the ingest functions: receive times more than a minute ahead of the database''s '
	'clock set to it (counted in ingest_limits.corrected_times, warned with SQLSTATE 01PF2)';

-- Of a batch of observations, why each one is refused (NULL: taken): ahead of the clock by
-- more than max_future_s, or (with max_per_lot_minute) a new observation past the cap of its
-- lot's minute. Observations already stored are not new and pass (a redelivery stays
-- idempotent); they are looked up only in minutes the batch could take over the cap. The cap
-- counts under a per-lot advisory lock, so several daemons writing one lot at once still hold
-- it exactly.
CREATE FUNCTION parking.refusal_reasons(p_lot_id text[], p_observed_us bigint[],
					 lim parking.ingest_limits)
RETURNS text[]
LANGUAGE plpgsql SET search_path = pg_catalog, parking, pg_temp AS $$
DECLARE
	horizon bigint := parking.now_us() + lim.max_future_s * 1000000::bigint;
	cap     integer := lim.max_per_lot_minute;
	why     text[];
	lot     text;
BEGIN
	IF (SELECT max(o) FROM unnest(p_observed_us) AS o) <= horizon AND cap = 0 THEN
		RETURN NULL;
	END IF;
	-- one lot after the other in one order: two batches never wait for each other in a circle
	FOR lot IN SELECT DISTINCT u.l COLLATE "C" FROM unnest(p_lot_id) AS u(l)
		   WHERE cap > 0 ORDER BY 1 LOOP
		PERFORM pg_advisory_xact_lock(hashtext('parkfeed.rate:' || lot));
	END LOOP;
	WITH b AS MATERIALIZED (  -- unnest in the select list streams (see 005)
		SELECT x.lot_id, x.obs, x.i,
		       x.obs - ((x.obs % 60000000) + 60000000) % 60000000 AS minute,
		       x.obs > horizon AS future
		FROM (SELECT unnest(p_lot_id) AS lot_id, unnest(p_observed_us) AS obs,
			     generate_subscripts(p_observed_us, 1) AS i) AS x
	), tight AS MATERIALIZED (  -- minutes that may go over the cap: stored + offered > cap
		SELECT m.lot_id, m.minute, s.stored
		FROM (SELECT b.lot_id, b.minute, count(*) AS offered
		      FROM b WHERE cap > 0 AND NOT b.future GROUP BY b.lot_id, b.minute) AS m
		CROSS JOIN LATERAL (
			SELECT count(*) AS stored FROM parking.occupancy o
			WHERE o.lot_id = m.lot_id
			  AND o.observed_at >= timestamptz 'epoch' + m.minute * interval '1 microsecond'
			  AND o.observed_at < timestamptz 'epoch' + (m.minute + 60000000)
					   * interval '1 microsecond') AS s
		WHERE s.stored + m.offered > cap
	), fresh AS (        -- their new observations, each (lot, time) once
		SELECT DISTINCT ON (b.lot_id, b.obs) b.lot_id, b.obs, b.minute, t.stored
		FROM b JOIN tight t USING (lot_id, minute)
		WHERE NOT b.future
		  AND NOT EXISTS (SELECT 1 FROM parking.occupancy o
				  WHERE o.lot_id = b.lot_id
				    AND o.observed_at = timestamptz 'epoch' + b.obs * interval '1 microsecond')
		ORDER BY b.lot_id, b.obs
	), over AS (
		SELECT f.lot_id, f.obs
		FROM (SELECT fresh.*, row_number() OVER (PARTITION BY lot_id, minute ORDER BY obs) AS k
		      FROM fresh) AS f
		WHERE f.stored + f.k > cap
	)
	SELECT array_agg(CASE
		WHEN b.future THEN
			format('observed_at %s is %s s ahead of the database''s clock; the ingest '
			       'functions take at most max_future_s = %s (parkfeedctl limits)',
			       parking.utc_text(b.obs),
			       (b.obs - horizon) / 1000000 + lim.max_future_s, lim.max_future_s)
		WHEN v.lot_id IS NOT NULL THEN
			format('more than max_per_lot_minute = %s observations of lot %s in the minute '
			       'from %s (parkfeedctl limits)', cap, b.lot_id, parking.utc_text(b.minute))
		END ORDER BY b.i)
	INTO why
	FROM b LEFT JOIN over v ON v.lot_id = b.lot_id AND v.obs = b.obs;
	RETURN why;
END
$$;
COMMENT ON FUNCTION parking.refusal_reasons(text[], bigint[], parking.ingest_limits) IS
	'Part of ingest_occupancy: per observation of a batch, why it is refused (max_future_s, '
	'max_per_lot_minute) or NULL';

-- Store the refused observations of a batch: per reason and lot its newest one, saying how
-- many it stands for (as 004 stores lot_limit refusals), counted in ingest_limits and warned.
CREATE FUNCTION parking.store_refused_observations(p_why text[], p_lot_id text[],
						   p_observed_us bigint[], p_received_us bigint[],
						   p_total integer[], p_free integer[],
						   p_occupied integer[], p_status text[],
						   p_seq bigint[], p_format text[])
RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, parking, pg_temp AS $$
DECLARE
	prefix   text := coalesce(nullif(current_setting('parkfeed.topic_prefix', true), ''),
				  'parking');
	n_future bigint;
	n_rate   bigint;
	first    text;
BEGIN
	WITH r AS (
		SELECT parking.clean_text(u.lot_id) AS lot_id, u.obs, u.rec, u.why,
		       CASE WHEN u.why LIKE 'observed_at %' THEN 'future_ts' ELSE 'rate_limited' END
			       AS reason,
		       json_build_object(
			       'lot_id', u.lot_id,
			       'observed_at', timestamptz 'epoch' + u.obs * interval '1 microsecond',
			       'total', u.total, 'free', u.free, 'occupied', u.occupied,
			       'status', u.status, 'seq', u.seq, 'format', u.format)::text AS payload
		FROM unnest(p_why, p_lot_id, p_observed_us, p_received_us, p_total, p_free,
			    p_occupied, p_status, p_seq, p_format)
		     AS u(why, lot_id, obs, rec, total, free, occupied, status, seq, format)
		WHERE u.why IS NOT NULL
	), per_lot AS (
		SELECT DISTINCT ON (r.reason, r.lot_id) r.*,
		       count(*) OVER (PARTITION BY r.reason, r.lot_id) AS n
		FROM r
		ORDER BY r.reason, r.lot_id, r.obs DESC, r.rec DESC
	), stored AS (
		INSERT INTO parking.rejected (received_at, topic, lot_id, reason, detail, payload,
					      payload_len)
		SELECT timestamptz 'epoch' + p.rec * interval '1 microsecond',
		       prefix || '/' || p.lot_id || '/occupancy', p.lot_id, p.reason,
		       format('%s; %s observation(s) of this lot in this batch refused for it, '
			      'this one stands for all of them', p.why, p.n),
		       convert_to(p.payload, 'UTF8'), octet_length(p.payload)
		FROM per_lot p
		ORDER BY p.reason, p.lot_id
		ON CONFLICT (received_at, topic, md5(payload)) DO NOTHING
	)
	SELECT count(*) FILTER (WHERE reason = 'future_ts'),
	       count(*) FILTER (WHERE reason = 'rate_limited'), min(why)
	INTO n_future, n_rate, first
	FROM r;
	UPDATE parking.ingest_limits
	SET refused_future = refused_future + n_future, refused_rate = refused_rate + n_rate;
	RAISE WARNING 'distrust: refused % observation(s) ahead of the clock and % over the '
		      'per-lot rate', n_future, n_rate
		USING ERRCODE = '01PF2',
		      DETAIL = first,
		      HINT = 'parking.rejected holds them as future_ts and rate_limited; '
			     'parkfeedctl limits shows the bounds';
END
$$;
COMMENT ON FUNCTION parking.store_refused_observations(text[], text[], bigint[], bigint[],
						       integer[], integer[], integer[], text[],
						       bigint[], text[]) IS
	'Part of ingest_occupancy: store and count the observations refused by max_future_s '
	'(future_ts) and max_per_lot_minute (rate_limited)';

-- A lot reaching a stage through ingest: connected (occupancy) and upgraded (status). The time
-- comes from the caller's receive time, within what the database's clock makes plausible.
CREATE FUNCTION parking.bound_stage_time(p_at timestamptz, p_registered_at timestamptz)
RETURNS timestamptz
LANGUAGE sql STABLE SET search_path = pg_catalog, parking, pg_temp AS $$
	SELECT least(now(), greatest(p_at, p_registered_at,
				      now() - (SELECT max_backlog_hours FROM parking.ingest_limits)
					      * interval '1 hour'))
$$;
COMMENT ON FUNCTION parking.bound_stage_time(timestamptz, timestamptz) IS
	'Part of the ingest functions: a stage time no later than now, no earlier than the lot''s '
	'registration (if given) or max_backlog_hours ago';

-- 001's connect_lots dates a connection by the lot's earliest receive time in the batch; it
-- keeps doing so (as mark_connected) with receive times bounded for that purpose: a lot already
-- in the registry is connected no earlier than it was registered (created_at), any lot no
-- earlier than max_backlog_hours ago, none later than now.
ALTER FUNCTION parking.connect_lots(text[], bigint[]) RENAME TO mark_connected;
COMMENT ON FUNCTION parking.mark_connected(text[], bigint[]) IS
	'Part of connect_lots: 001''s connect_lots (register unknown lots, connect registered '
	'ones, dated by the earliest receive time of each lot in the batch)';

CREATE FUNCTION parking.connect_lots(p_lot_id text[], p_received_us bigint[]) RETURNS void
LANGUAGE sql SET search_path = pg_catalog, parking, pg_temp AS $$
	SELECT parking.mark_connected(p_lot_id, array_agg(
		(extract(epoch FROM parking.bound_stage_time(
			timestamptz 'epoch' + u.rec * interval '1 microsecond', l.created_at))
		 * 1000000)::bigint ORDER BY u.i))
	FROM unnest(p_lot_id, p_received_us) WITH ORDINALITY AS u(lot_id, rec, i)
	LEFT JOIN parking.lots l ON l.lot_id = u.lot_id
$$;
COMMENT ON FUNCTION parking.connect_lots(text[], bigint[]) IS
	'Part of ingest_occupancy: register unknown lots, connect registered ones on their first '
	'message, dated within max_backlog_hours and not before a lot''s registration';

-- ---------------------------------------------------------------------------------------------
-- The ingest interface: each function is now a wrapper that checks its arguments and hands
-- what it keeps to the function that did the work until now, renamed. The daemon calls the
-- same names with the same arguments; the renamed ones are not callable by it.
-- ---------------------------------------------------------------------------------------------

ALTER FUNCTION parking.ingest_occupancy(text[], bigint[], bigint[], integer[], integer[],
					integer[], text[], bigint[], text[])
	RENAME TO store_occupancy;
COMMENT ON FUNCTION parking.store_occupancy(text[], bigint[], bigint[], integer[], integer[],
					    integer[], text[], bigint[], text[]) IS
	'Part of ingest_occupancy: store a batch of observations already checked (005''s '
	'ingest_occupancy: lot caps, registration, partitions, lot_state only forward)';

CREATE FUNCTION parking.ingest_occupancy(p_lot_id text[], p_observed_us bigint[],
					 p_received_us bigint[], p_total integer[],
					 p_free integer[], p_occupied integer[], p_status text[],
					 p_seq bigint[], p_format text[])
RETURNS integer
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, parking, pg_temp AS $$
DECLARE
	lim parking.ingest_limits;
	why text[];
BEGIN
	SELECT * INTO lim FROM parking.ingest_limits;
	p_received_us := parking.bound_received(p_received_us);
	why := parking.refusal_reasons(p_lot_id, p_observed_us, lim);
	IF why IS NOT NULL AND EXISTS (SELECT 1 FROM unnest(why) AS w WHERE w IS NOT NULL) THEN
		PERFORM parking.store_refused_observations(why, p_lot_id, p_observed_us,
			p_received_us, p_total, p_free, p_occupied, p_status, p_seq, p_format);
		SELECT array_agg(u.lot_id ORDER BY u.i), array_agg(u.obs ORDER BY u.i),
		       array_agg(u.rec ORDER BY u.i), array_agg(u.total ORDER BY u.i),
		       array_agg(u.free ORDER BY u.i), array_agg(u.occupied ORDER BY u.i),
		       array_agg(u.status ORDER BY u.i), array_agg(u.seq ORDER BY u.i),
		       array_agg(u.format ORDER BY u.i)
		INTO p_lot_id, p_observed_us, p_received_us, p_total, p_free, p_occupied,
		     p_status, p_seq, p_format
		FROM unnest(why, p_lot_id, p_observed_us, p_received_us, p_total, p_free,
			    p_occupied, p_status, p_seq, p_format) WITH ORDINALITY
		     AS u(why, lot_id, obs, rec, total, free, occupied, status, seq, format, i)
		WHERE u.why IS NULL;
		IF p_lot_id IS NULL THEN
			RETURN 0;
		END IF;
	END IF;
	RETURN parking.store_occupancy(p_lot_id, p_observed_us, p_received_us, p_total, p_free,
				       p_occupied, p_status, p_seq, p_format);
END
$$;
COMMENT ON FUNCTION parking.ingest_occupancy(text[], bigint[], bigint[], integer[], integer[],
					     integer[], text[], bigint[], text[]) IS
	'Daemon interface: store a batch of occupancy observations (parallel arrays, times in '
	'microseconds since the epoch); receive times are bounded by the database''s clock, '
	'observations past max_future_s or max_per_lot_minute refused (future_ts, rate_limited); '
	'registers and connects lots; returns rows newly stored';

ALTER FUNCTION parking.ingest_status(text[], bigint[], boolean[], text[], text[], text[],
				     boolean[])
	RENAME TO admit_status;
COMMENT ON FUNCTION parking.admit_status(text[], bigint[], boolean[], text[], text[], text[],
					 boolean[]) IS
	'Part of ingest_status: 004''s ingest_status (messages of unknown lots past '
	'parking.ingest_limits refused), then apply_status';

-- A status's receive time dates the status (newest wins) and an upgrade: it lies between
-- max_backlog_hours ago and a minute ahead of the database's clock.
CREATE FUNCTION parking.ingest_status(p_lot_id text[], p_received_us bigint[],
				      p_online boolean[], p_system text[], p_version text[],
				      p_protocol text[], p_compliant boolean[])
RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, parking, pg_temp AS $$
DECLARE
	oldest bigint := parking.now_us()
			 - (SELECT max_backlog_hours FROM parking.ingest_limits) * 3600000000::bigint;
BEGIN
	p_received_us := parking.bound_received(p_received_us);
	SELECT array_agg(greatest(u.rec, oldest) ORDER BY u.i),
	       array_agg(parking.clean_text(u.system) ORDER BY u.i),
	       array_agg(parking.clean_text(u.version) ORDER BY u.i),
	       array_agg(parking.clean_text(u.protocol) ORDER BY u.i)
	INTO p_received_us, p_system, p_version, p_protocol
	FROM unnest(p_received_us, p_system, p_version, p_protocol) WITH ORDINALITY
	     AS u(rec, system, version, protocol, i);
	PERFORM parking.admit_status(p_lot_id, p_received_us, p_online, p_system, p_version,
				     p_protocol, p_compliant);
END
$$;
COMMENT ON FUNCTION parking.ingest_status(text[], bigint[], boolean[], text[], text[], text[],
					  boolean[]) IS
	'Daemon interface: apply a batch of controller status messages (per lot and field the newest '
	'reported value wins; NULL = not reported); a compliant protocol moves the lot to upgraded; '
	'messages of unknown lots past parking.ingest_limits are refused (lot_limit); receive times '
	'within max_backlog_hours and a minute of the database''s clock, control characters '
	'replaced';

ALTER FUNCTION parking.ingest_rejected(bigint[], text[], text[], text[], text[], bytea[],
				       integer[])
	RENAME TO store_rejected;
COMMENT ON FUNCTION parking.store_rejected(bigint[], text[], text[], text[], text[], bytea[],
					   integer[]) IS
	'Part of ingest_rejected: 001''s ingest_rejected (a replayed reject is stored once)';

CREATE FUNCTION parking.ingest_rejected(p_received_us bigint[], p_topic text[], p_lot_id text[],
					p_reason text[], p_detail text[], p_payload bytea[],
					p_payload_len integer[])
RETURNS integer
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, parking, pg_temp AS $$
BEGIN
	p_received_us := parking.bound_received(p_received_us);
	SELECT array_agg(parking.clean_text(u.topic) ORDER BY u.i),
	       array_agg(parking.clean_text(u.lot_id) ORDER BY u.i),
	       array_agg(parking.clean_text(u.reason) ORDER BY u.i),
	       array_agg(parking.clean_text(u.detail) ORDER BY u.i)
	INTO p_topic, p_lot_id, p_reason, p_detail
	FROM unnest(p_topic, p_lot_id, p_reason, p_detail) WITH ORDINALITY
	     AS u(topic, lot_id, reason, detail, i);
	RETURN parking.store_rejected(p_received_us, p_topic, p_lot_id, p_reason, p_detail,
				      p_payload, p_payload_len);
END
$$;
COMMENT ON FUNCTION parking.ingest_rejected(bigint[], text[], text[], text[], text[], bytea[],
					    integer[]) IS
	'Daemon interface: store a batch of rejected messages (a replayed reject is stored once); '
	'receive times at most a minute ahead of the database''s clock, control characters '
	'replaced; returns rows newly stored';

-- ---------------------------------------------------------------------------------------------
-- Registry changes, audited whoever makes them
-- ---------------------------------------------------------------------------------------------

CREATE TABLE parking.lot_history (
	id         bigserial PRIMARY KEY,
	lot_id     text NOT NULL REFERENCES parking.lots (lot_id),
	field      text NOT NULL CHECK (field IN ('district', 'name', 'address', 'spaces', 'lon',
						  'lat', 'deadline', 'expected_interval_s')),
	old_value  text,
	new_value  text,
	actor      text NOT NULL,
	db_user    text NOT NULL DEFAULT session_user,
	changed_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX lot_history_lot_idx ON parking.lot_history (lot_id, changed_at);
COMMENT ON TABLE parking.lot_history IS
	'Audit trail: every change of a registered lot''s district, name, address, spaces, '
	'position, deadline or expected interval (a new lot: its initial values), by whoever '
	'made it';
COMMENT ON COLUMN parking.lot_history.id IS 'Order of the changes';
COMMENT ON COLUMN parking.lot_history.lot_id IS 'The lot';
COMMENT ON COLUMN parking.lot_history.field IS 'Column of parking.lots that changed';
COMMENT ON COLUMN parking.lot_history.old_value IS 'Value before, as text (NULL: none)';
COMMENT ON COLUMN parking.lot_history.new_value IS 'Value after, as text (NULL: none)';
COMMENT ON COLUMN parking.lot_history.actor IS
	'Who made it: the actor parkfeedctl names (setting parkfeed.actor), else the login';
COMMENT ON COLUMN parking.lot_history.db_user IS 'Database login that made the change';
COMMENT ON COLUMN parking.lot_history.changed_at IS 'When (the transaction''s time)';

-- A lot the feed registers by itself (registered = false) has none of these values yet; its
-- arrival is in stage_history.
CREATE FUNCTION parking.audit_lot_change() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, parking, pg_temp AS $$
DECLARE
	actor text := coalesce(nullif(current_setting('parkfeed.actor', true), ''), session_user);
	o     jsonb := CASE WHEN TG_OP = 'UPDATE' THEN to_jsonb(OLD) END;
	n     jsonb := to_jsonb(NEW);
BEGIN
	IF TG_OP = 'INSERT' AND NOT NEW.registered THEN
		RETURN NULL;
	END IF;
	INSERT INTO parking.lot_history (lot_id, field, old_value, new_value, actor)
	SELECT NEW.lot_id, f.name, o ->> f.name, n ->> f.name, actor
	FROM unnest(ARRAY['district', 'name', 'address', 'spaces', 'lon', 'lat', 'deadline',
			  'expected_interval_s']) WITH ORDINALITY AS f(name, k)
	WHERE CASE WHEN o IS NULL THEN n ->> f.name IS NOT NULL
		   ELSE (o -> f.name) IS DISTINCT FROM (n -> f.name) END
	ORDER BY f.k;
	RETURN NULL;
END
$$;
COMMENT ON FUNCTION parking.audit_lot_change() IS
	'Trigger: write each change of an audited column of parking.lots into lot_history';
CREATE TRIGGER lots_audit
	AFTER INSERT OR UPDATE OF district, name, address, spaces, lon, lat, deadline,
				  expected_interval_s
	ON parking.lots FOR EACH ROW EXECUTE FUNCTION parking.audit_lot_change();

-- ---------------------------------------------------------------------------------------------
-- District grants: also refuse roles that see past row-level security some other way
-- ---------------------------------------------------------------------------------------------

ALTER FUNCTION parking.check_district_grantee(text) RENAME TO check_grantee_roles;
COMMENT ON FUNCTION parking.check_grantee_roles(text) IS
	'Part of check_district_grantee: 002''s checks (a login, no superuser or BYPASSRLS, no '
	'membership of another parkfeed role)';

CREATE FUNCTION parking.check_district_grantee(p_role text) RETURNS void
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, parking, pg_temp AS $$
DECLARE
	r pg_catalog.pg_roles%ROWTYPE;
	g text;
BEGIN
	PERFORM parking.check_grantee_roles(p_role);
	SELECT * INTO r FROM pg_catalog.pg_roles WHERE rolname = p_role;
	-- CREATEROLE may grant itself other roles (PostgreSQL 15: any but superuser); REPLICATION
	-- streams every row of the cluster.
	IF r.rolcreaterole OR r.rolreplication THEN
		RAISE EXCEPTION 'role % has %: it can reach every row, a district grant would not limit it',
			p_role, CASE WHEN r.rolcreaterole THEN 'CREATEROLE' ELSE 'REPLICATION' END
			USING HINT = format('ALTER ROLE %I NO%s, or use another login', p_role,
					    CASE WHEN r.rolcreaterole THEN 'CREATEROLE'
						 ELSE 'REPLICATION' END);
	END IF;
	-- Predefined roles that read (partitions have no policies) or write any table, or reach
	-- the server's files and programs.
	FOREACH g IN ARRAY ARRAY['pg_read_all_data', 'pg_write_all_data', 'pg_read_server_files',
				 'pg_write_server_files', 'pg_execute_server_program'] LOOP
		IF pg_catalog.pg_has_role(p_role, g, 'MEMBER') THEN
			RAISE EXCEPTION 'role % is a member of %: it reads past row-level security',
				p_role, g USING HINT = format('REVOKE %I FROM %I, or use another login', g, p_role);
		END IF;
	END LOOP;
END
$$;
COMMENT ON FUNCTION parking.check_district_grantee(text) IS
	'Part of grant_district: the grantee must be a plain login role (no owner, operator, ingest '
	'or reader membership, no superuser, BYPASSRLS, CREATEROLE or REPLICATION, not in '
	'pg_read_all_data, pg_write_all_data or the server file and program roles)';

-- ---------------------------------------------------------------------------------------------
-- Privileges (the new functions are not PUBLIC's already, by the default above)
-- ---------------------------------------------------------------------------------------------

REVOKE ALL ON FUNCTION
	parking.store_occupancy(text[], bigint[], bigint[], integer[], integer[], integer[],
				text[], bigint[], text[]),
	parking.admit_status(text[], bigint[], boolean[], text[], text[], text[], boolean[]),
	parking.store_rejected(bigint[], text[], text[], text[], text[], bytea[], integer[])
	FROM PUBLIC, parkfeed_ingest;
REVOKE ALL ON parking.lot_history FROM PUBLIC;
GRANT EXECUTE ON FUNCTION
	parking.ingest_occupancy(text[], bigint[], bigint[], integer[], integer[], integer[],
				 text[], bigint[], text[]),
	parking.ingest_status(text[], bigint[], boolean[], text[], text[], text[], boolean[]),
	parking.ingest_rejected(bigint[], text[], text[], text[], text[], bytea[], integer[])
	TO parkfeed_ingest;
GRANT EXECUTE ON FUNCTION parking.set_ingest_bounds(integer, integer, integer, text)
	TO parkfeed_operator;

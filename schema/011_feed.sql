-- 011_feed: what parkfeedd's live feed reads, and status replays that are not news.
--
-- The live feed ([feed] topic_prefix) publishes, after each commit that changes a lot's free,
-- total or status, the lot's OffStreetParking entity as parkfeed-api serves it, and its
-- district's counts. The daemon's role reads no table, so it reads what it publishes through
-- two functions, for the lots (and districts) it names:
--   * feed_lots: the registry's name, district, address and position with lot_state, and
--     lot_state.changes, a count of the changes of free, total or status (a trigger keeps it).
--     The count tells a daemon whether the lot changed since the message it published last,
--     also when another daemon of its group committed the change: comparing values would miss
--     a lot that changed and changed back while another daemon published the middle value.
--   * feed_districts: parking.district_overview's row of each district named (all: NULL).
-- The daemon decides from the records it committed which lots may have changed and asks only
-- for those, and for a district at most once a second; nothing is added to the ingest
-- transactions but the trigger, which runs only for a row whose values change.
--
-- Status replays: a controller's status is retained at the broker, and the broker hands it to
-- every daemon again at each (re)subscription, with the MQTT retain flag set on the delivery
-- (shared subscriptions included: mosquitto 2.0 sends retained messages to each member). Such
-- a replay was stored as a new status each time: status_at moved to the replay's receive time
-- (and a lot's last will, replayed, made it look offline again), once per daemon. ingest_status
-- now takes the flag of each message; a replay that changes nothing the lot holds is dropped
-- (admit_status, under the lots' row locks so that the daemons of a group decide one after the
-- other). ingest_status keeps its name and its first seven arguments: a daemon of the previous
-- version that is connected goes on calling it without the flags until it reconnects.
--
-- Run by `parkfeedctl migrate` in one transaction under the migration advisory lock, once per
-- database (recorded in parking.schema_migrations by the caller).

SET LOCAL ROLE parkfeed_owner;
SET LOCAL search_path = pg_catalog, parking;

-- ---------------------------------------------------------------------------------------------
-- The version of each lot's values
-- ---------------------------------------------------------------------------------------------

ALTER TABLE parking.lot_state
	ADD COLUMN changes bigint NOT NULL DEFAULT 0,
	ADD COLUMN changed_at timestamptz;
COMMENT ON COLUMN parking.lot_state.changes IS
	'How many times free, total or status changed since the lot first reported (the live '
	'feed''s version of the lot)';
COMMENT ON COLUMN parking.lot_state.changed_at IS
	'observed_at of the last change of free, total or status (NULL: none since the first '
	'observation)';

CREATE FUNCTION parking.count_value_change() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, parking, pg_temp AS $$
BEGIN
	NEW.changes := OLD.changes + 1;
	NEW.changed_at := NEW.observed_at;
	RETURN NEW;
END
$$;
COMMENT ON FUNCTION parking.count_value_change() IS
	'Trigger: count a change of a lot''s free, total or status in lot_state.changes and date '
	'it in changed_at';
-- The WHEN clause is evaluated without calling the function: rows whose values stay as they
-- were (most updates) cost nothing more.
CREATE TRIGGER lot_state_changes BEFORE UPDATE ON parking.lot_state FOR EACH ROW
	WHEN ((OLD.free, OLD.total, OLD.status) IS DISTINCT FROM (NEW.free, NEW.total, NEW.status))
	EXECUTE FUNCTION parking.count_value_change();

-- ---------------------------------------------------------------------------------------------
-- What the feed reads
-- ---------------------------------------------------------------------------------------------

CREATE FUNCTION parking.feed_lots(p_lot_id text[])
RETURNS TABLE (lot_id text, name text, district text, address text, lon double precision,
	       lat double precision, free integer, total integer, occupied integer, status text,
	       observed_us bigint, changes bigint)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, parking, pg_temp AS $$
	SELECT l.lot_id, l.name, l.district, l.address, l.lon, l.lat, s.free, s.total, s.occupied,
	       s.status, (extract(epoch FROM s.observed_at) * 1000000)::bigint, s.changes
	FROM (SELECT DISTINCT u.lot_id FROM unnest(p_lot_id) AS u(lot_id)) AS u
	JOIN parking.lots l ON l.lot_id = u.lot_id
	JOIN parking.lot_state s ON s.lot_id = u.lot_id
$$;
COMMENT ON FUNCTION parking.feed_lots(text[]) IS
	'Daemon interface (live feed): of the lots named that have reported, what parkfeed-api '
	'shows of each (lot_map''s name, district, address, position and latest state), with '
	'lot_state.changes';

CREATE FUNCTION parking.feed_districts(p_district text[])
RETURNS TABLE (district text, lots bigint, lots_reporting bigint, lots_online bigint,
	       lots_stale bigint, lots_offline bigint, free bigint, total bigint)
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = pg_catalog, parking, pg_temp AS $$
BEGIN
	-- Two statements, so that naming districts reads only their lots (lots_district_idx).
	IF p_district IS NULL THEN
		RETURN QUERY SELECT d.district, d.lots, d.lots_reporting, d.lots_online,
				    d.lots_stale, d.lots_offline, d.free, d.total
			     FROM parking.district_overview d;
	ELSE
		RETURN QUERY SELECT d.district, d.lots, d.lots_reporting, d.lots_online,
				    d.lots_stale, d.lots_offline, d.free, d.total
			     FROM parking.district_overview d
			     WHERE d.district = ANY (p_district);
	END IF;
END
$$;
COMMENT ON FUNCTION parking.feed_districts(text[]) IS
	'Daemon interface (live feed): district_overview''s rows of the districts named (NULL: '
	'every district), as parkfeed-api''s /v1/districts shows them';

-- ---------------------------------------------------------------------------------------------
-- Status replays
-- ---------------------------------------------------------------------------------------------

ALTER FUNCTION parking.admit_status(text[], bigint[], boolean[], text[], text[], text[],
				    boolean[])
	RENAME TO admit_reports;
COMMENT ON FUNCTION parking.admit_reports(text[], bigint[], boolean[], text[], text[], text[],
					  boolean[]) IS
	'Part of admit_status: 004''s ingest_status (messages of unknown lots past '
	'parking.ingest_limits refused), then apply_status';

CREATE FUNCTION parking.admit_status(p_lot_id text[], p_received_us bigint[],
				     p_online boolean[], p_system text[], p_version text[],
				     p_protocol text[], p_compliant boolean[],
				     p_replay boolean[] DEFAULT NULL)
RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, parking, pg_temp AS $$
BEGIN
	IF p_replay IS NOT NULL AND true = ANY (p_replay) THEN
		-- Every daemon of a group gets the same replay: the lots' row locks, taken in one
		-- order, make them decide one after the other, each seeing what the other stored.
		PERFORM 1 FROM parking.lots l
		WHERE l.lot_id IN (SELECT u.lot_id FROM unnest(p_lot_id, p_replay) AS u(lot_id, r)
				   WHERE u.r)
		ORDER BY l.lot_id
		FOR UPDATE;
		SELECT array_agg(u.lot_id ORDER BY u.i), array_agg(u.rec ORDER BY u.i),
		       array_agg(u.online ORDER BY u.i), array_agg(u.system ORDER BY u.i),
		       array_agg(u.version ORDER BY u.i), array_agg(u.protocol ORDER BY u.i),
		       array_agg(u.compliant ORDER BY u.i)
		INTO p_lot_id, p_received_us, p_online, p_system, p_version, p_protocol,
		     p_compliant
		FROM unnest(p_lot_id, p_received_us, p_online, p_system, p_version, p_protocol,
			    p_compliant, p_replay) WITH ORDINALITY
		     AS u(lot_id, rec, online, system, version, protocol, compliant, replay, i)
		WHERE NOT (coalesce(u.replay, false) AND EXISTS (
			-- what the replay reports the lot holds already (NULL: not reported)
			SELECT 1 FROM parking.lots l
			WHERE l.lot_id = u.lot_id AND l.status_at IS NOT NULL
			  AND (u.online IS NULL OR u.online = l.online)
			  AND (u.system IS NULL OR u.system = l.system)
			  AND (u.version IS NULL OR u.version = l.version)
			  AND (u.protocol IS NULL OR u.protocol = l.protocol)
			  AND NOT (coalesce(u.compliant, false) AND l.stage < 'upgraded')));
		IF p_lot_id IS NULL THEN
			RETURN;
		END IF;
	END IF;
	PERFORM parking.admit_reports(p_lot_id, p_received_us, p_online, p_system, p_version,
				      p_protocol, p_compliant);
END
$$;
COMMENT ON FUNCTION parking.admit_status(text[], bigint[], boolean[], text[], text[], text[],
					 boolean[], boolean[]) IS
	'Part of ingest_status: a status the broker replayed from its retained store (p_replay) '
	'that changes nothing the lot holds is dropped (status_at stays); the rest goes to '
	'admit_reports';

-- 008's wrapper with the replay flags passed on; without them (NULL) nothing is a replay.
DROP FUNCTION parking.ingest_status(text[], bigint[], boolean[], text[], text[], text[],
				    boolean[]);
CREATE FUNCTION parking.ingest_status(p_lot_id text[], p_received_us bigint[],
				      p_online boolean[], p_system text[], p_version text[],
				      p_protocol text[], p_compliant boolean[],
				      p_replay boolean[] DEFAULT NULL)
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
				     p_protocol, p_compliant, p_replay);
END
$$;
COMMENT ON FUNCTION parking.ingest_status(text[], bigint[], boolean[], text[], text[], text[],
					  boolean[], boolean[]) IS
	'Daemon interface: apply a batch of controller status messages (per lot and field the newest '
	'reported value wins; NULL = not reported); a compliant protocol moves the lot to upgraded; '
	'messages of unknown lots past parking.ingest_limits are refused (lot_limit); receive times '
	'within max_backlog_hours and a minute of the database''s clock, control characters '
	'replaced; a replay of a retained status (p_replay) that changes nothing is not stored';

-- ---------------------------------------------------------------------------------------------
-- Privileges (new functions are not PUBLIC's already, by 008's default)
-- ---------------------------------------------------------------------------------------------

REVOKE ALL ON FUNCTION parking.count_value_change(),
	parking.feed_lots(text[]),
	parking.feed_districts(text[]),
	parking.admit_status(text[], bigint[], boolean[], text[], text[], text[], boolean[],
			     boolean[]),
	parking.ingest_status(text[], bigint[], boolean[], text[], text[], text[], boolean[],
			      boolean[])
	FROM PUBLIC;
GRANT EXECUTE ON FUNCTION
	parking.feed_lots(text[]),
	parking.feed_districts(text[]),
	parking.ingest_status(text[], bigint[], boolean[], text[], text[], text[], boolean[],
			      boolean[])
	TO parkfeed_ingest;

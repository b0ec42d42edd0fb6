-- 004_lot_limits: caps on the lots the feed registers by itself.
--
-- A message for a lot nobody registered registers it (registered = false): that is how a new
-- controller shows up for the bureau. Left unbounded, anything that can publish under the
-- topic prefix - a broker without per-lot ACLs, a leaked daemon account, a buggy controller
-- inventing ids - grows parking.lots, lot_state and stage_history with every made-up lot id.
-- Past the caps of parking.ingest_limits the messages of further unknown lots are refused into
-- parking.rejected (reason lot_limit) instead, themselves bounded: one row per refused lot and
-- batch, at most refusals_per_hour rows an hour, the rest only counted.
--
-- Run by `parkfeedctl migrate` in one transaction under the migration advisory lock, once per
-- database (recorded in parking.schema_migrations by the caller).

SET LOCAL ROLE parkfeed_owner;
SET LOCAL search_path = pg_catalog, parking;

CREATE TABLE parking.ingest_limits (
	only_row               boolean PRIMARY KEY DEFAULT true CHECK (only_row),
	max_unregistered_lots  integer NOT NULL DEFAULT 10000 CHECK (max_unregistered_lots >= 0),
	max_new_lots_per_hour  integer NOT NULL DEFAULT 1000 CHECK (max_new_lots_per_hour >= 0),
	refusals_per_hour      integer NOT NULL DEFAULT 1000 CHECK (refusals_per_hour >= 0),
	refused_messages       bigint NOT NULL DEFAULT 0,
	refused_unstored       bigint NOT NULL DEFAULT 0,
	last_refused_at        timestamptz,
	changed_at             timestamptz NOT NULL DEFAULT now(),
	changed_by             text NOT NULL DEFAULT current_user
);
INSERT INTO parking.ingest_limits DEFAULT VALUES;
COMMENT ON TABLE parking.ingest_limits IS
	'Caps on lots registered from the feed (one row; change it with parkfeedctl limits set)';
COMMENT ON COLUMN parking.ingest_limits.max_unregistered_lots IS
	'Most lots with registered = false; messages of further unknown lots are refused (lot_limit)';
COMMENT ON COLUMN parking.ingest_limits.max_new_lots_per_hour IS
	'Most lots registered from the feed in an hour (by created_at)';
COMMENT ON COLUMN parking.ingest_limits.refusals_per_hour IS
	'Most lot_limit rows stored in parking.rejected an hour; past it refusals are only counted';
COMMENT ON COLUMN parking.ingest_limits.refused_messages IS
	'Messages refused by these limits since the schema was created';
COMMENT ON COLUMN parking.ingest_limits.refused_unstored IS
	'Of refused_messages, those no lot_limit row in parking.rejected stands for';
COMMENT ON COLUMN parking.ingest_limits.last_refused_at IS 'When a message was last refused';
COMMENT ON COLUMN parking.ingest_limits.changed_at IS 'When a limit was last changed';
COMMENT ON COLUMN parking.ingest_limits.changed_by IS 'Who changed it (operator, database login)';

-- The two counts the caps are checked against, without reading every lot.
CREATE INDEX lots_unregistered_idx ON parking.lots (created_at) WHERE NOT registered;
CREATE INDEX rejected_lot_limit_idx ON parking.rejected (received_at) WHERE reason = 'lot_limit';

CREATE FUNCTION parking.set_ingest_limits(p_max_unregistered_lots integer,
					  p_max_new_lots_per_hour integer,
					  p_refusals_per_hour integer, p_actor text)
RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, parking, pg_temp AS $$
BEGIN
	IF least(p_max_unregistered_lots, p_max_new_lots_per_hour, p_refusals_per_hour) < 0 THEN
		RAISE EXCEPTION 'a limit cannot be negative'
			USING ERRCODE = 'invalid_parameter_value',
			      HINT = 'use 0 to register no lot from the feed at all';
	END IF;
	UPDATE parking.ingest_limits
	SET max_unregistered_lots = coalesce(p_max_unregistered_lots, max_unregistered_lots),
	    max_new_lots_per_hour = coalesce(p_max_new_lots_per_hour, max_new_lots_per_hour),
	    refusals_per_hour = coalesce(p_refusals_per_hour, refusals_per_hour),
	    changed_at = now(),
	    changed_by = coalesce(nullif(p_actor, ''), session_user) || ' (' || session_user || ')';
END
$$;
COMMENT ON FUNCTION parking.set_ingest_limits(integer, integer, integer, text) IS
	'Operator interface: change the caps of parking.ingest_limits (NULL keeps a value)';

-- Of the lots of a batch, those nobody registered that the caps leave no room for, in the
-- order they first appear in the batch. Takes the limits row's lock: concurrent writers count
-- one after the other, so the caps hold exactly.
CREATE FUNCTION parking.refuse_unknown_lots(p_lot_id text[], p_received_us bigint[])
RETURNS text[]
LANGUAGE plpgsql SET search_path = pg_catalog, parking, pg_temp AS $$
DECLARE
	unknown text[];
	lim     parking.ingest_limits;
	n_all   bigint;
	n_hour  bigint;
	room    bigint;
BEGIN
	SELECT array_agg(f.lot_id ORDER BY f.rec, f.lot_id) INTO unknown
	FROM (SELECT u.lot_id, min(u.rec) AS rec
	      FROM unnest(p_lot_id, p_received_us) AS u(lot_id, rec)
	      GROUP BY u.lot_id) AS f
	WHERE NOT EXISTS (SELECT 1 FROM parking.lots x WHERE x.lot_id = f.lot_id);
	IF unknown IS NULL THEN
		RETURN '{}';
	END IF;

	SELECT * INTO lim FROM parking.ingest_limits FOR UPDATE;
	SELECT count(*), count(*) FILTER (WHERE created_at > now() - interval '1 hour')
	INTO n_all, n_hour
	FROM parking.lots WHERE NOT registered;
	room := greatest(0, least(lim.max_unregistered_lots - n_all,
				  lim.max_new_lots_per_hour - n_hour));
	IF cardinality(unknown) <= room THEN
		RETURN '{}';
	END IF;
	RETURN unknown[room + 1:];
END
$$;
COMMENT ON FUNCTION parking.refuse_unknown_lots(text[], bigint[]) IS
	'Part of the ingest functions: the unknown lots of a batch past parking.ingest_limits';

-- Store the refusals of a batch: per refused lot its newest message (as normalized: the raw
-- bytes of an accepted payload are not kept) with the count it stands for, while this hour's
-- lot_limit rows stay under refusals_per_hour; count everything in parking.ingest_limits; and
-- warn the writer (SQLSTATE 01PF1, which parkfeedd logs and counts).
CREATE FUNCTION parking.store_refusals(p_refused text[], p_kind text, p_lot_id text[],
				       p_received_us bigint[], p_payload text[])
RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, parking, pg_temp AS $$
DECLARE
	lim      parking.ingest_limits;
	prefix   text := coalesce(nullif(current_setting('parkfeed.topic_prefix', true), ''),
				  'parking');
	n_msgs   bigint;
	n_stored bigint := 0;
	n_lots   integer := cardinality(p_refused);
	budget   bigint;
BEGIN
	SELECT * INTO lim FROM parking.ingest_limits FOR UPDATE;
	SELECT greatest(0, lim.refusals_per_hour - count(*)) INTO budget
	FROM parking.rejected
	WHERE reason = 'lot_limit' AND received_at > now() - interval '1 hour';

	WITH msgs AS (
		SELECT u.lot_id, u.rec, u.payload
		FROM unnest(p_lot_id, p_received_us, p_payload) AS u(lot_id, rec, payload)
		JOIN unnest(p_refused) AS r(lot_id) ON r.lot_id = u.lot_id
	), per_lot AS (
		SELECT DISTINCT ON (m.lot_id) m.lot_id, m.rec, m.payload,
		       count(*) OVER (PARTITION BY m.lot_id) AS n
		FROM msgs m
		ORDER BY m.lot_id, m.rec DESC
	), kept AS (
		SELECT * FROM per_lot ORDER BY rec, lot_id LIMIT budget
	), stored AS (      -- runs though unreferenced, as a data-modifying WITH does
		INSERT INTO parking.rejected (received_at, topic, lot_id, reason, detail, payload,
					      payload_len)
		SELECT timestamptz 'epoch' + k.rec * interval '1 microsecond',
		       prefix || '/' || k.lot_id || '/' || p_kind, k.lot_id, 'lot_limit',
		       format('lot %s is not registered and the feed may register no more lots '
			      '(max_unregistered_lots %s, max_new_lots_per_hour %s); %s %s '
			      'message(s) of this lot refused, this one stands for all of them; '
			      'register the lot (parkfeedctl lots import) or raise the limits '
			      '(parkfeedctl limits set)', k.lot_id, lim.max_unregistered_lots,
			      lim.max_new_lots_per_hour, k.n, p_kind),
		       convert_to(k.payload, 'UTF8'), octet_length(k.payload)
		FROM kept k
		ON CONFLICT (received_at, topic, md5(payload)) DO NOTHING
	)
	SELECT (SELECT count(*) FROM msgs), coalesce((SELECT sum(k.n) FROM kept k), 0)
	INTO n_msgs, n_stored;

	UPDATE parking.ingest_limits
	SET refused_messages = refused_messages + n_msgs,
	    refused_unstored = refused_unstored + (n_msgs - n_stored),
	    last_refused_at = now();
	RAISE WARNING 'lot limit: refused % % message(s) of % unknown lot(s)', n_msgs, p_kind,
		n_lots
		USING ERRCODE = '01PF1',
		      DETAIL = format('max_unregistered_lots %s, max_new_lots_per_hour %s; '
				      'first refused lot %s', lim.max_unregistered_lots,
				      lim.max_new_lots_per_hour, p_refused[1]),
		      HINT = 'register the lots (parkfeedctl lots import) or raise the limits '
			     '(parkfeedctl limits set); parking.rejected has them as lot_limit';
END
$$;
COMMENT ON FUNCTION parking.store_refusals(text[], text, text[], bigint[], text[]) IS
	'Part of the ingest functions: store and count the messages refused by parking.ingest_limits';

-- Occupancy: migration 005 replaces ingest_occupancy with a faster one that applies the caps.

-- Status messages register unknown lots too (as planned): the same caps apply. 001's function
-- becomes apply_status, called with what the caps let through.
ALTER FUNCTION parking.ingest_status(text[], bigint[], boolean[], text[], text[], text[],
				     boolean[]) RENAME TO apply_status;
COMMENT ON FUNCTION parking.apply_status(text[], bigint[], boolean[], text[], text[], text[],
					 boolean[]) IS
	'Part of ingest_status: apply a batch of status messages of known or admitted lots (per lot '
	'and field the newest reported value wins); a compliant protocol moves the lot to upgraded';

CREATE FUNCTION parking.ingest_status(p_lot_id text[], p_received_us bigint[],
				      p_online boolean[], p_system text[], p_version text[],
				      p_protocol text[], p_compliant boolean[])
RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, parking, pg_temp AS $$
DECLARE
	refused text[] := parking.refuse_unknown_lots(p_lot_id, p_received_us);
BEGIN
	IF cardinality(refused) > 0 THEN
		PERFORM parking.store_refusals(refused, 'status', p_lot_id, p_received_us,
			(SELECT array_agg(json_build_object(
				'lot_id', u.lot_id, 'online', u.online, 'system', u.system,
				'version', u.version, 'protocol', u.protocol)::text ORDER BY u.i)
			 FROM unnest(p_lot_id, p_online, p_system, p_version, p_protocol)
			      WITH ORDINALITY AS u(lot_id, online, system, version, protocol, i)));
		SELECT array_agg(u.lot_id ORDER BY u.i), array_agg(u.rec ORDER BY u.i),
		       array_agg(u.online ORDER BY u.i), array_agg(u.system ORDER BY u.i),
		       array_agg(u.version ORDER BY u.i), array_agg(u.protocol ORDER BY u.i),
		       array_agg(u.compliant ORDER BY u.i)
		INTO p_lot_id, p_received_us, p_online, p_system, p_version, p_protocol,
		     p_compliant
		FROM unnest(p_lot_id, p_received_us, p_online, p_system, p_version, p_protocol,
			    p_compliant) WITH ORDINALITY
		     AS u(lot_id, rec, online, system, version, protocol, compliant, i)
		WHERE NOT EXISTS (SELECT 1 FROM unnest(refused) AS r(lot_id)
				  WHERE r.lot_id = u.lot_id);
		IF p_lot_id IS NULL THEN
			RETURN;
		END IF;
	END IF;
	PERFORM parking.apply_status(p_lot_id, p_received_us, p_online, p_system, p_version,
				     p_protocol, p_compliant);
END
$$;
COMMENT ON FUNCTION parking.ingest_status(text[], bigint[], boolean[], text[], text[], text[],
					  boolean[]) IS
	'Daemon interface: apply a batch of controller status messages (per lot and field the newest '
	'reported value wins; NULL = not reported); a compliant protocol moves the lot to upgraded; '
	'messages of unknown lots past parking.ingest_limits are refused (lot_limit)';

REVOKE ALL ON FUNCTION parking.set_ingest_limits(integer, integer, integer, text),
	parking.refuse_unknown_lots(text[], bigint[]),
	parking.store_refusals(text[], text, text[], bigint[], text[]),
	parking.ingest_status(text[], bigint[], boolean[], text[], text[], text[], boolean[]),
	parking.apply_status(text[], bigint[], boolean[], text[], text[], text[], boolean[])
	FROM PUBLIC, parkfeed_ingest;
GRANT EXECUTE ON FUNCTION
	parking.ingest_status(text[], bigint[], boolean[], text[], text[], text[], boolean[])
	TO parkfeed_ingest;
GRANT EXECUTE ON FUNCTION parking.set_ingest_limits(integer, integer, integer, text)
	TO parkfeed_operator;

-- 010_broker: which lots get a broker account, and retiring a lot that is closed for good.
--
-- `parkfeedctl broker sync` keeps the broker's accounts (mosquitto's dynamic-security plugin)
-- in step with the registry: every lot an operator registered (registered = true) has an
-- account that may publish only under its own topics; a retired lot's account is disabled
-- (not deleted: its name stays taken and reinstating the lot enables it again with its old
-- password). Lots are never deleted from the registry (their history refers to them), so
-- "retired" is a mark on the row, set and cleared only through the audited set_retired.
--
-- Run by `parkfeedctl migrate` in one transaction under the migration advisory lock, once per
-- database (recorded in parking.schema_migrations by the caller).

SET LOCAL ROLE parkfeed_owner;
SET LOCAL search_path = pg_catalog, parking;

ALTER TABLE parking.lots ADD COLUMN retired_at timestamptz;
COMMENT ON COLUMN parking.lots.retired_at IS
	'When the lot was retired (closed for good; its broker account is disabled by parkfeedctl '
	'broker sync); NULL = in service';

CREATE TABLE parking.retirement_history (
	id          bigserial PRIMARY KEY,
	lot_id      text NOT NULL REFERENCES parking.lots (lot_id),
	action      text NOT NULL CHECK (action IN ('retire', 'reinstate')),
	at          timestamptz NOT NULL,
	actor       text NOT NULL,
	note        text,
	db_user     text NOT NULL DEFAULT session_user,
	recorded_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX retirement_history_lot_idx ON parking.retirement_history (lot_id, at);
COMMENT ON TABLE parking.retirement_history IS
	'Audit trail: every retirement and reinstatement of a lot, who made it and why';
COMMENT ON COLUMN parking.retirement_history.lot_id IS 'The lot';
COMMENT ON COLUMN parking.retirement_history.action IS 'retire or reinstate';
COMMENT ON COLUMN parking.retirement_history.at IS 'When it took effect';
COMMENT ON COLUMN parking.retirement_history.actor IS 'Operator who made the change';
COMMENT ON COLUMN parking.retirement_history.note IS 'Why';
COMMENT ON COLUMN parking.retirement_history.db_user IS 'Database login that made the change';
COMMENT ON COLUMN parking.retirement_history.recorded_at IS 'When the change was written';

CREATE FUNCTION parking.set_retired(p_lot_id text, p_retired boolean, p_actor text,
				    p_note text)
RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, parking, pg_temp AS $$
DECLARE
	cur timestamptz;
BEGIN
	IF coalesce(p_actor, '') = '' THEN
		RAISE EXCEPTION 'set_retired: an actor is required';
	END IF;
	IF p_retired IS NULL THEN
		RAISE EXCEPTION 'set_retired: say whether to retire (true) or reinstate (false)';
	END IF;
	IF p_retired AND coalesce(btrim(p_note), '') = '' THEN
		RAISE EXCEPTION 'retiring a lot needs a note saying why'
			USING HINT = 'pass --note TEXT';
	END IF;
	SELECT retired_at INTO cur FROM parking.lots WHERE lot_id = p_lot_id FOR UPDATE;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'no lot % in the registry', p_lot_id
			USING HINT = 'check the lot id with parkfeedctl lots list';
	END IF;
	IF p_retired AND cur IS NOT NULL THEN
		RAISE EXCEPTION 'lot % is already retired (since %)', p_lot_id, cur;
	END IF;
	IF NOT p_retired AND cur IS NULL THEN
		RAISE EXCEPTION 'lot % is not retired', p_lot_id;
	END IF;
	UPDATE parking.lots
	SET retired_at = CASE WHEN p_retired THEN now() END, updated_at = now()
	WHERE lot_id = p_lot_id;
	INSERT INTO parking.retirement_history (lot_id, action, at, actor, note)
	VALUES (p_lot_id, CASE WHEN p_retired THEN 'retire' ELSE 'reinstate' END, now(), p_actor,
		p_note);
END
$$;
COMMENT ON FUNCTION parking.set_retired(text, boolean, text, text) IS
	'Operator interface: retire a lot (closed for good: broker sync disables its account) or '
	'reinstate it; audited in retirement_history';

CREATE VIEW parking.broker_accounts AS
SELECT l.lot_id, l.name, l.district, l.retired_at IS NULL AS enabled, l.retired_at
FROM parking.lots l
WHERE l.registered;
COMMENT ON VIEW parking.broker_accounts IS
	'Which lots should have a broker account, and may it connect? (registered lots; a retired '
	'lot''s account is disabled) - what parkfeedctl broker sync makes the broker hold';
COMMENT ON COLUMN parking.broker_accounts.lot_id IS 'The lot: its account''s user name and client id';
COMMENT ON COLUMN parking.broker_accounts.name IS 'Lot name as the bureau knows it';
COMMENT ON COLUMN parking.broker_accounts.district IS 'County, city or district (县、市、区)';
COMMENT ON COLUMN parking.broker_accounts.enabled IS 'false: the lot is retired and its account disabled';
COMMENT ON COLUMN parking.broker_accounts.retired_at IS 'When the lot was retired (NULL = in service)';

REVOKE ALL ON parking.retirement_history, parking.broker_accounts FROM PUBLIC;
REVOKE ALL ON FUNCTION parking.set_retired(text, boolean, text, text) FROM PUBLIC;
-- Operators read new tables through 001's default privileges; they change retirement only
-- through set_retired (the column is not in their UPDATE grant on lots).
GRANT SELECT ON parking.retirement_history, parking.broker_accounts TO parkfeed_operator;
GRANT EXECUTE ON FUNCTION parking.set_retired(text, boolean, text, text) TO parkfeed_operator;

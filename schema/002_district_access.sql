-- 002_district_access: district staff see only their own districts' lots, through row-level security.
--
-- A district login role is granted parkfeed_district and one row per district in
-- parking.district_grants (parkfeedctl access grant LOGIN_ROLE DISTRICT). Row-level security on
-- the registry and the feed then lets it see those districts' rows and nothing else, directly
-- or through the my_* views (security_invoker: the policies apply to whoever queries them).
--
-- What stays as it was: the ingest functions, the operator functions and every 001 view are
-- owned by parkfeed_owner, and an owner is exempt from its tables' policies (no FORCE ROW LEVEL
-- SECURITY), so ingest, import, stage changes and parkfeed_reader's views see every row as
-- before; parkfeed_operator reads the tables directly and gets a policy that passes every row.
-- Ingest never uses COPY (PostgreSQL refuses COPY FROM on a table with policies for non-owners).
--
-- Run by `parkfeedctl migrate` in one transaction under the migration advisory lock, once per
-- database (recorded in parking.schema_migrations by the caller).

-- Cluster-wide, like 001's roles: another database may have created it already.
DO $roles$
BEGIN
	IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = 'parkfeed_district') THEN
		BEGIN
			CREATE ROLE parkfeed_district NOLOGIN;
		EXCEPTION WHEN duplicate_object OR unique_violation THEN
			NULL;
		END;
	END IF;
	-- parking.grant_district (run as parkfeed_owner) hands the role to district logins.
	IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_auth_members m
		       WHERE m.roleid = 'parkfeed_district'::regrole
			 AND m.member = 'parkfeed_owner'::regrole AND m.admin_option) THEN
		GRANT parkfeed_district TO parkfeed_owner WITH ADMIN OPTION;
	END IF;
END
$roles$;

COMMENT ON ROLE parkfeed_district IS
	'parkfeed: district staff: read their districts'' lots and data (parking.district_grants), '
	'row-level security hides the rest';

SET LOCAL ROLE parkfeed_owner;
SET LOCAL search_path = pg_catalog, parking;

GRANT USAGE ON SCHEMA parking TO parkfeed_district;

-- ---------------------------------------------------------------------------------------------
-- Who may see which district
-- ---------------------------------------------------------------------------------------------

CREATE TABLE parking.district_grants (
	role_name  text NOT NULL,
	district   text NOT NULL CHECK (district <> ''),
	granted_at timestamptz NOT NULL DEFAULT now(),
	granted_by text NOT NULL,
	PRIMARY KEY (role_name, district)
);
COMMENT ON TABLE parking.district_grants IS
	'Which login role (a member of parkfeed_district) may see which district''s lots; '
	'changed only through grant_district and revoke_district';
COMMENT ON COLUMN parking.district_grants.role_name IS 'PostgreSQL login role of the district staff';
COMMENT ON COLUMN parking.district_grants.district IS 'District (县、市、区) it may see, as in parking.lots.district';
COMMENT ON COLUMN parking.district_grants.granted_at IS 'When the grant was made';
COMMENT ON COLUMN parking.district_grants.granted_by IS 'Operator who made it';

CREATE TABLE parking.access_history (
	id          bigserial PRIMARY KEY,
	action      text NOT NULL CHECK (action IN ('grant', 'revoke')),
	role_name   text NOT NULL,
	district    text NOT NULL,
	actor       text NOT NULL,
	db_user     text NOT NULL DEFAULT session_user,
	recorded_at timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE parking.access_history IS 'Audit trail: every district grant and revoke';
COMMENT ON COLUMN parking.access_history.action IS 'grant or revoke';
COMMENT ON COLUMN parking.access_history.role_name IS 'Login role the change was about';
COMMENT ON COLUMN parking.access_history.district IS 'District granted or revoked';
COMMENT ON COLUMN parking.access_history.actor IS 'Operator who made the change';
COMMENT ON COLUMN parking.access_history.db_user IS 'Database login that made the change';
COMMENT ON COLUMN parking.access_history.recorded_at IS 'When the change was written';

-- ---------------------------------------------------------------------------------------------
-- Row-level security. Policies name the roles they apply to; a role named by none (other than
-- the owner) sees no rows even where it has a privilege.
-- ---------------------------------------------------------------------------------------------

ALTER TABLE parking.district_grants ENABLE ROW LEVEL SECURITY;
CREATE POLICY operator_all ON parking.district_grants FOR SELECT TO parkfeed_operator
	USING (true);
COMMENT ON POLICY operator_all ON parking.district_grants IS 'Operators see every grant';
-- Also what the policies below look through: a district role finds only its own grants here.
CREATE POLICY district_own ON parking.district_grants FOR SELECT TO parkfeed_district
	USING (role_name = current_user);
COMMENT ON POLICY district_own ON parking.district_grants IS
	'A district role sees its own grants only (current_user: SET ROLE to another login narrows it)';

ALTER TABLE parking.lots ENABLE ROW LEVEL SECURITY;
-- FOR ALL: operators also update some columns (parkfeedctl lots set); privileges still decide which.
CREATE POLICY operator_all ON parking.lots FOR ALL TO parkfeed_operator
	USING (true) WITH CHECK (true);
COMMENT ON POLICY operator_all ON parking.lots IS
	'Operators see (and, where privileges allow, update) every lot, as before row-level security';
CREATE POLICY district_granted ON parking.lots FOR SELECT TO parkfeed_district
	USING (district IN (SELECT g.district FROM parking.district_grants g));
COMMENT ON POLICY district_granted ON parking.lots IS
	'District staff see the lots of the districts granted to them (district_grants, itself filtered)';

-- The feed tables hold no district: a row is visible when its lot is (the subquery on lots is
-- filtered by the policy above, for the same user).
ALTER TABLE parking.lot_state ENABLE ROW LEVEL SECURITY;
CREATE POLICY operator_all ON parking.lot_state FOR SELECT TO parkfeed_operator USING (true);
COMMENT ON POLICY operator_all ON parking.lot_state IS 'Operators see every lot''s state';
CREATE POLICY district_granted ON parking.lot_state FOR SELECT TO parkfeed_district
	USING (lot_id IN (SELECT l.lot_id FROM parking.lots l));
COMMENT ON POLICY district_granted ON parking.lot_state IS 'District staff see the state of the lots they see';

-- On the partitioned parent: applies to every partition reached through it. The partitions
-- themselves are not granted to parkfeed_district, so the parent is the only way in.
ALTER TABLE parking.occupancy ENABLE ROW LEVEL SECURITY;
CREATE POLICY operator_all ON parking.occupancy FOR SELECT TO parkfeed_operator USING (true);
COMMENT ON POLICY operator_all ON parking.occupancy IS 'Operators see every observation';
CREATE POLICY district_granted ON parking.occupancy FOR SELECT TO parkfeed_district
	USING (lot_id IN (SELECT l.lot_id FROM parking.lots l));
COMMENT ON POLICY district_granted ON parking.occupancy IS
	'District staff see the observations of the lots they see';

ALTER TABLE parking.stage_history ENABLE ROW LEVEL SECURITY;
CREATE POLICY operator_all ON parking.stage_history FOR SELECT TO parkfeed_operator USING (true);
COMMENT ON POLICY operator_all ON parking.stage_history IS 'Operators see every stage change';
CREATE POLICY district_granted ON parking.stage_history FOR SELECT TO parkfeed_district
	USING (lot_id IN (SELECT l.lot_id FROM parking.lots l));
COMMENT ON POLICY district_granted ON parking.stage_history IS
	'District staff see the stage changes of the lots they see';

-- ---------------------------------------------------------------------------------------------
-- What district staff query (security_invoker: the caller's policies apply, not the owner's
-- exemption, unlike the 001 views)
-- ---------------------------------------------------------------------------------------------

CREATE VIEW parking.my_lots WITH (security_invoker = true) AS
SELECT l.lot_id, l.name, l.district, l.address, l.spaces, l.location, l.deadline, l.stage,
       l.stage_at, l.upgraded_at, l.connected_at, l.accepted_at, l.system, l.version, l.protocol,
       l.online, l.status_at, l.registered, l.expected_interval_s
FROM parking.lots l;
COMMENT ON VIEW parking.my_lots IS
	'Which lots are mine (the districts granted to me), and where is each in its upgrade?';

CREATE VIEW parking.my_lot_availability WITH (security_invoker = true) AS
SELECT l.lot_id, l.district, l.name, s.free, s.total, s.occupied,
       CASE WHEN s.total > 0
	    THEN round(100.0 * coalesce(s.occupied, s.total - s.free) / s.total, 2) END
	       AS occupancy_pct,
       s.status, s.observed_at, s.received_at,
       parking.freshness(s.received_at, l.expected_interval_s, l.online, l.status_at) AS freshness
FROM parking.lots l
JOIN parking.lot_state s ON s.lot_id = l.lot_id;
COMMENT ON VIEW parking.my_lot_availability IS
	'How many spaces are free at each of my lots right now, and can the number be trusted? '
	'(parking.lot_availability, limited to the districts granted to me)';
COMMENT ON COLUMN parking.my_lot_availability.occupancy_pct IS 'Occupied / total, percent (NULL if total is 0)';
COMMENT ON COLUMN parking.my_lot_availability.freshness IS
	'online (heard within 3x expected_interval_s), stale (within 10x) or offline';

CREATE VIEW parking.my_district_availability WITH (security_invoker = true) AS
SELECT a.district,
       count(*) AS lots_reporting,
       count(*) FILTER (WHERE a.freshness = 'online') AS lots_online,
       sum(a.free) FILTER (WHERE a.freshness = 'online') AS free,
       sum(a.total) FILTER (WHERE a.freshness = 'online') AS total
FROM parking.my_lot_availability a
GROUP BY a.district;
COMMENT ON VIEW parking.my_district_availability IS
	'How many spaces are free in each of my districts right now (fresh data only)?';
COMMENT ON COLUMN parking.my_district_availability.lots_reporting IS 'My lots that have ever reported';
COMMENT ON COLUMN parking.my_district_availability.lots_online IS 'My lots whose data is fresh';
COMMENT ON COLUMN parking.my_district_availability.free IS 'Free spaces in online lots';
COMMENT ON COLUMN parking.my_district_availability.total IS 'Spaces in service in online lots';

-- ---------------------------------------------------------------------------------------------
-- Operator interface (audited)
-- ---------------------------------------------------------------------------------------------

-- A grant to a role that already sees everything would be a no-op that reads like a limit.
CREATE FUNCTION parking.check_district_grantee(p_role text) RETURNS void
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, parking, pg_temp AS $$
DECLARE
	r pg_catalog.pg_roles%ROWTYPE;
	g text;
BEGIN
	SELECT * INTO r FROM pg_catalog.pg_roles WHERE rolname = p_role;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'no role % in this cluster', p_role
			USING HINT = 'create the login role first: CREATE ROLE name LOGIN';
	END IF;
	IF NOT r.rolcanlogin THEN
		RAISE EXCEPTION 'role % cannot log in: grant districts to the staff''s login role', p_role;
	END IF;
	IF r.rolsuper OR r.rolbypassrls THEN
		RAISE EXCEPTION 'role % bypasses row-level security: a district grant would not limit it',
			p_role;
	END IF;
	FOREACH g IN ARRAY ARRAY['parkfeed_owner', 'parkfeed_operator', 'parkfeed_ingest',
				 'parkfeed_reader'] LOOP
		IF pg_catalog.pg_has_role(p_role, g, 'MEMBER') THEN
			RAISE EXCEPTION 'role % is a member of %: district staff must be a role of its own',
				p_role, g USING HINT = format('REVOKE %I FROM %I, or use another login', g, p_role);
		END IF;
	END LOOP;
END
$$;
COMMENT ON FUNCTION parking.check_district_grantee(text) IS
	'Part of grant_district: the grantee must be a plain login role (no owner, operator, ingest '
	'or reader membership, no superuser or BYPASSRLS)';

CREATE FUNCTION parking.grant_district(p_role text, p_district text, p_actor text)
RETURNS boolean
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, parking, pg_temp AS $$
DECLARE
	fresh boolean;
BEGIN
	IF coalesce(p_actor, '') = '' THEN
		RAISE EXCEPTION 'grant_district: an actor is required';
	END IF;
	IF coalesce(btrim(p_district), '') = '' THEN
		RAISE EXCEPTION 'grant_district: a district is required';
	END IF;
	PERFORM parking.check_district_grantee(p_role);
	-- A misspelt district would grant nothing, silently.
	IF NOT EXISTS (SELECT 1 FROM parking.lots WHERE district = p_district)
	   AND NOT EXISTS (SELECT 1 FROM parking.district_targets WHERE district = p_district) THEN
		RAISE EXCEPTION 'no lot and no target in district %', p_district
			USING HINT = 'check the spelling against parkfeedctl lots list, or import the lots first';
	END IF;
	INSERT INTO parking.district_grants (role_name, district, granted_by)
	VALUES (p_role, p_district, p_actor)
	ON CONFLICT (role_name, district) DO NOTHING;
	fresh := FOUND;
	IF fresh THEN
		INSERT INTO parking.access_history (action, role_name, district, actor)
		VALUES ('grant', p_role, p_district, p_actor);
	END IF;
	IF NOT pg_catalog.pg_has_role(p_role, 'parkfeed_district', 'MEMBER') THEN
		EXECUTE format('GRANT parkfeed_district TO %I', p_role);
	END IF;
	RETURN fresh;
END
$$;
COMMENT ON FUNCTION parking.grant_district(text, text, text) IS
	'Operator interface: let a login role see one district''s lots (makes it a member of '
	'parkfeed_district); audited in access_history; false if it was granted already';

CREATE FUNCTION parking.revoke_district(p_role text, p_district text, p_actor text)
RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, parking, pg_temp AS $$
BEGIN
	IF coalesce(p_actor, '') = '' THEN
		RAISE EXCEPTION 'revoke_district: an actor is required';
	END IF;
	DELETE FROM parking.district_grants WHERE role_name = p_role AND district = p_district;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'role % has no grant for district %', p_role, p_district
			USING HINT = 'see parkfeedctl access list';
	END IF;
	INSERT INTO parking.access_history (action, role_name, district, actor)
	VALUES ('revoke', p_role, p_district, p_actor);
	-- The last district gone: the role loses its privileges too, not just its rows.
	IF NOT EXISTS (SELECT 1 FROM parking.district_grants WHERE role_name = p_role)
	   AND EXISTS (SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = p_role)
	   AND pg_catalog.pg_has_role(p_role, 'parkfeed_district', 'MEMBER') THEN
		EXECUTE format('REVOKE parkfeed_district FROM %I', p_role);
	END IF;
END
$$;
COMMENT ON FUNCTION parking.revoke_district(text, text, text) IS
	'Operator interface: take one district away from a login role (and parkfeed_district with '
	'its last one); audited in access_history';

-- ---------------------------------------------------------------------------------------------
-- Privileges
-- ---------------------------------------------------------------------------------------------

REVOKE ALL ON parking.district_grants, parking.access_history FROM PUBLIC;
REVOKE ALL ON FUNCTION parking.check_district_grantee(text), parking.grant_district(text, text, text),
	parking.revoke_district(text, text, text) FROM PUBLIC;

-- Operators already read new tables (001's default privileges); they change grants only here.
GRANT EXECUTE ON FUNCTION parking.grant_district(text, text, text),
	parking.revoke_district(text, text, text) TO parkfeed_operator;

GRANT SELECT ON parking.lots, parking.lot_state, parking.occupancy, parking.stage_history,
	parking.district_grants, parking.my_lots, parking.my_lot_availability,
	parking.my_district_availability TO parkfeed_district;
GRANT EXECUTE ON FUNCTION parking.freshness(timestamptz, integer, boolean, timestamptz)
	TO parkfeed_district;

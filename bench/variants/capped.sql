-- capped: turns the opt-in per-lot cap on for the run (the bench's 500 lots send 60
-- observations a minute each: at 1000 nothing is refused, the cap's counting is measured) and
-- times the schema's function, renamed ingest_occupancy_current by the bench, again. Give it
-- after unchecked.sql, whose comment has the command.
UPDATE parking.ingest_limits SET max_per_lot_minute = 1000;
CREATE FUNCTION parking.ingest_occupancy(a text[], b bigint[], c bigint[], d integer[],
					 e integer[], f integer[], g text[], h bigint[], i text[])
RETURNS integer LANGUAGE sql AS 'SELECT parking.ingest_occupancy_current(a, b, c, d, e, f, g, h, i)';

/* lots import --dry-run: what the import would change, read back inside the import's own
 * transaction before it is rolled back, so the preview is exactly what an import does. */
#include <stdio.h>
#include <string.h>

#include "ctl.h"

/*
 * The changes of this transaction: the audit rows its import wrote (lot_history, stage_history)
 * and the lots it created. District moves first: they decide who sees a lot and where it
 * counts in the ledger.
 */
static const char changes_sql[] =
	"WITH mine AS (SELECT h.* FROM parking.lot_history h "
	"              WHERE h.xmin = pg_catalog.pg_current_xact_id()::xid), "
	"fresh AS (SELECT l.lot_id FROM parking.lots l "
	"          WHERE l.xmin = pg_catalog.pg_current_xact_id()::xid AND l.created_at = now()) "
	"SELECT lot_id, change, old, new FROM ("
	"  SELECT 1 AS k, m.id, m.lot_id, m.field AS change, m.old_value AS old, "
	"         m.new_value AS new "
	"  FROM mine m WHERE m.field = 'district' AND m.lot_id NOT IN (SELECT lot_id FROM fresh) "
	"  UNION ALL "
	"  SELECT 2, m.id, m.lot_id, m.field, m.old_value, m.new_value "
	"  FROM mine m WHERE m.field <> 'district' AND m.lot_id NOT IN (SELECT lot_id FROM fresh) "
	"  UNION ALL "
	"  SELECT 3, 0, f.lot_id, 'new lot', NULL, "
	"         (SELECT string_agg(m.field || ' ' || m.new_value, ', ' ORDER BY m.id) "
	"          FROM mine m WHERE m.lot_id = f.lot_id) "
	"  FROM fresh f "
	"  UNION ALL "
	"  SELECT 4, s.id, s.lot_id, 'stage', s.from_stage::text, "
	"         s.stage || ' at ' || to_char(s.at, 'YYYY-MM-DD HH24:MI:SS') "
	"  FROM parking.stage_history s WHERE s.xmin = pg_catalog.pg_current_xact_id()::xid"
	") AS x ORDER BY k, lot_id COLLATE \"C\", id";

int ctl__import_preview(PGconn *conn, const char *file, size_t nrows, const PGresult *counts)
{
	PGresult *res = ctl__exec(conn, "lots import --dry-run", changes_sql, 0, NULL);
	const char *kept = PQgetvalue(counts, 0, 3);
	struct pf_buf b;
	int moves = 0, rc = 0;

	if (!res)
		return -1;
	for (int r = 0; r < PQntuples(res); r++)
		moves += strcmp(PQgetvalue(res, r, 1), "district") == 0;
	if (PQntuples(res))
		rc = ctl__print_result(res, CTL_FMT_TABLE, NULL);
	PQclear(res);
	if (rc < 0)
		return -1;
	pf_buf_init(&b);
	pf_buf_human(&b, file);
	pf_buf_printf(&b,
		      ": dry run: %zu lots (%s new, %s updated), %d district change(s), %s stage "
		      "change(s)",
		      nrows, PQgetvalue(counts, 0, 0), PQgetvalue(counts, 0, 1), moves,
		      PQgetvalue(counts, 0, 2));
	if (strcmp(kept, "0") != 0)
		pf_buf_printf(&b, "; %s rows' stages are behind the registry and would be kept",
			      kept);
	pf_buf_puts(&b, "; nothing was changed\n");
	rc = ctl__emit(&b);
	pf_buf_free(&b);
	return rc;
}

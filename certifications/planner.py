"""Planner statistics (and visibility) for the facility tables after a bulk load.

PostgreSQL plans every list page from the statistics ANALYZE keeps. A table filled by COPY or a large import
has none (or stale ones) until autovacuum gets to it, which may be minutes later, or never where autovacuum
is tuned down; until then the planner guesses a handful of rows per filter and sorts every match instead of
walking an index in order (hundreds of milliseconds per page at a million rows). So whatever loads facilities
in bulk refreshes the statistics before it reports success.

Outside a transaction the owner also VACUUMs: on freshly written rows VACUUM also sets the hint bits and the
visibility map. Without it the first reader of each page writes the page back (bench/facilities.py showed list
queries writing over a thousand buffers each after a load), and counts cannot be answered from an index alone.
VACUUM skips pages that are already all-visible, so after a small import it reads only what changed.
"""

from __future__ import annotations

from django.db import connection

from certifications.models import Facility, FacilitySite

FACILITY_TABLES = (Facility._meta.db_table, FacilitySite._meta.db_table)


def facility_statistics_refresh() -> None:
    """ANALYZE the facility and site tables (certifications_facility_analyze(), which runs with the owner's
    rights, since only a table's owner may analyse it), then, outside a transaction and where this connection
    owns them (the generator run as the owner), VACUUM them. ANALYZE samples a fixed number of rows: seconds
    even at millions of facilities."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT certifications_facility_analyze()")
        if connection.in_atomic_block:
            return
        cursor.execute(
            "SELECT bool_and(pg_has_role(relowner, 'USAGE')) FROM pg_class WHERE oid = ANY(%s::regclass[])",
            [list(FACILITY_TABLES)],
        )
        if cursor.fetchone()[0]:
            # Table names come from model meta, never from input.
            cursor.execute(f"VACUUM {', '.join(FACILITY_TABLES)}")

"""PostgreSQL CSV export through `COPY (SELECT ...) TO STDOUT`: the same rows, columns and display text as
the Python path in exports.py, formatted by the database and streamed to the client as the COPY runs.

Recording before sending: the connection cannot run the disclosure's INSERT while a COPY is streaming on
it, so the export's facility IDs are read first, in the export's order (one narrow query: an index-only
scan for the usual filters, whose indexes all end in facility_id). Then, batch by batch, the batch's IDs
are recorded (committed) and a COPY limited to exactly those IDs (`facility_id = ANY(...)`, answered by the
same (column, facility_id) indexes) sends its rows: a facility added to or moved into the scope meanwhile
cannot leave unrecorded, and one moved out of it is dropped by the scope condition, which stays in every
statement. The alternatives are slower or weaker: parsing IDs out of one COPY's output means spooling the
whole COPY before the first byte (the INSERTs must wait for the COPY to end); recording every ID before
one big COPY delays the first byte until PostgreSQL has sorted the whole export; a second connection for
the COPY would not see the caller's uncommitted transaction.

The SELECT is the person's scoped, filtered queryset; only the allowed columns are named in it. Text
columns have line breaks folded to spaces, so every "\\n" in the output ends a record and becomes "\\r\\n"
for Excel.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

from django.db import models
from django.db.models import BooleanField, F, QuerySet
from django.db.models.expressions import RawSQL
from django.http import HttpRequest
from django.utils.translation import gettext as _

from audit.disclosure import disclose
from certifications import policy
from certifications.models import Facility, FacilitySite
from certifications.municipalities import municipalities
from certifications.presentation import MONTH_FIELDS
from certifications.search import SORTS, ordered
from renergy.geography import PREFECTURES
from renergy.replica import read_connection

CHUNK_ROWS = 5000  # records per piece handed to the response
# Rows recorded and COPYed by the first statement (small: its rows are the first to leave) and by each later
# one (large: a batch's IDs become an index condition, so many small batches would cost more than one big
# one; measured at 60,419 rows: 2,000 then the rest ran as fast as one COPY, 5,000/10,000/20,000/... 25 %
# slower).
FIRST_BATCH_ROWS = 2000
BATCH_ROWS = 100_000
TABLE = f'"{Facility._meta.db_table}"'
ID_SEPARATOR = "\x1f"  # ASCII unit separator, never in a facility ID (checked in copy_sql)
SITE_TABLE = f'"{FacilitySite._meta.db_table}"'
# Session settings for the COPY only (reset afterwards). The per-row sites subquery pushes the estimate
# past jit_above_cost, and compiling the plan then costs more than running it (seconds, for a 60,000-row
# export). DateStyle ISO makes COPY print a date as YYYY-MM-DD itself, cheaper than to_char() per cell.
# work_mem lets the sort of one export (a few tens of MB at the row cap) stay in memory.
COPY_SETTINGS = {"jit": "off", "datestyle": "ISO, YMD", "work_mem": "64MB"}


def _column(field: str) -> str:
    return f'{TABLE}."{Facility._meta.get_field(field).column}"'


def _fold(sql: str) -> str:
    """Line breaks to spaces. replace() returns its input untouched when there is nothing to replace, where
    translate() rebuilds every (multibyte) value; a few per cent of the whole export."""
    return f"replace(replace({sql}, E'\\r', ' '), E'\\n', ' ')"


def _month_pattern() -> str:
    """The translated 「%(year)d年%(month)d月」 as a to_char() pattern (literal text double-quoted)."""
    template = _("%(year)d年%(month)d月")
    out = []
    # A translation may pad (English: "%(year)d-%(month)02d"): FM drops to_char's padding, a width keeps it.
    for index, part in enumerate(re.split(r"%\((year|month)\)(0?\d*)d", template)):
        if index % 3 == 1:
            name = part
        elif index % 3 == 2:
            pattern = "YYYY" if name == "year" else "MM"
            out.append(pattern if part.startswith("0") else "FM" + pattern)
        elif part:
            out.append('"' + part.replace('"', "") + '"')
    return "".join(out)


def _expression(field: str) -> tuple[str, list[Any]]:
    """SQL text and parameters rendering one policy field as exports.py's formatter() does."""
    if field == "sites":
        # ARRAY(... ORDER BY position) reads the addresses in the order of the (facility, position) unique
        # index; string_agg(... ORDER BY) would sort every facility's sites again.
        return (
            f"array_to_string(ARRAY(SELECT {_fold('s.address')} FROM {SITE_TABLE} s "  # noqa: S608
            f"WHERE s.facility_id = {TABLE}.id ORDER BY s.position), ' / ')",
            [],
        )
    column = _column(field)
    if field == "municipality_code":
        names = json.dumps({code: name for code, (_pref, name) in municipalities().items()}, ensure_ascii=False)
        return f"trim({column} || ' ' || coalesce(%s::jsonb ->> {column}, ''))", [names]
    if field == "prefecture_code":
        names = json.dumps({code: name for code, (name, _area) in PREFECTURES.items()}, ensure_ascii=False)
        return f"coalesce(%s::jsonb ->> {column}, {column})", [names]
    if field in MONTH_FIELDS:
        return f"to_char({column}, %s)", [_month_pattern()]
    model_field = Facility._meta.get_field(field)
    if model_field.choices:
        labels = json.dumps({str(key): str(label) for key, label in model_field.flatchoices}, ensure_ascii=False)
        return f"coalesce(%s::jsonb ->> {column}, {column})", [labels]
    if isinstance(model_field, models.BooleanField):
        return f"CASE WHEN {column} THEN %s WHEN NOT {column} THEN %s END", [_("有"), _("無")]
    if isinstance(model_field, models.DecimalField):
        return f"trim_scale({column})::text", []
    if isinstance(model_field, models.DateField):
        return column, []  # printed as YYYY-MM-DD under COPY_SETTINGS' DateStyle
    if isinstance(model_field, models.CharField):
        return _fold(column), []
    return f"{column}::text", []


def copy_sql(
    queryset: QuerySet[Facility], fields: tuple[str, ...], *, sort_key: str, facility_ids: list[str]
) -> tuple[str, list[Any]]:
    """The COPY statement for the (scoped, filtered) queryset, limited to `facility_ids`, in the search order.

    The formatted columns, the sites subquery included, are computed in an inner query (OFFSET 0 keeps the
    planner from merging it) in the order the rows are read, and only then sorted: with the ORDER BY and
    LIMIT in the same query level, PostgreSQL postpones the subquery past the sort and runs it once per row
    in facility_id order, jumping around the sites index (measured 20 % slower at 60,419 rows).
    """
    assert fields and set(fields) <= set(policy.ALL_FIELDS)
    column, descending = SORTS[sort_key]
    # Identifiers come from the model, field names from the policy (checked above); values are parameters.
    annotations: dict[str, Any] = {f"c{index}": RawSQL(*_expression(field)) for index, field in enumerate(fields)}  # noqa: S611
    keys = {"k0": F(column), "k1": F("facility_id")}
    # One string split by the server: psycopg quotes a list element by element in Python (0.13 s for 60,000
    # IDs). The separator cannot be part of an ID, or an ID could be cut into others that were not recorded.
    joined = ID_SEPARATOR.join(facility_ids)
    if joined.count(ID_SEPARATOR) != len(facility_ids) - 1:  # the importer allows [A-Z0-9] only; fail closed
        raise ValueError("a facility ID holds the export's ID separator")
    recorded = RawSQL(  # noqa: S611 - the table name from the model, the IDs a parameter
        f'{TABLE}."facility_id" = ANY(string_to_array(%s, %s))', (joined, ID_SEPARATOR), output_field=BooleanField()
    )
    inner = queryset.filter(recorded).order_by().annotate(**annotations, **keys).values_list(*annotations, *keys)
    sql, params = inner.query.sql_with_params()
    direction = " DESC" if descending else ""
    order = f"k1{direction}" if column == "facility_id" else f"k0{direction}, k1{direction}"
    select = (
        f"SELECT {', '.join(annotations)} FROM ({sql} OFFSET 0) AS export "  # noqa: S608
        f"ORDER BY {order} LIMIT {len(facility_ids)}"
    )
    return f"COPY ({select}) TO STDOUT WITH (FORMAT csv)", list(params)


def export_ids(queryset: QuerySet[Facility], *, sort_key: str, limit: int) -> list[str]:
    """The facility IDs of the export, in its order: what is recorded before the COPY runs."""
    return list(ordered(queryset, sort_key).values_list("facility_id", flat=True)[:limit])


def csv_copy_stream(
    request: HttpRequest,
    queryset: QuerySet[Facility],
    *,
    sort_key: str,
    fields: tuple[str, ...],
    limit: int,
    header: bytes,
) -> Iterator[bytes]:
    """The export's IDs are read first; then batch after batch of them is recorded (committed; AuditUnavailable
    propagates and nothing more is sent) and COPYed, the output streamed as it arrives in pieces of at most
    CHUNK_ROWS records. The first batch is small, so the first byte leaves after a short COPY rather than
    after PostgreSQL has sorted the whole export; memory stays flat whatever the size."""
    facility_ids = export_ids(queryset, sort_key=sort_key, limit=limit)
    if not facility_ids:
        yield header
        return
    first = header
    names = list(COPY_SETTINGS)
    # The replica inside exports.csv_stream when one is configured: the disclosures still go to the primary.
    db = read_connection()
    with db.cursor() as cursor:
        cursor.execute(
            "SELECT " + ", ".join("set_config(%s, %s, false)" for _name in names),
            [item for name in names for item in (name, COPY_SETTINGS[name])],
        )
        finished = False
        try:
            start, size = 0, FIRST_BATCH_ROWS
            while start < len(facility_ids):
                batch = facility_ids[start : start + size]
                start += len(batch)
                size = BATCH_ROWS
                disclose(request, facility_ids=batch, fields=list(fields), kind="export", immediate=True)
                statement, params = copy_sql(queryset, fields, sort_key=sort_key, facility_ids=batch)
                pending = bytearray()
                rows = 0
                with cursor.cursor.copy(statement, params) as copy:
                    # PostgreSQL sends one record per CopyData message, so the pieces end on whole records;
                    # were the messages cut otherwise, the bytes would still go out unchanged and in order.
                    for block in copy:
                        offset = len(pending)
                        pending += block
                        rows += pending.count(b"\n", offset)
                        if rows >= CHUNK_ROWS:
                            yield first + bytes(pending).replace(b"\n", b"\r\n")
                            first = b""
                            pending.clear()
                            rows = 0
                if pending:
                    yield first + bytes(pending).replace(b"\n", b"\r\n")
                    first = b""
            finished = True
        finally:
            if finished:
                cursor.execute("RESET jit; RESET datestyle; RESET work_mem")
            else:
                # Closed early (client gone, or a response dropped and collected): this may run from the garbage
                # collector in the middle of another query on the same connection, where SQL would deadlock. The
                # connection still holds the settings (and may be mid-COPY), so Django drops it at request end.
                db.close_at = 0
    if first:  # every recorded facility left the scope in between: the header alone
        yield first

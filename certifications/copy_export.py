"""Facility downloads through PostgreSQL `COPY (SELECT ...) TO STDOUT`: the database formats every cell (the CSV
text, or the XLSX sheet's XML) and the rows stream out as the COPY runs.

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

The SELECT is the person's scoped, filtered queryset; only the allowed columns are named in it, masked
fields (policy.MASKS) are computed as the person may see them, and every text cell is neutralised
(renergy.spreadsheet). A line break inside a value stays inside its quoted CSV field (COPY quotes it); in
the XLSX it becomes a space.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

from django.core.exceptions import EmptyResultSet
from django.db import connections, models
from django.db.models import BooleanField, F, QuerySet
from django.db.models.expressions import RawSQL
from django.http import HttpRequest
from django.utils.translation import gettext as _

from audit.disclosure import disclose
from certifications import policy
from certifications.models import Facility, facility_field
from certifications.municipalities import municipalities
from certifications.presentation import MONTH_FIELDS
from certifications.search import SORTS, ordered
from renergy.geography import PREFECTURES
from renergy.replica import read_connection
from renergy.spreadsheet import MAX_WIDTH, MIN_WIDTH, neutralise_sql

CHUNK_ROWS = 5000  # records per piece handed to the response
# Rows recorded and COPYed by the first statement (small: its rows are the first to leave) and by each later
# one (large: a batch's IDs become an index condition, so many small batches would cost more than one big
# one; measured at 60,419 rows: 2,000 then the rest ran as fast as one COPY, 5,000/10,000/20,000/... 25 %
# slower).
FIRST_BATCH_ROWS = 2000
BATCH_ROWS = 100_000
WIDTH_SAMPLE_ROWS = 2000  # XLSX column widths fit the longest value among the first rows
TABLE = f'"{Facility._meta.db_table}"'
ID_SEPARATOR = "\x1f"  # ASCII unit separator, never in a facility ID (checked in _recorded)
# Session settings for the COPY only (reset afterwards). The per-row sites subquery pushes the estimate
# past jit_above_cost, and compiling the plan then costs more than running it (seconds, for a 60,000-row
# export). DateStyle ISO makes COPY print a date as YYYY-MM-DD itself, cheaper than to_char() per cell.
# work_mem lets the sort of one export (a few tens of MB at the row cap) stay in memory.
# statement_timeout: a large export's COPY may outlast the request-sized limit (renergy.databases).
COPY_SETTINGS = {"jit": "off", "datestyle": "ISO, YMD", "work_mem": "64MB", "statement_timeout": "0"}
# Excel stores a date as days since 1899-12-30 (the 1900 leap-year bug included).
EXCEL_EPOCH_SQL = "DATE '1899-12-30'"


def cell_kind(field: str) -> str:
    """The XLSX cell type of a policy field (CSV writes them all as text)."""
    if field in MONTH_FIELDS:
        return "month"
    if field in policy.RELATED_FIELDS:
        return "text"
    model_field = facility_field(field)
    if model_field.choices or isinstance(model_field, models.BooleanField):
        return "text"
    if isinstance(model_field, models.DecimalField):
        return "decimal"
    if isinstance(model_field, models.PositiveIntegerField):
        return "integer"
    if isinstance(model_field, models.DateField):
        return "date"
    return "text"


def _free_text(field: str) -> bool:
    """Whether a text cell may hold stored text as it was written, so may begin with a formula character and
    is neutralised (renergy.spreadsheet) as the last step. A choice or yes/no cell is one of this code's labels
    (an unknown stored value falls through neutralised, in _text_expression): checking its every cell again
    cost a tenth of a 60,000-row CSV export."""
    if field in policy.RELATED_FIELDS:
        return True
    model_field = facility_field(field)
    return not (model_field.choices or isinstance(model_field, models.BooleanField))


def _column(field: str) -> str:
    return f'{TABLE}."{facility_field(field).column}"'


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


def _text_expression(field: str, masks: dict[str, policy.Mask]) -> tuple[str, list[Any]]:
    """SQL text and parameters rendering one policy field as its display text (presentation.formatter)."""
    if field == "sites":
        # Joined by the database whenever the sites change (certifications migration 0008): a column read
        # instead of a sub-query over the sites for every row.
        return f"{TABLE}.sites_text", []
    if field in masks:
        return policy.masked_sql(masks[field], TABLE)
    column = _column(field)
    if field == "municipality_code":
        names = json.dumps({code: name for code, (_pref, name) in municipalities().items()}, ensure_ascii=False)
        return f"trim({column} || ' ' || coalesce(%s::jsonb ->> {column}, ''))", [names]
    if field == "prefecture_code":
        names = json.dumps({code: name for code, (name, _area) in PREFECTURES.items()}, ensure_ascii=False)
        return f"coalesce(%s::jsonb ->> {column}, {neutralise_sql(column)})", [names]
    if field in MONTH_FIELDS:
        return f"to_char({column}, %s)", [_month_pattern()]
    model_field = facility_field(field)
    if model_field.choices:
        # A CASE over a handful of keys is cheaper per row than a jsonb lookup.
        choices = list(model_field.flatchoices)
        whens = " ".join("WHEN %s THEN %s" for _choice in choices)
        return (
            f"CASE {column} {whens} ELSE {neutralise_sql(column)} END",
            [str(item) for pair in choices for item in pair],
        )
    if isinstance(model_field, models.BooleanField):
        return f"CASE WHEN {column} THEN %s WHEN NOT {column} THEN %s END", [_("有"), _("無")]
    if isinstance(model_field, models.DecimalField):
        return f"trim_scale({column})::text", []
    if isinstance(model_field, models.DateField):
        return f"{column}::text", []  # YYYY-MM-DD under COPY_SETTINGS' DateStyle
    if isinstance(model_field, models.CharField):
        return column, []
    return f"{column}::text", []


def _value_expression(field: str, masks: dict[str, policy.Mask]) -> tuple[str, list[Any]]:
    """The raw value an XLSX number cell holds: decimal text, or the Excel serial day of a date."""
    kind = cell_kind(field)
    if kind == "text":
        return _text_expression(field, masks)
    column = _column(field)
    if kind in ("date", "month"):
        return f"({column} - {EXCEL_EPOCH_SQL})::text", []
    if kind == "decimal":
        return f"trim_scale({column})::text", []
    return f"{column}::text", []


def _recorded(facility_ids: list[str]) -> RawSQL:
    # One string split by the server: psycopg quotes a list element by element in Python (0.13 s for 60,000
    # IDs). The separator cannot be part of an ID, or an ID could be cut into others that were not recorded.
    joined = ID_SEPARATOR.join(facility_ids)
    if joined.count(ID_SEPARATOR) != len(facility_ids) - 1:  # the importer allows [A-Z0-9] only; fail closed
        raise ValueError("a facility ID holds the export's ID separator")
    return RawSQL(  # noqa: S611 - the table name from the model, the IDs a parameter
        f'{TABLE}."facility_id" = ANY(string_to_array(%s, %s))', (joined, ID_SEPARATOR), output_field=BooleanField()
    )


def _inner(
    queryset: QuerySet[Facility], expressions: list[tuple[str, list[Any]]], *, sort_key: str, facility_ids: list[str]
) -> tuple[str, list[Any], str]:
    """(SQL, params, ORDER BY) of the inner query computing c0, c1, … plus the sort keys k0, k1 for the IDs.

    The planner merges it into the outer query, so an index that gives the export's order is walked instead
    of sorting the formatted rows (11-15 % faster at 60,000 rows sorted by capacity or certification date,
    the same by facility ID). An earlier version kept it apart (OFFSET 0) while the sites cell was a
    sub-query per row, which PostgreSQL ran after the sort; the cell is a column now (sites_text).
    """
    column, descending = SORTS[sort_key]
    # Identifiers come from the model, field names from the policy; values are parameters.
    annotations: dict[str, Any] = {f"c{index}": RawSQL(*expression) for index, expression in enumerate(expressions)}  # noqa: S611
    keys = {"k0": F(column), "k1": F("facility_id")}
    inner = (
        queryset.filter(_recorded(facility_ids))
        .order_by()
        .annotate(**annotations, **keys)
        .values_list(*annotations, *keys)
    )
    sql, params = inner.query.sql_with_params()
    direction = " DESC" if descending else ""
    order = f"k1{direction}" if column == "facility_id" else f"k0{direction}, k1{direction}"
    return f"({sql}) AS export", list(params), order


def csv_sql(
    queryset: QuerySet[Facility], fields: tuple[str, ...], *, user: Any, sort_key: str, facility_ids: list[str]
) -> tuple[str, list[Any]]:
    """The CSV COPY statement for the (scoped, filtered) queryset, limited to `facility_ids`, in the search
    order; text cells neutralised."""
    assert fields and set(fields) <= set(policy.ALL_FIELDS)
    masks = policy.masks_for(user)
    source, params, order = _inner(
        queryset, [_text_expression(field, masks) for field in fields], sort_key=sort_key, facility_ids=facility_ids
    )
    cells = ", ".join(
        neutralise_sql(f"c{index}") if cell_kind(field) == "text" and _free_text(field) else f"c{index}"
        for index, field in enumerate(fields)
    )
    select = f"SELECT {cells} FROM {source} ORDER BY {order} LIMIT {len(facility_ids)}"  # noqa: S608
    return f"COPY ({select}) TO STDOUT WITH (FORMAT csv)", params


def _letters(index: int) -> str:
    """Excel column letters of a zero-based column index (0 -> A, 26 -> AA)."""
    letters = ""
    index += 1
    while index:
        index, remainder = divmod(index - 1, 26)
        letters = chr(65 + remainder) + letters
    return letters


def _xml_escape(sql: str) -> str:
    return f"replace(replace(replace({sql}, '&', '&amp;'), '<', '&lt;'), '>', '&gt;')"


def xlsx_rows_sql(
    queryset: QuerySet[Facility],
    fields: tuple[str, ...],
    *,
    user: Any,
    sort_key: str,
    facility_ids: list[str],
    first_row: int,
    styles: dict[str, int],
) -> tuple[str, list[Any]]:
    """A COPY statement whose output lines are the sheet's `<row>` elements, from row number `first_row` on:
    inline-string cells for text, numbers with a style for decimals, integers and dates (Excel serial days).
    An empty value writes no cell (each cell carries its reference, so the next one stays in its column)."""
    assert fields and set(fields) <= set(policy.ALL_FIELDS)
    masks = policy.masks_for(user)
    source, params, order = _inner(
        queryset, [_value_expression(field, masks) for field in fields], sort_key=sort_key, facility_ids=facility_ids
    )
    cells = []
    for index, field in enumerate(fields):
        kind = cell_kind(field)
        reference = f"'<c r=\"{_letters(index)}' || n"
        if kind == "text":
            text = f"NULLIF(c{index}, '')"
            value = _xml_escape(neutralise_sql(text) if _free_text(field) else text)
            cells.append(f"{reference} || '\" t=\"inlineStr\"><is><t>' || {value} || '</t></is></c>'")
        else:
            cells.append(f"{reference} || '\" s=\"{styles[kind]}\"><v>' || c{index} || '</v></c>'")
    # concat() builds each row once; a chain of || would copy the growing row for every cell. A NULL cell
    # (its value NULL, so the whole || chain NULL) is skipped by concat().
    row = f"concat('<row r=\"', n, '\">', {', '.join(cells)}, '</row>')"
    numbered = f"SELECT *, (row_number() OVER (ORDER BY {order}) + {int(first_row) - 1})::text AS n FROM {source}"  # noqa: S608
    select = f"SELECT {row} FROM ({numbered}) AS numbered ORDER BY {order} LIMIT {len(facility_ids)}"  # noqa: S608
    return f"COPY ({select}) TO STDOUT", params


def xlsx_widths(
    queryset: QuerySet[Facility], fields: tuple[str, ...], *, user: Any, sort_key: str, facility_ids: list[str]
) -> list[int]:
    """Column widths (Excel character units) fitting the longest display text of each column among the first
    rows: wide (CJK) characters, three bytes in UTF-8, count two."""
    if not facility_ids:
        return []
    masks = policy.masks_for(user)
    sample = facility_ids[:WIDTH_SAMPLE_ROWS]
    source, params, _order = _inner(
        queryset, [_text_expression(field, masks) for field in fields], sort_key=sort_key, facility_ids=sample
    )
    widths = ", ".join(f"max((octet_length(c{i}) + char_length(c{i})) / 2)" for i in range(len(fields)))
    with read_connection().cursor() as cursor:
        cursor.execute(f"SELECT {widths} FROM {source}", params)  # noqa: S608
        found = cursor.fetchone()
    return [max(MIN_WIDTH, min(MAX_WIDTH, (width or 0) + 2)) for width in found]


def export_ids(queryset: QuerySet[Facility], *, sort_key: str, limit: int) -> list[str]:
    """The facility IDs of the export, in its order: what is recorded before the COPY runs.

    Read as one string joined by the server and split here: 60,419 IDs as rows took 88 ms in Python against
    15 ms for the index-only scan; ARRAY(subquery) keeps the subquery's order. An ID holding the separator
    would come out cut in two, and then match no row of the COPY (it names only recorded IDs): fail closed."""
    ids = ordered(queryset, sort_key).values_list("facility_id", flat=True)[:limit]
    try:
        sql, params = ids.query.sql_with_params()
    except EmptyResultSet:  # a scope that holds nothing (QuerySet.none())
        return []
    with connections[queryset.db].cursor() as cursor:
        cursor.execute(f"SELECT array_to_string(ARRAY({sql}), %s)", [*params, ID_SEPARATOR])
        joined = cursor.fetchone()[0]
    return joined.split(ID_SEPARATOR) if joined else []


def copy_batches(
    request: HttpRequest,
    facility_ids: list[str],
    *,
    fields: tuple[str, ...],
    statement: Any,
) -> Iterator[memoryview | bytes]:
    """For batch after batch of `facility_ids`: record it (committed; AuditUnavailable propagates and nothing
    more is sent), then run `statement(batch, rows_before)` as COPY and yield its output blocks as they arrive,
    and an empty block after each batch.
    The first batch is small, so the first byte leaves after a short COPY rather than after PostgreSQL has
    sorted the whole export; memory stays flat whatever the size."""
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
                sql, params = statement(batch, start)
                start += len(batch)
                size = BATCH_ROWS
                disclose(request, facility_ids=batch, fields=list(fields), kind="export", immediate=True)
                with cursor.cursor.copy(sql, params) as copy:
                    yield from copy
                yield b""  # the end of a batch: what is pending may leave
            finished = True
        finally:
            if finished:
                cursor.execute("RESET jit; RESET datestyle; RESET work_mem; RESET statement_timeout")
            else:
                # Closed early (client gone, or a response dropped and collected): this may run from the garbage
                # collector in the middle of another query on the same connection, where SQL would deadlock. The
                # connection still holds the settings (and may be mid-COPY), so Django drops it at request end.
                db.close_at = 0


def csv_copy_stream(
    request: HttpRequest,
    queryset: QuerySet[Facility],
    *,
    sort_key: str,
    fields: tuple[str, ...],
    limit: int,
    header: bytes,
) -> Iterator[bytes]:
    """The CSV body (after `header`) in pieces of at most CHUNK_ROWS records, CRLF line ends for Excel."""
    facility_ids = export_ids(queryset, sort_key=sort_key, limit=limit)
    user = request.user

    def statement(batch: list[str], _before: int) -> tuple[str, list[Any]]:
        return csv_sql(queryset, fields, user=user, sort_key=sort_key, facility_ids=batch)

    first = header
    pending = bytearray()
    rows = 0
    # PostgreSQL sends one record per CopyData message, so the pieces end on whole records; were the
    # messages cut otherwise, the bytes would still go out unchanged and in order.
    for block in copy_batches(request, facility_ids, fields=fields, statement=statement):
        offset = len(pending)
        pending += block
        rows += pending.count(b"\n", offset)
        if rows >= CHUNK_ROWS or (not block and pending):
            yield first + bytes(pending).replace(b"\n", b"\r\n")
            first = b""
            pending.clear()
            rows = 0
    if pending or first:
        yield first + bytes(pending).replace(b"\n", b"\r\n")

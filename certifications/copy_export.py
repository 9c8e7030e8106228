"""PostgreSQL CSV export through `COPY (SELECT ...) TO STDOUT`: the same rows, columns and display text as
the Python path in exports.py, formatted by the database, so a large export runs close to a raw COPY.

The SELECT is the person's scoped, filtered, ordered queryset; only the allowed columns are named in it.
Text columns have line breaks folded to spaces, so every "\\n" in the output ends a record: it is read back
in chunks of whole records, each chunk's facility IDs (always the first column) are disclosed (committed)
before the chunk leaves, and "\\n" becomes "\\r\\n" for Excel.
"""

from __future__ import annotations

import itertools
import json
import re
import tempfile
from collections.abc import Iterator
from typing import Any

from django.db import connection, models
from django.db.models import QuerySet
from django.db.models.expressions import RawSQL
from django.http import HttpRequest
from django.utils.translation import gettext as _

from audit.disclosure import disclose
from certifications import policy
from certifications.models import Facility, FacilitySite
from certifications.municipalities import municipalities
from certifications.presentation import MONTH_FIELDS
from renergy.geography import PREFECTURES

CHUNK_ROWS = 5000
LINE_BREAKS = "\r\n"  # each becomes a space (translate() is far cheaper than a regular expression)
TABLE = f'"{Facility._meta.db_table}"'
SITE_TABLE = f'"{FacilitySite._meta.db_table}"'


def _column(field: str) -> str:
    return f'{TABLE}."{Facility._meta.get_field(field).column}"'


def _month_pattern() -> str:
    """The translated 「%(year)d年%(month)d月」 as a to_char() pattern (literal text double-quoted)."""
    template = _("%(year)d年%(month)d月")
    parts = re.split(r"(%\(year\)d|%\(month\)d)", template)
    out = []
    for part in parts:
        if part == "%(year)d":
            out.append("FMYYYY")
        elif part == "%(month)d":
            out.append("FMMM")
        elif part:
            out.append('"' + part.replace('"', "") + '"')
    return "".join(out)


def _expression(field: str) -> tuple[str, list[Any]]:
    """SQL text and parameters rendering one policy field as exports.py's formatter() does."""
    if field == "sites":
        return (
            f"(SELECT string_agg(translate(s.address, %s, '  '), ' / ' ORDER BY s.position) "  # noqa: S608
            f"FROM {SITE_TABLE} s WHERE s.facility_id = {TABLE}.id)",
            [LINE_BREAKS],
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
        return f"to_char({column}, 'YYYY-MM-DD')", []
    if isinstance(model_field, models.CharField):
        return f"translate({column}, %s, '  ')", [LINE_BREAKS]
    return f"{column}::text", []


def copy_sql(queryset: QuerySet[Facility], fields: tuple[str, ...]) -> tuple[str, list[Any]]:
    """The COPY statement for the (already scoped, filtered, ordered, limited) queryset and allowed fields."""
    assert fields and fields[0] == "facility_id", "the first column carries the IDs to disclose"
    assert set(fields) <= set(policy.ALL_FIELDS)
    # Identifiers come from the model, field names from the policy (checked above); values are parameters.
    annotations = {f"c{index}": RawSQL(*_expression(field)) for index, field in enumerate(fields)}  # noqa: S611
    select = queryset.annotate(**annotations).values_list(*annotations)
    sql, params = select.query.sql_with_params()
    return f"COPY ({sql}) TO STDOUT WITH (FORMAT csv)", list(params)


def csv_copy_stream(
    request: HttpRequest, queryset: QuerySet[Facility], *, fields: tuple[str, ...], header: bytes
) -> Iterator[bytes]:
    """The COPY output is spooled to a temporary file first: the connection cannot run the disclosure's
    INSERT while a COPY is still streaming on it. Then each chunk of whole records is disclosed
    (committed) before it leaves; memory stays flat whatever the size."""
    statement, params = copy_sql(queryset, fields)
    with tempfile.TemporaryFile() as spool:
        with connection.cursor() as cursor:
            # The per-row sites subquery pushes the estimate past jit_above_cost, and compiling the plan
            # then costs more than running it (seconds, for a 60,000-row export): no JIT for exports.
            cursor.execute("SET jit = off")
            try:
                with cursor.cursor.copy(statement, params) as copy:
                    for block in copy:
                        spool.write(block)
            finally:
                cursor.execute("RESET jit")
        spool.seek(0)
        first = True
        while True:
            records = list(itertools.islice(spool, CHUNK_ROWS))
            if not records:
                break
            ids = [record.split(b",", 1)[0].decode() for record in records]
            # Committed before the chunk leaves; AuditUnavailable propagates and ends the stream.
            disclose(request, facility_ids=ids, fields=list(fields), kind="export", immediate=True)
            payload = b"".join(records).replace(b"\n", b"\r\n")
            if first:
                first = False
                payload = header + payload
            yield payload
        if first:
            yield header

"""CSV and XLSX export of a search: allowed fields only, streamed in keyset chunks, each chunk disclosed
to the audit trail (committed) before any of its bytes leave."""

from __future__ import annotations

import csv
import io
import tempfile
from collections.abc import Iterable, Iterator
from typing import Any

import xlsxwriter
from django.db import connection
from django.db.models import QuerySet
from django.http import HttpRequest

from audit.disclosure import disclose
from certifications import policy
from certifications.copy_export import csv_copy_stream
from certifications.models import Facility, FacilitySite
from certifications.presentation import field_label, formatter
from certifications.search import SORTS, Cursor, after, ordered
from renergy.replica import reads_from_replica

CHUNK_ROWS = 5000
CSV_BOM = "\ufeff".encode()


def export_fields(user: Any, requested: Iterable[str]) -> tuple[str, ...]:
    """The allowed fields, narrowed to the requested ones when any are named; names outside the policy
    (or unknown) are dropped, never honoured."""
    allowed = policy.allowed_fields(user)
    wanted = {name for name in requested if name}
    chosen = tuple(field for field in allowed if field in wanted)
    if chosen and chosen[0] != "facility_id" and "facility_id" in allowed:
        chosen = ("facility_id", *chosen)  # every export row names its facility
    return chosen or allowed


def _chunks(
    queryset: QuerySet[Facility], sort_key: str, fields: tuple[str, ...], limit: int
) -> Iterator[tuple[list[str], list[list[str]]]]:
    """(facility IDs, formatted rows) in the search order, CHUNK_ROWS at a time; each chunk is one keyset
    query (no long-held cursor) selecting the allowed columns only."""
    column, _descending = SORTS[sort_key]
    columns = [field for field in fields if field not in policy.RELATED_FIELDS]
    select = ["pk", "facility_id", column, *columns]
    formatters = [formatter(field) for field in fields]
    # Position of each output field in the selected tuple ("sites" is appended after the columns).
    positions = [len(select) if field == "sites" else 3 + columns.index(field) for field in fields]
    base = ordered(queryset, sort_key)
    cursor: Cursor | None = None
    sent = 0
    while sent < limit:
        rows = list(after(base, sort_key, cursor).values_list(*select)[: min(CHUNK_ROWS, limit - sent)])
        if not rows:
            return
        if "sites" in fields:
            addresses: dict[int, list[str]] = {}
            for facility, address in (
                FacilitySite.objects.filter(facility_id__in=[row[0] for row in rows])
                .order_by("facility_id", "position")
                .values_list("facility_id", "address")
            ):
                addresses.setdefault(facility, []).append(address)
            rows = [(*row, " / ".join(addresses.get(row[0], []))) for row in rows]
        sent += len(rows)
        last = rows[-1]
        cursor = Cursor(last[2], last[1])
        yield (
            [row[1] for row in rows],
            [[fmt(row[position]) for fmt, position in zip(formatters, positions, strict=True)] for row in rows],
        )


@reads_from_replica("facility_export")
def csv_stream(
    request: HttpRequest,
    queryset: QuerySet[Facility],
    *,
    sort_key: str,
    fields: tuple[str, ...],
    limit: int,
    use_copy: bool | None = None,
) -> Iterator[bytes]:
    """UTF-8 with BOM and CRLF, which Excel opens as Japanese text without an import dialog. On PostgreSQL the
    rows come from COPY (copy_export.py); the Python path below is the reference it is tested against."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow([field_label(field) for field in fields])
    header = CSV_BOM + buffer.getvalue().encode("utf-8")
    if use_copy is None:
        use_copy = connection.vendor == "postgresql"
    if use_copy and fields:
        yield from csv_copy_stream(request, queryset, sort_key=sort_key, fields=fields, limit=limit, header=header)
        return
    first = True
    for facility_ids, rows in _chunks(queryset, sort_key, fields, limit):
        buffer.seek(0)
        buffer.truncate()
        writer.writerows(rows)
        # Committed before the chunk leaves; AuditUnavailable propagates and ends the stream.
        disclose(request, facility_ids=facility_ids, fields=list(fields), kind="export", immediate=True)
        payload = buffer.getvalue().encode("utf-8")
        if first:
            payload = header + payload
            first = False
        yield payload
    if first:
        yield header


@reads_from_replica("facility_export")
def xlsx_stream(
    request: HttpRequest, queryset: QuerySet[Facility], *, sort_key: str, fields: tuple[str, ...], limit: int
) -> Iterator[bytes]:
    """An .xlsx built in constant memory in a temporary file (a zip cannot be sent before it is closed),
    every chunk disclosed as it is written; then the file is streamed."""
    with tempfile.TemporaryFile() as handle:
        workbook = xlsxwriter.Workbook(handle, {"constant_memory": True, "in_memory": False})
        sheet = workbook.add_worksheet("認定設備")
        bold = workbook.add_format({"bold": True})
        sheet.write_row(0, 0, [field_label(field) for field in fields], bold)
        line = 1
        for facility_ids, rows in _chunks(queryset, sort_key, fields, limit):
            disclose(request, facility_ids=facility_ids, fields=list(fields), kind="export", immediate=True)
            for values in rows:
                sheet.write_row(line, 0, values)
                line += 1
        workbook.close()
        handle.seek(0)
        while block := handle.read(256 * 1024):
            yield block

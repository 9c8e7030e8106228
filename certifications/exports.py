"""CSV and XLSX download of a search: allowed fields only (masked where the policy masks them), every text cell
neutralised, rows formatted by PostgreSQL inside COPY (copy_export.py) and each batch disclosed to the audit
trail (committed) before any of its bytes leave.

The XLSX is XlsxWriter's workbook (styles, column widths, frozen header, filter, A4 print setup, Japanese
sheet name) with the sheet's rows spliced in from COPY: XlsxWriter writes about 50,000 cells a second in
Python, a tenth of what a 60,000-row export needs to come near a raw COPY, while PostgreSQL writes the same
`<row>` XML as fast as it writes CSV. Only the rows are ours; everything else in the package is XlsxWriter's.
"""

from __future__ import annotations

import csv
import io
import re
import tempfile
import zipfile
from collections.abc import Iterable, Iterator
from typing import IO, Any

import xlsxwriter
from django.db.models import QuerySet
from django.http import HttpRequest

from certifications import copy_export, policy
from certifications.models import Facility
from certifications.presentation import field_label
from renergy.replica import reads_from_replica
from renergy.spreadsheet import display_width, print_setup, workbook_formats

CHUNK_ROWS = copy_export.CHUNK_ROWS
CSV_BOM = "\ufeff".encode()
SHEET_NAME = "認定設備"
SHEET_PATH = "xl/worksheets/sheet1.xml"
_BLOCK = 256 * 1024


def export_fields(user: Any, requested: Iterable[str]) -> tuple[str, ...]:
    """The allowed fields, narrowed to the requested ones when any are named; names outside the policy
    (or unknown) are dropped, never honoured."""
    allowed = policy.allowed_fields(user)
    wanted = {name for name in requested if name}
    chosen = tuple(field for field in allowed if field in wanted)
    if chosen and chosen[0] != "facility_id" and "facility_id" in allowed:
        chosen = ("facility_id", *chosen)  # every export row names its facility
    return chosen or allowed


@reads_from_replica("facility_export")
def csv_stream(
    request: HttpRequest, queryset: QuerySet[Facility], *, sort_key: str, fields: tuple[str, ...], limit: int
) -> Iterator[bytes]:
    """UTF-8 with BOM and CRLF, which Excel opens as Japanese text without an import dialog."""
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\r\n").writerow([field_label(field) for field in fields])
    header = CSV_BOM + buffer.getvalue().encode("utf-8")
    if not fields:
        yield header
        return
    yield from copy_export.csv_copy_stream(
        request, queryset, sort_key=sort_key, fields=fields, limit=limit, header=header
    )


def _skeleton(handle: IO[bytes], fields: tuple[str, ...], widths: list[int], rows: int) -> dict[str, int]:
    """The workbook without its data rows: the header, widths, column formats and print setup. Returns the
    style index of each cell kind, for the rows COPY writes."""
    workbook = xlsxwriter.Workbook(handle, {"constant_memory": True, "in_memory": False})
    formats = workbook_formats(workbook)
    sheet = workbook.add_worksheet(SHEET_NAME)
    labels = [field_label(field) for field in fields]
    kinds = [copy_export.cell_kind(field) for field in fields]
    total = 0
    for index, (label, kind) in enumerate(zip(labels, kinds, strict=True)):
        # At least as wide as its formatted value and as a heading of up to two short lines (a heading wraps
        # rather than widening its column).
        width = widths[index] if index < len(widths) else 0
        width = max(width, min(display_width(label) + 2, 16), 14 if kind == "date" else 10 if kind != "text" else 0)
        sheet.set_column(index, index, width, formats[kind])
        total += width
    sheet.set_row(0, 30)
    sheet.write_row(0, 0, labels, formats["header"])
    print_setup(sheet, last_row=rows, last_column=len(fields) - 1, total_width=total, title=SHEET_NAME)
    # XlsxWriter numbers a format when it is first used; the rows' formats are only used by COPY's cells.
    styles = {kind: formats[kind]._get_xf_index() for kind in ("date", "month", "decimal", "integer", "text")}
    workbook.close()
    return styles


_COPY_ESCAPE = re.compile(rb"\\(.)")
# XML allows a tab in text but no other control character: those become spaces.
_COPY_ESCAPES = {b"t": b"\t", b"b": b" ", b"f": b" ", b"v": b" ", b"n": b" ", b"r": b" "}


def _unescape(block: bytes) -> bytes:
    """Undo COPY's text-format escapes (a backslash doubled, a tab written as \\t). Text in these rows has its
    line breaks folded already, so a backslash is rare and the common block is returned as it is."""
    if b"\\" not in block:
        return block
    return _COPY_ESCAPE.sub(lambda match: _COPY_ESCAPES.get(match[1], match[1]), block)


@reads_from_replica("facility_export")
@reads_from_replica("facility_export")
def xlsx_stream(
    request: HttpRequest, queryset: QuerySet[Facility], *, sort_key: str, fields: tuple[str, ...], limit: int
) -> Iterator[bytes]:
    """An .xlsx built in a temporary file (a zip cannot be sent before it is closed) in constant memory, every
    batch disclosed before it is written; then the file is streamed."""
    user = request.user
    facility_ids = copy_export.export_ids(queryset, sort_key=sort_key, limit=limit) if fields else []
    widths = (
        copy_export.xlsx_widths(queryset, fields, user=user, sort_key=sort_key, facility_ids=facility_ids)
        if fields
        else []
    )
    with tempfile.TemporaryFile() as skeleton_file, tempfile.TemporaryFile() as handle:
        styles = _skeleton(skeleton_file, fields, widths, len(facility_ids))
        skeleton_file.seek(0)

        def statement(batch: list[str], before: int) -> tuple[str, list[Any]]:
            return copy_export.xlsx_rows_sql(
                queryset, fields, user=user, sort_key=sort_key, facility_ids=batch, first_row=before + 2, styles=styles
            )

        with (
            zipfile.ZipFile(skeleton_file) as skeleton,
            zipfile.ZipFile(handle, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=1) as package,
        ):
            for item in skeleton.infolist():
                if item.filename != SHEET_PATH:
                    package.writestr(item, skeleton.read(item))
                    continue
                xml = skeleton.read(item).decode("utf-8")
                head, tail = xml.split("</sheetData>", 1)
                if facility_ids and fields:
                    last = f"{copy_export._letters(len(fields) - 1)}{len(facility_ids) + 1}"
                    head = re.sub(r'<dimension ref="[^"]*"/>', f'<dimension ref="A1:{last}"/>', head, count=1)
                with package.open(SHEET_PATH, "w", force_zip64=True) as sheet:
                    sheet.write(head.encode("utf-8"))
                    if fields:
                        for block in copy_export.copy_batches(
                            request, facility_ids, fields=fields, statement=statement
                        ):
                            sheet.write(_unescape(bytes(block)))
                    sheet.write(("</sheetData>" + tail).encode("utf-8"))
        handle.seek(0)
        while block := handle.read(_BLOCK):
            yield block

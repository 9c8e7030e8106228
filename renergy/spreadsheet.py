"""What every CSV and XLSX download shares: formula neutralisation, Japanese cell formats, column widths
and the A4 print setup (XlsxWriter).

Neutralisation (OWASP "CSV injection"): a text cell that starts with = + - @, a tab or a carriage return is
read as a formula by Excel (XlsxWriter would even write it as one), so it gets a leading apostrophe, which
Excel shows as text. A value that already starts with an apostrophe gets one more, so that
`unneutralise` (the importer) gives back exactly the stored value. The same rule exists once more as SQL,
for the COPY paths (`neutralise_sql`); tests compare the two.
"""

from __future__ import annotations

import math
import unicodedata
from collections.abc import Iterable
from typing import Any

FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")
_ESCAPED = (*FORMULA_TRIGGERS, "'")
# The first characters above as the code points PostgreSQL's ascii() returns: it reads a text's first
# character without making a new text, about half the cost of left(text, 1) on every cell of a download.
_TRIGGERS_SQL = ", ".join(str(ord(char)) for char in _ESCAPED)

DATE_FORMAT = 'yyyy"年"m"月"d"日"'
MONTH_FORMAT = 'yyyy"年"m"月"'
# Not "#,##0.###": Excel and LibreOffice then print a whole number with a trailing point ("1,990.").
DECIMAL_FORMAT = "#,##0.0##"
INTEGER_FORMAT = "#,##0"
A4 = 9  # XlsxWriter paper index
MAX_WIDTH = 60
MIN_WIDTH = 6


def neutralise(value: str) -> str:
    """The text as a cell that Excel cannot run."""
    return "'" + value if value and value[0] in _ESCAPED else value


def unneutralise(value: str) -> str:
    """Undo `neutralise` on a cell read back from one of our files."""
    return value[1:] if value[:1] == "'" and value[1:2] in _ESCAPED and value[1:2] else value


def neutralise_sql(expression: str) -> str:
    """`neutralise` in SQL over a text expression (NULL stays NULL). The expression is evaluated twice only
    for the rare values that need the apostrophe."""
    return f"CASE WHEN ascii({expression}) IN ({_TRIGGERS_SQL}) THEN '''' || ({expression}) ELSE {expression} END"


def display_width(text: str) -> int:
    """Columns the text takes in a fixed-width view: wide (CJK) characters count two."""
    return sum(2 if unicodedata.east_asian_width(char) in "WF" else 1 for char in text)


def column_widths(rows: Iterable[Iterable[Any]], *, minimum: int = MIN_WIDTH, maximum: int = MAX_WIDTH) -> list[int]:
    """Widths (in Excel character units) that fit the longest value of each column, within bounds."""
    widths: list[int] = []
    for row in rows:
        for index, value in enumerate(row):
            width = display_width(value if isinstance(value, str) else f"{value}") if value is not None else 0
            if index >= len(widths):
                widths.append(minimum)
            widths[index] = max(widths[index], min(maximum, width + 2))
    return widths


def workbook_formats(workbook: Any) -> dict[str, Any]:
    """The formats every download uses, registered on the workbook."""
    font = {"font_name": "Meiryo UI", "font_size": 10, "valign": "top"}
    return {
        "header": workbook.add_format({**font, "bold": True, "bg_color": "#DDEBF7", "border": 1, "text_wrap": True}),
        "text": workbook.add_format({**font}),
        "wrap": workbook.add_format({**font, "text_wrap": True}),
        "date": workbook.add_format({**font, "num_format": DATE_FORMAT}),
        "month": workbook.add_format({**font, "num_format": MONTH_FORMAT}),
        "decimal": workbook.add_format({**font, "num_format": DECIMAL_FORMAT}),
        "integer": workbook.add_format({**font, "num_format": INTEGER_FORMAT}),
        "bold": workbook.add_format({**font, "bold": True}),
        "bold_integer": workbook.add_format({**font, "bold": True, "num_format": INTEGER_FORMAT}),
    }


# Column widths (Excel character units, 10 pt) that still print legibly across one A4 landscape page: about 150
# fit at full size, and scaling to 70 % stays readable. A wider sheet is spread over as many pages side by side,
# each with the first column (the ID) repeated, instead of being shrunk to one unreadable page.
A4_LANDSCAPE_WIDTH = 210


def pages_wide(total_width: float) -> int:
    return max(1, math.ceil(total_width / A4_LANDSCAPE_WIDTH))


def print_setup(
    sheet: Any, *, last_row: int, last_column: int, total_width: float, header_rows: int = 1, title: str = ""
) -> None:
    """Frozen header, filter over the table, and A4 landscape printing as many pages wide as the columns need
    to stay legible (pages_wide), the header repeated on every page and the first column on every page across."""
    sheet.freeze_panes(header_rows, 0)
    if last_row >= header_rows:
        sheet.autofilter(header_rows - 1, 0, last_row, last_column)
    sheet.set_landscape()
    sheet.set_paper(A4)
    across = pages_wide(total_width)
    sheet.fit_to_pages(across, 0)
    sheet.repeat_rows(0, header_rows - 1)
    if across > 1:
        sheet.repeat_columns(0)
    sheet.set_margins(left=0.4, right=0.4, top=0.6, bottom=0.6)
    # No font-size code before the title: "&9" followed by "2026年度" would read as size 92026.
    sheet.set_header(f"&L{_header_text(title)}" if title else "")
    sheet.set_footer("&C&P / &N")


def _header_text(title: str) -> str:
    return title.replace("&", "&&")

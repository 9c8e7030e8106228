"""Import of the agency's published per-prefecture facility list (事業計画認定情報 公表用ファイル, .xlsx, or a
CSV saved from it in Shift_JIS or UTF-8), and of this system's own CSV/XLSX downloads.

Reading: the table is found wherever it starts (any column, after any title rows): its heading row is the
first one with a cell 「設備ID」. Headings are compared after NFKC (full-width digits, letters and brackets)
with spaces and brackets removed and letters folded, so 「発電出力(kW)」, 「発電出力kW」 and 「発電出力（ｋＷ）」
are one column. Both published sheets are read (「認定設備」, and 「すべての設備所在地」 with one row per parcel);
the headings of this system's downloads (Japanese or English) are recognised too, so a download imports
back unchanged. A heading or sheet that is not recognised is listed in the result, never silently dropped.

The file owns the fields it carries: a column that is absent leaves the stored value alone (the published
list has no procurement price; a stored one is kept). 法人・個人の別 comes from its column when the file has
one (our downloads), else it is derived from the name for a new facility and kept for a stored one, so
what the agency set survives the next published list.

Two passes: every row is validated first, and a file with any bad row imports nothing (each bad row is
reported with its line and the reason; reasons name the column, never echo personal data). Then rows are
upserted by 設備ID in batches: a row whose values equal the stored ones is not written at all, so
importing the same file again changes nothing. Each batch commits on its own so progress is visible; an
interrupted run is completed by running it again.
"""

from __future__ import annotations

import contextlib
import csv
import datetime
import io
import re
import unicodedata
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from functools import cache
from pathlib import Path, PurePosixPath
from typing import IO, Any

import openpyxl
from django.db import transaction
from django.utils import timezone, translation

from certifications.models import (
    FACILITY_ID_PATTERN,
    SITE_SEPARATOR,
    Facility,
    FacilitySite,
    OperatorKind,
    PowerSource,
    Scheme,
    facility_field,
)
from certifications.municipalities import resolve_address
from certifications.operators import operator_kind_derive
from certifications.planner import facility_statistics_refresh
from renergy.geography import default_supply_area
from renergy.spreadsheet import unneutralise

MAIN_SHEET = "認定設備"
SITES_SHEET = "すべての設備所在地"
BATCH = 1000
HEADER_SEARCH_ROWS = 30
EXCEL_EPOCH = datetime.date(1899, 12, 30)
ACCEPTED_SUFFIXES = (".xlsx", ".csv")
# A zip of all 47 prefectures is well under these; anything beyond is refused before it is unpacked.
ZIP_MAX_MEMBERS = 100
ZIP_MAX_BYTES = 2 * 1024**3
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")

Progress = Callable[[str, int, int], None]


class RowInvalid(ValueError):
    pass


def _norm(text: Any) -> str:
    return unicodedata.normalize("NFKC", str(text if text is not None else "")).strip()


def _header_key(text: Any) -> str:
    return re.sub(r"[\s()\[\]{}（）［］【】「」『』〔〕・/／]", "", _norm(text)).casefold()


def _blank(value: Any) -> bool:
    return value is None or _norm(value) in {"", "-", "ー", "—", "‐", "―"}


def _text(value: Any, max_length: int) -> str:
    text = "" if _blank(value) else _CONTROL.sub(" ", unneutralise(_norm(value))).strip()
    if len(text) > max_length:
        raise RowInvalid(f"{max_length}文字を超えています")
    return text


def _decimal(value: Any, *, required: bool, positive: bool = False) -> Decimal | None:
    if _blank(value):
        if required:
            raise RowInvalid("必須です")
        return None
    try:
        number = Decimal(_norm(value).replace(",", "")) if not isinstance(value, (int, float)) else Decimal(str(value))
    except InvalidOperation:
        raise RowInvalid("数値ではありません") from None
    if not number.is_finite() or number < 0 or (positive and number == 0) or number >= Decimal("1e9"):
        raise RowInvalid("範囲外の数値です")
    return number.quantize(Decimal("0.001"))


def _price(value: Any) -> Decimal | None:
    number = _decimal(value, required=False)
    if number is not None and number >= Decimal("1e6"):
        raise RowInvalid("範囲外の数値です")
    return None if number is None else number.quantize(Decimal("0.01"))


def _integer(value: Any) -> int:
    if _blank(value):
        return 0
    try:
        number = Decimal(_norm(value).replace(",", ""))
    except InvalidOperation:
        raise RowInvalid("整数ではありません") from None
    if number != number.to_integral_value() or number < 0 or number > 1_000_000:
        raise RowInvalid("整数ではありません")
    return int(number)


_DATE_TEXT = re.compile(r"^(\d{4})\s*[/\-.年]\s*(\d{1,2})\s*[/\-.月]\s*(\d{1,2})\s*日?(?:\s+0{1,2}:00(?::00)?)?$")
_MONTH_TEXT = re.compile(r"^(\d{4})\s*[/\-.年]\s*(\d{1,2})\s*月?$")


def _date(value: Any, *, required: bool) -> datetime.date | None:
    if _blank(value):
        if required:
            raise RowInvalid("必須です")
        return None
    if isinstance(value, datetime.datetime):
        return value.date()
    if isinstance(value, datetime.date):
        return value
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        if not 1 <= value < 2958466:
            raise RowInvalid("日付ではありません")
        return EXCEL_EPOCH + datetime.timedelta(days=int(value))
    text = _norm(value)
    if text.isdigit() and len(text) <= 5:  # an Excel serial that came through CSV
        return _date(int(text), required=required)
    match = _DATE_TEXT.match(text)
    if not match:
        raise RowInvalid("日付ではありません")
    try:
        return datetime.date(int(match[1]), int(match[2]), int(match[3]))
    except ValueError:
        raise RowInvalid("日付ではありません") from None


def _month(value: Any) -> datetime.date | None:
    """「YYYY年M月」 (or a date) -> the first day of that month; 「-」 -> None."""
    if _blank(value):
        return None
    if isinstance(value, datetime.datetime):
        value = value.date()
    if isinstance(value, datetime.date):
        return value.replace(day=1)
    match = _MONTH_TEXT.match(_norm(value))
    if not match or not 1 <= int(match[2]) <= 12:
        raise RowInvalid("「YYYY年M月」の形式ではありません")
    return datetime.date(int(match[1]), int(match[2]), 1)


_YES = {"有", "あり", "有り", "○", "〇", "はい", "yes", "true"}
_NO = {"無", "なし", "無し", "×", "いいえ", "no", "false"}


def _flag(value: Any) -> bool | None:
    if _blank(value):
        return None
    text = _norm(value).casefold()
    if text in _YES:
        return True
    if text in _NO:
        return False
    raise RowInvalid("「有」または「無」ではありません")


_SOURCES = (
    ("太陽", PowerSource.SOLAR),
    ("風力", PowerSource.WIND),
    ("水力", PowerSource.HYDRO),
    ("地熱", PowerSource.GEOTHERMAL),
    ("バイオマス", PowerSource.BIOMASS),
)


def _source(value: Any) -> str:
    text = _norm(value)
    for keyword, source in _SOURCES:
        if keyword in text:
            return source
    choice = _choice_labels("power_source").get(_header_key(text))
    if choice:
        return choice
    raise RowInvalid("電源種別が分かりません" if text else "必須です")


@cache
def _choice_labels(field_name: str) -> dict[str, str]:
    """Heading-normalised label (Japanese and English) or key -> stored key, for a field with choices."""
    labels: dict[str, str] = {}
    for language in ("ja", "en"):
        with translation.override(language):
            for key, label in facility_field(field_name).flatchoices:
                labels[_header_key(str(label))] = str(key)
                labels[_header_key(str(key))] = str(key)
    return labels


def _choice(field_name: str, *, required: bool = False) -> Callable[[Any], str]:
    def parse(value: Any) -> str:
        if _blank(value):
            if required:
                raise RowInvalid("必須です")
            return ""
        key = _choice_labels(field_name).get(_header_key(value))
        if key is None:
            raise RowInvalid("選択肢にない値です")
        return key

    return parse


def _operator_kind(value: Any) -> str:
    text = _norm(value)
    if text in ("法人", "団体"):
        return OperatorKind.CORPORATION
    return _choice("operator_kind", required=True)(value)


@dataclass(frozen=True)
class Column:
    """A column the importer knows: the model field it fills, its parser, and the headings it goes by
    (besides the field's own label in Japanese and English, which our downloads use)."""

    field: str
    parse: Callable[[Any], Any]
    headings: tuple[str, ...] = ()
    # Recognised but not imported: derived from another column (都道府県, 市区町村 from the address).
    derived: bool = False


def _kept(value: Any) -> Any:
    return value


# The published list's 18 columns first (their headings as published), then what our downloads add.
COLUMNS: tuple[Column, ...] = (
    Column("facility_id", lambda v: _norm(v).upper(), ("設備ID",)),
    Column("operator_name", lambda v: _text(v, 200), ("発電事業者名", "事業者名")),
    Column("representative_name", lambda v: _text(v, 100), ("代表者名", "設置者名")),
    Column("operator_address", lambda v: _text(v, 300), ("事業者の住所", "事業者住所")),
    Column("operator_phone", lambda v: _text(v, 30), ("事業者の電話番号", "事業者電話番号")),
    Column("power_source", _source, ("発電設備区分", "電源種別")),
    Column(
        "capacity_kw",
        lambda v: _decimal(v, required=True, positive=True),
        ("発電出力(kW)", "発電出力", "設備容量(kW)", "設備容量"),
    ),
    Column("site_address", lambda v: _text(v, 300), ("代表住所", "設置場所")),
    Column("other_parcel_count", _integer, ("他の筆数",)),
    Column(
        "panel_capacity_kw", lambda v: _decimal(v, required=False), ("太陽電池の合計出力(kW)", "太陽電池の合計出力")
    ),
    Column("certified_on", lambda v: _date(v, required=True), ("新規認定日", "認定日")),
    Column("planned_operation_on", lambda v: _date(v, required=False), ("運転開始予定日",)),
    Column("operation_reported_month", _month, ("運転開始報告年月",)),
    Column("self_sustained_operation", _flag, ("自立運転機能",)),
    Column("power_outlet", _flag, ("給電用コンセント",)),
    Column("disposal_reserve_method", lambda v: _text(v, 100), ("廃棄費用の積立方法",)),
    Column("disposal_reserve_status", lambda v: _text(v, 100), ("廃棄費用の積立状況",)),
    Column("procurement_end_month", _month, ("調達期間終了年月", "調達期間満了年月")),
    # Carried by this system's downloads.
    Column("operator_kind", _operator_kind, ("法人・個人", "法人個人の別")),
    Column("specified_corporation", _flag),
    Column("application_date", lambda v: _date(v, required=False)),
    Column("change_certified_on", lambda v: _date(v, required=False)),
    Column("operation_start_on", lambda v: _date(v, required=False)),
    Column("status", _choice("status", required=True)),
    Column("lapse_deadline", lambda v: _date(v, required=False)),
    Column("procurement_price", _price),
    Column("connection_contract_on", lambda v: _date(v, required=False)),
    Column("wiring", _choice("wiring")),
    Column("plant_name", lambda v: _text(v, 200), ("発電所名",)),
    Column("panel_maker", lambda v: _text(v, 100)),
    Column("panel_model", lambda v: _text(v, 100)),
    Column("installation_form", _choice("installation_form")),
    Column("scheme", _choice("scheme", required=True), ("制度",)),
    Column("supply_area", _choice("supply_area", required=True)),
    Column("prefecture_code", _kept, ("都道府県",), derived=True),
    Column("municipality_code", _kept, ("市区町村",), derived=True),
)
REQUIRED_FIELDS = ("facility_id", "operator_name", "power_source", "capacity_kw", "site_address", "certified_on")
COLUMN_BY_FIELD = {column.field: column for column in COLUMNS}
# The sites sheet: 設備ID, 連番 and 発電設備の所在地 are read; the rest repeat the main sheet.
SITE_ID_HEADINGS = ("設備ID",)
SITE_NUMBER_HEADINGS = ("連番", "順番")
SITE_ADDRESS_HEADINGS = ("発電設備の所在地", "設備所在地", "設備の所在地", "所在地")
SITE_REPEATED_HEADINGS = ("発電事業者名", "代表者名", "発電設備区分", "発電出力(kW)", "太陽電池の合計出力(kW)")
SITES_FIELD_LABELS = ("すべての設備所在地",)


@cache
def _heading_index() -> dict[str, Column]:
    """Normalised heading -> column: the published headings and the field labels in both languages."""
    index: dict[str, Column] = {}
    for column in COLUMNS:
        names = list(column.headings)
        for language in ("ja", "en"):
            with translation.override(language):
                names.append(str(facility_field(column.field).verbose_name))
        for name in names:
            index.setdefault(_header_key(name), column)
    return index


@cache
def _sites_keys() -> frozenset[str]:
    """Headings of a download's all-sites column (presentation.field_label("sites")) in both languages."""
    from certifications.presentation import field_label

    labels = set(SITES_FIELD_LABELS)
    for language in ("ja", "en"):
        with translation.override(language):
            labels.add(field_label("sites"))
    return frozenset(_header_key(label) for label in labels)


@dataclass
class RowError:
    line: str
    reason: str


@dataclass
class ParsedFacility:
    line: str
    values: dict[str, Any]
    sites: list[tuple[str, str, str]]  # (address, prefecture code, municipality code), representative first


@dataclass
class ImportResult:
    total: int = 0
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    errors: list[RowError] = field(default_factory=list)
    # Headings (「シート: 見出し」) and sheets the importer does not know; their data was not imported.
    unrecognised: list[str] = field(default_factory=list)

    @property
    def event_action(self) -> str:
        return "facility.imported" if not self.errors else "facility.import_rejected"

    def event_data(self) -> dict[str, int]:
        """The counts the import's event records (the job's service and the command add where it came from)."""
        return {
            "created": self.created,
            "updated": self.updated,
            "unchanged": self.unchanged,
            "errors": len(self.errors),
            "unrecognised": len(self.unrecognised),
        }


# --- reading -------------------------------------------------------------------------------------------


@dataclass
class Table:
    name: str
    header_line: int
    headers: list[str]  # as written (for the list of unrecognised ones)
    keys: list[str]  # normalised
    rows: list[tuple[int, list[Any]]]  # (line number, cells from the table's first column on)

    def position(self, *headings: str) -> int | None:
        for heading in headings:
            key = _header_key(heading)
            if key in self.keys:
                return self.keys.index(key)
        return None


def _find_table(name: str, rows: Iterator[tuple[int, list[Any]]]) -> Table | None:
    """The heading row is the first one with a 「設備ID」 cell, in any column; the table starts there."""
    target = _header_key("設備ID")
    for line, cells in rows:
        start = next((index for index, cell in enumerate(cells) if _header_key(cell) == target), None)
        if start is not None:
            headers = [_norm(cell) for cell in cells[start:]]
            while headers and not headers[-1]:
                headers.pop()
            keys = [_header_key(header) for header in headers]
            body = [(n, list(c[start:])) for n, c in rows if any(not _blank(x) for x in c)]
            return Table(name, line, headers, keys, body)
        if line > HEADER_SEARCH_ROWS:
            return None
    return None


def _is_sites_table(table: Table) -> bool:
    return table.position(*SITE_ADDRESS_HEADINGS) is not None and table.position("代表住所", "新規認定日") is None


def _xlsx_tables(handle: IO[bytes]) -> tuple[Table | None, Table | None, list[str], list[RowError]]:
    try:
        workbook = openpyxl.load_workbook(handle, read_only=True, data_only=True)
    except Exception:
        return None, None, [], [RowError("-", "Excel ファイルとして読めません")]
    main: Table | None = None
    sites: Table | None = None
    unknown: list[str] = []
    try:
        for sheet_name in workbook.sheetnames:
            rows = (
                (number, list(cells))
                for number, cells in enumerate(workbook[sheet_name].iter_rows(values_only=True), start=1)
            )
            table = _find_table(_norm(sheet_name), rows)
            if table is None:
                unknown.append(f"シート「{sheet_name}」（「設備ID」の見出しがありません）")
            elif _is_sites_table(table) and sites is None:
                sites = table
            elif not _is_sites_table(table) and main is None:
                main = table
            else:
                unknown.append(f"シート「{sheet_name}」（同じ種類の表が他のシートにあります）")
        return main, sites, unknown, []
    finally:
        workbook.close()


def decode_csv(data: bytes) -> str:
    """UTF-8 (with or without BOM) when it decodes as such, else Shift_JIS (Windows code page 932)."""
    if data.startswith(b"\xef\xbb\xbf"):
        return data[3:].decode("utf-8")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data.decode("cp932")


def _csv_tables(handle: IO[bytes]) -> tuple[Table | None, Table | None, list[str], list[RowError]]:
    try:
        text = decode_csv(handle.read())
    except UnicodeDecodeError:
        return None, None, [], [RowError("-", "文字コードが UTF-8 でも Shift_JIS でもありません")]
    reader = csv.reader(io.StringIO(text, newline=""))
    # csv.reader.line_num counts physical lines, so a quoted newline does not shift the reported line.
    table = _find_table("CSV", ((reader.line_num, cells) for cells in reader))
    if table is not None and _is_sites_table(table):
        return (
            None,
            None,
            [],
            [RowError("-", f"「{SITES_SHEET}」の表だけでは取り込めません（.xlsx を取り込んでください）")],
        )
    return table, None, [], []


# --- validation ----------------------------------------------------------------------------------------


def _label(table: Table, line: int) -> str:
    return f"{table.name} {line}行目" if table.name != "CSV" else f"{line}行目"


def _main_columns(table: Table) -> tuple[dict[str, int], int | None, list[str]]:
    """(field -> position, position of an all-sites cell, unrecognised headings) of the main table."""
    index = _heading_index()
    positions: dict[str, int] = {}
    sites_position = None
    unrecognised: list[str] = []
    for position, (header, key) in enumerate(zip(table.headers, table.keys, strict=True)):
        if not key:
            if any(not _blank(cells[position]) for _line, cells in table.rows if position < len(cells)):
                unrecognised.append(f"{table.name}: {position + 1}列目（見出しなし）")
            continue
        column = index.get(key)
        if key in _sites_keys():
            sites_position = position
        elif column is None or column.field in positions:
            unrecognised.append(f"{table.name}: {header}")
        else:
            positions[column.field] = position
    return positions, sites_position, unrecognised


def _parse_main(
    table: Table, positions: dict[str, int], sites_position: int | None, progress: Progress
) -> tuple[list[ParsedFacility], list[RowError]]:
    missing = [COLUMN_BY_FIELD[name].headings[0] for name in REQUIRED_FIELDS if name not in positions]
    if missing:
        return [], [RowError(_label(table, table.header_line), f"列がありません: {'、'.join(missing)}")]
    # Reasons name the column as the file writes it.
    columns = [(COLUMN_BY_FIELD[name], position, table.headers[position]) for name, position in positions.items()]
    heading_of = {column.field: header for column, _position, header in columns}
    parsed: list[ParsedFacility] = []
    errors: list[RowError] = []
    seen: dict[str, str] = {}
    total = len(table.rows)
    for done, (line, cells) in enumerate(table.rows):
        if done % BATCH == 0:
            progress("validating", done, total)
        label = _label(table, line)
        values: dict[str, Any] = {}
        reasons: list[str] = []
        for column, position, header in columns:
            raw = cells[position] if position < len(cells) else None
            try:
                value = column.parse(raw)
            except RowInvalid as problem:
                reasons.append(f"{header}: {problem}")
                continue
            if not column.derived:
                values[column.field] = value
        facility_id = values.get("facility_id", "")
        if not FACILITY_ID_PATTERN.match(facility_id or ""):
            reasons.append("設備ID: 英大文字と数字6〜20文字ではありません")
        elif facility_id in seen:
            reasons.append(f"設備ID: {facility_id} が {seen[facility_id]} と重複しています")
        else:
            seen[facility_id] = label
        for required in ("operator_name", "site_address"):
            heading = heading_of[required]
            if not values.get(required) and not any(r.startswith(heading) for r in reasons):
                reasons.append(f"{heading}: 必須です")
        address = values.get("site_address") or ""
        location = resolve_address(address) if address else None
        if address and location is None:
            reasons.append(f"{heading_of['site_address']}: 都道府県・市区町村を特定できません")
        sites: list[tuple[str, str, str]] = [(address, *location)] if location else []
        if sites_position is not None and sites_position < len(cells) and not _blank(cells[sites_position]):
            for other in _norm(cells[sites_position]).split(SITE_SEPARATOR):
                site_problem = _add_site(sites, _text(other, 10_000))
                if site_problem:
                    reasons.append(f"すべての設備所在地: {site_problem}")
                    break
        if reasons:
            errors.append(RowError(label, "; ".join(reasons)))
            continue
        assert location is not None
        values["prefecture_code"], values["municipality_code"] = location
        parsed.append(ParsedFacility(label, values, sites))
    return parsed, errors


def _add_site(sites: list[tuple[str, str, str]], address: str) -> str | None:
    """Append a 所在地 unless it is already listed; the reason when it cannot be used."""
    address = address.strip()
    if not address:
        return "必須です"
    if len(address) > 300:
        return "300文字を超えています"
    location = resolve_address(address)
    if location is None:
        return "都道府県・市区町村を特定できません"
    if all(address != existing for existing, *_codes in sites):
        sites.append((address, *location))
    return None


def _attach_sites(table: Table, parsed: list[ParsedFacility]) -> tuple[list[RowError], list[str]]:
    """The sites sheet's parcels, in 連番 order, after each facility's representative address."""
    id_position = table.position(*SITE_ID_HEADINGS)
    number_position = table.position(*SITE_NUMBER_HEADINGS)
    address_position = table.position(*SITE_ADDRESS_HEADINGS)
    known = {_header_key(h) for h in (*SITE_ID_HEADINGS, *SITE_NUMBER_HEADINGS, *SITE_ADDRESS_HEADINGS)}
    known |= {_header_key(h) for h in SITE_REPEATED_HEADINGS}
    unrecognised = [
        f"{table.name}: {header}"
        for header, key in zip(table.headers, table.keys, strict=True)
        if key and key not in known
    ]
    if address_position is None or id_position is None:
        return [RowError(_label(table, table.header_line), f"列がありません: {SITE_ADDRESS_HEADINGS[0]}")], unrecognised
    by_id = {item.values["facility_id"]: item for item in parsed}
    errors: list[RowError] = []
    ordered: list[tuple[str, int, int, str, str]] = []  # (facility ID, 連番, line, label, address)
    for line, cells in table.rows:
        facility_id = _norm(cells[id_position]).upper() if id_position < len(cells) else ""
        label = _label(table, line)
        if facility_id not in by_id:
            errors.append(RowError(label, "設備ID: 認定設備シートにありません"))
            continue
        number = 0
        if number_position is not None:
            try:
                number = _integer(cells[number_position] if number_position < len(cells) else None)
            except RowInvalid as problem:
                errors.append(RowError(label, f"連番: {problem}"))
                continue
        try:
            address = _text(cells[address_position] if address_position < len(cells) else None, 300)
        except RowInvalid as problem:
            errors.append(RowError(label, f"{SITE_ADDRESS_HEADINGS[0]}: {problem}"))
            continue
        ordered.append((facility_id, number, line, label, address))
    for facility_id, _number, _line, label, address in sorted(ordered, key=lambda item: item[:3]):
        site_problem = _add_site(by_id[facility_id].sites, address)
        if site_problem:
            errors.append(RowError(label, f"{SITE_ADDRESS_HEADINGS[0]}: {site_problem}"))
    return errors, unrecognised


@dataclass
class Validated:
    parsed: list[ParsedFacility]
    errors: list[RowError]
    fields: tuple[str, ...]  # the model fields this file owns
    unrecognised: list[str]


def read_and_validate(handle: IO[bytes], *, name: str, progress: Progress | None = None) -> Validated:
    suffix = Path(name).suffix.lower()
    if suffix == ".xlsx":
        main, sites, unknown, errors = _xlsx_tables(handle)
    elif suffix == ".csv":
        main, sites, unknown, errors = _csv_tables(handle)
    else:
        return Validated([], [RowError("-", ".xlsx または .csv ではありません")], (), [])
    if errors:
        return Validated([], errors, (), unknown)
    if main is None:
        return Validated([], [RowError("-", "「設備ID」で始まる見出し行が見つかりません")], (), unknown)
    positions, sites_position, unrecognised = _main_columns(main)
    parsed, errors = _parse_main(main, positions, sites_position, progress or (lambda phase, done, total: None))
    if sites is not None and not errors:
        site_errors, site_unrecognised = _attach_sites(sites, parsed)
        errors.extend(site_errors)
        unrecognised.extend(site_unrecognised)
    owned = tuple(name for name in positions if not COLUMN_BY_FIELD[name].derived)
    fields = (*owned, "prefecture_code", "municipality_code")
    return Validated(parsed, errors, fields, [*unknown, *unrecognised])


# --- writing -------------------------------------------------------------------------------------------


def _write_batch(batch: list[ParsedFacility], fields: tuple[str, ...], result: ImportResult) -> None:
    ids = [item.values["facility_id"] for item in batch]
    stored = {row["facility_id"]: row for row in Facility.objects.filter(facility_id__in=ids).values("pk", *fields)}
    stored_sites: dict[int, list[tuple[str, str, str]]] = {}
    for facility, address, prefecture, municipality in (
        FacilitySite.objects.filter(facility_id__in=[row["pk"] for row in stored.values()])
        .order_by("facility_id", "position")
        .values_list("facility_id", "address", "prefecture_code", "municipality_code")
    ):
        stored_sites.setdefault(facility, []).append((address, prefecture, municipality))
    now = timezone.now()
    new: list[Facility] = []
    new_sites: dict[str, list[tuple[str, str, str]]] = {}
    changed: list[Facility] = []
    replace_sites: dict[int, list[tuple[str, str, str]]] = {}
    for item in batch:
        row = stored.get(item.values["facility_id"])
        if row is None:
            defaults = {
                "supply_area": default_supply_area(item.values["prefecture_code"]),
                "scheme": Scheme.FIT,
                "operator_kind": operator_kind_derive(name=item.values["operator_name"]),
            }
            new.append(Facility(**{**defaults, **item.values}, created_at=now, updated_at=now))
            new_sites[item.values["facility_id"]] = item.sites
            continue
        fields_differ = any(row[name] != value for name, value in item.values.items())
        sites_differ = stored_sites.get(row["pk"], []) != item.sites
        if not fields_differ and not sites_differ:
            result.unchanged += 1
            continue
        result.updated += 1
        if fields_differ:
            changed.append(Facility(pk=row["pk"], **item.values, updated_at=now))
        if sites_differ:
            replace_sites[row["pk"]] = item.sites
    with transaction.atomic():
        if new:
            Facility.objects.bulk_create(new)
            pks = dict(Facility.objects.filter(facility_id__in=list(new_sites)).values_list("facility_id", "pk"))
            for facility_id, sites in new_sites.items():
                replace_sites[pks[facility_id]] = sites
            result.created += len(new)
        if changed:
            Facility.objects.bulk_update(changed, [*fields, "updated_at"])
        if replace_sites:
            FacilitySite.objects.filter(facility_id__in=list(replace_sites)).delete()
            FacilitySite.objects.bulk_create(
                FacilitySite(
                    facility_id=pk, position=position, address=address, prefecture_code=pref, municipality_code=muni
                )
                for pk, sites in replace_sites.items()
                for position, (address, pref, muni) in enumerate(sites, start=1)
            )


def facilities_import(handle: IO[bytes], *, name: str, progress: Progress | None = None) -> ImportResult:
    """Validate the whole file; if every row is good, upsert it by 設備ID. Returns counts, row errors and the
    headings that were not recognised."""
    report = progress or (lambda phase, done, total: None)
    report("validating", 0, 0)
    checked = read_and_validate(handle, name=name, progress=report)
    result = ImportResult(
        total=len(checked.parsed) + len(checked.errors), errors=checked.errors, unrecognised=checked.unrecognised
    )
    if checked.errors:
        report("rejected", 0, result.total)
        return result
    report("writing", 0, len(checked.parsed))
    for start in range(0, len(checked.parsed), BATCH):
        _write_batch(checked.parsed[start : start + BATCH], checked.fields, result)
        report("writing", min(start + BATCH, len(checked.parsed)), len(checked.parsed))
    facility_statistics_refresh()  # the planner sees the new rows before the import reports success
    report("done", len(checked.parsed), len(checked.parsed))
    return result


# --- many files at once ----------------------------------------------------------------------------------


class ArchiveRefused(ValueError):
    """A zip that is not a plain archive of list files (too many members, too large, or unreadable)."""


def archive_members(handle: IO[bytes]) -> Iterator[tuple[str, IO[bytes]]]:
    """The .xlsx/.csv files inside a zip (one per prefecture, say), in name order; folders and other files are
    skipped. Sizes are checked from the directory before anything is unpacked."""
    try:
        archive = zipfile.ZipFile(handle)
    except zipfile.BadZipFile:
        raise ArchiveRefused("zip ファイルとして読めません") from None
    with archive:
        members = [
            info
            for info in archive.infolist()
            if not info.is_dir()
            and PurePosixPath(info.filename).suffix.lower() in ACCEPTED_SUFFIXES
            and not PurePosixPath(info.filename).name.startswith(("._", "~$"))
        ]
        if len(members) > ZIP_MAX_MEMBERS:
            raise ArchiveRefused(f"zip 内のファイルが多すぎます（{ZIP_MAX_MEMBERS} まで）")
        if sum(info.file_size for info in members) > ZIP_MAX_BYTES:
            raise ArchiveRefused("zip の展開後の大きさが上限を超えています")
        for info in sorted(members, key=lambda item: item.filename):
            name = _member_name(info)
            with archive.open(info) as member:
                yield name, io.BytesIO(member.read(ZIP_MAX_BYTES + 1))


def _member_name(info: zipfile.ZipInfo) -> str:
    """The member's file name; names stored by Windows tools in cp932 without the UTF-8 flag are decoded."""
    name = info.filename
    if not info.flag_bits & 0x800:
        with contextlib.suppress(UnicodeEncodeError, UnicodeDecodeError):
            name = name.encode("cp437").decode("cp932")
    return PurePosixPath(name).name

"""Import of the agency's public per-prefecture facility list (.xlsx, or CSV in UTF-8 / Shift_JIS).

Two passes: every row is validated first, and a file with any bad row imports nothing (each bad row is
reported with its line and the reason; reasons name the column, never echo personal data). Then rows are
upserted by 設備ID in batches: a row whose values equal the stored ones is not written at all, so
importing the same file again changes nothing. Each batch commits on its own so progress is visible; an
interrupted run is completed by running it again.
"""

from __future__ import annotations

import csv
import datetime
import io
import re
import unicodedata
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import IO, Any

import openpyxl
from django.db import transaction
from django.utils import timezone

from certifications.models import Facility, FacilitySite, PowerSource, Scheme
from certifications.municipalities import resolve_address
from certifications.planner import facility_statistics_refresh
from renergy.geography import default_supply_area

MAIN_SHEET = "認定設備"
SITES_SHEET = "すべての設備所在地"
BATCH = 1000
HEADER_SEARCH_ROWS = 30
EXCEL_EPOCH = datetime.date(1899, 12, 30)
FACILITY_ID = re.compile(r"^[A-Z0-9]{6,20}$")

Progress = Callable[[str, int, int], None]


class RowInvalid(ValueError):
    pass


def _norm(text: Any) -> str:
    return unicodedata.normalize("NFKC", str(text if text is not None else "")).strip()


def _header_key(text: Any) -> str:
    return re.sub(r"[\s()（）]", "", _norm(text))


def _blank(value: Any) -> bool:
    return value is None or _norm(value) in {"", "-", "ー", "—", "‐"}


def _text(value: Any, max_length: int) -> str:
    text = "" if _blank(value) else _norm(value)
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


_DATE_TEXT = re.compile(r"^(\d{4})\s*[/\-.年]\s*(\d{1,2})\s*[/\-.月]\s*(\d{1,2})\s*日?$")
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


def _flag(value: Any) -> bool | None:
    if _blank(value):
        return None
    text = _norm(value)
    if text in {"有", "あり", "有り", "○", "〇", "はい"}:
        return True
    if text in {"無", "なし", "無し", "×", "いいえ"}:
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
    raise RowInvalid("電源種別が分かりません" if text else "必須です")


# Header of the public list -> (model field, parser). Parsers raise RowInvalid with a reason.
COLUMNS: dict[str, tuple[str, Callable[[Any], Any]]] = {
    "設備ID": ("facility_id", lambda v: _norm(v).upper()),
    "発電事業者名": ("operator_name", lambda v: _text(v, 200)),
    "代表者名": ("representative_name", lambda v: _text(v, 100)),
    "事業者の住所": ("operator_address", lambda v: _text(v, 300)),
    "事業者の電話番号": ("operator_phone", lambda v: _text(v, 30)),
    "発電設備区分": ("power_source", _source),
    "発電出力kW": ("capacity_kw", lambda v: _decimal(v, required=True, positive=True)),
    "代表住所": ("site_address", lambda v: _text(v, 300)),
    "他の筆数": ("other_parcel_count", _integer),
    "太陽電池の合計出力kW": ("panel_capacity_kw", lambda v: _decimal(v, required=False)),
    "新規認定日": ("certified_on", lambda v: _date(v, required=True)),
    "運転開始予定日": ("planned_operation_on", lambda v: _date(v, required=False)),
    "運転開始報告年月": ("operation_reported_month", _month),
    "自立運転機能": ("self_sustained_operation", _flag),
    "給電用コンセント": ("power_outlet", _flag),
    "廃棄費用の積立方法": ("disposal_reserve_method", lambda v: _text(v, 100)),
    "廃棄費用の積立状況": ("disposal_reserve_status", lambda v: _text(v, 100)),
    "調達期間終了年月": ("procurement_end_month", _month),
}
REQUIRED_COLUMNS = ("設備ID", "発電事業者名", "発電設備区分", "発電出力kW", "代表住所", "新規認定日")
SITE_ADDRESS_HEADERS = ("設備所在地", "設備の所在地", "所在地")
# Fields the import owns; everything else on a stored facility (organisation, prices, …) is left alone.
IMPORTED_FIELDS = (*(name for name, _parser in COLUMNS.values()), "prefecture_code", "municipality_code")


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


# --- reading -------------------------------------------------------------------------------------------


@dataclass
class Table:
    name: str
    header_line: int
    headers: list[str]
    rows: list[tuple[int, list[Any]]]  # (line number, cells)


def _find_table(name: str, rows: Iterator[tuple[int, list[Any]]], first_header: str) -> Table | None:
    """The header row is the first one starting with `first_header` (the public list has title rows above)."""
    for line, cells in rows:
        if cells and _header_key(cells[0]) == first_header:
            headers = [_header_key(cell) for cell in cells]
            body = [(n, list(c)) for n, c in rows if any(not _blank(x) for x in c)]
            return Table(name, line, headers, body)
        if line > HEADER_SEARCH_ROWS:
            return None
    return None


def _xlsx_tables(handle: IO[bytes]) -> tuple[Table | None, Table | None, list[RowError]]:
    try:
        workbook = openpyxl.load_workbook(handle, read_only=True, data_only=True)
    except Exception:
        return None, None, [RowError("-", "Excel ファイルとして読めません")]
    try:
        sheets = {_norm(name): name for name in workbook.sheetnames}
        if MAIN_SHEET not in sheets:
            return None, None, [RowError("-", f"シート「{MAIN_SHEET}」がありません")]

        def rows(sheet_name: str) -> Iterator[tuple[int, list[Any]]]:
            for number, cells in enumerate(workbook[sheet_name].iter_rows(values_only=True), start=1):
                yield number, list(cells)

        main = _find_table(MAIN_SHEET, rows(sheets[MAIN_SHEET]), "設備ID")
        sites = _find_table(SITES_SHEET, rows(sheets[SITES_SHEET]), "設備ID") if SITES_SHEET in sheets else None
        return main, sites, []
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


def _csv_tables(handle: IO[bytes]) -> tuple[Table | None, Table | None, list[RowError]]:
    try:
        text = decode_csv(handle.read())
    except UnicodeDecodeError:
        return None, None, [RowError("-", "文字コードが UTF-8 でも Shift_JIS でもありません")]
    reader = csv.reader(io.StringIO(text, newline=""))
    # csv.reader.line_num counts physical lines, so a quoted newline does not shift the reported line.
    rows = ((reader.line_num, cells) for cells in reader)
    return _find_table("CSV", rows, "設備ID"), None, []


# --- validation ----------------------------------------------------------------------------------------


def _label(table: Table, line: int) -> str:
    return f"{table.name} {line}行目" if table.name != "CSV" else f"{line}行目"


def _parse_main(table: Table, progress: Progress) -> tuple[list[ParsedFacility], list[RowError]]:
    index = {header: position for position, header in enumerate(table.headers) if header}
    missing = [name for name in REQUIRED_COLUMNS if _header_key(name) not in index]
    if missing:
        return [], [RowError(_label(table, table.header_line), f"列がありません: {'、'.join(missing)}")]
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
        for header, (name, parser) in COLUMNS.items():
            position = index.get(_header_key(header))
            raw = cells[position] if position is not None and position < len(cells) else None
            try:
                values[name] = parser(raw)
            except RowInvalid as problem:
                reasons.append(f"{header}: {problem}")
        facility_id = values.get("facility_id", "")
        if not FACILITY_ID.match(facility_id or ""):
            reasons.append("設備ID: 英大文字と数字6〜20文字ではありません")
        elif facility_id in seen:
            reasons.append(f"設備ID: {facility_id} が {seen[facility_id]} と重複しています")
        else:
            seen[facility_id] = label
        for required in ("operator_name", "site_address"):
            if not values.get(required) and not any(r.startswith(_column_of(required)) for r in reasons):
                reasons.append(f"{_column_of(required)}: 必須です")
        location = resolve_address(values.get("site_address") or "") if values.get("site_address") else None
        if values.get("site_address") and location is None:
            reasons.append("代表住所: 都道府県・市区町村を特定できません")
        if reasons:
            errors.append(RowError(label, "; ".join(reasons)))
            continue
        assert location is not None
        values["prefecture_code"], values["municipality_code"] = location
        parsed.append(ParsedFacility(label, values, [(values["site_address"], *location)]))
    return parsed, errors


def _column_of(name: str) -> str:
    return next(header for header, (field_name, _parser) in COLUMNS.items() if field_name == name)


def _attach_sites(table: Table, parsed: list[ParsedFacility]) -> list[RowError]:
    index = {header: position for position, header in enumerate(table.headers) if header}
    address_column = next((index[h] for h in map(_header_key, SITE_ADDRESS_HEADERS) if h in index), None)
    if address_column is None:
        return [RowError(_label(table, table.header_line), f"列がありません: {SITE_ADDRESS_HEADERS[0]}")]
    by_id = {item.values["facility_id"]: item for item in parsed}
    errors: list[RowError] = []
    for line, cells in table.rows:
        facility_id = _norm(cells[0]).upper() if cells else ""
        address = (
            _norm(cells[address_column]) if address_column < len(cells) and not _blank(cells[address_column]) else ""
        )
        item = by_id.get(facility_id)
        if item is None:
            errors.append(RowError(_label(table, line), "設備ID: 認定設備シートにありません"))
            continue
        if not address:
            errors.append(RowError(_label(table, line), "設備所在地: 必須です"))
            continue
        if len(address) > 300:
            errors.append(RowError(_label(table, line), "設備所在地: 300文字を超えています"))
            continue
        location = resolve_address(address)
        if location is None:
            errors.append(RowError(_label(table, line), "設備所在地: 都道府県・市区町村を特定できません"))
            continue
        if all(address != existing for existing, *_codes in item.sites):
            item.sites.append((address, *location))
    return errors


def read_and_validate(
    handle: IO[bytes], *, name: str, progress: Progress | None = None
) -> tuple[list[ParsedFacility], list[RowError]]:
    suffix = Path(name).suffix.lower()
    if suffix == ".xlsx":
        main, sites, errors = _xlsx_tables(handle)
    elif suffix == ".csv":
        main, sites, errors = _csv_tables(handle)
    else:
        return [], [RowError("-", ".xlsx または .csv ではありません")]
    if errors:
        return [], errors
    if main is None:
        return [], [RowError("-", "「設備ID」で始まる見出し行が見つかりません")]
    parsed, errors = _parse_main(main, progress or (lambda phase, done, total: None))
    if sites is not None and not errors:
        errors.extend(_attach_sites(sites, parsed))
    return parsed, errors


# --- writing -------------------------------------------------------------------------------------------


def _write_batch(batch: list[ParsedFacility], result: ImportResult) -> None:
    ids = [item.values["facility_id"] for item in batch]
    stored = {
        row["facility_id"]: row for row in Facility.objects.filter(facility_id__in=ids).values("pk", *IMPORTED_FIELDS)
    }
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
            new.append(
                Facility(
                    **item.values,
                    supply_area=default_supply_area(item.values["prefecture_code"]),
                    scheme=Scheme.FIT,
                    created_at=now,
                    updated_at=now,
                )
            )
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
            Facility.objects.bulk_update(changed, [*IMPORTED_FIELDS, "updated_at"])
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
    """Validate the whole file; if every row is good, upsert it by 設備ID. Returns counts and row errors."""
    report = progress or (lambda phase, done, total: None)
    report("validating", 0, 0)
    parsed, errors = read_and_validate(handle, name=name, progress=report)
    result = ImportResult(total=len(parsed) + len(errors), errors=errors)
    if errors:
        report("rejected", 0, result.total)
        return result
    report("writing", 0, len(parsed))
    for start in range(0, len(parsed), BATCH):
        _write_batch(parsed[start : start + BATCH], result)
        report("writing", min(start + BATCH, len(parsed)), len(parsed))
    facility_statistics_refresh()  # the planner sees the new rows before the import reports success
    report("done", len(parsed), len(parsed))
    return result

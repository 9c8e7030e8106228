"""Files in the layout of the agency's published list (DATA-FORMATS.md), built in code with invented names.

Sheet 「認定設備」: title rows, then the heading row, the table from column B; sheet 「すべての設備所在地」: one row
per parcel with 連番. The CSV is what Excel saves from the first sheet: Shift_JIS, the empty column A kept.
"""

from __future__ import annotations

import csv
import datetime
import io
import zipfile
from dataclasses import dataclass, field
from decimal import Decimal

import openpyxl


# The published headings, in order; `kw` picks the spelling of the kW columns, which varies between years.
def main_headings(kw: str = "(kW)") -> list[str]:
    return [
        "設備ID",
        "発電事業者名",
        "代表者名",
        "事業者の住所",
        "事業者の電話番号",
        "発電設備区分",
        f"発電出力{kw}",
        "代表住所",
        "他の筆数",
        f"太陽電池の合計出力{kw}",
        "新規認定日",
        "運転開始予定日",
        "運転開始報告年月",
        "自立運転機能",
        "給電用コンセント",
        "廃棄費用の積立方法",
        "廃棄費用の積立状況",
        "調達期間終了年月",
    ]


SITE_HEADINGS = [
    "設備ID",
    "発電事業者名",
    "連番",
    "代表者名",
    "発電設備区分",
    "発電出力(kW)",
    "発電設備の所在地",
    "太陽電池の合計出力(kW)",
]


@dataclass
class Published:
    """One facility as the published list shows it."""

    facility_id: str
    operator_name: str
    representative: str
    address: str  # 事業者の住所
    site: str  # 代表住所
    capacity: Decimal
    certified_on: datetime.date
    other_sites: list[str] = field(default_factory=list)
    source: str = "太陽光発電設備"
    phone: str = "-"
    panel: Decimal | None = None
    planned: datetime.date | str = "-"
    reported: str = "-"
    self_sustained: str = "-"
    outlet: str = "-"
    reserve_method: str = "-"
    reserve_status: str = "-"
    procurement_end: str = "-"

    def main_row(self) -> list[object]:
        return [
            self.facility_id,
            self.operator_name,
            self.representative,
            self.address,
            self.phone,
            self.source,
            float(self.capacity),
            self.site,
            len(self.other_sites),
            float(self.panel) if self.panel is not None else "-",
            self.certified_on,
            self.planned,
            self.reported,
            self.self_sustained,
            self.outlet,
            self.reserve_method,
            self.reserve_status,
            self.procurement_end,
        ]

    def site_rows(self) -> list[list[object]]:
        return [
            [self.facility_id, self.operator_name, number, self.representative, self.source, float(self.capacity),
             address, float(self.panel) if self.panel is not None else "-"]
            for number, address in enumerate([self.site, *self.other_sites], start=1)
        ]  # fmt: skip


def yamanashi() -> list[Published]:
    """A small prefecture list: companies, a private person, a city, a wind farm, several parcels."""
    return [
        Published(
            "A123456Y01",
            "株式会社テスト山梨ソーラー",
            "代表取締役 試験 一郎",
            "山梨県甲府市丸の内1-6-1",
            "山梨県北杜市長坂町長坂上条1",
            Decimal("49.5"),
            datetime.date(2014, 3, 20),
            other_sites=["山梨県北杜市長坂町長坂上条2", "山梨県北杜市長坂町長坂上条3"],
            phone="055-000-0000",
            panel=Decimal("62.4"),
            planned=datetime.date(2014, 10, 1),
            reported="2015年4月",
            reserve_method="外部積立",
            reserve_status="積立中",
            procurement_end="2035年4月",
        ),
        Published(
            "F000123Y02",
            "試験 花子",  # a private person (invented name)
            "試験 花子",
            "山梨県甲斐市篠原1",
            "山梨県甲斐市篠原1",
            Decimal("4.8"),
            datetime.date(2013, 2, 1),
            panel=Decimal("5.2"),
            reported="2013年6月",
            procurement_end="2023年6月",
        ),
        Published(
            "S000777Y03",
            "北杜市",
            "北杜市長 試験 次郎",
            "山梨県北杜市須玉町大豆生田961-1",
            "山梨県北杜市須玉町若神子1",
            Decimal("1990"),
            datetime.date(2016, 11, 5),
            other_sites=["山梨県韮崎市藤井町1"],
            panel=Decimal("2400.5"),
            planned="2018/4/1",
            self_sustained="無",
            outlet="無",
        ),
        Published(
            "T000888Y04",
            "合同会社テスト風力",
            "職務執行者 試験 三郎",
            "東京都千代田区丸の内1-1",
            "山梨県南都留郡鳴沢村1",
            Decimal("7480"),
            datetime.date(2019, 3, 29),
            source="風力発電設備",
        ),
    ]


def published_xlsx(
    facilities: list[Published],
    *,
    kw: str = "(kW)",
    sites: bool = True,
    extra_heading: str | None = None,
    extra_sheet: str | None = None,
) -> bytes:
    """The published workbook: three title rows, table from column B, both sheets."""
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    sheet.title = "認定設備"
    sheet.append([None, "事業計画認定情報 公表用データ（山梨県）"])
    sheet.append([None, "2026年11月30日時点"])
    sheet.append([None, "※ 本データは申請情報に基づくものです"])
    headings = main_headings(kw) + ([extra_heading] if extra_heading else [])
    sheet.append([None, *headings])
    for facility in facilities:
        sheet.append([None, *facility.main_row(), *(["参考"] if extra_heading else [])])
    for row in sheet.iter_rows(min_row=5, min_col=12, max_col=12):  # 新規認定日: a date cell, as published
        for cell in row:
            cell.number_format = "yyyy/m/d"
    if sites:
        site_sheet = workbook.create_sheet("すべての設備所在地")
        site_sheet.append([None, "すべての設備所在地（山梨県）"])
        site_sheet.append([])
        site_sheet.append([None, *SITE_HEADINGS])
        for facility in facilities:
            for values in facility.site_rows():
                site_sheet.append([None, *values])
    if extra_sheet:
        workbook.create_sheet(extra_sheet).append(["注記"])
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def published_csv(facilities: list[Published], *, encoding: str = "cp932") -> bytes:
    """What Excel's 「CSV (コンマ区切り)」 saves from the first sheet: the empty column A and the title rows kept,
    dates as Excel shows them (2014/3/20), numbers without trailing zeros, Shift_JIS."""

    def shown(value: object) -> object:
        if isinstance(value, datetime.date):
            return f"{value.year}/{value.month}/{value.day}"
        if isinstance(value, float):
            return f"{value:g}"
        return value

    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(["", "事業計画認定情報 公表用データ（山梨県）"])
    writer.writerow(["", "2026年11月30日時点"])
    writer.writerow([])
    writer.writerow(["", *main_headings("（ｋＷ）")])  # full-width brackets and letters
    for facility in facilities:
        writer.writerow(["", *(shown(value) for value in facility.main_row())])
    return buffer.getvalue().encode(encoding)


def zipped(files: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in files.items():
            archive.writestr(name, data)
    return buffer.getvalue()

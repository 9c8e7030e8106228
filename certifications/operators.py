"""Whether a facility's operator (発電事業者) is a corporation or a private person.

The published list does not say; an operator name that carries a legal-form marker (株式会社, 合同会社, …,
their bracketed abbreviations) or is a prefecture or municipality (北杜市, 長野県企業局) is a corporation or
public body. Anything else is taken to be a private person: a wrong guess that way masks a company name,
the other way would show a person's name, so the default errs toward privacy. The agency corrects a guess
on the facility page (services.facility_operator_kind_set) and the import keeps what is stored.
"""

from __future__ import annotations

import re
import unicodedata
from functools import cache

from certifications.models import OperatorKind
from certifications.municipalities import municipalities
from renergy.geography import PREFECTURE_BY_NAME, PREFECTURES

# Legal forms under Japanese law, their usual abbreviations (㈱ is 「(株)」 after NFKC) and foreign forms.
CORPORATE_MARKERS = (
    "株式会社",
    "有限会社",
    "合同会社",
    "合資会社",
    "合名会社",
    "相互会社",
    # 一般社団法人, 一般財団法人, 公益…, 特定非営利活動法人, NPO法人, 医療法人, 社会福祉法人, 学校法人, 宗教法人,
    # 農事組合法人, 独立行政法人 …
    "法人",
    "組合",  # 協同組合, 事業協同組合, 有限責任事業組合, 土地改良区 …
    "土地改良区",
    "公社",
    "機構",
    "事業団",
    "協会",
    "(株)",
    "(有)",
    "(同)",
    "(合)",
    "(資)",
    "(名)",
    "(医)",
    "(社)",
    "(財)",
    "(一社)",
    "(一財)",
    "(公社)",
    "(公財)",
    "(特非)",
    "(福)",
    "(学)",
    "(宗)",
    "(農)",
    "(協)",
)
_FOREIGN = re.compile(r"\b(inc|ltd|llc|llp|corp|k\.?k|g\.?k|gmbh|plc|limited|corporation|company)\b\.?", re.I)
# A public body's own unit after its name: 長野県企業局, 北杜市水道局, 〇〇町役場.
_PUBLIC_SUFFIX = re.compile(r"(企業局|水道局|交通局|役所|役場|庁|局|教育委員会)$")


def _normalised(name: str) -> str:
    return unicodedata.normalize("NFKC", name).replace(" ", "").replace("　", "")


@cache
def _public_body_names() -> frozenset[str]:
    """Prefectures, municipalities, and municipalities written after their prefecture (長野県松本市)."""
    names = set(PREFECTURE_BY_NAME)
    for prefecture, municipality in municipalities().values():
        names.add(municipality)
        names.add(PREFECTURES[prefecture][0] + municipality)
    return frozenset(names)


def operator_kind_derive(*, name: str) -> str:
    """OperatorKind.CORPORATION when the name shows a legal form or is a public body, else INDIVIDUAL."""
    text = _normalised(name)
    if not text:
        return OperatorKind.INDIVIDUAL
    if any(marker in text for marker in CORPORATE_MARKERS) or _FOREIGN.search(unicodedata.normalize("NFKC", name)):
        return OperatorKind.CORPORATION
    if _PUBLIC_SUFFIX.sub("", text) in _public_body_names():
        return OperatorKind.CORPORATION
    return OperatorKind.INDIVIDUAL

"""A finding's evidence (the numbers the inspection's SQL records) as labelled, translated values.

The same labels serve the pages (officer and administrator) and the fiscal-year workbook, so a person reads
「範囲外のIPアドレス: 203.0.113.5（12回）」 rather than a JSON key and a raw list.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from accounts.models import AccountStatus
from audit.inspection import JST

# Labels of the evidence each finding kind records (audit.inspection's jsonb_build_object keys), in the
# order the columns appear. A key missing here is still shown, under its own name.
EVIDENCE_LABELS: dict[str, Any] = {
    "requests": gettext_lazy("利用回数"),
    "per_day": gettext_lazy("1日あたり"),
    "baseline_per_day": gettext_lazy("平常時の1日あたり"),
    "ratio": gettext_lazy("倍率"),
    "off_hours_requests": gettext_lazy("時間外の利用回数"),
    "share": gettext_lazy("割合"),
    "days": gettext_lazy("日数"),
    "work_hours": gettext_lazy("業務時間"),
    "new_ips": gettext_lazy("初めてのIPアドレス"),
    "requests_from_new_ips": gettext_lazy("初めてのIPからの利用回数"),
    "foreign_ips": gettext_lazy("範囲外のIPアドレス"),
    "requests_from_foreign_ips": gettext_lazy("範囲外のIPからの利用回数"),
    "switches": gettext_lazy("切替回数"),
    "ips": gettext_lazy("IPアドレス"),
    "first_at": gettext_lazy("最初の日時"),
    "within_minutes": gettext_lazy("判定の間隔（分）"),
    "distinct_facilities": gettext_lazy("閲覧した設備数"),
    "export_rows": gettext_lazy("出力行数"),
    "exports": gettext_lazy("出力回数"),
    "last_activity": gettext_lazy("最終利用"),
    "idle_days": gettext_lazy("未利用日数"),
    "suspension_after_days": gettext_lazy("自動停止までの日数"),
    "issued": gettext_lazy("発行日時"),
    "status": gettext_lazy("状態"),
    "days_since_issue": gettext_lazy("発行後の日数"),
    "active_accounts": gettext_lazy("有効なアカウント数"),
    "last_at": gettext_lazy("最後の日時"),
    "disclosed_rows": gettext_lazy("開示した設備件数（延べ）"),
}


def evidence_text(value: Any) -> Any:
    """One evidence value as a cell: numbers stay numbers; lists of IPs read as 「203.0.113.5（12回）、…」."""
    if isinstance(value, bool) or value is None:
        return "" if value is None else str(value)
    if isinstance(value, (int, float)):
        return value
    if isinstance(value, list):
        parts = []
        for item in value:
            if isinstance(item, dict) and "ip" in item:
                parts.append(_("%(ip)s（%(n)s回）") % {"ip": item["ip"], "n": item.get("requests", "?")})
            else:
                parts.append(str(item))
        return "、".join(parts)
    if isinstance(value, str) and len(value) >= 19 and value[4] == "-" and value[10] == "T":
        try:
            return f"{datetime.fromisoformat(value).astimezone(JST):%Y-%m-%d %H:%M}"
        except ValueError:
            return value
    return str(value)


def evidence_keys(findings: list[dict[str, Any]]) -> list[str]:
    """The evidence keys of these findings, in EVIDENCE_LABELS order (unknown keys last, by name)."""
    present = {key for row in findings for key in row["numbers"]}
    known = [key for key in EVIDENCE_LABELS if key in present]
    return known + sorted(present - set(EVIDENCE_LABELS))


def evidence_value(key: str, value: Any) -> Any:
    """One value as a person reads it: an account status by its label, everything else by evidence_text."""
    if key == "status" and value in AccountStatus.values:
        return str(AccountStatus(value).label)
    return evidence_text(value)


def evidence_rows(numbers: dict[str, Any]) -> list[tuple[str, Any]]:
    """(label, value) pairs in EVIDENCE_LABELS order, unknown keys last under their own name."""
    known = [key for key in EVIDENCE_LABELS if key in numbers]
    keys = known + sorted(set(numbers) - set(EVIDENCE_LABELS))
    return [(str(EVIDENCE_LABELS.get(key, key)), evidence_value(key, numbers[key])) for key in keys]

"""The fiscal-year audit report: figures (in SQL aggregates), the XLSX workbook, the printable page's
charts, and the year's raw records as CSV streamed straight from PostgreSQL's COPY.

Memory stays flat however many records the year holds: every figure is a GROUP BY in the database,
the workbook is written with xlsxwriter's constant_memory to a temporary file, and the CSV is
relayed from COPY TO STDOUT in fixed-size blocks.
"""

from __future__ import annotations

import csv
import io
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import xlsxwriter
from django.db import connection
from django.db.models import Count, Q, Sum
from django.db.models.functions import ExtractHour, ExtractIsoWeekDay, TruncMonth
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from accounts.models import Organisation, OrganisationKind, User
from audit.inspection import JST, fiscal_year_bounds
from audit.models import AccessRecord, Finding, SecurityEvent, VerificationRun
from audit.sealing import seal_chain_status
from renergy.replica import read_connection, reads_from_replica

# Security-event actions that make up the account-management sheet (accounts.lifecycle names them).
ACCOUNT_ACTIONS = {
    "issued": ("account.approved",),
    "activated": ("account.activated",),
    "suspended": ("account.suspended",),
    "reactivated": ("account.reactivation_approved",),
    "retired": ("account.retired",),
}
ACCOUNT_ACTION_LABELS = {
    "issued": gettext_lazy("発行"),
    "activated": gettext_lazy("利用開始"),
    "suspended": gettext_lazy("停止"),
    "reactivated": gettext_lazy("利用再開"),
    "retired": gettext_lazy("廃止"),
}
CSV_BOM = b"\xef\xbb\xbf"
CSV_COLUMNS = (
    "id", "at", "request_id", "user_id", "organisation_id", "role", "session_hash", "ip", "user_agent", "method",
    "path", "query", "route", "status", "duration_ms", "disclosure_kind", "facility_ids", "fields", "row_count",
    "part", "record_hash",
)  # fmt: skip
_CSV_BLOCK = 256 * 1024


@dataclass
class FiscalYearReport:
    fiscal_year: int
    start: datetime
    end: datetime
    months: list[datetime] = field(default_factory=list)
    summary: list[tuple[str, Any]] = field(default_factory=list)
    per_month: list[int] = field(default_factory=list)
    per_organisation: list[dict[str, Any]] = field(default_factory=list)
    heatmap: list[list[int]] = field(default_factory=list)  # 7 weekdays (Mon..Sun) × 24 hours, JST
    findings: list[dict[str, Any]] = field(default_factory=list)
    account_management: list[dict[str, Any]] = field(default_factory=list)
    exports: list[dict[str, Any]] = field(default_factory=list)
    verification: dict[str, Any] = field(default_factory=dict)


def _months(start: datetime) -> list[datetime]:
    return [
        datetime(start.year + (start.month + i - 1) // 12, (start.month + i - 1) % 12 + 1, 1, tzinfo=JST)
        for i in range(12)
    ]


def _month_index(moment: datetime, months: list[datetime]) -> int:
    local = moment.astimezone(JST)
    return (local.year - months[0].year) * 12 + local.month - months[0].month


@reads_from_replica("fiscal_year_report")
def fiscal_year_report(fiscal_year: int) -> FiscalYearReport:
    start, end = fiscal_year_bounds(fiscal_year)
    report = FiscalYearReport(fiscal_year, start, end, months=_months(start.astimezone(JST)))
    requests = AccessRecord.objects.filter(at__gte=start, at__lt=end, part=0)
    disclosures = AccessRecord.objects.filter(at__gte=start, at__lt=end, row_count__gt=0)
    events = SecurityEvent.objects.filter(at__gte=start, at__lt=end)

    totals = requests.aggregate(
        total=Count("id"),
        signed_in=Count("id", filter=Q(user__isnull=False)),
        denied=Count("id", filter=Q(status=403)),
        errors=Count("id", filter=Q(status__gte=500)),
        accounts=Count("user", distinct=True),
        organisations=Count("organisation", distinct=True),
    )
    disclosed = disclosures.aggregate(
        rows=Sum("row_count"),
        export_rows=Sum("row_count", filter=Q(disclosure_kind="export")),
        exports=Count("request_id", filter=Q(disclosure_kind="export"), distinct=True),
    )
    event_counts = events.aggregate(
        logins=Count("id", filter=Q(action="auth.login")),
        failed=Count("id", filter=Q(action="auth.login_failed") | Q(action="auth.mfa_failed")),
        lockouts=Count("id", filter=Q(action="auth.locked_out")),
    )

    per_month = [0] * 12
    for row in requests.annotate(m=TruncMonth("at", tzinfo=JST)).values("m").annotate(n=Count("id")):
        per_month[_month_index(row["m"], report.months)] += row["n"]
    report.per_month = per_month

    organisations = {o.pk: o for o in Organisation.objects.all()}
    by_org: dict[int | None, list[int]] = {}
    for row in requests.annotate(m=TruncMonth("at", tzinfo=JST)).values("organisation_id", "m").annotate(n=Count("id")):
        by_org.setdefault(row["organisation_id"], [0] * 12)[_month_index(row["m"], report.months)] += row["n"]
    for org_id, counts in sorted(by_org.items(), key=lambda item: -sum(item[1])):
        org = organisations.get(org_id) if org_id is not None else None
        report.per_organisation.append(
            {
                "organisation": org.name if org else _("（未サインイン）"),
                "kind": OrganisationKind(org.kind).label if org else "",
                "months": counts,
                "total": sum(counts),
            }
        )

    heatmap = [[0] * 24 for _day in range(7)]
    for row in (
        requests.annotate(d=ExtractIsoWeekDay("at", tzinfo=JST), h=ExtractHour("at", tzinfo=JST))
        .values("d", "h")
        .annotate(n=Count("id"))
    ):
        heatmap[row["d"] - 1][row["h"]] = row["n"]
    report.heatmap = heatmap

    findings = Finding.objects.filter(period_start__lt=end, period_end__gt=start).select_related("run")
    users = {u.pk: u for u in User.objects.filter(pk__in=findings.values("user_id"))}
    for finding in findings.order_by("period_start", "organisation_id", "user_id"):
        person = users.get(finding.user_id)
        org = organisations.get(finding.organisation_id)
        report.findings.append(
            {
                "run": finding.run.label,
                "organisation": org.name if org else "",
                "account": person.email if person else "",
                "kind": finding.get_kind_display(),
                "severity": finding.get_severity_display(),
                "state": finding.get_review_state_display(),
                "numbers": finding.numbers,
            }
        )

    action_of = {action: key for key, actions in ACCOUNT_ACTIONS.items() for action in actions}
    account_rows = {key: [0] * 12 for key in ACCOUNT_ACTIONS}
    for row in (
        events.filter(action__in=list(action_of))
        .annotate(m=TruncMonth("at", tzinfo=JST))
        .values("action", "m")
        .annotate(n=Count("id"))
    ):
        account_rows[action_of[row["action"]]][_month_index(row["m"], report.months)] += row["n"]
    report.account_management = [
        {"label": ACCOUNT_ACTION_LABELS[key], "months": counts, "total": sum(counts)}
        for key, counts in account_rows.items()
    ]

    exporters = (
        disclosures.filter(disclosure_kind="export")
        .values("user_id", "organisation_id")
        .annotate(exports=Count("request_id", distinct=True), rows=Sum("row_count"))
        .order_by("-rows")
    )
    export_users = {u.pk: u for u in User.objects.filter(pk__in=[row["user_id"] for row in exporters])}
    for row in exporters:
        person = export_users.get(row["user_id"])
        org = organisations.get(row["organisation_id"])
        report.exports.append(
            {
                "organisation": org.name if org else "",
                "account": person.email if person else "",
                "exports": row["exports"],
                "rows": row["rows"] or 0,
            }
        )

    report.verification = verification_summary(start, end)
    report.summary = [
        (_("対象年度"), f"{fiscal_year}年度（{start:%Y-%m-%d}〜{end.astimezone(JST):%Y-%m-%d} 前日まで, JST）"),
        (_("アクセス件数"), totals["total"]),
        (_("うちサインイン済み"), totals["signed_in"]),
        (_("利用アカウント数"), totals["accounts"]),
        (_("利用組織数"), totals["organisations"]),
        (_("拒否（403）"), totals["denied"]),
        (_("エラー（5xx）"), totals["errors"]),
        (_("開示した設備件数（延べ）"), disclosed["rows"] or 0),
        (_("出力（エクスポート）回数"), disclosed["exports"] or 0),
        (_("出力した行数"), disclosed["export_rows"] or 0),
        (_("サインイン"), event_counts["logins"]),
        (_("認証失敗"), event_counts["failed"]),
        (_("ロックアウト"), event_counts["lockouts"]),
        (_("点検結果（件）"), len(report.findings)),
        (_("改ざん検証"), report.verification["text"]),
    ]
    return report


def verification_summary(start: datetime, end: datetime) -> dict[str, Any]:
    """The seal chain over the year (checked now) and the latest full walk of the records (verify_audit)."""
    chain = seal_chain_status(start, min(end, timezone.now()))
    last = (
        VerificationRun.objects.filter(period_from__lte=start, period_to__gte=min(end, timezone.now()))
        .order_by("-ran_at")
        .first()
    )
    parts = [
        _("封印チェーン: 正常（%(n)d 期間）") % {"n": chain["seals"]}
        if chain["ok"]
        else _("封印チェーン: 異常 — %(problem)s") % {"problem": chain["problems"][0]}
    ]
    if last is None:
        parts.append(_("全件検証: 未実施（manage.py verify_audit で実施）"))
    elif last.ok:
        parts.append(
            _("全件検証: 正常（%(n)d 件, %(when)s 実施）")
            % {"n": last.records_checked, "when": f"{last.ran_at.astimezone(JST):%Y-%m-%d %H:%M}"}
        )
    else:
        parts.append(_("全件検証: 異常 — %(problem)s") % {"problem": (last.problems or ["?"])[0]})
    return {
        "ok": chain["ok"] and (last is None or last.ok),
        "chain": chain,
        "last_run": last,
        "text": " / ".join(parts),
    }


def write_xlsx(report: FiscalYearReport, handle: Any) -> None:
    """Sheets: summary, usage per organisation and month, findings, account management, exports."""
    workbook = xlsxwriter.Workbook(handle, {"constant_memory": True, "in_memory": False})
    bold = workbook.add_format({"bold": True})
    month_labels = [f"{m:%Y-%m}" for m in report.months]

    sheet = workbook.add_worksheet(_("概要"))
    sheet.write_row(0, 0, [_("項目"), _("値")], bold)
    for line, (label, value) in enumerate(report.summary, start=1):
        sheet.write_row(line, 0, [str(label), value if isinstance(value, int) else str(value)])
    sheet.set_column(0, 0, 28)
    sheet.set_column(1, 1, 90)

    sheet = workbook.add_worksheet(_("組織別・月別利用"))
    sheet.write_row(0, 0, [_("組織"), _("種別"), *month_labels, _("合計")], bold)
    line = 1
    sheet.write_row(line, 0, [_("全体"), "", *report.per_month, sum(report.per_month)], bold)
    for row in report.per_organisation:
        line += 1
        sheet.write_row(line, 0, [row["organisation"], str(row["kind"]), *row["months"], row["total"]])
    sheet.set_column(0, 0, 30)

    sheet = workbook.add_worksheet(_("点検結果"))
    sheet.write_row(
        0, 0, [_("点検"), _("組織"), _("アカウント"), _("種別"), _("重要度"), _("確認状況"), _("根拠")], bold
    )
    for line, row in enumerate(report.findings, start=1):
        sheet.write_row(
            line,
            0,
            [row["run"], row["organisation"], row["account"], str(row["kind"]), str(row["severity"]),
             str(row["state"]), str(row["numbers"])],
        )  # fmt: skip

    sheet = workbook.add_worksheet(_("アカウント管理"))
    sheet.write_row(0, 0, [_("区分"), *month_labels, _("合計")], bold)
    for line, row in enumerate(report.account_management, start=1):
        sheet.write_row(line, 0, [str(row["label"]), *row["months"], row["total"]])

    sheet = workbook.add_worksheet(_("出力"))
    sheet.write_row(0, 0, [_("組織"), _("アカウント"), _("出力回数"), _("行数")], bold)
    for line, row in enumerate(report.exports, start=1):
        sheet.write_row(line, 0, [row["organisation"], row["account"], row["exports"], row["rows"]])
    workbook.close()


def xlsx_stream(report: FiscalYearReport) -> Iterator[bytes]:
    with tempfile.TemporaryFile() as handle:
        write_xlsx(report, handle)
        handle.seek(0)
        while block := handle.read(_CSV_BLOCK):
            yield block


@reads_from_replica("raw_record_csv")
def raw_csv_stream(start: datetime, end: datetime) -> Iterator[bytes]:
    """The period's access records as CSV for Excel (UTF-8 BOM, CRLF), relayed from COPY TO STDOUT."""
    yield CSV_BOM
    if connection.vendor != "postgresql":
        yield from _raw_csv_python(start, end)
        return
    from psycopg import sql

    columns = [sql.Identifier(name) for name in CSV_COLUMNS]
    columns[1] = sql.SQL("to_char(at AT TIME ZONE 'Asia/Tokyo', 'YYYY-MM-DD HH24:MI:SS.US') AS at")
    statement = sql.SQL(
        "COPY (SELECT {} FROM audit_accessrecord WHERE at >= {} AND at < {}) TO STDOUT WITH (FORMAT csv, HEADER true)"
    ).format(sql.SQL(", ").join(columns), sql.Literal(start), sql.Literal(end))
    db = read_connection()
    db.ensure_connection()
    buffer = bytearray()
    with db.connection.cursor() as cursor, cursor.copy(statement) as copy:
        for data in copy:
            buffer += data
            if len(buffer) >= _CSV_BLOCK:
                # COPY writes LF; Excel wants CRLF. Values never hold a bare LF (paths, agents, JSON are one line).
                yield bytes(buffer).replace(b"\n", b"\r\n")
                buffer.clear()
    if buffer:
        yield bytes(buffer).replace(b"\n", b"\r\n")


def _raw_csv_python(start: datetime, end: datetime) -> Iterator[bytes]:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    rows = AccessRecord.objects.filter(at__gte=start, at__lt=end).order_by("id").values_list(*CSV_COLUMNS)
    for n, row in enumerate(rows.iterator(chunk_size=5000), start=1):
        writer.writerow(row)
        if n % 5000 == 0:
            yield out.getvalue().encode("utf-8")
            out.seek(0)
            out.truncate()
    yield out.getvalue().encode("utf-8")


def bar_chart(values: list[int], labels: list[str], *, width: int = 720, height: int = 220) -> dict[str, Any]:
    """Geometry of an inline SVG bar chart (no script, no library: the CSP allows neither)."""
    top = max(values) if values and max(values) > 0 else 1
    slot = width / max(len(values), 1)
    plot = height - 40
    bars = []
    for n, (value, label) in enumerate(zip(values, labels, strict=True)):
        bar_height = round(plot * value / top, 1)
        bars.append(
            {
                "x": round(n * slot + slot * 0.15, 1),
                "y": round(plot - bar_height + 10, 1),
                "width": round(slot * 0.7, 1),
                "height": bar_height,
                "value": value,
                "label": label,
                "label_x": round(n * slot + slot / 2, 1),
            }
        )
    return {"width": width, "height": height, "bars": bars, "baseline": plot + 10, "label_y": height - 12}


def heat_levels(heatmap: list[list[int]]) -> list[list[tuple[int, int]]]:
    """Each cell as (count, level 0–5) so the template can shade it with a CSS class."""
    top = max((n for row in heatmap for n in row), default=0) or 1
    return [[(n, 0 if n == 0 else 1 + min(4, int(5 * n / (top + 1)))) for n in row] for row in heatmap]

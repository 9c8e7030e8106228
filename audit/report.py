"""The fiscal-year audit report: figures (in SQL aggregates), the XLSX workbook, the printable page's
charts, and the year's raw records as CSV streamed straight from PostgreSQL's COPY.

Memory stays flat however many records the year holds: every figure is a GROUP BY in the database,
the workbook is written with xlsxwriter's constant_memory to a temporary file, and the CSV is
relayed from COPY TO STDOUT in fixed-size blocks.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import xlsxwriter
from django.db.models import Count, OuterRef, Q, Subquery, Sum
from django.db.models.functions import ExtractHour, ExtractIsoWeekDay, TruncMonth
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from accounts.models import Organisation, OrganisationKind, User
from audit.evidence import EVIDENCE_LABELS, evidence_keys, evidence_value
from audit.inspection import JST, fiscal_year_bounds
from audit.models import (
    AccessRecord,
    Finding,
    FindingReview,
    ReviewState,
    SecurityEvent,
    VerificationRun,
    event_accounts_count,
)
from audit.sealing import seal_chain_status
from renergy.databases import lift_statement_limit_until_closed, long_statements
from renergy.replica import read_connection, reads_from_replica
from renergy.spreadsheet import column_widths, neutralise, neutralise_sql, print_setup, workbook_formats

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
# Columns a client chooses (its user agent, the path and query it sends): neutralised in the CSV, since
# "=cmd|..." as a user agent would otherwise run in the auditor's Excel.
CLIENT_TEXT_COLUMNS = frozenset({"user_agent", "method", "path", "query", "route", "role"})


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
    use_approvals: list[dict[str, Any]] = field(default_factory=list)  # per organisation: requests, decisions
    access_reviews: list[dict[str, Any]] = field(default_factory=list)
    verification: dict[str, Any] = field(default_factory=dict)


def _months(start: datetime) -> list[datetime]:
    return [
        datetime(start.year + (start.month + i - 1) // 12, (start.month + i - 1) % 12 + 1, 1, tzinfo=JST)
        for i in range(12)
    ]


def _month_index(moment: datetime, months: list[datetime]) -> int:
    local = moment.astimezone(JST)
    return (local.year - months[0].year) * 12 + local.month - months[0].month


@long_statements()  # a year of records: longer than a request's statement limit
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

    # The organisation's latest answer to each finding (audit.inspection.finding_answer), beside its review state.
    latest_answer = (
        FindingReview.objects.filter(finding=OuterRef("pk"), state=ReviewState.ANSWERED)
        .order_by("-reviewed_at", "-pk")
        .values("note")[:1]
    )
    findings = (
        Finding.objects.filter(period_start__lt=end, period_end__gt=start)
        .select_related("run")
        .annotate(answer=Subquery(latest_answer))
    )
    users = {u.pk: u for u in User.objects.filter(pk__in=findings.values("user_id"))}
    for finding in findings.order_by("period_start", "organisation_id", "user_id"):
        person = users.get(finding.user_id) if finding.user_id else None
        org = organisations.get(finding.organisation_id) if finding.organisation_id else None
        report.findings.append(
            {
                "run": finding.run.label,
                "organisation": org.name if org else "",
                "account": person.email if person else "",
                "kind": finding.get_kind_display(),
                "severity": finding.get_severity_display(),
                "state": finding.get_review_state_display(),
                "answer": getattr(finding, "answer", None) or "",
                "numbers": finding.numbers,
            }
        )

    action_of = {action: key for key, actions in ACCOUNT_ACTIONS.items() for action in actions}
    account_rows = {key: [0] * 12 for key in ACCOUNT_ACTIONS}
    for row in (
        events.filter(action__in=list(action_of))
        .annotate(m=TruncMonth("at", tzinfo=JST))
        .values("action", "m")
        .annotate(n=Sum(event_accounts_count()))
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

    report.use_approvals = use_approval_counts(events, organisations)
    report.access_reviews = access_review_rows(start, end)
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
        (_("アカウント棚卸し（組織・回）"), len(report.access_reviews)),
        (_("うち期限内に全員確認"), sum(1 for row in report.access_reviews if row["complete"])),
        (_("棚卸しで停止したアカウント"), sum(row["revoked"] + row["suspended"] for row in report.access_reviews)),
        (_("改ざん検証"), report.verification["text"]),
        (_("検証済みの記録"), report.verification["records_verified"]),
        (_("未封印の記録"), report.verification["records_unsealed"]),
        (_("封印の署名"), str(report.verification["signatures"])),
        (_("外部アンカーとの照合"), str(report.verification["anchors"])),
    ]
    return report


USE_APPROVAL_ACTIONS = {
    "use_approval.requested": "requested",
    "use_approval.approved": "approved",
    "use_approval.refused": "refused",
}


def use_approval_counts(events: Any, organisations: dict[int, Organisation]) -> list[dict[str, Any]]:
    """Per-use approval (都度承認) in the year, per organisation: requests, approvals, refusals (one GROUP BY)."""
    rows: dict[int, dict[str, Any]] = {}
    for row in (
        events.filter(action__in=list(USE_APPROVAL_ACTIONS))
        .values("organisation_id", "action")
        .annotate(n=Count("id"))
        .order_by()
    ):
        org = organisations.get(row["organisation_id"])
        entry = rows.setdefault(
            row["organisation_id"],
            {
                "organisation": org.name if org else "",
                "kind": OrganisationKind(org.kind).label if org else "",
                "requested": 0,
                "approved": 0,
                "refused": 0,
            },
        )
        entry[USE_APPROVAL_ACTIONS[row["action"]]] += row["n"]
    return sorted(rows.values(), key=lambda entry: (-entry["requested"], entry["organisation"]))


def access_review_rows(start: datetime, end: datetime) -> list[dict[str, Any]]:
    """The year's access-review rounds (accounts.access_review), one row per organisation and round, counted in
    the query: who was confirmed, found unneeded, suspended for want of a confirmation, or left meanwhile."""
    from accounts.access_review import access_reviews_with_counts
    from accounts.models import AccessReview

    rounds = (
        access_reviews_with_counts(
            AccessReview.objects.filter(
                round_start__gte=start.astimezone(JST).date(), round_start__lt=end.astimezone(JST).date()
            )
        )
        .order_by("round_start", "organisation__kind", "organisation__name")
        # The counts are annotations built from a dict (accounts.access_review), which django-stubs cannot follow.
        .values(  # type: ignore[misc]
            "round_start", "deadline", "closed_at", "organisation__name", "organisation__kind",
            "people", "confirmed", "revoked", "suspended", "gone", "pending", "lapsed",
        )
    )  # fmt: skip
    return [
        {
            "round": f"{row['round_start']:%Y-%m-%d}",
            "organisation": row["organisation__name"],
            "kind": str(OrganisationKind(row["organisation__kind"]).label),
            "deadline": f"{row['deadline'].astimezone(JST):%Y-%m-%d %H:%M}",
            "people": row["people"],
            "confirmed": row["confirmed"],
            "revoked": row["revoked"],
            "suspended": row["suspended"],
            "gone": row["gone"],
            # Still open, or lapsed (the administrators' own organisation is not suspended).
            "pending": row["pending"] + row["lapsed"],
            "closed": f"{row['closed_at'].astimezone(JST):%Y-%m-%d %H:%M}" if row["closed_at"] else "",
            # Everyone decided by the officers (or the administrator) before the deadline.
            "complete": row["pending"] == 0 and row["suspended"] == 0 and row["lapsed"] == 0,
        }
        for row in rounds
    ]


ACCESS_REVIEW_COLUMNS = (
    ("round", gettext_lazy("対象期")),
    ("organisation", gettext_lazy("組織")),
    ("kind", gettext_lazy("種別")),
    ("deadline", gettext_lazy("確認期限")),
    ("people", gettext_lazy("対象者")),
    ("confirmed", gettext_lazy("継続利用を確認")),
    ("revoked", gettext_lazy("不要として停止")),
    ("suspended", gettext_lazy("期限後に停止")),
    ("gone", gettext_lazy("期限前に停止・廃止済み")),
    ("pending", gettext_lazy("未確認")),
    ("closed", gettext_lazy("締切処理日時")),
)


def _checked(state: str | None) -> str:
    # Only what was actually checked is called 正常; a check that did not run says so.
    return {"ok": _("正常"), "failed": _("異常")}.get(state or "", _("未検証"))


def verification_summary(start: datetime, end: datetime) -> dict[str, Any]:
    """The seal chain and the records not yet sealed (checked now, from the seals), and the latest full walk
    of the records with its signature and anchor results (manage.py verify_audit or the daily job)."""
    now = timezone.now()
    chain = seal_chain_status(start, min(end, now), now=now)
    last = (
        VerificationRun.objects.filter(period_from__lte=start, period_to__gte=min(end, now)).order_by("-ran_at").first()
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
    signatures = last.signatures if last else None
    anchors = last.anchors if last else None
    parts.append(_("署名: %(result)s") % {"result": _checked(signatures)})
    parts.append(_("外部アンカー照合: %(result)s") % {"result": _checked(anchors)})
    parts.append(_("未封印の記録: %(n)d 件") % {"n": chain["unsealed"]})
    return {
        "ok": bool(chain["ok"] and last is not None and last.ok and signatures == "ok" and anchors == "ok"),
        "chain": chain,
        "last_run": last,
        "records_verified": last.records_checked if last is not None and last.ok else 0,
        "records_unsealed": chain["unsealed"],
        "signatures": _checked(signatures),
        "anchors": _checked(anchors),
        "text": " / ".join(parts),
    }


FINDING_COLUMNS = (
    gettext_lazy("点検"),
    gettext_lazy("組織"),
    gettext_lazy("アカウント"),
    gettext_lazy("種別"),
    gettext_lazy("重要度"),
    gettext_lazy("確認状況"),
    gettext_lazy("組織の回答"),
)


def _write(sheet: Any, row: int, column: int, value: Any, fmt: Any = None) -> None:
    """Numbers as numbers; everything else as neutralised text (XlsxWriter would turn 「=…」 into a formula)."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        sheet.write_number(row, column, value, fmt)
    else:
        sheet.write_string(row, column, neutralise(str(value)), fmt)


def _table(
    workbook: Any,
    formats: dict[str, Any],
    name: str,
    headings: list[str],
    rows: list[list[Any]],
    *,
    title: str,
    widths: list[int] | None = None,
    bold_first: bool = False,
) -> None:
    """One sheet: a heading row and typed rows, widths from the data (or given), frozen heading, filter, A4
    landscape fitted to the page width."""
    sheet = workbook.add_worksheet(name)
    fitted = widths or column_widths([headings, *rows], maximum=40)
    for index, width in enumerate(fitted):
        sheet.set_column(index, index, width, formats["wrap"])
    sheet.set_row(0, 30)
    for column, heading in enumerate(headings):
        sheet.write_string(0, column, str(heading), formats["header"])
    for line, values in enumerate(rows, start=1):
        total = bold_first and line == 1
        for column, value in enumerate(values):
            if isinstance(value, int):
                fmt = formats["bold_integer" if total else "integer"]
            else:
                fmt = formats["bold"] if total else None
            _write(sheet, line, column, value, fmt)
    print_setup(sheet, last_row=len(rows), last_column=len(headings) - 1, total_width=sum(fitted), title=title)


def write_xlsx(report: FiscalYearReport, handle: Any) -> None:
    """Sheets: summary, usage per organisation and month, findings (the evidence in labelled columns), account
    management, per-use approval per organisation, access reviews, exports. Every sheet prints on A4 landscape, one
    page wide, its heading row on every page."""
    workbook = xlsxwriter.Workbook(handle, {"constant_memory": True, "in_memory": False})
    formats = workbook_formats(workbook)
    month_labels = [f"{m:%Y-%m}" for m in report.months]
    title = _("%(year)d年度 監査報告") % {"year": report.fiscal_year}

    summary = [[str(label), value if isinstance(value, int) else str(value)] for label, value in report.summary]
    _table(workbook, formats, _("概要"), [_("項目"), _("値")], summary, title=title, widths=[30, 80])

    usage = [[_("全体"), "", *report.per_month, sum(report.per_month)]]
    usage += [[row["organisation"], str(row["kind"]), *row["months"], row["total"]] for row in report.per_organisation]
    usage_headings = [_("組織"), _("種別"), *month_labels, _("合計")]
    usage_widths = column_widths([usage_headings, *usage], maximum=30)
    _table(
        workbook,
        formats,
        _("組織別・月別利用"),
        usage_headings,
        usage,
        title=title,
        widths=usage_widths,
        bold_first=True,
    )

    keys = evidence_keys(report.findings)
    findings = [
        [row["run"], row["organisation"], row["account"], str(row["kind"]), str(row["severity"]), str(row["state"]),
         row["answer"], *(evidence_value(key, row["numbers"][key]) if key in row["numbers"] else "" for key in keys)]
        for row in report.findings
    ]  # fmt: skip
    headings = [str(label) for label in FINDING_COLUMNS] + [str(EVIDENCE_LABELS.get(key, key)) for key in keys]
    _table(workbook, formats, _("点検結果"), headings, findings, title=title)

    accounts = [[str(row["label"]), *row["months"], row["total"]] for row in report.account_management]
    _table(workbook, formats, _("アカウント管理"), [_("区分"), *month_labels, _("合計")], accounts, title=title)

    approvals = [
        [row["organisation"], str(row["kind"]), row["requested"], row["approved"], row["refused"]]
        for row in report.use_approvals
    ]
    approval_headings = [_("組織"), _("種別"), _("利用申請"), _("承認"), _("却下")]
    _table(workbook, formats, _("都度承認"), approval_headings, approvals, title=title)
    reviews = [[row[key] for key, _label in ACCESS_REVIEW_COLUMNS] for row in report.access_reviews]
    review_headings = [str(label) for _key, label in ACCESS_REVIEW_COLUMNS]
    _table(workbook, formats, _("アカウント棚卸し"), review_headings, reviews, title=title)

    exports = [[row["organisation"], row["account"], row["exports"], row["rows"]] for row in report.exports]
    _table(workbook, formats, _("出力"), [_("組織"), _("アカウント"), _("出力回数"), _("行数")], exports, title=title)
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
    from psycopg import sql

    columns = [
        sql.SQL(neutralise_sql(f'"{name}"')) if name in CLIENT_TEXT_COLUMNS else sql.Identifier(name)
        for name in CSV_COLUMNS
    ]
    columns[1] = sql.SQL("to_char(at AT TIME ZONE 'Asia/Tokyo', 'YYYY-MM-DD HH24:MI:SS.US') AS at")
    statement = sql.SQL(
        "COPY (SELECT {} FROM audit_accessrecord WHERE at >= {} AND at < {}) TO STDOUT WITH (FORMAT csv, HEADER true)"
    ).format(sql.SQL(", ").join(columns), sql.Literal(start), sql.Literal(end))
    db = read_connection()
    db.ensure_connection()
    lift_statement_limit_until_closed(db.alias)  # a year's COPY outlasts a request's limit
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

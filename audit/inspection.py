"""Self-inspection (自己点検): findings per account for a period, computed in SQL over the access records.

Each check is one INSERT … SELECT into audit_finding: the database aggregates the period (BRIN on time,
(user, time) index) and no Python loop walks events. Periods are JST; the fiscal year runs 1 April to
31 March. Thresholds are settings (AUDIT_INSPECTION) so the agency can tune them without code.
"""

from __future__ import annotations

import logging
from datetime import date, datetime, time, timedelta
from typing import Any

import jpholiday
from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import DEFAULT_DB_ALIAS, connection, connections, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts.models import AccountStatus, Organisation, User
from accounts.permissions import use_exempt_routes
from audit.events import record_event
from audit.models import Finding, FindingReview, InspectionRun, InspectionRunStatus, ReviewState
from renergy.databases import LOCK_INSPECTION_RUN, job_lock, job_running, long_statements
from renergy.geography import JST
from renergy.replica import read_alias

logger = logging.getLogger("audit")


DEFAULTS: dict[str, Any] = {
    # JST: requests before work_hour_start, from work_hour_end on, at weekends or on holidays are off-hours
    "work_hour_start": 7,
    "work_hour_end": 21,
    # … flagged when at least this many, and at least this share of the account's requests
    "off_hours_min": 10,
    "off_hours_share": 0.2,
    "baseline_days": 90,  # the account's own history before the period
    "frequency_ratio": 3.0,  # requests per day against the baseline's
    "frequency_min": 100,
    "concurrent_minutes": 10,  # two IPs for one account within this many minutes
    "concurrent_min_switches": 2,
    "bulk_facilities": 500,  # distinct facilities disclosed to one account in the period
    "bulk_export_rows": 10000,
    "never_used_days": 30,  # issued this long before the period's end and never used
}


def _setting(name: str) -> Any:
    return getattr(settings, "AUDIT_INSPECTION", {}).get(name, DEFAULTS[name])


def jst_midnight(day: date) -> datetime:
    return datetime.combine(day, time(), JST)


def month_bounds(year: int, month: int) -> tuple[datetime, datetime]:
    following = date(year + (month == 12), month % 12 + 1, 1)
    return jst_midnight(date(year, month, 1)), jst_midnight(following)


def fiscal_year_bounds(fiscal_year: int) -> tuple[datetime, datetime]:
    """Fiscal year N (令和/西暦 N年度) runs 1 April N to 31 March N+1, JST."""
    return jst_midnight(date(fiscal_year, 4, 1)), jst_midnight(date(fiscal_year + 1, 4, 1))


def fiscal_year_of(moment: datetime) -> int:
    local = moment.astimezone(JST)
    return local.year if local.month >= 4 else local.year - 1


def holidays_between(start: datetime, end: datetime) -> list[date]:
    """Japanese public holidays in [start, end) (JST days), materialised for the SQL as a date array."""
    last = (end.astimezone(JST) - timedelta(microseconds=1)).date()
    return [day for day, _name in jpholiday.between(start.astimezone(JST).date(), last)]


_INSERT = """
INSERT INTO audit_finding (run_id, user_id, organisation_id, kind, severity, period_start, period_end, numbers,
                           review_state)
"""
# A re-run of a period meets the findings of the earlier run: they move to this run with today's numbers and
# keep their answers, reviews and review state (one finding per account or organisation, kind and period).
_UPSERT = """
ON CONFLICT ON CONSTRAINT audit_finding_one_per_subject_kind_period
DO UPDATE SET run_id = EXCLUDED.run_id, severity = EXCLUDED.severity, numbers = EXCLUDED.numbers
"""

# Requests of signed-in people in the period (the request's own record: part 0).
_PERIOD = """
SELECT user_id, organisation_id, at, ip, disclosure_kind, facility_ids, row_count
FROM audit_accessrecord
WHERE at >= %(start)s AND at < %(end)s AND part = 0 AND user_id IS NOT NULL
"""
_BASELINE = """
SELECT user_id, ip FROM audit_accessrecord
WHERE at >= %(baseline_start)s AND at < %(start)s AND part = 0 AND user_id IS NOT NULL
"""

_CHECK_TEMPLATES: dict[str, str] = {
    "frequency": """
WITH cur AS (SELECT user_id, max(organisation_id) AS org, count(*) AS n FROM (__PERIOD__) p GROUP BY user_id),
base AS (SELECT user_id, count(*) AS n FROM (__BASELINE__) b GROUP BY user_id),
rates AS (
    SELECT cur.user_id, cur.org, cur.n, cur.n / %(period_days)s::numeric AS per_day,
           base.n / %(baseline_days)s::numeric AS base_per_day
    FROM cur JOIN base USING (user_id)
)
__INSERT__
SELECT %(run)s, user_id, org, 'frequency',
       CASE WHEN per_day >= 2 * %(frequency_ratio)s * base_per_day THEN 'high' ELSE 'medium' END,
       %(start)s, %(end)s,
       jsonb_build_object('requests', n, 'per_day', round(per_day, 2), 'baseline_per_day', round(base_per_day, 2),
                          'ratio', round(per_day / base_per_day, 2)),
       'open'
FROM rates WHERE n >= %(frequency_min)s AND per_day >= %(frequency_ratio)s * base_per_day
""",
    "off_hours": """
WITH holidays AS (SELECT unnest(%(holidays)s::date[]) AS day),
local AS (SELECT user_id, organisation_id, at AT TIME ZONE 'Asia/Tokyo' AS t FROM (__PERIOD__) p),
agg AS (
    SELECT user_id, max(organisation_id) AS org, count(*) AS total,
           count(*) FILTER (WHERE extract(hour FROM t) < %(work_hour_start)s
                               OR extract(hour FROM t) >= %(work_hour_end)s
                               OR extract(isodow FROM t) >= 6
                               OR t::date IN (SELECT day FROM holidays)) AS off,
           count(DISTINCT t::date) FILTER (WHERE extract(hour FROM t) < %(work_hour_start)s
                               OR extract(hour FROM t) >= %(work_hour_end)s
                               OR extract(isodow FROM t) >= 6
                               OR t::date IN (SELECT day FROM holidays)) AS off_days
    FROM local GROUP BY user_id
)
__INSERT__
SELECT %(run)s, user_id, org, 'off_hours',
       CASE WHEN off::numeric / total >= 0.5 THEN 'high' ELSE 'medium' END,
       %(start)s, %(end)s,
       jsonb_build_object('off_hours_requests', off, 'requests', total, 'share', round(off::numeric / total, 3),
                          'days', off_days,
                          'work_hours', %(work_hour_start)s || ':00-' || %(work_hour_end)s || ':00 JST'),
       'open'
FROM agg WHERE off >= %(off_hours_min)s AND off::numeric / total >= %(off_hours_share)s
""",
    "new_ip": """
WITH cur AS (SELECT user_id, max(organisation_id) AS org, ip, count(*) AS n FROM (__PERIOD__) p GROUP BY user_id, ip),
seen AS (SELECT DISTINCT user_id, ip FROM (__BASELINE__) b)
__INSERT__
SELECT %(run)s, user_id, max(org), 'new_ip', 'medium', %(start)s, %(end)s,
       jsonb_build_object('new_ips', jsonb_agg(jsonb_build_object('ip', host(ip), 'requests', n) ORDER BY n DESC),
                          'requests_from_new_ips', sum(n)),
       'open'
FROM cur
WHERE user_id IN (SELECT user_id FROM seen)  -- only accounts with a history: a first use is not "new"
  AND NOT EXISTS (SELECT 1 FROM seen s WHERE s.user_id = cur.user_id AND s.ip IS NOT DISTINCT FROM cur.ip)
GROUP BY user_id
""",
    "foreign_ip": r"""
WITH ranges AS (
    SELECT o.id AS org_id, r::cidr AS net
    FROM accounts_organisation o, regexp_split_to_table(btrim(o.ip_ranges), '\s+') AS r
    WHERE btrim(o.ip_ranges) <> ''
),
cur AS (SELECT user_id, max(organisation_id) AS org, ip, count(*) AS n FROM (__PERIOD__) p GROUP BY user_id, ip)
__INSERT__
SELECT %(run)s, user_id, max(org), 'foreign_ip', 'high', %(start)s, %(end)s,
       jsonb_build_object('foreign_ips', jsonb_agg(jsonb_build_object('ip', host(ip), 'requests', n) ORDER BY n DESC),
                          'requests_from_foreign_ips', sum(n)),
       'open'
FROM cur
WHERE org IN (SELECT org_id FROM ranges)
  AND NOT EXISTS (SELECT 1 FROM ranges WHERE ranges.org_id = cur.org AND cur.ip <<= ranges.net)
GROUP BY user_id
""",
    "concurrent_ips": """
WITH seq AS (
    SELECT user_id, organisation_id, at, ip,
           lag(ip) OVER w AS prev_ip, lag(at) OVER w AS prev_at
    FROM (__PERIOD__) p
    WINDOW w AS (PARTITION BY user_id ORDER BY at)
),
switches AS (
    SELECT * FROM seq
    WHERE prev_ip IS NOT NULL AND ip IS DISTINCT FROM prev_ip
      AND at - prev_at <= make_interval(mins => %(concurrent_minutes)s)
)
__INSERT__
SELECT %(run)s, user_id, max(organisation_id), 'concurrent_ips', 'high', %(start)s, %(end)s,
       jsonb_build_object('switches', count(*),
                          'ips', (SELECT jsonb_agg(DISTINCT host(x))
                                  FROM unnest(array_agg(ip) || array_agg(prev_ip)) x),
                          'first_at', min(at), 'within_minutes', %(concurrent_minutes)s),
       'open'
FROM switches GROUP BY user_id HAVING count(*) >= %(concurrent_min_switches)s
""",
    "bulk_view": """
WITH d AS (SELECT * FROM audit_accessrecord
           WHERE at >= %(start)s AND at < %(end)s AND user_id IS NOT NULL AND row_count > 0),
viewed AS (SELECT user_id, count(DISTINCT f) AS facilities FROM d, jsonb_array_elements_text(d.facility_ids) f
           GROUP BY user_id),
exported AS (SELECT user_id, max(organisation_id) AS org,
                    coalesce(sum(row_count) FILTER (WHERE disclosure_kind = 'export'), 0) AS export_rows,
                    count(DISTINCT request_id) FILTER (WHERE disclosure_kind = 'export') AS exports
             FROM d GROUP BY user_id)
__INSERT__
SELECT %(run)s, e.user_id, e.org, 'bulk_view',
       CASE WHEN v.facilities >= 4 * %(bulk_facilities)s OR e.export_rows >= 4 * %(bulk_export_rows)s
            THEN 'high' ELSE 'medium' END,
       %(start)s, %(end)s,
       jsonb_build_object('distinct_facilities', v.facilities, 'export_rows', e.export_rows, 'exports', e.exports),
       'open'
FROM exported e JOIN viewed v USING (user_id)
WHERE v.facilities >= %(bulk_facilities)s OR e.export_rows >= %(bulk_export_rows)s
""",
    "dormant": """
__INSERT__
SELECT %(run)s, u.id, u.organisation_id, 'dormant', 'low', %(start)s, %(end)s,
       jsonb_build_object('last_activity', coalesce(u.last_activity_at, u.activated_at, u.date_joined),
                          'idle_days', extract(day FROM %(end)s - coalesce(u.last_activity_at, u.activated_at,
                                                                            u.date_joined))::int,
                          'suspension_after_days', %(idle_days)s),
       'open'
FROM accounts_user u
WHERE u.status = %(active)s
  AND coalesce(u.last_activity_at, u.activated_at, u.date_joined) < %(end)s - make_interval(days => %(dormant_days)s)
""",
    "never_used": """
__INSERT__
SELECT %(run)s, u.id, u.organisation_id, 'never_used', 'low', %(start)s, %(end)s,
       jsonb_build_object('issued', u.date_joined, 'status', u.status,
                          'days_since_issue', extract(day FROM %(end)s - u.date_joined)::int),
       'open'
FROM accounts_user u
WHERE u.status IN (%(active)s, %(invited)s)
  AND u.date_joined < %(end)s - make_interval(days => %(never_used_days)s)
  AND u.last_activity_at IS NULL
  AND NOT EXISTS (SELECT 1 FROM audit_accessrecord a WHERE a.user_id = u.id)
""",
    # Use by a person of an organisation that requires per-use approval (since it turned it on) at a time no
    # approved window covered: pages answered (not the gate's refusals), asking for approval excepted.
    "unapproved_use": """
WITH orgs AS (SELECT id, use_approval_since FROM accounts_organisation
              WHERE use_approval_required AND use_approval_since IS NOT NULL),
uses AS (
    SELECT a.user_id, a.organisation_id, a.at, a.row_count
    FROM audit_accessrecord a JOIN orgs o ON o.id = a.organisation_id AND a.at >= o.use_approval_since
    WHERE a.at >= %(start)s AND a.at < %(end)s AND a.part = 0 AND a.user_id IS NOT NULL
      AND a.status < 400 AND NOT (a.route = ANY(%(use_exempt_routes)s))
      AND NOT EXISTS (SELECT 1 FROM accounts_userequest w
                      WHERE w.user_id = a.user_id AND w.status = 'approved'
                        AND w.window_start <= a.at AND w.window_end > a.at)
)
__INSERT__
SELECT %(run)s, user_id, max(organisation_id), 'unapproved_use', 'high', %(start)s, %(end)s,
       jsonb_build_object('requests', count(*), 'first_at', min(at), 'last_at', max(at),
                          'disclosed_rows', coalesce(sum(row_count), 0)),
       'open'
FROM uses GROUP BY user_id
""",
    "no_officer": """
__INSERT__
SELECT %(run)s, NULL, o.id, 'no_officer', 'medium', %(start)s, %(end)s,
       jsonb_build_object('active_accounts',
                          (SELECT count(*) FROM accounts_user u
                           WHERE u.organisation_id = o.id AND u.status = %(active)s)),
       'open'
FROM accounts_organisation o
WHERE o.is_active
  -- An organisation nobody can use (no active or invited account: demo and empty ones) has no one to
  -- supervise; flagging each of them buried the organisations whose people work without an officer.
  AND EXISTS (SELECT 1 FROM accounts_user u
              WHERE u.organisation_id = o.id AND u.status IN (%(active)s, %(invited)s))
  AND NOT EXISTS (SELECT 1 FROM accounts_user u
                  WHERE u.organisation_id = o.id AND u.is_officer AND u.status = %(active)s)
""",
}
# Fragments are module constants (no input reaches the text); every value goes as a query parameter.
_CHECKS = {
    name: sql.replace("__PERIOD__", _PERIOD).replace("__BASELINE__", _BASELINE).replace("__INSERT__", _INSERT) + _UPSERT
    for name, sql in _CHECK_TEMPLATES.items()
}
# The same checks as plain SELECTs, for a read replica (it cannot INSERT): the findings are written to the primary.
_SELECTS = {
    name: sql.replace("__PERIOD__", _PERIOD).replace("__BASELINE__", _BASELINE).replace("__INSERT__", "")
    for name, sql in _CHECK_TEMPLATES.items()
}
_INSERT_ROW = _INSERT.strip() + " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)" + _UPSERT


def _params(run: InspectionRun) -> dict[str, Any]:
    start, end = run.period_start, run.period_end
    baseline_days = _setting("baseline_days")
    params = {name: _setting(name) for name in DEFAULTS}
    params.update(
        run=run.pk,
        start=start,
        end=end,
        baseline_start=start - timedelta(days=baseline_days),
        period_days=max((end - start).total_seconds() / 86400, 1),
        holidays=holidays_between(start, end),
        idle_days=settings.ACCOUNT_IDLE_SUSPENSION_DAYS,
        dormant_days=settings.ACCOUNT_IDLE_SUSPENSION_DAYS - settings.ACCOUNT_SUSPENSION_WARNING_DAYS,
        active=AccountStatus.ACTIVE,
        invited=AccountStatus.INVITED,
        use_exempt_routes=use_exempt_routes(),
    )
    return params


def inspection_create(
    *, period_start: datetime, period_end: datetime, label: str, requested_by: User | None = None
) -> InspectionRun:
    """Queue an inspection; the worker runs it after this transaction commits."""
    run = InspectionRun.objects.create(
        period_start=period_start,
        period_end=period_end,
        label=label,
        total_steps=len(_CHECKS),
        requested_by=requested_by,
    )

    transaction.on_commit(lambda: _enqueue(run.pk))
    return run


def _enqueue(run_id: int) -> None:
    from audit.tasks import run_inspection

    try:
        run_inspection.delay(run_id)
    except Exception:
        # The run stays visible as queued on its page and the stranded-work sweep queues it again; the broker
        # outage is in the log, not a 500 for the person.
        logger.exception("audit: could not enqueue inspection run %s", run_id)


def _stranded(run: InspectionRun) -> bool:
    return run.status in (InspectionRunStatus.QUEUED, InspectionRunStatus.RUNNING) and not job_running(
        LOCK_INSPECTION_RUN, run.pk
    )


def inspection_requeue_if_stranded(run: InspectionRun) -> InspectionRun:
    """Scheduling a period again: a run left queued (broker down) or by a dead worker is queued again."""
    if _stranded(run):
        logger.warning("audit: re-queued stranded inspection run %s", run.pk)
        _enqueue(run.pk)
    return run


def inspections_requeue_stranded(*, older_than_seconds: int | None = None) -> list[int]:
    """The beat job: runs queued or running past STRANDED_WORK_AFTER_SECONDS that no worker holds."""
    limit = settings.STRANDED_WORK_AFTER_SECONDS if older_than_seconds is None else older_than_seconds
    cutoff = timezone.now() - timedelta(seconds=limit)
    runs = InspectionRun.objects.filter(
        status__in=[InspectionRunStatus.QUEUED, InspectionRunStatus.RUNNING], created_at__lt=cutoff
    )
    stranded = [run.pk for run in runs if _stranded(run)]
    for pk in stranded:
        _enqueue(pk)
    if stranded:
        logger.warning("audit: re-queued stranded inspection runs %s", stranded)
    return stranded


def inspection_execute(*, run_id: int) -> InspectionRun:
    """Run every check of a queued run. Each check's findings commit together with the progress, so the
    browser sees it and an interrupted attempt resumes after the last finished check (findings are never
    deleted: the runtime role may not).

    One worker at a time (an advisory lock that dies with its connection): a redelivered or re-queued task
    finds the run done and does nothing, or finds it left half-way by a dead worker and resumes it."""
    with job_lock(LOCK_INSPECTION_RUN, run_id) as mine:
        run = InspectionRun.objects.get(pk=run_id)
        if not mine or run.status in (InspectionRunStatus.DONE, InspectionRunStatus.FAILED):
            return run
        return _inspection_run(run)


def _inspection_run(run: InspectionRun) -> InspectionRun:
    done = run.progress
    InspectionRun.objects.filter(pk=run.pk).update(status=InspectionRunStatus.RUNNING, error="")
    try:
        params = _params(run)
        alias = read_alias(purpose="self_inspection")
        # A fiscal year's checks outlast a request's limit; the replica's connections have none (settings).
        with long_statements():
            for step, (name, sql) in enumerate(_CHECKS.items(), start=1):
                if step <= done:
                    continue
                with transaction.atomic():
                    if alias == DEFAULT_DB_ALIAS:
                        with connection.cursor() as cursor:
                            cursor.execute(sql, params)
                    else:
                        _check_on_replica(alias, name, params)
                    InspectionRun.objects.filter(pk=run.pk).update(progress=step)
    except Exception as error:
        InspectionRun.objects.filter(pk=run.pk).update(status=InspectionRunStatus.FAILED, error=str(error)[:500])
        raise
    InspectionRun.objects.filter(pk=run.pk).update(
        status=InspectionRunStatus.DONE, progress=len(_CHECKS), finished_at=timezone.now()
    )
    run.refresh_from_db()
    record_event(action="inspection.completed", data={"run": run.pk, "findings": run.findings.count()})
    return run


def _check_on_replica(alias: str, name: str, params: dict[str, Any]) -> None:
    from psycopg.types.json import Jsonb

    with connections[alias].cursor() as cursor:
        cursor.execute(_SELECTS[name], params)
        rows = cursor.fetchall()
    if rows:
        with connection.cursor() as cursor:
            cursor.executemany(_INSERT_ROW, [(*row[:7], Jsonb(row[7]), row[8]) for row in rows])  # type: ignore[arg-type]


def _previous_month(now: datetime) -> tuple[int, int]:
    local = now.astimezone(JST)
    return (local.year, local.month - 1) if local.month > 1 else (local.year - 1, 12)


def inspection_schedule_previous_month(*, now: datetime | None = None) -> InspectionRun:
    year, month = _previous_month(now or timezone.now())
    start, end = month_bounds(year, month)
    existing = InspectionRun.objects.filter(period_start=start, period_end=end).first()
    if existing is not None:
        return inspection_requeue_if_stranded(existing)
    return inspection_create(period_start=start, period_end=end, label=f"{year}年{month}月 月次点検")


def inspection_schedule_previous_fiscal_year(*, now: datetime | None = None) -> InspectionRun:
    fiscal_year = fiscal_year_of(now or timezone.now()) - 1
    start, end = fiscal_year_bounds(fiscal_year)
    existing = InspectionRun.objects.filter(period_start=start, period_end=end).first()
    if existing is not None:
        return inspection_requeue_if_stranded(existing)
    return inspection_create(period_start=start, period_end=end, label=f"{fiscal_year}年度 年度末点検")


def finding_review(*, finding: Finding, state: str, note: str, actor: User, request: Any = None) -> FindingReview:
    """The contractor marks a finding (explained, escalated to the agency) with a note; recorded as an event."""
    if state not in (ReviewState.EXPLAINED, ReviewState.ESCALATED):
        raise ValueError(f"not a review state: {state}")
    with transaction.atomic():
        review = FindingReview.objects.create(finding=finding, state=state, note=note, reviewed_by=actor)
        Finding.objects.filter(pk=finding.pk).update(review_state=state)
        record_event(
            action=f"inspection.finding_{state}",
            request=request,
            actor=actor,
            target_user=finding.user_id,
            organisation=finding.organisation_id,
            data={"finding": finding.pk, "kind": finding.kind},
        )
    return review


def finding_answer(*, finding: Finding, note: str, actor: User, request: Any = None) -> FindingReview:
    """An officer answers a finding about their own organisation (or one of its people): a new append-only
    review row in state `answered`, shown to the administrator. An open finding becomes answered; one the
    administrator has already marked keeps that mark (the answer is still added to its history)."""
    note = (note or "").strip()
    if not note:
        raise ValidationError(_("回答を入力してください。"), code="note_required")
    if not (
        actor.status == AccountStatus.ACTIVE
        and actor.is_officer
        and finding.organisation_id is not None
        and actor.organisation_id == finding.organisation_id
    ):
        raise PermissionDenied(_("自組織の利用責任者のみが回答できます。"))
    with transaction.atomic():
        review = FindingReview.objects.create(finding=finding, state=ReviewState.ANSWERED, note=note, reviewed_by=actor)
        Finding.objects.filter(pk=finding.pk, review_state=ReviewState.OPEN).update(review_state=ReviewState.ANSWERED)
        record_event(
            action="inspection.finding_answered",
            request=request,
            actor=actor,
            target_user=finding.user_id,
            organisation=finding.organisation_id,
            data={"finding": finding.pk, "kind": finding.kind},
        )
    return review


def findings_for_organisation(organisation: Organisation) -> Any:
    """What an officer may see: their own organisation's findings only."""
    return Finding.objects.filter(organisation=organisation).select_related("run").order_by("-run__created_at")

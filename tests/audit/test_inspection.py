"""The 2023 pattern is flagged; ordinary use raises nothing."""

from __future__ import annotations

from datetime import date, datetime, timedelta

import pytest
from django.utils import timezone

from audit.inspection import (
    finding_review,
    fiscal_year_bounds,
    holidays_between,
    inspection_create,
    inspection_execute,
    month_bounds,
)
from audit.models import Finding, FindingKind, InspectionRunStatus, SecurityEvent
from renergy.geography import JST
from tests.audit.planting import plant, plant_all

pytestmark = [pytest.mark.django_db]

OFFICE = "198.51.100.10"
RETAIL = "203.0.113.45"  # the group's retail company, outside the grid operator's registered range


def _weekdays(start: date, end: date):
    day = start
    while day < end:
        if day.weekday() < 5 and day not in holidays_between(
            datetime.combine(day, datetime.min.time(), JST),
            datetime.combine(day + timedelta(days=1), datetime.min.time(), JST),
        ):
            yield day
        day += timedelta(days=1)


def _at(day: date, hour: int, minute: int = 0) -> datetime:
    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=JST)


def _ordinary_use(user, start: date, end: date, per_day: int = 4) -> list:
    """Working hours, from the office, a handful of list pages a day."""
    return [
        plant(user, _at(day, 10 + n, 5 * n), ip=OFFICE, facility_ids=[f"F{day.toordinal()}{n:02d}"])
        for day in _weekdays(start, end)
        for n in range(per_day)
    ]


@pytest.fixture
def july_2023(orgs, make_user):
    orgs.grid_tokyo.ip_ranges = "198.51.100.0/24"
    orgs.grid_tokyo.save()
    orgs.agency.ip_ranges = "198.51.100.0/24"
    orgs.agency.save()
    # Each organisation involved has an active officer, so only the accounts' use is in question.
    make_user(orgs.grid_tokyo, officer=True, last_activity_at=timezone.now())
    make_user(orgs.agency, officer=True, last_activity_at=timezone.now())
    shared = make_user(orgs.grid_tokyo, last_activity_at=datetime(2023, 7, 31, tzinfo=JST))
    ordinary = make_user(orgs.agency, last_activity_at=datetime(2023, 7, 31, tzinfo=JST))
    records = []
    for person in (shared, ordinary):
        records += _ordinary_use(person, date(2023, 4, 1), date(2023, 8, 1))  # baseline and the month itself
    # July 2023: the grid account is handed to retail staff, who browse at night and at weekends from their
    # own network, many facilities per page, while the account holder keeps working from the office.
    for n, day in enumerate(d for d in (date(2023, 7, 1) + timedelta(days=i) for i in range(31))):
        for k in range(12):
            hour = (22 + k // 4) % 24
            moment = _at(day, hour, 10 * (k % 4)) + (timedelta(days=1) if hour < 22 else timedelta())
            if moment >= datetime(2023, 8, 1, tzinfo=JST):
                continue
            records.append(
                plant(shared, moment, ip=RETAIL, facility_ids=[f"G{n:02d}{k:02d}{i:02d}" for i in range(50)])
            )
        # The same minutes as the holder's office work: one account, two places.
        if day.weekday() < 5:
            records.append(plant(shared, _at(day, 10, 2), ip=RETAIL, facility_ids=["X1"]))
    plant_all(records)
    start, end = month_bounds(2023, 7)
    run = inspection_create(period_start=start, period_end=end, label="2023年7月 点検（試験）")
    inspection_execute(run_id=run.pk)
    return run, shared, ordinary


def test_the_shared_grid_account_is_flagged(july_2023) -> None:
    run, shared, _ordinary = july_2023
    kinds = set(Finding.objects.filter(run=run, user_id=shared.pk).values_list("kind", flat=True))
    assert {
        FindingKind.OFF_HOURS,
        FindingKind.NEW_IP,
        FindingKind.FOREIGN_IP,
        FindingKind.CONCURRENT_IPS,
        FindingKind.BULK_VIEW,
        FindingKind.FREQUENCY,
    } <= kinds
    foreign = Finding.objects.get(run=run, user_id=shared.pk, kind=FindingKind.FOREIGN_IP)
    assert foreign.severity == "high"
    assert foreign.numbers["foreign_ips"][0]["ip"] == RETAIL
    assert foreign.organisation_id == shared.organisation_id


def test_ordinary_use_raises_nothing(july_2023) -> None:
    run, _shared, ordinary = july_2023
    assert list(Finding.objects.filter(run=run, user_id=ordinary.pk).values_list("kind", "numbers")) == []


def test_the_run_reports_progress_and_completes(july_2023) -> None:
    run, *_ = july_2023
    run.refresh_from_db()
    assert run.status == InspectionRunStatus.DONE
    assert run.progress == run.total_steps == 10
    assert run.percent == 100


def test_never_used_dormant_and_officerless_accounts_are_found_and_busy_ones_are_not(orgs, make_user) -> None:
    now = timezone.now()
    never = make_user(orgs.operator_a, date_joined=now - timedelta(days=60))
    dormant = make_user(orgs.operator_b, last_activity_at=now - timedelta(days=170))
    busy = make_user(orgs.operator_b, last_activity_at=now - timedelta(days=1))
    start, end = now - timedelta(days=30), now
    run = inspection_create(period_start=start, period_end=end, label="test")
    inspection_execute(run_id=run.pk)
    found = set(Finding.objects.filter(run=run).values_list("kind", "user_id", "organisation_id"))
    assert (FindingKind.NEVER_USED, never.pk, orgs.operator_a.pk) in found
    assert (FindingKind.DORMANT, dormant.pk, orgs.operator_b.pk) in found
    assert not any(user_id == busy.pk for _k, user_id, _o in found)
    assert (FindingKind.NO_OFFICER, None, orgs.operator_a.pk) in found


def test_a_review_is_recorded(july_2023, orgs, make_user) -> None:
    run, shared, _ = july_2023
    admin = make_user(orgs.contractor)
    finding = Finding.objects.filter(run=run, user_id=shared.pk).first()
    assert finding is not None
    finding_review(finding=finding, state="escalated", note="資源エネルギー庁へ報告", actor=admin)
    finding.refresh_from_db()
    assert finding.review_state == "escalated"
    event = SecurityEvent.objects.get(action="inspection.finding_escalated")
    assert (event.actor_id, event.target_user_id) == (admin.pk, shared.pk)


def test_fiscal_year_runs_april_to_march_jst() -> None:
    start, end = fiscal_year_bounds(2025)
    assert start == datetime(2025, 4, 1, tzinfo=JST)
    assert end == datetime(2026, 4, 1, tzinfo=JST)
    assert date(2025, 5, 5) in holidays_between(start, end)

"""The periodic access review (アカウント棚卸し): rounds open on schedule, officers confirm person by person,
the unconfirmed are suspended after the deadline, officers are reminded, the administrator sees completion."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.core import mail
from django.core.exceptions import PermissionDenied
from django.urls import reverse
from django.utils import timezone, translation

from accounts.access_review import (
    access_review_confirm,
    access_review_sweep,
    access_reviews_close,
    access_reviews_open,
    access_reviews_remind,
    round_start_of,
)
from accounts.models import AccessReview, AccessReviewDecision, AccessReviewItem, AccountStatus, User
from audit.models import SecurityEvent

pytestmark = pytest.mark.django_db

JST = ZoneInfo("Asia/Tokyo")


@pytest.fixture
def grid(orgs, make_user):
    last_use = timezone.now() - timedelta(days=3)
    return {
        "officer": make_user(orgs.grid_tokyo, officer=True, last_activity_at=last_use),
        "keeps": make_user(orgs.grid_tokyo, name="継続 太郎", last_activity_at=last_use),
        "leaves": make_user(orgs.grid_tokyo, name="異動 花子", last_activity_at=last_use - timedelta(days=40)),
    }


def _review(organisation) -> AccessReview:
    return AccessReview.objects.get(organisation=organisation)


def _item(organisation, user: User) -> AccessReviewItem:
    return AccessReviewItem.objects.get(review__organisation=organisation, user=user)


def _past_deadline(review: AccessReview) -> datetime:
    return review.deadline + timedelta(minutes=1)


def _status(user: User) -> str:
    return User.objects.get(pk=user.pk).status


def test_rounds_start_on_fiscal_quarters_by_default() -> None:
    assert round_start_of(datetime(2026, 4, 1, 0, 30, tzinfo=JST)).isoformat() == "2026-04-01"
    assert round_start_of(datetime(2026, 6, 30, 23, 0, tzinfo=JST)).isoformat() == "2026-04-01"
    assert round_start_of(datetime(2026, 12, 2, tzinfo=JST)).isoformat() == "2026-10-01"
    assert round_start_of(datetime(2027, 2, 10, tzinfo=JST)).isoformat() == "2027-01-01"
    # 31 March 16:00 UTC is already 1 April in Japan.
    assert round_start_of(datetime(2027, 3, 31, 16, 0, tzinfo=ZoneInfo("UTC"))).isoformat() == "2027-04-01"


def test_the_interval_is_a_setting(settings) -> None:
    settings.ACCESS_REVIEW_INTERVAL_MONTHS = 6
    assert round_start_of(datetime(2027, 2, 10, tzinfo=JST)).isoformat() == "2026-10-01"
    settings.ACCESS_REVIEW_INTERVAL_MONTHS = 12
    assert round_start_of(datetime(2027, 2, 10, tzinfo=JST)).isoformat() == "2026-04-01"


def test_a_round_opens_once_per_organisation_and_lists_everyone_who_can_sign_in(
    grid, orgs, make_user, django_capture_on_commit_callbacks
) -> None:
    retired = make_user(orgs.grid_tokyo, status=AccountStatus.RETIRED)
    with django_capture_on_commit_callbacks(execute=True):
        opened = access_reviews_open()
    assert [r.organisation_id for r in opened] == [orgs.grid_tokyo.pk]  # the cast's other organisations are empty
    review = _review(orgs.grid_tokyo)
    listed = set(review.items.values_list("user_id", flat=True))
    assert listed == {grid["officer"].pk, grid["keeps"].pk, grid["leaves"].pk}
    assert retired.pk not in listed
    assert [m.to for m in mail.outbox] == [[grid["officer"].email]]
    assert "棚卸し" in mail.outbox[0].subject
    assert SecurityEvent.objects.filter(action="access_review.opened", organisation_id=orgs.grid_tokyo.pk).count() == 1

    assert access_reviews_open() == []  # a second sweep (or a second beat) adds nothing
    assert AccessReview.objects.count() == 1


def test_an_officer_sees_each_persons_last_use_and_confirms_one(grid, orgs, signed_in_client) -> None:
    access_reviews_open()
    client = signed_in_client(grid["officer"])
    page = client.get(reverse("accounts:officer_access_review")).content.decode()
    assert grid["keeps"].email in page and grid["leaves"].email in page
    assert timezone.localtime(grid["leaves"].last_activity_at).strftime("%Y-%m-%d %H:%M") in page

    item = _item(orgs.grid_tokyo, grid["keeps"])
    response = client.post(reverse("accounts:officer_access_review_action", args=[item.pk, "confirm"]))
    assert response.status_code == 302
    item.refresh_from_db()
    assert (item.decision, item.decided_by_id) == (AccessReviewDecision.CONFIRMED, grid["officer"].pk)
    event = SecurityEvent.objects.get(action="access_review.confirmed")
    assert (event.actor_id, event.target_user_id) == (grid["officer"].pk, grid["keeps"].pk)


def test_after_the_deadline_the_unconfirmed_person_is_suspended_and_the_confirmed_one_is_not(
    grid, orgs, django_capture_on_commit_callbacks
) -> None:
    access_reviews_open()
    access_review_confirm(item=_item(orgs.grid_tokyo, grid["keeps"]), actor=grid["officer"])
    review = _review(orgs.grid_tokyo)

    assert access_reviews_close(now=review.deadline - timedelta(minutes=1)) == []  # not before the deadline
    assert _status(grid["leaves"]) == AccountStatus.ACTIVE

    mail.outbox.clear()
    with django_capture_on_commit_callbacks(execute=True):
        assert access_reviews_close(now=_past_deadline(review)) == [review.pk]
    assert _status(grid["leaves"]) == AccountStatus.SUSPENDED
    assert _status(grid["keeps"]) == AccountStatus.ACTIVE
    # The officer's own line was decided by nobody: officers are confirmed by another officer or the administrator.
    assert _status(grid["officer"]) == AccountStatus.SUSPENDED
    suspended = SecurityEvent.objects.filter(action="account.suspended", data__cause="access_review")
    assert {e.target_user_id for e in suspended} == {grid["leaves"].pk, grid["officer"].pk}
    assert User.objects.get(pk=grid["leaves"].pk).status_reason.startswith("アカウント棚卸し")
    assert grid["leaves"].email in {m.to[0] for m in mail.outbox}
    assert _item(orgs.grid_tokyo, grid["leaves"]).decision == AccessReviewDecision.SUSPENDED
    review.refresh_from_db()
    assert review.closed_at is not None
    closed = SecurityEvent.objects.get(action="access_review.closed")
    assert (closed.data["suspended"], closed.data["confirmed"]) == (2, 1)

    assert access_reviews_close(now=_past_deadline(review) + timedelta(days=1)) == []  # closed once


def test_a_person_suspended_before_the_deadline_is_marked_gone_not_suspended_twice(grid, orgs) -> None:
    from accounts.lifecycle import account_suspend

    access_reviews_open()
    account_suspend(user=grid["leaves"], reason="異動", actor=grid["officer"])
    review = _review(orgs.grid_tokyo)
    access_reviews_close(now=_past_deadline(review))
    assert _item(orgs.grid_tokyo, grid["leaves"]).decision == AccessReviewDecision.GONE
    assert SecurityEvent.objects.filter(action="account.suspended", target_user_id=grid["leaves"].pk).count() == 1


def test_no_decision_is_taken_after_the_deadline(grid, orgs) -> None:
    access_reviews_open()
    review = _review(orgs.grid_tokyo)
    AccessReview.objects.filter(pk=review.pk).update(deadline=timezone.now() - timedelta(minutes=1))
    with pytest.raises(Exception, match="締め切られています"):
        access_review_confirm(item=_item(orgs.grid_tokyo, grid["leaves"]), actor=grid["officer"])


def test_an_officer_cannot_confirm_themself(grid, orgs, signed_in_client) -> None:
    access_reviews_open()
    own = _item(orgs.grid_tokyo, grid["officer"])
    with pytest.raises(PermissionDenied):
        access_review_confirm(item=own, actor=grid["officer"])
    signed_in_client(grid["officer"]).post(reverse("accounts:officer_access_review_action", args=[own.pk, "confirm"]))
    own.refresh_from_db()
    assert own.decision == AccessReviewDecision.PENDING


def test_the_administrator_confirms_an_officer(grid, orgs, make_user, signed_in_client) -> None:
    admin = make_user(orgs.contractor)
    access_reviews_open()
    own = _item(orgs.grid_tokyo, grid["officer"])
    signed_in_client(admin).post(reverse("accounts:admin_access_review_action", args=[own.pk, "confirm"]))
    own.refresh_from_db()
    assert (own.decision, own.decided_by_id) == (AccessReviewDecision.CONFIRMED, admin.pk)


def test_an_officer_cannot_decide_for_another_organisations_people(grid, orgs, make_user, signed_in_client) -> None:
    other_officer = make_user(orgs.grid_kansai, officer=True)
    access_reviews_open()
    item = _item(orgs.grid_tokyo, grid["leaves"])
    client = signed_in_client(other_officer)
    for action in ("confirm", "revoke"):
        response = client.post(
            reverse("accounts:officer_access_review_action", args=[item.pk, action]), {"reason": "x"}
        )
        assert response.status_code == 404
    item.refresh_from_db()
    assert item.decision == AccessReviewDecision.PENDING
    assert _status(grid["leaves"]) == AccountStatus.ACTIVE
    with pytest.raises(PermissionDenied):
        access_review_confirm(item=item, actor=other_officer)
    page = client.get(reverse("accounts:officer_access_review")).content.decode()
    assert grid["leaves"].email not in page


def test_a_person_who_is_not_an_officer_cannot_use_the_review(grid, orgs, signed_in_client) -> None:
    access_reviews_open()
    client = signed_in_client(grid["keeps"])
    assert client.get(reverse("accounts:officer_access_review")).status_code == 403
    item = _item(orgs.grid_tokyo, grid["leaves"])
    assert client.post(reverse("accounts:officer_access_review_action", args=[item.pk, "confirm"])).status_code == 403
    with pytest.raises(PermissionDenied):
        access_review_confirm(item=item, actor=grid["keeps"])


def test_revoking_suspends_at_once_through_the_lifecycle(grid, orgs, signed_in_client) -> None:
    access_reviews_open()
    item = _item(orgs.grid_tokyo, grid["leaves"])
    client = signed_in_client(grid["officer"])
    url = reverse("accounts:officer_access_review_action", args=[item.pk, "revoke"])
    client.post(url, {"reason": ""})
    assert _status(grid["leaves"]) == AccountStatus.ACTIVE  # a reason is required
    client.post(url, {"reason": "4月1日付で異動"})
    assert _status(grid["leaves"]) == AccountStatus.SUSPENDED
    event = SecurityEvent.objects.get(action="account.suspended", target_user_id=grid["leaves"].pk)
    assert (event.actor_id, event.data["cause"], event.data["reason"]) == (
        grid["officer"].pk,
        "access_review",
        "4月1日付で異動",
    )


def test_officers_are_reminded_once_before_the_deadline_while_someone_is_unconfirmed(
    grid, orgs, settings, django_capture_on_commit_callbacks
) -> None:
    with django_capture_on_commit_callbacks(execute=True):
        access_reviews_open()  # the opening e-mail goes out now
    review = _review(orgs.grid_tokyo)
    early = review.deadline - timedelta(days=settings.ACCESS_REVIEW_REMINDER_DAYS + 1)
    assert access_reviews_remind(now=early) == []
    mail.outbox.clear()
    due = review.deadline - timedelta(days=settings.ACCESS_REVIEW_REMINDER_DAYS - 1)
    with django_capture_on_commit_callbacks(execute=True):
        assert access_reviews_remind(now=due) == [review.pk]
    assert [m.to for m in mail.outbox] == [[grid["officer"].email]]
    assert "未確認の利用者: 3 名" in mail.outbox[0].body
    assert access_reviews_remind(now=due + timedelta(hours=1)) == []
    assert SecurityEvent.objects.filter(action="access_review.reminded").count() == 1


def test_no_reminder_when_everyone_is_decided(grid, orgs, make_user, settings) -> None:
    admin = make_user(orgs.contractor)
    access_reviews_open()
    review = _review(orgs.grid_tokyo)
    for item in review.items.all():
        access_review_confirm(item=item, actor=admin)
    due = review.deadline - timedelta(days=1)
    assert review.pk not in access_reviews_remind(now=due)


def test_the_administrator_sees_completion_per_organisation(grid, orgs, make_user, signed_in_client) -> None:
    admin = make_user(orgs.contractor)
    access_review_sweep()
    access_review_confirm(item=_item(orgs.grid_tokyo, grid["keeps"]), actor=grid["officer"])
    client = signed_in_client(admin)
    page = client.get(reverse("accounts:admin_access_reviews")).content.decode()
    assert orgs.grid_tokyo.name in page
    assert orgs.contractor.name in page  # the contractor's own people are reviewed too
    row = page.split(orgs.grid_tokyo.name, 1)[1].split("</tr>", 1)[0]
    # people, confirmed, revoked, unconfirmed, suspended after the deadline
    assert [cell.split("<")[0] for cell in row.split("<td>")[3:8]] == ["3", "1", "0", "2", "0"]
    detail = client.get(reverse("accounts:admin_access_review", args=[_review(orgs.grid_tokyo).pk])).content.decode()
    assert grid["leaves"].email in detail


def test_an_officer_cannot_open_the_administrators_completion_page(grid, signed_in_client) -> None:
    access_reviews_open()
    assert signed_in_client(grid["officer"]).get(reverse("accounts:admin_access_reviews")).status_code == 403


def test_the_fiscal_year_report_includes_each_round_per_organisation(grid, orgs, make_user) -> None:
    import io

    import openpyxl

    from audit.inspection import fiscal_year_of
    from audit.report import fiscal_year_report, xlsx_stream

    access_reviews_open()
    access_review_confirm(item=_item(orgs.grid_tokyo, grid["keeps"]), actor=grid["officer"])
    review = _review(orgs.grid_tokyo)
    access_reviews_close(now=_past_deadline(review))

    with translation.override("ja"):
        report = fiscal_year_report(fiscal_year_of(review.opened_at))
        workbook = openpyxl.load_workbook(io.BytesIO(b"".join(xlsx_stream(report))), read_only=True)
    (row,) = [r for r in report.access_reviews if r["organisation"] == orgs.grid_tokyo.name]
    assert (row["people"], row["confirmed"], row["suspended"], row["pending"], row["complete"]) == (3, 1, 2, 0, False)
    sheet = list(workbook["アカウント棚卸し"].iter_rows(values_only=True))
    assert sheet[0][:5] == ("対象期", "組織", "種別", "確認期限", "対象者")
    assert any(line[1] == orgs.grid_tokyo.name and line[4] == 3 and line[7] == 2 for line in sheet[1:])


def test_the_system_administrators_are_recorded_as_lapsed_not_suspended(orgs, make_user) -> None:
    # Suspending the last administrators would leave nobody to approve any reactivation.
    admin = make_user(orgs.contractor, officer=True)
    access_reviews_open()
    review = _review(orgs.contractor)
    access_reviews_close(now=_past_deadline(review))
    assert _status(admin) == AccountStatus.ACTIVE
    assert _item(orgs.contractor, admin).decision == AccessReviewDecision.LAPSED
    assert SecurityEvent.objects.get(action="access_review.closed").data["lapsed"] == 1


def test_the_daily_beat_job_runs_the_sweep(grid, orgs, settings) -> None:
    from accounts.tasks import access_review_sweep as task

    entry = settings.CELERY_BEAT_SCHEDULE["accounts-access-review"]
    assert entry["task"] == task.name == "accounts.tasks.access_review_sweep"
    assert task.apply().get() == {"closed": 0, "opened": 1, "reminded": 0}
    assert task.apply().get() == {"closed": 0, "opened": 0, "reminded": 0}  # idempotent

"""Findings people can work with: one per account, kind and period; answered by the organisation's officer;
evidence shown as labelled values."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.db import DatabaseError, connection, transaction
from django.urls import reverse
from django.utils import timezone, translation

from accounts.models import AccountStatus, Organisation, OrganisationKind
from audit.inspection import finding_answer, finding_review, inspection_create, inspection_execute
from audit.models import Finding, FindingKind, FindingReview, ReviewState, SecurityEvent

pytestmark = [pytest.mark.django_db]


def _inspect(start, end, label="test"):
    run = inspection_create(period_start=start, period_end=end, label=label)
    return inspection_execute(run_id=run.pk)


@pytest.fixture
def period():
    now = timezone.now()
    return now - timedelta(days=30), now


@pytest.fixture
def never_used(orgs, make_user):
    return make_user(orgs.operator_a, date_joined=timezone.now() - timedelta(days=60))


def test_a_rerun_of_the_same_period_updates_its_findings_and_never_duplicates_them(period, never_used, orgs) -> None:
    first = _inspect(*period)
    found_first = Finding.objects.filter(kind=FindingKind.NEVER_USED, user_id=never_used.pk)
    assert found_first.count() == 1
    finding = found_first.get()
    finding_review(finding=finding, state=ReviewState.EXPLAINED, note="休職中", actor=never_used)

    second = _inspect(*period)

    again = Finding.objects.filter(kind=FindingKind.NEVER_USED, user_id=never_used.pk)
    assert again.count() == 1
    kept = again.get()
    assert kept.pk == finding.pk
    assert kept.run_id == second.pk != first.pk
    assert kept.review_state == ReviewState.EXPLAINED  # the answer survives the re-run
    assert Finding.objects.filter(kind=FindingKind.NO_OFFICER, organisation=orgs.operator_a).count() == 1


def test_the_database_refuses_a_second_finding_for_the_same_account_kind_and_period(period, never_used) -> None:
    run = _inspect(*period)
    existing = Finding.objects.get(kind=FindingKind.NEVER_USED, user_id=never_used.pk)
    with pytest.raises(DatabaseError), transaction.atomic():
        Finding.objects.create(
            run=run,
            user_id=existing.user_id,
            organisation_id=existing.organisation_id,
            kind=existing.kind,
            severity=existing.severity,
            period_start=existing.period_start,
            period_end=existing.period_end,
        )


def test_a_different_period_is_a_different_finding(period, never_used) -> None:
    start, end = period
    _inspect(start, end)
    _inspect(start - timedelta(days=1), end)
    assert Finding.objects.filter(kind=FindingKind.NEVER_USED, user_id=never_used.pk).count() == 2


def test_organisations_nobody_can_use_raise_no_finding_about_their_officer(period, orgs, make_user) -> None:
    demo = [Organisation.objects.create(name=f"デモ組織{n}", kind=OrganisationKind.OPERATOR) for n in range(5)]
    gone = Organisation.objects.create(name="退職者のみの組織", kind=OrganisationKind.OPERATOR)
    make_user(gone, status=AccountStatus.RETIRED)
    staffed = make_user(orgs.grid_tokyo)
    _inspect(*period)
    flagged = set(Finding.objects.filter(kind=FindingKind.NO_OFFICER).values_list("organisation_id", flat=True))
    assert staffed.organisation_id in flagged
    assert flagged.isdisjoint({o.pk for o in demo} | {gone.pk})


def test_an_officer_answers_a_finding_of_their_organisation_as_a_new_review_row(
    period, never_used, orgs, make_user, signed_in_client
) -> None:
    officer = make_user(orgs.operator_a, officer=True, last_activity_at=timezone.now())
    _inspect(*period)
    finding = Finding.objects.get(kind=FindingKind.NEVER_USED, user_id=never_used.pk)
    client = signed_in_client(officer)
    url = reverse("audit:organisation_finding", args=[finding.pk])

    assert client.get(url).status_code == 200
    response = client.post(url, {"note": "育児休業中のため未利用。復帰後に利用予定。"})
    assert response.status_code == 302
    client.post(url, {"note": "復帰日は4月1日です。"})

    answers = FindingReview.objects.filter(finding=finding).order_by("reviewed_at", "pk")
    assert [(a.state, a.reviewed_by_id) for a in answers] == [(ReviewState.ANSWERED, officer.pk)] * 2
    assert answers[0].note == "育児休業中のため未利用。復帰後に利用予定。"  # the first answer is untouched
    finding.refresh_from_db()
    assert finding.review_state == ReviewState.ANSWERED
    assert SecurityEvent.objects.filter(action="inspection.finding_answered", actor_id=officer.pk).count() == 2


def test_the_administrator_sees_the_officers_answer(period, never_used, orgs, make_user, signed_in_client) -> None:
    officer = make_user(orgs.operator_a, officer=True, last_activity_at=timezone.now())
    admin = make_user(orgs.contractor)
    _inspect(*period)
    finding = Finding.objects.get(kind=FindingKind.NEVER_USED, user_id=never_used.pk)
    finding_answer(finding=finding, note="異動予定のため停止します", actor=officer)
    page = signed_in_client(admin).get(reverse("audit:finding", args=[finding.pk])).content.decode()
    assert "異動予定のため停止します" in page
    assert officer.name in page
    assert "組織が回答済み" in page


def test_an_officer_cannot_read_or_answer_another_organisations_finding(
    period, never_used, orgs, make_user, signed_in_client
) -> None:
    intruder = make_user(orgs.operator_b, officer=True, last_activity_at=timezone.now())
    _inspect(*period)
    finding = Finding.objects.get(kind=FindingKind.NEVER_USED, user_id=never_used.pk)
    client = signed_in_client(intruder)
    url = reverse("audit:organisation_finding", args=[finding.pk])
    assert client.get(url).status_code == 404
    assert client.post(url, {"note": "横から回答"}).status_code == 404
    assert not FindingReview.objects.filter(finding=finding).exists()
    with pytest.raises(PermissionDenied):  # the service refuses too, not only the view
        finding_answer(finding=finding, note="横から回答", actor=intruder)


def test_a_person_who_is_not_an_officer_cannot_answer(period, never_used, orgs, make_user) -> None:
    colleague = make_user(orgs.operator_a)
    _inspect(*period)
    finding = Finding.objects.get(kind=FindingKind.NEVER_USED, user_id=never_used.pk)
    with pytest.raises(PermissionDenied):
        finding_answer(finding=finding, note="回答", actor=colleague)


def test_an_answer_cannot_be_rewritten_in_the_database(period, never_used, orgs, make_user) -> None:
    officer = make_user(orgs.operator_a, officer=True)
    _inspect(*period)
    finding = Finding.objects.get(kind=FindingKind.NEVER_USED, user_id=never_used.pk)
    answer = finding_answer(finding=finding, note="最初の回答", actor=officer)
    with pytest.raises(DatabaseError), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("UPDATE audit_findingreview SET note = '書き換え' WHERE id = %s", [answer.pk])


def test_evidence_is_shown_as_labelled_values_not_raw_keys(
    period, never_used, orgs, make_user, signed_in_client
) -> None:
    officer = make_user(orgs.operator_a, officer=True, last_activity_at=timezone.now())
    _inspect(*period)
    page = signed_in_client(officer).get(reverse("audit:organisation_findings")).content.decode()
    assert "発行後の日数" in page
    assert "days_since_issue" not in page
    assert "招待中" not in page and "有効" in page  # the account status by its label, not "active"
    assert ">active<" not in page


@pytest.fixture
def japanese_afterwards():
    """The test client's English request leaves English active in this thread; later tests read Japanese."""
    yield
    translation.activate(settings.LANGUAGE_CODE)


def test_evidence_labels_are_translated_for_english_readers(
    japanese_afterwards, period, never_used, orgs, make_user, signed_in_client
) -> None:
    officer = make_user(orgs.operator_a, officer=True, last_activity_at=timezone.now())
    _inspect(*period)
    client = signed_in_client(officer)
    client.cookies["django_language"] = "en"
    page = client.get(reverse("audit:organisation_findings")).content.decode()
    assert "Days since issue" in page
    assert "発行後の日数" not in page and "days_since_issue" not in page


def test_the_fiscal_year_report_carries_the_organisations_answer(period, never_used, orgs, make_user) -> None:
    import io

    import openpyxl

    from audit.inspection import fiscal_year_of
    from audit.report import fiscal_year_report, xlsx_stream

    officer = make_user(orgs.operator_a, officer=True)
    _inspect(*period)
    finding = Finding.objects.get(kind=FindingKind.NEVER_USED, user_id=never_used.pk)
    finding_answer(finding=finding, note="最初の回答", actor=officer)
    finding_answer(finding=finding, note="休職中のため未利用", actor=officer)
    with translation.override("ja"):  # an earlier test's English request may have left its language active
        report = fiscal_year_report(fiscal_year_of(period[1]))
        workbook = openpyxl.load_workbook(io.BytesIO(b"".join(xlsx_stream(report))))
    (row,) = [r for r in report.findings if r["account"] == never_used.email]
    assert row["answer"] == "休職中のため未利用"  # the latest answer
    sheet = list(workbook["点検結果"].iter_rows(values_only=True))
    column = sheet[0].index("組織の回答")
    assert any(line[column] == "休職中のため未利用" for line in sheet[1:])

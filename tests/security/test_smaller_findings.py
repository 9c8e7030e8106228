"""The smaller findings: the officer's request form enumerated addresses across organisations; facility pages
and downloads were cacheable; the administrator's unlock left the per-IP lock in place."""

from __future__ import annotations

import pytest
from django.conf import settings
from django.contrib.messages import get_messages
from django.test import Client
from django.urls import reverse

from accounts.models import AccountRequest, AccountRequestStatus
from audit.models import SecurityEvent
from tests.accounts.conftest import login_steps, ready
from tests.certifications.conftest import facility_create

pytestmark = [pytest.mark.django_db]

LIMIT = settings.AXES_FAILURE_LIMIT


def _request(client: Client, email: str):
    return client.post(
        reverse("accounts:officer_request"), {"email": email, "name": "新しい 利用者", "reason": "業務のため"}
    )


def test_the_request_form_answers_alike_for_an_address_held_in_another_organisation(
    orgs, make_user, officer_a, signed_in_client
) -> None:
    elsewhere = make_user(orgs.grid_tokyo)
    officer = signed_in_client(officer_a)
    answers = []
    for email in ("nobody-yet@example.jp", elsewhere.email):
        response = _request(officer, email)
        answers.append(
            (response.status_code, response["Location"], [str(m) for m in get_messages(response.wsgi_request)])
        )
        officer.get(response["Location"])  # the message is shown (and consumed) as the officer would see it
    assert answers[0] == answers[1]
    assert answers[0][0] == 302
    # A pending request for the same address in another organisation is not revealed either.
    other_officer = signed_in_client(ready(make_user(orgs.operator_b, officer=True)))
    assert _request(other_officer, "nobody-yet@example.jp").status_code == 302
    # The officer's own organisation is answered plainly.
    colleague = make_user(orgs.operator_a)
    own = _request(officer, colleague.email)
    assert own.status_code == 200 and "既に登録されています" in own.content.decode()


def test_the_administrator_sees_the_conflict_at_review_and_cannot_approve_it(
    orgs, make_user, officer_a, administrator, signed_in_client
) -> None:
    elsewhere = make_user(orgs.grid_tokyo)
    _request(signed_in_client(officer_a), elsewhere.email)
    admin = signed_in_client(administrator)
    page = admin.get(reverse("accounts:admin_requests")).content.decode()
    assert "このメールアドレスは既に登録されています（承認できません）。" in page
    pending = AccountRequest.objects.get(email=elsewhere.email)
    admin.post(reverse("accounts:admin_request_decide", args=[pending.pk, "approve"]))
    pending.refresh_from_db()
    assert pending.status == AccountRequestStatus.PENDING


def test_data_pages_and_downloads_are_not_stored_by_any_cache(
    orgs, make_user, administrator, officer_a, signed_in_client
) -> None:
    facility_create("F000000001", "東京都新宿区西新宿2-8-1")
    agency = signed_in_client(make_user(orgs.agency))
    admin = signed_in_client(administrator)
    officer = signed_in_client(officer_a)
    pages = [
        (agency, "/facilities/"),
        (agency, "/facilities/F000000001/"),
        (agency, "/facilities/export.csv"),
        (agency, "/facilities/export.xlsx"),
        (agency, "/"),
        (admin, "/audit/log/"),
        (admin, "/audit/reports/"),
        (admin, "/audit/reports/2026/records.csv"),
        (admin, "/manage/accounts/"),
        (admin, "/admin/accounts/user/"),
        (officer, "/officer/"),
        (officer, "/audit/organisation/log/"),
        (Client(), "/login/"),
    ]
    for client, url in pages:
        response = client.get(url)
        assert response.status_code == 200, url
        if response.streaming:
            b"".join(response.streaming_content)
        assert "no-store" in response["Cache-Control"], url


def test_the_unlock_clears_the_lock_on_the_address_the_person_came_from(
    orgs, make_user, person, administrator, signed_in_client
) -> None:
    office = "192.0.2.40"
    # The person mistyped their own address many times from the office, then their password once: the office's
    # address is locked, whichever account tries from it.
    for n in range(settings.AXES_IP_FAILURE_LIMIT):
        Client().post(
            reverse("accounts:login"), {"username": f"typo{n}-{person.email}", "password": "x"}, REMOTE_ADDR=office
        )
    Client().post(reverse("accounts:login"), {"username": person.email, "password": "wrong"}, REMOTE_ADDR=office)
    colleague = ready(make_user(orgs.operator_a))
    assert login_steps(Client(), person, REMOTE_ADDR=office).status_code == 429
    assert login_steps(Client(), colleague, REMOTE_ADDR=office).status_code == 429
    admin = signed_in_client(administrator)
    assert admin.post(reverse("accounts:admin_account_action", args=[person.pk, "unlock"])).status_code == 302
    assert login_steps(Client(), person, REMOTE_ADDR=office).status_code == 302
    assert login_steps(Client(), colleague, REMOTE_ADDR=office).status_code == 302
    event = SecurityEvent.objects.get(action="auth.unlocked", target_user_id=person.pk)
    assert event.data["addresses"] == [office] and event.actor_id == administrator.pk

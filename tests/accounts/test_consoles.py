"""Officer and administrator consoles: an officer manages only their own organisation."""

from __future__ import annotations

import pytest
from django.urls import reverse

from accounts.lifecycle import account_request_create, account_suspend
from accounts.models import AccountRequest, AccountStatus, User

pytestmark = pytest.mark.django_db


def test_an_officer_sees_only_their_own_organisation(officer_a, person, orgs, make_user, signed_in_client) -> None:
    outsider = make_user(orgs.operator_b)
    page = signed_in_client(officer_a).get(reverse("accounts:officer_console")).content.decode()
    assert person.email in page
    assert outsider.email not in page


@pytest.mark.parametrize("action", ["suspend", "retire", "reactivate", "resend"])
def test_an_officer_cannot_act_on_a_person_of_another_organisation(officer_b, person, signed_in_client, action) -> None:
    client = signed_in_client(officer_b)
    response = client.post(reverse("accounts:officer_person_action", args=[person.pk, action]), {"reason": "x"})
    assert response.status_code == 404
    person.refresh_from_db()
    assert person.status == AccountStatus.ACTIVE


def test_an_officer_suspends_on_transfer_in_one_action(officer_a, person, signed_in_client) -> None:
    client = signed_in_client(officer_a)
    assert client.post(reverse("accounts:officer_person_action", args=[person.pk, "suspend"]), {}).status_code == 302
    person.refresh_from_db()
    assert person.status == AccountStatus.ACTIVE  # a reason is required
    client.post(reverse("accounts:officer_person_action", args=[person.pk, "suspend"]), {"reason": "人事異動"})
    person.refresh_from_db()
    assert person.status == AccountStatus.SUSPENDED


def test_an_officer_requests_reactivation_and_retires(officer_a, person, signed_in_client) -> None:
    client = signed_in_client(officer_a)
    account_suspend(user=person, reason="異動", actor=officer_a)
    client.post(reverse("accounts:officer_person_action", args=[person.pk, "reactivate"]), {"reason": "復帰"})
    assert AccountRequest.objects.filter(target_user=person, kind="reactivation", status="pending").exists()
    client.post(reverse("accounts:officer_person_action", args=[person.pk, "retire"]), {"reason": "退職"})
    person.refresh_from_db()
    assert person.status == AccountStatus.RETIRED


def test_an_officer_request_is_for_the_officers_own_organisation(officer_a, signed_in_client) -> None:
    client = signed_in_client(officer_a)
    client.post(
        reverse("accounts:officer_request"),
        {"email": "x@example.jp", "name": "X", "reason": "業務", "organisation": "999"},
    )
    assert AccountRequest.objects.get(email="x@example.jp").organisation == officer_a.organisation


def test_a_person_who_is_not_an_officer_cannot_use_the_console(person, signed_in_client) -> None:
    client = signed_in_client(person)
    assert client.get(reverse("accounts:officer_console")).status_code == 403
    assert client.post(reverse("accounts:officer_request"), {"email": "y@example.jp"}).status_code == 403


def test_the_administrator_rejects_with_a_reason_in_the_console(officer_a, administrator, signed_in_client) -> None:
    account_request = account_request_create(officer=officer_a, email="z@example.jp", name="Z")
    client = signed_in_client(administrator)
    url = reverse("accounts:admin_request_decide", args=[account_request.pk, "reject"])
    client.post(url, {"reason": ""})
    account_request.refresh_from_db()
    assert account_request.status == "pending"
    client.post(url, {"reason": "所属確認できず"})
    account_request.refresh_from_db()
    assert account_request.status == "rejected" and account_request.decision_reason == "所属確認できず"
    assert not User.objects.filter(email="z@example.jp").exists()


def test_an_officer_cannot_approve_their_own_request(officer_a, signed_in_client) -> None:
    account_request = account_request_create(officer=officer_a, email="w@example.jp", name="W")
    client = signed_in_client(officer_a)
    url = reverse("accounts:admin_request_decide", args=[account_request.pk, "approve"])
    assert client.post(url).status_code == 403
    assert not User.objects.filter(email="w@example.jp").exists()


def test_the_administrator_suspends_for_an_anomaly(administrator, person, signed_in_client) -> None:
    client = signed_in_client(administrator)
    client.post(
        reverse("accounts:admin_account_action", args=[person.pk, "suspend"]),
        {"reason": "深夜の大量閲覧", "anomaly": "1"},
    )
    person.refresh_from_db()
    assert person.status == AccountStatus.SUSPENDED


def test_home_tells_the_administrator_about_pending_requests(officer_a, administrator, signed_in_client) -> None:
    account_request_create(officer=officer_a, email="p1@example.jp", name="P1")
    page = signed_in_client(administrator).get(reverse("accounts:home")).content.decode()
    assert "1件待ち" in page
    assert reverse("accounts:admin_requests") in page


def test_home_tells_an_officer_about_the_console(officer_a, signed_in_client) -> None:
    page = signed_in_client(officer_a).get(reverse("accounts:home")).content.decode()
    assert reverse("accounts:officer_console") in page


def test_a_reason_longer_than_the_form_allows_is_refused_by_the_form_not_the_database(
    officer_a, administrator, person, signed_in_client
) -> None:
    client = signed_in_client(administrator)
    too_long = "理" * 501
    response = client.post(
        reverse("accounts:admin_account_action", args=[person.pk, "suspend"]), {"reason": too_long}, follow=True
    )
    assert response.status_code == 200
    assert "500" in response.content.decode()  # the form's own message names the limit
    person.refresh_from_db()
    assert person.status == AccountStatus.ACTIVE
    account_request = account_request_create(officer=officer_a, email="long@example.jp", name="L")
    url = reverse("accounts:admin_request_decide", args=[account_request.pk, "reject"])
    assert client.post(url, {"reason": too_long}, follow=True).status_code == 200
    account_request.refresh_from_db()
    assert account_request.status == "pending"


def test_the_administrator_cannot_suspend_or_retire_without_a_reason(administrator, person, signed_in_client) -> None:
    client = signed_in_client(administrator)
    for action in ("suspend", "retire", "grant-officer"):
        client.post(reverse("accounts:admin_account_action", args=[person.pk, action]), {"reason": "  "})
    person.refresh_from_db()
    assert person.status == AccountStatus.ACTIVE and not person.is_officer


def test_each_console_offers_the_lifecycle_actions_of_the_persons_status_only(
    officer_a, administrator, person, signed_in_client
) -> None:
    account_suspend(user=person, reason="異動", actor=officer_a)
    officer_page = signed_in_client(officer_a).get(reverse("accounts:officer_console")).content.decode()
    admin_page = signed_in_client(administrator).get(reverse("accounts:admin_account", args=[person.pk])).content
    offered = {
        "officer": {a for a in ("suspend", "reactivate", "retire", "resend") if f"/{person.pk}/{a}/" in officer_page},
        "administrator": {
            a for a in ("suspend", "retire", "resend", "unlock") if f"/{person.pk}/{a}/" in admin_page.decode()
        },
    }
    assert offered == {"officer": {"reactivate", "retire"}, "administrator": {"retire", "unlock"}}

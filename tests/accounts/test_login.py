"""Sign-in through the real views: password + TOTP for every role, the admin site included."""

from __future__ import annotations

import time
from types import SimpleNamespace

import pytest
from django.conf import settings
from django.contrib.auth.hashers import identify_hasher
from django.db import connection
from django.test import Client
from django.urls import reverse
from django_otp.plugins.otp_static.models import StaticDevice, StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice

from accounts.lifecycle import account_retire, account_suspend
from accounts.mfa import recovery_codes_regenerate
from accounts.models import AccountStatus, OrganisationKind, RecoveryCode, UserSession
from audit.models import SecurityEvent
from tests.accounts.conftest import PASSWORD, enrol, login_steps, ready, signed_in_via_views, totp_code

pytestmark = pytest.mark.django_db


def test_it_signs_in_with_password_and_totp_and_lands_on_home(client: Client, person) -> None:
    device = TOTPDevice.objects.get(user=person)
    response = login_steps(client, person, code=totp_code(device))
    assert response.status_code == 302
    assert response["Location"] == reverse("accounts:home")
    home = client.get(reverse("accounts:home"))
    assert home.status_code == 200
    assert person.name in home.content.decode()
    assert SecurityEvent.objects.filter(action="auth.login", target_user=person).exists()
    assert UserSession.objects.filter(user=person, ended_at__isnull=True).count() == 1


@pytest.mark.parametrize("kind", [k for k, _label in OrganisationKind.choices])
def test_it_requires_the_second_factor_for_every_role(client: Client, orgs, make_user, kind: str) -> None:
    organisation = next(o for o in vars(orgs).values() if o.kind == kind)
    user = ready(make_user(organisation))
    response = login_steps(client, user)  # password only
    assert response.status_code == 302 and response["Location"] == reverse("accounts:login_code")
    home = client.get(reverse("accounts:home"))
    assert home.status_code == 302
    assert home["Location"].startswith(reverse("accounts:login"))
    assert "_auth_user_id" not in client.session  # a password alone never authenticates the session


def test_it_refuses_a_wrong_password_without_saying_which_part_was_wrong(client: Client, person) -> None:
    response = login_steps(client, person, password="not the password at all")
    assert response.status_code == 400
    assert "メールアドレスまたはパスワードが正しくありません" in response.content.decode()
    unknown = client.post(reverse("accounts:login"), {"username": "nobody@example.jp", "password": "x" * 12})
    assert unknown.status_code == 400


def test_it_refuses_the_code_step_without_the_password_step(client: Client, person) -> None:
    device = TOTPDevice.objects.get(user=person)
    response = client.post(reverse("accounts:login_code"), {"code": totp_code(device)})
    assert response.status_code == 302 and response["Location"] == reverse("accounts:login")
    assert client.get(reverse("accounts:home")).status_code == 302


def test_a_totp_code_works_only_once(person) -> None:
    device = TOTPDevice.objects.get(user=person)
    code = totp_code(device)
    first = Client()
    assert login_steps(first, person, code=code).status_code == 302
    second = Client()
    response = login_steps(second, person, code=code)
    assert response.status_code == 400
    assert second.get(reverse("accounts:home")).status_code == 302
    assert SecurityEvent.objects.filter(action="auth.mfa_failed", target_user=person).exists()


def test_a_recovery_code_works_once_in_place_of_the_totp_code(person) -> None:
    codes = recovery_codes_regenerate(user=person)
    assert login_steps(Client(), person, code=codes[3]).status_code == 302
    assert login_steps(Client(), person, code=codes[3]).status_code == 400
    # Typed without hyphens and in capitals, another code still works (after django-otp's 1 s throttle).
    time.sleep(1.1)
    assert login_steps(Client(), person, code=codes[4].replace("-", "").upper()).status_code == 302


def test_recovery_codes_are_stored_only_as_password_hashes(person) -> None:
    codes = recovery_codes_regenerate(user=person)
    stored = list(RecoveryCode.objects.filter(device__user=person).values_list("code_hash", flat=True))
    assert len(stored) == 10 and not StaticToken.objects.filter(device__user=person).exists()
    plain = [code.replace("-", "") for code in codes]
    assert all(identify_hasher(h) for h in stored)
    assert not any(p in h or p[4:] in h for p in plain for h in stored)
    with connection.cursor() as cursor:
        cursor.execute("SELECT code_hash FROM accounts_recoverycode")
        dumped = " ".join(row[0] for row in cursor.fetchall())
    assert not any(p[4:] in dumped for p in plain)


def test_plain_codes_issued_before_hashing_are_migrated_and_keep_working(person) -> None:
    from importlib import import_module

    from django.apps import apps

    recovery = StaticDevice.objects.create(user=person, name="recovery", confirmed=True)
    StaticToken.objects.create(device=recovery, token="abcd2345")
    import_module("accounts.migrations.0004_recovery_codes_hashed").hash_plain_codes(
        apps, SimpleNamespace(connection=connection)
    )
    assert not StaticToken.objects.exists()
    assert RecoveryCode.objects.get(device=recovery).code_hash != "abcd2345"
    assert login_steps(Client(), person, code="abcd2345").status_code == 302
    assert login_steps(Client(), person, code="abcd2345").status_code == 400


def test_a_code_of_another_persons_device_does_not_work(person, orgs, make_user) -> None:
    other = make_user(orgs.operator_a)
    other_device = enrol(other)
    assert login_steps(Client(), person, code=totp_code(other_device)).status_code == 400


@pytest.mark.parametrize("transition", ["suspend", "retire"])
def test_a_suspended_or_retired_account_cannot_sign_in(client: Client, person, officer_a, transition: str) -> None:
    if transition == "suspend":
        account_suspend(user=person, reason="異動", actor=officer_a)
    else:
        account_retire(user=person, reason="退職", actor=officer_a)
    response = login_steps(client, person)
    assert response.status_code == 400
    assert client.get(reverse("accounts:home")).status_code == 302


def test_a_suspension_between_the_two_steps_stops_the_second(client: Client, person, officer_a) -> None:
    device = TOTPDevice.objects.get(user=person)
    assert login_steps(client, person).status_code == 302
    account_suspend(user=person, reason="異動", actor=officer_a)
    response = client.post(reverse("accounts:login_code"), {"code": totp_code(device)})
    assert response.status_code == 302 and response["Location"] == reverse("accounts:login")
    assert client.get(reverse("accounts:home")).status_code == 302


def test_the_session_key_changes_at_sign_in(client: Client, person) -> None:
    client.get(reverse("accounts:login"))
    client.session.save()
    before = client.session.session_key
    device = TOTPDevice.objects.get(user=person)
    login_steps(client, person, code=totp_code(device))
    assert client.session.session_key != before


def test_it_refuses_sign_in_from_outside_the_organisations_ip_ranges(client: Client, person) -> None:
    person.organisation.ip_ranges = "192.0.2.0/24\n2001:db8::/32"
    person.organisation.save()
    device = TOTPDevice.objects.get(user=person)
    outside = login_steps(client, person, REMOTE_ADDR="198.51.100.7")
    assert outside.status_code == 400
    assert "メールアドレスまたはパスワードが正しくありません" in outside.content.decode()
    assert SecurityEvent.objects.filter(action="auth.ip_refused", target_user=person).exists()
    inside = login_steps(Client(), person, code=totp_code(device), REMOTE_ADDR="192.0.2.10")
    assert inside.status_code == 302 and inside["Location"] == reverse("accounts:home")


def test_a_signed_in_session_moving_outside_the_ip_ranges_is_ended(client: Client, person) -> None:
    person.organisation.ip_ranges = "192.0.2.0/24"
    person.organisation.save()
    device = TOTPDevice.objects.get(user=person)
    login_steps(client, person, code=totp_code(device), REMOTE_ADDR="192.0.2.10")
    assert client.get(reverse("accounts:home"), REMOTE_ADDR="192.0.2.10").status_code == 200
    assert client.get(reverse("accounts:home"), REMOTE_ADDR="203.0.113.5").status_code == 302
    assert client.get(reverse("accounts:home"), REMOTE_ADDR="192.0.2.10").status_code == 302


def test_next_is_followed_only_to_a_local_path(client: Client, person) -> None:
    device = TOTPDevice.objects.get(user=person)
    client.post(reverse("accounts:login"), {"username": person.email, "password": PASSWORD, "next": "//evil.example"})
    response = client.post(reverse("accounts:login_code"), {"code": totp_code(device)})
    assert response["Location"] == reverse("accounts:home")
    other = Client()
    other.post(reverse("accounts:login"), {"username": person.email, "password": PASSWORD, "next": "/account/"})
    response = other.post(reverse("accounts:login_code"), {"code": totp_code(device, offset=1)})
    assert response["Location"] == "/account/"


def test_an_anonymous_request_is_sent_to_login_with_next(client: Client) -> None:
    response = client.get("/account/?tab=sessions")
    assert response.status_code == 302
    assert response["Location"] == "/login/?next=%2Faccount%2F%3Ftab%3Dsessions"


def test_logout_is_post_only_and_ends_the_session(client: Client, person) -> None:
    signed_in_via_views(client, person)
    assert client.get(reverse("accounts:logout")).status_code == 405
    assert client.post(reverse("accounts:logout")).status_code == 302
    assert client.get(reverse("accounts:home")).status_code == 302
    assert UserSession.objects.get(user=person).end_reason == "signed_out"


# --- the Django admin site ---------------------------------------------------------------------------------------


def test_admin_requires_password_and_totp_for_staff(client: Client, administrator) -> None:
    assert client.get("/admin/").status_code == 302
    login_steps(client, administrator)  # password only
    response = client.get("/admin/")
    assert response.status_code == 302 and response["Location"].startswith(reverse("accounts:login"))
    assert client.get("/admin/accounts/user/").status_code == 302
    signed_in_via_views(Client(), administrator)
    full = Client()
    device = TOTPDevice.objects.get(user=administrator)
    login_steps(full, administrator, code=totp_code(device, offset=1))
    assert full.get("/admin/").status_code == 200
    assert full.get("/admin/accounts/user/").status_code == 200


def test_admin_is_refused_to_a_fully_signed_in_non_staff_person(client: Client, person) -> None:
    signed_in_via_views(client, person)
    assert client.get("/admin/").status_code == 403
    assert client.get("/admin/accounts/user/").status_code == 403


def test_admin_login_page_is_not_a_password_only_way_in(client: Client, administrator) -> None:
    response = client.post("/admin/login/", {"username": administrator.email, "password": PASSWORD})
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("accounts:login"))
    assert client.get("/admin/").status_code == 302


def test_admin_force_login_without_device_is_refused(client: Client, administrator) -> None:
    # A session authenticated without a verified device (the hole OTPAdminSite alone would leave at the gate).
    client.force_login(administrator, backend="django.contrib.auth.backends.ModelBackend")
    response = client.get("/admin/")
    assert response.status_code == 302
    assert client.get("/admin/").status_code == 302


def test_admin_cannot_delete_people(client: Client, administrator, person) -> None:
    signed_in_via_views(client, administrator)
    response = client.post(f"/admin/accounts/user/{person.pk}/delete/", {"post": "yes"})
    assert response.status_code == 403
    assert type(person).objects.filter(pk=person.pk).exists()


def test_settings_make_the_lockout_per_account_and_per_ip() -> None:
    assert settings.AXES_LOCKOUT_PARAMETERS == ["username", "ip_address"]
    assert AccountStatus.ACTIVE == "active"


def test_people_of_a_deactivated_organisation_cannot_sign_in_or_stay(person) -> None:
    client = signed_in_via_views(Client(), person)
    person.organisation.is_active = False
    person.organisation.save()
    assert client.get(reverse("accounts:home")).status_code == 302
    device = TOTPDevice.objects.get(user=person)
    assert login_steps(Client(), person, code=totp_code(device, offset=1)).status_code == 400

"""Server-side session limits, ending sessions on suspension / password / device change, the session list."""

from __future__ import annotations

from datetime import timedelta

import pytest
import time_machine
from django.conf import settings
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from django_otp.oath import TOTP
from django_otp.plugins.otp_totp.models import TOTPDevice

from accounts.lifecycle import account_suspend
from accounts.models import User, UserSession
from audit.models import SecurityEvent
from tests.accounts.conftest import PASSWORD, signed_in_via_views

pytestmark = pytest.mark.django_db


def test_a_session_ends_after_30_minutes_idle(client: Client, person) -> None:
    signed_in_via_views(client, person)
    start = timezone.now()
    with time_machine.travel(start + timedelta(seconds=settings.SESSION_IDLE_TIMEOUT_SECONDS - 60)):
        assert client.get(reverse("accounts:home")).status_code == 200
    with time_machine.travel(start + timedelta(seconds=2 * settings.SESSION_IDLE_TIMEOUT_SECONDS - 90)):
        assert client.get(reverse("accounts:home")).status_code == 200  # activity moved the idle clock
    with time_machine.travel(start + timedelta(seconds=3 * settings.SESSION_IDLE_TIMEOUT_SECONDS)):
        response = client.get(reverse("accounts:home"))
        assert response.status_code == 302
        login_page = client.get(response["Location"])
    assert "30分間操作がなかった" in login_page.content.decode()
    assert UserSession.objects.get(user=person).end_reason == "idle_timeout"


def test_a_session_ends_after_12_hours_however_active(client: Client, person) -> None:
    signed_in_via_views(client, person)
    start = timezone.now()
    step = timedelta(seconds=settings.SESSION_IDLE_TIMEOUT_SECONDS - 120)
    moment = start
    while moment + step < start + timedelta(seconds=settings.SESSION_ABSOLUTE_TIMEOUT_SECONDS - 60):
        moment += step
        with time_machine.travel(moment):
            assert client.get(reverse("accounts:home")).status_code == 200
    with time_machine.travel(start + timedelta(seconds=settings.SESSION_ABSOLUTE_TIMEOUT_SECONDS + 1)):
        assert client.get(reverse("accounts:home")).status_code == 302
    assert UserSession.objects.get(user=person).end_reason == "absolute_timeout"


def test_the_session_is_written_at_most_once_a_minute(client: Client, person) -> None:
    signed_in_via_views(client, person)
    client.get(reverse("accounts:home"))
    seen = client.session["seen_at"]
    client.get(reverse("accounts:home"))
    assert client.session["seen_at"] == seen
    with time_machine.travel(timezone.now() + timedelta(seconds=61)):
        client.get(reverse("accounts:home"))
        assert client.session["seen_at"] > seen


def test_suspension_ends_every_session_at_once(person, officer_a) -> None:
    first, second = Client(), Client()
    signed_in_via_views(first, person)
    device = TOTPDevice.objects.get(user=person)
    totp = TOTP(device.bin_key, device.step, device.t0, device.digits, device.drift)
    totp.time += device.step
    second.post(reverse("accounts:login"), {"username": person.email, "password": PASSWORD})
    second.post(reverse("accounts:login_code"), {"code": f"{totp.token():06d}"})
    assert first.get(reverse("accounts:home")).status_code == 200
    assert second.get(reverse("accounts:home")).status_code == 200
    account_suspend(user=person, reason="異動", actor=officer_a)
    assert first.get(reverse("accounts:home")).status_code == 302
    assert second.get(reverse("accounts:home")).status_code == 302
    assert not UserSession.objects.filter(user=person, ended_at__isnull=True).exists()


def test_the_idle_status_change_alone_ends_sessions(person) -> None:
    # The idle job suspends with a bulk UPDATE of the status only; the status is in the session auth hash.
    client = signed_in_via_views(Client(), person)
    User.objects.filter(pk=person.pk).update(status="suspended")
    assert client.get(reverse("accounts:home")).status_code == 302


def test_signing_out_the_other_sessions_keeps_this_one(person, signed_in_client) -> None:
    this, other = signed_in_client(person), signed_in_client(person)
    response = this.post(reverse("accounts:sessions_end_others"))
    assert response.status_code == 302
    assert this.get(reverse("accounts:account")).status_code == 200
    assert other.get(reverse("accounts:account")).status_code == 302


def test_a_password_change_ends_the_other_sessions(person, signed_in_client) -> None:
    this, other = signed_in_client(person), signed_in_client(person)
    new = "another long passphrase for here"
    response = this.post(
        reverse("accounts:password_change"),
        {"old_password": PASSWORD, "new_password1": new, "new_password2": new},
    )
    assert response.status_code == 302
    assert this.get(reverse("accounts:account")).status_code == 200
    assert other.get(reverse("accounts:account")).status_code == 302
    person.refresh_from_db()
    assert person.check_password(new)
    event = SecurityEvent.objects.get(action="account.password_changed")
    assert event.actor_id == person.pk and event.target_user_id == person.pk


def test_a_password_change_applies_the_validators(person, signed_in_client) -> None:
    this = signed_in_client(person)
    for weak in ("short", "password1234", "x" * 257):
        response = this.post(
            reverse("accounts:password_change"),
            {"old_password": PASSWORD, "new_password1": weak, "new_password2": weak},
        )
        assert response.status_code == 200, weak
    person.refresh_from_db()
    assert person.check_password(PASSWORD)


def test_reenrolling_the_authenticator_needs_the_password_and_ends_other_sessions(person, signed_in_client) -> None:
    this, other = signed_in_client(person), signed_in_client(person)
    page = this.get(reverse("accounts:authenticator_reenrol"))
    assert "現在のパスワード" in page.content.decode()
    assert this.post(reverse("accounts:authenticator_reenrol"), {"password": "wrong wrong wrong"}).status_code == 200
    assert this.post(reverse("accounts:authenticator_reenrol"), {"password": PASSWORD}).status_code == 302
    qr = this.get(reverse("accounts:authenticator_reenrol"))
    assert "<svg" in qr.content.decode()
    pending = TOTPDevice.objects.get(user=person, confirmed=False)
    code = f"{TOTP(pending.bin_key, pending.step, pending.t0, pending.digits, pending.drift).token():06d}"
    assert this.post(reverse("accounts:authenticator_reenrol"), {"code": code}).status_code == 302
    assert TOTPDevice.objects.filter(user=person).count() == 1
    assert TOTPDevice.objects.get(user=person).pk == pending.pk
    assert this.get(reverse("accounts:account")).status_code == 200
    assert other.get(reverse("accounts:account")).status_code == 302


def test_recovery_codes_are_regenerated_after_the_password(person, signed_in_client) -> None:
    this = signed_in_client(person)
    response = this.post(reverse("accounts:recovery_codes"), {"password": PASSWORD})
    assert response.status_code == 200
    assert response.content.decode().count("<code>") == 10


def test_home_shows_the_persons_own_recent_sign_ins(client: Client, person, orgs, make_user) -> None:
    UserSession.objects.create(user=make_user(orgs.operator_b), ip_address="203.0.113.99", user_agent="OtherBrowser")
    signed_in_via_views(client, person)
    page = client.get(reverse("accounts:home"), HTTP_USER_AGENT="TestBrowser/1.0").content.decode()
    assert "127.0.0.1" in page
    assert "203.0.113.99" not in page


def test_last_activity_is_updated_at_most_hourly(client: Client, person) -> None:
    signed_in_via_views(client, person)
    person.refresh_from_db()
    first = person.last_activity_at
    assert first is not None
    with time_machine.travel(timezone.now() + timedelta(minutes=5)):
        client.get(reverse("accounts:home"))
    person.refresh_from_db()
    assert person.last_activity_at == first
    for minutes in (25, 50, 62):
        with time_machine.travel(timezone.now() + timedelta(minutes=minutes)):
            client.get(reverse("accounts:home"))
    person.refresh_from_db()
    assert person.last_activity_at > first


def test_a_session_signed_in_another_way_still_gets_the_absolute_limit(person, signed_in_client) -> None:
    client = signed_in_client(person)
    session = client.session
    del session["auth_at"], session["seen_at"]
    session.save()
    start = timezone.now()
    assert client.get(reverse("accounts:home")).status_code == 200
    moment = start
    while moment < start + timedelta(seconds=settings.SESSION_ABSOLUTE_TIMEOUT_SECONDS + 60):
        moment += timedelta(seconds=settings.SESSION_IDLE_TIMEOUT_SECONDS - 120)
        with time_machine.travel(moment):
            status = client.get(reverse("accounts:home")).status_code
    assert status == 302

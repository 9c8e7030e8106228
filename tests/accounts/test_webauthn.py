"""Security keys and passkeys beside TOTP: enrolment behind the password, sign-in, lockout, policy, the trail."""

from __future__ import annotations

import json
import re
from datetime import date, datetime, timedelta
from typing import Any

import pytest
from axes.models import AccessAttempt
from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from django_otp.plugins.otp_totp.models import TOTPDevice
from django_otp_webauthn.models import WebAuthnCredential

from accounts.lifecycle import account_retire, organisation_second_factor_policy_set
from accounts.mfa import recovery_codes_regenerate
from accounts.models import SecondFactorPolicy, UserSession
from audit.inspection import JST, inspection_create, inspection_execute, month_bounds
from audit.models import AccessRecord, Finding, FindingKind, SecurityEvent
from audit.partitions import ensure_partitions
from tests.accounts.authenticator import SoftKey
from tests.accounts.conftest import PASSWORD, login_steps, totp_code
from tests.audit.planting import plant, plant_all

pytestmark = pytest.mark.django_db

ORIGIN = settings.OTP_WEBAUTHN_ALLOWED_ORIGINS[0]


def _json(client: Client, name: str, body: object = None, **extra: Any):
    payload = json.dumps(body) if body is not None else ""
    return client.post(reverse(name), data=payload, content_type="application/json", **extra)


def enrol_key(client: Client, key: SoftKey, *, password: str = PASSWORD):
    """Re-enter the password on the enrolment page, then register the key through the plugin's JSON steps."""
    client.post(reverse("accounts:webauthn_enrol"), {"password": password})
    options = _json(client, "accounts:webauthn_register_begin")
    if options.status_code != 200:
        return options
    return _json(client, "accounts:webauthn_register_complete", key.register(options.json()))


def key_signin(client: Client, user, key: SoftKey, *, ignore_allow_list: bool = False, **extra: Any):
    response = client.post(reverse("accounts:login"), {"username": user.email, "password": PASSWORD}, **extra)
    assert response.status_code == 302, response.content[:300]
    options = _json(client, "accounts:webauthn_signin_begin", **extra)
    assert options.status_code == 200, options.content
    assertion = key.assert_(options.json(), ignore_allow_list=ignore_allow_list)
    return _json(client, "accounts:webauthn_signin_complete", assertion, **extra)


def with_key(user, signed_in_client, **key_options: Any) -> SoftKey:
    key = SoftKey(origin=ORIGIN, **key_options)
    response = enrol_key(signed_in_client(user), key)
    assert response.status_code == 200, response.content
    return key


def set_policy(organisation, administrator, *, policy: str = SecondFactorPolicy.ANY, device_bound_only: bool = False):
    organisation_second_factor_policy_set(
        organisation=organisation, policy=policy, device_bound_only=device_bound_only, actor=administrator
    )
    organisation.refresh_from_db()


# --- enrolment ----------------------------------------------------------------------------------------------------


def test_enrolment_needs_the_password_re_entered(person, signed_in_client) -> None:
    client = signed_in_client(person)
    page = client.get(reverse("accounts:webauthn_enrol"))
    assert page.status_code == 200 and 'name="password"' in page.content.decode()
    refused = _json(client, "accounts:webauthn_register_begin")
    assert refused.status_code == 403 and refused.json()["code"] == "password_reentry_needed"

    wrong = enrol_key(client, SoftKey(origin=ORIGIN), password="not my password 1")
    assert wrong.status_code == 403
    assert AccessAttempt.objects.get(username=person.email).failures_since_start == 1  # counts toward the lockout
    assert not WebAuthnCredential.objects.filter(user=person).exists()

    assert enrol_key(client, SoftKey(origin=ORIGIN)).status_code == 200
    credential = WebAuthnCredential.objects.get(user=person)
    assert credential.name == "セキュリティキー 1" and not credential.backup_eligible
    event = SecurityEvent.objects.get(action="mfa.webauthn_enrolled", target_user=person)
    assert event.data["credential_id_sha256"] == credential.credential_id_sha256
    assert event.data["backup_eligible"] is False and event.data["attestation"] == "none"
    # Identifiers only: neither the public key nor the raw credential id enters the trail.
    assert credential.public_key.hex() not in json.dumps(event.data)
    assert bytes(credential.credential_id).hex() not in json.dumps(event.data)


def test_a_key_is_named_listed_and_removed_on_the_account_page_after_the_password(person, signed_in_client) -> None:
    client = signed_in_client(person)
    assert enrol_key(client, SoftKey(origin=ORIGIN)).status_code == 200
    credential = WebAuthnCredential.objects.get(user=person)
    client.post(reverse("accounts:webauthn_rename", args=[credential.pk]), {"name": "青いUSBキー"})
    assert "青いUSBキー" in client.get(reverse("accounts:account")).content.decode()

    other = signed_in_client(person, Client())  # a session without the recent password
    page = other.post(reverse("accounts:webauthn_remove", args=[credential.pk]))
    assert 'name="password"' in page.content.decode()
    assert WebAuthnCredential.objects.filter(pk=credential.pk).exists()

    client.post(reverse("accounts:webauthn_remove", args=[credential.pk]))
    assert not WebAuthnCredential.objects.filter(pk=credential.pk).exists()
    removed = SecurityEvent.objects.get(action="mfa.webauthn_removed", target_user=person)
    assert removed.data["name"] == "青いUSBキー"


def test_nobody_renames_or_removes_another_persons_key(person, orgs, make_user, signed_in_client) -> None:
    with_key(person, signed_in_client)
    credential = WebAuthnCredential.objects.get(user=person)
    intruder = signed_in_client(make_user(orgs.operator_a))
    intruder.post(reverse("accounts:webauthn_enrol"), {"password": PASSWORD})  # a fresh password of their own
    assert intruder.post(reverse("accounts:webauthn_remove", args=[credential.pk])).status_code == 404
    assert intruder.post(reverse("accounts:webauthn_rename", args=[credential.pk]), {"name": "x"}).status_code == 404
    assert WebAuthnCredential.objects.filter(pk=credential.pk, name="セキュリティキー 1").exists()


# --- sign-in ------------------------------------------------------------------------------------------------------


def test_a_person_signs_in_with_the_password_and_their_key(person, signed_in_client) -> None:
    key = with_key(person, signed_in_client)
    client = Client()
    response = key_signin(client, person, key)
    assert response.status_code == 200, response.content
    assert response.json()["redirect_url"] == reverse("accounts:home")
    assert client.get(reverse("accounts:account")).status_code == 200
    credential = WebAuthnCredential.objects.get(user=person)
    login = SecurityEvent.objects.filter(action="auth.login", target_user=person).latest("id")
    assert login.data["method"] == "webauthn"
    assert login.data["credential_id_sha256"] == credential.credential_id_sha256
    assert UserSession.objects.filter(user=person, ended_at__isnull=True).exists()
    assert credential.sign_count == 1 and credential.last_used_at is not None


def test_the_key_step_needs_the_password_step_first(person, signed_in_client) -> None:
    with_key(person, signed_in_client)
    refused = _json(Client(), "accounts:webauthn_signin_begin")
    assert refused.status_code == 403 and refused.json()["code"] == "signin_expired"


def test_another_persons_key_is_refused_recorded_and_counted(person, orgs, make_user, signed_in_client) -> None:
    from tests.accounts.conftest import ready

    colleague = ready(make_user(orgs.operator_a))
    colleague_key = with_key(colleague, signed_in_client)
    with_key(person, signed_in_client)
    client = Client()
    # The colleague knows the person's password and tries their own key: a modified client offers it anyway.
    response = key_signin(client, person, colleague_key, ignore_allow_list=True)
    assert response.status_code == 400
    assert response.json()["code"] == "credential_user_mismatch"
    assert "登録されたもの" in response.json()["detail"]
    assert client.get(reverse("accounts:account")).status_code == 302  # not signed in
    failed = SecurityEvent.objects.get(action="auth.mfa_failed", target_user=person)
    assert failed.data["method"] == "webauthn"
    assert failed.data["credential_owner"] == colleague.pk
    assert AccessAttempt.objects.get(username=person.email).failures_since_start == 1


def test_key_failures_lock_the_account_like_wrong_codes(person, signed_in_client) -> None:
    with_key(person, signed_in_client)
    stranger = SoftKey(origin=ORIGIN)
    statuses = [
        key_signin(Client(), person, stranger, ignore_allow_list=True).status_code
        for _ in range(settings.AXES_FAILURE_LIMIT)
    ]
    assert statuses[-1] == 429 and set(statuses[:-1]) == {400}
    device = TOTPDevice.objects.get(user=person)
    assert login_steps(Client(), person, code=totp_code(device)).status_code == 429


def test_an_assertion_for_another_site_is_refused(person, signed_in_client) -> None:
    key = with_key(person, signed_in_client)
    key.origin = "https://renergy-login.example.com"  # a phishing page relaying the sign-in
    response = key_signin(Client(), person, key)
    assert response.status_code == 400
    assert SecurityEvent.objects.get(action="auth.mfa_failed", target_user=person).data["reason"] == (
        "invalid_authentication_response"
    )


def test_totp_and_recovery_codes_keep_working_beside_a_key_by_default(person, signed_in_client) -> None:
    with_key(person, signed_in_client)
    device = TOTPDevice.objects.get(user=person)
    assert login_steps(Client(), person, code=totp_code(device)).status_code == 302


def test_a_key_used_from_a_new_address_is_recorded(person, signed_in_client) -> None:
    key = with_key(person, signed_in_client)  # enrolled from 127.0.0.1
    assert key_signin(Client(), person, key).status_code == 200
    assert not SecurityEvent.objects.filter(action="auth.webauthn_new_ip").exists()
    assert key_signin(Client(), person, key, REMOTE_ADDR="127.0.0.7").status_code == 200
    assert key_signin(Client(), person, key, REMOTE_ADDR="127.0.0.7").status_code == 200
    [event] = SecurityEvent.objects.filter(action="auth.webauthn_new_ip", target_user=person)
    assert event.data["ip"] == "127.0.0.7" and event.ip == "127.0.0.7"
    assert event.data["credential_id_sha256"] == WebAuthnCredential.objects.get(user=person).credential_id_sha256


# --- the organisation's policy ------------------------------------------------------------------------------------


def test_only_the_administrator_sets_the_policy_and_it_is_recorded(orgs, person, administrator, officer_a) -> None:
    with pytest.raises(PermissionDenied):
        set_policy(orgs.operator_a, officer_a, policy=SecondFactorPolicy.WEBAUTHN)
    set_policy(orgs.operator_a, administrator, policy=SecondFactorPolicy.WEBAUTHN, device_bound_only=True)
    event = SecurityEvent.objects.get(action="organisation.second_factor_policy_changed")
    assert event.actor_id == administrator.pk and event.organisation_id == orgs.operator_a.pk
    assert event.data == {
        "before": {"policy": "any", "device_bound_only": False},
        "after": {"policy": "webauthn", "device_bound_only": True},
    }


def test_the_administrator_console_shows_and_sets_the_policy(orgs, administrator, signed_in_client) -> None:
    client = signed_in_client(administrator)
    url = reverse("accounts:admin_organisation_second_factor", args=[orgs.grid_tokyo.pk])
    response = client.post(url, {"policy": "webauthn", "device_bound_only": "on"})
    assert response.status_code == 302
    orgs.grid_tokyo.refresh_from_db()
    assert orgs.grid_tokyo.requires_webauthn and orgs.grid_tokyo.webauthn_device_bound_only
    listing = client.get(reverse("accounts:admin_organisations")).content.decode()
    assert "セキュリティキー必須" in listing
    assert "セキュリティキー必須" in client.get(url).content.decode()  # the change is listed with who made it


def test_where_keys_are_required_people_are_led_to_enrol_one(orgs, person, administrator, signed_in_client) -> None:
    set_policy(orgs.operator_a, administrator, policy=SecondFactorPolicy.WEBAUTHN)
    client = signed_in_client(person)
    response = client.get(reverse("accounts:home"))
    assert response.status_code == 302 and response["Location"] == reverse("accounts:webauthn_enrol")
    assert client.get(reverse("accounts:webauthn_enrol")).status_code == 200
    assert enrol_key(client, SoftKey(origin=ORIGIN)).status_code == 200
    assert client.get(reverse("accounts:home")).status_code == 200


def test_where_keys_are_required_totp_stops_once_a_key_exists_but_recovery_codes_work(
    orgs, person, administrator, signed_in_client
) -> None:
    set_policy(orgs.operator_a, administrator, policy=SecondFactorPolicy.WEBAUTHN)
    device = TOTPDevice.objects.get(user=person)
    assert login_steps(Client(), person, code=totp_code(device)).status_code == 302  # no key yet: TOTP, then enrol

    key = with_key(person, signed_in_client)
    refused = login_steps(Client(), person, code=totp_code(device, offset=1))
    assert refused.status_code == 400
    assert "認証アプリのコードではサインインできません" in refused.content.decode()
    assert SecurityEvent.objects.get(action="auth.mfa_refused_policy", target_user=person).data["method"] == "totp"
    assert AccessAttempt.objects.get(username=person.email).failures_since_start == 1

    [code, *_others] = recovery_codes_regenerate(user=person)
    assert login_steps(Client(), person, code=code).status_code == 302
    assert key_signin(Client(), person, key).status_code == 200


def test_device_bound_only_refuses_a_synced_passkey_at_enrolment(orgs, person, administrator, signed_in_client) -> None:
    set_policy(orgs.operator_a, administrator, device_bound_only=True)
    client = signed_in_client(person)
    refused = enrol_key(client, SoftKey(origin=ORIGIN, backup_eligible=True, backed_up=True))
    assert refused.status_code == 403 and refused.json()["code"] == "synced_passkey_refused"
    assert not WebAuthnCredential.objects.filter(user=person).exists()
    assert SecurityEvent.objects.get(action="mfa.webauthn_enrol_refused", target_user=person).data == {
        "reason": "synced_passkey_refused"
    }
    assert enrol_key(client, SoftKey(origin=ORIGIN)).status_code == 200  # a device-bound key is fine


def test_device_bound_only_refuses_sign_in_with_a_backed_up_key_enrolled_earlier(
    orgs, person, administrator, signed_in_client
) -> None:
    synced = with_key(person, signed_in_client, backup_eligible=True, backed_up=True)
    credential = WebAuthnCredential.objects.get(user=person)
    assert credential.backup_eligible and credential.backup_state  # the flags are recorded
    assert key_signin(Client(), person, synced).status_code == 200

    set_policy(orgs.operator_a, administrator, policy=SecondFactorPolicy.WEBAUTHN, device_bound_only=True)
    refused = key_signin(Client(), person, synced)
    assert refused.status_code == 400 and refused.json()["code"] == "synced_passkey_refused"
    assert SecurityEvent.objects.get(action="auth.mfa_refused_policy", target_user=person).data["method"] == "webauthn"
    # The synced key does not count as enrolled: TOTP still signs in, and leads to enrolling a device-bound key.
    client = Client()
    assert login_steps(client, person, code=totp_code(TOTPDevice.objects.get(user=person))).status_code == 302
    assert client.get(reverse("accounts:home"))["Location"] == reverse("accounts:webauthn_enrol")


def test_a_retired_persons_keys_are_deleted(orgs, person, administrator, signed_in_client) -> None:
    with_key(person, signed_in_client)
    account_retire(user=person, reason="退職", actor=administrator)
    assert not WebAuthnCredential.objects.filter(user=person).exists()


# --- the self-inspection sees key sign-ins like any other ---------------------------------------------------------


def test_self_inspection_counts_key_sign_ins_for_new_and_concurrent_addresses(person, signed_in_client) -> None:
    key = with_key(person, signed_in_client)
    now = timezone.now()
    start, end = month_bounds(now.astimezone(JST).year, now.astimezone(JST).month)
    baseline_day = (start - timedelta(days=20)).astimezone(JST)
    plant_all(
        [plant(person, baseline_day + timedelta(hours=h), ip="127.0.0.1") for h in range(3)]
    )  # the person's history: the office only
    ensure_partitions(date.today(), date.today())
    # The only requests from these two addresses are key sign-ins, back and forth within minutes (the password
    # and key-options steps come before the sign-in and are anonymous).
    for address in ("127.0.0.21", "127.0.0.22", "127.0.0.21"):
        assert key_signin(Client(), person, key, REMOTE_ADDR=address).status_code == 200
    signins = AccessRecord.objects.filter(route="accounts:webauthn_signin_complete", part=0)
    assert list(signins.values_list("user_id", flat=True)) == [person.pk] * 3

    run = inspection_create(period_start=start, period_end=end, label="鍵の点検")
    inspection_execute(run_id=run.pk)
    new_ip = Finding.objects.get(run=run, user_id=person.pk, kind=FindingKind.NEW_IP)
    assert {entry["ip"] for entry in new_ip.numbers["new_ips"]} == {"127.0.0.21", "127.0.0.22"}
    concurrent = Finding.objects.get(run=run, user_id=person.pk, kind=FindingKind.CONCURRENT_IPS)
    assert {"127.0.0.21", "127.0.0.22"} <= set(concurrent.numbers["ips"])
    assert concurrent.numbers["switches"] >= 2
    assert datetime.fromisoformat(concurrent.numbers["first_at"]) >= start


def test_the_plugins_script_messages_are_served_in_japanese_from_this_site() -> None:
    response = Client().get(reverse("accounts:webauthn_jsi18n"), HTTP_ACCEPT_LANGUAGE="ja")
    assert response.status_code == 200 and response["Content-Type"].startswith("text/javascript")
    touch = json.dumps("キーに触れてください…")  # the catalog is JSON, non-ASCII escaped
    assert touch in response.content.decode()
    english = Client().get(reverse("accounts:webauthn_jsi18n"), HTTP_ACCEPT_LANGUAGE="en")
    assert touch not in english.content.decode()


def test_the_key_pages_pass_options_in_a_data_block_not_in_inline_script(person, signed_in_client) -> None:
    client = signed_in_client(person)
    client.post(reverse("accounts:webauthn_enrol"), {"password": PASSWORD})
    response = client.get(reverse("accounts:webauthn_enrol"))
    page = response.content.decode()
    assert '<script id="otp_webauthn_config" type="application/json">' in page
    assert "unsafe-inline" not in response["Content-Security-Policy"]
    inline = [s for s in re.findall(r"<script(?![^>]*\bsrc=)([^>]*)>", page) if "application/json" not in s]
    assert inline == []


def test_the_administrator_sees_a_persons_keys_without_their_material(person, administrator, signed_in_client) -> None:
    with_key(person, signed_in_client)
    credential = WebAuthnCredential.objects.get(user=person)
    page = signed_in_client(administrator).get(reverse("accounts:admin_account", args=[person.pk])).content.decode()
    assert "セキュリティキー 1" in page and "この端末・キーのみ" in page
    assert credential.public_key.hex() not in page and credential.credential_id_sha256 not in page

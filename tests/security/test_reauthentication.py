"""Re-entering the current password inside a session counts in the sign-in lockout, is refused while it holds,
and is recorded; a new second factor or new recovery codes end the other sessions and are told by e-mail.

The attack: with a stolen session cookie, /account/password/ took 12 wrong current-password guesses and then
the right one; /account/recovery-codes/ and /account/authenticator/ handed out new codes or a new device for
the right password even while the account was locked; /admin/password_change/ counted and recorded nothing.
"""

from __future__ import annotations

import pytest
from django.conf import settings
from django.core import mail
from django.test import Client
from django.urls import reverse
from django_otp.oath import TOTP
from django_otp.plugins.otp_static.models import StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice

from audit.models import SecurityEvent
from tests.accounts.conftest import PASSWORD, login_steps, totp_code

pytestmark = [pytest.mark.django_db]

LIMIT = settings.AXES_FAILURE_LIMIT
NEW = "a brand new long passphrase 2026"


def _change(client: Client, old: str):
    return client.post(
        reverse("accounts:password_change"), {"old_password": old, "new_password1": NEW, "new_password2": NEW}
    )


def _lock(client: Client) -> None:
    for _ in range(LIMIT):
        _change(client, "wrong guess wrong guess")


def test_twelve_wrong_current_passwords_lock_the_account_and_the_right_one_is_then_refused(
    person, signed_in_client
) -> None:
    thief = signed_in_client(person)
    statuses = [_change(thief, f"guess number {n} wrong").status_code for n in range(12)]
    assert statuses[: LIMIT - 1] == [200] * (LIMIT - 1)  # the form again, with an error
    assert statuses[LIMIT - 1 :] == [429] * (12 - LIMIT + 1)
    assert _change(thief, PASSWORD).status_code == 429  # the 13th, correct, is refused
    person.refresh_from_db()
    assert person.check_password(PASSWORD) and not person.check_password(NEW)
    assert SecurityEvent.objects.filter(action="auth.reauth_failed", target_user_id=person.pk).count() >= LIMIT
    assert SecurityEvent.objects.filter(action="auth.reauth_refused_locked", target_user_id=person.pk).exists()
    # The lock is the sign-in lock: the owner cannot sign in either until it is lifted.
    device = TOTPDevice.objects.get(user=person)
    assert login_steps(Client(), person, code=totp_code(device)).status_code == 429


def test_wrong_sign_in_passwords_and_wrong_current_passwords_share_one_counter(person, signed_in_client) -> None:
    for _ in range(LIMIT - 1):
        Client().post(reverse("accounts:login"), {"username": person.email, "password": "wrong password 123"})
    assert _change(signed_in_client(person), "one more wrong guess").status_code == 429


def test_new_recovery_codes_are_refused_while_the_account_is_locked(person, signed_in_client) -> None:
    thief = signed_in_client(person)
    _lock(thief)
    response = thief.post(reverse("accounts:recovery_codes"), {"password": PASSWORD})
    assert response.status_code == 429
    assert not StaticToken.objects.filter(device__user=person).exists()
    assert SecurityEvent.objects.filter(
        action="auth.reauth_refused_locked", target_user_id=person.pk, data__purpose="recovery_codes"
    ).exists()


def test_a_new_authenticator_is_refused_while_the_account_is_locked(person, signed_in_client) -> None:
    thief = signed_in_client(person)
    _lock(thief)
    assert thief.post(reverse("accounts:authenticator_reenrol"), {"password": PASSWORD}).status_code == 429
    assert not TOTPDevice.objects.filter(user=person, confirmed=False).exists()


def test_the_new_device_step_is_refused_once_the_account_locks(person, signed_in_client) -> None:
    thief = signed_in_client(person)
    assert thief.post(reverse("accounts:authenticator_reenrol"), {"password": PASSWORD}).status_code == 302
    pending_page = thief.get(reverse("accounts:authenticator_reenrol"))
    assert "<svg" in pending_page.content.decode()
    pending = TOTPDevice.objects.get(user=person, confirmed=False)
    for _ in range(LIMIT):
        Client().post(reverse("accounts:login"), {"username": person.email, "password": "wrong password 123"})
    code = f"{TOTP(pending.bin_key, pending.step, pending.t0, pending.digits, pending.drift).token():06d}"
    assert thief.post(reverse("accounts:authenticator_reenrol"), {"code": code}).status_code == 429
    pending.refresh_from_db()
    assert not pending.confirmed


def test_new_recovery_codes_end_the_other_sessions_and_are_told_by_mail(
    person, signed_in_client, django_capture_on_commit_callbacks
) -> None:
    this, other = signed_in_client(person), signed_in_client(person)
    with django_capture_on_commit_callbacks(execute=True):
        response = this.post(reverse("accounts:recovery_codes"), {"password": PASSWORD})
    assert response.status_code == 200
    assert this.get(reverse("accounts:account")).status_code == 200
    assert other.get(reverse("accounts:account")).status_code == 302
    assert [m.to for m in mail.outbox] == [[person.email]]
    assert "リカバリーコードが再発行されました" in mail.outbox[0].body
    assert SecurityEvent.objects.filter(action="auth.reauthenticated", data__purpose="recovery_codes").exists()


def test_a_new_authenticator_is_told_by_mail(person, signed_in_client, django_capture_on_commit_callbacks) -> None:
    this = signed_in_client(person)
    this.post(reverse("accounts:authenticator_reenrol"), {"password": PASSWORD})
    this.get(reverse("accounts:authenticator_reenrol"))
    pending = TOTPDevice.objects.get(user=person, confirmed=False)
    code = f"{TOTP(pending.bin_key, pending.step, pending.t0, pending.digits, pending.drift).token():06d}"
    with django_capture_on_commit_callbacks(execute=True):
        assert this.post(reverse("accounts:authenticator_reenrol"), {"code": code}).status_code == 302
    assert [m.to for m in mail.outbox] == [[person.email]]
    assert "新しい認証アプリが登録されました" in mail.outbox[0].body


def test_the_admin_password_change_is_the_counted_one(administrator, signed_in_client) -> None:
    admin = signed_in_client(administrator)
    # Django's own admin form (which checked the password uncounted) is not served: it leads to ours.
    for method in (admin.get, admin.post):
        response = method("/admin/password_change/", {"old_password": "wrong", "new_password1": NEW})
        assert response.status_code == 302 and response["Location"] == reverse("accounts:password_change")
    response = admin.post("/admin/password_change/", follow=True)
    assert response.redirect_chain[-1][0] == reverse("accounts:password_change")
    # Following it, a wrong current password is counted and recorded like every re-authentication.
    assert _change(admin, "not my password at all").status_code == 200
    event = SecurityEvent.objects.get(action="auth.reauth_failed", target_user_id=administrator.pk)
    assert event.data == {"purpose": "password_change"}
    _lock(admin)
    assert _change(admin, PASSWORD).status_code == 429

"""Authenticator enrolment and recovery codes.

A person holds exactly one confirmed TOTP device. Enrolment creates an unconfirmed device whose id is
kept in the session; one correct code confirms it. Enrolment is only reachable from an activation link
session (onboarding) or, for a signed-in person, right after re-entering the password (re-enrolment).
"""

from __future__ import annotations

import secrets
from base64 import b32encode

import segno
from django.contrib.auth.hashers import make_password
from django.db import transaction
from django.http import HttpRequest
from django_otp.plugins.otp_static.models import StaticDevice
from django_otp.plugins.otp_totp.models import TOTPDevice

from accounts import emails
from accounts.models import RecoveryCode, RecoveryCodeDevice, User, recovery_code_normalise
from accounts.sessions import session_end_others
from audit.events import record_event

ENROL_DEVICE_KEY = "mfa_enrol_device_id"
RECOVERY_CODE_COUNT = 10
# No 0/o, 1/l/i: a code is read off paper. 16 characters of 31 ≈ 79 bits.
RECOVERY_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"
RECOVERY_CODE_LENGTH = 16


def totp_enrol_start(request: HttpRequest, *, user: User) -> TOTPDevice:
    """Reuse this session's pending device (a reload must not change the secret) or create one."""
    device_id = request.session.get(ENROL_DEVICE_KEY)
    device = TOTPDevice.objects.filter(pk=device_id, user=user, confirmed=False).first() if device_id else None
    if device is None:
        TOTPDevice.objects.filter(user=user, confirmed=False).delete()
        device = TOTPDevice.objects.create(user=user, name="authenticator", confirmed=False)
        request.session[ENROL_DEVICE_KEY] = device.pk
    return device


def totp_qr_svg(device: TOTPDevice) -> str:
    """The otpauth:// URL as an inline SVG (CSP forbids inline script; inline SVG needs none)."""
    return segno.make(device.config_url, error="m").svg_inline(
        scale=4, dark="#000", light="#fff", title="QR code / QRコード"
    )


def totp_secret_text(device: TOTPDevice) -> str:
    """The secret for typing in by hand, in groups of four."""
    secret = b32encode(device.bin_key).decode()
    return " ".join(secret[i : i + 4] for i in range(0, len(secret), 4))


@transaction.atomic
def totp_enrol_confirm(request: HttpRequest, *, user: User, code: str) -> TOTPDevice | None:
    """Confirm the pending device with one code; it replaces any earlier device of the person."""
    device_id = request.session.get(ENROL_DEVICE_KEY)
    device = (
        TOTPDevice.objects.select_for_update().filter(pk=device_id, user=user, confirmed=False).first()
        if device_id
        else None
    )
    if device is None or not device.verify_token("".join((code or "").split())):
        record_event(action="mfa.enrol_failed", request=request, actor=user, target_user=user)
        return None
    replaced = TOTPDevice.objects.filter(user=user, confirmed=True).exclude(pk=device.pk).delete()[0]
    device.confirmed = True
    device.save(update_fields=["confirmed"])
    request.session.pop(ENROL_DEVICE_KEY, None)
    record_event(
        action="mfa.enrolled" if not replaced else "mfa.reenrolled",
        request=request,
        actor=user,
        target_user=user,
        data={"device": device.persistent_id},
    )
    return device


def _recovery_code() -> str:
    code = "".join(secrets.choice(RECOVERY_ALPHABET) for _ in range(RECOVERY_CODE_LENGTH))
    return "-".join(code[i : i + 4] for i in range(0, RECOVERY_CODE_LENGTH, 4))


@transaction.atomic
def recovery_codes_regenerate(*, user: User, request: HttpRequest | None = None) -> list[str]:
    """New one-time recovery codes; earlier ones stop working. Returned once to be shown, stored only as hashes
    (Django's password hasher), so nobody, the database's owner included, can read them back."""
    device, _created = RecoveryCodeDevice.objects.get_or_create(
        user=user, name="recovery", defaults={"confirmed": True}
    )
    StaticDevice.objects.filter(user=user).exclude(pk=device.pk).delete()
    device.token_set.all().delete()
    device.recovery_codes.all().delete()
    codes = [_recovery_code() for _ in range(RECOVERY_CODE_COUNT)]
    RecoveryCode.objects.bulk_create(
        [
            RecoveryCode(device=device, selector=plain[:4], code_hash=make_password(plain))
            for plain in (recovery_code_normalise(code) for code in codes)
        ]
    )
    record_event(action="mfa.recovery_codes_generated", request=request, actor=user, target_user=user)
    return codes


def second_factor_changed(request: HttpRequest, *, user: User, authenticator: bool) -> int:
    """After a signed-in person registered a new authenticator or new recovery codes: every other session ends
    (whoever else holds one must sign in again with the new factor) and the person is told by e-mail."""
    ended = session_end_others(
        user=user, request=request, reason="device_changed" if authenticator else "codes_changed"
    )
    emails.email_second_factor_changed(user, authenticator=authenticator)
    return ended

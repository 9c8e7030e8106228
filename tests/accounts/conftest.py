"""Helpers for the accounts tests: real TOTP codes, and signing in through the real login views."""

from __future__ import annotations

import time
from typing import Any

from django.test import Client
from django.urls import reverse
from django_otp.oath import TOTP
from django_otp.plugins.otp_totp.models import TOTPDevice

from accounts.models import User
from tests.conftest import PASSWORD, accept_terms, enrol, ready  # noqa: F401 - the suite's cast, used here too


def totp_code(device: TOTPDevice, offset: int = 0) -> str:
    """The code of the current time step (+offset steps) as the person's authenticator app shows it."""
    device.refresh_from_db()
    totp = TOTP(device.bin_key, device.step, device.t0, device.digits, device.drift)
    totp.time = time.time() + offset * device.step
    return f"{totp.token():0{device.digits}d}"


def login_steps(client: Client, user: User, *, password: str = PASSWORD, code: str | None = None, **extra: Any):
    """Password step then code step through the real views; returns the last response."""
    response = client.post(reverse("accounts:login"), {"username": user.email, "password": password}, **extra)
    if response.status_code != 302 or code is None:
        return response
    return client.post(reverse("accounts:login_code"), {"code": code}, **extra)


def signed_in_via_views(client: Client, user: User) -> Client:
    device = TOTPDevice.objects.get(user=user, confirmed=True)
    response = login_steps(client, user, code=totp_code(device))
    assert response.status_code == 302, response.content[:500]
    return client

"""Helpers for the accounts tests: real TOTP codes, and signing in through the real login views."""

from __future__ import annotations

import time

import pytest
from django.test import Client
from django.urls import reverse
from django_otp.oath import TOTP
from django_otp.plugins.otp_totp.models import TOTPDevice

from accounts.models import TermsAcceptance, User
from accounts.terms import terms_current

PASSWORD = "correct horse battery staple"


def totp_code(device: TOTPDevice, offset: int = 0) -> str:
    """The code of the current time step (+offset steps) as the person's authenticator app shows it."""
    device.refresh_from_db()
    totp = TOTP(device.bin_key, device.step, device.t0, device.digits, device.drift)
    totp.time = time.time() + offset * device.step
    return f"{totp.token():0{device.digits}d}"


def enrol(user: User) -> TOTPDevice:
    return TOTPDevice.objects.create(user=user, name="phone", confirmed=True)


def accept_terms(user: User) -> None:
    TermsAcceptance.objects.get_or_create(user=user, terms=terms_current(), defaults={"ip_address": "127.0.0.1"})


def login_steps(client: Client, user: User, *, password: str = PASSWORD, code: str | None = None, **extra: str):
    """Password step then code step through the real views; returns the last response."""
    response = client.post(reverse("accounts:login"), {"username": user.email, "password": password}, **extra)
    if response.status_code != 302 or code is None:
        return response
    return client.post(reverse("accounts:login_code"), {"code": code}, **extra)


def ready(user: User) -> User:
    """Enrolled and consented: what a person is after finishing activation."""
    enrol(user)
    accept_terms(user)
    return user


@pytest.fixture
def person(orgs, make_user) -> User:
    """An ACTIVE operator with a confirmed authenticator who accepted the current terms."""
    return ready(make_user(orgs.operator_a))


@pytest.fixture
def administrator(orgs, make_user) -> User:
    return ready(make_user(orgs.contractor, is_staff=True))


@pytest.fixture
def officer_a(orgs, make_user) -> User:
    return ready(make_user(orgs.operator_a, officer=True))


@pytest.fixture
def officer_b(orgs, make_user) -> User:
    return ready(make_user(orgs.operator_b, officer=True))


def signed_in_via_views(client: Client, user: User) -> Client:
    device = TOTPDevice.objects.get(user=user, confirmed=True)
    response = login_steps(client, user, code=totp_code(device))
    assert response.status_code == 302, response.content[:500]
    return client

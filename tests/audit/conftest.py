"""Audit test helpers: a fully signed-in client (verified TOTP device, current terms accepted)."""

from __future__ import annotations

import pytest
from django.test import Client
from django_otp import DEVICE_ID_SESSION_KEY
from django_otp.plugins.otp_totp.models import TOTPDevice

from accounts.models import User
from accounts.terms import SESSION_KEY as TERMS_SESSION_KEY
from accounts.terms import terms_current_id


@pytest.fixture
def signed_in_client(db: None):
    def _client(user: User, *, raise_request_exception: bool = True, **headers: str) -> Client:
        client = Client(raise_request_exception=raise_request_exception, **headers)
        device = TOTPDevice.objects.create(user=user, name="test", confirmed=True)
        client.force_login(user, backend="django.contrib.auth.backends.ModelBackend")
        session = client.session
        session[DEVICE_ID_SESSION_KEY] = device.persistent_id
        session[TERMS_SESSION_KEY] = terms_current_id()
        session.save()
        return client

    return _client

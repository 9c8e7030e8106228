"""A signed-in test client for view tests and benchmarks: the state the real sign-in leaves behind
(password + verified TOTP device + current terms accepted), without walking the login pages each time.

The accounts tests sign in through the real login views; everything else uses this.
"""

from __future__ import annotations

import time
from typing import Any

from django.test import Client
from django_otp import DEVICE_ID_SESSION_KEY
from django_otp.plugins.otp_totp.models import TOTPDevice

from accounts.models import TermsAcceptance, User
from accounts.sessions import AUTH_AT, SEEN_AT
from accounts.terms import SESSION_KEY as TERMS_SESSION_KEY
from accounts.terms import terms_current


def signed_in_client(user: User, client: Client | None = None, **client_kwargs: Any) -> Client:
    """`client_kwargs` go to Client(), e.g. raise_request_exception=False or default headers."""
    client = client or Client(**client_kwargs)
    device = TOTPDevice.objects.filter(user=user, confirmed=True).first() or TOTPDevice.objects.create(
        user=user, name="test", confirmed=True
    )
    terms = terms_current()
    TermsAcceptance.objects.get_or_create(user=user, terms=terms, defaults={"ip_address": "127.0.0.1"})
    client.force_login(user, backend="django.contrib.auth.backends.ModelBackend")
    session = client.session
    session[DEVICE_ID_SESSION_KEY] = device.persistent_id
    session[TERMS_SESSION_KEY] = terms.pk
    session[AUTH_AT] = session[SEEN_AT] = time.time()
    session.save()
    return client

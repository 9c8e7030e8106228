"""Test settings: real PostgreSQL and Redis on this machine.

Outside CI, when PostgreSQL or Redis cannot be reached, the suite falls back to SQLite / no Redis
and skips the tests marked `postgres` / `redis` (tests/conftest.py). Under CI=true a missing service
is an error here, before any test runs.
"""

from __future__ import annotations

import os
import socket

from django.core.exceptions import ImproperlyConfigured


def _reachable(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1):
            return True
    except OSError:
        return False


_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}
if "DATABASE_URL" not in os.environ:
    if _reachable("127.0.0.1", 5432):
        os.environ["DATABASE_URL"] = "postgres://postgres@127.0.0.1:5432/renergy"
    elif _CI:
        raise ImproperlyConfigured("CI: PostgreSQL is not reachable on 127.0.0.1:5432.")
if "REDIS_URL" not in os.environ:
    if _reachable("127.0.0.1", 6379):
        os.environ["REDIS_URL"] = "redis://127.0.0.1:6379/15"
    elif _CI:
        raise ImproperlyConfigured("CI: Redis is not reachable on 127.0.0.1:6379.")

from renergy.settings.base import *  # noqa: E402, F403
from renergy.settings.base import STORAGES  # noqa: E402

DEMO_MODE = True
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]  # speed only; production uses PBKDF2
EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
OUTBOX_DELIVERY = "inline"  # the outbox's own delivery, run after commit in the test process (no worker)
STORAGES = {**STORAGES, "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"}}
# Serve static files from the source folders (no collectstatic in tests); the live server's pages load them.
WHITENOISE_USE_FINDERS = True
WHITENOISE_AUTOREFRESH = True

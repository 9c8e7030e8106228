"""Test settings: the machine's PostgreSQL and Redis (CI starts them; a missing one is an error).

DATABASE_URL names a superuser (postgres@127.0.0.1 by default). It is the owner: pytest-django creates and
migrates the test database with it. The application under test then runs as a runtime role of its own,
granted by audit.roles like production's, so a missing grant fails a test: its connections log in as the
superuser and switch to that role at once (`-c role=`), which lets a test play the attacker with superuser
rights inside its own transaction (tests/database.py `as_superuser`).
"""

from __future__ import annotations

import os
from urllib.parse import urlsplit

_owner_url = (
    os.environ.get("DATABASE_MIGRATE_URL")
    or os.environ.get("DATABASE_URL")
    or "postgres://postgres@127.0.0.1:5432/renergy"
)
_parts = urlsplit(_owner_url)
# One runtime role per base database name, so parallel checkouts on one server never share it.
# Servers a test starts (gunicorn, workers) are given the test database's own URL: both names give one role.
TEST_RUNTIME_ROLE = f"test_{_parts.path.lstrip('/').removeprefix('test_')}_app"
os.environ.setdefault("DATABASE_URL", _owner_url)
os.environ.setdefault("REDIS_URL", "redis://127.0.0.1:6379/15")

from renergy.settings.base import *  # noqa: E402, F403
from renergy.settings.base import INSTALLED_APPS, STORAGES, database_settings, env_int  # noqa: E402

DATABASES = database_settings(_owner_url, _owner_url, conn_max_age=env_int("DB_CONN_MAX_AGE", 60))
_options = DATABASES["default"]["OPTIONS"]
_options["options"] = f"{_options.get('options', '')} -c role={TEST_RUNTIME_ROLE}".strip()

# The suite's own flush (tests/management/commands/flush.py): TransactionTestCase and live_server empty the
# tables as the owner, which the runtime role cannot do.
INSTALLED_APPS = ["tests", *INSTALLED_APPS]
DEMO_MODE = True
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]  # speed only; production uses PBKDF2
EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
OUTBOX_DELIVERY = "inline"  # the outbox's own delivery, run after commit in the test process (no worker)
STORAGES = {**STORAGES, "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"}}
# Serve static files from the source folders (no collectstatic in tests); the live server's pages load them.
WHITENOISE_USE_FINDERS = True
WHITENOISE_AUTOREFRESH = True
# Seals are signed with a DEV ONLY key generated under var/; each test gets its own anchor directory.
AUDIT_DEV_SIGNING_KEY = True

"""Local development and `make run`: the embedded PostgreSQL unless DATABASE_URL is set, demo helpers on.

Pages are the branded 404/403/500 ones; Django's debug pages only with DEBUG=1.
"""

from __future__ import annotations

import os
from pathlib import Path

from renergy import embedded_db

if not os.environ.get("DATABASE_URL"):
    # The server bin/run starts in var/postgres (renergy/embedded_db.py), as two roles like production.
    _var = Path(os.environ.get("RENERGY_VAR_DIR") or Path(__file__).resolve().parents[2] / "var")
    os.environ["DATABASE_URL"] = embedded_db.url(_var, role=embedded_db.RUNTIME_ROLE)
    os.environ.setdefault("DATABASE_MIGRATE_URL", embedded_db.url(_var, role=embedded_db.OWNER_ROLE))

from renergy.settings.base import *  # noqa: F403
from renergy.settings.base import DATABASES, VAR_DIR, env_bool, env_int, env_str

DEBUG = env_bool("DEBUG", False)
DEMO_MODE = True
EMAIL_BACKEND = env_str("EMAIL_BACKEND", "django.core.mail.backends.filebased.EmailBackend")
EMAIL_FILE_PATH = VAR_DIR / "mail"
# Links in e-mails point at the server `make run` started.
SITE_URL = env_str("SITE_URL", f"http://127.0.0.1:{env_int('PORT', 8000)}")
# runserver serves each request on a new thread; a kept connection per thread would exhaust PostgreSQL.
for _database in DATABASES.values():
    _database["CONN_MAX_AGE"] = 0
    _database["CONN_HEALTH_CHECKS"] = False
STORAGES = {**STORAGES, "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"}}  # noqa: F405
# `make run` serves static files from the source folders, without collectstatic.
WHITENOISE_USE_FINDERS = True
WHITENOISE_AUTOREFRESH = True
# A DEV ONLY seal-signing key is generated in var/dev-keys/ on first use; anchors go to var/ too.
AUDIT_DEV_SIGNING_KEY = not env_str("AUDIT_SIGNING_KEY_FILE", "")
AUDIT_ANCHOR_DIR = env_str("AUDIT_ANCHOR_DIR", str(VAR_DIR / "audit-anchors"))

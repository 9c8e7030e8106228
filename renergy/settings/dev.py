"""Local development and `make run`: embedded defaults, demo helpers on."""

from __future__ import annotations

from renergy.settings.base import *  # noqa: F403
from renergy.settings.base import VAR_DIR, env_bool, env_str

DEBUG = env_bool("DEBUG", True)
DEMO_MODE = True
EMAIL_BACKEND = env_str("EMAIL_BACKEND", "django.core.mail.backends.filebased.EmailBackend")
EMAIL_FILE_PATH = VAR_DIR / "mail"
STORAGES = {**STORAGES, "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"}}  # noqa: F405
# `make run` serves static files from the source folders, without collectstatic.
WHITENOISE_USE_FINDERS = True
WHITENOISE_AUTOREFRESH = True
# A DEV ONLY seal-signing key is generated in var/dev-keys/ on first use; anchors go to var/ too.
AUDIT_DEV_SIGNING_KEY = not env_str("AUDIT_SIGNING_KEY_FILE", "")
AUDIT_ANCHOR_DIR = env_str("AUDIT_ANCHOR_DIR", str(VAR_DIR / "audit-anchors"))

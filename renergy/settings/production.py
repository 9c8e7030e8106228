"""Production: secrets and hosts must come from the environment; HTTPS only."""

from __future__ import annotations

from renergy.settings.base import *  # noqa: F403
from renergy.settings.base import env_bool, env_int, env_list, env_str

SECRET_KEY = env_str("SECRET_KEY")
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS")
DEBUG = False
DEMO_MODE = False
AUDIT_DEV_SIGNING_KEY = False  # only the key in AUDIT_SIGNING_KEY_FILE (sealing worker) signs seals

SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", True)
SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^readyz$"]
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 63072000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = True
SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", True)
SESSION_COOKIE_SECURE = True
CSRF_COOKIE_SECURE = True
SESSION_COOKIE_NAME = "__Host-renergy_session"
CSRF_COOKIE_NAME = "__Host-csrftoken"

"""Settings shared by every environment. Values that differ per deployment come from the environment.

PostgreSQL only (DATABASE_URL; `make run` starts an embedded server when it is unset, see settings/dev.py).
Without REDIS_URL the cache is in memory and Celery uses a file-system broker, so `make run` needs no Redis.
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit

from celery.schedules import crontab
from csp.constants import NONE, SELF
from django.core.exceptions import ImproperlyConfigured

from renergy.databases import database_config, database_settings
from renergy.env import env_bool, env_cidrs, env_int, env_list, env_str

BASE_DIR = Path(__file__).resolve().parent.parent.parent
VAR_DIR = Path(env_str("RENERGY_VAR_DIR", str(BASE_DIR / "var")))

SECRET_KEY = env_str("SECRET_KEY", "dev-insecure-key-only-for-local-use-0123456789abcdefghijklmnop")
DEBUG = env_bool("DEBUG", False)
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", "localhost,127.0.0.1,[::1]")
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS")

# The reverse proxies in front of the app, by address (CIDR, comma-separated). X-Forwarded-For is read only
# when the direct peer is one of them; empty (the default) ignores the header. One resolver
# (renergy.client_ip) serves lockout, audit, model history, sessions and the organisations' IP ranges.
TRUSTED_PROXY_CIDRS = env_cidrs("TRUSTED_PROXY_CIDRS")

INSTALLED_APPS = [
    "accounts.admin_apps.RenergyAdminConfig",  # accounts: django.contrib.admin with the MFA-enforcing site
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "django_otp",
    "django_otp.plugins.otp_totp",
    "django_otp.plugins.otp_static",
    # Security keys and passkeys as a second factor beside TOTP (accounts/webauthn.py).
    "django_otp_webauthn",
    "axes",
    "auditlog",
    "django_celery_beat",
    "csp",
    # Every form field renders through one accessible snippet (label, help and errors tied by aria-describedby);
    # TemplatesSetting lets it live in templates/, and django.forms provides the widget templates to it.
    "django.forms",
    "accounts",
    "certifications",
    "audit",
]

MIDDLEWARE = [
    "renergy.client_ip.UntrustedForwardedHeadersMiddleware",
    "django.middleware.security.SecurityMiddleware",
    # Before WhiteNoise, so static files leave a record and carry X-Request-ID too (README: the cost).
    "audit.middleware.AccessRecordMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    # After WhiteNoise: pages and downloads are no-store, static files keep their far-future caching.
    "renergy.middleware.NoStoreMiddleware",
    "renergy.middleware.InputGuardMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django_otp.middleware.OTPMiddleware",
    "accounts.middleware.AccessGateMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "csp.middleware.CSPMiddleware",
    "auditlog.middleware.AuditlogMiddleware",
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "renergy.urls"
WSGI_APPLICATION = "renergy.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.i18n",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                # Menus by role for the shared layout (templates/includes/nav.html).
                "renergy.context_processors.layout",
            ],
        },
    },
]

# The runtime role (DATABASE_URL) and the owner of the tables (DATABASE_MIGRATE_URL), each with the time limits
# of renergy/databases.py.
DATABASES = database_settings(
    env_str("DATABASE_URL"), env_str("DATABASE_MIGRATE_URL", ""), conn_max_age=env_int("DB_CONN_MAX_AGE", 60)
)
# Optional streaming replica for the heavy read-only paths (renergy/replica.py); never for what must be exact.
DATABASE_REPLICA_URL = env_str("DATABASE_REPLICA_URL", "")
if DATABASE_REPLICA_URL:
    DATABASES["replica"] = database_config(DATABASE_REPLICA_URL, conn_max_age=0)
    DATABASES["replica"]["OPTIONS"]["connect_timeout"] = 3
    # Only the long read-only paths read there (the report, raw CSV, exports, inspection): no statement limit.
    DATABASES["replica"]["OPTIONS"]["options"] += " -c statement_timeout=0"
    DATABASES["replica"]["TEST"] = {"MIRROR": "default"}
DATABASE_ROUTERS = ["renergy.replica.ReplicaRouter"]
DATABASE_REPLICA_MAX_LAG_SECONDS = float(env_str("DATABASE_REPLICA_MAX_LAG_SECONDS", "30"))
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

REDIS_URL = env_str("REDIS_URL", "")
if REDIS_URL:
    # A cache that logs and misses when Redis is down instead of raising (renergy/cache.py); short socket
    # timeouts so that an unreachable Redis costs a request milliseconds, not the OS connect timeout.
    CACHES = {
        "default": {
            "BACKEND": "renergy.cache.ResilientRedisCache",
            "LOCATION": REDIS_URL,
            "OPTIONS": {"socket_connect_timeout": 0.5, "socket_timeout": 0.5},
        }
    }
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
# Sessions live in the database only: signing in and every signed-in page keep working while Redis is down,
# and a session ended on one node is ended on all (no cached copy to outlive it).
SESSION_ENGINE = "django.contrib.sessions.backends.db"

AUTH_USER_MODEL = "accounts.User"
LOGIN_URL = "accounts:login"
LOGIN_REDIRECT_URL = "accounts:home"
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AUTH_PASSWORD_VALIDATORS = [
    # Our User has `name`, not Django's default first_name/last_name/username: without the list, the name was
    # never compared. PersonalInformationValidator catches the name inside a longer password (Japanese too).
    {
        "NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator",
        "OPTIONS": {"user_attributes": ("name", "email")},
    },
    {"NAME": "accounts.passwords.PersonalInformationValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 12}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "accounts.passwords.MaximumLengthValidator", "OPTIONS": {"max_length": 256}},
]

# Sessions: cookie lives at most the absolute limit; idle and absolute limits are enforced on the
# server by accounts.middleware (cookie expiry alone is not enforcement, NIST 800-63B 7.1).
SESSION_IDLE_TIMEOUT_SECONDS = env_int("SESSION_IDLE_TIMEOUT_SECONDS", 30 * 60)
SESSION_ABSOLUTE_TIMEOUT_SECONDS = env_int("SESSION_ABSOLUTE_TIMEOUT_SECONDS", 12 * 60 * 60)
SESSION_COOKIE_AGE = SESSION_ABSOLUTE_TIMEOUT_SECONDS
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
SESSION_COOKIE_NAME = "renergy_session"
CSRF_COOKIE_HTTPONLY = True

# Account lifecycle.
ACCOUNT_IDLE_SUSPENSION_DAYS = env_int("ACCOUNT_IDLE_SUSPENSION_DAYS", 180)
ACCOUNT_SUSPENSION_WARNING_DAYS = env_int("ACCOUNT_SUSPENSION_WARNING_DAYS", 14)
ACCOUNT_ACTIVATION_LINK_HOURS = env_int("ACCOUNT_ACTIVATION_LINK_HOURS", 72)
# Periodic password change is an organisation's setting (Organisation.password_max_age_days, off by default).
# Periodic access review (アカウント棚卸し): a round opens for every organisation at the start of each period
# (months, counted from April so that rounds fall in fiscal quarters by default), officers confirm each person
# by the deadline, are reminded before it, and the unconfirmed are suspended after it (accounts.access_review).
ACCESS_REVIEW_INTERVAL_MONTHS = env_int("ACCESS_REVIEW_INTERVAL_MONTHS", 3)
ACCESS_REVIEW_DEADLINE_DAYS = env_int("ACCESS_REVIEW_DEADLINE_DAYS", 21)
ACCESS_REVIEW_REMINDER_DAYS = env_int("ACCESS_REVIEW_REMINDER_DAYS", 7)

# django-axes: failures of password and TOTP both count; see accounts for the wiring.
# AXES_FAILURE_LIMIT locks an account; AXES_IP_FAILURE_LIMIT (ours, read by accounts.lockout's handler) locks an
# address, higher because one office address carries everyone's typos.
AXES_HANDLER = "accounts.lockout.SeparateLimitsHandler"
AXES_FAILURE_LIMIT = env_int("AXES_FAILURE_LIMIT", 10)
AXES_IP_FAILURE_LIMIT = env_int("AXES_IP_FAILURE_LIMIT", 50)
if AXES_IP_FAILURE_LIMIT < AXES_FAILURE_LIMIT:
    raise ImproperlyConfigured("AXES_IP_FAILURE_LIMIT must not be lower than AXES_FAILURE_LIMIT.")
AXES_COOLOFF_TIME = env_int("AXES_COOLOFF_MINUTES", 30) / 60  # hours
AXES_LOCKOUT_PARAMETERS = ["username", "ip_address"]
AXES_USERNAME_FORM_FIELD = "username"
AXES_CLIENT_IP_CALLABLE = "renergy.client_ip.client_ip_for_axes"
# A success must not wipe the failures: a sprayer would sign in to their own account from the same address
# to reset the per-IP count. Failures expire with the cool-off instead.
AXES_RESET_ON_SUCCESS = False
AXES_LOCKOUT_TEMPLATE = "accounts/locked_out.html"
AXES_VERBOSE = False
AXES_SENSITIVE_PARAMETERS = ["password", "otp_token", "token", "code"]

# django-otp
OTP_TOTP_ISSUER = "Renergy"
OTP_TOTP_THROTTLE_FACTOR = 1

# django-auditlog: its client-IP capture trusts the left-most X-Forwarded-For, so ours is used instead.
AUDITLOG_DISABLE_REMOTE_ADDR = True

LANGUAGE_CODE = "ja"
LANGUAGES = [("ja", "日本語"), ("en", "English")]
LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE = "Asia/Tokyo"
USE_I18N = True
USE_TZ = True

# Browser: layout, forms, formats, error pages.
# Japanese dates (2026年11月23日) and English ones come from renergy/formats/<lang>/formats.py.
FORMAT_MODULE_PATH = ["renergy.formats"]
FORM_RENDERER = "renergy.forms.FormRenderer"
CSRF_FAILURE_VIEW = "renergy.errors.csrf_failure"

STATIC_URL = "/static/"
# Outside var/ in the image (Dockerfile), so the shared var/ volume never hides the build's manifest.
STATIC_ROOT = Path(env_str("STATIC_ROOT", str(VAR_DIR / "static")))
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage", "OPTIONS": {"location": VAR_DIR / "media"}},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
}

CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF],
        "style-src": [SELF],
        "img-src": [SELF, "data:"],
        "font-src": [SELF],
        "connect-src": [SELF],
        "form-action": [SELF],
        "frame-ancestors": [NONE],
        "base-uri": [NONE],
        "object-src": [NONE],
    },
}
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"

EMAIL_BACKEND = env_str("EMAIL_BACKEND", "django.core.mail.backends.smtp.EmailBackend")
EMAIL_HOST = env_str("EMAIL_HOST", "localhost")
EMAIL_PORT = env_int("EMAIL_PORT", 25)
EMAIL_HOST_USER = env_str("EMAIL_HOST_USER", "")
EMAIL_HOST_PASSWORD = env_str("EMAIL_HOST_PASSWORD", "")
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", False)
DEFAULT_FROM_EMAIL = env_str("DEFAULT_FROM_EMAIL", "Renergy <no-reply@renergy.example.jp>")
# Absolute base of links in e-mails (activation links): never derived from the request's Host header.
SITE_URL = env_str("SITE_URL", "http://localhost:8000")

# Celery: Redis in production; a file-system broker that needs no server otherwise.
if REDIS_URL:
    CELERY_BROKER_URL = REDIS_URL
    # Must exceed the longest task, or Redis redelivers it while it still runs.
    CELERY_BROKER_TRANSPORT_OPTIONS: dict[str, object] = {
        "visibility_timeout": env_int("CELERY_VISIBILITY_TIMEOUT", 6 * 60 * 60)
    }
else:
    CELERY_BROKER_URL = "filesystem://"
    _celery_dir = VAR_DIR / "celery"
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_celery_dir / "queue"),
        "data_folder_out": str(_celery_dir / "queue"),
        "processed_folder": str(_celery_dir / "processed"),
        # Broadcast (control) messages too, or kombu writes them to ./control in the working directory.
        "control_folder": str(_celery_dir / "control"),
        "store_processed": False,
    }
CELERY_TASK_ACKS_LATE = True
# Sealing runs only on the worker that holds the seal-signing key (docker-compose.yml: "sealer").
CELERY_TASK_ROUTES = {"audit.tasks.seal_pending": {"queue": "audit-seal"}}
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_IGNORE_RESULT = True
CELERY_TIMEZONE = TIME_ZONE
# DatabaseScheduler behind a PostgreSQL leader lock: a second beat waits as a standby (renergy/beat.py).
CELERY_BEAT_SCHEDULER = "renergy.beat:LeaderDatabaseScheduler"
BEAT_LEADER_POLL_SECONDS = float(env_str("BEAT_LEADER_POLL_SECONDS", "2"))
CELERY_BEAT_SCHEDULE: dict[str, dict] = {}
# Accounts: the daily idle suspension (and the 14-day warning).
CELERY_BEAT_SCHEDULE["accounts-idle-suspension"] = {
    "task": "accounts.tasks.idle_accounts_sweep",
    "schedule": crontab(hour=3, minute=15),  # 03:15 JST daily (CELERY_TIMEZONE)
}

# Reliability: the e-mail outbox, stranded work, readiness.
# SMTP must not hold a worker for ever.
EMAIL_TIMEOUT = env_int("EMAIL_TIMEOUT_SECONDS", 10)
# "worker": a Celery task sends after commit (and beat every minute); "inline": this process sends after commit.
OUTBOX_DELIVERY = env_str("OUTBOX_DELIVERY", "worker")
OUTBOX_RETRY_BASE_SECONDS = env_int("OUTBOX_RETRY_BASE_SECONDS", 30)
OUTBOX_RETRY_MAX_SECONDS = env_int("OUTBOX_RETRY_MAX_SECONDS", 3600)
OUTBOX_MAX_ATTEMPTS = env_int("OUTBOX_MAX_ATTEMPTS", 12)
OUTBOX_SENDING_STALE_SECONDS = env_int("OUTBOX_SENDING_STALE_SECONDS", 600)
# Work queued (or started by a worker that died) this long ago without running is queued again.
STRANDED_WORK_AFTER_SECONDS = env_int("STRANDED_WORK_AFTER_SECONDS", 15 * 60)
# /readyz: degraded past these.
READY_OUTBOX_MAX_AGE_SECONDS = env_int("READY_OUTBOX_MAX_AGE_SECONDS", 30 * 60)
READY_SEALING_MAX_LAG_SECONDS = env_int("READY_SEALING_MAX_LAG_SECONDS", 3 * 60 * 60)
# Accounts: the access review's daily sweep (close rounds past their deadline, open due rounds, remind).
CELERY_BEAT_SCHEDULE["accounts-access-review"] = {
    "task": "accounts.tasks.access_review_sweep",
    "schedule": crontab(hour=3, minute=45),  # 03:45 JST daily, after the idle suspension
}
CELERY_BEAT_SCHEDULE["accounts-outbox-deliver"] = {"task": "accounts.tasks.outbox_deliver", "schedule": 60.0}
CELERY_BEAT_SCHEDULE["reliability-requeue-stranded"] = {
    "task": "certifications.tasks.requeue_stranded_work",
    "schedule": 5 * 60.0,
}

# Demo helpers (printing a demo account's TOTP code) exist only where this is on; never in production.
DEMO_MODE = False

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO")},
    "loggers": {
        # Request logs carry full URLs; ours never hold secrets, but keep Django's at WARNING.
        "django.request": {"level": "WARNING"},
        "django.server": {"level": "WARNING"},
        # django-axes logs every attempt with the username (an e-mail address) at INFO; our security events
        # hold those facts already, so its log keeps only warnings.
        "axes": {"level": "WARNING"},
    },
}

# Audit: access records, seals, retention, self-inspection.
# Off only for the unaudited baseline of bench/throughput.py; never in a deployment.
AUDIT_ENABLED = env_bool("AUDIT_ENABLED", True)
# Answer even when the audit store is down, so that orchestration sees the outage (they disclose nothing).
AUDIT_FAIL_OPEN_PATHS = env_list("AUDIT_FAIL_OPEN_PATHS", "/healthz,/healthz/,/readyz,/readyz/")
# URL arguments replaced by "[redacted]" in the recorded path (one-time links carry secrets).
AUDIT_SECRET_URL_KWARGS = frozenset({"token", "uidb64", "key", "code", "secret"})
# Query-string keys whose values are recorded; other keys are recorded without their value.
AUDIT_QUERY_VALUE_KEYS = frozenset(
    {"page", "sort", "order", "area", "source", "scheme", "prefecture", "status", "kind", "format", "year", "month"}
)
AUDIT_RETENTION_YEARS = env_int("AUDIT_RETENTION_YEARS", 5)
AUDIT_ARCHIVE_DIR = env_str("AUDIT_ARCHIVE_DIR", str(VAR_DIR / "audit-archive"))
AUDIT_PARTITIONS_AHEAD = env_int("AUDIT_PARTITIONS_AHEAD", 3)
# Self-inspection thresholds: a key set here replaces that default of audit.inspection.DEFAULTS (no key: all
# defaults), so the agency tunes a threshold without a code change.
AUDIT_INSPECTION: dict[str, float] = {}
# Records are sealed per minute, this long after their minute ends, so that requests still committing (and
# node clock skew) land first. The unsealed window is therefore at most one minute plus this grace.
AUDIT_SEAL_GRACE_SECONDS = env_int("AUDIT_SEAL_GRACE_SECONDS", 90)
# Seal signing (audit.signing): the private key is read by the sealing worker only (queue "audit-seal");
# verifiers need only the public key(s). Old public keys stay in AUDIT_PUBLIC_KEYS_DIR after a rotation.
AUDIT_SIGNING_KEY_FILE = env_str("AUDIT_SIGNING_KEY_FILE", "")
AUDIT_PUBLIC_KEY_FILE = env_str("AUDIT_PUBLIC_KEY_FILE", "")
AUDIT_PUBLIC_KEYS_DIR = env_str("AUDIT_PUBLIC_KEYS_DIR", "")
# Development only: generate a signing key under var/dev-keys/ on first use (production refuses it).
AUDIT_DEV_SIGNING_KEY = False
# The anchor store outside the database (audit.anchors): a write-once volume or a retention-locked bucket.
AUDIT_ANCHOR_DIR = env_str("AUDIT_ANCHOR_DIR", "")
# The agency's addresses that receive the daily digest of the last seal.
AUDIT_ANCHOR_EMAIL = env_list("AUDIT_ANCHOR_EMAIL")
# django-auditlog stores our request id as each model change's correlation id.
AUDITLOG_CID_GETTER = "audit.context.current_request_id"

CELERY_BEAT_SCHEDULE.update(
    {
        # Every minute; the task runs on the "audit-seal" queue, served only by the worker holding the key.
        "audit-seal-every-minute": {
            "task": "audit.tasks.seal_pending",
            "schedule": crontab(),
            "options": {"queue": "audit-seal", "expires": 50},
        },
        "audit-anchor-digest-daily": {
            "task": "audit.tasks.send_anchor_digest",
            "schedule": crontab(hour=9, minute=20),  # JST: the UTC day ended at 09:00
        },
        "audit-partitions-daily": {"task": "audit.tasks.maintain_partitions", "schedule": crontab(hour=3, minute=5)},
        "audit-disclosure-index-every-minute": {
            "task": "audit.tasks.merge_disclosure_index",
            "schedule": crontab(),
            "options": {"expires": 50},
        },
        "audit-verify-daily": {"task": "audit.tasks.verify_recent", "schedule": crontab(hour=4, minute=5)},
        # Monthly inspection of the previous month (JST), and the fiscal-year one on 1 April for April–March.
        "audit-inspection-monthly": {
            "task": "audit.tasks.inspect_previous_month",
            "schedule": crontab(day_of_month=1, hour=2, minute=30),
        },
        "audit-inspection-fiscal-year": {
            "task": "audit.tasks.inspect_previous_fiscal_year",
            "schedule": crontab(month_of_year=4, day_of_month=1, hour=3, minute=30),
        },
    }
)

# Certifications: exports and the bulk-viewing guard.
# Rows in one CSV/XLSX export; past it the person is asked to narrow the search.
FACILITY_EXPORT_MAX_ROWS = env_int("FACILITY_EXPORT_MAX_ROWS", 100_000)
# Bulk-viewing guard, per account per day (Asia/Tokyo); past it access is refused and the account flagged.
FACILITY_DAILY_DETAIL_LIMIT = env_int("FACILITY_DAILY_DETAIL_LIMIT", 500)
# Facilities shown in list pages (50 a page): 10,000 is 200 pages a day; more than that is bulk viewing.
FACILITY_DAILY_LIST_ROW_LIMIT = env_int("FACILITY_DAILY_LIST_ROW_LIMIT", 10_000)
FACILITY_DAILY_EXPORT_ROW_LIMIT = env_int("FACILITY_DAILY_EXPORT_ROW_LIMIT", 300_000)

# Accounts: security keys and passkeys (WebAuthn) through django-otp-webauthn.
# The relying party is this site: keys made for it answer no other host (what makes them phishing-resistant).
# Both default to SITE_URL; http is allowed only on localhost, which browsers treat as a secure context.
OTP_WEBAUTHN_RP_ID = env_str("WEBAUTHN_RP_ID", urlsplit(SITE_URL).hostname or "localhost")
OTP_WEBAUTHN_ALLOWED_ORIGINS = env_list(
    "WEBAUTHN_ORIGINS", f"{urlsplit(SITE_URL).scheme}://{urlsplit(SITE_URL).netloc}"
)
OTP_WEBAUTHN_RP_NAME = env_str("WEBAUTHN_RP_NAME", "再エネ業務管理システム")
# A key is a second factor after the password here, never a way in on its own.
OTP_WEBAUTHN_ALLOW_PASSWORDLESS_LOGIN = False
OTP_WEBAUTHN_HELPER_CLASS = "accounts.webauthn.WebAuthnHelper"
# Long enough for someone who has never used a key to find and touch it (WCAG 2.2 "enough time").
OTP_WEBAUTHN_TIMEOUT_SECONDS = env_int("WEBAUTHN_TIMEOUT_SECONDS", 180)

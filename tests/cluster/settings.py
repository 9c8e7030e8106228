"""Settings of the cluster harness's nodes: production, with e-mails written to files the tests read.

Everything else (secret key, hosts, proxies, database, Redis) comes from the environment the harness sets,
as in a deployment.
"""

from __future__ import annotations

from renergy.settings.production import *  # noqa: F403
from renergy.settings.production import env_str

EMAIL_BACKEND = "django.core.mail.backends.filebased.EmailBackend"
EMAIL_FILE_PATH = env_str("CLUSTER_MAIL_DIR")

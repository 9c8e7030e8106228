"""The two database connections: the runtime role (`default`) and the owner of the tables (`owner`).

PostgreSQL is the only engine. Web, worker and beat connect as the runtime role (DATABASE_URL), which may
SELECT and INSERT on the audit trail but never change, remove or restructure it (audit/roles.py grants
exactly that). The owner (DATABASE_MIGRATE_URL) runs `migrate --database owner`, `db_roles`, and the
worker's partition retention; without it, `owner` is the runtime connection itself, which production
refuses (audit/checks.py).
"""

from __future__ import annotations

from typing import Any

import dj_database_url

OWNER_ALIAS = "owner"
ENGINE = "django.db.backends.postgresql"


def _parse(url: str, *, conn_max_age: int) -> dict[str, Any]:
    config = dj_database_url.parse(url, conn_max_age=conn_max_age, conn_health_checks=conn_max_age > 0)
    if config["ENGINE"] != ENGINE:
        from django.core.exceptions import ImproperlyConfigured

        raise ImproperlyConfigured(f"PostgreSQL is the only supported database (got {config['ENGINE']}).")
    return config


def database_settings(runtime_url: str, owner_url: str, *, conn_max_age: int) -> dict[str, dict[str, Any]]:
    return {
        "default": _parse(runtime_url, conn_max_age=conn_max_age),
        # Used for DDL only (migrations, retention): no persistent connection is kept for it.
        OWNER_ALIAS: _parse(owner_url or runtime_url, conn_max_age=0),
    }

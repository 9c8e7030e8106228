"""Deploy check: the application must not connect as a role that could rewrite the audit trail."""

from __future__ import annotations

from typing import Any

from django.core.checks import CheckMessage, Error, Tags, register
from django.db import DatabaseError, connections


@register(Tags.security, deploy=True)
def runtime_role_is_least_privilege(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    from audit.roles import runtime_privilege_problems

    try:
        problems = runtime_privilege_problems(connections["default"])
    except DatabaseError as error:
        return [Error(f"could not inspect the runtime database role: {error}", id="audit.E010")]
    return [
        Error(
            f"DATABASE_URL connects as a role that {problem}.",
            hint="Connect web, worker and beat as the runtime role created by `manage.py db_roles`; keep the "
            "owner for DATABASE_MIGRATE_URL.",
            id="audit.E011",
        )
        for problem in problems
    ]

"""The suite's flush (TransactionTestCase and live_server tests end with one): Django's, run as the owner.

The runtime role may not TRUNCATE, and the audit tables refuse TRUNCATE through triggers; as the owner with
session_replication_role = replica (superuser in the suite), the triggers stay quiet for this one statement.
Content types, permissions and the migration history are kept: only migrations write them.
"""

from __future__ import annotations

from typing import Any

from django.core.management.commands import flush
from django.db import connections

from renergy.databases import OWNER_ALIAS
from tests.database import owner_connect

KEPT = frozenset({"django_migrations", "django_content_type", "auth_permission"})


class Command(flush.Command):
    def handle(self, **options: Any) -> None:
        if options["database"] == OWNER_ALIAS:
            return  # the same database as `default`, which is flushed already
        connection = connections[options["database"]]
        tables = [t for t in connection.introspection.django_table_names(only_existing=True) if t not in KEPT]
        statements = connection.ops.sql_flush(
            self.style,
            tables,
            reset_sequences=options["reset_sequences"],
            allow_cascade=options["allow_cascade"],
        )
        if not statements:
            return
        with owner_connect() as owner, owner.transaction(), owner.cursor() as cursor:
            cursor.execute("SET LOCAL session_replication_role = replica")
            for statement in statements:
                cursor.execute(statement)

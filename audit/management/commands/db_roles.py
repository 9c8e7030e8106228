"""manage.py db_roles [--print-sql]: create the runtime role and grant it exactly what it needs (idempotent).

Connects as the owner (DATABASE_MIGRATE_URL, the `owner` alias) and grants to the role named in
DATABASE_URL, with that URL's password. Run it after every `migrate --database owner`. With --print-sql
nothing is changed: the statements are printed for a DBA to review and run as the owner.
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import connections

from audit import roles
from renergy.databases import OWNER_ALIAS


class Command(BaseCommand):
    help = "Create the runtime database role (DATABASE_URL) and grant it least privilege, as the owner."
    requires_system_checks: list[str] = []

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--print-sql", action="store_true", help="print the statements instead of running them")

    def handle(self, *args: Any, print_sql: bool, **options: Any) -> None:
        runtime = connections["default"].settings_dict
        owner_connection = connections[OWNER_ALIAS]
        owner = roles.current_role(owner_connection)
        if owner == runtime["USER"]:
            raise CommandError(
                f"DATABASE_URL and DATABASE_MIGRATE_URL both connect as {owner!r}: "
                "give the application its own role in DATABASE_URL."
            )
        if print_sql:
            raw = owner_connection.connection
            statements = roles.role_statements(runtime=runtime["USER"], password=None)
            statements += roles.grant_statements(owner_connection, runtime=runtime["USER"], owner=owner)
            self.stdout.write(f"-- run as {owner}; then set the password: ALTER ROLE {runtime['USER']} PASSWORD '…';")
            for statement in statements:
                self.stdout.write(statement.as_string(raw) + ";")
            return
        executed = roles.roles_apply(owner_connection, runtime=runtime["USER"], password=runtime["PASSWORD"] or None)
        self.stdout.write(f"db_roles: {runtime['USER']} granted by {owner} ({len(executed)} statements)")

"""The suite's two database roles: the owner creates, migrates and empties the test database; the code
under test runs as the runtime role (DATABASE_URL's role in production), granted by audit.roles. Its
connections log in as the superuser and `SET ROLE` at once (renergy/settings/test.py), so `as_superuser`
can lift the role for an attack inside the test's own transaction.

Test-only: nothing here is importable from the application (the `tests` app exists in test settings only).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager, suppress

import psycopg
from django.conf import settings
from django.db import DatabaseError, connections

from audit import roles
from renergy.databases import OWNER_ALIAS


@contextmanager
def test_databases_as_owner() -> Iterator[None]:
    """Django creates and drops a test database through its first alias, which is always `default`: let
    `default` act as the owner for that, and switch it back to the runtime role before any test connects."""
    options = connections["default"].settings_dict["OPTIONS"]
    saved = options.pop("options")
    connections["default"].close()
    try:
        yield
    finally:
        connections["default"].close()
        options["options"] = saved


@contextmanager
def as_superuser(using: str = "default") -> Iterator[None]:
    """What an attacker holding superuser rights does, on the application's connection and transaction."""
    with connections[using].cursor() as cursor:
        cursor.execute("SET ROLE NONE")
        try:
            yield
        finally:
            cursor.execute(f'SET ROLE "{settings.TEST_RUNTIME_ROLE}"')


def runtime_role_grant() -> None:
    owner = connections[OWNER_ALIAS]
    try:
        roles.roles_apply(owner, runtime=settings.TEST_RUNTIME_ROLE, password=None)
    except DatabaseError:
        # Two xdist workers creating the role at once: the loser grants on the second try.
        roles.roles_apply(owner, runtime=settings.TEST_RUNTIME_ROLE, password=None)
    finally:
        owner.close()


def runtime_role_drop() -> None:
    """Drop the role unless another test database (a parallel worker, a kept database) still grants to it."""
    with connections[OWNER_ALIAS]._nodb_cursor() as cursor, suppress(DatabaseError):
        cursor.execute(f'DROP ROLE IF EXISTS "{settings.TEST_RUNTIME_ROLE}"')


def owner_connect() -> psycopg.Connection:
    """A connection of the owner outside Django's, which a test without the `owner` alias may not use."""
    return psycopg.connect(**connections[OWNER_ALIAS].get_connection_params(), autocommit=True)

"""The one write path of access records and security events: a single INSERT, committed before the
caller goes on (autocommit outside any transaction; a savepoint inside one, so a failed write never
poisons the caller's transaction). A failure raises AuditUnavailable: callers fail closed.

The record's hash is computed by the database as the row is inserted (audit.hashing, migration 0002).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from django.db import DatabaseError, connection, transaction

from audit.disclosure import AuditUnavailable
from audit.hashing import ACCESS_FIELDS, EVENT_FIELDS
from audit.partitions import ensure_partition

logger = logging.getLogger("audit")

_ACCESS_COLUMNS = ACCESS_FIELDS
_EVENT_COLUMNS = EVENT_FIELDS
_JSON_COLUMNS = frozenset({"facility_ids", "fields", "data"})


def _sql(table: str, columns: tuple[str, ...]) -> str:
    # Table and column names are constants of this module; values always go as parameters.
    return f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join(['%s'] * len(columns))})"  # noqa: S608


_ACCESS_SQL = _sql("audit_accessrecord", _ACCESS_COLUMNS)
_EVENT_SQL = _sql("audit_securityevent", _EVENT_COLUMNS)


def _params(values: Mapping[str, Any], columns: tuple[str, ...]) -> list[Any]:
    params = []
    for column in columns:
        value = values.get(column)
        if column in _JSON_COLUMNS and value is not None:
            value = json.dumps(value, ensure_ascii=False)
        elif column == "request_id" and value is not None:
            value = str(value)
        params.append(value)
    return params


def _is_missing_partition(error: DatabaseError) -> bool:
    return "no partition of relation" in str(error)


def _execute(sql: str, params: list[Any], at: datetime) -> None:
    for attempt in range(2):
        try:
            if connection.in_atomic_block:
                with transaction.atomic(), connection.cursor() as cursor:
                    cursor.execute(sql, params)
            else:
                with connection.cursor() as cursor:
                    cursor.execute(sql, params)
            return
        except DatabaseError as error:
            if attempt == 0 and _is_missing_partition(error):
                # The scheduled job creates partitions ahead; this covers a beat that did not run.
                try:
                    ensure_partition(at.date())
                except DatabaseError:
                    logger.exception("audit: could not create the missing partition")
                    raise AuditUnavailable("audit partition missing") from error
                continue
            logger.exception("audit: the record could not be written")
            raise AuditUnavailable("audit record not written") from error


def write_access(values: dict[str, Any]) -> None:
    _execute(_ACCESS_SQL, _params(values, _ACCESS_COLUMNS), values["at"])


def write_event(values: dict[str, Any]) -> None:
    _execute(_EVENT_SQL, _params(values, _EVENT_COLUMNS), values["at"])

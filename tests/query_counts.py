"""Query-count baselines for views: the queries one request runs, grouped by the table each one is about.

A baseline reads as what the request needs ({"accounts_user": 1, "certifications_facility": 2, ...}), so a
change that adds a query per row, or a lookup nobody needed, fails with the table that grew named.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable
from typing import Any

from django.db import connection
from django.test.utils import CaptureQueriesContext

# Every signed-in request before its view runs: the session (database sessions), the person and organisation,
# the TOTP device, the current terms (the access gate and django-otp); the context processors add nothing.
SIGNED_IN = {
    "django_session": 1,
    "accounts_user": 1,
    "accounts_organisation": 1,
    "otp_totp_totpdevice": 1,
    "accounts_termsversion": 1,
}
# Every request, signed in or not: its access record (audit.middleware).
AUDITED = {"audit_accessrecord": 1}

_TABLE = re.compile(r'(?:FROM|INTO|UPDATE)\s+"?([a-z_]+)"?', re.IGNORECASE)


# Transaction control differs between a test (everything inside the test's transaction: savepoints) and
# production (autocommit: SET LOCAL in the usage counter's own transaction); it is not what a baseline is about.
_CONTROL = ("SAVEPOINT", "RELEASE SAVEPOINT", "ROLLBACK TO SAVEPOINT", "SET ")


def _table(sql: str) -> str:
    if sql.startswith("RESET") or "set_config(" in sql:
        return "session settings"
    match = _TABLE.search(sql)
    return match.group(1) if match else sql.split()[0]


def queries_by_table(action: Callable[[], Any]) -> tuple[Counter[str], Any]:
    """Run `action` (a request; a streamed response is consumed by the action) and count its queries per table."""
    with CaptureQueriesContext(connection) as captured:
        result = action()
    queries = (query["sql"] for query in captured.captured_queries)
    return Counter(_table(sql) for sql in queries if not sql.startswith(_CONTROL)), result


def assert_query_baseline(action: Callable[[], Any], baseline: dict[str, int]) -> Any:
    counts, result = queries_by_table(action)
    assert dict(counts) == baseline, f"queries per table changed: {dict(counts)} (baseline {baseline})"
    return result

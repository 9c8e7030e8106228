"""What facility data a request disclosed. PLACEHOLDER interface agreed between apps; the audit
work gives it storage (written with the request's access record, fail closed).
"""

from __future__ import annotations

from collections.abc import Sequence

from django.http import HttpRequest


class AuditUnavailable(Exception):
    """The access record could not be written: the data must not be served."""


def disclose(
    request: HttpRequest,
    *,
    facility_ids: Sequence[str],
    fields: Sequence[str],
    kind: str,
    immediate: bool = False,
) -> None:
    """Note that `facility_ids` were disclosed with `fields` (policy field names) for `kind`
    ("list", "detail", "export"). With immediate=True (streamed exports, whose rows leave after the
    view returned) it is committed now and raises AuditUnavailable on failure."""
    return None

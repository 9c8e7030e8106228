"""What facility data a request disclosed, written with the request's access record (fail closed).

Views call `disclose()` with the IDs and the policy field names they are about to send; the access
record middleware writes them in the same INSERT as the request's record, before the response leaves.
Streamed exports, whose rows leave after the view returned, pass immediate=True for each chunk: the
first commits the request's record (if the middleware has not yet), each later one commits a
continuation record (same request id, `part` 1, 2, …) with that chunk's IDs, before the chunk leaves.
AuditUnavailable stops the export at that chunk.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from django.http import HttpRequest

_ATTR = "_renergy_disclosure"


class AuditUnavailable(Exception):
    """The access record could not be written: the data must not be served."""


@dataclass
class Disclosure:
    kind: str
    facility_ids: list[str] = field(default_factory=list)
    fields: list[str] = field(default_factory=list)
    recorded: int = 0  # how many of facility_ids are already in committed records
    parts: int = 0  # continuation records written so far

    def add(self, facility_ids: Sequence[str], fields: Sequence[str]) -> None:
        seen = set(self.facility_ids)
        for facility_id in map(str, facility_ids):
            if facility_id not in seen:
                seen.add(facility_id)
                self.facility_ids.append(facility_id)
        self.fields.extend(f for f in fields if f not in self.fields)


def pending(request: HttpRequest) -> Disclosure | None:
    return getattr(request, _ATTR, None)


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
    current = pending(request)
    if current is None:
        current = Disclosure(kind=kind)
        setattr(request, _ATTR, current)
    current.add(facility_ids, fields)
    if immediate:
        from audit.middleware import write_request_record  # the middleware owns the record's shape

        write_request_record(request, status=200)

"""Plant access records at chosen times, the way the middleware would have written them."""

from __future__ import annotations

import uuid
from datetime import datetime

from accounts.models import User
from audit.models import AccessRecord
from audit.partitions import ensure_partitions


def plant(
    user: User | None,
    at: datetime,
    *,
    ip: str = "198.51.100.10",
    path: str = "/facilities/",
    facility_ids: list[str] | None = None,
    kind: str = "list",
    status: int = 200,
) -> AccessRecord:
    values = {
        "at": at,
        "request_id": str(uuid.uuid4()),
        "user_id": user.pk if user else None,
        "organisation_id": user.organisation_id if user else None,
        "role": user.organisation.kind if user else "",
        "session_hash": "",
        "ip": ip,
        "user_agent": "Mozilla/5.0",
        "method": "GET",
        "path": path,
        "query": "",
        "route": "certifications:list",
        "status": status,
        "duration_ms": 30,
        "disclosure_kind": kind if facility_ids else "",
        "facility_ids": facility_ids,
        "fields": ["facility_id", "capacity_kw"] if facility_ids else None,
        "row_count": len(facility_ids or []),
        "part": 0,
    }
    return AccessRecord(**values)  # the database computes record_hash on INSERT


def plant_all(records: list[AccessRecord]) -> None:
    if records:
        ensure_partitions(min(r.at for r in records).date(), max(r.at for r in records).date())
    AccessRecord.objects.bulk_create(records, batch_size=2000)

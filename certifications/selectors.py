"""Reading facility data for a person: the only way views, exports and any API get it.

Rows come from `Facility.objects.visible_to(user).values(*allowed columns)`, so a field outside the
policy is never selected from the database and cannot reach a template, a file or a log.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from django.http import Http404, HttpRequest

from audit.events import record_event
from certifications import policy
from certifications.models import FACILITY_ID_PATTERN, Facility, FacilitySite

# Anything else cannot be a facility ID; such paths are answered exactly like an unknown ID.


@dataclass
class VisibleFacility:
    """One facility as the person may see it: `values` holds allowed fields only."""

    facility_id: str
    fields: tuple[str, ...]
    values: dict[str, Any]
    sites: list[dict[str, Any]] = field(default_factory=list)


def get_visible_facility_or_404(user: Any, facility_id: str, *, request: HttpRequest | None = None) -> VisibleFacility:
    """The facility with its allowed fields, or Http404 — the same answer for an unknown ID and for one
    outside the person's scope, so guessing IDs tells nothing. Every miss is recorded."""
    fields = policy.allowed_fields(user)
    columns = policy.allowed_columns(user)
    row = None
    if fields and FACILITY_ID_PATTERN.match(facility_id):
        found = Facility.objects.visible_to(user).filter(facility_id=facility_id)
        row = next(iter(policy.visible_rows(found, user, ("pk", *columns), limit=1)), None)
    if row is None:
        record_event(
            action="facility.out_of_scope",
            request=request,
            actor=user if getattr(user, "is_authenticated", False) else None,
            data={
                "facility_id": facility_id[:40],
                "exists": bool(FACILITY_ID_PATTERN.match(facility_id))
                and Facility.objects.filter(facility_id=facility_id).exists(),
            },
        )
        raise Http404
    pk = row.pop("pk")
    sites: list[dict[str, Any]] = []
    if "sites" in fields:
        sites = [
            dict(site)
            for site in FacilitySite.objects.filter(facility_id=pk)
            .order_by("position")
            .values("position", "address", "prefecture_code", "municipality_code")
        ]
    return VisibleFacility(facility_id=facility_id, fields=fields, values=row, sites=sites)

"""Accounting of disclosures for certified operators: which organisations (name and kind, never the staff)
viewed or exported which of the operator's own facilities, and which fields, per month (JST).

Computed in one SQL statement from the access records, which hold each request's disclosed facility IDs and
policy field names (audit.disclosure). The operator's own facilities come from the policy's chokepoint
(`Facility.objects.visible_to`, a single one through `get_visible_facility_or_404`), so another operator's
facility is never part of the question; the records are then found with the GIN index on `facility_ids`
(`?|`: does the record name any of these IDs), bounded by the BRIN index on `at`.

The operator's own organisation is left out: this is the account of what went to others (its own people's use
is in the officer's organisation log).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from django.db import connection, transaction
from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _

from accounts.models import OrganisationKind, User
from certifications.models import Facility

KIND_LABELS: dict[str, Promise] = {
    "list": _("一覧・検索"),
    "detail": _("詳細"),
    "export": _("出力（CSV・Excel）"),
}
RELATED_FIELD_LABELS: dict[str, Promise] = {"sites": _("設置場所（複数の地番）")}

_SQL = """
WITH hits AS (
    SELECT (date_trunc('month', a.at AT TIME ZONE 'Asia/Tokyo'))::date AS month,
           a.organisation_id, a.disclosure_kind, f.fid, a.request_id, a.fields
    FROM audit_accessrecord a
    CROSS JOIN LATERAL jsonb_array_elements_text(a.facility_ids) AS f(fid)
    WHERE a.at >= %(start)s AND a.at < %(end)s
      AND a.facility_ids ?| %(ids)s
      AND f.fid = ANY(%(ids)s)
      AND a.organisation_id IS NOT NULL AND a.organisation_id <> %(own)s
)
SELECT h.month, o.name, o.kind, h.fid, h.disclosure_kind, count(DISTINCT h.request_id) AS requests,
       array_remove(array_agg(DISTINCT x.name ORDER BY x.name), NULL) AS fields
FROM hits h
JOIN accounts_organisation o ON o.id = h.organisation_id
LEFT JOIN LATERAL jsonb_array_elements_text(coalesce(h.fields, '[]'::jsonb)) AS x(name) ON true
GROUP BY h.month, o.name, o.kind, h.fid, h.disclosure_kind
ORDER BY h.month DESC, o.name, h.fid, h.disclosure_kind
"""


@dataclass
class DisclosureLine:
    month: date
    organisation: str
    organisation_kind: str
    facility_id: str
    kind: str
    requests: int
    fields: list[str] = field(default_factory=list)


def field_label(name: str) -> str:
    if name in RELATED_FIELD_LABELS:
        return str(RELATED_FIELD_LABELS[name])
    try:
        model_field = Facility._meta.get_field(name)
    except Exception:  # a name the policy no longer holds: shown as recorded
        return name
    return str(getattr(model_field, "verbose_name", name))


def operator_disclosures(
    *, user: User, start: datetime, end: datetime, facility_ids: list[str] | None = None
) -> list[DisclosureLine]:
    """The disclosures of the person's own organisation's facilities in [start, end). `facility_ids` narrows
    to facilities already checked through the policy (the view passes only what get_visible_facility_or_404
    returned); anything outside the person's scope is dropped again here."""
    own = Facility.objects.visible_to(user)
    if facility_ids is not None:
        own = own.filter(facility_id__in=facility_ids)
    ids = list(own.values_list("facility_id", flat=True))
    if not ids:
        return []
    params: dict[str, Any] = {"start": start, "end": end, "ids": ids, "own": user.organisation_id}
    with transaction.atomic(), connection.cursor() as cursor:
        # Unnesting the ID arrays makes the planner expect millions of rows and compile the query (JIT), which
        # took seconds at 1M records for a query whose work is a few hundred milliseconds (bench/disclosures.py).
        cursor.execute("SET LOCAL jit = off")
        cursor.execute(_SQL, params)
        rows = cursor.fetchall()
    return [
        DisclosureLine(
            month=month,
            organisation=name,
            organisation_kind=str(OrganisationKind(kind).label) if kind in OrganisationKind.values else kind,
            facility_id=fid,
            kind=str(KIND_LABELS.get(disclosure_kind, disclosure_kind)),
            requests=requests,
            fields=[field_label(name) for name in fields],
        )
        for month, name, kind, fid, disclosure_kind, requests, fields in rows
    ]

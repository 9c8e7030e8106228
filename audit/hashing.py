"""Canonical content and hash of each audit record, and the digest that chains a sealed period.

The record hash covers every column except `id` (assigned by the database) and the hash itself; the
seal covers the ids. Values are normalised (UTC timestamps with microseconds, canonical UUID and IP
text) so a hash computed before the INSERT equals the one recomputed from the stored row.
"""

from __future__ import annotations

import hashlib
import ipaddress
import json
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

ACCESS_FIELDS = (
    "at", "request_id", "user_id", "organisation_id", "role", "session_hash", "ip", "user_agent", "method",
    "path", "query", "route", "status", "duration_ms", "disclosure_kind", "facility_ids", "fields", "row_count", "part",
)  # fmt: skip
EVENT_FIELDS = ("at", "action", "request_id", "actor_id", "target_user_id", "organisation_id", "ip", "data")

GENESIS = "0" * 64


def _norm(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat(timespec="microseconds")
    if isinstance(value, UUID):
        return str(value)
    if isinstance(value, ipaddress.IPv4Address | ipaddress.IPv6Address):
        return str(value)
    return value


def _canonical_ip(value: Any) -> str | None:
    if value in (None, ""):
        return None
    return str(ipaddress.ip_address(str(value)))


def record_hash(values: Mapping[str, Any], field_names: tuple[str, ...]) -> str:
    row = {name: _norm(values.get(name)) for name in field_names}
    if "request_id" in row and row["request_id"] is not None:
        row["request_id"] = str(UUID(str(row["request_id"])))
    row["ip"] = _canonical_ip(row.get("ip"))
    text = json.dumps([row[name] for name in field_names], ensure_ascii=False, separators=(",", ":"), sort_keys=True)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def access_hash(values: Mapping[str, Any]) -> str:
    return record_hash(values, ACCESS_FIELDS)


def event_hash(values: Mapping[str, Any]) -> str:
    return record_hash(values, EVENT_FIELDS)


def period_digest(previous: str, rows: Iterable[tuple[int, str]]) -> str:
    """sha256 over the previous period's digest and each (id, record hash) in id order."""
    h = hashlib.sha256(previous.encode("ascii"))
    for record_id, digest in rows:
        h.update(f"\n{record_id}:{digest}".encode("ascii"))
    return h.hexdigest()

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


def _default(value: Any) -> Any:
    """json's hook for the few non-JSON types a row holds (called by the C encoder only for those)."""
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat(timespec="microseconds")
    if isinstance(value, UUID | ipaddress.IPv4Address | ipaddress.IPv6Address):
        return str(value)
    raise TypeError(f"not hashable audit content: {type(value).__name__}")


def _canonical_ip(value: Any) -> str | None:
    if value in (None, ""):
        return None
    text = str(value)
    # IPv4 text is already canonical (renergy.client_ip and PostgreSQL agree); IPv6 has several spellings.
    return str(ipaddress.ip_address(text)) if ":" in text else text


def canonical_text(values: Mapping[str, Any], field_names: tuple[str, ...]) -> str:
    row = [values.get(name) for name in field_names]
    row[field_names.index("ip")] = _canonical_ip(values.get("ip"))
    request_id = values.get("request_id")
    if request_id is not None:
        row[field_names.index("request_id")] = str(request_id).lower()
    return json.dumps(row, ensure_ascii=False, separators=(",", ":"), sort_keys=True, default=_default)


def record_hash(values: Mapping[str, Any], field_names: tuple[str, ...]) -> str:
    return hashlib.sha256(canonical_text(values, field_names).encode("utf-8")).hexdigest()


def event_hash_sql(values: Mapping[str, Any], varying: Mapping[str, str]) -> tuple[str, dict[str, str]]:
    """The record hash as a PostgreSQL expression, for bulk INSERT … SELECT of events that differ only in
    integer columns (`varying`: column → SQL expression, NULL allowed). The constant parts of the canonical
    text come from canonical_text itself, so the database computes exactly the hash record_hash would.
    Returns the expression and its named parameters (hash_part_0, …)."""
    sentinels = {name: -(7_000_000_000_000 + index) for index, name in enumerate(varying)}
    text = canonical_text({**values, **sentinels}, EVENT_FIELDS)
    pieces: list[str] = []
    params: dict[str, str] = {}
    for index, (name, expression) in enumerate(varying.items()):
        before, text = text.split(str(sentinels[name]), 1)
        pieces += [f"%(hash_part_{index})s", f"COALESCE(({expression})::text, 'null')"]
        params[f"hash_part_{index}"] = before
    pieces.append("%(hash_part_end)s")
    params["hash_part_end"] = text
    return f"encode(sha256(convert_to({' || '.join(pieces)}, 'UTF8')), 'hex')", params


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

"""Canonical content and hash of each audit record, and the digest that chains a sealed period.

The database computes every record hash (a BEFORE INSERT trigger, audit migrations) with the SQL expression
built here, and verification recomputes it with the same expression, so a record written by any path
(audit.writer, COPY, the ORM) verifies, and sealing and verification run inside PostgreSQL at its speed.

A record's canonical text is the JSON array of each column's PostgreSQL text form, in a fixed order
(the text of `json_build_array(...)`: `["a", "b"]`, NULL as the empty string; no audit column can hold both
NULL and '' so nothing is lost). `id` is not in it: the seal covers the ids. The exported bundle holds
exactly these texts (audit.export), so the standalone verifier (tools/verify_audit_bundle.py) recomputes
every hash with Python alone: `json.dumps(texts, ensure_ascii=False, separators=(", ", ":"))` escapes
exactly as PostgreSQL's JSON output does (the suite checks it on awkward strings).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime

ACCESS_FIELDS = (
    "at", "request_id", "user_id", "organisation_id", "role", "session_hash", "ip", "user_agent", "method",
    "path", "query", "route", "status", "duration_ms", "disclosure_kind", "facility_ids", "fields", "row_count", "part",
)  # fmt: skip
EVENT_FIELDS = ("at", "action", "request_id", "actor_id", "target_user_id", "organisation_id", "ip", "data")

GENESIS = "0" * 64
SEAL_FORMAT = "renergy-audit-seal/v1"

_AT_TEXT = """to_char({p}at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')"""


def field_text_sql(name: str, prefix: str = "") -> str:
    """The text form of one column as it enters the hash (and the bundle's CSV)."""
    if name == "at":
        return _AT_TEXT.format(p=prefix)
    return f"{prefix}{name}::text"


def canonical_sql(fields: Sequence[str], prefix: str = "") -> str:
    """The text `json_build_array(texts...)::text` gives, for about four fifths of its cost: json_build_array
    looks up the type of each argument on every row, to_jsonb of one text[] once per row. jsonb prints an array
    as json does (`["a", "b"]`, ", " between elements) and escapes each string with the same function, so the
    text, and the hash, are the same (the bundle tests check awkward strings against Python's json)."""
    texts = ", ".join(f"coalesce({field_text_sql(name, prefix)}, '')" for name in fields)
    return f"to_jsonb(ARRAY[{texts}])::text"


def hash_sql(fields: Sequence[str], prefix: str = "") -> str:
    """SQL for the hex sha256 of a row's canonical text (PostgreSQL's built-in sha256, no extension)."""
    return f"encode(sha256(convert_to({canonical_sql(fields, prefix)}, 'UTF8')), 'hex')"


def canonical_text(texts: Iterable[str]) -> str:
    return json.dumps(list(texts), ensure_ascii=False, separators=(", ", ":"))


def record_hash_of_texts(texts: Iterable[str]) -> str:
    return hashlib.sha256(canonical_text(texts).encode("utf-8")).hexdigest()


def content_digest(pairs: Iterable[tuple[int, str]]) -> str:
    """sha256 of the period's "id:hash" lines in id order (what SQL's string_agg computes in sealing)."""
    return hashlib.sha256("\n".join(f"{record_id}:{digest}" for record_id, digest in pairs).encode("ascii")).hexdigest()


def bound_text(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat()


def seal_digest(
    *, previous: str, stream: str, period_start: datetime, period_end: datetime, record_count: int, content: str
) -> str:
    """The chained digest: the previous seal's digest, this period's bounds and count, and its content."""
    text = "\n".join([previous, stream, bound_text(period_start), bound_text(period_end), str(record_count), content])
    return hashlib.sha256(text.encode("ascii")).hexdigest()


def signed_message(digest: str) -> bytes:
    # The digest already covers the chain, the bounds, the count and the content.
    return f"{SEAL_FORMAT}\n{digest}".encode("ascii")

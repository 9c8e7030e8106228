"""The bundle for the external auditor: the sealed records, the signed seals, the public keys and a manifest.

    DIR/access_records.csv     id, each hashed column as the text the hash covers, record_hash (COPY, by time)
    DIR/security_events.csv    the same for security events
    DIR/seals.jsonl            every seal overlapping the period, with its signature, key id and contents
    DIR/public_keys/<id>.pem   every public key a seal may have been signed with
    DIR/manifest.json          what the bundle covers and the sha256 of every file

Only records inside the exported seals are written, so every sealed minute is complete; records not yet
sealed are counted in the manifest. tools/verify_audit_bundle.py checks a bundle with Python and
`cryptography` alone. The CSV files are evidence, not spreadsheets: their values are exactly what was
hashed (no neutralising of leading "=" etc.), so open them in a text tool, not in Excel.
"""

from __future__ import annotations

import hashlib
import json
from datetime import datetime
from pathlib import Path
from typing import Any

from django.db import connection
from django.utils import timezone

from audit.anchors import anchor_entry
from audit.hashing import ACCESS_FIELDS, EVENT_FIELDS, SEAL_FORMAT, bound_text, field_text_sql
from audit.models import AuditSeal, SealStream
from audit.signing import public_keys, public_pem

BUNDLE_FORMAT = "renergy-audit-bundle/v1"
_FILES = {SealStream.ACCESS: "access_records.csv", SealStream.EVENT: "security_events.csv"}
_TABLES = {
    SealStream.ACCESS: ("audit_accessrecord", ACCESS_FIELDS),
    SealStream.EVENT: ("audit_securityevent", EVENT_FIELDS),
}


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as handle:
        while block := handle.read(1 << 20):
            h.update(block)
    return h.hexdigest()


def _copy_records(stream: SealStream, start: datetime, end: datetime, target: Path) -> None:
    from psycopg import sql

    table, fields = _TABLES[stream]
    columns = ["id", *(f"{field_text_sql(name)} AS {name}" for name in fields), "record_hash"]
    statement = sql.SQL(
        "COPY (SELECT {} FROM {} WHERE at >= {} AND at < {} ORDER BY at, id) TO STDOUT WITH (FORMAT csv, HEADER true)"
    ).format(sql.SQL(", ".join(columns)), sql.Identifier(table), sql.Literal(start), sql.Literal(end))
    connection.ensure_connection()
    with target.open("wb") as out, connection.connection.cursor() as cursor, cursor.copy(statement) as copy:
        for data in copy:
            out.write(data)


def bundle_write(*, start: datetime, end: datetime, directory: Path) -> dict[str, Any]:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "public_keys").mkdir(exist_ok=True)
    covered: dict[str, Any] = {}
    with (directory / "seals.jsonl").open("w", encoding="utf-8") as out:
        for stream in _TABLES:
            seals = AuditSeal.objects.filter(stream=stream, period_end__gt=start, period_start__lt=end).order_by(
                "period_start"
            )
            first = last = None
            count = records = 0
            for seal in seals.iterator(chunk_size=2000):
                first = first or seal.period_start
                last = seal.period_end
                count += 1
                records += seal.record_count
                entry = {**anchor_entry(seal), "contents": seal.contents}
                out.write(json.dumps(entry, sort_keys=True) + "\n")
            if first is not None and last is not None:
                _copy_records(stream, first, last, directory / _FILES[stream])
            else:
                (directory / _FILES[stream]).write_text("")
            table = _TABLES[stream][0]
            with connection.cursor() as cursor:
                cursor.execute(
                    f"SELECT count(*) FROM {table} WHERE at >= %s AND at < %s",  # noqa: S608 - constant table name
                    [last or start, end],
                )
                unsealed = cursor.fetchone()[0]
            covered[stream] = {
                "seals": count,
                "records": records,
                "sealed_from": bound_text(first) if first else None,
                "sealed_to": bound_text(last) if last else None,
                "records_not_yet_sealed": unsealed,
            }
    for key_id, key in public_keys().items():
        (directory / "public_keys" / f"{key_id}.pem").write_bytes(public_pem(key))
    files = sorted(p for p in directory.rglob("*") if p.is_file() and p.name != "manifest.json")
    manifest = {
        "format": BUNDLE_FORMAT,
        "seal_format": SEAL_FORMAT,
        "created_at": bound_text(timezone.now()),
        "period_from": bound_text(start),
        "period_to": bound_text(end),
        "streams": covered,
        "files": {str(p.relative_to(directory)): {"sha256": _sha256(p), "bytes": p.stat().st_size} for p in files},
    }
    (directory / "manifest.json").write_text(json.dumps(manifest, indent=2, ensure_ascii=False), encoding="utf-8")
    return manifest

"""Tamper evidence: seal each minute's records into a signed hash chain, anchor every seal outside the
database, and verify a period against seals, signatures and anchors.

Writers never wait on each other: the database hashes each record as it is inserted (audit.hashing).
Every minute, once the minute is `AUDIT_SEAL_GRACE_SECONDS` old, the sealing worker reads the minute's
(id, hash) pairs in one SQL aggregate, chains the digest to the previous seal, signs it with the key
only it holds (audit.signing) and appends the seal to the anchor store (audit.anchors) before the seal
commits. So a record is unprotected for at most a minute plus the grace. A seal also keeps which ids
existed ([first, last] runs) and the first 8 hex digits of each record's hash, so verification names
the record that was altered, inserted or removed. Stretches without records are sealed as one period
so the chain has no holes.

Verification recomputes every record's hash and each minute's digest in SQL (one pass per day of
records), checks the chain, every signature against the public keys and every seal against its
anchor; only a minute that does not match is read record by record to name what changed.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from audit import anchors, signing
from audit.hashing import ACCESS_FIELDS, EVENT_FIELDS, GENESIS, bound_text, hash_sql, seal_digest
from audit.models import AuditSeal, SealStream, VerificationRun

PERIOD = timedelta(minutes=1)
FINGERPRINT = 8
# Sealing and verification read at most this much time per SQL statement: memory stays flat.
CHUNK = timedelta(days=1)
EMPTY_CONTENT = hashlib.sha256(b"").hexdigest()
# Removed records of one seal listed one by one up to this many; beyond it one line names the range.
LIST_REMOVED = 10

_TABLES: dict[str, tuple[str, tuple[str, ...]]] = {
    SealStream.ACCESS: ("audit_accessrecord", ACCESS_FIELDS),
    SealStream.EVENT: ("audit_securityevent", EVENT_FIELDS),
}
_MINUTE = "date_bin('1 minute', at, TIMESTAMPTZ '2000-01-01 00:00+00')"
# Table names are constants of this module; values always go as parameters.
_SEAL_SQL = """
SELECT {micros} AS p, count(*),
       encode(sha256(convert_to(string_agg(id::text || ':' || record_hash, E'\\n' ORDER BY id), 'UTF8')), 'hex'),
       array_agg(id ORDER BY id), string_agg(left(record_hash, {fp}), '' ORDER BY id)
FROM {table} WHERE at >= %s AND at < %s GROUP BY p ORDER BY p
"""
# OFFSET 0 keeps the hash in the scan: the sort then carries (minute, id, hash), not whole rows.
_VERIFY_SQL = """
SELECT {micros}, count(*),
       encode(sha256(convert_to(string_agg(id::text || ':' || h, E'\\n' ORDER BY id), 'UTF8')), 'hex')
FROM (SELECT {minute} AS p, id, {hash} AS h FROM {table} WHERE at >= %s AND at < %s OFFSET 0) AS r
GROUP BY p ORDER BY p
"""
_DETAIL_SQL = "SELECT id, record_hash, {hash} FROM {table} WHERE at >= %s AND at < %s ORDER BY id"


def floor_minute(moment: datetime) -> datetime:
    return moment.replace(second=0, microsecond=0)


def sealable_until(now: datetime) -> datetime:
    """Minutes that end before this are sealed (or due); later ones are still open."""
    return floor_minute(now - timedelta(seconds=settings.AUDIT_SEAL_GRACE_SECONDS))


def _query(sql: str, params: list[Any]) -> list[tuple]:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall()


# A period's records are read through the BRIN index on `at` (a bitmap of the period's pages), never through
# the (id, at) primary key: the planner, which sees the newest minutes past its statistics, would otherwise
# walk the whole key of the month's partition for every statement (a pass per minute for the every-minute
# seal, one per day when catching up). work_mem keeps a day's sort by minute in memory.
_RANGE_SCAN = {"enable_indexscan": "off", "enable_indexonlyscan": "off", "work_mem": "64MB"}


def _range_query(sql: str, params: list[Any]) -> list[tuple]:
    """`_query` with the settings above for this statement only (set locally, reset once it has run)."""
    names = list(_RANGE_SCAN)
    with transaction.atomic(savepoint=False), connection.cursor() as cursor:
        cursor.execute(
            "SELECT " + ", ".join("set_config(%s, %s, true)" for _name in names),
            [item for name in names for item in (name, _RANGE_SCAN[name])],
        )
        cursor.execute(sql, params)
        rows = cursor.fetchall()
        cursor.execute("; ".join(f"RESET {name}" for name in names))
        return rows


def _first_record_at(stream: str) -> datetime | None:
    table = _TABLES[stream][0]
    rows = _query(f"SELECT min(at) FROM {table}", [])  # noqa: S608 - constant table name
    return rows[0][0]


def _next_record_at(stream: str, start: datetime, end: datetime) -> datetime | None:
    table = _TABLES[stream][0]
    sql = f"SELECT min(at) FROM {table} WHERE at >= %s AND at < %s"  # noqa: S608 - constant table name
    return _range_query(sql, [start, end])[0][0]


@dataclass(slots=True)
class NewSeal:
    """A seal made by this worker, before it is stored (COPY) and anchored: the AuditSeal row's values, without
    a model instance per minute (building those cost as much as signing)."""

    stream: str
    period_start: datetime
    period_end: datetime
    record_count: int
    contents: str  # the JSON text stored in AuditSeal.contents
    previous_digest: str
    digest: str
    signature: str
    key_id: str


EMPTY_CONTENTS = '{"ids": [], "fingerprints": ""}'


def _contents(ids: list[int], prints: str) -> str:
    """AuditSeal.contents as JSON text: the ids as [first, last] runs, and the hashes' first digits (hex only,
    so the string needs no escaping)."""
    runs = ", ".join(f"[{first}, {last}]" for first, last in _ranges(ids))
    return f'{{"ids": [{runs}], "fingerprints": "{prints}"}}'


def _seal(
    signer: signing.Signer,
    stream: str,
    start: datetime,
    end: datetime,
    previous: str,
    *,
    count: int = 0,
    content: str = EMPTY_CONTENT,
    contents: str = EMPTY_CONTENTS,
) -> NewSeal:
    digest = seal_digest(
        previous=previous, stream=stream, period_start=start, period_end=end, record_count=count, content=content
    )
    return NewSeal(stream, start, end, count, contents, previous, digest, signer.sign(digest), signer.key_id)


def _chunk_rows(stream: str, start: datetime, end: datetime) -> list[tuple]:
    table = _TABLES[stream][0]
    sql = _SEAL_SQL.format(table=table, fp=FINGERPRINT, micros=_micros_sql(_MINUTE))
    return [(_from_micros(micros), *rest) for micros, *rest in _range_query(sql, [start, end])]


def _prefetch(stream: str, start: datetime, end: datetime) -> list[tuple]:
    try:
        return _chunk_rows(stream, start, end)
    finally:
        connection.close()  # this thread's own connection


def _seal_chunk(
    signer: signing.Signer, stream: str, start: datetime, end: datetime, previous: str, rows: list[tuple]
) -> list[NewSeal]:
    seals: list[NewSeal] = []
    cursor = start
    for minute, count, content, ids, prints in rows:
        if minute > cursor:
            seals.append(_seal(signer, stream, cursor, minute, previous))
            previous = seals[-1].digest
        seals.append(
            _seal(
                signer, stream, minute, minute + PERIOD, previous,
                count=count, content=content, contents=_contents(ids, prints),
            )
        )  # fmt: skip
        previous, cursor = seals[-1].digest, minute + PERIOD
    if cursor < end:
        seals.append(_seal(signer, stream, cursor, end, previous))
    return seals


def _ranges(ids: list[int]) -> list[list[int]]:
    runs: list[list[int]] = []  # ids arrive in order
    for record_id in ids:
        if runs and runs[-1][1] + 1 == record_id:
            runs[-1][1] = record_id
        else:
            runs.append([record_id, record_id])
    return runs


_SEAL_COLUMNS = (
    "stream", "period_start", "period_end", "record_count", "contents", "previous_digest", "digest", "signature",
    "key_id", "sealed_at",
)  # fmt: skip


def _insert(seals: list[NewSeal]) -> None:
    """COPY the seals in (a minute's seal, or a whole day's when catching up, in one round trip)."""
    now = timezone.now()
    with (
        connection.cursor() as cursor,
        cursor.cursor.copy(f"COPY audit_auditseal ({', '.join(_SEAL_COLUMNS)}) FROM STDIN") as copy,
    ):
        for seal in seals:
            copy.write_row(
                (
                    seal.stream, seal.period_start, seal.period_end, seal.record_count, seal.contents,
                    seal.previous_digest, seal.digest, seal.signature, seal.key_id, now,
                )
            )  # fmt: skip


def _lock(stream: str) -> None:
    # One sealer per stream at a time (a second beat or a retried task waits, then finds the work done).
    key = int.from_bytes(hashlib.sha256(f"audit-seal:{stream}".encode()).digest()[:4], "big")
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(%s)", [key])


def seal_pending(*, now: datetime | None = None) -> int:
    """Seal every closed minute not sealed yet, in every stream; idempotent. Runs on the sealing worker."""
    now = now or timezone.now()
    limit = sealable_until(now)
    signer = signing.signer()
    sealed = 0
    # Catching up outside a transaction (the worker after an outage, the bench), the next day's records are
    # read on a second connection while this one signs and stores the current day's seals.
    ahead = not connection.in_atomic_block
    with ThreadPoolExecutor(max_workers=1) as pool:
        for stream in _TABLES:
            prefetched: tuple[datetime, datetime, Any] | None = None
            while True:
                with transaction.atomic():
                    _lock(stream)
                    latest = AuditSeal.objects.filter(stream=stream).only("period_end", "digest")
                    last = latest.order_by("-period_start").first()
                    if last is not None:
                        start, previous = last.period_end, last.digest
                    else:
                        first = _first_record_at(stream)
                        if first is None:
                            break
                        start, previous = floor_minute(first), GENESIS
                    if start >= limit:
                        break
                    end = min(limit, start + CHUNK)
                    if prefetched is not None and prefetched[:2] == (start, end):
                        rows = prefetched[2].result()
                    else:
                        rows = _chunk_rows(stream, start, end)
                    prefetched = None
                    if ahead and end < limit:
                        following = (end, min(limit, end + CHUNK))
                        prefetched = (*following, pool.submit(_prefetch, stream, *following))
                    seals = _seal_chunk(signer, stream, start, end, previous, rows)
                    if len(seals) == 1 and seals[0].record_count == 0:
                        # A day without records: one seal reaches up to the minute of the next record.
                        upcoming = _next_record_at(stream, start, limit)
                        stretch = floor_minute(upcoming) if upcoming is not None else limit
                        if stretch > seals[0].period_end:
                            seals = [_seal(signer, stream, start, stretch, previous)]
                    _insert(seals)
                    # Anchored before the commit: a committed seal always has its copy outside the database.
                    anchors.anchor_append(seals)
                    sealed += len(seals)
            if prefetched is not None:
                prefetched[2].result()
    return sealed


@dataclass
class Problem:
    # altered | inserted | removed | unsealed | seal_chain | seal_digest | unsigned | unknown_key | bad_signature
    # | anchor_missing_seal | not_anchored | anchor_mismatch | anchor_conflict
    kind: str
    stream: str
    record_id: int | None
    detail: str

    def __str__(self) -> str:
        where = f" id={self.record_id}" if self.record_id is not None else ""
        return f"{self.stream}{where}: {self.kind} — {self.detail}"


@dataclass
class Verification:
    period_from: datetime
    period_to: datetime
    records_checked: int = 0
    records_unsealed: int = 0
    seals_checked: int = 0
    signatures: str = "not_checked"  # ok | failed | not_checked
    anchors: str = "not_checked"
    problems: list[Problem] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    @property
    def first_problem(self) -> Problem | None:
        return self.problems[0] if self.problems else None


# Timestamps of the many rows verification reads cross as microseconds since the epoch: Django's
# timestamptz loader (Python, per value) would cost more than everything else done per seal.
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _micros_sql(column: str) -> str:
    return f"(extract(epoch FROM {column}) * 1000000)::bigint"


def _from_micros(micros: int) -> datetime:
    return _EPOCH + timedelta(microseconds=micros)


@dataclass(slots=True)
class StoredSeal:
    """An AuditSeal row as verification reads it (without its contents)."""

    pk: int
    stream: str
    period_start: datetime
    period_end: datetime
    record_count: int
    previous_digest: str
    digest: str
    signature: str
    key_id: str


_SEALS_SQL = """
SELECT id, stream, {start}, {end}, record_count, previous_digest,
       digest, signature, key_id
FROM audit_auditseal WHERE stream = %s AND period_end > %s AND period_start < %s ORDER BY period_start
"""


def _stored_seals(stream: str, period_from: datetime, period_to: datetime) -> list[StoredSeal]:
    return [
        StoredSeal(pk, kind, _from_micros(start), _from_micros(end), *rest)
        for pk, kind, start, end, *rest in _query(
            _SEALS_SQL.format(start=_micros_sql("period_start"), end=_micros_sql("period_end")),
            [stream, period_from, period_to],
        )
    ]


def _label(seal: StoredSeal) -> str:
    return f"seal {bound_text(seal.period_start)} – {bound_text(seal.period_end)}"


def _minutes(stream: str, start: datetime, end: datetime) -> Iterator[tuple[datetime, int, str]]:
    table, fields = _TABLES[stream]
    sql = _VERIFY_SQL.format(minute=_MINUTE, hash=hash_sql(fields), table=table, micros=_micros_sql("p"))
    cursor = start
    while cursor < end:
        upto = min(end, cursor + CHUNK)
        for micros, count, content in _range_query(sql, [cursor, upto]):
            yield _from_micros(micros), count, content
        cursor = upto


def _minutes_all(stream: str, start: datetime, end: datetime) -> list[tuple[datetime, int, str]]:
    """Every minute's (count, digest) over [start, end). Outside a transaction (manage.py verify_audit, the
    daily job) a long period is split between two connections, so both of the machine's cores hash."""
    if connection.in_atomic_block or end - start <= CHUNK:
        return list(_minutes(stream, start, end))
    days = max(1, round((end - start) / CHUNK))
    middle = start + CHUNK * (days // 2) if days > 1 else start + (end - start) / 2

    def part(bounds: tuple[datetime, datetime]) -> list[tuple[datetime, int, str]]:
        try:
            return list(_minutes(stream, *bounds))
        finally:
            connection.close()  # this thread's own connection

    with ThreadPoolExecutor(max_workers=2) as pool:
        first, second = pool.map(part, [(start, middle), (middle, end)])
    return first + second


def _name_records(stream: str, seal: StoredSeal, result: Verification) -> None:
    """Read one seal's records one by one and name each altered, inserted or removed record."""
    table, fields = _TABLES[stream]
    contents = AuditSeal.objects.values_list("contents", flat=True).get(pk=seal.pk) or {}
    ids = [i for first, last in contents.get("ids", []) for i in range(first, last + 1)]
    prints = contents.get("fingerprints", "")
    expected = {record_id: prints[n * FINGERPRINT : (n + 1) * FINGERPRINT] for n, record_id in enumerate(ids)}
    rows = _range_query(_DETAIL_SQL.format(hash=hash_sql(fields), table=table), [seal.period_start, seal.period_end])
    found: list[Problem] = []
    seen: set[int] = set()
    for record_id, stored, recomputed in rows:
        seen.add(record_id)
        if recomputed != stored:
            found.append(Problem("altered", stream, record_id, f"content does not match its hash ({_label(seal)})"))
        elif record_id not in expected:
            found.append(Problem("inserted", stream, record_id, f"not present when {_label(seal)} was made"))
        elif expected[record_id] != recomputed[:FINGERPRINT]:
            found.append(Problem("altered", stream, record_id, f"hash differs from the sealed one ({_label(seal)})"))
    removed = sorted(set(expected) - seen)
    if len(removed) > LIST_REMOVED:
        found.append(
            Problem(
                "removed", stream, removed[0],
                f"{len(removed)} records sealed in {_label(seal)} are missing (ids {removed[0]}–{removed[-1]})",
            )
        )  # fmt: skip
    else:
        found.extend(Problem("removed", stream, i, f"sealed in {_label(seal)} but missing") for i in removed)
    if not found:
        found.append(Problem("seal_digest", stream, None, f"{_label(seal)}: digest does not match its records"))
    found.sort(key=lambda p: p.record_id or 0)
    result.problems.extend(found)


def _signature_problems(stream: str, seals: list[StoredSeal], keys: dict[str, Any]) -> list[Problem]:
    """Every seal's signature. Pure computation on loaded seals: it runs in a thread while the database
    recomputes the records' digests, so the two overlap."""
    found = []
    for seal in seals:
        if not seal.signature:
            found.append(Problem("unsigned", stream, None, f"{_label(seal)} carries no signature"))
        elif (key := keys.get(seal.key_id)) is None:
            found.append(
                Problem("unknown_key", stream, None, f"{_label(seal)} is signed by an unknown key ({seal.key_id})")
            )
        elif not signing.signature_valid(key, seal.digest, seal.signature):
            found.append(Problem("bad_signature", stream, None, f"{_label(seal)}: the signature is invalid"))
    return found


def _verify_stream(
    stream: str, period_from: datetime, period_to: datetime, until: datetime, keys: dict[str, Any], result: Verification
) -> list[StoredSeal]:
    seals = _stored_seals(stream, period_from, period_to)
    start = min(period_from, seals[0].period_start) if seals else period_from
    end = max(period_to, seals[-1].period_end) if seals else period_to
    with ThreadPoolExecutor(max_workers=1) as pool:
        signed = pool.submit(_signature_problems, stream, seals, keys) if keys else None
        minutes = _minutes_all(stream, start, end)  # (minute, count, content) in time order
        signature_problems = signed.result() if signed is not None else []
    outside: list[tuple[datetime, int]] = []
    before = (
        AuditSeal.objects.filter(stream=stream, period_start__lt=seals[0].period_start)
        .only("digest", "period_end")
        .order_by("-period_start")
        .first()
        if seals
        else None
    )
    previous = before.digest if before else GENESIS
    cursor = before.period_end if before else None
    n = 0
    for seal in seals:
        if cursor is not None and seal.period_start != cursor:
            result.problems.append(
                Problem("unsealed", stream, None, f"no seal for {bound_text(cursor)} – {bound_text(seal.period_start)}")
            )
        if seal.previous_digest != previous:
            result.problems.append(
                Problem("seal_chain", stream, None, f"{_label(seal)} does not chain to its predecessor")
            )
        while n < len(minutes) and minutes[n][0] < seal.period_start:
            outside.append(minutes[n][:2])
            n += 1
        inside = []
        while n < len(minutes) and minutes[n][0] < seal.period_end:
            inside.append(minutes[n])
            n += 1
        count = sum(row[1] for row in inside)
        if not inside:
            content = EMPTY_CONTENT
        elif len(inside) == 1 and inside[0][0] == seal.period_start and seal.period_end - seal.period_start == PERIOD:
            content = inside[0][2]
        else:
            content = ""  # records inside an empty stretch's seal: inserted after it was made
        recomputed = seal_digest(
            previous=seal.previous_digest, stream=stream, period_start=seal.period_start,
            period_end=seal.period_end, record_count=count, content=content,
        )  # fmt: skip
        if recomputed != seal.digest:
            _name_records(stream, seal, result)
        result.records_checked += count
        result.seals_checked += 1
        previous, cursor = seal.digest, seal.period_end
    outside.extend(row[:2] for row in minutes[n:])
    for minute, count in outside:
        if not period_from <= minute < period_to:
            continue
        if minute < until:
            result.problems.append(
                Problem("unsealed", stream, None, f"{count} records of {bound_text(minute)} are not sealed")
            )
        else:
            result.records_unsealed += count
    result.problems.extend(signature_problems)
    if signature_problems:
        result.signatures = "failed"
    return seals


def _compare_anchors(
    period_from: datetime, period_to: datetime, sealed: dict[str, list[StoredSeal]], result: Verification
) -> None:
    anchored: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for entry in anchors.anchors_between(period_from, period_to):
        versions = anchored.setdefault((entry["stream"], entry["period_start"]), [])
        if entry not in versions:
            versions.append(entry)
    in_db: dict[tuple[str, str], StoredSeal] = {}
    for stream, seals in sealed.items():
        for seal in seals:
            in_db[(stream, bound_text(seal.period_start))] = seal
    found: list[Problem] = []
    for (stream, begins), versions in sorted(anchored.items(), key=lambda item: item[0][1]):
        stored = in_db.get((stream, begins))
        if len(versions) > 1:
            found.append(
                Problem("anchor_conflict", stream, None, f"{len(versions)} different anchored seals for {begins}")
            )
        if stored is None:
            found.append(
                Problem("anchor_missing_seal", stream, None, f"seal {begins} is anchored but missing from the database")
            )
        elif anchors.anchor_entry(stored) != versions[0]:
            # The store is append-only: the first copy of a period is the one made when it was sealed.
            found.append(Problem("anchor_mismatch", stream, None, f"{_label(stored)} differs from its anchored copy"))
    for (stream, begins), seal in sorted(in_db.items(), key=lambda item: item[0][1]):
        if (stream, begins) not in anchored and seal.period_end > period_from and seal.period_start < period_to:
            found.append(Problem("not_anchored", stream, None, f"{_label(seal)} has no anchored copy"))
    result.anchors = "failed" if found else "ok"
    result.problems.extend(found)


def verify(
    period_from: datetime, period_to: datetime, *, now: datetime | None = None, save: bool = True
) -> Verification:
    """Walk [period_from, period_to) of every stream against the seals, their signatures and their anchors;
    name each altered, inserted or removed record and every unsealed stretch. Stored (VerificationRun)
    unless save=False."""
    now = now or timezone.now()
    result = Verification(period_from, period_to)
    keys = signing.public_keys()
    if keys:
        result.signatures = "ok"
    until = sealable_until(now)
    sealed = {stream: _verify_stream(stream, period_from, period_to, until, keys, result) for stream in _TABLES}
    if anchors.anchor_dir() is not None:
        _compare_anchors(period_from, min(period_to, until), sealed, result)
    if save:
        VerificationRun.objects.create(
            period_from=period_from,
            period_to=period_to,
            ok=result.ok,
            records_checked=result.records_checked,
            records_unsealed=result.records_unsealed,
            signatures=result.signatures,
            anchors=result.anchors,
            problems=[str(p) for p in result.problems[:100]],
        )
    return result


def seal_chain_status(start: datetime, end: datetime, *, now: datetime | None = None) -> dict[str, Any]:
    """The cheap check for reports: the seals over [start, end) link to each other and leave no gap, and how
    many records are not sealed yet. It reads seals only; `verify` (manage.py verify_audit) checks records,
    signatures and anchors."""
    now = now or timezone.now()
    problems: list[str] = []
    count = 0
    unsealed = 0
    for stream, (table, _fields) in _TABLES.items():
        seals = AuditSeal.objects.filter(stream=stream, period_end__gt=start, period_start__lt=end).order_by(
            "period_start"
        )
        before = None
        previous_end = None
        for seal in seals.only("period_start", "period_end", "previous_digest", "digest").iterator(chunk_size=5000):
            if before is None:
                predecessor = (
                    AuditSeal.objects.filter(stream=stream, period_start__lt=seal.period_start)
                    .order_by("-period_start")
                    .first()
                )
                before = predecessor.digest if predecessor else GENESIS
                if predecessor is not None and predecessor.period_end != seal.period_start:
                    problems.append(f"{stream}: unsealed gap before {seal.period_start.isoformat()}")
            elif previous_end is not None and previous_end != seal.period_start:
                problems.append(f"{stream}: unsealed gap {previous_end.isoformat()} – {seal.period_start.isoformat()}")
            if seal.previous_digest != before:
                problems.append(f"{stream}: seal {seal.period_start.isoformat()} does not chain to its predecessor")
            before, previous_end = seal.digest, seal.period_end
            count += 1
        tail = max(previous_end or start, start)
        due = min(end, sealable_until(now))
        with connection.cursor() as cursor:
            cursor.execute(
                f"SELECT count(*), count(*) FILTER (WHERE at < %s) FROM {table} "  # noqa: S608 - constant table name
                "WHERE at >= %s AND at < %s",
                [due, tail, min(end, now)],
            )
            waiting, overdue = cursor.fetchone()
        unsealed += waiting
        if overdue:
            problems.append(f"{stream}: {overdue} records from {tail.isoformat()} are overdue for sealing")
    return {"ok": not problems, "seals": count, "unsealed": unsealed, "problems": problems}

"""Tamper evidence: seal each period's records into a hash chain, and verify a period against its seals.

Writers never wait on each other: each record carries its own hash (audit.hashing), and only the
hourly sealing job, after the period closed, reads the period in id order and chains its digest to
the previous one. A seal also keeps which ids existed ([first, last] runs) and the first 8 hex digits
of each record's hash, so verification names the exact record that was altered, inserted or removed
rather than only the period. Empty stretches are sealed as one period so the chain has no holes.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.conf import settings
from django.db import IntegrityError, models, transaction
from django.utils import timezone

from audit.hashing import ACCESS_FIELDS, EVENT_FIELDS, GENESIS, access_hash, event_hash, period_digest
from audit.models import AccessRecord, AuditSeal, SealStream, SecurityEvent, VerificationRun

PERIOD = timedelta(hours=1)
FINGERPRINT = 8

_STREAMS: dict[str, tuple[type[models.Model], tuple[str, ...], object]] = {
    SealStream.ACCESS: (AccessRecord, ACCESS_FIELDS, access_hash),
    SealStream.EVENT: (SecurityEvent, EVENT_FIELDS, event_hash),
}


def floor_hour(moment: datetime) -> datetime:
    return moment.replace(minute=0, second=0, microsecond=0)


def _rows(stream: str, start: datetime, end: datetime, columns: tuple[str, ...]) -> Iterator[tuple]:
    model = _STREAMS[stream][0]
    # iterator() uses a server-side cursor on PostgreSQL: memory stays flat however full the period is.
    return (
        model.objects.filter(at__gte=start, at__lt=end).order_by("id").values_list(*columns).iterator(chunk_size=5000)
    )


def _ranges(ids: list[int]) -> list[list[int]]:
    runs: list[list[int]] = []
    for record_id in ids:
        if runs and runs[-1][1] + 1 == record_id:
            runs[-1][1] = record_id
        else:
            runs.append([record_id, record_id])
    return runs


def seal_period(stream: str, start: datetime, end: datetime, previous: str) -> AuditSeal:
    ids: list[int] = []
    hashes: list[tuple[int, str]] = []
    for record_id, digest in _rows(stream, start, end, ("id", "record_hash")):
        ids.append(record_id)
        hashes.append((record_id, digest))
    return AuditSeal.objects.create(
        stream=stream,
        period_start=start,
        period_end=end,
        record_count=len(ids),
        contents={"ids": _ranges(ids), "fingerprints": "".join(h[:FINGERPRINT] for _, h in hashes)},
        previous_digest=previous,
        digest=period_digest(previous, hashes),
    )


def _next_record_at(stream: str, after: datetime) -> datetime | None:
    model = _STREAMS[stream][0]
    return model.objects.filter(at__gte=after).aggregate(first=models.Min("at"))["first"]


def seal_pending(*, now: datetime | None = None) -> int:
    """Seal every closed period not sealed yet, in every stream; idempotent (one seal per period start)."""
    now = now or timezone.now()
    limit = floor_hour(now - timedelta(minutes=settings.AUDIT_SEAL_GRACE_MINUTES))
    sealed = 0
    for stream in _STREAMS:
        last = AuditSeal.objects.filter(stream=stream).order_by("-period_start").first()
        if last is not None:
            start, previous = last.period_end, last.digest
        else:
            first = _next_record_at(stream, datetime.min.replace(tzinfo=now.tzinfo))
            if first is None:
                continue
            start, previous = floor_hour(first), GENESIS
        while start + PERIOD <= limit:
            end = start + PERIOD
            upcoming = _next_record_at(stream, start)
            if upcoming is None or upcoming >= end:
                # An empty stretch: one seal up to the next record's hour (or the limit) keeps the chain whole.
                end = min(limit, floor_hour(upcoming)) if upcoming is not None else limit
                end = max(end, start + PERIOD)
            try:
                with transaction.atomic():
                    seal = seal_period(stream, start, end, previous)
            except IntegrityError:
                break  # another worker sealed this period (beat ran twice): it carries on from there
            sealed += 1
            start, previous = seal.period_end, seal.digest
    return sealed


@dataclass
class Problem:
    kind: str  # altered | inserted | removed | unsealed | seal_chain
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
    problems: list[Problem] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    @property
    def first_problem(self) -> Problem | None:
        return self.problems[0] if self.problems else None


def _expected(seal: AuditSeal) -> dict[int, str]:
    data = seal.contents
    ids = [i for first, last in data["ids"] for i in range(first, last + 1)]
    prints = data["fingerprints"]
    return {record_id: prints[n * FINGERPRINT : (n + 1) * FINGERPRINT] for n, record_id in enumerate(ids)}


def _verify_seal(stream: str, seal: AuditSeal, result: Verification) -> None:
    _model, fields, hasher = _STREAMS[stream]
    expected = _expected(seal)
    seen: set[int] = set()
    pairs: list[tuple[int, str]] = []
    problems: list[Problem] = []
    for row in _rows(stream, seal.period_start, seal.period_end, ("id", *fields, "record_hash")):
        record_id, stored = row[0], row[-1]
        values = dict(zip(fields, row[1:-1], strict=True))
        result.records_checked += 1
        pairs.append((record_id, stored))
        if hasher(values) != stored:  # type: ignore[operator]
            problems.append(Problem("altered", stream, record_id, "content does not match its hash"))
        elif record_id not in expected:
            problems.append(Problem("inserted", stream, record_id, f"not present when {seal} was sealed"))
        elif expected[record_id] != stored[:FINGERPRINT]:
            problems.append(Problem("altered", stream, record_id, "hash differs from the sealed one"))
        seen.add(record_id)
    for record_id in sorted(set(expected) - seen):
        problems.append(Problem("removed", stream, record_id, f"sealed in {seal} but missing"))
    if not problems and period_digest(seal.previous_digest, pairs) != seal.digest:
        problems.append(Problem("seal_chain", stream, None, f"digest of {seal} does not match its records"))
    problems.sort(key=lambda p: p.record_id or 0)
    result.problems.extend(problems)


def verify(
    period_from: datetime, period_to: datetime, *, now: datetime | None = None, save: bool = True
) -> Verification:
    """Walk [period_from, period_to) of every stream against the seals; name each altered, inserted or
    removed record and every unsealed gap. The outcome is stored (VerificationRun) unless save=False."""
    now = now or timezone.now()
    result = Verification(period_from, period_to)
    sealable_until = floor_hour(now - timedelta(minutes=settings.AUDIT_SEAL_GRACE_MINUTES))
    for stream in _STREAMS:
        seals = list(
            AuditSeal.objects.filter(stream=stream, period_end__gt=period_from, period_start__lt=period_to).order_by(
                "period_start"
            )
        )
        before = (
            AuditSeal.objects.filter(stream=stream, period_start__lt=seals[0].period_start)
            .order_by("-period_start")
            .first()
            if seals
            else None
        )
        previous_digest = before.digest if before else GENESIS
        cursor = seals[0].period_start if seals else period_from
        if seals and cursor > period_from:
            _unsealed(stream, period_from, cursor, result, sealable_until)
        for seal in seals:
            if seal.period_start != cursor:
                _unsealed(stream, cursor, seal.period_start, result, sealable_until, force=True)
            if seal.previous_digest != previous_digest:
                result.problems.append(Problem("seal_chain", stream, None, f"{seal} does not chain to its predecessor"))
            _verify_seal(stream, seal, result)
            previous_digest, cursor = seal.digest, seal.period_end
        if cursor < period_to:
            _unsealed(stream, cursor, period_to, result, sealable_until)
    if save:
        VerificationRun.objects.create(
            period_from=period_from,
            period_to=period_to,
            ok=result.ok,
            records_checked=result.records_checked,
            problems=[str(p) for p in result.problems[:100]],
        )
    return result


def _unsealed(
    stream: str, start: datetime, end: datetime, result: Verification, sealable_until: datetime, *, force: bool = False
) -> None:
    """A stretch without a seal is a problem when it holds records or lies between two seals (a removed
    seal); the still-open stretch after the last sealable hour is not."""
    end_checked = min(end, sealable_until)
    if end_checked <= start and not force:
        return
    model = _STREAMS[stream][0]
    count = model.objects.filter(at__gte=start, at__lt=end_checked).count()
    if count or force:
        result.problems.append(
            Problem("unsealed", stream, None, f"unsealed gap {start.isoformat()} – {end.isoformat()} ({count} records)")
        )


def seal_chain_status(start: datetime, end: datetime, *, now: datetime | None = None) -> dict[str, object]:
    """The cheap check for reports: the seals over [start, end) link to each other and leave no gap.

    It reads seals only, not records; `verify` is the full walk (manage.py verify_audit).
    """
    now = now or timezone.now()
    sealable_until = min(end, floor_hour(now - timedelta(minutes=settings.AUDIT_SEAL_GRACE_MINUTES)))
    problems: list[str] = []
    count = 0
    for stream in _STREAMS:
        seals = AuditSeal.objects.filter(stream=stream, period_end__gt=start, period_start__lt=end).order_by(
            "period_start"
        )
        before = None
        previous_end = None
        for seal in seals.only("period_start", "period_end", "previous_digest", "digest").iterator():
            if before is None:
                predecessor = (
                    AuditSeal.objects.filter(stream=stream, period_start__lt=seal.period_start)
                    .order_by("-period_start")
                    .first()
                )
                before = predecessor.digest if predecessor else GENESIS
                if predecessor is not None and predecessor.period_end != seal.period_start:
                    problems.append(f"{stream}: unsealed gap before {seal.period_start.isoformat()}")
            elif previous_end != seal.period_start:
                problems.append(f"{stream}: unsealed gap {previous_end.isoformat()} – {seal.period_start.isoformat()}")
            if seal.previous_digest != before:
                problems.append(f"{stream}: seal {seal.period_start.isoformat()} does not chain to its predecessor")
            before, previous_end = seal.digest, seal.period_end
            count += 1
        tail_start = previous_end or start
        model = _STREAMS[stream][0]
        if tail_start < sealable_until and model.objects.filter(at__gte=tail_start, at__lt=sealable_until).exists():
            problems.append(f"{stream}: records from {tail_start.isoformat()} are not sealed yet")
    return {"ok": not problems, "seals": count, "problems": problems}

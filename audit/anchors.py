"""Copies of every seal outside the database, and the daily digest e-mailed to the agency.

AUDIT_ANCHOR_DIR is meant for a write-once volume or an object store with a retention lock; here the
files are JSON lines, one file per UTC day of the period start, only ever opened with O_APPEND and
fsynced before the seals' transaction commits (so a committed seal always has its anchor; a crash in
between leaves an anchor whose seal is re-made identically the next minute: Ed25519 is deterministic).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.mail import send_mail

from audit.hashing import bound_text

ANCHOR_KEYS = (
    "stream", "period_start", "period_end", "record_count", "previous_digest", "digest", "signature", "key_id",
)  # fmt: skip


def anchor_dir() -> Path | None:
    return Path(settings.AUDIT_ANCHOR_DIR) if settings.AUDIT_ANCHOR_DIR else None


def _day_file(directory: Path, day: date) -> Path:
    return directory / f"seals-{day.isoformat()}.jsonl"


def anchor_entry(seal: Any) -> dict[str, Any]:
    return {
        "stream": seal.stream,
        "period_start": bound_text(seal.period_start),
        "period_end": bound_text(seal.period_end),
        "record_count": seal.record_count,
        "previous_digest": seal.previous_digest,
        "digest": seal.digest,
        "signature": seal.signature,
        "key_id": seal.key_id,
    }


def anchor_append(seals: Iterable[Any]) -> int:
    """Append the seals to their day files: one write and one fsync per file."""
    directory = anchor_dir()
    if directory is None:
        return 0
    directory.mkdir(parents=True, exist_ok=True)
    lines: dict[date, list[str]] = {}
    for seal in seals:
        day = seal.period_start.astimezone(UTC).date()
        lines.setdefault(day, []).append(json.dumps(anchor_entry(seal), sort_keys=True) + "\n")
    for day, batch in lines.items():
        path = _day_file(directory, day)
        created = not path.exists()
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o640)
        try:
            os.write(fd, "".join(batch).encode("utf-8"))
            os.fsync(fd)
        finally:
            os.close(fd)
        if created:
            dir_fd = os.open(directory, os.O_RDONLY)
            try:
                os.fsync(dir_fd)
            finally:
                os.close(dir_fd)
    return sum(len(batch) for batch in lines.values())


def anchors_between(start: datetime, end: datetime) -> Iterator[dict[str, Any]]:
    """Every anchored seal whose period overlaps [start, end) (a truncated last line is skipped)."""
    directory = anchor_dir()
    if directory is None:
        return
    first = start.astimezone(UTC).date()
    day = first - timedelta(days=1)
    last = end.astimezone(UTC).date()
    while day <= last:
        path = _day_file(directory, day)
        # A seal in a day file strictly between the first and the last day begins and ends inside the range.
        inside = first < day < last
        if path.exists():
            with path.open(encoding="utf-8") as handle:
                for line in handle:
                    try:
                        entry = json.loads(line)
                    except json.JSONDecodeError:
                        continue
                    if inside or (
                        datetime.fromisoformat(entry["period_end"]) > start
                        and datetime.fromisoformat(entry["period_start"]) < end
                    ):
                        yield entry
        day += timedelta(days=1)


def daily_digest_send(*, day: date) -> bool:
    """E-mail the last anchored seal of each stream of `day` (UTC) to AUDIT_ANCHOR_EMAIL."""
    recipients = settings.AUDIT_ANCHOR_EMAIL
    directory = anchor_dir()
    if not recipients or directory is None:
        return False
    start = datetime(day.year, day.month, day.day, tzinfo=UTC)
    last: dict[str, dict[str, Any]] = {}
    for entry in anchors_between(start, start + timedelta(days=1)):
        begins = datetime.fromisoformat(entry["period_start"])
        if begins >= start and (
            entry["stream"] not in last or begins >= datetime.fromisoformat(last[entry["stream"]]["period_start"])
        ):
            last[entry["stream"]] = entry
    lines = [
        "再エネ業務管理システム 監査記録の封印（日次ダイジェスト） / Daily digest of the audit seals",
        f"対象日 / day (UTC): {day.isoformat()}",
        "",
    ]
    for stream in sorted(last):
        entry = last[stream]
        lines += [f"{key}: {entry[key]}" for key in ANCHOR_KEYS] + [""]
    if not last:
        lines.append("封印なし / no seal on this day")
    lines.append("この値を保管し、外部監査の際に照合してください。 / Keep these values to compare at the audit.")
    send_mail(
        f"【再エネ業務管理システム】監査封印ダイジェスト {day.isoformat()} / Audit seal digest",
        "\n".join(lines),
        None,
        recipients,
        fail_silently=False,
    )
    return True

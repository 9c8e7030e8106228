"""manage.py verify_audit [--from DATE] [--to DATE]: walk a period against its seals, signatures and anchors.

Exits 1 and names the first altered, inserted or removed record, every unsealed stretch, every seal that is
unsigned, signed by an unknown key or badly signed, and every seal missing from, extra to or different from
the anchor store. Dates are JST calendar days; --to is inclusive. Default: the last 7 days.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone

from audit.management.arguments import iso_day
from audit.sealing import verify
from renergy.geography import JST, jst_days

_RESULT = {"ok": "OK", "failed": "FAILED", "not_checked": "NOT CHECKED"}


class Command(BaseCommand):
    help = "Verify the audit trail of a period against its signed, anchored seals."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--from", dest="start", type=iso_day)
        parser.add_argument("--to", dest="end", type=iso_day)

    def handle(self, *args: Any, start: date | None, end: date | None, **options: Any) -> None:
        today = timezone.localdate(timezone.now(), JST)
        end = end or today
        start = start or end - timedelta(days=7)
        period_from, period_to = jst_days(start, end)
        result = verify(period_from, period_to)
        summary = (
            f"{result.records_checked} records in {result.seals_checked} seals from {start} to {end}; "
            f"{result.records_unsealed} records not yet sealed; signatures: {_RESULT[result.signatures]}; "
            f"anchors: {_RESULT[result.anchors]}"
        )
        if result.ok:
            self.stdout.write(f"OK: {summary}.")
            return
        self.stdout.write(f"FAILED: {len(result.problems)} problem(s); {summary}.")
        self.stdout.write(f"First: {result.first_problem}")
        for problem in result.problems[1:20]:
            self.stdout.write(f"  {problem}")
        raise CommandError("the audit trail does not verify")

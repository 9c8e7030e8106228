"""manage.py audit_export --from DATE --to DATE --out DIR: the external auditor's bundle (audit.export).

Dates are JST calendar days; --to is inclusive. Check the bundle with tools/verify_audit_bundle.py DIR.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from audit.export import bundle_write
from audit.management.arguments import iso_day
from renergy.geography import jst_days


class Command(BaseCommand):
    help = "Write the audit bundle (records, signed seals, public keys, manifest) for an external auditor."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--from", dest="start", type=iso_day, required=True)
        parser.add_argument("--to", dest="end", type=iso_day, required=True)
        parser.add_argument("--out", type=Path, required=True)

    def handle(self, *args: Any, start: date, end: date, out: Path, **options: Any) -> None:
        if out.exists() and any(out.iterdir()):
            raise CommandError(f"{out} is not empty")
        period_start, period_end = jst_days(start, end)
        manifest = bundle_write(start=period_start, end=period_end, directory=out)
        for stream, figures in manifest["streams"].items():
            self.stdout.write(
                f"{stream}: {figures['records']} records in {figures['seals']} seals "
                f"({figures['records_not_yet_sealed']} not yet sealed, left out)"
            )
        self.stdout.write(f"bundle written to {out}; check it with tools/verify_audit_bundle.py {out}")

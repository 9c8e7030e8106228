from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from audit.events import record_event
from certifications.importers import facilities_import


class Command(BaseCommand):
    help = "Import the agency's public facility list (.xlsx or .csv); nothing is imported if any row is bad."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("file", type=Path)

    def handle(self, *args: Any, file: Path, **options: Any) -> None:
        if not file.is_file():
            raise CommandError(f"{file}: no such file")
        last: dict[str, Any] = {"phase": "", "shown": -1}

        def progress(phase: str, done: int, total: int) -> None:
            percent = int(100 * done / total) if total else 0
            # One line per phase and per 5 %, so a large file shows it is moving without flooding the terminal.
            if phase != last["phase"] or percent // 5 != last["shown"] // 5 or done == total:
                last.update(phase=phase, shown=percent)
                self.stdout.write(f"{phase}: {done}/{total} ({percent}%)")

        with file.open("rb") as handle:
            result = facilities_import(handle, name=file.name, progress=progress)
        record_event(
            action="facility.imported" if not result.errors else "facility.import_rejected",
            data={
                "file": file.name,
                "created": result.created,
                "updated": result.updated,
                "unchanged": result.unchanged,
                "errors": len(result.errors),
                "via": "command",
            },
        )
        if result.errors:
            for error in result.errors:
                self.stderr.write(f"{error.line}: {error.reason}")
            raise CommandError(f"{len(result.errors)} bad row(s); nothing was imported.")
        self.stdout.write(
            self.style.SUCCESS(f"created {result.created}, updated {result.updated}, unchanged {result.unchanged}")
        )

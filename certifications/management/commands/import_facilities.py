from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from audit.events import record_event
from certifications.importers import ArchiveRefused, ImportResult, archive_members, facilities_import


class Command(BaseCommand):
    help = (
        "Import the agency's published facility lists (.xlsx or .csv, several files or a .zip of them); "
        "a file with any bad row imports nothing, the other files are imported."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("files", nargs="+", type=Path)

    def handle(self, *args: Any, files: list[Path], **options: Any) -> None:
        for file in files:
            if not file.is_file():
                raise CommandError(f"{file}: no such file")
        rejected = 0
        for name, handle in self._lists(files):
            result = self._import(name, handle)
            rejected += bool(result.errors)
        if rejected:
            raise CommandError(f"{rejected} file(s) with bad rows; nothing was imported from them.")

    def _lists(self, files: list[Path]) -> Iterator[tuple[str, IO[bytes]]]:
        for file in files:
            with file.open("rb") as handle:
                if file.suffix.lower() != ".zip":
                    yield file.name, handle
                    continue
                try:
                    for member, content in archive_members(handle):
                        yield f"{file.name}/{member}", content
                except ArchiveRefused as refused:
                    raise CommandError(f"{file}: {refused}") from None

    def _import(self, name: str, handle: IO[bytes]) -> ImportResult:
        last: dict[str, Any] = {"phase": "", "shown": -1}

        def progress(phase: str, done: int, total: int) -> None:
            percent = int(100 * done / total) if total else 0
            # One line per phase and per 5 %, so a large file shows it is moving without flooding the terminal.
            if phase != last["phase"] or percent // 5 != last["shown"] // 5 or done == total:
                last.update(phase=phase, shown=percent)
                self.stdout.write(f"{name}: {phase}: {done}/{total} ({percent}%)")

        result = facilities_import(handle, name=name.rsplit("/", 1)[-1], progress=progress)
        record_event(action=result.event_action, data={"file": name, **result.event_data(), "via": "command"})
        for heading in result.unrecognised:
            self.stdout.write(self.style.WARNING(f"{name}: not imported (unknown heading): {heading}"))
        if result.errors:
            for error in result.errors:
                self.stderr.write(f"{name}: {error.line}: {error.reason}")
            self.stderr.write(f"{name}: {len(result.errors)} bad row(s); nothing was imported from this file.")
        else:
            self.stdout.write(
                self.style.SUCCESS(
                    f"{name}: created {result.created}, updated {result.updated}, unchanged {result.unchanged}"
                )
            )
        return result

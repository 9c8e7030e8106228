from __future__ import annotations

import time
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from audit.events import record_event
from certifications.generator import generate


class Command(BaseCommand):
    help = "Add N synthetic facilities shaped like the real register (COPY on PostgreSQL)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--count", type=int, required=True)
        parser.add_argument("--seed", type=int, default=1)

    def handle(self, *args: Any, count: int, seed: int, **options: Any) -> None:
        started = time.monotonic()

        def progress(done: int) -> None:
            if done == count or done % 100_000 == 0 or count < 100_000:
                self.stdout.write(f"{done}/{count} ({time.monotonic() - started:.1f}s)")

        written = generate(count=count, seed=seed, progress=progress)
        elapsed = time.monotonic() - started
        record_event(action="facility.generated", data={"count": written, "seed": seed})
        self.stdout.write(self.style.SUCCESS(f"generated {written} facilities in {elapsed:.1f}s"))

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandParser

from certifications.visibility_doc import render_visibility_markdown

DOC_PATH = Path(settings.BASE_DIR) / "docs" / "visibility.md"


class Command(BaseCommand):
    help = "Write docs/visibility.md from certifications/policy.py (--check: fail if it is out of date)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--check", action="store_true")

    def handle(self, *args: Any, check: bool, **options: Any) -> None:
        text = render_visibility_markdown()
        if check:
            if not DOC_PATH.exists() or DOC_PATH.read_text(encoding="utf-8") != text:
                self.stderr.write("docs/visibility.md is out of date: run manage.py render_visibility_doc")
                raise SystemExit(1)
            return
        DOC_PATH.parent.mkdir(exist_ok=True)
        DOC_PATH.write_text(text, encoding="utf-8")
        self.stdout.write(f"wrote {DOC_PATH}")

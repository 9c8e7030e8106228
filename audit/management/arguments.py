"""Command-line arguments the audit commands share."""

from __future__ import annotations

from datetime import date

from django.core.management.base import CommandError


def iso_day(text: str) -> date:
    """A --from / --to day (YYYY-MM-DD), refused with the command's own error otherwise."""
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise CommandError(f"not a date (YYYY-MM-DD): {text}") from None

"""The self-inspection an administrator runs in `make run` finds something in the demo data."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import call_command
from django.utils import timezone

from audit.inspection import JST, inspection_create, inspection_execute, month_bounds
from audit.models import Finding

pytestmark = pytest.mark.django_db


def _inspect(year: int, month: int) -> set[str]:
    start, end = month_bounds(year, month)
    run = inspection_create(period_start=start, period_end=end, label="demo")
    inspection_execute(run_id=run.pk)
    return set(Finding.objects.filter(run=run).values_list("kind", flat=True))


def test_the_demo_month_has_findings_and_load_demo_stays_idempotent() -> None:
    call_command("load_demo", facilities=0, stdout=StringIO())
    call_command("load_demo", facilities=0, stdout=StringIO())
    now = timezone.now().astimezone(JST)
    assert {"never_used", "concurrent_ips"} <= _inspect(now.year, now.month)
    previous = (now.year, now.month - 1) if now.month > 1 else (now.year - 1, 12)
    assert "off_hours" in _inspect(*previous)

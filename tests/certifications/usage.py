"""How much of a daily limit a person has used, read back from the counters certifications.limits reserves."""

from __future__ import annotations

from django.utils import timezone

from accounts.models import User
from certifications.models import DailyUsage


def usage_today(*, user: User, kind: str) -> int:
    row = DailyUsage.objects.filter(user=user, day=timezone.localdate(), kind=kind).values_list("count", flat=True)
    return next(iter(row), 0)

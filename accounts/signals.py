from __future__ import annotations

from typing import Any

from axes.signals import user_locked_out
from django.dispatch import receiver

from audit.events import record_event


@receiver(user_locked_out)
def record_lockout(sender: Any, request: Any = None, username: str | None = None, **kwargs: Any) -> None:
    record_event(action="auth.locked_out", request=request, data={"username": username})

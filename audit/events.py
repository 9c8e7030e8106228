"""Security events (login, lockout, MFA, consent, account transitions, officer/admin actions).

PLACEHOLDER signature agreed between apps; the audit work gives it its real, append-only storage.
"""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest


def record_event(
    *,
    action: str,
    request: HttpRequest | None = None,
    actor: Any = None,
    target_user: Any = None,
    organisation: Any = None,
    data: dict[str, Any] | None = None,
) -> None:
    """Record one security event. `action` is namespaced, e.g. "account.suspended", "auth.login_failed".

    `data` must never hold passwords, tokens, TOTP codes or session keys.
    """
    return None

"""Security events (login, lockout, MFA, consent, account transitions, officer/admin actions).

Each call writes one append-only row at once (audit.writer), with who, when, the client IP and the
request id of the request it happened in (taken from the request, or from the audit context when the
caller has none, e.g. a service called from a view).
"""

from __future__ import annotations

import json
from typing import Any

from django.http import HttpRequest
from django.utils import timezone

from audit import context
from audit.writer import write_event
from renergy.client_ip import client_ip

# Keys whose values never enter the trail, whatever the caller passes (masked, not dropped, so the
# record still shows that the key was present).
SENSITIVE_KEYS = frozenset(
    {"password", "password1", "password2", "token", "otp_token", "code", "totp", "secret", "session_key", "key"}
)


def _storable(text: str) -> str:
    # PostgreSQL JSON refuses \u0000: a NUL would make the write fail and the event vanish, so it is written as
    # a visible escape instead (requests carrying one are refused before any view, renergy.middleware).
    return text.replace("\x00", "\\x00")


def _mask(value: Any) -> Any:
    if isinstance(value, dict):
        return {
            _storable(str(k)): "[masked]" if str(k).lower() in SENSITIVE_KEYS else _mask(v) for k, v in value.items()
        }
    if isinstance(value, list | tuple):
        return [_mask(v) for v in value]
    if isinstance(value, str):
        return _storable(value)
    if isinstance(value, int | float | bool) or value is None:
        return value
    return _storable(str(value))


def _pk(obj: Any) -> Any:
    return getattr(obj, "pk", obj)


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

    `data` must never hold passwords, tokens, TOTP codes or session keys (such keys are masked anyway).
    Raises audit.disclosure.AuditUnavailable when the event cannot be written.
    """
    ctx = context.current()
    request_id = getattr(request, "audit_request_id", None) if request is not None else None
    ip = client_ip(request) if request is not None else None
    if request_id is None and ctx is not None:
        request_id, ip = ctx.request_id, ip or ctx.ip
    if actor is None and request is not None:
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated:
            actor = user
    if organisation is None:
        for person in (target_user, actor):
            if person is not None and getattr(person, "organisation_id", None):
                organisation = person.organisation_id
                break
    write_event(
        {
            "at": timezone.now(),
            "action": action[:100],
            "request_id": request_id,
            "actor_id": _pk(actor),
            "target_user_id": _pk(target_user),
            "organisation_id": _pk(organisation),
            "ip": ip,
            "data": _mask(data or {}),
        }
    )


# A bulk event names at most this many accounts, so each record stays a few kilobytes (and one spreadsheet cell).
BULK_EVENT_ACCOUNTS = 1000


def events_insert_sql(
    *, action: str, data: dict[str, Any], source: str, user_column: str, organisation_column: str
) -> tuple[str, dict[str, Any]]:
    """One INSERT … SELECT that records `action` for the rows of the CTE `source` (a bulk service's
    UPDATE … RETURNING): one event per organisation and BULK_EVENT_ACCOUNTS accounts, naming them in
    data["user_ids"] (ascending; SecurityEvent.user_ids). A row per account would cost the daily run more
    than its UPDATE itself, each row paying its hash and its index entries. Same columns and masking as
    record_event, no request (system actions); the database hashes each row on insert, as it hashes every
    event."""
    from audit.hashing import EVENT_FIELDS

    select = {
        "at": "%(event_at)s",
        "action": "%(event_action)s",
        "request_id": "NULL::uuid",
        "actor_id": "NULL::bigint",
        "target_user_id": "NULL::bigint",
        "organisation_id": "organisation_id",
        "ip": "NULL::inet",
        "data": "%(event_data)s::jsonb || jsonb_build_object('user_ids', user_ids)",
    }
    numbered = (
        f"SELECT {user_column} AS user_id, {organisation_column} AS organisation_id, "  # noqa: S608 - our names
        f"(row_number() OVER (PARTITION BY {organisation_column} ORDER BY {user_column}) - 1) "
        f"/ {BULK_EVENT_ACCOUNTS} AS chunk FROM {source}"
    )
    sql = (
        f"INSERT INTO audit_securityevent ({', '.join(EVENT_FIELDS)}) "  # noqa: S608 - names are this module's constants
        f"SELECT {', '.join(select[column] for column in EVENT_FIELDS)} FROM ("
        "SELECT organisation_id, chunk, jsonb_agg(user_id ORDER BY user_id) AS user_ids "
        f"FROM ({numbered}) AS numbered GROUP BY organisation_id, chunk ORDER BY organisation_id, chunk) AS grouped"
    )
    params = {
        "event_at": timezone.now(),
        "event_action": action[:100],
        "event_data": json.dumps(_mask(data), ensure_ascii=False),
    }
    return sql, params

"""Per-request audit context (request id, client IP), readable where no request object is passed.

Context variables, not thread locals: they follow the request through sync and async code alike and
are reset when the request ends, so nothing leaks into the next request on the same worker.
"""

from __future__ import annotations

from contextvars import ContextVar, Token
from dataclasses import dataclass


@dataclass(frozen=True)
class RequestContext:
    request_id: str
    ip: str


_current: ContextVar[RequestContext | None] = ContextVar("renergy_audit_request", default=None)


def current() -> RequestContext | None:
    return _current.get()


def current_request_id() -> str | None:
    """AUDITLOG_CID_GETTER: django-auditlog stores our request id as the correlation id of each model change."""
    ctx = _current.get()
    return ctx.request_id if ctx else None


def activate(ctx: RequestContext) -> Token[RequestContext | None]:
    return _current.set(ctx)


def deactivate(token: Token[RequestContext | None]) -> None:
    _current.reset(token)

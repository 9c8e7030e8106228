"""One access record per request, written before the response leaves (fail closed).

Outermost (before WhiteNoise), so every URL, static files included, every error page and every
denial by the access gate is recorded. The record is one INSERT in autocommit after the view finished
(audit.writer); if it cannot be written, the response is replaced by a 503 that carries no data,
except for the health check (AUDIT_FAIL_OPEN_PATHS), which must keep answering so that orchestration sees the outage.
"""

from __future__ import annotations

import hashlib
import logging
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any, cast
from urllib.parse import parse_qsl, urlencode

from django.conf import settings
from django.core.signals import got_request_exception
from django.db import InterfaceError, OperationalError
from django.http import FileResponse, HttpRequest, HttpResponse, HttpResponseBase, StreamingHttpResponse
from django.utils import timezone
from django.utils.functional import empty

from audit import context, streaming
from audit.disclosure import AuditUnavailable, pending
from audit.writer import write_access
from renergy.client_ip import client_ip
from renergy.errors import audit_unavailable_response
from renergy.middleware import escape_control_characters

logger = logging.getLogger("audit")

_STARTED = "_renergy_audit_started"
_WRITTEN = "_renergy_audit_written"
_PERSON = "_renergy_audit_person"
_DATABASE_FAILED = "_renergy_database_failed"
REQUEST_ID_HEADER = "X-Request-ID"


def _clean(text: str, limit: int) -> str:
    # PostgreSQL text cannot hold NUL, and a record must show what was sent: control characters are written as
    # visible escapes, never dropped (renergy.middleware refuses such requests, and this is their record).
    return escape_control_characters(text)[:limit]


def session_hash(request: HttpRequest) -> str:
    session = getattr(request, "session", None)
    key = getattr(session, "session_key", None) if session is not None else None
    return hashlib.sha256(key.encode()).hexdigest() if key else ""


def _safe_path(request: HttpRequest) -> str:
    """The path with secret URL arguments (activation tokens and the like) replaced."""
    path = request.path
    match = getattr(request, "resolver_match", None)
    if match is not None:
        for name, value in match.kwargs.items():
            if name in settings.AUDIT_SECRET_URL_KWARGS and value:
                path = path.replace(str(value), "[redacted]")
    return _clean(path, 500)


def _safe_query(request: HttpRequest) -> str:
    """Query keys only, with values kept for the few keys known to hold no secret or personal data."""
    if not request.META.get("QUERY_STRING"):
        return ""
    allowed = settings.AUDIT_QUERY_VALUE_KEYS
    pairs = []
    for key, value in parse_qsl(request.META["QUERY_STRING"], keep_blank_values=True):
        pairs.append((key, value[:50] if key in allowed else ""))
    return _clean(urlencode(pairs), 500)


def _resolved_user(request: HttpRequest) -> Any:
    user = getattr(request, "user", None)
    # Never re-derive the person from the cookie here (easy-audit's extra queries): if nothing in the
    # request resolved the user, nothing needed it, and the session hash still ties the record.
    if user is None or getattr(user, "_wrapped", None) is empty or not user.is_authenticated:
        return None
    return user


def _who(request: HttpRequest) -> tuple[Any, Any, str]:
    # The person as the view saw them: a logout (or a session ended by the gate) leaves request.user anonymous.
    user = _resolved_user(request) or getattr(request, _PERSON, None)
    if user is None:
        return None, None, ""
    organisation = user.organisation
    return user.pk, organisation.pk, organisation.kind


def build_record(request: HttpRequest, *, status: int, part: int = 0) -> dict[str, Any]:
    started = getattr(request, _STARTED, None) or time.perf_counter()
    user_id, organisation_id, role = _who(request)
    match = getattr(request, "resolver_match", None)
    disclosure = pending(request)
    facility_ids = disclosure.facility_ids[disclosure.recorded :] if disclosure else None
    if getattr(request, "audit_request_id", None) is None:  # a request that did not pass the middleware
        request.audit_request_id = str(uuid.uuid4())  # type: ignore[attr-defined]
    return {
        "at": timezone.now(),
        "request_id": request.audit_request_id,  # type: ignore[attr-defined]
        "user_id": user_id,
        "organisation_id": organisation_id,
        "role": role,
        "session_hash": session_hash(request),
        "ip": client_ip(request),
        "user_agent": _clean(request.META.get("HTTP_USER_AGENT", ""), 300),
        "method": _clean(request.method or "", 10),
        "path": _safe_path(request),
        "query": _safe_query(request),
        "route": _clean(match.view_name, 200) if match is not None else "",
        "status": status,
        "duration_ms": int((time.perf_counter() - started) * 1000),
        "disclosure_kind": disclosure.kind if disclosure else "",
        "facility_ids": facility_ids,
        "fields": disclosure.fields if disclosure else None,
        "row_count": len(facility_ids) if facility_ids is not None else 0,
        "part": part,
    }


def write_request_record(request: HttpRequest, *, status: int) -> None:
    """Write the request's record now (raises AuditUnavailable). Once it is written, later calls write a
    continuation record only for facility IDs disclosed since (a streamed export's next chunk)."""
    if not settings.AUDIT_ENABLED:
        return
    disclosure = pending(request)
    if not getattr(request, _WRITTEN, False):
        write_access(build_record(request, status=status))
        setattr(request, _WRITTEN, True)
    elif disclosure is not None and disclosure.recorded < len(disclosure.facility_ids):
        write_access(build_record(request, status=status, part=disclosure.parts + 1))
        disclosure.parts += 1
    else:
        return
    if disclosure is not None:
        disclosure.recorded = len(disclosure.facility_ids)


class AccessRecordMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponseBase]) -> None:
        self.get_response = get_response
        self.fail_open_paths = frozenset(settings.AUDIT_FAIL_OPEN_PATHS)

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        setattr(request, _STARTED, time.perf_counter())
        request_id = str(uuid.uuid4())
        request.audit_request_id = request_id  # type: ignore[attr-defined]
        token = context.activate(context.RequestContext(request_id=request_id, ip=client_ip(request)))
        try:
            response = self.get_response(request)
            if getattr(request, _DATABASE_FAILED, False) and response.status_code >= 500:
                # The database failed under a middleware (the session, the person): the outage page, not a 500.
                response = audit_unavailable_response(request)
            try:
                write_request_record(request, status=response.status_code)
                if _is_data_stream(response):
                    response = self._guard_stream(request, cast(StreamingHttpResponse, response))
            except (AuditUnavailable, OperationalError, InterfaceError):  # the latter from a stream's first chunk
                if request.path not in self.fail_open_paths:
                    response.close()  # a streamed export's generator and cursors are released unread
                    response = audit_unavailable_response(request)
            response[REQUEST_ID_HEADER] = request_id
            return response
        finally:
            context.deactivate(token)

    @staticmethod
    def _guard_stream(request: HttpRequest, response: StreamingHttpResponse) -> StreamingHttpResponse:
        """Produce the first chunk now (AuditUnavailable → the outage page), reset the connection on a later
        failure (audit.streaming)."""
        iterator = iter(cast(Iterator[bytes], response.streaming_content))
        first = streaming.first_chunk(iterator)
        response.streaming_content = streaming.guarded(request, first, iterator)
        return response

    def process_view(self, request: HttpRequest, *args: Any) -> None:
        # Runs after the access gate resolved the person and before the view may sign them out.
        setattr(request, _PERSON, _resolved_user(request))

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        # A view whose immediate disclosure could not be recorded stops with the outage page, not a 500.
        if isinstance(exception, AuditUnavailable):
            return audit_unavailable_response(request)
        # The database is unreachable, or a lock or statement limit (renergy.databases) gave up: an outage
        # page that says so, within the limit, rather than a 500 or a request that hangs.
        if isinstance(exception, OperationalError | InterfaceError):
            logger.warning("database unavailable during %s: %s", request.path, exception)
            return audit_unavailable_response(request)
        return None


def _note_database_failure(sender: object, request: HttpRequest | None = None, **kwargs: object) -> None:
    """got_request_exception: Django turned an exception into a 500 before it reached this middleware (it was
    raised by an inner middleware). Remember a database outage, so the answer is the 503 outage page."""
    error = sys.exc_info()[1]
    if request is not None and isinstance(error, OperationalError | InterfaceError):
        setattr(request, _DATABASE_FAILED, True)


got_request_exception.connect(_note_database_failure, dispatch_uid="renergy-audit-database-failure")


def _is_data_stream(response: HttpResponseBase) -> bool:
    # Static and media files (FileResponse) disclose nothing and are read from disk: no first-chunk read.
    return isinstance(response, StreamingHttpResponse) and not isinstance(response, FileResponse)

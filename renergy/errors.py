"""Error pages that Django does not render by itself: CSRF failure and "audit unavailable" (503).

The 503 page is rendered without a request context on purpose: it is shown when the audit store is
down, so it must not touch the database (no user lookup, no context processors).
"""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.template.loader import render_to_string
from django.utils import translation

AUDIT_UNAVAILABLE_TEMPLATE = "errors/503.html"


def csrf_failure(request: HttpRequest, reason: str = "") -> HttpResponse:
    """CSRF_FAILURE_VIEW: a plain explanation instead of Django's technical page; the reason stays in logs."""
    return render(request, "errors/csrf.html", status=403)


def audit_unavailable_response(request: HttpRequest | None = None, *, retry_after_seconds: int = 60) -> HttpResponse:
    """The 503 served when the access record cannot be written (fail closed): no data, a clear message.

    Safe to call from middleware that runs before sessions and LocaleMiddleware: the language comes
    from the cookie / Accept-Language only, and nothing here reads the database.
    """
    language = translation.get_language_from_request(request) if request is not None else None
    with translation.override(language or translation.get_language()):
        body = render_to_string(AUDIT_UNAVAILABLE_TEMPLATE)
    response = HttpResponse(body, status=503, content_type="text/html; charset=utf-8")
    response["Retry-After"] = str(retry_after_seconds)
    response["Cache-Control"] = "no-store"
    return response

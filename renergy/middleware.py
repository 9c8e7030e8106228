"""Two request-wide rules that belong to no view: input that cannot be stored as sent is refused before
any view sees it, and no page or download may be kept by a browser or proxy cache.

InputGuardMiddleware: PostgreSQL text and JSON refuse NUL, and other control characters in a path,
parameter, form field or header are never legitimate input. Stripping them silently would store something
other than what was sent (and a NUL that reached a query or an event would make the write fail, losing the
event), so the request is answered 400 before sessions, the access gate or the view run. The refusal is a
security event naming where the character was, with the offending value escaped; the access record of the
request shows the path escaped the same way.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable

from django.core.files.uploadedfile import UploadedFile
from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest, QueryDict
from django.http.multipartparser import MultiPartParserError
from django.template.loader import render_to_string
from django.utils import translation
from django.utils.cache import add_never_cache_headers

from audit.events import record_event

# In a path or a header nothing below U+0020 is legitimate (a tab aside in headers); in a parameter or form
# field, a textarea may send tabs and line breaks.
_PATH_FORBIDDEN = re.compile(r"[\x00-\x1f\x7f]")
_HEADER_FORBIDDEN = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")
_VALUE_FORBIDDEN = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_SECRET_NAME = re.compile(r"pass|token|code|secret|csrf|cookie|authorization", re.IGNORECASE)
_VALUE_LIMIT = 200


def escape_control_characters(text: str) -> str:
    """Control characters as visible escapes (a NUL becomes the four characters \\x00): storable, and
    nobody reading the record can mistake it for what an ordinary client sent."""
    return _CONTROL.sub(lambda match: f"\\x{ord(match.group()):02x}", text)


def _first_offence(request: HttpRequest) -> tuple[str, str, str] | None:
    """(where, name, value) of the first input that cannot be stored as sent, or None."""
    if _PATH_FORBIDDEN.search(request.path_info) or _PATH_FORBIDDEN.search(request.path):
        return "path", "", request.path
    for key, value in request.META.items():
        is_header = key.startswith("HTTP_") or key in ("CONTENT_TYPE", "CONTENT_LENGTH")
        if is_header and isinstance(value, str) and _HEADER_FORBIDDEN.search(value):
            return "header", key, value
    for where, data in (("query", request.GET), ("form", _form_data(request))):
        for key, values in data.lists():
            for value in _strings(key, values):
                if _VALUE_FORBIDDEN.search(value):
                    return where, key, value
    for key, upload in _uploads(request):
        if _VALUE_FORBIDDEN.search(key) or _VALUE_FORBIDDEN.search(upload.name or ""):
            return "form", key, upload.name or ""
    return None


def _strings(key: str, values: Iterable[object]) -> Iterable[str]:
    yield key
    for value in values:
        if isinstance(value, str):
            yield value


def _form_data(request: HttpRequest) -> QueryDict:
    return request.POST if request.method == "POST" else QueryDict()


def _uploads(request: HttpRequest) -> Iterable[tuple[str, UploadedFile]]:
    if request.method != "POST":
        return []
    return [(key, upload) for key, uploads in request.FILES.lists() for upload in uploads]


def _bad_request(request: HttpRequest) -> HttpResponse:
    # Rendered like the audit-outage page: before sessions and the locale middleware, touching no database.
    language = translation.get_language_from_request(request)
    with translation.override(language or translation.get_language()):
        body = render_to_string("400.html")
    return HttpResponseBadRequest(body, content_type="text/html; charset=utf-8")


class InputGuardMiddleware:
    """Refuses (400) a request carrying input that cannot be stored as sent; records the refusal."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        try:
            offence = _first_offence(request)
        except MultiPartParserError:
            # A body that does not parse as the multipart it claims to be: refused here instead of a 500 later.
            offence = ("form", "", "[unparseable multipart body]")
        if offence is None:
            return self.get_response(request)
        where, name, value = offence
        shown = "[masked]" if _SECRET_NAME.search(name) else escape_control_characters(value[:_VALUE_LIMIT])
        record_event(
            action="request.rejected_input",
            request=request,
            data={
                "where": where,
                "name": escape_control_characters(name[:_VALUE_LIMIT]),
                "value": shown,
                "method": escape_control_characters((request.method or "")[:10]),
                "path": escape_control_characters(request.path[:500]),
            },
        )
        return _bad_request(request)


class NoStoreMiddleware:
    """Every page and download answers `Cache-Control: no-store` (and its older equivalents): facility data,
    access records, reports and consoles must never sit in a shared or browser cache. One place for every
    view, so a view added later cannot forget it; static files are served before this by WhiteNoise."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if "no-store" not in response.get("Cache-Control", ""):
            add_never_cache_headers(response)
        return response

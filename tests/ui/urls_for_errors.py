"""A URLconf that adds a view which fails and one that answers as during an audit outage, to see the 500 and
503 pages as a visitor would."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.urls import path

from accounts.permissions import public
from renergy.errors import audit_unavailable_response
from renergy.urls import urlpatterns as project_urlpatterns


@public
def broken(request: HttpRequest) -> HttpResponse:
    raise RuntimeError("secret-internal-detail")


@public
def audit_down(request: HttpRequest) -> HttpResponse:
    return audit_unavailable_response(request)


urlpatterns = [path("boom/", broken), path("audit-down/", audit_down), *project_urlpatterns]

"""A URLconf that adds a view which fails, to see the 500 page as a visitor would."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.urls import path

from accounts.permissions import public
from renergy.urls import urlpatterns as project_urlpatterns


@public
def broken(request: HttpRequest) -> HttpResponse:
    raise RuntimeError("secret-internal-detail")


urlpatterns = [path("boom/", broken), *project_urlpatterns]

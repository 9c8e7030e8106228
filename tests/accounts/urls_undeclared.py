"""A URLconf with a view that declares no access rule, for the deny-by-default test."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.urls import include, path
from django.views import View

from accounts.permissions import public


def undeclared(request: HttpRequest) -> HttpResponse:
    return HttpResponse("secret data")


class UndeclaredClassView(View):
    def get(self, request: HttpRequest) -> HttpResponse:
        return HttpResponse("secret data")


@public
class DeclaredClassView(View):
    def get(self, request: HttpRequest) -> HttpResponse:
        return HttpResponse("public page")


urlpatterns = [
    path("undeclared/", undeclared),
    path("undeclared-class/", UndeclaredClassView.as_view()),
    path("declared-class/", DeclaredClassView.as_view()),
    path("i18n/", include("django.conf.urls.i18n")),
    path("", include("accounts.urls")),
]

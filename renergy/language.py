"""The language switch (Japanese first, English available), usable before and after sign-in."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.views.i18n import set_language as django_set_language

from accounts.permissions import public


@public
def set_language(request: HttpRequest) -> HttpResponse:
    # Wrapped rather than decorated in place so the access rule is ours, not a mutation of Django's function.
    return django_set_language(request)

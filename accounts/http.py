"""The request type of views behind the access gate.

AccessGateMiddleware lets a view declared `signed_in` or `onboarding` run only for an authenticated account, so
inside such a view `request.user` is a `User`, never `AnonymousUser`; annotating the view with this type says so
to the type checker instead of narrowing at every use.
"""

from __future__ import annotations

from django.http import HttpRequest

from accounts.models import User


class AuthenticatedHttpRequest(HttpRequest):
    user: User

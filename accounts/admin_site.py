from __future__ import annotations

from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import reverse
from django.utils.translation import gettext_lazy as _
from django_otp.admin import OTPAdminSite

from accounts.models import AccountStatus


class RenergyAdminSite(OTPAdminSite):
    """Defence in depth behind AccessGateMiddleware (which gives the whole admin namespace one rule):
    OTPAdminSite alone checks a verified device but not enrolment, status or consent, so we check them too."""

    site_header = _("再エネ業務管理システム 管理サイト")
    site_title = _("管理サイト")

    def has_permission(self, request: HttpRequest) -> bool:
        user = request.user
        return bool(
            user.is_authenticated and user.is_staff and user.status == AccountStatus.ACTIVE and user.is_verified()
        )

    def login(self, request: HttpRequest, extra_context: dict | None = None) -> HttpResponse:
        # One sign-in for everyone: the admin has no password-only login form of its own.
        return HttpResponseRedirect(reverse("accounts:login"))

    def password_change(self, request: HttpRequest, extra_context: dict | None = None) -> HttpResponse:
        # Django's own form checks the current password without counting failures, refusing while locked out or
        # recording anything: the one password change (accounts.authentication.reauthenticate) serves the admin too.
        return HttpResponseRedirect(reverse("accounts:password_change"))

    def password_change_done(self, request: HttpRequest, extra_context: dict | None = None) -> HttpResponse:
        return HttpResponseRedirect(reverse("accounts:account"))

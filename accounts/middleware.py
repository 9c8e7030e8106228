"""AccessGateMiddleware: deny by default. Every view must declare who may use it (accounts.permissions).

Before anything else a person may also have to change their password (organisation's expiry, officer's
request). Also where the server enforces the session limits (30 min idle, 12 h absolute), the organisation's IP
ranges and allowed hours for signed-in sessions, per-use approval, and the throttled last-activity stamps
used by idle suspension.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from urllib.parse import urlencode

from django.contrib.auth import logout
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse

from accounts.models import AccountStatus, Organisation
from accounts.passwords import password_change_due
from accounts.permissions import ADMIN_SITE_RULE, AccessRule, rule_for
from accounts.sessions import session_ended, session_expiry_reason, session_seen
from accounts.terms import terms_accepted_in_session
from accounts.use_policy import allowed_hours_refused, use_approval_needed
from accounts.webauthn import webauthn_enrolment_due
from audit.events import record_event
from renergy.client_ip import client_ip

SIGNED_OUT_REASON = "signed_out_reason"


def end_session(request: HttpRequest, reason: str) -> None:
    """Sign the person out on the server and leave the reason for the login page."""
    user = request.user
    session_ended(request, reason)
    record_event(action=f"session.{reason}", request=request, actor=user, target_user=user)
    logout(request)
    request.session[SIGNED_OUT_REASON] = reason


def redirect_to_login(request: HttpRequest) -> HttpResponse:
    # get_full_path() is always a local path, so `next` can only point back into this site.
    return HttpResponseRedirect(f"{reverse('accounts:login')}?{urlencode({'next': request.get_full_path()})}")


class AccessGateMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        user = request.user
        if user.is_authenticated:
            reason = session_expiry_reason(request)
            if reason is None and not (user.is_active and user.organisation.is_active):
                reason = "account_inactive"
            if reason is None and not user.organisation.allows_ip(client_ip(request)):
                reason = "ip_refused"
            if reason is None and allowed_hours_refused(request=request, user=user, step="request"):
                # Outside the organisation's allowed hours nothing is served (process_view answers the page, so
                # the inner middleware still sets its headers), and the session does not outlive them: the next
                # sign-in is refused the same way until the hours begin.
                request.outside_hours_of = user.organisation  # type: ignore[attr-defined]
                end_session(request, "outside_hours")
                return self.get_response(request)
            if reason is not None:
                end_session(request, reason)
            else:
                session_seen(request, user)
        return self.get_response(request)

    def process_view(
        self, request: HttpRequest, view_func: Callable[..., Any], view_args: Any, view_kwargs: Any
    ) -> HttpResponse | None:
        outside_hours_of = getattr(request, "outside_hours_of", None)
        if outside_hours_of is not None:
            return outside_hours_response(request, outside_hours_of)
        rule = rule_for(view_func)
        match = request.resolver_match
        if rule is None and match is not None and match.app_names[:1] == ["admin"]:
            rule = ADMIN_SITE_RULE
        if rule is None:
            record_event(
                action="access.undeclared_view",
                request=request,
                data={"path": request.path, "view": getattr(match, "_func_path", repr(view_func))},
            )
            raise PermissionDenied("This view declares no access rule.")
        return self._check(request, rule)

    def _check(self, request: HttpRequest, rule: AccessRule) -> HttpResponse | None:
        if rule.level == "public":
            return None
        user = request.user
        if not user.is_authenticated:
            return redirect_to_login(request)
        if rule.level == "onboarding":
            return None
        if not user.is_verified():
            # A password-authenticated onboarding session: continue where the activation left off.
            if user.status == AccountStatus.INVITED:
                return HttpResponseRedirect(reverse("accounts:onboarding_authenticator"))
            end_session(request, "not_verified")
            return redirect_to_login(request)
        if user.status != AccountStatus.ACTIVE or not terms_accepted_in_session(request):
            return HttpResponseRedirect(f"{reverse('accounts:terms')}?{urlencode({'next': request.get_full_path()})}")
        if password_change_due(user):
            # Expired under the organisation's rule, or an officer asked for it (transfer): nothing else works.
            if rule.password_change:
                return None
            return HttpResponseRedirect(reverse("accounts:password_change"))
        if not rule.key_enrolment and webauthn_enrolment_due(user):
            # The organisation requires a security key: the person enrols one before anything else.
            return HttpResponseRedirect(reverse("accounts:webauthn_enrol"))
        if not rule.allows_role(user):
            record_event(action="access.denied", request=request, actor=user, data={"path": request.path})
            raise PermissionDenied("This role may not use this view.")
        if not (rule.before_use_approval or rule.key_enrolment) and use_approval_needed(user):
            # Per-use approval (都度承認): without an approved window open, the person can only ask for one.
            record_event(
                action="access.use_approval_required", request=request, actor=user, data={"path": request.path}
            )
            return render(request, "accounts/use_approval_required.html", status=403)
        return None


def outside_hours_response(request: HttpRequest, organisation: Organisation) -> HttpResponse:
    """The 403 page shown at sign-in and on every page outside the organisation's allowed hours."""
    return render(request, "accounts/outside_hours.html", {"hours": organisation}, status=403)

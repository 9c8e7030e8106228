"""Activation from the e-mailed link: password → authenticator (+ recovery codes) → terms → active.

The authenticator step is reachable only in the session that consumed the activation link, and only for
an hour: an INVITED person who signs in weeks later with the password alone cannot register a device.
"""

from __future__ import annotations

import time

from django.contrib.auth import login, logout, update_session_auth_hash
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _

from accounts.authentication import LOGIN_BACKEND
from accounts.forms import NewPasswordForm, TermsAcceptForm
from accounts.http import AuthenticatedHttpRequest
from accounts.lifecycle import account_activate, account_password_set_from_link, activation_link_find
from accounts.mfa import recovery_codes_regenerate
from accounts.middleware import redirect_to_login
from accounts.models import AccountStatus
from accounts.permissions import onboarding, public
from accounts.sessions import session_started
from accounts.terms import terms_accept, terms_current
from accounts.views.common import authenticator_step, safe_next

TOKEN_KEY = "activation_token"  # noqa: S105 - a session key name, not a secret
CONTEXT_KEY = "activation_context"
CONTEXT_SECONDS = 60 * 60


def _invalid_link(request: HttpRequest) -> HttpResponse:
    return render(request, "accounts/activation_invalid.html", status=410)


@public
def activate(request: HttpRequest, token: str) -> HttpResponse:
    """Checks the link without consuming it (mail scanners open links), then drops the token from the URL."""
    if activation_link_find(token) is None:
        return _invalid_link(request)
    if request.user.is_authenticated:
        logout(request)
    request.session[TOKEN_KEY] = token
    return redirect("accounts:activate_password")


@public
def activate_password(request: HttpRequest) -> HttpResponse:
    token = str(request.session.get(TOKEN_KEY) or "")
    link = activation_link_find(token) if token else None
    if link is None:
        return _invalid_link(request)
    form = NewPasswordForm(request.POST or None, user=link.user)
    if request.method == "POST" and form.is_valid():
        try:
            user = account_password_set_from_link(
                token=token, password=form.cleaned_data["new_password1"], request=request
            )
        except ValidationError:
            return _invalid_link(request)
        login(request, user, backend=LOGIN_BACKEND)
        session_started(request, user)
        request.session.pop(TOKEN_KEY, None)
        request.session[CONTEXT_KEY] = {"user_id": user.pk, "at": time.time()}
        return redirect("accounts:onboarding_authenticator")
    return render(request, "accounts/activate_password.html", {"form": form, "person": link.user})


def _activation_context_valid(request: HttpRequest) -> bool:
    context = request.session.get(CONTEXT_KEY) or {}
    return context.get("user_id") == request.user.pk and time.time() - context.get("at", 0) <= CONTEXT_SECONDS


@onboarding
def onboarding_authenticator(request: AuthenticatedHttpRequest) -> HttpResponse:
    user = request.user
    if user.status != AccountStatus.INVITED:
        return redirect("accounts:home")
    if user.is_verified():
        return redirect("accounts:terms")
    if not _activation_context_valid(request):
        return render(request, "accounts/activation_invalid.html", {"expired_context": True}, status=403)
    step = authenticator_step(
        request, user=user, wrong_code=_("認証コードが正しくありません。認証アプリの時刻設定も確認してください。")
    )
    if isinstance(step, HttpResponse):
        return step
    request.session.pop(CONTEXT_KEY, None)
    codes = recovery_codes_regenerate(user=user, request=request)
    return render(request, "accounts/recovery_codes.html", {"codes": codes, "next_url": reverse("accounts:terms")})


@onboarding
def terms(request: AuthenticatedHttpRequest) -> HttpResponse:
    """Accept the current terms: the last onboarding step, and again whenever a new version is published."""
    user = request.user
    if not user.is_verified():
        return redirect_to_login(request)
    current = terms_current()
    form = TermsAcceptForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        terms_accept(user=user, terms=current, request=request)
        if user.status == AccountStatus.INVITED:
            # The status is part of the session auth hash: re-sign this session for the now ACTIVE account.
            update_session_auth_hash(request, account_activate(user=user, request=request))
        return redirect(safe_next(request, request.GET.get("next"), reverse("accounts:home")))
    return render(request, "accounts/terms.html", {"form": form, "terms": current})

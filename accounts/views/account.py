"""The person's own pages: home, password, authenticator, recovery codes, sessions."""

from __future__ import annotations

import time

from django import forms
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from accounts.authentication import Outcome, reauthenticate, reauthentication_locked
from accounts.forms import ChangePasswordForm, ConfirmPasswordForm
from accounts.http import AuthenticatedHttpRequest
from accounts.lifecycle import account_password_change
from accounts.mfa import recovery_codes_regenerate, second_factor_changed
from accounts.models import AccountRequest, AccountRequestStatus
from accounts.passwords import password_change_due, password_expires_at
from accounts.permissions import password_change_page, signed_in
from accounts.sessions import session_end_others, sessions_active, sessions_recent
from accounts.views.common import authenticator_step
from accounts.webauthn import webauthn_credentials, webauthn_replaces_totp
from audit.events import record_event

REENROL_KEY = "mfa_reenrol_at"
REENROL_SECONDS = 10 * 60


def _locked_out(request: HttpRequest) -> HttpResponse:
    return render(request, "accounts/locked_out.html", status=429)


def _password_confirmed(
    request: AuthenticatedHttpRequest, form: forms.Form, field: str, purpose: str
) -> Outcome | None:
    """Check the form's current-password field through the one counted re-authentication (None: form invalid).
    A wrong password is a form error; a lockout is answered by the caller with the lockout page."""
    if request.method != "POST" or not form.is_valid():
        return None
    outcome = reauthenticate(request, form.cleaned_data[field], purpose=purpose)
    if outcome == Outcome.INVALID:
        form.add_error(field, _("パスワードが正しくありません。"))
    return outcome


REAUTH_SECONDS = 10 * 60


def password_reentered(request: HttpRequest, *, purpose: str) -> bool:
    """Whether the person re-entered their password for `purpose` within the last ten minutes."""
    started = request.session.get(f"reauth_at:{purpose}")
    return started is not None and time.time() - started <= REAUTH_SECONDS


def password_reentry(request: AuthenticatedHttpRequest, *, purpose: str, title: str) -> HttpResponse | None:
    """None when the password was re-entered for `purpose` recently; otherwise the password page, and after a
    correct password a redirect back to the same page. The security-key pages ask for the password only here,
    so how re-entry is checked changes in one place (a wrong password counts toward the sign-in lockout)."""
    if password_reentered(request, purpose=purpose):
        return None
    # The page's own form, sent after the ten minutes ran out: ask again, it is not a wrong password.
    expired = request.method == "POST" and "password" not in request.POST
    form = ConfirmPasswordForm(None if expired else (request.POST or None))
    outcome = None if expired else _password_confirmed(request, form, "password", purpose)
    if outcome == Outcome.LOCKED:
        return _locked_out(request)
    if outcome == Outcome.OK:
        request.session[f"reauth_at:{purpose}"] = time.time()
        return redirect(request.get_full_path())
    return render(request, "accounts/confirm_password.html", {"form": form, "purpose": title})


@signed_in()
def home(request: AuthenticatedHttpRequest) -> HttpResponse:
    user = request.user
    pending = 0
    if user.is_system_admin:
        pending = AccountRequest.objects.filter(status=AccountRequestStatus.PENDING).count()
    return render(request, "accounts/home.html", {"recent": sessions_recent(user), "pending_requests": pending})


@signed_in()
def account(request: AuthenticatedHttpRequest) -> HttpResponse:
    return render(
        request,
        "accounts/account.html",
        {
            "active_sessions": sessions_active(request.user),
            "current_session_id": request.session.get("user_session_id"),
            "security_keys": webauthn_credentials(request.user),
            "totp_replaced": webauthn_replaces_totp(request.user),
        },
    )


@password_change_page
def password_change(request: AuthenticatedHttpRequest) -> HttpResponse:
    user = request.user
    form = ChangePasswordForm(request.POST or None, user=user)
    outcome = _password_confirmed(request, form, "old_password", "password_change")
    if outcome == Outcome.LOCKED:
        return _locked_out(request)
    if outcome == Outcome.OK:
        try:
            account_password_change(user=user, password=form.cleaned_data["new_password1"], request=request)
        except ValidationError as error:
            form.add_error("new_password1", error)
        else:
            messages.success(request, _("パスワードを変更しました。他の端末のセッションは終了しました。"))
            return redirect("accounts:account")
    return render(
        request,
        "accounts/password_change.html",
        {"form": form, "change_due": password_change_due(user), "expires_at": password_expires_at(user)},
    )


@signed_in()
def authenticator_reenrol(request: AuthenticatedHttpRequest) -> HttpResponse:
    """Re-enrolment: the password first, then a new device within ten minutes; neither while locked out."""
    user = request.user
    started = request.session.get(REENROL_KEY)
    if started is None or time.time() - started > REENROL_SECONDS:
        form = ConfirmPasswordForm(request.POST or None)
        outcome = _password_confirmed(request, form, "password", "authenticator_reenrol")
        if outcome == Outcome.LOCKED:
            return _locked_out(request)
        if outcome == Outcome.OK:
            request.session[REENROL_KEY] = time.time()
            return redirect("accounts:authenticator_reenrol")
        context = {"form": form, "purpose": _("認証アプリの再登録")}
        return render(request, "accounts/confirm_password.html", context)
    if reauthentication_locked(request, purpose="authenticator_reenrol"):
        request.session.pop(REENROL_KEY, None)
        return _locked_out(request)
    step = authenticator_step(request, user=user, wrong_code=_("認証コードが正しくありません。"))
    if isinstance(step, HttpResponse):
        return step
    request.session.pop(REENROL_KEY, None)
    second_factor_changed(request, user=user, authenticator=True)
    messages.success(request, _("認証アプリを再登録しました。他の端末のセッションは終了しました。"))
    return redirect("accounts:account")


@signed_in()
def recovery_codes(request: AuthenticatedHttpRequest) -> HttpResponse:
    form = ConfirmPasswordForm(request.POST or None)
    outcome = _password_confirmed(request, form, "password", "recovery_codes")
    if outcome == Outcome.LOCKED:
        return _locked_out(request)
    if outcome == Outcome.OK:
        codes = recovery_codes_regenerate(user=request.user, request=request)
        second_factor_changed(request, user=request.user, authenticator=False)
        return render(
            request, "accounts/recovery_codes.html", {"codes": codes, "next_url": reverse("accounts:account")}
        )
    context = {"form": form, "purpose": _("リカバリーコードの再発行")}
    return render(request, "accounts/confirm_password.html", context)


@signed_in()
@require_POST
def sessions_end_others_view(request: AuthenticatedHttpRequest) -> HttpResponse:
    ended = session_end_others(user=request.user, request=request)
    record_event(action="session.ended_others", request=request, actor=request.user, data={"count": ended})
    messages.success(request, _("他の端末のセッションを終了しました。"))
    return redirect("accounts:account")

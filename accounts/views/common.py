from __future__ import annotations

from typing import Any

import django_otp
from django.http import HttpRequest, HttpResponse
from django.middleware.csrf import get_token
from django.shortcuts import render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django_otp.plugins.otp_totp.models import TOTPDevice

from accounts.forms import CodeStepForm
from accounts.mfa import totp_enrol_confirm, totp_enrol_start, totp_qr_svg, totp_secret_text
from accounts.models import User


def safe_next(request: HttpRequest, candidate: str | None, default: str = "/") -> str:
    """Only a path on this site: never another host, scheme or protocol-relative URL."""
    if not candidate or not candidate.startswith("/") or candidate.startswith("//") or "\\" in candidate:
        return default
    if not url_has_allowed_host_and_scheme(candidate, allowed_hosts={request.get_host()}):
        return default
    return candidate


def authenticator_step(request: HttpRequest, *, user: User, wrong_code: str) -> TOTPDevice | HttpResponse:
    """The QR-code page of a new authenticator, for onboarding and re-enrolment alike. A correct code returns the
    confirmed device, already verified in this session; otherwise the page to show (400 with `wrong_code`)."""
    device = totp_enrol_start(request, user=user)
    form = CodeStepForm(request.POST or None)
    error = ""
    if request.method == "POST" and form.is_valid():
        confirmed = totp_enrol_confirm(request, user=user, code=form.cleaned_data["code"])
        if confirmed is not None:
            django_otp.login(request, confirmed)
            return confirmed
        error = wrong_code
    return render(
        request,
        "accounts/authenticator.html",
        {"form": form, "error": error, "qr_svg": totp_qr_svg(device), "secret": totp_secret_text(device)},
        status=400 if error else 200,
    )


def webauthn_script_config(request: HttpRequest) -> dict[str, Any]:
    """The options the plugin's script reads from the `otp_webauthn_config` data block, pointed at our views."""
    return {
        "autocompleteLoginFieldSelector": None,
        "nextFieldSelector": "input[name='next']",
        "csrfToken": get_token(request),
        "beginAuthenticationUrl": reverse("accounts:webauthn_signin_begin"),
        "completeAuthenticationUrl": reverse("accounts:webauthn_signin_complete"),
        "beginRegistrationUrl": reverse("accounts:webauthn_register_begin"),
        "completeRegistrationUrl": reverse("accounts:webauthn_register_complete"),
    }

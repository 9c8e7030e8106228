"""Security keys and passkeys: enrol, name and remove one's own keys, and the JSON steps the plugin's script calls.

The browser script is django-otp-webauthn's own static file; it reads its options from a JSON data block
(`json_script`), which the strict CSP allows because the browser never runs it. The JSON views are the
plugin's, narrowed: registration needs a full sign-in and a password re-entered within ten minutes;
authentication serves only the person who passed the password step, and its outcome goes through
accounts.authentication.signin_webauthn (lockout, events, sessions).
"""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.i18n import JavaScriptCatalog
from django_otp_webauthn import exceptions
from django_otp_webauthn.models import WebAuthnCredential
from django_otp_webauthn.views import (
    BeginCredentialAuthenticationView,
    BeginCredentialRegistrationView,
    CompleteCredentialAuthenticationView,
    CompleteCredentialRegistrationView,
)

from accounts.authentication import PENDING_KEY, Outcome, signin_pending_user, signin_webauthn
from accounts.forms import KeyNameForm
from accounts.http import AuthenticatedHttpRequest
from accounts.permissions import key_enrolment, public, signed_in
from accounts.views.account import password_reentered, password_reentry
from accounts.views.common import safe_next, webauthn_script_config
from accounts.views.signin import NEXT_KEY, OUTSIDE_HOURS_MESSAGE, REFUSALS
from accounts.webauthn import (
    webauthn_credentials,
    webauthn_enrol_complete,
    webauthn_enrolment_due,
    webauthn_remove,
    webauthn_rename,
)

REAUTH_PURPOSE = "security_keys"

SIGNIN_REFUSALS = {
    "credential_user_mismatch": gettext_lazy("このキーは、このアカウントに登録されたものではありません。"),
    "credential_not_found": gettext_lazy("このキーは、このアカウントに登録されたものではありません。"),
    "synced_passkey_refused": gettext_lazy(
        "所属組織の方針により、他の端末に同期できるパスキーではサインインできません。"
        "端末に固定されたセキュリティキーを使うか、リカバリーコードを入力してください。"
    ),
}


class PasswordReentryNeeded(exceptions.OTPWebAuthnApiError):
    status_code = 403
    default_detail = gettext_lazy("時間が経過したため、ページを再読み込みしてパスワードを入力し直してください。")
    default_code = "password_reentry_needed"


class SignInExpired(exceptions.OTPWebAuthnApiError):
    status_code = 403
    default_detail = gettext_lazy("時間が経過したため、もう一度メールアドレスとパスワードから入力してください。")
    default_code = "signin_expired"


@public
class WebAuthnScriptCatalog(JavaScriptCatalog):
    """The plugin's script messages (Japanese in locale/ja/LC_MESSAGES/djangojs.po) as a same-origin script."""

    packages = ["django_otp_webauthn"]


# --- enrolment and the account page -----------------------------------------------------------------------------


@key_enrolment
def webauthn_enrol(request: AuthenticatedHttpRequest) -> HttpResponse:
    """Add a key: the password first (again within ten minutes), then the key itself."""
    page = password_reentry(request, purpose=REAUTH_PURPOSE, title=_("セキュリティキーの登録"))
    if page is not None:
        return page
    user = request.user
    return render(
        request,
        "accounts/webauthn_enrol.html",
        {
            "webauthn_config": webauthn_script_config(request),
            "required": webauthn_enrolment_due(user),
            "device_bound_only": user.organisation.webauthn_device_bound_only,
            "security_keys": webauthn_credentials(user),
        },
    )


class _RegistrationRules:
    def check_can_register(self) -> None:
        if not password_reentered(self.request, purpose=REAUTH_PURPOSE):  # type: ignore[attr-defined]
            raise PasswordReentryNeeded()


@key_enrolment
class WebAuthnRegisterBegin(_RegistrationRules, BeginCredentialRegistrationView):
    pass


class JsonBodyRequest(HttpRequest):
    data: dict[str, Any]  # the plugin's views parse the JSON body into it before post() runs


@key_enrolment
class WebAuthnRegisterComplete(_RegistrationRules, CompleteCredentialRegistrationView):
    def post(self, request: JsonBodyRequest, *args: Any, **kwargs: Any) -> JsonResponse:
        user = self.get_user()
        device = webauthn_enrol_complete(request=request, user=user, state=self.get_state(), data=request.data)
        rename_url = reverse("accounts:webauthn_rename", args=[device.pk])
        return JsonResponse({"id": device.pk, "redirect_url": f"{rename_url}?new=1"})


@signed_in()
def webauthn_rename_view(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    credential = get_object_or_404(WebAuthnCredential, pk=pk, user=request.user, confirmed=True)
    form = KeyNameForm(request.POST or None, initial={"name": credential.name})
    if request.method == "POST" and form.is_valid():
        webauthn_rename(user=request.user, credential=credential, name=form.cleaned_data["name"], request=request)
        messages.success(request, _("セキュリティキーの名前を保存しました。"))
        return redirect("accounts:account")
    return render(
        request,
        "accounts/webauthn_rename.html",
        {"form": form, "credential": credential, "just_enrolled": request.GET.get("new") == "1"},
    )


@signed_in()
def webauthn_remove_view(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    credential = get_object_or_404(WebAuthnCredential, pk=pk, user=request.user, confirmed=True)
    page = password_reentry(request, purpose=REAUTH_PURPOSE, title=_("セキュリティキーの削除"))
    if page is not None:
        return page
    if request.method == "POST":
        webauthn_remove(user=request.user, credential=credential, request=request)
        messages.success(request, _("セキュリティキー「%(name)s」を削除しました。") % {"name": credential.name})
        return redirect("accounts:account")
    return render(request, "accounts/webauthn_remove.html", {"credential": credential})


# --- sign-in (second step) --------------------------------------------------------------------------------------


class _PendingPerson:
    """The person is the one who passed the password step in this session, never a signed-in user."""

    def get_user(self) -> Any:
        return signin_pending_user(self.request)  # type: ignore[attr-defined]

    def check_can_authenticate(self) -> None:
        if self.get_user() is None:
            raise SignInExpired()


@public
class WebAuthnSignInBegin(_PendingPerson, BeginCredentialAuthenticationView):
    pass


@public
class WebAuthnSignInComplete(_PendingPerson, CompleteCredentialAuthenticationView):
    def post(self, request: JsonBodyRequest, *args: Any, **kwargs: Any) -> JsonResponse:
        user = self.get_user()
        if user is None:
            raise SignInExpired()
        result = signin_webauthn(request, user=user, state=self.get_state(), data=request.data)
        if result.outcome == Outcome.OK:
            next_url = safe_next(request, request.session.pop(NEXT_KEY, ""), reverse("accounts:home"))
            return JsonResponse({"id": result.device.pk if result.device else None, "redirect_url": next_url})
        if result.outcome == Outcome.LOCKED:
            request.session.pop(PENDING_KEY, None)
            detail = _(
                "失敗が続いたため、サインインが一時的にロックされています。しばらく待ってから、もう一度お試しください。"
            )
            return JsonResponse({"detail": detail, "code": "locked"}, status=429)
        if result.outcome == Outcome.OUTSIDE_HOURS:
            return JsonResponse({"detail": str(OUTSIDE_HOURS_MESSAGE), "code": "outside_hours"}, status=403)
        if result.outcome == Outcome.IP_REFUSED:
            request.session.pop(PENDING_KEY, None)
            return JsonResponse({"detail": str(REFUSALS[Outcome.IP_REFUSED]), "code": "ip_refused"}, status=403)
        detail = str(SIGNIN_REFUSALS.get(result.reason) or "") or _(
            "キーを確認できませんでした。もう一度お試しください。"
        )
        return JsonResponse({"detail": str(detail), "code": result.reason or "invalid"}, status=400)

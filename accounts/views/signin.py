"""Sign-in in two steps (password, then the second factor) and sign-out."""

from __future__ import annotations

from django.contrib.auth import logout
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_POST

from accounts.authentication import (
    PENDING_KEY,
    Outcome,
    signin_password,
    signin_pending_user,
    signin_second_factor,
)
from accounts.forms import CodeStepForm, PasswordStepForm
from accounts.middleware import SIGNED_OUT_REASON, outside_hours_response
from accounts.permissions import public
from accounts.sessions import session_ended
from accounts.views.common import safe_next, webauthn_script_config
from accounts.webauthn import webauthn_credentials, webauthn_replaces_totp
from audit.events import record_event

NEXT_KEY = "signin_next"

REFUSALS = {
    Outcome.INVALID: gettext_lazy("メールアドレスまたはパスワードが正しくありません。"),
    Outcome.NOT_ACTIVATED: gettext_lazy(
        "アカウントの初期設定（認証アプリの登録）が完了していません。"
        "所属組織のシステム利用責任者に有効化リンクの再発行を依頼してください。"
    ),
    Outcome.IP_REFUSED: gettext_lazy("所属組織が登録した接続元以外からはサインインできません。"),
}

OUTSIDE_HOURS_MESSAGE = gettext_lazy("所属組織の利用可能時間外のため、サインインできません。")

SIGNED_OUT_MESSAGES = {
    "idle_timeout": gettext_lazy("30分間操作がなかったため、サインアウトしました。"),
    "absolute_timeout": gettext_lazy(
        "サインインから12時間が経過したため、サインアウトしました。もう一度サインインしてください。"
    ),
    "account_inactive": gettext_lazy("アカウントが停止または廃止されたため、サインアウトしました。"),
    "ip_refused": gettext_lazy("登録された接続元以外からの接続のため、サインアウトしました。"),
    "not_verified": gettext_lazy("もう一度サインインしてください。"),
    "outside_hours": gettext_lazy("所属組織の利用可能時間外のため、サインアウトしました。"),
}


@public
def login_password(request: HttpRequest) -> HttpResponse:
    if request.user.is_authenticated and request.user.is_verified():
        return redirect(safe_next(request, request.GET.get("next"), reverse("accounts:home")))
    notice = SIGNED_OUT_MESSAGES.get(request.session.pop(SIGNED_OUT_REASON, ""), "")
    form = PasswordStepForm(request.POST or None)
    error = ""
    if request.method == "POST" and form.is_valid():
        result = signin_password(
            request, username=form.cleaned_data["username"], password=form.cleaned_data["password"]
        )
        if result.outcome == Outcome.OK:
            request.session[NEXT_KEY] = safe_next(request, request.POST.get("next"), "")
            return redirect("accounts:login_code")
        if result.outcome == Outcome.LOCKED:
            return render(request, "accounts/locked_out.html", status=429)
        error = str(REFUSALS[result.outcome])
    status = 200 if not error else 400
    return render(
        request,
        "accounts/login.html",
        {
            "form": form,
            "error": error,
            "notice": notice,
            "next": safe_next(request, request.POST.get("next") or request.GET.get("next"), ""),
        },
        status=status,
    )


@public
def login_code(request: HttpRequest) -> HttpResponse:
    user = signin_pending_user(request)
    if user is None:
        request.session.pop(PENDING_KEY, None)
        return redirect("accounts:login")
    form = CodeStepForm(request.POST or None)
    has_keys = webauthn_credentials(user).exists()
    totp_replaced = has_keys and webauthn_replaces_totp(user)
    if has_keys:
        form.fields["code"].widget.attrs.pop("autofocus", None)  # the key is the first way offered
    if totp_replaced:
        form.fields["code"].label = _("リカバリーコード")
    error = ""
    if request.method == "POST" and form.is_valid():
        result = signin_second_factor(request, user=user, code=form.cleaned_data["code"])
        if result.outcome == Outcome.OK:
            return redirect(safe_next(request, request.session.pop(NEXT_KEY, ""), reverse("accounts:home")))
        if result.outcome == Outcome.LOCKED:
            request.session.pop(PENDING_KEY, None)
            return render(request, "accounts/locked_out.html", status=429)
        if result.outcome == Outcome.OUTSIDE_HOURS:
            return outside_hours_response(request, user.organisation)
        if result.outcome == Outcome.IP_REFUSED:
            request.session.pop(PENDING_KEY, None)
            context = {"form": PasswordStepForm(), "error": REFUSALS[result.outcome]}
            return render(request, "accounts/login.html", context, status=403)
        if result.reason == "webauthn_required":
            error = _(
                "所属組織の方針により、セキュリティキーを登録した方は認証アプリのコードではサインインできません。"
                "セキュリティキーを使うか、リカバリーコードを入力してください。"
            )
        else:
            error = _("認証コードが正しくないか、既に使用されています。")
    return render(
        request,
        "accounts/login_code.html",
        {
            "form": form,
            "error": error,
            "has_keys": has_keys,
            "totp_replaced": totp_replaced,
            "webauthn_config": webauthn_script_config(request) if has_keys else None,
        },
        status=400 if error else 200,
    )


@public
@require_POST
def logout_view(request: HttpRequest) -> HttpResponse:
    if request.user.is_authenticated:
        user = request.user
        session_ended(request, "signed_out")
        record_event(action="auth.logout", request=request, actor=user, target_user=user)
    logout(request)
    return redirect("accounts:login")

"""The responsibility officer's console: their own organisation's people and requests, nothing else."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import Http404, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_POST

from accounts.forms import AccountRequestForm, ReasonForm
from accounts.http import AuthenticatedHttpRequest
from accounts.lifecycle import (
    SuspensionCause,
    account_activation_resend,
    account_reactivation_request,
    account_request_create,
    account_retire,
    account_suspend,
)
from accounts.models import AccountRequest, User
from accounts.permissions import officer_only

if TYPE_CHECKING:
    from django_stubs_ext import StrOrPromise


def _own_person(request: AuthenticatedHttpRequest, pk: int) -> User:
    # Scoped in the query: a person of another organisation is simply not found.
    return get_object_or_404(User.objects.managed_by(request.user), pk=pk, organisation_id=request.user.organisation_id)


@officer_only
def officer_console(request: AuthenticatedHttpRequest) -> HttpResponse:
    organisation = request.user.organisation
    return render(
        request,
        "accounts/officer_console.html",
        {
            "organisation": organisation,
            "people": User.objects.managed_by(request.user)
            .filter(organisation=organisation)
            .order_by("status", "name"),
            "requests": AccountRequest.objects.filter(organisation=organisation).select_related("target_user")[:50],
            "reason_form": ReasonForm(),
        },
    )


@officer_only
def officer_request_account(request: AuthenticatedHttpRequest) -> HttpResponse:
    form = AccountRequestForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            account_request_create(officer=request.user, request=request, **form.cleaned_data)
        except ValidationError as error:
            form.add_error(None, error)
        else:
            messages.success(request, _("アカウント発行を申請しました。システム管理者の審査をお待ちください。"))
            return redirect("accounts:officer_console")
    return render(request, "accounts/officer_request.html", {"form": form})


def _suspend(request: AuthenticatedHttpRequest, person: User, reason: str) -> None:
    account_suspend(user=person, reason=reason, actor=request.user, cause=SuspensionCause.TRANSFER, request=request)


def _reactivate(request: AuthenticatedHttpRequest, person: User, reason: str) -> None:
    account_reactivation_request(user=person, officer=request.user, reason=reason, request=request)


def _retire(request: AuthenticatedHttpRequest, person: User, reason: str) -> None:
    account_retire(user=person, reason=reason, actor=request.user, request=request)


def _resend(request: AuthenticatedHttpRequest, person: User, reason: str) -> None:
    account_activation_resend(user=person, actor=request.user, request=request)


ACTIONS: dict[str, tuple[Callable[[AuthenticatedHttpRequest, User, str], None], StrOrPromise]] = {
    "suspend": (_suspend, gettext_lazy("アカウントを停止しました。")),
    "reactivate": (_reactivate, gettext_lazy("利用再開を申請しました。")),
    "retire": (_retire, gettext_lazy("アカウントを廃止しました。")),
    "resend": (_resend, gettext_lazy("有効化リンクを再送しました。")),
}


@officer_only
@require_POST
def officer_person_action(request: AuthenticatedHttpRequest, pk: int, action: str) -> HttpResponse:
    if action not in ACTIONS:
        raise Http404
    person = _own_person(request, pk)
    form = ReasonForm(request.POST)
    if action != "resend" and not form.is_valid():
        messages.error(request, _("理由を入力してください。"))
        return redirect("accounts:officer_console")
    handler, done = ACTIONS[action]
    try:
        handler(request, person, form.cleaned_data.get("reason", "") if form.is_valid() else "")
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
    else:
        messages.success(request, done)
    return redirect("accounts:officer_console")

"""The system administrator's console (contractor staff): requests, organisations, accounts, unlock."""

from __future__ import annotations

from axes.utils import reset as axes_reset
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.db.models import Count, Q
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from accounts.forms import AccountSearchForm, ReasonForm, SecondFactorPolicyForm
from accounts.lifecycle import (
    SuspensionCause,
    account_activation_resend,
    account_request_approve,
    account_request_reject,
    account_retire,
    account_suspend,
    organisation_second_factor_policy_set,
)
from accounts.models import AccountRequest, AccountRequestStatus, Organisation, SecondFactorPolicy, User
from accounts.permissions import system_admin_only
from accounts.webauthn import webauthn_credentials
from audit.events import record_event
from audit.models import SecurityEvent


@system_admin_only
def admin_requests(request: HttpRequest) -> HttpResponse:
    pending = AccountRequest.objects.filter(status=AccountRequestStatus.PENDING).select_related(
        "organisation", "requested_by", "target_user"
    )
    return render(request, "accounts/admin_requests.html", {"pending": pending, "reason_form": ReasonForm()})


@system_admin_only
@require_POST
def admin_request_decide(request: HttpRequest, pk: int, decision: str) -> HttpResponse:
    account_request = get_object_or_404(AccountRequest, pk=pk)
    try:
        if decision == "approve":
            account_request_approve(account_request=account_request, actor=request.user, request=request)
            messages.success(request, _("承認しました。本人に有効化リンクを送信しました。"))
        elif decision == "reject":
            form = ReasonForm(request.POST)
            account_request_reject(
                account_request=account_request,
                actor=request.user,
                reason=form.data.get("reason", ""),
                request=request,
            )
            messages.success(request, _("却下しました。"))
        else:
            raise Http404
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
    return redirect("accounts:admin_requests")


@system_admin_only
def admin_organisations(request: HttpRequest) -> HttpResponse:
    organisations = Organisation.objects.annotate(
        active_members=Count("members", filter=Q(members__status="active")),
        officers=Count("members", filter=Q(members__is_officer=True, members__status="active")),
    )
    return render(request, "accounts/admin_organisations.html", {"organisations": organisations})


def _policy_label(setting: dict) -> str:
    label = str(dict(SecondFactorPolicy.choices).get(setting.get("policy"), setting.get("policy", "")))
    return f"{label}（{_('端末に固定されたキーのみ')}）" if setting.get("device_bound_only") else label


@system_admin_only
def admin_organisation_second_factor(request: HttpRequest, pk: int) -> HttpResponse:
    """Which second factors the organisation's people may use, and the record of earlier changes."""
    organisation = get_object_or_404(Organisation, pk=pk)
    form = SecondFactorPolicyForm(
        request.POST or None,
        initial={
            "policy": organisation.second_factor_policy,
            "device_bound_only": organisation.webauthn_device_bound_only,
        },
    )
    if request.method == "POST" and form.is_valid():
        try:
            organisation_second_factor_policy_set(
                organisation=organisation,
                policy=form.cleaned_data["policy"],
                device_bound_only=form.cleaned_data["device_bound_only"],
                actor=request.user,
                request=request,
            )
        except ValidationError as error:
            messages.error(request, " ".join(error.messages))
        else:
            messages.success(request, _("「%(name)s」の二要素認証の方針を保存しました。") % {"name": organisation.name})
            return redirect("accounts:admin_organisations")
    changes = [
        {
            "at": event.at,
            "actor": event.actor,
            "before": _policy_label(event.data.get("before") or {}),
            "after": _policy_label(event.data.get("after") or {}),
        }
        for event in SecurityEvent.objects.filter(
            organisation=organisation, action="organisation.second_factor_policy_changed"
        ).select_related("actor")[:20]
    ]
    return render(
        request,
        "accounts/admin_organisation_second_factor.html",
        {"organisation": organisation, "form": form, "changes": changes},
    )


@system_admin_only
def admin_accounts(request: HttpRequest) -> HttpResponse:
    form = AccountSearchForm(request.GET or None)
    people = User.objects.select_related("organisation").order_by("organisation__name", "name")
    if form.is_valid() and form.cleaned_data["q"]:
        q = form.cleaned_data["q"]
        people = people.filter(Q(name__icontains=q) | Q(email__icontains=q) | Q(organisation__name__icontains=q))
    return render(request, "accounts/admin_accounts.html", {"form": form, "people": people[:200]})


@system_admin_only
def admin_account_detail(request: HttpRequest, pk: int) -> HttpResponse:
    person = get_object_or_404(User.objects.select_related("organisation"), pk=pk)
    return render(
        request,
        "accounts/admin_account.html",
        {"person": person, "reason_form": ReasonForm(), "security_keys": webauthn_credentials(person)},
    )


@system_admin_only
@require_POST
def admin_account_action(request: HttpRequest, pk: int, action: str) -> HttpResponse:
    person = get_object_or_404(User, pk=pk)
    reason = ReasonForm(request.POST).data.get("reason", "")
    try:
        if action == "suspend":
            cause = SuspensionCause.ANOMALY if request.POST.get("anomaly") else SuspensionCause.ADMINISTRATOR
            account_suspend(user=person, reason=reason, actor=request.user, cause=cause, request=request)
        elif action == "retire":
            account_retire(user=person, reason=reason, actor=request.user, request=request)
        elif action == "resend":
            account_activation_resend(user=person, actor=request.user, request=request)
        elif action == "unlock":
            removed = axes_reset(username=person.email)
            record_event(
                action="auth.unlocked",
                request=request,
                actor=request.user,
                target_user=person,
                data={"removed": removed},
            )
        else:
            raise Http404
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
    else:
        messages.success(request, _("操作を完了しました。"))
    return redirect("accounts:admin_account", pk=person.pk)

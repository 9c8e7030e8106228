"""The system administrator's console (contractor staff): requests, organisations, accounts, unlock, terms."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Count, Exists, F, OuterRef, Q, QuerySet
from django.http import Http404, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from accounts.actions import ADMINISTRATOR_ACTIONS, offered
from accounts.forms import (
    AccountSearchForm,
    OrganisationRightsForm,
    PasswordPolicyForm,
    ReasonForm,
    SecondFactorPolicyForm,
    TermsDraftForm,
    UsePolicyForm,
)
from accounts.http import AuthenticatedHttpRequest
from accounts.lifecycle import (
    account_request_approve,
    account_request_reject,
    account_roles_change,
    organisation_password_max_age_set,
    organisation_rights_change,
    organisation_second_factor_policy_set,
)
from accounts.models import (
    AccountRequest,
    AccountRequestKind,
    AccountRequestStatus,
    AccountStatus,
    Organisation,
    OutboundEmail,
    OutboundEmailStatus,
    SecondFactorPolicy,
    TermsVersion,
    User,
)
from accounts.outbox import outbox_backlog
from accounts.permissions import system_admin_only
from accounts.terms import terms_current, terms_draft_save, terms_publish
from accounts.use_policy import organisation_use_policy_set
from accounts.webauthn import webauthn_credentials
from audit.models import SecurityEvent
from renergy.geography import PREFECTURES


def _form_errors(form: ReasonForm) -> str:
    return " ".join(str(message) for messages_ in form.errors.values() for message in messages_)


@system_admin_only
def admin_requests(request: AuthenticatedHttpRequest) -> HttpResponse:
    # Officers are not told whether an address exists in another organisation; the administrator is, here.
    same_address = AccountRequest.objects.filter(
        status=AccountRequestStatus.PENDING, kind=AccountRequestKind.NEW, email__iexact=OuterRef("email")
    ).exclude(pk=OuterRef("pk"))
    pending = (
        AccountRequest.objects.filter(status=AccountRequestStatus.PENDING)
        .select_related("organisation", "requested_by", "target_user")
        .annotate(
            address_registered=Exists(User.objects.managed_by(request.user).filter(email__iexact=OuterRef("email"))),
            address_requested_elsewhere=Exists(same_address),
        )
    )
    return render(request, "accounts/admin_requests.html", {"pending": pending})


@system_admin_only
@require_POST
def admin_request_decide(request: AuthenticatedHttpRequest, pk: int, decision: str) -> HttpResponse:
    account_request = get_object_or_404(AccountRequest, pk=pk)
    try:
        if decision == "approve":
            account_request_approve(account_request=account_request, actor=request.user, request=request)
            messages.success(request, _("承認しました。本人に有効化リンクを送信しました。"))
        elif decision == "reject":
            form = ReasonForm(request.POST)
            if not form.is_valid():
                messages.error(request, _form_errors(form))
                return redirect("accounts:admin_requests")
            account_request_reject(
                account_request=account_request,
                actor=request.user,
                reason=form.cleaned_data["reason"],
                request=request,
            )
            messages.success(request, _("却下しました。"))
        else:
            raise Http404
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
    return redirect("accounts:admin_requests")


@system_admin_only
def admin_organisations(request: AuthenticatedHttpRequest) -> HttpResponse:
    organisations = Organisation.objects.annotate(
        active_members=Count("members", filter=Q(members__status="active")),
        officers=Count("members", filter=Q(members__is_officer=True, members__status="active")),
    )
    return render(request, "accounts/admin_organisations.html", {"organisations": organisations})


def _setting_changes(
    request: AuthenticatedHttpRequest, organisation: Organisation, action: str
) -> QuerySet[SecurityEvent]:
    """The last changes of one organisation setting, for the history under its form."""
    return (
        SecurityEvent.objects.visible_to(request.user)
        .filter(organisation=organisation, action=action)
        .select_related("actor")[:20]
    )


def _policy_label(setting: dict) -> str:
    policy = str(setting.get("policy", ""))
    label = str(dict(SecondFactorPolicy.choices).get(policy, policy))
    return f"{label}（{_('端末に固定されたキーのみ')}）" if setting.get("device_bound_only") else label


@system_admin_only
def admin_organisation_second_factor(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
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
        for event in _setting_changes(request, organisation, "organisation.second_factor_policy_changed")
    ]
    return render(
        request,
        "accounts/admin_organisation_second_factor.html",
        {"organisation": organisation, "form": form, "changes": changes},
    )


@system_admin_only
def admin_organisation_password(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    """How long the organisation's passwords last (0: no expiry), and the record of earlier changes."""
    organisation = get_object_or_404(Organisation, pk=pk)
    form = PasswordPolicyForm(request.POST or None, initial={"days": organisation.password_max_age_days})
    if request.method == "POST" and form.is_valid():
        try:
            organisation_password_max_age_set(
                organisation=organisation, days=form.cleaned_data["days"], actor=request.user, request=request
            )
        except ValidationError as error:
            form.add_error(None, error)
        else:
            messages.success(
                request, _("「%(name)s」のパスワードの有効期間を保存しました。") % {"name": organisation.name}
            )
            return redirect("accounts:admin_organisations")
    changes = _setting_changes(request, organisation, "organisation.password_max_age_changed")
    return render(
        request,
        "accounts/admin_organisation_password.html",
        {"organisation": organisation, "form": form, "changes": changes},
        status=400 if form.errors else 200,
    )


@system_admin_only
def admin_accounts(request: AuthenticatedHttpRequest) -> HttpResponse:
    form = AccountSearchForm(request.GET or None)
    people = User.objects.managed_by(request.user).select_related("organisation").order_by("organisation__name", "name")
    if form.is_valid() and form.cleaned_data["q"]:
        q = form.cleaned_data["q"]
        people = people.filter(Q(name__icontains=q) | Q(email__icontains=q) | Q(organisation__name__icontains=q))
    return render(request, "accounts/admin_accounts.html", {"form": form, "people": people[:200]})


@system_admin_only
def admin_account_detail(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    person = get_object_or_404(User.objects.managed_by(request.user).select_related("organisation"), pk=pk)
    return render(
        request,
        "accounts/admin_account.html",
        {
            "person": person,
            "actions": offered(ADMINISTRATOR_ACTIONS, person, request.user),
            "security_keys": webauthn_credentials(person),
        },
    )


@system_admin_only
@require_POST
def admin_account_action(request: AuthenticatedHttpRequest, pk: int, action: str) -> HttpResponse:
    person = get_object_or_404(User.objects.managed_by(request.user), pk=pk)
    chosen = ADMINISTRATOR_ACTIONS.get(action)
    if chosen is None and action not in ROLE_ACTIONS:
        raise Http404
    form = ReasonForm(request.POST)
    needs_reason = chosen is None or chosen.needs_reason  # a change of rights always gives its reason
    if needs_reason and not form.is_valid():
        messages.error(request, _form_errors(form))
        return redirect("accounts:admin_account", pk=person.pk)
    reason = form.cleaned_data["reason"] if needs_reason else ""
    try:
        if chosen is not None:
            chosen.perform(request, person, reason)
        else:
            account_roles_change(
                user=person, actor=request.user, reason=reason, request=request, **ROLE_ACTIONS[action]
            )
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
    except PermissionDenied as error:
        messages.error(request, str(error))
    else:
        messages.success(request, chosen.done if chosen is not None else _("権限を変更しました。"))
    return redirect("accounts:admin_account", pk=person.pk)


ROLE_ACTIONS: dict[str, dict[str, bool]] = {
    "grant-officer": {"is_officer": True},
    "revoke-officer": {"is_officer": False},
    "grant-staff": {"is_staff": True},
    "revoke-staff": {"is_staff": False},
}


@system_admin_only
def admin_organisation(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    """An organisation's data scope (area, jurisdiction, IP ranges, active), changed with a reason through the
    one service; the administrator's own organisation is shown but cannot be changed."""
    organisation = get_object_or_404(Organisation, pk=pk)
    own = organisation.pk == request.user.organisation_id
    form = OrganisationRightsForm(request.POST or None, organisation=organisation)
    if request.method == "POST" and not own and form.is_valid():
        try:
            organisation_rights_change(
                organisation=organisation, actor=request.user, request=request, **form.cleaned_data
            )
        except ValidationError as error:
            form.add_error(None, error)
        else:
            messages.success(request, _("組織の設定を変更しました。"))
            return redirect("accounts:admin_organisation", pk=organisation.pk)
    status = 403 if own and request.method == "POST" else 400 if form.errors else 200
    return render(
        request,
        "accounts/admin_organisation.html",
        {
            "organisation": organisation,
            "form": form,
            "own": own,
            "bureau_prefectures": [PREFECTURES[code][0] for code in organisation.bureau_prefecture_codes()],
        },
        status=status,
    )


@system_admin_only
def admin_outbox(request: AuthenticatedHttpRequest) -> HttpResponse:
    """Mail not yet sent and mail that failed (the outbox): the administrator sees an SMTP outage here.
    Subjects and addresses only; the body (which may hold a one-time link) is never shown."""
    unsent = OutboundEmail.objects.filter(status__in=[OutboundEmailStatus.PENDING, OutboundEmailStatus.SENDING])
    failed = OutboundEmail.objects.filter(status=OutboundEmailStatus.FAILED)
    fields = ("pk", "created_at", "kind", "recipient", "status", "attempts", "next_attempt_at", "last_error")
    return render(
        request,
        "accounts/admin_outbox.html",
        {
            "backlog": outbox_backlog(),
            "unsent": unsent.order_by("created_at").only(*fields)[:200],
            "failed": failed.order_by("-created_at").only(*fields)[:200],
        },
    )


@system_admin_only
def admin_organisation_use_policy(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    """Per-use approval and allowed hours of an organisation, with the record of earlier changes."""
    organisation = get_object_or_404(Organisation, pk=pk)
    own = organisation.pk == request.user.organisation_id
    form = UsePolicyForm(request.POST or None, organisation=organisation)
    if request.method == "POST" and not own and form.is_valid():
        try:
            organisation_use_policy_set(
                organisation=organisation, actor=request.user, request=request, **form.cleaned_data
            )
        except ValidationError as error:
            form.add_error(None, error)
        else:
            messages.success(request, _("「%(name)s」の利用の制限を保存しました。") % {"name": organisation.name})
            return redirect("accounts:admin_organisations")
    officers = (
        User.objects.managed_by(request.user)
        .filter(organisation=organisation, is_officer=True, status=AccountStatus.ACTIVE)
        .count()
    )
    changes = _setting_changes(request, organisation, "organisation.use_policy_changed")
    status = 403 if own and request.method == "POST" else 400 if form.errors else 200
    return render(
        request,
        "accounts/admin_organisation_use_policy.html",
        {"organisation": organisation, "form": form, "own": own, "officers": officers, "changes": changes},
        status=status,
    )


@system_admin_only
def admin_terms(request: AuthenticatedHttpRequest) -> HttpResponse:
    """Every version of the terms (drafts first), how many people accepted each."""
    versions = TermsVersion.objects.annotate(accepted=Count("acceptances")).order_by(
        F("version").desc(nulls_first=True), "-created_at"
    )
    return render(request, "accounts/admin_terms.html", {"versions": versions, "current": terms_current()})


@system_admin_only
def admin_terms_draft(request: AuthenticatedHttpRequest, pk: int | None = None) -> HttpResponse:
    """A new draft (starting from the current text), or changing a draft."""
    draft = get_object_or_404(TermsVersion, pk=pk) if pk is not None else None
    if draft is not None and not draft.is_draft:
        messages.error(request, _("施行済みの版は変更できません。新しい版を作成してください。"))
        return redirect("accounts:admin_terms")
    source = draft or terms_current()
    form = TermsDraftForm(
        request.POST or None,
        initial={"title": source.title, "body_ja": source.body_ja, "body_en": source.body_en},
    )
    if request.method == "POST" and form.is_valid():
        try:
            saved = terms_draft_save(actor=request.user, draft=draft, request=request, **form.cleaned_data)
        except ValidationError as error:
            form.add_error(None, error)
        else:
            messages.success(request, _("下書きを保存しました。内容を確認してから施行してください。"))
            return redirect("accounts:admin_terms_preview", pk=saved.pk)
    return render(
        request, "accounts/admin_terms_draft.html", {"form": form, "draft": draft}, status=400 if form.errors else 200
    )


@system_admin_only
def admin_terms_preview(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    """The text as people will see it on the consent page, with publish (drafts only)."""
    terms = get_object_or_404(TermsVersion, pk=pk)
    return render(request, "accounts/admin_terms_preview.html", {"terms": terms, "current": terms_current()})


@system_admin_only
@require_POST
def admin_terms_publish(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    draft = get_object_or_404(TermsVersion, pk=pk)
    try:
        published = terms_publish(draft=draft, actor=request.user, request=request)
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
    else:
        messages.success(
            request,
            _("第%(v)d版を施行しました。利用者は次の操作時に同意を求められます。") % {"v": published.version},
        )
    return redirect("accounts:admin_terms")

"""The responsibility officer's console: their own organisation's people and requests, nothing else."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from accounts.actions import OFFICER_ACTIONS, offered
from accounts.forms import AccountRequestForm, ReasonForm
from accounts.http import AuthenticatedHttpRequest
from accounts.lifecycle import account_request_create
from accounts.models import AccountRequest, User, UseRequest, UseRequestStatus
from accounts.permissions import officer_only


def _own_person(request: AuthenticatedHttpRequest, pk: int) -> User:
    # Scoped in the query: a person of another organisation is simply not found.
    return get_object_or_404(User.objects.managed_by(request.user), pk=pk, organisation_id=request.user.organisation_id)


@officer_only
def officer_console(request: AuthenticatedHttpRequest) -> HttpResponse:
    organisation = request.user.organisation
    people = User.objects.managed_by(request.user).filter(organisation=organisation).order_by("status", "name")
    return render(
        request,
        "accounts/officer_console.html",
        {
            "organisation": organisation,
            "people": [(person, offered(OFFICER_ACTIONS, person, request.user)) for person in people],
            "requests": AccountRequest.objects.filter(organisation=organisation).select_related("target_user")[:50],
            "use_requests_pending": UseRequest.objects.filter(
                organisation=organisation, status=UseRequestStatus.PENDING
            ).count()
            if organisation.use_approval_required
            else 0,
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


@officer_only
@require_POST
def officer_person_action(request: AuthenticatedHttpRequest, pk: int, action: str) -> HttpResponse:
    chosen = OFFICER_ACTIONS.get(action)
    if chosen is None:
        raise Http404
    person = _own_person(request, pk)
    form = ReasonForm(request.POST)
    if chosen.needs_reason and not form.is_valid():
        messages.error(request, " ".join(str(m) for errors in form.errors.values() for m in errors))
        return redirect("accounts:officer_console")
    try:
        chosen.perform(request, person, form.cleaned_data["reason"] if chosen.needs_reason else "")
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
    except PermissionDenied as error:
        messages.error(request, str(error))
    else:
        messages.success(request, chosen.done)
    return redirect("accounts:officer_console")

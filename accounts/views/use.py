"""Per-use approval (都度承認): the person asks, another officer of the organisation decides."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from accounts.forms import ReasonForm, UseRequestForm
from accounts.http import AuthenticatedHttpRequest
from accounts.models import UseRequest, UseRequestStatus
from accounts.permissions import before_use_approval
from accounts.use_policy import (
    use_request_approve,
    use_request_create,
    use_request_refuse,
    use_window_close,
    use_window_current,
)


@before_use_approval()
def use_request(request: AuthenticatedHttpRequest) -> HttpResponse:
    """The person's request form, their open window and their recent requests."""
    organisation = request.user.organisation
    form = UseRequestForm(request.POST or None, max_minutes=organisation.use_approval_max_minutes)
    if request.method == "POST" and form.is_valid():
        try:
            use_request_create(user=request.user, request=request, **form.cleaned_data)
        except ValidationError as error:
            form.add_error(None, error)
        else:
            messages.success(request, _("利用を申請しました。システム利用責任者の承認をお待ちください。"))
            return redirect("accounts:use_request")
    mine = UseRequest.objects.filter(user=request.user).select_related("decided_by")[:20]
    return render(
        request,
        "accounts/use_request.html",
        {
            "organisation": organisation,
            "form": form,
            "window": use_window_current(request.user),
            "pending": any(r.status == UseRequestStatus.PENDING for r in mine),
            "requests": mine,
        },
        status=400 if form.errors else 200,
    )


@before_use_approval()
@require_POST
def use_window_end(request: AuthenticatedHttpRequest) -> HttpResponse:
    if use_window_close(user=request.user, request=request) is not None:
        messages.success(request, _("利用を終了しました。再び利用するときは改めて申請してください。"))
    return redirect("accounts:use_request")


@before_use_approval(officer=True)
def officer_use_requests(request: AuthenticatedHttpRequest) -> HttpResponse:
    """The officer's queue: their own organisation's requests only (their own shown, but never decidable)."""
    requests = UseRequest.objects.filter(organisation_id=request.user.organisation_id).select_related(
        "user", "decided_by"
    )
    return render(
        request,
        "accounts/officer_use_requests.html",
        {
            "pending": requests.filter(status=UseRequestStatus.PENDING).order_by("requested_at"),
            "decided": requests.exclude(status=UseRequestStatus.PENDING).order_by("-decided_at")[:50],
            "reason_form": ReasonForm(),
        },
    )


@before_use_approval(officer=True)
@require_POST
def officer_use_decide(request: AuthenticatedHttpRequest, pk: int, decision: str) -> HttpResponse:
    # Scoped in the query: another organisation's request is simply not found.
    use_req = get_object_or_404(UseRequest, pk=pk, organisation_id=request.user.organisation_id)
    try:
        if decision == "approve":
            use_request_approve(use_request=use_req, officer=request.user, request=request)
            messages.success(request, _("承認しました。申請者にメールで通知しました。"))
        elif decision == "refuse":
            reason = ReasonForm(request.POST).data.get("reason", "")
            use_request_refuse(use_request=use_req, officer=request.user, reason=reason, request=request)
            messages.success(request, _("却下しました。申請者にメールで通知しました。"))
        else:
            raise Http404
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
    except PermissionDenied as error:
        # Answered 403 with the queue and the message, so a refused decision is never mistaken for success.
        messages.error(request, str(error))
        response = officer_use_requests(request)
        response.status_code = 403
        return response
    return redirect("accounts:officer_use_requests")

"""The access review pages: officers decide for their own organisation's people; the administrator sees
completion per organisation and may decide where no officer can (an officer's own line, an organisation
without an officer). The rules live in accounts.access_review."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from typing import cast

from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_POST

from accounts.access_review import (
    access_review_confirm,
    access_review_current,
    access_review_items,
    access_review_revoke,
    access_reviews_with_counts,
)
from accounts.forms import ReasonForm
from accounts.models import AccessReview, AccessReviewItem, User
from accounts.permissions import officer_only, system_admin_only


def _actor(request: HttpRequest) -> User:
    # Every view here is behind the access gate (officer_only, system_admin_only): the user is a signed-in person.
    return cast(User, request.user)


def _confirm(request: HttpRequest, item: AccessReviewItem, reason: str) -> None:
    access_review_confirm(item=item, actor=_actor(request), request=request)


def _revoke(request: HttpRequest, item: AccessReviewItem, reason: str) -> None:
    access_review_revoke(item=item, actor=_actor(request), reason=reason, request=request)


ACTIONS: dict[str, tuple[Callable[[HttpRequest, AccessReviewItem, str], None], object]] = {
    "confirm": (_confirm, gettext_lazy("継続利用を確認しました。")),
    "revoke": (_revoke, gettext_lazy("利用不要としてアカウントを停止しました。")),
}


def _act(request: HttpRequest, item: AccessReviewItem, action: str) -> None:
    if action not in ACTIONS:
        raise Http404
    handler, done = ACTIONS[action]
    form = ReasonForm(request.POST)
    reason = form.cleaned_data.get("reason", "") if form.is_valid() else ""
    try:
        handler(request, item, reason)
    except (ValidationError, PermissionDenied) as error:
        messages.error(request, " ".join(getattr(error, "messages", [str(error)])))
    else:
        messages.success(request, str(done))


@officer_only
def officer_access_review(request: HttpRequest) -> HttpResponse:
    user = _actor(request)
    review = access_review_current(user.organisation)
    return render(
        request,
        "accounts/access_review.html",
        {
            "review": review,
            "items": access_review_items(review) if review else [],
            "organisation": user.organisation,
            "action_url": "accounts:officer_access_review_action",
            "me": user,
        },
    )


@officer_only
@require_POST
def officer_access_review_action(request: HttpRequest, pk: int, action: str) -> HttpResponse:
    # Scoped in the query: a line of another organisation's review is simply not found.
    item = get_object_or_404(AccessReviewItem, pk=pk, review__organisation_id=_actor(request).organisation_id)
    _act(request, item, action)
    return redirect("accounts:officer_access_review")


def _round(request: HttpRequest) -> date | None:
    try:
        return date.fromisoformat(request.GET.get("round", ""))
    except ValueError:
        return None


@system_admin_only
def admin_access_reviews(request: HttpRequest) -> HttpResponse:
    rounds = list(AccessReview.objects.order_by("-round_start").values_list("round_start", flat=True).distinct()[:12])
    selected = _round(request) or (rounds[0] if rounds else None)
    chosen = AccessReview.objects.filter(round_start=selected) if selected else AccessReview.objects.none()
    reviews = access_reviews_with_counts(chosen.select_related("organisation")).order_by(
        "organisation__kind", "organisation__name"
    )
    return render(
        request,
        "accounts/admin_access_reviews.html",
        {"rounds": rounds, "selected": selected, "reviews": reviews},
    )


@system_admin_only
def admin_access_review(request: HttpRequest, pk: int) -> HttpResponse:
    review = get_object_or_404(AccessReview.objects.select_related("organisation"), pk=pk)
    return render(
        request,
        "accounts/access_review.html",
        {
            "review": review,
            "items": access_review_items(review),
            "organisation": review.organisation,
            "action_url": "accounts:admin_access_review_action",
            "me": _actor(request),
            "administrator": True,
        },
    )


@system_admin_only
@require_POST
def admin_access_review_action(request: HttpRequest, pk: int, action: str) -> HttpResponse:
    item = get_object_or_404(AccessReviewItem, pk=pk)
    _act(request, item, action)
    return redirect("accounts:admin_access_review", pk=item.review_id)

"""The periodic access review (アカウント棚卸し): officers confirm, person by person, who still needs access.

A daily job (accounts.tasks.access_review_sweep) does three things, each idempotent:

- **close** every open round past its deadline: each person still unconfirmed and still able to sign in is
  suspended through accounts.lifecycle.account_suspend (cause SuspensionCause.ACCESS_REVIEW, with its e-mail
  and event); a person suspended or retired meanwhile is marked as gone;
- **open** the current period's round for every active organisation with people who can sign in (one per
  organisation and period: a unique constraint, so two beats or a re-run add nothing), listing each of them,
  and e-mail the organisation's officers;
- **remind** the officers ACCESS_REVIEW_REMINDER_DAYS before the deadline while anyone is still unconfirmed.

The system administrators' own organisation is reviewed like any other, but its people left unconfirmed at
the deadline are recorded as lapsed, not suspended: a suspension is lifted only by an administrator's approval,
so suspending the last administrators would leave nobody able to reactivate anyone (the administrator page and
the fiscal-year report show the lapse).

Who may decide: an officer of the person's own organisation, or the system administrator (an organisation
without an officer would otherwise lose everyone); nobody decides about themself — an officer is confirmed by
another officer or by the administrator.
"""

from __future__ import annotations

import logging
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Count, Q, QuerySet
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts import emails
from accounts.lifecycle import SuspensionCause, account_suspend
from accounts.models import (
    AccessReview,
    AccessReviewDecision,
    AccessReviewItem,
    AccountStatus,
    Organisation,
    OrganisationKind,
    User,
)
from accounts.outbox import outbox_enqueue
from audit.events import record_event

logger = logging.getLogger("accounts.access_review")

JST = ZoneInfo("Asia/Tokyo")
SUSPENSION_REASON = (
    "アカウント棚卸しで期限までに継続利用が確認されなかったため停止 (not confirmed in the access review)"
)
OPENED_SUBJECT = "【再エネ業務管理システム】アカウント棚卸しのお願い / Please review your organisation's accounts"
REMINDER_SUBJECT = "【再エネ業務管理システム】アカウント棚卸しの期限が近づいています / Access review deadline"
_CAN_SIGN_IN = (AccountStatus.ACTIVE, AccountStatus.INVITED)


def round_start_of(moment: datetime) -> date:
    """The first day (JST) of the period that `moment` falls in: periods of ACCESS_REVIEW_INTERVAL_MONTHS
    counted from April, so the default quarterly rounds start on 1 April, 1 July, 1 October and 1 January."""
    interval = max(1, min(12, settings.ACCESS_REVIEW_INTERVAL_MONTHS))
    local = moment.astimezone(JST)
    months_since_april = (local.month - 4) % 12
    start_index = months_since_april - months_since_april % interval
    month = (start_index + 3) % 12 + 1
    year = local.year if month <= local.month else local.year - 1
    return date(year, month, 1)


def _officers(organisation_id: int) -> QuerySet[User]:
    return User.objects.filter(organisation_id=organisation_id, is_officer=True, status=AccountStatus.ACTIVE)


def _review_url() -> str:
    return emails.site_url(reverse("accounts:officer_access_review"))


def _mail_officers(review: AccessReview, *, kind: str, subject: str) -> int:
    officers = list(_officers(review.organisation_id))
    for officer in officers:
        outbox_enqueue(
            kind=kind,
            subject=subject,
            user=officer,
            context={
                "organisation": review.organisation.name,
                "deadline": f"{review.deadline.astimezone(JST):%Y-%m-%d %H:%M}",
                "pending": review.items.filter(decision=AccessReviewDecision.PENDING).count(),
                "url": _review_url(),
            },
        )
    return len(officers)


# --- opening ----------------------------------------------------------------------------------------------------


def _open_one(organisation: Organisation, round_start: date, now: datetime) -> AccessReview | None:
    people = list(User.objects.filter(organisation=organisation, status__in=_CAN_SIGN_IN).values_list("pk", flat=True))
    if not people:
        return None
    try:
        with transaction.atomic():
            review = AccessReview.objects.create(
                organisation=organisation,
                round_start=round_start,
                opened_at=now,
                deadline=now + timedelta(days=settings.ACCESS_REVIEW_DEADLINE_DAYS),
            )
            AccessReviewItem.objects.bulk_create([AccessReviewItem(review=review, user_id=pk) for pk in people])
            officers = _mail_officers(review, kind="access_review_opened", subject=OPENED_SUBJECT)
            record_event(
                action="access_review.opened",
                organisation=organisation,
                data={
                    "review": review.pk,
                    "round_start": round_start.isoformat(),
                    "people": len(people),
                    "officers_notified": officers,
                    "deadline": review.deadline.isoformat(),
                },
            )
    except IntegrityError:
        return None  # another sweep opened this round first
    return review


def access_reviews_open(*, now: datetime | None = None) -> list[AccessReview]:
    """Open the current period's round for every active organisation that has none yet."""
    now = now or timezone.now()
    round_start = round_start_of(now)
    due = Organisation.objects.filter(is_active=True).exclude(access_reviews__round_start=round_start)
    opened = []
    for organisation in due:
        review = _open_one(organisation, round_start, now)
        if review is not None:
            opened.append(review)
    return opened


# --- decisions --------------------------------------------------------------------------------------------------


def _require_decider(actor: User, item: AccessReviewItem) -> None:
    if actor.status != AccountStatus.ACTIVE:
        raise PermissionDenied(_("有効なアカウントのみが操作できます。"))
    if item.user_id == actor.pk:
        raise PermissionDenied(
            _("自分自身の継続利用は確認できません。他の利用責任者またはシステム管理者が確認します。")
        )
    if actor.is_system_admin:
        return
    if not (actor.is_officer and actor.organisation_id == item.review.organisation_id):
        raise PermissionDenied(_("自組織の利用責任者のみが操作できます。"))


def _lock_pending_item(item: AccessReviewItem) -> AccessReviewItem:
    item = AccessReviewItem.objects.select_for_update().select_related("review", "user").get(pk=item.pk)
    if item.review.closed_at is not None or item.review.deadline <= timezone.now():
        raise ValidationError(_("この棚卸しは締め切られています。"), code="closed")
    if item.decision != AccessReviewDecision.PENDING:
        raise ValidationError(_("この利用者は確認済みです。"), code="already_decided")
    return item


def _decide(item: AccessReviewItem, decision: str, actor: User) -> None:
    item.decision = decision
    item.decided_by = actor
    item.decided_at = timezone.now()
    item.save(update_fields=["decision", "decided_by", "decided_at"])


@transaction.atomic
def access_review_confirm(*, item: AccessReviewItem, actor: User, request: Any = None) -> AccessReviewItem:
    """The person still needs access: confirmed for this round."""
    item = _lock_pending_item(item)
    _require_decider(actor, item)
    _decide(item, AccessReviewDecision.CONFIRMED, actor)
    record_event(
        action="access_review.confirmed",
        request=request,
        actor=actor,
        target_user=item.user,
        organisation=item.review.organisation_id,
        data={"review": item.review_id, "last_use": _last_use(item.user)},
    )
    return item


@transaction.atomic
def access_review_revoke(*, item: AccessReviewItem, actor: User, reason: str, request: Any = None) -> AccessReviewItem:
    """The person no longer needs access: suspended now, through the lifecycle."""
    item = _lock_pending_item(item)
    _require_decider(actor, item)
    reason = (reason or "").strip()
    if not reason:
        raise ValidationError(_("理由を入力してください。"), code="reason_required")
    if item.user.status in _CAN_SIGN_IN:
        account_suspend(
            user=item.user, reason=reason, actor=actor, cause=SuspensionCause.ACCESS_REVIEW, request=request
        )
    _decide(item, AccessReviewDecision.REVOKED, actor)
    record_event(
        action="access_review.revoked",
        request=request,
        actor=actor,
        target_user=item.user,
        organisation=item.review.organisation_id,
        data={"review": item.review_id, "reason": reason},
    )
    return item


def _last_use(user: User) -> str | None:
    moment = user.last_activity_at or user.activated_at
    return moment.isoformat() if moment else None


# --- reminders and the deadline ---------------------------------------------------------------------------------


def access_reviews_remind(*, now: datetime | None = None) -> list[int]:
    """Once per round, ACCESS_REVIEW_REMINDER_DAYS before its deadline, while anyone is still unconfirmed."""
    now = now or timezone.now()
    due = AccessReview.objects.filter(
        closed_at__isnull=True,
        reminded_at__isnull=True,
        deadline__gt=now,
        deadline__lte=now + timedelta(days=settings.ACCESS_REVIEW_REMINDER_DAYS),
        items__decision=AccessReviewDecision.PENDING,
    ).distinct()
    reminded = []
    for review in due.select_related("organisation"):
        with transaction.atomic():
            # The conditional UPDATE is the claim: an overlapping sweep finds nothing left to remind.
            if not AccessReview.objects.filter(pk=review.pk, reminded_at__isnull=True).update(reminded_at=now):
                continue
            officers = _mail_officers(review, kind="access_review_reminder", subject=REMINDER_SUBJECT)
            record_event(
                action="access_review.reminded",
                organisation=review.organisation_id,
                data={"review": review.pk, "officers_notified": officers},
            )
        reminded.append(review.pk)
    return reminded


def _close_one(review_id: int, now: datetime) -> dict[str, int] | None:
    with transaction.atomic():
        review = (
            AccessReview.objects.select_for_update(skip_locked=True)
            .filter(pk=review_id, closed_at__isnull=True, deadline__lte=now)
            .first()
        )
        if review is None:
            return None  # closed by an overlapping sweep, or being closed by it now
        counts = {"suspended": 0, "gone": 0, "lapsed": 0}
        administrators = Organisation.objects.filter(
            pk=review.organisation_id, kind=OrganisationKind.CONTRACTOR
        ).exists()
        pending = review.items.filter(decision=AccessReviewDecision.PENDING).select_related("user")
        for item in pending:
            person = User.objects.select_for_update().get(pk=item.user_id)
            if person.status in _CAN_SIGN_IN and administrators:
                item.decision = AccessReviewDecision.LAPSED
                counts["lapsed"] += 1
            elif person.status in _CAN_SIGN_IN:
                account_suspend(user=person, reason=SUSPENSION_REASON, actor=None, cause=SuspensionCause.ACCESS_REVIEW)
                item.decision = AccessReviewDecision.SUSPENDED
                counts["suspended"] += 1
            else:
                item.decision = AccessReviewDecision.GONE
                counts["gone"] += 1
            item.decided_at = now
            item.save(update_fields=["decision", "decided_at"])
        review.closed_at = now
        review.save(update_fields=["closed_at"])
        record_event(
            action="access_review.closed",
            organisation=review.organisation_id,
            data={"review": review.pk, **counts, **access_review_counts(review)},
        )
    return counts


def access_reviews_close(*, now: datetime | None = None) -> list[int]:
    """Every open round past its deadline: the unconfirmed are suspended, then the round is closed."""
    now = now or timezone.now()
    due = list(AccessReview.objects.filter(closed_at__isnull=True, deadline__lte=now).values_list("pk", flat=True))
    return [pk for pk in due if _close_one(pk, now) is not None]


def access_review_sweep(*, now: datetime | None = None) -> dict[str, int]:
    """The daily job: close what is past its deadline, open the new period's rounds, remind."""
    now = now or timezone.now()
    closed = access_reviews_close(now=now)
    opened = access_reviews_open(now=now)
    reminded = access_reviews_remind(now=now)
    return {"closed": len(closed), "opened": len(opened), "reminded": len(reminded)}


# --- reading ----------------------------------------------------------------------------------------------------

_COUNTS = {
    "people": Count("items"),
    **{decision.value: Count("items", filter=Q(items__decision=decision.value)) for decision in AccessReviewDecision},
}


def access_review_counts(review: AccessReview) -> dict[str, int]:
    return dict(AccessReview.objects.filter(pk=review.pk).aggregate(**_COUNTS))


def access_reviews_with_counts(queryset: QuerySet[AccessReview] | None = None) -> QuerySet[AccessReview]:
    """Rounds with their people and decisions counted in the query (the administrator's completion table)."""
    return (queryset if queryset is not None else AccessReview.objects.all()).annotate(**_COUNTS)


def access_review_current(organisation: Organisation) -> AccessReview | None:
    """The organisation's latest round (open or closed)."""
    return AccessReview.objects.filter(organisation=organisation).order_by("-round_start").first()


def access_review_items(review: AccessReview) -> QuerySet[AccessReviewItem]:
    return review.items.select_related("user", "decided_by").order_by("decision", "user__name")

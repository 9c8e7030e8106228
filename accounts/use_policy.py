"""When an organisation's people may use the system: per-use approval (都度承認) and allowed hours.

Both are the organisation's choice, set by the administrator through `organisation_use_policy_set` (recorded
with the values before and after) and off by default. With per-use approval on, a person without a current
approved window can do nothing but ask (`use_request_create`); another officer of the same organisation
approves (`use_request_approve`, which opens the window) or refuses it, and the person hears of it by e-mail.
Allowed hours are checked at sign-in and on every request (accounts.authentication, accounts.middleware).
"""

from __future__ import annotations

from datetime import datetime, time, timedelta

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.http import HttpRequest
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts import emails
from accounts.lifecycle import _require_active, _require_admin, _require_reason
from accounts.models import AccountStatus, Organisation, User, UseRequest, UseRequestStatus
from audit.events import record_event

# The longest window an organisation may allow for one approval: a working day and a half.
USE_APPROVAL_MAX_MINUTES_LIMIT = 12 * 60
USE_APPROVAL_MIN_MINUTES = 5

USE_POLICY_FIELDS = (
    "use_approval_required",
    "use_approval_max_minutes",
    "allowed_hours_enabled",
    "allowed_weekdays",
    "allowed_from",
    "allowed_until",
    "allowed_exclude_holidays",
)


def _storable(value: object) -> object:
    return value.strftime("%H:%M") if isinstance(value, time) else value


@transaction.atomic
def organisation_use_policy_set(
    *,
    organisation: Organisation,
    actor: User,
    reason: str,
    use_approval_required: bool,
    use_approval_max_minutes: int,
    allowed_hours_enabled: bool,
    allowed_weekdays: list[int],
    allowed_from: time,
    allowed_until: time,
    allowed_exclude_holidays: bool,
    request: HttpRequest | None = None,
) -> Organisation:
    """The administrator sets the organisation's per-use approval and allowed hours (never on their own
    organisation: the administrator cannot lift their own restrictions)."""
    _require_admin(actor)
    if actor.organisation_id == organisation.pk:
        raise PermissionDenied(_("自分自身または自組織の権限は変更できません。"))
    reason = _require_reason(reason)
    weekdays = sorted({int(day) for day in allowed_weekdays})
    if any(day < 1 or day > 7 for day in weekdays):
        raise ValidationError(_("曜日が正しくありません。"), code="invalid_weekday")
    if not USE_APPROVAL_MIN_MINUTES <= use_approval_max_minutes <= USE_APPROVAL_MAX_MINUTES_LIMIT:
        raise ValidationError(
            _("最長時間は%(low)d分から%(high)d分の間で指定してください。")
            % {"low": USE_APPROVAL_MIN_MINUTES, "high": USE_APPROVAL_MAX_MINUTES_LIMIT},
            code="invalid_minutes",
        )
    if allowed_hours_enabled and (not weekdays or allowed_from >= allowed_until):
        raise ValidationError(
            _("利用可能時間を制限するときは、曜日を1つ以上選び、開始を終了より前にしてください。"),
            code="invalid_hours",
        )
    organisation = Organisation.objects.select_for_update().get(pk=organisation.pk)
    after = {
        "use_approval_required": bool(use_approval_required),
        "use_approval_max_minutes": use_approval_max_minutes,
        "allowed_hours_enabled": bool(allowed_hours_enabled),
        "allowed_weekdays": weekdays,
        "allowed_from": allowed_from,
        "allowed_until": allowed_until,
        "allowed_exclude_holidays": bool(allowed_exclude_holidays),
    }
    before = {name: getattr(organisation, name) for name in USE_POLICY_FIELDS}
    changed = [name for name in USE_POLICY_FIELDS if before[name] != after[name]]
    if not changed:
        return organisation
    for name in changed:
        setattr(organisation, name, after[name])
    if "use_approval_required" in changed:
        organisation.use_approval_since = timezone.now() if organisation.use_approval_required else None
        changed.append("use_approval_since")
    organisation.save(update_fields=changed)
    record_event(
        action="organisation.use_policy_changed",
        request=request,
        actor=actor,
        organisation=organisation,
        data={
            "reason": reason,
            "before": {name: _storable(before[name]) for name in changed if name in before},
            "after": {name: _storable(after[name]) for name in changed if name in after},
        },
    )
    return organisation


# --- allowed hours ----------------------------------------------------------------------------------------------


def allowed_hours_refused(*, request: HttpRequest, user: User, step: str) -> bool:
    """True (and recorded as a security event) when the person's organisation does not allow use now."""
    if user.organisation.allows_time(timezone.now()):
        return False
    record_event(
        action="access.outside_allowed_hours",
        request=request,
        target_user=user,
        organisation=user.organisation,
        data={"step": step, "path": request.path},
    )
    return True


# --- per-use approval -------------------------------------------------------------------------------------------


def use_window_current(user: User, *, now: datetime | None = None) -> UseRequest | None:
    """The approved request whose window is open now, if any (one indexed query)."""
    now = now or timezone.now()
    return (
        UseRequest.objects.filter(
            user=user, status=UseRequestStatus.APPROVED, window_start__lte=now, window_end__gt=now
        )
        .order_by("-window_end")
        .first()
    )


def use_approval_needed(user: User) -> bool:
    """Whether this request of the person must be refused for want of an approved window."""
    return user.organisation.use_approval_required and use_window_current(user) is None


@transaction.atomic
def use_request_create(*, user: User, purpose: str, minutes: int, request: HttpRequest | None = None) -> UseRequest:
    """The person asks to use the system for `minutes` (at most what the organisation allows), for `purpose`.
    Every other active officer of the organisation is told by e-mail."""
    _require_active(user)
    organisation = user.organisation
    if not organisation.use_approval_required:
        raise ValidationError(_("所属組織は都度承認を求めていません。"), code="not_required")
    purpose = (purpose or "").strip()
    if not purpose:
        raise ValidationError(_("利用目的を入力してください。"), code="purpose_required")
    if not USE_APPROVAL_MIN_MINUTES <= minutes <= organisation.use_approval_max_minutes:
        raise ValidationError(
            _("利用時間は%(low)d分から%(high)d分の間で指定してください。")
            % {"low": USE_APPROVAL_MIN_MINUTES, "high": organisation.use_approval_max_minutes},
            code="invalid_minutes",
        )
    try:
        with transaction.atomic():
            use_request = UseRequest.objects.create(
                user=user, organisation=organisation, purpose=purpose[:500], minutes=minutes
            )
    except IntegrityError:
        raise ValidationError(_("承認待ちの申請が既にあります。"), code="request_pending") from None
    officers = User.objects.filter(organisation=organisation, is_officer=True, status=AccountStatus.ACTIVE).exclude(
        pk=user.pk
    )
    for officer in officers:
        emails.email_use_requested(officer, use_request)
    record_event(
        action="use_approval.requested",
        request=request,
        actor=user,
        target_user=user,
        organisation=organisation,
        data={"use_request": use_request.pk, "minutes": minutes, "purpose": use_request.purpose},
    )
    return use_request


def _lock_for_decision(use_request: UseRequest, officer: User) -> UseRequest:
    """Only another active officer of the requester's organisation decides; never the requester."""
    _require_active(officer)
    locked = UseRequest.objects.select_for_update().select_related("user").get(pk=use_request.pk)
    if not (officer.is_officer and officer.organisation_id == locked.organisation_id):
        raise PermissionDenied(_("自組織の利用責任者のみが操作できます。"))
    if officer.pk == locked.user_id:
        raise PermissionDenied(_("自分の利用申請は承認できません。他の利用責任者に依頼してください。"))
    if locked.status != UseRequestStatus.PENDING:
        raise ValidationError(_("この申請は既に審査済みです。"), code="already_decided")
    return locked


@transaction.atomic
def use_request_approve(*, use_request: UseRequest, officer: User, request: HttpRequest | None = None) -> UseRequest:
    """Approve: the window opens now and lasts the minutes asked for."""
    use_request = _lock_for_decision(use_request, officer)
    now = timezone.now()
    use_request.status = UseRequestStatus.APPROVED
    use_request.decided_by = officer
    use_request.decided_at = now
    use_request.window_start = now
    use_request.window_end = now + timedelta(minutes=use_request.minutes)
    use_request.save(update_fields=["status", "decided_by", "decided_at", "window_start", "window_end"])
    emails.email_use_decided(use_request)
    record_event(
        action="use_approval.approved",
        request=request,
        actor=officer,
        target_user=use_request.user,
        organisation=use_request.organisation_id,
        data={
            "use_request": use_request.pk,
            "minutes": use_request.minutes,
            "window_start": use_request.window_start.isoformat(),
            "window_end": use_request.window_end.isoformat(),
        },
    )
    return use_request


@transaction.atomic
def use_request_refuse(
    *, use_request: UseRequest, officer: User, reason: str, request: HttpRequest | None = None
) -> UseRequest:
    reason = _require_reason(reason)
    use_request = _lock_for_decision(use_request, officer)
    use_request.status = UseRequestStatus.REFUSED
    use_request.decided_by = officer
    use_request.decided_at = timezone.now()
    use_request.decision_reason = reason[:500]
    use_request.save(update_fields=["status", "decided_by", "decided_at", "decision_reason"])
    emails.email_use_decided(use_request)
    record_event(
        action="use_approval.refused",
        request=request,
        actor=officer,
        target_user=use_request.user,
        organisation=use_request.organisation_id,
        data={"use_request": use_request.pk, "reason": reason},
    )
    return use_request


@transaction.atomic
def use_window_close(*, user: User, request: HttpRequest | None = None) -> UseRequest | None:
    """The person has finished: their open window ends now rather than when it would run out."""
    window = use_window_current(user)
    if window is None:
        return None
    window = UseRequest.objects.select_for_update().get(pk=window.pk)
    now = timezone.now()
    if window.window_end is None or window.window_end <= now:
        return window
    window.window_end = now
    window.save(update_fields=["window_end"])
    record_event(
        action="use_approval.closed",
        request=request,
        actor=user,
        target_user=user,
        organisation=window.organisation_id,
        data={"use_request": window.pk},
    )
    return window

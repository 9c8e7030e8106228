"""Account lifecycle: request → approve → invite → activate → suspend → reactivate → retire.

Every transition is one keyword-only, atomic service that checks who may do it and records who, when
and why through audit.events.record_event. Views, admin, commands and tasks call these and hold no rules.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Mapping
from datetime import datetime, timedelta

from axes.models import AccessAttempt
from axes.utils import reset as axes_reset
from django.conf import settings
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.http import HttpRequest
from django.utils import timezone
from django.utils.translation import gettext as _
from django_otp.plugins.otp_static.models import StaticDevice
from django_otp.plugins.otp_totp.models import TOTPDevice
from django_otp_webauthn.models import WebAuthnCredential

from accounts import emails
from accounts.models import (
    AccountRequest,
    AccountRequestKind,
    AccountRequestStatus,
    AccountStatus,
    ActivationLink,
    BureauScope,
    Organisation,
    SecondFactorPolicy,
    User,
    UserSession,
)
from accounts.outbox import outbox_enqueue_returning_sql, outbox_statement_run
from accounts.sessions import session_end_others, sessions_end_all
from audit.events import events_insert_sql, record_event
from audit.models import SecurityEvent


class SuspensionCause:
    TRANSFER = "transfer"  # 人事異動
    OFFICER = "officer"
    ADMINISTRATOR = "administrator"
    ANOMALY = "anomaly"
    IDLE = "idle"
    ACCESS_REVIEW = "access_review"  # not confirmed in the periodic access review by its deadline


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _require_active(actor: User) -> None:
    if actor.status != AccountStatus.ACTIVE:
        raise PermissionDenied(_("有効なアカウントのみが操作できます。"))


def _require_admin(actor: User) -> None:
    _require_active(actor)
    if not actor.is_system_admin:
        raise PermissionDenied(_("システム管理者のみが操作できます。"))


def _require_officer_of(actor: User, organisation_id: int) -> None:
    _require_active(actor)
    if not (actor.is_officer and actor.organisation_id == organisation_id):
        raise PermissionDenied(_("自組織の利用責任者のみが操作できます。"))


def _require_manager_of(actor: User, user: User) -> None:
    """The administrator, or an officer of the person's own organisation."""
    _require_active(actor)
    if actor.is_system_admin:
        return
    _require_officer_of(actor, user.organisation_id)


def _require_reason(reason: str) -> str:
    reason = (reason or "").strip()
    if not reason:
        raise ValidationError(_("理由を入力してください。"), code="reason_required")
    return reason


def _set_status(user: User, status: str, reason: str) -> None:
    user.status = status
    user.status_reason = reason[:500]
    user.status_changed_at = timezone.now()
    user.save(update_fields=["status", "status_reason", "status_changed_at"])


def _email_taken(email: str) -> bool:
    # E-mail stays unique forever, retired accounts included, so an ID is never reissued.
    return User.objects.filter(email__iexact=email).exists()


# --- requests ---------------------------------------------------------------------------------------------------


def _request_open(already_pending: str, **fields: object) -> AccountRequest:
    """Create a pending request; the partial unique constraints refuse a second open one, even under a race."""
    try:
        with transaction.atomic():
            return AccountRequest.objects.create(**fields)
    except IntegrityError:
        raise ValidationError(already_pending, code="request_pending") from None


@transaction.atomic
def account_request_create(
    *,
    officer: User,
    email: str,
    name: str,
    department: str = "",
    title: str = "",
    is_officer: bool = False,
    emergency_phone: str = "",
    reason: str = "",
    request: HttpRequest | None = None,
) -> AccountRequest:
    """An officer asks for an account for a person of the officer's own organisation."""
    _require_officer_of(officer, officer.organisation_id)
    email = User.objects.normalize_email(email).strip().lower()
    # Only the officer's own organisation is answered: an address held (or requested) in another organisation
    # gets the same answer as a new one, or the form would tell who holds accounts elsewhere. The administrator
    # sees the conflict at review, and approval refuses it (account_request_approve).
    if User.objects.filter(email__iexact=email, organisation_id=officer.organisation_id).exists():
        raise ValidationError(_("このメールアドレスは既に登録されています（廃止済みを含む）。"), code="email_taken")
    if is_officer and not emergency_phone.strip():
        raise ValidationError(_("利用責任者には緊急連絡先電話番号が必要です。"), code="phone_required")
    account_request = _request_open(
        _("このメールアドレスの申請は既に審査待ちです。"),
        kind=AccountRequestKind.NEW,
        organisation_id=officer.organisation_id,
        requested_by=officer,
        email=email,
        name=name.strip(),
        department=department.strip(),
        title=title.strip(),
        is_officer=is_officer,
        emergency_phone=emergency_phone.strip(),
        reason=reason.strip(),
    )
    record_event(
        action="account.requested",
        request=request,
        actor=officer,
        organisation=officer.organisation,
        data={"request_id": account_request.pk, "email": email, "is_officer": is_officer},
    )
    return account_request


@transaction.atomic
def account_reactivation_request(
    *, user: User, officer: User, reason: str, request: HttpRequest | None = None
) -> AccountRequest:
    """An officer asks the administrator to reactivate a suspended person of the officer's organisation."""
    _require_officer_of(officer, user.organisation_id)
    reason = _require_reason(reason)
    user = User.objects.select_for_update().get(pk=user.pk)
    if user.status != AccountStatus.SUSPENDED:
        raise ValidationError(_("停止中のアカウントのみ再開を申請できます。"), code="not_suspended")
    account_request = _request_open(
        _("このアカウントの再開申請は既に審査待ちです。"),
        kind=AccountRequestKind.REACTIVATION,
        organisation_id=user.organisation_id,
        requested_by=officer,
        target_user=user,
        email=user.email,
        name=user.name,
        reason=reason,
    )
    record_event(
        action="account.reactivation_requested",
        request=request,
        actor=officer,
        target_user=user,
        organisation=user.organisation,
        data={"request_id": account_request.pk, "reason": reason},
    )
    return account_request


def _lock_pending(account_request: AccountRequest) -> AccountRequest:
    locked = AccountRequest.objects.select_for_update().get(pk=account_request.pk)
    if locked.status != AccountRequestStatus.PENDING:
        raise ValidationError(_("この申請は既に審査済みです。"), code="already_decided")
    return locked


@transaction.atomic
def account_request_approve(
    *, account_request: AccountRequest, actor: User, request: HttpRequest | None = None
) -> tuple[User, str]:
    """The administrator approves: a new account is invited, or a suspended one must re-verify and re-enrol.

    Returns the person and the raw activation token (it is stored hashed; only the e-mail carries it)."""
    _require_admin(actor)
    account_request = _lock_pending(account_request)
    if account_request.kind == AccountRequestKind.NEW:
        if _email_taken(account_request.email):
            raise ValidationError(_("このメールアドレスは既に登録されています。"), code="email_taken")
        user = User.objects.create_user(
            account_request.email,
            None,
            name=account_request.name,
            organisation_id=account_request.organisation_id,
            department=account_request.department,
            title=account_request.title,
            is_officer=account_request.is_officer,
            emergency_phone=account_request.emergency_phone,
            status=AccountStatus.INVITED,
            status_reason=_("申請承認"),
        )
        action = "account.approved"
    else:
        user = User.objects.select_for_update().get(pk=account_request.target_user_id or 0)
        if user.status != AccountStatus.SUSPENDED:
            raise ValidationError(_("停止中のアカウントではありません。"), code="not_suspended")
        # Re-verify the address and force a new authenticator: nothing from before the suspension still works.
        TOTPDevice.objects.filter(user=user).delete()
        StaticDevice.objects.filter(user=user).delete()
        WebAuthnCredential.objects.filter(user=user).delete()
        user.set_unusable_password()
        user.save(update_fields=["password"])
        _set_status(user, AccountStatus.INVITED, _("利用再開承認"))
        sessions_end_all(user=user, reason="reactivated")
        action = "account.reactivation_approved"
    account_request.status = AccountRequestStatus.APPROVED
    account_request.decided_by = actor
    account_request.decided_at = timezone.now()
    account_request.target_user = user
    account_request.save(update_fields=["status", "decided_by", "decided_at", "target_user"])
    token = activation_link_issue(user=user)
    if account_request.kind == AccountRequestKind.NEW:
        emails.email_account_issued(user, token)
    else:
        emails.email_account_reactivated(user, token)
    emails.email_account_request_decided(account_request)
    record_event(
        action=action,
        request=request,
        actor=actor,
        target_user=user,
        organisation=user.organisation,
        data={"request_id": account_request.pk, "requested_by": account_request.requested_by_id},
    )
    return user, token


@transaction.atomic
def account_request_reject(
    *, account_request: AccountRequest, actor: User, reason: str, request: HttpRequest | None = None
) -> AccountRequest:
    _require_admin(actor)
    reason = _require_reason(reason)
    account_request = _lock_pending(account_request)
    account_request.status = AccountRequestStatus.REJECTED
    account_request.decided_by = actor
    account_request.decided_at = timezone.now()
    account_request.decision_reason = reason
    account_request.save(update_fields=["status", "decided_by", "decided_at", "decision_reason"])
    emails.email_account_request_decided(account_request)
    record_event(
        action="account.request_rejected",
        request=request,
        actor=actor,
        target_user=account_request.target_user,
        organisation=account_request.organisation,
        data={"request_id": account_request.pk, "kind": account_request.kind, "reason": reason},
    )
    return account_request


# --- activation -------------------------------------------------------------------------------------------------


def activation_link_issue(*, user: User) -> str:
    """A new one-time link; any earlier unused link of the person stops working."""
    now = timezone.now()
    ActivationLink.objects.filter(user=user, used_at__isnull=True, revoked_at__isnull=True).update(revoked_at=now)
    token = secrets.token_urlsafe(32)
    ActivationLink.objects.create(
        user=user,
        token_hash=_token_hash(token),
        expires_at=now + timedelta(hours=settings.ACCOUNT_ACTIVATION_LINK_HOURS),
    )
    return token


@transaction.atomic
def account_activation_resend(*, user: User, actor: User, request: HttpRequest | None = None) -> str:
    """For a person who lost or let expire their link while still INVITED."""
    _require_manager_of(actor, user)
    if user.status != AccountStatus.INVITED:
        raise ValidationError(_("招待中のアカウントではありません。"), code="not_invited")
    token = activation_link_issue(user=user)
    emails.email_account_issued(user, token)
    record_event(action="account.activation_link_resent", request=request, actor=actor, target_user=user)
    return token


def activation_link_find(token: str) -> ActivationLink | None:
    """The link if it can still be used (unused, unrevoked, unexpired, for an INVITED person)."""
    link = ActivationLink.objects.select_related("user").filter(token_hash=_token_hash(token)).first()
    if link is None or not link.is_usable() or link.user.status != AccountStatus.INVITED:
        return None
    return link


@transaction.atomic
def account_password_set_from_link(*, token: str, password: str, request: HttpRequest | None = None) -> User:
    """Step one of activation: the link is consumed and the person's own password is set."""
    link = ActivationLink.objects.select_for_update().filter(token_hash=_token_hash(token)).first()
    if link is None or not link.is_usable():
        raise ValidationError(_("このリンクは無効か、期限切れか、既に使用されています。"), code="link_invalid")
    user = User.objects.select_for_update().get(pk=link.user_id)
    if user.status != AccountStatus.INVITED:
        raise ValidationError(_("このリンクは無効か、期限切れか、既に使用されています。"), code="link_invalid")
    validate_password(password, user)
    link.used_at = timezone.now()
    link.save(update_fields=["used_at"])
    user.set_password(password)
    user.password_changed_at = timezone.now()
    user.save(update_fields=["password", "password_changed_at"])
    record_event(action="account.password_set", request=request, actor=user, target_user=user)
    return user


@transaction.atomic
def account_activate(*, user: User, request: HttpRequest | None = None) -> User:
    """Last step of onboarding: password set, TOTP confirmed and current terms accepted → ACTIVE."""
    from accounts.models import TermsAcceptance
    from accounts.terms import terms_current

    user = User.objects.select_for_update().get(pk=user.pk)
    if user.status != AccountStatus.INVITED:
        raise ValidationError(_("招待中のアカウントではありません。"), code="not_invited")
    if not user.has_usable_password() or not TOTPDevice.objects.filter(user=user, confirmed=True).exists():
        raise ValidationError(_("パスワードと認証アプリの登録が必要です。"), code="incomplete")
    if not TermsAcceptance.objects.filter(user=user, terms=terms_current()).exists():
        raise ValidationError(_("利用規約への同意が必要です。"), code="terms_required")
    now = timezone.now()
    user.activated_at = now
    user.last_activity_at = now
    user.save(update_fields=["activated_at", "last_activity_at"])
    _set_status(user, AccountStatus.ACTIVE, _("利用開始"))
    record_event(action="account.activated", request=request, actor=user, target_user=user)
    return user


# --- suspension, reactivation, retirement -----------------------------------------------------------------------


@transaction.atomic
def account_suspend(
    *,
    user: User,
    reason: str,
    actor: User | None,
    cause: str = SuspensionCause.OFFICER,
    request: HttpRequest | None = None,
) -> User:
    """Suspend at once; every session of the person ends on its next request. `actor=None` only for the system."""
    reason = _require_reason(reason)
    if actor is not None:
        _require_manager_of(actor, user)
    user = User.objects.select_for_update().get(pk=user.pk)
    if user.status not in (AccountStatus.ACTIVE, AccountStatus.INVITED):
        raise ValidationError(_("このアカウントは停止できる状態ではありません。"), code="not_suspendable")
    _set_status(user, AccountStatus.SUSPENDED, reason)
    ActivationLink.objects.filter(user=user, used_at__isnull=True, revoked_at__isnull=True).update(
        revoked_at=timezone.now()
    )
    sessions_end_all(user=user, reason="suspended")
    emails.email_account_suspended(user, reason)
    record_event(
        action="account.suspended",
        request=request,
        actor=actor,
        target_user=user,
        organisation=user.organisation,
        data={"cause": cause, "reason": reason},
    )
    return user


@transaction.atomic
def account_retire(*, user: User, reason: str, actor: User, request: HttpRequest | None = None) -> User:
    """The person left: the account is closed for good. Its e-mail stays taken, so the ID is never reissued."""
    reason = _require_reason(reason)
    _require_manager_of(actor, user)
    user = User.objects.select_for_update().get(pk=user.pk)
    if user.status == AccountStatus.RETIRED:
        raise ValidationError(_("このアカウントは既に廃止されています。"), code="already_retired")
    _set_status(user, AccountStatus.RETIRED, reason)
    user.set_unusable_password()
    user.is_staff = False
    user.save(update_fields=["password", "is_staff"])
    TOTPDevice.objects.filter(user=user).delete()
    StaticDevice.objects.filter(user=user).delete()
    WebAuthnCredential.objects.filter(user=user).delete()
    ActivationLink.objects.filter(user=user, used_at__isnull=True, revoked_at__isnull=True).update(
        revoked_at=timezone.now()
    )
    AccountRequest.objects.filter(target_user=user, status=AccountRequestStatus.PENDING).update(
        status=AccountRequestStatus.REJECTED, decided_at=timezone.now(), decision_reason=_("アカウント廃止")
    )
    sessions_end_all(user=user, reason="retired")
    record_event(
        action="account.retired",
        request=request,
        actor=actor,
        target_user=user,
        organisation=user.organisation,
        data={"reason": reason},
    )
    return user


# --- passwords --------------------------------------------------------------------------------------------------


@transaction.atomic
def account_password_change(*, user: User, password: str, request: HttpRequest) -> User:
    """The signed-in person's new password, once the view has re-checked the current one (counted in the lockout).

    The same password again is refused: a change that the organisation or an officer asked for must change it.
    Ends the person's other sessions and clears any required change."""
    user = User.objects.select_for_update().select_related("organisation").get(pk=user.pk)
    _require_active(user)
    if user.check_password(password):
        raise ValidationError(
            _("新しいパスワードは現在のパスワードと異なるものにしてください。"), code="password_unchanged"
        )
    validate_password(password, user)
    was_required = user.password_change_required
    user.set_password(password)
    user.password_changed_at = timezone.now()
    user.password_change_required = False
    user.save(update_fields=["password", "password_changed_at", "password_change_required"])
    session_end_others(user=user, request=request, reason="password_changed")
    record_event(
        action="account.password_changed",
        request=request,
        actor=user,
        target_user=user,
        data={"was_required": was_required},
    )
    return user


@transaction.atomic
def account_password_change_require(
    *, user: User, actor: User, reason: str, request: HttpRequest | None = None
) -> User:
    """An officer of the person's organisation (on transfer, 人事異動) or the administrator asks the person to
    change their password: every page leads them to the password change until they do."""
    reason = _require_reason(reason)
    _require_manager_of(actor, user)
    if user.pk == actor.pk:
        raise PermissionDenied(_("自分自身には設定できません。パスワードはアカウント情報から変更できます。"))
    user = User.objects.select_for_update().get(pk=user.pk)
    # An invited person sets their first password from the activation link anyway.
    if user.status != AccountStatus.ACTIVE:
        raise ValidationError(_("有効なアカウントのみに設定できます。"), code="not_active")
    if user.password_change_required:
        return user
    user.password_change_required = True
    user.save(update_fields=["password_change_required"])
    record_event(
        action="account.password_change_required",
        request=request,
        actor=actor,
        target_user=user,
        organisation=user.organisation,
        data={"reason": reason},
    )
    return user


# --- lockout ----------------------------------------------------------------------------------------------------


# The security events that name where someone tried to sign in (or re-authenticate) as a person.
_ATTEMPT_EVENTS = (
    "auth.login_failed",
    "auth.locked_out_attempt",
    "auth.mfa_failed",
    "auth.reauth_failed",
    "auth.reauth_refused_locked",
)


def _lockout_addresses(user: User) -> list[str]:
    """Where the person's failures and refused attempts came from within the cool-off: the addresses in axes's
    counters, and those of attempts refused because the address was already locked (axes counts none of them)."""
    since = timezone.now() - timedelta(hours=settings.AXES_COOLOFF_TIME)
    counted = AccessAttempt.objects.filter(username=user.email).values_list("ip_address", flat=True)
    refused = SecurityEvent.objects.filter(at__gte=since, action__in=_ATTEMPT_EVENTS).filter(
        Q(data__username=user.email) | Q(target_user_id=user.pk)
    )
    return [*counted, *refused.values_list("ip", flat=True)]


@transaction.atomic
def account_unlock(*, user: User, actor: User, request: HttpRequest | None = None) -> dict[str, object]:
    """The administrator lifts a sign-in lock: the person's failures and the lock on every address they came
    from (a person locked out from the office must not stay locked out by the office's address)."""
    _require_admin(actor)
    addresses = sorted({ip for ip in _lockout_addresses(user) if ip})
    removed = axes_reset(username=user.email)
    for address in addresses:
        removed += axes_reset(ip=address)
    result: dict[str, object] = {"removed": removed, "addresses": addresses}
    record_event(action="auth.unlocked", request=request, actor=actor, target_user=user, data=result)
    return result


# --- rights: the roles of people and the data scope of organisations ---------------------------------------------
# These decide what someone may see or do, so they change only here: by the administrator, with a reason, never
# on their own account or organisation, and recorded with the values before and after.

ORGANISATION_RIGHTS = ("supply_area", "jurisdiction_code", "ip_ranges", "is_active", "bureau_region", "bureau_scope")


def _require_admin_not_own(
    actor: User, reason: str, *, organisation_id: int | None = None, user: User | None = None
) -> str:
    _require_admin(actor)
    if (organisation_id is not None and actor.organisation_id == organisation_id) or (
        user is not None and user.pk == actor.pk
    ):
        raise PermissionDenied(_("自分自身または自組織の権限は変更できません。"))
    return _require_reason(reason)


def _changes(before: Mapping[str, object], after: Mapping[str, object]) -> dict[str, dict[str, object]]:
    changed = [name for name in before if before[name] != after[name]]
    return {"before": {n: before[n] for n in changed}, "after": {n: after[n] for n in changed}}


@transaction.atomic
def organisation_create(*, organisation: Organisation, actor: User, request: HttpRequest | None = None) -> Organisation:
    """A new organisation; its kind is fixed from now on (a database trigger refuses any change of it)."""
    _require_admin(actor)
    organisation.full_clean()
    organisation.save()
    record_event(
        action="organisation.created",
        request=request,
        actor=actor,
        organisation=organisation,
        data={"name": organisation.name, "kind": organisation.kind}
        | {name: getattr(organisation, name) for name in ORGANISATION_RIGHTS},
    )
    return organisation


@transaction.atomic
def organisation_rights_change(
    *,
    organisation: Organisation,
    actor: User,
    reason: str,
    supply_area: str | None = None,
    jurisdiction_code: str | None = None,
    ip_ranges: str | None = None,
    is_active: bool | None = None,
    bureau_region: str | None = None,
    bureau_scope: str | None = None,
    request: HttpRequest | None = None,
) -> Organisation:
    """Move an organisation's supply area, jurisdiction, registered IP ranges or active state, or a regional
    bureau's region and whether it sees every facility or only its region's (None: unchanged). The bureau's
    scope is the agency's decision; the administrator records it with the agency's instruction as the reason."""
    reason = _require_admin_not_own(actor, reason, organisation_id=organisation.pk)
    organisation = Organisation.objects.select_for_update().get(pk=organisation.pk)
    before = {name: getattr(organisation, name) for name in ORGANISATION_RIGHTS}
    requested = {
        "supply_area": supply_area,
        "jurisdiction_code": jurisdiction_code,
        "ip_ranges": ip_ranges,
        "is_active": is_active,
        "bureau_region": bureau_region,
        "bureau_scope": bureau_scope,
    }
    for name, value in requested.items():
        if value is not None:
            setattr(organisation, name, value.strip() if isinstance(value, str) else value)
    changes = _changes(before, {name: getattr(organisation, name) for name in ORGANISATION_RIGHTS})
    if not changes["after"]:
        return organisation
    if organisation.bureau_scope not in BureauScope.values:
        raise ValidationError(_("閲覧できる設備の範囲が正しくありません。"), code="invalid_scope")
    organisation.full_clean()  # the kind's rules (a grid operator has an area, ...) and CIDR syntax
    organisation.save(update_fields=list(changes["after"]))
    record_event(
        action="organisation.rights_changed",
        request=request,
        actor=actor,
        organisation=organisation,
        data={"reason": reason, **changes},
    )
    return organisation


@transaction.atomic
def account_roles_change(
    *,
    user: User,
    actor: User,
    reason: str,
    is_officer: bool | None = None,
    is_staff: bool | None = None,
    request: HttpRequest | None = None,
) -> User:
    """Grant or withdraw the officer right or the admin site (None: unchanged). The admin site is for the
    contractor's own staff only; superuser is break-glass (createsuperuser) and never granted here."""
    # The contractor's administrators may change a colleague's roles (someone must grant the admin site), but
    # never their own.
    reason = _require_admin_not_own(actor, reason, user=user)
    user = User.objects.select_for_update().select_related("organisation").get(pk=user.pk)
    if user.status == AccountStatus.RETIRED:
        raise ValidationError(_("廃止済みのアカウントです。"), code="retired")
    before = {"is_officer": user.is_officer, "is_staff": user.is_staff}
    if is_officer and not user.emergency_phone.strip():
        raise ValidationError(_("利用責任者には緊急連絡先電話番号が必要です。"), code="phone_required")
    if is_staff and not user.is_system_admin:
        raise ValidationError(_("管理サイトはシステム管理者の組織の利用者のみが利用できます。"), code="not_contractor")
    if is_officer is not None:
        user.is_officer = is_officer
    if is_staff is not None:
        user.is_staff = is_staff
    changes = _changes(before, {"is_officer": user.is_officer, "is_staff": user.is_staff})
    if not changes["after"]:
        return user
    user.save(update_fields=list(changes["after"]))
    record_event(
        action="account.roles_changed",
        request=request,
        actor=actor,
        target_user=user,
        organisation=user.organisation,
        data={"reason": reason, **changes},
    )
    return user


@transaction.atomic
def accounts_suspend_idle(*, idle_before: datetime, reason: str, idle_days: int) -> list[int]:
    """Suspend, as the system, every ACTIVE or INVITED account last used before `idle_before`
    (SuspensionCause.IDLE): the bulk form of account_suspend, with the same effects in one statement.

    One UPDATE … RETURNING suspends the accounts and rotates their security stamps (every session ends);
    the same statement revokes their unused activation links, closes their session rows, puts one e-mail
    each in the outbox and records the account.suspended events that name them (one per organisation,
    audit.events.events_insert_sql; hashed in the database as every event). Two overlapping runs cannot both
    take a row: PostgreSQL re-checks the WHERE clause after waiting for the row lock, so a repeated run finds
    nothing to do."""
    now = timezone.now()
    events_sql, params = events_insert_sql(
        action="account.suspended",
        data={"cause": SuspensionCause.IDLE, "reason": reason, "idle_days": idle_days},
        source="changed",
        user_column="id",
        organisation_column="organisation_id",
    )
    outbox_sql, outbox_params = outbox_enqueue_returning_sql(
        kind="suspended", subject=emails.SUSPENDED_SUBJECT, context={"reason": reason}
    )
    params.update(outbox_params)
    params.update(
        now=now,
        reason=reason[:500],
        idle_before=idle_before,
        suspended=AccountStatus.SUSPENDED,
        suspendable=[AccountStatus.ACTIVE, AccountStatus.INVITED],
        end_reason="suspended",
    )
    user_table = User._meta.db_table
    link_table = ActivationLink._meta.db_table
    session_table = UserSession._meta.db_table
    sql = f"""
        WITH changed AS (
            UPDATE {user_table}
            SET status = %(suspended)s, status_reason = %(reason)s, status_changed_at = %(now)s,
                security_stamp = gen_random_uuid()
            WHERE status = ANY(%(suspendable)s)
              AND COALESCE(last_activity_at, activated_at, date_joined) < %(idle_before)s
            RETURNING id, email, organisation_id
        ),
        links AS (
            UPDATE {link_table} SET revoked_at = %(now)s
            WHERE user_id IN (SELECT id FROM changed) AND used_at IS NULL AND revoked_at IS NULL
        ),
        sessions AS (
            UPDATE {session_table} SET ended_at = %(now)s, end_reason = %(end_reason)s
            WHERE user_id IN (SELECT id FROM changed) AND ended_at IS NULL
        ),
        mail AS ({outbox_sql}),
        events AS ({events_sql})
        SELECT id FROM changed
    """  # noqa: S608 - table names are the models'; every value is a parameter
    return outbox_statement_run(sql, params)


# --- organisation settings --------------------------------------------------------------------------------------


@transaction.atomic
def organisation_second_factor_policy_set(
    *,
    organisation: Organisation,
    policy: str,
    device_bound_only: bool,
    actor: User,
    request: HttpRequest | None = None,
) -> Organisation:
    """The administrator sets which second factors the organisation's people may use.

    `webauthn` leads everyone without a key to enrol one at their next request, and refuses their authenticator
    app once they hold a key; `device_bound_only` refuses passkeys that can be synced to other devices."""
    _require_admin(actor)
    if policy not in SecondFactorPolicy.values:
        raise ValidationError(_("二要素認証の方針が正しくありません。"), code="invalid_policy")
    organisation = Organisation.objects.select_for_update().get(pk=organisation.pk)
    before = {"policy": organisation.second_factor_policy, "device_bound_only": organisation.webauthn_device_bound_only}
    after = {"policy": policy, "device_bound_only": bool(device_bound_only)}
    if before == after:
        return organisation
    organisation.second_factor_policy = policy
    organisation.webauthn_device_bound_only = bool(device_bound_only)
    organisation.save(update_fields=["second_factor_policy", "webauthn_device_bound_only"])
    record_event(
        action="organisation.second_factor_policy_changed",
        request=request,
        actor=actor,
        organisation=organisation,
        data={"before": before, "after": after},
    )
    return organisation


@transaction.atomic
def organisation_password_max_age_set(
    *, organisation: Organisation, days: int, actor: User, request: HttpRequest | None = None
) -> Organisation:
    """The administrator sets how many days a password of the organisation's people lasts (0: no expiry, the
    default and NIST SP 800-63B's advice). Someone whose password is older must change it at their next
    request."""
    _require_admin(actor)
    if not isinstance(days, int) or days < 0 or days > 3650:
        raise ValidationError(_("有効期間は0〜3650日で指定してください。"), code="invalid_days")
    organisation = Organisation.objects.select_for_update().get(pk=organisation.pk)
    before = organisation.password_max_age_days
    if before == days:
        return organisation
    organisation.password_max_age_days = days
    organisation.save(update_fields=["password_max_age_days"])
    record_event(
        action="organisation.password_max_age_changed",
        request=request,
        actor=actor,
        organisation=organisation,
        data={"before": before, "after": days},
    )
    return organisation

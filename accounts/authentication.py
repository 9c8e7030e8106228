"""The two-step sign-in (password, then TOTP, a security key or a recovery code) for every role, the admin site
included.

A password alone never yields an authenticated session: it only leaves a short-lived "pending" mark in
the session, and Django's login() runs after the second factor. Password and second-factor failures
both count toward the django-axes lockout of the account and of the address, each with its own limit
(accounts/lockout.py). The organisation's IP ranges are checked before the password (no oracle).

django-axes reads its counter and writes it later (#592), so parallel guesses could all pass the check.
On PostgreSQL each attempt therefore holds transaction-scoped advisory locks on the account and on the
client IP while it checks the lockout, verifies and records the outcome: attempts on one account (or
from one IP) run one after another and each sees the failures before it. The cost is that concurrent
sign-ins from one address (an office NAT) wait for each other's password hash.
"""

from __future__ import annotations

import enum
import re
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import django_otp
from axes.handlers.proxy import AxesProxyHandler
from django.conf import settings
from django.contrib.auth import authenticate, login
from django.contrib.auth.signals import user_login_failed
from django.db import connection, transaction
from django.http import HttpRequest
from django_otp.models import Device
from django_otp.plugins.otp_static.models import StaticDevice
from django_otp.plugins.otp_totp.models import TOTPDevice
from django_otp_webauthn import exceptions as webauthn_exceptions
from django_otp_webauthn.models import WebAuthnCredential
from django_otp_webauthn.utils import rewrite_exceptions

from accounts.http import AuthenticatedHttpRequest
from accounts.models import AccountStatus, RecoveryCodeDevice, User
from accounts.sessions import session_started
from accounts.terms import terms_remember_in_session
from accounts.use_policy import allowed_hours_refused
from accounts.webauthn import webauthn_note_use, webauthn_presented, webauthn_replaces_totp
from audit.events import record_event
from renergy.client_ip import client_ip

PENDING_KEY = "signin_pending"
PENDING_SECONDS = 5 * 60
LOGIN_BACKEND = "django.contrib.auth.backends.ModelBackend"
TOTP_CODE = re.compile(r"^[0-9]{6}$")


class Outcome(enum.Enum):
    OK = "ok"
    INVALID = "invalid"
    LOCKED = "locked"
    NOT_ACTIVATED = "not_activated"
    IP_REFUSED = "ip_refused"
    OUTSIDE_HOURS = "outside_hours"


@dataclass(frozen=True)
class StepResult:
    outcome: Outcome
    user: User | None = None
    device: Device | None = None
    reason: str = ""  # why a second factor was refused, when the person needs to know (the policy, not the code)


SIGNIN_QUEUE_TIMEOUT = "30s"


@contextmanager
def _attempt_guard(request: HttpRequest, username: str) -> Iterator[None]:
    """One transaction per attempt, serialised per account and per client IP (see the module docstring)."""
    with transaction.atomic():
        with connection.cursor() as cursor:
            # Attempts on one account or address queue here, each holding the lock for one password hash: a burst
            # waits longer than the connection's lock_timeout (meant for blocked tables), so it is lifted for the
            # queue, bounded still.
            cursor.execute("SELECT set_config('lock_timeout', %s, true)", [SIGNIN_QUEUE_TIMEOUT])
            # Fixed order (account, then IP) so two attempts can never wait on each other in a cycle.
            cursor.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", [f"signin-user:{username.lower()}"])
            cursor.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", [f"signin-ip:{client_ip(request)}"])
        yield


def _credentials(username: str) -> dict[str, str]:
    return {settings.AXES_USERNAME_FORM_FIELD: username}


def is_locked_out(request: HttpRequest, username: str) -> bool:
    return AxesProxyHandler.is_locked(request, _credentials(username))


def _count_failure(request: HttpRequest, username: str) -> None:
    # The same signal Django sends for a wrong password: axes counts it toward the same lockout (#354).
    user_login_failed.send(sender=__name__, credentials=_credentials(username), request=request)


def _ip_allowed(request: HttpRequest, user: User) -> bool:
    if user.organisation.allows_ip(client_ip(request)):
        return True
    record_event(
        action="auth.ip_refused",
        request=request,
        target_user=user,
        organisation=user.organisation,
        data={"ip": client_ip(request)},
    )
    return False


def _outside_ip_ranges(request: HttpRequest, username: str, password: str) -> bool:
    """Whether the account exists and its organisation does not allow this address, decided before the password.

    The password is then not checked at all (nothing can tell whether it was right), but it is hashed once all the
    same, as Django's ModelBackend does for an unknown account: the answer must not come back faster either.
    The attempt counts as a failure, for a right password as for a wrong one."""
    user = User.objects.select_related("organisation").filter(email__iexact=username).first()
    if user is None or user.organisation.allows_ip(client_ip(request)):
        return False
    User().set_password(password)
    _count_failure(request, username)
    record_event(
        action="auth.ip_refused",
        request=request,
        target_user=user,
        organisation=user.organisation,
        data={"ip": client_ip(request), "step": "password", "username": username},
    )
    return True


def _mark_locked_out(request: HttpRequest) -> None:
    # django-axes answers with its lockout response when the request carries this flag.
    request.axes_locked_out = True  # type: ignore[attr-defined]


def signin_password(request: HttpRequest, *, username: str, password: str) -> StepResult:
    """Step one. On success the session only remembers that this person passed the password, for five minutes.

    From outside the person's organisation's IP ranges the answer is INVALID, the same as for a wrong password."""
    username = username.strip().lower()
    with _attempt_guard(request, username):
        if is_locked_out(request, username):
            _mark_locked_out(request)
            record_event(action="auth.locked_out_attempt", request=request, data={"username": username})
            return StepResult(Outcome.LOCKED)
        if _outside_ip_ranges(request, username, password):
            return StepResult(Outcome.LOCKED if getattr(request, "axes_locked_out", False) else Outcome.INVALID)
        user = authenticate(request, username=username, password=password)
        if getattr(request, "axes_locked_out", False):
            record_event(action="auth.login_failed", request=request, data={"username": username, "step": "password"})
            return StepResult(Outcome.LOCKED)
        if user is None:
            record_event(action="auth.login_failed", request=request, data={"username": username, "step": "password"})
            return StepResult(Outcome.INVALID)
    if not user.organisation.is_active:
        record_event(action="auth.login_refused_organisation_inactive", request=request, target_user=user)
        return StepResult(Outcome.INVALID, user)
    if user.status == AccountStatus.INVITED and not TOTPDevice.objects.filter(user=user, confirmed=True).exists():
        # Enrolment is tied to the activation link: a password alone must never lead to registering a device.
        record_event(action="auth.login_refused_not_activated", request=request, target_user=user)
        return StepResult(Outcome.NOT_ACTIVATED, user)
    request.session[PENDING_KEY] = {"user_id": user.pk, "at": time.time(), "hash": user.get_session_auth_hash()}
    return StepResult(Outcome.OK, user)


def signin_pending_user(request: HttpRequest) -> User | None:
    """The person who passed the password step in this session, if it was recent and nothing changed since."""
    pending = request.session.get(PENDING_KEY)
    if not pending or time.time() - pending.get("at", 0) > PENDING_SECONDS:
        return None
    user = User.objects.select_related("organisation").filter(pk=pending.get("user_id")).first()
    if user is None or not user.is_active or user.get_session_auth_hash() != pending.get("hash"):
        return None
    return user


def _device_for(user: User, code: str) -> Device | None:
    """The one device this code is meant for, locked for the check: never match a code across devices (#110)."""
    if TOTP_CODE.match(code):
        return TOTPDevice.objects.select_for_update().filter(user=user, confirmed=True).order_by("pk").first()
    return RecoveryCodeDevice.objects.select_for_update().filter(user=user, confirmed=True).order_by("pk").first()


def signin_second_factor(request: HttpRequest, *, user: User, code: str) -> StepResult:
    """Step two. A TOTP code works once: the device row is locked and django-otp keeps last_t."""
    code = re.sub(r"\s+", "", code or "").lower()
    with _attempt_guard(request, user.email):
        if is_locked_out(request, user.email):
            _mark_locked_out(request)
            return StepResult(Outcome.LOCKED)
        device = _device_for(user, code)
        if isinstance(device, TOTPDevice) and webauthn_replaces_totp(user):
            # Checked before the code is, so the refused app is not even an oracle for its codes.
            _count_failure(request, user.email)
            record_event(
                action="auth.mfa_refused_policy",
                request=request,
                target_user=user,
                data={"device": device.persistent_id, "method": "totp", "reason": "webauthn_required"},
            )
            outcome = Outcome.LOCKED if getattr(request, "axes_locked_out", False) else Outcome.INVALID
            return StepResult(outcome, user, reason="webauthn_required")
        if device is None or not device.verify_token(code):
            _count_failure(request, user.email)
            record_event(
                action="auth.mfa_failed",
                request=request,
                target_user=user,
                data={"device": device.persistent_id if device else None},
            )
            if getattr(request, "axes_locked_out", False):
                return StepResult(Outcome.LOCKED)
            return StepResult(Outcome.INVALID)
    refused = _refused_after_second_factor(request, user)
    if refused is not None:
        return refused
    recovery = isinstance(device, StaticDevice)
    _signed_in(request, user=user, device=device, method="recovery_code" if recovery else "totp")
    return StepResult(Outcome.OK, user, device)


def signin_webauthn(request: HttpRequest, *, user: User, state: dict, data: dict) -> StepResult:
    """Step two with a security key or passkey, for the person who passed the password step.

    The plugin verifies the signature over this session's one-time challenge against the person's own
    credentials only (another person's key is refused). Failures count toward the same lockout as a
    wrong code, under the same per-account and per-IP guard."""
    helper = WebAuthnCredential.get_webauthn_helper(request=request)
    with _attempt_guard(request, user.email):
        if is_locked_out(request, user.email):
            _mark_locked_out(request)
            return StepResult(Outcome.LOCKED)
        device, reason = None, ""
        try:
            with rewrite_exceptions(logger=None):
                device = helper.authenticate_complete(user=user, state=state, data=data)
        except webauthn_exceptions.OTPWebAuthnApiError as error:
            reason = error.code
        if device is None:
            reason = reason or "invalid"
        elif not device.confirmed:
            reason = "credential_disabled"
        elif not user.organisation.accepts_webauthn_credential(
            backup_eligible=device.backup_eligible, backup_state=device.backup_state
        ):
            reason = "synced_passkey_refused"
        if reason or device is None:
            _count_failure(request, user.email)
            record_event(
                action="auth.mfa_refused_policy" if reason == "synced_passkey_refused" else "auth.mfa_failed",
                request=request,
                target_user=user,
                data={"method": "webauthn", "reason": reason, **webauthn_presented(data)},
            )
            outcome = Outcome.LOCKED if getattr(request, "axes_locked_out", False) else Outcome.INVALID
            return StepResult(outcome, user, reason=reason)
    refused = _refused_after_second_factor(request, user)
    if refused is not None:
        return refused
    _signed_in(request, user=user, device=device, method="webauthn", credential_id_sha256=device.credential_id_sha256)
    webauthn_note_use(request=request, user=user, device=device)
    return StepResult(Outcome.OK, user, device)


def _refused_after_second_factor(request: HttpRequest, user: User) -> StepResult | None:
    """What still refuses a person who passed both factors: their address outside the organisation's ranges, or a
    time outside its allowed hours (told only now, so the refusal says nothing to someone with the password alone)."""
    if not _ip_allowed(request, user):
        return StepResult(Outcome.IP_REFUSED, user)
    if allowed_hours_refused(request=request, user=user, step="signin"):
        request.session.pop(PENDING_KEY, None)
        return StepResult(Outcome.OUTSIDE_HOURS, user)
    return None


def _signed_in(request: HttpRequest, *, user: User, device: Device, method: str, **detail: str) -> None:
    """The second step passed: the pending step ends, the person is signed in and the login is recorded."""
    request.session.pop(PENDING_KEY, None)
    signin_complete(request, user=user, device=device)
    data = {"device": device.persistent_id, "method": method, **detail, "recovery_code": method == "recovery_code"}
    record_event(action="auth.login", request=request, actor=user, target_user=user, data=data)


def signin_complete(request: HttpRequest, *, user: User, device: Device) -> None:
    """Log in (Django cycles the session key), mark the verified device, stamp the session."""
    login(request, user, backend=LOGIN_BACKEND)
    django_otp.login(request, device)
    session_started(request, user)
    terms_remember_in_session(request, user)


def reauthenticate(request: AuthenticatedHttpRequest, password: str, *, purpose: str = "confirm_password") -> Outcome:
    """The signed-in person re-enters their current password before something that needs it (a password change,
    new recovery codes, a new authenticator, a new security key...). Counted in the same lockout as sign-in, per
    account and per IP, refused while it holds, and recorded either way: a stolen session cookie must not become
    an unlimited password oracle. Returns OK, INVALID or LOCKED (request.axes_locked_out is then set, so the
    response becomes the lockout page)."""
    user = request.user
    username = user.email
    event: dict[str, Any] = {"request": request, "actor": user, "target_user": user, "data": {"purpose": purpose}}
    with _attempt_guard(request, username):
        if is_locked_out(request, username):
            _mark_locked_out(request)
            record_event(action="auth.reauth_refused_locked", **event)
            return Outcome.LOCKED
        if not user.check_password(password):
            _count_failure(request, username)
            record_event(action="auth.reauth_failed", **event)
            return Outcome.LOCKED if getattr(request, "axes_locked_out", False) else Outcome.INVALID
    record_event(action="auth.reauthenticated", **event)
    return Outcome.OK


def reauthentication_locked(request: AuthenticatedHttpRequest, *, purpose: str) -> bool:
    """For a step that follows reauthenticate() (the new device's code): refused, and recorded, while the
    person's account or address is locked out."""
    if not is_locked_out(request, request.user.email):
        return False
    _mark_locked_out(request)
    record_event(
        action="auth.reauth_refused_locked",
        request=request,
        actor=request.user,
        target_user=request.user,
        data={"purpose": purpose},
    )
    return True

"""Signed-in sessions: timestamps for the idle and absolute limits, the person's session list, and ending sessions.

Ending sessions works on every node at once without knowing their keys: the person's security stamp is
part of the session auth hash (accounts.models.User.get_session_auth_hash), so rotating it invalidates
every session on the next request, whichever node or cache holds it.
"""

from __future__ import annotations

import hashlib
import time
import uuid
from datetime import timedelta

from django.conf import settings
from django.contrib.auth import update_session_auth_hash
from django.db.models import Q
from django.http import HttpRequest
from django.utils import timezone

from accounts.models import User, UserSession
from renergy.client_ip import client_ip

AUTH_AT = "auth_at"  # epoch seconds of the full sign-in (password + TOTP)
SEEN_AT = "seen_at"  # epoch seconds of the last request, written at most once a minute
USER_SESSION_ID = "user_session_id"
SEEN_WRITE_INTERVAL = 60
ACTIVITY_WRITE_INTERVAL = timedelta(hours=1)


def _key_hash(session_key: str | None) -> str:
    return hashlib.sha256((session_key or "").encode()).hexdigest()


def session_started(request: HttpRequest, user: User) -> UserSession:
    """After the full sign-in: stamp the session and keep the person's view of it."""
    now = time.time()
    request.session[AUTH_AT] = now
    request.session[SEEN_AT] = now
    if request.session.session_key is None:
        request.session.save()
    record = UserSession.objects.create(
        user=user,
        session_key_hash=_key_hash(request.session.session_key),
        ip_address=client_ip(request),
        user_agent=request.META.get("HTTP_USER_AGENT", "")[:300],
    )
    request.session[USER_SESSION_ID] = record.pk
    user_activity_touch(user)
    return record


def session_expiry_reason(request: HttpRequest) -> str | None:
    """Why this signed-in session must end now, or None."""
    now = time.time()
    auth_at = request.session.get(AUTH_AT)
    seen_at = request.session.get(SEEN_AT)
    if auth_at is None or seen_at is None:
        # A session signed in some other way (force_login in tests, a shell): its clocks start now, so it
        # still gets both limits.
        request.session[AUTH_AT] = request.session[SEEN_AT] = now
        return None
    if now - auth_at > settings.SESSION_ABSOLUTE_TIMEOUT_SECONDS:
        return "absolute_timeout"
    if now - seen_at > settings.SESSION_IDLE_TIMEOUT_SECONDS:
        return "idle_timeout"
    return None


def session_seen(request: HttpRequest, user: User) -> None:
    """Refresh the idle clock, but write the session (and our rows) only when the stamp is over a minute old."""
    now = time.time()
    seen_at = request.session.get(SEEN_AT)
    if seen_at is not None and now - seen_at < SEEN_WRITE_INTERVAL:
        return
    request.session[SEEN_AT] = now
    session_id = request.session.get(USER_SESSION_ID)
    if session_id is not None:
        UserSession.objects.filter(pk=session_id, ended_at__isnull=True).update(last_seen_at=timezone.now())
    user_activity_touch(user)


def user_activity_touch(user: User) -> None:
    """Keep last_activity_at for idle suspension: one conditional UPDATE, effective at most once an hour."""
    now = timezone.now()
    User.objects.filter(pk=user.pk).filter(
        Q(last_activity_at__isnull=True) | Q(last_activity_at__lt=now - ACTIVITY_WRITE_INTERVAL)
    ).update(last_activity_at=now)


def session_ended(request: HttpRequest, reason: str) -> None:
    session_id = request.session.get(USER_SESSION_ID)
    if session_id is not None:
        UserSession.objects.filter(pk=session_id, ended_at__isnull=True).update(
            ended_at=timezone.now(), end_reason=reason
        )


def sessions_end_all(*, user: User, reason: str) -> None:
    """End every session of the person (suspension, retirement, password or device change)."""
    User.objects.filter(pk=user.pk).update(security_stamp=uuid.uuid4())
    user.refresh_from_db(fields=["security_stamp"])
    UserSession.objects.filter(user=user, ended_at__isnull=True).update(ended_at=timezone.now(), end_reason=reason)


def session_end_others(*, user: User, request: HttpRequest, reason: str = "signed_out_elsewhere") -> int:
    """End every other session of the person and keep this one (rotates the stamp, then re-signs this session)."""
    current_id = request.session.get(USER_SESSION_ID)
    User.objects.filter(pk=user.pk).update(security_stamp=uuid.uuid4())
    user.refresh_from_db(fields=["security_stamp"])
    update_session_auth_hash(request, user)  # cycles the key too
    ended = (
        UserSession.objects.filter(user=user, ended_at__isnull=True)
        .exclude(pk=current_id or 0)
        .update(ended_at=timezone.now(), end_reason=reason)
    )
    if current_id is not None:
        UserSession.objects.filter(pk=current_id).update(session_key_hash=_key_hash(request.session.session_key))
    return ended


def sessions_active(user: User) -> list[UserSession]:
    cutoff = timezone.now() - timedelta(seconds=settings.SESSION_IDLE_TIMEOUT_SECONDS)
    return list(
        UserSession.objects.filter(user=user, ended_at__isnull=True, last_seen_at__gte=cutoff).order_by("-created_at")
    )


def sessions_recent(user: User, limit: int = 10) -> list[UserSession]:
    return list(UserSession.objects.filter(user=user).order_by("-created_at")[:limit])

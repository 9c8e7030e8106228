"""Account e-mails: Japanese first with English below, plain text, put in the outbox (accounts/outbox.py)
in the transaction of the change, and sent by a worker after it commits.

Links are built from settings.SITE_URL, never from the request's Host header (host-header poisoning).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.conf import settings
from django.urls import reverse

from accounts.models import AccountRequest, AccountRequestStatus, AccountStatus, User, UseRequest, UseRequestStatus
from accounts.outbox import outbox_enqueue
from renergy.geography import JST

SUSPENDED_SUBJECT = "【再エネ業務管理システム】アカウント停止のお知らせ / Your account is suspended"
IDLE_WARNING_SUBJECT = (
    "【再エネ業務管理システム】長期間未利用によるアカウント停止の予告 / Your account will be suspended"
)


def site_url(path: str) -> str:
    return settings.SITE_URL.rstrip("/") + path


def login_url() -> str:
    return site_url(reverse("accounts:login"))


def activation_url(token: str) -> str:
    return site_url(reverse("accounts:activate", args=[token]))


def _send(template: str, subject: str, user: User, context: dict[str, Any]) -> None:
    outbox_enqueue(
        kind=template,
        subject=subject,
        user=user,
        context={"hours": settings.ACCOUNT_ACTIVATION_LINK_HOURS, **context},
    )


def email_account_issued(user: User, token: str) -> None:
    _send(
        "issued",
        "【再エネ業務管理システム】アカウント発行のお知らせ / Your account",
        user,
        {"url": activation_url(token)},
    )


def email_account_reactivated(user: User, token: str) -> None:
    _send(
        "reactivated",
        "【再エネ業務管理システム】利用再開のお知らせ / Your account is reactivated",
        user,
        {"url": activation_url(token)},
    )


def email_account_suspended(user: User, reason: str) -> None:
    _send(
        "suspended",
        SUSPENDED_SUBJECT,
        user,
        {"reason": reason},
    )


def email_second_factor_changed(user: User, *, authenticator: bool) -> None:
    """A new authenticator or new recovery codes: the person hears of it on their registered address, so a
    stolen session that tried to make itself a permanent second factor is noticed."""
    _send(
        "second_factor_changed",
        "【再エネ業務管理システム】認証情報の変更のお知らせ / Your second factor was changed",
        user,
        {"authenticator": authenticator},
    )


def email_account_request_decided(account_request: AccountRequest) -> None:
    """The officer who asked hears the administrator's decision (approved, or rejected with the reason)."""
    if account_request.requested_by.status != AccountStatus.ACTIVE:
        return  # the officer has left or been suspended since: their organisation's next officer sees it in the console
    approved = account_request.status == AccountRequestStatus.APPROVED
    _send(
        "request_approved" if approved else "request_rejected",
        "【再エネ業務管理システム】アカウント申請の審査結果 / Your account request was decided",
        account_request.requested_by,
        {
            "kind": str(account_request.get_kind_display()),
            "name": account_request.name,
            "email": account_request.email,
            "reason": account_request.decision_reason,
            "url": site_url(reverse("accounts:officer_console")),
        },
    )


def email_use_requested(officer: User, use_request: UseRequest) -> None:
    _send(
        "use_requested",
        "【再エネ業務管理システム】利用申請（都度承認）が届きました / A use request awaits your decision",
        officer,
        {
            "requester": use_request.user.name,
            "minutes": use_request.minutes,
            "purpose": use_request.purpose,
            "url": site_url(reverse("accounts:officer_use_requests")),
        },
    )


def _jst(moment: datetime | None) -> str:
    return f"{moment.astimezone(JST):%Y-%m-%d %H:%M} JST" if moment else ""


def email_use_decided(use_request: UseRequest) -> None:
    approved = use_request.status == UseRequestStatus.APPROVED
    _send(
        "use_approved" if approved else "use_refused",
        "【再エネ業務管理システム】利用申請の審査結果 / Your use request was decided",
        use_request.user,
        {
            "minutes": use_request.minutes,
            "purpose": use_request.purpose,
            "window_end": _jst(use_request.window_end),
            "reason": use_request.decision_reason,
            "url": site_url(reverse("accounts:use_request")),
        },
    )

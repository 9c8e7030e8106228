"""Account e-mails: Japanese first with English below, plain text, put in the outbox (accounts/outbox.py)
in the transaction of the change, and sent by a worker after it commits.

Links are built from settings.SITE_URL, never from the request's Host header (host-header poisoning).
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.urls import reverse

from accounts.models import User
from accounts.outbox import outbox_enqueue

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

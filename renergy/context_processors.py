"""What the shared layout needs to know about the person: who they are and which menu to show.

Menus only guide, and are built from what they guide to: an entry shows when its view's declared access rule
(accounts.permissions) admits the person, the rule the gate enforces.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from django.http import HttpRequest
from django.urls import NoReverseMatch, resolve, reverse
from django.utils.functional import Promise, SimpleLazyObject
from django.utils.translation import gettext_lazy as _

from accounts.models import AccountStatus
from accounts.permissions import rule_for


@dataclass(frozen=True)
class MenuLink:
    label: str | Promise
    url: str
    current: bool


@dataclass(frozen=True)
class LayoutPerson:
    """The signed-in person as the navigation sees them."""

    signed_in: bool  # password + TOTP verified and the account ACTIVE: the full menu
    onboarding: bool  # password accepted, enrolment or verification not finished: sign-out only
    name: str = ""
    organisation_name: str = ""
    is_officer: bool = False
    menu: list[MenuLink] = field(default_factory=list)


ANONYMOUS = LayoutPerson(signed_in=False, onboarding=False)

# The main menu, in order. Each entry is shown to whoever its view's declared access rule admits
# (accounts.permissions), so the menu cannot drift from the rules.
MENU: list[tuple[str, Any]] = [
    ("accounts:home", _("ホーム")),
    ("accounts:use_request", _("利用の申請")),
    ("certifications:list", _("認定設備の検索")),
    ("certifications:import_upload", _("台帳の取込")),
    ("audit:disclosures", _("自社設備の閲覧記録")),
    ("accounts:officer_console", _("組織の利用者")),
    ("accounts:officer_request", _("アカウントの申請")),
    ("accounts:officer_use_requests", _("利用申請の承認")),
    ("accounts:officer_access_review", _("アカウント棚卸し")),
    ("audit:organisation_log", _("組織の利用記録")),
    ("audit:organisation_findings", _("組織の点検結果")),
    ("accounts:admin_requests", _("申請の審査")),
    ("accounts:admin_accounts", _("アカウント管理")),
    ("accounts:admin_organisations", _("組織管理")),
    ("accounts:admin_access_reviews", _("棚卸しの状況")),
    ("accounts:admin_terms", _("利用規約")),
    ("accounts:admin_outbox", _("送信メール")),
    ("audit:log", _("アクセス記録")),
    ("audit:inspections", _("自己点検")),
    ("audit:reports", _("年度報告")),
    ("accounts:account", _("アカウント情報")),
]


def _url_for(name: str, user: Any) -> str | None:
    """The entry's URL when the view's rule admits this fully signed-in person, else None (also when the URLconf
    in use has no such view, as a test's own URLconf)."""
    try:
        url = reverse(name)
    except NoReverseMatch:
        return None
    rule = rule_for(resolve(url).func)
    return url if rule is not None and rule.level == "signed_in" and rule.allows_role(user) else None


# Asking for and deciding per-use approval is offered only where the organisation requires it (都度承認).
USE_APPROVAL_ENTRIES = frozenset({"accounts:use_request", "accounts:officer_use_requests"})


def _menu(user: Any, path: str) -> list[MenuLink]:
    links = [
        (label, url)
        for name, label in MENU
        if (name not in USE_APPROVAL_ENTRIES or user.organisation.use_approval_required)
        and (url := _url_for(name, user)) is not None
    ]
    # The current entry is the longest URL that prefixes the path (a facility's page marks "search").
    matches = [url for _label, url in links if path == url or (url != "/" and path.startswith(url))]
    current = max(matches, key=len, default=None)
    return [MenuLink(label, url, url == current) for label, url in links]


def _person(request: HttpRequest) -> LayoutPerson:
    user: Any = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return ANONYMOUS
    verified = bool(getattr(user, "is_verified", lambda: False)())
    if not (verified and user.status == AccountStatus.ACTIVE):
        return LayoutPerson(signed_in=False, onboarding=True, name=user.name)
    return LayoutPerson(
        signed_in=True,
        onboarding=False,
        name=user.name,
        organisation_name=user.organisation.name,
        is_officer=user.is_officer,
        menu=_menu(user, request.path),
    )


def layout(request: HttpRequest) -> dict[str, Any]:
    # Lazy: pages that never show the menu pay nothing.
    return {"ui": SimpleLazyObject(lambda: _person(request))}

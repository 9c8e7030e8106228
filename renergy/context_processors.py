"""What the shared layout needs to know about the person: who they are and which menu to show.

Menus only guide; what a role may use is decided by each view's access rule (accounts.permissions).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from django.http import HttpRequest
from django.urls import NoReverseMatch, reverse
from django.utils.functional import Promise, SimpleLazyObject
from django.utils.translation import gettext_lazy as _

from accounts.models import AccountStatus, OrganisationKind
from accounts.permissions import FACILITY_ROLES


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
    role: str = ""
    role_label: str = ""
    is_officer: bool = False
    is_system_admin: bool = False
    works_with_facilities: bool = False
    menu: list[MenuLink] = field(default_factory=list)


ANONYMOUS = LayoutPerson(signed_in=False, onboarding=False)

Who = Callable[[LayoutPerson], bool]
EVERYONE: Who = lambda person: True  # noqa: E731
FACILITY_USERS: Who = lambda person: person.works_with_facilities  # noqa: E731
OFFICERS: Who = lambda person: person.is_officer  # noqa: E731
SYSTEM_ADMINS: Who = lambda person: person.is_system_admin  # noqa: E731
OPERATORS: Who = lambda person: person.role == OrganisationKind.OPERATOR  # noqa: E731
# Register uploads are the agency's own certification work (certifications.views.IMPORT_ROLES).
IMPORTERS: Who = lambda person: person.role in {OrganisationKind.AGENCY, OrganisationKind.BUREAU}  # noqa: E731

# The main menu, in order. A URL name that does not exist (yet) is left out rather than breaking every page.
MENU: list[tuple[str, Any, Who]] = [
    ("accounts:home", _("ホーム"), EVERYONE),
    ("certifications:list", _("認定設備の検索"), FACILITY_USERS),
    ("certifications:import_upload", _("台帳の取込"), IMPORTERS),
    ("audit:disclosures", _("自社設備の閲覧記録"), OPERATORS),
    ("accounts:officer_console", _("組織の利用者"), OFFICERS),
    ("accounts:officer_request", _("アカウントの申請"), OFFICERS),
    ("accounts:officer_access_review", _("アカウント棚卸し"), OFFICERS),
    ("audit:organisation_log", _("組織の利用記録"), OFFICERS),
    ("audit:organisation_findings", _("組織の点検結果"), OFFICERS),
    ("accounts:admin_requests", _("申請の審査"), SYSTEM_ADMINS),
    ("accounts:admin_accounts", _("アカウント管理"), SYSTEM_ADMINS),
    ("accounts:admin_organisations", _("組織管理"), SYSTEM_ADMINS),
    ("accounts:admin_access_reviews", _("棚卸しの状況"), SYSTEM_ADMINS),
    ("accounts:admin_outbox", _("送信メール"), SYSTEM_ADMINS),
    ("audit:log", _("アクセス記録"), SYSTEM_ADMINS),
    ("audit:inspections", _("自己点検"), SYSTEM_ADMINS),
    ("audit:reports", _("年度報告"), SYSTEM_ADMINS),
    ("accounts:account", _("アカウント情報"), EVERYONE),
]


def _menu(person: LayoutPerson, path: str) -> list[MenuLink]:
    links: list[tuple[str | Promise, str]] = []
    for name, label, who in MENU:
        if not who(person):
            continue
        try:
            links.append((label, reverse(name)))
        except NoReverseMatch:
            continue
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
    organisation = user.organisation
    person = LayoutPerson(
        signed_in=True,
        onboarding=False,
        name=user.name,
        organisation_name=organisation.name,
        role=organisation.kind,
        role_label=str(OrganisationKind(organisation.kind).label),
        is_officer=user.is_officer,
        is_system_admin=organisation.kind == OrganisationKind.CONTRACTOR,
        works_with_facilities=organisation.kind in FACILITY_ROLES,
    )
    return LayoutPerson(**{**person.__dict__, "menu": _menu(person, request.path)})


def layout(request: HttpRequest) -> dict[str, Any]:
    # Lazy: pages that never show the menu pay nothing.
    return {"ui": SimpleLazyObject(lambda: _person(request))}

"""Who may use a view: every view declares it, and AccessGateMiddleware refuses any view that does not.

One rule object serves function views (decorator) and class-based views (class decorator); the
middleware reads it from the resolved view, so a view that forgets to declare is denied by default.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal, TypeVar

from accounts.models import OrganisationKind

Level = Literal["public", "onboarding", "signed_in"]
V = TypeVar("V", bound=Callable[..., Any])

RULE_ATTR = "access_rule"


@dataclass(frozen=True)
class AccessRule:
    """`public`: anyone (login, health). `onboarding`: password-authenticated but not yet through MFA/consent.
    `signed_in`: an ACTIVE account with a verified TOTP device and the current terms accepted, and when
    `roles` is set, one of those organisation kinds; `officer` additionally requires the officer right.
    `key_enrolment`: still usable by someone whose organisation requires a security key they have not
    enrolled yet (everything else leads them to enrol one first). `before_use_approval`: usable by a person
    whose organisation requires per-use approval and who has no approved window open (asking for one, and an
    officer deciding other people's requests); every other view refuses them. `password_change`: the one page
    still usable by someone whose password has expired or must be changed (accounts.passwords.password_change_due)."""

    level: Level
    roles: frozenset[str] | None = None
    officer: bool = False
    staff: bool = False  # the Django admin site: is_staff on top of a full sign-in
    key_enrolment: bool = False
    before_use_approval: bool = False
    password_change: bool = False  # usable by someone who must change their password first (that page only)

    def allows_role(self, user: Any) -> bool:
        if self.roles is not None and user.organisation.kind not in self.roles:
            return False
        if self.staff and not user.is_staff:
            return False
        return not (self.officer and not user.is_officer)


def _declare(rule: AccessRule) -> Callable[[V], V]:
    def decorate(view: V) -> V:
        setattr(view, RULE_ATTR, rule)
        return view

    return decorate


def public(view: V) -> V:
    return _declare(AccessRule("public"))(view)


def onboarding(view: V) -> V:
    return _declare(AccessRule("onboarding"))(view)


def signed_in(*roles: str, officer: bool = False) -> Callable[[V], V]:
    """Any fully signed-in person; with roles, only those organisation kinds."""
    return _declare(AccessRule("signed_in", frozenset(roles) if roles else None, officer))


def before_use_approval(*, officer: bool = False) -> Callable[[V], V]:
    """Any fully signed-in person (with `officer`, officers only), even without an approved use window."""
    return _declare(AccessRule("signed_in", officer=officer, before_use_approval=True))


def key_enrolment(view: V) -> V:
    """Any fully signed-in person, including one who must enrol a security key before anything else."""
    return _declare(AccessRule("signed_in", key_enrolment=True))(view)


def password_change_page(view: V) -> V:
    """Any fully signed-in person, including one who must change their password before anything else."""
    return _declare(AccessRule("signed_in", password_change=True))(view)


officer_only = signed_in(officer=True)
system_admin_only = signed_in(OrganisationKind.CONTRACTOR)

# Roles that work with facility data (DESIGN: the contractor sees none of it by default).
FACILITY_ROLES = (
    OrganisationKind.AGENCY,
    OrganisationKind.BUREAU,
    OrganisationKind.DESIGNATED,
    OrganisationKind.GRID,
    OrganisationKind.LOCAL_GOV,
    OrganisationKind.OPERATOR,
)


# The whole Django admin site (every view under the "admin" URL namespace, its login page included).
ADMIN_SITE_RULE = AccessRule("signed_in", staff=True)

# Views we do not write ourselves, declared here by dotted path so the gate still denies everything else.
EXTERNAL_RULES: dict[str, AccessRule] = {
    "django.views.i18n.set_language": AccessRule("public"),
}


def rule_for(view_func: Callable[..., Any]) -> AccessRule | None:
    """The rule a resolved view declared (class-based views declare it on the class)."""
    rule = getattr(view_func, RULE_ATTR, None)
    if rule is None:
        view_class = getattr(view_func, "view_class", None)
        rule = getattr(view_class, RULE_ATTR, None)
    if rule is None:
        rule = EXTERNAL_RULES.get(f"{getattr(view_func, '__module__', '')}.{getattr(view_func, '__qualname__', '')}")
    return rule


def use_exempt_routes() -> list[str]:
    """The route names (URL names, as access records store them) whose use needs no per-use approval: the public
    and onboarding pages and those declared `before_use_approval` or `key_enrolment`; "" for unresolved paths."""
    from django.urls import URLPattern, URLResolver, get_resolver

    routes = [""]

    def walk(patterns: list[Any], namespace: str) -> None:
        for pattern in patterns:
            if isinstance(pattern, URLResolver):
                walk(pattern.url_patterns, f"{namespace}{pattern.namespace}:" if pattern.namespace else namespace)
            elif isinstance(pattern, URLPattern) and pattern.name:
                rule = rule_for(pattern.callback)
                if rule is not None and (rule.level != "signed_in" or rule.before_use_approval or rule.key_enrolment):
                    routes.append(f"{namespace}{pattern.name}")

    walk(get_resolver().url_patterns, "")
    return sorted(set(routes))

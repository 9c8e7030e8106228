from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.contrib.admin.filters import SimpleListFilter
from django.db.models.constants import LOOKUP_SEP
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import reverse
from django.utils.translation import gettext_lazy as _
from django_otp.admin import OTPAdminSite

from accounts.models import AccountStatus

# Fields that hold secrets or their hashes, in any model: never a filter, a search or a lookup in a URL, where
# `?password__startswith=pbkdf2_sha256%241` would answer "1 利用者" or "0 利用者" one character at a time.
SECRET_FIELDS = frozenset(
    {
        "password",
        "security_stamp",
        "key",  # TOTP secrets
        "bin_key",
        "token",  # static (recovery) tokens
        "token_set",
        "token_hash",  # activation links
        "session_key",
        "session_key_hash",
        "session_hash",
        "session_data",
        "record_hash",
        "signature",
        "get_data",
        "post_data",
    }
)
# What the admin's own list filters and date hierarchy put in the query string after the field name.
FILTER_SUFFIXES = frozenset({"exact", "isnull", "gte", "lt", "year", "month", "day", "id__exact", "pk__exact", "in"})


def _mentions_secret(path: str) -> bool:
    return not SECRET_FIELDS.isdisjoint(path.split(LOOKUP_SEP))


class SecretSafeAdmin(admin.ModelAdmin):
    """Every ModelAdmin of the site, ours and third-party (mixed in by RenergyAdminSite.register): a URL lookup
    is allowed only as the declared list filters and date hierarchy produce it, never on a secret field; list
    filters and search fields that name a secret are dropped."""

    def _declared_filters(self, request: HttpRequest | None) -> set[str]:
        names = {self.date_hierarchy} if self.date_hierarchy else set()
        for item in self.get_list_filter(request) if request is not None else self.list_filter:
            if isinstance(item, type) and issubclass(item, SimpleListFilter):
                names.add(str(item.parameter_name))
            elif isinstance(item, list | tuple):
                names.add(str(item[0]))
            else:
                names.add(str(item))
        return names

    def lookup_allowed(self, lookup: str, value: Any, request: HttpRequest | None = None) -> bool:
        if _mentions_secret(lookup):
            return False
        declared = any(
            lookup == name or (lookup.startswith(name + LOOKUP_SEP) and lookup[len(name) + 2 :] in FILTER_SUFFIXES)
            for name in self._declared_filters(request)
        )
        return declared and super().lookup_allowed(lookup, value, request)

    def get_list_filter(self, request: HttpRequest) -> list[Any]:
        return [
            item
            for item in super().get_list_filter(request)
            if not (isinstance(item, str) and _mentions_secret(item))
            and not (isinstance(item, list | tuple) and _mentions_secret(str(item[0])))
        ]

    def get_search_fields(self, request: HttpRequest) -> list[str]:
        return [field for field in super().get_search_fields(request) if not _mentions_secret(field.lstrip("^=@"))]


class ReadOnlyAdmin(SecretSafeAdmin):
    """Rows that change only through their services, or never (consent, sessions, the audit trail): the admin
    shows them and cannot add, change or delete one."""

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class RenergyAdminSite(OTPAdminSite):
    """Defence in depth behind AccessGateMiddleware (which gives the whole admin namespace one rule):
    OTPAdminSite alone checks a verified device but not enrolment, status or consent, so we check them too."""

    site_header = _("再エネ業務管理システム 管理サイト")
    site_title = _("管理サイト")

    def register(
        self, model_or_iterable: Any, admin_class: type[admin.ModelAdmin] | None = None, **options: Any
    ) -> None:
        # Every ModelAdmin, third-party ones included, gets the secret-safe lookups.
        admin_class = admin_class or admin.ModelAdmin
        if not issubclass(admin_class, SecretSafeAdmin):
            admin_class = type(
                admin_class.__name__, (SecretSafeAdmin, admin_class), {"__module__": admin_class.__module__}
            )
        super().register(model_or_iterable, admin_class, **options)

    def has_permission(self, request: HttpRequest) -> bool:
        user = request.user
        return bool(
            user.is_authenticated and user.is_staff and user.status == AccountStatus.ACTIVE and user.is_verified()
        )

    def login(self, request: HttpRequest, extra_context: dict | None = None) -> HttpResponse:
        # One sign-in for everyone: the admin has no password-only login form of its own.
        return HttpResponseRedirect(reverse("accounts:login"))

    def password_change(self, request: HttpRequest, extra_context: dict | None = None) -> HttpResponse:
        # Django's own form checks the current password without counting failures, refusing while locked out or
        # recording anything: the one password change (accounts.authentication.reauthenticate) serves the admin too.
        return HttpResponseRedirect(reverse("accounts:password_change"))

    def password_change_done(self, request: HttpRequest, extra_context: dict | None = None) -> HttpResponse:
        return HttpResponseRedirect(reverse("accounts:account"))

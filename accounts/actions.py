"""The lifecycle actions the two consoles offer on a person: which action in which status, whether it asks for a
reason, and which service it calls. The officer's and the administrator's views dispatch through these tables and
their templates render from them (templates/accounts/includes/person_actions.html), so an action offered in the
wrong status, or a console that forgets one, is a change in one place. The services still check every rule.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from django.utils.translation import gettext_lazy as _

from accounts.http import AuthenticatedHttpRequest
from accounts.lifecycle import (
    SuspensionCause,
    account_activation_resend,
    account_password_change_require,
    account_reactivation_request,
    account_retire,
    account_suspend,
    account_unlock,
)
from accounts.models import AccountStatus, User

if TYPE_CHECKING:
    from django_stubs_ext import StrOrPromise

Perform = Callable[[AuthenticatedHttpRequest, User, str], object]

NOT_RETIRED = frozenset({AccountStatus.INVITED, AccountStatus.ACTIVE, AccountStatus.SUSPENDED})
IN_USE = frozenset({AccountStatus.INVITED, AccountStatus.ACTIVE})


@dataclass(frozen=True)
class PersonAction:
    key: str  # the URL segment
    label: StrOrPromise  # the button
    statuses: frozenset[str]  # the person's statuses in which the console offers it
    perform: Perform
    done: StrOrPromise  # the message after it succeeded
    reason_label: StrOrPromise | None = None  # None: no reason is asked (nor accepted)
    anomaly_option: bool = False  # the administrator's suspension can be marked as for suspicious use
    not_on_oneself: bool = False  # never offered on the person's own account (the service refuses it too)
    offered_when: Callable[[User], bool] | None = None  # a further condition on the person, beside the status

    @property
    def needs_reason(self) -> bool:
        return self.reason_label is not None


def offered(actions: dict[str, PersonAction], person: User, actor: User) -> list[PersonAction]:
    """The actions a console shows `actor` on this person, in the table's order."""
    return [
        action
        for action in actions.values()
        if person.status in action.statuses
        and not (action.not_on_oneself and person.pk == actor.pk)
        and (action.offered_when is None or action.offered_when(person))
    ]


def _table(*actions: PersonAction) -> dict[str, PersonAction]:
    return {action.key: action for action in actions}


def _suspend_on_transfer(request: AuthenticatedHttpRequest, person: User, reason: str) -> object:
    return account_suspend(
        user=person, reason=reason, actor=request.user, cause=SuspensionCause.TRANSFER, request=request
    )


def _suspend_by_administrator(request: AuthenticatedHttpRequest, person: User, reason: str) -> object:
    cause = SuspensionCause.ANOMALY if request.POST.get("anomaly") else SuspensionCause.ADMINISTRATOR
    return account_suspend(user=person, reason=reason, actor=request.user, cause=cause, request=request)


def _reactivate(request: AuthenticatedHttpRequest, person: User, reason: str) -> object:
    return account_reactivation_request(user=person, officer=request.user, reason=reason, request=request)


def _retire(request: AuthenticatedHttpRequest, person: User, reason: str) -> object:
    return account_retire(user=person, reason=reason, actor=request.user, request=request)


def _resend(request: AuthenticatedHttpRequest, person: User, reason: str) -> object:
    return account_activation_resend(user=person, actor=request.user, request=request)


def _require_password_change(request: AuthenticatedHttpRequest, person: User, reason: str) -> object:
    return account_password_change_require(user=person, actor=request.user, reason=reason, request=request)


def _unlock(request: AuthenticatedHttpRequest, person: User, reason: str) -> object:
    return account_unlock(user=person, actor=request.user, request=request)


_REQUIRE_PASSWORD_CHANGE = PersonAction(
    "require-password-change",
    _("次回サインイン時にパスワード変更を求める（異動など）"),
    frozenset({AccountStatus.ACTIVE}),
    _require_password_change,
    _("次回のサインイン（または次の操作）でパスワードの変更を求めます。"),
    reason_label=_("パスワード変更を求める理由"),
    not_on_oneself=True,
    offered_when=lambda person: not person.password_change_required,
)

_RESEND = PersonAction(
    "resend", _("有効化リンクを再送"), frozenset({AccountStatus.INVITED}), _resend, _("有効化リンクを再送しました。")
)

OFFICER_ACTIONS = _table(
    PersonAction(
        "suspend",
        _("停止（異動など）"),
        IN_USE,
        _suspend_on_transfer,
        _("アカウントを停止しました。"),
        reason_label=_("停止理由"),
    ),
    _REQUIRE_PASSWORD_CHANGE,
    _RESEND,
    PersonAction(
        "reactivate",
        _("利用再開を申請"),
        frozenset({AccountStatus.SUSPENDED}),
        _reactivate,
        _("利用再開を申請しました。"),
        reason_label=_("再開理由"),
    ),
    PersonAction(
        "retire",
        _("廃止（退職など）"),
        NOT_RETIRED,
        _retire,
        _("アカウントを廃止しました。"),
        reason_label=_("廃止理由"),
    ),
)

ADMINISTRATOR_ACTIONS = _table(
    PersonAction(
        "unlock",
        _("サインインのロックを解除"),
        frozenset(AccountStatus.values),
        _unlock,
        _("サインインのロックを解除しました。"),
    ),
    _REQUIRE_PASSWORD_CHANGE,
    _RESEND,
    PersonAction(
        "suspend",
        _("停止"),
        IN_USE,
        _suspend_by_administrator,
        _("アカウントを停止しました。"),
        reason_label=_("停止理由"),
        anomaly_option=True,
    ),
    PersonAction(
        "retire", _("廃止"), NOT_RETIRED, _retire, _("アカウントを廃止しました。"), reason_label=_("廃止理由")
    ),
)

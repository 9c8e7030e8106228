"""Every lifecycle transition, and every refusal of one."""

from __future__ import annotations

import pytest
from django.core import mail
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models.deletion import ProtectedError
from django_otp.plugins.otp_static.models import StaticDevice
from django_otp.plugins.otp_totp.models import TOTPDevice

from accounts.lifecycle import (
    SuspensionCause,
    account_activate,
    account_reactivation_request,
    account_request_approve,
    account_request_create,
    account_request_reject,
    account_retire,
    account_suspend,
)
from accounts.models import AccountRequestStatus, AccountStatus, TermsAcceptance, User
from audit.models import SecurityEvent
from tests.accounts.conftest import enrol

pytestmark = pytest.mark.django_db


def _request(officer: User, email: str = "someone@example.jp", **extra):
    return account_request_create(officer=officer, email=email, name="申請 次郎", **extra)


def test_an_officer_requests_and_the_administrator_approves(
    officer_a, administrator, django_capture_on_commit_callbacks
):
    account_request = _request(officer_a)
    assert account_request.organisation == officer_a.organisation
    with django_capture_on_commit_callbacks(execute=True):
        user, token = account_request_approve(account_request=account_request, actor=administrator)
    assert user.status == AccountStatus.INVITED and user.organisation == officer_a.organisation
    # The link goes to the person alone; the officer who asked hears of the decision, without the link.
    [invitation] = [m for m in mail.outbox if m.to == [user.email]]
    assert token in invitation.body
    [notice] = [m for m in mail.outbox if m.to == [officer_a.email]]
    assert token not in notice.body and user.email in notice.body
    account_request.refresh_from_db()
    assert account_request.status == AccountRequestStatus.APPROVED and account_request.decided_by == administrator
    assert SecurityEvent.objects.filter(action="account.requested", actor=officer_a).exists()
    assert SecurityEvent.objects.filter(action="account.approved", actor=administrator, target_user=user).exists()


def test_the_administrator_rejects_with_a_reason_only(officer_a, administrator):
    account_request = _request(officer_a)
    with pytest.raises(ValidationError):
        account_request_reject(account_request=account_request, actor=administrator, reason="  ")
    account_request_reject(account_request=account_request, actor=administrator, reason="本人確認ができない")
    account_request.refresh_from_db()
    assert account_request.status == AccountRequestStatus.REJECTED
    assert not User.objects.filter(email="someone@example.jp").exists()
    with pytest.raises(ValidationError):
        account_request_approve(account_request=account_request, actor=administrator)


def test_a_person_who_is_not_an_officer_cannot_request(orgs, make_user):
    with pytest.raises(PermissionDenied):
        _request(make_user(orgs.operator_a))


def test_only_the_administrator_approves(officer_a, officer_b, orgs, make_user):
    account_request = _request(officer_a)
    agency_officer = make_user(orgs.agency, officer=True)
    for actor in (officer_a, officer_b, agency_officer):
        with pytest.raises(PermissionDenied):
            account_request_approve(account_request=account_request, actor=actor)


def test_an_email_is_never_reissued_even_after_retirement(officer_a, administrator, person):
    account_retire(user=person, reason="退職", actor=officer_a)
    with pytest.raises(ValidationError):
        _request(officer_a, email=person.email.upper())


def test_two_pending_requests_for_one_address_are_refused(officer_a):
    _request(officer_a, email="dup@example.jp")
    with pytest.raises(ValidationError):
        _request(officer_a, email="DUP@example.jp")


def test_an_officer_request_needs_an_emergency_phone(officer_a):
    with pytest.raises(ValidationError):
        _request(officer_a, is_officer=True)


def test_activation_needs_device_and_terms(officer_a, administrator):
    user, _token = account_request_approve(account_request=_request(officer_a), actor=administrator)
    with pytest.raises(ValidationError):
        account_activate(user=user)
    user.set_password("a fine long passphrase")
    user.save()
    enrol(user)
    with pytest.raises(ValidationError):
        account_activate(user=user)


@pytest.mark.parametrize("cause", [SuspensionCause.TRANSFER, SuspensionCause.ADMINISTRATOR, SuspensionCause.ANOMALY])
def test_suspension_by_officer_or_administrator_with_a_reason(person, officer_a, administrator, cause):
    actor = officer_a if cause == SuspensionCause.TRANSFER else administrator
    with pytest.raises(ValidationError):
        account_suspend(user=person, reason="", actor=actor, cause=cause)
    old_stamp = person.security_stamp
    account_suspend(user=person, reason="人事異動", actor=actor, cause=cause)
    person.refresh_from_db()
    assert person.status == AccountStatus.SUSPENDED and person.status_reason == "人事異動"
    assert person.security_stamp != old_stamp
    event = SecurityEvent.objects.get(action="account.suspended", target_user=person)
    assert event.actor == actor and event.data["cause"] == cause


def test_an_officer_cannot_act_on_another_organisation(person, officer_b):
    with pytest.raises(PermissionDenied):
        account_suspend(user=person, reason="x", actor=officer_b)
    with pytest.raises(PermissionDenied):
        account_retire(user=person, reason="x", actor=officer_b)
    person.refresh_from_db()
    assert person.status == AccountStatus.ACTIVE


def test_an_officer_cannot_request_reactivation_in_another_organisation(person, officer_a, officer_b):
    account_suspend(user=person, reason="異動", actor=officer_a)
    with pytest.raises(PermissionDenied):
        account_reactivation_request(user=person, officer=officer_b, reason="戻った")


def test_a_suspended_officer_cannot_act(person, officer_a, administrator):
    account_suspend(user=officer_a, reason="異動", actor=administrator)
    officer_a.refresh_from_db()
    with pytest.raises(PermissionDenied):
        account_suspend(user=person, reason="x", actor=officer_a)


def test_reactivation_forces_a_new_link_and_a_new_device(person, officer_a, administrator):
    StaticDevice.objects.create(user=person, name="recovery", confirmed=True)
    account_suspend(user=person, reason="異動", actor=officer_a)
    with pytest.raises(ValidationError):
        account_reactivation_request(user=person, officer=officer_a, reason="")
    account_request = account_reactivation_request(user=person, officer=officer_a, reason="復帰")
    with pytest.raises(ValidationError):
        account_reactivation_request(user=person, officer=officer_a, reason="復帰")
    with pytest.raises(PermissionDenied):
        account_request_approve(account_request=account_request, actor=officer_a)
    user, token = account_request_approve(account_request=account_request, actor=administrator)
    assert user.status == AccountStatus.INVITED
    assert not user.has_usable_password()
    assert not TOTPDevice.objects.filter(user=user).exists()
    assert not StaticDevice.objects.filter(user=user).exists()
    assert token
    assert SecurityEvent.objects.filter(action="account.reactivation_approved", target_user=user).exists()


def test_reactivation_of_an_active_account_is_refused(person, officer_a):
    with pytest.raises(ValidationError):
        account_reactivation_request(user=person, officer=officer_a, reason="x")


def test_a_retired_account_can_never_be_suspended_reactivated_or_used_again(person, officer_a, administrator):
    account_retire(user=person, reason="退職", actor=officer_a)
    person.refresh_from_db()
    assert person.status == AccountStatus.RETIRED
    assert not person.has_usable_password()
    assert not TOTPDevice.objects.filter(user=person).exists()
    with pytest.raises(ValidationError):
        account_suspend(user=person, reason="x", actor=administrator)
    with pytest.raises(ValidationError):
        account_reactivation_request(user=person, officer=officer_a, reason="x")
    with pytest.raises(ValidationError):
        account_retire(user=person, reason="x", actor=administrator)


def test_people_and_their_consent_records_cannot_be_deleted(person):
    assert TermsAcceptance.objects.filter(user=person).exists()
    with pytest.raises(ProtectedError):
        person.delete()

"""Allowed hours per organisation (JST, Japanese holidays): outside them sign-in and every page are refused."""

from __future__ import annotations

from datetime import datetime, time
from zoneinfo import ZoneInfo

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from django_otp.plugins.otp_totp.models import TOTPDevice

from accounts.models import Organisation
from accounts.use_policy import organisation_use_policy_set
from audit.models import SecurityEvent
from tests.accounts.conftest import login_steps, totp_code

pytestmark = pytest.mark.django_db

JST = ZoneInfo("Asia/Tokyo")
HOME = reverse("accounts:home")


def _hours(organisation, administrator, *, weekdays, start=time(0, 0), end=time(23, 59), holidays=False):
    return organisation_use_policy_set(
        organisation=organisation,
        actor=administrator,
        reason="暫定措置: 利用時間の制限",
        use_approval_required=False,
        use_approval_max_minutes=480,
        allowed_hours_enabled=True,
        allowed_weekdays=weekdays,
        allowed_from=start,
        allowed_until=end,
        allowed_exclude_holidays=holidays,
    )


def _not_today() -> list[int]:
    today = timezone.now().astimezone(JST).isoweekday()
    return [day for day in range(1, 8) if day != today]


def test_no_organisation_restricts_hours_by_default(orgs) -> None:
    organisation = Organisation.objects.get(pk=orgs.grid_tokyo.pk)
    assert not organisation.allowed_hours_enabled
    assert organisation.allows_time(datetime(2026, 1, 1, 3, 0, tzinfo=JST))  # a holiday, at night


def test_the_allowed_days_hours_and_holidays_are_read_in_jst(orgs, administrator) -> None:
    organisation = _hours(
        orgs.grid_tokyo, administrator, weekdays=[1, 2, 3, 4, 5], start=time(9), end=time(18), holidays=True
    )
    assert organisation.allows_time(datetime(2026, 1, 5, 9, 0, tzinfo=JST))  # Monday 09:00
    assert not organisation.allows_time(datetime(2026, 1, 5, 8, 59, tzinfo=JST))
    assert not organisation.allows_time(datetime(2026, 1, 5, 18, 0, tzinfo=JST))  # the end is exclusive
    assert not organisation.allows_time(datetime(2026, 1, 10, 10, 0, tzinfo=JST))  # Saturday
    # Monday 10:00 JST is Monday 01:00 UTC: the day and hour are JST's.
    assert organisation.allows_time(datetime(2026, 1, 5, 1, 0, tzinfo=ZoneInfo("UTC")))
    assert not organisation.allows_time(datetime(2026, 1, 12, 10, 0, tzinfo=JST))  # 成人の日, a Monday
    organisation.allowed_exclude_holidays = False
    assert organisation.allows_time(datetime(2026, 1, 12, 10, 0, tzinfo=JST))


def test_sign_in_outside_allowed_hours_is_refused_with_a_clear_page(orgs, administrator, person) -> None:
    _hours(person.organisation, administrator, weekdays=_not_today())
    client = Client()
    response = login_steps(client, person, code=totp_code(TOTPDevice.objects.get(user=person)))
    assert response.status_code == 403
    assert "利用可能時間外です" in response.content.decode()
    assert client.get(HOME).status_code == 302  # no session was made
    event = SecurityEvent.objects.get(action="access.outside_allowed_hours", target_user=person)
    assert event.data["step"] == "signin"


def test_a_page_outside_allowed_hours_is_refused_and_the_session_ends(
    orgs, administrator, person, signed_in_client
) -> None:
    client = signed_in_client(person)
    assert client.get(HOME).status_code == 200
    _hours(person.organisation, administrator, weekdays=_not_today())
    refused = client.get(reverse("certifications:list"))
    assert refused.status_code == 403
    assert "利用可能時間外です" in refused.content.decode()
    assert "Content-Security-Policy" in refused.headers and refused.headers["X-Frame-Options"] == "DENY"
    assert client.get(HOME).status_code == 302  # signed out: the session does not outlive the hours
    assert SecurityEvent.objects.filter(action="access.outside_allowed_hours", target_user=person).exists()
    assert SecurityEvent.objects.filter(action="session.outside_hours", target_user=person).exists()


def test_inside_allowed_hours_everything_works(orgs, administrator, person, signed_in_client) -> None:
    _hours(person.organisation, administrator, weekdays=list(range(1, 8)), start=time(0), end=time(23, 59, 59))
    assert signed_in_client(person).get(HOME).status_code == 200


def test_another_organisations_hours_do_not_apply(orgs, administrator, person, signed_in_client) -> None:
    _hours(orgs.operator_b, administrator, weekdays=_not_today())
    assert signed_in_client(person).get(HOME).status_code == 200


def test_the_administrator_sets_the_hours_in_the_console_with_a_recorded_reason(
    orgs, administrator, signed_in_client
) -> None:
    client = signed_in_client(administrator)
    url = reverse("accounts:admin_organisation_use_policy", args=[orgs.grid_tokyo.pk])
    assert client.get(url).status_code == 200
    form = {
        "use_approval_max_minutes": "240",
        "allowed_hours_enabled": "on",
        "allowed_weekdays": ["1", "2", "3", "4", "5"],
        "allowed_from": "08:30",
        "allowed_until": "19:00",
        "allowed_exclude_holidays": "on",
        "use_approval_required": "on",
    }
    assert client.post(url, form).status_code == 400  # a reason is required
    assert client.post(url, {**form, "reason": "暫定措置"}).status_code == 302
    organisation = Organisation.objects.get(pk=orgs.grid_tokyo.pk)
    assert organisation.allowed_weekdays == [1, 2, 3, 4, 5]
    assert (organisation.allowed_from, organisation.allowed_until) == (time(8, 30), time(19))
    assert organisation.use_approval_required and organisation.use_approval_since is not None
    event = SecurityEvent.objects.get(action="organisation.use_policy_changed", organisation=organisation)
    assert event.actor_id == administrator.pk
    assert event.data["reason"] == "暫定措置"
    assert event.data["before"]["allowed_hours_enabled"] is False
    assert event.data["after"]["allowed_from"] == "08:30"


def test_the_hours_need_a_day_and_a_start_before_the_end(orgs, administrator) -> None:
    with pytest.raises(ValidationError):
        _hours(orgs.grid_tokyo, administrator, weekdays=[])
    with pytest.raises(ValidationError):
        _hours(orgs.grid_tokyo, administrator, weekdays=[1], start=time(18), end=time(9))


def test_the_administrator_cannot_restrict_or_free_their_own_organisation(
    orgs, administrator, signed_in_client
) -> None:
    with pytest.raises(PermissionDenied):
        _hours(orgs.contractor, administrator, weekdays=[1])
    url = reverse("accounts:admin_organisation_use_policy", args=[orgs.contractor.pk])
    response = signed_in_client(administrator).post(url, {"use_approval_max_minutes": "60", "reason": "x"})
    assert response.status_code == 403


def test_an_officer_cannot_change_their_organisations_hours(orgs, make_user, signed_in_client) -> None:
    from tests.accounts.conftest import ready

    officer = ready(make_user(orgs.grid_tokyo, officer=True))
    url = reverse("accounts:admin_organisation_use_policy", args=[orgs.grid_tokyo.pk])
    assert signed_in_client(officer).post(url, {"reason": "x", "use_approval_max_minutes": "60"}).status_code == 403
    with pytest.raises(PermissionDenied):
        _hours(orgs.grid_tokyo, officer, weekdays=[1, 2, 3, 4, 5, 6, 7])
    assert not Organisation.objects.get(pk=orgs.grid_tokyo.pk).allowed_hours_enabled


def test_the_django_admin_form_cannot_lift_or_set_the_limits(orgs, administrator, signed_in_client) -> None:
    grid = _hours(orgs.grid_tokyo, administrator, weekdays=[1, 2, 3, 4, 5], start=time(9), end=time(18))
    form = signed_in_client(administrator).get(reverse("admin:accounts_organisation_change", args=[grid.pk]))
    assert 'name="allowed_hours_enabled"' not in form.content.decode()
    signed_in_client(administrator).post(
        reverse("admin:accounts_organisation_change", args=[grid.pk]),
        {
            "name": grid.name,
            "allowed_hours_enabled": "",
            "use_approval_required": "on",
            "allowed_weekdays": "1,2,3,4,5,6,7",
        },
    )
    grid.refresh_from_db()
    assert grid.allowed_hours_enabled and grid.allowed_weekdays == [1, 2, 3, 4, 5]
    assert not grid.use_approval_required
    assert (
        not SecurityEvent.objects.filter(
            action="organisation.use_policy_changed", organisation=grid, actor=administrator
        )
        .exclude(data__reason="暫定措置: 利用時間の制限")
        .exists()
    )


def test_sign_in_with_a_security_key_outside_allowed_hours_is_refused(
    orgs, administrator, person, signed_in_client
) -> None:
    from tests.accounts.test_webauthn import key_signin, with_key

    key = with_key(person, signed_in_client)
    _hours(person.organisation, administrator, weekdays=_not_today())
    client = Client()
    response = key_signin(client, person, key)
    assert response.status_code == 403
    assert response.json()["code"] == "outside_hours"
    assert client.get(HOME).status_code == 302
    assert SecurityEvent.objects.filter(
        action="access.outside_allowed_hours", target_user=person, data__step="signin"
    ).exists()

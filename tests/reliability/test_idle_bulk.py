"""The bulk idle suspension goes through the lifecycle's rules: the same effects as a manual suspension."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.conf import settings
from django.core import mail
from django.db import connection
from django.urls import reverse
from django.utils import timezone

from accounts.idle import idle_accounts_suspend, idle_accounts_warn
from accounts.lifecycle import SuspensionCause, activation_link_issue
from accounts.models import AccountStatus, ActivationLink, OutboundEmail, User, UserSession
from audit.events import BULK_EVENT_ACCOUNTS
from audit.hashing import EVENT_FIELDS, hash_sql
from audit.inspection import fiscal_year_of
from audit.models import SecurityEvent
from audit.report import fiscal_year_report

pytestmark = [pytest.mark.django_db]


def _hashes_verify(ids: list[int]) -> bool:
    """Each event's stored hash is the one verification recomputes from the stored row."""
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT count(*) FROM audit_securityevent WHERE id = ANY(%s) AND record_hash = {hash_sql(EVENT_FIELDS)}",  # noqa: S608
            [ids],
        )
        return cursor.fetchone()[0] == len(ids)


DAYS = settings.ACCOUNT_IDLE_SUSPENSION_DAYS


def _ago(days: float):
    return timezone.now() - timedelta(days=days)


def test_an_idle_run_revokes_links_ends_sessions_queues_mail_and_records_verifiable_events(
    orgs, make_user, django_capture_on_commit_callbacks
):
    idle = [make_user(orgs.grid_tokyo, last_activity_at=_ago(DAYS + 3)) for _ in range(3)]
    invited = make_user(orgs.operator_a, status=AccountStatus.INVITED, date_joined=_ago(DAYS + 1))
    recent = make_user(orgs.grid_tokyo, last_activity_at=_ago(3))
    activation_link_issue(user=invited)
    UserSession.objects.create(user=idle[0], session_key_hash="x" * 64, ip_address="192.0.2.1")
    stamps = {u.pk: u.security_stamp for u in [*idle, invited, recent]}

    with django_capture_on_commit_callbacks(execute=True):
        suspended = idle_accounts_suspend()

    assert sorted(suspended) == sorted(u.pk for u in [*idle, invited])
    after = {u.pk: u for u in User.objects.all()}
    assert all(
        after[pk].status == AccountStatus.SUSPENDED and after[pk].security_stamp != stamps[pk] for pk in suspended
    )
    assert after[recent.pk].status == AccountStatus.ACTIVE and after[recent.pk].security_stamp == stamps[recent.pk]
    assert not ActivationLink.objects.filter(user=invited, revoked_at__isnull=True).exists()
    assert UserSession.objects.get(user=idle[0]).end_reason == "suspended"

    events = list(SecurityEvent.objects.filter(action="account.suspended"))
    assert sorted((e.organisation_id, e.user_ids) for e in events) == sorted(
        [(orgs.grid_tokyo.pk, sorted(u.pk for u in idle)), (orgs.operator_a.pk, [invited.pk])]
    )
    assert all(e.data["cause"] == SuspensionCause.IDLE and e.target_user_id is None for e in events)
    assert _hashes_verify([e.pk for e in events])

    assert OutboundEmail.objects.filter(kind="suspended").count() == 4
    assert sorted(m.to[0] for m in mail.outbox) == sorted(u.email for u in [*idle, invited])
    body = next(m.body for m in mail.outbox if m.to == [idle[0].email])
    assert idle[0].name in body and "長期間未利用" in body
    assert idle_accounts_suspend() == []


def test_the_warning_run_queues_one_mail_and_one_event_each(orgs, make_user, django_capture_on_commit_callbacks):
    soon = make_user(orgs.agency, last_activity_at=_ago(DAYS - settings.ACCOUNT_SUSPENSION_WARNING_DAYS + 1))
    with django_capture_on_commit_callbacks(execute=True):
        assert idle_accounts_warn() == [soon.pk]
    event = SecurityEvent.objects.get(action="account.idle_warning_sent")
    assert event.user_ids == [soon.pk] and event.organisation_id == orgs.agency.pk
    assert _hashes_verify([event.pk])
    [message] = mail.outbox
    assert message.to == [soon.email] and soon.name in message.body and "/login/" in message.body


def _idle_people(organisation, count: int) -> list[User]:
    return User.objects.bulk_create(
        User(
            email=f"idle{n}@{organisation.pk}.bulk.example.jp",
            name=f"休眠 {n}",
            organisation=organisation,
            password="!",
            last_activity_at=_ago(DAYS + 1),
        )
        for n in range(count)
    )


def test_a_large_run_names_each_account_once_per_organisation_in_bounded_events(
    orgs, make_user, signed_in_client
) -> None:
    tokyo = _idle_people(orgs.grid_tokyo, BULK_EVENT_ACCOUNTS + 1)
    kansai = _idle_people(orgs.grid_kansai, 2)
    officer = make_user(orgs.grid_kansai, officer=True)

    suspended = idle_accounts_suspend()

    assert sorted(suspended) == sorted(u.pk for u in [*tokyo, *kansai])
    events = SecurityEvent.objects.filter(action="account.suspended").order_by("id")
    sizes = sorted((e.organisation_id, len(e.user_ids)) for e in events)
    assert sizes == sorted(
        [(orgs.grid_tokyo.pk, BULK_EVENT_ACCOUNTS), (orgs.grid_tokyo.pk, 1), (orgs.grid_kansai.pk, 2)]
    )
    named = [pk for e in events for pk in e.user_ids]
    assert sorted(named) == sorted(suspended)  # each account once
    assert _hashes_verify([e.pk for e in events])

    # The officer's log shows their organisation's event, naming only their own people.
    page = signed_in_client(officer).get(reverse("audit:organisation_log")).content.decode()
    assert "2アカウント" in page and ", ".join(str(u.pk) for u in kansai) in page
    assert ", ".join(str(u.pk) for u in tokyo[:3]) not in page

    # The fiscal-year report counts accounts, not events.
    report = fiscal_year_report(fiscal_year_of(timezone.now()))
    [row] = [row for row in report.account_management if row["label"] == "停止"]
    assert row["total"] == len(suspended)

"""Automatic suspension after 180 days without use, the warning before it, and the daily Celery task."""

from __future__ import annotations

import threading
import time
from datetime import timedelta

import pytest
from django.conf import settings
from django.core import mail
from django.db import connections
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from accounts.idle import idle_accounts_suspend, idle_accounts_warn
from accounts.models import AccountStatus, User
from audit.models import SecurityEvent
from tests.accounts.conftest import signed_in_via_views

DAYS = settings.ACCOUNT_IDLE_SUSPENSION_DAYS


def _ago(days: float):
    return timezone.now() - timedelta(days=days)


@pytest.fixture
def idle_cast(orgs, make_user) -> dict[str, User]:
    return {
        "idle": make_user(orgs.grid_tokyo, last_activity_at=_ago(DAYS + 1)),
        "recent": make_user(orgs.grid_tokyo, last_activity_at=_ago(DAYS - 1)),
        "never_used_old": make_user(orgs.grid_kansai, status=AccountStatus.INVITED, date_joined=_ago(DAYS + 3)),
        "never_used_new": make_user(orgs.grid_kansai, status=AccountStatus.INVITED, date_joined=_ago(10)),
        "activated_never_used": make_user(orgs.operator_a, activated_at=_ago(DAYS + 2), date_joined=_ago(DAYS + 30)),
        "retired": make_user(orgs.operator_a, status=AccountStatus.RETIRED, last_activity_at=_ago(DAYS * 2)),
    }


def _statuses(cast: dict[str, User]) -> dict[str, str]:
    return {name: User.objects.get(pk=user.pk).status for name, user in cast.items()}


@pytest.mark.django_db
def test_it_suspends_accounts_idle_for_180_days_including_never_used_ones(
    idle_cast, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        suspended = idle_accounts_suspend()
    assert set(suspended) == {idle_cast[n].pk for n in ("idle", "never_used_old", "activated_never_used")}
    assert _statuses(idle_cast) == {
        "idle": "suspended",
        "recent": "active",
        "never_used_old": "suspended",
        "never_used_new": "invited",
        "activated_never_used": "suspended",
        "retired": "retired",
    }
    events = SecurityEvent.objects.filter(action="account.suspended", data__cause="idle")
    # One event per organisation, naming its suspended accounts.
    assert sorted((e.organisation_id, e.user_ids) for e in events) == sorted(
        (idle_cast[n].organisation_id, [idle_cast[n].pk]) for n in ("idle", "never_used_old", "activated_never_used")
    )
    assert len(mail.outbox) == 3
    assert idle_accounts_suspend() == []  # a second run has nothing left to do


@pytest.mark.django_db
def test_a_suspended_idle_account_can_no_longer_use_its_session(person):
    client = signed_in_via_views(Client(), person)
    User.objects.filter(pk=person.pk).update(last_activity_at=_ago(DAYS + 1))
    idle_accounts_suspend()
    assert client.get(reverse("accounts:home")).status_code == 302


@pytest.mark.django_db
def test_it_warns_once_14_days_before(orgs, make_user, django_capture_on_commit_callbacks):
    soon = make_user(orgs.agency, last_activity_at=_ago(DAYS - settings.ACCOUNT_SUSPENSION_WARNING_DAYS + 1))
    make_user(orgs.agency, last_activity_at=_ago(30))
    with django_capture_on_commit_callbacks(execute=True):
        assert idle_accounts_warn() == [soon.pk]
    assert mail.outbox[0].to == [soon.email]
    assert "日" in mail.outbox[0].body and "Dear" in mail.outbox[0].body
    assert idle_accounts_warn() == []
    # Using the account starts a new idle period, which earns a new warning later.
    # (Warned half a year ago, used once after that, idle again since.)
    User.objects.filter(pk=soon.pk).update(idle_warning_sent_at=_ago(DAYS + 20), last_activity_at=_ago(DAYS - 10))
    assert idle_accounts_warn() == [soon.pk]


@pytest.mark.django_db(transaction=True)
def test_two_overlapping_runs_suspend_and_record_each_account_once(orgs, make_user):
    people = [make_user(orgs.grid_tokyo, last_activity_at=_ago(DAYS + 5)) for _ in range(30)]
    results: list[list[int]] = []
    barrier = threading.Barrier(2)

    def run() -> None:
        try:
            barrier.wait()
            results.append(idle_accounts_suspend())
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(results[0] + results[1]) == sorted(p.pk for p in people)
    named = [pk for e in SecurityEvent.objects.filter(action="account.suspended") for pk in e.user_ids]
    assert sorted(named) == sorted(p.pk for p in people)


@pytest.mark.celery
@pytest.mark.django_db(transaction=True)
def test_the_daily_task_runs_in_a_real_celery_worker(orgs, make_user):
    from celery.contrib.testing.worker import start_worker

    from accounts.tasks import idle_accounts_sweep
    from renergy.celery import app

    idle = make_user(orgs.grid_tokyo, last_activity_at=_ago(DAYS + 1))
    recent = make_user(orgs.grid_tokyo, last_activity_at=_ago(1))
    assert app.conf.broker_url.startswith("redis://")
    assert settings.CELERY_BEAT_SCHEDULE["accounts-idle-suspension"]["task"] == idle_accounts_sweep.name
    with start_worker(app, pool="solo", perform_ping_check=False, loglevel="WARNING", shutdown_timeout=30):
        idle_accounts_sweep.delay()
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if User.objects.get(pk=idle.pk).status == AccountStatus.SUSPENDED:
                break
            time.sleep(0.2)
    assert User.objects.get(pk=idle.pk).status == AccountStatus.SUSPENDED
    assert User.objects.get(pk=recent.pk).status == AccountStatus.ACTIVE
    assert SecurityEvent.objects.filter(action="account.suspended", data__user_ids__contains=[idle.pk]).count() == 1

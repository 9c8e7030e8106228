"""The daily idle suspension at real size: N accounts (default 200,000) in M organisations (default 2,000),
about 5.7 % of them past the idle limit, timed beside one raw `UPDATE` of the same rows, both in the same run
(each rolled back and repeated).

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/renergy_bench_idle .venv/bin/python bench/idle.py \
        [--accounts N] [--organisations M]

The run is the real service (accounts.idle.idle_accounts_suspend): it suspends, rotates security stamps,
revokes activation links, closes session rows, puts one e-mail per account in the outbox and writes the hashed
account.suspended events (one per organisation and 1,000 accounts), so its cost grows with the organisations
that have someone due. The raw UPDATE only flips the status. Ratio = run / raw (the bar is ≤ 1.5).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "renergy.settings.dev")

import django

django.setup()

from django.conf import settings  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.db import connection, connections, transaction  # noqa: E402
from django.utils import timezone  # noqa: E402

from accounts.idle import idle_accounts_suspend  # noqa: E402
from accounts.models import AccountStatus, Organisation, OrganisationKind, User  # noqa: E402
from audit.models import SecurityEvent  # noqa: E402

DUE_SHARE = 11_435 / 200_000  # the share measured on the copy


def seed(accounts: int, organisations: int) -> None:
    bench_users = User.objects.filter(email__endswith="@idle.bench")
    bench_orgs = Organisation.objects.filter(name__startswith="bench idle ")
    if bench_users.count() == accounts and bench_orgs.count() == organisations:
        return
    # As the tables' owner: the runtime role may not delete people (their history would lose its actor).
    with connections["owner"].cursor() as cursor:
        cursor.execute("DELETE FROM accounts_user WHERE email LIKE %s", ["%@idle.bench"])
        cursor.execute("DELETE FROM accounts_organisation WHERE name LIKE %s", ["bench idle%"])
    orgs = Organisation.objects.bulk_create(
        Organisation(name=f"bench idle {n}", kind=OrganisationKind.AGENCY) for n in range(organisations)
    )
    now = timezone.now()
    days = settings.ACCOUNT_IDLE_SUSPENSION_DAYS
    due_every = round(1 / DUE_SHARE)
    batch: list[User] = []
    for n in range(accounts):
        idle = n % due_every == 0
        batch.append(
            User(
                email=f"u{n}@idle.bench",
                name=f"利用者{n}",
                organisation=orgs[n % organisations],
                status=AccountStatus.ACTIVE,
                password="!",  # noqa: S106 - an unusable password (Django's marker)
                last_activity_at=now - timedelta(days=days + 1 if idle else n % (days - 20)),
            )
        )
        if len(batch) == 10_000:
            User.objects.bulk_create(batch)
            batch.clear()
    User.objects.bulk_create(batch)
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE accounts_user, accounts_organisation")


def timed_rolled_back(work: Callable[[], int]) -> tuple[float, int, int]:
    """Seconds, rows changed and events written (counted after the clock stops, before the rollback)."""
    with connection.cursor() as cursor:
        # Each rolled-back run leaves dead rows and index entries; vacuum so every measurement starts alike.
        cursor.execute("VACUUM ANALYZE accounts_user, accounts_outboundemail, audit_securityevent")
    with transaction.atomic():
        before = SecurityEvent.objects.count()
        started = time.perf_counter()
        count = work()
        elapsed = time.perf_counter() - started
        events = SecurityEvent.objects.count() - before
        transaction.set_rollback(True)
    return elapsed, count, events


def raw_update() -> int:
    cutoff = timezone.now() - timedelta(days=settings.ACCOUNT_IDLE_SUSPENSION_DAYS)
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE accounts_user SET status = 'suspended' WHERE status IN ('active', 'invited') "
            "AND COALESCE(last_activity_at, activated_at, date_joined) < %s",
            [cutoff],
        )
        return cursor.rowcount


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--accounts", type=int, default=200_000)
    parser.add_argument("--organisations", type=int, default=2_000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    assert connection.vendor == "postgresql", "the bench needs PostgreSQL (DATABASE_URL)"
    call_command("migrate", verbosity=0)
    seed(args.accounts, args.organisations)
    raw_times, run_times = [], []
    for _ in range(args.repeat):  # alternate, so cache warmth favours neither
        elapsed, raw_count, _none = timed_rolled_back(raw_update)
        raw_times.append(elapsed)
        elapsed, run_count, events = timed_rolled_back(lambda: len(idle_accounts_suspend()))
        run_times.append(elapsed)
    raw, run = statistics.median(raw_times), statistics.median(run_times)
    print(
        f"accounts: {args.accounts:,} in {args.organisations:,} organisations  due: {run_count:,} "
        f"(raw UPDATE touched {raw_count:,})  events written: {events:,}"
    )
    print(f"raw UPDATE      median {raw * 1000:8.1f} ms  {[round(t * 1000) for t in raw_times]}")
    print(f"idle suspension median {run * 1000:8.1f} ms  {[round(t * 1000) for t in run_times]}")
    print(f"ratio run / raw: {run / raw:.2f}x (bar: <= 1.5x)")


if __name__ == "__main__":
    main()

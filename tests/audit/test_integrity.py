"""Tamper evidence against a database superuser and the system's operator.

Every attack here runs as the PostgreSQL superuser (tests/database.py `as_superuser`; the application itself
runs as the runtime role, which may not even try these statements). What the database can refuse
it refuses; what a superuser can force through (triggers off with session_replication_role = replica) is
named by verification through the seals, their signatures and the anchors outside the database.
"""

from __future__ import annotations

import contextlib
from datetime import timedelta
from pathlib import Path

import pytest
import time_machine
from django.core.management import CommandError, call_command
from django.db import connection, transaction
from django.db.utils import DatabaseError
from django.test import Client
from django.utils import timezone

from audit.events import record_event
from audit.hashing import ACCESS_FIELDS, hash_sql
from audit.models import AccessRecord, AuditSeal, SecurityEvent
from audit.partitions import partition_name
from audit.sealing import seal_pending, verify
from audit.signing import write_key_pair
from tests.database import as_superuser

pytestmark = [pytest.mark.django_db]

AUDIT_TABLES = (
    "audit_accessrecord", "audit_securityevent", "audit_auditseal", "audit_verificationrun", "audit_findingreview",
    "accounts_termsacceptance", "auditlog_logentry",
)  # fmt: skip
GRACE_PASSED = timedelta(minutes=3)
# The attacker recomputes a record's hash with the system's own hashing.
REHASH = hash_sql(ACCESS_FIELDS)


def _sql(statement: str, params: list | None = None) -> None:
    with connection.cursor() as cursor:
        cursor.execute(statement, params)


def _refused(statement: str, params: list | None = None) -> None:
    with pytest.raises(DatabaseError, match=r"append-only|cannot be"), as_superuser(), transaction.atomic():
        _sql(statement, params)


def _tamper(statement: str, params: list | None = None) -> None:
    # What an attacker with superuser rights does: switch the triggers off for their session.
    with as_superuser():
        _sql("SET session_replication_role = replica")
        try:
            _sql(statement, params)
        finally:
            _sql("SET session_replication_role = origin")


@pytest.fixture
def sealed_trail(client: Client):
    """Fifty requests and three events, all sealed by a run three minutes later (past the grace)."""
    for n in range(50):
        client.get(f"/healthz?page={n}")
    for n in range(3):
        record_event(action="test.event", data={"n": n})
    later = timezone.now() + GRACE_PASSED
    assert seal_pending(now=later) >= 2
    return later


def _verify(now):
    return verify(now - timedelta(days=1), now, now=now, save=False)


def _kinds(result) -> set[str]:
    return {p.kind for p in result.problems}


def verify_audit_output(now, capsys) -> str:
    """What `manage.py verify_audit` prints at that moment (shown with pytest -s)."""
    with time_machine.travel(now, tick=False), contextlib.suppress(CommandError):
        call_command("verify_audit")
    out = capsys.readouterr().out
    print(out)  # the evidence of each attack, visible with -s
    return out


def _partition_of_now() -> str:
    return partition_name(timezone.now().date())


# --- what the database refuses, even to a superuser ------------------------------------------------


def test_the_database_refuses_update_delete_and_truncate_of_every_audit_table(sealed_trail) -> None:
    for table in ("audit_accessrecord", "audit_securityevent", "audit_auditseal", _partition_of_now()):
        _refused(f"UPDATE {table} SET id = id")  # noqa: S608 - table names of this test
        _refused(f"DELETE FROM {table}")  # noqa: S608
    for table in (*AUDIT_TABLES, _partition_of_now()):
        _refused(f"TRUNCATE {table} CASCADE")
    _refused("TRUNCATE audit_accessrecord, audit_securityevent, audit_auditseal, audit_verificationrun")
    assert AccessRecord.objects.count() >= 50


def test_model_history_and_consent_are_append_only(orgs, make_user) -> None:
    from auditlog.models import LogEntry

    from accounts.models import TermsAcceptance, TermsVersion

    user = make_user(orgs.agency)
    user.name = "変更後"
    user.save()
    assert LogEntry.objects.filter(object_pk=str(user.pk)).exists()
    _refused("UPDATE auditlog_logentry SET changes = '{}'")
    _refused("DELETE FROM auditlog_logentry")
    terms = TermsVersion.objects.create(version=99, title="t", body_ja="b")
    TermsAcceptance.objects.create(user=user, terms=terms, ip_address="192.0.2.1")
    _refused("UPDATE accounts_termsacceptance SET ip_address = '192.0.2.99'")
    _refused("DELETE FROM accounts_termsacceptance")


def test_drop_or_detach_of_a_live_partition_is_refused() -> None:
    Client().get("/healthz")
    name = _partition_of_now()
    _refused(f"ALTER TABLE audit_accessrecord DETACH PARTITION {name}")
    _refused(f"DROP TABLE {name}")
    _refused("DROP TABLE audit_auditseal")
    assert AccessRecord.objects.exists()


# --- what verification names ------------------------------------------------------------------------


def test_an_untouched_trail_verifies(sealed_trail, capsys) -> None:
    result = _verify(sealed_trail)
    assert result.ok, [str(p) for p in result.problems]
    assert result.records_checked == 53
    assert (result.signatures, result.anchors) == ("ok", "ok")
    assert verify_audit_output(sealed_trail, capsys).startswith("OK: 53 records")


def test_records_of_the_open_minute_are_counted_as_not_yet_sealed(client) -> None:
    client.get("/healthz")
    now = timezone.now()
    seal_pending(now=now)
    result = verify(now - timedelta(hours=1), now + timedelta(minutes=1), now=now, save=False)
    assert result.ok, [str(p) for p in result.problems]
    assert result.records_unsealed == 1


def test_an_updated_sealed_record_is_named(sealed_trail, capsys) -> None:
    victim = AccessRecord.objects.order_by("id")[10]
    _tamper("UPDATE audit_accessrecord SET ip = '10.9.9.9' WHERE id = %s", [victim.pk])
    result = _verify(sealed_trail)
    assert (result.first_problem.kind, result.first_problem.record_id) == ("altered", victim.pk)
    assert f"id={victim.pk}: altered" in verify_audit_output(sealed_trail, capsys)


def test_an_updated_record_with_its_hash_recomputed_is_named(sealed_trail, capsys) -> None:
    victim = AccessRecord.objects.order_by("id")[20]
    _tamper("UPDATE audit_accessrecord SET path = '/somewhere-else' WHERE id = %s", [victim.pk])
    _tamper(f"UPDATE audit_accessrecord SET record_hash = {REHASH} WHERE id = %s", [victim.pk])  # noqa: S608
    result = _verify(sealed_trail)
    assert (result.first_problem.kind, result.first_problem.record_id) == ("altered", victim.pk)
    assert "hash differs from the sealed one" in verify_audit_output(sealed_trail, capsys)


def test_a_deleted_sealed_record_is_named(sealed_trail, capsys) -> None:
    victim = AccessRecord.objects.order_by("id")[5]
    _tamper("DELETE FROM audit_accessrecord WHERE id = %s", [victim.pk])
    result = _verify(sealed_trail)
    assert (result.first_problem.kind, result.first_problem.record_id) == ("removed", victim.pk)
    assert f"id={victim.pk}: removed" in verify_audit_output(sealed_trail, capsys)


def test_a_record_deleted_once_its_minute_is_sealed_is_named(client, capsys) -> None:
    client.get("/healthz?page=late")
    victim = AccessRecord.objects.get()
    # The beat seals every minute; the next run after the grace covers the victim's minute.
    run_at = victim.at + timedelta(seconds=60 + 90 + 1)
    seal_pending(now=run_at)
    _tamper("DELETE FROM audit_accessrecord WHERE id = %s", [victim.pk])
    result = _verify(run_at)
    assert (result.first_problem.kind, result.first_problem.record_id) == ("removed", victim.pk)
    assert f"id={victim.pk}: removed" in verify_audit_output(run_at, capsys)


def test_a_record_inserted_into_a_sealed_minute_is_named(sealed_trail, capsys) -> None:
    model = AccessRecord.objects.order_by("id")[3]
    with connection.cursor() as cursor:
        # An ordinary INSERT (allowed to the application): the database hashes it like any other record.
        cursor.execute(
            "INSERT INTO audit_accessrecord (at, request_id, role, session_hash, user_agent, method, path, query, "
            "route, status, duration_ms, disclosure_kind, row_count, part, ip) "
            "SELECT at, request_id, role, session_hash, user_agent, method, '/forged', query, route, status, "
            "duration_ms, disclosure_kind, row_count, part, ip FROM audit_accessrecord WHERE id = %s RETURNING id",
            [model.pk],
        )
        forged_id = cursor.fetchone()[0]
    result = _verify(sealed_trail)
    assert (result.first_problem.kind, result.first_problem.record_id) == ("inserted", forged_id)
    assert f"id={forged_id}: inserted" in verify_audit_output(sealed_trail, capsys)


def test_truncating_a_partition_is_named(sealed_trail, capsys) -> None:
    first = AccessRecord.objects.order_by("id").first()
    _tamper(f"TRUNCATE {_partition_of_now()}")
    result = _verify(sealed_trail)
    assert "removed" in _kinds(result)
    assert first is not None
    assert any(p.record_id == first.pk for p in result.problems)
    assert "removed" in verify_audit_output(sealed_trail, capsys)


def test_detaching_and_dropping_a_partition_is_named(sealed_trail, capsys) -> None:
    name = _partition_of_now()
    _tamper(f"ALTER TABLE audit_accessrecord DETACH PARTITION {name}")
    _tamper(f"DROP TABLE {name}")
    result = _verify(sealed_trail)
    assert "removed" in _kinds(result)
    assert "removed" in verify_audit_output(sealed_trail, capsys)


def test_truncating_the_seals_is_named_by_the_anchors(sealed_trail, capsys) -> None:
    _tamper("TRUNCATE audit_auditseal")
    result = _verify(sealed_trail)
    assert {"anchor_missing_seal", "unsealed"} <= _kinds(result)
    assert "anchor_missing_seal" in verify_audit_output(sealed_trail, capsys)


def test_truncating_everything_is_named_by_the_anchors(sealed_trail, capsys) -> None:
    _tamper(
        "TRUNCATE audit_accessrecord, audit_securityevent, audit_auditseal, audit_verificationrun, auditlog_logentry"
    )
    result = _verify(sealed_trail)
    assert result.records_checked == 0
    assert not result.ok
    assert "anchor_missing_seal" in _kinds(result)
    assert "anchor_missing_seal" in verify_audit_output(sealed_trail, capsys)


def test_an_unsigned_seal_names_its_period(sealed_trail, capsys) -> None:
    seal = AuditSeal.objects.filter(stream="access").order_by("period_start").first()
    assert seal is not None
    _tamper("UPDATE audit_auditseal SET signature = '' WHERE id = %s", [seal.pk])
    result = _verify(sealed_trail)
    assert "unsigned" in _kinds(result)
    assert seal.period_start.isoformat() in str(next(p for p in result.problems if p.kind == "unsigned"))
    assert "unsigned" in verify_audit_output(sealed_trail, capsys)


def _wipe_alter_rehash(victim: AccessRecord) -> None:
    _tamper("DELETE FROM audit_auditseal")
    _tamper("UPDATE audit_accessrecord SET path = '/rewritten' WHERE id = %s", [victim.pk])
    _tamper(f"UPDATE audit_accessrecord SET record_hash = {REHASH} WHERE id = %s", [victim.pk])  # noqa: S608


def test_wipe_alter_rehash_and_reseal_with_another_key_is_named(sealed_trail, settings, tmp_path, capsys) -> None:
    from audit.signing import _signing_path

    # The verifier holds the genuine public key; the attacker signs with a key of their own.
    settings.AUDIT_PUBLIC_KEY_FILE = str(Path(str(_signing_path()).removesuffix(".key") + ".pub.pem"))
    attacker_key, _public, attacker_id = write_key_pair(tmp_path / "attacker")
    _wipe_alter_rehash(AccessRecord.objects.order_by("id")[7])
    settings.AUDIT_SIGNING_KEY_FILE = str(attacker_key)
    assert seal_pending(now=sealed_trail) >= 2
    result = _verify(sealed_trail)
    assert {"unknown_key", "anchor_conflict", "anchor_mismatch"} <= _kinds(result)
    assert attacker_id in str(next(p for p in result.problems if p.kind == "unknown_key"))
    assert result.signatures == "failed"
    out = verify_audit_output(sealed_trail, capsys)
    assert "unknown_key" in out and "anchor_" in out


def test_wipe_alter_rehash_and_reseal_with_the_stolen_key_is_named_by_the_anchors(sealed_trail, capsys) -> None:
    _wipe_alter_rehash(AccessRecord.objects.order_by("id")[7])
    assert seal_pending(now=sealed_trail) >= 2
    result = _verify(sealed_trail)
    assert result.signatures == "ok"  # the key is genuine: only the anchors can tell
    assert {"anchor_conflict", "anchor_mismatch"} <= _kinds(result)
    assert "anchor_mismatch" in verify_audit_output(sealed_trail, capsys)


def test_sealing_twice_seals_nothing_new(sealed_trail) -> None:
    assert seal_pending(now=sealed_trail) == 0


def test_every_seal_is_anchored_once(sealed_trail, settings) -> None:
    lines = [
        line for path in Path(settings.AUDIT_ANCHOR_DIR).glob("seals-*.jsonl") for line in path.read_text().splitlines()
    ]
    assert len(lines) == AuditSeal.objects.count()
    assert SecurityEvent.objects.count() == 3

"""Append-only in the database; altered, inserted and removed records are named by verification."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.management import CommandError, call_command
from django.db import connection, transaction
from django.db.utils import DatabaseError
from django.test import Client
from django.utils import timezone

from audit.models import AccessRecord, AuditSeal, SecurityEvent
from audit.sealing import seal_pending, verify
from tests.database import as_superuser

pytestmark = [pytest.mark.django_db]


def _sql(statement: str, params: list | None = None) -> None:
    with connection.cursor() as cursor:
        cursor.execute(statement, params)


@pytest.fixture
def sealed_trail(client: Client, orgs, make_user):
    """Fifty requests and a few events, all sealed (sealing runs 'two hours later')."""
    for n in range(50):
        client.get(f"/healthz?page={n}")
    from audit.events import record_event

    for n in range(3):
        record_event(action="test.event", data={"n": n})
    later = timezone.now() + timedelta(hours=2)
    assert seal_pending(now=later) >= 2
    return later


def _window(now):
    return now - timedelta(days=1), now


def test_the_database_refuses_update_and_delete() -> None:
    Client().get("/healthz")
    # The runtime role has no UPDATE or DELETE at all (test_runtime_role); the triggers hold against a superuser.
    for statement in ("UPDATE audit_accessrecord SET status = 500", "DELETE FROM audit_accessrecord"):
        with pytest.raises(DatabaseError, match="append-only"), as_superuser(), transaction.atomic():
            _sql(statement)
    SecurityEvent.objects.create(at=timezone.now(), action="x", record_hash="0" * 64)
    with pytest.raises(DatabaseError, match="append-only"), as_superuser(), transaction.atomic():
        _sql("DELETE FROM audit_securityevent")


def test_an_untouched_trail_verifies(sealed_trail) -> None:
    result = verify(*_window(sealed_trail), now=sealed_trail)
    assert result.ok, [str(p) for p in result.problems]
    assert result.records_checked == 53


def _tamper(statement: str, params: list | None = None) -> None:
    # What an attacker with superuser rights does: switch the triggers off for their session.
    with as_superuser():
        _sql("SET session_replication_role = replica")
        _sql(statement, params)
        _sql("SET session_replication_role = origin")


def test_an_altered_record_is_named(sealed_trail) -> None:
    victim = AccessRecord.objects.order_by("id")[10]
    _tamper("UPDATE audit_accessrecord SET ip = '10.9.9.9' WHERE id = %s", [victim.pk])
    result = verify(*_window(sealed_trail), now=sealed_trail)
    assert result.first_problem.kind == "altered"
    assert result.first_problem.record_id == victim.pk


def test_an_altered_record_with_a_recomputed_hash_is_named(sealed_trail) -> None:
    from audit.hashing import access_hash

    victim = AccessRecord.objects.order_by("id")[20]
    values = AccessRecord.objects.values().get(pk=victim.pk)
    values["path"] = "/somewhere-else"
    _tamper(
        "UPDATE audit_accessrecord SET path = %s, record_hash = %s WHERE id = %s",
        [values["path"], access_hash(values), victim.pk],
    )
    result = verify(*_window(sealed_trail), now=sealed_trail)
    assert (result.first_problem.kind, result.first_problem.record_id) == ("altered", victim.pk)


def test_a_removed_record_is_named(sealed_trail) -> None:
    victim = AccessRecord.objects.order_by("id")[5]
    _tamper("DELETE FROM audit_accessrecord WHERE id = %s", [victim.pk])
    result = verify(*_window(sealed_trail), now=sealed_trail)
    assert (result.first_problem.kind, result.first_problem.record_id) == ("removed", victim.pk)


def test_an_inserted_record_is_named(sealed_trail) -> None:
    model = AccessRecord.objects.order_by("id")[3]
    values = AccessRecord.objects.values().get(pk=model.pk)
    from audit.hashing import access_hash

    values["path"] = "/forged"
    forged_hash = access_hash(values)
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO audit_accessrecord (at, request_id, role, session_hash, user_agent, method, path, query, "
            "route, status, duration_ms, disclosure_kind, row_count, part, record_hash, ip) "
            "SELECT at, request_id, role, session_hash, user_agent, method, '/forged', query, route, status, "
            "duration_ms, disclosure_kind, row_count, part, %s, ip FROM audit_accessrecord WHERE id = %s RETURNING id",
            [forged_hash, model.pk],
        )
        forged_id = cursor.fetchone()[0]
    result = verify(*_window(sealed_trail), now=sealed_trail)
    assert (result.first_problem.kind, result.first_problem.record_id) == ("inserted", forged_id)


def test_a_removed_seal_shows_as_an_unsealed_gap(sealed_trail) -> None:
    seals = list(AuditSeal.objects.filter(stream="access").order_by("period_start"))
    assert seals
    _tamper("DELETE FROM audit_auditseal WHERE id = %s", [seals[0].pk])
    result = verify(*_window(sealed_trail), now=sealed_trail)
    assert any(p.kind == "unsealed" for p in result.problems)


def test_a_rewritten_seal_breaks_the_chain(sealed_trail) -> None:
    seal = AuditSeal.objects.filter(stream="event").order_by("period_start").first()
    _tamper("UPDATE audit_auditseal SET previous_digest = %s WHERE id = %s", ["f" * 64, seal.pk])
    result = verify(*_window(sealed_trail), now=sealed_trail)
    assert any(p.kind == "seal_chain" for p in result.problems)


def test_sealing_twice_seals_nothing_new(sealed_trail) -> None:
    assert seal_pending(now=sealed_trail) == 0


def test_verify_audit_command_reports_the_first_problem(sealed_trail, capsys) -> None:
    import time_machine

    victim = AccessRecord.objects.order_by("id")[0]
    _tamper("UPDATE audit_accessrecord SET status = 418 WHERE id = %s", [victim.pk])
    with time_machine.travel(sealed_trail, tick=False), pytest.raises(CommandError):
        call_command("verify_audit")
    out = capsys.readouterr().out
    assert f"id={victim.pk}: altered" in out

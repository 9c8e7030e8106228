"""Seal keys: rotation keeps old seals verifiable, the key pair command, the daily digest to the agency."""

from __future__ import annotations

import json
from datetime import UTC, timedelta
from pathlib import Path

import pytest
import time_machine
from django.core import mail
from django.core.management import call_command
from django.test import Client
from django.utils import timezone

from audit.anchors import daily_digest_send
from audit.models import AuditSeal
from audit.sealing import seal_pending, verify

pytestmark = [pytest.mark.django_db]


def _keys(directory: Path, name: str) -> tuple[Path, Path, str]:
    call_command("audit_keygen", "--out", str(directory), "--name", name)
    return directory / f"{name}.key", directory / f"{name}.pub.pem", ""


def test_keygen_writes_a_private_key_only_its_owner_reads(tmp_path: Path, capsys) -> None:
    call_command("audit_keygen", "--out", str(tmp_path))
    assert (tmp_path / "audit-signing.key").stat().st_mode & 0o077 == 0
    assert "BEGIN PUBLIC KEY" in (tmp_path / "audit-signing.pub.pem").read_text()
    assert "key id " in capsys.readouterr().out


def test_after_a_rotation_old_seals_verify_with_the_kept_public_key(settings, tmp_path: Path) -> None:
    old_key, old_public, _ = _keys(tmp_path / "2025", "old")
    new_key, new_public, _ = _keys(tmp_path / "2026", "new")
    settings.AUDIT_SIGNING_KEY_FILE = str(old_key)
    client = Client()
    client.get("/healthz")
    now = timezone.now()
    seal_pending(now=now + timedelta(minutes=3))
    settings.AUDIT_SIGNING_KEY_FILE = str(new_key)
    with time_machine.travel(now + timedelta(minutes=4), tick=False):
        client.get("/healthz")
    seal_pending(now=now + timedelta(minutes=8))
    assert AuditSeal.objects.values("key_id").distinct().count() == 2

    settings.AUDIT_PUBLIC_KEY_FILE = str(new_public)
    window = (now - timedelta(hours=1), now + timedelta(minutes=8))
    without_old = verify(*window, now=window[1], save=False)
    assert {p.kind for p in without_old.problems} == {"unknown_key"}
    keep = tmp_path / "retired-keys"
    keep.mkdir()
    (keep / "old.pem").write_bytes(old_public.read_bytes())
    settings.AUDIT_PUBLIC_KEYS_DIR = str(keep)
    result = verify(*window, now=window[1], save=False)
    assert result.ok, [str(p) for p in result.problems]


def test_the_days_last_seal_is_emailed_to_the_agency(settings) -> None:
    settings.AUDIT_ANCHOR_EMAIL = ["audit-anchor@agency.example.go.jp"]
    Client().get("/healthz")
    seal_pending(now=timezone.now() + timedelta(minutes=3))
    day = timezone.now().astimezone(UTC).date()
    assert daily_digest_send(day=day)
    [message] = mail.outbox
    assert message.to == ["audit-anchor@agency.example.go.jp"]
    last = AuditSeal.objects.filter(stream="access").order_by("-period_start").first()
    assert last is not None
    if last.period_start.astimezone(UTC).date() == day:
        assert last.digest in message.body and last.signature in message.body
    anchored = [json.loads(line) for p in Path(settings.AUDIT_ANCHOR_DIR).glob("*.jsonl") for line in p.open()]
    assert any(entry["digest"] in message.body for entry in anchored)


@pytest.mark.django_db(transaction=True)
def test_catching_up_days_outside_a_transaction_seals_and_verifies_on_two_connections() -> None:
    from tests.audit.planting import plant, plant_all

    now = timezone.now()
    start = now - timedelta(days=3, hours=1)
    plant_all([plant(None, start + timedelta(hours=6 * n, seconds=n)) for n in range(12)])
    assert seal_pending(now=now) > 12
    result = verify(start - timedelta(hours=1), now, now=now, save=False)
    assert result.ok, [str(p) for p in result.problems]
    assert result.records_checked == 12

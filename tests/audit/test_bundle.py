"""The external auditor's bundle, checked by the standalone verifier in a subprocess (no Django, no database)."""

from __future__ import annotations

import csv
import hashlib
import json
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest
from django.core.management import call_command
from django.test import Client
from django.utils import timezone

from audit.events import record_event
from audit.inspection import JST
from audit.sealing import seal_pending

pytestmark = [pytest.mark.django_db]

VERIFIER = Path(__file__).resolve().parents[2] / "tools" / "verify_audit_bundle.py"


@pytest.fixture
def bundle(tmp_path: Path) -> Path:
    client = Client()
    for n in range(30):
        client.get(f"/healthz?page={n}", HTTP_USER_AGENT=f'UA "quoted", comma {n}')
    record_event(action="test.event", data={"n": 1, "名前": "値"})
    seal_pending(now=timezone.now() + timedelta(minutes=3))
    today = timezone.now().astimezone(JST).date()
    out = tmp_path / "bundle"
    call_command("audit_export", "--from", str(today - timedelta(days=1)), "--to", str(today), "--out", str(out))
    return out


def _run(bundle: Path, *args: str) -> subprocess.CompletedProcess:
    # -I: isolated mode, so the project is not importable; only the standard library and cryptography.
    return subprocess.run(  # noqa: S603 - our own script on a bundle of this test
        [sys.executable, "-I", str(VERIFIER), str(bundle), *args], capture_output=True, text=True, timeout=60
    )


def _rewrite_manifest(bundle: Path, name: str) -> None:
    manifest = json.loads((bundle / "manifest.json").read_text())
    manifest["files"][name]["sha256"] = hashlib.sha256((bundle / name).read_bytes()).hexdigest()
    (bundle / "manifest.json").write_text(json.dumps(manifest))


def test_a_good_bundle_verifies(bundle: Path) -> None:
    result = _run(bundle)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.startswith("OK: 31 records")
    assert "0 records not yet sealed" in result.stdout


def test_an_altered_record_is_named_even_with_a_consistent_manifest(bundle: Path) -> None:
    path = bundle / "access_records.csv"
    with path.open(newline="", encoding="utf-8") as handle:
        rows = list(csv.reader(handle))
    header, victim = rows[0], rows[9]
    victim[header.index("path")] = "/forged"
    with path.open("w", newline="", encoding="utf-8") as handle:
        csv.writer(handle).writerows(rows)
    _rewrite_manifest(bundle, "access_records.csv")
    result = _run(bundle)
    assert result.returncode == 1
    assert f"First: access record id={victim[0]}: content does not match its hash" in result.stdout


def test_a_reforged_seal_is_named(bundle: Path) -> None:
    lines = (bundle / "seals.jsonl").read_text().splitlines()
    seal = json.loads(lines[0])
    seal["record_count"] += 1
    seal["digest"] = "f" * 64
    lines[0] = json.dumps(seal)
    (bundle / "seals.jsonl").write_text("\n".join(lines) + "\n")
    result = _run(bundle)
    assert result.returncode == 1
    assert "manifest: seals.jsonl does not match its sha256" in result.stdout
    assert f"seal {seal['period_start']}" in result.stdout and "invalid signature" in result.stdout


def test_a_bundle_signed_by_another_key_fails_against_the_agencys_key(bundle: Path, tmp_path: Path) -> None:
    from audit.signing import write_key_pair

    _private, other_public, _other_id = write_key_pair(tmp_path / "other")
    result = _run(bundle, "--public-key", str(other_public))
    assert result.returncode == 1
    assert "signed by an unknown key" in result.stdout


def test_python_and_postgresql_agree_on_the_hash_of_awkward_text() -> None:
    from django.db import connection

    from audit.hashing import ACCESS_FIELDS, field_text_sql, hash_sql, record_hash_of_texts

    Client().get("/healthz", HTTP_USER_AGENT='ctl\x01\x1f\x7f "q" \\ back\u2028sep 😀 日本語\ttab')
    texts = ", ".join(f"coalesce({field_text_sql(name)}, '')" for name in ACCESS_FIELDS)
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {texts}, record_hash, {hash_sql(ACCESS_FIELDS)} FROM audit_accessrecord")  # noqa: S608
        *values, stored, recomputed = cursor.fetchone()
    assert stored == recomputed == record_hash_of_texts(values)


def test_python_and_postgresql_agree_where_a_value_ends_in_a_quote_and_a_comma() -> None:
    # The database prints the record's array through jsonb: a value ending in `",` (or made of `","`) must not
    # shift the separators between the elements.
    from django.db import connection

    from audit.hashing import ACCESS_FIELDS, field_text_sql, hash_sql, record_hash_of_texts

    Client().get("/healthz", {"q": '","'}, HTTP_USER_AGENT='ends in ", and \\",')
    texts = ", ".join(f"coalesce({field_text_sql(name)}, '')" for name in ACCESS_FIELDS)
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {texts}, record_hash, {hash_sql(ACCESS_FIELDS)} FROM audit_accessrecord")  # noqa: S608
        *values, stored, recomputed = cursor.fetchone()
    assert 'ends in ", and \\",' in values
    assert stored == recomputed == record_hash_of_texts(values)

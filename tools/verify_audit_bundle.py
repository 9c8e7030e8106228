#!/usr/bin/env python3
"""Check an audit bundle written by `manage.py audit_export`, with Python and `cryptography` only.

    python3 verify_audit_bundle.py BUNDLE_DIR [--public-key KEY.pem ...]

Checks, and names the first thing that fails (exit status 1):
  1. every file against the manifest's sha256;
  2. every seal's Ed25519 signature against the public keys (the bundle's own `public_keys/`, or only the
     keys given with --public-key: an auditor should pass the key the agency holds, not trust the bundle's);
  3. the chain: each seal's previous digest is the digest of the seal before it, with no gap in time;
  4. every record: its hash recomputed from its columns, and each minute's digest recomputed from its
     records, against the seal; a mismatch names the altered, inserted or removed record.

It needs no Django and no database. The hashing rules are those of the system's audit/hashing.py,
repeated here so that this file stands alone (the suite checks that both agree on real bundles).
"""

from __future__ import annotations

import argparse
import bisect
import csv
import hashlib
import json
import sys
from datetime import datetime
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

SEAL_FORMAT = "renergy-audit-seal/v1"
FINGERPRINT = 8
STREAM_FILES = {"access": "access_records.csv", "event": "security_events.csv"}
csv.field_size_limit(1 << 30)


def record_hash(texts: list[str]) -> str:
    # The JSON array of the column texts, spaced as PostgreSQL's json_build_array(...)::text writes it.
    canonical = json.dumps(texts, ensure_ascii=False, separators=(", ", ":"))
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def content_digest(pairs: list[tuple[int, str]]) -> str:
    return hashlib.sha256("\n".join(f"{i}:{h}" for i, h in pairs).encode("ascii")).hexdigest()


def seal_digest(seal: dict, record_count: int, content: str) -> str:
    text = "\n".join(
        [seal["previous_digest"], seal["stream"], seal["period_start"], seal["period_end"], str(record_count), content]
    )
    return hashlib.sha256(text.encode("ascii")).hexdigest()


def key_id(key: Ed25519PublicKey) -> str:
    raw = key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()[:16]


def load_keys(paths: list[Path]) -> dict[str, Ed25519PublicKey]:
    keys = {}
    for path in paths:
        key = serialization.load_pem_public_key(path.read_bytes())
        if isinstance(key, Ed25519PublicKey):
            keys[key_id(key)] = key
    return keys


class Checker:
    def __init__(self) -> None:
        self.problems: list[str] = []

    def fail(self, text: str) -> None:
        self.problems.append(text)


def check_manifest(bundle: Path, checker: Checker) -> dict:
    manifest = json.loads((bundle / "manifest.json").read_text(encoding="utf-8"))
    for name, meta in manifest["files"].items():
        path = bundle / name
        if not path.is_file():
            checker.fail(f"manifest: {name} is missing")
            continue
        h = hashlib.sha256()
        with path.open("rb") as handle:
            while block := handle.read(1 << 20):
                h.update(block)
        if h.hexdigest() != meta["sha256"]:
            checker.fail(f"manifest: {name} does not match its sha256")
    return manifest


def _label(seal: dict) -> str:
    return f"{seal['stream']} seal {seal['period_start']} – {seal['period_end']}"


def check_seals(seals: list[dict], keys: dict[str, Ed25519PublicKey], checker: Checker) -> None:
    previous = None
    for seal in seals:
        if previous is not None:
            if seal["period_start"] != previous["period_end"]:
                checker.fail(f"{_label(seal)}: gap after the seal ending {previous['period_end']}")
            if seal["previous_digest"] != previous["digest"]:
                checker.fail(f"{_label(seal)}: does not chain to its predecessor")
        key = keys.get(seal["key_id"])
        if not seal["signature"]:
            checker.fail(f"{_label(seal)}: unsigned")
        elif key is None:
            checker.fail(f"{_label(seal)}: signed by an unknown key {seal['key_id']}")
        else:
            try:
                key.verify(bytes.fromhex(seal["signature"]), f"{SEAL_FORMAT}\n{seal['digest']}".encode("ascii"))
            except (InvalidSignature, ValueError):
                checker.fail(f"{_label(seal)}: invalid signature")
        previous = seal


def _name_records(seal: dict, rows: list[tuple[int, str, str]], checker: Checker) -> None:
    contents = seal.get("contents") or {}
    ids = [i for first, last in contents.get("ids", []) for i in range(first, last + 1)]
    prints = contents.get("fingerprints", "")
    expected = {rid: prints[n * FINGERPRINT : (n + 1) * FINGERPRINT] for n, rid in enumerate(ids)}
    named = False
    seen = set()
    for record_id, stored, recomputed in rows:
        seen.add(record_id)
        if recomputed != stored:
            checker.fail(f"{seal['stream']} record id={record_id}: content does not match its hash ({_label(seal)})")
        elif record_id not in expected:
            checker.fail(f"{seal['stream']} record id={record_id}: not in {_label(seal)} (inserted)")
        elif expected[record_id] != recomputed[:FINGERPRINT]:
            checker.fail(f"{seal['stream']} record id={record_id}: hash differs from the sealed one ({_label(seal)})")
        else:
            continue
        named = True
    for record_id in sorted(set(expected) - seen):
        checker.fail(f"{seal['stream']} record id={record_id}: sealed in {_label(seal)} but missing")
        named = True
    if not named:
        checker.fail(f"{_label(seal)}: digest does not match its records")


def check_records(bundle: Path, stream: str, seals: list[dict], checker: Checker) -> int:
    path = bundle / STREAM_FILES[stream]
    if not seals:
        return 0
    starts = [datetime.fromisoformat(s["period_start"]) for s in seals]
    ends = [datetime.fromisoformat(s["period_end"]) for s in seals]
    grouped: list[list[tuple[int, str, str]]] = [[] for _ in seals]
    checked = 0
    with path.open(newline="", encoding="utf-8") as handle:
        reader = csv.reader(handle)
        next(reader, None)
        for row in reader:
            record_id, texts, stored = int(row[0]), row[1:-1], row[-1]
            at = datetime.fromisoformat(texts[0].replace("Z", "+00:00"))
            n = bisect.bisect_right(starts, at) - 1
            if n < 0 or at >= ends[n]:
                checker.fail(f"{stream} record id={record_id}: at {texts[0]} lies in no seal of the bundle")
                continue
            grouped[n].append((record_id, stored, record_hash(texts)))
            checked += 1
    for seal, rows in zip(seals, grouped, strict=True):
        rows.sort()
        content = content_digest([(rid, recomputed) for rid, _stored, recomputed in rows])
        if seal_digest(seal, len(rows), content) != seal["digest"]:
            _name_records(seal, rows, checker)
    return checked


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("bundle", type=Path)
    parser.add_argument("--public-key", action="append", type=Path, default=[])
    args = parser.parse_args(argv)
    checker = Checker()
    manifest = check_manifest(args.bundle, checker)
    keys = load_keys(args.public_key or sorted((args.bundle / "public_keys").glob("*.pem")))
    seals: dict[str, list[dict]] = {stream: [] for stream in STREAM_FILES}
    with (args.bundle / "seals.jsonl").open(encoding="utf-8") as handle:
        for line in handle:
            seal = json.loads(line)
            seals[seal["stream"]].append(seal)
    records = 0
    for stream, stream_seals in seals.items():
        stream_seals.sort(key=lambda s: datetime.fromisoformat(s["period_start"]))
        check_seals(stream_seals, keys, checker)
        records += check_records(args.bundle, stream, stream_seals, checker)
    total = sum(len(s) for s in seals.values())
    if checker.problems:
        print(f"FAILED: {len(checker.problems)} problem(s) in {records} records and {total} seals")
        print(f"First: {checker.problems[0]}")
        for problem in checker.problems[1:20]:
            print(f"  {problem}")
        return 1
    unsealed = sum(s.get("records_not_yet_sealed", 0) for s in manifest["streams"].values())
    print(
        f"OK: {records} records in {total} seals verify; signatures by key(s) {', '.join(sorted(keys))}; "
        f"{unsealed} records not yet sealed were not in the bundle"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())

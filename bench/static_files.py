"""What recording static files costs: the same static file fetched through the full middleware stack with the
access record on and off (AUDIT_ENABLED), alternating batches in one run.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/renergy_bench_static .venv/bin/python bench/static_files.py
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "renergy.settings.dev")
os.environ.setdefault("ALLOWED_HOSTS", "testserver")

import django

django.setup()

from django.core.management import call_command  # noqa: E402
from django.test import Client, override_settings  # noqa: E402


def batch(client: Client, n: int) -> float:
    started = time.perf_counter()
    for _ in range(n):
        response = client.get("/static/css/app.css")
        assert response.status_code == 200
        b"".join(response.streaming_content)
    return (time.perf_counter() - started) / n


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    call_command("migrate", verbosity=0)
    call_command("collectstatic", interactive=False, verbosity=0)
    client = Client()
    recorded, unrecorded = [], []
    for _ in range(args.rounds):
        recorded.append(batch(client, args.requests))
        with override_settings(AUDIT_ENABLED=False):
            unrecorded.append(batch(client, args.requests))
    on, off = statistics.median(recorded), statistics.median(unrecorded)
    print(f"static file, recorded:   {on * 1000:.2f} ms per request (median of {args.rounds} x {args.requests})")
    print(f"static file, unrecorded: {off * 1000:.2f} ms per request")
    print(f"cost of the record: +{(on - off) * 1000:.2f} ms per request ({on / off:.2f}x)")


if __name__ == "__main__":
    main()

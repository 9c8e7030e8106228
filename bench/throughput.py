"""Audited vs unaudited throughput of the facility list page under gunicorn with several clients.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/renergy_bench_h3 REDIS_URL=redis://127.0.0.1:6379/13 \
        .venv/bin/python bench/throughput.py [--workers 4 --clients 4 --seconds 20 --rounds 2 --path /facilities/]

The database must be migrated and hold facilities (manage.py generate_facilities --count 1000000). Two gunicorn
servers run side by side, the same code and settings except AUDIT_ENABLED (False only for the baseline). Each
client is a process with a signed-in agency session (verified TOTP device, current terms) that sends its
requests alternately to the two servers, so both see the same moment-to-moment load on a shared machine
(separate runs one after the other were dominated by the other work on the box). At fixed concurrency,
throughput is inversely proportional to time per request, so the ratio printed is unaudited ms / audited ms
per request — conservative for the audit, whose commit wait adds latency without using CPU.
"""

from __future__ import annotations

import argparse
import http.client
import multiprocessing
import os
import signal
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "renergy.settings.dev")
os.environ["DEBUG"] = "0"


def signed_in_cookie() -> str:
    import django

    django.setup()

    from accounts.models import AccountStatus, Organisation, OrganisationKind, User
    from accounts.testing import signed_in_client

    org = Organisation.objects.get_or_create(name="ベンチ 資源エネルギー庁", defaults={"kind": OrganisationKind.AGENCY})
    org = org[0]
    user = User.objects.get_or_create(
        email="bench-agency@bench.example.jp",
        defaults={"name": "bench agency", "organisation": org, "status": AccountStatus.ACTIVE},
    )[0]
    session = signed_in_client(user).session
    from django.conf import settings

    return f"{settings.SESSION_COOKIE_NAME}={session.session_key}"


def start_server(port: int, workers: int, audited: bool) -> subprocess.Popen:
    env = {**os.environ, "AUDIT_ENABLED": "1" if audited else "0", "DB_CONN_MAX_AGE": "600", "LOG_LEVEL": "WARNING"}
    server = subprocess.Popen(  # noqa: S603 - our own gunicorn, fixed arguments
        [str(ROOT / ".venv/bin/gunicorn"), "renergy.wsgi", "-w", str(workers), "-b", f"127.0.0.1:{port}",
         "--log-level", "warning"],
        cwd=ROOT, env=env,
    )  # fmt: skip
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            conn.request("GET", "/healthz")
            if conn.getresponse().status == 200:
                return server
        except OSError:
            time.sleep(0.3)
    server.kill()
    raise SystemExit("gunicorn did not start")


def client_loop(path: str, cookie: str, seconds: float, out: multiprocessing.Queue) -> None:
    """Alternate between the unaudited (8700) and the audited (8701) server, timing each request."""
    spent = {8700: 0.0, 8701: 0.0}
    done = {8700: 0, 8701: 0}
    errors = 0
    stop = time.monotonic() + seconds
    while time.monotonic() < stop:
        for port in (8700, 8701):
            started = time.perf_counter()
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
            conn.request("GET", path, headers={"Cookie": cookie, "Host": "127.0.0.1"})
            response = conn.getresponse()
            response.read()
            conn.close()
            spent[port] += time.perf_counter() - started
            done[port] += 1
            errors += response.status != 200
    out.put((spent, done, errors))


def measure(path: str, cookie: str, clients: int, seconds: float) -> tuple[dict[int, float], dict[int, int], int]:
    out: multiprocessing.Queue = multiprocessing.Queue()
    procs = [multiprocessing.Process(target=client_loop, args=(path, cookie, seconds, out)) for _ in range(clients)]
    for proc in procs:
        proc.start()
    results = [out.get() for _ in procs]
    for proc in procs:
        proc.join()
    spent = {port: sum(r[0][port] for r in results) for port in (8700, 8701)}
    done = {port: sum(r[1][port] for r in results) for port in (8700, 8701)}
    return spent, done, sum(r[2] for r in results)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--path", default="/facilities/")
    args = parser.parse_args()

    cookie = signed_in_cookie()
    check = subprocess.run(  # noqa: S603 - our own interpreter, fixed arguments
        [str(ROOT / ".venv/bin/python"), "-c",
         "import django,os;django.setup();from django.db import connection as c;"
         "cur=c.cursor();cur.execute('select count(*) from certifications_facility');print(cur.fetchone()[0])"],
        cwd=ROOT, capture_output=True, text=True, check=True,
    )  # fmt: skip
    print(f"facilities in the database: {check.stdout.strip()}; page {args.path}; gunicorn sync workers "
          f"{args.workers}; clients {args.clients}; {args.seconds:.0f}s per run; {args.rounds} rounds")  # fmt: skip
    servers = [start_server(8700, args.workers, audited=False), start_server(8701, args.workers, audited=True)]
    try:
        for port in (8700, 8701):
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
            conn.request("GET", args.path, headers={"Cookie": cookie})
            response = conn.getresponse()
            body = response.read()
            assert response.status == 200, (response.status, body[:300])
        measure(args.path, cookie, args.clients, 3)  # warm-up
        ratios = []
        for round_no in range(args.rounds):
            spent, done, errors = measure(args.path, cookie, args.clients, args.seconds)
            base_ms, audited_ms = (1000 * spent[p] / done[p] for p in (8700, 8701))
            ratios.append(base_ms / audited_ms)
            print(f"round {round_no + 1}: unaudited {base_ms:6.1f} ms/request ({done[8700]}), "
                  f"audited {audited_ms:6.1f} ms/request ({done[8701]}), {errors} non-200 "
                  f"-> throughput ratio {base_ms / audited_ms:.3f}", flush=True)  # fmt: skip
    finally:
        for server in servers:
            server.send_signal(signal.SIGTERM)
            server.wait()
    print(f"audited/unaudited throughput (median of {args.rounds} rounds): {statistics.median(ratios):.3f}")


if __name__ == "__main__":
    main()

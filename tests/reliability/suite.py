"""The reliability suite: several clients for a bounded time against gunicorn on PostgreSQL, with a Redis
server of its own; in the middle, every application connection is killed (pg_terminate_backend) and then
the Redis server is stopped and started again. It reports what a service owner asks after an outage:

- requests served, and data responses (facility pages with facility data) without a committed access
  record (must be 0: no data leaves unrecorded);
- 5xx answers during and after each fault;
- recovery time: from the end of the fault to the first good data response after it.

Run at full size with `bin/reliability` (RELIABILITY_SECONDS, RELIABILITY_CLIENTS); `make test` runs it
reduced through tests/reliability/test_suite.py.
"""

from __future__ import annotations

import http.client
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from django.db import connection

from tests.database import as_superuser
from tests.reliability.servers import AppServer, RedisServer


@dataclass
class Hit:
    at: float
    path: str
    status: int  # 0: no answer (connection refused or reset)
    request_id: str
    data: bool
    took: float = 0.0


@dataclass
class Fault:
    name: str
    started: float
    ended: float = 0.0


@dataclass
class Report:
    hits: list[Hit] = field(default_factory=list)
    faults: list[Fault] = field(default_factory=list)
    unrecorded: int = 0
    after_window: float = 0.0

    def served(self) -> int:
        return sum(1 for hit in self.hits if hit.status)

    def data_served(self) -> int:
        return sum(1 for hit in self.hits if hit.data and hit.status == 200)

    def errors(self, start: float, end: float) -> int:
        return sum(1 for hit in self.hits if start <= hit.at < end and (hit.status >= 500 or hit.status == 0))

    def recovery(self, fault: Fault) -> float | None:
        """Seconds from the end of the fault to the first good data response after it."""
        for hit in sorted(self.hits, key=lambda h: h.at):
            if hit.at >= fault.ended and hit.data and hit.status == 200:
                return hit.at - fault.ended
        return None

    def lines(self) -> list[str]:
        out = [
            f"requests served: {self.served()} (of {len(self.hits)} sent), data responses: {self.data_served()}",
            f"data responses without a committed record: {self.unrecorded}",
        ]
        for fault in self.faults:
            after_end = fault.ended + self.after_window
            recovery = self.recovery(fault)
            out.append(
                f"{fault.name}: 5xx during {self.errors(fault.started, fault.ended)}, "
                f"after {self.errors(fault.ended, after_end)} (next {self.after_window:.0f} s), recovery "
                + (f"{recovery:.2f} s" if recovery is not None else "never")
            )
        return out


def _request(base_port: int, path: str, cookie: str) -> tuple[int, str]:
    client = http.client.HTTPConnection("127.0.0.1", base_port, timeout=20)
    try:
        client.request("GET", path, headers={"Cookie": cookie, "Host": "127.0.0.1"})
        response = client.getresponse()
        response.read()
        return response.status, response.getheader("X-Request-ID", "")
    except OSError:
        return 0, ""
    finally:
        client.close()


def terminate_app_connections() -> int:
    """Kill every other session on this database: the application's (the suite keeps its own). As the superuser:
    the servers' sessions log in as one before they switch to the runtime role."""
    with as_superuser(), connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
        return int(cursor.fetchone()[0])


def run_suite(
    *,
    app: AppServer,
    redis_server: RedisServer,
    cookies: list[str],
    paths: list[tuple[str, bool]],
    seconds: float,
    redis_down_seconds: float,
    record_exists: Callable[[list[str]], set[str]],
) -> Report:
    """`paths`: (path, is data). Faults at 1/3 (connection kill) and 1/2 (Redis stop for redis_down_seconds)."""
    report = Report(after_window=max(seconds / 6, 1.0))
    # Warm every worker (first request loads the templates, opens the connections) before the clock starts.
    for _ in range(4):
        for path, _data in paths:
            _request(app.port, path, cookies[0])
    lock = threading.Lock()
    stop = threading.Event()
    origin = time.monotonic()

    def client(index: int) -> None:
        n = index
        while not stop.is_set():
            path, data = paths[n % len(paths)]
            n += 1
            started = time.monotonic()
            status, request_id = _request(app.port, path, cookies[index % len(cookies)])
            ended = time.monotonic()
            with lock:
                report.hits.append(Hit(ended - origin, path, status, request_id, data, ended - started))

    threads = [threading.Thread(target=client, args=(i,), daemon=True) for i in range(len(cookies))]
    for thread in threads:
        thread.start()

    def at(fraction: float) -> None:
        time.sleep(max(origin + seconds * fraction - time.monotonic(), 0))

    at(1 / 3)
    kill = Fault("pg_terminate_backend", time.monotonic() - origin)
    terminate_app_connections()
    kill.ended = time.monotonic() - origin
    report.faults.append(kill)

    at(1 / 2)
    outage = Fault(f"Redis stopped {redis_down_seconds:.0f} s", time.monotonic() - origin)
    redis_server.kill()
    time.sleep(redis_down_seconds)
    redis_server.start()
    outage.ended = time.monotonic() - origin
    report.faults.append(outage)

    at(1.0)
    stop.set()
    for thread in threads:
        thread.join(15)
    data_ids = [hit.request_id for hit in report.hits if hit.data and hit.status == 200]
    report.unrecorded = len(set(data_ids) - record_exists(data_ids)) + sum(1 for i in data_ids if not i)
    return report

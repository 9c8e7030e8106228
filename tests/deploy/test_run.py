"""`make run` as a newcomer runs it: no DATABASE_URL, no REDIS_URL. bin/run starts the embedded PostgreSQL,
serves the sign-in page from it, and leaves no process behind whichever way it is stopped; the next run
reuses the same database.  SIGINT (Ctrl-C) and SIGHUP (a closed terminal) take the same path as SIGTERM."""

from __future__ import annotations

import os
import signal
import subprocess
import time
import urllib.request
from pathlib import Path

import psycopg
import pytest
from django.conf import settings

from renergy import embedded_db

PORT = 21042  # in this checkout's port range


def _processes_of(marker: str) -> list[str]:
    """Every process whose environment carries this run's var directory (children inherit it)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            if marker.encode() in (entry / "environ").read_bytes().split(b"\0"):
                found.append((entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace"))
        except OSError:
            continue
    return found


def _get(path: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{PORT}{path}", timeout=5) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


def _start(var_dir: Path) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "DATABASE_MIGRATE_URL", "REDIS_URL"}}
    env |= {"PORT": str(PORT), "RENERGY_VAR_DIR": str(var_dir), "DJANGO_SETTINGS_MODULE": "renergy.settings.dev"}
    log = (var_dir.parent / f"run-{time.monotonic_ns()}.log").open("wb")
    process = subprocess.Popen(["bin/run"], cwd=settings.BASE_DIR, env=env, stdout=log, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline:
        assert process.poll() is None, Path(log.name).read_text()
        try:
            if _get("/login/")[0] == 200:
                return process
        except OSError:
            pass
        time.sleep(1)
    process.kill()
    raise AssertionError(Path(log.name).read_text())


def _stop(process: subprocess.Popen[bytes], signum: int, marker: str) -> None:
    process.send_signal(signum)
    assert process.wait(timeout=60) == 0
    assert _processes_of(marker) == []


@pytest.mark.timeout(600)
def test_make_run_serves_from_embedded_postgres_and_stops_cleanly(tmp_path: Path) -> None:
    var_dir = tmp_path / "var"
    var_dir.mkdir()
    marker = f"RENERGY_VAR_DIR={var_dir}"
    process = _start(var_dir)
    try:
        status, body = _get("/login/")
        assert "サインイン" in body
        status, body = _get("/no-such-page/")
        assert status == 404 and "ページが見つかりません" in body and "Traceback" not in body  # branded, no debug page
        commands = " ".join(_processes_of(marker))
        assert "celery -A renergy worker" in commands and "celery -A renergy beat" in commands
        assert f"-k {var_dir / 'postgres'}" in commands  # the embedded server, on its own socket
        second = subprocess.run(["bin/run"], cwd=settings.BASE_DIR, env={**os.environ, "RENERGY_VAR_DIR": str(var_dir),
                                "PORT": str(PORT + 1)}, capture_output=True, text=True, timeout=60)  # fmt: skip
        assert second.returncode != 0 and "Another `make run`" in second.stderr  # never a second beat
        assert commands.count("celery -A renergy beat") == 1
    except BaseException:
        process.kill()
        raise
    _stop(process, signal.SIGTERM, marker)

    # The next `make run` reuses the cluster and its data: start it the way bin/run does, and find the demo.
    created = (var_dir / "postgres" / "PG_VERSION").stat().st_mtime
    embedded_db.start(var_dir)
    try:
        assert (var_dir / "postgres" / "PG_VERSION").stat().st_mtime == created
        with psycopg.connect(embedded_db.url(var_dir, role=embedded_db.RUNTIME_ROLE)) as conn:
            row = conn.execute("SELECT count(*) FROM accounts_user").fetchone()
            assert row is not None and row[0] > 10
    finally:
        embedded_db.stop(var_dir)
    assert _processes_of(marker) == []

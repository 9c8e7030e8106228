"""`make run`: the embedded PostgreSQL (unless DATABASE_URL is set), migrations as the owner, the runtime
role's grants, demo data, then runserver with one Celery worker and exactly one beat.

A supervisor rather than a shell script with `&`: every long-lived child runs in one process group that
is signalled as a whole, so the worker, the beat and runserver's reloader child end with the server
whichever way it stops (Ctrl-C, a closed terminal, SIGTERM, or one of them dying); each child also gets
SIGTERM from the kernel if the supervisor itself is killed (PR_SET_PDEATHSIG). A lock on var/run.lock
keeps a second `make run` on the same var/ from starting a second beat.
"""

from __future__ import annotations

import contextlib
import ctypes
import fcntl
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import IO, Any, cast

from renergy import embedded_db

BASE_DIR = Path(__file__).resolve().parent.parent
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
GRACE_SECONDS = 15


class Stop(Exception):
    pass


def _stop(signum: int, frame: Any) -> None:
    raise Stop(signal.Signals(signum).name)


def _die_with_parent() -> None:
    # Runs in the child between fork and exec: PR_SET_PDEATHSIG (1) = SIGTERM when the supervisor dies.
    ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)


class Children:
    """Long-lived children in one process group (the first child's pid), stopped together."""

    def __init__(self) -> None:
        self.processes: list[subprocess.Popen[bytes]] = []
        self.group: int | None = None

    def start(self, command: list[str], *, env: dict[str, str], log: IO[bytes] | None = None) -> None:
        process = subprocess.Popen(  # noqa: S603 - our own interpreter and arguments
            command,
            cwd=BASE_DIR,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT if log else None,
            stdin=subprocess.DEVNULL,
            process_group=self.group or 0,
            preexec_fn=_die_with_parent,  # the supervisor is single-threaded
        )
        self.group = self.group or process.pid
        self.processes.append(process)

    def wait_any(self) -> subprocess.Popen[bytes]:
        while True:
            for process in self.processes:
                if process.poll() is not None:
                    return process
            time.sleep(0.5)

    def stop(self) -> None:
        if self.group is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.group, signal.SIGTERM)
        deadline = time.monotonic() + GRACE_SECONDS
        for process in self.processes:
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(timeout=max(0.1, deadline - time.monotonic()))
        # Whatever is left of the group (a stuck worker, a reloader's child) does not outlive us.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.group, signal.SIGKILL)
        for process in self.processes:
            process.wait()


def _manage(*args: str, env: dict[str, str]) -> None:
    subprocess.run([sys.executable, "manage.py", *args], cwd=BASE_DIR, env=env, check=True)  # noqa: S603


def _lock(var_dir: Path) -> IO[str]:
    handle = (var_dir / "run.lock").open("a+")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.seek(0)
        sys.exit(f"Another `make run` is serving from {var_dir} (pid {handle.read().strip() or '?'}); stop it first.")
    handle.seek(0)
    handle.truncate()
    handle.write(str(os.getpid()))
    handle.flush()
    return handle


def main() -> int:
    var_dir = Path(os.environ.get("RENERGY_VAR_DIR") or BASE_DIR / "var").resolve()
    for sub in ("celery/queue", "celery/processed", "celery/control", "mail"):
        (var_dir / sub).mkdir(parents=True, exist_ok=True)
    lock = _lock(var_dir)
    port = os.environ.get("PORT") or "8000"
    env = {**os.environ, "RENERGY_VAR_DIR": str(var_dir), "PORT": port}
    env.setdefault("DJANGO_SETTINGS_MODULE", "renergy.settings.dev")
    # localhost, not 127.0.0.1: the only http origin browsers (and django-otp-webauthn) accept for security keys.
    env.setdefault("SITE_URL", f"http://localhost:{port}")
    embedded = not env.get("DATABASE_URL")
    if embedded:
        env["DATABASE_URL"] = embedded_db.url(var_dir, role=embedded_db.RUNTIME_ROLE)
        env["DATABASE_MIGRATE_URL"] = embedded_db.url(var_dir, role=embedded_db.OWNER_ROLE)
    # Web and beat get the runtime role only; the worker also holds the owner's URL for partition retention.
    owner_env = env
    runtime_env = {**env, "DATABASE_MIGRATE_URL": env["DATABASE_URL"]}

    children = Children()
    for signum in STOP_SIGNALS:
        signal.signal(signum, _stop)
    code = 0
    try:
        if embedded:
            print(f"Renergy: embedded PostgreSQL in {embedded_db.data_dir(var_dir)}", flush=True)
            embedded_db.start(var_dir)
        _manage("migrate", "--database", "owner", "--noinput", "-v0", env=owner_env)
        if owner_env.get("DATABASE_MIGRATE_URL", env["DATABASE_URL"]) != env["DATABASE_URL"]:
            _manage("db_roles", env=owner_env)
        _manage("load_demo", env=runtime_env)
        celery = [sys.executable, "-m", "celery", "-A", "renergy"]
        with (var_dir / "celery-worker.log").open("ab") as worker_log, (var_dir / "celery-beat.log").open("ab") as beat:
            # One worker serves the sealing queue too: in the demo it holds the dev signing key (var/).
            children.start([*celery, "worker", "--loglevel=INFO", "--pool=threads", "--concurrency=2",
                            "--queues=celery,audit-seal"], env=owner_env, log=worker_log)  # fmt: skip
            # The schedule lives in the database (LeaderDatabaseScheduler): beat takes no --schedule file.
            children.start([*celery, "beat", "--loglevel=INFO", f"--pidfile={var_dir / 'celerybeat.pid'}"],
                           env=runtime_env, log=beat)  # fmt: skip
        print(
            f"Renergy: http://localhost:{port}/  (admin console: /admin/; Celery worker and beat: "
            f"{var_dir}/celery-*.log; e-mails: {var_dir}/mail/)",
            flush=True,
        )
        children.start([sys.executable, "manage.py", "runserver", f"127.0.0.1:{port}"], env=runtime_env)
        ended = children.wait_any()
        print(
            f"Renergy: {' '.join(map(str, cast(list[str], ended.args)[1:4]))} exited ({ended.returncode}); stopping.",
            flush=True,
        )
        code = ended.returncode or 1
    except Stop as stop:
        print(f"Renergy: {stop} received; stopping.", flush=True)
    except subprocess.CalledProcessError as error:
        print(f"Renergy: {' '.join(map(str, error.cmd[1:3]))} failed ({error.returncode}).", flush=True)
        code = error.returncode
    finally:
        for signum in STOP_SIGNALS:
            signal.signal(signum, signal.SIG_IGN)
        children.stop()
        if embedded:
            embedded_db.stop(var_dir)
        lock.close()
    return code


if __name__ == "__main__":
    sys.exit(main())

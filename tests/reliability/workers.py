"""A real Celery worker in its own process, against our Redis database, that a test can SIGKILL."""

from __future__ import annotations

import os
import signal
import subprocess
import tempfile
from pathlib import Path

from tests.reliability.servers import ROOT


class Worker:
    def __init__(self, *, database_url: str, redis_url: str, var_dir: Path, visibility_timeout: int = 4) -> None:
        self.env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "renergy.settings.test",
            "DATABASE_URL": database_url,
            "REDIS_URL": redis_url,
            "RENERGY_VAR_DIR": str(var_dir),
            # A short visibility timeout, so that a killed worker's task comes back within the test.
            "CELERY_VISIBILITY_TIMEOUT": str(visibility_timeout),
            # The test blocks the job with a table lock: let it wait instead of giving up after 2 s.
            "DB_LOCK_TIMEOUT_MS": "0",
        }
        self.log = tempfile.NamedTemporaryFile(prefix="renergy-worker-", suffix=".log", delete=False)  # noqa: SIM115
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> Worker:
        command = [
            str(ROOT / ".venv" / "bin" / "celery"), "-A", "renergy", "worker", "--pool", "solo",
            "--loglevel", "INFO", "--without-mingle", "--without-gossip", "--without-heartbeat",
        ]  # fmt: skip
        self.process = subprocess.Popen(  # noqa: S603 - our own celery and arguments
            command, cwd=ROOT, env=self.env, stdout=self.log, stderr=subprocess.STDOUT
        )
        return self

    def kill(self) -> None:
        """SIGKILL: no shutdown, no ack, no cleanup: what the OOM killer or a lost node does."""
        if self.process is not None and self.process.poll() is None:
            os.kill(self.process.pid, signal.SIGKILL)
            self.process.wait(10)
        self.process = None

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                self.kill()
        self.process = None

    def output(self) -> str:
        return Path(self.log.name).read_text(errors="replace")

    def discard(self) -> None:
        self.stop()
        Path(self.log.name).unlink(missing_ok=True)

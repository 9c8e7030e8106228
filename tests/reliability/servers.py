"""Real servers that the reliability tests start, stop and restart themselves (ports 24000-24099 here)."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass, field
from email import message_from_bytes
from email.message import Message
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PORT_BASE = int(os.environ.get("RELIABILITY_PORT_BASE", "24000"))


def port(offset: int) -> int:
    return PORT_BASE + offset


def wait_for_port(host: str, number: int, *, timeout: float = 15.0, up: bool = True) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection((host, number), timeout=0.2):
                if up:
                    return
        except OSError:
            if not up:
                return
        time.sleep(0.05)
    raise TimeoutError(f"{host}:{number} did not come {'up' if up else 'down'} within {timeout} s")


class RedisServer:
    """A redis-server of our own on a spare port: no persistence, killed (SIGKILL) to simulate an outage."""

    def __init__(self, number: int) -> None:
        self.port = number
        self.process: subprocess.Popen[bytes] | None = None
        self.directory = tempfile.mkdtemp(prefix="renergy-redis-")

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        binary = shutil.which("redis-server") or "/usr/bin/redis-server"
        self.process = subprocess.Popen(  # noqa: S603 - a fixed binary and arguments
            [binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
            cwd=self.directory,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_for_port("127.0.0.1", self.port)

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)
        self.process = None
        wait_for_port("127.0.0.1", self.port, up=False)

    def __enter__(self) -> RedisServer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.kill()
        shutil.rmtree(self.directory, ignore_errors=True)


@dataclass
class SmtpServer:
    """aiosmtpd on a spare port that keeps every message it accepted; stop() refuses connections."""

    port: int
    messages: list[Message] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _controller: object | None = None

    async def handle_DATA(self, server: object, session: object, envelope: object) -> str:  # the name aiosmtpd calls
        with self._lock:
            self.messages.append(message_from_bytes(envelope.content))  # type: ignore[attr-defined]
        return "250 OK"

    def start(self) -> None:
        from aiosmtpd.controller import Controller

        self._controller = Controller(self, hostname="127.0.0.1", port=self.port)
        self._controller.start()

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()  # type: ignore[attr-defined]
            self._controller = None
        wait_for_port("127.0.0.1", self.port, up=False)

    def recipients(self) -> list[str]:
        with self._lock:
            return [message["To"] for message in self.messages]


class AppServer:
    """The application under gunicorn or Django's runserver, in its own process, on the test database."""

    def __init__(self, kind: str, number: int, *, database_url: str, env: dict[str, str] | None = None) -> None:
        self.kind, self.port = kind, number
        self.env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "renergy.settings.test",
            "DATABASE_URL": database_url,
            "PYTHONUNBUFFERED": "1",
            **(env or {}),
        }
        self.process: subprocess.Popen[bytes] | None = None
        self.log = tempfile.NamedTemporaryFile(prefix=f"renergy-{kind}-", suffix=".log", delete=False)  # noqa: SIM115

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def command(self) -> list[str]:
        python = str(ROOT / ".venv" / "bin" / "python")
        if self.kind == "runserver":
            return [python, "manage.py", "runserver", f"127.0.0.1:{self.port}", "--noreload", "--skip-checks"]
        workers = self.env.get("GUNICORN_WORKERS", "2")
        return [
            python, "-m", "gunicorn", "renergy.wsgi:application", "--bind", f"127.0.0.1:{self.port}",
            "--workers", workers, "--timeout", "30", "--graceful-timeout", "2", "--preload",
        ]  # fmt: skip

    def start(self) -> None:
        self.process = subprocess.Popen(  # noqa: S603 - our own interpreter and arguments
            self.command(), cwd=ROOT, env=self.env, stdout=self.log, stderr=subprocess.STDOUT
        )
        wait_for_port("127.0.0.1", self.port, timeout=60)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)
        self.process = None

    def output(self) -> str:
        return Path(self.log.name).read_text(errors="replace")

    def __enter__(self) -> AppServer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
        Path(self.log.name).unlink(missing_ok=True)

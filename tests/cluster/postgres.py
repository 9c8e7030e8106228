"""A private PostgreSQL primary and a streaming replica on spare ports (initdb + pg_basebackup -R), for the replica
tests. The machine's shared server cannot serve: its pg_hba has no replication entry, and it is never reconfigured
or restarted for a test. Run as the `postgres` system user when the tests run as root (initdb refuses root)."""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

PG_BIN = Path(os.environ.get("CLUSTER_PG_BIN", "/usr/lib/postgresql/15/bin"))


def _as_postgres(args: list[str]) -> subprocess.CompletedProcess:
    if os.geteuid() == 0:
        args = ["runuser", "-u", "postgres", "--", *args]
    return subprocess.run(args, check=True, capture_output=True, text=True)  # noqa: S603 - fixed arguments


class PostgresPair:
    def __init__(self, *, primary_port: int, replica_port: int) -> None:
        self.ports = {"primary": primary_port, "replica": replica_port}
        self.root = Path(tempfile.mkdtemp(prefix="renergy-pg-"))
        if os.geteuid() == 0:
            entry = pwd.getpwnam("postgres")
            os.chown(self.root, entry.pw_uid, entry.pw_gid)

    def url(self, role: str, database: str = "postgres") -> str:
        return f"postgres://postgres@127.0.0.1:{self.ports[role]}/{database}"

    def _ctl(self, role: str, action: str, *extra: str) -> None:
        data = self.root / role
        _as_postgres(
            [str(PG_BIN / "pg_ctl"), "-D", str(data), "-l", str(self.root / f"{role}.log"), "-w", action, *extra]
        )

    def start(self) -> PostgresPair:
        primary = self.root / "primary"
        _as_postgres([str(PG_BIN / "initdb"), "-D", str(primary), "-U", "postgres", "--auth=trust", "-E", "UTF8",
                      "--locale=C.UTF-8"])  # fmt: skip
        settings = {
            "port": self.ports["primary"],
            "listen_addresses": "'127.0.0.1'",
            "unix_socket_directories": f"'{self.root}'",
            "wal_level": "replica",
            "max_wal_senders": 4,
            "max_connections": 40,
            "shared_buffers": "'64MB'",
            "fsync": "off",  # a throwaway pair: durability is not what these tests are about
            "hot_standby": "on",
        }
        with (primary / "postgresql.conf").open("a") as conf:
            conf.writelines(f"{name} = {value}\n" for name, value in settings.items())
        self._ctl("primary", "start")
        # initdb --auth=trust already allows replication connections from 127.0.0.1 (pg_hba "replication" lines).
        _as_postgres([str(PG_BIN / "pg_basebackup"), "-h", "127.0.0.1", "-p", str(self.ports["primary"]), "-U",
                      "postgres", "-D", str(self.root / "replica"), "-R", "-X", "stream", "-c", "fast"])  # fmt: skip
        with (self.root / "replica" / "postgresql.conf").open("a") as conf:
            conf.write(f"port = {self.ports['replica']}\n")
        self.replica_start()
        return self

    def replica_start(self) -> None:
        self._ctl("replica", "start")

    def replica_stop(self) -> None:
        self._ctl("replica", "stop", "-m", "fast")

    def stop(self) -> None:
        for role in ("replica", "primary"):
            if (self.root / role / "postmaster.pid").exists():
                try:
                    self._ctl(role, "stop", "-m", "immediate")
                except subprocess.CalledProcessError:
                    time.sleep(0.5)
        shutil.rmtree(self.root, ignore_errors=True)

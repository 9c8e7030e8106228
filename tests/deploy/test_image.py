"""The image and compose file, exercised without a container engine: the Dockerfile's collectstatic as the
Dockerfile runs it, compose's migrate, gunicorn and health check as compose runs them (read from the files
themselves, so they cannot drift), against a temporary database made the way deploy/postgres-init.sql
makes it, with .env.example standing in for .env. A broken image fails here."""

from __future__ import annotations

import os
import re
import shlex
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
import yaml
from django.conf import settings
from django.db import connections

from renergy.databases import OWNER_ALIAS

ROOT = Path(settings.BASE_DIR)
PORT = 21043  # in this checkout's port range, for compose's 8000


def _dockerfile() -> tuple[dict[str, str], list[str]]:
    """ENV values and RUN steps (continuations joined, split at &&)."""
    text = re.sub(r"\\\n", " ", (ROOT / "Dockerfile").read_text())
    env: dict[str, str] = {}
    steps: list[str] = []
    for line in text.splitlines():
        instruction, _, rest = line.strip().partition(" ")
        if instruction == "ENV":
            env.update(item.split("=", 1) for item in shlex.split(rest))  # type: ignore[misc]
        elif instruction == "RUN":
            steps += [step.strip() for step in rest.split("&&")]
    return env, steps


def _step(steps: list[str], needle: str) -> tuple[dict[str, str], list[str]]:
    """A RUN step's inline VAR=value assignments and its command."""
    (step,) = [s for s in steps if needle in s]
    words = shlex.split(step)
    assignments = {}
    while "=" in words[0] and not words[0].startswith("-"):
        name, value = words.pop(0).split("=", 1)
        assignments[name] = value
    return assignments, words


def _env_file() -> dict[str, str]:
    values = {}
    for line in (ROOT / ".env.example").read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            name, value = line.split("=", 1)
            values[name] = value
    return values


def _interpolate(value: str, variables: dict[str, str]) -> str:
    return re.sub(r"\$\{(\w+)(?::\?[^}]*)?\}", lambda m: variables[m.group(1)], value)


def _path() -> dict[str, str]:
    """The image's `python`, `gunicorn`, `celery` on PATH are this virtualenv's."""
    return {"PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}


@pytest.fixture
def database() -> Iterator[dict[str, str]]:
    """A database and its two roles as production has them; compose's host names point here."""
    admin = connections[OWNER_ALIAS].settings_dict
    suffix = uuid.uuid4().hex[:8]
    names = {"database": f"image_{suffix}", "owner": f"image_{suffix}_owner", "runtime": f"image_{suffix}_app"}
    server = f"{admin['HOST']}:{admin['PORT'] or 5432}"
    subprocess.run(
        ["psql", "-h", admin["HOST"], "-p", str(admin["PORT"] or 5432), "-U", admin["USER"], "-d", "postgres",
         "-v", "ON_ERROR_STOP=1", "-v", f"owner={names['owner']}", "-v", "owner_password=owner-pw",
         "-v", f"database={names['database']}", "-q", "-f", str(ROOT / "deploy" / "postgres-init.sql")],
        check=True, capture_output=True,
    )  # fmt: skip
    try:
        yield {
            "RENERGY_OWNER_PASSWORD": "owner-pw",
            "RENERGY_APP_PASSWORD": "app-pw",
            "POSTGRES_PASSWORD": "unused",
            "@postgres:5432/renergy": f"@{server}/{names['database']}",
            "renergy_owner:": f"{names['owner']}:",
            "renergy_app:": f"{names['runtime']}:",
            **names,
        }
    finally:
        with psycopg.connect(host=admin["HOST"], port=admin["PORT"] or 5432, user=admin["USER"], dbname="postgres",
                             autocommit=True) as conn:  # fmt: skip
            conn.execute(f'DROP DATABASE IF EXISTS "{names["database"]}" WITH (FORCE)')
            conn.execute(f'DROP ROLE IF EXISTS "{names["runtime"]}"')
            conn.execute(f'DROP ROLE IF EXISTS "{names["owner"]}"')


def _service_env(service: dict, db: dict[str, str], static_root: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DATABASE_", "DJANGO_"))}
    env |= _env_file()
    for name, value in service["environment"].items():
        value = _interpolate(str(value), db)
        for host, here in db.items():
            if host.startswith("@") or host.endswith(":"):
                value = value.replace(host, here)
        env[name] = value.replace("redis://redis:6379/0", os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/15"))
    dockerfile_env, _steps = _dockerfile()
    var = {"STATIC_ROOT": str(static_root), "RENERGY_VAR_DIR": str(static_root.parent / "var")}
    return env | dockerfile_env | var | _path()


def _get(path: str, host: str) -> tuple[int, str, bytes]:
    request = urllib.request.Request(
        f"http://127.0.0.1:{PORT}{path}", headers={"Host": host, "X-Forwarded-Proto": "https"}
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, response.headers.get("Content-Type", ""), response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.headers.get("Content-Type", ""), error.read()


def _wait_for_port() -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", PORT)) == 0:
                return
        time.sleep(0.5)
    raise AssertionError("gunicorn did not listen")


@pytest.mark.timeout(600)
def test_the_image_serves_pages_and_passes_its_health_check(tmp_path: Path, database: dict[str, str]) -> None:
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]
    dockerfile_env, steps = _dockerfile()
    static_root = tmp_path / "static"

    # Build: collectstatic exactly as the Dockerfile's RUN step, into a temporary STATIC_ROOT.
    assignments, words = _step(steps, "collectstatic")
    build_env = {k: v for k, v in os.environ.items() if not k.startswith(("DATABASE_", "DJANGO_"))}
    build_env |= dockerfile_env | assignments | {"STATIC_ROOT": str(static_root)} | _path()
    subprocess.run(words, cwd=ROOT, env=build_env, check=True, capture_output=True)
    assert (static_root / "staticfiles.json").exists()
    assert "SECRET_KEY" not in dockerfile_env  # the build-only key is never in the image's environment

    # compose's migrate: schema as the owner, then the runtime role and its grants.
    migrate = compose["migrate"]
    subprocess.run(
        migrate["command"], cwd=ROOT, env=_service_env(migrate, database, static_root),
        check=True, capture_output=True,
    )  # fmt: skip

    web = compose["web"]
    web_env = _service_env(web, database, static_root) | {"WEB_CONCURRENCY": "2"}  # 4 in compose; 2 cores here
    deploy_check = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT, env=web_env, capture_output=True, text=True,
    )  # fmt: skip
    assert deploy_check.returncode == 0, deploy_check.stderr
    command = [word.replace("0.0.0.0:8000", f"127.0.0.1:{PORT}") for word in web["command"]]
    log = (tmp_path / "gunicorn.log").open("wb")
    server = subprocess.Popen(command, cwd=ROOT, env=web_env, stdout=log, stderr=subprocess.STDOUT)
    try:
        _wait_for_port()
        # compose's health check, as compose runs it inside the web container.
        # With compose's retries and interval: gunicorn's workers may still be booting at the first probe.
        check = web["healthcheck"]
        probe = [word.replace("127.0.0.1:8000", f"127.0.0.1:{PORT}") for word in check["test"][1:]]
        for _attempt in range(check["retries"]):
            health = subprocess.run(probe, env=web_env, capture_output=True, text=True, timeout=30)
            if health.returncode == 0:
                break
            time.sleep(int(check["interval"].removesuffix("s")))
        assert health.returncode == 0, health.stderr + (tmp_path / "gunicorn.log").read_text()

        # A page and its stylesheet, as the proxy forwards them.
        host = web_env["ALLOWED_HOSTS"].split(",")[0]
        status, content_type, body = _get("/login/", host)
        assert status == 200, body.decode(errors="replace")[:2000] + (tmp_path / "gunicorn.log").read_text()
        stylesheets = re.findall(r'href="(/static/[^"]+\.css)"', body.decode())
        assert stylesheets and all(re.search(r"\.[0-9a-f]{12}\.css$", href) for href in stylesheets)  # hashed names
        status, content_type, css = _get(stylesheets[0], host)
        assert status == 200 and content_type.startswith("text/css") and css
        status, _type, body = _get("/no-such-page/", host)
        assert status == 404 and "ページが見つかりません".encode() in body
    finally:
        server.terminate()
        server.wait(timeout=30)

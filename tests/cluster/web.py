"""A person at a browser, as far as the cluster tests need one: real HTTPS through the proxy, cookies, CSRF,
and the two-step sign-in with codes computed from the person's TOTP key (as their authenticator app would)."""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field

import httpx
from django_otp.oath import totp

from accounts.demo import DEMO_PASSWORD, demo_totp_key
from tests.cluster.harness import NODE_HEADER, PIN_HEADER, Cluster

CSRF_COOKIE = "__Host-csrftoken"
SESSION_COOKIE = "__Host-renergy_session"
_used_steps: dict[str, int] = {}


def totp_code(key_hex: str) -> str:
    """The next code of this key that the server has not seen: a code works once, and the server accepts the
    step after the current one (tolerance 1), so two sign-ins within 30 s use steps t and t + 1."""
    now_step = int(time.time()) // 30
    step = max(now_step, _used_steps.get(key_hex, -1) + 1)
    while step > now_step + 1:
        time.sleep(30 - time.time() % 30 + 0.2)
        now_step = int(time.time()) // 30
    _used_steps[key_hex] = step
    return f"{totp(bytes.fromhex(key_hex), t0=0, step=30, drift=step - now_step):06d}"


def demo_email(slug: str) -> str:
    return f"{slug}@demo.renergy.example.jp"


@dataclass
class Person:
    cluster: Cluster
    email: str
    password: str = DEMO_PASSWORD
    key_hex: str = ""
    # The address the person's connections come from (any of 127.0.0.0/8): the proxy writes it into
    # X-Forwarded-For, so each test's lockout-by-address stays its own.
    source: str = "127.0.0.1"
    http: httpx.Client = field(init=False)

    def __post_init__(self) -> None:
        self.key_hex = self.key_hex or demo_totp_key(self.email)
        self.http = self.new_client()

    def new_client(self, *, keepalive: bool = True) -> httpx.Client:
        """Another connection pool with this person's cookies (a second tab, or a parallel client)."""
        transport = httpx.HTTPTransport(
            verify=self.cluster.ssl_context(),
            local_address=self.source,
            limits=httpx.Limits(max_keepalive_connections=None if keepalive else 0),
        )
        client = httpx.Client(base_url=self.cluster.url, transport=transport, timeout=60, follow_redirects=False)
        if hasattr(self, "http"):
            client.cookies.update(self.http.cookies)
        return client

    def close(self) -> None:
        self.http.close()

    def get(self, path: str, *, node: str | None = None, headers: dict[str, str] | None = None) -> httpx.Response:
        return self.http.get(path, headers={**(headers or {}), **({PIN_HEADER: node} if node else {})})

    def post(self, path: str, data: dict[str, str] | None = None, *, node: str | None = None) -> httpx.Response:
        if CSRF_COOKIE not in self.http.cookies:
            self.get("/login/", node=node)
        headers = {"Referer": f"{self.cluster.url}/"}
        if node:
            headers[PIN_HEADER] = node
        form = {"csrfmiddlewaretoken": self.http.cookies[CSRF_COOKIE], **(data or {})}
        return self.http.post(path, data=form, headers=headers)

    def sign_in(self, *, node: str | None = None) -> None:
        """Password, code, and the terms when they are asked for; ends on the home page."""
        response = self.post("/login/", {"username": self.email, "password": self.password}, node=node)
        assert response.status_code == 302 and response.headers["location"].endswith("/login/code/"), response.text
        response = self.post("/login/code/", {"code": totp_code(self.key_hex)}, node=node)
        assert response.status_code == 302, response.text[:2000]
        home = self.get("/", node=node)
        if home.status_code == 302 and "/terms/" in home.headers["location"]:
            response = self.post("/terms/", {"agree": "on"}, node=node)
            assert response.status_code == 302, response.text[:2000]
            home = self.get("/", node=node)
        assert home.status_code == 200, (home.status_code, home.headers.get("location"))

    @property
    def session_key(self) -> str:
        return self.http.cookies.get(SESSION_COOKIE) or ""


def node_of(response: httpx.Response) -> str:
    return response.headers.get(NODE_HEADER, "")


def form_action(html: str, text: str) -> str:
    """The action of the form whose submit button reads `text` (first match)."""
    for match in re.finditer(r'<form[^>]*action="([^"]+)"(.*?)</form>', html, re.S):
        if text in match.group(2):
            return match.group(1).replace("&amp;", "&")
    raise AssertionError(f"no form with {text!r}")

"""End-to-end fixtures: the real app on pytest-django's live server, driven by Debian's Chromium.

Browsers cannot be downloaded here, so Playwright launches /usr/bin/chromium (installed by
`make system-deps`). Every test gets a fresh browser context, a `Screens` helper that saves a numbered
screenshot per step under test-results/screenshots/<test>/, and a guard that fails the test on any
Content-Security-Policy violation or uncaught page error reported by the browser.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

# Playwright's sync API keeps an asyncio loop running in the test thread; Django then refuses ORM calls
# from that thread although they are ordinary synchronous code (known pytest-django + Playwright issue).
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

from playwright.sync_api import Browser, BrowserContext, ConsoleMessage, Page, Playwright, expect, sync_playwright

CHROMIUM = os.environ.get("RENERGY_E2E_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SCREENSHOT_ROOT = Path(__file__).resolve().parents[2] / "test-results" / "screenshots"


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]):
    # Lets fixtures see whether the test body failed (to keep a screenshot of every open page).
    report = yield
    setattr(item, f"report_{report.when}", report)
    return report


@pytest.fixture(scope="session")
def playwright_instance() -> Iterator[Playwright]:
    if not Path(CHROMIUM).exists():
        pytest.skip(f"Chromium not found at {CHROMIUM} (run `make system-deps`)")
    with sync_playwright() as playwright:
        yield playwright


@pytest.fixture(scope="session")
def browser(playwright_instance: Playwright) -> Iterator[Browser]:
    browser = playwright_instance.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
    yield browser
    browser.close()


@dataclass
class BrowserProblems:
    """What the browser reported that a correct page never causes."""

    csp: list[str] = field(default_factory=list)
    page_errors: list[str] = field(default_factory=list)

    def on_console(self, message: ConsoleMessage) -> None:
        if "Content Security Policy" in message.text or "Content-Security-Policy" in message.text:
            self.csp.append(message.text)

    def on_page_error(self, error: Exception) -> None:
        self.page_errors.append(str(error))


@pytest.fixture
def problems() -> BrowserProblems:
    return BrowserProblems()


class Contexts:
    """Browser profiles of a test (one per person at their own computer), all watched for CSP violations."""

    def __init__(self, browser: Browser, base_url: str, problems: BrowserProblems) -> None:
        self.browser, self.base_url, self.problems = browser, base_url, problems
        self.opened: list[BrowserContext] = []

    def new(self, **options: Any) -> BrowserContext:
        settings: dict[str, Any] = {
            "base_url": self.base_url,
            "locale": "ja-JP",
            "timezone_id": "Asia/Tokyo",
            "viewport": {"width": 1280, "height": 900},
            "accept_downloads": True,
        }
        ctx = self.browser.new_context(**{**settings, **options})
        ctx.set_default_timeout(15_000)
        ctx.on("console", self.problems.on_console)
        ctx.on("weberror", lambda web_error: self.problems.on_page_error(web_error.error))
        self.opened.append(ctx)
        return ctx

    def new_page(self) -> Page:
        return self.new().new_page()


@pytest.fixture
def contexts(
    browser: Browser, live_server, problems: BrowserProblems, request: pytest.FixtureRequest
) -> Iterator[Contexts]:
    opened = Contexts(browser, live_server.url, problems)
    yield opened
    report = getattr(request.node, "report_call", None)
    if report is not None and report.failed:
        directory = SCREENSHOT_ROOT / re.sub(r"[^A-Za-z0-9_.-]+", "_", request.node.name)
        directory.mkdir(parents=True, exist_ok=True)
        for n, page in enumerate(p for ctx in opened.opened for p in ctx.pages):
            # A page that cannot be captured must not hide the real failure.
            with contextlib.suppress(Exception):
                page.screenshot(path=str(directory / f"failure-{n}.png"), full_page=True)
    for ctx in opened.opened:
        ctx.close()


@pytest.fixture
def context(contexts: Contexts, problems: BrowserProblems) -> Iterator[BrowserContext]:
    """A fresh browser profile (no cookies) pointed at the live server, Japanese by default like the app."""
    ctx = contexts.new()
    yield ctx
    assert not problems.csp, f"Content-Security-Policy violations: {problems.csp}"
    assert not problems.page_errors, f"Uncaught errors in the page: {problems.page_errors}"


@pytest.fixture
def page(context: BrowserContext) -> Page:
    return context.new_page()


class Screens:
    """Saves `<nn>-<step>.png` for each step of a test, so a reviewer can replay the story."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.count = 0

    def __call__(self, page: Page, step: str) -> Path:
        self.count += 1
        name = re.sub(r"[^A-Za-z0-9_-]+", "-", step).strip("-")
        path = self.directory / f"{self.count:02d}-{name}.png"
        page.screenshot(path=str(path), full_page=True)
        return path


@pytest.fixture
def shot(request: pytest.FixtureRequest) -> Screens:
    directory = SCREENSHOT_ROOT / re.sub(r"[^A-Za-z0-9_.-]+", "_", request.node.name)
    shutil.rmtree(directory, ignore_errors=True)
    directory.mkdir(parents=True, exist_ok=True)
    return Screens(directory)


@pytest.fixture(autouse=True)
def _fresh_cache(live_server) -> None:
    """Lockout counters and cached sessions of an earlier test must not leak into this one.

    Clears only the cache database this run was given (its own Redis DB number), never the server.
    """
    from django.core.cache import cache

    cache.clear()


# ---- people who can sign in -------------------------------------------------------------------------------

PASSWORD = "correct horse battery staple"


def totp_code(device) -> str:
    """The current code of a TOTP device, as the person's authenticator app would show it."""
    from django_otp.oath import totp

    return f"{totp(device.bin_key, step=device.step, t0=device.t0, digits=device.digits):0{device.digits}d}"


def totp_code_from_secret(secret_text: str) -> str:
    """The current code for a secret read off the enrolment page (base32, shown in groups for manual entry)."""
    from base64 import b32decode

    from django_otp.oath import totp

    return f"{totp(b32decode(''.join(secret_text.split()).upper())):06d}"


@dataclass
class Person:
    """Someone who finished onboarding: ACTIVE, with a confirmed authenticator and the current terms accepted."""

    user: object
    device: object
    password: str = PASSWORD

    @property
    def email(self) -> str:
        return self.user.email  # type: ignore[attr-defined]


@pytest.fixture
def ready_person(make_user):
    from django_otp.plugins.otp_totp.models import TOTPDevice

    from accounts.models import TermsAcceptance
    from accounts.terms import terms_current

    def _make(organisation, **extra) -> Person:
        user = make_user(organisation, **extra)
        device = TOTPDevice.objects.create(user=user, name="authenticator", confirmed=True)
        TermsAcceptance.objects.create(user=user, terms=terms_current(), ip_address="127.0.0.1")
        return Person(user=user, device=device)

    return _make


def sign_in(page: Page, person: Person, *, next_path: str = "") -> None:
    """Password, then the authenticator code, through the real forms (labels, not CSS, find the fields)."""
    page.goto("/login/" + (f"?next={next_path}" if next_path else ""))
    page.get_by_label("メールアドレス", exact=True).fill(person.email)
    page.get_by_label("パスワード", exact=True).fill(person.password)
    page.get_by_role("button", name="次へ").click()
    page.get_by_label("認証コード").fill(totp_code(person.device))
    page.get_by_role("button", name="サインイン", exact=True).click()
    expect(page.get_by_role("button", name="サインアウト")).to_be_visible()

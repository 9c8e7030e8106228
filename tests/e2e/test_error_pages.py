"""Error pages in a real browser: clear, in the person's language, styled, and never a stack trace."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

pytestmark = pytest.mark.e2e


def test_an_unknown_address_shows_the_japanese_not_found_page(page: Page, shot) -> None:
    response = page.goto("/no/such/page/")
    assert response is not None and response.status == 404
    expect(page.locator("h1")).to_have_text("ページが見つかりません")
    expect(page.locator("html")).to_have_attribute("lang", "ja")
    # The stylesheet is served by the app itself (no CDN) and applied.
    header_colour = page.evaluate("getComputedStyle(document.querySelector('.site-header')).backgroundColor")
    assert header_colour == "rgb(11, 58, 107)"
    assert "Traceback" not in page.content()
    shot(page, "not-found")


@pytest.mark.urls("tests.ui.urls_for_errors")
def test_a_crash_shows_a_calm_server_error_page_in_the_chosen_language(page: Page, shot) -> None:
    response = page.goto("/boom/")
    assert response is not None and response.status == 500
    expect(page.locator("h1")).to_have_text("システムエラーが発生しました")
    expect(page.locator("body")).not_to_contain_text("secret-internal-detail")
    shot(page, "server-error-ja")

    page.context.add_cookies([{"name": "django_language", "value": "en", "url": page.url}])
    page.goto("/boom/")
    expect(page.locator("h1")).to_have_text("A system error occurred")
    shot(page, "server-error-en")


@pytest.mark.urls("tests.ui.urls_for_errors")
def test_the_audit_outage_page_says_plainly_that_no_data_was_sent(page: Page, shot) -> None:
    response = page.goto("/audit-down/")
    assert response is not None and response.status == 503
    assert response.headers["retry-after"] == "60"
    expect(page.locator("h1")).to_have_text("現在ご利用いただけません")
    expect(page.locator("main")).to_contain_text("データは送信されていません")
    shot(page, "audit-unavailable")

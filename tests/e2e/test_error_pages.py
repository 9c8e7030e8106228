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

"""Japanese first, English on request, and back; the layout works from the keyboard alone."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

pytestmark = pytest.mark.e2e


def test_a_visitor_switches_to_english_and_back_to_japanese(page: Page, shot) -> None:
    page.goto("/")
    expect(page.locator("html")).to_have_attribute("lang", "ja")
    expect(page.locator(".brand-name")).to_have_text("再エネ業務管理システム")
    shot(page, "japanese")

    page.get_by_role("button", name="English").click()
    expect(page.locator("html")).to_have_attribute("lang", "en")
    expect(page.locator(".brand-name")).to_have_text("Renewable Energy Business Management System")
    expect(page.locator(".site-footer")).to_contain_text("Every action is recorded.")
    shot(page, "english")

    # The choice sticks across pages (cookie), until switched back.
    page.goto("/no/such/page/")
    expect(page.locator("h1")).to_have_text("Page not found")
    page.get_by_role("button", name="日本語").click()
    expect(page.locator("html")).to_have_attribute("lang", "ja")
    expect(page.locator("h1")).to_have_text("ページが見つかりません")
    shot(page, "back-to-japanese")


def test_the_skip_link_is_the_first_stop_and_moves_focus_to_the_content(page: Page, shot) -> None:
    page.goto("/no/such/page/")
    page.keyboard.press("Tab")
    skip = page.get_by_role("link", name="本文へ移動")
    expect(skip).to_be_focused()
    expect(skip).to_be_in_viewport()
    shot(page, "skip-link-focused")
    page.keyboard.press("Enter")
    expect(page).to_have_url(page.url.split("#")[0].rstrip("/") + "/#main")
    page.keyboard.press("Tab")
    # The next stop is inside the main content, not back in the header.
    assert page.evaluate("document.activeElement.closest('main') !== null")

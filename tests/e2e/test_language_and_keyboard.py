"""Japanese first, English on request, and back; the layout works from the keyboard alone."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.conftest import Contexts, sign_in

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
    expect(page.get_by_role("heading", level=1)).to_have_text("Sign in")
    # Messages decided in Python (not only template text) follow the chosen language too.
    page.get_by_label("Email address").fill("nobody@example.jp")
    page.get_by_label("Password").fill("wrong password for nobody")
    page.get_by_role("button", name="Next").click()
    expect(page.get_by_role("alert")).to_contain_text("The email address or password is not correct.")
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
    # The next stop is inside the main content, not back in the header, and focus is plainly visible.
    assert page.evaluate("document.activeElement.closest('main') !== null")
    focused = page.locator(":focus")
    outline = focused.evaluate("el => [getComputedStyle(el).outlineStyle, getComputedStyle(el).outlineWidth]")
    assert outline[0] == "solid" and float(outline[1].removesuffix("px")) >= 2, outline
    shot(page, "focus-in-content")


def test_a_person_signs_in_and_searches_with_javascript_turned_off(
    contexts: Contexts, orgs, ready_person, shot
) -> None:
    person = ready_person(orgs.agency)
    page = contexts.new(java_script_enabled=False).new_page()
    sign_in(page, person)
    page.get_by_role("navigation", name="メインメニュー").get_by_role("link", name="認定設備の検索").click()
    page.get_by_role("button", name="検索", exact=True).click()
    expect(page.get_by_role("heading", level=1)).to_have_text("認定設備の検索")
    page.get_by_role("button", name="English").click()
    expect(page.locator("html")).to_have_attribute("lang", "en")
    shot(page, "no-javascript")

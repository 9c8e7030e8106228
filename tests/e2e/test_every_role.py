"""Every role, signed in, walks every entry of its menu: each page answers, breaks no CSP rule, keeps text
contrast at WCAG AA and labels every form control."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from renergy.geography import SupplyArea
from tests.e2e.accessibility import contrast_failures, page_overflow, unlabelled_controls
from tests.e2e.conftest import Contexts, sign_in
from tests.e2e.facilities import make_facility

pytestmark = pytest.mark.e2e

# Role (fixture cast attribute, officer?) -> menu entries that must be there / must not be there.
ROLES = [
    ("agency", True, ["認定設備の検索", "台帳の取込", "組織の利用者", "アカウントの申請"], ["申請の審査", "自己点検"]),
    ("grid_tokyo", False, ["認定設備の検索"], ["台帳の取込", "組織の利用者", "申請の審査"]),
    ("shinjuku", False, ["認定設備の検索"], ["台帳の取込", "申請の審査"]),
    ("operator_a", True, ["認定設備の検索", "組織の利用者"], ["台帳の取込", "申請の審査"]),
    ("contractor", False, ["申請の審査", "アカウント管理", "アクセス記録", "自己点検", "年度報告"], ["認定設備の検索"]),
]


def test_each_role_sees_its_own_menu_and_every_entry_opens(contexts: Contexts, orgs, ready_person, shot) -> None:
    make_facility("F000000301", supply_area=SupplyArea.TOKYO, prefecture_code="13", organisation=orgs.operator_a)
    for org_name, officer, present, absent in ROLES:
        person = ready_person(getattr(orgs, org_name), officer=officer)
        page = contexts.new_page()
        sign_in(page, person)
        menu = page.get_by_role("navigation", name="メインメニュー")
        for label in present:
            expect(menu.get_by_role("link", name=label, exact=True)).to_be_visible()
        for label in absent:
            expect(menu.get_by_role("link", name=label, exact=True)).to_have_count(0)
        shot(page, f"{org_name}-home")

        links = menu.get_by_role("link")
        targets = [(links.nth(i).inner_text(), links.nth(i).get_attribute("href") or "") for i in range(links.count())]
        for label, href in targets:
            response = page.goto(href)
            assert response is not None and response.status == 200, (org_name, label, href)
            expect(menu.get_by_role("link", name=label, exact=True)).to_have_attribute("aria-current", "page")
            expect(page.get_by_role("heading", level=1)).to_be_visible()
            assert contrast_failures(page) == [], (org_name, href)
            assert page_overflow(page) <= 0, (org_name, href, "wider than the window")
            assert unlabelled_controls(page) == [], (org_name, href)
            shot(page, f"{org_name}-{href.strip('/').replace('/', '-') or 'home'}")
        page.context.close()


def test_pages_fit_a_phone_screen_without_sideways_scrolling(contexts: Contexts, orgs, ready_person, shot) -> None:
    make_facility("F000000401", supply_area=SupplyArea.TOKYO, prefecture_code="13")
    person = ready_person(orgs.agency, officer=True)
    page = contexts.new(viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True).new_page()
    sign_in(page, person)
    for path in ["/", "/facilities/", "/facilities/F000000401/", "/officer/", "/account/", "/no/such/page/"]:
        page.goto(path)
        assert page_overflow(page) <= 0, path
        shot(page, f"phone-{path.strip('/').replace('/', '-') or 'home'}")


# Kana and kanji (full-width brackets around English words are left to taste).
JAPANESE = "[\\u3040-\\u30ff\\u3400-\\u9fff]"
# The interface's own words (menus, buttons, labels, column and row headings) — not the data shown in them.
UNTRANSLATED_JS = f"""
() => [...document.querySelectorAll("nav a, button, label, legend, summary, thead th, th[scope=row], h1, h2")]
  .filter((el) => !el.closest("[lang=ja]") && el.getBoundingClientRect().width > 0)
  .map((el) => el.innerText.trim())
  .filter((text) => new RegExp("{JAPANESE}").test(text))
"""


def test_every_page_of_every_role_is_fully_english_when_english_is_chosen(
    contexts: Contexts, orgs, ready_person, shot
) -> None:
    make_facility("F000000501", supply_area=SupplyArea.TOKYO, prefecture_code="13", organisation=orgs.operator_a)
    untranslated: list[tuple[str, str, list[str]]] = []
    for org_name in ["agency", "operator_a", "contractor"]:
        person = ready_person(getattr(orgs, org_name), officer=True, name="Test Person", department="Energy")
        page = contexts.new().new_page()
        sign_in(page, person)
        page.get_by_role("button", name="English").click()
        menu = page.get_by_role("navigation", name="Main menu")
        links = menu.get_by_role("link")
        targets = [links.nth(i).get_attribute("href") or "" for i in range(links.count())]
        if org_name != "contractor":
            targets.append("/facilities/F000000501/")
        for href in targets:
            page.goto(href)
            # Organisation names are data, not interface: the heading of the officer page may hold one.
            assert page_overflow(page) <= 0, (org_name, href, "wider than the window in English")
            leftovers = [t for t in page.evaluate(UNTRANSLATED_JS) if getattr(orgs, org_name).name not in t]
            if leftovers:
                untranslated.append((org_name, href, leftovers))
            shot(page, f"en-{org_name}-{href.strip('/').replace('/', '-') or 'home'}")
        page.context.close()
    assert untranslated == [], "\n".join(map(str, untranslated))


def test_the_admin_site_works_under_the_strict_content_security_policy(
    contexts: Contexts, orgs, ready_person, shot
) -> None:
    staff = ready_person(orgs.contractor, is_staff=True, is_superuser=True)
    page = contexts.new_page()
    sign_in(page, staff)
    for path in ["/admin/", "/admin/accounts/organisation/", "/admin/accounts/user/"]:
        response = page.goto(path)
        assert response is not None and response.status == 200, path
        shot(page, f"admin-{path.strip('/').replace('/', '-')}")
    # CSP violations or script errors on these pages fail the test (see the contexts fixture).

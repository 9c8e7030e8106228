"""What people must not be able to do, tried in the browser the way they would try it."""

from __future__ import annotations

import re

import pytest
from django.conf import settings
from playwright.sync_api import Page, expect

from accounts.models import AccountStatus
from renergy.geography import SupplyArea
from tests.e2e.conftest import sign_in
from tests.e2e.facilities import make_facility

pytestmark = pytest.mark.e2e


def test_a_grid_operator_cannot_open_another_areas_facility_by_its_address(
    page: Page, orgs, ready_person, shot
) -> None:
    tokyo_staff = ready_person(orgs.grid_tokyo)
    make_facility("F000000101", supply_area=SupplyArea.TOKYO, prefecture_code="13", plant_name="東京湾岸太陽光")
    make_facility("F000000202", supply_area=SupplyArea.KANSAI, prefecture_code="27", plant_name="関西ひみつ発電所")

    sign_in(page, tokyo_staff)
    page.get_by_role("navigation", name="メインメニュー").get_by_role("link", name="認定設備の検索").click()
    expect(page.locator("table tbody tr")).to_have_count(1)
    expect(page.get_by_role("main")).not_to_contain_text("関西ひみつ発電所")
    shot(page, "own-area-only")

    # The export holds the same area, and only the columns a grid operator may see.
    with page.expect_download() as download_info:
        page.get_by_role("button", name="CSV で出力").click()
    exported = download_info.value.path().read_text(encoding="utf-8-sig")
    assert "F000000101" in exported
    assert "F000000202" not in exported
    assert "山田 太郎" not in exported and "設置者名" not in exported

    page.goto("/facilities/F000000101/")
    expect(page.get_by_role("heading", level=1)).to_contain_text("F000000101")
    # The grid operator's view leaves out what the policy keeps from them (representative name).
    expect(page.get_by_role("main")).not_to_contain_text("山田 太郎")
    shot(page, "own-area-facility")

    response = page.goto("/facilities/F000000202/")
    assert response is not None and response.status == 404
    expect(page.get_by_role("heading", level=1)).to_have_text("ページが見つかりません")
    expect(page.get_by_role("main")).not_to_contain_text("関西ひみつ発電所")
    # Still signed in, with a way back: the 404 keeps the person's menu.
    expect(page.get_by_role("navigation", name="メインメニュー")).to_be_visible()
    shot(page, "other-area-not-found")

    # Same answer for a facility that does not exist at all: the page does not reveal which is which.
    page.goto("/facilities/F999999999/")
    expect(page.get_by_role("heading", level=1)).to_have_text("ページが見つかりません")


def test_a_grid_operator_who_types_the_administrators_address_gets_the_plain_forbidden_page(
    page: Page, orgs, ready_person, shot
) -> None:
    sign_in(page, ready_person(orgs.grid_tokyo, officer=True))
    for path in ["/manage/requests/", "/audit/log/", "/facilities/imports/new/"]:
        response = page.goto(path)
        assert response is not None and response.status == 403, path
        expect(page.get_by_role("heading", level=1)).to_have_text("このページを表示する権限がありません")
        expect(page.get_by_role("main")).not_to_contain_text("PermissionDenied")
        expect(page.locator(".main-nav [aria-current]")).to_have_count(0)
    shot(page, "forbidden")


def test_a_suspended_person_cannot_sign_in(page: Page, orgs, ready_person, shot) -> None:
    person = ready_person(orgs.operator_a, status=AccountStatus.SUSPENDED)
    page.goto("/login/")
    page.get_by_label("メールアドレス", exact=True).fill(person.email)
    page.get_by_label("パスワード", exact=True).fill(person.password)
    page.get_by_role("button", name="次へ").click()
    expect(page.get_by_role("alert")).to_be_visible()
    expect(page.get_by_label("認証コード")).to_have_count(0)
    expect(page.get_by_role("button", name="サインアウト")).to_have_count(0)
    shot(page, "suspended-refused")

    page.goto("/facilities/")
    expect(page).to_have_url(re.compile(r"/login/"))


def test_a_person_suspended_while_signed_in_is_signed_out_at_the_next_click(
    page: Page, orgs, ready_person, shot
) -> None:
    person = ready_person(orgs.operator_a)
    sign_in(page, person)
    person.user.status = AccountStatus.SUSPENDED
    person.user.save(update_fields=["status"])

    page.get_by_role("navigation", name="メインメニュー").get_by_role("link", name="認定設備の検索").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("サインイン")
    expect(page.get_by_role("button", name="サインアウト")).to_have_count(0)
    shot(page, "signed-out-after-suspension")


def test_repeated_wrong_passwords_lead_to_the_lockout_page(page: Page, orgs, ready_person, shot) -> None:
    person = ready_person(orgs.operator_a)
    page.goto("/login/")
    for _attempt in range(settings.AXES_FAILURE_LIMIT):
        page.get_by_label("メールアドレス", exact=True).fill(person.email)
        page.get_by_label("パスワード", exact=True).fill("not the password at all")
        page.get_by_role("button", name="次へ").click()
        if page.get_by_role("heading", name="サインインが一時的にロックされています").count():
            break
    shot(page, "after-wrong-passwords")

    # Even the right password is refused now, with the lockout page and what to do about it.
    page.goto("/login/")
    page.get_by_label("メールアドレス", exact=True).fill(person.email)
    page.get_by_label("パスワード", exact=True).fill(person.password)
    page.get_by_role("button", name="次へ").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("サインインが一時的にロックされています")
    expect(page.get_by_role("main")).to_contain_text("システム利用責任者")
    expect(page.get_by_label("認証コード")).to_have_count(0)
    shot(page, "locked-out")

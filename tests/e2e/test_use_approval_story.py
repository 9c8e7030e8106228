"""One per-use approval (都度承認) in the browser, as the people involved live it:

the administrator turns per-use approval on for a grid operator → a member of its staff signs in and can do
nothing but ask → they ask (purpose, 30 minutes) → an officer of the same organisation approves in the
officer console → the person hears of it by e-mail and searches facilities → the window ends and the next
page asks them to request again.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core import mail
from django.utils import timezone
from playwright.sync_api import Page, expect

from accounts.models import UseRequest
from renergy.geography import SupplyArea
from tests.e2e.conftest import Contexts, sign_in
from tests.e2e.facilities import make_facility

pytestmark = pytest.mark.e2e


def _menu(page: Page, name: str) -> None:
    page.get_by_role("navigation", name="メインメニュー").get_by_role("link", name=name).click()


def test_a_person_asks_an_officer_approves_the_person_uses_and_the_window_ends(
    contexts: Contexts, page: Page, orgs, ready_person, shot
) -> None:
    grid = orgs.grid_tokyo
    administrator = ready_person(orgs.contractor, name="委託 管理者")
    staff = ready_person(grid, name="送配 花子")
    officer = ready_person(grid, officer=True, name="責任 一郎")
    make_facility("F000000101", supply_area=SupplyArea.TOKYO, prefecture_code="13", plant_name="多摩太陽光発電所")

    # 1. The administrator turns per-use approval on for the grid operator, with a reason.
    admin_page = contexts.new_page()
    sign_in(admin_page, administrator)
    _menu(admin_page, "組織管理")
    admin_page.get_by_role("link", name=f"{grid.name}の利用の制限を変更").click()
    admin_page.get_by_label("利用の都度、システム利用責任者の承認を求める（都度承認）").check()
    admin_page.get_by_label("1回の承認で利用できる最長時間（分）").fill("60")
    admin_page.get_by_label("変更理由").fill("再発防止策: 都度承認の導入")
    shot(admin_page, "admin-turns-on-per-use-approval")
    admin_page.get_by_role("button", name="保存").click()
    expect(admin_page.get_by_role("status")).to_contain_text("利用の制限を保存しました")

    # 2. The person signs in: without an approval every page refuses them and links to the request form.
    sign_in(page, staff)
    expect(page.get_by_role("heading", level=1)).to_have_text("利用には承認が必要です")
    shot(page, "person-must-ask")
    page.get_by_role("link", name="利用を申請する").click()
    page.get_by_label("利用目的（業務内容）").fill("FIT買取実績の照合")
    page.get_by_label("利用時間（分）").fill("30")
    shot(page, "person-asks")
    page.get_by_role("button", name="申請する").click()
    expect(page.get_by_role("status")).to_contain_text("申請しました")
    shot(page, "person-waits")

    # 3. An officer of the same organisation approves it in the officer console.
    officer_page = contexts.new_page()
    sign_in(officer_page, officer)
    _menu(officer_page, "利用申請の承認")
    row = officer_page.get_by_role("row").filter(has_text="FIT買取実績の照合")
    expect(row).to_contain_text("送配 花子")
    shot(officer_page, "officer-sees-the-request")
    row.get_by_role("button", name="送配 花子 さんの申請を承認").click()
    expect(officer_page.get_by_role("status")).to_contain_text("承認しました")
    shot(officer_page, "officer-approved")

    # 4. The person is told by e-mail and uses the system.
    [message] = [m for m in mail.outbox if m.to == [staff.email] and "審査結果" in m.subject]
    assert "承認されました" in message.body
    page.goto("/use/")
    expect(page.get_by_text("承認された利用時間中です")).to_be_visible()
    page.get_by_role("link", name="利用を始める").click()
    _menu(page, "認定設備の検索")
    expect(page.get_by_role("heading", level=1)).to_have_text("認定設備の検索")
    expect(page.get_by_text("多摩太陽光発電所")).to_be_visible()
    shot(page, "person-uses-the-system")

    # 5. Thirty minutes later the window has ended: the next page asks them to request again.
    UseRequest.objects.filter(user=staff.user).update(window_end=timezone.now() - timedelta(seconds=1))
    page.reload()
    expect(page.get_by_role("heading", level=1)).to_have_text("利用には承認が必要です")
    shot(page, "window-ended")

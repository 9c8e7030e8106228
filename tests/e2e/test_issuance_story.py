"""The whole issuance story in one browser run, as the people involved live it:

an officer requests an account → the system administrator approves → the activation e-mail arrives →
the newcomer sets a password, enrols an authenticator from the secret shown as text, keeps the recovery
codes, accepts the terms → searches facilities, opens one, exports CSV → signs out.
"""

from __future__ import annotations

import csv
import io
import re

import pytest
from django.core import mail
from playwright.sync_api import Page, expect

from renergy.geography import SupplyArea
from tests.e2e.conftest import Contexts, sign_in, totp_code_from_secret
from tests.e2e.facilities import make_facility

pytestmark = pytest.mark.e2e

NEWCOMER_EMAIL = "hanako.suzuki@enecho.example.go.jp"
NEWCOMER_PASSWORD = "solar-panels-in-the-morning-2026"


def test_an_account_goes_from_request_to_first_export(contexts: Contexts, page: Page, orgs, ready_person, shot) -> None:
    officer = ready_person(orgs.agency, officer=True, name="経産 一郎")
    administrator = ready_person(orgs.contractor, name="委託 管理者")
    make_facility("F000000001", supply_area=SupplyArea.TOKYO, prefecture_code="13", plant_name="霞が関太陽光発電所")
    make_facility("F000000002", supply_area=SupplyArea.KANSAI, prefecture_code="27", plant_name="大阪湾風力発電所")

    # 1. The agency's responsibility officer requests an account for a new colleague.
    sign_in(page, officer)
    shot(page, "officer-home")
    page.get_by_role("navigation", name="メインメニュー").get_by_role("link", name="アカウントの申請").click()
    page.get_by_label("メールアドレス", exact=True).fill(NEWCOMER_EMAIL)
    page.get_by_label("氏名", exact=True).fill("鈴木 花子")
    page.get_by_label("部署").fill("再生可能エネルギー課")
    page.get_by_label("申請理由").fill("FIT認定業務の担当者として着任したため")
    shot(page, "officer-request-filled")
    page.get_by_role("button", name="申請する").click()
    expect(page.get_by_role("status")).to_contain_text("申請しました")
    shot(page, "officer-request-sent")

    # 2. The system administrator approves it.
    admin_page = contexts.new_page()
    sign_in(admin_page, administrator)
    admin_page.get_by_role("navigation", name="メインメニュー").get_by_role("link", name="申請の審査").click()
    row = admin_page.get_by_role("row").filter(has_text=NEWCOMER_EMAIL)
    expect(row).to_contain_text("鈴木 花子")
    shot(admin_page, "admin-pending-request")
    row.get_by_role("button", name="承認").click()
    expect(admin_page.get_by_role("status")).to_contain_text("承認しました")
    shot(admin_page, "admin-approved")

    # 3. The activation e-mail arrives, addressed to the person alone.
    [message] = [m for m in mail.outbox if NEWCOMER_EMAIL in m.to]
    assert message.to == [NEWCOMER_EMAIL]
    link = re.search(r"https?://\S+/activate/\S+", str(message.body))
    assert link, message.body
    path = "/" + link.group(0).split("/", 3)[3]

    # 4. The newcomer activates: password, authenticator (secret as text), recovery codes, terms.
    newcomer = contexts.new_page()
    newcomer.goto(path)
    expect(newcomer.get_by_role("heading", level=1)).to_have_text("パスワードの設定")
    newcomer.get_by_label("新しいパスワード", exact=True).fill(NEWCOMER_PASSWORD)
    newcomer.get_by_label("新しいパスワード（確認）").fill(NEWCOMER_PASSWORD)
    shot(newcomer, "newcomer-password")
    newcomer.get_by_role("button", name="設定して次へ").click()

    expect(newcomer.get_by_role("heading", level=1)).to_have_text("認証アプリの登録")
    secret = newcomer.locator("figure.qr code").inner_text()
    assert re.fullmatch(r"[A-Z2-7 ]{16,}", secret), secret
    shot(newcomer, "newcomer-authenticator")
    newcomer.get_by_label("認証コード").fill(totp_code_from_secret(secret))
    newcomer.get_by_role("button", name="確認して登録").click()

    expect(newcomer.get_by_role("heading", level=1)).to_have_text("リカバリーコード")
    codes = newcomer.locator(".recovery-codes li").all_inner_texts()
    assert len(codes) == 10 and len(set(codes)) == 10
    shot(newcomer, "newcomer-recovery-codes")
    newcomer.get_by_role("link", name="保管しました。次へ").click()

    expect(newcomer.get_by_role("heading", level=1)).to_contain_text("利用規約")
    newcomer.get_by_label("上記の利用規約に同意します").check()
    shot(newcomer, "newcomer-terms")
    newcomer.get_by_role("button", name="同意して利用する").click()
    expect(newcomer.get_by_role("heading", level=1)).to_contain_text("鈴木 花子")
    # Dates and times read the Japanese way, in JST (the sign-in just made is listed on the home page).
    expect(newcomer.get_by_role("main")).to_contain_text(re.compile(r"\d{4}年\d{1,2}月\d{1,2}日 \d{1,2}:\d{2}"))
    shot(newcomer, "newcomer-home")

    # 5. Work: search, open a facility, export what was found.
    menu = newcomer.get_by_role("navigation", name="メインメニュー")
    menu.get_by_role("link", name="認定設備の検索").click()
    newcomer.get_by_label("発電所名・事業者名").fill("霞が関")
    newcomer.get_by_role("button", name="検索", exact=True).click()
    results = newcomer.locator("table tbody tr")
    expect(results).to_have_count(1)
    expect(results.first).to_contain_text("F000000001")
    expect(menu.get_by_role("link", name="認定設備の検索")).to_have_attribute("aria-current", "page")
    shot(newcomer, "newcomer-search")

    results.first.get_by_role("link", name="F000000001").click()
    expect(newcomer.get_by_role("heading", level=1)).to_contain_text("F000000001")
    expect(newcomer.get_by_role("main")).to_contain_text("霞が関太陽光発電所")
    shot(newcomer, "newcomer-facility-detail")

    newcomer.go_back()
    with newcomer.expect_download() as download_info:
        newcomer.get_by_role("button", name="CSV で出力").click()
    download = download_info.value
    assert download.suggested_filename == "facilities.csv"
    content = download.path().read_text(encoding="utf-8-sig")
    rows = list(csv.reader(io.StringIO(content)))
    assert len(rows) == 2, rows  # header + the one facility the search found
    assert rows[0][0] == "設備ID"
    assert "F000000001" in rows[1]
    assert not any("F000000002" in cell for row in rows for cell in row)

    # 6. Sign out: the session is over, facility pages ask for sign-in again.
    newcomer.get_by_role("button", name="サインアウト").click()
    expect(newcomer.get_by_role("heading", level=1)).to_have_text("サインイン")
    shot(newcomer, "newcomer-signed-out")
    newcomer.goto("/facilities/")
    expect(newcomer).to_have_url(re.compile(r"/login/\?next="))

"""One access review (アカウント棚卸し) in the browser, as the people involved live it:

the round opens and the officer's e-mail arrives → the officer opens the review from it, sees each person's
last use, confirms the colleague who still needs access and leaves the one who moved → the administrator
confirms the officer and watches completion per organisation → the deadline job suspends the one left
unconfirmed, and the administrator's page shows it.
"""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.core import mail
from playwright.sync_api import Page, expect

from accounts.access_review import access_review_sweep
from accounts.models import AccessReview, AccountStatus, User
from tests.e2e.conftest import Contexts, sign_in

pytestmark = pytest.mark.e2e


def test_an_officer_confirms_one_person_leaves_another_and_the_deadline_suspends_them(
    contexts: Contexts, page: Page, orgs, ready_person, shot
) -> None:
    from django.utils import timezone

    officer = ready_person(orgs.grid_tokyo, officer=True, name="送配 責任者")
    administrator = ready_person(orgs.contractor, officer=True, name="委託 管理者")
    stays = ready_person(orgs.grid_tokyo, name="継続 太郎", last_activity_at=timezone.now() - timedelta(days=2))
    moved = ready_person(orgs.grid_tokyo, name="異動 花子", last_activity_at=timezone.now() - timedelta(days=75))

    # 1. The daily job opens this quarter's round; the officer's e-mail points at the review.
    access_review_sweep()
    [message] = [m for m in mail.outbox if officer.email in m.to]
    assert "棚卸し" in message.subject
    link = re.search(r"https?://[^/\s]+(/\S*access-review/)", str(message.body))
    assert link, message.body
    path = link.group(1)

    sign_in(page, officer)
    page.goto(path)
    expect(page.get_by_role("heading", level=1)).to_contain_text("アカウント棚卸し")
    moved_row = page.get_by_role("row").filter(has_text=moved.email)
    last_use = timezone.localtime(moved.user.last_activity_at).strftime("%Y-%m-%d %H:%M")
    expect(moved_row).to_contain_text(last_use)
    shot(page, "officer-review-open")

    # 2. The officer confirms the colleague who still needs access and leaves the one who moved.
    page.get_by_role("button", name="継続 太郎 の継続利用を確認").click()
    expect(page.get_by_role("status")).to_contain_text("継続利用を確認しました")
    expect(page.get_by_role("row").filter(has_text=stays.email)).to_contain_text("継続利用を確認")
    expect(page.get_by_role("row").filter(has_text=moved.email)).to_contain_text("未確認")
    # Nobody confirms themself: the officer's own line has no button.
    expect(page.get_by_role("row").filter(has_text=officer.email).get_by_role("button")).to_have_count(0)
    shot(page, "officer-confirmed-one")

    # 3. The administrator confirms the officer and sees the organisation's progress.
    admin_page = contexts.new_page()
    sign_in(admin_page, administrator)
    admin_page.get_by_role("navigation", name="メインメニュー").get_by_role("link", name="棚卸しの状況").click()
    row = admin_page.get_by_role("row").filter(has_text=orgs.grid_tokyo.name)
    expect(row).to_contain_text("受付中")
    row.get_by_role("link", name=orgs.grid_tokyo.name).click()
    admin_page.get_by_role("button", name="送配 責任者 の継続利用を確認").click()
    expect(admin_page.get_by_role("status")).to_contain_text("継続利用を確認しました")
    shot(admin_page, "admin-confirmed-officer")

    # 4. The deadline passes; the daily job suspends the person nobody confirmed, and only them.
    review = AccessReview.objects.get(organisation=orgs.grid_tokyo)
    access_review_sweep(now=review.deadline + timedelta(minutes=5))
    assert User.objects.get(pk=moved.user.pk).status == AccountStatus.SUSPENDED
    assert User.objects.get(pk=stays.user.pk).status == AccountStatus.ACTIVE
    assert User.objects.get(pk=officer.user.pk).status == AccountStatus.ACTIVE

    admin_page.goto("/manage/access-reviews/")
    row = admin_page.get_by_role("row").filter(has_text=orgs.grid_tokyo.name)
    expect(row).to_contain_text("締切済み")
    expect(row.get_by_role("cell").nth(7)).to_have_text("1")  # suspended after the deadline
    shot(admin_page, "admin-after-deadline")

    page.reload()
    expect(page.get_by_role("row").filter(has_text=moved.email)).to_contain_text("期限までに未確認のため停止")
    shot(page, "officer-after-deadline")

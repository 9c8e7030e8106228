"""Security keys in Chromium, with a virtual authenticator (Chrome DevTools Protocol, WebAuthn domain).

A person enrols a key behind their password, names it, signs out, signs in with the password and the
key, and removes it; a colleague who knows the person's password and presents their own key is refused.
The plugin's script runs as a static file under the strict CSP (the page fixture fails on any violation).
"""

from __future__ import annotations

import base64
import json
import re
from urllib.parse import urlsplit

import pytest
from django_otp_webauthn.models import WebAuthnCredential
from playwright.sync_api import BrowserContext, CDPSession, Page, Route, expect

from accounts.mfa import recovery_codes_regenerate
from audit.models import SecurityEvent
from tests.e2e.conftest import Contexts, Person, sign_in, totp_code

pytestmark = pytest.mark.e2e


@pytest.fixture(autouse=True)
def _relying_party_is_the_live_server(settings, live_server) -> None:
    # The live server listens on a port of its own; keys are made for that origin (SITE_URL in a deployment).
    settings.OTP_WEBAUTHN_RP_ID = urlsplit(live_server.url).hostname
    settings.OTP_WEBAUTHN_ALLOWED_ORIGINS = [live_server.url]


def virtual_key(context: BrowserContext, page: Page) -> tuple[CDPSession, str]:
    """A USB security key plugged into this browser tab; touching it is simulated when the browser asks."""
    cdp = context.new_cdp_session(page)
    cdp.send("WebAuthn.enable", {"enableUI": False})
    added = cdp.send(
        "WebAuthn.addVirtualAuthenticator",
        {
            "options": {
                "protocol": "ctap2",
                "transport": "usb",
                "hasResidentKey": True,
                "hasUserVerification": True,
                "isUserVerified": True,
                "automaticPresenceSimulation": True,
            }
        },
    )
    return cdp, added["authenticatorId"]


def enrol_through_the_account_page(page: Page, person: Person, name: str, shot=None) -> None:
    page.get_by_role("link", name="アカウント情報").first.click()
    page.get_by_role("link", name="セキュリティキーを登録する").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("セキュリティキーの登録")
    page.get_by_label("現在のパスワード").fill(person.password)
    page.get_by_role("button", name="続ける").click()
    expect(page.get_by_role("heading", name="登録の手順")).to_be_visible()
    # The plugin's script puts the button in after load: the shot shows the page as a person sees it.
    expect(page.get_by_role("button", name="セキュリティキーを登録する")).to_be_visible()
    if shot:
        shot(page, "enrol-instructions")
    page.get_by_role("button", name="セキュリティキーを登録する").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("セキュリティキーを登録しました")
    if shot:
        shot(page, "enrolled-name-the-key")
    page.get_by_label("キーの名前").fill(name)
    page.get_by_role("button", name="名前を保存").click()
    expect(page.get_by_role("table").filter(has_text=name)).to_be_visible()


def password_step(page: Page, person: Person) -> None:
    page.goto("/login/")
    page.get_by_label("メールアドレス", exact=True).fill(person.email)
    page.get_by_label("パスワード", exact=True).fill(person.password)
    page.get_by_role("button", name="次へ").click()


def test_a_key_is_enrolled_used_to_sign_in_and_removed(
    contexts: Contexts, context: BrowserContext, page: Page, orgs, ready_person, shot
) -> None:
    person = ready_person(orgs.agency, name="経産 花子")
    virtual_key(context, page)

    sign_in(page, person)
    enrol_through_the_account_page(page, person, "青いUSBキー", shot)
    shot(page, "account-lists-the-key")
    credential = WebAuthnCredential.objects.get(user=person.user)
    assert credential.name == "青いUSBキー" and not credential.backup_eligible

    page.get_by_role("button", name="サインアウト").click()
    password_step(page, person)
    expect(page.get_by_role("heading", level=1)).to_have_text("本人確認")
    expect(page.get_by_role("button", name="セキュリティキーでサインイン")).to_be_visible()
    shot(page, "signin-with-key")
    page.get_by_role("button", name="セキュリティキーでサインイン").click()
    expect(page.get_by_role("button", name="サインアウト")).to_be_visible()
    expect(page.get_by_role("heading", level=1)).to_contain_text("経産 花子")
    shot(page, "signed-in-with-key")
    login = SecurityEvent.objects.filter(action="auth.login", target_user=person.user).latest("id")
    assert login.data["method"] == "webauthn"
    assert login.data["credential_id_sha256"] == credential.credential_id_sha256

    # Removing it asks for the password again; the session it signed in ends with it.
    page.get_by_role("link", name="アカウント情報").first.click()
    page.get_by_role("link", name="「青いUSBキー」を削除").click()
    page.get_by_label("現在のパスワード").fill(person.password)
    page.get_by_role("button", name="続ける").click()
    shot(page, "remove-confirm")
    page.get_by_role("button", name="削除する").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("サインイン")
    assert not WebAuthnCredential.objects.filter(user=person.user).exists()
    assert SecurityEvent.objects.filter(action="mfa.webauthn_removed", target_user=person.user).exists()

    # Without a key the second step is the authenticator app again; a recovery code works there too (the app's
    # code of this 30-second step was used at the first sign-in and, rightly, works only once).
    [recovery_code, *_others] = recovery_codes_regenerate(user=person.user)
    password_step(page, person)
    expect(page.get_by_role("heading", level=1)).to_have_text("認証コードの入力")
    page.get_by_label("認証コード").fill(recovery_code)
    page.get_by_role("button", name="サインイン", exact=True).click()
    expect(page.get_by_role("button", name="サインアウト")).to_be_visible()


def test_a_colleagues_key_is_refused_at_the_persons_sign_in(
    contexts: Contexts, context: BrowserContext, page: Page, orgs, ready_person, shot
) -> None:
    person = ready_person(orgs.grid_tokyo, name="東電 太郎")
    colleague = ready_person(orgs.grid_tokyo, name="同僚 次郎")
    virtual_key(context, page)
    sign_in(page, person)
    enrol_through_the_account_page(page, person, "太郎のキー")

    # The colleague, at their own computer with their own key, has been given the person's password.
    other_context = contexts.new()
    other = other_context.new_page()
    cdp, authenticator = virtual_key(other_context, other)
    sign_in(other, colleague)
    enrol_through_the_account_page(other, colleague, "次郎のキー")
    other.get_by_role("button", name="サインアウト").click()
    [held] = cdp.send("WebAuthn.getCredentials", {"authenticatorId": authenticator})["credentials"]
    colleague_id = base64.urlsafe_b64encode(base64.b64decode(held["credentialId"])).decode().rstrip("=")

    # A browser offers only the keys the server lists for the person, so the colleague's key would never be
    # asked. A modified client lists the colleague's key instead; the server must refuse it.
    def offer_colleagues_key(route: Route) -> None:
        response = route.fetch()
        options = response.json()
        options["allowCredentials"] = [{"id": colleague_id, "type": "public-key", "transports": ["usb"]}]
        route.fulfill(response=response, body=json.dumps(options), content_type="application/json")

    other.route(re.compile(r".*/login/key/begin/$"), offer_colleagues_key)
    password_step(other, Person(user=person.user, device=person.device))
    other.get_by_role("button", name="セキュリティキーでサインイン").click()
    expect(other.locator("#passkey-verification-status-message")).to_have_text(
        "このキーは、このアカウントに登録されたものではありません。"
    )
    shot(other, "colleagues-key-refused")
    other.goto("/account/")
    expect(other.get_by_role("heading", level=1)).to_have_text("サインイン")

    refused = SecurityEvent.objects.get(action="auth.mfa_failed", target_user=person.user)
    assert refused.data["method"] == "webauthn" and refused.data["reason"] == "credential_user_mismatch"
    assert refused.data["credential_owner"] == colleague.user.pk


def test_where_the_administrator_requires_keys_people_enrol_one_and_the_app_stops_working(
    contexts: Contexts, context: BrowserContext, page: Page, orgs, ready_person, shot
) -> None:
    administrator = ready_person(orgs.contractor, name="委託 管理者")
    person = ready_person(orgs.bureau, name="関東 三郎")

    admin_page = contexts.new_page()
    sign_in(admin_page, administrator)
    admin_page.get_by_role("navigation", name="メインメニュー").get_by_role("link", name="組織管理").click()
    admin_page.get_by_role("link", name=f"{orgs.bureau.name}の二要素認証の方針を変更").click()
    admin_page.get_by_label("セキュリティキー必須").check()
    admin_page.get_by_label("端末に固定されたキーのみ認める").check()
    shot(admin_page, "admin-sets-keys-required")
    admin_page.get_by_role("button", name="保存").click()
    expect(admin_page.get_by_role("row").filter(has_text=orgs.bureau.name)).to_contain_text("セキュリティキー必須")
    assert SecurityEvent.objects.filter(
        action="organisation.second_factor_policy_changed", organisation=orgs.bureau, actor=administrator.user
    ).exists()

    # At the next sign-in (password + app code) the person is led to enrol a key before anything else.
    virtual_key(context, page)
    sign_in(page, person)
    expect(page.get_by_role("heading", level=1)).to_have_text("セキュリティキーの登録")
    page.get_by_role("link", name="認定設備の検索").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("セキュリティキーの登録")
    page.get_by_label("現在のパスワード").fill(person.password)
    page.get_by_role("button", name="続ける").click()
    expect(page.get_by_role("status").filter(has_text="セキュリティキーの登録が必要です")).to_be_visible()
    expect(page.get_by_role("main")).to_contain_text("他の端末に同期されるパスキー")
    shot(page, "required-enrolment")
    page.get_by_role("button", name="セキュリティキーを登録する").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("セキュリティキーを登録しました")
    page.get_by_role("button", name="名前を保存").click()
    # Where only device-bound keys count, the key was asked to state what it is; its flags say it cannot sync.
    credential = WebAuthnCredential.objects.select_related("attestation").get(user=person.user)
    assert not credential.backup_eligible and not credential.backup_state
    assert credential.attestation.fmt != "none"
    expect(page.get_by_role("table").first).to_contain_text(f"この端末・キーのみ（{credential.attestation.fmt}）")
    page.get_by_role("button", name="サインアウト").click()

    # From now on the app's code is refused; the key (or a recovery code) signs in.
    password_step(page, person)
    expect(page.get_by_label("リカバリーコード")).to_be_visible()
    page.get_by_label("リカバリーコード").fill(totp_code(person.device))
    page.get_by_role("button", name="サインイン", exact=True).click()
    expect(page.get_by_role("alert")).to_contain_text("認証アプリのコードではサインインできません")
    expect(page.get_by_label("リカバリーコード")).to_be_visible()
    shot(page, "app-code-refused")
    page.get_by_role("button", name="セキュリティキーでサインイン").click()
    expect(page.get_by_role("button", name="サインアウト")).to_be_visible()

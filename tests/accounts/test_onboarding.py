"""Issuance in the browser: officer request → administrator approval → link → password → TOTP → terms → active."""

from __future__ import annotations

import re
import time
from datetime import timedelta

import pytest
import time_machine
from django.core import mail
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from django_otp.oath import TOTP
from django_otp.plugins.otp_static.models import StaticDevice
from django_otp.plugins.otp_totp.models import TOTPDevice

from accounts.lifecycle import account_request_approve, account_request_create
from accounts.models import AccountStatus, TermsAcceptance, User
from tests.accounts.conftest import login_steps, totp_code

pytestmark = pytest.mark.django_db
NEW_PASSWORD = "a long and quiet river at dawn"


def _code_for_pending(client: Client, user: User) -> str:
    device = TOTPDevice.objects.get(pk=client.session["mfa_enrol_device_id"], user=user)
    return f"{TOTP(device.bin_key, device.step, device.t0, device.digits, device.drift).token():06d}"


def _invitation() -> mail.EmailMessage:
    """The last activation e-mail (the officer who asked also hears of the approval, without the link)."""
    return [message for message in mail.outbox if "/activate/" in message.body][-1]


def _link_from_mail() -> str:
    body = str(_invitation().body)
    match = re.search(r"http://testserver(/activate/[^/\s]+/)", body)
    assert match, body
    return match.group(1)


def test_the_whole_issuance_in_the_browser(
    officer_a, administrator, signed_in_client, django_capture_on_commit_callbacks, settings
) -> None:
    settings.SITE_URL = "http://testserver"
    officer = signed_in_client(officer_a)
    response = officer.post(
        reverse("accounts:officer_request"),
        {"email": "New.Person@Example.jp", "name": "新任 太郎", "department": "FIT室", "reason": "買取業務担当"},
    )
    assert response.status_code == 302, response.content.decode()[:2000]

    admin = signed_in_client(administrator)
    page = admin.get(reverse("accounts:admin_requests"))
    assert "new.person@example.jp" in page.content.decode()
    approve = re.search(r"/manage/requests/(\d+)/approve/", page.content.decode())
    assert approve is not None
    request_pk = int(approve.group(1))
    with django_capture_on_commit_callbacks(execute=True):
        assert admin.post(reverse("accounts:admin_request_decide", args=[request_pk, "approve"])).status_code == 302
    person = User.objects.get(email="new.person@example.jp")
    assert person.status == AccountStatus.INVITED
    assert not person.has_usable_password()
    message = _invitation()
    assert message.to == ["new.person@example.jp"]
    assert message.body.index("様") < message.body.index("Dear")  # Japanese first, English below
    assert "password" not in message.body.lower().split("dear")[0]  # no password in the mail

    browser = Client()
    response = browser.get(_link_from_mail())
    assert response.status_code == 302 and response["Location"] == reverse("accounts:activate_password")
    weak = browser.post(response["Location"], {"new_password1": "short", "new_password2": "short"})
    assert weak.status_code == 200 and "error-summary" in weak.content.decode()
    response = browser.post(
        reverse("accounts:activate_password"), {"new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD}
    )
    assert response["Location"] == reverse("accounts:onboarding_authenticator")
    # Not usable yet: the gate sends an INVITED person back to the next onboarding step.
    assert browser.get(reverse("accounts:home"))["Location"] == reverse("accounts:onboarding_authenticator")
    page = browser.get(reverse("accounts:onboarding_authenticator"))
    assert page.status_code == 200 and "<svg" in page.content.decode()
    wrong = browser.post(reverse("accounts:onboarding_authenticator"), {"code": "000000"})
    assert wrong.status_code == 400
    time.sleep(1.1)  # django-otp throttles the device for 1 s after a wrong code
    codes_page = browser.post(
        reverse("accounts:onboarding_authenticator"), {"code": _code_for_pending(browser, person)}
    )
    assert codes_page.status_code == 200
    assert StaticDevice.objects.get(user=person).recovery_codes.count() == 10
    assert TOTPDevice.objects.filter(user=person, confirmed=True).count() == 1
    assert browser.get(reverse("accounts:home"))["Location"].startswith(reverse("accounts:terms"))
    assert browser.post(reverse("accounts:terms"), {}).status_code == 200  # must tick the box
    response = browser.post(reverse("accounts:terms"), {"agree": "on"}, REMOTE_ADDR="192.0.2.5")
    assert response.status_code == 302
    person.refresh_from_db()
    assert person.status == AccountStatus.ACTIVE and person.activated_at is not None
    assert TermsAcceptance.objects.get(user=person).ip_address == "192.0.2.5"
    assert browser.get(reverse("accounts:home")).status_code == 200

    # And from now on the normal sign-in works with the new password and the enrolled device.
    device = TOTPDevice.objects.get(user=person, confirmed=True)
    assert login_steps(Client(), person, password=NEW_PASSWORD, code=totp_code(device, offset=1)).status_code == 302


def _invited(officer_a, administrator) -> tuple[User, str]:
    account_request = account_request_create(officer=officer_a, email="invitee@example.jp", name="招待 花子")
    return account_request_approve(account_request=account_request, actor=administrator)


def test_a_used_activation_link_does_not_work_again(officer_a, administrator) -> None:
    _person, token = _invited(officer_a, administrator)
    browser = Client()
    browser.get(reverse("accounts:activate", args=[token]))
    browser.post(reverse("accounts:activate_password"), {"new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD})
    again = Client()
    assert again.get(reverse("accounts:activate", args=[token])).status_code == 410


def test_an_expired_activation_link_does_not_work(officer_a, administrator, settings) -> None:
    _person, token = _invited(officer_a, administrator)
    later = timezone.now() + timedelta(hours=settings.ACCOUNT_ACTIVATION_LINK_HOURS, minutes=1)
    with time_machine.travel(later):
        assert Client().get(reverse("accounts:activate", args=[token])).status_code == 410


def test_an_expired_link_opened_in_time_cannot_be_completed_late(officer_a, administrator, settings) -> None:
    person, token = _invited(officer_a, administrator)
    browser = Client()
    browser.get(reverse("accounts:activate", args=[token]))
    later = timezone.now() + timedelta(hours=settings.ACCOUNT_ACTIVATION_LINK_HOURS, minutes=1)
    with time_machine.travel(later):
        response = browser.post(
            reverse("accounts:activate_password"), {"new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD}
        )
    assert response.status_code == 410
    person.refresh_from_db()
    assert not person.has_usable_password()


def test_a_resent_link_replaces_the_old_one(officer_a, administrator) -> None:
    from accounts.lifecycle import account_activation_resend

    person, old = _invited(officer_a, administrator)
    new = account_activation_resend(user=person, actor=officer_a)
    assert Client().get(reverse("accounts:activate", args=[old])).status_code == 410
    assert Client().get(reverse("accounts:activate", args=[new])).status_code == 302


def test_an_invited_person_cannot_enrol_a_device_from_a_password_only_login(officer_a, administrator) -> None:
    person, token = _invited(officer_a, administrator)
    first = Client()
    first.get(reverse("accounts:activate", args=[token]))
    first.post(reverse("accounts:activate_password"), {"new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD})
    # Abandoned before the authenticator. Weeks later, someone with the password alone tries again.
    with time_machine.travel(timezone.now() + timedelta(days=21)):
        later = Client()
        response = login_steps(later, person, password=NEW_PASSWORD)
        assert response.status_code == 400
        assert "有効化リンクの再発行" in response.content.decode()
        assert later.get(reverse("accounts:onboarding_authenticator")).status_code == 302
        assert not TOTPDevice.objects.filter(user=person).exists()
        # Even the original session cannot enrol once the activation context is stale.
        assert first.get(reverse("accounts:onboarding_authenticator")).status_code in (302, 403)
    assert not TOTPDevice.objects.filter(user=person, confirmed=True).exists()


def test_the_activation_context_expires_after_an_hour(officer_a, administrator) -> None:
    _person, token = _invited(officer_a, administrator)
    browser = Client()
    browser.get(reverse("accounts:activate", args=[token]))
    browser.post(reverse("accounts:activate_password"), {"new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD})
    # Keep the session alive (idle limit) while the activation context itself runs out.
    for minutes in (25, 50, 61):
        with time_machine.travel(timezone.now() + timedelta(minutes=minutes)):
            response = browser.get(reverse("accounts:onboarding_authenticator"))
    assert response.status_code == 403


def test_the_link_is_built_from_site_url_never_from_the_host_header(
    officer_a, administrator, signed_in_client, django_capture_on_commit_callbacks, settings
) -> None:
    settings.SITE_URL = "https://renergy.example.jp"
    settings.ALLOWED_HOSTS = ["testserver", "attacker.example"]
    account_request = account_request_create(officer=officer_a, email="host@example.jp", name="ホスト 確認")
    admin = signed_in_client(administrator)
    with django_capture_on_commit_callbacks(execute=True):
        admin.post(
            reverse("accounts:admin_request_decide", args=[account_request.pk, "approve"]),
            HTTP_HOST="attacker.example",
        )
    body = _invitation().body
    assert "https://renergy.example.jp/activate/" in body
    assert "attacker.example" not in body

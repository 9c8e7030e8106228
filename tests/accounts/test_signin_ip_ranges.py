"""The organisation's IP ranges are checked before the password: from outside them, the sign-in answers exactly as
for a wrong password, whether the password was right or not."""

from __future__ import annotations

import re

import pytest
from django.conf import settings
from django.test import Client
from django.urls import reverse
from django_otp.plugins.otp_totp.models import TOTPDevice

from audit.models import SecurityEvent
from tests.accounts.conftest import PASSWORD, login_steps, totp_code

pytestmark = pytest.mark.django_db

INSIDE = "192.0.2.10"
OUTSIDE = "198.51.100.7"
# What differs between any two renders of one page: the CSRF token, the CSP nonce, the request id.
VARYING = re.compile(r'(value|nonce|content)="[A-Za-z0-9_\-+/=]{20,}"|[0-9a-f]{32}|[0-9a-f-]{36}')


@pytest.fixture
def restricted(person):
    person.organisation.ip_ranges = "192.0.2.0/24"
    person.organisation.save()
    return person


def _sign_in(email: str, password: str, address: str):
    return Client().post(reverse("accounts:login"), {"username": email, "password": password}, REMOTE_ADDR=address)


def _page(response) -> str:
    return VARYING.sub("…", response.content.decode())


def test_right_and_wrong_passwords_from_outside_the_ranges_get_the_identical_answer(restricted) -> None:
    right = _sign_in(restricted.email, PASSWORD, OUTSIDE)
    wrong = _sign_in(restricted.email, "not the password at all", OUTSIDE)
    assert right.status_code == wrong.status_code == 400
    assert _page(right) == _page(wrong)
    assert sorted(right.cookies) == sorted(wrong.cookies)
    assert "メールアドレスまたはパスワードが正しくありません" in right.content.decode()
    assert "接続元" not in right.content.decode()


def test_the_answer_from_outside_is_the_answer_for_a_wrong_password_from_inside(restricted) -> None:
    outside = _sign_in(restricted.email, PASSWORD, OUTSIDE)
    inside_wrong = _sign_in(restricted.email, "not the password at all", INSIDE)
    assert outside.status_code == inside_wrong.status_code == 400
    assert _page(outside) == _page(inside_wrong)


def test_a_right_password_from_outside_leaves_no_pending_sign_in(restricted) -> None:
    client = Client()
    client.post(reverse("accounts:login"), {"username": restricted.email, "password": PASSWORD}, REMOTE_ADDR=OUTSIDE)
    device = TOTPDevice.objects.get(user=restricted)
    response = client.post(reverse("accounts:login_code"), {"code": totp_code(device)}, REMOTE_ADDR=OUTSIDE)
    assert response.status_code == 302 and response["Location"] == reverse("accounts:login")
    assert client.get(reverse("accounts:home"), REMOTE_ADDR=OUTSIDE).status_code == 302


def test_attempts_from_outside_are_recorded_with_the_address_and_count_toward_the_lockout(restricted) -> None:
    statuses = [_sign_in(restricted.email, PASSWORD, OUTSIDE).status_code for _ in range(settings.AXES_FAILURE_LIMIT)]
    assert statuses[:-1] == [400] * (settings.AXES_FAILURE_LIMIT - 1) and statuses[-1] == 429
    events = SecurityEvent.objects.filter(action="auth.ip_refused", target_user=restricted)
    assert events.count() == settings.AXES_FAILURE_LIMIT
    assert {event.ip for event in events} == {OUTSIDE}
    assert all(event.data["step"] == "password" for event in events)
    # No event says the password was right: nothing recorded differs between right and wrong.
    assert not SecurityEvent.objects.filter(action="auth.login_failed", target_user=restricted).exists()


def test_a_wrong_password_from_outside_is_recorded_as_the_same_refusal(restricted) -> None:
    _sign_in(restricted.email, "not the password at all", OUTSIDE)
    _sign_in(restricted.email, PASSWORD, OUTSIDE)
    data = [event.data for event in SecurityEvent.objects.filter(action="auth.ip_refused").order_by("at")]
    assert data[0] == data[1]


def test_the_right_password_from_inside_the_ranges_still_signs_in(restricted) -> None:
    device = TOTPDevice.objects.get(user=restricted)
    response = login_steps(Client(), restricted, code=totp_code(device), REMOTE_ADDR=INSIDE)
    assert response.status_code == 302 and response["Location"] == reverse("accounts:home")


def test_an_unknown_address_from_outside_any_range_is_answered_alike(restricted) -> None:
    unknown = _sign_in("nobody@example.jp", PASSWORD, OUTSIDE)
    known = _sign_in(restricted.email, PASSWORD, OUTSIDE)
    assert unknown.status_code == known.status_code == 400
    assert _page(unknown).replace("nobody@example.jp", restricted.email) == _page(known)

"""Password expiry per organisation (off by default), the change an officer requires on transfer, and passwords
that contain the person's own name or address."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import PermissionDenied, ValidationError
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from django_otp.plugins.otp_totp.models import TOTPDevice

from accounts.lifecycle import (
    account_password_change_require,
    account_suspend,
    organisation_password_max_age_set,
)
from accounts.models import Organisation, User
from audit.models import SecurityEvent
from tests.accounts.conftest import PASSWORD, login_steps, ready, totp_code

pytestmark = pytest.mark.django_db

NEW_PASSWORD = "a quite different sentence 2027"


def _age(user, days: int) -> None:
    user.password_changed_at = timezone.now() - timedelta(days=days)
    user.save(update_fields=["password_changed_at"])


def _change(client: Client, *, old: str = PASSWORD, new: str = NEW_PASSWORD):
    return client.post(
        reverse("accounts:password_change"),
        {"old_password": old, "new_password1": new, "new_password2": new},
    )


# --- expiry -------------------------------------------------------------------------------------------------------


def test_expiry_is_off_for_a_new_organisation() -> None:
    assert Organisation(name="x", kind="agency").password_max_age_days == 0


def test_a_thirty_day_old_password_is_not_asked_to_change_while_expiry_is_off(person, signed_in_client) -> None:
    _age(person, 3650)
    assert signed_in_client(person).get(reverse("accounts:home")).status_code == 200


def test_a_thirty_day_old_password_with_expiry_at_one_day_must_be_changed_at_sign_in(person) -> None:
    person.organisation.password_max_age_days = 1
    person.organisation.save()
    _age(person, 30)
    client = Client()
    device = TOTPDevice.objects.get(user=person)
    signed_in = login_steps(client, person, code=totp_code(device))
    assert signed_in.status_code == 302
    home = client.get(reverse("accounts:home"))
    assert home.status_code == 302 and home["Location"] == reverse("accounts:password_change")
    page = client.get(reverse("accounts:password_change"))
    assert page.status_code == 200 and "有効期間（1日）が過ぎました" in page.content.decode()


def test_nothing_but_the_password_change_works_while_it_is_due(person, signed_in_client) -> None:
    person.organisation.password_max_age_days = 90
    person.organisation.save()
    _age(person, 91)
    client = signed_in_client(person)
    for name in ("accounts:home", "accounts:account", "certifications:list", "accounts:recovery_codes"):
        response = client.get(reverse(name))
        assert response.status_code == 302 and response["Location"] == reverse("accounts:password_change"), name
    assert client.get("/admin/").status_code == 302
    assert client.post(reverse("accounts:sessions_end_others")).status_code == 302
    assert SecurityEvent.objects.filter(action="session.ended_others").count() == 0


def test_a_password_younger_than_the_limit_is_not_asked_to_change(person, signed_in_client) -> None:
    person.organisation.password_max_age_days = 90
    person.organisation.save()
    _age(person, 89)
    assert signed_in_client(person).get(reverse("accounts:home")).status_code == 200


def test_after_the_change_everything_works_again_and_the_change_is_recorded(person, signed_in_client) -> None:
    person.organisation.password_max_age_days = 1
    person.organisation.save()
    _age(person, 30)
    client = signed_in_client(person)
    assert _change(client).status_code == 302
    assert client.get(reverse("accounts:home")).status_code == 200
    person.refresh_from_db()
    assert person.check_password(NEW_PASSWORD)
    assert timezone.now() - person.password_changed_at < timedelta(minutes=1)
    assert SecurityEvent.objects.filter(action="account.password_changed", target_user=person).exists()


def test_the_same_password_again_does_not_count_as_a_change(person, signed_in_client) -> None:
    person.organisation.password_max_age_days = 1
    person.organisation.save()
    _age(person, 30)
    client = signed_in_client(person)
    response = _change(client, new=PASSWORD)
    assert response.status_code == 200
    assert "現在のパスワードと異なるもの" in response.content.decode()
    assert client.get(reverse("accounts:home"))["Location"] == reverse("accounts:password_change")


def test_a_wrong_current_password_does_not_change_it_and_counts_toward_the_lockout(person, signed_in_client) -> None:
    person.organisation.password_max_age_days = 1
    person.organisation.save()
    _age(person, 30)
    response = _change(signed_in_client(person), old="not my password")
    assert response.status_code == 200
    person.refresh_from_db()
    assert person.check_password(PASSWORD)
    assert SecurityEvent.objects.filter(action="auth.reauth_failed", target_user=person).exists()


def test_the_administrator_sets_the_expiry_and_it_is_recorded(orgs, administrator, signed_in_client) -> None:
    client = signed_in_client(administrator)
    url = reverse("accounts:admin_organisation_password", args=[orgs.operator_a.pk])
    assert client.get(url).status_code == 200
    assert client.post(url, {"days": "90"}).status_code == 302
    orgs.operator_a.refresh_from_db()
    assert orgs.operator_a.password_max_age_days == 90
    event = SecurityEvent.objects.get(action="organisation.password_max_age_changed", organisation=orgs.operator_a)
    assert event.actor == administrator and event.data == {"before": 0, "after": 90}
    assert "90" in client.get(url).content.decode()


@pytest.mark.parametrize("days", ["-1", "3651", "x"])
def test_the_expiry_form_refuses_what_is_not_a_number_of_days(days, orgs, administrator, signed_in_client) -> None:
    url = reverse("accounts:admin_organisation_password", args=[orgs.operator_a.pk])
    assert signed_in_client(administrator).post(url, {"days": days}).status_code == 400
    orgs.operator_a.refresh_from_db()
    assert orgs.operator_a.password_max_age_days == 0


def test_an_officer_cannot_set_the_expiry(orgs, officer_a, signed_in_client) -> None:
    with pytest.raises(PermissionDenied):
        organisation_password_max_age_set(organisation=orgs.operator_a, days=1, actor=officer_a)
    url = reverse("accounts:admin_organisation_password", args=[orgs.operator_a.pk])
    assert signed_in_client(officer_a).post(url, {"days": "1"}).status_code == 403
    orgs.operator_a.refresh_from_db()
    assert orgs.operator_a.password_max_age_days == 0


# --- the change an officer requires (transfer) -------------------------------------------------------------------


def test_the_officer_requires_a_change_on_transfer_from_the_console(person, officer_a, signed_in_client) -> None:
    officer = signed_in_client(officer_a)
    console = officer.get(reverse("accounts:officer_console")).content.decode()
    assert reverse("accounts:officer_person_action", args=[person.pk, "require-password-change"]) in console
    response = officer.post(
        reverse("accounts:officer_person_action", args=[person.pk, "require-password-change"]), {"reason": "異動"}
    )
    assert response.status_code == 302
    person.refresh_from_db()
    assert person.password_change_required
    assert "パスワード変更待ち" in officer.get(reverse("accounts:officer_console")).content.decode()
    event = SecurityEvent.objects.get(action="account.password_change_required", target_user=person)
    assert event.actor == officer_a and event.data == {"reason": "異動"}
    # The person's next request, even in a session that was already open, goes to the password change.
    client = signed_in_client(person)
    assert client.get(reverse("accounts:home"))["Location"] == reverse("accounts:password_change")
    page = client.get(reverse("accounts:password_change")).content.decode()
    assert "パスワードの変更を求められています" in page
    assert _change(client).status_code == 302
    person.refresh_from_db()
    assert not person.password_change_required
    assert client.get(reverse("accounts:home")).status_code == 200
    changed = SecurityEvent.objects.get(action="account.password_changed", target_user=person)
    assert changed.data == {"was_required": True}


def test_a_required_change_needs_a_reason(person, officer_a, signed_in_client) -> None:
    response = signed_in_client(officer_a).post(
        reverse("accounts:officer_person_action", args=[person.pk, "require-password-change"]), {"reason": ""}
    )
    assert response.status_code == 302
    person.refresh_from_db()
    assert not person.password_change_required
    with pytest.raises(ValidationError):
        account_password_change_require(user=person, actor=officer_a, reason="  ")


def test_an_officer_of_another_organisation_cannot_require_a_change(person, officer_b, signed_in_client) -> None:
    response = signed_in_client(officer_b).post(
        reverse("accounts:officer_person_action", args=[person.pk, "require-password-change"]), {"reason": "異動"}
    )
    assert response.status_code == 404
    with pytest.raises(PermissionDenied):
        account_password_change_require(user=person, actor=officer_b, reason="異動")
    person.refresh_from_db()
    assert not person.password_change_required


def test_a_person_who_is_not_an_officer_cannot_require_a_change(orgs, make_user, person, signed_in_client) -> None:
    colleague = ready(make_user(orgs.operator_a))
    response = signed_in_client(colleague).post(
        reverse("accounts:officer_person_action", args=[person.pk, "require-password-change"]), {"reason": "異動"}
    )
    assert response.status_code == 403
    with pytest.raises(PermissionDenied):
        account_password_change_require(user=person, actor=colleague, reason="異動")


def test_the_administrator_can_require_a_change_too(person, administrator, signed_in_client) -> None:
    response = signed_in_client(administrator).post(
        reverse("accounts:admin_account_action", args=[person.pk, "require-password-change"]), {"reason": "不審な利用"}
    )
    assert response.status_code == 302
    person.refresh_from_db()
    assert person.password_change_required


def test_a_suspended_person_cannot_be_asked_to_change(person, officer_a) -> None:
    account_suspend(user=person, reason="異動", actor=officer_a)
    person.refresh_from_db()
    with pytest.raises(ValidationError):
        account_password_change_require(user=person, actor=officer_a, reason="異動")


def test_an_invited_person_is_not_asked_to_change_the_password_they_have_yet_to_set(orgs, make_user, officer_a) -> None:
    invited = make_user(orgs.operator_a, status="invited")
    with pytest.raises(ValidationError):
        account_password_change_require(user=invited, actor=officer_a, reason="異動")
    invited.refresh_from_db()
    assert not invited.password_change_required


def test_an_officer_cannot_require_it_of_themself(officer_a) -> None:
    with pytest.raises(PermissionDenied):
        account_password_change_require(user=officer_a, actor=officer_a, reason="自分")


# --- the person's own name and address --------------------------------------------------------------------------


@pytest.fixture
def named(orgs):
    def _named(name: str, email: str) -> User:
        return User(name=name, email=email, organisation=orgs.operator_a)

    return _named


@pytest.mark.parametrize(
    ("name", "email", "password"),
    [
        ("Yamada Taro", "t.yamada@example.jp", "yamadataro2026!"),  # the name, joined
        ("Yamada Taro", "t.yamada@example.jp", "TaroYamada-solar"),  # given name first
        ("山田 太郎", "t.yamada@example.jp", "私は山田太郎です2026"),  # kanji
        ("ヤマダ タロウ", "t.yamada@example.jp", "やまだたろうのパスワード"),  # katakana name, hiragana password
        ("ﾔﾏﾀﾞ ﾀﾛｳ", "t.yamada@example.jp", "ヤマダのパスワード2026"),  # half-width name
        ("Ｙａｍａｄａ Ｔａｒｏ", "t.yamada@example.jp", "yamada-photovoltaic"),  # full-width name
        ("佐藤 花子", "hanako.sato@example.jp", "hanako.sato-2026"),  # the e-mail local part
        ("佐藤 花子", "hanako.sato@example.jp", "sunnyday-hanakosato"),  # local part without its dot
        ("佐藤 花子", "hanako.sato@example.jp", "hanako.sato@example"),  # close to the whole address (Django's)
    ],
)
def test_a_password_containing_the_persons_name_or_address_is_refused(named, name, email, password) -> None:
    user = named(name, email)
    with pytest.raises(ValidationError) as refused:
        validate_password(password, user)
    assert {error.code for error in refused.value.error_list} & {
        "password_contains_personal_information",
        "password_too_similar",
    }


def test_a_password_similar_to_the_whole_name_is_refused_by_djangos_validator(named) -> None:
    user = named("Alexandria Montgomery", "am@example.jp")
    with pytest.raises(ValidationError) as refused:
        validate_password("alexandriamontgomer", user)
    assert "password_too_similar" in {error.code for error in refused.value.error_list}


@pytest.mark.parametrize(
    ("name", "email", "password"),
    [
        ("Yamada Taro", "t.yamada@example.jp", "correct horse battery staple"),
        ("山田 太郎", "t.yamada@example.jp", "太陽光と風力の発電所2026"),
        ("Li Na", "li.na@example.jp", "alien nation of linear snakes"),  # two-letter names are not words
    ],
)
def test_a_password_unrelated_to_the_person_is_accepted(named, name, email, password) -> None:
    validate_password(password, named(name, email))


def test_the_change_page_refuses_a_password_containing_the_persons_name(person, signed_in_client) -> None:
    person.name = "Suzuki Ichiro"
    person.save(update_fields=["name"])
    response = _change(signed_in_client(person), new="suzukiichiro-2026")
    assert response.status_code == 200
    assert "氏名やメールアドレスを含むパスワードは使えません" in response.content.decode()
    person.refresh_from_db()
    assert person.check_password(PASSWORD)

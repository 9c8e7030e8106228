"""The shared form snippet ties label, help and errors to the input; the menu follows the role."""

from __future__ import annotations

import pytest
from django import forms
from django.test import RequestFactory

from renergy.context_processors import layout


class SampleForm(forms.Form):
    email = forms.EmailField(label="メールアドレス", help_text="業務用のアドレス")
    agree = forms.BooleanField(label="同意します")


def test_an_invalid_field_points_to_its_error_and_help_text() -> None:
    html = SampleForm({"email": "not-an-address"}).render()
    assert '<label for="id_email">メールアドレス</label>' in html
    assert 'id="id_email_helptext"' in html
    assert 'id="id_email_error"' in html
    assert 'aria-describedby="id_email_helptext id_email_error"' in html
    assert 'aria-invalid="true"' in html
    # The error summary links to the field, so keyboard users can jump to it.
    assert 'href="#id_email"' in html


def test_a_required_mark_stays_out_of_the_accessible_name() -> None:
    html = SampleForm().render()
    assert '<label for="id_agree">同意します</label><span class="required" aria-hidden="true">' in html
    assert "required" in html.split('id="id_agree"')[0].rsplit("<input", 1)[1]


class _Verified:
    """What OTPMiddleware leaves on a person who passed the second factor."""

    def __init__(self, user) -> None:
        self._user = user

    def __getattr__(self, name: str):
        return getattr(self._user, name)

    def is_verified(self) -> bool:
        return True


def menu_for(user, path: str = "/") -> list[str]:
    request = RequestFactory().get(path)
    request.user = _Verified(user)  # type: ignore[assignment]
    return [str(link.label) for link in layout(request)["ui"].menu]


@pytest.mark.parametrize(
    ("org_name", "officer", "expected"),
    [
        ("agency", False, ["ホーム", "認定設備の検索", "台帳の取込", "アカウント情報"]),
        ("grid_tokyo", False, ["ホーム", "認定設備の検索", "アカウント情報"]),
        ("shinjuku", False, ["ホーム", "認定設備の検索", "アカウント情報"]),
        (
            "operator_a",
            True,
            [
                *("ホーム", "認定設備の検索", "自社設備の閲覧記録", "組織の利用者", "アカウントの申請"),
                "アカウント棚卸し",
                *("組織の利用記録", "組織の点検結果", "アカウント情報"),
            ],
        ),
        (
            "contractor",
            False,
            [
                *("ホーム", "申請の審査", "アカウント管理", "組織管理", "棚卸しの状況", "利用規約", "送信メール"),
                *("アクセス記録", "自己点検", "年度報告", "アカウント情報"),
            ],
        ),
    ],
)
def test_each_role_gets_the_menu_of_its_work(
    orgs, make_user, org_name: str, officer: bool, expected: list[str]
) -> None:
    assert menu_for(make_user(getattr(orgs, org_name), officer=officer)) == expected


def test_the_menu_marks_the_section_of_a_facility_page_as_current(orgs, make_user) -> None:
    request = RequestFactory().get("/facilities/F000000001/")
    request.user = _Verified(make_user(orgs.agency))  # type: ignore[assignment]
    current = [str(link.label) for link in layout(request)["ui"].menu if link.current]
    assert current == ["認定設備の検索"]


def test_a_person_not_through_the_second_factor_gets_no_menu(orgs, make_user) -> None:
    request = RequestFactory().get("/")
    request.user = make_user(orgs.agency)  # no is_verified(): password only
    person = layout(request)["ui"]
    assert person.onboarding and not person.signed_in and person.menu == []

"""Input that cannot be stored as sent (NUL and other control characters) is refused with 400 before any view,
and the refusal is recorded with the offending value escaped — never dropped or stored altered."""

from __future__ import annotations

import pytest
from django.test import Client

from audit.models import AccessRecord, SecurityEvent

pytestmark = [pytest.mark.django_db]


def _records(response) -> tuple[AccessRecord, SecurityEvent]:
    request_id = response["X-Request-ID"]
    record = AccessRecord.objects.get(request_id=request_id)
    event = SecurityEvent.objects.get(request_id=request_id, action="request.rejected_input")
    return record, event


def test_a_nul_in_the_facility_path_is_refused_and_recorded_escaped(orgs, make_user, signed_in_client) -> None:
    client = signed_in_client(make_user(orgs.agency), raise_request_exception=False)
    response = client.get("/facilities/B000409A54%00/")
    assert response.status_code == 400
    record, event = _records(response)
    assert record.status == 400
    # The record shows what was sent, visibly escaped: not the path with the NUL silently removed.
    assert record.path == "/facilities/B000409A54\\x00/"
    assert event.data["where"] == "path"
    assert event.data["value"] == "/facilities/B000409A54\\x00/"


def test_a_nul_in_the_search_cursor_is_a_400_not_a_500(orgs, make_user, signed_in_client) -> None:
    client = signed_in_client(make_user(orgs.agency), raise_request_exception=False)
    response = client.get("/facilities/?after=B1%00")
    assert response.status_code == 400
    record, event = _records(response)
    assert (event.data["where"], event.data["name"], event.data["value"]) == ("query", "after", "B1\\x00")
    assert record.query == "after="


@pytest.mark.parametrize("char", ["\x00", "\x01", "\x1b", "\x7f"])
def test_control_characters_in_a_form_field_are_refused_before_the_view(char) -> None:
    response = Client(raise_request_exception=False).post(
        "/login/", {"username": f"a{char}@example.jp", "password": "x"}
    )
    assert response.status_code == 400
    _record, event = _records(response)
    assert event.data["where"] == "form" and event.data["name"] == "username"
    assert event.data["value"] == f"a\\x{ord(char):02x}@example.jp"
    assert not SecurityEvent.objects.filter(action="auth.login_failed").exists()  # the view never ran


def test_a_password_carrying_a_nul_is_refused_without_recording_the_password() -> None:
    response = Client(raise_request_exception=False).post(
        "/login/", {"username": "a@example.jp", "password": "secret\x00value"}
    )
    assert response.status_code == 400
    _record, event = _records(response)
    assert event.data["value"] == "[masked]"
    assert "secret" not in str(event.data)


def test_a_control_character_in_a_header_is_refused() -> None:
    response = Client(raise_request_exception=False).get("/login/", HTTP_USER_AGENT="bot\x00/1.0")
    assert response.status_code == 400
    record, event = _records(response)
    assert event.data["where"] == "header" and event.data["name"] == "HTTP_USER_AGENT"
    assert record.user_agent == "bot\\x00/1.0"


def test_line_breaks_in_a_textarea_are_ordinary_input(orgs, make_user, signed_in_client) -> None:
    officer = make_user(orgs.operator_a, officer=True)
    client = signed_in_client(officer, raise_request_exception=False)
    response = client.post(
        "/officer/request/",
        {"email": "new@example.jp", "name": "新規 利用者", "reason": "一行目\r\n二行目\t(タブ)"},
    )
    assert response.status_code == 302
    assert not SecurityEvent.objects.filter(action="request.rejected_input").exists()


@pytest.mark.parametrize(
    "query",
    [
        "sort=capacity_kw&after=1e999999~F000000001",
        "sort=-capacity_kw&after=-1e-999999~F000000001",
        "sort=certified_on&after=9999-12-31~F000000001",
        "sort=certified_on&after=0001-01-01~F000000001",
    ],
)
def test_a_cursor_past_the_columns_range_is_the_first_page_not_a_500(query, orgs, make_user, signed_in_client) -> None:
    # 1e999999 overflowed PostgreSQL's numeric in the keyset comparison (a 500, and in a transaction a lost record).
    client = signed_in_client(make_user(orgs.agency), raise_request_exception=False)
    response = client.get(f"/facilities/?{query}")
    assert response.status_code == 200
    assert AccessRecord.objects.get(request_id=response["X-Request-ID"]).status == 200

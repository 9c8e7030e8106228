"""Error pages: the person's language, no technical detail, and nothing that needs the database when it is down."""

from __future__ import annotations

import pytest
from django.test import Client, RequestFactory
from django.utils import translation

from renergy.errors import audit_unavailable_response


@pytest.fixture
def visitor() -> Client:
    return Client(raise_request_exception=False)


def test_it_shows_the_not_found_page_in_japanese_by_default(visitor: Client, db: None) -> None:
    response = visitor.get("/no/such/page/")
    assert response.status_code == 404
    assert "ページが見つかりません" in response.content.decode()


def test_it_shows_the_not_found_page_in_english_when_chosen(visitor: Client, db: None) -> None:
    visitor.cookies["django_language"] = "en"
    response = visitor.get("/no/such/page/")
    body = response.content.decode()
    assert response.status_code == 404
    assert '<html lang="en">' in body
    assert "Page not found" in body


@pytest.mark.urls("tests.ui.urls_for_errors")
def test_a_crash_shows_the_plain_server_error_page_without_the_exception(visitor: Client, db: None) -> None:
    response = visitor.get("/boom/")
    body = response.content.decode()
    assert response.status_code == 500
    assert "システムエラーが発生しました" in body
    assert "secret-internal-detail" not in body
    assert "Traceback" not in body


def test_a_form_without_its_csrf_token_gets_the_clear_expired_page(db: None) -> None:
    client = Client(enforce_csrf_checks=True)
    response = client.post("/i18n/setlang/", {"language": "en", "next": "/"})
    assert response.status_code == 403
    body = response.content.decode()
    assert "ページの有効期限が切れました" in body
    assert "CSRF" not in body  # no technical reason shown to the person


def test_the_audit_unavailable_page_needs_no_database_and_says_no_data_was_sent() -> None:
    # No `db` fixture: any database access here would raise, as it would during an outage.
    request = RequestFactory().get("/facilities/", HTTP_ACCEPT_LANGUAGE="en")
    response = audit_unavailable_response(request)
    assert response.status_code == 503
    assert response["Retry-After"] == "60"
    assert response["Cache-Control"] == "no-store"
    assert "Temporarily unavailable" in response.content.decode()


def test_the_audit_unavailable_page_follows_the_language_cookie_before_any_middleware() -> None:
    request = RequestFactory().get("/facilities/")
    request.COOKIES["django_language"] = "ja"
    with translation.override("en"):
        response = audit_unavailable_response(request)
    assert "現在ご利用いただけません" in response.content.decode()

"""AccessGateMiddleware denies by default and enforces each view's declared rule."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from accounts.models import TermsVersion
from accounts.permissions import FACILITY_ROLES, rule_for
from audit.models import SecurityEvent
from tests.accounts.conftest import signed_in_via_views

pytestmark = pytest.mark.django_db


@pytest.mark.urls("tests.accounts.urls_undeclared")
@pytest.mark.parametrize("path", ["/undeclared/", "/undeclared-class/"])
def test_a_view_without_a_rule_is_denied_even_when_signed_in(path: str, person, signed_in_client) -> None:
    assert Client().get(path).status_code == 403
    response = signed_in_client(person).get(path)
    assert response.status_code == 403
    assert b"secret data" not in response.content
    assert SecurityEvent.objects.filter(action="access.undeclared_view", data__path=path).exists()


@pytest.mark.urls("tests.accounts.urls_undeclared")
def test_a_class_view_declares_its_rule_on_the_class() -> None:
    assert Client().get("/declared-class/").status_code == 200


def test_every_accounts_url_declares_a_rule() -> None:
    from accounts.urls import urlpatterns

    assert all(rule_for(pattern.callback) is not None for pattern in urlpatterns)


def test_healthz_is_public_and_checks_the_database(client: Client) -> None:
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_the_language_switch_stays_usable(client: Client) -> None:
    assert client.post("/i18n/setlang/", {"language": "en", "next": "/login/"}).status_code == 302


def test_a_role_outside_the_rule_gets_403_and_an_event(person, signed_in_client) -> None:
    client = signed_in_client(person)
    assert client.get(reverse("accounts:admin_requests")).status_code == 403
    assert client.get(reverse("accounts:officer_console")).status_code == 403
    assert SecurityEvent.objects.filter(action="access.denied", actor=person).exists()


def test_the_administrator_reaches_only_the_administrator_pages(administrator, signed_in_client) -> None:
    client = signed_in_client(administrator)
    assert client.get(reverse("accounts:admin_requests")).status_code == 200
    assert client.get(reverse("accounts:admin_accounts") + "?q=user").status_code == 200
    assert client.get(reverse("accounts:admin_organisations")).status_code == 200
    assert "contractor" not in FACILITY_ROLES


def test_a_new_terms_version_forces_consent_at_the_next_request(client: Client, person) -> None:
    signed_in_via_views(client, person)
    assert client.get(reverse("accounts:account")).status_code == 200
    TermsVersion.objects.create(version=2, title="改定版", body_ja="改定された規約", body_en="Revised terms")
    response = client.get(reverse("accounts:account"))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("accounts:terms"))
    page = client.get(response["Location"])
    assert "改定された規約" in page.content.decode()
    assert client.post(response["Location"], {"agree": "on"})["Location"] == reverse("accounts:account")
    assert client.get(reverse("accounts:account")).status_code == 200
    assert person.terms_acceptances.count() == 2  # the earlier consent is kept


def test_a_person_without_current_consent_is_sent_to_the_terms_after_sign_in(client: Client, person) -> None:
    from accounts.models import TermsVersion

    # Consent records are append-only: a new version of the terms is what leaves a person without consent.
    latest = TermsVersion.objects.filter(version__isnull=False).order_by("-version").first()
    version = latest.version if latest and latest.version else 0
    TermsVersion.objects.create(version=version + 1, title="改定", body_ja="改定版")
    signed_in_via_views(client, person)
    response = client.get(reverse("accounts:home"))
    assert response["Location"].startswith(reverse("accounts:terms"))


def test_the_terms_page_needs_a_verified_second_factor(client: Client, person) -> None:
    client.force_login(person, backend="django.contrib.auth.backends.ModelBackend")
    response = client.get(reverse("accounts:terms"))
    assert response.status_code == 302 and response["Location"].startswith(reverse("accounts:login"))


def test_the_terms_hold_the_seven_items(client: Client, person) -> None:
    from accounts.terms import terms_current

    body = terms_current().body_ja
    for item in ("目的外利用", "公序良俗", "不正な目的", "損害", "アカウントの供与", "個人情報", "違反した場合"):
        assert item in body

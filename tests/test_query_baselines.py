"""Query-count baselines for every list and console page, and for what every request costs before its view runs
(the access gate, the audit middleware, the context processors).

Each page is measured with several rows of whatever it lists, so a query per row shows up as a changed count of
the table it reads; the baselines (tests/query_counts.py) read as what each request needs.
"""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client
from django.urls import reverse

from accounts.lifecycle import account_request_create
from accounts.models import User
from tests.conftest import Cast
from tests.query_counts import AUDITED, SIGNED_IN, assert_query_baseline

ROWS = 3  # rows of each kind a page lists: enough for a per-row query to change the count


@pytest.fixture
def people(orgs: Cast, make_user: Any) -> dict[str, User]:
    """An officer of an operator with colleagues, an administrator, and pending requests for the consoles."""
    officer = make_user(orgs.operator_a, officer=True)
    for _ in range(ROWS):
        make_user(orgs.operator_a)
        make_user(orgs.operator_b)
    for n in range(ROWS):
        account_request_create(officer=officer, email=f"new{n}@example.jp", name=f"新規 {n}", reason="業務")
    return {"officer": officer, "administrator": make_user(orgs.contractor, is_staff=True)}


def _warm(client: Client, url: str) -> Client:
    # The first request of a session writes its once-a-minute stamps and the session row; not part of a baseline.
    client.get(url)
    client.get(url)
    return client


def test_an_anonymous_request_costs_its_audit_record_and_nothing_else(db: None) -> None:
    client = Client()
    url = reverse("accounts:login")
    client.get(url)
    assert_query_baseline(lambda: client.get(url), AUDITED)


def test_a_signed_in_request_costs_the_gate_its_fixed_lookups(people: dict[str, User], signed_in_client: Any) -> None:
    """The account page: the gate's lookups and the record, plus the page's own sessions and keys."""
    url = reverse("accounts:account")
    client = _warm(signed_in_client(people["officer"]), url)
    expected = {**SIGNED_IN, **AUDITED, "accounts_usersession": 1, "django_otp_webauthn_webauthncredential": 1}
    assert_query_baseline(lambda: client.get(url), expected)


OFFICER_PAGES: dict[str, dict[str, int]] = {
    # the people; the requests (with their target person joined)
    "accounts:officer_console": {"accounts_user": 1, "accounts_accountrequest": 1},
    # the records (person and organisation joined); the events (actor and target joined)
    "audit:organisation_log": {"audit_accessrecord": 1, "audit_securityevent": 1},
    # the findings (run and person joined)
    "audit:organisation_findings": {"audit_finding": 1},
}


@pytest.mark.parametrize("name", OFFICER_PAGES)
def test_an_officer_page_runs_a_fixed_set_of_queries(name: str, people: dict[str, User], signed_in_client: Any) -> None:
    url = reverse(name)
    client = _warm(signed_in_client(people["officer"]), url)
    assert_query_baseline(lambda: client.get(url), _on_top(OFFICER_PAGES[name]))


ADMINISTRATOR_PAGES: dict[str, dict[str, int]] = {
    # the pending requests, each with whether its address is registered or requested elsewhere: one query, counted
    # under accounts_user because the first FROM in it is the registered-address subquery
    "accounts:admin_requests": {"accounts_user": 1},
    # the organisations with their member counts (one grouped query)
    "accounts:admin_organisations": {"accounts_organisation": 1},
    # the people with their organisation joined
    "accounts:admin_accounts": {"accounts_user": 1},
    # the backlog's oldest, unsent and failed figures; the unsent mail; the failed mail
    "accounts:admin_outbox": {"accounts_outboundemail": 5},
    "audit:log": {"audit_accessrecord": 1, "audit_securityevent": 1},
    "audit:inspections": {"audit_inspectionrun": 1},
    "audit:reports": {},
}


@pytest.mark.parametrize("name", ADMINISTRATOR_PAGES)
def test_an_administrator_page_runs_a_fixed_set_of_queries(
    name: str, people: dict[str, User], signed_in_client: Any
) -> None:
    url = reverse(name)
    client = _warm(signed_in_client(people["administrator"]), url)
    assert_query_baseline(lambda: client.get(url), _on_top(ADMINISTRATOR_PAGES[name]))


def test_the_administrators_view_of_one_person_runs_a_fixed_set_of_queries(
    people: dict[str, User], orgs: Cast, signed_in_client: Any
) -> None:
    person = User.objects.filter(organisation=orgs.operator_a, is_officer=False).first()
    assert person is not None
    url = reverse("accounts:admin_account", args=[person.pk])
    client = _warm(signed_in_client(people["administrator"]), url)
    # the person with their organisation; their security keys
    expected = _on_top({"accounts_user": 1, "django_otp_webauthn_webauthncredential": 1})
    assert_query_baseline(lambda: client.get(url), expected)


def test_the_second_factor_page_of_an_organisation_runs_a_fixed_set_of_queries(
    people: dict[str, User], orgs: Cast, signed_in_client: Any
) -> None:
    url = reverse("accounts:admin_organisation_second_factor", args=[orgs.operator_a.pk])
    client = _warm(signed_in_client(people["administrator"]), url)
    # the organisation; its earlier changes (with the actor joined)
    expected = _on_top({"accounts_organisation": 1, "audit_securityevent": 1})
    assert_query_baseline(lambda: client.get(url), expected)


def _on_top(page: dict[str, int]) -> dict[str, int]:
    """A page's own queries on top of every signed-in request's (tables both read add up)."""
    total = {**SIGNED_IN, **AUDITED}
    for table, count in page.items():
        total[table] = total.get(table, 0) + count
    return total

"""`load_demo` (idempotent) and `demo_totp` (demo mode only)."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.test import Client
from django.urls import reverse

from accounts.demo import DEMO_ORGANISATIONS, DEMO_PASSWORD
from accounts.models import Organisation, OrganisationKind, User

pytestmark = pytest.mark.django_db


def _load(facilities: int = 0) -> str:
    out = StringIO()
    call_command("load_demo", facilities=facilities, stdout=out)
    return out.getvalue()


def test_load_demo_is_idempotent_and_covers_every_role() -> None:
    output = _load(facilities=60)
    counts = (Organisation.objects.count(), User.objects.count())
    assert DEMO_PASSWORD in output
    _load(facilities=60)
    assert (Organisation.objects.count(), User.objects.count()) == counts
    demo_orgs = Organisation.objects.filter(name__in=[spec.name for spec in DEMO_ORGANISATIONS])
    assert {org.kind for org in demo_orgs} == {kind for kind, _label in OrganisationKind.choices}
    assert User.objects.filter(is_officer=True, organisation__in=demo_orgs).count() == demo_orgs.count()


def test_load_demo_links_facilities_to_the_demo_operator() -> None:
    from certifications.models import Facility

    _load(facilities=60)
    operator = Organisation.objects.get(name=next(o.name for o in DEMO_ORGANISATIONS if o.kind == "operator"))
    assert Facility.objects.count() == 60
    assert Facility.objects.filter(organisation=operator).exists()
    _load(facilities=60)
    assert Facility.objects.count() == 60


def test_a_demo_person_signs_in_with_the_printed_password_and_demo_totp() -> None:
    _load()
    out = StringIO()
    call_command("demo_totp", "grid-tokyo@demo.renergy.example.jp", stdout=out)
    client = Client()
    client.post(
        reverse("accounts:login"), {"username": "grid-tokyo@demo.renergy.example.jp", "password": DEMO_PASSWORD}
    )
    response = client.post(reverse("accounts:login_code"), {"code": out.getvalue().strip()})
    assert response.status_code == 302 and response["Location"] == reverse("accounts:home")


def test_demo_commands_refuse_outside_demo_mode(settings) -> None:
    settings.DEMO_MODE = False
    with pytest.raises(CommandError):
        call_command("demo_totp", "agency@demo.renergy.example.jp", stdout=StringIO())
    with pytest.raises(CommandError):
        call_command("load_demo", stdout=StringIO())

"""Rights-bearing data changes only through the services that record it, never by editing a row in the admin.

The attack: signed in to the Django admin, the contractor edited its own organisation's kind from contractor to
agency (302) and then read every facility with every personal field; the same form moved another organisation's
supply area, jurisdiction, IP ranges or active flag, and the user form offered is_officer and is_staff.
"""

from __future__ import annotations

import pytest
from django.core.exceptions import PermissionDenied
from django.db import IntegrityError, connection, transaction
from django.urls import reverse

from accounts.lifecycle import account_roles_change, organisation_rights_change
from accounts.models import Organisation, OrganisationKind
from audit.models import SecurityEvent
from tests.accounts.conftest import ready
from tests.database import as_superuser

pytestmark = [pytest.mark.django_db]


def _change_url(obj) -> str:
    return reverse(f"admin:{obj._meta.app_label}_{obj._meta.model_name}_change", args=[obj.pk])


def test_the_contractor_cannot_make_itself_the_agency_through_the_admin_form(orgs, administrator, signed_in_client):
    admin = signed_in_client(administrator)
    assert admin.get("/facilities/").status_code == 403
    form = admin.get(_change_url(orgs.contractor)).content.decode()
    assert 'name="kind"' not in form and 'name="supply_area"' not in form
    # The attack's request, sent as the signed-in administrator through the real admin change form.
    response = admin.post(
        _change_url(orgs.contractor),
        {
            "name": orgs.contractor.name,
            "kind": OrganisationKind.AGENCY,
            "supply_area": "",
            "jurisdiction_code": "",
            "ip_ranges": "",
            "is_active": "on",
            "created_at_0": "2026-01-01",
            "created_at_1": "00:00:00",
        },
    )
    assert response.status_code == 302
    orgs.contractor.refresh_from_db()
    assert orgs.contractor.kind == OrganisationKind.CONTRACTOR
    assert admin.get("/facilities/").status_code == 403


def test_the_admin_form_cannot_move_another_organisations_scope(orgs, administrator, signed_in_client) -> None:
    admin = signed_in_client(administrator)
    grid = orgs.grid_tokyo
    response = admin.post(
        _change_url(grid),
        {"name": grid.name, "supply_area": "kansai", "ip_ranges": "0.0.0.0/0", "is_active": "", "kind": "agency"},
    )
    assert response.status_code == 302
    grid.refresh_from_db()
    assert (grid.kind, grid.supply_area, grid.ip_ranges, grid.is_active) == ("grid", "tokyo", "", True)
    local = orgs.tokyo_metro
    admin.post(_change_url(local), {"name": local.name, "jurisdiction_code": "27"})
    local.refresh_from_db()
    assert local.jurisdiction_code == "13"


def test_the_user_form_does_not_grant_officer_or_staff(orgs, make_user, administrator, signed_in_client) -> None:
    admin = signed_in_client(administrator)
    person = ready(make_user(orgs.operator_a, emergency_phone="03-1111-1111"))
    for target in (person, administrator):
        response = admin.post(
            _change_url(target),
            {
                "name": target.name,
                "department": "",
                "title": "",
                "emergency_phone": "03-1111-1111",
                "is_officer": "on",
                "is_staff": "on",
                "is_superuser": "on",
                "organisation": orgs.agency.pk,
            },
        )
        assert response.status_code == 302
        target.refresh_from_db()
        assert not target.is_officer and not target.is_superuser
        assert target.organisation.kind != OrganisationKind.AGENCY
    person.refresh_from_db()
    assert not person.is_staff


def test_the_console_changes_another_organisations_scope_with_a_recorded_reason(orgs, administrator, signed_in_client):
    admin = signed_in_client(administrator)
    url = reverse("accounts:admin_organisation", args=[orgs.operator_a.pk])
    assert admin.post(url, {"ip_ranges": "192.0.2.0/24", "is_active": "on"}).status_code == 400  # no reason
    response = admin.post(url, {"ip_ranges": "192.0.2.0/24", "is_active": "on", "reason": "申請書 2026-12"})
    assert response.status_code == 302
    orgs.operator_a.refresh_from_db()
    assert orgs.operator_a.ip_ranges == "192.0.2.0/24"
    event = SecurityEvent.objects.get(action="organisation.rights_changed")
    assert event.actor_id == administrator.pk and event.organisation_id == orgs.operator_a.pk
    assert event.data == {
        "reason": "申請書 2026-12",
        "before": {"ip_ranges": ""},
        "after": {"ip_ranges": "192.0.2.0/24"},
    }
    assert event.ip == "127.0.0.1"


def test_the_console_refuses_the_administrators_own_organisation(orgs, administrator, signed_in_client) -> None:
    admin = signed_in_client(administrator)
    url = reverse("accounts:admin_organisation", args=[orgs.contractor.pk])
    response = admin.post(url, {"ip_ranges": "", "is_active": "", "reason": "x"})
    assert response.status_code == 403
    orgs.contractor.refresh_from_db()
    assert orgs.contractor.is_active
    with pytest.raises(PermissionDenied):
        organisation_rights_change(organisation=orgs.contractor, actor=administrator, reason="x", is_active=False)


def test_a_grid_operators_area_follows_its_kinds_rule(orgs, administrator) -> None:
    from django.core.exceptions import ValidationError

    with pytest.raises(ValidationError):
        organisation_rights_change(organisation=orgs.grid_tokyo, actor=administrator, reason="x", supply_area="")
    with pytest.raises(ValidationError):
        organisation_rights_change(organisation=orgs.agency, actor=administrator, reason="x", supply_area="tokyo")
    with pytest.raises(ValidationError):
        organisation_rights_change(organisation=orgs.agency, actor=administrator, reason="x", ip_ranges="not a cidr")


def test_roles_change_only_through_the_service_and_never_ones_own(orgs, make_user, administrator, signed_in_client):
    colleague = ready(make_user(orgs.contractor))
    with pytest.raises(PermissionDenied):
        account_roles_change(user=administrator, actor=administrator, reason="x", is_officer=True)
    admin = signed_in_client(administrator)
    url = reverse("accounts:admin_account_action", args=[colleague.pk, "grant-staff"])
    assert admin.post(url, {"reason": "運用担当に追加"}).status_code == 302
    colleague.refresh_from_db()
    assert colleague.is_staff
    event = SecurityEvent.objects.get(action="account.roles_changed", target_user_id=colleague.pk)
    assert event.data["before"] == {"is_staff": False} and event.data["after"] == {"is_staff": True}
    # The admin site is for the contractor's staff only.
    outsider = ready(make_user(orgs.agency))
    admin.post(reverse("accounts:admin_account_action", args=[outsider.pk, "grant-staff"]), {"reason": "x"})
    outsider.refresh_from_db()
    assert not outsider.is_staff
    # Nor can the administrator grant themselves anything from the console.
    admin.post(reverse("accounts:admin_account_action", args=[administrator.pk, "grant-officer"]), {"reason": "x"})
    administrator.refresh_from_db()
    assert not administrator.is_officer


def test_the_database_refuses_to_change_a_kind_even_for_its_superuser(orgs) -> None:
    with as_superuser(), connection.cursor() as cursor:
        cursor.execute("SELECT rolsuper FROM pg_roles WHERE rolname = current_user")
        assert cursor.fetchone()[0] is True
        with pytest.raises(IntegrityError), transaction.atomic():
            cursor.execute("UPDATE accounts_organisation SET kind = 'agency' WHERE id = %s", [orgs.contractor.pk])
    assert Organisation.objects.get(pk=orgs.contractor.pk).kind == OrganisationKind.CONTRACTOR

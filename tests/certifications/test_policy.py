"""The one policy table is exactly the DESIGN matrix, covers every field, and its rendered doc is current."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.conf import settings
from django.core.management import call_command

from accounts.models import OrganisationKind
from certifications.models import Facility
from certifications.policy import ALL_FIELDS, GROUPS, POLICY, RELATED_FIELDS, Scope, allowed_fields, policy_for
from certifications.presentation import DETAIL_SECTIONS
from certifications.visibility_doc import render_visibility_markdown

K = OrganisationKind
A = frozenset({K.AGENCY, K.BUREAU, K.DESIGNATED, K.OPERATOR})

# DESIGN.md "Default visibility", one row per group: which roles see it.
DESIGN_MATRIX = {
    "basic": A | {K.GRID, K.LOCAL_GOV},
    "operator_name": A | {K.GRID, K.LOCAL_GOV},
    "operator_personal": A,
    "operator_status": A,
    "dates": A | {K.GRID, K.LOCAL_GOV},
    "procurement": A | {K.GRID},
    "site": A | {K.GRID, K.LOCAL_GOV},
    "equipment": A | {K.LOCAL_GOV},
}
DESIGN_SCOPES = {
    K.AGENCY: Scope.ALL,
    K.BUREAU: Scope.ALL,
    K.DESIGNATED: Scope.ALL,
    K.CONTRACTOR: Scope.NONE,
    K.GRID: Scope.AREA,
    K.LOCAL_GOV: Scope.JURISDICTION,
    K.OPERATOR: Scope.OWN,
}
# Columns that are not facility data shown to anyone (keys and bookkeeping).
INTERNAL_COLUMNS = {"id", "organisation", "created_at", "updated_at"}


def test_every_role_has_the_design_scope():
    assert {kind: POLICY[kind].scope for kind in K.values} == DESIGN_SCOPES


@pytest.mark.parametrize("group", list(DESIGN_MATRIX))
def test_each_group_is_visible_to_exactly_the_design_roles(group):
    assert {kind for kind in K.values if group in POLICY[kind].groups} == DESIGN_MATRIX[group]


def test_every_facility_column_belongs_to_exactly_one_group():
    columns = {field.name for field in Facility._meta.concrete_fields} - INTERNAL_COLUMNS
    assert sorted(ALL_FIELDS) == sorted(set(ALL_FIELDS))
    assert set(ALL_FIELDS) - RELATED_FIELDS == columns
    assert {group.key for group in GROUPS} == set(DESIGN_MATRIX)


def test_every_field_has_a_place_on_the_detail_page():
    placed = [name for _title, names in DETAIL_SECTIONS for name in names]
    assert sorted(placed) == sorted(ALL_FIELDS)


def test_the_contractor_sees_no_field(orgs, make_user):
    assert allowed_fields(make_user(orgs.contractor)) == ()


@pytest.mark.parametrize("status", ["invited", "suspended", "retired"])
def test_an_account_that_is_not_active_sees_nothing(status, orgs, make_user):
    assert policy_for(make_user(orgs.agency, status=status)).scope is Scope.NONE


def test_a_person_of_an_inactive_organisation_sees_nothing(orgs, make_user):
    user = make_user(orgs.agency)
    orgs.agency.is_active = False
    orgs.agency.save()
    user.refresh_from_db()
    assert allowed_fields(user) == ()


def test_the_committed_visibility_doc_matches_the_code():
    committed = (Path(settings.BASE_DIR) / "docs" / "visibility.md").read_text(encoding="utf-8")
    assert committed == render_visibility_markdown(), "run: python manage.py render_visibility_doc"


def test_the_doc_check_command_passes():
    call_command("render_visibility_doc", "--check")


def test_a_private_persons_name_is_masked_exactly_for_roles_without_personal_data():
    from certifications.policy import MASKS

    assert [(m.field, m.when_field, m.when_value, m.unless_group, str(m.text)) for m in MASKS] == [
        ("operator_name", "operator_kind", "individual", "operator_personal", "個人")
    ]
    masked = {
        kind
        for kind in K.values
        if "operator_name" in POLICY[kind].fields and "operator_personal" not in POLICY[kind].groups
    }
    assert masked == {K.GRID, K.LOCAL_GOV}

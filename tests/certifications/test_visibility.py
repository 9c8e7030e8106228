"""Every role × every field × every output (list, detail, CSV, XLSX, admin): nothing outside the policy leaks."""

from __future__ import annotations

import csv
import datetime
import io
from decimal import Decimal

import openpyxl
import pytest
from django.urls import reverse

from audit.models import AccessRecord, SecurityEvent
from certifications.policy import ALL_FIELDS
from certifications.presentation import field_label
from certifications.search import LIST_FIELDS
from renergy.spreadsheet import MONTH_FORMAT
from tests.certifications.conftest import distinctive_text
from tests.certifications.world import (
    EVERY_ID,
    EXPECTED,
    INDIVIDUALS,
    OSAKA,
    ROLES,
    allowed_for,
    masked_for,
    world_create,
)

pytestmark = pytest.mark.django_db
MASK_TEXT = "個人"


@pytest.fixture
def world(orgs, make_user):
    return world_create(orgs, make_user)


def _body(response) -> str:
    if hasattr(response, "streaming_content"):
        return b"".join(response.streaming_content).decode("utf-8-sig")
    return response.content.decode()


def _shown(cell) -> str:
    """A typed cell as the CSV writes it: dates in ISO, months as 「YYYY年M月」, numbers without trailing zeros."""
    value = cell.value
    if value is None:
        return ""
    if isinstance(value, datetime.datetime):
        if cell.number_format == MONTH_FORMAT:
            return f"{value.year}年{value.month}月"
        return value.date().isoformat()
    if isinstance(value, (int, float)):
        return format(Decimal(str(value)).normalize(), "f")
    return str(value)


def _xlsx_text(response) -> tuple[str, list[list[str]]]:
    workbook = openpyxl.load_workbook(io.BytesIO(b"".join(response.streaming_content)), read_only=True)
    rows = [[_shown(c) for c in row] for row in workbook.active.iter_rows()]
    return "\n".join("\t".join(row) for row in rows), rows


def _assert_fields(
    text: str,
    allowed: tuple[str, ...],
    shown: tuple[str, ...],
    ids: frozenset[str],
    *,
    page: bool = False,
    masked: frozenset[str] = frozenset(),
) -> None:
    """Hidden fields: neither their label nor any facility's value appears. Shown fields: they do, except
    masked ones on a private person's facility, which show the mask text instead."""
    for field in ALL_FIELDS:
        for facility_id in EVERY_ID:
            value = distinctive_text(facility_id, page=page)[field]
            if value is None:
                continue
            if field in masked and facility_id in INDIVIDUALS:
                assert value not in text, (field, facility_id)
                if field in shown and facility_id in ids:
                    assert MASK_TEXT in text, (field, facility_id)
            elif field in shown and facility_id in ids:
                if field == "sites":
                    continue  # only one facility has an extra site
                assert value in text, (field, facility_id)
            elif field not in allowed or (facility_id not in ids and facility_id in value):
                # Untagged values (dates, numbers) are shared by every facility: only tagged ones tell scope.
                assert value not in text, (field, facility_id)
        if field not in allowed:
            assert field_label(field) not in text, field


@pytest.mark.parametrize("role", ROLES)
def test_list_page_shows_only_scope_and_allowed_columns(role, world, signed_in_client):
    response = signed_in_client(world.users[role]).get(reverse("certifications:list"))
    allowed = allowed_for(role, world.orgs)
    if role == "contractor":
        assert response.status_code in (403, 404)
    else:
        assert response.status_code == 200
    text = _body(response)
    for facility_id in EVERY_ID:
        assert (facility_id in text) == (facility_id in EXPECTED[role]), facility_id
    shown = tuple(field for field in LIST_FIELDS if field in allowed)
    _assert_fields(text, allowed, shown, EXPECTED[role], page=True, masked=masked_for(role, world.orgs))


@pytest.mark.parametrize("role", ROLES)
def test_detail_page_answers_404_outside_scope_and_shows_allowed_groups(role, world, signed_in_client):
    client = signed_in_client(world.users[role])
    allowed = allowed_for(role, world.orgs)
    for facility_id in EVERY_ID:
        response = client.get(reverse("certifications:detail", args=[facility_id]))
        text = _body(response)
        if facility_id in EXPECTED[role]:
            assert response.status_code == 200
            masked = masked_for(role, world.orgs)
            _assert_fields(text, allowed, allowed, frozenset({facility_id}), page=True, masked=masked)
        else:
            assert response.status_code in ((403,) if role == "contractor" else (404,))
            _assert_fields(text, (), (), frozenset(), page=True)
            assert "〓" not in text, text[max(0, text.find("〓") - 400) : text.find("〓") + 100]


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("fmt", ["csv", "xlsx"])
def test_exports_hold_only_scope_and_allowed_fields_even_when_hidden_columns_are_asked(
    role, fmt, world, signed_in_client
):
    client = signed_in_client(world.users[role])
    allowed = allowed_for(role, world.orgs)
    # Ask for every field by name, hidden ones included: they must be ignored.
    response = client.get(
        reverse(f"certifications:export_{fmt}"), {"cols": list(ALL_FIELDS), "sort": "-operator_phone"}
    )
    if role == "contractor":
        assert response.status_code in (403, 404)
        assert "〓" not in response.content.decode(errors="replace")
        return
    assert response.status_code == 200
    if fmt == "csv":
        text = _body(response)
        rows = list(csv.reader(io.StringIO(text)))
    else:
        text, rows = _xlsx_text(response)
    assert rows[0] == [field_label(field) for field in allowed]
    assert {row[0] for row in rows[1:]} == EXPECTED[role]
    _assert_fields(text, allowed, allowed, EXPECTED[role], masked=masked_for(role, world.orgs))


@pytest.mark.parametrize("role", [r for r in ROLES if r != "contractor"])
def test_guessed_sequential_and_foreign_ids_answer_404_and_are_recorded(role, world, signed_in_client):
    client = signed_in_client(world.users[role])
    guesses = [
        "A000006B06",  # the next one in sequence, does not exist
        "A000000B00",
        "a000001b01",  # lower case of a real one
        "A000001B01X",
        "../A000001B01",
        *(facility_id for facility_id in EVERY_ID if facility_id not in EXPECTED[role]),
    ]
    before = SecurityEvent.objects.filter(action="facility.out_of_scope").count()
    for guess in guesses:
        response = client.get(f"/facilities/{guess}/")
        assert response.status_code == 404, guess
        assert "〓" not in _body(response)
    recorded = SecurityEvent.objects.filter(action="facility.out_of_scope").count() - before
    # "../x/" is normalised away by the client; every other guess reaches the view and is recorded.
    assert recorded >= len(guesses) - 1


@pytest.mark.parametrize("role", ["grid_tokyo", "tokyo_metro", "shinjuku"])
def test_parameters_naming_hidden_fields_are_ignored(role, world, signed_in_client):
    client = signed_in_client(world.users[role])
    allowed = allowed_for(role, world.orgs)
    hidden = [field for field in ALL_FIELDS if field not in allowed]
    assert hidden
    url = reverse("certifications:list")
    baseline = _body(client.get(url))
    for field in hidden:
        for params in ({"sort": field}, {"sort": f"-{field}"}, {field: "x"}, {"cols": field}):
            text = _body(client.get(url, params))
            shown = tuple(f for f in LIST_FIELDS if f in allowed)
            _assert_fields(text, allowed, shown, EXPECTED[role], page=True, masked=masked_for(role, world.orgs))
            assert text.count("<tr>") == baseline.count("<tr>"), params
    # The free-text search reads only plant and operator names, so a hidden value cannot be probed with it.
    for facility_id in EXPECTED[role]:
        for field in ("representative_name", "operator_address", "panel_maker", "disposal_reserve_method"):
            if field in hidden:
                text = _body(client.get(url, {"q": distinctive_text(facility_id)[field]}))
                assert f"/facilities/{facility_id}/" not in text, (field, facility_id)


def test_a_local_government_sees_a_facility_through_any_of_its_sites(world):
    from certifications.models import Facility

    shinjuku = world.users["shinjuku"]
    visible = set(Facility.objects.visible_to(shinjuku).values_list("facility_id", flat=True))
    assert visible == EXPECTED["shinjuku"]


@pytest.mark.parametrize("role", ROLES)
def test_disclosure_records_exactly_the_rendered_ids_and_fields(role, world, signed_in_client):
    if role == "contractor":
        return
    client = signed_in_client(world.users[role])
    allowed = allowed_for(role, world.orgs)
    client.get(reverse("certifications:list"))
    record = AccessRecord.objects.filter(path=reverse("certifications:list")).latest("id")
    assert set(record.facility_ids) == EXPECTED[role]
    assert record.fields == [field for field in LIST_FIELDS if field in allowed]
    assert record.disclosure_kind == "list"
    facility_id = sorted(EXPECTED[role])[0]
    client.get(reverse("certifications:detail", args=[facility_id]))
    record = AccessRecord.objects.filter(path=reverse("certifications:detail", args=[facility_id])).latest("id")
    assert record.facility_ids == [facility_id]
    assert record.fields == list(allowed)
    assert record.disclosure_kind == "detail"


def test_admin_holds_no_facility_data(world, signed_in_client, make_user):
    admin_user = make_user(world.orgs.contractor, is_staff=True, is_superuser=True)
    client = signed_in_client(admin_user)
    for url in (
        "/admin/certifications/facility/",
        "/admin/certifications/facilitysite/",
        "/admin/certifications/facility/1/change/",
        "/admin/",
    ):
        response = client.get(url)
        text = response.content.decode(errors="replace")
        assert "〓" not in text
        for facility_id in EVERY_ID:
            assert facility_id not in text
        if url != "/admin/":
            assert response.status_code in (302, 403, 404)


@pytest.mark.parametrize("role", ROLES)
def test_searching_a_private_persons_name_finds_it_only_for_roles_that_may_see_it(role, world, signed_in_client):
    """The free-text search must not confirm a name the role sees masked (nor a part of it)."""
    client = signed_in_client(world.users[role])
    name = distinctive_text(OSAKA)["operator_name"]
    visible = OSAKA in EXPECTED[role] and "operator_name" in allowed_for(role, world.orgs)
    unmasked = visible and "operator_name" not in masked_for(role, world.orgs)
    for query in (name, name[1:-2]):
        response = client.get(reverse("certifications:list"), {"q": query})
        found = f"/facilities/{OSAKA}/" in _body(response)
        assert found == unmasked, (role, query)
    if visible and not unmasked:
        # The facility itself is still found by what the role may see.
        assert f"/facilities/{OSAKA}/" in _body(client.get(reverse("certifications:list"), {"q": "〓plant"}))

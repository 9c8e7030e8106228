"""Property: for random facilities and random people, a person never sees a facility outside their scope
nor a field outside their policy, through the queryset, a search page, the detail lookup or an export."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.http import Http404
from django.test import RequestFactory
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from accounts.models import BureauScope, OrganisationKind
from certifications.copy_export import export_ids
from certifications.exports import export_fields
from certifications.models import Facility, FacilitySite, OperatorKind
from certifications.policy import MASKS, POLICY, Scope, allowed_fields
from certifications.search import FacilitySearchForm, search_page
from certifications.selectors import get_visible_facility_or_404
from tests.certifications.conftest import facility_create
from tests.certifications.world import ROLES

pytestmark = pytest.mark.django_db

ADDRESSES = (
    "東京都新宿区1",  # 13 / 131041 / tokyo
    "東京都八王子市1",  # 13 / 132012 / tokyo
    "神奈川県横浜市1",  # 14 / 141003 / tokyo
    "大阪府大阪市1",  # 27 / 271004 / kansai
    "福井県福井市1",  # 18 / 182010 / hokuriku area, Kinki bureau
    "北海道札幌市1",  # 01 / 011002 / hokkaido
)
OWNERS = (None, "operator_a", "operator_b")

facility_strategy = st.tuples(
    st.sampled_from(ADDRESSES),
    st.lists(st.sampled_from(ADDRESSES), max_size=2),
    st.sampled_from(OWNERS),
    st.sampled_from(["tokyo", "kansai", "hokkaido", "chubu"]),  # stored area, independent of the address
    st.sampled_from(OperatorKind.values),
)


# Each bureau's prefectures, written out here rather than read from renergy.geography.
KINKI = {"18", "25", "26", "27", "28", "29", "30"}


def expected_visible(user, facility: Facility) -> bool:
    organisation = user.organisation
    policy = POLICY.get(organisation.kind)
    if policy is None or policy.scope is Scope.NONE:
        return False
    if organisation.kind == OrganisationKind.BUREAU and organisation.bureau_scope == BureauScope.REGION:
        assert organisation.bureau_region == "kinki"  # the cast's only confined bureau
        return FacilitySite.objects.filter(facility=facility, prefecture_code__in=KINKI).exists()
    if policy.scope is Scope.ALL:
        return True
    if policy.scope is Scope.AREA:
        return facility.supply_area == organisation.supply_area
    if policy.scope is Scope.OWN:
        return facility.organisation_id == organisation.pk
    code = organisation.jurisdiction_code
    sites = FacilitySite.objects.filter(facility=facility)
    return any((site.prefecture_code if len(code) == 2 else site.municipality_code) == code for site in sites)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(facilities=st.lists(facility_strategy, min_size=1, max_size=6), role=st.sampled_from(ROLES))
def test_nobody_sees_outside_scope_or_policy(orgs, make_user, facilities, role):
    Facility.objects.all().delete()
    created = []
    for number, (address, others, owner, area, kind) in enumerate(facilities):
        created.append(
            facility_create(
                f"P{number:06d}Q01",
                address,
                extra_sites=tuple(others),
                organisation=getattr(orgs, owner) if owner else None,
                supply_area=area,
                capacity_kw=Decimal(number + 1),
                operator_kind=kind,
            )
        )
    user = make_user(getattr(orgs, role))
    allowed = set(allowed_fields(user))
    expected = {facility.facility_id for facility in created if expected_visible(user, facility)}

    assert set(Facility.objects.visible_to(user).values_list("facility_id", flat=True)) == expected

    page = search_page(user, FacilitySearchForm({}, allowed=allowed), page_size=100)
    assert {row["facility_id"] for row in page.rows} == expected
    assert all(set(row) <= allowed for row in page.rows)
    # A private person's name reaches a role only with the unmasking group.
    policy = POLICY.get(user.organisation.kind)
    masked = {m.field: m for m in MASKS if policy and m.field in allowed and m.unless_group not in policy.groups}
    kinds = {facility.facility_id: facility.operator_kind for facility in created}
    names = {facility.facility_id: facility.operator_name for facility in created}
    for row in page.rows:
        if "operator_name" in row:
            hidden = "operator_name" in masked and kinds[row["facility_id"]] == OperatorKind.INDIVIDUAL
            assert row["operator_name"] == (str(masked["operator_name"].text) if hidden else names[row["facility_id"]])
    if "operator_name" in masked:
        found = search_page(user, FacilitySearchForm({"q": "〓operatorname"}, allowed=allowed), page_size=100)
        assert {row["facility_id"] for row in found.rows} == {
            facility_id for facility_id in expected if kinds[facility_id] == OperatorKind.CORPORATION
        }

    request = RequestFactory().get("/")
    request.user = user
    for facility in created:
        if facility.facility_id in expected:
            visible = get_visible_facility_or_404(user, facility.facility_id, request=request)
            assert set(visible.values) <= allowed
        else:
            with pytest.raises(Http404):
                get_visible_facility_or_404(user, facility.facility_id, request=request)

    fields = export_fields(user, ["representative_name", "operator_address", "procurement_price", "panel_maker"])
    assert set(fields) <= allowed
    exported = export_ids(Facility.objects.visible_to(user), sort_key="facility_id", limit=1000) if fields else []
    assert set(exported) == (expected if fields else set())

"""A regional bureau sees every facility unless the agency confines it to its own prefectures: the setting, who
may change it, and what the bureau then sees (the exhaustive tests cover the confined bureau in every output)."""

from __future__ import annotations

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.urls import reverse

from accounts.lifecycle import organisation_rights_change
from accounts.models import BureauScope, Organisation, OrganisationKind
from audit.models import SecurityEvent
from certifications.models import Facility
from certifications.policy import ORGANISATION_SETTINGS, POLICY, Scope, policy_for
from renergy.geography import BUREAU_PREFECTURES, PREFECTURES, BureauRegion
from tests.accounts.conftest import ready
from tests.certifications.conftest import facility_create

pytestmark = pytest.mark.django_db

KYOTO = "A000101B01"
SENDAI = "A000102B02"
TOKYO_WITH_OSAKA_SITE = "A000103B03"


@pytest.fixture
def administrator(orgs, make_user):
    return ready(make_user(orgs.contractor, is_staff=True))


@pytest.fixture
def facilities() -> None:
    facility_create(KYOTO, "京都府京都市中京区寺町通御池上る上本能寺前町488")
    facility_create(SENDAI, "宮城県仙台市青葉区国分町3-7-1")
    facility_create(TOKYO_WITH_OSAKA_SITE, "東京都新宿区西新宿2-8-1", extra_sites=("大阪府大阪市北区中之島1-3-20",))


def _visible(user) -> set[str]:
    return set(Facility.objects.visible_to(user).values_list("facility_id", flat=True))


def test_every_prefecture_belongs_to_exactly_one_bureau() -> None:
    listed = [code for codes in BUREAU_PREFECTURES.values() for code in codes]
    assert sorted(listed) == sorted(PREFECTURES)
    assert set(BUREAU_PREFECTURES) == set(BureauRegion)


def test_a_confined_bureau_keeps_the_field_groups_of_a_bureau() -> None:
    (setting,) = ORGANISATION_SETTINGS
    assert (setting.kind, setting.setting, setting.value) == (OrganisationKind.BUREAU, "bureau_scope", "region")
    assert setting.policy.scope is Scope.REGION
    assert setting.policy.groups == POLICY[OrganisationKind.BUREAU].groups


def test_a_bureau_sees_every_facility_by_default(orgs, make_user, facilities) -> None:
    assert Organisation(name="x", kind=OrganisationKind.BUREAU).bureau_scope == BureauScope.ALL
    bureau = make_user(orgs.bureau)
    assert policy_for(bureau).scope is Scope.ALL
    assert _visible(bureau) == {KYOTO, SENDAI, TOKYO_WITH_OSAKA_SITE}


def test_a_confined_bureau_sees_the_facilities_with_a_site_in_its_prefectures(orgs, make_user, facilities) -> None:
    kinki = make_user(orgs.bureau_kinki)
    assert policy_for(kinki).scope is Scope.REGION
    assert _visible(kinki) == {KYOTO, TOKYO_WITH_OSAKA_SITE}


def test_a_confined_bureau_gets_404_outside_its_region(orgs, make_user, facilities, signed_in_client) -> None:
    client = signed_in_client(make_user(orgs.bureau_kinki))
    assert client.get(reverse("certifications:detail", args=[KYOTO])).status_code == 200
    assert client.get(reverse("certifications:detail", args=[SENDAI])).status_code == 404
    assert SecurityEvent.objects.filter(action="facility.out_of_scope").exists()
    listed = client.get(reverse("certifications:list")).content.decode()
    assert KYOTO in listed and SENDAI not in listed


def test_the_administrator_confines_a_bureau_and_it_holds_at_the_next_request(
    orgs, make_user, administrator, signed_in_client, facilities
) -> None:
    bureau = make_user(orgs.bureau)
    bureau_client = signed_in_client(bureau)
    assert bureau_client.get(reverse("certifications:detail", args=[SENDAI])).status_code == 200
    admin = signed_in_client(administrator)
    url = reverse("accounts:admin_organisation", args=[orgs.bureau.pk])
    form = admin.get(url).content.decode()
    assert "経済産業局が閲覧できる設備" in form and "関東経済産業局" in form
    response = admin.post(
        url,
        {
            "is_active": "on",
            "bureau_region": "kanto",
            "bureau_scope": "region",
            "reason": "資源エネルギー庁の指示 2026-12-01",
        },
    )
    assert response.status_code == 302
    orgs.bureau.refresh_from_db()
    assert (orgs.bureau.bureau_region, orgs.bureau.bureau_scope) == ("kanto", "region")
    event = SecurityEvent.objects.get(action="organisation.rights_changed", organisation=orgs.bureau)
    assert event.actor == administrator
    assert event.data == {
        "reason": "資源エネルギー庁の指示 2026-12-01",
        "before": {"bureau_region": "", "bureau_scope": "all"},
        "after": {"bureau_region": "kanto", "bureau_scope": "region"},
    }
    assert bureau_client.get(reverse("certifications:detail", args=[SENDAI])).status_code == 404
    assert bureau_client.get(reverse("certifications:detail", args=[TOKYO_WITH_OSAKA_SITE])).status_code == 200
    assert "東京都" in admin.get(url).content.decode()  # the page names the bureau's prefectures


def test_confining_a_bureau_needs_its_region(orgs, administrator) -> None:
    with pytest.raises(ValidationError):
        organisation_rights_change(organisation=orgs.bureau, actor=administrator, reason="x", bureau_scope="region")
    with pytest.raises(IntegrityError), transaction.atomic():
        Organisation.objects.filter(pk=orgs.bureau.pk).update(bureau_scope=BureauScope.REGION)


def test_a_scope_that_is_not_a_choice_is_refused(orgs, administrator) -> None:
    with pytest.raises(ValidationError):
        organisation_rights_change(organisation=orgs.bureau_kinki, actor=administrator, reason="x", bureau_scope="area")
    orgs.bureau_kinki.refresh_from_db()
    assert orgs.bureau_kinki.bureau_scope == BureauScope.REGION


def test_only_a_bureau_has_a_region(orgs, administrator, signed_in_client) -> None:
    with pytest.raises(ValidationError):
        organisation_rights_change(organisation=orgs.agency, actor=administrator, reason="x", bureau_region="kinki")
    with pytest.raises(ValidationError):
        organisation_rights_change(
            organisation=orgs.grid_tokyo, actor=administrator, reason="x", bureau_region="kanto", bureau_scope="region"
        )
    with pytest.raises(IntegrityError), transaction.atomic():
        Organisation.objects.filter(pk=orgs.agency.pk).update(bureau_region=BureauRegion.KANTO)
    # The console does not even offer the fields for another kind.
    form = signed_in_client(administrator).get(reverse("accounts:admin_organisation", args=[orgs.agency.pk]))
    assert 'name="bureau_scope"' not in form.content.decode()


def test_nobody_but_the_administrator_changes_a_bureaus_scope(orgs, make_user, signed_in_client) -> None:
    bureau_officer = ready(make_user(orgs.bureau_kinki, officer=True))
    agency_officer = ready(make_user(orgs.agency, officer=True))
    for actor in (bureau_officer, agency_officer):
        with pytest.raises(PermissionDenied):
            organisation_rights_change(organisation=orgs.bureau_kinki, actor=actor, reason="x", bureau_scope="all")
    response = signed_in_client(bureau_officer).post(
        reverse("accounts:admin_organisation", args=[orgs.bureau_kinki.pk]),
        {"is_active": "on", "bureau_region": "kinki", "bureau_scope": "all", "reason": "広げたい"},
    )
    assert response.status_code == 403
    orgs.bureau_kinki.refresh_from_db()
    assert orgs.bureau_kinki.bureau_scope == BureauScope.REGION
    assert not SecurityEvent.objects.filter(action="organisation.rights_changed").exists()


def test_the_visibility_doc_names_the_setting_and_each_bureaus_prefectures() -> None:
    from certifications.visibility_doc import render_visibility_markdown

    doc = render_visibility_markdown()
    assert "`bureau` with `bureau_scope = region`" in doc
    assert "| `kinki` | 近畿経済産業局 | 福井県、滋賀県、京都府、大阪府、兵庫県、奈良県、和歌山県 |" in doc

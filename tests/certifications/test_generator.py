"""The synthetic register looks like the real one, and loads through COPY on PostgreSQL."""

from __future__ import annotations

from collections import Counter
from decimal import Decimal

import pytest
from django.core.management import call_command
from django.db import connection

from certifications.models import SITE_SEPARATOR, Facility, FacilitySite, FacilityStatus, PowerSource
from certifications.municipalities import municipalities
from renergy.geography import default_supply_area

pytestmark = pytest.mark.django_db

COUNT = 4000


@pytest.fixture
def generated(capsys):
    call_command("generate_facilities", "--count", str(COUNT), "--seed", "3")
    return capsys.readouterr().out


def test_the_command_loads_the_rows_and_their_sites(generated):
    assert f"generated {COUNT} facilities" in generated
    assert Facility.objects.count() == COUNT
    assert not Facility.objects.filter(sites__isnull=True).exists()
    assert FacilitySite.objects.filter(position=1).count() == COUNT
    assert FacilitySite.objects.count() > COUNT  # some facilities have several sites
    # The id sequence follows the copied ids, so ordinary inserts still work afterwards.
    facility = Facility.objects.first()
    facility.pk = None
    facility.facility_id = "Z999999Z99"
    facility.save()


def test_the_shape_matches_the_real_register(generated):
    rows = list(Facility.objects.values_list("power_source", "capacity_kw", "certified_on", "status"))
    solar = sum(1 for source, *_ in rows if source == PowerSource.SOLAR) / COUNT
    small = sum(1 for _s, kw, *_ in rows if kw < 10) / COUNT
    cluster = sum(1 for _s, kw, *_ in rows if Decimal("49.5") <= kw <= Decimal("49.9")) / COUNT
    huge = sum(1 for _s, kw, *_ in rows if kw > 1000) / COUNT
    lapsed = sum(1 for *_x, status in rows if status == FacilityStatus.LAPSED) / COUNT
    months = Counter(day.month for _s, _k, day, _st in rows)
    assert solar > 0.99
    assert 0.5 < small < 0.75
    assert 0.1 < cluster < 0.25
    assert 0.0005 < huge < 0.01
    assert 0.12 < lapsed < 0.18
    assert months[3] > 2 * months[5] and months[2] > 1.5 * months[5]
    median_small = sorted(kw for _s, kw, *_ in rows if kw < 10)[int(small * COUNT) // 2]
    assert Decimal("3.5") < median_small < Decimal("5.5")


def test_codes_are_real_and_consistent(generated):
    names = municipalities()
    for prefecture, municipality, area in Facility.objects.values_list(
        "prefecture_code", "municipality_code", "supply_area"
    ):
        assert names[municipality][0] == prefecture
        assert area == default_supply_area(prefecture) or (prefecture == "22" and area == "tokyo")


def test_procurement_periods_are_10_years_under_10_kw_and_20_otherwise(generated):
    for kw, start, end in Facility.objects.filter(operation_start_on__isnull=False).values_list(
        "capacity_kw", "operation_start_on", "procurement_end_month"
    ):
        assert end.year - start.year == (10 if kw < 10 else 20)


def test_operators_are_individuals_or_companies_owning_many(generated):
    owners = Counter(Facility.objects.exclude(organisation=None).values_list("organisation", flat=True))
    assert owners.most_common(1)[0][1] > 20
    assert Facility.objects.filter(organisation=None, capacity_kw__lt=10).count() > COUNT // 3


def _sites_texts() -> dict[int, tuple[str, str]]:
    """Per facility: the text the database keeps, and the text joined from its sites now."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT f.id, f.sites_text, coalesce(string_agg(s.address, %s ORDER BY s.position), '') "
            "FROM certifications_facility f LEFT JOIN certifications_facilitysite s ON s.facility_id = f.id "
            "GROUP BY f.id",
            [SITE_SEPARATOR],
        )
        return {pk: (kept, joined) for pk, kept, joined in cursor.fetchall()}


def test_the_generator_writes_the_joined_sites_the_database_would_keep(generated):
    texts = _sites_texts()
    assert len(texts) == COUNT
    assert all(kept == joined and kept for kept, joined in texts.values())
    assert any(SITE_SEPARATOR in kept for kept, _joined in texts.values())


def test_the_joined_sites_follow_every_change_of_the_sites(make_facility):
    facility = make_facility("Q000001A01", "愛知県名古屋市中区三の丸", extra_sites=("愛知県豊田市元城町",))
    [(kept, joined)] = [texts for pk, texts in _sites_texts().items() if pk == facility.pk]
    assert kept == joined and SITE_SEPARATOR in kept
    second = FacilitySite.objects.get(facility=facility, position=2)
    second.address = "愛知県岡崎市十王町〓moved"
    second.save()
    assert _sites_texts()[facility.pk][0].endswith("愛知県岡崎市十王町〓moved")
    second.delete()
    kept, joined = _sites_texts()[facility.pk]
    assert kept == joined and SITE_SEPARATOR not in kept
    FacilitySite.objects.filter(facility=facility).delete()
    assert _sites_texts()[facility.pk] == ("", "")

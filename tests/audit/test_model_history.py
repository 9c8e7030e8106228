"""Model history (django-auditlog) must not become a side door to facility data."""

from __future__ import annotations

from typing import Any

from auditlog.models import LogEntry

from certifications.models import Facility
from tests.certifications.conftest import facility_create


def test_it_masks_operator_personal_data_in_facility_history(db: None) -> None:
    facility = facility_create("A900001B01", "東京都新宿区西新宿2-8-1", representative_name="山田花子")
    facility.representative_name = "鈴木一郎"
    facility.save()

    history = LogEntry.objects.get_for_object(facility)
    text = " ".join(str(entry.changes) for entry in history)
    assert history.count() == 2
    assert "山田花子" not in text
    assert "鈴木一郎" not in text


def test_it_keeps_facility_history_out_of_the_admin_even_for_the_break_glass_superuser(
    orgs: Any, make_user: Any, signed_in_client: Any
) -> None:
    facility = facility_create("A900002B02", "大阪府大阪市北区中之島1-3-20", plant_name="秘密の発電所")
    Facility.objects.filter(pk=facility.pk).update(plant_name="秘密の発電所2")
    facility.refresh_from_db()
    facility.save()
    entry = LogEntry.objects.get_for_object(facility).first()
    assert entry is not None
    superuser = make_user(orgs.contractor, is_staff=True, is_superuser=True)
    client = signed_in_client(superuser)

    listing = client.get("/admin/auditlog/logentry/")
    detail = client.get(f"/admin/auditlog/logentry/{entry.pk}/change/")
    search = client.get("/admin/auditlog/logentry/", {"q": "A900002B02"})

    assert listing.status_code == 200
    assert "A900002B02" not in listing.content.decode()
    assert detail.status_code in (302, 404)
    assert "秘密の発電所" not in detail.content.decode()
    # The search term is echoed back in the page's own links; no result row may name the entry.
    assert f"/admin/auditlog/logentry/{entry.pk}/change/" not in search.content.decode()

"""If the access record cannot be written, no data is served; the health check still answers."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test import Client
from django.urls import NoReverseMatch, reverse

from tests.database import as_superuser

pytestmark = [pytest.mark.django_db]


@pytest.fixture
def audit_store_broken(db: None):
    """A real failure: the table the writer inserts into is gone (renamed inside the test's transaction,
    so the rollback at the end restores it)."""
    with as_superuser(), connection.cursor() as cursor:
        cursor.execute("ALTER TABLE audit_accessrecord RENAME TO audit_accessrecord_away")


def _facility_list_url() -> str:
    try:
        return reverse("certifications:list")
    except NoReverseMatch:
        pytest.skip("the facility list is not there yet")


def test_the_facility_list_answers_503_without_data(orgs, make_user, signed_in_client, audit_store_broken) -> None:
    client = signed_in_client(make_user(orgs.agency))
    response = client.get(_facility_list_url())
    assert response.status_code == 503
    assert "アクセス記録を保存できない" in response.content.decode()
    assert "no-store" in response["Cache-Control"]
    assert "X-Request-ID" in response


def test_a_facility_detail_answers_503(orgs, make_user, signed_in_client, audit_store_broken) -> None:
    client = signed_in_client(make_user(orgs.agency))
    response = client.get(reverse("certifications:detail", kwargs={"facility_id": "F000000001"}))
    assert response.status_code == 503


def test_the_health_check_still_answers(client: Client, audit_store_broken) -> None:
    response = client.get(reverse("accounts:healthz"))
    assert response.status_code == 200


def test_the_failure_is_logged(client: Client, audit_store_broken, caplog) -> None:
    client.get("/")
    assert any(r.name == "audit" and r.levelname == "ERROR" for r in caplog.records)


def test_an_export_stops_when_its_chunk_cannot_be_recorded(rf, audit_store_broken) -> None:
    from django.http import StreamingHttpResponse

    from audit.disclosure import AuditUnavailable, disclose

    request = rf.get("/facilities/export.csv")

    def rows():
        disclose(request, facility_ids=["A1"], fields=["facility_id"], kind="export", immediate=True)
        yield b"A1"

    with pytest.raises(AuditUnavailable):
        b"".join(StreamingHttpResponse(rows()).streaming_content)  # type: ignore[arg-type]

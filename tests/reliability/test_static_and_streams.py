"""Every request leaves a record (static files too), and a streamed download whose record cannot be written
looks failed to the client on every server: the outage page before the first byte, a reset connection after."""

from __future__ import annotations

import http.client

import pytest
from django.db import connection
from django.test import Client
from django.urls import reverse

from audit.models import AccessRecord
from certifications.generator import generate
from tests.database import as_superuser
from tests.reliability.servers import AppServer, port


@pytest.mark.django_db
def test_a_static_file_leaves_a_record_and_carries_a_request_id():
    response = Client().get("/static/css/app.css")
    assert response.status_code == 200
    record = AccessRecord.objects.get(request_id=response["X-Request-ID"])
    assert record.path == "/static/css/app.css" and record.status == 200


def _database_url() -> str:
    params = connection.settings_dict
    return f"postgres://{params['USER']}@{params['HOST']}:{params['PORT']}/{params['NAME']}"


def _refuse_parts_from(part: int) -> None:
    """A real database failure of the audit write (as a full disk or a revoked grant would give), from the
    continuation record `part` on: a trigger that raises (made by the superuser; the runtime role owns nothing)."""
    with as_superuser(), connection.cursor() as cursor:
        cursor.execute(
            "CREATE OR REPLACE FUNCTION reliability_refuse_part() RETURNS trigger LANGUAGE plpgsql AS $$ "
            f"BEGIN IF NEW.part >= {int(part)} THEN RAISE EXCEPTION 'audit store refuses the write'; END IF; "
            "RETURN NEW; END $$"
        )
        cursor.execute("DROP TRIGGER IF EXISTS reliability_refuse ON audit_accessrecord")
        cursor.execute(
            "CREATE TRIGGER reliability_refuse BEFORE INSERT ON audit_accessrecord "
            "FOR EACH ROW EXECUTE FUNCTION reliability_refuse_part()"
        )


def _allow_all() -> None:
    with as_superuser(), connection.cursor() as cursor:
        cursor.execute("DROP TRIGGER IF EXISTS reliability_refuse ON audit_accessrecord")


def _get(server: AppServer, path: str, cookie: str) -> tuple[int, str, bytes, BaseException | None]:
    client = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
    client.request("GET", path, headers={"Cookie": cookie, "Host": "127.0.0.1"})
    response = client.getresponse()
    body, error = b"", None
    try:
        while chunk := response.read(65536):
            body += chunk
    except (ConnectionResetError, http.client.IncompleteRead) as failure:
        error = failure
    client.close()
    return response.status, response.getheader("Content-Type", ""), body, error


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("kind", ["runserver", "gunicorn"])
def test_a_download_whose_record_fails_is_cut_off_or_refused_on_every_server(kind, orgs, make_user, signed_in_client):
    generate(count=2500, seed=11)  # more than the first batch: the export has a second recorded part
    client = signed_in_client(make_user(orgs.agency))
    cookie = "; ".join(f"{name}={morsel.value}" for name, morsel in client.cookies.items())
    path = reverse("certifications:export_csv")
    with AppServer(kind, port(3 if kind == "gunicorn" else 4), database_url=_database_url()) as server:
        try:
            status, _type, body, error = _get(server, path, cookie)
            assert status == 200 and error is None and body.count(b"\r\n") == 2501  # intact when all is well

            _refuse_parts_from(2)  # the first batch is recorded and sent, the second cannot be recorded
            status, _type, body, error = _get(server, path, cookie)
            assert status == 200 and body.count(b"\r\n") < 2501
            assert error is not None, f"{kind}: a cut-off download read as complete"

            _refuse_parts_from(1)  # not even the first chunk can be recorded
            status, content_type, body, error = _get(server, path, cookie)
            assert status == 503 and content_type.startswith("text/html") and error is None
            assert "B0" not in body.decode() and "<html" in body.decode().lower()
        finally:
            _allow_all()

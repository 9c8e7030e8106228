"""Every request leaves one access record with who, where and what, and never a secret."""

from __future__ import annotations

import hashlib

import pytest
from auditlog.models import LogEntry
from django.test import Client
from django.urls import reverse

from accounts.models import Organisation
from audit.disclosure import disclose
from audit.events import record_event
from audit.hashing import ACCESS_FIELDS, EVENT_FIELDS, hash_sql
from audit.models import AccessRecord, AppendOnlyError, SecurityEvent

pytestmark = [pytest.mark.django_db]


def _hash_verifies(table: str, fields: tuple[str, ...], pk: int) -> bool:
    """The hash the database stored at INSERT equals the one verification recomputes from the row."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(f"SELECT record_hash = {hash_sql(fields)} FROM {table} WHERE id = %s", [pk])  # noqa: S608
        return cursor.fetchone()[0]


def test_an_anonymous_request_is_recorded_with_its_request_id(client: Client) -> None:
    response = client.get("/no-such-page/?page=2&token=s3cret", HTTP_USER_AGENT="UA/1.0", REMOTE_ADDR="198.51.100.7")
    record = AccessRecord.objects.get()
    assert response.status_code == 404
    assert str(record.request_id) == response["X-Request-ID"]
    assert (record.user_id, record.role, record.status, record.method) == (None, "", 404, "GET")
    assert record.ip == "198.51.100.7"
    assert record.user_agent == "UA/1.0"
    assert record.path == "/no-such-page/"
    assert record.query == "page=2&token="  # the key is kept, its value is not
    assert len(record.record_hash) == 64
    assert _hash_verifies("audit_accessrecord", ACCESS_FIELDS, record.pk)


def test_a_signed_in_request_names_account_organisation_role_and_session(orgs, make_user, signed_in_client) -> None:
    user = make_user(orgs.grid_tokyo)
    client = signed_in_client(user)
    client.get(reverse("accounts:home"))
    record = AccessRecord.objects.get(route="accounts:home")
    assert (record.user_id, record.organisation_id, record.role) == (user.pk, orgs.grid_tokyo.pk, "grid")
    session_key = client.cookies["renergy_session"].value
    assert record.session_hash == hashlib.sha256(session_key.encode()).hexdigest()
    assert session_key not in str(AccessRecord.objects.values().get(pk=record.pk))


def test_the_sign_in_form_leaves_no_password_or_code_in_the_trail(orgs, make_user, client: Client) -> None:
    user = make_user(orgs.agency)
    client.post(reverse("accounts:login"), {"username": user.email, "password": "correct horse battery staple"})
    client.post(reverse("accounts:login_code"), {"otp_token": "123456"})
    trail = str(list(AccessRecord.objects.values())) + str(list(SecurityEvent.objects.values()))
    assert AccessRecord.objects.count() == 2
    assert "correct horse" not in trail
    assert "123456" not in trail


def test_a_secret_in_the_path_is_redacted(client: Client) -> None:
    client.get(reverse("accounts:activate", kwargs={"token": "tok-abcdef-123456"}))
    record = AccessRecord.objects.get()
    assert "tok-abcdef-123456" not in record.path
    assert record.path == "/activate/[redacted]/"


def test_a_nul_byte_from_the_client_cannot_make_the_record_fail(client: Client) -> None:
    # Refused before any view (renergy.middleware), and recorded as sent, visibly escaped: never silently altered.
    response = client.get("/healthz", HTTP_USER_AGENT="evil\x00agent")
    assert response.status_code == 400
    assert AccessRecord.objects.get().user_agent == "evil\\x00agent"


def test_disclosed_facilities_and_fields_are_written_with_the_request(rf, orgs, make_user) -> None:
    from audit.middleware import AccessRecordMiddleware

    def view(request):
        disclose(request, facility_ids=["F1", "F2"], fields=["facility_id", "capacity_kw"], kind="list")
        disclose(request, facility_ids=["F2", "F3"], fields=["operator_name"], kind="list")
        from django.http import HttpResponse

        return HttpResponse("ok")

    AccessRecordMiddleware(view)(rf.get("/facilities/"))
    record = AccessRecord.objects.get()
    assert record.disclosure_kind == "list"
    assert record.facility_ids == ["F1", "F2", "F3"]
    assert record.fields == ["facility_id", "capacity_kw", "operator_name"]
    assert record.row_count == 3


def test_a_streamed_export_commits_each_chunk_before_it_leaves(rf) -> None:
    from django.http import StreamingHttpResponse

    from audit.middleware import AccessRecordMiddleware

    def view(request):
        def rows():
            for chunk in (["A1", "A2"], ["A3"]):
                disclose(request, facility_ids=chunk, fields=["facility_id"], kind="export", immediate=True)
                # The chunk's record is committed before the chunk is yielded.
                assert set(chunk) <= {i for r in AccessRecord.objects.all() for i in (r.facility_ids or [])}
                yield ",".join(chunk).encode()

        return StreamingHttpResponse(rows())

    response = AccessRecordMiddleware(view)(rf.get("/facilities/export.csv"))
    # The request's own record, and the first chunk's: it is produced before the response leaves, so that a
    # failure there is the outage page rather than a cut-off download (audit.streaming).
    assert AccessRecord.objects.count() == 2
    assert b"".join(response.streaming_content) == b"A1,A2A3"  # type: ignore[attr-defined]
    records = list(AccessRecord.objects.order_by("id"))
    assert [r.part for r in records] == [0, 1, 2]
    assert [r.facility_ids for r in records] == [None, ["A1", "A2"], ["A3"]]
    assert len({r.request_id for r in records}) == 1
    assert sum(r.row_count for r in records) == 3


def test_security_events_carry_who_when_ip_and_request_id(orgs, make_user, client: Client) -> None:
    user = make_user(orgs.operator_a)
    response = client.post(
        reverse("accounts:login"), {"username": user.email, "password": "wrong password!"}, REMOTE_ADDR="203.0.113.9"
    )
    events = SecurityEvent.objects.all()
    assert events, "a failed login is a security event"
    event = events[0]
    assert str(event.request_id) == response["X-Request-ID"]
    assert event.ip == "203.0.113.9"
    assert event.at is not None
    assert _hash_verifies("audit_securityevent", EVENT_FIELDS, event.pk)


def test_record_event_masks_secret_keys_whatever_the_caller_passes(orgs, make_user) -> None:
    user = make_user(orgs.agency)
    record_event(action="test.masking", actor=user, data={"password": "hunter2", "nested": {"otp_token": "654321"}})
    event = SecurityEvent.objects.get(action="test.masking")
    assert event.data == {"password": "[masked]", "nested": {"otp_token": "[masked]"}}
    assert event.organisation_id == orgs.agency.pk


def test_model_history_gets_our_client_ip_and_request_id_not_the_forwarded_header(
    orgs, make_user, signed_in_client
) -> None:
    from audit import context

    token = context.activate(context.RequestContext(request_id="00000000-0000-0000-0000-000000000001", ip="192.0.2.1"))
    try:
        Organisation.objects.get(pk=orgs.bureau.pk).save()
        org = Organisation.objects.get(pk=orgs.bureau.pk)
        org.name = "改名した経済産業局"
        org.save()
    finally:
        context.deactivate(token)
    entry = LogEntry.objects.get_for_object(org).filter(action=LogEntry.Action.UPDATE).latest("timestamp")
    assert entry.remote_addr == "192.0.2.1"
    assert entry.cid == "00000000-0000-0000-0000-000000000001"


def test_the_password_and_security_stamp_never_enter_model_history(orgs, make_user) -> None:
    user = make_user(orgs.agency)
    user.set_password("another long passphrase 42")
    user.save()
    for entry in LogEntry.objects.get_for_object(user):
        assert "password" not in (entry.changes or {})
        assert "security_stamp" not in (entry.changes or {})


def test_the_application_cannot_edit_or_delete_records(client: Client) -> None:
    client.get("/healthz")
    record = AccessRecord.objects.get()
    record.status = 200
    with pytest.raises(AppendOnlyError):
        record.save()
    with pytest.raises(AppendOnlyError):
        record.delete()
    with pytest.raises(AppendOnlyError):
        AccessRecord.objects.all().update(status=500)
    with pytest.raises(AppendOnlyError):
        AccessRecord.objects.all().delete()

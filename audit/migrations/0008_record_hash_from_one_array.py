"""The record-hash triggers compute the same canonical text more cheaply (audit.hashing.canonical_sql):
`to_jsonb(ARRAY[...])::text` instead of `json_build_array(...)::text`. The text, and so every hash already
stored, is unchanged; an insert costs less and verification recomputes with the same expression."""

from django.db import migrations

ACCESS_HASH = """encode(sha256(convert_to(to_jsonb(ARRAY[coalesce(to_char(NEW.at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'), ''), coalesce(NEW.request_id::text, ''), coalesce(NEW.user_id::text, ''), coalesce(NEW.organisation_id::text, ''), coalesce(NEW.role::text, ''), coalesce(NEW.session_hash::text, ''), coalesce(NEW.ip::text, ''), coalesce(NEW.user_agent::text, ''), coalesce(NEW.method::text, ''), coalesce(NEW.path::text, ''), coalesce(NEW.query::text, ''), coalesce(NEW.route::text, ''), coalesce(NEW.status::text, ''), coalesce(NEW.duration_ms::text, ''), coalesce(NEW.disclosure_kind::text, ''), coalesce(NEW.facility_ids::text, ''), coalesce(NEW.fields::text, ''), coalesce(NEW.row_count::text, ''), coalesce(NEW.part::text, '')])::text, 'UTF8')), 'hex')"""  # noqa: E501
EVENT_HASH = """encode(sha256(convert_to(to_jsonb(ARRAY[coalesce(to_char(NEW.at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'), ''), coalesce(NEW.action::text, ''), coalesce(NEW.request_id::text, ''), coalesce(NEW.actor_id::text, ''), coalesce(NEW.target_user_id::text, ''), coalesce(NEW.organisation_id::text, ''), coalesce(NEW.ip::text, ''), coalesce(NEW.data::text, '')])::text, 'UTF8')), 'hex')"""  # noqa: E501
# The expressions of the previous triggers, for going back.
OLD_ACCESS_HASH = """encode(sha256(convert_to(json_build_array(coalesce(to_char(NEW.at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'), ''), coalesce(NEW.request_id::text, ''), coalesce(NEW.user_id::text, ''), coalesce(NEW.organisation_id::text, ''), coalesce(NEW.role::text, ''), coalesce(NEW.session_hash::text, ''), coalesce(NEW.ip::text, ''), coalesce(NEW.user_agent::text, ''), coalesce(NEW.method::text, ''), coalesce(NEW.path::text, ''), coalesce(NEW.query::text, ''), coalesce(NEW.route::text, ''), coalesce(NEW.status::text, ''), coalesce(NEW.duration_ms::text, ''), coalesce(NEW.disclosure_kind::text, ''), coalesce(NEW.facility_ids::text, ''), coalesce(NEW.fields::text, ''), coalesce(NEW.row_count::text, ''), coalesce(NEW.part::text, ''))::text, 'UTF8')), 'hex')"""  # noqa: E501
OLD_EVENT_HASH = """encode(sha256(convert_to(json_build_array(coalesce(to_char(NEW.at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'), ''), coalesce(NEW.action::text, ''), coalesce(NEW.request_id::text, ''), coalesce(NEW.actor_id::text, ''), coalesce(NEW.target_user_id::text, ''), coalesce(NEW.organisation_id::text, ''), coalesce(NEW.ip::text, ''), coalesce(NEW.data::text, ''))::text, 'UTF8')), 'hex')"""  # noqa: E501

FUNCTIONS = """
CREATE OR REPLACE FUNCTION audit_access_record_hash() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    NEW.record_hash := {access};
    RETURN NEW;
END;
$$;
CREATE OR REPLACE FUNCTION audit_event_record_hash() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    NEW.record_hash := {event};
    RETURN NEW;
END;
$$;
"""


class Migration(migrations.Migration):
    dependencies = [("audit", "0007_access_record_facility_ids_gin")]

    operations = [
        migrations.RunSQL(
            FUNCTIONS.format(access=ACCESS_HASH, event=EVENT_HASH),
            FUNCTIONS.format(access=OLD_ACCESS_HASH, event=OLD_EVENT_HASH),
        )
    ]

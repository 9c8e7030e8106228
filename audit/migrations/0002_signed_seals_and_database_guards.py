"""Tamper evidence that a database superuser cannot quietly defeat.

- The database computes every record hash (BEFORE INSERT) with the expression of audit.hashing, frozen here.
- BEFORE TRUNCATE triggers on every audit table (each access-record partition too: statement triggers are
  not inherited), on model history and on consent records; model history and consent records become
  append-only like the trail.
- Event triggers refuse DROP of an audit table and DROP or DETACH of an access-record partition younger than
  the retention period (created only when migrating as a superuser: nobody else may create event triggers).
- Seals carry an Ed25519 signature and the id of the key that made it; verification runs record what they
  checked.

A superuser can still switch triggers off (session_replication_role = replica): the signatures and the
anchors outside the database are what catch that (audit.sealing.verify).
"""

from django.conf import settings
from django.db import migrations, models

ACCESS_HASH = """encode(sha256(convert_to(json_build_array(coalesce(to_char(NEW.at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'), ''), coalesce(NEW.request_id::text, ''), coalesce(NEW.user_id::text, ''), coalesce(NEW.organisation_id::text, ''), coalesce(NEW.role::text, ''), coalesce(NEW.session_hash::text, ''), coalesce(NEW.ip::text, ''), coalesce(NEW.user_agent::text, ''), coalesce(NEW.method::text, ''), coalesce(NEW.path::text, ''), coalesce(NEW.query::text, ''), coalesce(NEW.route::text, ''), coalesce(NEW.status::text, ''), coalesce(NEW.duration_ms::text, ''), coalesce(NEW.disclosure_kind::text, ''), coalesce(NEW.facility_ids::text, ''), coalesce(NEW.fields::text, ''), coalesce(NEW.row_count::text, ''), coalesce(NEW.part::text, ''))::text, 'UTF8')), 'hex')"""
EVENT_HASH = """encode(sha256(convert_to(json_build_array(coalesce(to_char(NEW.at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'), ''), coalesce(NEW.action::text, ''), coalesce(NEW.request_id::text, ''), coalesce(NEW.actor_id::text, ''), coalesce(NEW.target_user_id::text, ''), coalesce(NEW.organisation_id::text, ''), coalesce(NEW.ip::text, ''), coalesce(NEW.data::text, ''))::text, 'UTF8')), 'hex')"""

HASH_DDL = f"""
CREATE FUNCTION audit_access_record_hash() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    NEW.record_hash := {ACCESS_HASH};
    RETURN NEW;
END;
$$;
CREATE FUNCTION audit_event_record_hash() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    NEW.record_hash := {EVENT_HASH};
    RETURN NEW;
END;
$$;
CREATE TRIGGER audit_record_hash BEFORE INSERT ON audit_accessrecord
    FOR EACH ROW EXECUTE FUNCTION audit_access_record_hash();
CREATE TRIGGER audit_record_hash BEFORE INSERT ON audit_securityevent
    FOR EACH ROW EXECUTE FUNCTION audit_event_record_hash();
"""

HASH_UNDO = """
DROP TRIGGER IF EXISTS audit_record_hash ON audit_accessrecord;
DROP TRIGGER IF EXISTS audit_record_hash ON audit_securityevent;
DROP FUNCTION IF EXISTS audit_access_record_hash();
DROP FUNCTION IF EXISTS audit_event_record_hash();
"""

TRUNCATE_TABLES = (
    "audit_accessrecord", "audit_securityevent", "audit_auditseal", "audit_verificationrun", "audit_findingreview",
    "accounts_termsacceptance", "auditlog_logentry",
)
APPEND_ONLY_TABLES = ("accounts_termsacceptance", "auditlog_logentry")

PARTITION_GUARD_DDL = """
CREATE FUNCTION audit_partition_expired(name text) RETURNS boolean LANGUAGE sql STABLE AS $$
    SELECT make_date(substr(name, 21, 4)::int, substr(name, 26, 2)::int, 1) + interval '1 month'
        <= date_trunc('month', now() AT TIME ZONE 'UTC' - make_interval(years => %(years)s))
$$;
CREATE FUNCTION audit_refuse_partition_drop() RETURNS event_trigger LANGUAGE plpgsql AS $$
DECLARE
    dropped record;
BEGIN
    FOR dropped IN SELECT * FROM pg_event_trigger_dropped_objects() WHERE object_type = 'table' LOOP
        IF dropped.object_name ~ '^(audit_(accessrecord|securityevent|auditseal|verificationrun|findingreview)|accounts_termsacceptance|auditlog_logentry)$'
           OR (dropped.object_name ~ '^audit_accessrecord_y[0-9]{4}m[0-9]{2}$'
               AND NOT audit_partition_expired(dropped.object_name)) THEN
            RAISE EXCEPTION 'audit tables cannot be dropped (%%)', dropped.object_name
                USING ERRCODE = 'insufficient_privilege';
        END IF;
    END LOOP;
END;
$$;
CREATE FUNCTION audit_refuse_partition_detach() RETURNS event_trigger LANGUAGE plpgsql AS $$
DECLARE
    loose text;
BEGIN
    SELECT c.relname INTO loose FROM pg_class c
    WHERE c.relname ~ '^audit_accessrecord_y[0-9]{4}m[0-9]{2}$' AND c.relkind = 'r'
      AND NOT EXISTS (SELECT 1 FROM pg_inherits i WHERE i.inhrelid = c.oid)
      AND NOT audit_partition_expired(c.relname)
    LIMIT 1;
    IF loose IS NOT NULL THEN
        RAISE EXCEPTION 'audit partitions cannot be detached before their retention ends (%%)', loose
            USING ERRCODE = 'insufficient_privilege';
    END IF;
END;
$$;
CREATE EVENT TRIGGER audit_refuse_partition_drop ON sql_drop
    EXECUTE FUNCTION audit_refuse_partition_drop();
CREATE EVENT TRIGGER audit_refuse_partition_detach ON ddl_command_end WHEN TAG IN ('ALTER TABLE')
    EXECUTE FUNCTION audit_refuse_partition_detach();
"""

PARTITION_GUARD_UNDO = """
DROP EVENT TRIGGER IF EXISTS audit_refuse_partition_drop;
DROP EVENT TRIGGER IF EXISTS audit_refuse_partition_detach;
DROP FUNCTION IF EXISTS audit_refuse_partition_drop();
DROP FUNCTION IF EXISTS audit_refuse_partition_detach();
DROP FUNCTION IF EXISTS audit_partition_expired(text);
"""


def _partitions(cursor):
    cursor.execute(
        "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
        "JOIN pg_class p ON p.oid = i.inhparent WHERE p.relname = 'audit_accessrecord'"
    )
    return [row[0] for row in cursor.fetchall()]


def add_guards(apps, schema_editor):
    with schema_editor.connection.cursor() as cursor:
        tables = [*TRUNCATE_TABLES, *_partitions(cursor)]
        cursor.execute(HASH_DDL)
        for table in tables:
            cursor.execute(
                f"CREATE TRIGGER audit_refuse_truncate BEFORE TRUNCATE ON {table} "
                "FOR EACH STATEMENT EXECUTE FUNCTION audit_refuse_change()"
            )
        for partition in _partitions(cursor):
            # Sealing every minute reads the newest block ranges through BRIN: summarise them as they fill.
            cursor.execute(f"ALTER INDEX {partition}_at_idx SET (autosummarize = on)")
        for table in APPEND_ONLY_TABLES:
            cursor.execute(
                f"CREATE TRIGGER audit_append_only BEFORE UPDATE OR DELETE ON {table} "
                "FOR EACH ROW EXECUTE FUNCTION audit_refuse_change()"
            )
        cursor.execute("SELECT rolsuper FROM pg_roles WHERE rolname = current_user")
        if cursor.fetchone()[0]:
            years = int(settings.AUDIT_RETENTION_YEARS)
            cursor.execute(PARTITION_GUARD_DDL.replace("%(years)s", str(years)).replace("%%", "%"))
        else:
            print(
                "\n  audit: not a superuser, so the event triggers that refuse DROP/DETACH of audit partitions "
                "were not created; a superuser can run PARTITION_GUARD_DDL of this migration (README, tamper evidence)."
            )


def remove_guards(apps, schema_editor):
    with schema_editor.connection.cursor() as cursor:
        cursor.execute(PARTITION_GUARD_UNDO)
        for table in [*TRUNCATE_TABLES, *_partitions(cursor)]:
            cursor.execute(f"DROP TRIGGER IF EXISTS audit_refuse_truncate ON {table}")
        for table in APPEND_ONLY_TABLES:
            cursor.execute(f"DROP TRIGGER IF EXISTS audit_append_only ON {table}")
        cursor.execute(HASH_UNDO)


class Migration(migrations.Migration):

    dependencies = [
        ("audit", "0001_initial"),
        ("accounts", "0002_lifecycle_terms_sessions"),
        ("auditlog", "0017_add_actor_email"),
    ]

    operations = [
        migrations.AddField(
            model_name="auditseal",
            name="signature",
            field=models.CharField(blank=True, max_length=128),
        ),
        migrations.AddField(
            model_name="auditseal",
            name="key_id",
            field=models.CharField(blank=True, max_length=16),
        ),
        migrations.AddField(
            model_name="verificationrun",
            name="records_unsealed",
            field=models.BigIntegerField(default=0),
        ),
        migrations.AddField(
            model_name="verificationrun",
            name="signatures",
            field=models.CharField(default="not_checked", max_length=12),
        ),
        migrations.AddField(
            model_name="verificationrun",
            name="anchors",
            field=models.CharField(default="not_checked", max_length=12),
        ),
        migrations.RunPython(add_guards, remove_guards),
    ]

"""audit_ensure_partition(month): the one piece of DDL the runtime role may cause.

SECURITY DEFINER, so it runs as the owner of the access records: the writer's last resort when a month has
no partition yet (a stopped beat) and the worker's job ahead of time. It can only create an empty partition
for a calendar month (UTC); removing partitions stays with the owner (audit/partitions.py).
"""

from django.db import migrations

CREATE = """
CREATE FUNCTION audit_ensure_partition(month date) RETURNS boolean
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    first date := date_trunc('month', month)::date;
    name text := format('audit_accessrecord_y%sm%s', to_char(first, 'YYYY'), to_char(first, 'MM'));
    schema text := __SCHEMA__;
BEGIN
    IF to_regclass(format('%I.%I', schema, name)) IS NOT NULL THEN
        RETURN false;
    END IF;
    EXECUTE format(
        'CREATE TABLE IF NOT EXISTS %I.%I PARTITION OF %I.audit_accessrecord FOR VALUES FROM (%L) TO (%L)',
        schema, name, schema,
        first::timestamp AT TIME ZONE 'UTC', (first + interval '1 month')::timestamp AT TIME ZONE 'UTC'
    );
    -- What every partition has (audit migration 0002_signed_seals...): statement triggers are not inherited,
    -- and the per-minute sealing reads the newest block ranges through a BRIN index summarised as it fills.
    EXECUTE format('ALTER INDEX %I.%I SET (autosummarize = on)', schema, name || '_at_idx');
    EXECUTE format(
        'CREATE TRIGGER audit_refuse_truncate BEFORE TRUNCATE ON %I.%I '
        'FOR EACH STATEMENT EXECUTE FUNCTION %I.audit_refuse_change()',
        schema, name, schema
    );
    RETURN true;
END;
$$;
REVOKE ALL ON FUNCTION audit_ensure_partition(date) FROM PUBLIC;
"""


def create(apps, schema_editor):
    # The function pins its search_path, so it names the schema the tables were created in.
    with schema_editor.connection.cursor() as cursor:
        cursor.execute("SELECT current_schema()")
        (schema,) = cursor.fetchone()
    schema_editor.execute(CREATE.replace("__SCHEMA__", schema_editor.quote_value(schema)), params=None)


class Migration(migrations.Migration):
    dependencies = [("audit", "0001_initial")]

    operations = [
        migrations.RunPython(create, migrations.RunPython.noop),
        migrations.RunSQL(migrations.RunSQL.noop, "DROP FUNCTION IF EXISTS audit_ensure_partition(date)"),
    ]

"""New access-record partitions get what the existing ones got in 0002: a BEFORE TRUNCATE trigger (statement
triggers are not inherited) and a BRIN index that summarises each block range as it fills (the per-minute
sealing reads the newest ranges). audit_ensure_partition is the one place partitions are created.
"""

from django.db import migrations

CREATE = """
CREATE OR REPLACE FUNCTION audit_ensure_partition(month date) RETURNS boolean
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
    with schema_editor.connection.cursor() as cursor:
        cursor.execute("SELECT current_schema()")
        (schema,) = cursor.fetchone()
    schema_editor.execute(CREATE.replace("__SCHEMA__", schema_editor.quote_value(schema)), params=None)


class Migration(migrations.Migration):
    dependencies = [("audit", "0002_partition_function"), ("audit", "0002_signed_seals_and_database_guards")]

    operations = [migrations.RunPython(create, migrations.RunPython.noop)]

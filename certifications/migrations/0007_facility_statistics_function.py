"""certifications_facility_analyze(): ANALYZE of the facility tables for the runtime role.

Only a table's owner may ANALYZE it, and the application runs as the runtime role, which owns nothing: an
import run by the worker would otherwise skip the refresh with a warning and leave the planner guessing.
SECURITY DEFINER runs it with the owner's rights, inside the caller's transaction (so the rows just loaded are
sampled), and it can do nothing else.
"""

from django.db import migrations

CREATE = """
CREATE OR REPLACE FUNCTION certifications_facility_analyze() RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    EXECUTE format('ANALYZE %I.certifications_facility, %I.certifications_facilitysite', __SCHEMA__, __SCHEMA__);
END;
$$;
REVOKE ALL ON FUNCTION certifications_facility_analyze() FROM PUBLIC;
"""


def create(apps, schema_editor):
    with schema_editor.connection.cursor() as cursor:
        cursor.execute("SELECT current_schema()")
        (schema,) = cursor.fetchone()
    schema_editor.execute(CREATE.replace("__SCHEMA__", schema_editor.quote_value(schema)), params=None)


class Migration(migrations.Migration):
    dependencies = [("certifications", "0006_search_indexes_and_statistics")]

    operations = [
        migrations.RunPython(create, migrations.RunPython.noop),
        migrations.RunSQL(migrations.RunSQL.noop, "DROP FUNCTION IF EXISTS certifications_facility_analyze()"),
    ]

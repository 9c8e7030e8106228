"""Trigram indexes for the free-text search on plant and operator names.

Django compiles `icontains` to UPPER(col::text) LIKE UPPER('%text%'), so the indexes are on that
expression.
"""

from django.db import migrations

INDEXES = (
    ("facility_plant_trgm_idx", "plant_name"),
    ("facility_operator_trgm_idx", "operator_name"),
)


def create(apps, schema_editor):
    schema_editor.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    for name, column in INDEXES:
        schema_editor.execute(
            f'CREATE INDEX IF NOT EXISTS {name} ON certifications_facility USING gin ((UPPER("{column}"::text)) gin_trgm_ops)'
        )


def drop(apps, schema_editor):
    for name, _column in INDEXES:
        schema_editor.execute(f"DROP INDEX IF EXISTS {name}")


class Migration(migrations.Migration):
    dependencies = [("certifications", "0001_initial")]

    operations = [migrations.RunPython(create, drop)]

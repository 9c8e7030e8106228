"""certifications_facility.sites_text: every 所在地 of a facility in one display string, kept by the database.

Downloads put all of a facility's sites in one cell. Building that cell per row with a sub-query over the sites
was a quarter of a CSV download's time (bench/exports.py); the string is now kept beside the facility by
statement-level triggers on the sites table, so every writer (the importer, the generator, a test, a DBA's
fix) keeps it right without knowing of it. The column is the database's alone: the model does not declare it,
so no ORM save can write a stale copy over it.
"""

from django.db import migrations

SEPARATOR = " / "  # certifications.models.SITE_SEPARATOR, as it was when this ran

FORWARD = f"""
ALTER TABLE certifications_facility ADD COLUMN sites_text text NOT NULL DEFAULT '';

CREATE FUNCTION certifications_facility_sites_refresh() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    -- Only rows whose text changes are written: a writer that already put the text in (the generator's COPY)
    -- costs a read, not a second version of every facility row under its twenty indexes.
    UPDATE certifications_facility f SET sites_text = fresh.text
    FROM (
        SELECT ids.facility_id,
               coalesce((SELECT string_agg(s.address, '{SEPARATOR}' ORDER BY s.position)
                         FROM certifications_facilitysite s WHERE s.facility_id = ids.facility_id), '') AS text
        FROM (SELECT DISTINCT facility_id FROM changed_sites) ids
    ) fresh
    WHERE f.id = fresh.facility_id AND f.sites_text IS DISTINCT FROM fresh.text;
    RETURN NULL;
END;
$$;

CREATE TRIGGER facility_sites_text_insert AFTER INSERT ON certifications_facilitysite
    REFERENCING NEW TABLE AS changed_sites FOR EACH STATEMENT EXECUTE FUNCTION certifications_facility_sites_refresh();
CREATE TRIGGER facility_sites_text_update AFTER UPDATE ON certifications_facilitysite
    REFERENCING NEW TABLE AS changed_sites FOR EACH STATEMENT EXECUTE FUNCTION certifications_facility_sites_refresh();
CREATE TRIGGER facility_sites_text_update_old AFTER UPDATE ON certifications_facilitysite
    REFERENCING OLD TABLE AS changed_sites FOR EACH STATEMENT EXECUTE FUNCTION certifications_facility_sites_refresh();
CREATE TRIGGER facility_sites_text_delete AFTER DELETE ON certifications_facilitysite
    REFERENCING OLD TABLE AS changed_sites FOR EACH STATEMENT EXECUTE FUNCTION certifications_facility_sites_refresh();

UPDATE certifications_facility f SET sites_text = agg.text
FROM (SELECT facility_id, string_agg(address, '{SEPARATOR}' ORDER BY position) AS text
      FROM certifications_facilitysite GROUP BY facility_id) agg
WHERE agg.facility_id = f.id;
"""

BACKWARD = """
DROP TRIGGER IF EXISTS facility_sites_text_insert ON certifications_facilitysite;
DROP TRIGGER IF EXISTS facility_sites_text_update ON certifications_facilitysite;
DROP TRIGGER IF EXISTS facility_sites_text_update_old ON certifications_facilitysite;
DROP TRIGGER IF EXISTS facility_sites_text_delete ON certifications_facilitysite;
DROP FUNCTION IF EXISTS certifications_facility_sites_refresh();
ALTER TABLE certifications_facility DROP COLUMN IF EXISTS sites_text;
"""


class Migration(migrations.Migration):
    dependencies = [("certifications", "0007_facility_statistics_function")]

    operations = [migrations.RunSQL(FORWARD, BACKWARD)]

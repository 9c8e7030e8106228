"""One finding per account (or organisation), kind and period, so that re-running an inspection updates it.

Earlier re-runs left duplicates. Before the constraint is added, each group keeps one row: the one that
carries reviews (reviews are append-only and cannot be moved), else the newest. A group in which more than
one row carries reviews cannot be merged without rewriting the trail: the migration stops and names it.
"""

from django.db import migrations, models

DUPLICATES = """
WITH ranked AS (
    SELECT f.id,
           row_number() OVER (
               PARTITION BY f.user_id, f.organisation_id, f.kind, f.period_start, f.period_end
               ORDER BY EXISTS (SELECT 1 FROM audit_findingreview r WHERE r.finding_id = f.id) DESC, f.id DESC
           ) AS position,
           EXISTS (SELECT 1 FROM audit_findingreview r WHERE r.finding_id = f.id) AS reviewed
    FROM audit_finding f
)
"""


def keep_one_per_group(apps, schema_editor):
    with schema_editor.connection.cursor() as cursor:
        cursor.execute(DUPLICATES + "SELECT array_agg(id) FROM ranked WHERE position > 1 AND reviewed")
        blocked = cursor.fetchone()[0]
        if blocked:
            raise RuntimeError(
                f"audit: findings {sorted(blocked)} duplicate another reviewed finding of the same account, kind and "
                "period; decide which to keep before migrating (their reviews cannot be moved)."
            )
        cursor.execute(DUPLICATES + "DELETE FROM audit_finding WHERE id IN (SELECT id FROM ranked WHERE position > 1)")


class Migration(migrations.Migration):
    dependencies = [("audit", "0005_finding_kind_unapproved_use")]

    operations = [
        migrations.AlterField(
            model_name="finding",
            name="review_state",
            field=models.CharField(
                choices=[
                    ("open", "未確認"),
                    ("answered", "組織が回答済み"),
                    ("explained", "説明済み"),
                    ("escalated", "資源エネルギー庁へ報告"),
                ],
                default="open",
                max_length=10,
                verbose_name="確認状況",
            ),
        ),
        migrations.AlterField(
            model_name="findingreview",
            name="state",
            field=models.CharField(
                choices=[
                    ("open", "未確認"),
                    ("answered", "組織が回答済み"),
                    ("explained", "説明済み"),
                    ("escalated", "資源エネルギー庁へ報告"),
                ],
                max_length=10,
                verbose_name="確認状況",
            ),
        ),
        migrations.RunPython(keep_one_per_group, migrations.RunPython.noop),
        migrations.AddConstraint(
            model_name="finding",
            constraint=models.UniqueConstraint(
                fields=("user", "organisation", "kind", "period_start", "period_end"),
                name="audit_finding_one_per_subject_kind_period",
                nulls_distinct=False,
            ),
        ),
    ]

"""The actor and target indexes of security events become partial (NOT NULL), so system and bulk events skip
them. Built and dropped CONCURRENTLY: a lock on the events table would stop every audited request."""

import django.db.models.deletion
from django.conf import settings
from django.contrib.postgres.operations import AddIndexConcurrently, RemoveIndexConcurrently
from django.db import migrations, models


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ("accounts", "0009_access_review"),
        ("audit", "0009_facility_ids_pending_list_limit"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        AddIndexConcurrently(
            model_name="securityevent",
            index=models.Index(
                condition=models.Q(("actor__isnull", False)), fields=["actor", "at"], name="audit_event_actor_at"
            ),
        ),
        AddIndexConcurrently(
            model_name="securityevent",
            index=models.Index(
                condition=models.Q(("target_user__isnull", False)),
                fields=["target_user", "at"],
                name="audit_event_target_user_at",
            ),
        ),
        RemoveIndexConcurrently(model_name="securityevent", name="audit_event_target_at"),
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AlterField(
                    model_name="securityevent",
                    name="actor",
                    field=models.ForeignKey(
                        blank=True,
                        db_constraint=False,
                        db_index=False,
                        null=True,
                        on_delete=django.db.models.deletion.DO_NOTHING,
                        related_name="+",
                        to=settings.AUTH_USER_MODEL,
                        verbose_name="実行者",
                    ),
                ),
            ],
            # The foreign key's own index, under the name Django gave it in 0001.
            database_operations=[
                migrations.RunSQL(
                    "DROP INDEX CONCURRENTLY IF EXISTS audit_securityevent_actor_id_5eec8084",
                    reverse_sql="CREATE INDEX CONCURRENTLY IF NOT EXISTS audit_securityevent_actor_id_5eec8084 "
                    "ON audit_securityevent (actor_id)",
                )
            ],
        ),
    ]

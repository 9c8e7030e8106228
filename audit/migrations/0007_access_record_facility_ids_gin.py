# Serves the operators' accounting of disclosures (audit.disclosure_accounting): records naming any of a set of
# facility IDs. Created on the partitioned parent, so every partition (and each one made later) gets its own.

import django.contrib.postgres.indexes
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('audit', '0006_finding_one_per_subject_kind_period'),
    ]

    operations = [
        migrations.AddIndex(
            model_name='accessrecord',
            index=django.contrib.postgres.indexes.GinIndex(condition=models.Q(('facility_ids__isnull', False)), fields=['facility_ids'], name='audit_access_facility_ids'),
        ),
    ]

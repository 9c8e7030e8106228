# The facility_ids index again, with a 64 MB pending list (audit.models: an export's record would otherwise
# have the insert that fills the default 4 MB list merge it inside the download). A partitioned index takes no
# ALTER INDEX … SET, and its partitions, existing and future, copy the parent's storage parameters when it is
# created: so it is dropped and created once more (a rebuild of every partition's index; minutes at ten
# million records).

import django.contrib.postgres.indexes
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('audit', '0008_record_hash_from_one_array'),
    ]

    operations = [
        migrations.RemoveIndex(
            model_name='accessrecord',
            name='audit_access_facility_ids',
        ),
        migrations.AddIndex(
            model_name='accessrecord',
            index=django.contrib.postgres.indexes.GinIndex(condition=models.Q(('facility_ids__isnull', False)), fields=['facility_ids'], gin_pending_list_limit=65536, name='audit_access_facility_ids'),
        ),
    ]

"""Joins the partition function and the tamper guards, two migrations written side by side."""

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [("audit", "0002_partition_function"), ("audit", "0002_signed_seals_and_database_guards")]

    operations = []

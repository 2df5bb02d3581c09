"""The histogram bounds moved from latency.metrics to latency.storage; help text only."""

from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('latency', '0002_device_moves_to_fleet'),
    ]

    operations = [
        migrations.AlterField(
            model_name='latencytotal',
            name='le_index',
            field=models.PositiveSmallIntegerField(help_text='Index into storage.HISTOGRAM_BUCKETS of the smallest bound >= duration.'),
        ),
    ]

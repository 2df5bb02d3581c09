"""Roll-up sketches become packed integer pairs (``sketch``, bytes) instead of a JSON
object, and a one-second grain joins the roll-ups.

Every row's ``{bin: count}`` object is converted into the same bins and counts
(PostgreSQL does it in one statement; other databases in Python, in batches), so no
sample is lost; then the one-second roll-ups of the fine grains' retention are built
from the raw samples, so history buckets of any size are exact at once, not only a day
after the upgrade. Reversible: the pairs go back into JSON objects, the seconds away.
"""

from datetime import timedelta

from django.db import migrations, models
from django.utils import timezone

BATCH = 2000

TO_PAIRS_SQL = """
UPDATE latency_latencyrollup SET sketch = coalesce(
    (SELECT string_agg(int4send(key::int) || int4send(value::int), ''::bytea ORDER BY key::int)
     FROM jsonb_each_text(bins)),
    ''::bytea)
"""


def _in_batches(Rollup, fields):
    """Every row (id and ``fields``), a batch at a time in id order."""
    last = 0
    while True:
        batch = list(Rollup.objects.filter(id__gt=last).order_by("id").only("id", *fields)[:BATCH])
        if not batch:
            return
        yield batch
        last = batch[-1].id


def json_to_pairs_in_python(Rollup):
    from latency import sketch

    for batch in _in_batches(Rollup, ["bins"]):
        for row in batch:
            bins = sorted((int(key), int(value)) for key, value in (row.bins or {}).items())
            row.sketch = sketch.encode([b for b, _ in bins], [n for _, n in bins])
        Rollup.objects.bulk_update(batch, ["sketch"])


def to_pairs(apps, schema_editor):
    from latency import services

    Rollup = apps.get_model("latency", "LatencyRollup")
    if services.rebuild_in_sql():
        with schema_editor.connection.cursor() as cursor:
            cursor.execute(TO_PAIRS_SQL)
    else:
        json_to_pairs_in_python(Rollup)


def to_json(apps, schema_editor):
    from latency import sketch

    Rollup = apps.get_model("latency", "LatencyRollup")
    for batch in _in_batches(Rollup, ["sketch"]):
        for row in batch:
            row.bins = {str(k): v for k, v in sketch.as_dict(row.sketch).items()}
        Rollup.objects.bulk_update(batch, ["bins"])


def add_seconds(apps, schema_editor):
    from latency import services
    from latency.storage import FINE_GRAIN_RETENTION

    now = timezone.now()
    services.rollups_rebuild(
        grains=(1,), since=now - FINE_GRAIN_RETENTION, until=now + timedelta(days=1)
    )


def drop_seconds(apps, schema_editor):
    apps.get_model("latency", "LatencyRollup").objects.filter(grain=1).delete()


class Migration(migrations.Migration):

    dependencies = [
        ('latency', '0003_le_index_help_text'),
    ]

    operations = [
        migrations.AddField(
            model_name='latencyrollup',
            name='sketch',
            field=models.BinaryField(default=b'', help_text='Samples per log bin: (bin, count) pairs, big-endian int32.'),
        ),
        migrations.RunPython(to_pairs, to_json),
        migrations.RemoveField(
            model_name='latencyrollup',
            name='bins',
        ),
        migrations.RunPython(add_seconds, drop_seconds),
    ]

"""Roll-up sketches become packed integer pairs (``sketch``, bytes) instead of a JSON
object, and a one-second grain joins the roll-ups.

Every row's ``{bin: count}`` object is converted into the same bins and counts
(PostgreSQL does it in one statement; other databases in Python, in batches), so no
sample is lost; then the one-second roll-ups of the fine grains' retention are built
from the raw samples, so history buckets of any size are exact at once, not only a day
after the upgrade. Reversible: the pairs go back into JSON objects, the seconds away.

Everything it needs is frozen here, as it stood when the migration was written (the
sketch's stored form and binning, the fine grains' retention, the inference kind), so
later changes to the app's code cannot change what this migration does.
"""

import math
import struct
from collections import Counter, defaultdict
from datetime import timedelta

from django.db import migrations, models
from django.utils import timezone

BATCH = 2000
PAIR = struct.Struct(">ii")  # one (bin, count) pair of a stored sketch
LOG_GAMMA = math.log(1.005 / 0.995)  # bins 0.5% wide
MIN_MS = 1e-3
MAX_BIN = 2**31 - 1
INFERENCE = 1  # the samples' kind
FINE_RETENTION = timedelta(days=2)

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


def _in_sql(connection):
    """Whether the database converts and builds sketches itself (``int4send``)."""
    return connection.vendor == "postgresql"


def _encode(bins):
    return b"".join(PAIR.pack(b, n) for b, n in sorted(bins.items()))


def _decode(blob):
    return dict(PAIR.iter_unpack(bytes(blob)))


def json_to_pairs_in_python(Rollup):
    for batch in _in_batches(Rollup, ["bins"]):
        for row in batch:
            row.sketch = _encode({int(k): int(v) for k, v in (row.bins or {}).items()})
        Rollup.objects.bulk_update(batch, ["sketch"])


def to_pairs(apps, schema_editor):
    Rollup = apps.get_model("latency", "LatencyRollup")
    if _in_sql(schema_editor.connection):
        with schema_editor.connection.cursor() as cursor:
            cursor.execute(TO_PAIRS_SQL)
    else:
        json_to_pairs_in_python(Rollup)


def to_json(apps, schema_editor):
    Rollup = apps.get_model("latency", "LatencyRollup")
    for batch in _in_batches(Rollup, ["sketch"]):
        for row in batch:
            row.bins = {str(k): v for k, v in _decode(row.sketch).items()}
        Rollup.objects.bulk_update(batch, ["bins"])


SECONDS_SQL = """
INSERT INTO latency_latencyrollup (model_id, grain, start, count, total_ms, sketch)
SELECT model_id, 1, start, sum(n), sum(ms),
       string_agg(int4send(bin) || int4send(n::int), ''::bytea ORDER BY bin)
FROM (
    SELECT model_id, floor(extract(epoch FROM recorded_at))::bigint AS start,
           least(ceil(ln(greatest(duration_ms, %(min)s)) / %(log_gamma)s), %(max)s)::int AS bin,
           count(*) AS n, sum(duration_ms) AS ms
    FROM latency_latencysample
    WHERE kind = %(kind)s AND recorded_at >= %(since)s AND recorded_at < %(until)s
    GROUP BY 1, 2, 3
) AS per_bin
GROUP BY model_id, start
ON CONFLICT (model_id, grain, start) DO NOTHING
"""


def add_seconds(apps, schema_editor):
    now = timezone.now()
    since, until = now - FINE_RETENTION, now + timedelta(days=1)
    if _in_sql(schema_editor.connection):
        with schema_editor.connection.cursor() as cursor:
            cursor.execute(SECONDS_SQL, {
                "min": MIN_MS, "log_gamma": LOG_GAMMA, "max": MAX_BIN, "kind": INFERENCE,
                "since": since, "until": until,
            })
        return
    Sample = apps.get_model("latency", "LatencySample")
    bins = defaultdict(Counter)
    totals = Counter()
    samples = Sample.objects.filter(kind=INFERENCE, recorded_at__gte=since, recorded_at__lt=until)
    for model_id, at, ms in samples.values_list("model_id", "recorded_at", "duration_ms").iterator():
        key = (model_id, int(at.timestamp()))
        bins[key][min(math.ceil(math.log(max(ms, MIN_MS)) / LOG_GAMMA), MAX_BIN)] += 1
        totals[key] += ms
    Rollup = apps.get_model("latency", "LatencyRollup")
    Rollup.objects.bulk_create(
        [
            Rollup(model_id=model_id, grain=1, start=start, count=sum(counts.values()),
                   total_ms=totals[(model_id, start)], sketch=_encode(counts))
            for (model_id, start), counts in bins.items()
        ],
        batch_size=BATCH,
        ignore_conflicts=True,
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

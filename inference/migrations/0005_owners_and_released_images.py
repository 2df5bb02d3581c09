"""Owners and retention: an inference request is owned by the user who asked for it
(batches already keep ``submitted_by``); rows from before have no owner, so staff alone
read them. Finished work keeps its results but not its image bytes, released here for
what finished before (and, from now on, as work finishes); ``finished_at`` is indexed
for the pruning of finished work past its retention."""

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models

FINISHED = ("done", "failed")


def release_finished_images(apps, schema_editor):
    Frame = apps.get_model("inference", "Frame")
    InferenceRequest = apps.get_model("inference", "InferenceRequest")
    Frame.objects.filter(batch__status__in=FINISHED, data__isnull=False).update(data=None)
    InferenceRequest.objects.filter(status__in=FINISHED).exclude(image=b"").update(image=b"")


class Migration(migrations.Migration):
    dependencies = [
        ("inference", "0004_work_notify"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.AddField(
            model_name="inferencerequest",
            name="submitted_by",
            field=models.ForeignKey(
                blank=True,
                null=True,
                on_delete=django.db.models.deletion.SET_NULL,
                to=settings.AUTH_USER_MODEL,
            ),
        ),
        migrations.AddIndex(
            model_name="enrichmentbatch",
            index=models.Index(fields=["finished_at"], name="batch_finished_at"),
        ),
        migrations.AddIndex(
            model_name="inferencerequest",
            index=models.Index(fields=["finished_at"], name="inference_finished_at"),
        ),
        # Image bytes are not needed to read results; nothing to put back going down.
        migrations.RunPython(release_finished_images, migrations.RunPython.noop),
    ]

"""The ``claude`` option's provider model: ``claude-sonnet-4-5`` reaches its end of life
on 2026-11-30 (the Anthropic SDK lists it as deprecated), so the catalog now names
``claude-sonnet-5-5``. An entry still on the old default moves with it; one an operator
changed keeps its value. Reversible."""

from django.db import migrations

OLD, NEW = "claude-sonnet-4-5", "claude-sonnet-5-5"


def forward(apps, schema_editor):
    entries = apps.get_model("models_registry", "ModelEntry").objects
    entries.filter(name="claude", model_id=OLD).update(model_id=NEW)


def backward(apps, schema_editor):
    entries = apps.get_model("models_registry", "ModelEntry").objects
    entries.filter(name="claude", model_id=NEW).update(model_id=OLD)


class Migration(migrations.Migration):
    dependencies = [("models_registry", "0010_cpu_fallback_per_kind")]

    operations = [migrations.RunPython(forward, backward)]

"""CPU fallback per kind of model: on for task models, off for the zoo.

``cpu_fallback`` now covers task models (the Model Management API's) only, and defaults
to on, as that document's "graceful degradation: falls back to CPU if GPU is full" has
it; the new ``zoo_cpu_fallback`` covers the enrichment zoo and defaults to off (the zoo
stays on the GPU unless configured).

The existing settings row is switched on too: False was only ever the old default.
Nothing in the service writes ``cpu_fallback`` (``zoo_import`` does not carry it), and a
row at False cannot tell an operator's choice in the admin from that default, so an
installed service gets the documented behaviour; an operator who wants task models kept
off the CPU turns it off in the admin after this migration.
"""

from django.db import migrations, models


def task_fallback_on(apps, schema_editor):
    settings = apps.get_model("models_registry", "InferenceSettings")
    settings.objects.update(cpu_fallback=True)


class Migration(migrations.Migration):

    dependencies = [
        ('models_registry', '0009_remote_endpoints'),
    ]

    operations = [
        migrations.AlterField(
            model_name='inferencesettings',
            name='cpu_fallback',
            field=models.BooleanField(default=True, help_text="Task models (the Model Management API's): place one that does not fit on the GPU on the CPU instead of refusing it."),
        ),
        migrations.AddField(
            model_name='inferencesettings',
            name='zoo_cpu_fallback',
            field=models.BooleanField(default=False, help_text='Zoo models (enrichment): place one that does not fit the zoo pool or the GPU on the CPU instead of refusing it.'),
        ),
        migrations.RunPython(task_fallback_on, migrations.RunPython.noop),
    ]

"""The runtime tables now belong to fleet (its 0001): forget them here, keep the tables."""

from django.db import migrations


class Migration(migrations.Migration):

    dependencies = [
        ('inference', '0002_device_moves_to_fleet'),
        ('latency', '0002_device_moves_to_fleet'),
        ('models_registry', '0006_event_causes_and_tallies'),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.RemoveField(
                    model_name='modelevent',
                    name='device',
                ),
                migrations.RemoveField(
                    model_name='modelstate',
                    name='device',
                ),
                migrations.DeleteModel(
                    name='EventTally',
                ),
                migrations.RemoveField(
                    model_name='modelevent',
                    name='model',
                ),
                migrations.RemoveField(
                    model_name='modelstate',
                    name='model',
                ),
                migrations.DeleteModel(
                    name='Device',
                ),
                migrations.DeleteModel(
                    name='ModelEvent',
                ),
                migrations.DeleteModel(
                    name='ModelState',
                ),
            ],
            database_operations=[],
        ),
    ]

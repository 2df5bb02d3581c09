"""The runtime tables (devices, model states, the decision log and its tallies) move here
from models_registry. Only Django's state changes: the tables keep their names and rows.
Their content types follow, so permissions and admin history stay attached."""

import django.db.models.deletion
import django.utils.timezone
from django.db import migrations, models


MOVED = ("device", "modelstate", "modelevent", "eventtally")


def content_types_follow(apps, schema_editor):
    ContentType = apps.get_model("contenttypes", "ContentType")
    if not ContentType.objects.filter(app_label="fleet", model__in=MOVED).exists():
        ContentType.objects.filter(app_label="models_registry", model__in=MOVED).update(
            app_label="fleet"
        )


class Migration(migrations.Migration):

    initial = True

    dependencies = [
        ('contenttypes', '0002_remove_content_type_name'),
        ('models_registry', '0006_event_causes_and_tallies'),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.CreateModel(
                    name='Device',
                    fields=[
                        ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                        ('host', models.CharField(max_length=255)),
                        ('name', models.CharField(help_text='PyTorch device string, e.g. cuda:0.', max_length=32)),
                        ('kind', models.CharField(choices=[('cpu', 'CPU'), ('cuda', 'CUDA GPU'), ('sim', 'Simulated GPU')], max_length=4)),
                        ('total_memory_mb', models.PositiveIntegerField()),
                        ('budget_mb', models.PositiveIntegerField(help_text='Memory models may use on this device.')),
                        ('worker', models.CharField(blank=True, max_length=255)),
                        ('heartbeat_at', models.DateTimeField(blank=True, null=True)),
                    ],
                    options={
                        'db_table': 'models_registry_device',
                        'ordering': ['host', 'name'],
                        'constraints': [models.UniqueConstraint(fields=('host', 'name'), name='unique_device_per_host')],
                    },
                ),
                migrations.CreateModel(
                    name='EventTally',
                    fields=[
                        ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                        ('model_name', models.CharField(max_length=100)),
                        ('kind', models.CharField(choices=[('load', 'Loaded'), ('unload', 'Unloaded'), ('evict', 'Evicted'), ('refuse', 'Refused'), ('fail', 'Failed'), ('cpu_fallback', 'Placed on the CPU')], max_length=20)),
                        ('cause', models.CharField(blank=True, choices=[('loaded', 'Loaded'), ('make_room', 'Evicted to make room'), ('after_batch', 'Its batch finished (after_batch)'), ('keep_alive', 'Idle past keep_alive'), ('registry', 'Disabled or deleted in the registry'), ('request', 'Unloaded on request'), ('shutdown', 'Worker shutting down'), ('fault', 'Unloaded after a fault'), ('refused', 'Refused at admission'), ('load_error', 'The load failed'), ('out_of_memory', 'Out of memory while loading'), ('inference_fault', 'Failed while running')], max_length=20)),
                        ('count', models.BigIntegerField(default=0)),
                    ],
                    options={
                        'db_table': 'models_registry_eventtally',
                        'constraints': [models.UniqueConstraint(fields=('model_name', 'kind', 'cause'), name='unique_event_tally')],
                    },
                ),
                migrations.CreateModel(
                    name='ModelEvent',
                    fields=[
                        ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                        ('created_at', models.DateTimeField(db_index=True, default=django.utils.timezone.now)),
                        ('model_name', models.CharField(help_text='Kept if the model is deleted.', max_length=100)),
                        ('kind', models.CharField(choices=[('load', 'Loaded'), ('unload', 'Unloaded'), ('evict', 'Evicted'), ('refuse', 'Refused'), ('fail', 'Failed'), ('cpu_fallback', 'Placed on the CPU')], max_length=20)),
                        ('reason', models.TextField(blank=True)),
                        ('memory_mb', models.PositiveIntegerField(blank=True, null=True)),
                        ('duration_s', models.FloatField(blank=True, null=True)),
                        ('cause', models.CharField(blank=True, choices=[('loaded', 'Loaded'), ('make_room', 'Evicted to make room'), ('after_batch', 'Its batch finished (after_batch)'), ('keep_alive', 'Idle past keep_alive'), ('registry', 'Disabled or deleted in the registry'), ('request', 'Unloaded on request'), ('shutdown', 'Worker shutting down'), ('fault', 'Unloaded after a fault'), ('refused', 'Refused at admission'), ('load_error', 'The load failed'), ('out_of_memory', 'Out of memory while loading'), ('inference_fault', 'Failed while running')], max_length=20)),
                        ('device', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='events', to='fleet.device')),
                        ('model', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='events', to='models_registry.modelentry')),
                    ],
                    options={
                        'db_table': 'models_registry_modelevent',
                        'ordering': ['-created_at', '-id'],
                        'indexes': [models.Index(fields=['model_name', '-created_at'], name='models_regi_model_n_7cb439_idx')],
                    },
                ),
                migrations.CreateModel(
                    name='ModelState',
                    fields=[
                        ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                        ('status', models.CharField(choices=[('loaded', 'Loaded'), ('unloaded', 'Unloaded'), ('disabled', 'Disabled'), ('loading', 'Loading'), ('error', 'Error')], default='unloaded', max_length=10)),
                        ('load_count', models.PositiveIntegerField(default=0)),
                        ('measured_mb', models.PositiveIntegerField(blank=True, null=True)),
                        ('loaded_at', models.DateTimeField(blank=True, null=True)),
                        ('last_used_at', models.DateTimeField(blank=True, null=True)),
                        ('load_duration_s', models.FloatField(blank=True, null=True)),
                        ('on_cpu_fallback', models.BooleanField(default=False)),
                        ('last_error', models.TextField(blank=True)),
                        ('error_count', models.PositiveIntegerField(default=0)),
                        ('updated_at', models.DateTimeField(auto_now=True)),
                        ('device', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='states', to='fleet.device')),
                        ('model', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='states', to='models_registry.modelentry')),
                    ],
                    options={
                        'db_table': 'models_registry_modelstate',
                        'constraints': [models.UniqueConstraint(fields=('model', 'device'), name='unique_state_per_device')],
                    },
                ),
            ],
            database_operations=[],
        ),
        migrations.RunPython(content_types_follow, migrations.RunPython.noop),
    ]

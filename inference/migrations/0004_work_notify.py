"""Wake-ups for the web side's waits (``inference.waiting``): on PostgreSQL, a change of
an inference request or of a model's state on a device sends a notification on
the ``zoo_work`` channel, delivered when the writer commits. Nothing on SQLite, where
waits poll."""

from django.db import migrations

CHANNEL = "zoo_work"
FUNCTION = "inference_work_notify"
# An inference request wakes its waiter when it changes (a new one has nobody waiting);
# a model state when it is written at all (a new row can be a load's outcome).
EVENTS = {
    "inference_inferencerequest": "UPDATE",
    "models_registry_modelstate": "INSERT OR UPDATE",
}


def notify_create(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute(
        f"""
        CREATE OR REPLACE FUNCTION {FUNCTION}() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            PERFORM pg_notify('{CHANNEL}', TG_TABLE_NAME);
            RETURN NULL;
        END $$;
        """
    )
    for table, events in EVENTS.items():
        schema_editor.execute(
            f"CREATE TRIGGER {FUNCTION} AFTER {events} ON {table} "
            f"FOR EACH STATEMENT EXECUTE FUNCTION {FUNCTION}();"
        )


def notify_drop(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for table in EVENTS:
        schema_editor.execute(f"DROP TRIGGER IF EXISTS {FUNCTION} ON {table};")
    schema_editor.execute(f"DROP FUNCTION IF EXISTS {FUNCTION}();")


class Migration(migrations.Migration):
    dependencies = [
        ("inference", "0003_work_items"),
        ("fleet", "0002_status_version"),
    ]

    operations = [migrations.RunPython(notify_create, notify_drop)]

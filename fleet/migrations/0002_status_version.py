"""The status version: one row that database triggers change with every write to the
tables the status documents are built from (see ``fleet.models.StatusVersion``).

PostgreSQL: a deferred constraint trigger per row, so the row is written at commit, the
last lock a transaction takes (writers never deadlock over it), with a value from a
sequence (never repeated, a rollback included). SQLite: plain row triggers with a random
value; SQLite has one writer at a time.
"""

from django.db import migrations, models

WATCHED = (
    "models_registry_modelentry",
    "models_registry_task",
    "models_registry_taskoption",
    "models_registry_inferencesettings",
    "models_registry_device",
    "models_registry_modelstate",
)
TRIGGER = "fleet_status_bump"

POSTGRES_FUNCTION = f"""
CREATE SEQUENCE IF NOT EXISTS fleet_status_version_seq;
CREATE OR REPLACE FUNCTION {TRIGGER}() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO fleet_statusversion (id, version)
    VALUES (1, nextval('fleet_status_version_seq'))
    ON CONFLICT (id) DO UPDATE SET version = EXCLUDED.version;
    RETURN NULL;
END $$;
"""


def _postgres(table: str) -> str:
    return (
        f"CREATE CONSTRAINT TRIGGER {TRIGGER} AFTER INSERT OR UPDATE OR DELETE ON {table} "
        f"DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION {TRIGGER}();"
    )


def _sqlite(table: str, operation: str) -> str:
    return (
        f"CREATE TRIGGER {TRIGGER}_{table}_{operation.lower()} AFTER {operation} ON {table} "
        "BEGIN INSERT INTO fleet_statusversion (id, version) VALUES (1, random()) "
        "ON CONFLICT(id) DO UPDATE SET version = excluded.version; END;"
    )


OPERATIONS = ("INSERT", "UPDATE", "DELETE")


def triggers_create(apps, schema_editor):
    vendor = schema_editor.connection.vendor
    if vendor == "postgresql":
        statements = [POSTGRES_FUNCTION, *(_postgres(table) for table in WATCHED)]
        statements.append(
            "INSERT INTO fleet_statusversion (id, version) "
            "VALUES (1, nextval('fleet_status_version_seq'))"
        )
    elif vendor == "sqlite":
        statements = [_sqlite(table, op) for table in WATCHED for op in OPERATIONS]
        statements.append("INSERT INTO fleet_statusversion (id, version) VALUES (1, random())")
    else:
        raise NotImplementedError(f"status version triggers for {vendor}")
    for statement in statements:
        schema_editor.execute(statement)


def triggers_drop(apps, schema_editor):
    vendor = schema_editor.connection.vendor
    if vendor == "postgresql":
        statements = [f"DROP TRIGGER IF EXISTS {TRIGGER} ON {table};" for table in WATCHED]
        statements += [
            f"DROP FUNCTION IF EXISTS {TRIGGER}();",
            "DROP SEQUENCE IF EXISTS fleet_status_version_seq;",
        ]
    else:
        statements = [
            f"DROP TRIGGER IF EXISTS {TRIGGER}_{table}_{op.lower()};"
            for table in WATCHED
            for op in OPERATIONS
        ]
    for statement in statements:
        schema_editor.execute(statement)


class Migration(migrations.Migration):
    dependencies = [
        ("fleet", "0001_initial"),
        ("models_registry", "0008_task_priority"),
    ]

    operations = [
        migrations.CreateModel(
            name="StatusVersion",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("version", models.BigIntegerField(default=0)),
            ],
        ),
        migrations.RunPython(triggers_create, triggers_drop),
    ]

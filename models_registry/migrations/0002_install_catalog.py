"""Install the built-in catalog of both API documents, once (see catalog.install_catalog)."""

from __future__ import annotations

from django.db import migrations


def install(apps, schema_editor):
    from models_registry.catalog import install_catalog

    install_catalog(apps)


class Migration(migrations.Migration):
    dependencies = [("models_registry", "0001_initial")]

    operations = [migrations.RunPython(install, migrations.RunPython.noop)]

"""The ``claude`` option leaves its provider's retired model: an entry on the old
default moves to the new one, an operator's own choice stays, and it reverses."""

from __future__ import annotations

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from models_registry.models import ModelEntry

BEFORE = [("models_registry", "0010_cpu_fallback_per_kind")]
AFTER = [("models_registry", "0011_claude_model_id")]


def migrate(target):
    executor = MigrationExecutor(connection)
    executor.migrate(target)
    return executor.loader.project_state(target).apps


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
@pytest.mark.parametrize(
    ("before", "after"),
    [("claude-sonnet-4-5", "claude-sonnet-5-5"), ("claude-opus-4-8", "claude-opus-4-8")],
    ids=["old default", "operator's choice"],
)
def test_the_claude_entry_leaves_the_retired_model(before, after):
    try:
        old = migrate(BEFORE).get_model("models_registry", "ModelEntry")
        old.objects.filter(name="claude").update(model_id=before)

        migrate(AFTER)
        assert ModelEntry.objects.get(name="claude").model_id == after

        back = migrate(BEFORE).get_model("models_registry", "ModelEntry")
        assert back.objects.get(name="claude").model_id == before
    finally:
        migrate(AFTER)

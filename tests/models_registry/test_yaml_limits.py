"""zoo_import refuses numbers the registry cannot store with the field's name, never an
overflow traceback."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from models_registry.models import TaskOption

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    ("option", "field"),
    [
        ("{model_id: x, vram_gb: 1e308}", "vram_gb"),
        ("{model_id: x, vram_mb: 1000000000000}", "vram_mb"),
        ("{model_id: x, vram_mb: 1, fps: 1e308}", "fps"),
    ],
)
def test_numbers_too_large_to_store_are_refused_naming_the_field(tmp_path: Path, option, field):
    path = tmp_path / "models.yaml"
    path.write_text(f"tasks:\n  object_detection:\n    options:\n      huge: {option}\n")

    with pytest.raises(CommandError) as error:
        call_command("zoo_import", str(path), stdout=io.StringIO())

    assert f"{field}: Ensure this value is less than or equal to" in str(error.value)
    assert not TaskOption.objects.filter(model__name="huge").exists()

"""zoo_import / zoo_export: the Model Management document's models.yaml in and out."""

from __future__ import annotations

import io
import textwrap
from pathlib import Path

import pytest
import yaml
from django.core.management import CommandError, call_command

from models_registry.models import InferenceSettings, ModelEntry, Task, TaskOption

pytestmark = pytest.mark.django_db

DOCUMENT_EXAMPLE = textwrap.dedent(
    """
    tasks:
      video_summarization:
        selected: llama-4-scout
        options:
          llama-4-scout:
            model_id: meta-llama/Llama-4-Scout
            framework: sglang
            vram_gb: 8.0
            speed: fast

      object_detection:
        selected: yolov8n
        options:
          yolov8n:
            model_id: yolov8n
            vram_mb: 512
            speed: fast

    inference:
      max_memory_per_model: 24.0
      offload_threshold: 0.8
      warmup_on_startup: false
    """
)


def _export() -> str:
    out = io.StringIO()
    call_command("zoo_export", stdout=out)
    return out.getvalue()


def _state() -> tuple:
    return (
        sorted(ModelEntry.objects.values_list("name", "model_id", "vram_mb", "speed")),
        sorted(Task.objects.values_list("name", "selected__name")),
        sorted(TaskOption.objects.values_list("task_id", "model__name")),
        InferenceSettings.objects.values().get(pk=1),
    )


def test_export_writes_every_task_in_the_documents_format():
    document = yaml.safe_load(_export())

    assert set(document) == {"tasks", "inference"}
    assert document["tasks"]["object_detection"]["selected"] == "yolov8n"
    assert document["tasks"]["object_detection"]["options"]["yolov8n"]["vram_mb"] == 512
    assert document["tasks"]["video_summarization"]["options"]["llama-4-scout"]["vram_gb"] == 8.0
    assert document["inference"]["offload_threshold"] == 0.8


def test_the_documents_own_example_imports(tmp_path: Path):
    path = tmp_path / "models.yaml"
    path.write_text(DOCUMENT_EXAMPLE)

    call_command("zoo_import", str(path), stdout=io.StringIO())

    assert InferenceSettings.load().warmup_on_startup is False
    assert Task.objects.get(name="object_detection").selected.name == "yolov8n"


def test_export_then_import_into_an_empty_registry_round_trips(tmp_path: Path):
    exported = _export()
    path = tmp_path / "models.yaml"
    path.write_text(exported)
    TaskOption.objects.all().delete()
    ModelEntry.objects.filter(in_zoo=False).delete()
    Task.objects.update(selected=None)

    call_command("zoo_import", str(path), stdout=io.StringIO())

    assert _export() == exported


def test_import_creates_new_options_and_selects_them(tmp_path: Path):
    path = tmp_path / "models.yaml"
    path.write_text(
        textwrap.dedent(
            """
            tasks:
              object_detection:
                selected: rtdetr-l
                options:
                  rtdetr-l:
                    model_id: PekingU/rtdetr_r50vd
                    vram_mb: 900
                    speed: medium
                    description: RT-DETR
            """
        )
    )

    call_command("zoo_import", str(path), stdout=io.StringIO())

    entry = ModelEntry.objects.get(name="rtdetr-l")
    assert entry.vram_mb == 900
    assert entry.in_zoo is False
    assert Task.objects.get(name="object_detection").selected == entry
    assert "rtdetr-l" in yaml.safe_load(_export())["tasks"]["object_detection"]["options"]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("tasks: [unclosed", "not valid YAML"),
        ("- a\n- list\n", "must hold a mapping"),
        ("tasks:\n  cooking:\n    options: {}\n", "unknown task(s) cooking"),
        (
            "tasks:\n  object_detection:\n    selected: ghost\n    options:\n"
            "      yolov8n: {model_id: yolov8n, vram_mb: 512}\n",
            "selected model 'ghost' is not one of this task's options",
        ),
        (
            "tasks:\n  object_detection:\n    options:\n"
            "      yolov8n: {model_id: yolov8n, vram_mb: 512, vram_gb: 0.5}\n",
            "give exactly one of vram_gb and vram_mb",
        ),
        (
            "tasks:\n  object_detection:\n    options:\n"
            "      yolov8n: {model_id: yolov8n, vram_mb: lots}\n",
            "vram_mb",
        ),
        ("inference:\n  offload_threshold: 1.5\n", "offload_threshold"),
        ("inference:\n  turbo: true\n", "unknown field(s): turbo"),
    ],
)
def test_bad_yaml_is_a_clear_error_and_changes_nothing(tmp_path: Path, text: str, message: str):
    path = tmp_path / "models.yaml"
    path.write_text(text)
    before = _state()

    with pytest.raises(CommandError) as error:
        call_command("zoo_import", str(path), stdout=io.StringIO())

    assert message in str(error.value)
    assert "nothing was changed" in str(error.value)
    assert _state() == before


def test_a_failure_late_in_the_file_rolls_back_what_came_before(tmp_path: Path):
    path = tmp_path / "models.yaml"
    # Valid per the schema, but the second option's name is not a valid registry name.
    path.write_text(
        "tasks:\n  object_detection:\n    selected: yolov8s\n    options:\n"
        "      yolov8s: {model_id: changed, vram_mb: 1}\n"
        "      'bad name/x': {model_id: x, vram_mb: 1}\n"
    )
    before = _state()

    with pytest.raises(CommandError):
        call_command("zoo_import", str(path), stdout=io.StringIO())

    assert _state() == before


def test_a_missing_file_is_a_clear_error(tmp_path: Path):
    with pytest.raises(CommandError, match="no such file"):
        call_command("zoo_import", str(tmp_path / "absent.yaml"))

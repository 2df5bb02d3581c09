"""POST /api/models/validate: the document's arithmetic, on the reported device."""

from __future__ import annotations

import pytest

from models_registry.models import InferenceSettings, ModelEntry, Task

pytestmark = pytest.mark.django_db

URL = "/api/models/validate"


def _select(**choices: str | None) -> None:
    for task, name in choices.items():
        entry = ModelEntry.objects.get(name=name) if name else None
        Task.objects.filter(name=task).update(selected=entry)


@pytest.fixture
def gpu(settings):
    def set_total(gb: int) -> None:
        settings.ZOO_DEVICE = "cuda:0"
        settings.ZOO_DEVICE_TOTAL_MEMORY_MB = gb * 1024

    return set_total


def test_a_selection_that_fits_is_valid(api, gpu):
    gpu(24)
    _select(
        video_summarization="llama-4-maverick",
        object_detection="yolov8s",
        object_tracking="bytetrack",
    )

    response = api.post(URL)

    assert response.status_code == 200
    assert response.json() == {
        "valid": True,
        "total_vram_gb": 24.0,
        "total_required_gb": 17.75,
        "threshold": 0.8,
        "max_allowed_gb": 19.2,
        "model_requirements": {
            "video_summarization": {
                "model_name": "llama-4-maverick",
                "model_id": "meta-llama/Llama-4-Maverick",
                "vram_gb": 16.0,
            },
            "object_detection": {"model_name": "yolov8s", "model_id": "yolov8s", "vram_gb": 1.5},
            "object_tracking": {
                "model_name": "bytetrack",
                "model_id": "bytetrack",
                "vram_gb": 0.25,
            },
        },
        "warnings": [],
    }


def test_a_selection_larger_than_the_device_is_invalid_with_the_documents_warnings(api, gpu):
    InferenceSettings.objects.filter(pk=1).update(cpu_fallback=False)  # the document's example
    gpu(8)
    _select(
        video_summarization="llama-4-maverick",
        object_detection="yolov8l",
        object_tracking="samurai",
    )

    body = api.post(URL).json()

    assert body["valid"] is False
    assert body["total_required_gb"] == 24.0
    assert body["max_allowed_gb"] == 6.4
    assert body["warnings"] == [
        "Total required VRAM (24.0 GB) exceeds available VRAM (8.0 GB)",
        "Consider selecting smaller models or reducing simultaneous tasks",
    ]


def test_with_cpu_fallback_an_invalid_selection_says_it_would_run_on_the_cpu(api, gpu):
    # Valid stays the document's VRAM sum; the warnings say what would really happen.
    assert InferenceSettings.load().cpu_fallback is True
    gpu(8)
    _select(
        video_summarization="llama-4-maverick",
        object_detection="yolov8l",
        object_tracking="samurai",
    )

    body = api.post(URL).json()

    assert body["valid"] is False
    assert body["warnings"] == [
        "Total required VRAM (24.0 GB) exceeds available VRAM (8.0 GB)",
        "CPU fallback is on: a selected model that does not fit the GPU when it loads runs "
        "on the CPU, more slowly, instead of failing",
        "Consider selecting smaller models or reducing simultaneous tasks",
    ]
    InferenceSettings.objects.filter(pk=1).update(cpu_fallback=False)
    assert len(api.post(URL).json()["warnings"]) == 2  # the next request sees the change


def test_a_selection_over_the_threshold_but_within_the_device_says_so(api, gpu):
    gpu(10)
    _select(video_summarization="llama-4-scout", object_detection="yolov8n")

    body = api.post(URL).json()

    assert body["valid"] is False
    assert body["total_required_gb"] == 8.5
    assert body["max_allowed_gb"] == 8.0
    assert body["warnings"][0] == (
        "Total required VRAM (8.5 GB) exceeds the allowed 80% of available VRAM (8.0 GB)"
    )


def test_the_threshold_comes_from_the_settings(api, gpu):
    gpu(10)
    InferenceSettings.objects.filter(pk=1).update(offload_threshold=0.9)
    _select(video_summarization="llama-4-scout", object_detection="yolov8n")

    body = api.post(URL).json()

    assert body["threshold"] == 0.9
    assert body["max_allowed_gb"] == 9.0
    assert body["valid"] is True


def test_a_model_over_the_per_model_limit_is_invalid(api, gpu):
    gpu(80)
    _select(video_summarization="llava-next-13b", object_detection=None)

    body = api.post(URL).json()

    assert body["valid"] is False
    assert body["warnings"][0] == (
        "llava-next-13b needs 27.0 GB, more than max_memory_per_model (24.0 GB)"
    )


def test_tasks_without_a_selection_need_nothing(api, gpu):
    gpu(24)
    _select(video_summarization="claude", object_detection=None, object_tracking=None)

    body = api.post(URL).json()

    assert body["model_requirements"] == {
        "video_summarization": {
            "model_name": "claude",
            "model_id": "claude-sonnet-5-5",
            "vram_gb": 0.0,
        }
    }
    assert body["total_required_gb"] == 0.0
    assert body["valid"] is True


def test_validate_is_open_to_anonymous_callers_and_changes_nothing(api, gpu):
    gpu(8)
    before = list(Task.objects.values_list("name", "selected_id"))

    assert api.post(URL).status_code == 200
    assert list(Task.objects.values_list("name", "selected_id")) == before


def test_validate_refuses_unknown_query_parameters(api):
    response = api.post(f"{URL}?dry_run=1")

    assert response.status_code == 400
    assert response.json() == {
        "error": "Unknown query parameter: dry_run",
        "detail": "Unknown query parameter: dry_run",
    }

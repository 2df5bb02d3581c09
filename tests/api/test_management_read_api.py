"""GET /api/models/config and /api/models/status, as the Model Management document has them."""

from __future__ import annotations

from unittest.mock import patch

import pytest

from fleet.models import ModelStatus
from models_registry.models import ModelEntry
from tests.factories import DeviceFactory, ModelStateFactory

pytestmark = pytest.mark.django_db


def test_config_lists_each_tasks_options_and_selection(api):
    body = api.get("/api/models/config").json()

    assert set(body) == {"models", "inference", "cuda_available", "total_vram_gb"}
    assert list(body["models"]) == ["video_summarization", "object_detection", "object_tracking"]
    detection = body["models"]["object_detection"]
    assert detection["selected"] == "yolov8n"
    assert list(detection["options"]) == [
        "yolov8n",
        "yolov8s",
        "yolov8m",
        "yolov8l",
        "groundingdino",
    ]
    assert detection["options"]["yolov8n"] == {
        "model_id": "yolov8n",
        "framework": "ultralytics",
        "vram_mb": 512,
        "vram_gb": 0.5,
        "speed": "fast",
        "description": "Nano YOLO model",
        "fps": None,
    }
    assert detection["options"]["groundingdino"]["model_id"] == "IDEA-Research/grounding-dino-base"
    assert body["models"]["object_tracking"]["selected"] is None
    assert {"samurai", "sam2.1", "sam2long", "yolo11n-seg", "bytetrack"} == set(
        body["models"]["object_tracking"]["options"]
    )


def test_vlm_options_are_given_in_gigabytes_with_framework_and_fps(api):
    summarization = api.get("/api/models/config").json()["models"]["video_summarization"]

    assert summarization["selected"] == "llama-4-scout"
    assert summarization["options"]["llama-4-scout"] == {
        "model_id": "meta-llama/Llama-4-Scout",
        "framework": "sglang",
        "vram_mb": 8192,
        "vram_gb": 8.0,
        "speed": "fast",
        "description": "Fast VLM for video understanding",
        "fps": 2.5,
    }
    external = [o for o in summarization["options"].values() if o["vram_gb"] == 0]
    assert [o["framework"] for o in external] == ["anthropic", "openai", "google"]
    assert all(o["fps"] is None for o in external)  # no throughput is published for them


def test_every_option_carries_every_field_of_the_documents_option_table(api):
    models = api.get("/api/models/config").json()["models"]
    options = [option for task in models.values() for option in task["options"].values()]

    assert len(options) == 17
    for option in options:
        assert set(option) == {
            "model_id", "framework", "vram_mb", "vram_gb", "speed", "description", "fps"
        }  # fmt: skip
        assert option["framework"]
        assert option["vram_gb"] == round(option["vram_mb"] / 1024, 2)
    tracking = models["object_tracking"]["options"]
    assert tracking["samurai"]["framework"] == "transformers"  # from its loader
    assert tracking["bytetrack"]["vram_gb"] == 0.25
    assert models["video_summarization"]["options"]["llava-next-7b"]["fps"] == 1.0


def test_the_models_yaml_export_keeps_one_unit_per_option(db):
    from models_registry.selectors import config_document

    tasks = config_document()["tasks"]

    assert tasks["object_detection"]["options"]["yolov8n"] == {
        "model_id": "yolov8n",
        "vram_mb": 512,
        "speed": "fast",
        "description": "Nano YOLO model",
    }


def test_config_carries_the_inference_settings(api):
    assert api.get("/api/models/config").json()["inference"] == {
        "max_memory_per_model": 24.0,
        "offload_threshold": 0.8,
        "warmup_on_startup": True,
        "default_batch_size": 1,
        "max_batch_size": 8,
    }


def test_without_a_gpu_the_device_is_the_cpu_with_real_capacity(api, settings):
    settings.ZOO_DEVICE = ""
    settings.ZOO_DEVICE_TOTAL_MEMORY_MB = 0
    config = api.get("/api/models/config").json()
    status = api.get("/api/models/status").json()

    assert config["cuda_available"] is False
    assert config["total_vram_gb"] > 0
    assert status["device"] == "cpu"
    assert status["cuda_available"] is False
    assert status["total_vram_available_gb"] == config["total_vram_gb"]


def test_settings_override_the_device_probe(api, settings):
    settings.ZOO_DEVICE = "cuda:0"
    settings.ZOO_DEVICE_TOTAL_MEMORY_MB = 24 * 1024

    status = api.get("/api/models/status").json()

    assert status["device"] == "cuda:0"
    assert status["cuda_available"] is True
    assert status["total_vram_available_gb"] == 24.0


def test_a_registered_worker_device_is_what_status_reports(api):
    DeviceFactory(name="cuda:1", kind="cuda", total_memory_mb=16 * 1024)

    status = api.get("/api/models/status").json()

    assert status["device"] == "cuda:1"
    assert status["total_vram_available_gb"] == 16.0


def test_status_says_nothing_is_loaded_before_any_worker_ran(api):
    body = api.get("/api/models/status").json()

    assert body["loaded_models"] == {}
    assert body["total_vram_allocated_gb"] == 0.0
    assert set(body) == {
        "loaded_models",
        "total_vram_allocated_gb",
        "total_vram_available_gb",
        "cuda_available",
        "device",
        "timestamp",
    }


def test_status_is_stamped_with_the_time_of_each_answer(api):
    from datetime import datetime, timedelta

    from django.utils import timezone

    first = api.get("/api/models/status").json()["timestamp"]
    with patch("api.documents.timezone.now", return_value=timezone.now() + timedelta(hours=1)):
        second = api.get("/api/models/status").json()["timestamp"]

    assert first.endswith("Z")
    assert datetime.fromisoformat(second) - datetime.fromisoformat(first) >= timedelta(minutes=59)


def test_status_shows_loaded_task_models_with_memory_and_load_duration(api):
    device = DeviceFactory(total_memory_mb=24 * 1024)
    yolo = ModelEntry.objects.get(name="yolov8n")
    ModelStateFactory(model=yolo, device=device, measured_mb=600, load_duration_s=0.8123)
    # a zoo model held on the same device counts in the total but belongs to no task
    ModelStateFactory(model=ModelEntry.objects.get(name="yolo11-face"), device=device)

    body = api.get("/api/models/status").json()

    assert body["loaded_models"] == {
        "object_detection": {
            "model_id": "yolov8n",
            "memory_usage_gb": 0.59,
            "load_time": 0.812,
            "device": device.name,  # additive: where it runs
        }
    }
    assert body["total_vram_allocated_gb"] == round((600 + 200) / 1024, 2)


def test_a_loaded_selected_model_wins_over_another_loaded_option(api):
    device = DeviceFactory()
    ModelStateFactory(model=ModelEntry.objects.get(name="yolov8s"), device=device)
    ModelStateFactory(model=ModelEntry.objects.get(name="yolov8n"), device=device)

    loaded = api.get("/api/models/status").json()["loaded_models"]

    assert loaded["object_detection"]["model_id"] == "yolov8n"


def test_a_model_still_loading_is_not_listed_as_loaded(api):
    ModelStateFactory(model=ModelEntry.objects.get(name="yolov8n"), status=ModelStatus.LOADING)

    body = api.get("/api/models/status").json()

    assert body["loaded_models"] == {}
    assert body["total_vram_allocated_gb"] == 0.5  # but its memory is reserved

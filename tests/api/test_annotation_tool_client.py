"""The annotation tool's model settings panel and status dashboard, fed this service's
live JSON the way the tool's own server hands it to them: every key converted to
camelCase, deeply (its proxy does that to each answer of config, status and validate).

The fields checked are the ones those two screens read, from the tool's public source
(parafovea/fovea, annotation-tool/src: the settings panel, the status dashboard and the
client's types); each must be there with a type the screen can use (``vramGb`` is
formatted with toFixed, ``timestamp`` parsed as a date). The one difference kept on
purpose: the dashboard expects ``loadedModels`` as a list, the Model Management document
(which this service follows) keys it by task. And one the proxy makes itself: it
camel-cases the option names, which are keys, but not ``selected``, which is a value,
so a selected name with a dash or a dot no longer names its option.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

import pytest

from models_registry.models import ModelEntry
from tests.factories import DeviceFactory, ModelStateFactory

pytestmark = pytest.mark.django_db

NUMBER = (int, float)


def camel(key: str) -> str:
    """A key as the proxy's deep camelCase conversion spells it: separators (_ - . and
    spaces) dropped, the character after each one upper-cased."""
    head, *rest = re.split(r"[_\-.\s]+", key)
    return head[:1].lower() + head[1:] + "".join(part[:1].upper() + part[1:] for part in rest)


def camelized(value: Any) -> Any:
    if isinstance(value, dict):
        return {camel(key): camelized(item) for key, item in value.items()}
    if isinstance(value, list):
        return [camelized(item) for item in value]
    return value


def test_the_camel_case_conversion_is_the_proxys():
    assert camel("total_vram_gb") == "totalVramGb"
    assert camel("video_summarization") == "videoSummarization"
    assert camel("llama-4-scout") == "llama4Scout"
    assert camel("yolov8n") == "yolov8n"


@pytest.fixture
def tool(api):
    """The three answers the tool's screens read, as they reach the browser."""
    device = DeviceFactory(kind="cuda", total_memory_mb=24 * 1024)
    ModelStateFactory(model=ModelEntry.objects.get(name="yolov8n"), device=device)
    return {
        "config": camelized(api.get("/api/models/config").json()),
        "status": camelized(api.get("/api/models/status").json()),
        "validation": camelized(api.post("/api/models/validate").json()),
    }


def test_the_settings_panel_finds_every_option_field_it_reads(tool):
    config = tool["config"]

    assert isinstance(config["cudaAvailable"], bool)
    inference = config["inference"]
    assert isinstance(inference["maxMemoryPerModel"], NUMBER)
    assert isinstance(inference["offloadThreshold"], NUMBER)
    assert isinstance(inference["warmupOnStartup"], bool)
    assert len(config["models"]) == 3
    for task in config["models"].values():
        # Option names are keys, so the proxy camel-cases them too ("llama-4-scout" is
        # "llama4Scout"); selected is a value and is left as is (see the last test).
        assert task["selected"] is None or camel(task["selected"]) in task["options"]
        assert task["options"]
        for option in task["options"].values():
            assert isinstance(option["modelId"], str) and option["modelId"]
            assert isinstance(option["framework"], str) and option["framework"]
            assert isinstance(option["vramGb"], NUMBER)  # option.vramGb.toFixed(1)
            assert isinstance(option["speed"], str) and option["speed"]
            assert isinstance(option["description"], str)
            assert option["fps"] is None or isinstance(option["fps"], NUMBER)
    vlm = config["models"]["videoSummarization"]["options"]["llama4Scout"]
    assert vlm["fps"] == 2.5


def test_the_settings_panel_finds_the_budget_it_draws(tool):
    validation = tool["validation"]

    assert isinstance(validation["valid"], bool)
    for field in ("totalVramGb", "threshold", "totalRequiredGb", "maxAllowedGb"):
        assert isinstance(validation[field], NUMBER), field
    assert validation["modelRequirements"]
    for requirement in validation["modelRequirements"].values():
        assert isinstance(requirement["modelId"], str) and requirement["modelId"]
        assert isinstance(requirement["vramGb"], NUMBER)
    scout = validation["modelRequirements"]["videoSummarization"]
    assert scout["modelId"] == "meta-llama/Llama-4-Scout"


def test_the_status_dashboard_finds_its_totals_and_time(tool):
    status = tool["status"]

    assert isinstance(status["totalVramAllocatedGb"], NUMBER)
    assert isinstance(status["totalVramAvailableGb"], NUMBER)
    assert isinstance(status["cudaAvailable"], bool)
    assert datetime.fromisoformat(status["timestamp"])  # new Date(status.timestamp)


def test_loaded_models_are_keyed_by_task_as_the_document_has_them(tool):
    # The dashboard maps over a list; the document (and this service) key it by task.
    loaded = tool["status"]["loadedModels"]

    assert isinstance(loaded, dict)
    (device,) = {entry.pop("device") for entry in loaded.values()}  # additive: where it runs
    assert device.startswith("sim:")
    assert loaded == {
        "objectDetection": {"modelId": "yolov8n", "memoryUsageGb": 0.5, "loadTime": 0.8}
    }


def test_the_proxy_renames_option_names_but_not_the_selection(tool):
    # The tool's own conversion, not this service: with a plain name (yolov8n) the
    # selection still finds its option; with a dash (llama-4-scout) it does not.
    models = tool["config"]["models"]

    assert models["objectDetection"]["selected"] in models["objectDetection"]["options"]
    summarization = models["videoSummarization"]
    assert summarization["selected"] == "llama-4-scout"
    assert summarization["selected"] not in summarization["options"]

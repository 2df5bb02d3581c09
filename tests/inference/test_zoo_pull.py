"""``zoo_pull``: an operator downloads real weights, checked, and the entry points at them.

A local server stands in for the hub and for ultralytics' asset downloads; it serves
checkpoints the project builds itself (the bootstrap's), so the test load through the
real loaders is real.
"""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import pytest
from django.core.management import CommandError, call_command

from inference import bootstrap
from inference.engine.loaders import load_model
from inference.runtime.specs import spec_of
from models_registry.models import ModelEntry
from tests.hub_server import Hub, stand_in_hub

REPO = "jaranohaal/vit-base-violence-detection"  # violence-detection's model_id
IMAGE = np.random.default_rng(3).integers(0, 255, (96, 128, 3), dtype=np.uint8)


@pytest.fixture(scope="session")
def built(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The bootstrap's checkpoints of a ViT classifier and a YOLOv8n, built once."""
    root = tmp_path_factory.mktemp("pull-sources")
    return {
        name: Path(bootstrap.build(bootstrap.Target(name, loader, category), root).path)
        for name, loader, category in [
            ("violence-detection", "transformers", "classification"),
            ("yolov8n", "ultralytics", "detection"),
        ]
    }


@pytest.fixture
def hub(built: dict[str, Path]):
    with stand_in_hub() as hub:
        hub.add_repo(REPO, built["violence-detection"])
        hub.assets["yolov8n.pt"] = built["yolov8n"].read_bytes()
        yield hub


@pytest.fixture
def dest(tmp_path: Path) -> Path:
    return tmp_path / "weights"


def zoo_pull(hub: Hub, dest: Path, *args: str) -> str:
    out = io.StringIO()
    call_command(
        "zoo_pull", *args, "--endpoint", hub.url, "--assets-url", f"{hub.url}/assets",
        "--dest", str(dest), stdout=out, stderr=io.StringIO(),
    )  # fmt: skip
    return out.getvalue()


def resolve_path(hub: Hub, name: str) -> str:
    return f"/{REPO}/resolve/{hub.repos[REPO].commit}/{name}"


def path_of(name: str) -> str:
    return ModelEntry.objects.get(name=name).path


@pytest.mark.django_db
def test_a_pull_points_the_entry_at_checked_weights_that_load(hub, dest):
    output = zoo_pull(hub, dest, "violence-detection")

    folder = dest / "violence-detection"
    assert path_of("violence-detection") == str(folder)
    assert "pulled: violence-detection" in output
    assert "test load" in output
    assert sorted(p.name for p in folder.iterdir()) == [
        ".zoo-pull.json", "config.json", "model.safetensors", "preprocessor_config.json",
    ]  # fmt: skip
    marker = json.loads((folder / ".zoo-pull.json").read_text())
    assert marker["repo_id"] == REPO
    assert marker["commit"] == hub.repos[REPO].commit
    model = load_model(spec_of(ModelEntry.objects.get(name="violence-detection")), "cpu")
    try:
        result = model.predict(IMAGE)
    finally:
        model.close()
    assert {c["label"] for c in result["top"]} == {"violence", "non_violence"}

    again = zoo_pull(hub, dest, "violence-detection")

    assert "up to date: violence-detection" in again
    assert len(hub.gets("model.safetensors")) == 1  # nothing downloaded twice


@pytest.mark.django_db
def test_a_corrupted_file_leaves_the_entry_unchanged_and_fails(hub, dest):
    before = path_of("violence-detection")
    hub.corrupt.add(resolve_path(hub, "model.safetensors"))

    with pytest.raises(CommandError, match=r"1 failed .*: violence-detection"):
        zoo_pull(hub, dest, "violence-detection")

    assert path_of("violence-detection") == before
    assert not (dest / "violence-detection").exists()
    staging = dest / ".staging" / "violence-detection"
    assert not (staging / "model.safetensors").exists()  # corrupt: removed
    assert (staging / "config.json").is_file()  # checked: kept for the next run

    hub.corrupt.clear()
    zoo_pull(hub, dest, "violence-detection")

    assert path_of("violence-detection") == str(dest / "violence-detection")
    assert len(hub.gets("/config.json")) == 1  # the re-run fetched only what was bad


@pytest.mark.django_db
def test_a_hub_download_broken_off_midway_resumes_where_it_stopped(hub, dest, monkeypatch):
    from huggingface_hub import constants

    # The client writes (and so resumes from) whole chunks, 10 MB each: smaller ones for
    # a checkpoint of half a megabyte.
    monkeypatch.setattr(constants, "DOWNLOAD_CHUNK_SIZE", 64 * 1024)
    hub.truncate[resolve_path(hub, "model.safetensors")] = 1

    zoo_pull(hub, dest, "violence-detection")

    first, second = [entry[2] for entry in hub.gets("model.safetensors")]
    size = len(hub.repos[REPO].files["model.safetensors"])
    assert first == ""
    assert second.startswith("bytes=") and 0 < int(second[6:-1]) <= size // 2
    assert path_of("violence-detection") == str(dest / "violence-detection")
    folder = dest / "violence-detection"
    assert (folder / "model.safetensors").read_bytes() == hub.repos[REPO].files["model.safetensors"]


@pytest.mark.django_db
def test_a_yolo_asset_comes_over_plain_http_and_a_rerun_resumes_it(hub, dest):
    before = path_of("yolov8n")
    size = len(hub.assets["yolov8n.pt"])
    hub.truncate["/assets/yolov8n.pt"] = 1

    with pytest.raises(CommandError, match="yolov8n"):
        zoo_pull(hub, dest, "yolov8n", "--retries", "0")

    assert path_of("yolov8n") == before
    part = dest / ".staging" / "yolov8n" / "yolov8n.pt.part"
    assert part.stat().st_size == size // 2

    output = zoo_pull(hub, dest, "yolov8n")

    assert [entry[2] for entry in hub.gets("/assets/yolov8n.pt")] == ["", f"bytes={size // 2}-"]
    pulled = dest / "yolov8n" / "yolov8n.pt"
    assert path_of("yolov8n") == str(pulled)
    assert pulled.read_bytes() == hub.assets["yolov8n.pt"]
    assert f"pulled: yolov8n → {pulled}" in output
    model = load_model(spec_of(ModelEntry.objects.get(name="yolov8n")), "cpu")
    try:
        assert isinstance(model.predict(IMAGE)["detections"], list)
    finally:
        model.close()


@pytest.mark.django_db
def test_all_skips_entries_without_local_weights_with_a_line(hub, dest):
    keep = ["violence-detection", "yolov8n", "llama-4-scout", "claude", "weather-classification"]
    ModelEntry.objects.exclude(name__in=keep).update(enabled=False)
    paths = dict(ModelEntry.objects.values_list("name", "path"))

    output = zoo_pull(hub, dest, "--all", "--dry-run")

    lines = output.splitlines()
    assert any(
        line.startswith("skipped: llama-4-scout (runs on a separate inference") for line in lines
    )
    assert any(line.startswith("skipped: claude (an external API") for line in lines)
    assert "no published source: weather-classification" in output
    assert any(line.startswith("would pull: violence-detection") and REPO in line for line in lines)
    assert any(line.startswith("would pull: yolov8n") for line in lines)
    assert any(line.startswith("skipped: yolo11-face (disabled") for line in lines)
    assert hub.gets("/resolve/") == [] and hub.gets("/assets/") == []
    assert dict(ModelEntry.objects.values_list("name", "path")) == paths


@pytest.mark.django_db
def test_it_refuses_unknown_names_and_no_names(hub, dest):
    with pytest.raises(CommandError, match="Unknown registry entries: no-such-model"):
        zoo_pull(hub, dest, "no-such-model")
    with pytest.raises(CommandError, match="or give --all"):
        zoo_pull(hub, dest)

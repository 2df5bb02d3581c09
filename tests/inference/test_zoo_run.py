"""``zoo_bootstrap`` then ``zoo_run``: a person tries a real model offline in two commands."""

from __future__ import annotations

import io
import json

import numpy as np
import pytest
from django.core.management import CommandError, call_command
from PIL import Image

pytestmark = pytest.mark.subprocess


@pytest.fixture
def image_path(tmp_path):
    path = tmp_path / "some.jpg"
    pixels = np.random.default_rng(1).integers(0, 255, (240, 320, 3), dtype=np.uint8)
    Image.fromarray(pixels).save(path)
    return path


def test_bootstrap_then_run_prints_the_result_memory_and_timings(
    django_db_serialized_rollback, transactional_db, settings, tmp_path, image_path
):
    settings.ZOO_CHECKPOINT_DIR = tmp_path / "checkpoints"
    call_command("zoo_bootstrap", "--only", "yolo11-license-plate", stdout=io.StringIO(),
                 stderr=io.StringIO())  # fmt: skip
    out = io.StringIO()

    call_command("zoo_run", "yolo11-license-plate", "--image", str(image_path), "--json",
                 "--device", "sim:5", stdout=out)  # fmt: skip

    report = json.loads(out.getvalue())
    assert report["model"] == "yolo11-license-plate"
    assert report["cold"] is True
    assert report["load_s"] > 0 and report["predict_s"] > 0
    assert report["memory"]["estimate_mb"] == 300
    assert report["memory"]["measured_mb"] > 0
    assert report["memory"]["counted_mb"] == max(300, report["memory"]["measured_mb"])
    assert isinstance(report["result"]["detections"], list)


def test_run_refuses_an_unreadable_image(tmp_path):
    bad = tmp_path / "not-an-image.jpg"
    bad.write_text("hello")

    with pytest.raises(CommandError, match="cannot read image"):
        call_command("zoo_run", "yolo11-face", "--image", str(bad))


def test_run_names_the_reason_a_model_cannot_be_loaded(
    django_db_serialized_rollback, transactional_db, image_path
):
    with pytest.raises(CommandError, match="weights not found at /models/model-zoo"):
        call_command("zoo_run", "yolo11-face", "--image", str(image_path), "--device", "sim:6")

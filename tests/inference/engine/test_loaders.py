"""The real loaders on real (small, random) checkpoints, and the bootstrap that builds them.

Every catalog entry a local loader serves is built once per session, loaded on the CPU
through ``load_model`` and asked one prediction, whose JSON shape is checked. Broken
checkpoints must fail with a ``LoadError`` that names the path; the ``zoo_bootstrap``
command must point entries at what it built, build nothing twice, and never touch real
weights.
"""

from __future__ import annotations

import importlib
import io
import json
import math
import re
import shutil
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from django.apps import apps as django_apps
from django.core.management import CommandError, call_command
from PIL import Image

from inference import bootstrap
from inference.engine.loaders import LoadError, load_model
from inference.engine.specs import ModelSpec
from inference.runtime.specs import spec_of
from models_registry.models import ModelEntry
from tests.factories import ModelEntryFactory

WIDTH, HEIGHT = 640, 480
CATALOG = {target.name: target for target in bootstrap.catalog_targets()}


def _picture() -> np.ndarray:
    """A 640x480 RGB scene: a gradient, a red 'car', a blue 'person', a white 'plate'."""
    ys, xs = np.mgrid[0:HEIGHT, 0:WIDTH]
    image = np.stack([xs * 255 // WIDTH, ys * 255 // HEIGHT, np.full_like(xs, 90)], axis=-1)
    image = image.astype(np.uint8)
    image[240:400, 120:470] = (170, 30, 30)
    image[120:420, 500:560] = (40, 60, 160)
    image[340:372, 250:370] = (250, 250, 250)
    return image


IMAGE = _picture()


def _spec(name: str, path: str, **changes: Any) -> ModelSpec:
    target = CATALOG.get(name) or bootstrap.Target(name, "transformers", "classification")
    spec = ModelSpec(
        id=1,
        name=name,
        display_name=name,
        category=target.category,
        loader=target.loader,
        path=path,
        model_id=target.model_id,
        vram_mb=1,
        in_zoo=True,
        enabled=True,
    )
    return replace(spec, **changes)


def _load(checkpoints: dict[str, str], name: str, **changes: Any) -> Any:
    return load_model(_spec(name, checkpoints[name], **changes), "cpu")


# --- Shape checks -----------------------------------------------------------------------


def _is_probability(value: Any) -> bool:
    return isinstance(value, float) and 0.0 <= value <= 1.0


def _check_box(box: Any) -> None:
    assert len(box) == 4 and all(isinstance(v, float) for v in box)
    x1, y1, x2, y2 = box
    assert 0 <= x1 <= x2 <= WIDTH and 0 <= y1 <= y2 <= HEIGHT, box


def _check_detections(detections: list[dict[str, Any]], tracking: bool = False) -> None:
    for detection in detections:
        assert isinstance(detection["label"], str) and detection["label"]
        assert _is_probability(detection["score"])
        _check_box(detection["box"])
        if "mask_area" in detection:
            assert _is_probability(detection["mask_area"])
        if tracking:
            assert detection["track_id"] is None or isinstance(detection["track_id"], int)


def _check_classification(result: dict[str, Any]) -> None:
    assert isinstance(result["label"], str) and _is_probability(result["score"])
    assert 1 <= len(result["top"]) <= 5
    assert result["top"][0] == {"label": result["label"], "score": result["score"]}
    assert all(_is_probability(item["score"]) for item in result["top"])
    scores = [item["score"] for item in result["top"]]
    assert scores == sorted(scores, reverse=True)


def _check(category: str, result: dict[str, Any]) -> None:
    json.dumps(result, allow_nan=False)  # plain JSON: no tensors, arrays or NaN
    if category == "detection":
        assert result["detections"], "the biased random heads always find something"
        _check_detections(result["detections"])
    elif category in ("classification", "action-recognition"):
        _check_classification(result)
    elif category == "segmentation":
        fractions = [item["fraction"] for item in result["classes"]]
        assert all(_is_probability(f) for f in fractions)
        assert math.isclose(sum(fractions), 1.0, abs_tol=1e-3)
    elif category == "depth-estimation":
        assert result["min"] <= result["median"] <= result["max"]
        assert result["min"] <= result["mean"] <= result["max"]
    elif category == "pose":
        (person,) = result["people"]
        _check_box(person["box"])
        assert [kp["name"] for kp in person["keypoints"]] == bootstrap.COCO_KEYPOINTS
        assert all(_is_probability(kp["score"]) for kp in person["keypoints"])
    elif category == "embedding":
        assert result["dim"] == len(result["embedding"]) > 0 and result["norm"] > 0
        assert math.isclose(float(np.linalg.norm(result["embedding"])), 1.0, rel_tol=1e-3)
    elif category == "ocr":
        assert isinstance(result["text"], str) and _is_probability(result["score"])
    elif category == "tracking":
        assert isinstance(result["tracker"], str)
        assert [frame["frame"] for frame in result["frames"]] == [0, 1]
        for frame in result["frames"]:
            _check_detections(frame["detections"], tracking=True)
    elif category == "vision-language":
        assert isinstance(result["text"], str)
    elif category == "quality":
        assert isinstance(result["score"], float) and 0.0 <= result["score"] <= 100.0
    else:
        pytest.fail(f"no shape check for {category}")


# --- Every catalog model ------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(CATALOG))
def test_every_local_catalog_model_loads_on_the_cpu_and_answers_in_its_shape(
    checkpoints: dict[str, str], name: str
) -> None:
    model = _load(checkpoints, name)
    try:
        assert model.tensor_bytes() > 0
        category = CATALOG[name].category
        options = {"frames": [IMAGE, np.roll(IMAGE, 6, axis=1)]} if category == "tracking" else {}
        _check(category, model.predict(IMAGE, **options))
    finally:
        model.close()
    assert model.modules() == []


def test_the_bootstrap_builds_every_local_catalog_model_into_its_folder(
    checkpoints: dict[str, str],
) -> None:
    assert set(checkpoints) == set(CATALOG)
    root = Path(checkpoints["pet-classifier"]).parent  # a transformers folder
    for name, path in checkpoints.items():
        assert Path(path).exists()
        assert (root / name / bootstrap.MARKER).is_file()
    # True scale where the memory is the point; small everywhere else.
    assert Path(checkpoints["yolov8l"]).stat().st_size > 50 * bootstrap.MB
    assert Path(checkpoints["yolov8n"]).stat().st_size < 10 * bootstrap.MB


def test_catalog_models_keep_their_real_classes(checkpoints: dict[str, str]) -> None:
    plate = _load(checkpoints, "yolo11-license-plate").predict(IMAGE)
    assert {d["label"] for d in plate["detections"]} == {"license_plate"}
    pets = _load(checkpoints, "pet-classifier").predict(IMAGE)
    assert {item["label"] for item in pets["top"]} == {"cat", "dog"}
    weather = _load(checkpoints, "weather-classification").predict(IMAGE)
    assert {item["label"] for item in weather["top"]} == set(bootstrap.WEATHER)
    clothes = _load(checkpoints, "segformer-b2-clothes").predict(IMAGE)
    assert {item["label"] for item in clothes["classes"]} <= set(bootstrap.CLOTHES)
    embedding = _load(checkpoints, "clip-vit-l").predict(IMAGE)
    assert embedding["dim"] == 768


# --- Options ----------------------------------------------------------------------------


def test_zero_shot_models_answer_with_the_labels_they_are_given(
    checkpoints: dict[str, str],
) -> None:
    fashion = _load(checkpoints, "fashion-clip").predict(IMAGE, labels=["red coat", "jeans"])
    assert {item["label"] for item in fashion["top"]} == {"red coat", "jeans"}

    dino = _load(checkpoints, "groundingdino")
    found = dino.predict(IMAGE, labels=["dog", "traffic cone"], threshold=0.0)
    assert found["detections"]
    assert {d["label"] for d in found["detections"]} <= {"dog", "traffic cone"}

    actions = _load(checkpoints, "xclip-base").predict(
        IMAGE, frames=[IMAGE] * 3, labels=["waving", "jumping"]
    )
    assert actions["frames"] == 3
    assert {item["label"] for item in actions["top"]} == {"waving", "jumping"}


def test_yolo_world_takes_a_new_vocabulary_and_returns_to_its_own(
    checkpoints: dict[str, str],
) -> None:
    world = _load(checkpoints, "yolo-world-s")
    own = {d["label"] for d in world.predict(IMAGE)["detections"]}
    asked = world.predict(IMAGE, labels=["person", "bus"])
    assert {d["label"] for d in asked["detections"]} <= {"person", "bus"}
    assert {d["label"] for d in world.predict(IMAGE)["detections"]} == own


def test_pose_answers_one_skeleton_per_person_box(checkpoints: dict[str, str]) -> None:
    boxes = [[495.0, 55.0, 565.0, 425.0], [100.0, 100.0, 200.0, 300.0]]
    people = _load(checkpoints, "vitpose-small").predict(IMAGE, boxes=boxes)["people"]
    assert [person["box"] for person in people] == boxes
    assert all(len(person["keypoints"]) == 17 for person in people)


@pytest.mark.parametrize(
    "name", ["violence-detection", "segformer-b2-clothes", "depth-anything-v2-small"]
)
def test_a_batched_predict_answers_as_one_predict_per_image(
    checkpoints: dict[str, str], name: str
) -> None:
    # Crops of other sizes and shapes, as a batch of detections gives them.
    picture = Image.fromarray(IMAGE)
    crops = [picture.crop(box) for box in ((0, 0, 320, 240), (100, 50, 200, 250), (0, 0, 320, 240))]
    model = _load(checkpoints, name)

    together = model.predict_many(crops)

    assert len(together) == len(crops)
    for one, alone in zip(together, [model.predict(crop) for crop in crops], strict=True):
        _check(model.spec.category, one)
        assert _close(one, alone), (one, alone)


def _close(a: Any, b: Any) -> bool:
    """Equal up to float noise: a batched pass may round differently in the last digits."""
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(_close(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return len(a) == len(b) and all(_close(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, float):
        return math.isclose(a, b, rel_tol=1e-2, abs_tol=1e-3)
    return a == b


def test_closed_vocabulary_detectors_report_only_the_labels_asked_for(
    checkpoints: dict[str, str],
) -> None:
    model = _load(checkpoints, "yolov8n")
    everything = {d["label"] for d in model.predict(IMAGE, conf=0.5)["detections"]}
    wanted = sorted(everything)[:2]
    found = model.predict(IMAGE, conf=0.5, labels=wanted)["detections"]
    assert found and {d["label"] for d in found} <= set(wanted)
    with pytest.raises(ValueError, match="unicorn"):
        model.predict(IMAGE, labels=["unicorn"])


def test_ultralytics_reads_a_numpy_image_as_rgb(checkpoints: dict[str, str]) -> None:
    model = _load(checkpoints, "yolov8n")
    assert model.predict(IMAGE) == model.predict(Image.fromarray(IMAGE))


def test_loading_a_yolo_model_leaves_pillows_own_image_open(checkpoints: dict[str, str]) -> None:
    """ultralytics' import swaps Image.open for a wrapper that would try to install a HEIF
    plugin on an unidentified image; the loader puts Pillow's back."""
    import io

    from PIL import Image

    _load(checkpoints, "yolov8n")
    assert Image.open.__module__ == "PIL.Image"
    with pytest.raises(Image.UnidentifiedImageError):
        Image.open(io.BytesIO(b"%!PS-Adobe-3.0 EPSF-3.0\n"), formats=("PNG",))


def test_yolo_tracking_keeps_ids_across_calls_until_reset(checkpoints: dict[str, str]) -> None:
    model = _load(checkpoints, "bytetrack")

    def ids(**options: Any) -> set[int]:
        (frame,) = model.predict(IMAGE, **options)["frames"]
        return {d["track_id"] for d in frame["detections"] if d["track_id"] is not None}

    def frames_seen() -> int:
        # ByteTrack counts the frames of the stream it follows.
        return int(model.yolo.predictor.trackers[0].frame_id)

    first = ids()
    second = ids()
    assert first and second and second <= first  # the same objects, the same tracks
    assert frames_seen() == 2
    assert min(ids(reset=True)) == 1
    assert frames_seen() == 1
    with pytest.raises(ValueError, match="tracker"):
        model.predict(IMAGE, tracker="deepsort")


def test_sam2_tracks_the_objects_it_is_prompted_with(
    checkpoints: dict[str, str], tmp_path: Path
) -> None:
    video = _load(checkpoints, "sam2.1")
    result = video.predict(IMAGE, boxes=[[120, 240, 470, 400], [500, 120, 560, 420]])
    assert {d["track_id"] for d in result["frames"][0]["detections"]} <= {1, 2}

    folder = tmp_path / "sam2-image"
    folder.mkdir()
    bootstrap.sam2_image_builder(folder)
    image_model = load_model(_spec("sam2.1", str(folder)), "cpu")
    result = image_model.predict(IMAGE, frames=[IMAGE, IMAGE], points=[[300, 320]])
    assert "no memory" in result["tracker"]
    _check("tracking", result)


def test_ocr_reads_the_box_it_is_given(checkpoints: dict[str, str]) -> None:
    result = _load(checkpoints, "paddleocr").predict(IMAGE, box=[250, 340, 370, 372])
    assert set(result) == {"text", "score"}
    assert set(result["text"]) <= set("".join(bootstrap.PLATE_CHARACTERS[1:]))


def test_ocr_reads_several_boxes_of_one_image_in_one_call(checkpoints: dict[str, str]) -> None:
    boxes = [[250, 340, 370, 372], [10, 10, 90, 40], [400, 100, 520, 140]]
    result = _load(checkpoints, "paddleocr").predict(IMAGE, boxes=boxes)
    assert len(result["readings"]) == 3
    characters = set("".join(bootstrap.PLATE_CHARACTERS[1:]))
    for reading in result["readings"]:
        assert set(reading) == {"text", "score"} and set(reading["text"]) <= characters


def test_vision_language_models_answer_a_prompt(checkpoints: dict[str, str]) -> None:
    llava = _load(checkpoints, "llava-next-7b").predict(IMAGE, prompt="Who is there?")
    assert isinstance(llava["text"], str)
    florence = _load(checkpoints, "florence-2-large").predict(IMAGE, task="<OD>")
    assert florence["task"] == "<OD>" and isinstance(florence["detections"], list)


# --- Broken checkpoints ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "relative"),
    [("yolo11-face", "model.pt"), ("pet-classifier", ""), ("brisque-quality", "model.pt2")],
)
def test_a_missing_checkpoint_is_a_load_error_naming_the_path(
    tmp_path: Path, name: str, relative: str
) -> None:
    path = str(tmp_path / "nowhere" / relative)
    with pytest.raises(LoadError, match="nowhere"):
        load_model(_spec(name, path), "cpu")


def _truncate(file: Path) -> None:
    data = file.read_bytes()
    file.write_bytes(data[: len(data) // 2])


def test_a_truncated_checkpoint_is_a_load_error_naming_the_path(
    checkpoints: dict[str, str], tmp_path: Path
) -> None:
    yolo = tmp_path / "yolo" / "model.pt"
    yolo.parent.mkdir()
    shutil.copy(checkpoints["yolo11-face"], yolo)
    _truncate(yolo)
    with pytest.raises(LoadError, match=re.escape(str(yolo))):
        load_model(_spec("yolo11-face", str(yolo)), "cpu")

    folder = tmp_path / "pets"
    shutil.copytree(checkpoints["pet-classifier"], folder)
    _truncate(folder / "model.safetensors")
    with pytest.raises(LoadError, match=re.escape(str(folder))):
        load_model(_spec("pet-classifier", str(folder)), "cpu")

    program = tmp_path / "quality"
    shutil.copytree(checkpoints["brisque-quality"], program)
    _truncate(program / "model.pt2")
    with pytest.raises(LoadError, match=re.escape(str(program))):
        load_model(_spec("brisque-quality", str(program)), "cpu")


def test_a_checkpoint_of_another_architecture_is_a_load_error(
    checkpoints: dict[str, str], tmp_path: Path
) -> None:
    # A classifier's folder where a depth model is expected.
    classifier = checkpoints["pet-classifier"]
    with pytest.raises(LoadError, match=f"{re.escape(classifier)}.*resnet.*depth-estimation"):
        load_model(_spec("depth-anything-v2-small", classifier), "cpu")

    # Garbage bytes where ultralytics expects a checkpoint.
    garbage = tmp_path / "garbage.pt"
    garbage.write_bytes(b"not a checkpoint at all" * 100)
    with pytest.raises(LoadError, match=re.escape(str(garbage))):
        load_model(_spec("yolo11-face", str(garbage)), "cpu")

    # A YOLO segmentation model where a pose model is expected.
    segmenter = checkpoints["vehicle-damage-detection"]
    with pytest.raises(LoadError, match="segment"):
        load_model(_spec("yolo11-face", segmenter, category="pose"), "cpu")

    # Another model's weights under a config: almost nothing matches.
    mixed = tmp_path / "mixed"
    shutil.copytree(checkpoints["violence-detection"], mixed)
    shutil.copy(Path(checkpoints["pet-classifier"]) / "model.safetensors", mixed)
    with pytest.raises(LoadError, match=re.escape(str(mixed))):
        load_model(_spec("violence-detection", str(mixed)), "cpu")

    # A state dict where the torch loader expects an exported program.
    import torch

    state = tmp_path / "state"
    state.mkdir()
    torch.save({"weight": torch.zeros(3)}, state / "model.pt2")
    with pytest.raises(LoadError, match=r"torch\.export"):
        load_model(_spec("brisque-quality", str(state)), "cpu")


def test_a_tracker_configuration_is_not_a_model() -> None:
    with pytest.raises(LoadError, match="tracker configuration"):
        load_model(_spec("bytetrack", "bytetrack.yaml"), "cpu")


# --- Building ---------------------------------------------------------------------------


def test_an_unknown_entry_gets_a_checkpoint_of_its_kind(tmp_path: Path) -> None:
    target = bootstrap.Target("my-detector", "ultralytics", "detection", "/nowhere/x.pt")
    (outcome,) = bootstrap.bootstrap([target], tmp_path)
    assert outcome.action == bootstrap.Action.BUILT
    spec = _spec("my-detector", outcome.path, loader="ultralytics", category="detection")
    _check("detection", load_model(spec, "cpu").predict(IMAGE))

    external = bootstrap.Target("some-api", "external", "external-api")
    assert bootstrap.bootstrap([external], tmp_path)[0].action == bootstrap.Action.UNSUPPORTED


def test_the_large_checkpoint_builder_reaches_the_size_asked_for(tmp_path: Path) -> None:
    folder = bootstrap.build_large_checkpoint(tmp_path / "large", min_mb=64)
    assert (folder / "model.safetensors").stat().st_size >= 64 * bootstrap.MB
    model = load_model(_spec("large", str(folder)), "cpu")
    assert model.tensor_bytes() >= 64 * bootstrap.MB
    _check_classification(model.predict(IMAGE))


# --- The command --------------------------------------------------------------------------


def _bootstrap(*args: str) -> str:
    out, err = io.StringIO(), io.StringIO()
    call_command("zoo_bootstrap", *args, stdout=out, stderr=err)
    return out.getvalue()


@pytest.fixture
def checkpoint_dir(settings: Any, tmp_path: Path) -> Path:
    settings.ZOO_CHECKPOINT_DIR = tmp_path / "checkpoints"
    return Path(settings.ZOO_CHECKPOINT_DIR)


@pytest.mark.django_db
def test_the_command_points_entries_at_the_checkpoints_it_built(checkpoint_dir: Path) -> None:
    output = _bootstrap("--only", "yolo11-face", "pet-classifier")

    assert "Bootstrap: 2 built" in output
    for name in ("yolo11-face", "pet-classifier"):
        entry = ModelEntry.objects.get(name=name)
        assert Path(entry.path).exists()
        assert Path(entry.path).resolve().is_relative_to(checkpoint_dir.resolve())
        load_model(spec_of(entry), "cpu").close()
    assert ModelEntry.objects.get(name="yolov8n").path == "/models/yolov8n.pt"


@pytest.mark.django_db
def test_a_second_run_builds_nothing(checkpoint_dir: Path) -> None:
    _bootstrap("--only", "yolo11-face")
    path = Path(ModelEntry.objects.get(name="yolo11-face").path)
    built_at = path.stat().st_mtime_ns

    output = _bootstrap("--only", "yolo11-face")

    assert "Bootstrap: 0 built, 0 reused, 1 up to date" in output
    assert path.stat().st_mtime_ns == built_at


@pytest.mark.django_db
def test_an_entry_whose_path_was_reset_is_pointed_back_without_a_rebuild(
    checkpoint_dir: Path,
) -> None:
    _bootstrap("--only", "yolo11-face")
    built = ModelEntry.objects.get(name="yolo11-face").path
    ModelEntry.objects.filter(name="yolo11-face").update(path="/models/face.pt")

    output = _bootstrap("--only", "yolo11-face")

    assert "0 built, 1 reused" in output
    assert ModelEntry.objects.get(name="yolo11-face").path == built


@pytest.mark.django_db
def test_real_weights_are_never_touched(checkpoint_dir: Path, tmp_path: Path) -> None:
    real = tmp_path / "real" / "model.pt"
    real.parent.mkdir()
    real.write_bytes(b"an operator's weights")
    ModelEntry.objects.filter(name="yolo11-face").update(path=str(real))

    for args in (["--only", "yolo11-face"], ["--only", "yolo11-face", "--force"]):
        output = _bootstrap(*args)
        assert "0 built, 0 reused, 0 up to date, 1 real weights kept" in output
    assert ModelEntry.objects.get(name="yolo11-face").path == str(real)
    assert real.read_bytes() == b"an operator's weights"
    assert not (checkpoint_dir / "yolo11-face").exists()


@pytest.mark.django_db
def test_force_rebuilds_what_the_bootstrap_built(checkpoint_dir: Path) -> None:
    _bootstrap("--only", "pet-classifier")
    output = _bootstrap("--only", "pet-classifier", "--force")

    assert "Bootstrap: 1 built" in output
    assert Path(ModelEntry.objects.get(name="pet-classifier").path).exists()


@pytest.mark.django_db
def test_the_command_refuses_unknown_names_and_skips_remote_models(checkpoint_dir: Path) -> None:
    with pytest.raises(CommandError, match="no-such-model"):
        _bootstrap("--only", "no-such-model")
    assert "1 not buildable" in _bootstrap("--only", "claude")


@pytest.mark.django_db
def test_an_operators_new_entry_is_built_by_its_loader_and_category(
    checkpoint_dir: Path,
) -> None:
    ModelEntryFactory(
        name="dock-camera-classifier",
        loader="transformers",
        category="classification",
        path="/models/dock-camera-classifier",
    )

    _bootstrap("--only", "dock-camera-classifier")

    entry = ModelEntry.objects.get(name="dock-camera-classifier")
    _check_classification(load_model(spec_of(entry), "cpu").predict(IMAGE))


# --- The migration --------------------------------------------------------------------------


@pytest.mark.django_db
def test_the_conventions_migration_changes_only_catalog_defaults() -> None:
    migration = importlib.import_module("models_registry.migrations.0005_bootstrap_conventions")
    ModelEntry.objects.filter(name="bytetrack").update(path="bytetrack.yaml")
    ModelEntry.objects.filter(name="paddleocr").update(model_id="my-org/my-ocr")

    migration.forward(django_apps, None)

    assert ModelEntry.objects.get(name="bytetrack").path == "/models/bytetrack/yolov8n.pt"
    assert ModelEntry.objects.get(name="paddleocr").model_id == "my-org/my-ocr"

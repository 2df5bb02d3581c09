"""Ultralytics YOLO models: detection, segmentation, YOLO-World and tracking.

``YOLO(path)`` takes the task and class names from the checkpoint. Three things about
ultralytics shape this module:

- ``YOLO(path)`` on a missing file whose name is an official asset (``yolov8n.pt``)
  downloads it, even offline: the file is checked first, and only files are accepted
  (an architecture yaml builds random weights, which ``load_model`` allows on purpose).
- Numpy images are read as BGR (OpenCV): images are passed as PIL.
- The predictor keeps its own fused copy of the model, on the device; the master copy
  (which a new vocabulary or tracker rebuilds the predictor from) stays in host memory.
  The predictor is created at load (one small warm-up prediction), so the memory
  measured after the load is the memory in use.

Options of ``predict``: ``conf`` (0.25; tracking 0.1, as ultralytics has it), ``iou``
(0.7), ``max_det`` (100), ``labels`` (which of the model's classes to report; for
YOLO-World, a new vocabulary, which needs the CLIP text encoder saved beside the
weights); tracking: ``frames`` (images of one stream, in order),
``tracker`` (``bytetrack``, the default, or ``botsort``) and ``reset`` (start a new stream;
otherwise tracks carry over from the previous call).
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path
from typing import Any

import numpy as np

from inference.engine.loaders.base import ImageLike, LoadedModel, LoadError, as_pil
from inference.engine.loaders.outputs import clip_box, rounded, unit_length
from inference.engine.specs import ModelSpec
from inference.engine.vocabulary import Category

logger = logging.getLogger(__name__)

# The ultralytics tasks that can serve each registry category.
TASKS_FOR_CATEGORY: dict[str, set[str]] = {
    Category.DETECTION: {"detect", "segment", "obb"},
    Category.TRACKING: {"detect", "segment", "obb", "pose"},
    Category.SEGMENTATION: {"segment"},
    Category.POSE: {"pose"},
    Category.CLASSIFICATION: {"classify"},
}
TRACKERS = ("bytetrack", "botsort")
DEFAULT_TRACKER = "bytetrack"  # no re-identification model needed, unlike BoT-SORT's ReID
TEXT_ENCODER_DIR = "text_encoder"


def set_world_vocabulary(yolo: Any, names: list[str], text_encoder: Path) -> None:
    """Give a YOLO-World model a new vocabulary, offline.

    This is what ultralytics' ``set_classes`` does, with a transformers CLIP text model
    instead of OpenAI's ``clip`` package (which it would download): the names' CLIP text
    embeddings, L2-normalised, become the model's class features.
    """
    import torch
    from transformers import AutoTokenizer, CLIPTextModelWithProjection

    tokenizer = AutoTokenizer.from_pretrained(text_encoder, local_files_only=True)
    encoder = CLIPTextModelWithProjection.from_pretrained(text_encoder, local_files_only=True)
    with torch.inference_mode():
        tokens = tokenizer(list(names), padding=True, return_tensors="pt")
        embeddings = encoder.eval()(**tokens).text_embeds
    embeddings = unit_length(embeddings)
    model = yolo.model
    parameter = next(model.parameters())
    model.txt_feats = embeddings.reshape(1, len(names), -1).to(parameter.device, parameter.dtype)
    model.model[-1].nc = len(names)
    model.names = dict(enumerate(names))
    # The predictor holds a fused copy of the old model: make the next call build anew.
    yolo.predictor = None


class UltralyticsModel(LoadedModel):
    """A YOLO model; ``predict`` detects (or tracks, for the tracking category)."""

    def __init__(self, spec: ModelSpec, device: str, yolo: Any):
        super().__init__(spec, device)
        self.yolo = yolo
        self.task: str = yolo.task
        self.tracking = spec.category == Category.TRACKING
        self.tracker = DEFAULT_TRACKER
        self._fresh_stream = True
        self._vocabulary: list[str] = list(yolo.names.values())
        self._baked_vocabulary = list(self._vocabulary)
        self._text_encoder = Path(spec.path).parent / TEXT_ENCODER_DIR
        # The predictor, the tracker state and the vocabulary are shared, mutable state:
        # one prediction at a time per loaded model.
        self._lock = threading.Lock()

    @property
    def is_world(self) -> bool:
        return hasattr(self.yolo.model, "txt_feats")

    def modules(self) -> list[Any]:
        import torch

        if self.yolo is None:  # closed
            return []
        # The predictor's fused copy, which runs on the device (AutoBackend keeps it on a
        # backend object that is not a registered submodule, so it is looked up by hand),
        # and the master copy, which counts only where it shares the device's memory.
        autobackend = getattr(getattr(self.yolo, "predictor", None), "model", None)
        found = [
            m
            for m in (autobackend, getattr(getattr(autobackend, "backend", None), "model", None))
            if isinstance(m, torch.nn.Module)
        ]
        master = self.yolo.model
        if next(master.parameters()).device.type == torch.device(self.device).type:
            found.append(master)
        return found

    def warm_up(self) -> None:
        """Build the predictor (and its fused copy of the model) now, not on first use."""
        blank = as_pil(np.zeros((64, 64, 3), dtype=np.uint8))
        self._run(blank, {}, persist=False)
        self._fresh_stream = True

    def predict(self, image: ImageLike, **options: Any) -> dict[str, Any]:
        with self._lock:
            return self._predict(image, options)

    def _predict(self, image: ImageLike, options: dict[str, Any]) -> dict[str, Any]:
        classes = None
        if self.is_world:
            self._use_vocabulary(options.get("labels"))
        elif options.get("labels") is not None:
            classes = self._class_ids(options["labels"])
        options = {**options, "classes": classes}
        if not self.tracking:
            return {"detections": self._run(as_pil(image), options, persist=False)}
        tracker = options.get("tracker") or DEFAULT_TRACKER
        if tracker not in TRACKERS:
            raise ValueError(f"tracker must be one of {', '.join(TRACKERS)}, not {tracker!r}")
        if tracker != self.tracker or options.get("reset"):
            self.tracker = tracker
            self._fresh_stream = True
        frames = options.get("frames") or [image]
        results = []
        for index, frame in enumerate(frames):
            detections = self._run(as_pil(frame), options, persist=not self._fresh_stream)
            self._fresh_stream = False
            results.append({"frame": index, "detections": detections})
        return {"tracker": self.tracker, "frames": results}

    def _class_ids(self, labels: list[str]) -> list[int]:
        """A closed vocabulary: ``labels`` picks which of the model's classes to report."""
        ids = {str(name): int(index) for index, name in self.yolo.names.items()}
        unknown = [label for label in labels if label not in ids]
        if unknown:
            raise ValueError(f"{self.spec.name} has no class {', '.join(map(repr, unknown))}")
        return [ids[label] for label in labels]

    def _use_vocabulary(self, labels: list[str] | None) -> None:
        wanted = [str(label) for label in labels] if labels else self._baked_vocabulary
        if wanted == self._vocabulary:
            return
        if not self._text_encoder.is_dir():
            raise ValueError(
                f"{self.spec.name}: a new vocabulary needs a CLIP text encoder (transformers "
                f"format) in {self._text_encoder}; this model knows {len(self._vocabulary)} "
                "classes"
            )
        set_world_vocabulary(self.yolo, wanted, self._text_encoder)
        self._vocabulary = wanted

    def _run(self, image: Any, options: dict[str, Any], *, persist: bool) -> list[dict[str, Any]]:
        import torch

        arguments: dict[str, Any] = {
            "device": self.device,
            "verbose": False,
            "iou": float(options.get("iou", 0.7)),
            "max_det": int(options.get("max_det", 100)),
        }
        if options.get("conf") is not None:
            arguments["conf"] = float(options["conf"])
        if options.get("classes") is not None:
            arguments["classes"] = options["classes"]
        with torch.inference_mode():
            if self.tracking:
                arguments["tracker"] = f"{self.tracker}.yaml"
                result = self.yolo.track(image, persist=persist, **arguments)[0]
            else:
                result = self.yolo.predict(image, **arguments)[0]
        return self._detections(result)

    def _detections(self, result: Any) -> list[dict[str, Any]]:
        boxes = result.boxes
        if boxes is None:
            return []
        height, width = result.orig_shape
        xyxy = boxes.xyxy.cpu().numpy()
        classes = boxes.cls.cpu().numpy().astype(int)
        scores = boxes.conf.cpu().numpy()
        ids = boxes.id.cpu().numpy().astype(int) if boxes.id is not None else None
        areas = None
        if result.masks is not None:
            areas = result.masks.data.float().mean(dim=(1, 2)).cpu().numpy()
        detections = []
        for index in range(len(classes)):
            detection: dict[str, Any] = {
                "label": str(result.names[int(classes[index])]),
                "score": rounded(scores[index]),
                "box": clip_box(xyxy[index], width, height),
            }
            if areas is not None:
                detection["mask_area"] = rounded(areas[index])
            if self.tracking:
                detection["track_id"] = int(ids[index]) if ids is not None else None
            detections.append(detection)
        return detections

    def _classification(self, result: Any) -> list[dict[str, Any]]:
        probs = result.probs
        if probs is None:
            return []
        return [
            {"label": str(result.names[int(i)]), "score": rounded(probs.data[int(i)])}
            for i in probs.top5
        ]


class UltralyticsClassifier(UltralyticsModel):
    """A YOLO classification model, answering in the classification shape."""

    def _predict(self, image: ImageLike, options: dict[str, Any]) -> dict[str, Any]:
        import torch

        with torch.inference_mode():
            result = self.yolo.predict(as_pil(image), device=self.device, verbose=False)[0]
        top = self._classification(result)[: int(options.get("top_k", 5))]
        best = top[0] if top else {"label": "", "score": 0.0}
        return {"label": best["label"], "score": best["score"], "top": top}


def load(spec: ModelSpec, device: str) -> LoadedModel:
    """Load a YOLO checkpoint (or an architecture yaml) onto ``device``."""
    from PIL import Image
    from ultralytics import YOLO
    from ultralytics.utils import patches

    # ultralytics swaps Pillow's Image.open for one that tries to install a HEIF plugin on
    # any image Pillow cannot identify; the worker keeps Pillow's own (see core.images).
    Image.open = getattr(patches, "_image_open", Image.open)

    path = Path(spec.path)
    is_yaml = path.suffix in (".yaml", ".yml")
    if not is_yaml and not path.is_file():
        raise LoadError(f"{spec.name}: {path} is not a file (ultralytics needs a .pt file)")
    if is_yaml and "trackers" in _ultralytics_yaml(path.name):
        raise LoadError(
            f"{spec.name}: {path} is a tracker configuration, not a model; point the path "
            "at the detector's weights (the tracker is a predict option)"
        )
    try:
        yolo = YOLO(str(path), verbose=False)
    except Exception as exc:
        raise LoadError(
            f"{spec.name}: {path} is not a readable ultralytics checkpoint: "
            f"{type(exc).__name__}: {exc}"
        ) from exc
    allowed = TASKS_FOR_CATEGORY.get(spec.category)
    if allowed is None:
        raise LoadError(f"{spec.name}: ultralytics models cannot serve category {spec.category}")
    if yolo.task not in allowed:
        raise LoadError(
            f"{spec.name}: {path} holds a YOLO {yolo.task} model; a {spec.category} entry "
            f"needs one of: {', '.join(sorted(allowed))}"
        )
    # The master copy stays in host memory: the predictor makes its own fused copy on
    # the device, so the device holds one copy, not two.
    cls = UltralyticsClassifier if yolo.task == "classify" else UltralyticsModel
    model = cls(spec, device, yolo)
    if cls is UltralyticsModel:
        model.warm_up()
    return model


def _ultralytics_yaml(name: str) -> str:
    """Where in the ultralytics wheel a yaml of this name lives ("" if nowhere)."""
    from ultralytics.utils import ROOT

    found = next(iter((ROOT / "cfg").rglob(name)), None)
    return str(found.relative_to(ROOT)) if found else ""

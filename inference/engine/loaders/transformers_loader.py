"""Hugging Face transformers models, chosen by the entry's category and the checkpoint's
config.

A checkpoint is a folder as ``save_pretrained`` writes it: ``config.json``, the weights
(safetensors) and the processor saved beside them. It is loaded with
``from_pretrained(folder, local_files_only=True)``: nothing is ever fetched.

Each category maps to one kind of model below; the config's ``model_type`` decides
where a category has more than one (CLIP-like dual encoders for zero-shot
classification, SAM 2's video or image model for tracking, Florence-2 for
vision-language). A checkpoint of an architecture the category cannot use is refused
with a ``LoadError`` that names the path.

``predict`` options, by category:

- classification: ``top_k`` (5); zero-shot (CLIP-like): ``labels`` (default: clothing)
  and ``template`` (``"a photo of a {}"``).
- detection (Grounding DINO): ``labels`` (default: COCO-like), ``threshold`` (0.3),
  ``max_det`` (100).
- pose: ``boxes``, person boxes ``[x1, y1, x2, y2]`` (default: the whole image).
- ocr: ``box``, a crop ``[x1, y1, x2, y2]`` to read (default: the whole image).
- action-recognition: ``frames`` (images in order; else the one image), ``labels``.
- tracking (SAM 2): ``frames``, ``boxes`` to follow from the first frame (default: the
  whole image), ``points`` (``[x, y]`` each, instead of boxes).
- vision-language: ``prompt``, ``max_new_tokens`` (64); Florence-2: ``task`` (``<CAPTION>``).
"""

from __future__ import annotations

import logging
import math
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from inference.engine.loaders.base import ImageLike, LoadedModel, LoadError, as_pil
from inference.engine.specs import ModelSpec
from inference.engine.vocabulary import Category

logger = logging.getLogger(__name__)

DEFAULT_CLOTHING_LABELS = [
    "t-shirt", "shirt", "blouse", "sweater", "hoodie", "jacket", "coat", "suit", "dress",
    "skirt", "jeans", "trousers", "shorts", "sportswear", "uniform", "swimwear",
]  # fmt: skip
DEFAULT_ACTION_LABELS = [
    "walking", "running", "standing", "sitting", "fighting", "falling down", "climbing",
    "carrying something", "riding a bicycle", "loitering",
]  # fmt: skip
DEFAULT_DETECTION_LABELS = [
    "person", "car", "truck", "bus", "motorcycle", "bicycle", "dog", "cat", "package",
]  # fmt: skip
COCO_KEYPOINTS = [
    "nose", "left_eye", "right_eye", "left_ear", "right_ear", "left_shoulder",
    "right_shoulder", "left_elbow", "right_elbow", "left_wrist", "right_wrist", "left_hip",
    "right_hip", "left_knee", "right_knee", "left_ankle", "right_ankle",
]  # fmt: skip
# A checkpoint missing more than this share of the model's tensors is another
# architecture, not a checkpoint with a few freshly initialised heads.
MAX_MISSING_SHARE = 0.5


def _number(value: Any, digits: int = 4) -> float:
    """A plain, finite float (NaN and infinities become 0.0)."""
    value = float(value)
    return round(value, digits) if math.isfinite(value) else 0.0


def _significant(value: Any, digits: int = 6) -> float:
    """A plain float to ``digits`` significant digits (depth values can be tiny)."""
    value = float(value)
    return float(f"{value:.{digits}g}") if math.isfinite(value) else 0.0


def _probability(value: Any) -> float:
    return min(max(_number(value), 0.0), 1.0)


def _clip_box(box: Any, width: int, height: int) -> list[float]:
    x1, y1, x2, y2 = (float(v) for v in box)
    x1, x2 = sorted((min(max(x1, 0.0), width), min(max(x2, 0.0), width)))
    y1, y2 = sorted((min(max(y1, 0.0), height), min(max(y2, 0.0), height)))
    return [_number(x1, 1), _number(y1, 1), _number(x2, 1), _number(y2, 1)]


def _top(probabilities: Any, labels: list[str], k: int) -> dict[str, Any]:
    """The classification shape: the best label, its score and the top ``k``."""
    values, indices = probabilities.topk(min(max(k, 1), probabilities.numel()))
    top = [
        {"label": labels[int(i)], "score": _probability(v)}
        for v, i in zip(values.tolist(), indices.tolist(), strict=True)
    ]
    return {"label": top[0]["label"], "score": top[0]["score"], "top": top}


def _mask_box(mask: Any) -> list[float] | None:
    """The bounding box ``[x1, y1, x2, y2]`` of a boolean (H, W) mask, or None if empty."""
    ys, xs = np.nonzero(mask)
    if len(xs) == 0:
        return None
    return [float(xs.min()), float(ys.min()), float(xs.max() + 1), float(ys.max() + 1)]


def _labels_of(config: Any) -> list[str]:
    id2label = getattr(config, "id2label", None) or {}
    return [str(id2label.get(i, id2label.get(str(i), f"class_{i}"))) for i in range(len(id2label))]


def _label_list(value: Any, default: list[str]) -> list[str]:
    if value is None:
        return list(default)
    if isinstance(value, str) or not all(isinstance(v, str) and v.strip() for v in value):
        raise ValueError("labels must be a list of non-empty strings")
    if not value:
        raise ValueError("labels must not be empty")
    return [v.strip() for v in value]


class TransformersModel(LoadedModel):
    """A transformers model and its processor, on one device.

    Subclasses name the auto class that loads their weights and the processor they need,
    and turn outputs into the category's JSON shape.
    """

    auto_class: ClassVar[str] = "AutoModel"
    processor_class: ClassVar[str] = "AutoProcessor"

    def __init__(self, spec: ModelSpec, device: str, model: Any, processor: Any, config: Any):
        super().__init__(spec, device)
        self.model = model
        self.processor = processor
        self.config = config

    @classmethod
    def load(cls, spec: ModelSpec, device: str, path: Path, config: Any) -> TransformersModel:
        model = _from_pretrained(spec, path, cls.auto_class, device)
        processor = _processor(spec, path, cls.processor_class)
        return cls(spec, device, model, processor, config)

    def modules(self) -> list[Any]:
        return [self.model] if self.model is not None else []

    def _to_device(self, inputs: Any) -> Any:
        return inputs.to(self.device)

    def predict(self, image: ImageLike, **options: Any) -> dict[str, Any]:
        import torch

        with torch.inference_mode():
            return self.run(image, options)

    def run(self, image: ImageLike, options: dict[str, Any]) -> dict[str, Any]:
        raise NotImplementedError


class ImageClassifier(TransformersModel):
    """Softmax over the checkpoint's own labels (``config.id2label``)."""

    auto_class = "AutoModelForImageClassification"
    processor_class = "AutoImageProcessor"

    def run(self, image: ImageLike, options: dict[str, Any]) -> dict[str, Any]:
        inputs = self._to_device(self.processor(images=as_pil(image), return_tensors="pt"))
        probabilities = self.model(**inputs).logits.softmax(-1)[0].float().cpu()
        return _top(probabilities, _labels_of(self.model.config), int(options.get("top_k", 5)))


class ZeroShotClassifier(TransformersModel):
    """A CLIP-like dual encoder: the image against a prompt per label."""

    auto_class = "AutoModelForZeroShotImageClassification"

    def run(self, image: ImageLike, options: dict[str, Any]) -> dict[str, Any]:
        labels = _label_list(options.get("labels"), DEFAULT_CLOTHING_LABELS)
        template = str(options.get("template", "a photo of a {}"))
        inputs = self.processor(
            text=[template.format(label) for label in labels],
            images=as_pil(image),
            return_tensors="pt",
            padding=True,
        )
        logits = self.model(**self._to_device(inputs)).logits_per_image[0].float().cpu()
        return _top(logits.softmax(-1), labels, int(options.get("top_k", 5)))


class SemanticSegmenter(TransformersModel):
    """Per-pixel classes; answers the share of the image each class covers."""

    auto_class = "AutoModelForSemanticSegmentation"
    processor_class = "AutoImageProcessor"

    def run(self, image: ImageLike, options: dict[str, Any]) -> dict[str, Any]:
        import torch

        picture = as_pil(image)
        outputs = self.model(**self._to_device(self.processor(images=picture, return_tensors="pt")))
        segmentation = self.processor.post_process_semantic_segmentation(
            outputs, target_sizes=[picture.size[::-1]]
        )[0]
        labels = _labels_of(self.model.config)
        counts = torch.bincount(segmentation.flatten().cpu(), minlength=len(labels))
        fractions = counts.float() / segmentation.numel()
        order = fractions.argsort(descending=True).tolist()
        return {
            "classes": [
                {"label": labels[i], "fraction": _number(fractions[i])}
                for i in order
                if counts[i] > 0
            ]
        }


class DepthEstimator(TransformersModel):
    """Monocular depth; answers statistics of the depth map at the image's size."""

    auto_class = "AutoModelForDepthEstimation"
    processor_class = "AutoImageProcessor"

    def run(self, image: ImageLike, options: dict[str, Any]) -> dict[str, Any]:
        picture = as_pil(image)
        outputs = self.model(**self._to_device(self.processor(images=picture, return_tensors="pt")))
        depth = self.processor.post_process_depth_estimation(
            outputs, target_sizes=[picture.size[::-1]]
        )[0]["predicted_depth"].float()
        kind = getattr(self.model.config, "depth_estimation_type", "relative") or "relative"
        return {
            "min": _significant(depth.min()),
            "max": _significant(depth.max()),
            "mean": _significant(depth.mean()),
            "median": _significant(depth.median()),
            # Relative models answer inverse depth without a unit; metric ones metres.
            "kind": str(kind),
        }


class PoseEstimator(TransformersModel):
    """Top-down keypoints (ViTPose): one skeleton per person box."""

    auto_class = "AutoModelForPoseEstimation"
    processor_class = "AutoImageProcessor"

    def run(self, image: ImageLike, options: dict[str, Any]) -> dict[str, Any]:
        import torch

        picture = as_pil(image)
        width, height = picture.size
        boxes = [_clip_box(box, width, height) for box in options.get("boxes") or []]
        if not boxes:
            boxes = [[0.0, 0.0, float(width), float(height)]]
        # The processor takes COCO boxes: [x, y, width, height].
        coco = [[x1, y1, max(x2 - x1, 1.0), max(y2 - y1, 1.0)] for x1, y1, x2, y2 in boxes]
        inputs = self._to_device(self.processor(picture, boxes=[coco], return_tensors="pt"))
        experts = getattr(getattr(self.model.config, "backbone_config", None), "num_experts", 1)
        if experts and experts > 1:
            # ViTPose++ mixes dataset-specific experts: 0 is COCO.
            inputs["dataset_index"] = torch.zeros(len(coco), dtype=torch.long, device=self.device)
        outputs = self.model(**inputs)
        people = self.processor.post_process_pose_estimation(outputs, boxes=[coco])[0]
        names = _labels_of(self.model.config)
        people_out = []
        for box, person in zip(boxes, people, strict=True):
            keypoints = person["keypoints"].float().cpu().tolist()
            scores = person["scores"].float().cpu().tolist()
            if len(names) != len(keypoints):
                names = COCO_KEYPOINTS if len(keypoints) == 17 else []
            people_out.append(
                {
                    "box": box,
                    "keypoints": [
                        {
                            "name": names[i] if names else f"keypoint_{i}",
                            "x": _number(x, 1),
                            "y": _number(y, 1),
                            # Heat-map peaks: confidence-like, but not bounded by training.
                            "score": _probability(score),
                        }
                        for i, ((x, y), score) in enumerate(zip(keypoints, scores, strict=True))
                    ],
                }
            )
        return {"people": people_out}


class ImageEmbedder(TransformersModel):
    """An image embedding: a CLIP-like model's projected image features, else the
    model's pooled output. The embedding is L2-normalised; ``norm`` is its raw length."""

    auto_class = "AutoModel"
    processor_class = "AutoProcessor"

    def run(self, image: ImageLike, options: dict[str, Any]) -> dict[str, Any]:
        inputs = self._to_device(self.processor(images=as_pil(image), return_tensors="pt"))
        if hasattr(self.model, "get_image_features"):
            features = self.model.get_image_features(**inputs)
        else:
            features = self.model(**inputs)
        if not hasattr(features, "dim"):  # an output object: transformers 5 returns one
            pooled = getattr(features, "pooler_output", None)
            features = pooled if pooled is not None else features.last_hidden_state.mean(dim=1)
        vector = features[0].float().flatten().cpu()
        norm = float(vector.norm())
        unit = vector / norm if norm > 0 else vector
        return {
            "embedding": [_significant(v) for v in unit.tolist()],
            "dim": int(vector.numel()),
            "norm": _significant(norm),
        }


class TextRecogniser(TransformersModel):
    """A text-line recogniser (PaddleOCR's PP-OCR, CTC-decoded): reads one crop."""

    auto_class = "AutoModelForTextRecognition"
    processor_class = "AutoImageProcessor"

    def run(self, image: ImageLike, options: dict[str, Any]) -> dict[str, Any]:
        picture = as_pil(image)
        if options.get("box"):
            x1, y1, x2, y2 = _clip_box(options["box"], *picture.size)
            picture = picture.crop((x1, y1, x2, y2))
        outputs = self.model(**self._to_device(self.processor(images=picture, return_tensors="pt")))
        result = self.processor.post_process_text_recognition(outputs)[0]
        text = str(result.get("text", ""))
        # Nothing decoded gives the mean of no scores (NaN): no text, no confidence.
        return {"text": text, "score": _probability(result.get("score", 0.0)) if text else 0.0}


class ActionRecogniser(TransformersModel):
    """X-CLIP: a clip of frames against a prompt per action label."""

    auto_class = "AutoModel"

    def run(self, image: ImageLike, options: dict[str, Any]) -> dict[str, Any]:
        labels = _label_list(options.get("labels"), DEFAULT_ACTION_LABELS)
        frames = [np.array(as_pil(frame)) for frame in options.get("frames") or [image]]
        wanted = int(getattr(self.model.config.vision_config, "num_frames", 8))
        # The model takes a fixed number of frames: sample evenly (repeating if short).
        picks = np.linspace(0, len(frames) - 1, wanted).round().astype(int)
        clip = [frames[i].copy() for i in picks]  # writable arrays, as torch wants
        inputs = self.processor(text=labels, videos=clip, return_tensors="pt", padding=True)
        logits = self.model(**self._to_device(inputs)).logits_per_video[0].float().cpu()
        result = _top(logits.softmax(-1), labels, int(options.get("top_k", 5)))
        result["frames"] = len(frames)
        return result


class ZeroShotDetector(TransformersModel):
    """Grounding DINO: boxes for free-text labels.

    Scores are the best match between a box and the tokens of one label (the processor's
    own post-processing scores boxes against every token, separators included, and names
    them by whatever tokens pass a threshold, which can be several labels run together).
    """

    auto_class = "AutoModelForZeroShotObjectDetection"

    def run(self, image: ImageLike, options: dict[str, Any]) -> dict[str, Any]:
        import torch

        picture = as_pil(image)
        width, height = picture.size
        labels = _label_list(options.get("labels"), DEFAULT_DETECTION_LABELS)
        # The documented prompt: lower-case phrases, each ended by a period.
        text = " ".join(f"{label.lower()}." for label in labels)
        inputs = self.processor(images=picture, text=text, return_tensors="pt")
        spans = self._label_tokens(text, labels)
        outputs = self.model(**self._to_device(inputs))
        probabilities = outputs.logits[0].sigmoid().float().cpu()  # (queries, text tokens)
        per_label = torch.stack(
            [
                probabilities[:, tokens].max(dim=1).values
                if tokens
                else torch.zeros(len(probabilities))
                for tokens in spans
            ],
            dim=1,
        )
        scores, label_ids = per_label.max(dim=1)
        threshold = float(options.get("threshold", 0.3))
        keep = (scores > threshold).nonzero().flatten()
        keep = keep[scores[keep].argsort(descending=True)][: int(options.get("max_det", 100))]
        cx, cy, w, h = outputs.pred_boxes[0].float().cpu().unbind(-1)
        corners = torch.stack(
            [
                (cx - w / 2) * width,
                (cy - h / 2) * height,
                (cx + w / 2) * width,
                (cy + h / 2) * height,
            ],
            dim=-1,
        )
        return {
            "detections": [
                {
                    "label": labels[int(label_ids[i])],
                    "score": _probability(scores[i]),
                    "box": _clip_box(corners[i].tolist(), width, height),
                }
                for i in keep.tolist()
            ]
        }

    def _label_tokens(self, text: str, labels: list[str]) -> list[list[int]]:
        """The token positions of each label in ``text`` (from the tokenizer's offsets)."""
        encoded = self.processor.tokenizer(text, return_offsets_mapping=True)
        spans: list[list[int]] = [[] for _ in labels]
        start = 0
        ranges = []
        for label in labels:
            begin = text.index(label.lower(), start)
            ranges.append((begin, begin + len(label)))
            start = begin + len(label)
        for position, (first, last) in enumerate(encoded["offset_mapping"]):
            if last <= first:
                continue  # special tokens
            for index, (begin, end) in enumerate(ranges):
                if first >= begin and last <= end:
                    spans[index].append(position)
        return spans


class VideoTracker(TransformersModel):
    """SAM 2's video model: objects prompted on the first frame, followed through the
    others with its memory. Each call is one clip; the session does not outlive it."""

    auto_class = "AutoModel"
    tracker_name = "sam2-video"

    def run(self, image: ImageLike, options: dict[str, Any]) -> dict[str, Any]:
        import torch

        frames = [np.array(as_pil(frame)) for frame in options.get("frames") or [image]]
        height, width = frames[0].shape[:2]
        prompts = self._prompts(options, width, height)
        session = self.processor.init_video_session(
            video=frames, inference_device=self.device, dtype=torch.float32
        )
        object_ids = list(range(1, len(prompts["values"]) + 1))
        self.processor.add_inputs_to_inference_session(
            inference_session=session,
            frame_idx=0,
            obj_ids=object_ids,
            **self._prompt_arguments(prompts),
        )
        self.model(inference_session=session, frame_idx=0)
        results: list[dict[str, Any]] = []
        for output in self.model.propagate_in_video_iterator(session):
            masks = self.processor.post_process_masks(
                [output.pred_masks], original_sizes=[[session.video_height, session.video_width]]
            )[0]
            scores = output.object_score_logits.sigmoid().flatten().float().cpu().tolist()
            results.append(
                {
                    "frame": int(output.frame_idx),
                    "detections": self._detections(
                        list(output.object_ids), masks, scores, prompts["labels"]
                    ),
                }
            )
        results.sort(key=lambda item: item["frame"])
        return {"tracker": self.tracker_name, "frames": results}

    @staticmethod
    def _prompts(options: dict[str, Any], width: int, height: int) -> dict[str, Any]:
        points = options.get("points")
        if points:
            values = [[float(x), float(y)] for x, y in points]
            kind = "points"
        else:
            boxes = options.get("boxes") or [[0, 0, width, height]]
            values = [_clip_box(box, width, height) for box in boxes]
            kind = "boxes"
        labels = options.get("labels") or ["object"] * len(values)
        if len(labels) != len(values):
            raise ValueError("labels must name each prompted object")
        return {"kind": kind, "values": values, "labels": [str(label) for label in labels]}

    @staticmethod
    def _prompt_arguments(prompts: dict[str, Any]) -> dict[str, Any]:
        if prompts["kind"] == "points":
            # One positive point per object.
            return {
                "input_points": [[[point] for point in prompts["values"]]],
                "input_labels": [[[1] for _ in prompts["values"]]],
            }
        return {"input_boxes": [prompts["values"]]}

    @staticmethod
    def _detections(
        object_ids: list[int], masks: Any, scores: list[float], labels: list[str]
    ) -> list[dict[str, Any]]:
        found = []
        height, width = masks.shape[-2:]
        for index, object_id in enumerate(object_ids):
            mask = masks[index].reshape(-1, height, width).any(dim=0).cpu().numpy()
            box = _mask_box(mask)
            if box is None:
                continue  # the object is not in this frame
            found.append(
                {
                    "track_id": int(object_id),
                    "label": labels[int(object_id) - 1],
                    "score": _probability(scores[index] if index < len(scores) else 0.0),
                    "box": _clip_box(box, width, height),
                    "mask_area": _number(mask.mean()),
                }
            )
        return found


class PromptedSegmenter(VideoTracker):
    """SAM 2's image model used for tracking: the same prompts on every frame, with no
    memory between frames (ids follow the prompts, not the objects' motion)."""

    tracker_name = "sam2-image (no memory across frames)"

    def run(self, image: ImageLike, options: dict[str, Any]) -> dict[str, Any]:
        frames = [as_pil(frame) for frame in options.get("frames") or [image]]
        width, height = frames[0].size
        prompts = self._prompts(options, width, height)
        results = []
        for index, frame in enumerate(frames):
            inputs = self.processor(
                images=frame, return_tensors="pt", **self._prompt_arguments(prompts)
            )
            outputs = self.model(**self._to_device(inputs), multimask_output=False)
            masks = self.processor.post_process_masks(
                outputs.pred_masks.cpu(), inputs["original_sizes"].cpu()
            )[0]
            scores = outputs.iou_scores.flatten().float().cpu().tolist()
            object_ids = list(range(1, len(prompts["values"]) + 1))
            results.append(
                {
                    "frame": index,
                    "detections": self._detections(object_ids, masks, scores, prompts["labels"]),
                }
            )
        return {"tracker": self.tracker_name, "frames": results}


class VisionLanguage(TransformersModel):
    """An image-text-to-text model (LLaVA-NeXT and the like): a prompt about the image,
    answered in text, through the processor's chat template."""

    auto_class = "AutoModelForImageTextToText"

    def run(self, image: ImageLike, options: dict[str, Any]) -> dict[str, Any]:
        prompt = str(options.get("prompt") or "Describe the image.")
        if getattr(self.processor, "chat_template", None):
            messages = [
                {"role": "user", "content": [{"type": "image"}, {"type": "text", "text": prompt}]}
            ]
            text = self.processor.apply_chat_template(messages, add_generation_prompt=True)
        else:
            text = f"<image>\n{prompt}"
        inputs = self._to_device(
            self.processor(images=as_pil(image), text=text, return_tensors="pt")
        )
        ids = self.model.generate(
            **inputs, max_new_tokens=int(options.get("max_new_tokens", 64)), do_sample=False
        )
        answer = self.processor.batch_decode(
            ids[:, inputs["input_ids"].shape[1] :], skip_special_tokens=True
        )[0]
        return {"text": answer.strip()}


class Florence2(TransformersModel):
    """Florence-2: a task token (``<CAPTION>``, ``<OD>``, ``<OCR>``...) instead of a prompt."""

    auto_class = "AutoModelForImageTextToText"

    def run(self, image: ImageLike, options: dict[str, Any]) -> dict[str, Any]:
        picture = as_pil(image)
        task = str(options.get("task") or "<CAPTION>")
        text = task + str(options.get("prompt") or "")
        inputs = self._to_device(self.processor(text=text, images=picture, return_tensors="pt"))
        ids = self.model.generate(
            **inputs,
            max_new_tokens=int(options.get("max_new_tokens", 64)),
            do_sample=False,
            num_beams=1,
        )
        generated = self.processor.batch_decode(ids, skip_special_tokens=False)[0]
        parsed = self.processor.post_process_generation(
            generated, task=task, image_size=picture.size
        ).get(task)
        if isinstance(parsed, dict) and "bboxes" in parsed:
            width, height = picture.size
            return {
                "task": task,
                "detections": [
                    {"label": str(label), "box": _clip_box(box, width, height)}
                    for box, label in zip(parsed["bboxes"], parsed.get("labels", []), strict=False)
                ],
            }
        return {"task": task, "text": str(parsed or "").strip()}


# --- Choosing the kind ------------------------------------------------------------------


def _mapping(name: str) -> Any:
    from transformers.models.auto import modeling_auto

    return getattr(modeling_auto, name)


def _kind_for(spec: ModelSpec, config: Any) -> type[TransformersModel] | None:
    """The model kind that serves ``spec``'s category with a checkpoint of this config."""
    model_type = getattr(config, "model_type", "")
    zero_shot = model_type in _mapping("MODEL_FOR_ZERO_SHOT_IMAGE_CLASSIFICATION_MAPPING_NAMES")
    category = spec.category
    if category == Category.CLASSIFICATION:
        if zero_shot:
            return ZeroShotClassifier
        if model_type in _mapping("MODEL_FOR_IMAGE_CLASSIFICATION_MAPPING_NAMES"):
            return ImageClassifier
    elif category == Category.DETECTION:
        if model_type in ("grounding-dino", "mm-grounding-dino"):
            return ZeroShotDetector
    elif category == Category.SEGMENTATION:
        if model_type in _mapping("MODEL_FOR_SEMANTIC_SEGMENTATION_MAPPING_NAMES"):
            return SemanticSegmenter
    elif category == Category.DEPTH:
        if model_type in _mapping("MODEL_FOR_DEPTH_ESTIMATION_MAPPING_NAMES"):
            return DepthEstimator
    elif category == Category.POSE:
        if model_type in _mapping("MODEL_FOR_POSE_ESTIMATION_MAPPING_NAMES"):
            return PoseEstimator
    elif category == Category.EMBEDDING:
        if zero_shot or model_type in _mapping("MODEL_MAPPING_NAMES"):
            return ImageEmbedder
    elif category == Category.OCR:
        if model_type in _mapping("MODEL_FOR_TEXT_RECOGNITION_MAPPING_NAMES"):
            return TextRecogniser
    elif category == Category.ACTION_RECOGNITION:
        if model_type == "xclip":
            return ActionRecogniser
    elif category == Category.TRACKING:
        if model_type == "sam2_video":
            return VideoTracker
        if model_type == "sam2":
            return PromptedSegmenter
    elif category == Category.VISION_LANGUAGE:
        if model_type == "florence2":
            return Florence2
        if model_type in _mapping("MODEL_FOR_IMAGE_TEXT_TO_TEXT_MAPPING_NAMES"):
            return VisionLanguage
    return None


def _from_pretrained(spec: ModelSpec, path: Path, auto_class: str, device: str) -> Any:
    import torch
    import transformers

    auto = getattr(transformers, auto_class)
    # Half-precision weights run poorly (or not at all) on a CPU; elsewhere keep the
    # checkpoint's own dtype.
    dtype: Any = torch.float32 if device.startswith("cpu") else "auto"
    try:
        model, info = auto.from_pretrained(
            path, local_files_only=True, dtype=dtype, output_loading_info=True
        )
    except Exception as exc:
        raise LoadError(
            f"{spec.name}: could not load the weights in {path}: {type(exc).__name__}: {exc}"
        ) from exc
    expected = len(model.state_dict())
    missing = sorted(info.get("missing_keys") or [])
    if expected and len(missing) > MAX_MISSING_SHARE * expected:
        raise LoadError(
            f"{spec.name}: the weights in {path} do not fit {type(model).__name__}: "
            f"{len(missing)} of {expected} tensors missing (e.g. {missing[0]})"
        )
    if missing:
        logger.warning(
            "%s: %d tensors missing from %s, freshly initialised: %s",
            spec.name,
            len(missing),
            path,
            ", ".join(missing[:5]),
        )
    return model.to(device).eval()


def _processor(spec: ModelSpec, path: Path, processor_class: str) -> Any:
    import transformers

    try:
        return getattr(transformers, processor_class).from_pretrained(path, local_files_only=True)
    except Exception as exc:
        raise LoadError(
            f"{spec.name}: could not load the processor saved in {path}: "
            f"{type(exc).__name__}: {exc}"
        ) from exc


def load(spec: ModelSpec, device: str) -> LoadedModel:
    """Load the transformers checkpoint folder at ``spec.path`` onto ``device``."""
    import transformers
    from transformers.utils import logging as transformers_logging

    # Loading bars would land in worker logs at every load.
    transformers_logging.disable_progress_bar()
    path = Path(spec.path)
    if not (path / "config.json").is_file():
        raise LoadError(
            f"{spec.name}: {path} is not a transformers checkpoint folder (no config.json)"
        )
    try:
        config = transformers.AutoConfig.from_pretrained(path, local_files_only=True)
    except Exception as exc:
        raise LoadError(
            f"{spec.name}: could not read {path / 'config.json'}: {type(exc).__name__}: {exc}"
        ) from exc
    kind = _kind_for(spec, config)
    if kind is None:
        model_type = getattr(config, "model_type", "unknown")
        raise LoadError(
            f"{spec.name}: {path} holds a {model_type} checkpoint, which cannot serve "
            f"the {spec.category} category"
        )
    return kind.load(spec, device, path, config)

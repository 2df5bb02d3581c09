"""Transformers models that read one image with the classes their checkpoint knows:
classification, semantic segmentation, depth, pose, embedding and text recognition."""

from __future__ import annotations

from typing import Any

from inference.engine.loaders.base import ImageLike, as_pil
from inference.engine.loaders.outputs import (
    clip_box,
    embedding,
    probability,
    rounded,
    significant,
    top_k,
)
from inference.engine.loaders.transformers_common import TransformersModel, labels_of, top_k_option

COCO_KEYPOINTS = [
    "nose", "left_eye", "right_eye", "left_ear", "right_ear", "left_shoulder",
    "right_shoulder", "left_elbow", "right_elbow", "left_wrist", "right_wrist", "left_hip",
    "right_hip", "left_knee", "right_knee", "left_ankle", "right_ankle",
]  # fmt: skip


class BatchedImageModel(TransformersModel):
    """A model whose processor stacks images: one image is a batch of one, and
    ``run_many`` answers every image in one forward pass."""

    processor_class = "AutoImageProcessor"

    def run(self, image: ImageLike, options: dict[str, Any]) -> dict[str, Any]:
        return self.run_many([image], options)[0]


class ImageClassifier(BatchedImageModel):
    """Softmax over the checkpoint's own labels (``config.id2label``)."""

    auto_class = "AutoModelForImageClassification"

    def run_many(self, images: list[ImageLike], options: dict[str, Any]) -> list[dict[str, Any]]:
        pictures = [as_pil(image) for image in images]
        inputs = self._to_device(self.processor(images=pictures, return_tensors="pt"))
        probabilities = self.model(**inputs).logits.softmax(-1).float().cpu()
        labels, k = labels_of(self.model.config), top_k_option(options)
        return [top_k(row, labels, k) for row in probabilities]


class SemanticSegmenter(BatchedImageModel):
    """Per-pixel classes; answers the share of the image each class covers."""

    auto_class = "AutoModelForSemanticSegmentation"

    def run_many(self, images: list[ImageLike], options: dict[str, Any]) -> list[dict[str, Any]]:
        pictures = [as_pil(image) for image in images]
        inputs = self._to_device(self.processor(images=pictures, return_tensors="pt"))
        maps = self.processor.post_process_semantic_segmentation(
            self.model(**inputs), target_sizes=[picture.size[::-1] for picture in pictures]
        )
        labels = labels_of(self.model.config)
        return [_class_shares(segmentation, labels) for segmentation in maps]


def _class_shares(segmentation: Any, labels: list[str]) -> dict[str, Any]:
    """The share of the image each class covers, the largest first."""
    import torch

    counts = torch.bincount(segmentation.flatten().cpu(), minlength=len(labels))
    fractions = counts.float() / segmentation.numel()
    order = fractions.argsort(descending=True).tolist()
    return {
        "classes": [
            {"label": labels[i], "fraction": rounded(fractions[i])} for i in order if counts[i] > 0
        ]
    }


class DepthEstimator(BatchedImageModel):
    """Monocular depth; answers statistics of the depth map at the image's size."""

    auto_class = "AutoModelForDepthEstimation"

    def run_many(self, images: list[ImageLike], options: dict[str, Any]) -> list[dict[str, Any]]:
        # The processor keeps each image's aspect ratio: only same-sized images stack.
        pictures = [as_pil(image) for image in images]
        answers: dict[int, dict[str, Any]] = {}
        for size in dict.fromkeys(picture.size for picture in pictures):
            group = [i for i, picture in enumerate(pictures) if picture.size == size]
            for i, answer in zip(group, self._same_size([pictures[i] for i in group]), strict=True):
                answers[i] = answer
        return [answers[i] for i in range(len(pictures))]

    def _same_size(self, pictures: list[Any]) -> list[dict[str, Any]]:
        inputs = self._to_device(self.processor(images=pictures, return_tensors="pt"))
        maps = self.processor.post_process_depth_estimation(
            self.model(**inputs), target_sizes=[picture.size[::-1] for picture in pictures]
        )
        kind = getattr(self.model.config, "depth_estimation_type", "relative") or "relative"
        return [
            {
                "min": significant(depth.min()),
                "max": significant(depth.max()),
                "mean": significant(depth.mean()),
                "median": significant(depth.median()),
                # Relative models answer inverse depth without a unit; metric ones metres.
                "kind": str(kind),
            }
            for depth in (found["predicted_depth"].float() for found in maps)
        ]


class PoseEstimator(TransformersModel):
    """Top-down keypoints (ViTPose): one skeleton per person box."""

    auto_class = "AutoModelForPoseEstimation"
    processor_class = "AutoImageProcessor"

    def run(self, image: ImageLike, options: dict[str, Any]) -> dict[str, Any]:
        import torch

        picture = as_pil(image)
        width, height = picture.size
        boxes = [clip_box(box, width, height) for box in options.get("boxes") or []]
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
        names = labels_of(self.model.config)
        people_out = []
        for box, person in zip(boxes, people, strict=True):
            keypoints = person["keypoints"].float().cpu().tolist()
            scores = person["scores"].float().cpu().tolist()
            if len(names) != len(keypoints):
                names = COCO_KEYPOINTS if len(keypoints) == 17 else []
            people_out.append({"box": box, "keypoints": _keypoints(names, keypoints, scores)})
        return {"people": people_out}


def _keypoints(
    names: list[str], keypoints: list[list[float]], scores: list[float]
) -> list[dict[str, Any]]:
    return [
        {
            "name": names[i] if names else f"keypoint_{i}",
            "x": rounded(x, 1),
            "y": rounded(y, 1),
            # Heat-map peaks: confidence-like, but not bounded by training.
            "score": probability(score),
        }
        for i, ((x, y), score) in enumerate(zip(keypoints, scores, strict=True))
    ]


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
        return embedding(features[0].float().flatten().cpu())


class TextRecogniser(TransformersModel):
    """A text-line recogniser (PaddleOCR's PP-OCR, CTC-decoded): reads one crop, or with
    ``boxes`` every crop of one image in a single batched forward pass."""

    auto_class = "AutoModelForTextRecognition"
    processor_class = "AutoImageProcessor"

    def run(self, image: ImageLike, options: dict[str, Any]) -> dict[str, Any]:
        picture = as_pil(image)
        if options.get("boxes"):
            crops = [_crop(picture, box) for box in options["boxes"]]
            return {"readings": self._read(crops)}
        if options.get("box"):
            picture = _crop(picture, options["box"])
        return self._read([picture])[0]

    def _read(self, crops: list[Any]) -> list[dict[str, Any]]:
        inputs = self.processor(images=crops, return_tensors="pt")
        outputs = self.model(**self._to_device(inputs))
        readings = []
        for result in self.processor.post_process_text_recognition(outputs):
            text = str(result.get("text", ""))
            # Nothing decoded gives the mean of no scores (NaN): no text, no confidence.
            score = probability(result.get("score", 0.0)) if text else 0.0
            readings.append({"text": text, "score": score})
        return readings


def _crop(picture: Any, box: Any) -> Any:
    x1, y1, x2, y2 = clip_box(box, *picture.size)
    return picture.crop((x1, y1, x2, y2))

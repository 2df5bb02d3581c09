"""Transformers models that read a sequence of frames: action recognition (X-CLIP) and
tracking (SAM 2's video model, or its image model prompted on every frame)."""

from __future__ import annotations

from typing import Any

import numpy as np

from inference.engine.loaders.base import ImageLike, as_pil
from inference.engine.loaders.outputs import clip_box, probability, rounded, top_k
from inference.engine.loaders.transformers_common import (
    TransformersModel,
    label_list,
    top_k_option,
)

DEFAULT_ACTION_LABELS = [
    "walking", "running", "standing", "sitting", "fighting", "falling down", "climbing",
    "carrying something", "riding a bicycle", "loitering",
]  # fmt: skip


def _mask_box(mask: Any) -> list[float] | None:
    """The bounding box ``[x1, y1, x2, y2]`` of a boolean (H, W) mask, or None if empty."""
    ys, xs = np.nonzero(mask)
    if len(xs) == 0:
        return None
    return [float(xs.min()), float(ys.min()), float(xs.max() + 1), float(ys.max() + 1)]


class ActionRecogniser(TransformersModel):
    """X-CLIP: a clip of frames against a prompt per action label."""

    auto_class = "AutoModel"

    def run(self, image: ImageLike, options: dict[str, Any]) -> dict[str, Any]:
        labels = label_list(options.get("labels"), DEFAULT_ACTION_LABELS)
        frames = [np.array(as_pil(frame)) for frame in options.get("frames") or [image]]
        wanted = int(getattr(self.model.config.vision_config, "num_frames", 8))
        # The model takes a fixed number of frames: sample evenly (repeating if short).
        picks = np.linspace(0, len(frames) - 1, wanted).round().astype(int)
        clip = [frames[i].copy() for i in picks]  # writable arrays, as torch wants
        inputs = self.processor(text=labels, videos=clip, return_tensors="pt", padding=True)
        logits = self.model(**self._to_device(inputs)).logits_per_video[0].float().cpu()
        result = top_k(logits.softmax(-1), labels, top_k_option(options))
        result["frames"] = len(frames)
        return result


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
            values = [clip_box(box, width, height) for box in boxes]
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
                    "score": probability(scores[index] if index < len(scores) else 0.0),
                    "box": clip_box(box, width, height),
                    "mask_area": rounded(mask.mean()),
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

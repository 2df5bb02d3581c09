"""Transformers models that read an image together with text: zero-shot classification
and detection against free-text labels, and image-text-to-text generation."""

from __future__ import annotations

from typing import Any

from inference.engine.loaders.base import ImageLike, as_pil
from inference.engine.loaders.outputs import clip_box, probability, top_k
from inference.engine.loaders.transformers_common import (
    TransformersModel,
    label_list,
    top_k_option,
)

DEFAULT_CLOTHING_LABELS = [
    "t-shirt", "shirt", "blouse", "sweater", "hoodie", "jacket", "coat", "suit", "dress",
    "skirt", "jeans", "trousers", "shorts", "sportswear", "uniform", "swimwear",
]  # fmt: skip
DEFAULT_DETECTION_LABELS = [
    "person", "car", "truck", "bus", "motorcycle", "bicycle", "dog", "cat", "package",
]  # fmt: skip


class ZeroShotClassifier(TransformersModel):
    """A CLIP-like dual encoder: the image against a prompt per label."""

    auto_class = "AutoModelForZeroShotImageClassification"

    def run(self, image: ImageLike, options: dict[str, Any]) -> dict[str, Any]:
        labels = label_list(options.get("labels"), DEFAULT_CLOTHING_LABELS)
        template = str(options.get("template", "a photo of a {}"))
        inputs = self.processor(
            text=[template.format(label) for label in labels],
            images=as_pil(image),
            return_tensors="pt",
            padding=True,
        )
        logits = self.model(**self._to_device(inputs)).logits_per_image[0].float().cpu()
        return top_k(logits.softmax(-1), labels, top_k_option(options))


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
        labels = label_list(options.get("labels"), DEFAULT_DETECTION_LABELS)
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
                    "score": probability(scores[i]),
                    "box": clip_box(corners[i].tolist(), width, height),
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
                    {"label": str(label), "box": clip_box(box, width, height)}
                    for box, label in zip(parsed["bboxes"], parsed.get("labels", []), strict=False)
                ],
            }
        return {"task": task, "text": str(parsed or "").strip()}

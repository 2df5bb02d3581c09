"""Ultralytics checkpoints, built from the architecture yamls inside its wheel."""

from __future__ import annotations

import copy
from collections.abc import Callable
from pathlib import Path
from typing import Any

from inference.bootstrap.common import _save, tiny_clip_tokenizer


def _bias_head(model: Any, value: float = 1.0) -> None:
    """Raise the class-score biases of a random YOLO head so it emits boxes.

    A fresh head starts its class bias near -7 (a prior for rare objects), so a random
    model scores ~0.01 and returns nothing at the default confidence; +1 gives 0.73, so
    post-processing, the JSON and the trackers really run. Segmentation also drops every
    box whose mask is empty, and a random mask branch is often empty: push the mask
    coefficients and prototypes positive too. This changes no architecture.
    """
    import torch

    def fill(layer: Any) -> None:
        if getattr(layer, "bias", None) is not None:
            layer.bias.data.fill_(value)

    head: Any = model.model[-1]
    if type(head).__name__ == "WorldDetect":  # its class scores come from the contrastive head
        for layer in head.cv4:
            fill(layer)
    for attribute in ("cv3", "one2one_cv3"):
        for branch in getattr(head, attribute, None) or []:
            last = branch[-1]
            if isinstance(last, torch.nn.Conv2d) and last.out_channels == head.nc:
                fill(last)
    if hasattr(head, "proto"):
        for branch in head.cv4:
            fill(branch[-1])
        fill(head.proto.cv3.bn)


def yolo_builder(architecture: str, names: list[str] | Callable[[], list[str]], filename: str):
    """A builder of a YOLO checkpoint from an architecture yaml in the ultralytics wheel
    (the scale letter in its name, n/s/m/l/x, picks depth and width) with these classes."""

    def build(folder: Path) -> str:
        from ultralytics import YOLO

        classes = names() if callable(names) else names
        yolo = YOLO(architecture, verbose=False)
        # Rebuild the same task model with our class count; YOLO.save() then writes the
        # format of a trained checkpoint (fp16 module plus metadata).
        built: Any = yolo.model
        model = type(built)(copy.deepcopy(built.yaml), nc=len(classes), verbose=False)
        model.names = dict(enumerate(classes))
        model.args, model.task = built.args, built.task
        _bias_head(model)
        yolo.model = model
        yolo.save(folder / filename)
        return filename

    return build


def yolo_world_builder(names: list[str] | Callable[[], list[str]], filename: str):
    """YOLO-World v2 with its vocabulary baked in, plus a CLIP text tower beside it.

    Ultralytics' ``set_classes`` needs OpenAI's ``clip`` package and downloads its weights,
    neither possible offline. The vocabulary is what ``set_classes`` would compute: the
    class names' L2-normalised CLIP text embeddings in the model's ``txt_feats``. The
    ``text_encoder/`` folder (a transformers CLIP text model) lets the loader change the
    vocabulary at run time (the ``labels`` option). The file name must keep ``-world`` in
    it: that is how ``YOLO(path)`` knows to build a YOLO-World model.
    """

    def build(folder: Path) -> str:
        from transformers import CLIPTextConfig, CLIPTextModelWithProjection
        from ultralytics import YOLO

        from inference.engine.loaders.ultralytics_loader import set_world_vocabulary

        tokenizer = tiny_clip_tokenizer()
        text_model = CLIPTextModelWithProjection(
            CLIPTextConfig(
                vocab_size=len(tokenizer),
                hidden_size=64,
                intermediate_size=128,
                num_hidden_layers=2,
                num_attention_heads=2,
                projection_dim=512,  # WorldDetect's embedding width (CLIP ViT-B/32)
                bos_token_id=tokenizer.bos_token_id,
                eos_token_id=tokenizer.eos_token_id,
                pad_token_id=tokenizer.pad_token_id,
            )
        )
        _save(folder / "text_encoder", text_model, tokenizer)
        yolo = YOLO("yolov8s-worldv2.yaml", verbose=False)
        set_world_vocabulary(yolo, names() if callable(names) else names, folder / "text_encoder")
        _bias_head(yolo.model)
        yolo.save(folder / filename)
        return filename

    return build

"""Bootstrap: small, randomly initialised checkpoints of the right architecture for every
registry entry whose weights are missing, so the whole system runs offline, for real.

Each checkpoint is built from a configuration, never downloaded: ultralytics builds from
the architecture yamls inside its wheel, transformers from a config object, and the
torch loader's format (a ``torch.export`` program) from a small module defined here.
The weights are random, so predictions are meaningless; their *shape* is what the rest
of the system needs, and each checkpoint has the real layout (labels, keypoint names,
processors, tokenizers), so pointing an entry at real weights changes nothing else.

Layout: one folder per entry under the checkpoint folder (``ZOO_CHECKPOINT_DIR``)::

    <dir>/<name>/                    transformers: config.json, model.safetensors, processor
    <dir>/<name>/<file>.pt           ultralytics: the checkpoint file
    <dir>/<name>/model.pt2           torch: an exported program, plus config.json
    <dir>/<name>/.zoo-bootstrap.json written last: the build is complete

A folder is built under a temporary name and renamed into place when done, so an
interrupted run leaves nothing that looks complete. This module touches no database:
the ``zoo_bootstrap`` command points the registry at what it builds.
"""

from __future__ import annotations

import contextlib
import copy
import json
import math
import shutil
import string
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from django.conf import settings

from models_registry.models import Category, Loader

LOCAL_LOADERS: tuple[str, ...] = (Loader.ULTRALYTICS, Loader.TRANSFORMERS, Loader.TORCH)
MARKER = ".zoo-bootstrap.json"
MB = 1024 * 1024

# A builder writes one checkpoint into an empty folder and returns the path, relative to
# that folder, the registry entry should point at ("." for the folder itself).
Builder = Callable[[Path], str]


@dataclass(frozen=True)
class Target:
    """What the bootstrap needs to know of a registry entry."""

    name: str
    loader: str
    category: str
    path: str = ""
    model_id: str = ""

    @classmethod
    def from_fields(cls, fields: Any) -> Target:
        """From a catalog dict or anything with the registry's attribute names."""

        def get(key: str) -> str:
            value = fields.get(key) if isinstance(fields, dict) else getattr(fields, key, "")
            return str(value or "")

        return cls(
            name=get("name"),
            loader=get("loader"),
            category=get("category"),
            path=get("path"),
            model_id=get("model_id"),
        )


def catalog_targets() -> list[Target]:
    """Every entry of the built-in catalog that a local loader serves."""
    from models_registry.catalog import TASK_OPTIONS, ZOO_MODELS

    entries = ZOO_MODELS + [option for options in TASK_OPTIONS.values() for option in options]
    targets = [Target.from_fields(entry) for entry in entries]
    return [target for target in targets if target.loader in LOCAL_LOADERS]


# --- Labels of the models the catalog names ------------------------------------------

LICENSE_PLATE = ["license_plate"]
FACE = ["face"]
VEHICLE_DAMAGE = ["dent", "scratch", "crack", "glass shatter", "lamp broken", "tire flat"]
VIOLENCE = ["non_violence", "violence"]
WEATHER = ["cloudy", "foggy", "rainy", "snowy", "sunny"]
VEHICLE_TYPES = [
    "sedan", "suv", "hatchback", "coupe", "convertible", "wagon",
    "minivan", "van", "pickup", "truck", "bus",
]  # fmt: skip
PETS = ["cat", "dog"]
# mattmdjaga/segformer_b2_clothes's 18 classes.
CLOTHES = [
    "Background", "Hat", "Hair", "Sunglasses", "Upper-clothes", "Skirt", "Pants", "Dress",
    "Belt", "Left-shoe", "Right-shoe", "Face", "Left-leg", "Right-leg", "Left-arm",
    "Right-arm", "Bag", "Scarf",
]  # fmt: skip
COCO_KEYPOINTS = [
    "nose", "left_eye", "right_eye", "left_ear", "right_ear", "left_shoulder",
    "right_shoulder", "left_elbow", "right_elbow", "left_wrist", "right_wrist", "left_hip",
    "right_hip", "left_knee", "right_knee", "left_ankle", "right_ankle",
]  # fmt: skip
# What a generic entry gets when nothing says what its classes are.
GENERIC_CLASSES = ["class_0", "class_1"]


def coco_names() -> list[str]:
    """The 80 COCO class names, from the dataset yaml inside the ultralytics wheel."""
    from ultralytics.utils import ROOT, YAML

    return list(YAML.load(ROOT / "cfg/datasets/coco8.yaml")["names"].values())


def _labels(names: list[str]) -> dict[str, Any]:
    return {
        "id2label": dict(enumerate(names)),
        "label2id": {name: index for index, name in enumerate(names)},
    }


# --- Tokenizers built in code (the real ones ship with hub checkpoints) ----------------


def tiny_clip_tokenizer() -> Any:
    """A working CLIP tokenizer with no merges: one token per byte-level character, so any
    text tokenizes. Saved as tokenizer.json beside the model."""
    from transformers import CLIPTokenizer
    from transformers.convert_slow_tokenizer import bytes_to_unicode

    chars = list(bytes_to_unicode().values())
    vocab = {char: index for index, char in enumerate(chars)}
    vocab.update({char + "</w>": len(chars) + index for index, char in enumerate(chars)})
    vocab["<|startoftext|>"] = len(vocab)
    vocab["<|endoftext|>"] = len(vocab)
    return CLIPTokenizer(vocab=vocab, merges=[], model_max_length=77)


def tiny_bert_tokenizer() -> Any:
    """An uncased WordPiece tokenizer of single characters, as Grounding DINO's BERT uses."""
    from transformers import BertTokenizer

    tokens = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    tokens += list(string.ascii_lowercase + string.digits + string.punctuation)
    tokens += ["##" + char for char in string.ascii_lowercase + string.digits]
    return BertTokenizer(vocab={t: i for i, t in enumerate(tokens)}, model_max_length=256)


def tiny_char_tokenizer(specials: list[str], **special_tokens: Any) -> Any:
    """A character-level fast tokenizer (``tokenizers`` WordLevel) for generative models."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    vocab = {token: index for index, token in enumerate(specials + list(string.printable))}
    backend = Tokenizer(models.WordLevel(vocab=vocab, unk_token=special_tokens["unk_token"]))
    backend.pre_tokenizer = pre_tokenizers.Split("", behavior="isolated")
    backend.decoder = decoders.Fuse()
    return PreTrainedTokenizerFast(tokenizer_object=backend, **special_tokens)


def _kwargs(**values: Any) -> dict[str, Any]:
    """Keyword arguments for transformers' typed configs, some of which (``out_indices``,
    a processor's ``character_list``) are accepted at run time but not in their stubs."""
    return values


def _save(folder: Path, model: Any, *processors: Any) -> str:
    from transformers.utils import logging as transformers_logging

    transformers_logging.disable_progress_bar()  # one bar per file would bury ours
    model.save_pretrained(folder)
    for processor in processors:
        processor.save_pretrained(folder)
    return "."


# --- Ultralytics -----------------------------------------------------------------------


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

        from inference.loaders.ultralytics_loader import set_world_vocabulary

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


# --- Transformers ----------------------------------------------------------------------


def vit_classifier(names: list[str]) -> Builder:
    def build(folder: Path) -> str:
        from transformers import ViTConfig, ViTForImageClassification, ViTImageProcessor

        config = ViTConfig(
            hidden_size=64,
            num_hidden_layers=2,
            num_attention_heads=2,
            intermediate_size=128,
            image_size=224,
            patch_size=16,
            **_labels(names),
        )
        processor = ViTImageProcessor(
            size={"height": 224, "width": 224}, image_mean=[0.5] * 3, image_std=[0.5] * 3
        )
        return _save(folder, ViTForImageClassification(config), processor)

    return build


def convnext_classifier(names: list[str]) -> Builder:
    def build(folder: Path) -> str:
        from transformers import (
            ConvNextConfig,
            ConvNextForImageClassification,
            ConvNextImageProcessor,
        )

        config = ConvNextConfig(
            hidden_sizes=[16, 32, 64, 128], depths=[1, 1, 2, 1], **_labels(names)
        )
        processor = ConvNextImageProcessor(size={"shortest_edge": 224}, crop_pct=0.875)
        return _save(folder, ConvNextForImageClassification(config), processor)

    return build


def resnet_classifier(names: list[str]) -> Builder:
    def build(folder: Path) -> str:
        from transformers import (
            ConvNextImageProcessor,
            ResNetConfig,
            ResNetForImageClassification,
        )

        config = ResNetConfig(
            embedding_size=16,
            hidden_sizes=[16, 32, 64, 128],
            depths=[1, 1, 1, 1],
            layer_type="basic",
            **_labels(names),
        )
        # microsoft/resnet-* checkpoints use the ConvNeXt image processor.
        processor = ConvNextImageProcessor(size={"shortest_edge": 224}, crop_pct=0.875)
        return _save(folder, ResNetForImageClassification(config), processor)

    return build


def clip_builder(patch_size: int, projection_dim: int) -> Builder:
    """CLIP (zero-shot classification or embeddings) in a ViT-B/32 or ViT-L/14 layout;
    the projection width is the real model's, so callers see the real embedding length."""

    def build(folder: Path) -> str:
        from transformers import CLIPConfig, CLIPImageProcessor, CLIPModel, CLIPProcessor

        tokenizer = tiny_clip_tokenizer()
        config = CLIPConfig(
            text_config={
                "vocab_size": len(tokenizer),
                "hidden_size": 64,
                "intermediate_size": 128,
                "num_hidden_layers": 2,
                "num_attention_heads": 2,
                "max_position_embeddings": 77,
                "bos_token_id": tokenizer.bos_token_id,
                "eos_token_id": tokenizer.eos_token_id,
                "pad_token_id": tokenizer.pad_token_id,
            },
            vision_config={
                "hidden_size": 64,
                "intermediate_size": 128,
                "num_hidden_layers": 2,
                "num_attention_heads": 2,
                "image_size": 224,
                "patch_size": patch_size,
            },
            projection_dim=projection_dim,
        )
        image_processor = CLIPImageProcessor(
            size={"shortest_edge": 224}, crop_size={"height": 224, "width": 224}
        )
        processor = CLIPProcessor(image_processor=image_processor, tokenizer=tokenizer)
        return _save(folder, CLIPModel(config), processor)

    return build


def segformer_builder(names: list[str]) -> Builder:
    """SegFormer at b0 width (the real b2 is 64/128/320/512 wide, depths 3/4/6/3)."""

    def build(folder: Path) -> str:
        from transformers import (
            SegformerConfig,
            SegformerForSemanticSegmentation,
            SegformerImageProcessor,
        )

        config = SegformerConfig(
            hidden_sizes=[32, 64, 160, 256],
            depths=[2, 2, 2, 2],
            decoder_hidden_size=256,
            **_labels(names),
        )
        processor = SegformerImageProcessor(
            size={"height": 512, "width": 512}, do_reduce_labels=False
        )
        return _save(folder, SegformerForSemanticSegmentation(config), processor)

    return build


def vitpose_builder(folder: Path) -> str:
    """ViTPose with the simple decoder and the 17 COCO keypoints (one heat map each)."""
    from transformers import (
        VitPoseBackboneConfig,
        VitPoseConfig,
        VitPoseForPoseEstimation,
        VitPoseImageProcessor,
    )

    backbone = VitPoseBackboneConfig(
        **_kwargs(
            hidden_size=64,
            num_hidden_layers=2,
            num_attention_heads=2,
            mlp_ratio=4,
            image_size=[256, 192],
            patch_size=[16, 16],
            out_indices=[2],
        )
    )
    config = VitPoseConfig(
        backbone_config=backbone, use_simple_decoder=True, **_labels(COCO_KEYPOINTS)
    )
    return _save(folder, VitPoseForPoseEstimation(config), VitPoseImageProcessor())


def depth_anything_builder(folder: Path) -> str:
    """Depth Anything V2 with a DINOv2 backbone of 64 x 4 (Small: 384 x 12) and the real
    Small's image processor."""
    from transformers import (
        DepthAnythingConfig,
        DepthAnythingForDepthEstimation,
        Dinov2Config,
        DPTImageProcessor,
    )

    backbone = Dinov2Config(
        **_kwargs(
            hidden_size=64,
            num_hidden_layers=4,
            num_attention_heads=2,
            intermediate_size=128,
            image_size=518,
            patch_size=14,
            out_indices=[1, 2, 3, 4],
            reshape_hidden_states=False,
        )
    )
    config = DepthAnythingConfig(
        backbone_config=backbone,
        reassemble_hidden_size=64,
        neck_hidden_sizes=[16, 32, 64, 64],
        fusion_hidden_size=32,
        head_hidden_size=16,
        depth_estimation_type="relative",
    )
    processor = DPTImageProcessor(
        size={"height": 518, "width": 518},
        keep_aspect_ratio=True,
        ensure_multiple_of=14,
        resample=3,
        do_pad=False,
        image_mean=[0.485, 0.456, 0.406],
        image_std=[0.229, 0.224, 0.225],
    )
    return _save(folder, DepthAnythingForDepthEstimation(config), processor)


# Plate characters; index 0 is the CTC blank. The real PP-OCRv5 head has 18,385.
PLATE_CHARACTERS = ["blank", *string.digits, *string.ascii_uppercase, "-", " "]


def pp_ocr_builder(folder: Path) -> str:
    """PaddleOCR's PP-OCRv5 mobile text recogniser, as transformers ships it (the same
    architecture as PaddlePaddle/PP-OCRv5_mobile_rec_safetensors) with a plate charset."""
    from transformers import (
        PPOCRV5MobileRecConfig,
        PPOCRV5MobileRecForTextRecognition,
        PPOCRV5ServerRecImageProcessor,
    )

    # PaddleOCR's recognition block table for PPLCNetV3: the (2, 1) and (1, 2) strides
    # keep the text line's width. The default table is the classifier's and fails on
    # 48-pixel-high crops.
    backbone = {
        "model_type": "pp_lcnet_v3",
        "scale": 0.95,
        "divisor": 16,
        "out_features": ["stage2", "stage3", "stage4", "stage5"],
        "out_indices": [2, 3, 4, 5],
        "block_configs": [
            [[3, 16, 32, 1, False]],
            [[3, 32, 64, 1, False], [3, 64, 64, 1, False]],
            [[3, 64, 128, [2, 1], False], [3, 128, 128, 1, False]],
            [[3, 128, 256, [1, 2], False]] + [[5, 256, 256, 1, False]] * 4,
            [
                [5, 256, 512, [2, 1], True],
                [5, 512, 512, 1, True],
                [5, 512, 512, [2, 1], False],
                [5, 512, 512, 1, False],
            ],
        ],
    }
    config = PPOCRV5MobileRecConfig(
        backbone_config=backbone, head_out_channels=len(PLATE_CHARACTERS)
    )
    processor = PPOCRV5ServerRecImageProcessor(**_kwargs(character_list=PLATE_CHARACTERS))
    return _save(folder, PPOCRV5MobileRecForTextRecognition(config), processor)


def xclip_builder(folder: Path) -> str:
    """X-CLIP with 8 frames and 32-pixel patches, as microsoft/xclip-base-patch32."""
    from transformers import VideoMAEImageProcessor, XCLIPConfig, XCLIPModel, XCLIPProcessor

    tokenizer = tiny_clip_tokenizer()
    config = XCLIPConfig(
        text_config={
            "vocab_size": len(tokenizer),
            "hidden_size": 64,
            "intermediate_size": 128,
            "num_hidden_layers": 2,
            "num_attention_heads": 2,
            "bos_token_id": tokenizer.bos_token_id,
            "eos_token_id": tokenizer.eos_token_id,
            "pad_token_id": tokenizer.pad_token_id,
        },
        vision_config={
            "hidden_size": 64,
            "intermediate_size": 128,
            "num_hidden_layers": 2,
            "num_attention_heads": 2,
            "mit_hidden_size": 64,
            "mit_intermediate_size": 128,
            "mit_num_attention_heads": 2,
            "num_frames": 8,
            "patch_size": 32,
            "image_size": 224,
        },
        projection_dim=64,
        prompt_num_attention_heads=2,
    )
    image_processor = VideoMAEImageProcessor(
        size={"shortest_edge": 224},
        crop_size={"height": 224, "width": 224},
        image_mean=[0.485, 0.456, 0.406],
        image_std=[0.229, 0.224, 0.225],
    )
    processor = XCLIPProcessor(image_processor=image_processor, tokenizer=tokenizer)
    return _save(folder, XCLIPModel(config), processor)


def grounding_dino_builder(folder: Path) -> str:
    """Grounding DINO with a tiny Swin and a one-layer BERT text encoder."""
    from transformers import (
        BertConfig,
        GroundingDinoConfig,
        GroundingDinoForObjectDetection,
        GroundingDinoImageProcessor,
        GroundingDinoProcessor,
        SwinConfig,
    )

    tokenizer = tiny_bert_tokenizer()
    config = GroundingDinoConfig(
        backbone_config=SwinConfig(
            **_kwargs(
                embed_dim=16,
                depths=[1, 1, 1, 1],
                num_heads=[1, 1, 2, 2],
                window_size=7,
                out_indices=[2, 3, 4],
            )
        ),
        text_config=BertConfig(
            vocab_size=len(tokenizer),
            hidden_size=32,
            num_hidden_layers=1,
            num_attention_heads=2,
            intermediate_size=64,
        ),
        d_model=32,
        encoder_layers=1,
        decoder_layers=2,  # 1 fails: the box heads' weight tying needs two
        encoder_ffn_dim=64,
        decoder_ffn_dim=64,
        encoder_attention_heads=2,
        decoder_attention_heads=2,
        num_queries=30,
        max_text_len=256,
    )
    image_processor = GroundingDinoImageProcessor(size={"shortest_edge": 480, "longest_edge": 640})
    processor = GroundingDinoProcessor(image_processor=image_processor, tokenizer=tokenizer)
    return _save(folder, GroundingDinoForObjectDetection(config), processor)


SAM2_IMAGE_SIZE = 256  # the real models take 1024; 256 keeps a CPU test under a second


def _sam2_parts() -> dict[str, Any]:
    from transformers import Sam2HieraDetConfig

    size = SAM2_IMAGE_SIZE
    # A global-attention block must not be a stage's first (pooling) block.
    backbone = Sam2HieraDetConfig(
        hidden_size=16,
        embed_dim_per_stage=[16, 32, 64, 128],
        blocks_per_stage=[1, 1, 2, 1],
        num_attention_heads_per_stage=[1, 1, 1, 1],
        global_attention_blocks=[3],
        window_size_per_stage=[8, 4, 14, 7],
        image_size=[size, size],
    )
    # The video model hard-codes some widths: the prompt, decoder and memory width stays
    # 256 and the memory encoder's output 64; layers and MLPs are what shrink.
    return {
        "vision_config": {
            "backbone_config": backbone,
            "backbone_channel_list": [128, 64, 32, 16],
            "backbone_feature_sizes": [[size // s, size // s] for s in (4, 8, 16)],
            "fpn_hidden_size": 256,
        },
        "prompt_encoder_config": {"hidden_size": 256, "image_size": size},
        "mask_decoder_config": {
            "hidden_size": 256,
            "mlp_dim": 256,
            "num_attention_heads": 2,
            "iou_head_hidden_dim": 64,
        },
    }


def _sam2_image_processor() -> Any:
    from transformers import Sam2ImageProcessor

    size = SAM2_IMAGE_SIZE
    return Sam2ImageProcessor(size={"height": size, "width": size})


def sam2_video_builder(folder: Path) -> str:
    """SAM 2.1's video model (memory attention across frames), for the tracking options.

    SAMURAI and SAM2Long are research code on top of SAM 2.1 weights (a Kalman-filtered
    memory selection, a memory tree) that transformers does not ship; they get this same
    architecture, which is what their weights load into.
    """
    from transformers import (
        Sam2VideoConfig,
        Sam2VideoModel,
        Sam2VideoProcessor,
        Sam2VideoVideoProcessor,
    )

    size = SAM2_IMAGE_SIZE
    config = Sam2VideoConfig(
        **_sam2_parts(),
        image_size=size,
        num_maskmem=3,
        memory_attention_hidden_size=256,
        memory_attention_num_layers=1,
        memory_attention_feed_forward_hidden_size=256,
        memory_attention_rope_feat_sizes=[size // 16, size // 16],
        memory_encoder_hidden_size=256,
        memory_encoder_output_channels=64,
        mask_downsampler_embed_dim=256,
        memory_fuser_embed_dim=256,
        memory_fuser_intermediate_dim=256,
        memory_fuser_num_layers=1,
    )
    processor = Sam2VideoProcessor(
        image_processor=_sam2_image_processor(),
        video_processor=Sam2VideoVideoProcessor(size={"height": size, "width": size}),
    )
    return _save(folder, Sam2VideoModel(config), processor)


def sam2_image_builder(folder: Path) -> str:
    """SAM 2.1's single-image model (prompted masks, no memory across frames)."""
    from transformers import Sam2Config, Sam2Model, Sam2Processor

    config = Sam2Config(**_sam2_parts())
    processor = Sam2Processor(image_processor=_sam2_image_processor())
    return _save(folder, Sam2Model(config), processor)


def florence2_builder(folder: Path) -> str:
    """Florence-2 (DaViT + BART) in transformers' native format, with its task tokens."""
    from transformers import (
        BartTokenizer,
        CLIPImageProcessor,
        Florence2Config,
        Florence2ForConditionalGeneration,
        Florence2Processor,
    )
    from transformers.convert_slow_tokenizer import bytes_to_unicode

    vocab = {"<s>": 0, "<pad>": 1, "</s>": 2, "<unk>": 3}
    for char in bytes_to_unicode().values():
        vocab.setdefault(char, len(vocab))
    vocab["<mask>"] = len(vocab)
    tokenizer = BartTokenizer(
        vocab=vocab, merges=[], extra_special_tokens={"image_token": "<image>"}
    )
    task_tokens = [
        "<od>", "</od>", "<ocr>", "</ocr>", "<cap>", "</cap>", "<ncap>", "</ncap>", "<dcap>",
        "</dcap>", "<grounding>", "</grounding>", "<seg>", "</seg>", "<sep>", "<region_cap>",
        "</region_cap>", "<region_to_desciption>", "</region_to_desciption>", "<proposal>",
        "</proposal>", "<poly>", "</poly>", "<and>",
    ]  # fmt: skip
    tokenizer.add_tokens(task_tokens + [f"<loc_{i}>" for i in range(1000)], special_tokens=False)
    config = Florence2Config(
        text_config={
            "vocab_size": len(tokenizer),
            "d_model": 64,
            "encoder_layers": 1,
            "decoder_layers": 1,
            "encoder_attention_heads": 2,
            "decoder_attention_heads": 2,
            "encoder_ffn_dim": 128,
            "decoder_ffn_dim": 128,
            # 577 image tokens plus the prompt: 256 positions would overflow.
            "max_position_embeddings": 1024,
            "pad_token_id": 1,
            "bos_token_id": 0,
            "eos_token_id": 2,
            "decoder_start_token_id": 2,
            "forced_eos_token_id": 2,
        },
        vision_config={
            "in_channels": 3,
            "depths": [1, 1, 1, 1],
            "patch_size": [7, 3, 3, 3],
            "patch_stride": [4, 2, 2, 2],
            "patch_padding": [3, 1, 1, 1],
            "patch_prenorm": [False, True, True, True],
            "embed_dim": [16, 32, 64, 128],
            "num_heads": [1, 1, 2, 4],
            "num_groups": [1, 1, 2, 4],
            "window_size": 12,
            "projection_dim": 64,
        },
        image_token_id=tokenizer.image_token_id,
    )
    model = Florence2ForConditionalGeneration(config)
    model.generation_config.max_new_tokens = 16
    image_processor = CLIPImageProcessor(
        size={"height": 768, "width": 768},
        do_center_crop=False,
        image_mean=[0.485, 0.456, 0.406],
        image_std=[0.229, 0.224, 0.225],
    )
    # 24 x 24 patches of 768 pixels, plus one: what Florence2Processor expands <image> to.
    image_processor.image_seq_length = 577  # type: ignore[attr-defined]
    # The task parsers, as in the Florence-2 checkpoints' processor_config.json.
    parsers = {
        "ocr": {
            "pattern": r"(.+?)<loc_(\d+)><loc_(\d+)><loc_(\d+)><loc_(\d+)><loc_(\d+)>"
            r"<loc_(\d+)><loc_(\d+)><loc_(\d+)>",
            "area_threshold": 0.0,
        },
        "phrase_grounding": {"banned_grounding_tokens": ["the image"]},
        "pure_text": {},
        "description_with_bboxes": {},
        "description_with_polygons": {},
        "polygons": {},
        "bboxes": {},
        "description_with_bboxes_or_polygons": {},
    }
    processor = Florence2Processor(
        image_processor=image_processor, tokenizer=tokenizer, post_processor_config=parsers
    )
    return _save(folder, model, processor)


# A Mistral-instruct style template, as llava-hf's checkpoints ship in chat_template.json.
LLAVA_CHAT_TEMPLATE = (
    "{% for message in messages %}{% if message['role'] == 'user' %}[INST] "
    "{% for part in message['content'] %}{% if part['type'] == 'image' %}<image>\n"
    "{% elif part['type'] == 'text' %}{{ part['text'] }}{% endif %}{% endfor %} [/INST]"
    "{% else %}{% for part in message['content'] %}{{ part['text'] }}{% endfor %}"
    "{% endif %}{% endfor %}"
)


def llava_next_builder(text_model: str) -> Builder:
    """LLaVA-NeXT (any-resolution tiles of a CLIP vision tower, projected into a language
    model): ``mistral`` for llava-v1.6-mistral-7b, ``llama`` for the Vicuna 13B one.
    Tiles of 56 pixels (real: 336) keep the prompt short on a CPU."""

    def build(folder: Path) -> str:
        from transformers import (
            CLIPVisionConfig,
            LlamaConfig,
            LlavaNextConfig,
            LlavaNextForConditionalGeneration,
            LlavaNextImageProcessor,
            LlavaNextProcessor,
            MistralConfig,
        )

        specials = ["<unk>", "<s>", "</s>", "<pad>", "<image>"]
        tokenizer = tiny_char_tokenizer(
            specials,
            unk_token="<unk>",
            bos_token="<s>",
            eos_token="</s>",
            pad_token="<pad>",
            extra_special_tokens={"image_token": "<image>"},
        )
        tile = 56
        text_class = MistralConfig if text_model == "mistral" else LlamaConfig
        text_config = text_class(
            vocab_size=len(tokenizer),
            hidden_size=64,
            intermediate_size=128,
            num_hidden_layers=2,
            num_attention_heads=4,
            num_key_value_heads=2,
            max_position_embeddings=2048,
            bos_token_id=tokenizer.bos_token_id,
            eos_token_id=tokenizer.eos_token_id,
            pad_token_id=tokenizer.pad_token_id,
        )
        vision_config = CLIPVisionConfig(
            hidden_size=32,
            intermediate_size=64,
            num_hidden_layers=2,
            num_attention_heads=2,
            image_size=tile,
            patch_size=14,
            projection_dim=32,
        )
        pinpoints = [[tile, tile], [tile, 2 * tile], [2 * tile, tile], [2 * tile, 2 * tile]]
        config = LlavaNextConfig(
            vision_config=vision_config,
            text_config=text_config,
            image_token_index=tokenizer.image_token_id,
            image_grid_pinpoints=pinpoints,
            vision_feature_select_strategy="default",
        )
        model = LlavaNextForConditionalGeneration(config)
        model.generation_config.max_new_tokens = 16
        model.generation_config.pad_token_id = tokenizer.pad_token_id
        image_processor = LlavaNextImageProcessor(
            size={"shortest_edge": tile},
            crop_size={"height": tile, "width": tile},
            image_grid_pinpoints=pinpoints,
        )
        processor = LlavaNextProcessor(
            image_processor=image_processor,
            tokenizer=tokenizer,
            patch_size=14,
            vision_feature_select_strategy="default",
            # The CLS token the vision tower adds; without it the processor counts one
            # image token fewer than the model produces features.
            num_additional_image_tokens=1,
            chat_template=LLAVA_CHAT_TEMPLATE,
        )
        return _save(folder, model, processor)

    return build


# --- Torch (the torch loader's format) --------------------------------------------------


def _torch_head_module(outputs: int, activation: str) -> Any:
    """A small convolutional network: image in, ``outputs`` numbers out."""
    import torch
    from torch import nn

    class SmallConvNet(nn.Module):
        """Three strided convolutions, global pooling and a linear head."""

        def __init__(self) -> None:
            super().__init__()
            self.features = nn.Sequential(
                nn.Conv2d(3, 16, 3, stride=2, padding=1),
                nn.ReLU(),
                nn.Conv2d(16, 32, 3, stride=2, padding=1),
                nn.ReLU(),
                nn.Conv2d(32, 64, 3, stride=2, padding=1),
                nn.ReLU(),
            )
            self.head = nn.Linear(64, outputs)

        def forward(self, pixels: torch.Tensor) -> torch.Tensor:
            out = self.head(self.features(pixels).mean(dim=(2, 3)))
            if activation == "score":
                # A quality score on BRISQUE's 0-100 scale.
                return torch.sigmoid(out) * 100.0
            return out

    return SmallConvNet().eval()


def torch_export_builder(config: dict[str, Any], outputs: int, activation: str) -> Builder:
    """The torch loader's format: a ``torch.export`` program (no Python source needed to
    load it) and a config.json saying how to feed it and read it."""

    def build(folder: Path) -> str:
        import torch

        size = config["input_size"]
        module = _torch_head_module(outputs, activation)
        program = torch.export.export(module, (torch.zeros(1, 3, *size),))
        torch.export.save(program, folder / "model.pt2")
        (folder / "config.json").write_text(json.dumps(config, indent=2) + "\n")
        return "."

    return build


# BRISQUE is not a neural network (natural-scene statistics and an SVR); its stand-in is a
# small regressor in the torch loader's format that answers on the same 0-100 scale.
brisque_builder = torch_export_builder(
    {"input_size": [224, 224], "mean": [0.5] * 3, "std": [0.5] * 3, "output": "score"},
    outputs=1,
    activation="score",
)


# --- Which builder for which entry ------------------------------------------------------

# Entries the catalog names, with their real classes and a layout close to the real one.
RECIPES: dict[str, Builder] = {
    "yolo11-license-plate": yolo_builder(
        "yolo11n.yaml", LICENSE_PLATE, "license-plate-finetune-v1n.pt"
    ),
    "yolo11-face": yolo_builder("yolo11n.yaml", FACE, "model.pt"),
    "yolo-world-s": yolo_world_builder(coco_names, "yolov8s-worldv2.pt"),
    "vehicle-damage-detection": yolo_builder("yolo11n-seg.yaml", VEHICLE_DAMAGE, "model.pt"),
    "yolo26-general": yolo_builder("yolo26n.yaml", coco_names, "model.pt"),
    # yolov8m and yolov8l are built at their true scale (52 and 88 MB): their memory is
    # the point of offering them.
    "yolov8n": yolo_builder("yolov8n.yaml", coco_names, "yolov8n.pt"),
    "yolov8s": yolo_builder("yolov8s.yaml", coco_names, "yolov8s.pt"),
    "yolov8m": yolo_builder("yolov8m.yaml", coco_names, "yolov8m.pt"),
    "yolov8l": yolo_builder("yolov8l.yaml", coco_names, "yolov8l.pt"),
    "yolo11n-seg": yolo_builder("yolo11n-seg.yaml", coco_names, "yolo11n-seg.pt"),
    # ByteTrack has no weights of its own: it tracks a detector's boxes.
    "bytetrack": yolo_builder("yolov8n.yaml", coco_names, "yolov8n.pt"),
    "violence-detection": vit_classifier(VIOLENCE),
    "weather-classification": vit_classifier(WEATHER),
    "fashion-clip": clip_builder(patch_size=32, projection_dim=512),
    # The real architectures of these two are not published; two more families prove
    # the classification path is generic.
    "vehicle-segment-classification": convnext_classifier(VEHICLE_TYPES),
    "pet-classifier": resnet_classifier(PETS),
    "segformer-b2-clothes": segformer_builder(CLOTHES),
    "vitpose-small": vitpose_builder,
    "depth-anything-v2-small": depth_anything_builder,
    "clip-vit-l": clip_builder(patch_size=14, projection_dim=768),
    "paddleocr": pp_ocr_builder,
    "xclip-base": xclip_builder,
    "florence-2-large": florence2_builder,
    "groundingdino": grounding_dino_builder,
    "sam2.1": sam2_video_builder,
    "samurai": sam2_video_builder,
    "sam2long": sam2_video_builder,
    "llava-next-7b": llava_next_builder("mistral"),
    "llava-next-13b": llava_next_builder("llama"),
    "brisque-quality": brisque_builder,
}

# Anything else a local loader serves gets a model of the right kind for its category.
FALLBACKS: dict[tuple[str, str], Builder] = {
    (Loader.ULTRALYTICS, Category.DETECTION): yolo_builder("yolo11n.yaml", coco_names, "model.pt"),
    (Loader.ULTRALYTICS, Category.TRACKING): yolo_builder("yolo11n.yaml", coco_names, "model.pt"),
    (Loader.ULTRALYTICS, Category.SEGMENTATION): yolo_builder(
        "yolo11n-seg.yaml", coco_names, "model.pt"
    ),
    (Loader.ULTRALYTICS, Category.POSE): yolo_builder("yolo11n-pose.yaml", ["person"], "model.pt"),
    (Loader.ULTRALYTICS, Category.CLASSIFICATION): yolo_builder(
        "yolo11n-cls.yaml", GENERIC_CLASSES, "model.pt"
    ),
    (Loader.TRANSFORMERS, Category.CLASSIFICATION): vit_classifier(GENERIC_CLASSES),
    (Loader.TRANSFORMERS, Category.DETECTION): grounding_dino_builder,
    (Loader.TRANSFORMERS, Category.SEGMENTATION): segformer_builder(["background", "foreground"]),
    (Loader.TRANSFORMERS, Category.POSE): vitpose_builder,
    (Loader.TRANSFORMERS, Category.DEPTH): depth_anything_builder,
    (Loader.TRANSFORMERS, Category.EMBEDDING): clip_builder(patch_size=32, projection_dim=512),
    (Loader.TRANSFORMERS, Category.OCR): pp_ocr_builder,
    (Loader.TRANSFORMERS, Category.ACTION_RECOGNITION): xclip_builder,
    (Loader.TRANSFORMERS, Category.TRACKING): sam2_video_builder,
    (Loader.TRANSFORMERS, Category.VISION_LANGUAGE): llava_next_builder("llama"),
    (Loader.TORCH, Category.QUALITY): brisque_builder,
    (Loader.TORCH, Category.CLASSIFICATION): torch_export_builder(
        {"input_size": [224, 224], "labels": GENERIC_CLASSES, "output": "logits"},
        outputs=len(GENERIC_CLASSES),
        activation="logits",
    ),
    (Loader.TORCH, Category.EMBEDDING): torch_export_builder(
        {"input_size": [224, 224], "output": "embedding"}, outputs=128, activation="embedding"
    ),
}


def builder_for(target: Target) -> Builder | None:
    """The builder for an entry: by its name where the catalog knows it, else by loader
    and category; ``None`` where nothing local fits (external APIs, inference servers)."""
    if target.loader not in LOCAL_LOADERS:
        return None
    return RECIPES.get(target.name) or FALLBACKS.get((target.loader, target.category))


# --- Building -------------------------------------------------------------------------


class Action:
    """What the bootstrap did with one entry."""

    BUILT = "built"
    REUSED = "reused"  # a complete earlier build was there: pointed at it
    CURRENT = "up to date"  # already points at its built checkpoint
    REAL = "real weights kept"  # its path exists outside the checkpoint folder
    UNSUPPORTED = "not buildable"  # no local loader, or no builder for its kind


@dataclass(frozen=True)
class Outcome:
    """One entry's result: the action, the path it should point at, the build time."""

    name: str
    action: str
    path: str = ""
    seconds: float = 0.0

    @property
    def changes_path(self) -> bool:
        return self.action in (Action.BUILT, Action.REUSED)


def checkpoint_dir() -> Path:
    return Path(settings.ZOO_CHECKPOINT_DIR)


def _inside(path: Path, folder: Path) -> bool:
    try:
        path.resolve().relative_to(folder.resolve())
    except ValueError:
        return False
    return True


def _completed(folder: Path) -> Path | None:
    """The entry path of a complete earlier build in ``folder``, if there is one."""
    marker = folder / MARKER
    if not marker.is_file():
        return None
    try:
        relative = json.loads(marker.read_text())["entry"]
    except (ValueError, KeyError, TypeError):
        return None
    path = (folder / relative).resolve()
    return path if path.exists() else None


@contextlib.contextmanager
def _seeded(seed: int) -> Iterator[None]:
    """Deterministic random weights without disturbing the caller's random state (and
    without touching CUDA)."""
    import torch

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        yield


def decide(target: Target, root: Path, *, force: bool = False) -> Outcome | None:
    """What to do with ``target`` without building anything: an outcome, or ``None`` when
    it must be built."""
    if builder_for(target) is None:
        return Outcome(target.name, Action.UNSUPPORTED)
    current = Path(target.path) if target.path else None
    if current is not None and current.exists():
        if not _inside(current, root):
            return Outcome(target.name, Action.REAL, str(current))
        if not force:
            return Outcome(target.name, Action.CURRENT, str(current))
    if not force:
        done = _completed(root / target.name)
        if done is not None:
            return Outcome(target.name, Action.REUSED, str(done))
    return None


def build(target: Target, root: Path | None = None) -> Outcome:
    """Build ``target``'s checkpoint into ``root`` (default: ``ZOO_CHECKPOINT_DIR``),
    replacing an earlier build, and return where the entry should point."""
    builder = builder_for(target)
    if builder is None:
        return Outcome(target.name, Action.UNSUPPORTED)
    root = Path(root or checkpoint_dir())
    root.mkdir(parents=True, exist_ok=True)
    final = root / target.name
    started = time.perf_counter()
    work = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=root))
    try:
        with _seeded(_seed(target.name)):
            relative = builder(work)
        seconds = time.perf_counter() - started
        marker = {"name": target.name, "entry": relative, "seconds": round(seconds, 3)}
        (work / MARKER).write_text(json.dumps(marker) + "\n")
        if final.exists():
            shutil.rmtree(final)
        work.rename(final)
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise
    return Outcome(target.name, Action.BUILT, str((final / relative).resolve()), seconds)


def _seed(name: str) -> int:
    # Stable across runs and processes (unlike hash()).
    return sum((index + 1) * ord(char) for index, char in enumerate(name)) % (2**31)


def bootstrap(
    targets: Iterable[Target],
    root: Path | None = None,
    *,
    force: bool = False,
    progress: Any = None,
) -> list[Outcome]:
    """Build what is missing among ``targets``; the outcome of every one, in order.

    ``progress`` is an optional callable(total) returning a tqdm-like bar.
    """
    root = Path(root or checkpoint_dir())
    targets = list(targets)
    outcomes: dict[str, Outcome] = {}
    todo: list[Target] = []
    for target in targets:
        decided = decide(target, root, force=force)
        if decided is None:
            todo.append(target)
        else:
            outcomes[target.name] = decided
    bar = progress(len(todo)) if progress and todo else None
    try:
        for target in todo:
            if bar is not None:
                bar.set_postfix_str(target.name)
            outcomes[target.name] = build(target, root)
            if bar is not None:
                bar.update(1)
    finally:
        if bar is not None:
            bar.close()
    return [outcomes[target.name] for target in targets]


# --- A large checkpoint for memory benchmarks -------------------------------------------


def build_large_checkpoint(path: Path | str, min_mb: int = 512) -> Path:
    """A ViT image classifier of at least ``min_mb`` MB of fp32 safetensors in ``path``
    (a transformers folder the classification loader serves). Not built by default.

    ViT-L width (1024) with as many layers as it takes (each adds ~48 MB). The weights
    are allocated uninitialised on the meta device and filled in one pass, which skips
    the per-module initialisation that would take most of the time.
    """
    import torch
    from transformers import ViTConfig, ViTForImageClassification, ViTImageProcessor

    folder = Path(path)

    def config(layers: int) -> Any:
        return ViTConfig(
            hidden_size=1024,
            num_hidden_layers=layers,
            num_attention_heads=16,
            intermediate_size=4096,
            image_size=224,
            patch_size=16,
            **_labels(["negative", "positive"]),
        )

    def size_mb(model: Any) -> float:
        return sum(t.numel() * 4 for t in model.state_dict().values()) / MB

    with torch.device("meta"):
        one = size_mb(ViTForImageClassification(config(1)))
        two = size_mb(ViTForImageClassification(config(2)))
    per_layer = two - one
    layers = max(1, math.ceil((min_mb - (one - per_layer)) / per_layer))
    with torch.device("meta"):
        model = ViTForImageClassification(config(layers))
    model = model.to_empty(device="cpu")
    with _seeded(0), torch.no_grad():
        for tensor in [*model.parameters(), *model.buffers()]:
            if tensor.dim() > 1:
                tensor.normal_(0.0, 0.02)
            else:
                tensor.zero_()
    folder.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(folder)
    ViTImageProcessor(size={"height": 224, "width": 224}).save_pretrained(folder)
    return folder

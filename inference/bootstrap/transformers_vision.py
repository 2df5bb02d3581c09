"""Transformers checkpoints of image-only models, each built from a config object:
classifiers, segmentation, pose, depth, text recognition, SAM 2.1."""

from __future__ import annotations

import string
from pathlib import Path
from typing import Any

from inference.bootstrap.common import COCO_KEYPOINTS, Builder, _kwargs, _labels, _save


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


# --- SAM 2.1 ---------------------------------------------------------------------------

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

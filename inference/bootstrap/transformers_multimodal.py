"""Transformers checkpoints of models that read text as well as images, each built from a
config object with a tokenizer built in code: CLIP, X-CLIP, Grounding DINO, Florence-2,
LLaVA-NeXT."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from inference.bootstrap.common import (
    Builder,
    _kwargs,
    _save,
    tiny_bert_tokenizer,
    tiny_char_tokenizer,
    tiny_clip_tokenizer,
)


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


# --- Florence-2 ------------------------------------------------------------------------


def _florence2_tokenizer() -> Any:
    """A byte-level BART tokenizer with no merges, plus Florence-2's task and location
    tokens."""
    from transformers import BartTokenizer
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
    return tokenizer


def _florence2_config(tokenizer: Any) -> Any:
    from transformers import Florence2Config

    return Florence2Config(
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


def _florence2_processor(tokenizer: Any) -> Any:
    from transformers import CLIPImageProcessor, Florence2Processor

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
    return Florence2Processor(
        image_processor=image_processor, tokenizer=tokenizer, post_processor_config=parsers
    )


def florence2_builder(folder: Path) -> str:
    """Florence-2 (DaViT + BART) in transformers' native format, with its task tokens."""
    from transformers import Florence2ForConditionalGeneration

    tokenizer = _florence2_tokenizer()
    model = Florence2ForConditionalGeneration(_florence2_config(tokenizer))
    model.generation_config.max_new_tokens = 16
    return _save(folder, model, _florence2_processor(tokenizer))


# --- LLaVA-NeXT ------------------------------------------------------------------------

# A Mistral-instruct style template, as llava-hf's checkpoints ship in chat_template.json.
LLAVA_CHAT_TEMPLATE = (
    "{% for message in messages %}{% if message['role'] == 'user' %}[INST] "
    "{% for part in message['content'] %}{% if part['type'] == 'image' %}<image>\n"
    "{% elif part['type'] == 'text' %}{{ part['text'] }}{% endif %}{% endfor %} [/INST]"
    "{% else %}{% for part in message['content'] %}{{ part['text'] }}{% endfor %}"
    "{% endif %}{% endfor %}"
)


def _llava_tokenizer() -> Any:
    specials = ["<unk>", "<s>", "</s>", "<pad>", "<image>"]
    return tiny_char_tokenizer(
        specials,
        unk_token="<unk>",
        bos_token="<s>",
        eos_token="</s>",
        pad_token="<pad>",
        extra_special_tokens={"image_token": "<image>"},
    )


def _llava_config(text_model: str, tokenizer: Any, tile: int, pinpoints: list[list[int]]) -> Any:
    from transformers import CLIPVisionConfig, LlamaConfig, LlavaNextConfig, MistralConfig

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
    return LlavaNextConfig(
        vision_config=vision_config,
        text_config=text_config,
        image_token_index=tokenizer.image_token_id,
        image_grid_pinpoints=pinpoints,
        vision_feature_select_strategy="default",
    )


def _llava_processor(tokenizer: Any, tile: int, pinpoints: list[list[int]]) -> Any:
    from transformers import LlavaNextImageProcessor, LlavaNextProcessor

    image_processor = LlavaNextImageProcessor(
        size={"shortest_edge": tile},
        crop_size={"height": tile, "width": tile},
        image_grid_pinpoints=pinpoints,
    )
    return LlavaNextProcessor(
        image_processor=image_processor,
        tokenizer=tokenizer,
        patch_size=14,
        vision_feature_select_strategy="default",
        # The CLS token the vision tower adds; without it the processor counts one
        # image token fewer than the model produces features.
        num_additional_image_tokens=1,
        chat_template=LLAVA_CHAT_TEMPLATE,
    )


def llava_next_builder(text_model: str) -> Builder:
    """LLaVA-NeXT (any-resolution tiles of a CLIP vision tower, projected into a language
    model): ``mistral`` for llava-v1.6-mistral-7b, ``llama`` for the Vicuna 13B one.
    Tiles of 56 pixels (real: 336) keep the prompt short on a CPU."""

    def build(folder: Path) -> str:
        from transformers import LlavaNextForConditionalGeneration

        tokenizer = _llava_tokenizer()
        tile = 56
        pinpoints = [[tile, tile], [tile, 2 * tile], [2 * tile, tile], [2 * tile, 2 * tile]]
        config = _llava_config(text_model, tokenizer, tile, pinpoints)
        model = LlavaNextForConditionalGeneration(config)
        model.generation_config.max_new_tokens = 16
        model.generation_config.pad_token_id = tokenizer.pad_token_id
        return _save(folder, model, _llava_processor(tokenizer, tile, pinpoints))

    return build

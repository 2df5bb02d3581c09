"""What every builder shares: the package's constants, the labels of the models the
catalog names, tokenizers built in code, saving a transformers model, seeding."""

from __future__ import annotations

import contextlib
import string
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from models_registry.models import Loader

LOCAL_LOADERS: tuple[str, ...] = (Loader.ULTRALYTICS, Loader.TRANSFORMERS, Loader.TORCH)
MARKER = ".zoo-bootstrap.json"
MB = 1024 * 1024

# A builder writes one checkpoint into an empty folder and returns the path, relative to
# that folder, the registry entry should point at ("." for the folder itself).
Builder = Callable[[Path], str]


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


# --- Saving and seeding ----------------------------------------------------------------


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


@contextlib.contextmanager
def _seeded(seed: int) -> Iterator[None]:
    """Deterministic random weights without disturbing the caller's random state (and
    without touching CUDA)."""
    import torch

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        yield

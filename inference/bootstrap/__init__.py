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
interrupted run leaves nothing that looks complete. This package touches no database:
the ``zoo_bootstrap`` command points the registry at what it builds.

Modules: ``common`` (constants, labels, tokenizers, saving, seeding), one per library
of builders (``ultralytics_recipes``, ``transformers_vision``,
``transformers_multimodal``, ``torch_export``), ``targets`` (entries and which builder
builds each), ``runner`` (decide, build, bootstrap) and ``large`` (a benchmark
checkpoint). The names below are the ones callers use.
"""

from __future__ import annotations

from inference.bootstrap.common import (
    CLOTHES,
    COCO_KEYPOINTS,
    LOCAL_LOADERS,
    MARKER,
    MB,
    WEATHER,
)
from inference.bootstrap.large import build_large_checkpoint
from inference.bootstrap.runner import Action, Outcome, bootstrap, build, checkpoint_dir, decide
from inference.bootstrap.targets import Target, builder_for, catalog_targets
from inference.bootstrap.transformers_vision import PLATE_CHARACTERS, sam2_image_builder

__all__ = [
    "CLOTHES",
    "COCO_KEYPOINTS",
    "LOCAL_LOADERS",
    "MARKER",
    "MB",
    "PLATE_CHARACTERS",
    "WEATHER",
    "Action",
    "Outcome",
    "Target",
    "bootstrap",
    "build",
    "build_large_checkpoint",
    "builder_for",
    "catalog_targets",
    "checkpoint_dir",
    "decide",
    "sam2_image_builder",
]

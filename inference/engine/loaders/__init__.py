"""Loaders: from a registry entry to a model in memory, chosen by the entry's ``loader``."""

from __future__ import annotations

from pathlib import Path

from inference.engine.loaders.base import ImageLike, LoadedModel, LoadError, OutOfMemory, as_pil
from inference.engine.loaders.residency import make_resident
from inference.engine.specs import ModelSpec
from inference.engine.vocabulary import Loader

__all__ = ["ImageLike", "LoadError", "LoadedModel", "OutOfMemory", "as_pil", "load_model"]


def load_model(spec: ModelSpec, device: str) -> LoadedModel:
    """Load ``spec`` onto ``device`` (a PyTorch device string), or raise ``LoadError``
    with a reason that names the path.

    The model returned can serve at once: its weights are resident (``make_resident``),
    not mapped from the checkpoint for the first ``predict`` to fault in.
    """
    if spec.loader == Loader.ULTRALYTICS:
        from inference.engine.loaders.ultralytics_loader import load
    elif spec.loader == Loader.TRANSFORMERS:
        from inference.engine.loaders.transformers_loader import load
    elif spec.loader == Loader.TORCH:
        from inference.engine.loaders.torch_loader import load
    else:
        raise LoadError(f"{spec.name}: the {spec.loader} loader keeps nothing in this process")
    if not spec.path:
        raise LoadError(f"{spec.name}: no weights path in the registry")
    if not Path(spec.path).exists() and not _builtin_architecture(spec):
        raise LoadError(f"{spec.name}: weights not found at {spec.path}")
    try:
        return _resident(load(spec, device))
    except LoadError:
        raise
    except OutOfMemory:
        raise
    except MemoryError:
        raise
    except Exception as exc:
        if "out of memory" in str(exc).lower():
            raise
        raise LoadError(
            f"{spec.name}: could not load {spec.path}: {type(exc).__name__}: {exc}"
        ) from exc


def _resident(model: LoadedModel) -> LoadedModel:
    """``model`` with every weight in memory; closed if that fails or is interrupted, so a
    load cut short leaves no tensors behind."""
    try:
        make_resident(model.modules())
    except BaseException:
        model.close()
        raise
    return model


def _builtin_architecture(spec: ModelSpec) -> bool:
    """Ultralytics builds a model from an architecture yaml it ships (random weights)."""
    return spec.loader == Loader.ULTRALYTICS and spec.path.endswith((".yaml", ".yml"))

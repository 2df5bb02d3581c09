"""The words the engine speaks: statuses, event kinds and causes, eviction policies,
loaders and model categories, as plain string enums.

The database stores the same values through the ``TextChoices`` of ``models_registry``
and ``fleet`` (which add labels for people); the engine stays free of Django by using
these, and a test holds the two spellings to the same values.
"""

from __future__ import annotations

from enum import StrEnum


class ModelStatus(StrEnum):
    LOADED = "loaded"
    UNLOADED = "unloaded"
    DISABLED = "disabled"
    LOADING = "loading"
    ERROR = "error"


class EventKind(StrEnum):
    LOAD = "load"
    UNLOAD = "unload"
    EVICT = "evict"
    REFUSE = "refuse"
    FAIL = "fail"
    CPU_FALLBACK = "cpu_fallback"


class EventCause(StrEnum):
    LOADED = "loaded"
    MAKE_ROOM = "make_room"
    AFTER_BATCH = "after_batch"
    KEEP_ALIVE = "keep_alive"
    REGISTRY = "registry"
    REQUEST = "request"
    SHUTDOWN = "shutdown"
    FAULT = "fault"
    REFUSED = "refused"
    LOAD_ERROR = "load_error"
    OUT_OF_MEMORY = "out_of_memory"
    INFERENCE_FAULT = "inference_fault"


class EvictionPolicy(StrEnum):
    LRU = "lru"
    AFTER_BATCH = "after_batch"
    KEEP_ALIVE = "keep_alive"


class Loader(StrEnum):
    ULTRALYTICS = "ultralytics"
    TRANSFORMERS = "transformers"
    TORCH = "torch"
    EXTERNAL = "external"
    SERVER = "server"


class Category(StrEnum):
    DETECTION = "detection"
    CLASSIFICATION = "classification"
    SEGMENTATION = "segmentation"
    POSE = "pose"
    DEPTH = "depth-estimation"
    EMBEDDING = "embedding"
    OCR = "ocr"
    ACTION_RECOGNITION = "action-recognition"
    TRACKING = "tracking"
    VISION_LANGUAGE = "vision-language"
    QUALITY = "quality"
    EXTERNAL_API = "external-api"

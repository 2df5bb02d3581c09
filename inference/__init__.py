"""Inference: work submitted over HTTP becomes rows and messages (``services``, the web
side), which a worker claims and runs (``run``, through ``tasks``) on the models its
``runtime`` holds; ``engine`` is the plain-Python model manager underneath, ``worker``
the process lifecycle, ``bootstrap`` the offline checkpoint factory.

The Model Zoo document's ``from inference import model_zoo`` works as written: the name
is resolved lazily, so that importing this package (as Django does at start-up) loads
no model library.
"""

from __future__ import annotations

from typing import Any


def __getattr__(name: str) -> Any:
    if name == "model_zoo":
        from inference.runtime.zoo import model_zoo

        return model_zoo
    raise AttributeError(name)

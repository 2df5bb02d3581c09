"""Benchmarks of the Model Zoo, each runnable on its own as ``python -m bench.<name>``."""

from __future__ import annotations

"""The one error a pull reports for an entry: what went wrong, in words."""

from __future__ import annotations


class PullError(RuntimeError):
    """An entry could not be pulled; the message says why and what was kept."""

"""Pulling real weights: an operator's explicit command (``manage.py zoo_pull``), never
anything the web or worker processes do.

For each registry entry with local weights it finds where the real checkpoint is
published (``sources``), downloads it into a staging folder under the weights folder
(``ZOO_WEIGHTS_DIR``): a hub repository with the hub's own client (``hub``), a YOLO
checkpoint ultralytics publishes as a plain file with a resumable HTTP download
(``assets``); checks it (``checks``: sizes, hashes where published, a test load through
the project's real loader on the CPU) and only then moves it into place (``runner``).
Layout::

    <dir>/<name>/                     a hub repository's files (transformers), or
    <dir>/<name>/<file>.pt            a YOLO checkpoint
    <dir>/<name>/.zoo-pull.json       where it came from, written before the move
    <dir>/.staging/<name>/            downloads in progress, kept between runs to resume

This package touches no database: the command points each entry at what it pulled.
"""

from __future__ import annotations

from inference.pull.errors import PullError
from inference.pull.runner import Outcome, PullOptions, Status, pull
from inference.pull.sources import Kind, Source, resolve

__all__ = ["Kind", "Outcome", "PullError", "PullOptions", "Source", "Status", "pull", "resolve"]

"""``python manage.py zoo_bootstrap [--only NAME ...] [--force]``: build small, random
checkpoints for registry entries whose weights are missing and point them there.

The building is ``inference.bootstrap``'s; this command reads the registry, shows a
progress bar on stderr and writes each entry's new path through the services.
"""

from __future__ import annotations

import time
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from inference import bootstrap
from models_registry import services
from models_registry.models import ModelEntry


class _Stream:
    """A file for tqdm over a command's stderr (whose ``write`` adds line endings)."""

    def __init__(self, wrapper: Any):
        self._wrapper = wrapper

    def write(self, text: str) -> None:
        self._wrapper.write(text, ending="")

    def flush(self) -> None:
        self._wrapper.flush()


class Command(BaseCommand):
    """Build missing checkpoints and point the registry at them."""

    help = (
        "Build small, randomly initialised checkpoints for registry models whose weights "
        "are missing (into ZOO_CHECKPOINT_DIR) and point the registry at them. Entries "
        "whose path exists (real weights) are never touched."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--only", nargs="+", metavar="NAME", help="Only these registry entries."
        )
        parser.add_argument(
            "--force",
            action="store_true",
            help="Rebuild checkpoints this command built before (never real weights).",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        from tqdm import tqdm

        entries = ModelEntry.objects.order_by("position", "name")
        only = options["only"]
        if only:
            entries = entries.filter(name__in=only)
            unknown = sorted(set(only) - {entry.name for entry in entries})
            if unknown:
                raise CommandError(f"Unknown registry entries: {', '.join(unknown)}")
        targets = [bootstrap.Target.from_fields(entry) for entry in entries]
        if not only:
            targets = [t for t in targets if t.loader in bootstrap.LOCAL_LOADERS]
        root = bootstrap.checkpoint_dir()

        def progress(total: int) -> Any:
            return tqdm(
                total=total,
                file=_Stream(self.stderr),
                unit="model",
                desc="Building checkpoints",
                disable=options["verbosity"] == 0,
            )

        started = time.perf_counter()
        outcomes = bootstrap.bootstrap(targets, root, force=options["force"], progress=progress)
        counts: dict[str, int] = {}
        for outcome in outcomes:
            counts[outcome.action] = counts.get(outcome.action, 0) + 1
            if outcome.changes_path:
                services.model_set_path(name=outcome.name, path=outcome.path)
            if outcome.changes_path or options["verbosity"] >= 2:
                detail = f" ({outcome.seconds:.1f} s)" if outcome.seconds else ""
                where = f" → {outcome.path}" if outcome.path else ""
                self.stdout.write(f"{outcome.action}: {outcome.name}{where}{detail}")
        order = [
            bootstrap.Action.BUILT,
            bootstrap.Action.REUSED,
            bootstrap.Action.CURRENT,
            bootstrap.Action.REAL,
            bootstrap.Action.UNSUPPORTED,
        ]
        summary = ", ".join(f"{counts.get(action, 0)} {action}" for action in order)
        self.stdout.write(
            f"Bootstrap: {summary} in {time.perf_counter() - started:.1f} s (checkpoints in {root})"
        )

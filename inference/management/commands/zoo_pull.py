"""``python manage.py zoo_pull NAME [NAME ...] | --all``: download registry entries'
real weights, check them, and point the entries at them.

An operator's explicit command: nothing in the web or worker processes downloads. The
work is ``inference.pull``'s; this command reads the registry, shows progress and one
line per entry, and writes each pulled entry's path through the services. It exits
non-zero, naming them, if any entry failed; the others are pulled all the same.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from inference import pull
from inference.management.commands.zoo_bootstrap import _Stream
from inference.runtime.specs import spec_of
from models_registry import services
from models_registry.models import ModelEntry


class Command(BaseCommand):
    """Download, check and point registry entries at their real weights."""

    help = (
        "Download registry entries' real weights (hub repositories with the hub's client, "
        "YOLO checkpoints from ultralytics' published assets) into ZOO_WEIGHTS_DIR, check "
        "sizes, published hashes and a test load on the CPU, then point the entries at them."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("names", nargs="*", metavar="NAME", help="Registry entries.")
        parser.add_argument(
            "--all",
            action="store_true",
            help="Every registry entry (disabled ones are skipped with a line) instead of NAMEs.",
        )
        parser.add_argument(
            "--dest", type=Path, help="Where the weights go (default: ZOO_WEIGHTS_DIR)."
        )
        parser.add_argument(
            "--endpoint", help="The hub's URL (default: HF_ENDPOINT, else huggingface.co)."
        )
        parser.add_argument(
            "--assets-url",
            help="Base URL of the YOLO checkpoints (default: ZOO_YOLO_ASSETS_URL).",
        )
        parser.add_argument(
            "--revision", default="main", help="Hub revision: a branch, tag or commit."
        )
        parser.add_argument(
            "--retries",
            type=int,
            default=3,
            help="Times a broken plain HTTP download is resumed within this run.",
        )
        parser.add_argument(
            "--dry-run", action="store_true", help="Say what would be pulled; change nothing."
        )

    def handle(self, *args: Any, **options: Any) -> None:
        entries = self._entries(options["names"], options["all"])
        pull_options = pull.PullOptions(
            dest=Path(options["dest"] or settings.ZOO_WEIGHTS_DIR).resolve(),
            assets_url=options["assets_url"] or settings.ZOO_YOLO_ASSETS_URL,
            endpoint=options["endpoint"] or os.environ.get("HF_ENDPOINT") or None,
            revision=options["revision"],
            dry_run=options["dry_run"],
            retries=max(0, options["retries"]),
            progress=self._progress(options["verbosity"]),
        )
        failed: list[str] = []
        for entry in entries:
            if options["all"] and not entry.enabled:
                outcome = pull.Outcome(
                    entry.name, pull.Status.SKIPPED, detail="disabled; name it to pull it"
                )
            else:
                outcome = pull.pull(spec_of(entry), pull_options)
            if outcome.changes_path and not pull_options.dry_run:
                services.model_set_path(name=entry.name, path=outcome.path)
            if outcome.status == pull.Status.FAILED:
                failed.append(entry.name)
            self.stdout.write(self._line(outcome))
        if failed:
            raise CommandError(
                f"{len(failed)} failed (their entries are unchanged): {', '.join(failed)}"
            )

    def _entries(self, names: list[str], every: bool) -> list[ModelEntry]:
        if bool(names) == every:
            raise CommandError("Name the entries to pull, or give --all (not both).")
        if every:
            return list(ModelEntry.objects.order_by("position", "name"))
        found = {entry.name: entry for entry in ModelEntry.objects.filter(name__in=names)}
        unknown = [name for name in names if name not in found]
        if unknown:
            raise CommandError(f"Unknown registry entries: {', '.join(unknown)}")
        return [found[name] for name in dict.fromkeys(names)]

    def _progress(self, verbosity: int) -> Any:
        from tqdm import tqdm

        def bar(**kwargs: Any) -> Any:
            return tqdm(
                file=_Stream(self.stderr),
                unit="B",
                unit_scale=True,
                unit_divisor=1024,
                disable=verbosity == 0,
                **kwargs,
            )

        return bar

    @staticmethod
    def _line(outcome: pull.Outcome) -> str:
        where = f" → {outcome.path}" if outcome.path else ""
        detail = f" ({outcome.detail})" if outcome.detail else ""
        return f"{outcome.status}: {outcome.name}{where}{detail}"

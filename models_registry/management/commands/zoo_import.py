"""``python manage.py zoo_import FILE.yaml``: bring a models.yaml configuration in."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser

from models_registry import services
from models_registry.yaml_config import ConfigError, parse_config


class Command(BaseCommand):
    help = (
        "Merge a models.yaml file (the Model Management document's format) into the "
        "registry: options, selections and inference settings. All or nothing."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("file", help="Path to a models.yaml file, or - for standard input")

    def handle(self, *args: Any, **options: Any) -> None:
        source = options["file"]
        if source == "-":
            text = sys.stdin.read()
        else:
            path = Path(source)
            if not path.is_file():
                raise CommandError(f"{source}: no such file")
            text = path.read_text(encoding="utf-8")
        try:
            document = parse_config(text)
            counts = services.config_import(document=document)
        except ConfigError as exc:
            raise CommandError(f"{source}: {exc}; nothing was changed") from exc
        except ValidationError as exc:
            raise CommandError(f"{source}: {exc.messages}; nothing was changed") from exc
        self.stdout.write(
            self.style.SUCCESS(
                f"Imported {source}: {counts['created']} model(s) created, "
                f"{counts['updated']} updated, {counts['selections']} selection(s) set"
            )
        )

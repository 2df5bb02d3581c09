"""``python manage.py zoo_export [-o FILE]``: write the configuration as models.yaml."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from models_registry import selectors
from models_registry.yaml_config import dump_config


class Command(BaseCommand):
    help = "Write the tasks, their options and selections, and the inference settings as YAML."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("-o", "--output", help="File to write (default: standard output)")

    def handle(self, *args: Any, **options: Any) -> None:
        text = dump_config(selectors.config_document())
        if options["output"]:
            Path(options["output"]).write_text(text, encoding="utf-8")
            self.stderr.write(f"Wrote {options['output']}")
        else:
            self.stdout.write(text, ending="")

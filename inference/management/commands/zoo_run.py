"""``python manage.py zoo_run MODEL --image PATH``: try one model, the quickest way.

Loads the model through the manager (exactly as a worker would), runs it once on the
image, and prints its result, memory and timings.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from PIL import Image, UnidentifiedImageError

from inference.engine.manager import ManagerError
from inference.engine.specs import UnknownModel


def _option(text: str) -> tuple[str, Any]:
    key, sep, raw = text.partition("=")
    if not sep or not key:
        raise CommandError(f"--option takes KEY=VALUE, got {text!r}")
    try:
        return key, json.loads(raw)
    except json.JSONDecodeError:
        return key, raw


class Command(BaseCommand):
    help = "Load one model through the manager, run it on an image, print result and timings."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("model", help="Registry name, e.g. yolo11-license-plate")
        parser.add_argument("--image", required=True, help="Path to an image file")
        parser.add_argument(
            "--device", default="", help="cpu, cuda:N or sim:N (default: ZOO_WORKER_DEVICE/probe)"
        )
        parser.add_argument(
            "--option",
            action="append",
            default=[],
            metavar="KEY=VALUE",
            help='Passed to predict; JSON values allowed, e.g. labels=\'["cat","dog"]\'',
        )
        parser.add_argument("--json", action="store_true", help="Print one JSON document only")

    def handle(self, *args: Any, **options: Any) -> None:
        from inference.runtime.zoo import ModelZoo

        path = Path(options["image"])
        try:
            image = Image.open(path)
            image.load()
        except (OSError, UnidentifiedImageError, ImportError) as exc:
            # ImportError: ultralytics patches Image.open to try an optional HEIF plugin
            # on files PIL cannot identify.
            raise CommandError(f"cannot read image {path}: {exc}") from exc
        predict_options = dict(_option(text) for text in options["option"])

        zoo = ModelZoo()
        try:
            manager = zoo.configure(options["device"] or None, worker="zoo_run")
        except ValueError as exc:  # not a device name, or no such device here
            raise CommandError(str(exc)) from exc
        try:
            started = time.perf_counter()
            with zoo.load_sync(options["model"]) as lease:
                acquired = time.perf_counter()
                result = lease.predict(image, **predict_options)
                predicted = time.perf_counter()
                view = manager.snapshot()[options["model"]]
                report = {
                    "model": options["model"],
                    "device": lease.device,
                    "load_s": round(acquired - started, 4),
                    "cold": lease.cold,
                    "predict_s": round(predicted - acquired, 4),
                    "memory": {
                        "estimate_mb": lease.spec.vram_mb,
                        "measured_mb": view.measured_mb,
                        "counted_mb": view.held_mb,
                    },
                    "result": result,
                }
        except (ManagerError, UnknownModel) as exc:
            raise CommandError(str(exc)) from exc
        finally:
            zoo.close()

        if options["json"]:
            self.stdout.write(json.dumps(report, indent=2))
            return
        memory = report["memory"]
        self.stdout.write(f"{report['model']} on {report['device']}")
        self.stdout.write(
            f"  load     {report['load_s']:.3f} s{' (cold)' if report['cold'] else ''}"
        )
        self.stdout.write(f"  predict  {report['predict_s']:.3f} s")
        self.stdout.write(
            f"  memory   estimate {memory['estimate_mb']} MB, measured {memory['measured_mb']} MB,"
            f" counted {memory['counted_mb']} MB"
        )
        self.stdout.write("result:")
        self.stdout.write(json.dumps(result, indent=2))

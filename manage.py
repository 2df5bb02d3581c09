#!/usr/bin/env python
"""Django's command-line utility for the Model Zoo service."""

from __future__ import annotations

import os
import sys


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "zoo_project.settings.base")
    from django.core.management import execute_from_command_line

    from zoo_project.data import prepare

    prepare()

    execute_from_command_line(sys.argv)


if __name__ == "__main__":
    main()

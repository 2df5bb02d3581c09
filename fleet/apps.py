from __future__ import annotations

from typing import Any

from django.apps import AppConfig
from django.core.signals import setting_changed


def _settings_changed(**kwargs: Any) -> None:
    """Status documents also read settings (the device probe's overrides, the pools):
    kept ones go when a setting changes at run time, which only tests do."""
    from fleet.snapshots import snapshots

    snapshots.clear()


class FleetConfig(AppConfig):
    name = "fleet"
    verbose_name = "Fleet (runtime state)"

    def ready(self) -> None:
        setting_changed.connect(_settings_changed, dispatch_uid="fleet-snapshots")

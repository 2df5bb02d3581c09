"""What anonymous readers are shown: status and figures, never batch ids, file paths or
host names (the README's "What anonymous readers see" table lists each field).

Signed-in users and staff see everything here; these functions give the anonymous view
of the three fields that carry such things: a registry entry's ``path``, a device's
name, and an event's reason.
"""

from __future__ import annotations

import re

from fleet.models import Device, EventKind, ModelEvent

# A hub repository id (``owner/name``): public, and what the document's ``path`` may hold.
_HUB_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*/[A-Za-z0-9][A-Za-z0-9_.-]*")
# A relative path of two parts can look like one: a weights file's suffix gives it away.
_FILE_SUFFIXES = (".pt", ".pth", ".bin", ".safetensors", ".onnx", ".ckpt", ".yaml", ".json")


def public_path(path: str) -> str:
    """A registry path as anonymous readers see it: a hub id (``facebook/sam2``) as it
    is, a local file or folder as "" (it would tell where the weights live)."""
    hub_id = _HUB_ID.fullmatch(path) and not path.lower().endswith(_FILE_SUFFIXES)
    return path if hub_id else ""


def public_device(device: Device | None) -> str | None:
    """A device as anonymous readers see it: its name (``cuda:0``) without its host."""
    return device.name if device is not None else None


def public_reason(event: ModelEvent) -> str:
    """An event's reason as anonymous readers see it: the label of its cause ("Evicted
    to make room"), not the text, which may name a batch, a path or a host."""
    if event.cause:
        return str(event.get_cause_display())
    return str(EventKind(event.kind).label) if event.kind in EventKind.values else ""

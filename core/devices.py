"""Device names, checked wherever one is accepted (``zoo_worker --device``, ``zoo_run
--device``, ``ZOO_DEVICE``, ``ZOO_WORKER_DEVICE``): a device name becomes a queue name,
a database row and a PyTorch argument, so only the three shapes this service serves
pass, before anything is claimed or probed."""

from __future__ import annotations

import re

DEVICE_NAME = re.compile(r"(cpu|cuda:[0-9]{1,3}|sim:[0-9]{1,3})")
EXPECTED = "expected cpu, cuda:N or sim:N (N a device number, e.g. cuda:0)"


def device_name_checked(name: str, *, source: str = "device") -> str:
    """``name`` if it is ``cpu``, ``cuda:N`` or ``sim:N``; else ``ValueError`` saying
    what ``source`` (the option or setting) was given and what it takes."""
    if not DEVICE_NAME.fullmatch(name):
        raise ValueError(f"{source}: {name!r} is not a device name; {EXPECTED}")
    return name

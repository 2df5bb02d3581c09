"""What devices this machine has, without touching CUDA.

The web process uses ``probe_default_device`` only when no worker has registered a
device yet; NVML reads the GPU's memory without creating a CUDA context, so probing
is safe in a process that later forks. Workers use it to size the device they claim.
"""

from __future__ import annotations

import functools
import logging
import os
from dataclasses import dataclass

from django.conf import settings

from core.devices import device_name_checked

logger = logging.getLogger(__name__)

MB = 1024 * 1024


@dataclass(frozen=True)
class DeviceInfo:
    """A device as a probe sees it."""

    name: str  # PyTorch device string: "cpu", "cuda:0", "sim:0"
    kind: str  # "cpu", "cuda" or "sim"
    total_memory_mb: int

    @property
    def cuda_available(self) -> bool:
        return self.kind == "cuda"


def system_memory_mb() -> int:
    """Physical memory of this machine in MB."""
    return int(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") // MB)


def nvml_devices() -> list[DeviceInfo]:
    """Every NVIDIA GPU NVML reports, or an empty list where there is no driver."""
    try:
        import pynvml
    except ImportError:  # nvidia-ml-py is a dependency, but a stripped install may lack it
        return []
    try:
        pynvml.nvmlInit()
    except pynvml.NVMLError:
        return []
    try:
        found = []
        for index in range(pynvml.nvmlDeviceGetCount()):
            handle = pynvml.nvmlDeviceGetHandleByIndex(index)
            total = int(pynvml.nvmlDeviceGetMemoryInfo(handle).total) // MB
            found.append(DeviceInfo(name=f"cuda:{index}", kind="cuda", total_memory_mb=total))
        return found
    except pynvml.NVMLError as exc:
        logger.warning("NVML is present but could not list devices: %s", exc)
        return []
    finally:
        pynvml.nvmlShutdown()


def kind_of(name: str) -> str:
    return name.split(":", 1)[0]


@functools.cache
def _first_gpu() -> DeviceInfo | None:
    gpus = nvml_devices()
    return gpus[0] if gpus else None


def probe_default_device() -> DeviceInfo:
    """The device this machine would serve first: the first GPU, else the CPU.

    ``ZOO_DEVICE`` and ``ZOO_DEVICE_TOTAL_MEMORY_MB`` override what the probe finds.
    On the CPU the capacity is the machine's memory, never 0. The hardware is probed
    once per process; the overrides are read on every call.
    """
    name = settings.ZOO_DEVICE  # checked when the settings load
    total = settings.ZOO_DEVICE_TOTAL_MEMORY_MB
    gpu = _first_gpu() if not name or name.startswith("cuda") else None
    if not name:
        name = gpu.name if gpu else "cpu"
    if not total:
        total = gpu.total_memory_mb if gpu and gpu.name == name else system_memory_mb()
    return DeviceInfo(name=name, kind=kind_of(name), total_memory_mb=total)


SIMULATED_TOTAL_MB = 24 * 1024  # a simulated GPU's memory unless a size is given


def device_total_mb(name: str) -> int:
    """The total memory of a device of this machine: ``cpu`` is the machine's memory,
    ``cuda:N`` what NVML reports, ``sim:N`` a fixed 24 GB; ``ValueError`` for any other
    name."""
    kind = kind_of(device_name_checked(name))
    if kind == "cpu":
        return system_memory_mb()
    if kind == "sim":
        return SIMULATED_TOTAL_MB
    if kind == "cuda":
        found = {gpu.name: gpu for gpu in nvml_devices()}
        if name not in found:
            raise ValueError(f"no GPU {name} on this machine (NVML sees {sorted(found)})")
        return found[name].total_memory_mb
    raise ValueError(f"unknown device {name!r}: expected cpu, cuda:N or sim:N")

"""Device backends: where a manager puts tensors and how it measures their memory.

Plain Python: the caller says what the device is (its name and total memory, probed
by ``fleet.hardware`` in a worker); nothing here reads Django settings.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

from inference.engine.loaders.base import OutOfMemory

logger = logging.getLogger(__name__)

MB = 1024 * 1024


# --- Backends: the device a manager loads models onto -------------------------------


def ceil_mb(num_bytes: int) -> int:
    return -(-num_bytes // MB)


class DeviceBackend:
    """A device as the manager uses it: where tensors go and how memory is measured."""

    kind = "cpu"

    def __init__(self, name: str, total_memory_mb: int):
        self.name = name
        self.total_memory_mb = total_memory_mb

    @property
    def torch_device(self) -> str:
        """The PyTorch device the loaders place tensors on."""
        return self.name

    def budget_mb(self, threshold: float) -> int:
        return int(self.total_memory_mb * threshold)

    def memory_mark(self) -> int:
        """Bytes the device has allocated now, to measure a load by difference."""
        return 0

    def measure(self, model: Any, mark: int) -> int:
        """MB the loaded model holds: its tensor bytes (subclasses add what they see)."""
        return ceil_mb(model.tensor_bytes())

    def on_loaded(self, name: str, held_mb: int) -> None:
        """The model now holds ``held_mb`` on the device."""

    def on_unloaded(self, name: str, mark: int = 0) -> int | None:
        """The model's references were dropped: reclaim its memory and say how many MB
        were freed since ``mark`` (``memory_mark()`` before the unload), where the device
        can tell (the CPU cannot attribute freed memory to one model). The model's
        ``close`` has already released its tensors: no collection is needed here."""
        return None

    def is_out_of_memory(self, exc: BaseException) -> bool:
        return isinstance(exc, MemoryError)


class CpuBackend(DeviceBackend):
    kind = "cpu"

    def __init__(self, total_memory_mb: int):
        super().__init__("cpu", total_memory_mb)


class CudaBackend(DeviceBackend):
    """An NVIDIA GPU: measured through ``torch.cuda`` allocation and NVML."""

    kind = "cuda"

    def memory_mark(self) -> int:
        import torch

        torch.cuda.synchronize(self.name)
        return int(torch.cuda.memory_allocated(self.name))

    def measure(self, model: Any, mark: int) -> int:
        import torch

        torch.cuda.synchronize(self.name)
        allocated = int(torch.cuda.memory_allocated(self.name)) - mark
        return max(ceil_mb(allocated), super().measure(model, mark))

    def on_unloaded(self, name: str, mark: int = 0) -> int | None:
        import torch

        super().on_unloaded(name, mark)
        torch.cuda.empty_cache()
        torch.cuda.synchronize(self.name)
        return ceil_mb(max(0, mark - int(torch.cuda.memory_allocated(self.name))))

    def is_out_of_memory(self, exc: BaseException) -> bool:
        import torch

        return isinstance(exc, torch.cuda.OutOfMemoryError) or super().is_out_of_memory(exc)


class SimulatedBackend(DeviceBackend):
    """A GPU that is not there: fixed total memory and deterministic accounting.

    Tensors live on the CPU; the device keeps a ledger of what each resident model holds
    and fails like a real GPU (``OutOfMemory``) when the ledger would pass the total.
    Tests read ``peak_mb`` to prove a budget was never exceeded. ``load_mb_per_s``, when
    set, makes a load take as long as copying its memory over a bus of that speed, so a
    demo or a fault test can watch (or interrupt) a model while it is ``loading``.
    """

    kind = "sim"

    def __init__(
        self, name: str = "sim:0", total_memory_mb: int = 24 * 1024, load_mb_per_s: float = 0.0
    ):
        super().__init__(name, total_memory_mb)
        self._lock = threading.Lock()
        self.ledger: dict[str, int] = {}
        self.peak_mb = 0
        self.load_mb_per_s = load_mb_per_s

    @property
    def torch_device(self) -> str:
        return "cpu"

    @property
    def allocated_mb(self) -> int:
        with self._lock:
            return sum(self.ledger.values())

    def on_loaded(self, name: str, held_mb: int) -> None:
        with self._lock:
            others = sum(mb for key, mb in self.ledger.items() if key != name)
            if others + held_mb > self.total_memory_mb:
                raise OutOfMemory(
                    f"{self.name}: {held_mb} MB requested with {others} MB of "
                    f"{self.total_memory_mb} MB in use"
                )
            self.ledger[name] = held_mb
            self.peak_mb = max(self.peak_mb, others + held_mb)
        if self.load_mb_per_s > 0:
            time.sleep(held_mb / self.load_mb_per_s)  # the simulated transfer

    def on_unloaded(self, name: str, mark: int = 0) -> int | None:
        with self._lock:
            return self.ledger.pop(name, 0)

    def is_out_of_memory(self, exc: BaseException) -> bool:
        return isinstance(exc, OutOfMemory) or super().is_out_of_memory(exc)


def backend_for(
    name: str, total_memory_mb: int, *, sim_load_mb_per_s: float = 0.0
) -> DeviceBackend:
    """The backend for a device string (``cpu``, ``cuda:N`` or ``sim:N``) of the given
    total memory (``fleet.hardware.device_total_mb`` finds it on this machine)."""
    kind = name.split(":", 1)[0]
    if kind == "cpu":
        return CpuBackend(total_memory_mb)
    if kind == "sim":
        return SimulatedBackend(name, total_memory_mb, load_mb_per_s=sim_load_mb_per_s)
    if kind == "cuda":
        return CudaBackend(name, total_memory_mb)
    raise ValueError(f"unknown device {name!r}: expected cpu, cuda:N or sim:N")

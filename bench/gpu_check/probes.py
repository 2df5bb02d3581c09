"""Memory as the device sees it, apart from the manager's books: on a GPU, what
``torch.cuda`` has allocated and what NVML says the process (or, where NVML cannot see
this process, the whole device) uses; on the simulated device, its ledger. Also the
thread that samples it while models load, and the second process that fills it."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from typing import Any

from inference.engine.devices import MB, SimulatedBackend

# The second process: allocates the GPU's free memory (plain cudaMalloc, through torch's
# allocator) until ``leave`` bytes remain, says how many are free, holds it until its
# standard input closes.
FILLER = """
import sys, torch
index, leave = int(sys.argv[1]), int(sys.argv[2])
device = torch.device("cuda", index)
held = []
while True:
    free = torch.cuda.mem_get_info(device)[0]
    size = min(free - leave, 1 << 30)
    if size < (1 << 20):
        break
    held.append(torch.empty(size, dtype=torch.uint8, device=device))
print(torch.cuda.mem_get_info(device)[0], flush=True)
sys.stdin.read()
"""


class Probe:
    """What a check reads of the device: MB allocated by this process's tensors, MB the
    device reports in use (``scope`` says whose), and how to fill it from outside."""

    kind = "none"
    scope = "none"
    context_mb = 0.0  # what the runtime itself holds once started (the CUDA context)

    def allocated_mb(self) -> float:
        raise NotImplementedError

    def used_mb(self) -> float:
        raise NotImplementedError

    def settle(self) -> None:
        """Wait for queued device work, so the figures read next are current."""

    def describe(self) -> dict[str, Any]:
        return {"kind": self.kind, "scope": self.scope}

    def fill(self, leave_mb: int) -> contextlib.AbstractContextManager[float]:
        """Memory taken outside this process until ``leave_mb`` is free; yields the MB
        left free."""
        raise NotImplementedError


class SimulatedProbe(Probe):
    """The simulated device: its ledger is its memory; a filler is a ledger entry that
    no model of this manager owns (another process's allocation)."""

    kind = "sim"
    scope = "simulated ledger"
    FILLER = "(another process)"

    def __init__(self, backend: SimulatedBackend):
        self.backend = backend

    def _ours(self) -> float:
        with self.backend._lock:
            return float(sum(mb for k, mb in self.backend.ledger.items() if k != self.FILLER))

    def allocated_mb(self) -> float:
        return self._ours()

    def used_mb(self) -> float:
        return self._ours()

    def describe(self) -> dict[str, Any]:
        return super().describe() | {
            "name": f"simulated device {self.backend.name}",
            "total_mb": self.backend.total_memory_mb,
        }

    @contextlib.contextmanager
    def fill(self, leave_mb: int) -> Iterator[float]:
        with self.backend._lock:
            taken = self.backend.total_memory_mb - sum(self.backend.ledger.values()) - leave_mb
            self.backend.ledger[self.FILLER] = max(0, taken)
        try:
            yield float(leave_mb)
        finally:
            with self.backend._lock:
                self.backend.ledger.pop(self.FILLER, None)


class CudaProbe(Probe):
    """An NVIDIA GPU through ``torch.cuda`` and NVML. Starting it creates this process's
    CUDA context; ``context_mb`` is what that took as NVML sees it."""

    kind = "cuda"

    def __init__(self, device: str):
        import pynvml
        import torch

        self.device = torch.device(device)
        self.index = self.device.index or 0
        pynvml.nvmlInit()
        self._nvml = pynvml
        self._handle = pynvml.nvmlDeviceGetHandleByIndex(self.index)
        before = self._device_used_mb()
        torch.zeros(1, device=self.device)
        torch.cuda.synchronize(self.device)
        mine = self._process_used_mb()
        self.scope = "process" if mine is not None else "device"
        self.context_mb = mine if mine is not None else self._device_used_mb() - before

    def _device_used_mb(self) -> float:
        return float(self._nvml.nvmlDeviceGetMemoryInfo(self._handle).used) / MB

    def _process_used_mb(self) -> float | None:
        """This process's memory as NVML lists it; None where NVML does not list it (a
        container's process ids differ from the host's, or the query is unsupported)."""
        try:
            found = self._nvml.nvmlDeviceGetComputeRunningProcesses(self._handle)
        except self._nvml.NVMLError:
            return None
        for process in found:
            if process.pid == os.getpid() and process.usedGpuMemory is not None:
                return float(process.usedGpuMemory) / MB
        return None

    def allocated_mb(self) -> float:
        import torch

        return float(torch.cuda.memory_allocated(self.device)) / MB

    def used_mb(self) -> float:
        if self.scope == "process":
            return self._process_used_mb() or 0.0
        return self._device_used_mb()

    def settle(self) -> None:
        import torch

        torch.cuda.synchronize(self.device)

    def describe(self) -> dict[str, Any]:
        import torch

        nvml = self._nvml
        memory = nvml.nvmlDeviceGetMemoryInfo(self._handle)
        name = nvml.nvmlDeviceGetName(self._handle)
        return super().describe() | {
            "name": name.decode() if isinstance(name, bytes) else str(name),
            "total_mb": int(memory.total) // MB,
            "driver": _text(nvml.nvmlSystemGetDriverVersion()),
            "cuda_runtime": torch.version.cuda,
            "cudnn": torch.backends.cudnn.version(),
            "context_mb": round(self.context_mb, 1),
        }

    @contextlib.contextmanager
    def fill(self, leave_mb: int) -> Iterator[float]:
        process = subprocess.Popen(
            [sys.executable, "-c", FILLER, str(self.index), str(int(leave_mb * MB))],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        try:
            assert process.stdout is not None
            line = process.stdout.readline().strip()
            if not line:
                raise RuntimeError(f"the filling process ended early (exit {process.wait()})")
            yield int(line) / MB
        finally:
            if process.stdin is not None:
                process.stdin.close()
            try:
                process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


class Sampler:
    """Samples a probe in a thread until stopped: the peaks of both figures."""

    def __init__(self, probe: Probe, interval_s: float = 0.005):
        self.probe = probe
        self.interval_s = interval_s
        self.samples = 0
        self.peak_allocated_mb = 0.0
        self.peak_used_mb = 0.0
        self.errors: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="gpu-check-sampler", daemon=True)

    def __enter__(self) -> Sampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        while True:
            self.sample()
            if self._stop.wait(self.interval_s):
                break
        self.sample()

    def sample(self) -> None:
        try:
            allocated, used = self.probe.allocated_mb(), self.probe.used_mb()
        except Exception as exc:  # a failed read is reported, not taken for zero
            self.errors.append(f"{type(exc).__name__}: {exc}")
            return
        self.samples += 1
        self.peak_allocated_mb = max(self.peak_allocated_mb, allocated)
        self.peak_used_mb = max(self.peak_used_mb, used)

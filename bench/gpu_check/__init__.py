"""``scripts/gpu-check``: the CUDA path proven on a real GPU by one prepared command.

``python -m bench.gpu_check`` (``scripts/gpu-check``) builds a SQLite database and the
checkpoints it needs in a throwaway folder, runs the real model manager and its state
sink (as ``zoo_run`` does, no Celery) on ``cuda:0`` and checks, with the device's own
figures (NVML and ``torch.cuda``):

- each of three full-size models: registry estimate, measured size, load time to ready
  to serve, first and warm inference latency (``scenarios.measure_model``);
- admission with real bytes: a budget two fit and a third does not; the third evicts
  exactly the model it must, and the memory sampled in a thread never passes the budget
  (``scenarios.admission``);
- out of memory: a second process fills the GPU, the load ends in ``error`` with the
  reason and leaves nothing behind, and loads once the memory is free
  (``scenarios.out_of_memory``);
- no leak: with everything unloaded, memory is back at its baseline (``scenarios.leak``);
- the load against the bus: a pinned host → device copy of the same bytes, and a swap
  from a checkpoint prefetched into pinned memory while another model runs (``bus``).

It writes ``docs/gpu-results.md`` and ``docs/gpu-results.json`` and exits 1 when a
check fails, each with its reason. ``--simulate`` runs the same script on the CPU with
the simulated device (its ledger stands for the GPU's memory, its capacity for the
second process) and small checkpoints, writing under ``var/`` instead; the test
command runs it, so the script never rots. Modules: ``probes`` (memory as the device
sees it, the sampler, the second process), ``workspace`` (database, checkpoints,
budgets), ``scenarios``, ``bus``, ``report``.
"""

from __future__ import annotations

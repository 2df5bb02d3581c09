"""Where the manager writes what it does (``inference.runtime.state`` writes it to the
database; tests keep it in memory)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from inference.engine.specs import ModelSpec


class StateSink:
    """The interface the manager writes through."""

    def measured_sizes(self) -> dict[str, int]:
        """Last measured size by model name, remembered across restarts."""
        return {}

    def transition(self, spec: ModelSpec, **fields: Any) -> None:
        """A change of status (or of error), written before returning."""

    def usage(self, spec: ModelSpec, load_count: int, last_used_at: datetime | None) -> None:
        """Leases or last use changed; may be written a little later."""

    def event(
        self,
        spec: ModelSpec,
        kind: str,
        reason: str,
        memory_mb: int | None = None,
        duration_s: float | None = None,
        cause: str = "",
    ) -> None:
        """One entry of the decision log."""

    def flush(self) -> None:
        """Write whatever is pending."""

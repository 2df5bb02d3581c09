"""Why the manager could not provide a model, or unload one: each exception's message is
the reason, written for people (the APIs pass it on as it is)."""

from __future__ import annotations


class ManagerError(RuntimeError):
    """A model could not be provided; the message is the reason, for people."""


class ModelDisabled(ManagerError):
    pass


class ModelNotLocal(ManagerError):
    """An external-API or separate-server model: nothing to load in this process."""


class ModelRefused(ManagerError):
    """Admission said no: too large for the budget, or no room beside models in use."""


class ModelTooLarge(ModelRefused):
    """Larger than the device's whole budget (or the zoo pool) with no CPU fallback: a
    property of the model here, not a failure; it is refused every time."""


class ModelLoadFailed(ManagerError):
    """The load itself failed (missing or corrupt weights, out of memory, ...)."""

    def __init__(self, message: str, *, out_of_memory: bool = False):
        super().__init__(message)
        self.out_of_memory = out_of_memory


class ModelBusy(ManagerError):
    """An unload was asked of a model still in use."""


def again(exc: ManagerError) -> ManagerError:
    """A fresh copy of a load's failure for each thread that waited on that load."""
    if isinstance(exc, ModelLoadFailed):
        return ModelLoadFailed(str(exc), out_of_memory=exc.out_of_memory)
    return type(exc)(str(exc))

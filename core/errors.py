"""Refusals a service raises and a caller can act on. The API answers each with its
``status`` and the message, in the error shape of the document the view serves; the
dashboard shows the message."""

from __future__ import annotations


class ServiceError(Exception):
    """Bad input or a request that cannot be met as asked."""

    status = 400


class NotFound(ServiceError):
    status = 404


class Conflict(ServiceError):
    """The request contradicts the current state (in use, disabled, runs elsewhere)."""

    status = 409


class Failed(ServiceError):
    """The work was tried and failed (a load that ran out of memory)."""

    status = 500


class Unavailable(ServiceError):
    """No worker can take the work now."""

    status = 503

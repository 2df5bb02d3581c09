"""Strict query-string parsing: unknown, repeated, missing, empty or malformed parameters
are a 400 with a message that names the parameter, never a 500 or a silent default."""

from __future__ import annotations

from collections.abc import Iterable

from rest_framework.request import Request

from api.errors import ApiError, QueryValueError


def query_params(
    request: Request, *, required: Iterable[str] = (), optional: Iterable[str] = ()
) -> dict[str, str]:
    """The request's query parameters, checked against the ones a view accepts."""
    required = tuple(required)
    allowed = set(required) | set(optional)
    given = request.query_params
    unknown = sorted(set(given) - allowed)
    if unknown:
        raise ApiError(f"Unknown query parameter: {', '.join(unknown)}")
    repeated = sorted(name for name in given if len(given.getlist(name)) > 1)
    if repeated:
        raise ApiError(f"Query parameter given more than once: {', '.join(repeated)}")
    missing = [name for name in required if not given.get(name, "").strip()]
    if missing:
        raise ApiError(f"Missing required query parameter: {', '.join(missing)}")
    empty = sorted(name for name in given if not given[name].strip())
    if empty:  # "?model=" is a mistake, not a request for everything
        raise ApiError(f"Query parameter without a value: {', '.join(empty)}")
    return {name: given[name].strip() for name in given}


def int_param(
    params: dict[str, str],
    name: str,
    *,
    default: int,
    minimum: int,
    maximum: int,
    unprocessable: bool = False,
) -> int:
    """An integer parameter within bounds, or a 400 that says what is allowed (a 422,
    ``QueryValueError``, with ``unprocessable``)."""
    raw = params.get(name)
    if raw is None or raw == "":
        return default

    def refuse(message: str) -> ApiError:
        if unprocessable:
            return QueryValueError(message, field=name, value=raw)
        return ApiError(message)

    try:
        value = int(raw)
    except ValueError:
        raise refuse(f"{name} must be an integer, got {raw!r}") from None
    if not minimum <= value <= maximum:
        raise refuse(f"{name} must be between {minimum} and {maximum}, got {value}")
    return value


_TRUE, _FALSE = {"true", "1", "yes"}, {"false", "0", "no"}


def bool_param(params: dict[str, str], name: str) -> bool:
    """A yes/no parameter (true/false, 1/0, yes/no; absent is false), or a 400."""
    raw = params.get(name, "false").lower()
    if raw not in _TRUE | _FALSE:
        raise ApiError(f"{name} must be true or false, got {params[name]!r}")
    return raw in _TRUE

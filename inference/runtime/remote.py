"""Where a remote model is called, from the registry and the settings: a server-run
option's base URL (``ZOO_SERVER_URL_<NAME>``, else the entry's ``server_url``), an
external option's provider key and base URL (the variables its SDK reads, else the
entry's ``server_url``). The web side asks before it queues anything, so an option
nobody configured is refused at once, naming what to set; the worker asks again when it
calls (the configuration may have changed meanwhile)."""

from __future__ import annotations

import re

from django.conf import settings

from inference.engine.remote import PROVIDERS, SERVER, RemoteTarget
from models_registry.models import Loader, ModelEntry


class Unconfigured(Exception):
    """A remote option that cannot be called: the message names what to set."""


def _variable_suffix(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9]", "_", name).upper()


def server_url_variable(name: str) -> str:
    """The environment variable of a server-run option's base URL:
    ``llama-4-scout`` → ``ZOO_SERVER_URL_LLAMA_4_SCOUT``."""
    return settings.ZOO_SERVER_URL_PREFIX + _variable_suffix(name)


def server_url(entry: ModelEntry) -> str:
    """A server-run option's base URL ("" when none is set anywhere)."""
    configured = settings.ZOO_SERVER_URLS.get(_variable_suffix(entry.name))
    return str(configured or entry.server_url).strip()


def provider_of(entry: ModelEntry) -> str:
    """``SERVER`` for a server-run option, else its provider (the entry's framework)."""
    if entry.loader == Loader.SERVER:
        return SERVER
    return entry.framework.strip().lower()


def remote_target(entry: ModelEntry) -> RemoteTarget:
    """Where and how to call ``entry`` (a server-run or external option); ``Unconfigured``
    naming what to set when it cannot be called."""
    timeout = settings.ZOO_REMOTE_TIMEOUT_S
    model = entry.model_id or entry.name
    provider = provider_of(entry)
    if provider == SERVER:
        url = server_url(entry)
        if not url:
            raise Unconfigured(
                f"Model '{entry.name}' has no server URL: set {server_url_variable(entry.name)} "
                "or the entry's server URL in the admin"
            )
        return RemoteTarget(entry.name, SERVER, model, url, "", timeout)
    if provider not in PROVIDERS:
        raise Unconfigured(
            f"Model '{entry.name}' names no provider this service calls (its framework is "
            f"'{entry.framework}'; set it to one of {', '.join(PROVIDERS)} in the admin)"
        )
    config = settings.ZOO_PROVIDERS[provider]
    if not config["api_key"]:
        raise Unconfigured(f"Model '{entry.name}' has no API key: set {config['key_variable']}")
    base_url = config["base_url"] or entry.server_url.strip()
    return RemoteTarget(entry.name, provider, model, base_url, config["api_key"], timeout)


def remote_unconfigured(entry: ModelEntry) -> str:
    """Why ``entry`` cannot be called, naming what to set; "" when it can."""
    try:
        remote_target(entry)
    except Unconfigured as exc:
        return str(exc)
    return ""

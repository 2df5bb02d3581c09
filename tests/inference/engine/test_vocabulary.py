"""The engine's words are the database's words: every status, event kind and cause,
policy, loader and category the engine uses is stored by the same value."""

from __future__ import annotations

import pytest

from fleet import models as fleet_models
from inference.engine import vocabulary
from models_registry import models as registry_models

PAIRS = [
    (vocabulary.ModelStatus, fleet_models.ModelStatus),
    (vocabulary.EventKind, fleet_models.EventKind),
    (vocabulary.EventCause, fleet_models.EventCause),
    (vocabulary.EvictionPolicy, registry_models.EvictionPolicy),
    (vocabulary.Loader, registry_models.Loader),
    (vocabulary.Category, registry_models.Category),
]


@pytest.mark.parametrize(("engine", "stored"), PAIRS, ids=lambda e: e.__name__)
def test_engine_and_database_spell_each_value_alike(engine, stored) -> None:
    assert {member.name: member.value for member in engine} == {
        member.name: member.value for member in stored
    }

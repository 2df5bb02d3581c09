"""factory_boy factories for the registry's tables."""

from __future__ import annotations

import factory
from django.contrib.auth import get_user_model
from django.utils import timezone

from fleet.models import Device, ModelState, ModelStatus
from models_registry.models import ModelEntry


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()

    username = factory.Sequence(lambda n: f"user{n}")
    email = factory.LazyAttribute(lambda u: f"{u.username}@example.com")
    password = factory.django.Password("a-long-test-passphrase")


class ModelEntryFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = ModelEntry

    name = factory.Sequence(lambda n: f"test-model-{n}")
    display_name = factory.LazyAttribute(lambda m: m.name.replace("-", " ").title())
    category = "detection"
    loader = "ultralytics"
    vram_mb = 100
    path = factory.LazyAttribute(lambda m: f"/models/{m.name}.pt")
    in_zoo = True
    position = factory.Sequence(lambda n: 1000 + n)


class DeviceFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Device

    host = "test-host"
    name = factory.Sequence(lambda n: f"sim:{n}")
    kind = "sim"
    total_memory_mb = 24 * 1024
    budget_mb = factory.LazyAttribute(lambda d: int(d.total_memory_mb * 0.8))
    worker = factory.LazyAttribute(lambda d: f"worker-{d.name}@{d.host}")
    heartbeat_at = factory.LazyFunction(timezone.now)


class ModelStateFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = ModelState

    model = factory.SubFactory(ModelEntryFactory)
    device = factory.SubFactory(DeviceFactory)
    status = ModelStatus.LOADED
    load_count = 0
    loaded_at = factory.LazyFunction(timezone.now)
    last_used_at = factory.LazyFunction(timezone.now)
    load_duration_s = 0.8

"""A device name is ``cpu``, ``cuda:N`` or ``sim:N`` wherever one is accepted: the
worker's and ``zoo_run``'s ``--device``, ``ZOO_DEVICE`` and ``ZOO_WORKER_DEVICE``.
Anything else is refused with a clear error before a device is claimed."""

from __future__ import annotations

import subprocess
import sys

import pytest
from django.core.management import CommandError, call_command

from core.devices import device_name_checked
from fleet.hardware import device_total_mb
from fleet.models import Device
from tests.servers import ROOT, child_env

BAD = ["sim:1; rm -rf /", "cuda", "cuda:x", "sim:-1", "gpu:0", "CPU", " cpu", "cuda:0\n", ""]


@pytest.mark.parametrize("name", ["cpu", "cuda:0", "cuda:12", "sim:0", "sim:93"])
def test_the_three_shapes_pass(name):
    assert device_name_checked(name) == name


@pytest.mark.parametrize("name", BAD)
def test_anything_else_is_refused_saying_what_is_expected(name):
    with pytest.raises(ValueError, match="expected cpu, cuda:N or sim:N"):
        device_name_checked(name, source="--device")
    with pytest.raises(ValueError, match="is not a device name"):
        device_total_mb(name)


@pytest.mark.django_db
def test_the_worker_refuses_a_bad_device_before_claiming_anything(monkeypatch):
    def claimed(*args, **kwargs):
        raise AssertionError("the device was claimed")

    monkeypatch.setattr("inference.runtime.zoo.claim_device", claimed)

    with pytest.raises(CommandError, match=r"--device: 'sim:1; rm -rf /' is not a device name"):
        call_command("zoo_worker", "--device", "sim:1; rm -rf /")
    assert not Device.objects.exists()


@pytest.mark.django_db
def test_zoo_run_refuses_a_bad_device(tmp_path):
    image = tmp_path / "one.png"
    from PIL import Image

    Image.new("RGB", (8, 8)).save(image)

    with pytest.raises(CommandError, match=r"--device: 'gpu0' is not a device name"):
        call_command("zoo_run", "yolo11-face", "--image", str(image), "--device", "gpu0")
    assert not Device.objects.exists()


@pytest.mark.parametrize("setting", ["ZOO_DEVICE", "ZOO_WORKER_DEVICE"])
def test_a_bad_device_setting_stops_the_process_at_start(setting):
    env = child_env() | {setting: "sim:1; rm -rf /"}
    started = subprocess.run(
        [sys.executable, "manage.py", "check"], cwd=ROOT, env=env, capture_output=True,
        text=True, timeout=120,
    )  # fmt: skip

    assert started.returncode != 0
    assert f"{setting}: 'sim:1; rm -rf /' is not a device name" in started.stderr

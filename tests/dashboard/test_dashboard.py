"""The dashboard at /: what an operator sees, and what staff can change from it
(plain HTML forms: they work without JavaScript)."""

from __future__ import annotations

import html
import re
from datetime import UTC, datetime

import pytest
from django.test import Client
from django.utils import timezone

from fleet import services as fleet_services
from fleet.models import ModelStatus
from latency import services as latency_services
from latency.models import SampleKind
from latency.services import Sample
from models_registry.models import InferenceSettings, ModelEntry, Task
from tests.factories import DeviceFactory, ModelStateFactory, UserFactory


@pytest.fixture
def browser(db) -> Client:
    return Client()


@pytest.fixture
def reader(db) -> Client:
    """A signed-in user who is not staff: reads the page whole, changes nothing."""
    client = Client()
    client.force_login(UserFactory())
    return client


@pytest.fixture
def staff(db) -> Client:
    client = Client()
    client.force_login(UserFactory(is_staff=True))
    return client


def page(client: Client, url: str = "/") -> str:
    response = client.get(url)
    assert response.status_code == 200
    return response.content.decode()


def text(page_html: str) -> str:
    """What a reader sees: no tags, entities decoded, whitespace folded."""
    return re.sub(r"\s+", " ", html.unescape(re.sub(r"<[^>]+>", " ", page_html)))


def test_anyone_sees_models_grouped_by_category_in_the_documents_order(browser):
    html = page(browser)
    captions = re.findall(r"<th scope=\"colgroup\"[^>]*>([^<]+)</th>", html)
    assert captions == [
        "Detection", "Classification", "Segmentation", "Pose", "Depth", "Embedding", "OCR",
        "Action Recognition", "Other",
    ]  # fmt: skip
    # Status by word and by colour class, never colour alone.
    assert re.search(r'class="status status-unloaded"[^>]*>unloaded<', html)
    assert re.search(r'class="status status-disabled"[^>]*>disabled<', html)
    assert "Log in" in html and "Load yolo11-face" not in html
    assert re.search(r'<select id="select-object_detection" name="model_name" disabled', html)


def test_reads_can_require_a_login(browser, settings):
    settings.ZOO_READS_REQUIRE_AUTH = True
    response = browser.get("/")
    assert response.status_code == 302 and "/admin/login/" in response["Location"]


def test_a_live_devices_memory_bar_shows_used_estimate_and_measured(reader):
    device = DeviceFactory(name="sim:4", total_memory_mb=8192, budget_mb=6553)
    face = ModelEntry.objects.get(name="yolo11-face")  # 200 MB estimate
    ModelStateFactory(model=face, device=device, status=ModelStatus.LOADED, measured_mb=260)
    html = text(page(reader))
    assert f"{device} (sim, 8192 MB)" in html
    assert "260 MB used of a 6553 MB budget · estimate 200 MB · measured 260 MB" in html
    assert "1 model loaded" in html
    assert re.search(r'class="status status-loaded"[^>]*>loaded<', page(reader))


def test_without_a_worker_it_says_how_to_start_one(browser):
    assert "No worker is running" in page(browser)


def test_an_error_shows_its_reason_on_hover_and_focus(reader):
    face = ModelEntry.objects.get(name="yolo11-face")
    ModelStateFactory(
        model=face, device=DeviceFactory(), status=ModelStatus.ERROR,
        last_error="weights not found at /x.pt",
    )  # fmt: skip
    html = page(reader)
    assert re.search(
        r'class="status status-error" tabindex="0" title="weights not found at /x.pt"', html
    )
    assert 'role="tooltip">weights not found at /x.pt<' in html


def test_staff_select_a_tasks_model_and_it_is_persisted(staff):
    response = staff.post(
        "/dashboard/select", {"task_type": "object_detection", "model_name": "yolov8s"}
    )
    assert response.status_code == 302
    assert Task.objects.get(name="object_detection").selected.name == "yolov8s"
    html = page(staff, response["Location"])
    assert "object_detection: selected yolov8s." in html


def test_a_selection_that_would_not_fit_needs_a_confirmation(staff, settings):
    DeviceFactory(name="sim:9", total_memory_mb=4096, budget_mb=3276)  # 4 GB: tight
    choice = {"task_type": "object_detection", "model_name": "yolov8l"}
    before = Task.objects.get(name="object_detection").selected

    # Marked in the panel before anyone submits.
    html = page(staff)
    assert re.search(r'value="yolov8l" data-warning="[^"]*exceeds', html)
    assert "yolov8l (" in html and "would not fit" in html

    response = staff.post("/dashboard/select", choice)
    assert response.status_code == 302 and "confirm_model=yolov8l" in response["Location"]
    assert Task.objects.get(name="object_detection").selected == before
    assert "Select anyway" in page(staff, response["Location"])

    staff.post("/dashboard/select", {**choice, "confirm": "1"})
    assert Task.objects.get(name="object_detection").selected.name == "yolov8l"


def test_a_model_no_device_could_hold_needs_a_confirmation_that_says_why(staff):
    # The whole selection fits by the estimates, but the size measured on the only
    # device is larger than its whole budget: a worker would refuse to load it.
    InferenceSettings.objects.filter(pk=1).update(cpu_fallback=False)  # else: on the CPU
    device = DeviceFactory(name="sim:7", total_memory_mb=16384, budget_mb=13107)
    yolov8s = ModelEntry.objects.get(name="yolov8s")
    ModelStateFactory(model=yolov8s, device=device, status=ModelStatus.UNLOADED, measured_mb=14000)
    choice = {"task_type": "object_detection", "model_name": "yolov8s"}
    reason = "yolov8s needs 14000 MB, more than the whole budget of 13107 MB on sim:7"

    response = staff.post("/dashboard/select", choice)

    assert Task.objects.get(name="object_detection").selected.name == "yolov8n"
    assert "confirm_model=yolov8s" in response["Location"]
    confirm = text(page(staff, response["Location"]))
    assert f"yolov8s for object_detection would not fit: {reason}." in confirm
    assert "Select anyway" in confirm
    confirmed = staff.post("/dashboard/select", {**choice, "confirm": "1"})
    assert Task.objects.get(name="object_detection").selected.name == "yolov8s"
    assert (
        "object_detection: selected yolov8s (over the memory budget, as confirmed; not loaded: "
        f"{reason})."
    ) in text(page(staff, confirmed["Location"]))


def test_only_staff_may_change_anything(browser, db):
    before = Task.objects.get(name="object_detection").selected
    choice = {"task_type": "object_detection", "model_name": "yolov8s"}
    anonymous = browser.post("/dashboard/select", choice)
    assert anonymous.status_code == 302 and "/admin/login/" in anonymous["Location"]
    browser.force_login(UserFactory(is_staff=False))
    assert browser.post("/dashboard/select", choice).status_code == 403
    assert browser.post("/dashboard/models/yolo11-face/disable").status_code == 403
    assert Task.objects.get(name="object_detection").selected == before
    assert ModelEntry.objects.get(name="yolo11-face").enabled


def test_session_writes_need_the_csrf_token(db):
    client = Client(enforce_csrf_checks=True)
    client.force_login(UserFactory(is_staff=True))
    response = client.post("/dashboard/models/yolo11-face/disable")
    assert response.status_code == 403
    assert ModelEntry.objects.get(name="yolo11-face").enabled


def test_staff_disable_and_enable_a_model(staff):
    staff.post("/dashboard/models/yolo11-face/disable")
    face = ModelEntry.objects.get(name="yolo11-face")
    assert not face.enabled and face.disabled_reason == "disabled from the dashboard"
    assert "Enable yolo11-face" in page(staff)
    staff.post("/dashboard/models/yolo11-face/enable")
    assert ModelEntry.objects.get(name="yolo11-face").enabled


def test_a_load_without_a_worker_says_so(staff):
    response = staff.post("/dashboard/models/yolo11-face/load", follow=True)
    assert "No worker is running: nothing can load it." in response.content.decode()


def test_the_latency_chart_draws_recorded_inferences(browser):
    face = ModelEntry.objects.get(name="yolo11-face")
    now = timezone.now()
    latency_services.samples_record(
        samples=[Sample(face.pk, face.name, SampleKind.INFERENCE, now, s) for s in (0.02, 0.04)]
    )
    html = page(browser, "/?model=yolo11-face&since=15&bucket_seconds=60")
    chart = html[html.index('<figure class="chart">') :]
    assert chart.count("<circle") == 3  # one bucket: a dot each for avg, p50 and p95
    assert 'data-points="1"' in chart
    assert "<td>2</td><td>30.0</td>" in chart  # the data table: 2 samples, avg 30 ms


def test_an_empty_window_says_so_and_bad_choices_fall_back_to_defaults(browser):
    html = text(page(browser, "/?model=yolo11-face&since=0&bucket_seconds=abc"))
    assert "since must be a whole number from 1 to 1440; using 60." in html
    assert "bucket_seconds must be a whole number from 10 to 3600; using 60." in html
    assert "last 60 min in 60 s buckets — no inferences in this window" in html
    assert "Unknown model 'nope'" in text(page(browser, "/?model=nope"))


def test_recent_events_are_listed(reader):
    fleet_services.model_event_record(
        device_id=None, model_id=None, model_name="yolo11-face", kind="evict",
        reason="evicted yolo11-face (lru, idle 3 s, 200 MB) to fit vitpose-small",
    )  # fmt: skip
    html = text(page(reader))
    assert "Evicted yolo11-face evicted yolo11-face (lru, idle 3 s, 200 MB)" in html


def test_latency_buckets_in_the_chart_are_clock_aligned(browser):
    face = ModelEntry.objects.get(name="yolo11-face")
    at = datetime.now(UTC)
    latency_services.samples_record(
        samples=[Sample(face.pk, face.name, SampleKind.INFERENCE, at, 0.01)]
    )
    html = page(browser, "/?model=yolo11-face&since=60&bucket_seconds=300")
    start = at.replace(minute=at.minute - at.minute % 5, second=0, microsecond=0)
    assert f"<td>{start:%Y-%m-%d %H:%M:%S}</td><td>1</td>" in html


def test_the_page_costs_the_same_queries_whatever_the_number_of_task_options(
    browser, django_assert_max_num_queries
):
    from fleet.snapshots import snapshots
    from models_registry.models import TaskOption
    from tests.factories import ModelEntryFactory

    page(browser)  # warm caches (content types, sessions)
    snapshots.clear()  # both measured pages build the status document
    with django_assert_max_num_queries(30) as before:
        page(browser)
    task = Task.objects.get(name="object_detection")
    for position in range(20):
        TaskOption.objects.create(task=task, model=ModelEntryFactory(), position=100 + position)
    snapshots.clear()
    with django_assert_max_num_queries(len(before.captured_queries)):
        page(browser)


def test_an_empty_registry_still_renders(browser):
    ModelEntry.objects.all().delete()
    assert "The registry holds no models." in page(browser)


def test_the_confirmation_weighs_the_whole_selection_not_the_one_task(staff):
    # 8 GB: the summarization model already selected fills it, so even a small
    # detector tips the selection over; the detector alone would fit.
    DeviceFactory(name="sim:8", total_memory_mb=8192, budget_mb=6553)
    response = staff.post(
        "/dashboard/select", {"task_type": "object_detection", "model_name": "yolov8n"}
    )
    assert "confirm_model=yolov8n" in response["Location"]
    confirm = text(page(staff, response["Location"]))
    assert "yolov8n for object_detection would not fit: Total required VRAM" in confirm
    assert "Select anyway" in confirm

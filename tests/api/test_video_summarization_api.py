"""POST /api/models/infer?task_type=video_summarization: several frames and a prompt,
summarized by the selected server-run or external option through a worker, against a
local stand-in for the endpoint; its latency recorded like any model's; an option
nobody configured refused at once, naming what to set; the frames' limits held."""

from __future__ import annotations

import base64
import io

import pytest
from PIL import Image

from inference import run
from inference.models import InferenceFrame, InferenceRequest, WorkStatus
from inference.runtime.zoo import ModelZoo
from latency.models import LatencySample, SampleKind
from latency.recorder import LatencyRecorder
from models_registry.models import ModelEntry, Task
from tests.fakes import FakeLoader, ThreadedMessages
from tests.provider_stand_in import provider_stand_in
from tests.servers import wait_for

pytestmark = pytest.mark.subprocess

URL = "/api/models/infer?task_type=video_summarization"


def frame_bytes(shade: int, size: tuple[int, int] = (64, 48)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, (shade, 255 - shade, 80)).save(buffer, format="PNG")
    return buffer.getvalue()


def frames_b64(count: int = 3, size: tuple[int, int] = (64, 48)) -> list[str]:
    return [base64.b64encode(frame_bytes(40 * i, size)).decode() for i in range(count)]


@pytest.fixture
def worker(django_db_serialized_rollback, transactional_db, monkeypatch):
    """A worker's model zoo and latency recorder, serving each inference message in a
    thread as the worker's message handler does, then storing its latency samples."""
    zoo = ModelZoo()
    recorder = LatencyRecorder()
    zoo.configure(
        "sim:43", total_memory_mb=8192, worker="test", loader=FakeLoader(),
        on_inference=recorder.inference, on_load=recorder.load,
    )  # fmt: skip
    recorder.worker, recorder.device_id = zoo.worker, zoo.device.pk

    def serve(request_id: int) -> None:
        run.inference_serve(request_id=request_id, zoo=zoo)
        recorder.flush()

    messages = ThreadedMessages(monkeypatch, serve)
    zoo.threads = messages.threads  # type: ignore[attr-defined]
    yield zoo
    messages.join()
    zoo.close()


def worker_done(zoo: ModelZoo) -> None:
    """Wait until every message delivered to the worker is served (its samples stored)."""
    for thread in zoo.threads:  # type: ignore[attr-defined]
        thread.join(timeout=30)


@pytest.fixture
def stand_in():
    with provider_stand_in() as running:
        yield running


@pytest.fixture
def scout_server(settings, stand_in):
    """llama-4-scout (the task's default selection) served by the stand-in."""
    settings.ZOO_SERVER_URLS = {"LLAMA_4_SCOUT": f"{stand_in.url}/v1"}
    return stand_in


def select(name: str) -> None:
    Task.objects.filter(name="video_summarization").update(
        selected=ModelEntry.objects.get(name=name)
    )


def test_three_frames_are_summarized_by_the_server_and_the_latency_recorded(
    worker, staff_api, scout_server
):
    sent = frames_b64(3)

    response = staff_api.post(URL, {"frames": sent, "prompt": "Who comes and goes?"}, format="json")

    assert response.status_code == 200, response.json()
    body = response.json()
    assert body["model_name"] == "llama-4-scout"
    assert body["result"] == {
        "summary": scout_server.summary,
        "frames": 3,
        "model": "meta-llama/Llama-4-Scout",
        "provider": "server",
    }
    assert body["cold"] is False and body["inference_time"] > 0
    (call,) = scout_server.calls("/v1/chat/completions")
    content = call.body["messages"][0]["content"]
    assert content[0] == {"type": "text", "text": "Who comes and goes?"}
    urls = [part["image_url"]["url"] for part in content[1:]]
    assert urls == [f"data:image/png;base64,{data}" for data in sent]
    # The worker stores its samples once the task ends, just after the answer.
    sample = wait_for(lambda: LatencySample.objects.filter(model__name="llama-4-scout").first(), 10)
    assert sample.kind == SampleKind.INFERENCE and sample.cold is False
    assert sample.duration_ms > 0
    stored = InferenceRequest.objects.get(pk=body["request_id"])
    assert bytes(stored.image) == b"" and not InferenceFrame.objects.exists()  # released


def test_an_unconfigured_server_option_is_a_503_naming_what_to_set(worker, staff_api):
    response = staff_api.post(URL, {"frames": frames_b64(3)}, format="json")

    message = (
        "Model 'llama-4-scout' has no server URL: set ZOO_SERVER_URL_LLAMA_4_SCOUT or the "
        "entry's server URL in the admin"
    )
    assert response.status_code == 503
    assert response.json() == {"error": message, "detail": message}
    assert not InferenceRequest.objects.exists()  # nothing queued


def test_the_admins_server_url_serves_frames_sent_as_multipart_parts(worker, staff_api, stand_in):
    ModelEntry.objects.filter(name="llama-4-scout").update(server_url=f"{stand_in.url}/v1")
    parts = []
    for shade in (0, 100, 200):
        upload = io.BytesIO(frame_bytes(shade))
        upload.name = f"frame{shade}.png"
        parts.append(upload)

    response = staff_api.post(URL, {"frames": parts, "prompt": "Describe it"}, format="multipart")

    assert response.status_code == 200, response.json()
    assert response.json()["result"]["frames"] == 3
    (call,) = stand_in.calls("/v1/chat/completions")
    assert len(call.body["messages"][0]["content"]) == 4


def test_gpt_4o_is_called_through_its_sdk_with_the_key_from_the_environment(
    worker, staff_api, stand_in, settings
):
    settings.ZOO_PROVIDERS = {
        **settings.ZOO_PROVIDERS,
        "openai": {"key_variable": "OPENAI_API_KEY", "api_key": "sk-test",
                   "base_url": f"{stand_in.url}/v1"},
    }  # fmt: skip
    select("gpt-4o")

    response = staff_api.post(URL, {"frames": frames_b64(2)}, format="json")

    assert response.status_code == 200, response.json()
    assert response.json()["result"]["provider"] == "openai"
    (call,) = stand_in.calls("/v1/chat/completions")
    assert call.headers["authorization"] == "Bearer sk-test"
    assert call.body["model"] == "gpt-4o"
    assert wait_for(lambda: LatencySample.objects.filter(model__name="gpt-4o").exists(), 10)


def test_claude_without_a_key_is_a_503_naming_its_variable(worker, staff_api, settings):
    settings.ZOO_PROVIDERS = {
        **settings.ZOO_PROVIDERS,
        "anthropic": {"key_variable": "ANTHROPIC_API_KEY", "api_key": "", "base_url": ""},
    }
    select("claude")

    response = staff_api.post(URL, {"frames": frames_b64(2)}, format="json")

    assert response.status_code == 503
    assert response.json()["error"] == "Model 'claude' has no API key: set ANTHROPIC_API_KEY"


def test_claude_is_called_through_its_sdk(worker, staff_api, stand_in, settings):
    settings.ZOO_PROVIDERS = {
        **settings.ZOO_PROVIDERS,
        "anthropic": {"key_variable": "ANTHROPIC_API_KEY", "api_key": "sk-ant",
                      "base_url": stand_in.url},
    }  # fmt: skip
    select("claude")

    response = staff_api.post(URL, {"frames": frames_b64(3), "prompt": "Hi"}, format="json")

    assert response.status_code == 200, response.json()
    assert response.json()["result"]["summary"] == stand_in.summary
    (call,) = stand_in.calls("/v1/messages")
    assert call.body["model"] == "claude-sonnet-5-5"
    assert [b["type"] for b in call.body["messages"][0]["content"]] == ["image"] * 3 + ["text"]


def test_a_server_that_does_not_answer_in_time_is_a_503_and_a_failed_request(
    worker, staff_api, scout_server, settings
):
    settings.ZOO_REMOTE_TIMEOUT_S = 0.5
    scout_server.delay_s = 2.0

    response = staff_api.post(URL, {"frames": frames_b64(2)}, format="json")

    assert response.status_code == 503
    error = response.json()["error"]
    assert error.startswith(f"Model service unavailable: llama-4-scout at {scout_server.url}/v1")
    stored = InferenceRequest.objects.get()
    assert (stored.status, stored.error, stored.unavailable) == (WorkStatus.FAILED, error, True)
    worker_done(worker)
    assert not LatencySample.objects.exists()  # a call that gave nothing is no latency


def test_a_server_error_is_a_500_with_its_message(worker, staff_api, scout_server):
    scout_server.status, scout_server.error = 400, "too many images in one request"

    response = staff_api.post(URL, {"frames": frames_b64(2)}, format="json")

    assert response.status_code == 500
    assert "too many images in one request" in response.json()["error"]
    assert response.json()["error"].startswith("Inference failed: llama-4-scout at ")


@pytest.mark.parametrize(
    ("url", "body", "message"),
    [
        (URL, {"frames": frames_b64(17)}, "frames: 17 frames, more than the 16 allowed"),
        (URL, {"frames": frames_b64(1), "image": frames_b64(1)[0]}, "image: give either"),
        (URL, {"frames": frames_b64(2), "prompt": "x" * 4001}, "prompt: is 4001 characters"),
        (URL, {"frames": [frames_b64(1)[0], "bm9wZQ=="]}, "frames[1]: is not a decodable"),
        (
            "/api/models/infer?task_type=object_detection",
            {"frames": frames_b64(2)},
            "frames: only video_summarization takes several frames",
        ),
    ],
)
def test_frames_past_their_limits_are_a_400_saying_which(
    worker, staff_api, scout_server, url, body, message
):
    response = staff_api.post(url, body, format="json")

    assert response.status_code == 400
    assert response.json()["error"].startswith(message)
    assert not scout_server.seen


def test_frames_together_past_the_request_pixels_are_a_400(
    worker, staff_api, scout_server, settings
):
    settings.ZOO_MAX_REQUEST_PIXELS = 3 * 64 * 48 - 1

    response = staff_api.post(URL, {"frames": frames_b64(3)}, format="json")

    assert response.status_code == 400
    assert response.json()["error"] == (
        f"frames: {3 * 64 * 48} pixels together, more than the {3 * 64 * 48 - 1} allowed "
        "(ZOO_MAX_REQUEST_PIXELS)"
    )


def test_a_local_option_takes_one_image_not_several(worker, staff_api):
    select("llava-next-7b")

    response = staff_api.post(URL, {"frames": frames_b64(2)}, format="json")

    assert response.status_code == 400
    assert response.json()["error"] == (
        "Model 'llava-next-7b' runs here on one image; 2 frames need a server-run or "
        "external API option"
    )

"""Remote models through their official SDKs, against a local stand-in speaking each
provider's wire format: the frames and the prompt reach the endpoint in the provider's
shape, the summary comes back, and a provider that errs, refuses or is too slow is one of
the two failures, with a message saying which model and where."""

from __future__ import annotations

import base64
import io

import pytest
from PIL import Image

from inference.engine.remote import (
    RemoteFailed,
    RemoteTarget,
    RemoteUnavailable,
    server_answers,
    summarize,
)
from tests.provider_stand_in import StandIn, provider_stand_in


def frame(shade: int) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (32, 24), (shade, shade, shade)).save(buffer, format="PNG")
    return buffer.getvalue()


FRAMES = [frame(10), frame(120), frame(240)]


@pytest.fixture
def stand_in():
    with provider_stand_in() as running:
        yield running


def target(stand_in: StandIn, provider: str, **changes) -> RemoteTarget:
    base = {
        "server": f"{stand_in.url}/v1",
        "openai": f"{stand_in.url}/v1",
        "anthropic": stand_in.url,
        "google": stand_in.url,
    }[provider]
    fields = {
        "name": f"{provider}-option",
        "provider": provider,
        "model": "the-model",
        "base_url": base,
        "api_key": "test-key",
        "timeout_s": 5.0,
        **changes,
    }
    return RemoteTarget(**fields)


def test_a_server_option_sends_every_frame_as_a_data_url_and_the_prompt(stand_in):
    answer = summarize(target(stand_in, "server"), FRAMES, "What happens?")

    assert answer == {
        "summary": stand_in.summary,
        "frames": 3,
        "model": "the-model",
        "provider": "server",
    }
    (call,) = stand_in.calls("/v1/chat/completions")
    content = call.body["messages"][0]["content"]
    assert call.body["model"] == "the-model"
    assert content[0] == {"type": "text", "text": "What happens?"}
    urls = [part["image_url"]["url"] for part in content[1:]]
    assert urls == [f"data:image/png;base64,{base64.b64encode(f).decode()}" for f in FRAMES]


def test_gpt_4o_goes_through_the_openai_sdk_with_its_key(stand_in):
    answer = summarize(target(stand_in, "openai"), FRAMES, "")

    assert answer["summary"] == stand_in.summary
    (call,) = stand_in.calls("/v1/chat/completions")
    assert call.headers["authorization"] == "Bearer test-key"
    assert len(call.body["messages"][0]["content"]) == 4  # the default prompt, 3 frames


def test_claude_goes_through_the_anthropic_sdk_as_base64_image_blocks(stand_in):
    answer = summarize(target(stand_in, "anthropic"), FRAMES, "Summarize", max_tokens=200)

    assert answer["summary"] == stand_in.summary
    (call,) = stand_in.calls("/v1/messages")
    # The key travels as the SDK sends it (x-api-key, or a bearer token in newer ones).
    assert "test-key" in (call.headers.get("x-api-key") or call.headers["authorization"])
    assert call.body["max_tokens"] == 200
    blocks = call.body["messages"][0]["content"]
    assert [b["type"] for b in blocks] == ["image", "image", "image", "text"]
    assert blocks[1]["source"] == {
        "type": "base64",
        "media_type": "image/png",
        "data": base64.b64encode(FRAMES[1]).decode(),
    }
    assert blocks[3]["text"] == "Summarize"


def test_gemini_goes_through_the_google_genai_sdk_as_inline_data(stand_in):
    answer = summarize(target(stand_in, "google"), FRAMES, "Summarize")

    assert answer["summary"] == stand_in.summary
    (call,) = stand_in.calls(":generateContent")
    assert "/models/the-model:generateContent" in call.path
    assert call.headers["x-goog-api-key"] == "test-key"
    parts = [p for content in call.body["contents"] for p in content["parts"]]
    inline = [p["inlineData"] for p in parts if "inlineData" in p]
    assert [base64.urlsafe_b64decode(p["data"]) for p in inline] == FRAMES
    assert {"text": "Summarize"} in parts


@pytest.mark.parametrize("provider", ["server", "openai", "anthropic", "google"])
def test_a_provider_error_is_a_failure_with_its_message(stand_in, provider):
    stand_in.status, stand_in.error = 400, "image too small to read"

    with pytest.raises(RemoteFailed) as failure:
        summarize(target(stand_in, provider), FRAMES, "")

    assert "image too small to read" in str(failure.value)
    assert str(failure.value).startswith(f"{provider}-option at {target(stand_in, provider).where}")


@pytest.mark.parametrize("provider", ["server", "anthropic", "google"])
def test_a_provider_too_slow_is_unavailable_at_the_timeout(stand_in, provider):
    stand_in.delay_s = 2.0

    with pytest.raises(RemoteUnavailable) as failure:
        summarize(target(stand_in, provider, timeout_s=0.5), FRAMES, "")

    assert "did not answer" in str(failure.value)


def test_a_server_nobody_listens_on_is_unavailable(stand_in):
    gone = target(stand_in, "server", base_url="http://127.0.0.1:9/v1")

    with pytest.raises(RemoteUnavailable) as failure:
        summarize(gone, FRAMES, "")

    assert str(failure.value).startswith("server-option at http://127.0.0.1:9/v1 did not answer")


def test_an_overloaded_provider_is_unavailable_not_failed(stand_in):
    stand_in.status = 503

    with pytest.raises(RemoteUnavailable):
        summarize(target(stand_in, "openai"), FRAMES, "")


def test_the_probe_sees_a_server_that_answers_and_one_that_does_not(stand_in):
    assert server_answers(f"{stand_in.url}/v1") is True
    assert server_answers("http://127.0.0.1:9/v1", timeout_s=0.5) is False

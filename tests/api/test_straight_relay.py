"""A relayed stream's body is read straight from its socket (huggingface/body.py): whatever way the bytes come
(a byte at a time, cut inside a frame, close-delimited, broken framing, silence, a drip past the deadline) the
caller gets the upstream's events whole and the stream ends truthfully; a clean end gives the connection back."""

import json
import time

import pytest
from django.test import Client

from providers.models import Task
from tests.conftest import create_endpoint_model

pytestmark = pytest.mark.django_db
ASK = [{"role": "user", "content": "hi"}]


def relayed(faulty, mode):
    return create_endpoint_model(
        faulty.base, f"{mode} chat", task=Task.CHAT, path=f"/{mode}", engine="vllm", served_model="m"
    )


def opened(key, model):
    client = Client(HTTP_AUTHORIZATION=f"Bearer {key}")
    body = {"model": model.api_id, "messages": ASK, "stream": True}
    response = client.post("/v1/chat/completions", json.dumps(body), content_type="application/json")
    assert response.status_code == 200
    return response


def stream(key, model):
    return b"".join(opened(key, model).streaming_content).decode()


def events(raw):
    return [json.loads(part[6:]) for part in raw.split("\n\n") if part.startswith("data: {")]


def text_of(raw):
    return "".join(e["choices"][0]["delta"].get("content") or "" for e in events(raw) if e.get("choices"))


def error_of(raw):
    return next(e["error"] for e in events(raw) if "error" in e)


def test_a_stream_written_a_byte_at_a_time_arrives_whole(faulty, member_key):
    # Every read may end inside a chunk's size line (with an extension), an event, a line end or the trailer.
    raw = stream(member_key, relayed(faulty, "drip_chunked"))
    assert text_of(raw) == "The sky is blue"
    assert events(raw)[-1]["choices"][0]["finish_reason"] == "length"
    assert raw.endswith("data: [DONE]\n\n") and '"error"' not in raw


def test_a_close_delimited_stream_is_complete_at_its_final_event(faulty, member_key):
    raw = stream(member_key, relayed(faulty, "close_delimited"))
    assert text_of(raw) == "The sky is blue because"
    assert raw.endswith("data: [DONE]\n\n") and '"error"' not in raw


@pytest.mark.parametrize("mode", ["cut_close", "bad_chunk", "long_size_line"])
def test_a_stream_cut_or_broken_inside_its_framing_ends_as_lost(faulty, member_key, mode):
    raw = stream(member_key, relayed(faulty, mode))
    assert text_of(raw).startswith("The sky")  # what came before the cut is kept
    assert error_of(raw)["code"] == "connection_lost"
    assert raw.endswith("data: [DONE]\n\n")


def test_silence_after_a_token_ends_at_the_read_timeout_with_keep_alives_meanwhile(faulty, member_key, settings):
    settings.HF_READ_TIMEOUT = 2.5
    started = time.monotonic()
    raw = stream(member_key, relayed(faulty, "silent"))
    took = time.monotonic() - started
    assert text_of(raw) == "The" and error_of(raw)["code"] == "timeout"
    assert ": keep-alive" in raw or ": " in raw.split("data: {", 2)[-1]  # the caller heard from the console
    assert 2.4 < took < 6, took


def test_a_drip_past_the_deadline_ends_at_the_deadline(faulty, member_key, settings):
    # One byte every 0.2 s: each read brings something, so only the wall clock can end it.
    settings.HF_GENERATION_TIMEOUT = 2.0
    started = time.monotonic()
    raw = stream(member_key, relayed(faulty, "drip_sse"))
    took = time.monotonic() - started
    assert error_of(raw)["code"] == "timeout"
    assert took < 4.5, took


def test_a_relayed_stream_gives_its_connection_back_at_its_end(hf, member_key, provider_token):
    hf.add_engine("vllm", "vllm")
    model = create_endpoint_model(hf.base, display_name="vllm chat", task=Task.CHAT, path="/srv/vllm")
    for _ in range(3):
        assert text_of(stream(member_key, model))
    calls = [r for r in hf.requests if r["path"].endswith("/chat/completions")]
    assert len(calls) == 3
    assert len({r["client"] for r in calls}) == 1, [r["client"] for r in calls]  # one connection for all three


def stalled_stream(key, model, stall):
    """The first event, then the caller stops reading for `stall` seconds (a client busy elsewhere), then the rest."""
    chunks = iter(opened(key, model).streaming_content)
    first = next(c for c in chunks if c.startswith(b"data: {"))
    time.sleep(stall)
    return (first + b"".join(chunks)).decode()


def test_an_answer_that_came_in_time_reaches_a_caller_who_read_it_late(faulty, member_key, settings):
    # Five events 50 ms apart, all there well before the deadline; the caller comes back after it.
    settings.HF_GENERATION_TIMEOUT = 1.0
    raw = stalled_stream(member_key, relayed(faulty, "close_delimited"), 1.5)
    assert text_of(raw) == "The sky is blue because" and '"error"' not in raw
    assert raw.endswith("data: [DONE]\n\n")


def test_a_caller_who_stops_reading_longer_than_the_read_timeout_is_not_told_the_server_went_silent(
    faulty, member_key, settings
):
    settings.HF_READ_TIMEOUT = 0.5
    raw = stalled_stream(member_key, relayed(faulty, "close_delimited"), 1.0)
    assert text_of(raw) == "The sky is blue because" and '"error"' not in raw

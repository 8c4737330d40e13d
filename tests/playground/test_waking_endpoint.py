"""A member's run on a scaled-to-zero Inference Endpoint wakes it and says so while it waits; a paused one is told
as paused (and who may resume it), one that never wakes ends within HF_SCALE_UP_TIMEOUT, in words."""

import json
import time

import pytest
from django.urls import reverse

from providers.models import PlaygroundRun, RunStatus
from tests.conftest import create_endpoint_model

pytestmark = pytest.mark.django_db


@pytest.fixture
def tgi_model(hf, provider_token):
    return create_endpoint_model(hf.base, engine="tgi")  # tested before: its engine is known


def run(client, model, stream=True):
    data = {"model": model.pk, "prompt": "Why is the sky blue", "max_new_tokens": "4"}
    if stream:
        data["stream"] = "on"
    response = client.post(reverse("playground_run"), data)
    body = b"".join(response.streaming_content) if response.streaming else response.content
    return [json.loads(line) for line in body.decode().splitlines() if line.strip()]


@pytest.mark.parametrize("stream", [True, False])
def test_a_members_run_wakes_the_endpoint_and_shows_the_wait(hf, member_client, tgi_model, stream):
    hf.add_endpoint("tgi", state="scaled_to_zero", wake_seconds=2.5)
    events = run(member_client, tgi_model, stream)
    waking = [e for e in events if e["type"] == "wait" and e["for"] == "wake"]
    assert len(waking) >= 2, events
    assert waking[0]["waited_ms"] <= 1500  # said at the first second of silence after the waking began
    assert waking[-1]["waited_ms"] > waking[0]["waited_ms"]  # and counted up
    assert waking[0]["limit_s"] == 8
    assert events[-1]["type"] == "done", events[-1]
    assert "".join(e.get("text", "") for e in events if e["type"] == "token").endswith("The sky is blue")
    assert PlaygroundRun.objects.get().status == RunStatus.OK


def test_a_paused_endpoint_says_paused_and_who_resumes_it(hf, member_client, tgi_model):
    hf.add_endpoint("tgi", state="paused")
    events = run(member_client, tgi_model)
    error = events[-1]["error"]
    assert error["category"] == "endpoint_paused"
    assert error["title"] == "Endpoint paused"
    assert "resume" in error["advice"] and "admin" in error["advice"]
    shown = json.dumps(error)
    assert "Invalid state" not in shown and "Service Unavailable" not in shown and "400" not in error["message"]
    assert not [e for e in events if e["type"] == "wait" and e.get("for") == "wake"]
    assert hf.endpoints["tgi"]["state"] == "paused"


def test_a_paused_endpoint_in_chinese(hf, member_client, tgi_model):
    hf.add_endpoint("tgi", state="paused")
    member_client.cookies["django_language"] = "zh-hans"
    error = run(member_client, tgi_model)[-1]["error"]
    assert error["title"] != "Endpoint paused" and not error["advice"].isascii()


def test_an_endpoint_that_never_wakes_ends_in_words_within_the_bound(hf, member_client, tgi_model, settings):
    settings.HF_SCALE_UP_TIMEOUT = 2
    hf.add_endpoint("tgi", state="scaled_to_zero", wake_seconds=None)
    started = time.monotonic()
    events = run(member_client, tgi_model)
    took = time.monotonic() - started
    assert 2 <= took < 6
    error = events[-1]["error"]
    assert (error["category"], error["title"]) == ("endpoint_waking", "Endpoint still waking")
    assert "2 seconds" in error["message"]
    run_row = PlaygroundRun.objects.get()
    assert run_row.status == RunStatus.FAILED and run_row.error_category == "endpoint_waking"


def test_a_failed_endpoint_is_told_apart_from_a_cold_one(hf, member_client, tgi_model):
    hf.add_control_endpoint("alice", "tgi", state="failed", url_when_failed=True)
    events = run(member_client, tgi_model)
    error = events[-1]["error"]
    assert error["category"] == "endpoint_failed" and error["title"] == "Endpoint failed"
    assert "Service Unavailable" not in json.dumps(error)
    assert not [e for e in events if e["type"] == "wait" and e.get("for") == "wake"]
    assert PlaygroundRun.objects.get().status == RunStatus.FAILED

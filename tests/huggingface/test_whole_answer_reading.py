"""Whole answers read without the helper thread keep the deadline, size limit and freed connection.

Whole answers read without the helper thread (generate(..., heartbeats=False), the API's whole answers): the
deadline, the size limit and the freed connection hold as with the pump; the items are the same."""

import json
import time

import pytest
from django.test import Client

from providers.api import keys
from providers.huggingface import adapters, generation, reader, transport
from providers.huggingface.errors import HFError
from tests.conftest import create_endpoint_model, wait_for

pytestmark = pytest.mark.django_db


@pytest.fixture
def no_pump(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("a whole answer without heartbeats must not start a reader thread")

    monkeypatch.setattr(generation, "Reader", refuse)


def target_at(faulty, mode):
    return generation.Target("inference_endpoint", "text-generation", endpoint_url=f"{faulty.base}/{mode}")


def test_the_same_items_as_with_the_pump(hf, endpoint_model, monkeypatch):
    from providers.api import catalog

    entry = catalog.find("my tgi", 0)
    with_pump = list(generation.generate(catalog.target(entry, transport.Deadline(10)), {}, prompt="hi"))
    monkeypatch.setattr(generation, "Reader", None)  # calling it now would fail
    inline = list(generation.generate(catalog.target(entry, transport.Deadline(10)), {}, prompt="hi", heartbeats=False))
    assert inline == with_pump and isinstance(inline[-1], adapters.Finish) and isinstance(inline[0], str)


def test_a_dripped_whole_answer_ends_at_the_deadline_and_frees_the_connection(faulty, no_pump):
    started = time.monotonic()
    gen = generation.generate(
        target_at(faulty, "drip"), {}, prompt="hi", deadline=transport.Deadline(2), heartbeats=False
    )
    with pytest.raises(HFError) as caught:
        for item in gen:
            assert item is not reader.IDLE
    assert caught.value.category == "timeout" and "2 seconds" in caught.value.message
    assert 1.8 < time.monotonic() - started < 3.5
    assert wait_for(lambda: len(faulty.closed("drip")) == 1, 2)


def test_an_oversized_whole_answer_keeps_what_fit(faulty, no_pump, settings):
    settings.HF_MAX_ANSWER_BYTES = 100_000
    gen = generation.generate(target_at(faulty, "big_json"), {}, prompt="hi", heartbeats=False)
    kept = next(gen)
    assert kept.startswith("blah blah") and 99_000 < len(kept) < 100_000
    with pytest.raises(HFError) as caught:
        next(gen)
    assert caught.value.category == "answer_too_large"
    assert wait_for(lambda: len(faulty.closed("big_json")) == 1, 2)


def test_a_stream_answering_a_whole_request_is_still_read_within_the_deadline(faulty):
    started = time.monotonic()
    gen = generation.generate(
        target_at(faulty, "silent_start"), {}, prompt="hi", deadline=transport.Deadline(1.5), heartbeats=False
    )
    with pytest.raises(HFError) as caught:
        list(gen)
    assert caught.value.category == "timeout" and time.monotonic() - started < 3


def test_the_api_answers_a_dripped_whole_answer_with_a_timeout_error(faulty, member_user, provider_token, settings):
    settings.HF_GENERATION_TIMEOUT = 2
    create_endpoint_model(faulty.base, "drip model", path="/drip")
    key = keys.create(member_user, "script")[1]
    started = time.monotonic()
    response = Client(HTTP_AUTHORIZATION=f"Bearer {key}").post(
        "/v1/completions", json.dumps({"model": "drip model", "prompt": "hi"}), content_type="application/json"
    )
    assert time.monotonic() - started < 3.5
    assert response.status_code == 504 and response.json()["error"]["code"] == "timeout"

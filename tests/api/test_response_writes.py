"""How a /v1/ answer leaves: a whole answer as one framed body, events that came in one read as one write."""

import json

import pytest

pytestmark = pytest.mark.django_db


def test_a_whole_api_answer_has_its_length_and_no_chunks(hf, member_user, chat_model):
    from django.test import Client

    from providers.api import keys

    member_key = keys.create(member_user, "script")[1]
    response = Client().post(
        "/v1/chat/completions",
        {"model": "llama-chat", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 4},
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {member_key}",
    )
    assert response.status_code == 200
    assert response["Content-Length"] == str(len(response.content))


def test_api_events_that_came_in_one_read_leave_in_one_write(faulty, member_user):
    from django.test import Client

    from providers.api import keys
    from tests.playground.test_run_truth import model_at

    model = model_at(faulty, "burst")
    key = keys.create(member_user, "script")[1]
    response = Client().post(
        "/v1/completions",
        {"model": model.api_id, "prompt": "hi", "stream": True},
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {key}",
    )
    chunks = list(response.streaming_content)
    body = b"".join(chunks).decode()
    texts = [json.loads(part[6:])["choices"][0]["text"] for part in body.split("\n\n") if part.startswith("data: {")]
    assert "".join(texts) == "The sky is blue because molecules" and body.endswith("data: [DONE]\n\n")
    assert len(chunks) <= 3, chunks


def test_relayed_reads_queued_behind_a_busy_caller_leave_as_they_came_in_one_write(faulty, member_user):
    """A server behind its upstreams (a thousand streams) takes what came meanwhile in one piece: the events pass
    through unparsed and leave in one write, not one write per read."""
    import time

    from django.test import Client

    from providers.api import keys
    from tests.conftest import create_endpoint_model

    create_endpoint_model(faulty.base, "queued", task="chat", path="/queued", engine="vllm", served_model="m")
    key = keys.create(member_user, "script")[1]
    response = Client().post(
        "/v1/chat/completions",
        {"model": "queued", "messages": [{"role": "user", "content": "hi"}], "stream": True},
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {key}",
    )
    chunks = iter(response.streaming_content)
    first = next(chunks)
    time.sleep(0.5)  # the caller is busy: the other reads wait, each in the reader's queue
    rest = list(chunks)
    queued = b"".join(
        b"data: " + json.dumps({"object": "chat.completion.chunk", "choices": [choice(i)]}).encode() + b"\n\n"
        for i in range(2, 10)
    )
    assert b'"content": "The"' in first
    # Byte for byte as the upstream wrote them (its JSON has spaces), with the final event, in one piece; then [DONE].
    assert rest[0].startswith(queued) and b'"finish_reason": "length"' in rest[0][len(queued) :], rest
    assert rest[1:] == [b"data: [DONE]\n\n"]


def choice(index):
    from tests.fault_upstream import WORDS

    return {"index": 0, "delta": {"content": " " + WORDS[(index - 1) % len(WORDS)]}, "finish_reason": None}

"""/v1/ calls wake a scaled-to-zero Inference Endpoint, as the openai package makes them: a whole answer waits within
HF_SCALE_UP_TIMEOUT; a stream starts at once, its comments saying the endpoint wakes, then the answer. A paused
endpoint answers 503 at once with words and no retry; one that never wakes ends within the bound."""

import time

import openai
import pytest
import requests

from tests.conftest import create_endpoint_model

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def client(settled_live_server, member_key):
    with openai.OpenAI(
        base_url=settled_live_server.url + "/v1", api_key=member_key, max_retries=0, timeout=30
    ) as client:
        yield client  # closed before the server is waited on: a kept-alive connection holds its request thread


@pytest.fixture
def models(hf, provider_token):
    create_endpoint_model(hf.base, display_name="paced", engine="tgi")
    create_endpoint_model(hf.base, display_name="tgi chat", task="chat", engine="tgi")


def test_a_whole_completion_waits_for_the_endpoint_to_wake(hf, client, models):
    hf.add_endpoint("tgi", state="scaled_to_zero", wake_seconds=2)
    started = time.monotonic()
    answer = client.completions.create(model="paced", prompt="Why is the sky blue", max_tokens=4)
    assert time.monotonic() - started >= 2
    assert answer.choices[0].text.endswith("The sky is blue")


def test_a_whole_chat_answer_waits_for_the_endpoint_to_wake(hf, client, models):
    hf.add_endpoint("tgi", state="scaled_to_zero", wake_seconds=1.5)
    answer = client.chat.completions.create(
        model="tgi chat", messages=[{"role": "user", "content": "Hi"}], max_tokens=4
    )
    assert answer.choices[0].message.content


def test_a_streamed_chat_wakes_the_endpoint(hf, client, models):
    hf.add_endpoint("tgi", state="scaled_to_zero", wake_seconds=2)
    stream = client.chat.completions.create(
        model="tgi chat", messages=[{"role": "user", "content": "Hi"}], max_tokens=4, stream=True
    )
    text = "".join(chunk.choices[0].delta.content or "" for chunk in stream if chunk.choices)
    assert text


@pytest.mark.parametrize(
    "route, body",
    [
        ("completions", {"model": "paced", "prompt": "Why is the sky blue"}),  # generated, then put in OpenAI's shape
        ("chat/completions", {"model": "tgi chat", "messages": [{"role": "user", "content": "Why is the sky blue"}]}),
    ],
)
def test_a_stream_starts_at_once_and_says_it_wakes_the_endpoint(
    hf, settled_live_server, member_key, models, route, body
):
    """The chat call is relayed as sent (api/relay.py), the completion generated (api/views.py): both say it."""
    hf.add_endpoint("tgi", state="scaled_to_zero", wake_seconds=3)
    started = time.monotonic()
    response = requests.post(
        settled_live_server.url + "/v1/" + route,
        json={**body, "max_tokens": 4, "stream": True},
        headers={"Authorization": f"Bearer {member_key}"},
        stream=True,
        timeout=30,
    )
    assert response.status_code == 200 and time.monotonic() - started < 2.5  # headers before the endpoint is up
    lines = [line for line in response.iter_lines(decode_unicode=True) if line]
    waking = [line for line in lines if line == ": waking the endpoint"]
    assert len(waking) >= 2, lines
    assert lines.index(waking[0]) < min(i for i, line in enumerate(lines) if line.startswith("data:"))
    assert lines[-1] == "data: [DONE]" and not any('"error"' in line for line in lines), lines


def test_a_paused_endpoint_is_503_with_words_and_no_retry(hf, client, models):
    hf.add_endpoint("tgi", state="paused")
    with pytest.raises(openai.APIStatusError) as info:
        client.completions.create(model="paced", prompt="Why is the sky blue", max_tokens=4)
    error = info.value
    assert error.status_code == 503 and error.response.headers["x-should-retry"] == "false"
    assert error.body["code"] == "endpoint_paused"
    assert "resume" in error.body["fix"] and "Invalid state" not in error.body["message"]


def test_a_stream_from_an_endpoint_that_never_wakes_ends_with_words_within_the_bound(hf, client, models, settings):
    settings.HF_SCALE_UP_TIMEOUT = 2
    hf.add_endpoint("tgi", state="scaled_to_zero", wake_seconds=None)
    started = time.monotonic()
    with pytest.raises(openai.APIError) as info:
        for _chunk in client.completions.create(model="paced", prompt="Why", max_tokens=4, stream=True):
            pass
    assert 2 <= time.monotonic() - started < 6
    assert "did not become ready within 2 seconds" in info.value.message or "not ready in time" in info.value.message


def test_a_whole_answer_from_an_endpoint_that_never_wakes_is_503_within_the_bound(hf, client, models, settings):
    settings.HF_SCALE_UP_TIMEOUT = 2
    hf.add_endpoint("tgi", state="scaled_to_zero", wake_seconds=None)
    started = time.monotonic()
    with pytest.raises(openai.APIStatusError) as info:
        client.completions.create(model="paced", prompt="Why", max_tokens=4)
    assert 2 <= time.monotonic() - started < 6
    assert info.value.status_code == 503 and info.value.body["code"] == "endpoint_waking"
    assert info.value.response.headers["x-should-retry"] == "true"


def test_embeddings_wait_for_a_scaled_to_zero_tei_endpoint(hf, client, provider_token):
    url = hf.add_engine("bge", "tei", model_id="BAAI/bge-base-en-v1.5")
    hf.engine_servers["bge"].update(state="scaled_to_zero", wake_seconds=1.5)  # behind the endpoints proxy
    model = create_endpoint_model(url, "bge", task="feature-extraction", path="", engine="tei")
    started = time.monotonic()
    answer = client.embeddings.create(model=model.api_id, input=["one", "two"])
    assert time.monotonic() - started >= 1.5
    assert [d.index for d in answer.data] == [0, 1] and answer.data[0].embedding
    assert hf.engine_servers["bge"]["state"] == "running"


@pytest.mark.parametrize("stream", [False, True])
def test_the_responses_api_waits_for_the_endpoint_too(hf, client, models, stream):
    hf.add_endpoint("tgi", state="scaled_to_zero", wake_seconds=2)
    if stream:
        events = list(client.responses.create(model="tgi chat", input="Hi", max_output_tokens=4, stream=True))
        # incomplete: cut at max_output_tokens, as OpenAI marks it; not failed
        assert events[-1].type in ("response.completed", "response.incomplete"), events[-1]
        assert events[-1].response.output_text
    else:
        assert client.responses.create(model="tgi chat", input="Hi", max_output_tokens=4).output_text


def test_a_failed_endpoint_is_503_named_failed_with_no_retry(hf, client, models):
    hf.add_control_endpoint("alice", "tgi", state="failed", url_when_failed=True)
    started = time.monotonic()
    with pytest.raises(openai.APIStatusError) as info:
        client.completions.create(model="paced", prompt="Why is the sky blue", max_tokens=4)
    error = info.value
    assert error.status_code == 503 and error.response.headers["x-should-retry"] == "false"
    assert error.body["code"] == "endpoint_failed" and "dashboard" in error.body["fix"]
    assert time.monotonic() - started < 5  # told at once, not after the scale-up wait

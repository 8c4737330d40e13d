"""Real clients nobody on the team wrote (openai, huggingface_hub) against the console served by gunicorn.

Two worker processes share one database, so revocation and the limits are checked across processes too.
"""

import json
import time

import openai
import pydantic
import pytest
import requests
from huggingface_hub import InferenceClient
from huggingface_hub.errors import HfHubHTTPError

from tests.conftest import PASSWORD, TOKEN
from tests.served import Console

SETUP = """
from providers.core import roles
from providers.models import HFModel, ProviderSettings
from django.contrib.auth.models import User
for name, role in (("mia", roles.MEMBER), ("ada", roles.ADMIN)):
    roles.set_role(User.objects.create_user(name, name + "@example.com", "{password}"), role)
provider = ProviderSettings.load()
provider.set_secret("api_token", "{token}")
provider.save()
HFModel.objects.create(display_name="llama chat", endpoint_type="inference_providers", task="chat",
                       repo_id="meta-llama/Llama-3.1-8B-Instruct")
HFModel.objects.create(display_name="paced", endpoint_type="inference_endpoint", task="text-generation",
                       endpoint_url="{base}/ep/tgi")
HFModel.objects.create(display_name="tgi chat", endpoint_type="inference_endpoint", task="chat",
                       endpoint_url="{base}/ep/tgi")
"""


MEMBER = """
from providers.core import roles
from django.contrib.auth.models import User
roles.set_role(User.objects.create_user("{name}", "{name}@example.com", "{password}"), roles.MEMBER)
"""
KEY_LIMITS = """
from providers.models import APIKey
key = APIKey.objects.get(prefix="{prefix}")
for name, value in dict({fields}).items():
    setattr(key, name, value)
key.save()
"""
REVOKE = """
from providers.api import keys
from providers.models import APIKey
keys.revoke(APIKey.objects.get(prefix="{prefix}"))
"""
DEACTIVATE = """
from django.contrib.auth.models import User
user = User.objects.get(username="temp")
user.is_active = False
user.save()
"""
LAST_CALL = """
from providers.models import APICall
call = APICall.objects.filter(key__prefix="{prefix}", route="chat").first()
print(call and (call.status, call.prompt_tokens, call.completion_tokens))
"""


@pytest.fixture(scope="module")
def served(emulator, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("api-served")
    env = {
        "API_LIMITS_DIR": str(tmp / "limits"),
        "HF_HUB_URL": emulator.hub_url,
        "HF_ROUTER_URL": emulator.router_url,
        "WEB_WORKERS": "2",
        "WEB_THREADS": "4",
        "API_MAX_KEYS_PER_USER": "0",  # every test makes its own key for the same person
    }
    console = Console(emulator, tmp, SETUP, env, token=TOKEN)
    manage = console.manage
    console.start()

    limited = iter(range(1, 1000))

    def new_key(user="mia", name="script", **limits):
        if limits and user == "mia":
            # A key's lowered limit holds for all of its owner's keys: a person of its own, so other tests' keys
            # are not limited by it.
            user = f"limited{next(limited)}"
            manage("shell", "-c", MEMBER.format(name=user, password=PASSWORD))
        key = manage("create_api_key", user, name).strip().splitlines()[-1]
        if limits:
            fields = ", ".join(f"{k}={v}" for k, v in limits.items())
            manage("shell", "-c", KEY_LIMITS.format(prefix=key[:12], fields=fields))
        return key

    try:
        yield {"url": console.url, "manage": manage, "new_key": new_key}
    finally:
        console.stop()


@pytest.fixture
def member(served, hf):
    return served["new_key"]()


def oai(served, key, **kwargs):
    return openai.OpenAI(base_url=served["url"] + "/v1", api_key=key, max_retries=0, timeout=20, **kwargs)


def test_create_api_key_prints_the_key_last(served):
    out = served["manage"]("create_api_key", "mia", "ci", "--expires", "7").strip().splitlines()
    assert out[-1].startswith("hfc_") and len(out[-1]) > 40
    assert out[-1] not in out[0] and out[-1][:12] in out[0]


def test_openai_lists_models(served, member):
    ids = [m.id for m in oai(served, member).models.list()]
    assert ids == ["llama-chat", "paced", "tgi-chat"]
    assert oai(served, member).models.retrieve("paced").id == "paced"


def test_openai_chat_whole_and_streamed(served, member):
    client = oai(served, member)
    messages = [{"role": "user", "content": "Say three words"}]
    whole = client.chat.completions.create(model="llama-chat", messages=messages, max_tokens=3)
    assert whole.choices[0].message.content and whole.choices[0].finish_reason == "length"
    assert whole.usage.completion_tokens == 3 and whole.usage.prompt_tokens == 3
    chunks = list(
        client.chat.completions.create(
            model="llama-chat", messages=messages, max_tokens=4, stream=True, stream_options={"include_usage": True}
        )
    )
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert len(text.split()) == 4
    assert chunks[-1].choices == [] and chunks[-1].usage.completion_tokens == 4


def test_openai_completions_whole_and_streamed(served, member):
    client = oai(served, member)
    whole = client.completions.create(model="paced", prompt="Once upon", max_tokens=5)
    assert whole.choices[0].text and whole.usage.completion_tokens == 5
    chunks = list(client.completions.create(model="paced", prompt="Once upon", max_tokens=5, stream=True))
    assert "".join(c.choices[0].text for c in chunks).strip()
    assert chunks[-1].choices[0].finish_reason == "length"


def test_openai_error_classes(served, member, hf):
    with pytest.raises(openai.AuthenticationError) as caught:
        oai(served, "hfc_notAKeyOfThisConsole").models.list()
    assert caught.value.code == "invalid_api_key"
    with pytest.raises(openai.NotFoundError) as caught:
        oai(served, member).chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "x"}])
    assert caught.value.code == "model_not_found"
    hf.fault("/v1/chat/completions", "status", status=500, body={"error": "boom"})
    with pytest.raises(openai.InternalServerError) as caught:
        oai(served, member).chat.completions.create(model="llama-chat", messages=[{"role": "user", "content": "x"}])
    assert caught.value.status_code == 502 and caught.value.code == "upstream_error"
    assert caught.value.body["retryable"] is True
    with pytest.raises(openai.BadRequestError) as caught:
        oai(served, member).chat.completions.create(
            model="llama-chat", messages=[{"role": "user", "content": "x"}], temperature=7
        )
    assert caught.value.param == "temperature"


def test_openai_rate_limit_error_holds_across_worker_processes(served, hf):
    key = served["new_key"](requests_per_minute=3)
    answers = []
    for _ in range(6):  # a new connection each time, so the calls spread over both workers
        client = oai(served, key)  # a client of its own: a connection of its own
        try:
            client.models.list()
            answers.append(200)
        except openai.RateLimitError as exc:
            answers.append(429)
            assert exc.code == "rate_limit_exceeded"
            assert 1 <= int(exc.response.headers["retry-after"]) <= 20
    assert answers == [200, 200, 200, 429, 429, 429]


def test_open_streams_limit_holds_across_worker_processes(served, hf):
    key = served["new_key"](max_streams=1)
    hf.token_delay = 0.2
    first = requests.post(
        served["url"] + "/v1/completions",
        json={"model": "paced", "prompt": "x", "max_tokens": 10, "stream": True},
        headers={"Authorization": f"Bearer {key}"},
        stream=True,
        timeout=20,
    )
    assert first.status_code == 200
    refused = []
    for _ in range(4):  # new connections: whichever worker takes them sees the stream held by the other
        with pytest.raises(openai.RateLimitError) as caught:
            oai(served, key).completions.create(model="paced", prompt="x", max_tokens=2, stream=True)
        refused.append(caught.value.code)
    assert set(refused) == {"too_many_streams"}
    first.close()


def test_revoked_key_stops_at_once_in_every_worker(served, hf):
    key = served["new_key"]()
    for _ in range(4):
        oai(served, key).models.list()  # warms the cache of whichever workers answer
    served["manage"]("shell", "-c", REVOKE.format(prefix=key[:12]))
    for _ in range(4):
        with pytest.raises(openai.AuthenticationError) as caught:
            oai(served, key).models.list()
        assert caught.value.code == "api_key_revoked"


def test_deactivated_owner_key_stops_at_once(served, hf):
    served["manage"]("shell", "-c", SETUP_USER)
    key = served["new_key"]("temp")
    oai(served, key).models.list()
    served["manage"]("shell", "-c", DEACTIVATE)
    with pytest.raises(openai.AuthenticationError) as caught:
        oai(served, key).models.list()
    assert caught.value.code == "owner_deactivated"


SETUP_USER = (
    "from providers.core import roles; from django.contrib.auth.models import User; "
    "roles.set_role(User.objects.create_user('temp', 't@example.com', 'x'), roles.MEMBER)"
)


def test_huggingface_hub_inference_client_chat(served, member):
    client = InferenceClient(base_url=served["url"] + "/v1", api_key=member, timeout=20)
    messages = [{"role": "user", "content": "Say hi"}]
    whole = client.chat_completion(messages, model="llama-chat", max_tokens=3)
    assert whole.choices[0].message.content and whole.usage.completion_tokens == 3
    parts = [
        c.choices[0].delta.content or ""
        for c in client.chat_completion(messages, model="llama-chat", max_tokens=4, stream=True)
        if c.choices
    ]
    assert len("".join(parts).split()) == 4


def test_huggingface_hub_without_a_model_name_is_told_to_name_one(served, member):
    """InferenceClient sends "dummy" for a URL alone; with two models enabled the console cannot guess."""
    client = InferenceClient(base_url=served["url"] + "/v1", api_key=member, timeout=20)
    with pytest.raises(HfHubHTTPError) as caught:
        client.chat_completion([{"role": "user", "content": "x"}], max_tokens=2)
    assert caught.value.response.status_code == 404
    assert "/v1/models" in str(caught.value)


def test_openai_raises_an_error_that_happens_mid_stream(served, member, hf):
    hf.fault("/v1/chat/completions", "stream_error", after=2)
    stream = oai(served, member).chat.completions.create(
        model="llama-chat", messages=[{"role": "user", "content": "x"}], max_tokens=6, stream=True
    )
    received = []
    with pytest.raises(openai.APIError) as caught:
        for chunk in stream:
            received.append(chunk.choices[0].delta.content if chunk.choices else "")
    # A member's key gets the category's words; the upstream's own text is for admins' keys.
    assert "failed to answer" in caught.value.message and "CUDA out of memory" not in caught.value.message
    assert len([text for text in received if text]) == 2


def test_stream_is_relayed_event_by_event(served, member, hf):
    hf.token_delay = 0.15
    seen = []
    stream = oai(served, member).completions.create(model="paced", prompt="x", max_tokens=4, stream=True)
    for chunk in stream:
        if chunk.choices and chunk.choices[0].text:
            seen.append(time.monotonic())
    gaps = [b - a for a, b in zip(seen, seen[1:], strict=False)]
    assert len(seen) == 4 and min(gaps) > 0.08, gaps  # tokens arrive paced, not all at the end


def test_a_call_is_recorded_after_it_was_answered(served, member):
    oai(served, member).chat.completions.create(
        model="llama-chat", messages=[{"role": "user", "content": "a b"}], max_tokens=2
    )
    deadline = time.monotonic() + 5
    out = ""
    while time.monotonic() < deadline:
        out = served["manage"]("shell", "-c", LAST_CALL.format(prefix=member[:12]))
        if out.strip().splitlines()[-1] != "None":
            break
        time.sleep(0.2)
    assert out.strip().splitlines()[-1] == "(200, 2, 2)"


def test_huggingface_hub_text_generation_on_the_model_url(served, member):
    client = InferenceClient(base_url=served["url"] + "/v1/models/paced", api_key=member, timeout=20)
    text = client.text_generation("Once upon", max_new_tokens=5)
    assert len(text.split()) == 5
    tokens = list(client.text_generation("Once upon", max_new_tokens=4, stream=True))
    assert len("".join(tokens).split()) == 4
    details = client.text_generation("Once upon", max_new_tokens=3, details=True)
    assert details.details.generated_tokens == 3 and details.details.finish_reason == "length"


class Weather(pydantic.BaseModel):
    city: str
    degrees: int


WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "The weather in a city",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
    },
}


@pytest.mark.parametrize("model", ["llama-chat", "tgi-chat"])
def test_openai_parse_fills_a_pydantic_model(served, member, model):
    """The router gets OpenAI's json_schema as sent; TGI gets it as {type: json, value: schema} (§14)."""
    completion = oai(served, member).chat.completions.parse(
        model=model, messages=[{"role": "user", "content": "Weather in Paris"}], response_format=Weather
    )
    assert completion.choices[0].message.parsed == Weather(city="Paris", degrees=18)


@pytest.mark.parametrize("model", ["llama-chat", "tgi-chat"])
def test_openai_response_format_json_schema(served, member, model):
    schema = Weather.model_json_schema()
    whole = oai(served, member).chat.completions.create(
        model=model,
        messages=[{"role": "user", "content": "Weather in Paris"}],
        response_format={"type": "json_schema", "json_schema": {"name": "Weather", "schema": schema}},
    )
    assert Weather.model_validate_json(whole.choices[0].message.content).city == "Paris"


def _streamed_call(stream):
    """The tool call an openai client assembles from the deltas, and the last finish reason."""
    calls, reason = {}, None
    for chunk in stream:
        for choice in chunk.choices:
            reason = choice.finish_reason or reason
            for delta in choice.delta.tool_calls or []:
                call = calls.setdefault(delta.index, {"id": None, "name": None, "arguments": ""})
                call["id"] = call["id"] or delta.id
                call["name"] = call["name"] or (delta.function.name if delta.function else None)
                call["arguments"] += (delta.function.arguments or "") if delta.function else ""
    return calls, reason


@pytest.mark.parametrize("model", ["llama-chat", "tgi-chat"])
@pytest.mark.parametrize("stream", [False, True])
def test_openai_tools_round_trip(served, member, model, stream):
    client = oai(served, member)
    messages = [{"role": "user", "content": "Weather in Paris?"}]
    if stream:
        calls, reason = _streamed_call(
            client.chat.completions.create(model=model, messages=messages, tools=[WEATHER_TOOL], stream=True)
        )
        assert list(calls) == [0] and reason == "tool_calls"
        call_id, name, arguments = calls[0]["id"], calls[0]["name"], calls[0]["arguments"]
    else:
        whole = client.chat.completions.create(model=model, messages=messages, tools=[WEATHER_TOOL])
        assert whole.choices[0].finish_reason == "tool_calls"
        (call,) = whole.choices[0].message.tool_calls
        call_id, name, arguments = call.id, call.function.name, call.function.arguments
    assert name == "get_weather" and json.loads(arguments) == {"city": "Paris"} and call_id
    messages += [
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [{"id": call_id, "type": "function", "function": {"name": name, "arguments": arguments}}],
        },
        {"role": "tool", "tool_call_id": call_id, "content": "18 degrees"},
    ]
    answer = client.chat.completions.create(model=model, messages=messages, tools=[WEATHER_TOOL])
    assert answer.choices[0].message.content == "The tool said: 18 degrees"
    assert answer.choices[0].finish_reason == "stop"


def test_openai_refusal_names_the_parameter(served, member):
    with pytest.raises(openai.BadRequestError) as caught:
        oai(served, member).chat.completions.create(
            model="tgi-chat", messages=[{"role": "user", "content": "x"}], logit_bias={"1": 3}
        )
    assert caught.value.param == "logit_bias" and caught.value.code == "unsupported_parameter"


@pytest.mark.parametrize("model", ["llama-chat", "tgi-chat"])
def test_openai_stream_helper_assembles_parsed_output_and_tool_calls(served, member, model):
    """openai's .stream() helper checks every delta as it joins them; the final completion is parsed."""
    client = oai(served, member)
    messages = [{"role": "user", "content": "Weather in Paris"}]
    with client.chat.completions.stream(model=model, messages=messages, response_format=Weather) as stream:
        final = stream.get_final_completion()
    assert final.choices[0].message.parsed == Weather(city="Paris", degrees=18)
    with client.chat.completions.stream(model=model, messages=messages, tools=[WEATHER_TOOL]) as stream:
        final = stream.get_final_completion()
    (call,) = final.choices[0].message.tool_calls
    assert call.function.name == "get_weather" and json.loads(call.function.arguments) == {"city": "Paris"}
    assert final.choices[0].finish_reason == "tool_calls"


def test_openai_wakes_a_scaled_to_zero_endpoint_under_gunicorn(served, member, hf):
    """The wait happens in the worker (gevent by default): a whole answer waits, a stream keeps its comments
    coming, and both get the answer once the endpoint is up."""
    client = oai(served, member)
    hf.add_endpoint("tgi", state="scaled_to_zero", wake_seconds=2)
    started = time.monotonic()
    whole = client.completions.create(model="paced", prompt="Why is the sky blue", max_tokens=4)
    assert whole.choices[0].text and time.monotonic() - started >= 2
    hf.add_endpoint("tgi", state="scaled_to_zero", wake_seconds=2)
    messages = [{"role": "user", "content": "Say three words"}]
    chunks = list(client.chat.completions.create(model="tgi chat", messages=messages, max_tokens=4, stream=True))
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    hf.add_endpoint("tgi", state="paused")
    with pytest.raises(openai.APIStatusError) as info:
        client.completions.create(model="paced", prompt="Why", max_tokens=4)
    assert info.value.status_code == 503 and info.value.body["code"] == "endpoint_paused"

"""Tools in the playground's chat: a person's tool definitions reach the upstream as /v1/chat/completions sends
them, the answer's tool calls come back as their own lines (whole or streamed, on an OpenAI-compatible server and
on TGI) and stay in history, a tool's result goes back for the final answer, and what cannot be sent is refused in
words before anything is sent."""

import json

import pytest
from django.urls import reverse

from providers.models import EndpointType, PlaygroundRun, Task
from tests.conftest import create_endpoint_model, create_model

pytestmark = pytest.mark.django_db
WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "The weather in a city",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
    },
}


def run(client, model, stream=True, **fields):
    data = {"model": model.pk, "prompt": "Weather in Paris?", "max_new_tokens": "20", **fields}
    if stream:
        data["stream"] = "on"
    return client.post(reverse("playground_run"), data)


def lines(response):
    raw = b"".join(response.streaming_content) if response.streaming else response.content
    return [json.loads(line) for line in raw.decode().splitlines() if line]


def sent_bodies(hf):
    return [json.loads(r["body"]) for r in hf.requests if r["path"].endswith("/chat/completions")]


def joined(events):
    """The calls as the page joins them: by index, the argument fragments in order."""
    calls = {}
    for event in events:
        if event["type"] == "tool_call":
            call = calls.setdefault(event["index"], {"id": "", "name": "", "arguments": ""})
            call["id"] = call["id"] or event["id"]
            call["name"] = call["name"] or event["name"]
            call["arguments"] += event["arguments"]
    return calls


@pytest.fixture
def vllm_chat(hf, provider_token):
    hf.add_engine("vllm", "vllm")
    return create_endpoint_model(hf.base, display_name="vllm chat", task=Task.CHAT, path="/srv/vllm")


@pytest.fixture
def tgi_chat(hf, provider_token):
    return create_endpoint_model(hf.base, display_name="tgi chat", task=Task.CHAT)


def assert_tool_call_run(hf, client, events, stream, choice="auto"):
    assert events[-1]["type"] == "done", events
    assert events[-1]["figures"]["finish_reason"] == "tool_calls"
    (call,) = joined(events).values()
    assert call["name"] == "get_weather" and json.loads(call["arguments"]) == {"city": "Paris"}
    assert call["id"]
    sent = sent_bodies(hf)[-1]
    assert sent["tools"][0]["function"]["name"] == "get_weather" and sent["stream"] is stream
    saved = PlaygroundRun.objects.get(pk=events[0]["run"])
    assert saved.tools == {"definitions": [WEATHER], "choice": choice}
    assert saved.tool_calls[0]["function"]["name"] == "get_weather"
    assert json.loads(saved.tool_calls[0]["function"]["arguments"]) == {"city": "Paris"}
    assert saved.finish_reason == "tool_calls"
    reopened = client.get(reverse("run_detail", args=[saved.pk])).json()  # history shows the same
    assert reopened["tool_calls"] == saved.tool_calls and reopened["tools"] == saved.tools
    return call


@pytest.mark.parametrize("stream", [False, True])
def test_a_tool_call_on_an_openai_compatible_server_comes_back_as_its_own_lines(hf, member_client, vllm_chat, stream):
    response = run(member_client, vllm_chat, stream, tools=json.dumps([WEATHER]))
    events = lines(response)
    call = assert_tool_call_run(hf, member_client, events, stream)
    assert call["id"].startswith("chatcmpl-tool-")  # the server's own id, as it came
    assert sent_bodies(hf)[-1]["tool_choice"] == "auto"
    assert sent_bodies(hf)[-1]["max_tokens"] == 20  # the run's parameters go with the tools
    if stream:
        pieces = [e for e in events if e["type"] == "tool_call"]
        assert len(pieces) > 1  # the arguments came in fragments, each passed on as it came


@pytest.mark.parametrize("stream", [False, True])
@pytest.mark.parametrize("old_tgi", [False, True])
def test_a_tool_call_on_tgi_comes_back_in_openais_shape(hf, member_client, tgi_chat, stream, old_tgi):
    """TGI says "stop" after a call, numbers its calls from 0 and (before 3.2) sends arguments as an object:
    the playground shows what the API would answer."""
    hf.endpoints["tgi"]["old_tools"] = old_tgi
    events = lines(run(member_client, tgi_chat, stream, tools=json.dumps([WEATHER]), tool_choice="required"))
    call = assert_tool_call_run(hf, member_client, events, stream, "required")
    assert call["id"].startswith("call_")
    assert sent_bodies(hf)[-1]["tool_choice"] == "required"


def test_a_named_tool_choice_is_sent_as_openais_object(hf, member_client, vllm_chat):
    other = {"type": "function", "function": {"name": "get_time", "parameters": {"type": "object"}}}
    events = lines(run(member_client, vllm_chat, tools=json.dumps([other, WEATHER]), tool_choice="get_weather"))
    assert joined(events)[0]["name"] == "get_weather"
    assert sent_bodies(hf)[-1]["tool_choice"] == {"type": "function", "function": {"name": "get_weather"}}


@pytest.mark.parametrize("model_name", ["vllm", "tgi"])
@pytest.mark.parametrize("stream", [False, True])
def test_a_tools_result_goes_back_and_the_final_answer_comes(
    hf, member_client, vllm_chat, tgi_chat, model_name, stream
):
    model = vllm_chat if model_name == "vllm" else tgi_chat
    first = lines(run(member_client, model, stream, tools=json.dumps([WEATHER])))
    call = joined(first)[0]
    history = [
        {"role": "user", "content": "Weather in Paris?"},
        {
            "role": "assistant",
            "content": "",
            "tool_calls": [
                {
                    "id": call["id"],
                    "type": "function",
                    "function": {"name": call["name"], "arguments": call["arguments"]},
                }
            ],
        },
        {"role": "tool", "tool_call_id": call["id"], "content": "18 degrees"},
    ]
    events = lines(
        run(member_client, model, stream, prompt="", messages=json.dumps(history), tools=json.dumps([WEATHER]))
    )
    assert events[-1]["type"] == "done", events
    assert "".join(e["text"] for e in events if e["type"] == "token") == "The tool said: 18 degrees"
    assert events[-1]["figures"]["finish_reason"] == "stop"
    sent = sent_bodies(hf)[-1]["messages"]
    assert sent[2] == {"role": "tool", "tool_call_id": call["id"], "content": "18 degrees"}
    assert sent[1]["content"] is None and sent[1]["tool_calls"][0]["id"] == call["id"]
    saved = PlaygroundRun.objects.get(pk=events[0]["run"])
    assert saved.messages == history and saved.tool_calls == [] and saved.output == "The tool said: 18 degrees"


@pytest.mark.parametrize(
    "tools,choice,field,words",
    [
        ('[{"type": "function", "function": {"name": "x"}', "", "tools", "not valid JSON (line 1, column"),
        ('{"type": "function", "function": {"name": "x"}}', "", "tools", "must be a list"),
        ('[{"type": "function", "function": {"description": "no name"}}]', "", "tools", "Tool 1 has no name"),
        ('[{"type": "function", "function": {"name": "get weather"}}]', "", "tools", "letters, digits"),
        (json.dumps([WEATHER, WEATHER]), "", "tools", "Two tools are named get_weather"),
        (json.dumps([WEATHER]), "get_time", "tool_choice", "names get_time, which is not among the tools"),
    ],
)
def test_wrong_tools_are_refused_in_words_before_anything_is_sent(
    hf, member_client, vllm_chat, tools, choice, field, words
):
    response = run(member_client, vllm_chat, tools=tools, tool_choice=choice)
    assert response.status_code == 400
    assert words in response.json()["errors"][field][0]["message"]
    assert sent_bodies(hf) == [] and not PlaygroundRun.objects.exists()


def test_a_model_whose_server_cannot_call_tools_is_refused_naming_tools(hf, member_client, provider_token):
    """hf-inference's chat route does no tool calling (its adapter's Capabilities): said before anything is sent."""
    hosted = create_model(
        display_name="hosted chat",
        endpoint_type=EndpointType.HOSTED_API,
        task=Task.CHAT,
        repo_id="HuggingFaceH4/zephyr",
    )
    response = run(member_client, hosted, tools=json.dumps([WEATHER]))
    assert response.status_code == 400
    message = response.json()["errors"]["tools"][0]["message"]
    assert "hosted chat cannot call tools" in message and "hf-inference" in message
    assert sent_bodies(hf) == []


@pytest.mark.parametrize("stream", [False, True])
def test_a_server_started_without_tool_calling_is_an_error_naming_tools(hf, member_client, provider_token, stream):
    hf.add_engine("vllm", "vllm", tools=False)
    model = create_endpoint_model(hf.base, display_name="plain vllm", task=Task.CHAT, path="/srv/vllm")
    events = lines(run(member_client, model, stream, tools=json.dumps([WEATHER])))
    assert events[-1]["type"] == "error", events
    assert "not set up for tool calling: it refused the tools" in events[-1]["error"]["message"]


def test_a_chat_without_tools_goes_the_usual_way(hf, member_client, vllm_chat):
    events = lines(run(member_client, vllm_chat, tools="  ", tool_choice="auto"))
    assert events[-1]["type"] == "done"
    assert "tools" not in sent_bodies(hf)[-1]
    assert PlaygroundRun.objects.get().tools == {}


def test_tools_left_in_the_box_do_not_reach_a_completion_model(hf, member_client, provider_token):
    """The panel is chat-only; what stays typed in it while a completion model runs is not read."""
    model = create_endpoint_model(hf.base, display_name="tgi text")
    events = lines(run(member_client, model, tools="[not json", tool_choice="get_weather"))
    assert events[-1]["type"] == "done", events
    assert PlaygroundRun.objects.get().tools == {}


def test_a_slow_whole_answer_with_tools_says_what_it_waits_for(hf, member_client, tgi_chat):
    """A whole answer is read as generate() reads one: a wait line each second of silence, then the call."""
    hf.response_delay = 1.3
    events = lines(run(member_client, tgi_chat, stream=False, tools=json.dumps([WEATHER])))
    assert any(e["type"] == "wait" and e["for"] == "first_token" for e in events), events
    assert joined(events)[0]["name"] == "get_weather" and events[-1]["type"] == "done"

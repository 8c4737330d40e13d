"""A real llama.cpp server behind the console, answer against answer: what a client gets through `/v1/` is what it
gets from llama-server directly, for plain chat, structured output, forced tool calls (whole, streamed and the round
trip) and embeddings.

The model is random weights (tests/llama/model.py), so free text is noise; but greedy decoding is deterministic, and
output constrained by a JSON schema or a forced tool call is valid whatever the weights. The schemas below only
admit enums so that noise cannot grow a string until max_tokens cuts it. Free text keeps the end token out with
`logit_bias`, or the tiny model would end at once.

Three servers of one model file: chat with the Qwen2.5 template the file carries (its structured output grammar
allows nothing but the object); tools with Functionary v3.2's template, whose forced call starts at once (under
Qwen2.5's, llama.cpp lets free text come before a "required" call, and noise never reaches one); embeddings.
"""

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Literal

import openai
import pydantic
import pytest
from agents import Agent, ModelSettings, OpenAIResponsesModel, Runner, function_tool, set_tracing_disabled
from langchain_core.tools import tool
from langchain_openai import ChatOpenAI, OpenAIEmbeddings

from tests.conftest import run_coroutine
from tests.llama.server import LlamaServer, template, tiny_model
from tests.served import Console
from tests.served_suites.test_ai_sdk_client import node_modules

SETUP = """
from providers.core import roles
from providers.models import HFModel
from django.contrib.auth.models import User
roles.set_role(User.objects.create_user("mia", "mia@example.com", "{password}"), roles.MEMBER)
for name, task, url in (("tiny chat", "chat", "{chat}"), ("tiny text", "text-generation", "{chat}"),
                        ("tiny tools", "chat", "{tools}"), ("tiny vectors", "feature-extraction", "{vectors}")):
    HFModel.objects.create(display_name=name, endpoint_type="inference_endpoint", task=task, endpoint_url=url)
"""

WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "The weather in a city",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string", "enum": ["Paris", "Tokyo", "Lima"]}},
            "required": ["city"],
            "additionalProperties": False,
        },
    },
}
ASK = [{"role": "user", "content": "What is the weather in Paris?"}]
GREEDY = {"temperature": 0, "seed": 1}
TEXT = {**GREEDY, "logit_bias": {"151645": -100}}  # <|im_end|>: the tiny model would end at once


class Pick(pydantic.BaseModel):
    model_config = pydantic.ConfigDict(extra="forbid")
    city: Literal["Paris", "Tokyo", "Lima"]
    sunny: bool


@pytest.fixture(scope="module")
def llama(emulator, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("llama")
    model = tiny_model(tmp_path_factory.getbasetemp())
    servers = [LlamaServer(model, tmp / "chat.log", "--jinja")]
    chat = servers[0]
    try:
        servers.append(
            LlamaServer(model, tmp / "tools.log", "--jinja", "--chat-template-file", template("functionary"))
        )
        servers.append(LlamaServer(model, tmp / "vectors.log", "--embeddings", "--pooling", "mean"))
        tools, vectors = servers[1:]
    except BaseException:
        for server in servers:
            server.stop()
        raise
    console = None
    try:
        env = {"API_LIMITS_DIR": str(tmp / "limits"), "HF_HUB_URL": emulator.hub_url}
        console = Console(emulator, tmp, SETUP, env, chat=chat.url, tools=tools.url, vectors=vectors.url).start()
        key = console.manage("create_api_key", "mia", "llama").strip().splitlines()[-1]
        yield {
            "console": openai.OpenAI(base_url=console.url + "/v1", api_key=key, max_retries=0, timeout=60),
            "direct": openai.OpenAI(base_url=chat.url + "/v1", api_key="none", max_retries=0, timeout=60),
            "tools": openai.OpenAI(base_url=tools.url + "/v1", api_key="none", max_retries=0, timeout=60),
            "vectors": openai.OpenAI(base_url=vectors.url + "/v1", api_key="none", max_retries=0, timeout=60),
            "url": console.url,
            "chat_url": chat.url,
            "tools_url": tools.url,
            "key": key,
        }
    finally:
        if console:
            console.stop()
        for server in servers:
            server.stop()


def both(llama, call, model="tiny-chat", **fields):
    """The same request through the console and straight to llama-server."""
    through = call(llama["console"])(model=model, **fields)
    direct = call(llama["tools" if model == "tiny-tools" else "direct"])(model="tiny", **fields)
    return through, direct


def test_plain_chat_is_the_servers_own_answer(llama):
    through, direct = both(llama, lambda c: c.chat.completions.create, messages=ASK, max_tokens=12, **TEXT)
    assert through.choices[0].message.content
    assert through.choices[0].message.content == direct.choices[0].message.content
    assert through.choices[0].finish_reason == direct.choices[0].finish_reason
    assert (through.usage.prompt_tokens, through.usage.completion_tokens) == (
        direct.usage.prompt_tokens,
        direct.usage.completion_tokens,
    )


def test_a_streamed_chat_carries_the_same_text_and_ends_with_a_finish_reason(llama):
    stream = llama["console"].chat.completions.create(
        model="tiny-chat", messages=ASK, max_tokens=12, stream=True, stream_options={"include_usage": True}, **TEXT
    )
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    direct = llama["direct"].chat.completions.create(model="tiny", messages=ASK, max_tokens=12, **TEXT)
    assert text == direct.choices[0].message.content
    assert [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason] == ["length"]
    assert chunks[-1].usage.completion_tokens == direct.usage.completion_tokens == 12


def test_completions_on_a_text_model_are_the_servers_own(llama):
    through, direct = both(
        llama, lambda c: c.completions.create, model="tiny-text", prompt="Once upon", max_tokens=8, **TEXT
    )
    assert through.choices[0].text and through.choices[0].text == direct.choices[0].text


def test_structured_output_parses_into_the_model_and_matches_the_server(llama):
    through, direct = both(
        llama, lambda c: c.chat.completions.parse, messages=ASK, response_format=Pick, max_tokens=200, **GREEDY
    )
    assert isinstance(through.choices[0].message.parsed, Pick)
    assert through.choices[0].message.parsed == direct.choices[0].message.parsed


def test_a_forced_tool_call_arrives_in_openais_shape(llama):
    fields = {"messages": ASK, "tools": [WEATHER], "tool_choice": "required", "max_tokens": 200, **GREEDY}
    through, direct = both(llama, lambda c: c.chat.completions.create, model="tiny-tools", **fields)
    call = through.choices[0].message.tool_calls[0]
    assert through.choices[0].finish_reason == "tool_calls" and call.id and call.type == "function"
    assert call.function.name == "get_weather" and json.loads(call.function.arguments)["city"] in {
        "Paris",
        "Tokyo",
        "Lima",
    }
    assert json.loads(call.function.arguments) == json.loads(direct.choices[0].message.tool_calls[0].function.arguments)


def test_a_named_tool_choice_forces_that_call_though_llama_cpp_reads_only_words(llama):
    """llama-server takes an object tool_choice as "auto" (and this model then ends at once): the console sends it
    as "required" with the named function the only tool, which is what the object means."""
    other = {**WEATHER, "function": {**WEATHER["function"], "name": "get_time"}}
    named = {"type": "function", "function": {"name": "get_weather"}}
    fields = {"messages": ASK, "max_tokens": 200, **GREEDY}
    through = llama["console"].chat.completions.create(
        model="tiny-tools", tools=[other, WEATHER], tool_choice=named, **fields
    )
    as_sent = llama["tools"].chat.completions.create(model="tiny", tools=[other, WEATHER], tool_choice=named, **fields)
    assert not as_sent.choices[0].message.tool_calls  # what the caller would get without the translation
    direct = llama["tools"].chat.completions.create(model="tiny", tools=[WEATHER], tool_choice="required", **fields)
    call = through.choices[0].message.tool_calls[0]
    assert call.function.name == "get_weather" and through.choices[0].finish_reason == "tool_calls"
    assert call.function.arguments == direct.choices[0].message.tool_calls[0].function.arguments


def test_a_streamed_tool_call_assembles_to_the_whole_one_and_the_round_trip_answers(llama):
    fields = {"messages": ASK, "tools": [WEATHER], "tool_choice": "required", "max_tokens": 200, **GREEDY}
    whole = llama["console"].chat.completions.create(model="tiny-tools", **fields)
    with llama["console"].chat.completions.stream(model="tiny-tools", **fields) as stream:
        streamed = stream.get_final_completion()
    call = streamed.choices[0].message.tool_calls[0]
    assert streamed.choices[0].finish_reason == "tool_calls"
    assert (call.function.name, call.function.arguments) == (
        whole.choices[0].message.tool_calls[0].function.name,
        whole.choices[0].message.tool_calls[0].function.arguments,
    )

    history = ASK + [
        {"role": "assistant", "content": None, "tool_calls": [call.model_dump(exclude_none=True)]},
        {"role": "tool", "tool_call_id": call.id, "content": '{"sky": "clear", "celsius": 18}'},
    ]
    through, direct = both(
        llama,
        lambda c: c.chat.completions.create,
        model="tiny-tools",
        messages=history,
        tools=[WEATHER],
        max_tokens=6,
        **GREEDY,
    )
    assert through.choices[0].finish_reason == direct.choices[0].finish_reason == "stop"
    assert through.choices[0].message.content == direct.choices[0].message.content
    assert through.usage.prompt_tokens == direct.usage.prompt_tokens


def test_langchain_binds_a_tool_and_asks_for_a_structured_answer(llama):
    @tool
    def get_weather(city: Literal["Paris", "Tokyo", "Lima"]) -> str:
        """The weather in a city."""
        return "sunny"

    def chat(model):
        return ChatOpenAI(
            base_url=llama["url"] + "/v1", api_key=llama["key"], model=model, temperature=0, max_tokens=200
        )

    message = chat("tiny-tools").bind_tools([get_weather], tool_choice="get_weather").invoke("Weather in Paris?")
    assert message.tool_calls[0]["name"] == "get_weather"
    assert message.tool_calls[0]["args"]["city"] in {"Paris", "Tokyo", "Lima"}
    picked = chat("tiny-chat").with_structured_output(Pick, method="json_schema", strict=True).invoke("Pick a city")
    assert isinstance(picked, Pick)


def test_embeddings_are_the_servers_own_vectors(llama):
    texts = ["the cat sat", "on the mat", "a quantum of solace"]
    direct = [d.embedding for d in llama["vectors"].embeddings.create(model="tiny", input=texts).data]
    floats = llama["console"].embeddings.create(model="tiny-vectors", input=texts, encoding_format="float")
    assert [d.index for d in floats.data] == [0, 1, 2]
    for got, want in zip([d.embedding for d in floats.data], direct, strict=True):
        assert got == pytest.approx(want, abs=1e-6)
    # the openai package asks for base64 by default and decodes it itself
    decoded = llama["console"].embeddings.create(model="tiny-vectors", input=texts)
    for got, want in zip([d.embedding for d in decoded.data], direct, strict=True):
        assert got == pytest.approx(want, abs=1e-6)
    assert floats.usage.prompt_tokens > 0


def test_langchain_embeddings_find_the_same_nearest_text_as_the_server(llama):
    embeddings = OpenAIEmbeddings(
        base_url=llama["url"] + "/v1", api_key=llama["key"], model="tiny-vectors", check_embedding_ctx_length=False
    )
    documents = ["the cat sat", "on the mat", "a quantum of solace"]
    vectors = embeddings.embed_documents(documents)
    direct = [d.embedding for d in llama["vectors"].embeddings.create(model="tiny", input=documents).data]
    for got, want in zip(vectors, direct, strict=True):
        assert got == pytest.approx(want, abs=1e-6)


def test_the_agents_sdk_runs_a_forced_tool_then_ends(llama):
    """The Agents SDK over /v1/responses: the first turn must call the tool (tool_choice required), the SDK then sets
    it back to auto and the tiny model ends its answer at once."""
    set_tracing_disabled(True)
    called = []

    @function_tool
    def get_weather(city: Literal["Paris", "Tokyo", "Lima"]) -> str:
        """The weather in a city."""
        called.append(city)
        return f"18 degrees in {city}"

    client = openai.AsyncOpenAI(base_url=llama["url"] + "/v1", api_key=llama["key"], max_retries=0, timeout=60)
    agent = Agent(
        name="weather",
        instructions="Answer with the weather.",
        tools=[get_weather],
        model=OpenAIResponsesModel(model="tiny-tools", openai_client=client),
        model_settings=ModelSettings(tool_choice="required", temperature=0, max_tokens=200),
    )
    result = run_coroutine(Runner.run(agent, "Weather in Paris?"))
    assert len(called) == 1 and called[0] in {"Paris", "Tokyo", "Lima"}
    assert result.final_output == ""


def test_the_vercel_ai_sdk_gets_what_llama_server_gives_it_directly(llama, tmp_path):
    app = tmp_path / "app"  # the script beside a node_modules of its own, as in an app, resolving to the cache
    app.mkdir()
    (app / "node_modules").symlink_to(node_modules())
    shutil.copy(Path(__file__).with_name("ai_sdk_llama.mjs"), app / "script.mjs")

    def run(**env):
        done = subprocess.run(
            [shutil.which("node"), str(app / "script.mjs")],
            env={**os.environ, **env},
            capture_output=True,
            text=True,
            timeout=180,
            check=False,
        )
        assert done.returncode == 0, done.stderr[-3000:]
        return json.loads(done.stdout.strip().splitlines()[-1])

    base = llama["url"] + "/v1"
    through = run(CHAT_BASE=base, TOOLS_BASE=base, KEY=llama["key"], CHAT_MODEL="tiny-chat", TOOLS_MODEL="tiny-tools")
    direct = run(
        CHAT_BASE=llama["chat_url"] + "/v1",
        TOOLS_BASE=llama["tools_url"] + "/v1",
        KEY="none",
        CHAT_MODEL="tiny",
        TOOLS_MODEL="tiny",
    )
    assert through["generateText"]["text"] and through["generateText"]["finishReason"] == "length"
    assert through["generateObject"]["city"] in {"Paris", "Tokyo", "Lima"}
    assert len(through["tools"]["calls"]) == 1 and through["tools"]["steps"] == ["tool-calls", "stop"]
    for run in (through, direct):  # how much of the prompt llama-server had cached differs from run to run
        usage = run["generateText"].pop("usage")
        run["generateText"]["tokens"] = usage["inputTokens"], usage["outputTokens"]
    assert through["generateText"]["tokens"][1] == 6
    for part in ("generateText", "streamText", "generateObject", "tools", "streamedTools"):
        assert through[part] == direct[part], part

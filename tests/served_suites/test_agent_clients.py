"""Agent and extraction clients nobody on the team wrote, against the console served by gunicorn and the emulator:
openai's Responses API (whole, streamed, parsed, tools), the OpenAI Agents SDK running a function tool, and
LangChain's bind_tools and with_structured_output."""

import json

import openai
import pydantic
import pytest
from agents import Agent, OpenAIResponsesModel, Runner, function_tool, set_tracing_disabled
from langchain_core.messages import HumanMessage, ToolMessage
from langchain_core.tools import tool
from langchain_openai import ChatOpenAI

from tests.conftest import TOKEN, run_coroutine
from tests.served import Console
from tests.served_suites.test_api_clients import SETUP

MODELS = ["llama-chat", "tgi-chat"]  # the router (OpenAI's shapes) and TGI's Messages API (its own dialect)
THINKER = """
HFModel.objects.create(display_name="thinker", endpoint_type="inference_endpoint", task="chat",
                       endpoint_url="{base}/srv/thinker")
"""
WEATHER = {
    "type": "function",
    "name": "get_weather",
    "description": "The weather in a city",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
}


class Weather(pydantic.BaseModel):
    city: str
    degrees: int


@pytest.fixture(scope="module")
def served(emulator, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("agents-served")
    env = {
        "API_LIMITS_DIR": str(tmp / "limits"),
        "HF_HUB_URL": emulator.hub_url,
        "HF_ROUTER_URL": emulator.router_url,
        "WEB_WORKERS": "2",
        "WEB_THREADS": "4",
    }
    console = Console(emulator, tmp, SETUP + THINKER, env, token=TOKEN).start()
    key = console.manage("create_api_key", "mia", "agents").strip().splitlines()[-1]
    try:
        yield {"url": console.url + "/v1", "key": key}
    finally:
        console.stop()


def oai(served):
    return openai.OpenAI(base_url=served["url"], api_key=served["key"], max_retries=0, timeout=20)


@pytest.mark.parametrize("model", MODELS)
def test_openai_responses_whole_and_streamed(served, hf, model):
    client = oai(served)
    whole = client.responses.create(model=model, instructions="Be brief.", input="Say three words", max_output_tokens=3)
    assert len(whole.output_text.split()) == 3 and whole.status == "incomplete"
    assert whole.usage.output_tokens == 3 and whole.usage.total_tokens == whole.usage.input_tokens + 3
    events = list(client.responses.create(model=model, input="Say four words", max_output_tokens=4, stream=True))
    assert events[0].type == "response.created" and events[-1].type == "response.incomplete"
    text = "".join(e.delta for e in events if e.type == "response.output_text.delta")
    assert len(text.split()) == 4 and events[-1].response.output_text == text


@pytest.mark.parametrize("model", MODELS)
def test_openai_responses_parse_fills_a_pydantic_model_whole_and_streamed(served, hf, model):
    client = oai(served)
    parsed = client.responses.parse(model=model, input="Weather in Paris", text_format=Weather)
    assert parsed.output_parsed == Weather(city="Paris", degrees=18)
    with client.responses.stream(model=model, input="Weather in Paris", text_format=Weather) as stream:
        final = stream.get_final_response()  # the helper checks each event against the snapshot it builds
    assert final.output_parsed == Weather(city="Paris", degrees=18)


@pytest.mark.parametrize("model", MODELS)
@pytest.mark.parametrize("stream", [False, True])
def test_openai_responses_function_tool_round_trip(served, hf, model, stream):
    client = oai(served)
    asked = [{"role": "user", "content": "Weather in Paris?"}]
    if stream:
        with client.responses.stream(model=model, input=asked, tools=[WEATHER]) as events:
            answer = events.get_final_response()
    else:
        answer = client.responses.create(model=model, input=asked, tools=[WEATHER])
    (call,) = answer.output
    assert call.type == "function_call" and call.name == "get_weather"
    assert json.loads(call.arguments) == {"city": "Paris"}
    result = {"type": "function_call_output", "call_id": call.call_id, "output": "18 degrees"}
    done = client.responses.create(
        model=model, input=[*asked, call.model_dump(exclude_none=True), result], tools=[WEATHER]
    )
    assert done.output_text == "The tool said: 18 degrees" and done.status == "completed"


@pytest.mark.parametrize("model", [*MODELS, "thinker"])
@pytest.mark.parametrize("streamed", [False, True])
def test_agents_sdk_runs_a_function_tool_through_the_console(served, hf, model, streamed):
    """thinker: a reasoning model on vLLM, whose reasoning item the SDK sends back with the tool's result."""
    hf.add_engine("thinker", "vllm", reasoning="Paris is in France.")
    set_tracing_disabled(True)
    asked = []

    @function_tool
    def get_weather(city: str) -> str:
        """The weather in a city."""
        asked.append(city)
        return f"18 degrees in {city}"

    async def run():
        client = openai.AsyncOpenAI(base_url=served["url"], api_key=served["key"], max_retries=0, timeout=20)
        agent = Agent(
            name="weather",
            instructions="Answer with the weather.",
            tools=[get_weather],
            model=OpenAIResponsesModel(model=model, openai_client=client),
        )
        if not streamed:
            return (await Runner.run(agent, "Weather in Paris?")).final_output
        result = Runner.run_streamed(agent, "Weather in Paris?")
        async for _event in result.stream_events():
            pass
        return result.final_output

    assert run_coroutine(run()) == "The tool said: 18 degrees in Paris"
    assert asked == ["Paris"]


@tool
def get_weather(city: str) -> str:
    """The weather in a city."""
    return f"18 degrees in {city}"


@pytest.mark.parametrize("model", MODELS)
@pytest.mark.parametrize("responses_api", [False, True])
def test_langchain_bind_tools_round_trip(served, hf, model, responses_api):
    llm = ChatOpenAI(
        model=model, base_url=served["url"], api_key=served["key"], max_retries=0, use_responses_api=responses_api
    )
    asked = [HumanMessage("Weather in Paris?")]
    called = llm.bind_tools([get_weather]).invoke(asked)
    (call,) = called.tool_calls
    assert call["name"] == "get_weather" and call["args"] == {"city": "Paris"}
    result = ToolMessage(get_weather.invoke(call["args"]), tool_call_id=call["id"])
    answer = llm.bind_tools([get_weather]).invoke([*asked, called, result])
    assert answer.text == "The tool said: 18 degrees in Paris"


@pytest.mark.parametrize("model", MODELS)
@pytest.mark.parametrize("responses_api", [False, True])
def test_langchain_with_structured_output_fills_a_pydantic_model(served, hf, model, responses_api):
    llm = ChatOpenAI(
        model=model, base_url=served["url"], api_key=served["key"], max_retries=0, use_responses_api=responses_api
    )
    assert llm.with_structured_output(Weather).invoke("Weather in Paris") == Weather(city="Paris", degrees=18)

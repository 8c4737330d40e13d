"""Every engine behind an endpoint URL: identified in two requests, spoken to in its own protocol, its errors read."""

import json

import pytest
from django.urls import reverse

from providers.huggingface import adapters, engines, generation
from providers.huggingface.adapters import openai as openai_adapter
from providers.huggingface.errors import HFError
from providers.models import HFModel
from tests.conftest import create_endpoint_model

OPENAI_ENGINES = ["vllm", "vllm_old", "sglang", "llamacpp", "openai"]
EXPECTED = {"vllm": "vllm", "vllm_old": "vllm", "sglang": "sglang", "llamacpp": "llamacpp", "openai": "openai"}


def url_for(hf, engine, **kwargs):
    if engine == "tgi":
        return f"{hf.base}/ep/tgi"
    return hf.add_engine(engine, "vllm_old" if engine == "vllm_old" else engine, **kwargs)


def identified(hf, engine, **kwargs):
    url = url_for(hf, engine, **kwargs)
    return url, engines.identify_engine(url)


def target(url, found, task):
    return generation.Target(
        "inference_endpoint", task, endpoint_url=url, engine=found.engine, served_model=found.served_model
    )


def run(target, stream, **params):
    kwargs = {"messages": [{"role": "user", "content": "Hi"}]} if target.task == "chat" else {"prompt": "Why is"}
    return list(generation.generate(target, {"max_new_tokens": 4, **params}, stream=stream, **kwargs))


@pytest.mark.parametrize("engine", ["tgi", *OPENAI_ENGINES])
def test_engine_is_identified_in_at_most_two_requests(hf, engine):
    before = len(hf.requests)
    _url, found = identified(hf, engine)
    assert found.engine == EXPECTED.get(engine, "tgi")
    assert len(hf.requests) - before <= 2
    assert found.served_model == ("bigscience/bloom-560m" if engine == "tgi" else "Qwen/Qwen2.5-7B-Instruct")


def test_tei_is_identified_and_refused_for_generation(hf):
    url, found = identified(hf, "tei", model_id="BAAI/bge-base-en-v1.5")
    assert (found.engine, found.version, found.served_model) == ("tei", "1.9.3", "BAAI/bge-base-en-v1.5")
    with pytest.raises(HFError) as info:
        run(target(url, found, "text-generation"), stream=False)
    assert info.value.category == "not_text_generation_server"
    assert "embeddings" in info.value.message


@pytest.mark.parametrize("engine, version", [("vllm", "0.11.0"), ("sglang", "0.5.2"), ("llamacpp", "b6500-abc1234")])
def test_version_comes_from_the_engines_own_route(hf, engine, version):
    url = url_for(hf, engine)
    assert engines.identify_engine(url, with_version=True).version == version


@pytest.mark.parametrize("engine", ["tgi", *OPENAI_ENGINES])
@pytest.mark.parametrize("task", ["text-generation", "chat"])
@pytest.mark.parametrize("stream", [True, False])
def test_every_engine_completes_and_chats(hf, engine, task, stream):
    url, found = identified(hf, engine)
    chunks = run(target(url, found, task), stream)
    finish = chunks[-1]
    assert isinstance(finish, adapters.Finish)
    assert finish.text.endswith("The sky is blue") and finish.generated_tokens == 4
    assert finish.finish_reason in ("length", "stop")
    assert [c for c in chunks if isinstance(c, str)] == (["The", " sky", " is", " blue"] if stream else [finish.text])
    sent = hf.requests[-1]
    if engine == "tgi":
        assert sent["path"] == ("/ep/tgi/v1/chat/completions" if task == "chat" else "/ep/tgi")
        return
    body = json.loads(sent["body"])
    assert sent["path"].endswith("/v1/chat/completions" if task == "chat" else "/v1/completions")
    assert body["model"] == "Qwen/Qwen2.5-7B-Instruct" and body["max_tokens"] == 4
    assert "inputs" not in body and "parameters" not in body


def test_parameters_are_mapped_to_what_each_engine_accepts(hf):
    params = {"max_new_tokens": 4, "top_k": 5, "repetition_penalty": 1.1, "do_sample": True, "stop_sequences": ["x"]}
    for engine, expected in [
        ("vllm", {"top_k": 5, "repetition_penalty": 1.1, "stop": ["x"]}),
        ("llamacpp", {"top_k": 5, "repeat_penalty": 1.1, "stop": ["x"]}),
        ("openai", {"stop": ["x"]}),
    ]:
        url, found = identified(hf, engine)
        t = target(url, found, "text-generation")
        body = adapters.adapter_for(t).body(t, params, prompt="Hi")
        assert {k: v for k, v in body.items() if k in ("top_k", "repetition_penalty", "repeat_penalty", "stop")} == (
            expected
        )
        assert "do_sample" not in body


@pytest.mark.parametrize("engine", OPENAI_ENGINES)
@pytest.mark.parametrize("stream", [True, False])
def test_engine_errors_are_read_in_each_format(hf, engine, stream):
    url, found = identified(hf, engine)
    with pytest.raises(HFError) as info:
        run(target(url, found, "chat"), stream, temperature=3.0)
    assert info.value.category == "input_rejected" and info.value.http_status == 400
    assert "temperature must be in [0, 2]" in info.value.message


def test_a_model_name_the_server_does_not_serve_is_named(hf):
    url, found = identified(hf, "vllm")
    found.served_model = "someone/else"
    with pytest.raises(HFError) as info:
        run(target(url, found, "text-generation"), False)
    assert info.value.category == "model_not_found" and "someone/else" in info.value.message


def test_api_key_protected_vllm_needs_the_token(hf):
    url = hf.add_engine("vllm", "vllm", api_key="sk-local-key-123")
    with pytest.raises(HFError) as info:
        engines.identify_engine(url)
    assert info.value.category == "no_token"  # nothing was sent, and the server wants a key
    found = engines.identify_engine(url, token="sk-local-key-123")
    assert found.engine == "vllm"


# --- through the console: Test connection and the playground ------------------------------------------------


@pytest.mark.parametrize("engine", ["tgi", *OPENAI_ENGINES])
def test_test_connection_names_engine_version_and_model_and_stores_the_engine(hf, admin_client, provider_token, engine):
    url = url_for(hf, engine)
    model = create_endpoint_model("", "srv", path=url, task="chat")
    result = admin_client.post(reverse("model_test", args=[model.pk])).json()
    assert result["ok"] is True, result
    server = next(s for s in result["steps"] if s["name"] == "Server")
    label = str(engines.LABELS[EXPECTED.get(engine, "tgi")])
    assert server["detail"].startswith(label)
    assert "serves" in server["detail"] and "version" in server["detail"] or engine == "openai"
    model.refresh_from_db()
    assert model.engine == EXPECTED.get(engine, "tgi") and model.served_model


def test_test_connection_warns_when_the_configured_name_differs(hf, admin_client, provider_token):
    url = url_for(hf, "vllm")
    model = create_endpoint_model("", "srv", path=url, task="chat")
    HFModel.objects.filter(pk=model.pk).update(repo_id="meta-llama/Llama-3.1-8B-Instruct")
    result = admin_client.post(reverse("model_test", args=[model.pk])).json()
    assert result["ok"] is True
    warning = next(s for s in result["steps"] if s["name"] == "Model name")
    assert "Qwen/Qwen2.5-7B-Instruct" in warning["detail"] and "meta-llama" in warning["detail"]
    assert result["server_info"]["warning"] == warning["detail"]


def test_test_connection_says_tei_is_not_a_text_generation_server(hf, admin_client, provider_token):
    url = url_for(hf, "tei", model_id="BAAI/bge-base-en-v1.5")
    model = create_endpoint_model("", "emb", path=url)
    result = admin_client.post(reverse("model_test", args=[model.pk])).json()
    assert result["ok"] is False and result["category"] == "not_text_generation_server"
    assert "text-embeddings-inference" in result["message"]
    assert not any(r["method"] == "POST" for r in hf.requests)


def playground_events(client_, model, stream):
    data = {"model": model.pk, "prompt": "Why is the sky blue", "max_new_tokens": "4"}
    if stream:
        data["stream"] = "on"
    response = client_.post(reverse("playground_run"), data)
    body = (b"".join(response.streaming_content) if response.streaming else response.content).decode()
    return [json.loads(line) for line in body.splitlines() if line.strip()]


@pytest.mark.parametrize("engine", ["tgi", *OPENAI_ENGINES])
@pytest.mark.parametrize("task", ["text-generation", "chat"])
@pytest.mark.parametrize("stream", [True, False])
def test_playground_speaks_every_engine(hf, member_client, provider_token, engine, task, stream):
    url = url_for(hf, engine)
    model = create_endpoint_model("", f"{engine} {task}", path=url, task=task)
    evts = playground_events(member_client, model, stream)
    assert evts[-1]["type"] == "done", evts
    assert "".join(e["text"] for e in evts if e["type"] == "token").endswith("The sky is blue")
    model.refresh_from_db()
    assert model.engine == EXPECTED.get(engine, "tgi")
    detections = [r for r in hf.requests if r["path"].endswith(("/info", "/v1/models"))]
    playground_events(member_client, model, stream)
    assert len([r for r in hf.requests if r["path"].endswith(("/info", "/v1/models"))]) == len(detections), (
        "the stored engine is reused"
    )


def test_changing_the_url_forgets_the_engine(hf, admin_client, provider_token):
    from tests.conftest import model_form_data

    model = create_endpoint_model(hf.base, "srv", engine="vllm", served_model="x/y")
    data = model_form_data(
        display_name="srv",
        endpoint_type="inference_endpoint",
        task="text-generation",
        repo_id="",
        endpoint_url=url_for(hf, "sglang"),
        version=str(model.version),
    )
    response = admin_client.post(reverse("model_edit", args=[model.pk]), data)
    assert response.status_code == 302, response.content.decode()[:2000]
    model = HFModel.objects.get(pk=model.pk)
    assert (model.engine, model.served_model) == ("", "")


def test_completion_without_max_tokens_is_not_cut_at_vllms_default(hf):
    url, found = identified(hf, "vllm")
    t = target(url, found, "text-generation")
    body = adapters.adapter_for(t).body(t, {}, prompt="Hi")
    assert body["max_tokens"] == openai_adapter.DEFAULT_COMPLETION_TOKENS


@pytest.mark.parametrize("engine", ["vllm", "llamacpp"])
def test_an_error_inside_the_stream_is_raised_with_its_message(hf, engine):
    url, found = identified(hf, engine)
    event = {"error": {"message": "CUDA out of memory", "type": "InternalServerError", "code": 500}}
    hf.fault(r"/v1/completions$", "stream_error", after=2, event=event)
    with pytest.raises(HFError) as info:
        run(target(url, found, "text-generation"), stream=True)
    assert info.value.category == "upstream_error" and info.value.message == "CUDA out of memory"
    assert info.value.http_status == 500

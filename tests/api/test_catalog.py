"""The /v1/ model catalog: built without asking an upstream, engines found by the calls, problems kept per model."""

from providers.api import catalog
from tests.api.calls import api, post
from tests.conftest import create_endpoint_model


def sent_to(hf, suffix):
    return [r for r in hf.requests if r["path"].endswith(suffix)]


def test_the_model_list_asks_no_upstream(hf, member_key, provider_token):
    create_endpoint_model(hf.base, display_name="paced")
    hf.requests.clear()
    response = api(member_key).get("/v1/models")
    assert response.status_code == 200
    assert [m["id"] for m in response.json()["data"]] == ["paced"]
    assert hf.requests == []


def test_an_engine_found_by_a_call_is_stored_and_not_asked_again(hf, member_key, provider_token):
    url = hf.add_engine("vl", "vllm")
    model = create_endpoint_model(hf.base, display_name="vl", path="/srv/vl")
    assert model.engine == "" and model.endpoint_url == url
    c = api(member_key)
    for _ in range(2):
        response = post(c, "/v1/completions", {"model": "vl", "prompt": "Once", "max_tokens": 2})
        assert response.status_code == 200, response.content[:300]
    assert len(sent_to(hf, "/srv/vl/v1/models")) == 1  # identified once, by the first call
    assert len(sent_to(hf, "/srv/vl/v1/completions")) == 2
    model.refresh_from_db()
    assert model.engine == "vllm" and model.served_model == "Qwen/Qwen2.5-7B-Instruct"


def test_an_unexpected_failure_preparing_one_model_is_that_models_uncached_problem(
    hf, member_key, chat_model, provider_token, monkeypatch
):
    broken = create_endpoint_model(hf.base, display_name="broken")
    real = catalog.target_for

    def target_for(model, *args, **kwargs):
        if model.pk == broken.pk and not getattr(target_for, "healed", False):
            raise RuntimeError("a defect")
        return real(model, *args, **kwargs)

    monkeypatch.setattr(catalog, "target_for", target_for)
    c = api(member_key)
    assert c.get("/v1/models").status_code == 200
    body = {"model": "broken", "prompt": "Once", "max_tokens": 2}
    response = post(c, "/v1/completions", body)
    assert response.status_code == 503 and response.json()["error"]["code"] == "model_unavailable"
    chat = {"model": "llama-chat", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 2}
    assert post(c, "/v1/chat/completions", chat).status_code == 200  # the other models are unaffected
    target_for.healed = True
    assert post(c, "/v1/completions", body).status_code == 200  # not cached: the next call builds again


def test_endpoint_engine_probe_failure_is_cached_as_the_models_problem_until_a_config_change(
    hf, member_key, provider_token
):
    """catalog._entry() calls target_for(), which probes the engine of an endpoint model over the network while
    the catalog is built. A passing failure (here one dropped connection) becomes `entry.problem` and is served
    for every call until some unrelated configuration change bumps freshness."""
    create_endpoint_model(hf.base, display_name="paced")
    hf.fault(r"/ep/tgi/info", "drop", times=1)
    c = api(member_key)
    post(c, "/v1/completions", {"model": "paced", "prompt": "Once", "max_tokens": 2})  # 502 connection_lost
    # The upstream is healthy again: the next call must reach it.
    second = post(c, "/v1/completions", {"model": "paced", "prompt": "Once", "max_tokens": 2})
    assert second.status_code == 200, second.content[:300]


def test_an_endpoint_scaled_to_zero_when_the_catalog_is_built_is_woken_by_the_first_call(
    hf, member_key, provider_token
):
    """The most common case of the defect above: an endpoint scaled to zero when the catalog is built. The engine
    probe itself wakes it (within HF_SCALE_UP_TIMEOUT), so the first call is answered, and the next."""
    create_endpoint_model(hf.base, display_name="paced")
    hf.boot_seconds = 0.2
    hf.endpoints["tgi"]["state"] = "scaled_to_zero"
    c = api(member_key)
    first = post(c, "/v1/completions", {"model": "paced", "prompt": "Once", "max_tokens": 2})
    assert first.status_code == 200, first.content[:300]
    second = post(c, "/v1/completions", {"model": "paced", "prompt": "Once", "max_tokens": 2})
    assert second.status_code == 200, second.content[:300]


def test_one_endpoint_with_an_infinite_max_total_tokens_does_not_break_the_whole_api(
    hf, member_key, chat_model, provider_token
):
    """engines._int() catches TypeError/ValueError but not OverflowError (int(float("inf"))). The catalog probes
    every endpoint model while it is built and catalog._entry() only catches HFError, so one endpoint whose /info
    says Infinity makes every /v1/ call a 500, /v1/models included, for every model."""
    create_endpoint_model(hf.base, display_name="paced")
    info = '{"model_id": "x", "router": "text-generation-router", "max_total_tokens": Infinity}'
    hf.fault(r"/ep/tgi/info", "status", times=1, status=200, body=info)
    response = api(member_key).get("/v1/models")
    assert response.status_code == 200, response.content[:200]

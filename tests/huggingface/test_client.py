"""The Hugging Face client against the emulator: every failure category, retries, streams, URL policy."""

import socket
import time

import pytest

from providers.huggingface import adapters, generation, hub, transport
from providers.huggingface.errors import CATEGORIES, HFError
from tests.conftest import OTHER_TOKEN, TOKEN


def hosted(task="text2text-generation", repo="google/flan-t5-base", token=TOKEN):
    return generation.Target("hosted_api", task, repo_id=repo, token=token)


def endpoint(hf, name="tgi", task="text-generation", token=None):
    return generation.Target("inference_endpoint", task, endpoint_url=f"{hf.base}/ep/{name}", token=token)


def providers_chat(repo="meta-llama/Llama-3.1-8B-Instruct", token=TOKEN):
    return generation.Target("inference_providers", "chat", repo_id=repo, token=token)


def run(target, stream=False, **params):
    prompt_or_messages = (
        {"messages": [{"role": "user", "content": "Hi"}]}
        if target.task == "chat"
        else {"prompt": "Why is the sky blue"}
    )
    return list(generation.generate(target, {"max_new_tokens": 4, **params}, stream=stream, **prompt_or_messages))


def failure(target, **kwargs):
    with pytest.raises(HFError) as info:
        run(target, **kwargs)
    return info.value


def test_hosted_generation_returns_text_and_finish(hf):
    chunks = run(hosted())
    finish = chunks[-1]
    assert isinstance(finish, adapters.Finish)
    assert finish.text == "The sky is blue"
    assert finish.generated_tokens == 4
    sent = hf.requests[-1]
    assert sent["path"] == "/router/hf-inference/models/google/flan-t5-base"
    assert sent["headers"]["Authorization"] == f"Bearer {TOKEN}"
    assert sent["headers"]["User-Agent"].startswith("hf-model-console/")


@pytest.mark.parametrize("sse_space", [True, False])
def test_endpoint_stream_with_and_without_space(hf, sse_space):
    hf.add_endpoint("tgi", sse_space=sse_space)
    chunks = run(endpoint(hf), stream=True)
    assert chunks[:-1] == ["The", " sky", " is", " blue"]
    assert chunks[-1].finish_reason == "length"
    assert chunks[-1].generated_tokens == 4


def test_chat_stream_through_inference_providers_ends_on_done(hf):
    chunks = run(providers_chat(), stream=True)
    assert "".join(chunks[:-1]) == "The sky is blue"
    assert chunks[-1].generated_tokens == 4  # from the usage chunk
    assert hf.requests[-1]["path"] == "/router/v1/chat/completions"


def test_chat_on_old_tgi_without_done(hf):
    hf.add_endpoint("old", sse_space=False)  # TGI 1.x/2.x: `data:` and no [DONE]
    chunks = run(endpoint(hf, "old", task="chat"), stream=True)
    assert "".join(chunks[:-1]) == "The sky is blue"


def test_invalid_token(hf):
    error = failure(hosted(token="hf_wrongwrongwrong"))
    assert (error.category, error.http_status) == ("invalid_token", 401)
    assert error.message == "Invalid username or password."


def test_token_lacks_permission(hf):
    hf.add_token("hf_finegrainedNoInference", role="fineGrained", global_perms=["discussion.write"])
    error = failure(hosted(token="hf_finegrainedNoInference"))
    assert error.category == "token_lacks_permission" and error.http_status == 403
    info = hub.whoami("hf_finegrainedNoInference")
    assert info.role == "fineGrained" and not info.can_call_providers


def test_payment_required(hf):
    hf.fault("v1/chat", "status", status=402, body={"error": "Pay-as-you go is not enabled for provider fal-ai yet."})
    error = failure(providers_chat())
    assert error.category == "payment_required" and "Pay-as-you go" in error.message


def test_model_not_found_on_the_hub(hf):
    with pytest.raises(HFError) as info:
        hub.model_info("nobody/nothing", TOKEN)
    assert info.value.category == "model_not_found" and info.value.http_status == 404


def test_renamed_model_redirect_is_followed_on_the_same_host(hf):
    hf.renamed["gpt2"] = "openai-community/gpt2"
    assert hub.model_info("gpt2", TOKEN)["id"] == "openai-community/gpt2"


def test_a_cookie_a_server_sets_is_not_sent_back_on_later_calls(hf):
    """Calls of every user share one pool: a cookie one call got (a load balancer's, a session's) must not ride
    along on the next call, another user's perhaps, to the same server."""
    hf.add_endpoint("tgi")
    answer = [{"generated_text": "Hello"}]
    hf.fault("/ep/tgi", "status", status=200, body=answer, headers={"Set-Cookie": "route=alice-7; Path=/"})
    assert run(endpoint(hf))[0] == "Hello"
    run(endpoint(hf))
    assert "Cookie" not in hf.requests[-1]["headers"]


def test_model_gated(hf):
    error = failure(
        generation.Target(
            "hosted_api", "text-generation", repo_id="meta-llama/Llama-3.1-8B-Instruct", token=OTHER_TOKEN
        )
    )
    assert error.category in ("model_gated", "model_not_served")
    hf.models["meta-llama/Llama-3.1-8B-Instruct"]["inference"] = "warm"
    error = failure(
        generation.Target(
            "hosted_api", "text-generation", repo_id="meta-llama/Llama-3.1-8B-Instruct", token=OTHER_TOKEN
        )
    )
    assert error.category == "model_gated" and "restricted" in error.message


def test_model_not_served_by_hf_inference(hf):
    error = failure(
        generation.Target("hosted_api", "text-generation", repo_id="meta-llama/Llama-3.1-8B-Instruct", token=TOKEN)
    )
    assert error.category == "model_not_served" and error.http_status == 404


def test_provider_model_not_supported(hf):
    error = failure(providers_chat(repo="google/flan-t5-base:groq"))
    assert error.category == "model_not_served" and "not supported by any provider" in error.message


def test_model_loading_is_waited_for_within_the_cap(hf, settings):
    hf.models["google/flan-t5-base"]["_loading"] = 0.3
    started = time.monotonic()
    assert run(hosted())[-1].text == "The sky is blue"
    assert time.monotonic() - started >= 0.3
    hf.models["google/flan-t5-base"]["_loading"] = 120.0  # longer than HF_LOADING_WAIT_MAX: reported, not waited
    error = failure(hosted())
    assert error.category == "model_loading" and error.estimated_time == 120.0


def test_rate_limited_retries_after_a_short_wait_then_reports(hf):
    hf.fault("hf-inference", "rate_limit", times=1, retry_after=0)
    assert run(hosted())[-1].text == "The sky is blue"
    hf.fault("hf-inference", "rate_limit", times=5, retry_after=30)
    error = failure(hosted())
    assert error.category == "rate_limited" and error.retry_after == 30.0 and error.http_status == 429


def test_no_retry_on_authentication_errors(hf):
    before = len(hf.requests)
    failure(hosted(token="hf_wrongwrongwrong"))
    assert len(hf.requests) - before == 1


def test_input_rejected_with_tgi_message(hf):
    error = failure(endpoint(hf), temperature=0.0)
    assert error.category == "input_rejected" and error.http_status == 422
    assert error.message == "Input validation error: `temperature` must be strictly positive"


def test_input_rejected_in_stream_is_raised(hf):
    error = failure(endpoint(hf), stream=True, top_p=1.0)
    assert error.category == "input_rejected"
    assert "`top_p` must be > 0.0 and < 1.0" in error.message


def test_plain_text_deserialize_error(hf):
    target = endpoint(hf)
    with pytest.raises(HFError) as info:
        list(generation.generate(target, {"stop_sequences": "not-a-list"}, prompt="x"))
    assert info.value.category == "input_rejected"
    assert info.value.message.startswith("Failed to deserialize the JSON body")


def test_transformers_pipeline_unused_kwargs_are_dropped_and_retried(hf):
    hf.models["google/flan-t5-base"]["_backend"] = "transformers"
    chunks = run(hosted(), return_full_text=False, stop_sequences=["x"])
    assert chunks[-1].text == "The sky is blue"
    assert len([r for r in hf.requests if r["path"].startswith("/router/hf-inference")]) == 2


def test_endpoint_paused(hf):
    hf.add_endpoint("tgi", state="paused")
    error = failure(endpoint(hf))
    assert error.category == "endpoint_paused" and error.http_status == 400


def test_endpoint_wrong_token_gets_bare_401(hf):
    hf.add_endpoint("tgi", token="hf_endpointsecret123")
    error = failure(endpoint(hf, token="hf_wrongwrongwrong"))
    assert error.category == "invalid_token" and error.http_status == 401
    assert run(endpoint(hf, token="HF_ENDPOINTSECRET123"))[-1].text  # case-insensitive, as TGI compares


def test_endpoint_not_found(hf):
    error = failure(endpoint(hf, name="nothing-here"))
    assert error.category == "endpoint_not_found"


def test_upstream_error_5xx(hf):
    hf.fault(
        "/ep/tgi", "status", status=500, body={"error": "Incomplete generation", "error_type": "incomplete_generation"}
    )
    error = failure(endpoint(hf))
    assert error.category == "upstream_error" and error.message == "Incomplete generation"


def test_error_as_list_and_openai_dict_and_oauth_forms(hf):
    hf.fault("/ep/tgi", "status", status=400, body={"error": ["Error in `inputs`: field required"]})
    assert failure(endpoint(hf)).message == "Error in `inputs`: field required"
    hf.fault("/ep/tgi", "status", status=500, body={"error": {"message": "boom", "http_status_code": 500}})
    assert failure(endpoint(hf)).message == "boom"
    hf.fault("/ep/tgi", "status", status=400, body={"error": "invalid_request", "error_description": "bad"})
    assert failure(endpoint(hf)).message == "invalid_request: bad"


def test_bad_response_not_json(hf):
    hf.fault("/ep/tgi", "non_json")
    error = failure(endpoint(hf))
    assert error.category == "bad_response" and "text/html" in error.message


def test_bad_response_wrong_shape(hf):
    hf.fault("/ep/tgi", "status", status=200, body={"unexpected": True})
    assert failure(endpoint(hf)).category == "bad_response"


def test_timeout_on_a_slow_server(hf, settings):
    settings.HF_READ_TIMEOUT = 0.3
    hf.fault("/ep/tgi", "slow", seconds=1.5)
    started = time.monotonic()
    assert failure(endpoint(hf)).category == "timeout"
    assert time.monotonic() - started < 1.4


def test_overall_deadline_bounds_a_slow_stream(hf):
    hf.token_delay = 0.2
    started = time.monotonic()
    with pytest.raises(HFError) as info:
        list(
            generation.generate(
                endpoint(hf), {"max_new_tokens": 50}, prompt="x", stream=True, deadline=transport.Deadline(0.5)
            )
        )
    assert info.value.category == "timeout"
    assert time.monotonic() - started < 1.5


def test_connection_refused(hf):
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    target = generation.Target("inference_endpoint", "text-generation", endpoint_url=f"http://127.0.0.1:{port}")
    assert failure(target).category == "connection_refused"


def test_dropped_connection(hf):
    hf.fault("/ep/tgi", "drop")
    assert failure(endpoint(hf)).category == "connection_lost"


def test_dropped_mid_stream(hf):
    hf.fault("/ep/tgi", "drop_mid_stream", after=2)
    chunks = []
    with pytest.raises(HFError) as info:
        for chunk in generation.generate(endpoint(hf), {"max_new_tokens": 10}, prompt="x", stream=True):
            chunks.append(chunk)
    assert chunks == ["The", " sky"]
    assert info.value.category == "connection_lost"


def test_error_event_mid_stream(hf):
    hf.fault("/ep/tgi", "stream_error", after=1)
    with pytest.raises(HFError) as info:
        list(generation.generate(endpoint(hf), {"max_new_tokens": 10}, prompt="x", stream=True))
    assert info.value.category == "upstream_error" and "CUDA out of memory" in info.value.message


def test_dns_failure(hf, settings):
    settings.OUTBOUND_ALLOWED_HOSTS = ["no-such-host.invalid"]
    target = generation.Target("inference_endpoint", "text-generation", endpoint_url="http://no-such-host.invalid")
    assert failure(target).category == "dns_failure"


def test_tls_error(hf):
    # The emulator speaks plain HTTP: a TLS handshake with it fails like a broken certificate would.
    target = generation.Target(
        "inference_endpoint", "text-generation", endpoint_url=f"https://127.0.0.1:{hf.port}/ep/tgi"
    )
    assert failure(target).category == "tls_error"


def test_blocked_by_url_policy_at_connect_time(hf, settings):
    settings.OUTBOUND_ALLOWED_NETWORKS = []
    target = generation.Target(
        "inference_endpoint", "text-generation", endpoint_url=f"http://localhost:{hf.port}/ep/tgi"
    )
    error = failure(target)
    assert error.category == "blocked_by_url_policy" and "127.0.0.1" in error.message
    assert not any(r["path"].startswith("/ep/tgi") for r in hf.requests)


def test_redirect_to_another_host_is_not_followed(hf):
    hf.fault("/ep/tgi", "status", status=302, body="", headers={"Location": "http://169.254.169.254/latest/meta-data"})
    error = failure(endpoint(hf))
    assert error.category == "blocked_by_url_policy" and "169.254.169.254" in error.message


def test_every_category_has_explanation_and_fix():
    for category, (explanation, fix) in CATEGORIES.items():
        assert str(explanation) and str(fix), category


def test_an_answer_read_to_its_end_leaves_its_connection_usable_in_the_pool(hf):
    """The pump's stop() shuts the socket of an answer it abandons; one read to its end went back to the pool,
    where another request (another stream) may already use it. Shutting it then cut that request (502
    connection_lost under a thousand streams): the pooled connection must be left alone."""
    from urllib3.util.connection import is_connection_dropped

    target = endpoint(hf)
    pools = transport._session().get_adapter(target.url()).poolmanager.pools

    def idle():
        queued = [conn for key in pools.keys() for conn in list(pools[key].pool.queue)]
        return [conn for conn in queued if conn is not None and conn.sock is not None]

    for stream in (False, True, False):
        for conn in idle():  # earlier tests' (or the stream's) closed connections, which urllib3 drops on checkout
            if is_connection_dropped(conn):
                conn.close()
        assert isinstance(run(target, stream=stream)[-1], adapters.Finish)
        idle_now = idle()
        if stream:
            continue  # a stream may be abandoned at its last event, before its end was read: then it is shut
        assert idle_now and not any(is_connection_dropped(conn) for conn in idle_now)

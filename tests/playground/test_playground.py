"""The playground: streamed and whole runs for every endpoint type and task, figures, history, limits."""

import json
import time

import pytest
from django.urls import reverse

from providers.models import PlaygroundRun, RunStatus
from tests.conftest import TOKEN, create_endpoint_model, create_model, login_session

pytestmark = pytest.mark.django_db


def events(response):
    assert response["Content-Type"] == "application/x-ndjson"
    body = (b"".join(response.streaming_content) if response.streaming else response.content).decode()
    return [json.loads(line) for line in body.splitlines() if line.strip()]


def run(client, model, stream=True, **fields):
    data = {"model": model.pk, "prompt": "Why is the sky blue", "max_new_tokens": "4"}
    if stream:
        data["stream"] = "on"
    data.update(fields)
    return client.post(reverse("playground_run"), data)


def text_of(evts):
    return "".join(e["text"] for e in evts if e["type"] == "token")


@pytest.mark.parametrize(
    "kind", ["hosted_t2t", "hosted_tg", "endpoint_tg", "endpoint_t2t", "endpoint_chat", "providers_chat"]
)
@pytest.mark.parametrize("stream", [True, False])
def test_every_endpoint_type_and_task(hf, member_client, provider_token, kind, stream):
    hf.add_endpoint("t2t", pipeline="text2text-generation")
    model = {
        "hosted_t2t": lambda: create_model(),
        "hosted_tg": lambda: create_model(display_name="gpt2", task="text-generation", repo_id="openai-community/gpt2"),
        "endpoint_tg": lambda: create_endpoint_model(hf.base, "tgi"),
        "endpoint_t2t": lambda: create_endpoint_model(hf.base, "t2t", task="text2text-generation", path="/ep/t2t"),
        "endpoint_chat": lambda: create_endpoint_model(hf.base, "tgi chat", task="chat"),
        "providers_chat": lambda: create_model(
            display_name="llama",
            endpoint_type="inference_providers",
            task="chat",
            repo_id="meta-llama/Llama-3.1-8B-Instruct",
        ),
    }[kind]()
    hf.token_delay = 0.08  # tokens paced as a real server does: the rate is measured over ~0.24 s
    response = run(member_client, model, stream=stream)
    assert float(response["X-Console-Overhead-Ms"]) >= 0
    evts = events(response)
    assert evts[0]["type"] == "start" and evts[-1]["type"] == "done", evts
    tokens = [e for e in evts if e["type"] == "token"]
    assert text_of(evts) == "The sky is blue"
    assert len(tokens) == (4 if stream else 1)
    figures = evts[-1]["figures"]
    assert figures["generated_tokens"] == 4 and figures["finish_reason"] in ("length", "stop", "")
    assert figures["latency_ms"] > 0
    if stream:
        assert figures["ttft_ms"] > 0 and figures["tokens_per_second"] > 0
    else:  # a whole answer has no first token to time; its rate is over the whole wait
        assert figures["ttft_ms"] is None
        assert figures["tokens_per_second"] == pytest.approx(4 / (figures["latency_ms"] / 1000), rel=0.02)
    saved = PlaygroundRun.objects.get()
    assert saved.output == "The sky is blue" and saved.status == RunStatus.OK
    assert saved.mode == ("chat" if model.is_chat else "completion")
    upstream = hf.requests[-1]
    body = json.loads(upstream["body"])
    if model.is_chat:
        assert body["messages"][-1] == {"role": "user", "content": "Why is the sky blue"}
        assert body["max_tokens"] == 4 and body["stream"] is stream
    else:
        assert body["inputs"] == "Why is the sky blue" and body["parameters"]["max_new_tokens"] == 4


def test_chat_conversation_with_system_prompt(hf, member_client, chat_model):
    history = [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello!"}]
    response = run(member_client, chat_model, system="You are terse.", messages=json.dumps(history), prompt="And now?")
    assert text_of(events(response)) == "The sky is blue"
    sent = json.loads(hf.requests[-1]["body"])["messages"]
    assert sent == [{"role": "system", "content": "You are terse."}, *history, {"role": "user", "content": "And now?"}]
    saved = PlaygroundRun.objects.get()
    assert saved.messages[0]["role"] == "system" and saved.output == "The sky is blue"


def test_parameters_are_validated_with_the_server_rules(hf, member_client, hosted_model):
    for field, value, message in [
        ("temperature", "0", "strictly positive"),
        ("top_p", "1", "< 1.0"),
        ("top_k", "0", "strictly positive"),
        ("stop_sequences", "a\nb\nc\nd\ne", "At most 4"),
        ("max_new_tokens", "-3", "strictly positive"),
        ("seed", "-1", ""),
    ]:
        response = run(member_client, hosted_model, **{field: value})
        assert response.status_code == 400
        errors = response.json()["errors"]
        assert field in errors and message in errors[field][0]["message"]
    empty = run(member_client, hosted_model, prompt="  ")
    assert "prompt" in empty.json()["errors"]
    assert not PlaygroundRun.objects.exists()
    assert hf.requests == []


def test_defaults_and_seed_and_sampling_are_sent(hf, member_client, provider_token):
    model = create_model(
        display_name="gpt2",
        task="text-generation",
        repo_id="openai-community/gpt2",
        temperature=0.7,
        stop_sequences=["###"],
    )
    page = member_client.get(reverse("playground")).content.decode()
    assert '"temperature": 0.7' in page and "###" in page  # prefilled from the model's defaults
    run(member_client, model, stream=False, seed="42", do_sample="on", temperature="0.5", stop_sequences="END")
    params = json.loads(hf.requests[-1]["body"])["parameters"]
    assert params["seed"] == 42 and params["do_sample"] is True and params["temperature"] == 0.5
    assert params["stop"] == ["END"] and params["return_full_text"] is False


def test_failure_before_the_stream_is_shown_with_its_diagnosis(hf, member_client, hosted_model):
    hf.models["google/flan-t5-base"]["_loading"] = 300.0
    evts = events(run(member_client, hosted_model))
    assert evts[-1]["type"] == "error"
    assert evts[-1]["error"]["category"] == "model_loading" and evts[-1]["error"]["fix"]
    saved = PlaygroundRun.objects.get()
    assert saved.status == RunStatus.FAILED and saved.error_category == "model_loading"


def test_mid_stream_failure_appears_in_place(hf, member_client, endpoint_model):
    hf.fault("/ep/tgi", "stream_error", after=2)
    evts = events(run(member_client, endpoint_model, max_new_tokens="10"))
    assert [e["type"] for e in evts] == ["start", "token", "token", "error"]
    assert evts[-1]["error"]["category"] == "upstream_error"
    saved = PlaygroundRun.objects.get()
    assert saved.status == RunStatus.FAILED and saved.output == "The sky"


def test_dropped_upstream_mid_stream(hf, member_client, endpoint_model):
    hf.fault("/ep/tgi", "drop_mid_stream", after=3)
    evts = events(run(member_client, endpoint_model, max_new_tokens="10"))
    assert evts[-1]["type"] == "error" and evts[-1]["error"]["category"] == "connection_lost"


def test_in_stream_validation_error(hf, member_client, endpoint_model, settings):
    # A value our form accepts but this server refuses arrives as an error event inside a 200 stream.
    hf.fault(
        "/ep/tgi",
        "stream_error",
        after=0,
        event={
            "error": "Input validation error: `inputs` must have less than 1024 tokens. Given: 3000",
            "error_type": "validation",
        },
    )
    evts = events(run(member_client, endpoint_model))
    assert evts[-1]["error"]["category"] == "input_rejected" and "1024 tokens" in evts[-1]["error"]["upstream"]


def test_members_cannot_use_disabled_models(hf, member_client, hosted_model):
    hosted_model.enabled = False
    hosted_model.save()
    response = run(member_client, hosted_model)
    assert response.status_code == 400 and "model" in response.json()["errors"]
    assert "flan" not in member_client.get(reverse("playground")).content.decode()


def test_members_never_see_tokens_or_urls(hf, member_client, endpoint_model):
    page = member_client.get(reverse("playground")).content.decode()
    assert "my tgi" in page
    assert endpoint_model.endpoint_url not in page and TOKEN not in page and "hf_…" not in page


def test_history_is_private_reopenable_and_deletable(hf, member_client, admin_client, hosted_model):
    events(run(member_client, hosted_model))
    saved = PlaygroundRun.objects.get()
    page = member_client.get(reverse("playground")).content.decode()
    assert reverse("run_detail", args=[saved.pk]) in page
    detail = member_client.get(reverse("run_detail", args=[saved.pk])).json()
    assert detail["prompt"] == "Why is the sky blue" and detail["output"] == "The sky is blue"
    assert detail["parameters"]["max_new_tokens"] == 4 and detail["figures"]["generated_tokens"] == 4
    assert admin_client.get(reverse("run_detail", args=[saved.pk])).status_code == 404
    assert admin_client.post(reverse("run_delete", args=[saved.pk])).status_code == 404
    assert member_client.post(reverse("run_delete", args=[saved.pk])).status_code == 200
    assert not PlaygroundRun.objects.exists()


def test_compare_group_is_kept(hf, member_client, hosted_model, chat_model):
    group = "7d9b7a1e-2f59-4c39-9a4b-0f7c1a0e5d11"
    for model in (hosted_model, chat_model):
        assert events(run(member_client, model, compare_group=group))[-1]["type"] == "done"
    assert PlaygroundRun.objects.filter(compare_group=group).count() == 2
    assert member_client.get(reverse("compare")).status_code == 200


def test_a_whole_answer_is_written_to_history_once_it_is_sent(hf, member_user, hosted_model, rf):
    from django.core.signals import request_finished
    from django.db import close_old_connections

    from providers.playground import views as playground_views

    request = rf.post(reverse("playground_run"), {"model": hosted_model.pk, "prompt": "Why", "max_new_tokens": "4"})
    request.user = member_user
    response = playground_views.run(request)
    done = events(response)[-1]
    saved = PlaygroundRun.objects.get(pk=done["figures"]["run_id"])
    assert done["type"] == "done" and saved.status == RunStatus.RUNNING  # counted by the rate limit already
    request_finished.disconnect(close_old_connections)  # as Django's test client does: keep the test's connection
    try:
        response.close()  # what the server does after the last byte
    finally:
        request_finished.connect(close_old_connections)
    saved.refresh_from_db()
    assert saved.status == RunStatus.OK and saved.output == text_of(events(response))
    assert saved.latency_ms == done["figures"]["latency_ms"] and saved.generated_tokens == 4
    assert float(response["X-Console-Overhead-Ms"]) >= 0


def test_rate_limit_per_user(hf, member_client, hosted_model, settings):
    settings.PLAYGROUND_RUNS_PER_MINUTE = 2
    for _ in range(2):
        assert run(member_client, hosted_model).status_code == 200
    limited = run(member_client, hosted_model)
    assert limited.status_code == 429
    assert "limit of runs per minute" in limited.json()["errors"]["__all__"][0]["message"]


def test_admin_sees_usage_per_model(hf, member_client, admin_client, hosted_model):
    events(run(member_client, hosted_model))
    hf.fault("hf-inference", "status", status=500, body={"error": "boom"})
    events(run(member_client, hosted_model))
    html = admin_client.get(reverse("huggingface")).content.decode()
    assert "2 runs" in html and "1 failed" in html and "median" in html


def start_served_stream(hf, live_server, user, pace, tokens):
    """A streamed run on an endpoint model through the live server, tokens paced by the emulator."""
    model = create_endpoint_model(hf.base, "paced")
    hf.token_delay = pace
    session = login_session(live_server.url, user.username)
    return session.post(
        live_server.url + reverse("playground_run"),
        stream=True,
        data={"model": model.pk, "prompt": "go", "max_new_tokens": str(tokens), "stream": "on"},
    )


@pytest.mark.django_db(transaction=True)
def test_stop_closes_the_upstream_connection(hf, live_server, member_user, provider_token):
    response = start_served_stream(hf, live_server, member_user, pace=0.05, tokens=200)
    lines = response.iter_lines()
    assert json.loads(next(lines))["type"] == "start"
    assert json.loads(next(lines))["type"] == "token"
    response.close()  # the browser's Stop
    deadline = time.monotonic() + 5
    while hf.aborted_streams == 0 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert hf.aborted_streams == 1
    assert hf.completed_streams == 0
    deadline = time.monotonic() + 5
    while PlaygroundRun.objects.filter(status=RunStatus.RUNNING).exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    saved = PlaygroundRun.objects.get()
    assert saved.status == RunStatus.STOPPED and 0 < len(saved.output) < 200 * 5


@pytest.mark.django_db(transaction=True)
def test_tokens_are_relayed_as_they_arrive(hf, live_server, member_user, provider_token):
    response = start_served_stream(hf, live_server, member_user, pace=0.15, tokens=5)
    arrivals = []
    for line in response.iter_lines(chunk_size=1):  # read bytes as they come, so arrival times are true
        if json.loads(line)["type"] == "token":
            arrivals.append(time.monotonic())
    assert len(arrivals) == 5
    gaps = [b - a for a, b in zip(arrivals, arrivals[1:], strict=False)]
    # One at a time, not batched at the end: batched tokens would come within milliseconds of each other. One short
    # gap is allowed: a token the busy machine delivered late brings the next one close after it.
    assert sorted(gaps)[1] > 0.1 and arrivals[-1] - arrivals[0] > 0.45, gaps


def test_a_whole_answer_without_a_token_count_or_tokenizer_reports_no_token_figures(hf, member_client, provider_token):
    hf.add_model("acme/pipeline-gpt", pipeline_tag="text-generation", backend="transformers")
    hf.no_tokenizer.add("acme/pipeline-gpt")  # with one, the console counts them (test_counted_tokens.py)
    model = create_model(display_name="pipeline", task="text-generation", repo_id="acme/pipeline-gpt")
    figures = events(run(member_client, model, stream=False))[-1]["figures"]
    assert figures["generated_tokens"] is None  # not "1" for a whole sentence
    assert figures["tokens_per_second"] is None and figures["ttft_ms"] is None
    assert figures["latency_ms"] > 0


def test_one_conversation_is_one_history_entry_with_its_turns(hf, member_client, chat_model):
    conversation = "0b4e7f3c-2f5e-4c55-9a55-5d0b8f1c9a11"
    events(run(member_client, chat_model, prompt="Hi", conversation=conversation))
    turns = [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "The sky is blue"}]
    events(run(member_client, chat_model, prompt="And why?", messages=json.dumps(turns), conversation=conversation))
    events(run(member_client, chat_model, prompt="Another chat"))
    page = member_client.get(reverse("playground")).content.decode()
    assert page.count('class="run"') == 2
    latest = PlaygroundRun.objects.filter(conversation=conversation).order_by("-pk").first()
    assert f'data-run="{latest.pk}"' in page
    assert "2 turns" in page
    detail = member_client.get(reverse("run_detail", args=[latest.pk])).json()
    assert [m["content"] for m in detail["messages"]] == ["Hi", "The sky is blue", "And why?"]
    member_client.post(reverse("run_delete", args=[latest.pk]))
    assert not PlaygroundRun.objects.filter(conversation=conversation).exists()


def test_history_is_searchable_and_paginated(hf, member_client, member_user, hosted_model):
    for i in range(25):
        PlaygroundRun.objects.create(user=member_user, model=hosted_model, model_name="flan", prompt=f"prompt {i}")
    page = member_client.get(reverse("playground")).content.decode()
    assert page.count('class="run"') == 20 and "Page 1 of 2" in page
    found = member_client.get(reverse("playground"), {"q": "prompt 7"}).content.decode()
    assert found.count('class="run"') == 1


def test_a_model_whose_last_test_failed_carries_a_sign(hf, member_client, hosted_model):
    from providers.models import ConnectionTest, HFModel

    test = ConnectionTest.objects.create(model=hosted_model, ok=False, category="model_not_served")
    HFModel.objects.filter(pk=hosted_model.pk).update(last_test=test)
    page = member_client.get(reverse("playground")).content.decode()
    assert "flan ⚠" in page and '"failing_title": "Not served here"' in page


def test_tokens_arriving_in_one_burst_get_no_rate(hf, member_client, provider_token):
    model = create_endpoint_model(hf.base, "tgi")
    figures = events(run(member_client, model, stream=True))[-1]["figures"]
    assert figures["generated_tokens"] == 4 and figures["ttft_ms"] > 0
    assert figures["tokens_per_second"] is None  # four tokens within milliseconds: not a rate worth showing


def test_an_oversized_playground_run_gets_the_json_error(member_client, hosted_model, settings):
    response = member_client.post(
        reverse("playground_run"),
        {"model": hosted_model.pk, "prompt": "x" * 3_000_000},
        HTTP_ACCEPT="application/x-ndjson",
    )
    assert response.status_code == 413
    assert response["Content-Type"] == "application/json"
    message = response.json()["errors"]["__all__"][0]["message"]
    assert "too large" in message and "2.5 MB" in message
    assert not PlaygroundRun.objects.exists()

"""The fixes of the outside review, beyond the reviewer's own tests (tests/test_review_findings.py)."""

import json

import pytest
from django.test import Client, RequestFactory

from providers.api import catalog, keys
from providers.huggingface import transport
from tests.conftest import TOKEN, create_endpoint_model


def api(key=None):
    headers = {"HTTP_AUTHORIZATION": f"Bearer {key}"} if key else {}
    return Client(raise_request_exception=False, **headers)


def post(c, path, body):
    return c.post(path, json.dumps(body), content_type="application/json")


@pytest.fixture
def member_key(member_user):
    return keys.create(member_user, "script")[1]


def sent_to(hf, suffix):
    return [r for r in hf.requests if r["path"].endswith(suffix)]


# --- 1. the catalog is built without network; the engine is identified by the call that needs it ------------


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


# --- 2. numbers from an upstream -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "value, expected",
    [(5, 5), (5.7, 5), ("12", 12), (0, 0), (-1, None), (float("inf"), None), (float("nan"), None), ("x", None)]
    + [(True, None), ([1], None), ({"a": 1}, None), (None, None), ("1e999", None), (2**31, None), (1e300, None)],
)
def test_a_count_from_an_upstream_is_finite_and_not_negative(value, expected):
    from providers.huggingface import numbers

    assert numbers.count(value) == expected


def test_test_connection_of_an_endpoint_whose_info_says_infinity(hf, admin_client, provider_token):
    model = create_endpoint_model(hf.base, display_name="paced")
    info = '{"model_id": "x", "router": "text-generation-router", "max_total_tokens": Infinity}'
    hf.fault(r"/ep/tgi/info", "status", times=1, status=200, body=info)
    admin_client.raise_request_exception = False
    url = f"/settings/providers/huggingface/models/{model.pk}/test/"
    response = admin_client.post(url, HTTP_ACCEPT="application/json")
    assert response.status_code == 200, response.content[:300]


# --- 4. usage and SSE -----------------------------------------------------------------------------------------


def test_a_lone_surrogate_becomes_a_replacement_character_in_plain_ascii_sse(hf, member_key, chat_model):
    events = (
        'data: {"id":"x","object":"chat.completion.chunk","choices":[{"index":0,"delta":{"content":"Hi \\ud83d"}}]}'
        "\n\ndata: [DONE]\n\n"
    )
    hf.fault(r"chat/completions", "status", times=1, status=200, body=events, content_type="text/event-stream")
    body = {"model": "llama-chat", "messages": [{"role": "user", "content": "hi"}], "stream": True}
    raw = b"".join(post(api(member_key), "/v1/chat/completions", body).streaming_content)
    assert b'"Hi \\ufffd"' in raw  # UTF-8 cannot carry a lone surrogate: the client replaces it, as a decoder would
    raw.decode("ascii")


def test_an_odd_usage_count_is_reported_as_unknown(hf, member_key, chat_model):
    answer = {
        "choices": [{"index": 0, "message": {"role": "assistant", "content": "Hi"}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": -4, "completion_tokens": 3},
    }
    hf.fault(r"chat/completions", "status", times=1, status=200, body=answer)
    body = {"model": "llama-chat", "messages": [{"role": "user", "content": "hi"}]}
    response = post(api(member_key), "/v1/chat/completions", body)
    assert response.status_code == 200
    assert response.json()["usage"] == {"prompt_tokens": None, "completion_tokens": 3, "total_tokens": None}


# --- 6. the token is never in an upstream's text ---------------------------------------------------------------


def test_a_non_json_answer_echoing_the_token_is_quoted_without_it(hf, member_key, provider_token):
    create_endpoint_model(hf.base, display_name="paced")
    echoed = f"<html>debug: Authorization: Bearer {TOKEN}</html>"
    hf.fault(r"/ep/tgi$", "status", times=1, status=200, body=echoed, content_type="text/html")
    response = post(api(member_key), "/v1/completions", {"model": "paced", "prompt": "Once", "max_tokens": 2})
    assert response.status_code == 502
    text = response.content.decode()
    assert "debug" in text and transport.REDACTED in text and TOKEN not in text


# --- 7. OpenAI's temperature 0 and top_p 1 on a TGI text model ------------------------------------------------


def test_temperature_0_is_sent_to_tgi_as_greedy_decoding(hf, member_key, provider_token):
    create_endpoint_model(hf.base, display_name="paced", temperature=0.7, top_p=0.9)
    body = {"model": "paced", "prompt": "Once", "max_tokens": 2, "temperature": 0, "top_p": 1}
    assert post(api(member_key), "/v1/completions", body).status_code == 200
    sent = json.loads(sent_to(hf, "/ep/tgi")[-1]["body"])["parameters"]
    assert sent["do_sample"] is False
    assert "temperature" not in sent and "top_p" not in sent  # the model's sampling defaults are dropped too


def test_temperature_0_is_greedy_on_an_openai_compatible_engine(hf, member_key, provider_token):
    hf.add_engine("vl", "vllm")
    create_endpoint_model(
        hf.base, display_name="vl", path="/srv/vl", engine="vllm", served_model="Qwen/Qwen2.5-7B-Instruct"
    )
    body = {"model": "vl", "prompt": "Once", "max_tokens": 2, "temperature": 0}
    assert post(api(member_key), "/v1/completions", body).status_code == 200
    assert json.loads(sent_to(hf, "/srv/vl/v1/completions")[-1]["body"])["temperature"] == 0


# --- 8. errors Django raises itself, on /v1/ ---------------------------------------------------------------------


def test_a_server_error_on_the_api_has_the_openai_shape(db):
    from providers.core import error_pages as errors_views

    request = RequestFactory().post("/v1/chat/completions")
    response = errors_views.server_error(request)
    assert response.status_code == 500
    error = json.loads(response.content)["error"]
    assert error["type"] == "server_error" and error["message"]


def test_the_api_body_limit_is_the_request_limit(hf, member_key, chat_model, settings):
    settings.REQUEST_MAX_BYTES = settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000
    body = {"model": "llama-chat", "messages": [{"role": "user", "content": "x" * 2000}]}
    response = post(api(member_key), "/v1/chat/completions", body)
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "too_large"


# --- 14. rough edges ------------------------------------------------------------------------------------------


def test_a_model_is_retrieved_by_its_display_name_as_it_is_called_by_it(hf, member_key, chat_model):
    response = api(member_key).get("/v1/models/llama chat")
    assert response.status_code == 200 and response.json()["id"] == "llama-chat"
    assert api(member_key).get("/v1/models/tgi").status_code == 404  # a placeholder names no model here


def test_an_unknown_api_route_names_the_model_route_too(member_key):
    response = api(member_key).get("/v1/embeddings")
    assert response.status_code == 404 and "/v1/models/<id>" in response.json()["error"]["message"]


def test_the_tgi_route_names_max_new_tokens_as_its_caller_sent_it(hf, member_key, provider_token):
    create_endpoint_model(hf.base, display_name="paced")
    body = {"inputs": "Once", "parameters": {"max_new_tokens": 0}}
    response = post(api(member_key), "/v1/models/paced", body)
    assert response.status_code == 400 and response.json()["error"]["param"] == "max_new_tokens"


# --- 11. limit files are never opened through a link ----------------------------------------------------------


def test_a_planted_hard_link_is_replaced_not_written_through(member_user, settings, tmp_path):
    import os

    from providers.api import limits

    settings.API_LIMITS_DIR = tmp_path / "limits"
    settings.API_LIMITS_DIR.mkdir()
    key, raw = keys.create(member_user, "victim")
    victim = tmp_path / "victim.sqlite3"
    victim.write_bytes(b"SQLite format 3\x00 precious")
    os.link(victim, settings.API_LIMITS_DIR / f"key-{key.pk}-{key.prefix}.rate")
    limits.take_request(keys.lookup(raw, 1))
    assert victim.read_bytes() == b"SQLite format 3\x00 precious"
    assert os.stat(settings.API_LIMITS_DIR / f"key-{key.pk}-{key.prefix}.rate").st_nlink == 1


# --- 9. limits per person as well as per key; a cap on keys -----------------------------------------------------


def chat_body(**extra):
    return {"model": "llama-chat", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 2, **extra}


def test_a_lowered_stream_limit_holds_for_a_fresh_key_too(hf, member_user, chat_model, settings, tmp_path):
    settings.API_LIMITS_DIR = tmp_path / "limits"
    key, raw = keys.create(member_user, "throttled")
    key.max_streams = 1
    key.save()
    first = post(api(raw), "/v1/chat/completions", chat_body(stream=True))
    assert first.status_code == 200
    fresh = keys.create(member_user, "fresh")[1]
    refused = post(api(fresh), "/v1/chat/completions", chat_body(stream=True))
    assert refused.status_code == 429 and refused.json()["error"]["code"] == "too_many_streams"
    b"".join(first.streaming_content)  # ends the first stream: its slots, the key's and the person's, are freed
    again = post(api(fresh), "/v1/chat/completions", chat_body(stream=True))
    assert again.status_code == 200
    b"".join(again.streaming_content)


def test_revoking_the_lowered_key_does_not_lift_its_owners_limit(hf, member_user, chat_model, settings, tmp_path):
    settings.API_LIMITS_DIR = tmp_path / "limits"
    key, raw = keys.create(member_user, "throttled")
    key.requests_per_minute = 1
    key.save()
    assert post(api(raw), "/v1/chat/completions", chat_body()).status_code == 200
    keys.revoke(key)
    fresh = keys.create(member_user, "fresh")[1]
    assert post(api(fresh), "/v1/chat/completions", chat_body()).status_code == 429


def test_an_unlimited_key_sets_no_limit_for_its_owner(hf, member_user, chat_model, settings, tmp_path):
    settings.API_LIMITS_DIR = tmp_path / "limits"
    settings.API_REQUESTS_PER_MINUTE = 2
    key, raw = keys.create(member_user, "batch")
    key.requests_per_minute = 0
    key.save()
    other = keys.create(member_user, "other")[1]
    for _ in range(4):
        assert post(api(raw), "/v1/chat/completions", chat_body()).status_code == 200
    assert post(api(other), "/v1/chat/completions", chat_body()).status_code == 200


def test_a_person_may_hold_at_most_api_max_keys_per_user_working_keys(member_user, member_client, settings):
    import io

    from django.core.management import CommandError, call_command

    from providers.models import APIKey

    settings.API_MAX_KEYS_PER_USER = 2
    first = keys.create(member_user, "one")[0]
    keys.create(member_user, "two")
    page = member_client.post("/account/", {"name": "three", "expires_in_days": ""}).content.decode()
    assert "as many as one person may" in page
    with pytest.raises(CommandError, match="API_MAX_KEYS_PER_USER"):
        call_command("create_api_key", "mia", "four", stdout=io.StringIO())
    assert APIKey.objects.count() == 2
    keys.revoke(first)
    member_client.post("/account/", {"name": "three", "expires_in_days": ""})
    assert APIKey.objects.filter(name="three").exists()


# --- 10. refusals are not rows; old rows are pruned -----------------------------------------------------------


def test_a_refused_call_writes_no_row(hf, member_user, chat_model, settings, tmp_path):
    from providers.models import APICall

    settings.API_LIMITS_DIR = tmp_path / "limits"
    key, raw = keys.create(member_user, "k")
    key.requests_per_minute = 1
    key.save()
    c = api(raw)
    assert post(c, "/v1/chat/completions", chat_body()).status_code == 200
    for _ in range(5):
        assert post(c, "/v1/chat/completions", chat_body()).status_code == 429
    assert APICall.objects.count() == 1


def test_prune_api_calls_deletes_records_older_than_the_retention(member_user, settings):
    import io
    from datetime import timedelta

    from django.core.management import call_command
    from django.utils import timezone

    from providers.management.commands import prune_api_calls
    from providers.models import APICall

    key = keys.create(member_user, "k")[0]
    for age in (1, 89, 91, 400):
        call = APICall.objects.create(key=key, user=member_user, route="chat", status=200)
        APICall.objects.filter(pk=call.pk).update(created_at=timezone.now() - timedelta(days=age))
    settings.API_CALL_RETENTION_DAYS = 90
    out = io.StringIO()
    call_command("prune_api_calls", stdout=out)
    assert "Deleted 2" in out.getvalue() and APICall.objects.count() == 2
    assert prune_api_calls.prune(30, batch=1) == 1 and APICall.objects.count() == 1
    settings.API_CALL_RETENTION_DAYS = 0
    call_command("prune_api_calls", stdout=io.StringIO())
    assert APICall.objects.count() == 1


# --- api_id in the export and the import ----------------------------------------------------------------------


def import_file(admin_client, payload):
    import io

    from django.urls import reverse

    upload = io.BytesIO(json.dumps(payload).encode())
    upload.name = "models.json"
    return admin_client.post(reverse("models_import"), {"file": upload}).content.decode()


def test_the_api_id_is_exported_and_imported(admin_client):
    from django.urls import reverse

    from providers.models import HFModel
    from tests.conftest import create_model

    create_model(display_name="flan")
    HFModel.objects.filter(display_name="flan").update(api_id="my-flan")  # kept from before a rename
    payload = json.loads(admin_client.get(reverse("models_export")).content)
    assert payload["models"][0]["api_id"] == "my-flan"
    HFModel.objects.all().delete()
    page = import_file(admin_client, payload)
    assert "Created:" in page
    assert HFModel.objects.get().api_id == "my-flan"
    payload["models"][0]["api_id"] = "renamed-id"
    assert "Updated:" in import_file(admin_client, payload)
    assert HFModel.objects.get().api_id == "renamed-id"
    payload["models"][0]["api_id"] = None
    assert "Skipped (unchanged): 1" in import_file(admin_client, payload)  # no id in the file: the model's is kept
    assert HFModel.objects.get().api_id == "renamed-id"


ENTRY = {"endpoint_type": "hosted_api", "task": "text-generation", "repo_id": "openai-community/gpt2"}


@pytest.mark.parametrize(
    "api_id, message",
    [
        ("has space", "letters, digits"),
        ("x" * 101, "at most 100"),
        ("taken", "another model"),
        (7, "must be a text"),
    ],
)
def test_an_imported_api_id_is_checked(admin_client, api_id, message):
    from providers.models import HFModel
    from tests.conftest import create_model

    create_model(display_name="other")
    HFModel.objects.update(api_id="taken")
    payload = {
        "format": "hf-model-console/models",
        "version": 1,
        "models": [{"display_name": "new", "api_id": api_id, **ENTRY}],
    }
    page = import_file(admin_client, payload)
    assert "Nothing was imported" in page and message in page and "api_id" in page
    assert HFModel.objects.count() == 1


def test_an_api_id_given_twice_or_chosen_for_another_new_model(admin_client):
    from providers.models import HFModel

    twice = [{"display_name": n, "api_id": "same", **ENTRY} for n in ("a", "b")]
    payload = {"format": "hf-model-console/models", "version": 1, "models": twice}
    assert "appears twice" in import_file(admin_client, payload)
    # "b b" would be given the id "b-b" on save; the file gives that id to the later entry, which keeps it.
    models = [{"display_name": "b b", **ENTRY}, {"display_name": "c", "api_id": "b-b", **ENTRY}]
    assert "Created:" in import_file(admin_client, {**payload, "models": models})
    assert HFModel.objects.get(display_name="c").api_id == "b-b"
    assert HFModel.objects.get(display_name="b b").api_id == "b-b-2"


# --- 5. a stream's slot is released on every path ---------------------------------------------------------------


def test_a_defect_before_the_stream_starts_releases_its_slot(
    hf, member_user, chat_model, settings, tmp_path, monkeypatch
):
    """Independent of any client defect (the reviewer's test uses one that the run-integrity branch fixes)."""
    settings.API_LIMITS_DIR = tmp_path / "limits"
    key, raw = keys.create(member_user, "one stream")
    key.max_streams = 1
    key.save()
    real = catalog.target
    monkeypatch.setattr(catalog, "target", lambda entry, deadline: 1 / 0)
    assert post(api(raw), "/v1/chat/completions", chat_body(stream=True)).status_code == 500
    monkeypatch.setattr(catalog, "target", real)
    response = post(api(raw), "/v1/chat/completions", chat_body(stream=True))
    assert response.status_code == 200, response.content[:200]
    b"".join(response.streaming_content)

"""A model an admin set to leave out what its upstream cannot carry (as LiteLLM's drop_params): such OpenAI fields
are left out of the upstream's request instead of refused, and the answer names them in X-Dropped-Params. What the
upstream can carry still arrives unchanged; a name no OpenAI request has is still refused."""

import json

import pytest

from providers.models import HFModel, Task
from tests.api.test_parameter_relay import post, sent
from tests.conftest import create_endpoint_model, create_model

MESSAGES = [{"role": "user", "content": "Weather in Paris?"}]


@pytest.fixture
def models(hf, provider_token):
    hf.add_engine("llamacpp", "llamacpp")
    create_endpoint_model(hf.base, display_name="llama chat", task=Task.CHAT, path="/srv/llamacpp")
    create_model(display_name="hosted text", repo_id="openai-community/gpt2", task=Task.TEXT_GENERATION)
    HFModel.objects.update(drop_unsupported=True)


def test_a_relayed_call_leaves_out_what_the_server_cannot_carry_and_says_so(hf, member_key, models):
    body = {"model": "llama-chat", "messages": MESSAGES, "max_tokens": 3, "n": 2, "seed": 5, "store": True}
    response = post(member_key, "/v1/chat/completions", body)
    assert response.status_code == 200, response.content
    assert response["X-Dropped-Params"] == "n, store"
    upstream = sent(hf, "/v1/chat/completions")
    assert "n" not in upstream and "store" not in upstream and upstream["seed"] == 5


def test_a_translated_call_leaves_them_out_too(hf, member_key, models):
    body = {"model": "hosted-text", "prompt": "Once", "max_tokens": 3, "logprobs": 2, "presence_penalty": 0.5}
    response = post(member_key, "/v1/completions", body)
    assert response.status_code == 200, response.content
    assert response["X-Dropped-Params"] == "logprobs, presence_penalty"
    assert "presence_penalty" not in json.dumps(sent(hf, "openai-community/gpt2"))


def test_a_name_no_openai_request_has_is_still_refused(hf, member_key, models):
    body = {"model": "llama-chat", "messages": MESSAGES, "max_tokenz": 3}
    response = post(member_key, "/v1/chat/completions", body)
    assert response.status_code == 400 and response.json()["error"]["param"] == "max_tokenz"


def test_without_the_setting_the_same_call_is_refused_by_name(hf, member_key, models):
    HFModel.objects.update(drop_unsupported=False)
    body = {"model": "llama-chat", "messages": MESSAGES, "max_tokens": 3, "n": 2}
    response = post(member_key, "/v1/chat/completions", body)
    assert response.status_code == 400 and response.json()["error"]["param"] == "n"
    assert "X-Dropped-Params" not in response

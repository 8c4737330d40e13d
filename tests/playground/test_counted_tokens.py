"""A run whose server reports no token count gets the console's own, by the model's tokenizer, marked as such;
a model whose tokenizer cannot be had shows "not reported"."""

import json

import pytest
from django.urls import reverse

from providers.models import PlaygroundRun
from tests.conftest import create_model

pytestmark = pytest.mark.django_db


def final(response):
    body = (b"".join(response.streaming_content) if response.streaming else response.content).decode()
    return [json.loads(line) for line in body.splitlines() if line.strip()][-1]


@pytest.fixture
def pipeline_model(hf, provider_token):
    # A transformers pipeline on hf-inference: `[{"generated_text"}]`, no count (hf-protocol.md §18.1)
    hf.add_model("acme/pipe-gpt", pipeline_tag="text-generation", backend="transformers")
    return create_model(display_name="pipe", repo_id="acme/pipe-gpt", task="text-generation")


def test_a_run_without_a_reported_count_is_counted_by_the_console(hf, member_client, pipeline_model):
    data = {"model": pipeline_model.pk, "prompt": "Why is the sky blue", "max_new_tokens": "4"}
    done = final(member_client.post(reverse("playground_run"), data))
    assert done["type"] == "done", done
    assert done["figures"]["generated_tokens"] == 4 and done["figures"]["tokens_counted"] is True
    run = PlaygroundRun.objects.get(pk=done["figures"]["run_id"])
    assert run.generated_tokens == 4 and run.tokens_counted


def test_without_a_tokenizer_the_count_stays_not_reported(hf, member_client, pipeline_model):
    hf.no_tokenizer.add("acme/pipe-gpt")
    data = {"model": pipeline_model.pk, "prompt": "Why is the sky blue", "max_new_tokens": "4"}
    done = final(member_client.post(reverse("playground_run"), data))
    assert done["figures"]["generated_tokens"] is None and done["figures"]["tokens_counted"] is False

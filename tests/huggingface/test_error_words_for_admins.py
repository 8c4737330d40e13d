"""An upstream's reason ("Service Unavailable", "Repository not found") never stands alone in English: the console's
words come first, in the page's language, and the upstream's text follows, said to be the server's own."""

import pytest
from django.urls import reverse
from django.utils import translation

from providers.huggingface.errors import HFError
from tests.conftest import create_model

pytestmark = pytest.mark.django_db


def test_an_admin_reads_the_console_words_then_the_servers_own():
    error = HFError("upstream_error", "Service Unavailable", http_status=503, upstream=True)
    assert error.for_admin() == (
        "The Hugging Face service failed to answer the request. The server’s own words: “Service Unavailable”"
    )
    with translation.override("zh-hans"):
        words = error.for_admin()
    assert words.startswith("Hugging Face 服务未能完成此请求。") and "服务器的原话：“Service Unavailable”" in words
    assert HFError("timeout").for_admin() == str(HFError("timeout").message)  # the console's own words only


def test_a_missing_repository_is_said_in_the_page_language_in_test_connection(hf, admin_client, provider_token):
    model = create_model(display_name="gone", repo_id="acme/no-such-model")
    with translation.override("zh-hans"):
        result = admin_client.post(reverse("model_test", args=[model.pk]), HTTP_ACCEPT_LANGUAGE="zh-hans").json()
    assert result["category"] == "model_not_found"
    assert (
        "Repository not found" not in result["message"] and "Repository not found" not in result["steps"][-1]["detail"]
    )
    assert result["upstream"] == "Repository not found"


def test_a_control_plane_failure_in_the_endpoint_list_is_in_words_then_its_own(hf, admin_client, provider_token):
    hf.add_control_endpoint("alice", "chat-llama", state="running")
    hf.fault("/endpoints-api/endpoint/alice", "status", times=10, status=503, body="Service Unavailable")
    answer = admin_client.get(reverse("endpoint_list")).json()
    problem = answer["problems"][0]
    assert problem["category"] == "upstream_error"
    assert problem["message"] == (
        "The Hugging Face service failed to answer the request. The server’s own words: “Service Unavailable”"
    )

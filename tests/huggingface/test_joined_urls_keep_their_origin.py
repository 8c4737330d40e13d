"""A URL joined from a base and a path stays under the base: a path from a server never changes the host."""

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from providers.huggingface import endpoints_api, transport, urls
from providers.huggingface.errors import HFError
from tests.conftest import TOKEN


class _Recorder(BaseHTTPRequestHandler):
    def do_GET(self):
        self.server.seen.append(self.headers.get("Authorization", ""))
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


@pytest.fixture
def other_host():
    """A server on 127.0.0.10 (another loopback address): where a host-changing join would send the token."""
    server = ThreadingHTTPServer(("127.0.0.10", 0), _Recorder)
    server.seen = []
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server
    server.shutdown()
    server.server_close()


def test_wake_with_a_health_route_without_a_slash_keeps_the_token_on_the_endpoint(hf, other_host):
    port = other_host.server_address[1]
    # "http://127.0.0.1" + "0:<port>/x" as text is http://127.0.0.10:<port>/x: another host.
    endpoints_api.wake_endpoint("http://127.0.0.1", TOKEN, f"0:{port}/x", transport.Deadline(3))
    assert other_host.seen == []


@pytest.mark.parametrize(
    "base, path, joined",
    [
        ("https://ep.endpoints.huggingface.cloud", "/health", "https://ep.endpoints.huggingface.cloud/health"),
        ("https://ep.endpoints.huggingface.cloud/", "health", "https://ep.endpoints.huggingface.cloud/health"),
        ("https://ep.cloud", ".evil.test:19102/x", "https://ep.cloud/.evil.test:19102/x"),
        ("https://ep.cloud", "@evil.test/x", "https://ep.cloud/@evil.test/x"),
        ("http://10.0.0.5:8080/prefix/", "/v1/models", "http://10.0.0.5:8080/prefix/v1/models"),
    ],
)
def test_a_path_is_always_a_new_segment_under_the_base(base, path, joined):
    assert urls.join(base, path) == joined


@pytest.mark.parametrize(
    "base, path",
    [
        ("http://10.0.0.5:8080/prefix", "../other"),
        ("http://10.0.0.5:8080/prefix", "/a/./b"),
        ("https://ep.cloud?x=", "/health"),
        ("https://ep.cloud#frag", "/health"),
    ],
)
def test_a_join_that_would_leave_the_base_is_refused(base, path):
    with pytest.raises(HFError) as caught:
        urls.join(base, path)
    assert caught.value.category == "blocked_by_url_policy"


@pytest.mark.django_db
def test_wake_sends_no_provider_token_to_a_url_outside_hugging_faces_hosts(
    hf, other_host, admin_client, provider_token, settings
):
    from django.urls import reverse

    settings.PROVIDER_TOKEN_HOSTS = []
    url = f"http://127.0.0.10:{other_host.server_address[1]}"  # what the control plane says the endpoint is at
    hf.add_control_endpoint("alice", "cold", state="scaled_to_zero", url=url)
    answer = admin_client.post(reverse("endpoint_start"), {"namespace": "alice", "name": "cold"}).json()
    assert answer["action"] == "wake"
    assert other_host.seen == [""]  # woken, without the token

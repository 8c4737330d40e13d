"""Redirects never carry the token off its origin, and a blocked name never gets a TCP handshake.

The outbound policy on every hop and every socket: redirects never carry the token to another origin (nor over
plain http), and a blocked name never gets a TCP handshake (resolve-and-pin), whatever listens there."""

import socket

import pytest

from providers.huggingface import generation
from providers.huggingface.errors import HFError
from tests.conftest import TOKEN, free_port, open_chat_stream
from tests.tls_upstream import DualUpstream


@pytest.fixture
def upstream(tmp_path, settings):
    server = DualUpstream(tmp_path)
    settings.OUTBOUND_ALLOW_HTTP = False
    settings.OUTBOUND_ALLOWED_HOSTS = []
    settings.OUTBOUND_ALLOWED_NETWORKS = ["127.0.0.0/8"]
    settings.OUTBOUND_CA_BUNDLE = str(server.ca)
    yield server
    server.stop()


def generate(url, task="text-generation", kind="inference_endpoint", token=TOKEN):
    target = generation.Target(kind, task, endpoint_url=url, repo_id="google/flan-t5-base", token=token)
    return list(generation.generate(target, {"max_new_tokens": 2}, prompt="Hi"))


def refusal(url, **kwargs):
    with pytest.raises(HFError) as info:
        generate(url, **kwargs)
    return info.value


def test_the_private_ca_bundle_is_trusted_and_a_same_origin_redirect_keeps_the_token(upstream):
    upstream.redirect_to = f"https://localhost:{upstream.port}/final"
    chunks = generate(f"https://localhost:{upstream.port}/ep")
    assert chunks[0] == "ok"
    assert [(r["scheme"], r["path"], r["authorization"]) for r in upstream.requests] == [
        ("https", "/ep", f"Bearer {TOKEN}"),
        ("https", "/final", f"Bearer {TOKEN}"),
    ]


def test_without_the_ca_bundle_the_certificate_is_refused(upstream, settings):
    settings.OUTBOUND_CA_BUNDLE = ""
    assert refusal(f"https://localhost:{upstream.port}/ep").category == "tls_error"
    assert upstream.requests == []


@pytest.mark.parametrize("allow_http", [False, True])
def test_a_redirect_to_plain_http_on_the_same_host_and_port_never_carries_the_token(upstream, settings, allow_http):
    settings.OUTBOUND_ALLOW_HTTP = allow_http
    upstream.redirect_to = f"http://localhost:{upstream.port}/x"
    error = refusal(f"https://localhost:{upstream.port}/ep")
    assert error.category == "blocked_by_url_policy"
    assert f"http://localhost:{upstream.port}" in error.message
    assert upstream.plain_requests() == []
    assert len(upstream.requests) == 1


def test_a_redirect_from_the_trusted_router_to_plain_http_never_carries_the_token(upstream, settings):
    settings.HF_ROUTER_URL = f"https://localhost:{upstream.port}/router"
    upstream.redirect_to = f"http://localhost:{upstream.port}/router/x"
    error = refusal("", task="text2text-generation", kind="hosted_api")
    assert error.category == "blocked_by_url_policy"
    assert upstream.plain_requests() == []
    assert [r["scheme"] for r in upstream.requests] == ["https"]


@pytest.mark.parametrize(
    "location",
    [
        "https://127.0.0.1:{port}/final",  # same server, another host name: another origin
        "https://localhost:1/final",  # another port
        "https://user:pass@localhost:{port}/final",  # credentials in the URL
        "https://169.254.169.254/latest/meta-data",
    ],
)
def test_every_redirect_hop_passes_the_policy(upstream, location):
    upstream.redirect_to = location.format(port=upstream.port)
    error = refusal(f"https://localhost:{upstream.port}/ep")
    assert error.category == "blocked_by_url_policy"
    assert [r["path"] for r in upstream.requests] == ["/ep"]


class CountingListener:
    """A socket on 127.0.0.1 that counts the TCP connections made to it (a completed handshake waits in the
    accept queue even when the client closed it at once, so counting after the fact misses none)."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.sock.setblocking(False)

    @property
    def accepts(self):
        count = 0
        while True:
            try:
                conn, _addr = self.sock.accept()
            except BlockingIOError:
                return count
            conn.close()
            count += 1

    @property
    def port(self):
        return self.sock.getsockname()[1]

    def stop(self):
        self.sock.close()


@pytest.fixture
def listener(settings):
    settings.OUTBOUND_ALLOW_HTTP = False
    settings.OUTBOUND_ALLOWED_HOSTS = []
    settings.OUTBOUND_ALLOWED_NETWORKS = []
    lst = CountingListener()
    yield lst
    lst.stop()


def test_a_name_resolving_to_loopback_never_gets_a_tcp_connection(listener):
    error = refusal(f"https://localhost:{listener.port}/")
    assert error.category == "blocked_by_url_policy"
    assert listener.accepts == 0


def test_a_blocked_name_gives_the_same_answer_for_an_open_and_a_closed_port(listener):
    open_error = refusal(f"https://localhost:{listener.port}/")
    closed_error = refusal(f"https://localhost:{free_port()}/")
    assert (open_error.category, open_error.message) == (closed_error.category, closed_error.message)
    assert listener.accepts == 0


def test_a_rebound_name_is_refused_before_connecting(listener, monkeypatch):
    # The name looked public when the admin saved it; now it answers with the internal address.
    real = socket.getaddrinfo

    def rebound(host, port, *args, **kwargs):
        if host == "tgi.rebound.example":
            return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("127.0.0.1", port))]
        return real(host, port, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", rebound)
    error = refusal(f"https://tgi.rebound.example:{listener.port}/")
    assert error.category == "blocked_by_url_policy" and "127.0.0.1" in error.message
    assert listener.accepts == 0


def test_an_unreadable_ca_bundle_stops_the_start_with_a_clear_check(settings, tmp_path):
    from providers.core.checks import outbound_ca_bundle_readable

    settings.OUTBOUND_CA_BUNDLE = str(tmp_path / "missing.pem")
    errors = outbound_ca_bundle_readable(None)
    assert [e.id for e in errors] == ["providers.E002"] and "missing.pem" in errors[0].msg
    (tmp_path / "junk.pem").write_text("not a certificate")
    settings.OUTBOUND_CA_BUNDLE = str(tmp_path / "junk.pem")
    assert [e.id for e in outbound_ca_bundle_readable(None)] == ["providers.E002"]


def test_a_relayed_stream_over_tls_is_read_straight_from_its_socket(upstream):
    # The straight read's non-blocking reads on an SSL socket say "want read", not EAGAIN: still nothing yet.
    from providers.huggingface import relay

    target = generation.Target(
        "inference_endpoint", "chat", endpoint_url=f"https://localhost:{upstream.port}/v1", engine="vllm", token=TOKEN
    )
    events = open_chat_stream(target)
    items = [next(i for i in events if isinstance(i, bytes))]
    assert events.reader.body.read(0.0) is None  # the next event is 200 ms away: nothing yet, not a failure
    items += list(events)
    assert isinstance(items[-1], relay.End) and items[-1].finish_reason == "stop"
    text = b"".join(i for i in items if isinstance(i, bytes))
    assert b'"content": "Over"' in text and b'"content": " TLS"' in text
    assert events.reader.reading  # the body was read straight, not handed over by the helper

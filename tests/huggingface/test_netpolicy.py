"""Outbound URL safety: schemes, credentials, every address a host resolves to, allow-lists, retired host."""

import socket

import pytest

from providers.huggingface import netpolicy


@pytest.fixture(autouse=True)
def strict(settings):
    settings.OUTBOUND_ALLOW_HTTP = False
    settings.OUTBOUND_ALLOWED_HOSTS = []
    settings.OUTBOUND_ALLOWED_NETWORKS = []


def fake_dns(monkeypatch, mapping):
    def getaddrinfo(host, port, *args, **kwargs):
        if host not in mapping:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return [
            (socket.AF_INET6 if ":" in a else socket.AF_INET, socket.SOCK_STREAM, 6, "", (a, port))
            for a in mapping[host]
        ]

    monkeypatch.setattr(netpolicy.socket, "getaddrinfo", getaddrinfo)


@pytest.mark.parametrize(
    "url",
    [
        "https://127.0.0.1/",
        "https://10.1.2.3/",
        "https://172.16.0.1/",
        "https://192.168.1.1/",
        "https://169.254.169.254/latest/meta-data/",
        "https://100.64.0.1/",
        "https://0.0.0.0/",
        "https://224.0.0.1/",
        "https://[::1]/",
        "https://[fe80::1]/",
        "https://[fc00::1]/",
        "https://[::]/",
        "https://[ff02::1]/",
        "https://[::ffff:127.0.0.1]/",
        "https://[::ffff:a9fe:a9fe]/",
        "https://[fd00:ec2::254]/",
        "https://2130706433/",
        "https://0177.0.0.1/",
        "https://0x7f.0.0.1/",
        "https://017700000001/",
        "https://127.1/",
    ],
)
def test_internal_addresses_in_every_spelling_are_refused(url):
    with pytest.raises(netpolicy.BlockedURL, match="internal address"):
        netpolicy.check_url(url)


def test_a_host_resolving_to_a_private_address_is_refused(monkeypatch):
    fake_dns(monkeypatch, {"tgi.internal.example": ["93.184.216.34", "10.0.0.5"]})
    with pytest.raises(netpolicy.BlockedURL, match="10.0.0.5"):
        netpolicy.check_url("https://tgi.internal.example/")


def test_public_host_is_accepted(monkeypatch):
    fake_dns(monkeypatch, {"xyz.us-east-1.aws.endpoints.huggingface.cloud": ["3.5.140.2", "2600:1f18::1"]})
    assert netpolicy.check_url("https://xyz.us-east-1.aws.endpoints.huggingface.cloud/").hostname


def test_http_needs_the_setting(settings, monkeypatch):
    fake_dns(monkeypatch, {"example.org": ["93.184.216.34"]})
    with pytest.raises(netpolicy.BlockedURL, match="Only https"):
        netpolicy.check_url("http://example.org/")
    settings.OUTBOUND_ALLOW_HTTP = True
    netpolicy.check_url("http://example.org/")


@pytest.mark.parametrize("url", ["ftp://example.org/", "file:///etc/passwd", "gopher://x/", "javascript:alert(1)"])
def test_other_schemes_are_refused(url):
    with pytest.raises(netpolicy.BlockedURL, match="Only https"):
        netpolicy.check_url(url)


def test_credentials_in_the_url_are_refused():
    with pytest.raises(netpolicy.BlockedURL, match="user name or password"):
        netpolicy.check_url("https://user:hf_secret@example.org/")


def test_retired_host_names_the_router():
    with pytest.raises(netpolicy.BlockedURL, match="router.huggingface.co"):
        netpolicy.check_url("https://api-inference.huggingface.co/models/gpt2")


def test_allow_lists_let_a_lan_server_through(settings, monkeypatch):
    fake_dns(monkeypatch, {"tgi.lan": ["192.168.10.20"]})
    settings.OUTBOUND_ALLOWED_NETWORKS = ["192.168.10.0/24"]
    netpolicy.check_url("https://tgi.lan/")
    netpolicy.check_url("https://192.168.10.20/")
    with pytest.raises(netpolicy.BlockedURL):
        netpolicy.check_url("https://192.168.11.1/")
    settings.OUTBOUND_ALLOWED_NETWORKS = []
    settings.OUTBOUND_ALLOWED_HOSTS = ["tgi.lan"]
    netpolicy.check_url("https://tgi.lan/")


def test_unresolvable_host():
    with pytest.raises(netpolicy.BlockedURL, match="could not be resolved"):
        netpolicy.check_url("https://no-such-host.invalid/")


def test_address_refusal_on_connect_checks_mapped_addresses():
    assert netpolicy.address_refusal("::ffff:10.0.0.1")
    assert netpolicy.address_refusal("93.184.216.34") is None

"""The guarded transport every Hugging Face call goes through: one pooled session, timeouts and a deadline, the
outbound URL policy, redirects, the retries, and the failures of the wire as errors.HFError.

The outbound URL policy applies to every address a socket connects to, checked before it connects (endpoints
only: the Hub and router base URLs come from settings and are trusted); every redirect hop is checked again, and
none is followed to another origin, so the token only reaches the configured one. The only module that imports
requests or urllib3.
"""

import functools
import json
import socket
import ssl
import sys
import threading
import time
from dataclasses import dataclass, field
from urllib.parse import urljoin, urlsplit

import requests
from django.conf import settings
from django.utils.translation import gettext as _
from requests.adapters import HTTPAdapter
from requests.structures import CaseInsensitiveDict
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.exceptions import ConnectTimeoutError, NameResolutionError, NewConnectionError
from urllib3.util.connection import create_connection
from urllib3.util.timeout import _DEFAULT_TIMEOUT

from providers.huggingface import netpolicy, numbers, waking
from providers.huggingface.errors import SELF_HOSTED, HFError, parse_error_body, readable_text, retry_after_of
from providers.huggingface.urls import huggingface_host, is_trusted, origin_of, trusted_bases

USER_AGENT = "hf-model-console/1.0 (+self-hosted; python-requests)"
MAX_REDIRECTS = 5
MAX_RETRIES = 3
READ_SIZE = 16384
watch = threading.local()  # the reader.Reader reading in this thread, told which connection it uses


class BlockedConnection(Exception):
    def __init__(self, message):
        self.message = message
        super().__init__(message)


class _Noted:
    """Tells the reader.Reader reading in this thread that its request is written, and on which socket."""

    def request(self, *args, **kwargs):
        result = super().request(*args, **kwargs)
        reader = getattr(watch, "reader", None)
        if reader is not None:
            reader.sock = self.sock  # so that a stop can shut this socket while the server has not answered yet
            reader.sent.set()
        return result


class _PeerChecked(_Noted):
    """Resolve-and-pin: the host is resolved once, every address checked, and the socket opened to a checked one.

    `self.host` stays the name, so TLS still sends it as SNI and verifies the certificate against it.
    """

    def _new_conn(self):
        try:
            addresses = netpolicy.checked_addresses(self._dns_host, self.port)
        except netpolicy.BlockedURL as exc:
            raise BlockedConnection(exc.message) from None
        except (socket.gaierror, UnicodeError) as exc:
            raise NameResolutionError(self.host, self, exc) from exc
        error = None
        for address in addresses:  # in the resolver's order, as urllib3 would: the next one if one fails
            try:
                sock = _connect(address, self.port, self.timeout, self.source_address, self.socket_options)
            except OSError as exc:
                error = exc
                continue
            sys.audit("http.client.connect", self, self.host, self.port)
            return sock
        if isinstance(error, TimeoutError):
            raise ConnectTimeoutError(self, f"Connection to {self.host} timed out. (connect timeout={self.timeout})")
        raise NewConnectionError(self, f"Failed to establish a new connection: {error}")


def _connect(address, port, timeout, source_address, socket_options):
    """A socket connected to an address already resolved and checked. urllib3's create_connection would resolve
    it again, and under gevent every resolution, even of a number, is a hand-over to a pool of OS threads."""
    if "%" in address:  # an IPv6 scope: left to the resolver
        return create_connection((address, port), timeout, source_address, socket_options)
    sock = socket.socket(socket.AF_INET6 if ":" in address else socket.AF_INET, socket.SOCK_STREAM)
    try:
        for option in socket_options or ():
            sock.setsockopt(*option)
        if timeout is not _DEFAULT_TIMEOUT:
            sock.settimeout(timeout)
        if source_address:
            sock.bind(source_address)
        sock.connect((address, port))
    except BaseException:
        sock.close()
        raise
    return sock


def _pools(mixin):
    """{scheme: urllib3 pool class} whose connections are urllib3's with `mixin` over them."""
    return {
        scheme: type(
            f"{mixin.__name__}{pool.__name__}",
            (pool,),
            {"ConnectionCls": type(f"{mixin.__name__}{conn.__name__}", (mixin, conn), {})},
        )
        for scheme, pool, conn in (
            ("http", HTTPConnectionPool, HTTPConnection),
            ("https", HTTPSConnectionPool, HTTPSConnection),
        )
    }


def _tls_context():
    """The default trust plus OUTBOUND_CA_BUNDLE (an on-premises endpoint signed by a private CA), or None."""
    if not settings.OUTBOUND_CA_BUNDLE:
        return None
    context = ssl.create_default_context()
    context.load_verify_locations(cafile=settings.OUTBOUND_CA_BUNDLE)
    return context


class _TrustAdapter(HTTPAdapter):
    """The trusted Hub and router URLs: connections that only tell a reader.Reader when its request is written."""

    pools = _pools(_Noted)

    def init_poolmanager(self, *args, **kwargs):
        context = _tls_context()
        if context is not None:
            kwargs["ssl_context"] = context
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = dict(self.pools)


class _GuardedAdapter(_TrustAdapter):
    """Any other URL: each connection resolved, checked against the outbound policy and pinned."""

    pools = _pools(_PeerChecked)


_sessions = {}
_sessions_lock = threading.Lock()


def _session():
    """One pooled session per set of trusted base URLs and CA bundle (tests and air-gapped installs change them)."""
    key = (*trusted_bases(), settings.OUTBOUND_CA_BUNDLE)
    with _sessions_lock:
        session = _sessions.get(key)
        if session is None:
            session = requests.Session()
            session.headers["User-Agent"] = USER_AGENT
            session.trust_env = False  # no proxy or netrc credentials from the environment
            # Keep as many connections per host as streams a server process may hold, so that a busy playground
            # reuses them instead of connecting (and, on https, handshaking) for every stream beyond the 64th.
            kept = max(64, settings.WEB_WORKER_CONNECTIONS)
            guarded = _GuardedAdapter(pool_connections=16, pool_maxsize=kept)
            session.mount("http://", guarded)
            session.mount("https://", guarded)
            for base in trusted_bases():
                session.mount(base + "/", _TrustAdapter(pool_connections=4, pool_maxsize=kept))
            _sessions[key] = session
        return session


def _sent(method, url, json_body, headers, timeout):
    """The response (its body unread) to one request, sent by the session's adapter for `url` as
    session.request(stream=True, allow_redirects=False) sends it: the same headers, JSON body, pools, TLS trust,
    timeouts and errors. Without the session's per-call work, which none of these calls needs: a Request merged
    with the session's cookies, hooks and settings, and the URL parsed again each time: a quarter of a call's
    CPU on the client side (bench/transport_bench.py). Nor are cookies kept from one call to the next: one
    server's cookie is never sent back on another user's call."""
    session = _session()
    prepared = requests.PreparedRequest()
    prepared.method = method.upper()
    prepared.url = _prepared_url(url)
    prepared.headers = CaseInsensitiveDict(session.headers)
    prepared.headers.update(headers)  # strings only: no caller removes a session header by giving it None
    prepared.hooks = {"response": []}
    prepared.body = None
    if json_body is not None:
        try:
            prepared.body = json.dumps(json_body, allow_nan=False).encode("utf-8")  # as requests' json=
        except ValueError as exc:
            raise requests.exceptions.InvalidJSONError(exc, request=prepared) from None
        prepared.headers.setdefault("Content-Type", "application/json")
        prepared.headers["Content-Length"] = str(len(prepared.body))
    elif prepared.method not in ("GET", "HEAD"):
        prepared.headers["Content-Length"] = "0"
    adapter = session.get_adapter(prepared.url)
    return adapter.send(prepared, stream=True, timeout=timeout, verify=session.verify, cert=None, proxies={})


@functools.lru_cache(maxsize=512)
def _prepared_url(url):
    """`url` as requests sends it (its host IDNA-encoded, its path and query quoted); the same few URLs come back."""
    prepared = requests.PreparedRequest()
    prepared.prepare_url(url, None)
    return prepared.url


def _check_hop(url, origin):
    """Every URL a request goes to, the first and each redirect, passes the outbound policy.

    A redirect to any other origin (scheme, host or port) is refused: the token goes to the configured
    server only, and never over plain http because an https server said so.
    """
    if origin_of(url) != origin:
        scheme, host, port = origin_of(url)
        raise HFError(
            "blocked_by_url_policy",
            _("The server redirected to %(target)s, another address than the configured one; not followed.")
            % {"target": f"{scheme}://{host}:{port}"},
            upstream=True,
        )
    if is_trusted(url) and "@" not in urlsplit(url).netloc:
        return
    try:
        netpolicy.check_url(url, resolve_host=False)
    except netpolicy.BlockedURL as exc:
        raise HFError("blocked_by_url_policy", exc.message, upstream=True) from None


@dataclass
class Deadline:
    """An overall time limit shared by every request of one operation."""

    seconds: float
    started: float = field(default_factory=time.monotonic)
    # Called as on_wait(category, seconds) before call() sleeps on a loading model or a rate limit, or starts
    # waking an endpoint, so a caller can show what it waits for (Test connection's progress).
    on_wait: object = None
    waking_since: float | None = None  # monotonic time an endpoint began waking, while it wakes (see _woken)

    def left(self):
        return self.seconds - (time.monotonic() - self.started)

    def timeout(self):
        left = self.left()
        if left <= 0:
            raise HFError("timeout")
        return (min(settings.HF_CONNECT_TIMEOUT, left), min(settings.HF_READ_TIMEOUT, left))


def connection_failure(exc):
    text = repr(exc)
    if isinstance(exc, (requests.exceptions.ConnectTimeout, requests.exceptions.ReadTimeout)):
        return HFError("timeout")
    if isinstance(exc, requests.exceptions.SSLError):
        return HFError("tls_error", str(exc.__class__.__name__))
    if "NameResolutionError" in text or "Name or service not known" in text or "getaddrinfo" in text:
        return HFError("dns_failure")
    if "Connection refused" in text or "ConnectionRefusedError" in text:
        return HFError("connection_refused")
    if "timed out" in text.lower():
        return HFError("timeout")
    return HFError("connection_lost")


def send(method, url, token=None, json_body=None, headers=None, deadline=None, stream=False, cdn=False):
    """One request, following redirects only within the configured origin (`cdn`: also to Hugging Face's file
    hosts over https, which get no token: the Hub's redirect is a signed URL). Returns an open response."""
    deadline = deadline or Deadline(settings.HF_READ_TIMEOUT + settings.HF_CONNECT_TIMEOUT)
    request_headers = {"Accept": "application/json, text/event-stream"}
    if token:
        request_headers["Authorization"] = f"Bearer {token}"
    request_headers.update(headers or {})
    origin = origin_of(url)
    for _hop in range(MAX_REDIRECTS + 1):
        _check_hop(url, origin)
        try:
            response = _sent(method, url, json_body, request_headers, deadline.timeout())
        except BlockedConnection as exc:
            raise HFError("blocked_by_url_policy", exc.message, upstream=True) from None
        except requests.exceptions.RequestException as exc:
            raise connection_failure(exc) from None
        if not response.is_redirect:
            if not stream:
                read_body(response, deadline)
            return response
        location = urljoin(url, response.headers.get("Location", ""))
        response.close()
        scheme, host, _port = origin_of(location)
        if cdn and scheme == "https" and host.endswith((".hf.co", ".huggingface.co")):
            origin = origin_of(location)  # a file's bytes from a signed URL: no token goes there
            request_headers.pop("Authorization", None)
        if response.status_code in (301, 302, 303):
            method, json_body = "GET", None
        url = location
    raise HFError("bad_response", _("Too many redirects."))


MAX_API_BODY = 32 << 20  # Hub and catalog answers are a few hundred KB; memory stays bounded all the same


def download(url, token, deadline, limit):
    """A Hub file's bytes (resolve/…), at most `limit`; HFError (model_not_found for a missing file) else."""
    response = send("GET", url, token, deadline=deadline, stream=True, cdn=True)
    if not response.ok:
        read_body(response, deadline)
        raise failure_for(response, "model_info")
    return read_body(response, deadline, limit).content


def read_body(response, deadline, limit=MAX_API_BODY):
    """Read the whole body within the deadline, reading what has arrived each time (a server that drips bytes,
    or a body delimited by the connection's close, cannot outlast it); at most `limit` bytes."""
    chunks, size = [], 0
    try:
        while True:
            left = deadline.left()
            if left <= 0:
                response.close()
                raise timeout_error(deadline)
            sock = socket_of(response)
            if sock is not None:
                sock.settimeout(min(settings.HF_READ_TIMEOUT, left))
            chunk = response.raw.read1(READ_SIZE, decode_content=True)
            if not chunk:
                break
            size += len(chunk)
            if size > limit:
                response.close()
                raise too_large(limit)
            chunks.append(chunk)
    except HFError:
        raise
    except Exception as exc:
        response.close()
        raise connection_failure(exc) from None
    response._content = b"".join(chunks)
    response._content_consumed = True
    return response


def socket_of(response):
    """The socket an open response reads from (http.client hands it to the response on `Connection: close`)."""
    sock = getattr(getattr(response.raw, "connection", None), "sock", None)
    if sock is None:
        reader = getattr(getattr(response.raw, "_fp", None), "fp", None)
        sock = getattr(getattr(reader, "raw", None), "_sock", None)
    return sock


REDACTED = "[token hidden]"


def _sent_token(response):
    scheme, _sep, token = (response.request.headers.get("Authorization", "") if response.request else "").partition(" ")
    return token.strip() if scheme.lower() == "bearer" else ""


def redact(text, response):
    """Text taken from an upstream's answer, without the token that was sent: a server or proxy that echoes the
    request (debug pages, WAFs) must not hand the console's token to whoever reads the message."""
    token = _sent_token(response)
    return text.replace(token, REDACTED) if token and text else text


def json_of(response):
    try:
        return response.json()
    except ValueError:
        snippet = readable_text(redact(response.text, response)[:2000])[:200]
        raise HFError(
            "bad_response",
            _("Expected JSON, got %(type)s: %(snippet)s")
            % {"type": response.headers.get("Content-Type", "no type"), "snippet": snippet},
            http_status=response.status_code,
            upstream=True,
        ) from None


def failure_for(response, kind):
    """The HFError for a non-2xx response. kind: whoami | model_info | hosted | router | endpoint | control."""
    status = response.status_code
    message, error_type, extra = parse_error_body(redact(response.text, response), response.headers)
    message = redact(message, response)  # X-Error-Message too
    error_code = response.headers.get("X-Error-Code", "")
    lowered = message.lower()

    def fail(category, msg=message, **kw):
        return HFError(category, msg, http_status=status, upstream=msg == message, **kw)

    if status == 401:
        if kind == "model_info" and error_code == "RepoNotFound":
            return fail("model_not_found")
        if kind == "endpoint" and not message:
            return fail("invalid_token", _("The endpoint answered 401 Unauthorized: the token is missing or wrong."))
        if kind == "control" and "credentials" not in lowered:
            return fail("token_lacks_permission", message)  # an organisation without billing, or no access to it
        return fail("invalid_token")
    if status == 402:
        return fail("payment_required")
    if status == 403:
        if error_code == "GatedRepo" or "restricted" in lowered or "gated" in lowered:
            return fail("model_gated")
        if "disabled" in lowered:
            return fail("model_not_found")
        return fail("token_lacks_permission")
    if status == 404:
        if kind == "endpoint" and "does not exist" in lowered and "model" in lowered:
            return fail("model_not_found")  # vLLM / SGLang: the `model` field names no served model
        if kind in ("endpoint", "control"):
            return fail("endpoint_not_found", message or "Not Found")
        if kind == "hosted":
            return fail("model_not_served", message or "Not Found")
        return fail("model_not_found", message or "Not Found")
    if status == 410:
        return fail("endpoint_gone" if kind == "endpoint" else "model_not_served")
    if status == 400 and "invalid state" in lowered:
        return fail("endpoint_paused", "")  # the category's words: the proxy's "Invalid state" says no more
    if status == 400 and "not supported by any provider" in lowered:
        return fail("model_not_served")
    if status == 503 and "estimated_time" in extra:
        return fail("model_loading", estimated_time=numbers.seconds(extra["estimated_time"]))
    if status == 503 and "loading" in lowered:
        return fail("model_loading")  # on every engine: llama.cpp's "Loading model" is no paused endpoint
    if status in (502, 503) and kind == "endpoint" and error_type != "healthcheck":
        return fail(
            "endpoint_paused_or_starting",
            message or _("The endpoint answered %(status)s while it scales up or initializes.") % {"status": status},
        )
    if status == 429:
        return fail("rate_limited", retry_after=retry_after_of(response.headers))
    if status in (400, 413, 415, 422):
        return fail("input_rejected")
    return fail("upstream_error", message or f"HTTP {status}")


def call(method, url, kind, token=None, json_body=None, headers=None, deadline=None, stream=False):
    """send() plus the safe retries: a loading model (bounded wait) and 429 with a short Retry-After.

    Only failures answered before any body was streamed are retried, and never authentication errors.
    """
    deadline = deadline or Deadline(settings.HF_CONNECT_TIMEOUT + settings.HF_READ_TIMEOUT)
    try:
        return _call(method, url, kind, token, json_body, headers, deadline, stream)
    except HFError as exc:
        if kind == "endpoint" and exc.category == "invalid_token" and not token:
            exc = HFError(
                "no_token",
                _("This endpoint gets no token, and it answered 401 Unauthorized: it wants one."),
                http_status=exc.http_status,
            )
        raise mark_server(exc, url, kind) from None


def mark_server(exc, url, kind="endpoint"):
    """`exc`, its advice made about the server at `url` when that is a server of the team's own (llama.cpp, vLLM,
    ...), not about Hugging Face's dashboard or its tokens."""
    if kind == "endpoint" and not exc.variant and not huggingface_host(url):
        exc.variant = SELF_HOSTED
    return exc


def _attempt(method, url, kind, token, json_body, headers, deadline, stream, hold=None):
    """One request (held by an endpoint's proxy up to `hold` seconds, see waking.py): (its response, None) when
    it succeeded, else (its response, read, and its HFError)."""
    headers = {**headers, waking.HEADER: hold} if hold else headers
    response = send(method, url, token, json_body, headers, deadline, stream=stream)
    if response.ok:
        return response, None
    if stream:
        read_body(response, deadline)
    return response, failure_for(response, kind)


def _call(method, url, kind, token, json_body, headers, deadline, stream):
    headers, wake = waking.budget(headers, kind == "endpoint" and huggingface_host(url))
    waited_loading = waited_rate = 0.0
    for _try in range(MAX_RETRIES + 1):
        response, error = _attempt(method, url, kind, token, json_body, headers, deadline, stream)
        if error is None:
            return response
        if wake and waking.cold(error, response):
            again = functools.partial(_attempt, method, url, kind, token, json_body, headers, deadline, stream)
            return waking.woken(again, deadline, wake, _pause, token, url)
        wait = None
        if error.category == "model_loading" and error.estimated_time is not None:
            if waited_loading + float(error.estimated_time) <= settings.HF_LOADING_WAIT_MAX:
                wait = float(error.estimated_time)
                waited_loading += wait
        elif error.category == "rate_limited" and error.retry_after is not None:
            if waited_rate + error.retry_after <= settings.HF_RETRY_AFTER_MAX:
                wait = error.retry_after
                waited_rate += wait
        if wait is None or wait >= deadline.left():
            raise error
        if deadline.on_wait:
            deadline.on_wait(error.category, wait)
        _pause(wait, error)
    raise error


def _pause(seconds, error):
    """Wait before a retry; a generation stopped meanwhile sends no new request."""
    reader = getattr(watch, "reader", None)
    if reader is None:
        time.sleep(seconds)
    elif reader.stopped.wait(seconds):
        raise error


def timeout_error(deadline):
    return HFError(
        "timeout",
        _("No complete answer within the limit of %(seconds)s seconds.") % {"seconds": round(deadline.seconds)},
    )


def too_large(limit=None):
    if limit is not None and limit != settings.HF_MAX_ANSWER_BYTES:
        return HFError("bad_response", _("The answer is larger than %(size)s bytes.") % {"size": limit})
    return HFError(
        "answer_too_large",
        _("The answer grew beyond %(size)s bytes, the console's limit; it was cut off there.")
        % {"size": settings.HF_MAX_ANSWER_BYTES},
    )

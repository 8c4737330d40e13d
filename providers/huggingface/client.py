"""The only code that talks to Hugging Face: the Hub API, the inference router and dedicated endpoints.

One pooled requests.Session; connect/read timeouts and an overall deadline; the outbound URL policy on every
address a socket connects to, checked before it connects (endpoints only: the Hub and router base URLs come
from settings and are trusted); every redirect hop checked again, and none followed to another origin, so the
token only reaches the configured one; every failure raised as errors.HFError.
"""

import json
import queue
import re
import socket
import ssl
import sys
import threading
import time
from dataclasses import dataclass, field
from urllib.parse import parse_qs, quote, urlencode, urljoin, urlsplit

import requests
from django.conf import settings
from django.utils.translation import gettext as _
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.exceptions import ConnectTimeoutError, NameResolutionError, NewConnectionError
from urllib3.util.connection import create_connection

from providers.huggingface import engines, netpolicy, numbers
from providers.huggingface.errors import HFError, parse_error_body, readable_text
from providers.huggingface.sse import DONE, LineTooLong, SSEParser

USER_AGENT = "hf-model-console/1.0 (+self-hosted; python-requests)"
MAX_REDIRECTS = 5
MAX_RETRIES = 3
_MODEL_KWARGS_RE = re.compile(r"The following `model_kwargs` are not used by the model: \[(.*?)\]")


class BlockedConnection(Exception):
    def __init__(self, message):
        self.message = message
        super().__init__(message)


class _Noted:
    """Tells the _Pump reading in this thread that its request is written, and on which socket."""

    def request(self, *args, **kwargs):
        result = super().request(*args, **kwargs)
        pump = getattr(_watch, "pump", None)
        if pump is not None:
            pump.sock = self.sock  # so that a stop can shut this socket while the server has not answered yet
            pump.sent.set()
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
                sock = create_connection(
                    (address, self.port),
                    self.timeout,
                    source_address=self.source_address,
                    socket_options=self.socket_options,
                )
            except OSError as exc:
                error = exc
                continue
            sys.audit("http.client.connect", self, self.host, self.port)
            return sock
        if isinstance(error, TimeoutError):
            raise ConnectTimeoutError(self, f"Connection to {self.host} timed out. (connect timeout={self.timeout})")
        raise NewConnectionError(self, f"Failed to establish a new connection: {error}")


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
    """The trusted Hub and router URLs: connections that only tell a _Pump when its request is written."""

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


def trusted_bases():
    """The base URLs that come from settings (not from an admin's form), so the URL policy does not apply."""
    return (settings.HF_HUB_URL, settings.HF_ROUTER_URL, settings.HF_ENDPOINTS_API_URL)


def is_trusted(url):
    return any(url.startswith(base + "/") for base in trusted_bases())


def origin_of(url):
    """(scheme, host, port): what the Authorization header is bound to."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    try:
        port = parts.port
    except ValueError:
        port = None
    return scheme, (parts.hostname or "").lower().rstrip("."), port or {"https": 443, "http": 80}.get(scheme)


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
        )
    if is_trusted(url) and "@" not in urlsplit(url).netloc:
        return
    try:
        netpolicy.check_url(url, resolve_host=False)
    except netpolicy.BlockedURL as exc:
        raise HFError("blocked_by_url_policy", exc.message) from None


@dataclass
class Deadline:
    """An overall time limit shared by every request of one operation."""

    seconds: float
    started: float = field(default_factory=time.monotonic)
    # Called as on_wait(category, seconds) before the client sleeps on a loading model or a rate limit,
    # so a caller can show what it waits for (Test connection's progress).
    on_wait: object = None

    def left(self):
        return self.seconds - (time.monotonic() - self.started)

    def timeout(self):
        left = self.left()
        if left <= 0:
            raise HFError("timeout")
        return (min(settings.HF_CONNECT_TIMEOUT, left), min(settings.HF_READ_TIMEOUT, left))


def _connection_failure(exc):
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


def send(method, url, token=None, json_body=None, headers=None, deadline=None, stream=False):
    """One request, following redirects only within the configured origin. Returns an open response."""
    deadline = deadline or Deadline(settings.HF_READ_TIMEOUT + settings.HF_CONNECT_TIMEOUT)
    request_headers = {"Accept": "application/json, text/event-stream"}
    if token:
        request_headers["Authorization"] = f"Bearer {token}"
    request_headers.update(headers or {})
    origin = origin_of(url)
    for _hop in range(MAX_REDIRECTS + 1):
        _check_hop(url, origin)
        try:
            response = _session().request(
                method,
                url,
                json=json_body,
                headers=request_headers,
                timeout=deadline.timeout(),
                stream=True,
                allow_redirects=False,
            )
        except BlockedConnection as exc:
            raise HFError("blocked_by_url_policy", exc.message) from None
        except requests.exceptions.RequestException as exc:
            raise _connection_failure(exc) from None
        if not response.is_redirect:
            if not stream:
                read_body(response, deadline)
            return response
        location = urljoin(url, response.headers.get("Location", ""))
        response.close()
        if response.status_code in (301, 302, 303):
            method, json_body = "GET", None
        url = location
    raise HFError("bad_response", _("Too many redirects."))


MAX_API_BODY = 32 << 20  # Hub and catalog answers are a few hundred KB; memory stays bounded all the same


def read_body(response, deadline, limit=MAX_API_BODY):
    """Read the whole body within the deadline, reading what has arrived each time (a server that drips bytes,
    or a body delimited by the connection's close, cannot outlast it); at most `limit` bytes."""
    chunks, size = [], 0
    try:
        while True:
            left = deadline.left()
            if left <= 0:
                response.close()
                raise _timeout_error(deadline)
            sock = _socket_of(response)
            if sock is not None:
                sock.settimeout(min(settings.HF_READ_TIMEOUT, left))
            chunk = response.raw.read1(_READ_SIZE, decode_content=True)
            if not chunk:
                break
            size += len(chunk)
            if size > limit:
                response.close()
                raise _too_large(limit)
            chunks.append(chunk)
    except HFError:
        raise
    except Exception as exc:
        response.close()
        raise _connection_failure(exc) from None
    response._content = b"".join(chunks)
    response._content_consumed = True
    return response


def _socket_of(response):
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


def _json(response):
    try:
        return response.json()
    except ValueError:
        snippet = readable_text(redact(response.text, response)[:2000])[:200]
        raise HFError(
            "bad_response",
            _("Expected JSON, got %(type)s: %(snippet)s")
            % {"type": response.headers.get("Content-Type", "no type"), "snippet": snippet},
            http_status=response.status_code,
        ) from None


def _retry_after(response):
    value = response.headers.get("Retry-After", "")
    if value.strip().isdigit():
        return float(value)
    match = re.search(r";t=(\d+)", response.headers.get("RateLimit", ""))
    return float(match.group(1)) if match else None


def failure_for(response, kind):
    """The HFError for a non-2xx response. kind: whoami | model_info | hosted | router | endpoint | control."""
    status = response.status_code
    message, error_type, extra = parse_error_body(redact(response.text, response), response.headers)
    message = redact(message, response)  # X-Error-Message too
    error_code = response.headers.get("X-Error-Code", "")
    lowered = message.lower()

    def fail(category, msg=message, **kw):
        return HFError(category, msg, http_status=status, **kw)

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
        return fail("endpoint_paused_or_starting", _("The endpoint is paused (400 Bad Request: Invalid state)."))
    if status == 400 and "not supported by any provider" in lowered:
        return fail("model_not_served")
    if status == 503 and "estimated_time" in extra:
        return fail("model_loading", estimated_time=numbers.seconds(extra["estimated_time"]))
    if status in (502, 503) and kind == "endpoint" and error_type != "healthcheck":
        return fail(
            "endpoint_paused_or_starting",
            message or _("The endpoint answered %(status)s while it scales up or initializes.") % {"status": status},
        )
    if status == 503 and "loading" in lowered:
        return fail("model_loading")
    if status == 429:
        return fail("rate_limited", retry_after=_retry_after(response))
    if status in (400, 413, 415, 422):
        return fail("input_rejected")
    return fail("upstream_error", message or f"HTTP {status}")


def _call(method, url, kind, token=None, json_body=None, headers=None, deadline=None, stream=False):
    """send() plus the safe retries: a loading model (bounded wait) and 429 with a short Retry-After.

    Only failures answered before any body was streamed are retried, and never authentication errors.
    """
    deadline = deadline or Deadline(settings.HF_CONNECT_TIMEOUT + settings.HF_READ_TIMEOUT)
    waited_loading = waited_rate = 0.0
    for _attempt in range(MAX_RETRIES + 1):
        response = send(method, url, token, json_body, headers, deadline, stream=stream)
        if response.ok:
            return response
        if stream:
            read_body(response, deadline)
        error = failure_for(response, kind)
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
    pump = getattr(_watch, "pump", None)
    if pump is None:
        time.sleep(seconds)
    elif pump.stopped.wait(seconds):
        raise error


# --- Hub API -------------------------------------------------------------------------------------------


@dataclass
class TokenInfo:
    name: str
    role: str
    can_call_providers: bool
    can_call_endpoints: bool
    namespaces: tuple = ()  # the user's own name (for a user token), then its organisations


def whoami(token, deadline=None):
    response = _call("GET", f"{settings.HF_HUB_URL}/api/whoami-v2", "whoami", token, deadline=deadline)
    body = _json(response)
    if not isinstance(body, dict):
        raise HFError("bad_response", _("whoami did not return an object."))
    auth = body.get("auth") or {}
    access = auth.get("accessToken") or {}
    role = access.get("role") or ""
    if role == "fineGrained":
        fine = access.get("fineGrained") or {}
        global_perms = set(fine.get("global") or [])
        scoped = set()
        for entry in fine.get("scoped") or []:
            scoped.update(entry.get("permissions") or [])
        providers = "inference.serverless.write" in global_perms
        endpoints = "inference.endpoints.infer.write" in (global_perms | scoped)
    else:
        # read/write (and the old admin/contributor) tokens, and OAuth/app tokens, may call inference.
        providers = endpoints = True
        role = role or auth.get("type") or "unknown"
    namespaces = [body.get("name")] if body.get("type", "user") == "user" and body.get("name") else []
    namespaces += [o.get("name") for o in body.get("orgs") or [] if isinstance(o, dict) and o.get("name")]
    return TokenInfo(body.get("name") or "", role, providers, endpoints, tuple(namespaces))


def model_info(repo_id, token=None, expand=(), deadline=None):
    url = f"{settings.HF_HUB_URL}/api/models/{quote(repo_id, safe='/')}"
    if expand:
        url += "?" + "&".join(f"expand[]={quote(e)}" for e in expand)
    return _json(_call("GET", url, "model_info", token, deadline=deadline))


def search_models(params, token=None, deadline=None):
    """One page of the Hub's model search (§8): (items, cursor of the next page or "")."""
    url = f"{settings.HF_HUB_URL}/api/models?" + urlencode(params, doseq=True)
    response = _call("GET", url, "model_info", token, deadline=deadline)
    body = _json(response)
    if not isinstance(body, list):
        raise HFError("bad_response", _("The model search did not return a list."))
    following = response.links.get("next", {}).get("url", "")
    cursor = parse_qs(urlsplit(following).query).get("cursor", [""])[0] if following else ""
    return [item for item in body if isinstance(item, dict) and item.get("id")], cursor


def router_models(token=None, deadline=None):
    """The router's catalog of chat models served by Inference Providers (§7), as a list of items."""
    body = _json(_call("GET", f"{settings.HF_ROUTER_URL}/v1/models", "router", token, deadline=deadline))
    data = body.get("data") if isinstance(body, dict) else None
    if not isinstance(data, list):
        raise HFError("bad_response", _("The router's model list has no data."))
    return [item for item in data if isinstance(item, dict) and item.get("id")]


def has_access(repo_id, token, deadline=None):
    """Whether this token may use a gated model: True, False, or None when the Hub does not say."""
    url = f"{settings.HF_HUB_URL}/api/models/{quote(repo_id, safe='/')}/auth-check"
    try:
        _call("GET", url, "model_info", token, deadline=deadline)
    except HFError as exc:
        if exc.category in ("model_gated", "token_lacks_permission"):
            return False
        if exc.category == "timeout":
            raise
        return None
    return True


def canonical_repo_id(repo_id, token=None, deadline=None):
    """The id the Hub knows a model by (a renamed repo answers with a redirect, §4.2)."""
    info = model_info(repo_id, token, expand=("pipeline_tag",), deadline=deadline)
    return str(info.get("id") or repo_id), info


def provider_mapping(info):
    """{provider: status} from inferenceProviderMapping in either form (dict keyed by provider, or a list)."""
    mapping = info.get("inferenceProviderMapping") or {}
    if isinstance(mapping, list):
        return {m.get("provider"): m.get("status") for m in mapping if isinstance(m, dict)}
    if isinstance(mapping, dict):
        return {k: (v or {}).get("status") for k, v in mapping.items() if isinstance(v, dict)}
    return {}


def endpoint_info(base_url, token=None, deadline=None, headers=None):
    """TGI's /info when the server has it; None for servers without it."""
    try:
        response = _call("GET", base_url.rstrip("/") + "/info", "endpoint", token, headers=headers, deadline=deadline)
    except HFError as exc:
        if exc.category in ("endpoint_not_found", "input_rejected", "upstream_error"):
            return None
        raise
    try:
        body = response.json()
    except ValueError:
        return None
    return body if isinstance(body, dict) else None


def _optional_json(url, token, deadline, headers):
    """GET a route that some servers lack: the JSON body, or None when it is missing or not JSON."""
    try:
        response = _call("GET", url, "endpoint", token, headers=headers, deadline=deadline)
    except HFError as exc:
        if exc.category in ("endpoint_not_found", "input_rejected", "upstream_error", "model_not_found"):
            return None
        raise
    try:
        return response.json()
    except ValueError:
        return None


def identify_engine(base_url, token=None, deadline=None, headers=None, with_version=False):
    """Which server answers at base_url, in two requests (`/info`, then `/v1/models`); §10.1.

    with_version adds one request to the engine's own version route when the first two did not name it.
    """
    base = base_url.rstrip("/")
    found = engines.from_info(endpoint_info(base, token, deadline, headers))
    if found is None:
        found = engines.from_models(_optional_json(base + "/v1/models", token, deadline, headers))
    if found is None:
        return engines.EngineInfo(engines.UNKNOWN)
    route = engines.VERSION_ROUTES.get(found.engine)
    if with_version and route and not found.version:
        try:
            found.version = engines.version_from(found.engine, _optional_json(base + route, token, deadline, headers))
        except HFError:
            pass  # the version is a detail; the engine is known
    return found


# --- Inference Endpoints control plane (§9) ---------------------------------------------------------------


def _control_url(namespace, name="", command=""):
    url = f"{settings.HF_ENDPOINTS_API_URL}/endpoint/{quote(namespace, safe='')}"
    if name:
        url += f"/{quote(name, safe='')}"
    return url + (f"/{command}" if command else "")


def endpoints_in(namespace, token, deadline=None):
    body = _json(_call("GET", _control_url(namespace), "control", token, deadline=deadline))
    items = body.get("items") if isinstance(body, dict) else None
    if not isinstance(items, list):
        raise HFError("bad_response", _("The Inference Endpoints list has no items."))
    return [item for item in items if isinstance(item, dict) and item.get("name")]


def endpoint_record(namespace, name, token, deadline=None):
    body = _json(_call("GET", _control_url(namespace, name), "control", token, deadline=deadline))
    if not isinstance(body, dict):
        raise HFError("bad_response", _("The Inference Endpoints API did not return an endpoint."))
    return body


def resume_endpoint(namespace, name, token, deadline=None):
    """POST …/resume; an endpoint that is already running is not an error (as huggingface_hub's running_ok)."""
    try:
        response = _call("POST", _control_url(namespace, name, "resume"), "control", token, deadline=deadline)
    except HFError as exc:
        if exc.category == "input_rejected" and "already running" in exc.message.lower():
            return endpoint_record(namespace, name, token, deadline)
        raise
    body = _json(response)
    return body if isinstance(body, dict) else endpoint_record(namespace, name, token, deadline)


def wake_endpoint(url, token, health_route="/health", deadline=None):
    """Send the request that makes a scaled-to-zero endpoint start a replica (§9.6); its answer does not matter."""
    try:
        _call("GET", url.rstrip("/") + (health_route or "/health"), "endpoint", token, deadline=deadline)
    except HFError as exc:
        if exc.category in ("invalid_token", "blocked_by_url_policy", "dns_failure", "tls_error"):
            raise


# --- Inference -----------------------------------------------------------------------------------------


@dataclass
class Target:
    """Where and how to send a generation: built from a configured model (or the form's values)."""

    endpoint_type: str
    task: str
    repo_id: str = ""
    endpoint_url: str = ""
    token: str = ""
    scale_up_timeout: int = 0
    engine: str = ""  # engines.* once detected; "" speaks TGI, as before engines were told apart
    served_model: str = ""  # the model id the server announced (OpenAI-compatible servers need it)

    @property
    def openai_style(self):
        """An endpoint spoken to through /v1/completions and /v1/chat/completions only."""
        return self.endpoint_type == "inference_endpoint" and self.engine in engines.OPENAI_COMPATIBLE

    @property
    def kind(self):
        return (
            "endpoint"
            if self.endpoint_type == "inference_endpoint"
            else ("router" if self.endpoint_type == "inference_providers" else "hosted")
        )

    def url(self):
        if self.endpoint_type == "inference_endpoint":
            base = self.endpoint_url.rstrip("/")
            if self.openai_style and self.task != "chat":
                return base + "/v1/completions"
            return base + "/v1/chat/completions" if self.task == "chat" else base
        if self.endpoint_type == "inference_providers":
            return f"{settings.HF_ROUTER_URL}/v1/chat/completions"
        path = f"{settings.HF_ROUTER_URL}/hf-inference/models/{quote(self.repo_id, safe='/')}"
        return path + "/v1/chat/completions" if self.task == "chat" else path

    def headers(self):
        return {"X-Scale-Up-Timeout": str(self.scale_up_timeout)} if self.scale_up_timeout else {}


CHAT_PARAMETERS = {
    "max_new_tokens": "max_tokens",
    "temperature": "temperature",
    "top_p": "top_p",
    "stop_sequences": "stop",
    "seed": "seed",
}
TEXT_PARAMETERS = {
    "max_new_tokens": "max_new_tokens",
    "temperature": "temperature",
    "top_p": "top_p",
    "top_k": "top_k",
    "repetition_penalty": "repetition_penalty",
    "stop_sequences": "stop",
    "seed": "seed",
    "do_sample": "do_sample",
    "return_full_text": "return_full_text",
}


DEFAULT_COMPLETION_TOKENS = 256


def _openai_body(target, params, prompt, messages, stream):
    """The body of /v1/completions or /v1/chat/completions, with the parameters this engine accepts."""
    names = engines.PARAMETERS[target.engine]
    mapped = {names[k]: v for k, v in params.items() if k in names and v not in (None, "", [])}
    if params.get("do_sample") is False and "temperature" not in mapped:
        mapped["temperature"] = 0  # sampling off: these servers decode greedily at temperature 0, not by default
    model = target.served_model or target.repo_id or "default"
    if target.task == "chat":
        body = {"model": model, "messages": messages or [], **mapped, "stream": stream}
    else:
        # vLLM's /v1/completions stops at 16 tokens when max_tokens is absent; TGI would go on much further.
        mapped.setdefault("max_tokens", DEFAULT_COMPLETION_TOKENS)
        body = {"model": model, "prompt": prompt, **mapped, "stream": stream}
        if params.get("return_full_text"):
            body["echo"] = True
    if stream:
        body["stream_options"] = {"include_usage": True}
    return body


def build_body(target, params, prompt="", messages=None, stream=False):
    if target.openai_style:
        return _openai_body(target, params, prompt, messages, stream)
    names = CHAT_PARAMETERS if target.task == "chat" else TEXT_PARAMETERS
    mapped = {names[k]: v for k, v in params.items() if k in names and v not in (None, "", [])}
    if target.task == "chat":
        body = {"model": target.repo_id or "tgi", "messages": messages or [], **mapped, "stream": stream}
        if stream:
            body["stream_options"] = {"include_usage": True}
        return body
    if target.endpoint_type == "inference_endpoint":
        mapped.setdefault("details", True)  # TGI then reports finish reason and token count
    body = {"inputs": prompt, "parameters": mapped}
    if stream:
        body["stream"] = True
    return body


@dataclass
class Finish:
    text: str
    finish_reason: str = ""
    generated_tokens: int | None = None  # as the server reported it; None when it did not
    server: dict = field(default_factory=dict)
    prompt_tokens: int | None = None  # when the server reports it (the API's usage)


class _Idle:
    def __repr__(self):
        return "IDLE"


IDLE = _Idle()  # yielded by generate() while the upstream is silent, at least once a second
IDLE_SECONDS = 1.0
FINISH_GRACE = 3.0  # after a chat finish_reason, how long to wait for the usage chunk and [DONE]
_READ_SIZE = 16384
_watch = threading.local()  # the _Pump reading in this thread, told which connection it uses


def _timeout_error(deadline):
    return HFError(
        "timeout",
        _("No complete answer within the limit of %(seconds)s seconds.") % {"seconds": round(deadline.seconds)},
    )


def _too_large(limit=None):
    if limit is not None and limit != settings.HF_MAX_ANSWER_BYTES:
        return HFError("bad_response", _("The answer is larger than %(size)s bytes.") % {"size": limit})
    return HFError(
        "answer_too_large",
        _("The answer grew beyond %(size)s bytes (HF_MAX_ANSWER_BYTES); it was cut off there.")
        % {"size": settings.HF_MAX_ANSWER_BYTES},
    )


class _Pump:
    """Reads one answer in a helper thread (a greenlet under gevent) and hands its bytes over a bounded queue.

    The consumer then wakes at least once a second whatever the upstream does (silence, keep-alive comments,
    one byte a second, no chunked framing), so it can enforce the wall-clock deadline and notice a stop; `stop()`
    shuts the socket, which ends the helper's blocked read at once and frees the upstream connection.
    """

    def __init__(self, open_response, deadline):
        self.queue = queue.Queue(maxsize=16)  # at most 16 reads of 16 KiB wait for the consumer
        self.deadline = deadline
        self.signalled = time.monotonic()  # when the consumer last got something (data or IDLE)
        self.stopped = threading.Event()
        self.sent = threading.Event()  # the request is written (or the reader ended without writing it)
        self.backlog = False  # the stream's reader holds more parsed events of the last read
        self.sock = None
        self.conn = None  # urllib3's connection the answer came on, while the answer holds it
        self.response = None
        self.thread = threading.Thread(target=self._run, args=(open_response,), name="hf-stream", daemon=True)
        self.thread.start()
        # Back to the caller once the request is on its way (at most a second: a slow connect goes on alone).
        # Under gevent the reader runs only while the caller waits, so without this the caller's own work (a
        # database write) would run before the request leaves instead of while the upstream works on it.
        self.sent.wait(min(IDLE_SECONDS, max(deadline.left(), 0)))

    def _run(self, open_response):
        _watch.pump = self
        try:
            self.response = open_response()
            self.conn = getattr(self.response.raw, "connection", None)
            self.sock = _socket_of(self.response) or self.sock
            self._put(("response", self.response))
            raw = self.response.raw
            while not self.stopped.is_set():
                data = raw.read1(_READ_SIZE, decode_content=True)
                if not data:
                    break
                self._put(("data", data))
            self._put(("end", None))
        except HFError as exc:
            self._put(("error", exc))
        except Exception as exc:  # a read that fails in any way ends the answer; the consumer says how
            self._put(("error", _connection_failure(exc)))
        finally:
            _watch.pump = None
            self.sent.set()
            if self.response is not None:
                self.response.close()

    def _put(self, item):
        while not self.stopped.is_set():
            if self.deadline.left() < -5 * IDLE_SECONDS:  # a consumer that went away without closing
                self.stopped.set()
                return
            try:
                self.queue.put(item, timeout=IDLE_SECONDS)
                return
            except queue.Full:
                continue

    def take(self, deadline, until=None):
        """The next (kind, value); yields IDLE through each second of silence. ("grace", None) once `until`
        (a monotonic time) has passed; HFError("timeout") once the deadline has."""
        while True:
            if until is not None and time.monotonic() >= until:
                return "grace", None
            left = deadline.left()
            if left <= 0:
                raise _timeout_error(deadline)
            try:  # what is already there, without arming a timer (under load the reader is usually ahead)
                return self.queue.get_nowait()
            except queue.Empty:
                pass
            wait = min(IDLE_SECONDS, left, until - time.monotonic() if until is not None else IDLE_SECONDS)
            try:
                return self.queue.get(timeout=max(wait, 0.001))
            except queue.Empty:
                self.signalled = time.monotonic()
                yield IDLE

    def quiet(self):
        """IDLE when bytes came but nothing for the consumer for a second (keep-alive comments, a drip)."""
        if time.monotonic() - self.signalled >= IDLE_SECONDS:
            self.signalled = time.monotonic()
            yield IDLE

    def stop(self):
        self.stopped.set()
        sock = self.sock
        if sock is not None and self._released(sock):
            # Read to its end, the connection went back to the pool: the socket may already carry another
            # request (of another stream), which a shutdown here would cut.
            return
        if sock is not None:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def _released(self, sock):
        conn, response = self.conn, self.response
        return (
            conn is not None
            and response is not None
            and getattr(response.raw, "connection", None) is None
            and getattr(conn, "sock", None) is sock
        )


def _open_generation(target, body, deadline):
    """The response to a generation request (headers read, body not), with the one safe retry."""
    try:
        return _call("POST", target.url(), target.kind, target.token, body, target.headers(), deadline, True)
    except HFError as exc:
        dropped = _MODEL_KWARGS_RE.search(exc.message) if exc.category == "input_rejected" else None
        if not dropped or target.task == "chat" or "parameters" not in body:
            raise
        # transformers pipelines (not TGI) refuse generation kwargs they do not know: drop those, once.
        unused = {name.strip().strip("'\"") for name in dropped.group(1).split(",")}
        body["parameters"] = {k: v for k, v in body["parameters"].items() if k not in unused}
        return _call("POST", target.url(), target.kind, target.token, body, target.headers(), deadline, True)


def generate(target, params, prompt="", messages=None, stream=False, deadline=None, heartbeats=True):
    """Yield text chunks (str) as they arrive, then one Finish; IDLE while the upstream is silent (at least once a
    second, so the caller can stop). Raises HFError, also mid-stream; a stream is complete only when the protocol
    says so. The deadline bounds the whole operation. Closing the generator closes the upstream connection.

    With heartbeats (the default, and every stream) the request leaves at once, in its reader: the caller may do
    its own work while the upstream thinks (the playground writes its run then) and take the first item after.
    A bad target or parameters raise HFError here, before anything is sent.

    heartbeats=False (whole answers only): for a caller that has nothing to do while it waits (the API's whole
    answers), the answer is read in the calling thread, without the helper thread and its queue, and no IDLE comes
    (unless the upstream answers with a stream after all, which is then read as any stream).
    """
    engines.check_generates(target.engine)
    body = build_body(target, params, prompt, messages, stream)
    deadline = deadline or Deadline(settings.HF_GENERATION_TIMEOUT)
    if heartbeats or stream:
        pump = _Pump(lambda: _open_generation(target, body, deadline), deadline)
        return Generation(pump, _pumped(pump, target, deadline))
    return _inline(target, body, deadline)


class Generation:
    """generate()'s items while its reader runs: closing it stops the reader, also before the first item is
    taken (a generator not yet started would skip its `finally`)."""

    def __init__(self, pump, items):
        self.pump, self.items = pump, items

    def __iter__(self):
        return self

    def __next__(self):
        return next(self.items)

    def joined(self, lines):
        """`lines` (bytes made from this generation's items), those made while more was ready joined into one:
        a server fallen behind (a thousand streams) then writes once per read instead of once per token."""
        waiting = []
        for line in lines:
            if self.pump.backlog:
                waiting.append(line)
                continue
            if waiting:
                waiting.append(line)
                line, waiting = b"".join(waiting), []
            yield line
        if waiting:
            yield b"".join(waiting)

    def close(self):
        try:
            self.items.close()
        finally:
            self.pump.stop()

    def __del__(self):  # dropped unread: the reader must not wait out the deadline for a taker
        self.pump.stop()


def _inline(target, body, deadline):
    try:
        response = _open_generation(target, body, deadline)
    except HFError:
        raise
    except Exception as exc:
        raise _connection_failure(exc) from None
    if "text/event-stream" not in response.headers.get("Content-Type", ""):
        yield from _whole_inline(response, target, deadline)
        return
    pump = _Pump(lambda: response, deadline)  # a stream after all: read as any other stream
    yield from _pumped(pump, target, deadline)


def _pumped(pump, target, deadline):
    try:
        kind, response = yield from pump.take(deadline)
        if kind == "error":
            raise response
        server = _server_headers(response)
        if "text/event-stream" in response.headers.get("Content-Type", ""):
            try:
                yield from _read_stream(pump, target, server, deadline)
            except HFError as exc:
                if redact(exc.message, response) == exc.message:
                    raise
                # an error event's text is the upstream's too
                raise HFError(exc.category, redact(exc.message, response), exc.http_status) from None
        else:
            response._content = yield from _read_whole(pump, deadline)
            response._content_consumed = True
            finish = _parse_whole(_json(response), target, server, response)
            finish.text = clean_text(finish.text)
            if finish.text:
                yield finish.text
            yield finish
    finally:
        pump.stop()


def _server_headers(response):
    return {k: v for k, v in response.headers.items() if k.lower().startswith("x-") and k.lower() != "x-request-id"}


def _whole_inline(response, target, deadline):
    """A whole answer read in the calling thread: each read waits at most what the deadline leaves (and the read
    timeout), so a silent or dripping upstream still ends at the deadline; the size limit holds as in _read_whole.
    An answer not read to its end (a failure, a caller that closed the generator) closes its connection."""
    try:
        response._content = yield from _read_inline(response, deadline)
        response._content_consumed = True
        finish = _parse_whole(_json(response), target, _server_headers(response), response)
    finally:
        response.close()
    finish.text = clean_text(finish.text)
    if finish.text:
        yield finish.text
    yield finish


def _read_inline(response, deadline):
    chunks, size = [], 0
    sock = _socket_of(response)
    while True:
        left = deadline.left()
        if left <= 0:
            raise _timeout_error(deadline)
        if sock is not None:
            sock.settimeout(min(settings.HF_READ_TIMEOUT, left))
        try:
            value = response.raw.read1(_READ_SIZE, decode_content=True)
        except Exception as exc:
            if deadline.left() <= 0:
                raise _timeout_error(deadline) from None
            raise _connection_failure(exc) from None
        if not value:
            return b"".join(chunks)
        size += len(value)
        if size > settings.HF_MAX_ANSWER_BYTES:
            yield from _over_limit(chunks, value, size)
        chunks.append(value)


def _over_limit(chunks, value, size):
    """A whole answer past HF_MAX_ANSWER_BYTES: yield the text of what fit (it is kept), then fail."""
    room = len(value) - (size - settings.HF_MAX_ANSWER_BYTES)
    partial = _partial_text(b"".join(chunks) + value[:room])
    if partial:
        yield partial
    raise _too_large()


def _read_whole(pump, deadline):
    chunks, size = [], 0
    while True:
        kind, value = yield from pump.take(deadline)
        if kind == "error":
            raise value
        if kind == "end":
            return b"".join(chunks)
        size += len(value)
        if size > settings.HF_MAX_ANSWER_BYTES:
            yield from _over_limit(chunks, value, size)
        chunks.append(value)
        yield from pump.quiet()


_TEXT_START = re.compile(rb'"(?:generated_text|content)"\s*:\s*"')


def _partial_text(raw):
    """The text of a whole JSON answer cut short: the generated_text (or message content) up to the cut."""
    start = _TEXT_START.search(raw)
    if not start:
        return ""
    rest = raw[start.end() :].decode("utf-8", errors="ignore")
    for trim in range(0, 7):  # a cut may fall inside an escape such as \u00e9
        try:
            return json.loads('"' + rest[: len(rest) - trim] + '"')
        except ValueError:
            continue
    return ""


def _header_int(response, name):
    try:
        return int(response.headers.get(name, ""))
    except ValueError:
        return None


def _parse_whole(body, target, server, response):
    if target.openai_style and target.task != "chat":
        try:
            choice = body["choices"][0]
            text = choice.get("text") or ""
        except (KeyError, IndexError, TypeError, AttributeError):
            raise HFError("bad_response", _("The completion answer has no choices[0].text.")) from None
        usage = _usage(body)
        return Finish(
            text,
            _finish_name(choice.get("finish_reason")),
            _count(usage.get("completion_tokens")),
            server,
            _count(usage.get("prompt_tokens")),
        )
    if target.task == "chat":
        try:
            choice = body["choices"][0]
            text = choice["message"].get("content") or ""
        except (KeyError, IndexError, TypeError, AttributeError):
            raise HFError("bad_response", _("The chat answer has no choices[0].message.")) from None
        usage = _usage(body)
        reason = _finish_name(choice.get("finish_reason"))
        return Finish(text, reason, _count(usage.get("completion_tokens")), server, _count(usage.get("prompt_tokens")))
    item = body[0] if isinstance(body, list) and body else body
    if not isinstance(item, dict) or "generated_text" not in item:
        if isinstance(item, dict) and ("summary_text" in item or "translation_text" in item):
            raise HFError("wrong_task", _("The model answered as a summarization or translation model."))
        raise HFError("bad_response", _("The answer has no generated_text."))
    details = item.get("details") or {}
    tokens = _count(details.get("generated_tokens"))
    if tokens is None:
        tokens = _header_int(response, "x-generated-tokens")
    prompt = _header_int(response, "x-prompt-tokens")
    return Finish(item.get("generated_text") or "", _finish_name(details.get("finish_reason")), tokens, server, prompt)


_LONE_SURROGATE = re.compile("[\ud800-\udfff]")


def clean_text(text):
    """Upstream text without lone UTF-16 surrogates (JSON allows "\\ud83d" alone; UTF-8 cannot carry it)."""
    if text.isascii():  # nearly every token: no surrogate possible, no regex pass
        return text
    return _LONE_SURROGATE.sub("\ufffd", text)


def _usage(body):
    usage = body.get("usage") if isinstance(body, dict) else None
    return usage if isinstance(usage, dict) else {}


def _count(value):
    """A token count the server reported, or None (not reported; never guessed)."""
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else None


def _finish_name(reason):
    if not isinstance(reason, str):
        return ""
    return {"eos_token": "stop", "stop_sequence": "stop"}.get(reason, reason or "")


def _stream_error(event):
    error = event.get("error")
    message = str(error.get("message") or "") if isinstance(error, dict) else str(error)
    error_type = event.get("error_type") or ""
    status = error.get("http_status_code") if isinstance(error, dict) else None
    if isinstance(error, dict) and status is None and isinstance(error.get("code"), int):
        status = error["code"]  # vLLM, llama.cpp
    if error_type == "validation" or status == 422 or "validation" in (message or "").lower():
        return HFError("input_rejected", message, http_status=status)
    if error_type == "overloaded":
        return HFError("rate_limited", message, http_status=status)
    return HFError("upstream_error", message, http_status=status)


class _StreamState:
    """What one stream has said so far, and whether the protocol says it is complete."""

    def __init__(self, target):
        self.chat = target.task == "chat"
        self.openai = self.chat or target.openai_style  # choices/finish_reason/[DONE], chat or /v1/completions
        self.parts = []
        self.size = 0
        self.finish_reason = ""
        self.tokens = None
        self.prompt_tokens = None
        self.last_index = None
        self.complete = False  # TGI's final event, or a chat [DONE]
        self.finished = False  # a chat finish_reason: the text is whole, usage and [DONE] may follow

    def take_text(self, text):
        """(the part of `text` that fits the size limit, whether the limit was reached)."""
        room = settings.HF_MAX_ANSWER_BYTES - self.size
        text = clean_text(text)
        encoded = text.encode("utf-8")
        if len(encoded) > room:
            return encoded[:room].decode("utf-8", errors="ignore"), True
        self.size += len(encoded)
        return text, False

    def event(self, event):
        """The text chunks one event carries."""
        if not isinstance(event, dict):
            raise HFError("bad_response", _("A stream event is not an object."))
        if event.get("error"):
            raise _stream_error(event)
        texts = []
        if self.openai:
            usage = _usage(event)
            if _count(usage.get("completion_tokens")) is not None:
                self.tokens = usage["completion_tokens"]
            if _count(usage.get("prompt_tokens")) is not None:
                self.prompt_tokens = usage["prompt_tokens"]
            choices = event.get("choices")
            for choice in choices if isinstance(choices, list) else []:
                if not isinstance(choice, dict):
                    continue
                if self.chat:
                    delta = choice.get("delta")
                    text = delta.get("content") if isinstance(delta, dict) else None
                else:
                    text = choice.get("text")
                if isinstance(text, str) and text:
                    texts.append(text)
                if choice.get("finish_reason"):
                    self.finish_reason = _finish_name(choice["finish_reason"])
                    self.finished = True
            return texts
        token = event.get("token")
        token = token if isinstance(token, dict) else {}
        if isinstance(event.get("index"), int):
            self.last_index = event["index"]  # TGI numbers its token events from 1: the server's own count
        if isinstance(token.get("text"), str) and token["text"] and not token.get("special"):
            texts.append(token["text"])
        details = event.get("details")
        details = details if isinstance(details, dict) else {}
        if details.get("finish_reason"):
            self.finish_reason = _finish_name(details["finish_reason"])
        if _count(details.get("generated_tokens")) is not None:
            self.tokens = details["generated_tokens"]
        if event.get("generated_text") is not None or event.get("details"):
            self.complete = True
            if self.tokens is None:
                self.tokens = self.last_index
        return texts

    def cut(self, cause=None):
        """The failure for a stream that ended before the protocol said it was complete."""
        count = len(self.parts)
        if cause is not None and cause.category != "connection_lost":
            return cause
        if count:
            message = _(
                "The server closed the stream after %(count)s chunks of text without its final event: "
                "the answer is incomplete."
            ) % {"count": count}
        else:
            message = _("The server closed the stream before any text and without its final event.")
        return HFError("connection_lost", message)


def _texts(events, state):
    """The texts of one read's events, in order, updating the stream's state (complete, finish, counts)."""
    for data in events:
        if data is DONE:
            state.complete = True
            return
        try:
            event = json.loads(data)
        except ValueError:
            raise HFError("bad_response", _("A stream event is not JSON: %(data)s") % {"data": data[:100]}) from None
        for text in state.event(event):
            fitting, over = state.take_text(text)
            if fitting:
                state.parts.append(fitting)
                yield fitting
            if over:
                raise _too_large()
        if state.complete:
            return


def _read_stream(pump, target, server, deadline):
    state = _StreamState(target)
    parser = SSEParser(settings.HF_MAX_ANSWER_BYTES + 65536)
    grace_until = None
    last_data = time.monotonic()
    while not state.complete:
        # Keep-alive comments are not data: HF_READ_TIMEOUT bounds the wait between two events.
        silent_until = last_data + settings.HF_READ_TIMEOUT
        kind, value = yield from pump.take(deadline, until=min(silent_until, grace_until or silent_until))
        if state.finished and kind in ("grace", "end", "error"):
            break  # a finish_reason came and then the stream ended (old TGI sends no [DONE]) or went quiet
        if kind == "grace":
            raise HFError(
                "timeout",
                _("The server sent no data for %(seconds)s seconds (HF_READ_TIMEOUT).")
                % {"seconds": round(settings.HF_READ_TIMEOUT)},
            )
        if kind == "error":
            raise state.cut(value)
        if kind == "end":
            raise state.cut()
        try:
            events = parser.feed(value)
        except LineTooLong:
            raise _too_large() from None
        if events:
            last_data = time.monotonic()
        texts, failure = [], None
        try:
            for text in _texts(events, state):
                texts.append(text)
        except HFError as exc:
            failure = exc  # after the texts before it, as they came
        # Handed over once the whole read is parsed, so that `backlog` says truthfully whether the next item is
        # already here: Generation.joined() then writes them all at once for a caller behind the upstream.
        for index, text in enumerate(texts):
            pump.backlog = index + 1 < len(texts)
            pump.signalled = time.monotonic()
            yield text
        pump.backlog = False
        if failure is not None:
            raise failure
        if state.finished and grace_until is None:
            grace_until = time.monotonic() + FINISH_GRACE
        yield from pump.quiet()
    yield Finish("".join(state.parts), state.finish_reason, state.tokens, server, state.prompt_tokens)

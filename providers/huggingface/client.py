"""The only code that talks to Hugging Face: the Hub API, the inference router and dedicated endpoints.

One pooled requests.Session; connect/read timeouts and an overall deadline; the outbound URL policy on the
address each socket actually connects to (endpoints only: the Hub and router base URLs come from settings
and are trusted); no redirects to another host; every failure raised as errors.HFError.
"""

import json
import queue
import re
import socket
import threading
import time
from dataclasses import dataclass, field
from urllib.parse import quote, urljoin, urlsplit

import requests
from django.conf import settings
from django.utils.translation import gettext as _
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

from providers import netpolicy
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


class _PeerChecked:
    """Checks the peer address of every new socket against the URL policy before any byte is sent."""

    def _new_conn(self):
        sock = super()._new_conn()
        peer = sock.getpeername()[0].split("%")[0]
        reason = netpolicy.address_refusal(peer, self.host)
        if reason:
            sock.close()
            raise BlockedConnection(str(reason))
        return sock

    def request(self, *args, **kwargs):
        result = super().request(*args, **kwargs)
        pump = getattr(_watch, "pump", None)
        if pump is not None:
            pump.sock = self.sock  # so that a stop can shut this socket while the server has not answered yet
        return result


class _GuardedHTTPConnection(_PeerChecked, HTTPConnection):
    pass


class _GuardedHTTPSConnection(_PeerChecked, HTTPSConnection):
    pass


class _GuardedHTTPPool(HTTPConnectionPool):
    ConnectionCls = _GuardedHTTPConnection


class _GuardedHTTPSPool(HTTPSConnectionPool):
    ConnectionCls = _GuardedHTTPSConnection


class _GuardedAdapter(HTTPAdapter):
    def init_poolmanager(self, *args, **kwargs):
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = {"http": _GuardedHTTPPool, "https": _GuardedHTTPSPool}


_sessions = {}
_sessions_lock = threading.Lock()


def _session():
    """One pooled session per set of trusted base URLs (tests and air-gapped installs change them)."""
    key = (settings.HF_HUB_URL, settings.HF_ROUTER_URL)
    with _sessions_lock:
        session = _sessions.get(key)
        if session is None:
            session = requests.Session()
            session.headers["User-Agent"] = USER_AGENT
            session.trust_env = False  # no proxy or netrc credentials from the environment
            guarded = _GuardedAdapter(pool_connections=16, pool_maxsize=64)
            session.mount("http://", guarded)
            session.mount("https://", guarded)
            for base in key:
                session.mount(base + "/", HTTPAdapter(pool_connections=4, pool_maxsize=64))
            _sessions[key] = session
        return session


def is_trusted(url):
    return any(url.startswith(base + "/") for base in (settings.HF_HUB_URL, settings.HF_ROUTER_URL))


@dataclass
class Deadline:
    """An overall time limit shared by every request of one operation."""

    seconds: float
    started: float = field(default_factory=time.monotonic)

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
    """One request, following redirects only within the same host. Returns an open response."""
    deadline = deadline or Deadline(settings.HF_READ_TIMEOUT + settings.HF_CONNECT_TIMEOUT)
    request_headers = {"Accept": "application/json, text/event-stream"}
    if token:
        request_headers["Authorization"] = f"Bearer {token}"
    request_headers.update(headers or {})
    if not is_trusted(url):
        try:
            netpolicy.check_url(url, resolve_host=False)
        except netpolicy.BlockedURL as exc:
            raise HFError("blocked_by_url_policy", exc.message) from None
    origin = urlsplit(url).netloc
    for _hop in range(MAX_REDIRECTS + 1):
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
        if urlsplit(location).netloc != origin:
            raise HFError(
                "blocked_by_url_policy",
                _("The server redirected to another host (%(host)s); not followed.")
                % {"host": urlsplit(location).hostname},
                http_status=response.status_code,
            )
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


def _json(response):
    try:
        return response.json()
    except ValueError:
        snippet = readable_text(response.text[:2000])[:200]
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
    """The HFError for a non-2xx response. kind: whoami | model_info | hosted | router | endpoint."""
    status = response.status_code
    message, error_type, extra = parse_error_body(response.text, response.headers)
    error_code = response.headers.get("X-Error-Code", "")
    lowered = message.lower()

    def fail(category, msg=message, **kw):
        return HFError(category, msg, http_status=status, **kw)

    if status == 401:
        if kind == "model_info" and error_code == "RepoNotFound":
            return fail("model_not_found")
        if kind == "endpoint" and not message:
            return fail("invalid_token", _("The endpoint answered 401 Unauthorized: the token is missing or wrong."))
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
        if kind == "endpoint":
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
    if status == 503 and extra.get("estimated_time") is not None:
        return fail("model_loading", estimated_time=extra.get("estimated_time"))
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
    return TokenInfo(body.get("name") or "", role, providers, endpoints)


def model_info(repo_id, token=None, expand=(), deadline=None):
    url = f"{settings.HF_HUB_URL}/api/models/{quote(repo_id, safe='/')}"
    if expand:
        url += "?" + "&".join(f"expand[]={quote(e)}" for e in expand)
    return _json(_call("GET", url, "model_info", token, deadline=deadline))


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


def build_body(target, params, prompt="", messages=None, stream=False):
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
        self.sock = None
        self.response = None
        self.thread = threading.Thread(target=self._run, args=(open_response,), name="hf-stream", daemon=True)
        self.thread.start()

    def _run(self, open_response):
        _watch.pump = self
        try:
            self.response = open_response()
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
        if sock is not None:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


def _open_generation(target, body, deadline):
    """The response to a generation request (headers read, body not), with the one safe retry."""
    try:
        return _call("POST", target.url(), target.kind, target.token, body, target.headers(), deadline, True)
    except HFError as exc:
        dropped = _MODEL_KWARGS_RE.search(exc.message) if exc.category == "input_rejected" else None
        if not dropped or target.task == "chat":
            raise
        # transformers pipelines (not TGI) refuse generation kwargs they do not know: drop those, once.
        unused = {name.strip().strip("'\"") for name in dropped.group(1).split(",")}
        body["parameters"] = {k: v for k, v in body["parameters"].items() if k not in unused}
        return _call("POST", target.url(), target.kind, target.token, body, target.headers(), deadline, True)


def generate(target, params, prompt="", messages=None, stream=False, deadline=None):
    """Yield text chunks (str) as they arrive, then one Finish; IDLE while the upstream is silent (at least once a
    second, so the caller can stop). Raises HFError, also mid-stream; a stream is complete only when the protocol
    says so. The deadline bounds the whole operation. Closing the generator closes the upstream connection.
    """
    body = build_body(target, params, prompt, messages, stream)
    deadline = deadline or Deadline(settings.HF_GENERATION_TIMEOUT)
    pump = _Pump(lambda: _open_generation(target, body, deadline), deadline)
    try:
        kind, response = yield from pump.take(deadline)
        if kind == "error":
            raise response
        server = {
            k: v for k, v in response.headers.items() if k.lower().startswith("x-") and k.lower() != "x-request-id"
        }
        if "text/event-stream" in response.headers.get("Content-Type", ""):
            yield from _read_stream(pump, target, server, deadline)
        else:
            response._content = yield from _read_whole(pump, deadline)
            response._content_consumed = True
            finish = _parse_whole(_json(response), target, server, response)
            if finish.text:
                yield finish.text
            yield finish
    finally:
        pump.stop()


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
            room = len(value) - (size - settings.HF_MAX_ANSWER_BYTES)
            partial = _partial_text(b"".join(chunks) + value[:room])
            if partial:
                yield partial  # what fit is kept
            raise _too_large()
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
    if target.task == "chat":
        try:
            choice = body["choices"][0]
            text = choice["message"].get("content") or ""
        except (KeyError, IndexError, TypeError, AttributeError):
            raise HFError("bad_response", _("The chat answer has no choices[0].message.")) from None
        usage = body.get("usage") or {}
        reason = _finish_name(choice.get("finish_reason"))
        return Finish(text, reason, _count(usage.get("completion_tokens")), server)
    item = body[0] if isinstance(body, list) and body else body
    if not isinstance(item, dict) or "generated_text" not in item:
        if isinstance(item, dict) and ("summary_text" in item or "translation_text" in item):
            raise HFError("wrong_task", _("The model answered as a summarization or translation model."))
        raise HFError("bad_response", _("The answer has no generated_text."))
    details = item.get("details") or {}
    tokens = _count(details.get("generated_tokens"))
    if tokens is None:
        tokens = _header_int(response, "x-generated-tokens")
    return Finish(item.get("generated_text") or "", _finish_name(details.get("finish_reason")), tokens, server)


def _count(value):
    """A token count the server reported, or None (not reported; never guessed)."""
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else None


def _finish_name(reason):
    return {"eos_token": "stop", "stop_sequence": "stop"}.get(reason, reason or "")


def _stream_error(event):
    error = event.get("error")
    message = error.get("message") if isinstance(error, dict) else str(error)
    error_type = event.get("error_type") or ""
    status = error.get("http_status_code") if isinstance(error, dict) else None
    if error_type == "validation" or status == 422 or "validation" in (message or "").lower():
        return HFError("input_rejected", message, http_status=status)
    if error_type == "overloaded":
        return HFError("rate_limited", message, http_status=status)
    return HFError("upstream_error", message, http_status=status)


class _StreamState:
    """What one stream has said so far, and whether the protocol says it is complete."""

    def __init__(self, target):
        self.chat = target.task == "chat"
        self.parts = []
        self.size = 0
        self.finish_reason = ""
        self.tokens = None
        self.last_index = None
        self.complete = False  # TGI's final event, or a chat [DONE]
        self.finished = False  # a chat finish_reason: the text is whole, usage and [DONE] may follow

    def take_text(self, text):
        """(the part of `text` that fits the size limit, whether the limit was reached)."""
        room = settings.HF_MAX_ANSWER_BYTES - self.size
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
        if self.chat:
            usage = event.get("usage")
            if isinstance(usage, dict) and _count(usage.get("completion_tokens")) is not None:
                self.tokens = usage["completion_tokens"]
            for choice in event.get("choices") or []:
                if not isinstance(choice, dict):
                    continue
                text = (choice.get("delta") or {}).get("content") or ""
                if text:
                    texts.append(text)
                if choice.get("finish_reason"):
                    self.finish_reason = _finish_name(choice["finish_reason"])
                    self.finished = True
            return texts
        token = event.get("token") or {}
        if isinstance(event.get("index"), int):
            self.last_index = event["index"]  # TGI numbers its token events from 1: the server's own count
        if token.get("text") and not token.get("special"):
            texts.append(token["text"])
        details = event.get("details") or {}
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
        for data in events:
            if data is DONE:
                state.complete = True
                break
            try:
                event = json.loads(data)
            except ValueError:
                raise HFError(
                    "bad_response", _("A stream event is not JSON: %(data)s") % {"data": data[:100]}
                ) from None
            for text in state.event(event):
                fitting, over = state.take_text(text)
                if fitting:
                    state.parts.append(fitting)
                    pump.signalled = time.monotonic()
                    yield fitting
                if over:
                    raise _too_large()
            if state.complete:
                break
        if state.finished and grace_until is None:
            grace_until = time.monotonic() + FINISH_GRACE
        yield from pump.quiet()
    yield Finish("".join(state.parts), state.finish_reason, state.tokens, server)

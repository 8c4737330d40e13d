"""The only code that talks to Hugging Face: the Hub API, the inference router and dedicated endpoints.

One pooled requests.Session; connect/read timeouts and an overall deadline; the outbound URL policy on the
address each socket actually connects to (endpoints only: the Hub and router base URLs come from settings
and are trusted); no redirects to another host; every failure raised as errors.HFError.
"""

import json
import re
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
from providers.huggingface.errors import HFError, parse_error_body
from providers.huggingface.sse import iter_sse_data

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


def read_body(response, deadline):
    """Read the whole body within the deadline (a server that drips bytes cannot outlast it)."""
    chunks = []
    try:
        for chunk in response.iter_content(16384):
            chunks.append(chunk)
            if deadline.left() <= 0:
                response.close()
                raise HFError("timeout")
    except requests.exceptions.RequestException as exc:
        response.close()
        raise _connection_failure(exc) from None
    response._content = b"".join(chunks)
    response._content_consumed = True
    return response


def _json(response):
    try:
        return response.json()
    except ValueError:
        snippet = response.text[:200]
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
        return fail("model_not_served")
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
        if deadline.on_wait:
            deadline.on_wait(error.category, wait)
        time.sleep(wait)
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
    generated_tokens: int | None = None
    server: dict = field(default_factory=dict)


def generate(target, params, prompt="", messages=None, stream=False, deadline=None):
    """Yield text chunks (str) as they arrive, then one Finish. Raises HFError, also mid-stream.

    Closing the generator closes the upstream connection.
    """
    body = build_body(target, params, prompt, messages, stream)
    deadline = deadline or Deadline(settings.HF_GENERATION_TIMEOUT)
    try:
        response = _call("POST", target.url(), target.kind, target.token, body, target.headers(), deadline, stream)
    except HFError as exc:
        dropped = _MODEL_KWARGS_RE.search(exc.message) if exc.category == "input_rejected" else None
        if not dropped or target.task == "chat":
            raise
        # transformers pipelines (not TGI) refuse generation kwargs they do not know: drop those, once.
        unused = {name.strip().strip("'\"") for name in dropped.group(1).split(",")}
        body["parameters"] = {k: v for k, v in body["parameters"].items() if k not in unused}
        response = _call("POST", target.url(), target.kind, target.token, body, target.headers(), deadline, stream)
    server = {k: v for k, v in response.headers.items() if k.lower().startswith("x-") and k.lower() != "x-request-id"}
    try:
        if "text/event-stream" in response.headers.get("Content-Type", ""):
            yield from _read_stream(response, target, server, deadline)
        else:
            if stream:
                read_body(response, deadline)
            finish = _parse_whole(_json(response), target, server, response)
            if finish.text:
                yield finish.text
            yield finish
    finally:
        response.close()


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
        return Finish(text, reason, usage.get("completion_tokens"), server)
    item = body[0] if isinstance(body, list) and body else body
    if not isinstance(item, dict) or "generated_text" not in item:
        if isinstance(item, dict) and ("summary_text" in item or "translation_text" in item):
            raise HFError("wrong_task", _("The model answered as a summarization or translation model."))
        raise HFError("bad_response", _("The answer has no generated_text."))
    details = item.get("details") or {}
    tokens = details.get("generated_tokens") or _header_int(response, "x-generated-tokens")
    return Finish(item.get("generated_text") or "", _finish_name(details.get("finish_reason")), tokens, server)


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


def _read_stream(response, target, server, deadline):
    count = 0
    finish_reason = ""
    usage_tokens = None
    parts = []
    try:
        for data in iter_sse_data(response):
            try:
                event = json.loads(data)
            except ValueError:
                raise HFError(
                    "bad_response", _("A stream event is not JSON: %(data)s") % {"data": data[:100]}
                ) from None
            if not isinstance(event, dict):
                raise HFError("bad_response", _("A stream event is not an object."))
            if deadline.left() <= 0:
                raise HFError("timeout")
            if event.get("error"):
                raise _stream_error(event)
            if target.task == "chat":
                if event.get("usage"):
                    usage_tokens = event["usage"].get("completion_tokens")
                for choice in event.get("choices") or []:
                    text = (choice.get("delta") or {}).get("content") or ""
                    if text:
                        count += 1
                        parts.append(text)
                        yield text
                    if choice.get("finish_reason"):
                        finish_reason = _finish_name(choice["finish_reason"])
                continue
            token = event.get("token") or {}
            if token.get("text") and not token.get("special"):
                count += 1
                parts.append(token["text"])
                yield token["text"]
            details = event.get("details") or {}
            if details.get("finish_reason"):
                finish_reason = _finish_name(details["finish_reason"])
                usage_tokens = details.get("generated_tokens")
            if event.get("generated_text") is not None:
                break
    except requests.exceptions.RequestException as exc:
        raise _connection_failure(exc) from None
    if not finish_reason and not parts:
        raise HFError("connection_lost", _("The stream ended before any token arrived."))
    yield Finish("".join(parts), finish_reason or "", usage_tokens or count, server)

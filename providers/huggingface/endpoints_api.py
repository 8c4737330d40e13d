"""The account's Inference Endpoints (§9): the control-plane calls that list, read, resume and wake them, across
the token's namespaces. Control-plane bodies are summarised here into what the console shows and fills in; nothing
else reads them.
"""

import hashlib
import re
from urllib.parse import quote

from django.conf import settings
from django.core.cache import cache
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from providers.huggingface import engines, hub, transport, urls
from providers.huggingface.errors import HFError

NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,95}$")  # namespaces and endpoint names
STATES = ("pending", "initializing", "updating", "updateFailed", "running", "paused", "failed", "scaledToZero")
FINAL_STATES = ("running", "failed", "updateFailed")
# The image key of an endpoint's model (§9.2) -> the engine it runs.
IMAGE_ENGINES = {
    "tgi": engines.TGI,
    "tei": engines.TEI,
    "vllm": engines.VLLM,
    "sglang": engines.SGLANG,
    "llamacpp": engines.LLAMACPP,
}

OTHER_IMAGES = {
    "huggingface": gettext_lazy("Hugging Face inference toolkit"),
    "hfServe": gettext_lazy("Hugging Face inference toolkit"),
    "custom": gettext_lazy("custom container"),
    "": gettext_lazy("engine not stated"),
}


def valid_name(value):
    return bool(NAME_RE.match(value or ""))


def _control_url(namespace, name="", command=""):
    parts = [quote(part, safe="") for part in (namespace, name, command) if part]
    return urls.join(settings.HF_ENDPOINTS_API_URL, "endpoint/" + "/".join(parts))


def endpoints_in(namespace, token, deadline=None):
    body = transport.json_of(transport.call("GET", _control_url(namespace), "control", token, deadline=deadline))
    items = body.get("items") if isinstance(body, dict) else None
    if not isinstance(items, list):
        raise HFError("bad_response", _("The Inference Endpoints list has no items."))
    return [item for item in items if isinstance(item, dict) and item.get("name")]


def endpoint_record(namespace, name, token, deadline=None):
    body = transport.json_of(transport.call("GET", _control_url(namespace, name), "control", token, deadline=deadline))
    if not isinstance(body, dict):
        raise HFError("bad_response", _("The Inference Endpoints API did not return an endpoint."))
    return body


def resume_endpoint(namespace, name, token, deadline=None):
    """POST …/resume; an endpoint that is already running is not an error (as huggingface_hub's running_ok)."""
    try:
        response = transport.call("POST", _control_url(namespace, name, "resume"), "control", token, deadline=deadline)
    except HFError as exc:
        if exc.category == "input_rejected" and "already running" in exc.message.lower():
            return endpoint_record(namespace, name, token, deadline)
        raise
    body = transport.json_of(response)
    return body if isinstance(body, dict) else endpoint_record(namespace, name, token, deadline)


def wake_endpoint(url, token, health_route="/health", deadline=None):
    """Send the request that makes a scaled-to-zero endpoint start a replica (§9.6); its answer does not matter."""
    try:
        transport.call("GET", urls.join(url, health_route or "/health"), "endpoint", token, deadline=deadline)
    except HFError as exc:
        if exc.category in ("invalid_token", "blocked_by_url_policy", "dns_failure", "tls_error"):
            raise


def summarise(namespace, raw):
    """What the endpoint list shows for one control-plane record, and what choosing it fills in."""
    model = raw.get("model") if isinstance(raw.get("model"), dict) else {}
    status = raw.get("status") if isinstance(raw.get("status"), dict) else {}
    compute = raw.get("compute") if isinstance(raw.get("compute"), dict) else {}
    image = model.get("image") if isinstance(model.get("image"), dict) else {}
    image_key = next(iter(image), "")
    engine = IMAGE_ENGINES.get(image_key.lower(), "")
    state = status.get("state") if status.get("state") in STATES else "unknown"
    hub_task = str(model.get("task") or "")
    if engine == engines.TEI or hub_task not in ("text-generation", "text2text-generation", "conversational"):
        task = ""  # not something this console can generate with
    elif hub_task == "conversational" or engine in engines.OPENAI_COMPATIBLE:
        task = "chat"
    else:
        task = hub_task
    instance = " ".join(str(compute.get(k)) for k in ("accelerator", "instanceType", "instanceSize") if compute.get(k))
    url = str(status.get("url") or "")
    name = str(raw.get("name") or "")
    return {
        "namespace": namespace,
        "name": name,
        "state": state,
        "message": str(status.get("message") or ""),
        "model": str(model.get("repository") or ""),
        "engine": engine,
        "engine_name": str(engines.LABELS[engine]) if engine else str(OTHER_IMAGES.get(image_key, OTHER_IMAGES[""])),
        "instance": instance,
        "url": url,
        "health_route": str(raw.get("healthRoute") or "/health"),
        "usable": bool(task),
        "fill": {
            "endpoint_url": url,
            "display_name": name,
            "task": task,
            "repo_id": str(model.get("repository") or ""),
        },
    }


def list_all(token):
    """{"endpoints": [...], "problems": [{"namespace", "category", "message"}]}; raises HFError on a bad token."""
    deadline = transport.Deadline(settings.HF_TEST_TIMEOUT)
    endpoints, problems = [], []
    for namespace in namespaces(token, deadline):
        try:
            items = endpoints_in(namespace, token, deadline)
        except HFError as exc:
            if exc.category in ("timeout", "connection_refused", "dns_failure", "tls_error", "connection_lost"):
                raise
            problems.append({"namespace": namespace, "category": exc.category, "message": reason(exc, namespace)})
            continue
        endpoints += [summarise(namespace, item) for item in items]
    return {"endpoints": endpoints, "problems": problems}


def namespaces(token, deadline):
    """The token's user and organisations; cached, because whoami-v2 is strictly rate-limited (§4.1)."""
    key = "hf-namespaces:" + hashlib.sha256(f"{settings.HF_HUB_URL}\x1f{token}".encode()).hexdigest()[:32]
    found = cache.get(key)
    if found is None:
        found = list(hub.whoami(token, deadline).namespaces)
        cache.set(key, found, settings.HF_PICKER_CACHE_SECONDS)
    return found


def reason(exc, namespace):
    """The precise sentence for a refusal by the control plane."""
    if exc.category == "token_lacks_permission":
        return _(
            "The token may not read or manage Inference Endpoints in %(ns)s: use a token of a member of %(ns)s "
            "(for a fine-grained token, with the Inference Endpoints permissions on it); the namespace also needs "
            "billing set up. Hugging Face said: %(msg)s"
        ) % {"ns": namespace, "msg": exc.message}
    if exc.category == "endpoint_not_found":
        return _(
            "The Inference Endpoints API answered 404 for %(ns)s: the namespace may have no access to Inference "
            "Endpoints (billing not set up), or the API address is not Hugging Face's."
        ) % {"ns": namespace}
    return exc.for_admin()  # the console's words first; the control plane's own text after them, said to be its


class ListUnreadable(HFError):
    """No listed endpoint has the URL, and part of the list could not be read: it may be in that part."""


def find_by_url(token, url):
    """The listed endpoint whose URL is `url` (trailing slash ignored), or None when the whole list was read and
    none has it; raises ListUnreadable (an HFError) when it is not among the endpoints that could be read."""
    wanted = url.rstrip("/")
    key = "hf-endpoint-by-url:" + hashlib.sha256(f"{token}\x1f{wanted}".encode()).hexdigest()[:32]
    found = cache.get(key)
    if found is None:
        listed = list_all(token)
        found = next((e for e in listed["endpoints"] if e["url"].rstrip("/") == wanted), {})
        if not found and listed["problems"]:
            problem = listed["problems"][0]
            raise ListUnreadable(problem["category"], problem["message"])
        cache.set(key, found, 30)
    return found or None


def failure_of(token, url):
    """The control plane's message when the listed endpoint that `url` is on has failed (or failed to update),
    else None, also when the list cannot be read: the proxy in front of an endpoint that is not running answers the
    same whatever the reason, and only the control plane tells a failure from a cold start. Cached briefly."""
    key = "hf-endpoint-failure:" + hashlib.sha256(f"{token}\x1f{url}".encode()).hexdigest()[:32]
    found = cache.get(key)
    if found is None:
        try:
            listed = list_all(token)["endpoints"] if token else []
        except HFError:
            listed = []
        here = [e for e in listed if e["url"] and (url + "/").startswith(e["url"].rstrip("/") + "/")]
        failed = [e for e in here if e["state"] in ("failed", "updateFailed")]
        found = failed[0]["message"] or failed[0]["state"] if failed else ""
        cache.set(key, found, 30)
    return found or None


def state(namespace, name, token):
    return summarise(namespace, endpoint_record(namespace, name, token, transport.Deadline(settings.HF_TEST_TIMEOUT)))


def start(namespace, name, token):
    """Resume a paused endpoint or wake a scaled-to-zero one; returns (action, summary after the request)."""
    deadline = transport.Deadline(settings.HF_TEST_TIMEOUT)
    current = summarise(namespace, endpoint_record(namespace, name, token, deadline))
    if current["state"] == "scaledToZero" and current["url"]:
        # Whether /resume wakes a scaled-to-zero endpoint is not documented (§9.6); a request to it does.
        # The control plane's URL for it is trusted no further than any other: the token only to Hugging Face's hosts.
        sent = token if urls.huggingface_host(current["url"]) else None
        wake_endpoint(current["url"], sent, current["health_route"], transport.Deadline(5))
        return "wake", state(namespace, name, token)
    if current["state"] in ("paused", "scaledToZero"):
        return "resume", summarise(namespace, resume_endpoint(namespace, name, token, deadline))
    return "none", current
